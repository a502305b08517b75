//! Fixtures for the kernel-axiom tests: loopback pairs with chosen buffer
//! sizes, readiness waits through mio (edge-triggered, as the runtime polls),
//! and the byte pattern the streams carry.
//!
//! Nothing here sleeps: a test waits for readiness or for a blocking call to
//! return. [`HANG_GUARD`] bounds every wait, so a hang becomes a failure.

use connseq::sys::socket;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// The longest any single wait may take before the test fails as stuck.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// A buffer size small enough that a few sends fill it (the kernel doubles
/// what `SO_RCVBUF` / `SO_SNDBUF` ask for and keeps a floor).
pub const SMALL_BUFFER: usize = 16 * 1024;

/// `SO_RCVBUF` / `SO_SNDBUF` for one socket of a pair; `None` keeps the
/// kernel's default (with autotuning).
#[derive(Clone, Copy, Debug, Default)]
pub struct Buffers {
    pub rcvbuf: Option<usize>,
    pub sndbuf: Option<usize>,
}

impl Buffers {
    /// Both buffers small.
    pub const SMALL: Buffers = Buffers { rcvbuf: Some(SMALL_BUFFER), sndbuf: Some(SMALL_BUFFER) };

    fn apply(self, sock: &Socket) {
        if let Some(n) = self.rcvbuf {
            sock.set_recv_buffer_size(n).expect("SO_RCVBUF");
        }
        if let Some(n) = self.sndbuf {
            sock.set_send_buffer_size(n).expect("SO_SNDBUF");
        }
    }
}

/// A connected loopback pair. `ours` is the connecting socket (the side the
/// proxy plays in a test), `peer` the accepted one. Both block, with read
/// and write timeouts of [`HANG_GUARD`]. The listener stays open for the
/// pair's life, so that the 4-tuple stays unique in the socket table.
#[derive(Debug)]
pub struct Pair {
    pub ours: TcpStream,
    pub peer: TcpStream,
    listener: TcpListener,
}

impl Pair {
    /// A pair with the kernel's default buffers.
    pub fn loopback() -> Pair {
        Pair::loopback_with(Buffers::default(), Buffers::default())
    }

    /// A pair with the given buffers. The peer's are set on the listener
    /// before `listen()`, so that the window scale of the handshake already
    /// reflects them.
    pub fn loopback_with(ours: Buffers, peer: Buffers) -> Pair {
        let any: SocketAddr = "127.0.0.1:0".parse().expect("a literal address");
        let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
        peer.apply(&listener);
        listener.bind(&any.into()).expect("bind loopback");
        listener.listen(1).expect("listen");
        let listener: TcpListener = listener.into();
        let addr = listener.local_addr().expect("listener address");

        let client = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
        ours.apply(&client);
        client.connect(&addr.into()).expect("connect loopback");
        let ours: TcpStream = client.into();
        let (peer, _) = listener.accept().expect("accept loopback");
        for s in [&ours, &peer] {
            s.set_read_timeout(Some(HANG_GUARD)).expect("SO_RCVTIMEO");
            s.set_write_timeout(Some(HANG_GUARD)).expect("SO_SNDTIMEO");
        }
        Pair { ours, peer, listener }
    }

    /// `(our port, the peer's port)`: our side of the 4-tuple as the socket
    /// table shows it.
    pub fn ports(&self) -> (u16, u16) {
        (self.ours.local_addr().expect("our address").port(), self.peer_port())
    }

    /// The peer's port (the listener's).
    pub fn peer_port(&self) -> u16 {
        self.listener.local_addr().expect("listener address").port()
    }
}

/// The byte at offset `i` of a test stream: a counter modulo a prime, so a
/// lost, duplicated or reordered chunk shows at its first byte.
pub fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// `len` bytes of the pattern from offset `start`.
pub fn pattern(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(pattern_byte).collect()
}

/// Whether `got` is the pattern from offset 0.
pub fn is_pattern_prefix(got: &[u8]) -> bool {
    got.iter().enumerate().all(|(i, &b)| b == pattern_byte(i))
}

/// Sends the pattern with the runtime's `send` (`MSG_DONTWAIT |
/// MSG_NOSIGNAL`) until the kernel says `EAGAIN`; returns how many bytes it
/// took. Any other error fails the test.
pub fn fill<S: AsFd>(sock: &S, already: usize) -> usize {
    let chunk = 4096;
    let mut sent = 0;
    loop {
        match socket::send(sock, &pattern(already + sent, chunk), false) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return sent,
            Err(e) => panic!("send while filling: {e}"),
        }
    }
}

/// Reads until EOF (0) with blocking reads; any error fails the test.
pub fn read_to_eof(sock: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    sock.read_to_end(&mut out).expect("read to EOF");
    out
}

/// Reads with blocking reads until one fails; returns what was read and the
/// error. EOF before any error fails the test.
pub fn read_until_error(sock: &mut TcpStream) -> (Vec<u8>, io::Error) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => panic!("EOF after {} bytes where an error was expected", out.len()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (out, e),
        }
    }
}

/// One blocking read of up to 64 bytes, as a value to compare.
pub fn read_once(sock: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut buf = [0u8; 64];
    let n = sock.read(&mut buf)?;
    Ok(buf[..n].to_vec())
}

/// Writes all of `data` with a blocking write.
pub fn write_all(sock: &mut TcpStream, data: &[u8]) {
    sock.write_all(data).expect("blocking write");
}

/// The kind of an `io::Result`'s error, or `None` if it succeeded. For the
/// errors compared here the kind names one errno: `ConnectionReset` is
/// `ECONNRESET`, `BrokenPipe` `EPIPE`, `WouldBlock` `EAGAIN`, `NotConnected`
/// `ENOTCONN`, `ConnectionRefused` `ECONNREFUSED`.
pub fn kind<T>(r: &io::Result<T>) -> Option<io::ErrorKind> {
    r.as_ref().err().map(io::Error::kind)
}

/// What one epoll event said, as mio reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    pub readable: bool,
    pub writable: bool,
    /// `EPOLLERR`.
    pub error: bool,
    /// `EPOLLRDHUP` (or `EPOLLHUP`): the peer's FIN or a reset.
    pub read_closed: bool,
    /// `EPOLLHUP` (or `EPOLLERR`): nothing more can be written.
    pub write_closed: bool,
}

/// An edge-triggered poller (mio registers `EPOLLET`), as the runtime's.
#[derive(Debug)]
pub struct Watch {
    poll: Poll,
    events: Events,
}

impl Watch {
    pub fn epoll() -> Watch {
        Watch { poll: Poll::new().expect("epoll_create1"), events: Events::with_capacity(16) }
    }

    /// Registers `fd` under `token`. The registration follows the open file
    /// description, not the fd number (epoll(7)).
    pub fn add<F: AsRawFd>(&self, fd: &F, token: Token, interest: Interest) {
        let raw = fd.as_raw_fd();
        self.poll.registry().register(&mut SourceFd(&raw), token, interest).expect("epoll_ctl(ADD)");
    }

    /// One `epoll_wait` with `timeout`: the events it returned.
    pub fn poll(&mut self, timeout: Duration) -> Vec<(Token, Readiness)> {
        loop {
            match self.poll.poll(&mut self.events, Some(timeout)) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("epoll_wait: {e}"),
            }
        }
        self.events
            .iter()
            .map(|e| {
                let r = Readiness {
                    readable: e.is_readable(),
                    writable: e.is_writable(),
                    error: e.is_error(),
                    read_closed: e.is_read_closed(),
                    write_closed: e.is_write_closed(),
                };
                (e.token(), r)
            })
            .collect()
    }

    /// The events already pending, without waiting.
    pub fn pending(&mut self) -> Vec<(Token, Readiness)> {
        self.poll(Duration::ZERO)
    }

    /// Waits until an event for `token` satisfies `want`, and returns it.
    /// Events for other tokens, or that do not satisfy `want`, are skipped.
    pub fn wait(&mut self, token: Token, want: impl Fn(&Readiness) -> bool) -> Readiness {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no event for {token:?} within {HANG_GUARD:?}: the test is stuck");
            if let Some((_, r)) = self.poll(left).into_iter().find(|(t, r)| *t == token && want(r)) {
                return r;
            }
        }
    }
}

/// Runs `attempt` until it returns `Some`, for a kernel state that a test
/// cannot wait for with a poller (a socket it no longer holds, such as an
/// orphan in the socket table). The kernel reaches such states in the
/// softirq that handled the last segment, normally before the first look;
/// the loop only covers a deferred softirq. [`HANG_GUARD`] bounds it.
pub fn eventually<T>(what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        if let Some(v) = attempt() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not reached within {HANG_GUARD:?}");
        std::thread::yield_now();
    }
}
