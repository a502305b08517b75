//! Shared fixtures of the limit, descriptor and CPU tests: configurations
//! built in code, an echo server that counts what it accepts, blocking
//! peers with a hang guard, and bounded waits for a condition.
//!
//! Nothing here synchronises with a sleep: a wait polls a condition and
//! gives up (failing the test) only after [`HANG_GUARD`].

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod logs;
pub mod stream;

use connseq::config::{
    BackendConfig, BackendTimeouts, GlobalConfig, ListenerConfig, ListenerTimeouts, ProxyConfig, ServerConfig,
};
use connseq::runtime::{RunningProxy, SessionRecord};
use socket2::{Domain, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Turns a hang into a failure; never a synchronisation.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// Every timeout of the proxy, long enough that a loaded machine never
/// trips one during a test.
const LONG: Duration = Duration::from_secs(120);

/// A listener on 127.0.0.1, port 0, to `servers`, with long timeouts, no
/// connect retry delay and `retries` retries.
pub fn listener(name: &str, servers: &[SocketAddr], server_maxconn: u32, retries: u8) -> ListenerConfig {
    let servers = servers.iter().map(|&addr| ServerConfig { addr, maxconn: server_maxconn }).collect();
    let mut backend = BackendConfig::new(name, servers);
    backend.retries = retries;
    backend.timeouts =
        BackendTimeouts { connect: LONG, server: LONG, server_fin: LONG, queue: LONG, turn_around: Duration::ZERO };
    ListenerConfig {
        name: name.into(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        backend,
        timeouts: ListenerTimeouts { handshake: LONG, client: LONG, client_fin: LONG },
        maxconn: 0,
        options: Default::default(),
    }
}

/// A proxy configuration: these listeners, one thread, global `maxconn`.
pub fn proxy_config(listeners: Vec<ListenerConfig>, maxconn: u32) -> ProxyConfig {
    ProxyConfig { listeners, global: GlobalConfig { threads: 1, maxconn, ..GlobalConfig::default() } }
}

/// A blocking client of the proxy with the hang guard as read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to the proxy");
    s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
    s
}

/// Writes `msg` and reads exactly its echo back.
pub fn round_trip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).expect("send");
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).expect("the echo");
    assert_eq!(got, msg, "the echo is the message");
}

/// Reads until EOF; returns what came.
pub fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("data then EOF");
    got
}

/// Asserts that nothing is readable on `s` right now (no data, no EOF),
/// then puts it back to blocking.
pub fn assert_nothing_to_read(s: &mut TcpStream, what: &str) {
    s.set_nonblocking(true).expect("non-blocking");
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Ok(0) => panic!("{what}: EOF, expected nothing yet"),
        Ok(n) => panic!("{what}: {n} bytes arrived, expected nothing yet"),
        Err(e) => panic!("{what}: {e}, expected nothing yet"),
    }
    s.set_nonblocking(false).expect("blocking again");
}

/// Closes `s` abortively: SO_LINGER 0, so the close sends a RST.
pub fn abort(s: TcpStream) {
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).expect("SO_LINGER 0");
    drop(s);
}

/// Half-closes, reads to EOF and closes; returns what came after the half-close.
pub fn finish(mut s: TcpStream) -> Vec<u8> {
    s.shutdown(Shutdown::Write).expect("half-close");
    read_to_eof(&mut s)
}

/// An address where connect() is refused and that no connect() of this
/// host can pick as its own port (which could self-connect): a socket
/// bound there but not listening. Keep the socket alive while in use.
pub fn refusing_port() -> (Socket, SocketAddr) {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).expect("bind");
    let addr = s.local_addr().expect("local address").as_socket().expect("an inet address");
    (s, addr)
}

/// Every record of an ended session until `n` sessions ended (the proxy
/// runs with `Options::record_sessions`).
pub fn records(proxy: &RunningProxy, n: usize) -> Vec<SessionRecord> {
    let mut all = Vec::new();
    wait_until("the sessions ended", || {
        all.extend(proxy.take_records());
        all.len() >= n
    });
    all
}

/// Waits until `cond` holds, checking every millisecond; panics with `what`
/// after the hang guard.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG_GUARD;
    while !cond() {
        assert!(Instant::now() < deadline, "still not the case after {HANG_GUARD:?}: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// An echo server on 127.0.0.1: a thread accepts, and each connection is
/// echoed on its own thread until EOF (then the write side is shut) or an
/// error. It counts the connections it accepted; [`EchoServer::stop`]
/// joins every thread, so every socket it opened is closed after it.
#[derive(Debug)]
pub struct EchoServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        EchoServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// [`EchoServer::start`] on `addr` (a server brought back on its port).
    pub fn start_on(addr: SocketAddr) -> EchoServer {
        let l = TcpListener::bind(addr).expect("bind the test server");
        let addr = l.local_addr().expect("local address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let active = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let (acc, opn, pk, stop) = (accepted.clone(), open.clone(), peak.clone(), stopping.clone());
        let act = active;
        let thread = thread::Builder::new()
            .name("echo-accept".into())
            .spawn(move || {
                let mut conns = Vec::new();
                loop {
                    let (s, _) = match l.accept() {
                        Ok(x) => x,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        // A test that runs the process out of descriptors
                        // (`OutOfDescriptors`) shares it with this server: the
                        // connection waits in the backlog until they are back.
                        Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                            thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                        Err(e) => panic!("echo server accept: {e}"),
                    };
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    acc.fetch_add(1, Ordering::AcqRel);
                    let active = act.fetch_add(1, Ordering::AcqRel) + 1;
                    pk.fetch_max(active, Ordering::AcqRel);
                    opn.fetch_add(1, Ordering::AcqRel);
                    let (opn, act) = (opn.clone(), act.clone());
                    conns.push(thread::spawn(move || {
                        // `active` drops before the FIN is sent, so whoever
                        // sees the FIN sees the count without this connection.
                        echo(s, || {
                            act.fetch_sub(1, Ordering::AcqRel);
                        }); // closes the socket
                        opn.fetch_sub(1, Ordering::AcqRel);
                    }));
                    // Join the finished ones as we go, so a long test does
                    // not pile up handles.
                    if conns.len() >= 64 {
                        let (done, live): (Vec<_>, Vec<_>) = conns.into_iter().partition(|h| h.is_finished());
                        for h in done {
                            let _ = h.join();
                        }
                        conns = live;
                    }
                }
                for h in conns {
                    let _ = h.join();
                }
            })
            .expect("spawn the echo server");
        EchoServer { addr, accepted, open, peak, stopping, thread: Some(thread) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Acquire)
    }

    /// Connections accepted and not yet closed.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// The most connections active at once so far (a connection stops being
    /// active when its EOF or error is read, before its FIN is sent).
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }

    /// Stops accepting and waits until every connection's echo ended.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let Some(thread) = self.thread.take() else { return };
        self.stopping.store(true, Ordering::Release);
        // Wake the blocking accept; this connection is not counted.
        drop(TcpStream::connect(self.addr));
        thread.join().expect("the echo server thread");
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if !thread::panicking() {
            self.stop_and_join();
        }
    }
}

/// Echoes until EOF, then shuts the write side; any error ends it.
/// `done` runs once, at EOF or error, before the FIN.
fn echo(mut s: TcpStream, done: impl FnOnce()) {
    if s.set_read_timeout(Some(HANG_GUARD)).is_err() {
        done();
        return;
    }
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => {
                done();
                let _ = s.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    done();
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                done();
                return;
            }
        }
    }
}

/// A client in the proxy's backlog while the process has no descriptor left
/// (EMFILE on the proxy's next accept). The descriptor limit is process-wide:
/// a test that uses this is the only one in its binary.
pub struct OutOfDescriptors {
    client: Socket,
    hog: Vec<std::fs::File>,
    old_limit: u64,
}

impl OutOfDescriptors {
    /// Lowers the soft limit to a few descriptors above those open, takes
    /// them all, and connects a client to `addr` (the client's socket exists
    /// before the descriptors run out; its connect needs none).
    pub fn connect(addr: SocketAddr) -> OutOfDescriptors {
        use connseq::sys::process::{open_fd_count, set_nofile_soft_limit};
        let client = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let limit = open_fd_count().expect("count") as u64 + 16;
        let old_limit = set_nofile_soft_limit(limit).expect("lower the limit");
        let mut hog = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            hog.push(f);
        }
        assert!(!hog.is_empty(), "the hog took the last descriptors");
        client.connect(&addr.into()).expect("the kernel completes the handshake into the backlog");
        OutOfDescriptors { client, hog, old_limit }
    }

    /// Frees the descriptors, restores the limit and returns the waiting
    /// client (read timeout: the hang guard).
    pub fn release(self) -> TcpStream {
        drop(self.hog);
        connseq::sys::process::set_nofile_soft_limit(self.old_limit).expect("restore the limit");
        let client: TcpStream = self.client.into();
        client.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
        client
    }
}

/// A server that takes one connection, reads a 3-byte request, says so on `asked`, waits for
/// `go`, answers `answer`, then reads to the end: what came after the request and how the
/// read ended. The fault tests install a fault between `asked` and `go`, so that it strikes
/// the proxy's send of the answer.
pub struct AnsweringServer {
    pub asked: std::sync::mpsc::Receiver<()>,
    pub go: std::sync::mpsc::Sender<()>,
    pub after: JoinHandle<Result<Vec<u8>, io::ErrorKind>>,
}

impl AnsweringServer {
    pub fn start(l: TcpListener) -> AnsweringServer {
        let (asked_tx, asked) = std::sync::mpsc::channel();
        let (go, go_rx) = std::sync::mpsc::channel::<()>();
        let after = thread::spawn(move || {
            let (mut s, _) = l.accept().expect("the proxy connects");
            s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
            let mut req = [0u8; 3];
            s.read_exact(&mut req).expect("the request");
            asked_tx.send(()).expect("the test waits");
            go_rx.recv().expect("the fault is in place");
            s.write_all(b"answer").expect("the answer");
            let mut after = Vec::new();
            s.read_to_end(&mut after).map(|_| after).map_err(|e| e.kind())
        });
        AnsweringServer { asked, go, after }
    }
}
