//! The harness's sockets to the proxy: one peer's reads (plain, TLS, the
//! PROXY header), writes, peeks and closes, and the client, the server and
//! the connections waiting for the server application.

use super::seen::{describe, Seen};
use crate::proxy_peer::{self, HeaderRead};
use crate::replay::CHUNK;
use crate::tls_peer::{TlsPeer, Unit};
use connseq_model::check::Who;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One of the harness's sockets to the proxy.
#[derive(Debug)]
pub(super) struct PeerSock {
    pub(super) s: TcpStream,
    /// An RST was reported by a peek or a write: Linux reports it once
    /// (`sock_error` clears it), the harness keeps it for the next read.
    rst: bool,
    /// The peer's TLS layer, when it speaks TLS.
    pub(super) tls: Option<TlsPeer>,
    /// Its TLS handshake is up as the model's is: the client read the
    /// server's flight, the server answered the hello. Its data and its
    /// close_notify may go.
    tls_up: bool,
    /// It shut its write side: it answers no handshake message.
    shut: bool,
}

impl PeerSock {
    pub(super) fn new(s: TcpStream) -> PeerSock {
        PeerSock { s, rst: false, tls: None, tls_up: false, shut: false }
    }

    /// One read: through the TLS layer when the peer speaks TLS.
    pub(super) fn read_one(&mut self, wait: Duration) -> (Seen, Vec<u8>) {
        if self.tls.is_some() {
            self.read_tls(wait)
        } else {
            self.read_raw(wait)
        }
    }

    /// Reads TLS records until one has an effect the model names (a
    /// handshake message, at most one chunk of plaintext, a close_notify),
    /// or the socket says TCP's end, a reset or nothing.
    fn read_tls(&mut self, wait: Duration) -> (Seen, Vec<u8>) {
        let Some(tls) = self.tls.as_mut() else { return (Seen::Nothing, Vec::new()) };
        let mut buf = [0u8; CHUNK];
        let mut got = 0;
        let deadline = Instant::now() + wait;
        loop {
            let read = tls.read_plain(&mut self.s, &mut buf[got..], !self.shut);
            if tls.answer_met_reset() {
                self.rst = true;
            }
            let unit = match read {
                Ok((Unit::Data, n)) => {
                    got += n;
                    if got == CHUNK {
                        return (Seen::Data, buf.to_vec());
                    }
                    continue;
                }
                Ok((unit, _)) => unit,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Unit::Rst,
                Err(e) => return (Seen::Alert, format!("no TLS record: {e}").into_bytes()),
            };
            if got > 0 {
                // The rest of a chunk begun.
                if unit == Unit::Nothing && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_micros(100));
                    continue;
                }
                return (Seen::Data, buf[..got].to_vec());
            }
            let seen = match unit {
                Unit::Nothing if self.rst => Seen::Rst,
                Unit::Nothing => Seen::Nothing,
                Unit::Hello => {
                    self.tls_up = !self.shut;
                    Seen::Hello
                }
                Unit::Flight => {
                    self.tls_up = true;
                    Seen::Flight
                }
                Unit::Finished => Seen::Finished,
                Unit::CloseNotify => Seen::CloseNotify,
                Unit::Fin if self.rst => Seen::Rst,
                Unit::Fin => Seen::Fin,
                Unit::Rst => {
                    self.rst = true;
                    Seen::Rst
                }
                Unit::Alert => Seen::Alert,
                Unit::Data => Seen::Data,
            };
            return (seen, Vec::new());
        }
    }

    /// The server's read of the PROXY header, which must give `source`.
    pub(super) fn read_header(&mut self, wait: Duration, source: SocketAddr) -> (Seen, Vec<u8>) {
        match proxy_peer::read_header(&mut self.s, wait) {
            Ok(HeaderRead::Header { source: Some(got), .. }) if got == source => (Seen::Header, Vec::new()),
            Ok(HeaderRead::Header { version, source: got }) => {
                let got = got.map_or_else(|| "no address".to_owned(), |a| a.to_string());
                (Seen::HeaderWrong, format!("a {version} PROXY header giving {got}, not {source}").into_bytes())
            }
            Ok(HeaderRead::NotHeader(bytes)) => {
                let text = describe(Seen::Data, &bytes);
                (Seen::HeaderWrong, format!("{text} where the PROXY header should be").into_bytes())
            }
            Ok(HeaderRead::Nothing) if self.rst => (Seen::Rst, Vec::new()),
            Ok(HeaderRead::Nothing) => (Seen::Nothing, Vec::new()),
            Ok(HeaderRead::Fin) if self.rst => (Seen::Rst, Vec::new()),
            Ok(HeaderRead::Fin) => (Seen::Fin, Vec::new()),
            Ok(HeaderRead::Rst) | Err(_) => {
                self.rst = true;
                (Seen::Rst, Vec::new())
            }
        }
    }

    /// Writes a chunk, as one TLS record when the peer speaks TLS.
    pub(super) fn send_chunk(&mut self, bytes: &[u8]) {
        let sent = match self.tls.as_mut() {
            Some(tls) => tls.send(&mut self.s, bytes),
            None => self.s.write_all(bytes),
        };
        self.note_write(sent);
    }

    /// A write's error: a reset (see [`PeerSock::send_raw`]).
    pub(super) fn note_write(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe) {
                self.rst = true;
            }
        }
    }

    /// `shutdown(SHUT_WR)`, after the close_notify of a TLS peer whose
    /// handshake is up (the model's clean end of a TLS stream).
    pub(super) fn shut_write(&mut self) {
        if let (true, Some(tls)) = (self.tls_up, self.tls.as_mut()) {
            let r = tls.close_notify(&mut self.s);
            self.note_write(r);
        }
        self.shut = true;
        let _ = self.s.shutdown(Shutdown::Write);
    }

    /// What a read would give, without taking it: the kind and the bytes waiting.
    pub(super) fn peek(&mut self) -> (Seen, usize) {
        let mut buf = [0u8; 256];
        loop {
            return match self.s.peek(&mut buf) {
                Ok(0) if self.rst => (Seen::Rst, 0),
                Ok(0) => (Seen::Fin, 0),
                Ok(n) => (Seen::Data, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.rst => (Seen::Rst, 0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => (Seen::Nothing, 0),
                Err(_) => {
                    // ECONNRESET, or an error a reset leaves: reported once.
                    self.rst = true;
                    (Seen::Rst, 0)
                }
            };
        }
    }

    /// Reads at most one chunk off the socket (waiting up to `wait` for the
    /// rest of one begun); returns what was read and the bytes.
    fn read_raw(&mut self, wait: Duration) -> (Seen, Vec<u8>) {
        let mut buf = [0u8; CHUNK];
        let mut got = 0;
        let deadline = Instant::now() + wait;
        loop {
            match self.s.read(&mut buf[got..]) {
                Ok(0) if got == 0 && self.rst => return (Seen::Rst, Vec::new()),
                Ok(0) if got == 0 => return (Seen::Fin, Vec::new()),
                Ok(0) => return (Seen::Data, buf[..got].to_vec()),
                Ok(n) => {
                    got += n;
                    if got == CHUNK {
                        return (Seen::Data, buf.to_vec());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && got == 0 => {
                    return (if self.rst { Seen::Rst } else { Seen::Nothing }, Vec::new());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return (Seen::Data, buf[..got].to_vec());
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(_) => {
                    self.rst = true;
                    return if got == 0 { (Seen::Rst, Vec::new()) } else { (Seen::Data, buf[..got].to_vec()) };
                }
            }
        }
    }

    /// Writes a chunk; a reset socket drops it, as the model's wire does.
    /// The write reports the reset (and clears it from `SO_ERROR`):
    /// `ECONNRESET`, or `EPIPE` when the RST came after the proxy's FIN
    /// (Linux `tcp_reset()` in CLOSE_WAIT; a peer never writes after its
    /// own shutdown, so `EPIPE` means nothing else here).
    pub(super) fn send_raw(&mut self, bytes: &[u8]) {
        let r = self.s.write_all(bytes);
        self.note_write(r);
    }

    /// After a FIN: whether an RST came behind it (Linux reads 0 after a
    /// FIN even then, and keeps the error for `SO_ERROR`: `ECONNRESET`, or
    /// `EPIPE` when the RST found the socket in CLOSE_WAIT, the FIN read and
    /// the harness's side still open; Linux `tcp_reset()`).
    pub(super) fn reset_behind(&mut self) -> bool {
        self.rst
            || matches!(self.s.take_error(), Ok(Some(e))
                if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe))
    }
}

/// The client, the server, and the connections the proxy made that the
/// server application has not taken yet.
#[derive(Debug, Default)]
pub(super) struct Peers {
    pub(super) client: Option<PeerSock>,
    pub(super) server: Option<PeerSock>,
    pub(super) pending: VecDeque<PeerSock>,
    pub(super) sent: [u8; 2],
}

impl Peers {
    pub(super) fn sock(&mut self, who: Who) -> Option<&mut PeerSock> {
        match who {
            Who::Client => self.client.as_mut(),
            Who::Server => self.server.as_mut(),
        }
    }

    pub(super) fn take(&mut self, who: Who) -> Option<PeerSock> {
        match who {
            Who::Client => self.client.take(),
            Who::Server => self.server.take(),
        }
    }
}
