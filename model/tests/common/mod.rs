//! Shared fixtures for the core's unit tests (smoltcp style: one fixture per
//! state). A [`Driver`] holds a listener configuration, a session and a
//! simulated clock; it feeds readiness, timeouts and the outcome of each
//! action the session asks for, asserting on the way that the session asked
//! for exactly that action. The fixtures at the bottom return a driver whose
//! session sits in a named state.

// Each test file uses a different subset of the fixtures.
#![allow(dead_code)]

use connseq_model::core::trace::{self, SiMove};
use connseq_model::core::{
    Action, Dir, FdState, Fill, Millis, Op, OpStatus, Outcome, Pick, Session, SessionConfig, SiState, Side, Sink,
    Source, TimerKind,
};

/// The listener configuration every test starts from: raw on both sides, no
/// handler, no retry, the default timeouts, and the correct core.
pub fn config() -> SessionConfig {
    SessionConfig::default()
}

/// A session under test, its listener configuration and the clock.
#[derive(Debug)]
pub struct Driver {
    /// The listener configuration.
    pub cfg: SessionConfig,
    /// The session.
    pub s: Session,
    /// The simulated clock, in milliseconds.
    pub now: Millis,
    /// Every action performed, in order.
    pub log: Vec<Action>,
}

impl Driver {
    /// A session for a connection just accepted at t = 0, whose source does
    /// not match monitor-net.
    pub fn accept(cfg: SessionConfig) -> Driver {
        Driver::accept_at(cfg, 0, false)
    }

    /// A session for a connection accepted at `now`.
    pub fn accept_at(cfg: SessionConfig, now: Millis, monitor_match: bool) -> Driver {
        Driver { s: Session::accept(&cfg, now, monitor_match), cfg, now, log: Vec::new() }
    }

    /// The next action the session asks for.
    pub fn next(&self) -> Option<Action> {
        self.s.poll_action(&self.cfg)
    }

    /// Asserts that the session asks for `action` next.
    #[track_caller]
    pub fn expect(&self, action: Action) {
        assert_eq!(self.next(), Some(action), "unexpected next action in {:#?}", self.s);
    }

    /// Asserts that the session waits for an event.
    #[track_caller]
    pub fn expect_idle(&self) {
        assert_eq!(self.next(), None, "the session should wait for an event: {:#?}", self.s);
    }

    /// Asserts that the session asks for `action`, then reports `outcome`.
    #[track_caller]
    pub fn perform(&mut self, action: Action, outcome: Outcome) {
        self.expect(action);
        self.s.handle_outcome(&self.cfg, action, outcome, self.now);
        self.log.push(action);
    }

    /// Performs a sequence of `(action, outcome)` pairs.
    #[track_caller]
    pub fn perform_all(&mut self, steps: &[(Action, Outcome)]) {
        for &(a, o) in steps {
            self.perform(a, o);
        }
    }

    /// The poller reports `side` readable.
    pub fn readable(&mut self, side: Side) {
        self.s.handle_ready(&self.cfg, side, true, false, self.now);
    }

    /// The poller reports `side` writable.
    pub fn writable(&mut self, side: Side) {
        self.s.handle_ready(&self.cfg, side, false, true, self.now);
    }

    /// Advances the clock by `ms` and fires what expired.
    pub fn advance(&mut self, ms: Millis) {
        self.now += ms;
        self.s.handle_timeout(&self.cfg, self.now);
    }

    /// Advances the clock to `t` and fires what expired.
    pub fn advance_to(&mut self, t: Millis) {
        assert!(t >= self.now, "time never goes back");
        self.now = t;
        self.s.handle_timeout(&self.cfg, self.now);
    }

    /// Fires one timer now.
    pub fn fire(&mut self, kind: TimerKind) {
        self.s.fire_timer(&self.cfg, kind, self.now);
    }

    /// A queued session gets a slot on `server`.
    pub fn dequeue(&mut self, server: u8) {
        self.s.handle_dequeued(&self.cfg, server, self.now);
    }

    /// The status of `op` on `side`.
    pub fn op(&self, side: Side, op: Op) -> OpStatus {
        self.s.conn(side).ops.get(op)
    }

    /// Whether channel `dir` carries `flag`.
    pub fn flag(&self, dir: Dir, flag: u8) -> bool {
        self.s.chan(dir).has(flag)
    }

    /// The termination code, as logged.
    pub fn code(&self) -> String {
        self.s.termination().to_string()
    }

    /// The deadline of `kind`, if armed.
    pub fn deadline(&self, kind: TimerKind) -> Option<Millis> {
        self.s.timers().deadline(kind)
    }

    /// The armed timers, in `TimerKind::ALL` order.
    pub fn armed(&self) -> Vec<TimerKind> {
        TimerKind::ALL.into_iter().filter(|&k| self.s.timer_armed(k)).collect()
    }

    /// Runs the close sequence of `side` (DCLO on TLS, CCLO, FCLO) and checks
    /// that the socket closes abortively or not as said.
    #[track_caller]
    pub fn close(&mut self, side: Side, abortive: bool) {
        if self.s.conn(side).ops.pending(Op::DataClose) {
            self.perform(Action::DataClose(side), Outcome::Done);
        }
        self.perform(Action::CtrlClose(side), Outcome::Done);
        self.perform(Action::SockClose { side, abortive }, Outcome::Done);
        assert_eq!(self.s.conn(side).fd, FdState::Closed);
    }

    /// How many times `action` was performed.
    pub fn count(&self, action: Action) -> usize {
        self.log.iter().filter(|&&a| a == action).count()
    }

    // ------------------------------------------------------------------
    // Composite steps that several fixtures share.
    // ------------------------------------------------------------------

    /// Runs every incoming handshake handler the configuration asks for,
    /// successfully, until the session starts.
    #[track_caller]
    pub fn complete_handshake(&mut self) {
        use connseq_model::core::RuleStage;
        if self.cfg.conn_rules {
            self.perform(Action::EvalRules(RuleStage::Connection), Outcome::Verdict(true));
        }
        if self.cfg.accept_proxy {
            self.readable(Side::Front);
            self.perform(Action::RecvProxyHeader, Outcome::Done);
        }
        if self.cfg.src_rules {
            self.perform(Action::EvalRules(RuleStage::Source), Outcome::Verdict(true));
        }
        if self.cfg.tls_front {
            self.readable(Side::Front);
            self.perform(Action::TlsHandshake(Side::Front), Outcome::Done);
        }
        assert!(self.s.started(), "the session should have started: {:#?}", self.s);
        assert_eq!(self.s.si(Side::Front), SiState::Est);
        assert_eq!(self.s.si(Side::Back), SiState::Req);
    }

    /// From REQ: the balancer assigns `server`.
    #[track_caller]
    pub fn assign(&mut self, server: u8) {
        let avoid = self.s.failed_server();
        self.perform(Action::PickServer { avoid }, Outcome::Pick(Pick::Assigned(server)));
        assert_eq!(self.s.si(Side::Back), SiState::Ass);
    }

    /// From ASS: connect() is in progress.
    #[track_caller]
    pub fn start_connect(&mut self) {
        let server = self.s.server().expect("ASS has a server");
        self.perform(Action::Connect { server }, Outcome::InProgress);
        assert_eq!(self.s.si(Side::Back), SiState::Con);
    }

    /// From CON: the socket becomes writable and SO_ERROR says connected,
    /// then the outgoing handlers (PROXY header, TLS) complete.
    #[track_caller]
    pub fn finish_connect(&mut self) {
        self.writable(Side::Back);
        self.perform(Action::FinishConnect, Outcome::Done);
        // CON lasts until the outgoing handshake handlers are done.
        let handlers = self.cfg.send_proxy || self.cfg.tls_back;
        assert_eq!(self.s.si(Side::Back), if handlers { SiState::Con } else { SiState::Est });
        if self.cfg.send_proxy {
            self.perform(
                Action::Send { side: Side::Back, from: Source::ProxyHeader, more: true },
                Outcome::Sent { drained: true },
            );
        }
        if self.cfg.tls_back {
            self.perform(Action::TlsHandshake(Side::Back), Outcome::Done);
        }
        assert_eq!(self.s.si(Side::Back), SiState::Est);
        assert!(self.s.conn(Side::Back).carries_data(), "the back connection should carry data: {:#?}", self.s);
    }

    /// The client's bytes arrive and land in the request buffer (`into`).
    #[track_caller]
    pub fn client_sends(&mut self, into: Sink, full: bool) {
        self.readable(Side::Front);
        self.perform(Action::Recv { side: Side::Front, into }, Outcome::Data { full });
    }

    /// The server's bytes arrive and land in the response buffer (`into`).
    #[track_caller]
    pub fn server_sends(&mut self, into: Sink, full: bool) {
        self.readable(Side::Back);
        self.perform(Action::Recv { side: Side::Back, into }, Outcome::Data { full });
    }
}

// ----------------------------------------------------------------------
// Fixtures: one per state.
// ----------------------------------------------------------------------

/// Front INI with its handshake handlers still subscribed (nothing run yet).
pub fn accepted(cfg: SessionConfig) -> Driver {
    let d = Driver::accept(cfg);
    assert_eq!(d.s.si(Side::Front), SiState::Ini);
    d
}

/// Back REQ: the session started and wants a server.
pub fn requesting(cfg: SessionConfig) -> Driver {
    let mut d = Driver::accept(cfg);
    if !d.s.started() {
        d.complete_handshake();
    }
    d.expect(Action::PickServer { avoid: None });
    d
}

/// Back ASS on server 0.
pub fn assigned(cfg: SessionConfig) -> Driver {
    let mut d = requesting(cfg);
    d.assign(0);
    d
}

/// Back QUE: every server is at its maxconn and queueing is on.
pub fn queued(cfg: SessionConfig) -> Driver {
    let cfg = SessionConfig { queue: true, ..cfg };
    let mut d = requesting(cfg);
    d.perform(Action::PickServer { avoid: None }, Outcome::Pick(Pick::Queue));
    assert_eq!(d.s.si(Side::Back), SiState::Que);
    d
}

/// Back CON on server 0: connect() in progress, not yet writable.
pub fn connecting(cfg: SessionConfig) -> Driver {
    let mut d = assigned(cfg);
    d.start_connect();
    d
}

/// Back EST with every outgoing handler done; both channels empty, nothing
/// readable, both sockets writable.
pub fn established(cfg: SessionConfig) -> Driver {
    let mut d = connecting(cfg);
    d.finish_connect();
    // A handshake left the client readable: read until EAGAIN.
    if d.next() == Some(Action::Recv { side: Side::Front, into: Sink::Buffer }) {
        d.perform(Action::Recv { side: Side::Front, into: Sink::Buffer }, Outcome::WouldBlock);
    }
    d.expect_idle();
    d
}

/// The client sent its FIN and the proxy forwarded it (the server's side is
/// shut for writing); the response direction is still open.
pub fn client_half_closed(cfg: SessionConfig) -> Driver {
    let mut d = established(cfg);
    d.readable(Side::Front);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Buffer }, Outcome::Eof);
    if d.s.conn(Side::Back).data == connseq_model::core::DataLayer::Tls {
        d.perform(Action::DataShutw(Side::Back), Outcome::Done);
    }
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Done);
    assert!(d.s.conn(Side::Front).shr() && !d.s.conn(Side::Front).shw());
    assert!(d.s.conn(Side::Back).shw() && !d.s.conn(Side::Back).shr());
    d.expect_idle();
    d
}

/// The server sent its FIN and the proxy forwarded it (the client's side is
/// shut for writing); the request direction is still open.
pub fn server_half_closed(cfg: SessionConfig) -> Driver {
    let mut d = established(cfg);
    d.readable(Side::Back);
    d.perform(Action::Recv { side: Side::Back, into: Sink::Buffer }, Outcome::Eof);
    if d.s.conn(Side::Front).data == connseq_model::core::DataLayer::Tls {
        d.perform(Action::DataShutw(Side::Front), Outcome::Done);
    }
    d.perform(Action::CtrlShutw(Side::Front), Outcome::Done);
    assert!(d.s.conn(Side::Back).shr() && !d.s.conn(Side::Back).shw());
    assert!(d.s.conn(Side::Front).shw() && !d.s.conn(Side::Front).shr());
    d.expect_idle();
    d
}

// ----------------------------------------------------------------------
// Invariants and a deterministic random walk over the core.
// ----------------------------------------------------------------------

/// A small deterministic generator (xorshift64*), so walks replay exactly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (never zero).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// An outcome a real runtime could report for `action`; failures are rarer
/// than successes, so that walks forward data before they end.
pub fn plausible_outcome(rng: &mut Rng, action: Action) -> Outcome {
    use connseq_model::core::Pick as P;
    use Outcome::*;
    let choices: &[(u64, Outcome)] = match action {
        Action::RecvProxyHeader => &[(6, Done), (3, WouldBlock), (1, EofEmpty), (1, Eof), (1, Reset), (1, Invalid)],
        Action::EvalRules(_) => &[(8, Verdict(true)), (1, Verdict(false))],
        Action::TlsHandshake(_) => &[(6, Done), (3, WouldBlock), (2, WantWrite), (1, Eof), (1, Reset), (1, Invalid)],
        Action::PickServer { .. } => {
            &[(4, Pick(P::Assigned(0))), (4, Pick(P::Assigned(1))), (2, Pick(P::Queue)), (1, Pick(P::NoServer))]
        }
        Action::Connect { .. } => &[(8, InProgress), (2, Done), (1, Refused), (1, NoResource)],
        Action::FinishConnect => &[(6, Done), (2, WouldBlock), (2, Refused)],
        Action::Recv { .. } => {
            &[(8, Data { full: false }), (3, Data { full: true }), (6, WouldBlock), (2, Eof), (1, Reset)]
        }
        Action::Send { .. } => {
            &[(8, Sent { drained: true }), (4, Sent { drained: false }), (4, WouldBlock), (1, Reset)]
        }
        Action::DataShutw(_) => &[(4, Done), (3, WouldBlock), (1, Reset)],
        Action::CheckSendQueue(_) => &[(4, Done), (3, WouldBlock), (1, Reset)],
        Action::Discard(_)
        | Action::CtrlShutw(_)
        | Action::DataClose(_)
        | Action::CtrlClose(_)
        | Action::SockClose { .. }
        | Action::ReleaseServer { .. }
        | Action::LeaveQueue => &[(1, Done)],
    };
    let total: u64 = choices.iter().map(|&(w, _)| w).sum();
    let mut roll = rng.below(total);
    for &(w, o) in choices {
        if roll < w {
            return o;
        }
        roll -= w;
    }
    unreachable!("the roll is below the total weight")
}

/// A check on one step of a walk: the session before, the action performed
/// and its outcome (`None` for an event: readiness, a timer, a dequeue), and
/// the session after.
pub type Check<'a> = dyn FnMut(&Session, Option<(Action, Outcome)>, &Session) + 'a;

/// What a walk saw.
#[derive(Debug, Default)]
pub struct WalkReport {
    /// Sessions that reached CLO on both sides.
    pub closed: usize,
    /// Actions performed in all.
    pub actions: usize,
    /// Every stream-interface move.
    pub moves: Vec<SiMove>,
}

/// Drives `walks` random sessions of configuration `cfg` and calls `check`
/// on the session before and after each action. Each walk feeds random
/// readiness, random plausible outcomes and random timers, then, after
/// `steps` events, lets every timer expire until the session closes.
pub fn random_walks(cfg: SessionConfig, seed: u64, walks: usize, steps: usize, check: &mut Check<'_>) -> WalkReport {
    random_walks_with(cfg, seed, walks, steps, &plausible_outcome, check)
}

/// [`random_walks`] with another source of outcomes.
pub fn random_walks_with(
    cfg: SessionConfig,
    seed: u64,
    walks: usize,
    steps: usize,
    outcome: &dyn Fn(&mut Rng, Action) -> Outcome,
    check: &mut Check<'_>,
) -> WalkReport {
    let mut rng = Rng::new(seed);
    let mut report = WalkReport::default();
    trace::start();
    for _ in 0..walks {
        let mut now: Millis = 0;
        let mut s = Session::accept(&cfg, now, rng.below(4) == 0);
        let mut turn = 0;
        while !s.is_closed() && turn < steps + 200 {
            turn += 1;
            let late = turn > steps;
            // Run to quiescence, as one event-loop turn does.
            let mut budget = 64;
            while let Some(a) = s.poll_action(&cfg) {
                budget -= 1;
                assert!(budget > 0, "no quiescence after 64 actions: {s:#?}");
                let o = outcome(&mut rng, a);
                let before = s;
                s.handle_outcome(&cfg, a, o, now);
                report.actions += 1;
                check(&before, Some((a, o)), &s);
            }
            // Then an event.
            let before = s;
            // Mostly readiness; now and then a slot frees or the clock jumps to the next deadline.
            match if late { 19 } else { rng.below(20) } {
                0..=8 => s.handle_ready(&cfg, Side::Front, rng.below(2) == 0, rng.below(2) == 0, now),
                9..=17 => s.handle_ready(&cfg, Side::Back, rng.below(2) == 0, rng.below(2) == 0, now),
                18 if s.si(Side::Back) == SiState::Que => s.handle_dequeued(&cfg, rng.below(2) as u8, now),
                _ => {
                    now = s.next_deadline().unwrap_or(now + 1).max(now);
                    s.handle_timeout(&cfg, now);
                }
            }
            check(&before, None, &s);
        }
        assert!(s.is_closed(), "a walk never closed its session: {s:#?}");
        assert_eq!(s.poll_action(&cfg), None, "a closed session asks for nothing");
        report.closed += 1;
        trace::drain(&mut report.moves);
    }
    trace::stop();
    report
}

/// Neither channel holds data in its buffer and its pipe at once.
pub fn never_buffer_and_pipe(s: &Session) -> bool {
    Dir::BOTH.iter().all(|&d| {
        let c = s.chan(d);
        c.buf == Fill::Empty || c.pipe == Fill::Empty
    })
}
