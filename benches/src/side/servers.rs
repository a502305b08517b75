//! The servers behind the proxies (and behind nothing, for the direct
//! path): a sink that counts what it reads, an echo of 64-byte messages,
//! and a holder that keeps idle connections open. Each listens on a port
//! of 127.0.0.1 the kernel chooses, plain or TLS. Their threads live as
//! long as the bench.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustls::ServerConfig;

use super::stream::Stream;

/// Bytes of one echo message (request and reply).
pub const MESSAGE: usize = 64;

/// A listener on a free port of 127.0.0.1, with a backlog long enough for
/// the idle-memory measure's burst of connects.
fn listen() -> io::Result<(TcpListener, SocketAddr)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sock.bind(&addr.into())?;
    sock.listen(8192)?;
    let l: TcpListener = sock.into();
    let a = l.local_addr()?;
    Ok((l, a))
}

/// Reads and throws away everything each connection sends, counting it.
#[derive(Debug)]
pub struct Sink {
    /// Where it listens.
    pub addr: SocketAddr,
    bytes: Arc<AtomicU64>,
    open: Arc<AtomicUsize>,
}

impl Sink {
    /// A sink on a new port; `tls` makes it a TLS server.
    pub fn start(tls: Option<Arc<ServerConfig>>) -> io::Result<Sink> {
        let (listener, addr) = listen()?;
        let bytes = Arc::new(AtomicU64::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (b, o) = (bytes.clone(), open.clone());
        thread::Builder::new().name("sink-accept".into()).spawn(move || {
            for sock in listener.incoming().flatten() {
                let (b, o, tls) = (b.clone(), o.clone(), tls.clone());
                o.fetch_add(1, Ordering::SeqCst);
                let _ = thread::Builder::new().name("sink".into()).spawn(move || {
                    let _ = drain(sock, tls.as_ref(), &b);
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        })?;
        Ok(Sink { addr, bytes, open })
    }

    /// Bytes read so far, over every connection.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }

    /// Waits (at most `limit`) until every connection has ended.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        wait_until(limit, || self.open.load(Ordering::SeqCst) == 0)
    }
}

fn drain(sock: TcpStream, tls: Option<&Arc<ServerConfig>>, bytes: &AtomicU64) -> io::Result<()> {
    let mut s = Stream::accepted(sock, tls)?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match s.read(&mut buf)? {
            0 => return Ok(()),
            n => bytes.fetch_add(n as u64, Ordering::Relaxed),
        };
    }
}

/// Answers every 64-byte message with 64 bytes, until the client closes.
/// `workers` threads accept in turn and serve one connection each at a time.
#[derive(Debug)]
pub struct Echo {
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Echo {
    /// An echo server on a new port.
    pub fn start(workers: usize, tls: Option<Arc<ServerConfig>>) -> io::Result<Echo> {
        let (listener, addr) = listen()?;
        for _ in 0..workers {
            let l = listener.try_clone()?;
            let tls = tls.clone();
            thread::Builder::new().name("echo".into()).spawn(move || {
                for sock in l.incoming().flatten() {
                    let _ = echo(sock, tls.as_ref());
                }
            })?;
        }
        Ok(Echo { addr })
    }
}

fn echo(sock: TcpStream, tls: Option<&Arc<ServerConfig>>) -> io::Result<()> {
    let mut s = Stream::accepted(sock, tls)?;
    let mut msg = [0u8; MESSAGE];
    loop {
        let mut got = 0;
        while got < MESSAGE {
            match s.read(&mut msg[got..]) {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => got += n,
            }
        }
        s.write_all(&msg)?;
        s.flush()?;
    }
}

/// Accepts connections and keeps them, idle, until [`Hold::release`].
#[derive(Debug)]
pub struct Hold {
    /// Where it listens.
    pub addr: SocketAddr,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Hold {
    /// A holder on a new port.
    pub fn start() -> io::Result<Hold> {
        let (listener, addr) = listen()?;
        let held = Arc::new(Mutex::new(Vec::new()));
        let h = held.clone();
        thread::Builder::new().name("hold".into()).spawn(move || {
            for sock in listener.incoming().flatten() {
                if let Ok(mut v) = h.lock() {
                    v.push(sock);
                }
            }
        })?;
        Ok(Hold { addr, held })
    }

    /// Connections held now.
    pub fn count(&self) -> usize {
        self.held.lock().map_or(0, |v| v.len())
    }

    /// Closes every held connection.
    pub fn release(&self) {
        if let Ok(mut v) = self.held.lock() {
            v.clear();
        }
    }
}

/// Polls `done` every 10 ms for at most `limit`.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
    true
}
