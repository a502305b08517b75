//! One event-loop thread: its listening sockets, its sessions in a slab, its
//! timer heap, its buffer and pipe pools; the stop and the limits it shares
//! with the other threads through [`Shared`].
//!
//! Tokens: `0..L` are the listening sockets, then two per flow (session)
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
//!
//! Rooms: `accept` (listeners and new sessions), `drive` (inputs into the
//! cores, sessions run, ended and freed), `handoff` (server slots handed to
//! queued sessions, the mailbox), `queries` (the runtime API), `shims`
//! (the conformance harness's hooks); the loop itself, the stop and the
//! signals are here.

mod accept;
mod drive;
mod handoff;
mod queries;
mod shims;

use super::backend_state::Waiter;
use super::bind::Bound;
use super::flow::Flow;
use super::listener::ListenerCfg;
use super::shared::{Msg, Shared, StopMode};
use super::timer_heap::TimerHeap;
use super::Held;
use crate::config::ProxyConfig;
use crate::pool::{BufPool, PipePool};
use crate::sys::signal::{Signal, Signals};
use connseq_model::core::{Millis, Side};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

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

/// The event loop of one thread and everything it owns.
#[derive(Debug)]
pub(crate) struct Worker {
    id: usize,
    poll: Poll,
    shared: Arc<Shared>,
    listeners: Vec<Listener>,
    listeners_cfg: Arc<[ListenerCfg]>,
    flows: Vec<Option<Flow>>,
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
            flows: Vec::new(),
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
                            if let Some(Some(flow)) = self.flows.get_mut(idx) {
                                flow.held_readable |= readable;
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
                let cores = self.flows.iter().flatten().map(|s| (s.listener, s.core)).collect();
                let held = Held { buffers: self.pool.in_use(), pipes: self.pipes.in_use() };
                gate.turn_done(cores, held, self.unanswered());
                turn_open = false;
            }
        }
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
}

#[cfg(test)]
mod tests;
