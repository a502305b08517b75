//! One TLS connection driven over a non-blocking socket, one step at a time.

use std::cmp::min;
use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use rustls::{CipherSuite, ProtocolVersion};

use crate::client::ClientTls;
use crate::error::TlsError;
use crate::names;
use crate::server::ServerTls;
use crate::sock::{PlainSocketIo, SockError, SockIo, SocketIo};

/// Plaintext encrypted per round of [`TlsConn::write`] before the records
/// are flushed: one full TLS record (RFC 8446 5.1). rustls never holds more
/// than one such round of ciphertext for the caller.
const WRITE_CHUNK: usize = 16 * 1024;

/// What a handshake step ended with.
///
/// | `Step`       | core `Outcome` of `Action::TlsHandshake` |
/// |--------------|------------------------------------------|
/// | `Done`       | `Done`                                   |
/// | `WantRead`   | `WouldBlock` (wait until readable)       |
/// | `WantWrite`  | `WantWrite` (wait until writable)        |
/// | `Eof`        | `Eof`                                    |
/// | `Reset`      | `Reset`                                  |
/// | `Invalid(_)` | `Invalid`                                |
/// | `Rejected(_)` | `Invalid` until the core has an outcome of its own for it |
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The handshake is complete and its last flight is on the wire.
    Done,
    /// The handshake waits for the peer: call again when the socket is readable.
    WantRead,
    /// The handshake has records the socket did not take: call again when it is writable.
    WantWrite,
    /// The peer closed TCP in the middle of the handshake.
    Eof,
    /// The socket failed hard (`ECONNRESET`, `EPIPE`, ...).
    Reset,
    /// The peer broke TLS or sent a fatal alert; our own alert was flushed
    /// if the socket took it. Every later handshake or read step answers
    /// the same.
    Invalid(TlsError),
    /// Our verification refused the peer's certificate
    /// ([`TlsError::is_certificate_rejected`]): the peer followed the
    /// protocol, but is not the one the configuration trusts, and a new
    /// handshake with it would be refused the same way. Our alert was
    /// flushed if the socket took it; every later step answers the same.
    Rejected(TlsError),
}

impl Step {
    /// A failed handshake: [`Step::Rejected`] when our verification refused
    /// the peer's certificate, [`Step::Invalid`] otherwise.
    fn failed(e: TlsError) -> Step {
        if e.is_certificate_rejected() {
            Step::Rejected(e)
        } else {
            Step::Invalid(e)
        }
    }
}

/// What a read step ended with.
///
/// | `Read`         | core `Outcome` of `Action::Recv` |
/// |----------------|----------------------------------|
/// | `Data(n)`      | `Data { full }`                  |
/// | `WouldBlock`   | `WouldBlock`                     |
/// | `Eof { .. }`   | `Eof`                            |
/// | `Reset`        | `Reset`                          |
/// | `Invalid(_)`   | `Invalid`                        |
#[derive(Clone, Debug, PartialEq)]
pub enum Read {
    /// `n > 0` bytes of plaintext were written to the start of `out`
    /// (`0` only when `out` is empty).
    Data(usize),
    /// No plaintext is buffered and the socket has nothing more: wait until readable.
    WouldBlock,
    /// The peer will send nothing more. `clean`: it sent close_notify
    /// (RFC 8446 6.1); otherwise TCP ended without one (a truncation a TCP
    /// proxy passes on as an ordinary end, the way HAProxy does).
    Eof {
        /// close_notify was received before the end.
        clean: bool,
    },
    /// The socket failed hard (`ECONNRESET`, ...).
    Reset,
    /// The peer broke TLS or sent a fatal alert.
    Invalid(TlsError),
}

/// What a write step ended with.
///
/// | `Write`                            | core `Outcome` of `Action::Send`          |
/// |------------------------------------|-------------------------------------------|
/// | `Sent { consumed, pending }`       | `Sent { drained: source_empty && !pending }` |
/// | `WouldBlock`                       | `WouldBlock`                              |
/// | `Reset`                            | `Reset`                                   |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// `consumed` bytes of the caller's data are now inside the TLS layer
    /// (the caller drops them from its buffer). `pending`: some of their
    /// records are still queued in rustls because the socket filled up;
    /// call [`TlsConn::write`] or [`TlsConn::flush`] again when writable.
    Sent {
        /// Plaintext bytes taken from the caller.
        consumed: usize,
        /// TLS records wait inside rustls.
        pending: bool,
    },
    /// Earlier records still do not fit in the socket; nothing was taken.
    WouldBlock,
    /// The socket failed hard (`EPIPE`, `ECONNRESET`, ...).
    Reset,
}

/// What a flush (or close_notify) step ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Every queued TLS record is in the socket.
    Done,
    /// Some records do not fit yet: call again when the socket is writable.
    WouldBlock,
    /// The socket failed hard.
    Reset,
}

/// One TLS connection: the note's data layer over one socket (the control
/// layer), which it borrows for each step and never owns, shuts or closes.
///
/// Every step is non-blocking and reports what the socket said. Call order:
/// [`handshake`](Self::handshake) until [`Step::Done`]; then
/// [`read`](Self::read) / [`write`](Self::write) / [`flush`](Self::flush) in
/// any order; [`close_notify`](Self::close_notify) for the data layer's
/// shutw; dropping the value is the data layer's close.
pub struct TlsConn {
    conn: rustls::Connection,
    /// close_notify has been queued (DSHW started); a second call only flushes.
    close_notify_queued: bool,
    /// The peer broke TLS: every later handshake or read step says so again.
    failed: Option<TlsError>,
    /// Bytes read from the socket by handshake steps.
    handshake_bytes: u64,
    /// The calls that read and write the socket.
    io: &'static dyn SocketIo,
}

impl fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConn")
            .field(
                "side",
                &match self.conn {
                    rustls::Connection::Client(_) => "client",
                    rustls::Connection::Server(_) => "server",
                },
            )
            .field("handshaking", &self.conn.is_handshaking())
            .field("pending_output", &self.conn.wants_write())
            .field("close_notify_queued", &self.close_notify_queued)
            .field("failed", &self.failed)
            .finish()
    }
}

impl TlsConn {
    /// A connection accepted from a client, with `tls`'s certificates and ALPN list.
    ///
    /// Fails only when the crypto provider fails locally.
    pub fn server(tls: &Arc<ServerTls>) -> Result<Self, TlsError> {
        let conn = rustls::ServerConnection::new(tls.config())?;
        Ok(Self::new(conn.into()))
    }

    /// A connection to the server at `server_ip`, verified the way `tls`
    /// says. The name sent and verified is `tls`'s SNI name if it has one,
    /// else `server_ip` (and then no SNI extension is sent).
    ///
    /// Fails only when the crypto provider fails locally (no random bytes
    /// for the ClientHello).
    pub fn client(tls: &Arc<ClientTls>, server_ip: IpAddr) -> Result<Self, TlsError> {
        let conn = rustls::ClientConnection::new(tls.config(), tls.server_name(server_ip))?;
        Ok(Self::new(conn.into()))
    }

    fn new(conn: rustls::Connection) -> Self {
        Self { conn, close_notify_queued: false, failed: None, handshake_bytes: 0, io: &PlainSocketIo }
    }

    /// The same connection, reading and writing its socket through `io`
    /// instead of [`PlainSocketIo`]: every later step's socket calls are
    /// `io`'s.
    #[must_use]
    pub fn with_socket_io(self, io: &'static dyn SocketIo) -> Self {
        Self { io, ..self }
    }

    /// Advance the handshake (HH_SSL_HS) as far as the socket allows.
    ///
    /// Flushes queued records, reads what the socket has, processes it and
    /// flushes the answer, until the handshake is complete or the socket
    /// blocks. [`Step::Done`] only once the last flight is in the socket.
    ///
    /// After `Done`, the peer's first application records may already be
    /// decrypted inside rustls or waiting in the socket with no new
    /// readiness edge to come: call [`read`](Self::read) before waiting for
    /// readability.
    pub fn handshake<S: AsFd>(&mut self, sock: &S) -> Step {
        if let Some(e) = &self.failed {
            return Step::failed(e.clone());
        }
        let sock = sock.as_fd();
        loop {
            match self.flush_to(sock) {
                Flush::Done => {}
                Flush::WouldBlock => return Step::WantWrite,
                Flush::Reset => return Step::Reset,
            }
            if !self.conn.is_handshaking() {
                return Step::Done;
            }
            match self.conn.read_tls(&mut SockIo { sock, io: self.io }) {
                Ok(0) => return Step::Eof,
                Ok(n) => {
                    self.handshake_bytes = self.handshake_bytes.saturating_add(n as u64);
                    if let Err(e) = self.conn.process_new_packets() {
                        return Step::failed(self.fail(sock, e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Step::Invalid(self.fail(sock, oversized()));
                }
                Err(e) => match SockError::of(&e) {
                    SockError::WouldBlock => return Step::WantRead,
                    SockError::Interrupted => {}
                    SockError::Reset => return Step::Reset,
                },
            }
        }
    }

    /// Read plaintext into `out`.
    ///
    /// Plaintext already decrypted inside rustls comes first; the socket is
    /// read only when none is left, so this never answers `WouldBlock` while
    /// plaintext is buffered (an edge-triggered poller would not wake the
    /// caller for it). Each socket read is one rustls read (a few KiB),
    /// processed before the next, so at most about one record of plaintext
    /// is ever buffered.
    ///
    /// Records rustls must answer (a TLS 1.3 KeyUpdate) are flushed if the
    /// socket takes them; otherwise [`has_pending_output`](Self::has_pending_output)
    /// tells the caller to flush when writable.
    pub fn read<S: AsFd>(&mut self, sock: &S, out: &mut [u8]) -> Read {
        if let Some(e) = &self.failed {
            return Read::Invalid(e.clone());
        }
        if out.is_empty() {
            return Read::Data(0);
        }
        let sock = sock.as_fd();
        loop {
            match self.conn.reader().read(out) {
                Ok(0) => return Read::Eof { clean: true },
                Ok(n) => return Read::Data(n),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Read::Eof { clean: false },
                // WouldBlock: nothing buffered, read the socket.
                Err(_) => {}
            }
            match self.conn.read_tls(&mut SockIo { sock, io: self.io }) {
                // TCP EOF: the reader now tells a clean end from a truncation.
                Ok(0) => {}
                Ok(_) => match self.conn.process_new_packets() {
                    Ok(_) => {
                        if self.conn.wants_write() {
                            // Best effort: a failure shows on the next step.
                            let _ = self.flush_to(sock);
                        }
                    }
                    Err(e) => return Read::Invalid(self.fail(sock, e)),
                },
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Read::Invalid(self.fail(sock, oversized()));
                }
                Err(e) => match SockError::of(&e) {
                    SockError::WouldBlock => return Read::WouldBlock,
                    SockError::Interrupted => {}
                    SockError::Reset => return Read::Reset,
                },
            }
        }
    }

    /// Encrypt and send plaintext from `data`.
    ///
    /// Records queued by an earlier step go first; if they do not all fit,
    /// nothing is taken ([`Write::WouldBlock`]). Then `data` is encrypted
    /// one record (16 KiB) at a time, each flushed before the next, until
    /// `data` is used up or the socket fills; so rustls holds at most one
    /// round of records afterwards, reported as `pending`.
    ///
    /// For an established connection only (after [`Step::Done`]), and never
    /// after [`close_notify`](Self::close_notify): nothing may follow it.
    pub fn write<S: AsFd>(&mut self, sock: &S, data: &[u8]) -> Write {
        debug_assert!(!self.close_notify_queued, "TlsConn::write after close_notify");
        let sock = sock.as_fd();
        match self.flush_to(sock) {
            Flush::Done => {}
            Flush::WouldBlock => return Write::WouldBlock,
            Flush::Reset => return Write::Reset,
        }
        let mut consumed = 0;
        while consumed < data.len() {
            let chunk = &data[consumed..min(data.len(), consumed + WRITE_CHUNK)];
            // rustls's plaintext sink never fails; it may take less than offered.
            let taken = self.conn.writer().write(chunk).unwrap_or(0);
            if taken == 0 {
                break;
            }
            consumed += taken;
            match self.flush_to(sock) {
                Flush::Done => {}
                Flush::WouldBlock => break,
                Flush::Reset => return Write::Reset,
            }
        }
        Write::Sent { consumed, pending: self.conn.wants_write() }
    }

    /// Send the TLS records queued inside rustls.
    pub fn flush<S: AsFd>(&mut self, sock: &S) -> Flush {
        self.flush_to(sock.as_fd())
    }

    /// Whether TLS records wait inside rustls for the socket to take them.
    pub fn has_pending_output(&self) -> bool {
        self.conn.wants_write()
    }

    /// The data layer's shutw (DSHW): queue a close_notify alert (once:
    /// later calls only flush) and flush it behind any queued records.
    ///
    /// [`Flush::WouldBlock`] means the alert does not fit in the socket yet:
    /// the step is kept and retried when the socket is writable (the note's
    /// asynchronous shutw). This does not shut the socket down: the control
    /// layer's `shutdown(SHUT_WR)` is the caller's next, separate step.
    pub fn close_notify<S: AsFd>(&mut self, sock: &S) -> Flush {
        if !self.close_notify_queued {
            self.conn.send_close_notify();
            self.close_notify_queued = true;
        }
        self.flush(sock)
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Bytes the handshake steps read from the socket so far: with the
    /// handshake still under way, more than 0 means the peer started it
    /// and did not finish (a record or a message cut short).
    pub fn handshake_bytes(&self) -> u64 {
        self.handshake_bytes
    }

    /// The protocol ALPN settled on, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The server name the client asked for (server side only).
    pub fn sni(&self) -> Option<&str> {
        match &self.conn {
            rustls::Connection::Server(server) => server.server_name(),
            rustls::Connection::Client(_) => None,
        }
    }

    /// The negotiated protocol version, as OpenSSL names it (`"TLSv1.3"`,
    /// `"TLSv1.2"`), once known.
    pub fn version(&self) -> Option<&'static str> {
        match self.conn.protocol_version()? {
            ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
            ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
            other => other.as_str(),
        }
    }

    /// The negotiated cipher suite by its IANA name
    /// (`"TLS_AES_128_GCM_SHA256"`, `"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"`), once known.
    pub fn cipher(&self) -> Option<&'static str> {
        let suite = self.conn.negotiated_cipher_suite()?.suite();
        match suite {
            // rustls prefixes the TLS 1.3 suites with TLS13_; IANA does not.
            CipherSuite::TLS13_AES_128_GCM_SHA256 => Some("TLS_AES_128_GCM_SHA256"),
            CipherSuite::TLS13_AES_256_GCM_SHA384 => Some("TLS_AES_256_GCM_SHA384"),
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => Some("TLS_CHACHA20_POLY1305_SHA256"),
            other => other.as_str(),
        }
    }

    /// The common name of the certificate the peer presented, if it sent one.
    pub fn peer_cn(&self) -> Option<String> {
        let leaf = self.conn.peer_certificates()?.first()?;
        names::common_name(leaf)
    }

    /// Flush until rustls holds nothing or the socket blocks.
    fn flush_to(&mut self, sock: BorrowedFd<'_>) -> Flush {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut SockIo { sock, io: self.io }) {
                Ok(0) => return Flush::WouldBlock,
                Ok(_) => {}
                Err(e) => match SockError::of(&e) {
                    SockError::WouldBlock => return Flush::WouldBlock,
                    SockError::Interrupted => {}
                    SockError::Reset => return Flush::Reset,
                },
            }
        }
        Flush::Done
    }

    /// A fatal TLS error: flush the alert rustls queued for it, if the
    /// socket takes it, remember it, and hand it back.
    fn fail(&mut self, sock: BorrowedFd<'_>, e: rustls::Error) -> TlsError {
        let _ = self.flush_to(sock);
        let e = TlsError::from(e);
        self.failed = Some(e.clone());
        e
    }
}

/// What rustls's input buffer refusing more bytes means: the peer sent a
/// message larger than any it may send.
fn oversized() -> rustls::Error {
    rustls::Error::InvalidMessage(rustls::InvalidMessage::MessageTooLarge)
}
