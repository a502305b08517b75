//! The soak's server: reads each connection's header (after the PROXY v2 header the proxy
//! sends on its `proxy` listener's backend), then plays the session's part, and records what
//! it saw.

use crate::session::{abort_after, check, Header, Kind, HEADER_LEN};
use connseq_proxy_protocol as pp;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// What the servers saw, over every connection.
#[derive(Debug, Default)]
pub struct ServerCounts {
    /// Connections whose part ended as its kind says.
    pub ok: AtomicU64,
    /// Connections with wrong bytes, a missing PROXY header, or an end its kind does not
    /// explain; each is also printed.
    pub bad: AtomicU64,
}

/// A server on 127.0.0.1 that expects a PROXY v2 header first when `proxied`.
pub fn start(proxied: bool, counts: Arc<ServerCounts>) -> io::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    thread::Builder::new().name("soak-server".into()).spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let mine = counts.clone();
            let spawned = thread::Builder::new().stack_size(64 * 1024).spawn(move || {
                match serve(s, proxied) {
                    Ok(()) => mine.ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("soak server: {e}");
                        mine.bad.fetch_add(1, Ordering::Relaxed)
                    }
                };
            });
            if spawned.is_err() {
                counts.bad.fetch_add(1, Ordering::Relaxed);
            }
        }
    })?;
    Ok(addr)
}

fn serve(mut s: TcpStream, proxied: bool) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    if proxied {
        read_proxy_header(&mut s)?;
    }
    let mut hb = [0u8; HEADER_LEN];
    match s.read_exact(&mut hb) {
        Ok(()) => {}
        // A client that reset before its header reached the server.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
        Err(e) => return Err(e),
    }
    let h = Header::parse(&hb)?;
    match h.kind {
        Kind::HalfClosed => {
            let mut all = Vec::with_capacity(h.len as usize);
            s.read_to_end(&mut all)?;
            check(h.id, 0, &all)?;
            expect_len(&h, all.len() as u64)?;
            s.write_all(&hb)?;
            s.write_all(&all)?;
            s.shutdown(Shutdown::Write)
        }
        Kind::ServerAbort => {
            let stop = abort_after(&h);
            s.write_all(&hb)?;
            echo(&mut s, &h, Some(stop))?;
            socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
            Ok(())
        }
        Kind::ClientAbort => {
            // The proxy ends the server side in order when the client resets: the bytes
            // before the reset, a correct prefix, then a FIN.
            s.write_all(&hb)?;
            let _ = echo(&mut s, &h, None)?;
            s.shutdown(Shutdown::Write)
        }
        _ => {
            s.write_all(&hb)?;
            let n = echo(&mut s, &h, None)?;
            expect_len(&h, n)?;
            s.shutdown(Shutdown::Write)
        }
    }
}

fn expect_len(h: &Header, got: u64) -> io::Result<()> {
    if got == u64::from(h.len) {
        Ok(())
    } else {
        Err(io::Error::other(format!("session {} ({}): {got} of {} bytes", h.id, h.kind.name(), h.len)))
    }
}

/// Echoes the pattern, checking it, until EOF (or `stop` bytes); the bytes echoed.
fn echo(s: &mut TcpStream, h: &Header, stop: Option<u64>) -> io::Result<u64> {
    let mut buf = vec![0u8; 32 * 1024];
    let mut off = 0u64;
    loop {
        let want = stop.map_or(buf.len() as u64, |st| (st - off).min(buf.len() as u64)) as usize;
        if want == 0 {
            return Ok(off);
        }
        let n = s.read(&mut buf[..want])?;
        if n == 0 {
            return Ok(off);
        }
        check(h.id, off, &buf[..n])?;
        s.write_all(&buf[..n])?;
        off += n as u64;
    }
}

/// The PROXY v2 header the proxy's backend sends: read up to its end, exactly.
fn read_proxy_header(s: &mut TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 0];
    loop {
        let need = match pp::parse(&buf) {
            Ok(pp::Parsed::Complete(h, len)) => {
                if h.version != pp::Version::V2 || h.addresses.source().is_none() || len != buf.len() {
                    return Err(io::Error::other(format!("unexpected PROXY header {h:?}")));
                }
                return Ok(());
            }
            Ok(pp::Parsed::Incomplete(n)) => n.min(),
            Err(e) => return Err(io::Error::other(format!("PROXY header: {e}"))),
        };
        let start = buf.len();
        buf.resize(start + need, 0);
        s.read_exact(&mut buf[start..])?;
    }
}
