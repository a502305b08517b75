//! The soak's clients: one session of each kind, and what the client saw.

use crate::session::{abort_after, check, fill, Header, Kind, HEADER_LEN};
use connseq_proxy_protocol as pp;
use connseq_tls::rustls;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// Where the proxy listens, and the TLS client configuration for its TLS listener.
#[derive(Clone)]
pub struct Targets {
    pub raw: SocketAddr,
    pub tls: SocketAddr,
    pub proxy: SocketAddr,
    pub tls_config: Arc<rustls::ClientConfig>,
}

/// One session's result: the address the proxy logs it under, and whether the client saw
/// what its kind must end with (or why not).
pub struct Ended {
    pub key: SocketAddr,
    pub result: Result<(), String>,
}

/// Runs session `id`.
pub fn run(t: &Targets, id: u64) -> Ended {
    let kind = Kind::of(id);
    let h = Header { kind, id, len: kind.len() };
    let addr = match kind {
        Kind::Tls => t.tls,
        Kind::Proxy => t.proxy,
        _ => t.raw,
    };
    let s = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(e) => return Ended { key: addr, result: Err(format!("connect: {e}")) },
    };
    let key = match kind {
        // The proxy logs a PROXY session under the source its header names.
        Kind::Proxy => forwarded(id),
        _ => s.local_addr().unwrap_or(addr),
    };
    let result = play(t, s, &h).map_err(|e| format!("session {id} ({}): {e}", kind.name()));
    Ended { key, result }
}

/// The source a PROXY session claims: unique per session over a million.
fn forwarded(id: u64) -> SocketAddr {
    let ip = Ipv4Addr::from(0x0A00_0000 | (id as u32 & 0x00FF_FFFF));
    SocketAddr::V4(SocketAddrV4::new(ip, 1024 + (id >> 24) as u16))
}

fn play(t: &Targets, s: TcpStream, h: &Header) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_nodelay(true)?;
    match h.kind {
        Kind::Tls => {
            let name = rustls::pki_types::ServerName::try_from("localhost").map_err(io::Error::other)?;
            let conn = rustls::ClientConnection::new(t.tls_config.clone(), name).map_err(io::Error::other)?;
            let mut tls = rustls::StreamOwned::new(conn, s);
            let mut out = h.bytes().to_vec();
            out.extend((0..h.len).map(|i| crate::session::pattern(h.id, u64::from(i))));
            tls.write_all(&out)?;
            tls.conn.send_close_notify();
            tls.flush()?;
            let mut back = Vec::new();
            tls.read_to_end(&mut back)?;
            expect_echo(h, &back)
        }
        Kind::Proxy => {
            let mut s = s;
            let mut line = Vec::new();
            pp::V1Builder::new(forwarded(h.id), s.peer_addr()?).append_to(&mut line);
            s.write_all(&line)?;
            plain(s, h)
        }
        _ => plain(s, h),
    }
}

/// A session on a plain socket: send the header and the stream, then read the echo as the
/// kind says.
fn plain(mut s: TcpStream, h: &Header) -> io::Result<()> {
    let mut writer = s.try_clone()?;
    let hd = *h;
    let send = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || -> io::Result<()> {
        writer.write_all(&hd.bytes())?;
        let mut chunk = vec![0u8; 32 * 1024];
        let mut off = 0u64;
        while off < u64::from(hd.len) {
            let n = chunk.len().min((u64::from(hd.len) - off) as usize);
            fill(hd.id, off, &mut chunk[..n]);
            writer.write_all(&chunk[..n])?;
            off += n as u64;
        }
        if hd.kind == Kind::ClientAbort {
            // No FIN: the session cannot end before the client's reset.
            return Ok(());
        }
        writer.shutdown(Shutdown::Write)
    })?;
    let result = receive(&mut s, h);
    let sent = send.join().map_err(|_| io::Error::other("the sender panicked"))?;
    match h.kind {
        // The sender may meet the reset it caused, or the proxy's close.
        Kind::ClientAbort | Kind::ServerAbort => result,
        _ => result.and(sent),
    }
}

fn receive(s: &mut TcpStream, h: &Header) -> io::Result<()> {
    let mut hb = [0u8; HEADER_LEN];
    match s.read_exact(&mut hb) {
        // The server's reset may destroy, in the proxy's socket, response bytes the proxy had
        // not read yet (kernel axiom: data is lost at a peer that receives an RST): the
        // client then gets a shorter prefix, possibly empty, and its EOF.
        Err(e) if h.kind == Kind::ServerAbort && e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
        other => other?,
    }
    if Header::parse(&hb)? != *h {
        return Err(io::Error::other("the echoed header is not ours"));
    }
    let mut buf = vec![0u8; 32 * 1024];
    let mut off = 0u64;
    loop {
        let want = match h.kind {
            Kind::SlowReader => 16 * 1024,
            Kind::ClientAbort if off >= 4096 => {
                // Enough: reset, with the echo still coming.
                socket2::SockRef::from(&*s).set_linger(Some(Duration::ZERO))?;
                return Ok(());
            }
            _ => buf.len(),
        };
        let n = s.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        check(h.id, off, &buf[..n])?;
        off += n as u64;
        if h.kind == Kind::SlowReader {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let want = match h.kind {
        // The response bytes the proxy had read, then a FIN: at most what the server echoed.
        Kind::ServerAbort if off <= abort_after(h) => return Ok(()),
        Kind::ServerAbort => return Err(io::Error::other(format!("{off} bytes after the server's reset"))),
        _ => u64::from(h.len),
    };
    if off == want {
        Ok(())
    } else {
        Err(io::Error::other(format!("{off} of {want} bytes, then EOF")))
    }
}

fn expect_echo(h: &Header, back: &[u8]) -> io::Result<()> {
    if back.len() != HEADER_LEN + h.len as usize || back[..HEADER_LEN] != h.bytes() {
        return Err(io::Error::other(format!("{} bytes came back over TLS", back.len())));
    }
    check(h.id, 0, &back[HEADER_LEN..])
}
