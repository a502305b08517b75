//! SIGUSR1, SIGTERM and SIGINT as readiness: a `signalfd` that mio polls
//! like a socket, so that a signal is handled between two events of the
//! loop, never inside a handler.
//!
//! `signalfd` only sees signals that are blocked: [`Signals::new`] blocks the
//! three in the calling thread. A signal sent to the *process* (kill(1)) goes
//! to any thread that does not block it, so create `Signals` on the main
//! thread before spawning the others (they inherit the mask), or block the
//! signals in every thread. The mask is not restored on drop: the value may
//! be dropped on another thread than the one whose mask it changed.

use super::{cvt, retry_eintr};
use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A signal the proxy reacts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// SIGUSR1: soft stop (stop accepting, let sessions finish), as HAProxy.
    Usr1,
    /// SIGTERM: hard stop.
    Term,
    /// SIGINT: hard stop (Ctrl-C).
    Int,
}

impl Signal {
    /// Every signal [`Signals`] watches.
    pub const ALL: [Signal; 3] = [Signal::Usr1, Signal::Term, Signal::Int];

    /// The signal's number.
    pub fn number(self) -> libc::c_int {
        match self {
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Term => libc::SIGTERM,
            Signal::Int => libc::SIGINT,
        }
    }

    fn from_number(n: u32) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| u32::try_from(s.number()) == Ok(n))
    }

    fn bit(self) -> u8 {
        match self {
            Signal::Usr1 => 1,
            Signal::Term => 2,
            Signal::Int => 4,
        }
    }
}

/// The signals that arrived since the last read (a signal that arrived
/// several times is in it once: standard signals do not queue).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SignalSet(u8);

impl SignalSet {
    /// The empty set.
    pub const EMPTY: SignalSet = SignalSet(0);

    /// Whether `signal` is in the set.
    pub fn contains(self, signal: Signal) -> bool {
        self.0 & signal.bit() != 0
    }

    /// Adds `signal`.
    pub fn insert(&mut self, signal: Signal) {
        self.0 |= signal.bit();
    }

    /// No signal in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The signals in the set.
    pub fn iter(self) -> impl Iterator<Item = Signal> {
        Signal::ALL.into_iter().filter(move |&s| self.contains(s))
    }
}

/// A non-blocking, close-on-exec signalfd for [`Signal::ALL`], registrable
/// with mio (readable when a signal is pending).
#[derive(Debug)]
pub struct Signals {
    fd: OwnedFd,
}

fn watched_set() -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set behind the pointer, which
    // points to writable storage of the right type.
    cvt(unsafe { libc::sigemptyset(set.as_mut_ptr()) })?;
    // SAFETY: sigemptyset returned 0, so the set is initialised.
    let mut set = unsafe { set.assume_init() };
    for s in Signal::ALL {
        // SAFETY: `set` is an initialised sigset and the number is valid.
        cvt(unsafe { libc::sigaddset(&mut set, s.number()) })?;
    }
    Ok(set)
}

impl Signals {
    /// Blocks SIGUSR1, SIGTERM and SIGINT in the calling thread and opens a
    /// signalfd for them.
    pub fn new() -> io::Result<Signals> {
        let set = watched_set()?;
        // SAFETY: `set` is an initialised sigset; a null old-mask pointer is
        // allowed. pthread_sigmask returns the error instead of setting errno.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: -1 asks for a new fd; `set` is valid for the call.
        let fd = cvt(unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) })?;
        // SAFETY: signalfd succeeded, so `fd` is open and owned by nobody
        // else; ownership moves into the OwnedFd here, once.
        Ok(Signals { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Reads every pending signal and returns which arrived; the empty set
    /// if none was pending. Call it until it returns the empty set after a
    /// readable event (mio is edge-triggered); one call normally suffices.
    pub fn read(&mut self) -> io::Result<SignalSet> {
        const BATCH: usize = 8;
        let mut set = SignalSet::EMPTY;
        loop {
            let mut infos = [MaybeUninit::<libc::signalfd_siginfo>::uninit(); BATCH];
            let got = retry_eintr(|| {
                // SAFETY: `infos` is writable for BATCH records and read(2)
                // writes at most the byte count given; the fd is ours.
                let n = unsafe {
                    libc::read(
                        self.fd.as_raw_fd(),
                        infos.as_mut_ptr().cast(),
                        BATCH * size_of::<libc::signalfd_siginfo>(),
                    )
                };
                super::cvt_size(n)
            });
            let bytes = match got {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(set),
                Err(e) => return Err(e),
            };
            // signalfd returns whole records only.
            let records = bytes / size_of::<libc::signalfd_siginfo>();
            for info in &infos[..records] {
                // SAFETY: the kernel wrote the first `records` whole records.
                let info = unsafe { info.assume_init_ref() };
                if let Some(s) = Signal::from_number(info.ssi_signo) {
                    set.insert(s);
                }
            }
            if records < BATCH {
                return Ok(set);
            }
        }
    }
}

/// Sets SIGPIPE's action to "ignore", so that a write to a reset socket
/// fails with `EPIPE` instead of killing the process. `send` passes
/// `MSG_NOSIGNAL`, but `splice` to a socket cannot: this is what keeps a
/// splice to a reset peer harmless. Rust's runtime already does this before
/// `main` (unless built with `-Zon-broken-pipe`); the proxy says it again.
pub fn ignore_sigpipe() -> io::Result<()> {
    // SAFETY: SIG_IGN is a valid action for SIGPIPE; signal(2) touches no
    // memory of ours and installs no handler code.
    let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    if old == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether SIGPIPE's action is "ignore".
pub fn sigpipe_is_ignored() -> io::Result<bool> {
    let mut action = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: a null new action only queries; the old-action pointer points
    // to writable storage for one sigaction, filled when the call returns 0.
    cvt(unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), action.as_mut_ptr()) })?;
    // SAFETY: sigaction returned 0, so `action` is initialised.
    let action = unsafe { action.assume_init() };
    Ok(action.sa_sigaction == libc::SIG_IGN)
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Source for Signals {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).deregister(registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::time::Duration;

    #[test]
    fn signal_set_holds_each_signal_once() {
        let mut set = SignalSet::EMPTY;
        assert!(set.is_empty());
        set.insert(Signal::Term);
        set.insert(Signal::Term);
        set.insert(Signal::Usr1);
        assert!(set.contains(Signal::Term) && set.contains(Signal::Usr1) && !set.contains(Signal::Int));
        assert_eq!(set.iter().collect::<Vec<_>>(), [Signal::Usr1, Signal::Term]);
    }

    #[test]
    fn signals_receive_a_sigusr1_raised_in_this_thread_through_mio() {
        // Each libtest test runs on its own thread, so the mask set here
        // dies with it; raise(3) is thread-directed, so no other test's
        // thread can take the signal.
        let mut signals = Signals::new().expect("signalfd");
        let mut poll = Poll::new().expect("epoll");
        let token = Token(7);
        poll.registry().register(&mut signals, token, Interest::READABLE).expect("register");
        assert!(signals.read().expect("read").is_empty(), "nothing pending yet");

        raise(libc::SIGUSR1);

        let mut events = Events::with_capacity(4);
        // The signal is already pending: the wait returns at once. The bound
        // only turns a hang into a failure.
        poll.poll(&mut events, Some(Duration::from_secs(60))).expect("epoll_wait");
        assert!(events.iter().any(|e| e.token() == token && e.is_readable()), "signalfd became readable");

        let got = signals.read().expect("read");
        assert!(got.contains(Signal::Usr1));
        assert!(!got.contains(Signal::Term) && !got.contains(Signal::Int));
        assert!(signals.read().expect("read").is_empty(), "the signal was consumed");

        // Moved to another token, the signalfd reports there.
        poll.registry().reregister(&mut signals, Token(9), Interest::READABLE).expect("reregister");
        raise(libc::SIGUSR1);
        poll.poll(&mut events, Some(Duration::from_secs(60))).expect("epoll_wait");
        assert!(events.iter().all(|e| e.token() == Token(9)) && !events.is_empty(), "the new token only");
        assert!(signals.read().expect("read").contains(Signal::Usr1));

        // Deregistered, it reports nowhere: a pending signal wakes no one.
        poll.registry().deregister(&mut signals).expect("deregister");
        raise(libc::SIGUSR1);
        poll.poll(&mut events, Some(Duration::from_millis(100))).expect("epoll_wait");
        assert!(events.is_empty(), "no event after deregister");
        assert!(signals.read().expect("read").contains(Signal::Usr1), "still pending for the signalfd");
    }

    /// Raises `signo` in this thread (which blocks it for its signalfd).
    fn raise(signo: i32) {
        // SAFETY: raise(3) takes a signal number and touches no memory of
        // ours; the signal is blocked in this thread, so it stays pending for
        // the signalfd instead of acting.
        let rc = unsafe { libc::raise(signo) };
        assert_eq!(rc, 0, "raise({signo})");
    }

    #[test]
    fn one_read_returns_every_pending_signal() {
        let mut signals = Signals::new().expect("signalfd");
        raise(libc::SIGUSR1);
        raise(libc::SIGTERM);
        raise(libc::SIGINT);
        let got = signals.read().expect("read");
        assert_eq!(got.iter().collect::<Vec<_>>(), [Signal::Usr1, Signal::Term, Signal::Int]);
        assert!(signals.read().expect("read").is_empty());
    }

    #[test]
    fn the_raw_descriptor_is_the_signalfd() {
        let signals = Signals::new().expect("signalfd");
        assert_eq!(signals.as_raw_fd(), signals.as_fd().as_raw_fd());
        let link = std::fs::read_link(format!("/proc/self/fd/{}", signals.as_raw_fd())).expect("readlink");
        assert_eq!(link.to_string_lossy(), "anon_inode:[signalfd]");
    }

    #[test]
    fn sigpipe_is_ignored_tells_the_default_action_from_ignore() {
        // SIGPIPE's action is process-wide, and other tests of this binary
        // write to sockets: the default action is set in a forked child,
        // which makes only async-signal-safe calls (sigaction, _exit).
        // SAFETY: the child runs no code that could meet a lock another
        // thread held at the fork: signal(2), sigaction(2) and _exit(2).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            let before = sigpipe_is_ignored();
            // SAFETY: SIG_DFL is a valid action for SIGPIPE; no code of ours
            // is installed.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            let dfl = sigpipe_is_ignored();
            let again = ignore_sigpipe().and_then(|()| sigpipe_is_ignored());
            let code = match (before, dfl, again) {
                (Ok(true), Ok(false), Ok(true)) => 0,
                _ => 1,
            };
            // SAFETY: _exit ends the child without running this process's
            // exit handlers or touching its locks.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: `pid` is our child and `status` is writable.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(rc, pid, "waitpid: {}", io::Error::last_os_error());
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "ignored, default, ignored: {status:#x}");
    }
}
