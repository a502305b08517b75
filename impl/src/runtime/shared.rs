//! What the event-loop threads share: the clock, the stop request, the
//! session gauges behind `maxconn`, the backends' balancer state, each
//! thread's waker and mailbox, the counters, and (in tests) the records of
//! ended sessions.
//!
//! Everything here is touched once per session event at most (accept, pick,
//! release, end), never per byte: an uncontended mutex or an atomic.

use super::backend_state::BackendState;
use super::{Held, SessionRecord, Stats};
use connseq_model::core::Millis;
use connseq_model::core::Session;
use mio::Waker;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How a stop was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum StopMode {
    Running = 0,
    /// SIGUSR1: close the listeners, let the sessions finish, however long.
    Soft = 1,
    /// SIGTERM, SIGINT, `RunningProxy::stop`: the same, for the grace period
    /// at most; then the remaining sessions are killed.
    Hard = 2,
}

impl StopMode {
    fn from_u8(v: u8) -> StopMode {
        match v {
            0 => StopMode::Running,
            1 => StopMode::Soft,
            _ => StopMode::Hard,
        }
    }
}

/// Milliseconds since the proxy started: the monotonic clock, or a manual
/// one that only tests move (`RunningProxy::advance`).
#[derive(Debug)]
pub(crate) enum Clock {
    Real(Instant),
    Manual(AtomicU64),
}

impl Clock {
    pub(crate) fn now(&self) -> Millis {
        match self {
            Clock::Real(start) => Millis::try_from(start.elapsed().as_millis()).unwrap_or(Millis::MAX),
            Clock::Manual(t) => t.load(Ordering::Acquire),
        }
    }

    pub(crate) fn is_manual(&self) -> bool {
        matches!(self, Clock::Manual(_))
    }
}

/// A count of live sessions with a limit (0: none). A thread reserves a
/// place *before* it accepts, so threads together never pass the limit.
#[derive(Debug)]
pub(crate) struct Gauge {
    count: AtomicUsize,
    limit: usize,
}

impl Gauge {
    pub(crate) fn new(limit: usize) -> Gauge {
        Gauge { count: AtomicUsize::new(0), limit }
    }

    /// Takes a place if one is free.
    pub(crate) fn try_reserve(&self) -> bool {
        if self.limit == 0 {
            self.count.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        self.count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.limit).then_some(n + 1)).is_ok()
    }

    /// Gives a place back; true when the gauge was full, so that threads
    /// that stopped accepting because of it must be woken.
    pub(crate) fn release(&self) -> bool {
        let before = self.count.fetch_sub(1, Ordering::AcqRel);
        self.limit != 0 && before >= self.limit
    }

    pub(crate) fn is_full(&self) -> bool {
        self.limit != 0 && self.count.load(Ordering::Acquire) >= self.limit
    }

    pub(crate) fn get(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

/// A message to an event-loop thread.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Msg {
    /// A slot on `server` of backend `backend` was taken for the queued
    /// session `(idx, gen)` of the receiving thread. If that session is no
    /// longer waiting, the receiver gives the slot back.
    Dequeued { backend: usize, server: u8, idx: usize, gen: u32 },
}

/// A thread as the others see it.
#[derive(Debug)]
pub(crate) struct Remote {
    pub(crate) waker: Waker,
    inbox: Mutex<Vec<Msg>>,
    /// Some listener of this thread is out of the poller because a gauge
    /// was full: wake it when a place frees.
    paused: AtomicBool,
}

impl Remote {
    pub(crate) fn new(waker: Waker) -> Remote {
        Remote { waker, inbox: Mutex::new(Vec::new()), paused: AtomicBool::new(false) }
    }
}

/// Counters since start, summed over threads.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) ended: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) queued: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) spliced: AtomicU64,
    pub(crate) wakeups: AtomicU64,
    pub(crate) empty_wakeups: AtomicU64,
}

/// Stepped mode (tests and the conformance harness): the event loop runs
/// only when a turn is granted, then until it has nothing left to do (the
/// model's "proxy runs" step), and publishes the cores of its sessions.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// (turns granted, turns done).
    turns: Mutex<(u64, u64)>,
    cv: Condvar,
    /// The live sessions' cores, each with its listener's index, the pools
    /// held, and the sessions' unanswered sends, as the last turn left them.
    pub(super) snapshot: Mutex<TurnSnapshot>,
}

impl Gate {
    /// Blocks the loop until a turn is granted or `stopping()` holds.
    pub(crate) fn wait_turn(&self, stopping: impl Fn() -> bool) {
        let mut t = lock(&self.turns);
        while t.0 <= t.1 && !stopping() {
            t = self.cv.wait_timeout(t, Duration::from_millis(50)).map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
    }

    /// The loop finished its turn with these sessions, holding this much of
    /// its pools.
    pub(crate) fn turn_done(&self, cores: Vec<(usize, Session)>, held: Held, unanswered: Vec<[bool; 2]>) {
        *lock(&self.snapshot) = (cores, held, unanswered);
        let mut t = lock(&self.turns);
        t.1 = t.0;
        self.cv.notify_all();
    }

    /// Grants a turn and waits until it is done: false after `guard`, or
    /// as soon as `gone()` says the loop is no longer there to take it (a
    /// thread that ended, by an error or a panic).
    pub(crate) fn run_turn(&self, guard: Duration, gone: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + guard;
        let mut t = lock(&self.turns);
        t.0 += 1;
        let want = t.0;
        self.cv.notify_all();
        while t.1 < want {
            if gone() {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(50));
            if left.is_zero() {
                return false;
            }
            t = self.cv.wait_timeout(t, left).map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
        true
    }

    pub(crate) fn snapshot(&self) -> Vec<(usize, Session)> {
        lock(&self.snapshot).0.clone()
    }

    pub(crate) fn held(&self) -> Held {
        lock(&self.snapshot).1
    }

    fn wake(&self) {
        let _g = lock(&self.turns);
        self.cv.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these plain counters half-updated in a
    // way that matters more than stopping would; keep serving.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The state every thread holds an `Arc` of.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) clock: Clock,
    stop: AtomicU8,
    /// The clock's reading when a hard stop was first asked for: the grace
    /// period counts from there, whenever a thread notices.
    hard_stop_at: AtomicU64,
    /// Sessions of the whole process, against the global maxconn.
    pub(crate) live: Gauge,
    /// Sessions per listener configuration, against its maxconn.
    pub(crate) listeners: Vec<Gauge>,
    backends: Vec<Mutex<BackendState>>,
    remotes: Vec<Remote>,
    pub(crate) counters: Counters,
    records: Option<Mutex<Vec<SessionRecord>>>,
    /// Stepped mode's gate (one thread only; read through [`Shared::gate`]).
    gate: Option<Gate>,
    /// `Options::hold_connects` (the conformance harness's shim; read
    /// through [`Shared::holds_connects`]).
    pub(crate) hold_connects: bool,
    /// Bumped by `RunningProxy::release_connects`.
    pub(crate) connect_releases: AtomicU64,
    /// `Options::send_window` (the conformance harness's shim; read through
    /// [`Shared::window`]).
    pub(crate) window: Option<super::window::SendWindow>,
    /// `Options::breakage` (tests only: see [`Shared::broken`]).
    breakage: super::Breakage,
    /// The runtime API's names, counters, server states and queries.
    pub(crate) ops: super::ops::Ops,
    /// Each backend's per-source table, when it has limits (by backend index).
    pub(crate) sources: Vec<Option<super::limits::SourceTable>>,
}

impl Shared {
    /// Whether the executor is deliberately broken by `b` (`Options::breakage`).
    /// Always false, and removed by the compiler, without the `test-hooks`
    /// feature: the release binary carries no breakage.
    #[inline(always)]
    /// Stepped mode's gate. The conformance harness's hooks (stepped mode
    /// and the connect and send-window shims) exist only with the
    /// `test-hooks` feature: without it this is a constant `None` and the
    /// code behind it is removed from the release binary.
    pub(crate) fn gate(&self) -> Option<&Gate> {
        if cfg!(feature = "test-hooks") {
            self.gate.as_ref()
        } else {
            None
        }
    }

    /// The send-window shim (`Options::send_window`), with `test-hooks` only.
    pub(crate) fn window(&self) -> Option<&super::window::SendWindow> {
        if cfg!(feature = "test-hooks") {
            self.window.as_ref()
        } else {
            None
        }
    }

    /// The connect shim (`Options::hold_connects`), with `test-hooks` only.
    pub(crate) fn holds_connects(&self) -> bool {
        cfg!(feature = "test-hooks") && self.hold_connects
    }

    pub(crate) fn broken(&self, b: super::Breakage) -> bool {
        cfg!(feature = "test-hooks") && self.breakage == b
    }

    /// Sets the deliberate breakage (`Options::breakage`).
    pub(crate) fn set_breakage(&mut self, b: super::Breakage) {
        self.breakage = b;
    }

    #[allow(clippy::too_many_arguments)] // one call, in `start`
    pub(crate) fn new(
        ops: super::ops::Ops,
        clock: Clock,
        live: Gauge,
        listeners: Vec<Gauge>,
        backends: Vec<BackendState>,
        remotes: Vec<Remote>,
        record: bool,
        stepped: bool,
    ) -> Shared {
        Shared {
            clock,
            stop: AtomicU8::new(StopMode::Running as u8),
            hard_stop_at: AtomicU64::new(Millis::MAX),
            live,
            listeners,
            backends: backends.into_iter().map(Mutex::new).collect(),
            remotes,
            counters: Counters::default(),
            records: record.then(|| Mutex::new(Vec::new())),
            gate: stepped.then(Gate::default),
            hold_connects: false,
            connect_releases: AtomicU64::new(0),
            window: None,
            breakage: super::Breakage::None,
            ops,
            sources: Vec::new(),
        }
    }

    /// Wakes thread `me` (to read its mailbox or its queries).
    pub(crate) fn wake(&self, me: usize) {
        if let Some(r) = self.remotes.get(me) {
            let _ = r.waker.wake();
        }
    }

    pub(crate) fn stop_mode(&self) -> StopMode {
        StopMode::from_u8(self.stop.load(Ordering::Acquire))
    }

    /// When the first hard stop was asked for.
    pub(crate) fn hard_stop_at(&self) -> Millis {
        self.hard_stop_at.load(Ordering::Acquire)
    }

    /// Asks every thread to stop (a harder mode wins over a softer one).
    pub(crate) fn request_stop(&self, mode: StopMode) {
        if mode == StopMode::Hard {
            self.hard_stop_at.fetch_min(self.clock.now(), Ordering::AcqRel);
        }
        self.stop.fetch_max(mode as u8, Ordering::AcqRel);
        self.wake_all();
        if let Some(g) = self.gate() {
            g.wake();
        }
    }

    pub(crate) fn wake_all(&self) {
        for r in &self.remotes {
            // A failed wake (the thread already gone) needs nothing more.
            let _ = r.waker.wake();
        }
    }

    /// Moves a manual clock forward and wakes every thread.
    pub(crate) fn advance(&self, ms: Millis) -> bool {
        let Clock::Manual(t) = &self.clock else { return false };
        t.fetch_add(ms, Ordering::AcqRel);
        self.wake_all();
        true
    }

    pub(crate) fn backend(&self, i: usize) -> MutexGuard<'_, BackendState> {
        lock(&self.backends[i])
    }

    /// Each server's slots taken in backend `backend` (empty if there is
    /// no such backend).
    pub(crate) fn server_slots(&self, backend: usize) -> Vec<u32> {
        let Some(b) = self.backends.get(backend) else { return Vec::new() };
        let mut b = lock(b);
        connseq_model::core::backend::Shared::servers(&mut *b).iter().map(|s| s.active).collect()
    }

    /// Posts `msg` to thread `to` and wakes it.
    pub(crate) fn send(&self, to: usize, msg: Msg) {
        let r = &self.remotes[to];
        lock(&r.inbox).push(msg);
        let _ = r.waker.wake();
    }

    /// Swaps thread `me`'s mailbox with `out` (empty, capacity kept): no
    /// allocation once both vectors have grown to the traffic.
    pub(crate) fn take_inbox(&self, me: usize, out: &mut Vec<Msg>) {
        debug_assert!(out.is_empty());
        std::mem::swap(&mut *lock(&self.remotes[me].inbox), out);
    }

    pub(crate) fn set_paused(&self, me: usize, paused: bool) {
        self.remotes[me].paused.store(paused, Ordering::Release);
    }

    /// A gauge that was full has a free place: wake the threads that stopped
    /// accepting (`me` rearms its listeners itself).
    pub(crate) fn wake_paused(&self, me: usize) {
        for (i, r) in self.remotes.iter().enumerate() {
            if i != me && r.paused.load(Ordering::Acquire) {
                let _ = r.waker.wake();
            }
        }
    }

    pub(crate) fn record(&self, rec: impl FnOnce() -> SessionRecord) {
        if let Some(records) = &self.records {
            lock(records).push(rec());
        }
    }

    pub(crate) fn take_records(&self) -> Vec<SessionRecord> {
        self.records.as_ref().map(|r| std::mem::take(&mut *lock(r))).unwrap_or_default()
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Acquire);
        Stats {
            live: self.live.get(),
            accepted: get(&c.accepted),
            ended: get(&c.ended),
            connects: get(&c.connects),
            connect_failures: get(&c.connect_failures),
            queued: get(&c.queued),
            accept_errors: get(&c.accept_errors),
            rejected: get(&c.rejected),
            throttled: get(&c.throttled),
            spliced: get(&c.spliced),
            wakeups: get(&c.wakeups),
            empty_wakeups: get(&c.empty_wakeups),
        }
    }
}

/// What a stepped turn leaves for the harness ([`Gate::turn_done`]); the
/// unanswered sends are read in `worker/shims.rs`.
type TurnSnapshot = (Vec<(usize, Session)>, Held, Vec<[bool; 2]>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_whose_loop_is_gone_is_given_up_without_waiting_out_the_guard() {
        // No loop takes the turn: only `gone` can end the wait (the guard is
        // an hour, so a gate that ignored it would hang this test).
        let gate = Gate::default();
        let asked = std::cell::Cell::new(0);
        let gone = || {
            asked.set(asked.get() + 1);
            true
        };
        assert!(!gate.run_turn(Duration::from_secs(3600), gone));
        assert_eq!(asked.get(), 1, "asked once, before any wait");
    }

    #[test]
    fn a_gauge_never_passes_its_limit_and_reports_when_it_was_full() {
        let g = Gauge::new(2);
        assert!(g.try_reserve() && g.try_reserve());
        assert!(!g.try_reserve() && g.is_full());
        assert!(g.release(), "it was full");
        assert!(!g.release(), "it was not");
        let unlimited = Gauge::new(0);
        assert!((0..10).all(|_| unlimited.try_reserve()) && !unlimited.is_full());
    }
}
