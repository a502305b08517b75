//! Fixtures for the real-socket tests of `sys` and `pool`: loopback pairs,
//! a blocking readiness wait, a byte pattern, and a SIGPIPE catcher.

use super::{cvt, retry_eintr};
use std::io;
use std::mem::MaybeUninit;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};

/// A connected loopback pair `(ours, peer)`, both blocking.
pub(crate) fn loopback_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let ours = TcpStream::connect(addr).expect("connect loopback");
    let (peer, _) = listener.accept().expect("accept loopback");
    (ours, peer)
}

/// The byte at offset `i` of a test stream: a counter modulo a prime, so
/// that a lost, duplicated or reordered chunk shows at its first byte.
pub(crate) fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// What [`wait`] waits for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ready {
    Read,
    Write,
}

/// Blocks until `fd` is readable or writable (or in error, which `poll`
/// reports either way). This is readiness, not a sleep: it returns as soon
/// as the kernel says so. The 60 s bound only turns a hang into a failure.
pub(crate) fn wait<F: AsFd>(fd: &F, ready: Ready) {
    let events = match ready {
        Ready::Read => libc::POLLIN,
        Ready::Write => libc::POLLOUT,
    };
    let mut pfd = libc::pollfd { fd: fd.as_fd().as_raw_fd(), events, revents: 0 };
    let n = retry_eintr(|| {
        // SAFETY: `pfd` is one valid pollfd, alive and writable for the call,
        // and the count passed is 1.
        cvt(unsafe { libc::poll(&mut pfd, 1, 60_000) })
    })
    .expect("poll");
    assert_eq!(n, 1, "no readiness within 60 s: the test is stuck");
}

/// Blocks SIGPIPE in the calling thread while alive, so that a SIGPIPE the
/// kernel raises stays pending where [`SigpipeBlocked::take_pending`] can
/// see it (a blocked signal is queued even when its action is "ignore").
#[derive(Debug)]
pub(crate) struct SigpipeBlocked {
    old: libc::sigset_t,
}

fn sigpipe_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set behind the pointer, which
    // points to writable storage of the right type; it cannot fail.
    unsafe { libc::sigemptyset(set.as_mut_ptr()) };
    // SAFETY: sigemptyset initialised the set.
    let mut set = unsafe { set.assume_init() };
    // SAFETY: `set` is an initialised sigset and SIGPIPE a valid number.
    unsafe { libc::sigaddset(&mut set, libc::SIGPIPE) };
    set
}

impl SigpipeBlocked {
    pub(crate) fn new() -> SigpipeBlocked {
        let set = sigpipe_set();
        let mut old = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: both pointers are valid sigsets for the call; the kernel
        // fills `old` before returning 0.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, old.as_mut_ptr()) };
        assert_eq!(rc, 0, "pthread_sigmask");
        // SAFETY: pthread_sigmask succeeded, so `old` is initialised.
        SigpipeBlocked { old: unsafe { old.assume_init() } }
    }

    /// Whether a SIGPIPE was pending for this thread or the process; takes
    /// it if so.
    pub(crate) fn take_pending(&self) -> bool {
        let set = sigpipe_set();
        let timeout = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `set` and `timeout` are valid for the call; a null info
        // pointer is allowed. A zero timeout polls without waiting.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
        sig == libc::SIGPIPE
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        self.take_pending();
        // SAFETY: `self.old` is the mask saved in `new`, a valid sigset.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// `Err(e)` with one of `errnos`.
pub(crate) fn is_os_error<T>(r: &io::Result<T>, errnos: &[i32]) -> bool {
    matches!(r, Err(e) if e.raw_os_error().is_some_and(|n| errnos.contains(&n)))
}

/// Segments the kernel received on this connection so far (`TCP_INFO`'s
/// `tcpi_segs_in`, the handshake's included): how many segments a peer's
/// bytes and FIN came in.
pub(crate) fn segments_in<F: AsFd>(fd: &F) -> u32 {
    let mut info = MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a writable tcp_info of `len` bytes, alive for the
    // call; the kernel writes at most `len` bytes and sets `len`.
    let rc = unsafe {
        libc::getsockopt(fd.as_fd().as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, info.as_mut_ptr().cast(), &mut len)
    };
    cvt(rc).expect("TCP_INFO");
    // SAFETY: zeroed at creation and partly written by the kernel: every
    // field is an integer, valid whatever its bytes.
    let info = unsafe { info.assume_init() };
    info.tcpi_segs_in
}
