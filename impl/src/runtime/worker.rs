//! One event-loop thread: its listening sockets, its sessions in a slab, its
//! timer heap, its buffer and pipe pools; the stop and the limits it shares
//! with the other threads through [`Shared`].
//!
//! Tokens: `0..L` are the listening sockets, then two per session slot
//! (`L + 2i` the front socket, `L + 2i + 1` the back socket), and two fixed
//! tokens at the top for the waker and the signalfd. Every socket is
//! registered READABLE | WRITABLE, edge-triggered; the core reads and writes
//! until EAGAIN and records it (EMPTY_IN, FULL_OUT), so an edge is never
//! missed. After every input a session is *driven*: `poll_action` ->
//! execute -> `handle_outcome`, until the core waits.
//!
//! Batches: one `poll` returns up to 1024 events, handled in order; then the
//! due timers fire, then the listeners are re-armed if a limit allows it
//! again. Nothing here allocates per event once the slab, the heap and the
//! scratch vectors have grown to the load.

use super::backend::{BackendState, Waiter};
use super::control::{Query, SessionView};
use super::exec::Exec;
use super::session::Slot;
use super::shared::{Msg, Shared, StopMode};
use super::timers::TimerHeap;
use super::{Breakage, Held, SessionRecord};
use crate::config::{Cidr, ListenerConfig, ListenerOptions, ProxyConfig, SendProxy, ServerVerify};
use crate::pool::{BufPool, PipePool};
use crate::sys::signal::{Signal, Signals};
use connseq_model::core::backend as balancer;
use connseq_model::core::{Cause, Millis, Phase, Session, SessionConfig, SiState, Side, SpliceMode};
use connseq_tls::{ClientTls, ServerTls, TlsConfigError};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

/// The most pipes the process has open at once, in use and spare together,
/// shared out among the threads.
const MAX_PIPES: usize = 1024;

/// How long a thread with no session keeps its spare pipes: a proxy that
/// goes idle between two sessions reuses them; one that stays idle closes
/// them, so an idle proxy holds no pipe descriptor.
const PIPE_LINGER: Millis = 1000;

/// How long the listeners stay out of the poller after `accept` failed for
/// lack of descriptors or memory (a session that ends re-arms them sooner).
const ACCEPT_BACKOFF: Millis = 100;

/// The shortest time between two accept-failure warnings of a thread: a
/// proxy out of descriptors fails to accept every [`ACCEPT_BACKOFF`], and
/// one line every 10 s says so without flooding the log.
const ACCEPT_WARNING_EVERY: Millis = 10_000;

pub(crate) const WAKER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// A listening socket of this thread.
#[derive(Debug)]
struct Listener {
    /// `None` once the proxy stops.
    sock: Option<TcpListener>,
    /// In the poller (not paused).
    armed: bool,
    /// Index into the listener configurations (and `Shared::listeners`).
    cfg: usize,
}

/// What a listener's sessions share.
#[derive(Debug, Clone)]
pub(crate) struct ListenerCfg {
    pub(crate) name: String,
    pub(crate) session: SessionConfig,
    pub(crate) backend: usize,
    /// The backend's name and its servers' names, for the log line.
    pub(crate) backend_name: String,
    pub(crate) server_names: Arc<[String]>,
    /// Rules, monitor nets, PROXY and TLS settings of the listener.
    pub(crate) options: ListenerOptions,
    /// The PROXY header its backend sends, if any.
    pub(crate) send_proxy: Option<SendProxy>,
    /// TLS termination: certificates and ALPN, loaded once.
    pub(crate) front_tls: Option<Arc<ServerTls>>,
    /// TLS towards the servers, loaded once.
    pub(crate) back_tls: Option<Arc<ClientTls>>,
    /// `use-backend`: the blocks, negated or not, and the entry (an index
    /// into the configurations, past the listeners') whose backend a client
    /// they match gets, first match first.
    pub(crate) routes: Vec<(Vec<Cidr>, bool, usize)>,
}

impl ListenerCfg {
    /// The entry a client at `ip` of this listener (entry `me`) gets.
    pub(crate) fn route(&self, me: usize, ip: std::net::IpAddr) -> usize {
        let hit = |(nets, negated, _): &&(Vec<Cidr>, bool, usize)| nets.iter().any(|n| n.contains(ip)) != *negated;
        self.routes.iter().find(hit).map_or(me, |r| r.2)
    }
}

impl ListenerCfg {
    /// The names its sessions' log lines show.
    pub(crate) fn names(&self) -> super::session::Names<'_> {
        super::session::Names { listener: &self.name, backend: &self.backend_name, servers: &self.server_names }
    }
}

fn alpn_list(names: &[String]) -> Vec<Vec<u8>> {
    names.iter().map(|n| n.as_bytes().to_vec()).collect()
}

fn tls_error(listener: &str, e: TlsConfigError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("listener '{listener}': {e}"))
}

/// The listener configurations (with their certificates loaded) and the
/// backends' initial state, as the threads share them.
pub(crate) fn plan(config: &ProxyConfig) -> io::Result<(Vec<ListenerCfg>, Vec<BackendState>)> {
    // Backends numbered as `ProxyConfig::backends` lists them.
    let all = config.backends();
    let names: Vec<&str> = all.iter().map(|b| b.name.as_str()).collect();
    let backends = all.iter().map(|b| BackendState::new(b)).collect();
    let number = |name: &str| names.iter().position(|n| *n == name).unwrap_or(0);
    // One entry per listener, at its index; then one per route of each,
    // the listener with the route's backend.
    let mut listeners: Vec<ListenerCfg> =
        config.listeners.iter().map(|l| entry(l, number(&l.backend.name))).collect::<io::Result<_>>()?;
    for (li, l) in config.listeners.iter().enumerate() {
        for r in &l.options.routes {
            let mut routed = l.clone();
            routed.backend = r.backend.clone();
            routed.options.routes.clear();
            let at = listeners.len();
            listeners.push(entry(&routed, number(&r.backend.name))?);
            listeners[li].routes.push((r.nets.clone(), r.negated, at));
        }
    }
    Ok((listeners, backends))
}

/// What `l`'s sessions share, with their backend numbered `backend`.
fn entry(l: &ListenerConfig, backend: usize) -> io::Result<ListenerCfg> {
    let front_tls = match &l.options.tls {
        Some(t) => Some(ServerTls::from_pem_files(&t.certs, &alpn_list(&t.alpn)).map_err(|e| tls_error(&l.name, e))?),
        None => None,
    };
    let back_tls = match &l.backend.tls {
        Some(t) => {
            let (ca, insecure) = match &t.verify {
                ServerVerify::Ca(path) => (Some(path.as_path()), false),
                ServerVerify::Insecure => (None, true),
            };
            Some(ClientTls::new(ca, insecure, &alpn_list(&t.alpn), t.sni.clone()).map_err(|e| tls_error(&l.name, e))?)
        }
        None => None,
    };
    let b = &l.backend;
    Ok(ListenerCfg {
        name: l.name.clone(),
        session: l.session_config(),
        backend,
        backend_name: b.name.clone(),
        server_names: (0..b.servers.len()).map(|i| b.server_name(i)).collect(),
        options: l.options.clone(),
        send_proxy: l.backend.send_proxy,
        front_tls,
        back_tls,
        routes: Vec::new(),
    })
}

/// A bound listening socket and the index of its listener configuration.
pub(crate) type Bound = (TcpListener, usize);

/// Listening sockets this process was given rather than bound: by systemd
/// (`LISTEN_FDS`) or by the process it takes over from (`-x`), each with
/// its bound address.
#[derive(Debug, Default)]
pub(crate) struct Inherited(Vec<(SocketAddr, std::net::TcpListener)>);

impl Inherited {
    /// Keeps each of `fds` that is a listening TCP socket; an inherited
    /// descriptor that is anything else is refused (a configuration error
    /// of the service manager).
    pub(crate) fn new(fds: Vec<std::os::fd::OwnedFd>) -> io::Result<Inherited> {
        let mut socks = Vec::new();
        for fd in fds {
            let sock = std::net::TcpListener::from(fd);
            let listening = nix::sys::socket::getsockopt(&sock, nix::sys::socket::sockopt::AcceptConn).unwrap_or(false);
            let addr = sock.local_addr();
            match (listening, addr) {
                (true, Ok(addr)) => {
                    sock.set_nonblocking(true)?;
                    socks.push((addr, sock));
                }
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "an inherited descriptor is not a listening TCP socket",
                    ))
                }
            }
        }
        Ok(Inherited(socks))
    }

    /// Takes every inherited socket bound to `addr` (none for port 0: each
    /// bind of port 0 is a new port).
    fn take(&mut self, addr: SocketAddr) -> Vec<std::net::TcpListener> {
        if addr.port() == 0 {
            return Vec::new();
        }
        let (mine, rest) = std::mem::take(&mut self.0).into_iter().partition(|(a, _)| *a == addr);
        self.0 = rest;
        mine.into_iter().map(|(_, s)| s).collect()
    }

    /// The addresses of the inherited sockets no listener took.
    pub(crate) fn leftover(&self) -> Vec<SocketAddr> {
        self.0.iter().map(|(a, _)| *a).collect()
    }
}

/// Every thread's listening sockets: for each address of every listener,
/// the inherited sockets bound to it, shared out among the threads (a
/// thread may get several; a thread that gets none watches a duplicate of
/// one), or else one new socket per thread, `SO_REUSEPORT` when several
/// threads bind the same address. Prints each address once on stderr.
/// Returns the sockets by thread and the addresses in configuration order
/// (port 0 resolved).
pub(crate) fn bind_all(
    config: &ProxyConfig,
    threads: usize,
    inherited: &mut Inherited,
) -> io::Result<(Vec<Vec<Bound>>, Vec<SocketAddr>)> {
    let reuse_port = config.global.threads > 1;
    let backlog = i32::try_from(config.global.maxconn).unwrap_or(i32::MAX).clamp(128, 65_535);
    let mut by_thread: Vec<Vec<Bound>> = (0..threads).map(|_| Vec::new()).collect();
    let mut addrs = Vec::new();
    for (li, l) in config.listeners.iter().enumerate() {
        for &want in &l.addrs {
            let given = inherited.take(want);
            if let Some(first) = given.first() {
                let local = first.local_addr()?;
                eprintln!("connseq: listening on {local} (inherited)");
                addrs.push(local);
                for socks in by_thread.iter_mut().skip(given.len()) {
                    socks.push((TcpListener::from_std(first.try_clone()?), li));
                }
                for (k, sock) in given.into_iter().enumerate() {
                    by_thread[k % threads].push((TcpListener::from_std(sock), li));
                }
                continue;
            }
            let mut addr = want;
            for (t, socks) in by_thread.iter_mut().enumerate() {
                let sock = crate::sys::socket::listen(addr, reuse_port, backlog)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
                if t == 0 {
                    addr = sock.local_addr()?;
                }
                socks.push((TcpListener::from_std(sock), li));
            }
            // Once every thread's socket listens: a script that reads this
            // line may count on all of them.
            eprintln!("connseq: listening on {addr}");
            addrs.push(addr);
        }
    }
    Ok((by_thread, addrs))
}

/// The event loop of one thread and everything it owns.
#[derive(Debug)]
pub(crate) struct Worker {
    id: usize,
    poll: Poll,
    shared: Arc<Shared>,
    listeners: Vec<Listener>,
    listeners_cfg: Arc<[ListenerCfg]>,
    slots: Vec<Option<Slot>>,
    gens: Vec<u32>,
    free: Vec<usize>,
    /// Sessions of this thread.
    live: usize,
    timers: TimerHeap,
    pool: BufPool,
    pipes: PipePool,
    max_pipes: usize,
    /// Each pipe's size or fill limit (`pipe-size`), or the kernel's default.
    pipe_size: Option<usize>,
    grace: Millis,
    stop: StopMode,
    /// Set by a hard stop: the time by which the remaining sessions are killed.
    stop_by: Option<Millis>,
    /// Set after `accept` ran out of descriptors: listeners rest until then.
    accept_backoff: Option<Millis>,
    /// When the last accept-failure warning was logged, and how many
    /// failures were not logged since (one warning per
    /// [`ACCEPT_WARNING_EVERY`] at most).
    accept_warned: Option<Millis>,
    accept_unlogged: u64,
    /// When the last session ended, while none is live: the spare pipes are
    /// closed `PIPE_LINGER` later.
    idle_since: Option<Millis>,
    signals: Option<Signals>,
    /// The last `Shared::connect_releases` seen.
    releases_seen: u64,
    // Scratch space reused by every batch.
    work: Vec<usize>,
    /// Sessions an input of this batch touched, to run after it, in the
    /// order their first input came: a session that ends and frees a
    /// server slot runs before the inputs of a session that came later, so
    /// a waiting session is handed the slot before it reads what its peers
    /// did afterwards (the order the model's "a slot frees" has).
    ready: VecDeque<usize>,
    handoffs: Vec<(Waiter, u8)>,
    inbox: Vec<Msg>,
}

impl Worker {
    /// A thread's loop over its already bound listening sockets. `poll` is
    /// the one whose registry made this thread's waker in `shared`.
    pub(crate) fn new(
        id: usize,
        poll: Poll,
        shared: Arc<Shared>,
        socks: Vec<Bound>,
        listeners_cfg: Arc<[ListenerCfg]>,
        config: &ProxyConfig,
    ) -> io::Result<Worker> {
        let mut listeners = Vec::with_capacity(socks.len());
        for (t, (mut sock, cfg)) in socks.into_iter().enumerate() {
            poll.registry().register(&mut sock, Token(t), Interest::READABLE)?;
            listeners.push(Listener { sock: Some(sock), armed: true, cfg });
        }
        let g = &config.global;
        let maxconn = usize::try_from(g.maxconn).unwrap_or(usize::MAX);
        // Two pipes per session at most (one per direction), bounded so the
        // descriptors they take stay reasonable; past the bound a session
        // uses buffers (see `Exec::splice_fallback`).
        let total = if maxconn == 0 { MAX_PIPES } else { maxconn.saturating_mul(2).min(MAX_PIPES) };
        let max_pipes = (total / g.threads.max(1)).max(2);
        Ok(Worker {
            id,
            poll,
            shared,
            listeners,
            listeners_cfg,
            slots: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            live: 0,
            timers: TimerHeap::default(),
            pool: BufPool::new(g.buffer_size, 1024),
            pipes: PipePool::new(max_pipes, g.pipe_size),
            max_pipes,
            pipe_size: g.pipe_size,
            grace: crate::config::millis(g.grace_period),
            stop: StopMode::Running,
            stop_by: None,
            accept_backoff: None,
            accept_warned: None,
            accept_unlogged: 0,
            idle_since: None,
            signals: None,
            releases_seen: 0,
            work: Vec::new(),
            ready: VecDeque::new(),
            handoffs: Vec::new(),
            inbox: Vec::new(),
        })
    }

    /// Stops on SIGINT, SIGTERM (hard) or SIGUSR1 (soft) too.
    pub(crate) fn watch_signals(&mut self, mut signals: Signals) -> io::Result<()> {
        self.poll.registry().register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    fn now(&self) -> Millis {
        self.shared.clock.now()
    }

    /// Runs until stopped and every session of this thread ended (or the
    /// grace period ran out and the rest were killed).
    pub(crate) fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut turn_open = false;
        loop {
            let now = self.now();
            self.follow_stop(now);
            if self.stop != StopMode::Running {
                if self.stop_by.is_some_and(|by| now >= by) && self.live > 0 {
                    self.kill_all(now);
                }
                if self.live == 0 {
                    return Ok(());
                }
            }
            let timeout = match self.shared.gate() {
                // Stepped: wait for a turn, then poll without sleeping.
                Some(gate) => {
                    if !turn_open {
                        let shared = &self.shared;
                        gate.wait_turn(|| shared.stop_mode() != StopMode::Running);
                        turn_open = true;
                    }
                    Some(Duration::ZERO)
                }
                None => self.poll_timeout(now),
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let idle = events.is_empty();
            self.count_wakeup(idle);
            for ev in events.iter() {
                let now = self.now();
                match ev.token() {
                    WAKER => {
                        self.read_inbox(now);
                        self.answer_queries(now);
                    }
                    SIGNALS => self.on_signals()?,
                    Token(t) if t < self.listeners.len() => self.accept(t, now),
                    Token(t) => {
                        let rel = t - self.listeners.len();
                        let (idx, side) = (rel / 2, if rel % 2 == 0 { Side::Front } else { Side::Back });
                        let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                        // The harness's send window (`Options::send_window`)
                        // may say the peer takes nothing more: then the
                        // socket is not reported writable, as a full one is not.
                        let room = self.shared.window().map_or(true, |w| !w.is_shut(side));
                        let writable = (ev.is_writable() && room) || ev.is_write_closed() || ev.is_error();
                        if ev.is_error() {
                            self.note_error(idx, side);
                        }
                        if side == Side::Back && self.connect_held(idx) {
                            // The harness's shim: the model's server has not
                            // answered yet; the release reports what came.
                            if let Some(Some(slot)) = self.slots.get_mut(idx) {
                                slot.held_readable |= readable;
                            }
                            continue;
                        }
                        self.on_ready(idx, side, readable, writable, now);
                    }
                }
            }
            let released = self.follow_connect_releases();
            let reopened = self.follow_send_window();
            let idle = idle && !released && !reopened;
            let now = self.now();
            while let Some((deadline, idx, gen)) = self.timers.pop_due(now) {
                self.on_timer(idx, gen, deadline, now);
            }
            // Every input of the batch is in the cores: now each session
            // touched runs once, its core choosing the order of its work.
            self.drive_ready(now);
            if self.accept_backoff.is_some_and(|until| now >= until) {
                self.accept_backoff = None;
            }
            self.trim_pipes_if_idle(now);
            self.arm_listeners(now);
            if let (Some(gate), true, true) = (self.shared.gate(), turn_open, idle) {
                // Nothing was ready and the due timers fired: the turn ends.
                let cores = self.slots.iter().flatten().map(|s| (s.listener, s.core)).collect();
                let held = Held { buffers: self.pool.in_use(), pipes: self.pipes.in_use() };
                gate.turn_done(cores, held);
                turn_open = false;
            }
        }
    }

    /// `Options::hold_connects`: after a release, every attempt in progress
    /// may complete; its writable edge was spent while held, so it is
    /// reported again. True if something was released.
    fn follow_connect_releases(&mut self) -> bool {
        if !self.shared.holds_connects() {
            return false;
        }
        let n = self.shared.connect_releases.load(Ordering::Acquire);
        if n == self.releases_seen {
            return false;
        }
        self.releases_seen = n;
        let now = self.now();
        for idx in 0..self.slots.len() {
            if let Some(Some(slot)) = self.slots.get_mut(idx) {
                if slot.core.si(Side::Back) == SiState::Con && !slot.connect_released {
                    slot.connect_released = true;
                    let cfg = slot.cfg;
                    // Writable, and readable if something came while held
                    // (a refusal's error, the server's first bytes or FIN).
                    let readable = slot.back.error.is_some() || std::mem::take(&mut slot.held_readable);
                    slot.back.edge |= readable;
                    slot.core.handle_ready(&cfg, Side::Back, readable, true, now);
                    self.mark_ready(idx);
                }
            }
        }
        true
    }

    /// `Options::send_window`: a side the harness gave room again after a
    /// refused write is reported writable, as the kernel reports a socket
    /// that was full. True if a side was.
    fn follow_send_window(&mut self) -> bool {
        let Some(window) = self.shared.window() else { return false };
        let reopened = Side::BOTH.map(|s| window.take_reopened(s));
        if !reopened.contains(&true) {
            return false;
        }
        let now = self.now();
        for idx in 0..self.slots.len() {
            if let Some(Some(slot)) = self.slots.get_mut(idx) {
                let cfg = slot.cfg;
                // As the poller would: only a socket registered for
                // writable events is reported writable.
                let read_only = [slot.front.read_only, slot.back.read_only];
                for side in Side::BOTH.into_iter().filter(|&s| reopened[s as usize] && !read_only[s as usize]) {
                    slot.core.handle_ready(&cfg, side, false, true, now);
                }
                self.mark_ready(idx);
            }
        }
        true
    }

    /// How long `poll` may sleep: until the earliest timer, the end of the
    /// grace period or of an accept backoff. With a manual clock nothing
    /// happens until the clock moves, which wakes the loop.
    fn poll_timeout(&self, now: Millis) -> Option<Duration> {
        if self.shared.clock.is_manual() {
            return None;
        }
        let mut timeout = self.timers.timeout(now);
        for until in [self.stop_by, self.accept_backoff, self.pipe_trim_at()].into_iter().flatten() {
            let left = Duration::from_millis(until.saturating_sub(now));
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        // Round up: a deadline a fraction of a millisecond away must not
        // turn into a busy loop of zero-timeout polls.
        timeout.map(|t| t + Duration::from_millis(1))
    }

    /// Counts a return from the poller ([`super::Stats::wakeups`]); one with no event, outside
    /// stepped mode (which polls without waiting on purpose), is an empty one.
    fn count_wakeup(&self, no_event: bool) {
        let c = &self.shared.counters;
        c.wakeups.fetch_add(1, Ordering::Relaxed);
        if no_event && self.shared.gate().is_none() {
            c.empty_wakeups.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_signals(&mut self) -> io::Result<()> {
        let Some(signals) = self.signals.as_mut() else { return Ok(()) };
        let got = signals.read()?;
        if got.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = got.iter().map(|s| format!("{s:?}")).collect();
        let mode =
            if got.contains(Signal::Term) || got.contains(Signal::Int) { StopMode::Hard } else { StopMode::Soft };
        match mode {
            StopMode::Hard => info!(target: "connseq::runtime", "signal {} received, stopping", names.join(",")),
            _ => info!(target: "connseq::runtime", "signal {} received, stopping softly", names.join(",")),
        }
        self.shared.request_stop(mode);
        Ok(())
    }

    /// Picks up a stop another thread (or a signal) asked for: the listeners
    /// close at once (a soft stop first accepts what waits in their backlog);
    /// a hard stop sets the time by which sessions are killed.
    fn follow_stop(&mut self, now: Millis) {
        let mode = self.shared.stop_mode();
        if mode <= self.stop {
            return;
        }
        if self.stop == StopMode::Running {
            if mode == StopMode::Soft {
                // Closing a listening socket resets the connections still in
                // its backlog: the kernel finished their handshake, so their
                // clients believe they were served. A soft stop takes them in
                // first and serves them like every other session in flight.
                for t in 0..self.listeners.len() {
                    self.accept(t, now);
                }
            }
            for l in &mut self.listeners {
                if let Some(mut s) = l.sock.take() {
                    if l.armed {
                        let _ = self.poll.registry().deregister(&mut s);
                    }
                }
                l.armed = false;
            }
            self.shared.set_paused(self.id, false);
        }
        if mode == StopMode::Hard {
            self.stop_by = Some(self.shared.hard_stop_at().min(now).saturating_add(self.grace));
        }
        self.stop = mode;
    }

    /// Reads this thread's mailbox (the waker also stands for "the clock
    /// moved", "stop" and "a place freed": the loop checks those itself).
    fn read_inbox(&mut self, now: Millis) {
        let mut inbox = std::mem::take(&mut self.inbox);
        self.shared.take_inbox(self.id, &mut inbox);
        for msg in inbox.drain(..) {
            match msg {
                Msg::Dequeued { backend, server, idx, gen } => self.on_dequeued(backend, server, idx, gen, now),
            }
        }
        self.inbox = inbox;
        // The sessions handed a slot run now.
        self.run_work(now);
    }

    /// Whether each listener may accept now, and the poller told so.
    fn arm_listeners(&mut self, now: Millis) {
        if self.stop != StopMode::Running {
            return;
        }
        let base = self.accept_backoff.is_none() && !self.shared.live.is_full();
        let mut paused = false;
        for t in 0..self.listeners.len() {
            let l = &mut self.listeners[t];
            let want = base && !self.shared.listeners[l.cfg].is_full();
            paused |= !want;
            if want == l.armed {
                continue;
            }
            let Some(sock) = l.sock.as_mut() else { continue };
            let registry = self.poll.registry();
            let ok = if want {
                registry.register(sock, Token(t), Interest::READABLE).is_ok()
            } else {
                registry.deregister(sock).is_ok()
            };
            if ok {
                l.armed = want;
            }
            if want && ok {
                // Connections that waited in the backlog: the registration
                // reports them too, but reading them now costs nothing.
                self.accept(t, now);
            }
        }
        self.shared.set_paused(self.id, paused);
    }

    /// Accepts on listener `t` until EAGAIN, a limit, or an error.
    fn accept(&mut self, t: usize, now: Millis) {
        loop {
            let l = &self.listeners[t];
            if !l.armed || self.stop != StopMode::Running || self.accept_backoff.is_some() {
                return;
            }
            let Some(sock) = l.sock.as_ref() else { return };
            let cfg = l.cfg;
            // A place in both gauges first, so threads never pass a limit.
            if !self.shared.live.try_reserve() {
                self.arm_listeners(now);
                return;
            }
            if !self.shared.listeners[cfg].try_reserve() {
                self.give_back_places(None);
                self.arm_listeners(now);
                return;
            }
            match crate::sys::socket::accept(sock) {
                Ok((stream, client)) => self.start_session(cfg, stream, client, now),
                Err(e) => {
                    self.give_back_places(Some(cfg));
                    match e.kind() {
                        io::ErrorKind::WouldBlock => {
                            if crate::sys::take_spurious_eagain() {
                                // An injected EAGAIN (tests only): the backlog may hold
                                // connections and no edge will say so; re-arming does.
                                self.rearm_listener(t);
                            }
                            return;
                        }
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => continue,
                        _ => {
                            // EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection
                            // stays in the backlog. Rest the listeners, and try
                            // again when a session ends or the backoff is over,
                            // so even a proxy with no session left resumes.
                            self.shared.counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                            self.warn_accept_failure(&e, now);
                            self.accept_backoff = Some(now.saturating_add(ACCEPT_BACKOFF));
                            self.arm_listeners(now);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Logs an accept failure, at most once per [`ACCEPT_WARNING_EVERY`]:
    /// the failures in between are counted and the next line says how many.
    fn warn_accept_failure(&mut self, e: &io::Error, now: Millis) {
        if self.accept_warned.is_some_and(|at| now.saturating_sub(at) < ACCEPT_WARNING_EVERY) {
            self.accept_unlogged += 1;
            return;
        }
        let unlogged = std::mem::take(&mut self.accept_unlogged);
        self.accept_warned = Some(now);
        if unlogged == 0 {
            warn!(target: "connseq::runtime", "accept: {e}; pausing the listeners for {ACCEPT_BACKOFF} ms");
        } else {
            warn!(
                target: "connseq::runtime",
                "accept: {e}; pausing the listeners for {ACCEPT_BACKOFF} ms ({unlogged} more failures since the last warning)"
            );
        }
    }

    /// Re-registers listener `t`, so the poller reports it again if its backlog holds
    /// connections (after an injected `EAGAIN`, tests only).
    fn rearm_listener(&mut self, t: usize) {
        let l = &mut self.listeners[t];
        if let (Some(sock), true) = (l.sock.as_mut(), l.armed) {
            let _ = self.poll.registry().reregister(sock, Token(t), Interest::READABLE);
        }
    }

    /// Gives back the global place and, if `listener`, that listener's.
    fn give_back_places(&mut self, listener: Option<usize>) {
        let mut was_full = self.shared.live.release();
        if let Some(cfg) = listener {
            was_full |= self.shared.listeners[cfg].release();
        }
        if was_full {
            self.shared.wake_paused(self.id);
        }
    }

    fn front_token(&self, idx: usize) -> Token {
        Token(self.listeners.len() + 2 * idx)
    }

    fn start_session(&mut self, cfg_idx: usize, mut stream: TcpStream, client: SocketAddr, now: Millis) {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.gens.push(0);
                self.slots.len() - 1
            }
        };
        let _ = stream.set_nodelay(true);
        let token = self.front_token(idx);
        if let Err(e) = self.poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE) {
            warn!(target: "connseq::runtime", "{client}: cannot poll the accepted socket: {e}");
            self.free.push(idx);
            self.give_back_places(Some(cfg_idx));
            return;
        }
        let id = self.shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = self.shared.ops.tally.listeners.get(cfg_idx) {
            t.accepted.fetch_add(1, Ordering::Relaxed);
        }
        // `use-backend`: the entry of the backend this client gets.
        let route = self.listeners_cfg[cfg_idx].route(cfg_idx, client.ip());
        let lcfg = &self.listeners_cfg[route];
        let mut cfg = lcfg.session;
        if !self.pipes.splice_supported() {
            cfg.splice = SpliceMode::Never;
        }
        let monitor_match = lcfg.options.monitor_nets.iter().any(|n| n.contains(client.ip()));
        let core = Session::accept(&cfg, now, monitor_match);
        let mut slot = Slot::new(core, cfg, cfg_idx, stream, client, now);
        slot.route = route;
        slot.front.registered = true;
        slot.id = id;
        self.slots[idx] = Some(slot);
        self.live += 1;
        self.idle_since = None;
        self.drive(idx, now);
    }

    /// Readiness goes into the core at once; the session runs after the
    /// batch (`drive_ready`), so that its core sees every input of the batch
    /// before it chooses what to do (the model's "proxy runs").
    fn on_ready(&mut self, idx: usize, side: Side, readable: bool, writable: bool, now: Millis) {
        let Some(Some(slot)) = self.slots.get_mut(idx) else { return };
        let cfg = slot.cfg;
        slot.sock(side).edge |= readable;
        slot.core.handle_ready(&cfg, side, readable, writable, now);
        self.mark_ready(idx);
    }

    /// `Options::hold_connects`: session `idx`'s connect attempt waits for
    /// the harness's release.
    fn connect_held(&self, idx: usize) -> bool {
        self.shared.holds_connects()
            && matches!(self.slots.get(idx), Some(Some(s)) if s.core.si(Side::Back) == SiState::Con && !s.connect_released)
    }

    /// The poller flagged an error on a socket: its `SO_ERROR` is read now
    /// and kept (Linux reports it once, and a later EOF would hide it).
    fn note_error(&mut self, idx: usize, side: Side) {
        if let Some(Some(slot)) = self.slots.get_mut(idx) {
            let sock = slot.sock(side);
            if let (Some(s), None) = (sock.stream.as_ref(), sock.error) {
                if let Ok(Some(e)) = crate::sys::socket::take_error(s) {
                    sock.error = Some(e.raw_os_error().unwrap_or(libc::EIO));
                }
            }
        }
    }

    fn mark_ready(&mut self, idx: usize) {
        if let Some(Some(slot)) = self.slots.get_mut(idx) {
            if !slot.ready {
                slot.ready = true;
                self.ready.push_back(idx);
            }
        }
    }

    /// Runs every session an input of this batch touched.
    fn drive_ready(&mut self, now: Millis) {
        while let Some(idx) = self.ready.pop_front() {
            if let Some(Some(slot)) = self.slots.get_mut(idx) {
                slot.ready = false;
                self.drive(idx, now);
            }
        }
    }

    fn on_timer(&mut self, idx: usize, gen: u32, deadline: Millis, now: Millis) {
        if self.gens.get(idx) != Some(&gen) {
            return;
        }
        let Some(Some(slot)) = self.slots.get_mut(idx) else { return };
        if slot.timer_queued != Some(deadline) {
            return;
        }
        slot.timer_queued = None;
        if slot.poll_acks(now) && slot.core.next_deadline().map_or(true, |d| d > now) {
            // Only the ack poll was due: the session runs (and its next
            // wake-up is scheduled again after it).
            self.mark_ready(idx);
            return;
        }
        // Traffic pushed the session's inactivity deadline later since this
        // entry was pushed (the heap keeps one entry per session and does
        // not move it): nothing is due, so the entry goes back at the new
        // deadline and the core is not run for nothing.
        if let Some(next) = slot.next_wake().filter(|&d| d > now) {
            self.timers.schedule(next, idx, gen, &mut slot.timer_queued);
            return;
        }
        let cfg = slot.cfg;
        slot.core.handle_timeout(&cfg, now);
        // The handshake timer struck in the middle of a TLS handshake the
        // client had started: say so (the TLS state goes with the close).
        let t = slot.core.termination();
        let cut = slot.tls[Side::Front as usize]
            .as_ref()
            .is_some_and(|tls| tls.is_handshaking() && tls.handshake_bytes() > 0);
        if (t.cause, t.phase) == (Cause::ClientTimeout, Phase::Request) && cut {
            slot.reason.get_or_insert("tls-handshake-incomplete");
        }
        self.mark_ready(idx);
    }

    /// The backend handed server `server`'s slot to waiting session `w`, of
    /// this thread or another.
    fn deliver(&mut self, backend: usize, w: Waiter, server: u8, now: Millis) {
        if w.worker == self.id {
            self.on_dequeued(backend, server, w.idx, w.gen, now);
        } else {
            self.shared.send(w.worker, Msg::Dequeued { backend, server, idx: w.idx, gen: w.gen });
        }
    }

    /// The backend handed a slot on `server` to our session `(idx, gen)`:
    /// the core takes it (and gives it back itself if it left the queue
    /// meanwhile). A session that ended meanwhile cannot take it: the core's
    /// release decides where it goes instead.
    fn on_dequeued(&mut self, backend: usize, server: u8, idx: usize, gen: u32, now: Millis) {
        match self.slots.get_mut(idx) {
            Some(Some(s)) if self.gens.get(idx) == Some(&gen) => {
                s.times.assigned = Some(now);
                let cfg = s.cfg;
                s.core.handle_dequeued(&cfg, server, now);
                self.work.push(idx);
            }
            _ => {
                let cfg: SessionConfig = SessionConfig::default();
                let handed = balancer::release(&cfg, &mut *self.shared.backend(backend), server);
                if let Some(w) = handed {
                    self.deliver(backend, w, server, now);
                }
            }
        }
    }

    /// Runs session `idx` until the core waits, and the sessions it handed a
    /// server slot to.
    fn drive(&mut self, idx: usize, now: Millis) {
        self.work.push(idx);
        self.run_work(now);
    }

    /// Drives every session in `work`: each until the core waits, then frees
    /// it if it is over or schedules its next deadline; slots it gave back go
    /// to waiters (which join `work`).
    fn run_work(&mut self, now: Millis) {
        while let Some(idx) = self.work.pop() {
            let back_token = Token(self.listeners.len() + 2 * idx + 1);
            let gen = self.gens[idx];
            let Some(Some(slot)) = self.slots.get_mut(idx) else { continue };
            let backend_idx = self.listeners_cfg[slot.route].backend;
            let mut exec = Exec {
                registry: self.poll.registry(),
                listener: &self.listeners_cfg[slot.route],
                pool: &mut self.pool,
                pipes: &mut self.pipes,
                shared: &self.shared,
                backend: backend_idx,
                now,
                waiter: Waiter { worker: self.id, idx, gen },
                back_token,
                handoffs: &mut self.handoffs,
                send_errno: None,
            };
            loop {
                let cfg = slot.cfg;
                let Some(action) = slot.core.poll_action(&cfg) else { break };
                let outcome = exec.run(slot, action);
                slot.core.handle_outcome(&cfg, action, outcome, now);
            }
            for (side, token) in [(Side::Front, Token(back_token.0 - 1)), (Side::Back, back_token)] {
                let sock = slot.sock(side);
                if std::mem::take(&mut sock.rearm) {
                    if let (Some(s), true) = (sock.stream.as_mut(), sock.registered) {
                        // Only after an injected EAGAIN (tests): the poller reports the
                        // socket again if it is ready.
                        let _ = self.poll.registry().reregister(s, token, Interest::READABLE | Interest::WRITABLE);
                    }
                }
            }
            slot.update_ack_poll(now);
            if slot.core.is_closed() {
                self.end_session(idx, now, false);
            } else if let Some(d) = slot.next_wake() {
                if !self.shared.broken(Breakage::TimerNotArmed) {
                    self.timers.schedule(d, idx, gen, &mut slot.timer_queued);
                }
            }
            while let Some((w, server)) = self.handoffs.pop() {
                self.deliver(backend_idx, w, server, now);
            }
        }
    }

    /// Logs and frees slot `idx`; its places in the gauges are given back.
    fn end_session(&mut self, idx: usize, now: Millis, forced: bool) {
        let Some(mut slot) = self.slots[idx].take() else { return };
        let listener = &self.listeners_cfg[slot.route];
        let line = slot.log_line(listener.names(), now);
        if forced {
            warn!(target: "connseq::session", "{line} (closed at stop)");
        } else if slot.is_quiet() {
            // Health and monitor checks, bare TCP checks and rejected
            // connections are not sessions (HAProxy does not log them either).
            debug!(target: "connseq::session", "{line}");
        } else {
            info!(target: "connseq::session", "{line}");
        }
        if slot.core.rejected() {
            self.shared.counters.rejected.fetch_add(1, Ordering::Relaxed);
        }
        if slot.source_counted {
            let backend = self.listeners_cfg[slot.route].backend;
            if let Some(table) = self.shared.sources.get(backend).and_then(Option::as_ref) {
                table.release(slot.client.ip(), now);
            }
        }
        self.shared.ops.tally.ended(slot.listener, listener.backend, &slot, now);
        self.shared.record(|| SessionRecord::new(&slot, listener.names(), self.id, now));
        let registry = self.poll.registry();
        // The core closed both sockets already; this only guards a bug.
        slot.front.close(registry);
        slot.back.close(registry);
        slot.req.clear_all(&mut self.pool, &mut self.pipes);
        slot.res.clear_all(&mut self.pool, &mut self.pipes);
        self.gens[idx] = self.gens[idx].wrapping_add(1);
        self.free.push(idx);
        self.live -= 1;
        if self.live == 0 {
            self.idle_since = Some(now);
        }
        self.shared.counters.ended.fetch_add(1, Ordering::Relaxed);
        self.give_back_places(Some(slot.listener));
        // Descriptors freed: a resting listener may try again at once.
        self.accept_backoff = None;
    }

    /// When the spare pipes are to be closed: `PIPE_LINGER` after the last
    /// session ended, if none started since and there are spares.
    fn pipe_trim_at(&self) -> Option<Millis> {
        let since = self.idle_since.filter(|_| self.live == 0 && self.pipes.spares() > 0)?;
        Some(since.saturating_add(PIPE_LINGER))
    }

    /// With no session left for `PIPE_LINGER`, the spare pipes are closed:
    /// an idle proxy holds no pipe descriptor (while sessions come and go,
    /// spares are reused). A pool that found splice unsupported is kept, so
    /// it stays off.
    fn trim_pipes_if_idle(&mut self, now: Millis) {
        if self.pipe_trim_at().is_some_and(|at| now >= at) && self.pipes.splice_supported() {
            debug_assert_eq!(self.pipes.in_use(), 0, "a pipe outlived every session");
            self.pipes = PipePool::new(self.max_pipes, self.pipe_size);
            self.idle_since = None;
        }
    }

    /// The grace period is over: every remaining session is killed through
    /// the core (both sides closed abortively, in order, logged with `K`).
    /// A session the core could not close (a bug) is dropped.
    fn kill_all(&mut self, now: Millis) {
        warn!(target: "connseq::runtime", "grace period over, closing {} sessions", self.live);
        for idx in 0..self.slots.len() {
            if let Some(Some(slot)) = self.slots.get_mut(idx) {
                let cfg = slot.cfg;
                slot.core.handle_kill(&cfg, now);
                self.drive(idx, now);
            }
        }
        for idx in 0..self.slots.len() {
            if self.slots[idx].is_some() {
                self.end_session(idx, now, true);
            }
        }
    }
}

// ---- The runtime API's queries (`super::control`) ----

impl Worker {
    /// Answers what the runtime API asked this thread since its last wake.
    fn answer_queries(&mut self, now: Millis) {
        for q in self.shared.ops.take_queries(self.id) {
            match q {
                Query::Sessions(reply) => {
                    let _ = reply.send(self.session_views(now));
                }
                Query::Shutdown { id, reply } => {
                    let _ = reply.send(self.shutdown_session(id, now));
                }
                Query::Listeners(reply) => {
                    let socks = self.listeners.iter().filter_map(|l| l.sock.as_ref());
                    let _ = reply.send(socks.filter_map(|s| s.as_fd().try_clone_to_owned().ok()).collect());
                }
            }
        }
    }

    fn session_views(&self, now: Millis) -> Vec<SessionView> {
        self.slots
            .iter()
            .flatten()
            .map(|s| SessionView {
                id: s.id,
                listener: s.listener,
                backend: self.listeners_cfg[s.route].backend,
                slot: s.core.server(),
                server: s.server_idx,
                peer: s.client,
                source: s.source(),
                age_ms: now.saturating_sub(s.times.accept),
                to_server: s.sent[0],
                to_client: s.sent[1],
                si: [s.core.si(Side::Front), s.core.si(Side::Back)],
                thread: self.id,
            })
            .collect()
    }

    /// HAProxy's `shutdown session`: the core kills session `id` (both
    /// sides abortively, in its close order; the log line's code starts
    /// with `K`). False if this thread has no such session.
    fn shutdown_session(&mut self, id: u64, now: Millis) -> bool {
        let Some(idx) = self.slots.iter().position(|s| s.as_ref().is_some_and(|s| s.id == id)) else {
            return false;
        };
        if let Some(Some(slot)) = self.slots.get_mut(idx) {
            let cfg = slot.cfg;
            slot.core.handle_kill(&cfg, now);
        }
        self.drive(idx, now);
        true
    }
}
