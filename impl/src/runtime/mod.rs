//! The mio runtime: executes the core's actions on real sockets.
//!
//! The core (`connseq_model::core::Session`) makes every sequencing decision;
//! this room only performs the actions it asks for and reports what the
//! kernel said. Rooms, one job each:
//! - `worker`: one event loop per thread (its listening sockets, its
//!   session slab, timers, signals, stop);
//! - `listener`: what a listener's sessions share (rules, PROXY and TLS
//!   settings, backend, routes), built once at start;
//! - `bind`: the listening sockets, bound or inherited;
//! - `shared`: what the threads share (clock, stop request, the gauges
//!   behind `maxconn`, the backends, mailboxes, counters);
//! - `exec`: one action -> syscalls -> one outcome;
//! - `flow`, `buffer`: what the runtime holds for a session (a flow: its
//!   sockets, pooled buffers and pipes, counters) and its log line;
//! - `backend_state`: per-backend server counts, queue and server health,
//!   shared by the threads (the core's `backend` decides on them);
//! - `health`: the active checks, one thread per checked server;
//! - `timer_heap`: the deadline heap (the core's `timers` says when).
//!
//! Threads: `threads` event loops, each with its own `SO_REUSEPORT` socket
//! on every listening address; a session lives and dies on the thread that
//! accepted it. Threads meet only at accept (the maxconn gauges), at a
//! server pick or release (the backend's mutex), and when a queued session
//! of one thread gets a slot freed on another (a message and a wake).
//!
//! What a session carries: raw TCP on buffers and splice pipes (as the
//! `splice` mode says), TLS on either side (`connseq-tls`), PROXY headers
//! received and sent, health and monitor replies and connection rules (the
//! handshake handlers the core runs, executed in `exec`), a backend chosen by
//! the listener's routes, and servers whose health is checked (`health`).

mod backend_state;
mod bind;
mod buffer;
pub mod control;
mod exec;
mod flow;
pub mod handshake;
mod health;
mod limits;
mod listener;
mod ops;
mod shared;
pub mod tally;
mod timer_heap;
mod window;
mod worker;

pub use control::Control;

use crate::config::ProxyConfig;
use crate::sys::signal::{self, Signals};
use connseq_model::core::{Millis, Session, Side, Termination};
use listener::ListenerCfg;
use mio::{Poll, Waker};
use shared::{Clock, Gauge, Remote, Shared, StopMode};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use worker::Worker;

/// How the proxy runs besides its configuration (tests set these).
///
/// `stepped`, `hold_connects`, `send_window` and `breakage` are the
/// conformance harness's hooks: they take effect only with connseq's
/// `test-hooks` feature (which the conformance crate enables), and
/// [`spawn_with`] refuses them without it. In the release binary the code
/// behind them is a constant branch the compiler removes (`.ci/run` checks
/// the binary is built without the feature).
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Time moves only by [`RunningProxy::advance`]: every timeout, the
    /// grace period and the accept backoff count manual milliseconds.
    pub manual_clock: bool,
    /// Keep a [`SessionRecord`] of every ended session for
    /// [`RunningProxy::take_records`].
    pub record_sessions: bool,
    /// The event loop runs only in turns granted by [`RunningProxy::turn`],
    /// each until it has nothing left to do (the model's "proxy runs"): the
    /// conformance harness's way to make the real proxy take the model's
    /// steps. One thread only.
    pub stepped: bool,
    /// A fault-injecting shim for the conformance harness: a server
    /// connection counts as established only after
    /// [`RunningProxy::release_connects`]. On loopback the kernel completes a
    /// connect at once, while the model lets the server answer (accept or
    /// refuse) at any later step; the harness releases each attempt at the
    /// model's "server accepts" or "server refuses". Never set in production.
    pub hold_connects: bool,
    /// A fault-injecting shim for the conformance harness: with `Some(n)`,
    /// the proxy's writes to each peer are bounded by the room the harness
    /// gives with [`RunningProxy::set_send_window`], counted in chunks of
    /// `n` bytes, and answered `WouldBlock` past it. The model's wires hold
    /// a chunk or two where a real socket holds hundreds of kilobytes; this
    /// puts the model's EAGAIN (a postponed send, close_notify or handshake
    /// message) where the trace has it. Never set in production.
    pub send_window: Option<usize>,
    /// A deliberately broken executor, for the test that shows the
    /// conformance campaign catches a runtime that misbehaves. Never set in
    /// production.
    pub breakage: Breakage,
}

/// Deliberate bugs in the executor (see [`Options::breakage`]): the core
/// decides right, the runtime does something else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Breakage {
    /// The runtime as it is.
    #[default]
    None,
    /// `CtrlShutw` reports done without `shutdown(SHUT_WR)`: a FIN the core
    /// forwarded never reaches the peer.
    SkipShutdown,
    /// The drain of an active shutr reports the peer's FIN without reading:
    /// the socket is closed with unread input, so the kernel sends an RST
    /// that may destroy what the peer had not read.
    CloseWithoutDrain,
    /// A TLS close_notify that cannot be flushed now is reported done: the
    /// note's postponed step is dropped instead of retried, so the peer gets
    /// the FIN without the close_notify (a truncation it can detect).
    DropPostponedCloseNotify,
    /// A buffer taken for a read that brought nothing (EAGAIN, EOF) is kept
    /// instead of given back: an idle connection holds a buffer.
    KeepIdleBuffer,
    /// A recv into a buffer that reads EOF reports a reset: an orderly end
    /// taken for an abort (the session ends as an abort, with resets).
    EofAsReset,
    /// Every close is abortive (`SO_LINGER {1, 0}`): the peer reads an RST
    /// where the note's close sends a FIN.
    LingerZero,
    /// A short write is taken as complete: what the send did not take is
    /// dropped from the buffer and the send reports it drained.
    ShortWriteComplete,
    /// The deadline the core asks for is never put in the timer queue: no
    /// timer of a session ever fires.
    TimerNotArmed,
    /// A splice from a socket that returns 0 (the peer's FIN) is taken for
    /// EAGAIN: the end of stream is never seen.
    SpliceZeroAsEagain,
    /// After a send to the client meets EAGAIN, the client's socket is
    /// registered for readable events only and writable interest is never
    /// armed again: the session stalls once the client's socket was full.
    WritableNotRearmed,
    /// One recv per readable edge, as if the poller were level-triggered:
    /// what a recv leaves in the socket (its buffer was full) is read only
    /// when more arrives.
    EdgeNotDrained,
    /// A recv that reads the end of stream gives the channel's buffer back
    /// to the pool with the bytes it still holds: what was not yet sent
    /// before the FIN is lost.
    BufferReturnedInUse,
    /// A server slot is released only by a session whose connection was
    /// established: after a refused or timed-out connect the server keeps
    /// counting the slot.
    SlotKeptAfterFailedConnect,
}

/// What the log line of an ended session says, as values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The client's address: the real peer of the accepted connection.
    pub client: SocketAddr,
    /// The source a received PROXY header gave, if any.
    pub forwarded: Option<SocketAddr>,
    /// The listener's name.
    pub listener: String,
    /// The event-loop thread that served it (0 to `threads - 1`).
    pub thread: usize,
    /// The last server connected to, if any.
    pub server: Option<SocketAddr>,
    /// That server's name.
    pub server_name: Option<String>,
    /// The log line, as logged.
    pub line: String,
    /// Time from the first pick to the assignment of a server (`Tw`).
    pub queue_ms: Option<Millis>,
    /// Time from the last connect() to established (`Tc`).
    pub connect_ms: Option<Millis>,
    /// Time from accept to the end (`Tt`).
    pub total_ms: Millis,
    /// Bytes sent to the server.
    pub to_server: u64,
    /// Bytes sent to the client.
    pub to_client: u64,
    /// Connection attempts (1 + the retries used; 0 when none was made).
    pub connects: u32,
    /// The two-letter termination code.
    pub termination: Termination,
    /// Why the proxy ended it, when a peer broke a protocol (e.g.
    /// `proxy-protocol: v1-no-crlf`).
    pub reason: Option<&'static str>,
    /// Logged as a session (not a check or a rejected connection).
    pub logged: bool,
}

/// Counters since start, over every thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sessions open now (accepted and not yet ended).
    pub live: usize,
    /// Connections accepted.
    pub accepted: u64,
    /// Sessions ended.
    pub ended: u64,
    /// connect() attempts to servers.
    pub connects: u64,
    /// Attempts refused by the server or failed for lack of resources
    /// (timeouts are not counted here).
    pub connect_failures: u64,
    /// Sessions that had to wait in a server queue.
    pub queued: u64,
    /// accept() failures other than EAGAIN (out of descriptors...).
    pub accept_errors: u64,
    /// Connections reset by a deny rule or a per-source limit.
    pub rejected: u64,
    /// Of those, the ones a per-source limit refused (`src-conn-limit`, `src-conn-rate`).
    pub throttled: u64,
    /// Bytes that went to a peer through a splice pipe (the rest went through buffers).
    pub spliced: u64,
    /// Times an event loop came back from its poller (with events, a due deadline, or
    /// nothing at all).
    pub wakeups: u64,
    /// Wake-ups with no event and, on the manual clock, nothing due: a loop that polls
    /// without waiting. On the manual clock an idle loop sleeps until an event, so any is a
    /// busy loop; on the real clock a deadline that expired counts here too.
    pub empty_wakeups: u64,
}

/// What an event loop holds of its pools (stepped mode: as its last turn
/// left it). A channel holds a buffer or a pipe only while data is in
/// flight, so these count the channels the model says are not empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Channel buffers handed out and not given back.
    pub buffers: usize,
    /// Splice pipes handed out and not given back.
    pub pipes: usize,
}

/// A proxy whose threads are started, with its listeners bound.
#[derive(Debug)]
struct Started {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
    /// Every worker, the first one to be run by the caller.
    workers: Vec<Worker>,
    /// The servers to check, each on a thread of its own.
    checks: Vec<health::Target>,
}

/// Binds every thread's listening sockets (or takes the inherited ones)
/// and builds the workers.
fn start(config: &ProxyConfig, options: Options, inherited: &mut bind::Inherited) -> io::Result<Started> {
    let threads = if options.stepped { 1 } else { config.global.threads.max(1) };
    let (listeners_cfg, backends) = listener::plan(config)?;
    let (socks, addrs) = bind::bind_all(config, threads, inherited)?;
    let mut polls = Vec::with_capacity(threads);
    let mut remotes = Vec::with_capacity(threads);
    for _ in 0..threads {
        let poll = Poll::new()?;
        remotes.push(Remote::new(Waker::new(poll.registry(), worker::WAKER)?));
        polls.push(poll);
    }
    let clock = if options.manual_clock { Clock::Manual(AtomicU64::new(0)) } else { Clock::Real(Instant::now()) };
    let gauges =
        config.listeners.iter().map(|l| Gauge::new(usize::try_from(l.maxconn).unwrap_or(usize::MAX))).collect();
    let live = Gauge::new(usize::try_from(config.global.maxconn).unwrap_or(usize::MAX));
    let ops = ops::Ops::new(config, threads);
    let mut shared = Shared::new(ops, clock, live, gauges, backends, remotes, options.record_sessions, options.stepped);
    shared.hold_connects = options.hold_connects;
    shared.window = options.send_window.map(window::SendWindow::new);
    if !cfg!(feature = "test-hooks") {
        // A test that asks for a broken runtime, or for the harness's shims,
        // and silently got the plain runtime would prove nothing.
        let asked = [
            (options.breakage != Breakage::None, "Options::breakage"),
            (options.stepped, "Options::stepped"),
            (options.hold_connects, "Options::hold_connects"),
            (options.send_window.is_some(), "Options::send_window"),
        ];
        if let Some((_, what)) = asked.iter().find(|(on, _)| *on) {
            return Err(io::Error::other(format!("{what} needs connseq's `test-hooks` feature")));
        }
    }
    shared.set_breakage(options.breakage);
    // One table per backend, in the order `listener::plan` numbers them (first use).
    shared.sources =
        config.backends().iter().map(|b| (!b.limits.is_empty()).then(|| limits::SourceTable::new(b.limits))).collect();
    let shared = Arc::new(shared);
    // Each backend's transport, as its first listener loaded it: the checks use it.
    let back: Vec<_> = (0..config.backends().len())
        .map(|b| {
            listeners_cfg
                .iter()
                .find(|l| l.backend == b)
                .map(|l| (l.send_proxy, l.back_tls.clone()))
                .unwrap_or_default()
        })
        .collect();
    let checks = health::targets(config, &back);
    let listeners_cfg: Arc<[ListenerCfg]> = listeners_cfg.into();
    let mut workers = Vec::with_capacity(threads);
    for (id, (poll, s)) in polls.into_iter().zip(socks).enumerate() {
        workers.push(Worker::new(id, poll, shared.clone(), s, listeners_cfg.clone(), config)?);
    }
    Ok(Started { shared, addrs, workers, checks })
}

fn spawn_workers(workers: impl IntoIterator<Item = Worker>) -> io::Result<Vec<JoinHandle<io::Result<()>>>> {
    workers
        .into_iter()
        .enumerate()
        .map(|(i, mut w)| std::thread::Builder::new().name(format!("connseq-{i}")).spawn(move || w.run()))
        .collect()
}

fn join(threads: Vec<JoinHandle<io::Result<()>>>) -> io::Result<()> {
    let mut result = Ok(());
    for t in threads {
        let r = t.join().map_err(|_| io::Error::other("an event-loop thread panicked"));
        if let Err(e) = r.and_then(|r| r) {
            result = result.and(Err(e));
        }
    }
    result
}

/// Checks what a configuration names without binding anything (`connseq
/// proxy --check`): the certificates, keys and CA bundles load, and every
/// listening address and the metrics address is one of this host's (or a
/// wildcard); the runtime API socket's directory exists.
pub fn check(config: &ProxyConfig) -> io::Result<()> {
    listener::plan(config)?;
    let local = crate::sys::socket::local_ips()?;
    let is_local = |a: &SocketAddr| a.ip().is_unspecified() || local.contains(&a.ip());
    for l in &config.listeners {
        if let Some(a) = l.addrs.iter().find(|a| !is_local(a)) {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("listener '{}': {a} is not an address of this host", l.name),
            ));
        }
    }
    if let Some(a) = config.global.metrics.filter(|a| !is_local(a)) {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("metrics: {a} is not an address of this host"),
        ));
    }
    if let Some(path) = &config.global.stats_socket {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("stats socket {}: no directory {}", path.display(), dir.display()),
            ));
        }
    }
    Ok(())
}

/// A proxy bound and built, to be run on this process's threads by
/// [`crate::service::run`]: its listeners are bound (or inherited), its
/// workers built, nothing runs yet.
#[derive(Debug)]
pub struct Launch {
    started: Started,
}

/// Binds every listener (taking the given sockets first where one matches)
/// and builds the event loops, for the process's own run.
pub fn launch(config: &ProxyConfig, fds: Vec<std::os::fd::OwnedFd>) -> io::Result<Launch> {
    signal::ignore_sigpipe()?;
    let mut inherited = bind::Inherited::new(fds)?;
    let started = start(config, Options::default(), &mut inherited)?;
    for addr in inherited.leftover() {
        tracing::warn!(target: "connseq::runtime", "an inherited socket listening on {addr} matches no listener; closed");
    }
    Ok(Launch { started })
}

impl Launch {
    /// The handle the runtime API and the metrics read and steer it by.
    pub fn control(&self) -> Control {
        Control::new(self.started.shared.clone())
    }

    /// Runs until SIGINT or SIGTERM (stop after the grace period) or
    /// SIGUSR1 (stop when the sessions are done). The calling thread runs the
    /// first event loop and watches `signals`; the others and the health
    /// checks get threads. `ready` is called once every listening socket is
    /// in a poller, before the first event loop runs.
    pub fn run(self, signals: Signals, ready: impl FnOnce()) -> io::Result<()> {
        let Started { workers, shared, checks, .. } = self.started;
        let mut workers = workers.into_iter();
        let Some(mut first) = workers.next() else { return Ok(()) };
        first.watch_signals(signals)?;
        let mut others = spawn_workers(workers)?;
        others.extend(health::spawn(&shared, checks)?);
        ready();
        let result = first.run();
        if result.is_err() {
            // The signals are read on this thread only: without it nothing
            // would stop the others.
            shared.request_stop(StopMode::Hard);
        }
        join(others).and(result)
    }
}

/// Starts the proxy's event loops on new threads. The listeners are bound
/// before this returns, so their addresses are known (port 0 is resolved).
pub fn spawn(config: &ProxyConfig) -> io::Result<RunningProxy> {
    spawn_with(config, Options::default())
}

/// [`spawn`] with [`Options`].
pub fn spawn_with(config: &ProxyConfig, options: Options) -> io::Result<RunningProxy> {
    signal::ignore_sigpipe()?;
    let Started { shared, addrs, workers, checks } = start(config, options, &mut bind::Inherited::default())?;
    let grace = crate::config::millis(config.global.grace_period);
    let mut threads = spawn_workers(workers)?;
    threads.extend(health::spawn(&shared, checks)?);
    Ok(RunningProxy { addrs, shared, grace, threads })
}

/// A proxy running on its own threads; dropping it stops it.
#[derive(Debug)]
pub struct RunningProxy {
    addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
    grace: Millis,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl RunningProxy {
    /// Every bound listener address, in configuration order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Sessions open right now (accepted; a session leaves only once both its sockets are
    /// closed), and for the moment of an accept call the place it reserved (given back if none).
    pub fn live_sessions(&self) -> usize {
        self.shared.live.get()
    }

    /// The counters since start.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// A handle for the runtime API and the metrics.
    pub fn control(&self) -> Control {
        Control::new(self.shared.clone())
    }

    /// The sessions that ended since the last call (with
    /// [`Options::record_sessions`]; otherwise always empty).
    pub fn take_records(&self) -> Vec<SessionRecord> {
        self.shared.take_records()
    }

    /// Moves the manual clock forward by `by` and wakes every thread; false
    /// (and nothing happens) when the proxy runs on the real clock.
    pub fn advance(&self, by: Duration) -> bool {
        self.shared.advance(Millis::try_from(by.as_millis()).unwrap_or(Millis::MAX))
    }

    /// Stepped mode: lets the event loop run one turn, until it has nothing
    /// left to do, and returns when it is done (false if the proxy is not
    /// stepped, the turn did not end within 30 s, or an event-loop thread
    /// has ended).
    pub fn turn(&self) -> bool {
        let gone = || self.threads.iter().any(JoinHandle::is_finished);
        self.shared.gate().is_some_and(|g| g.run_turn(Duration::from_secs(30), gone))
    }

    /// Stepped mode: the cores of the live sessions as the last turn left
    /// them (empty otherwise).
    pub fn cores(&self) -> Vec<Session> {
        self.shared.gate().map(|g| g.snapshot().into_iter().map(|(_, c)| c).collect()).unwrap_or_default()
    }

    /// [`RunningProxy::cores`] of the sessions listener `listener` (its
    /// index in the configuration) accepted.
    pub fn cores_on(&self, listener: usize) -> Vec<Session> {
        let all = self.shared.gate().map(|g| g.snapshot()).unwrap_or_default();
        all.into_iter().filter(|&(l, _)| l == listener).map(|(_, c)| c).collect()
    }

    /// Stepped mode: the buffers and pipes the loop held at the end of the
    /// last turn (nothing otherwise).
    pub fn held(&self) -> Held {
        self.shared.gate().map(|g| g.held()).unwrap_or_default()
    }

    /// Each server's slots taken in backend `backend` (sessions holding a
    /// connection or a claim on it), as the balancer counts them.
    pub fn server_slots(&self, backend: usize) -> Vec<u32> {
        self.shared.server_slots(backend)
    }

    /// With [`Options::hold_connects`]: lets the connect attempts in progress
    /// complete at the next turn (each reports what the kernel says then).
    pub fn release_connects(&self) {
        self.shared.connect_releases.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.shared.wake_all();
    }

    /// With [`Options::send_window`]: the peer on `side` can take `chunks`
    /// more chunks (a message counts as one) until the next call; if a write
    /// to it was refused since the room last grew, the side is reported
    /// writable at the next turn. False (and nothing happens) without the
    /// option.
    pub fn set_send_window(&self, side: Side, chunks: usize) -> bool {
        match self.shared.window() {
            Some(w) => {
                w.set(side, chunks);
                true
            }
            None => false,
        }
    }

    /// With [`Options::send_window`]: the peer on `side` closed its socket,
    /// so the writes to it meet its RST, not a full wire: no limit, but one
    /// chunk per call, as the model sends. False without the option.
    pub fn set_send_window_closed(&self, side: Side) -> bool {
        match self.shared.window() {
            Some(w) => {
                w.set_closed(side);
                true
            }
            None => false,
        }
    }

    /// Stops accepting and lets the sessions finish, as SIGUSR1 does; the
    /// threads end when their sessions are done ([`RunningProxy::stop`]
    /// still bounds the wait).
    pub fn soft_stop(&self) {
        self.shared.request_stop(StopMode::Soft);
    }

    /// Stops accepting, waits until the sessions ended (at most the grace
    /// period, then the rest are killed) and returns the loops' result. With
    /// a manual clock the grace period is spent at once.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown()
    }

    /// [`RunningProxy::stop`], keeping the value (its records and counters
    /// stay readable). A second call does nothing.
    pub fn shutdown(&mut self) -> io::Result<()> {
        if self.threads.is_empty() {
            return Ok(());
        }
        self.shared.request_stop(StopMode::Hard);
        if self.shared.clock.is_manual() {
            self.shared.advance(self.grace.saturating_add(1));
        }
        join(std::mem::take(&mut self.threads))
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl SessionRecord {
    fn new(flow: &flow::Flow, names: flow::Names<'_>, thread: usize, now: Millis) -> SessionRecord {
        let t = &flow.times;
        let listener = names.listener;
        let span = |a: Option<Millis>, b: Option<Millis>| Some(b?.saturating_sub(a?));
        SessionRecord {
            client: flow.client,
            forwarded: flow.forwarded.map(|(src, _)| src),
            listener: listener.to_owned(),
            thread,
            server: flow.server,
            server_name: flow.server_idx.map(|i| names.server(Some(i)).to_owned()),
            line: flow.log_line(names, now).to_string(),
            queue_ms: span(t.pick, t.assigned),
            connect_ms: span(t.connect, t.established),
            total_ms: now.saturating_sub(t.accept),
            to_server: flow.sent[0],
            to_client: flow.sent[1],
            connects: flow.connects,
            termination: flow.core.termination(),
            reason: flow.reason,
            logged: !flow.is_quiet(),
        }
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests;
