//! The sequencing core (`connseq_model::core::Session`) under arbitrary sequences of
//! readiness events, action outcomes, timer firings, dequeues and kills, fed through its public
//! API only, with the model's invariants asserted after every step: a differential fuzzer, the
//! core against the model's properties, far beyond the model's bounds (any configuration, any
//! number of retries, data and events, and time as real milliseconds).
//!
//! The invariants live in this file on purpose ([`Watch`]): when the core's API changes, this
//! is the one place to adapt. Each names the model's property it stands for
//! (`model/src/check/properties.rs`, docs/model.md).
//!
//! `CONNSEQ_FUZZ_MUTANT=NAME` runs the target against one of the core's deliberate bugs
//! (`connseq check --list-mutants`), to show that these checks catch it.
//!
//! Input layout: 11 bytes of configuration (handlers, splice, queue, retries, timeouts), then
//! one byte per decision: the outcome of each action the core asks for (chosen among those the
//! runtime can report for it, `impl/src/runtime/exec/`), and between two quiescent points
//! one event. When the input runs out, the peers go silent (every I/O answers EAGAIN) and only
//! timers fire: the session must then close by itself, both stream interfaces in CLO.

#![no_main]

use connseq_model::core::trace::{self, SiMove};
use connseq_model::core::{
    Action, Balance, Cause, Dir, Fill, Millis, Mutant, Op, Outcome, Phase, Pick, Session, SessionConfig, SiState, Side,
    Source, SpliceMode, Timeouts, TimerKind,
};
use libfuzzer_sys::fuzz_target;

/// The core under test: the correct one, or the mutant `CONNSEQ_FUZZ_MUTANT` names.
fn mutant() -> Mutant {
    static MUTANT: std::sync::OnceLock<Mutant> = std::sync::OnceLock::new();
    *MUTANT.get_or_init(|| match std::env::var("CONNSEQ_FUZZ_MUTANT") {
        Ok(name) => name.parse().unwrap_or_else(|e| panic!("CONNSEQ_FUZZ_MUTANT: {e}")),
        Err(_) => Mutant::None,
    })
}

/// Servers in the backend the pick outcomes choose from.
const SERVERS: u8 = 3;
/// Timer firings allowed once the peers went silent, before the session must have closed.
const SILENT_FIRINGS: usize = 64;
/// Actions one quiescence may take before the driver calls it a livelock. A real turn moves a
/// bounded amount of data; the fuzzer may answer `Data` thousands of times in a row, which is
/// progress, so this is only a guard against a core that never waits.
const ACTIONS_PER_TURN: usize = 100_000;

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes { data, pos: 0 };
    let Some((cfg, monitor_match)) = config(&mut input) else { return };
    trace::start();
    let mut w = Watch::new(cfg, monitor_match);
    let mut killed = false;
    while !input.is_empty() && !w.s.is_closed() {
        w.run_to_quiescence(&mut input);
        if input.is_empty() {
            break;
        }
        killed = w.event(&mut input);
        if killed {
            break;
        }
    }
    w.run_to_quiescence(&mut input);
    if killed {
        assert!(w.s.is_closed(), "a killed session did not close in one turn: {:#?}", w.s);
    } else {
        w.silent_peers_until_closed();
    }
    w.check_final();
    trace::stop();
});

/// The input, read one decision at a time; empty once used up.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        self.pos += usize::from(b.is_some());
        b
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// The listener configuration and whether the client's source matches monitor-net.
fn config(input: &mut Bytes<'_>) -> Option<(SessionConfig<Mutant>, bool)> {
    let a = input.byte()?;
    let b = input.byte()?;
    let c = input.byte()?;
    let bit = |x: u8, i: u8| x & (1 << i) != 0;
    let mut t = [0 as Millis; 8];
    for slot in &mut t {
        // 1 to 766 ms: distinct enough that every order of expiry shows up.
        *slot = 1 + Millis::from(input.byte()?) * 3;
    }
    let timeouts = Timeouts {
        handshake: t[0],
        connect: t[1],
        queue: t[2],
        turn_around: t[3],
        client: t[4],
        server: t[5],
        client_fin: t[6],
        server_fin: t[7],
    };
    let cfg = SessionConfig {
        health: bit(a, 0),
        monitor: bit(a, 1),
        conn_rules: bit(a, 2),
        accept_proxy: bit(a, 3),
        src_rules: bit(a, 4),
        tls_front: bit(a, 5),
        tls_back: bit(a, 6),
        send_proxy: bit(a, 7),
        splice: [SpliceMode::Never, SpliceMode::Auto, SpliceMode::Always, SpliceMode::Auto][usize::from(b & 3)],
        queue: bit(b, 2),
        redispatch: bit(b, 3),
        turn_around: bit(b, 4),
        balance: if bit(b, 5) { Balance::LeastConn } else { Balance::RoundRobin },
        retries: c % 5,
        timeouts,
        propagate_abort: bit(b, 7),
        mutant: mutant(),
    };
    Some((cfg, bit(b, 6)))
}

/// What the runtime can report for `action` (`impl/src/runtime/exec/`), successes first.
fn outcomes(action: Action) -> &'static [Outcome] {
    use Outcome::*;
    match action {
        Action::RecvProxyHeader => &[Done, WouldBlock, EofEmpty, Eof, Reset, Invalid],
        Action::EvalRules(_) => &[Verdict(true), Verdict(false)],
        Action::TlsHandshake(_) => &[Done, WouldBlock, WantWrite, Eof, Truncated, Reset, Invalid],
        Action::PickServer { .. } => &[
            Pick(connseq_model::core::Pick::Assigned(0)),
            Pick(connseq_model::core::Pick::Assigned(1)),
            Pick(connseq_model::core::Pick::Assigned(2)),
            Pick(connseq_model::core::Pick::Queue),
            Pick(connseq_model::core::Pick::NoServer),
        ],
        Action::Connect { .. } => &[InProgress, Done, Refused, NoResource],
        Action::FinishConnect => &[Done, WouldBlock, Refused],
        Action::Recv { .. } => &[Data { full: false }, Data { full: true }, WouldBlock, Eof, Truncated, Reset],
        Action::Send { from: Source::Reply, .. } => &[Sent { drained: true }, WouldBlock, Reset],
        Action::Send { .. } => &[Sent { drained: true }, Sent { drained: false }, WouldBlock, Reset],
        Action::DataShutw(_) | Action::CheckSendQueue(_) => &[Done, WouldBlock, Reset],
        Action::Discard(_)
        | Action::CtrlShutw(_)
        | Action::DataClose(_)
        | Action::CtrlClose(_)
        | Action::SockClose { .. }
        | Action::ReleaseServer { .. }
        | Action::LeaveQueue => &[Done],
    }
}

/// What silent peers answer: nothing to read, no room to write, no answer to a connect; the
/// balancer and the rules say yes.
fn silent(action: Action) -> Outcome {
    match action {
        Action::EvalRules(_) => Outcome::Verdict(true),
        Action::PickServer { .. } => Outcome::Pick(Pick::Assigned(0)),
        Action::Connect { .. } => Outcome::InProgress,
        Action::TlsHandshake(_)
        | Action::RecvProxyHeader
        | Action::FinishConnect
        | Action::Recv { .. }
        | Action::Send { .. }
        | Action::DataShutw(_)
        | Action::CheckSendQueue(_) => Outcome::WouldBlock,
        Action::Discard(_)
        | Action::CtrlShutw(_)
        | Action::DataClose(_)
        | Action::CtrlClose(_)
        | Action::SockClose { .. }
        | Action::ReleaseServer { .. }
        | Action::LeaveQueue => Outcome::Done,
    }
}

/// The session under test, what the runtime around it would know, and the invariants.
struct Watch {
    cfg: SessionConfig<Mutant>,
    s: Session,
    now: Millis,
    /// Each side's socket exists (the core's view: from accept, and from a connect that did
    /// not fail for lack of resources, until its SockClose).
    fd_open: [bool; 2],
    /// The server slot the session holds, as the balancer counts it.
    slot: Option<u8>,
    moves: Vec<SiMove>,
}

impl Watch {
    fn new(cfg: SessionConfig<Mutant>, monitor_match: bool) -> Watch {
        let s = Session::accept(&cfg, 0, monitor_match);
        let mut w = Watch { cfg, s, now: 0, fd_open: [true, false], slot: None, moves: Vec::new() };
        w.check_step(&s, None);
        w
    }

    /// Runs the core until it waits, as one turn of the event loop does.
    fn run_to_quiescence(&mut self, input: &mut Bytes<'_>) {
        for _ in 0..ACTIONS_PER_TURN {
            let Some(action) = self.s.poll_action(&self.cfg) else { return };
            let outcome = match input.byte() {
                Some(b) => {
                    let choices = outcomes(action);
                    choices[usize::from(b) % choices.len()]
                }
                None => silent(action),
            };
            self.perform(action, outcome);
        }
        panic!("no quiescence after {ACTIONS_PER_TURN} actions: {:#?}", self.s);
    }

    fn perform(&mut self, action: Action, outcome: Outcome) {
        self.check_action(action);
        let before = self.s;
        self.s.handle_outcome(&self.cfg, action, outcome, self.now);
        self.account(&before, action, outcome);
        self.check_step(&before, Some((action, outcome)));
        if matches!(outcome, Outcome::WouldBlock | Outcome::WantWrite) && self.s == before {
            // Invariant (model: "every step makes progress and the proxy reaches quiescence"):
            // an EAGAIN that changed nothing would be asked again at once, for ever.
            assert_ne!(self.s.poll_action(&self.cfg), Some(action), "{action:?} spins on {outcome:?}: {:#?}", self.s);
        }
    }

    /// One event between two turns; true if it was the stop's kill.
    fn event(&mut self, input: &mut Bytes<'_>) -> bool {
        let Some(e) = input.byte() else { return false };
        let arg = input.byte().unwrap_or(0);
        let before = self.s;
        let cfg = self.cfg;
        match e % 16 {
            0..=4 => self.ready(Side::Front, arg),
            5..=9 => self.ready(Side::Back, arg),
            10 => {
                // The model's timers: any armed timer may fire at any step.
                let kind = TimerKind::ALL[usize::from(arg) % TimerKind::ALL.len()];
                self.s.fire_timer(&cfg, kind, self.now);
            }
            11 => {
                // The runtime's timers: the clock reaches the next deadline.
                self.now = self.s.next_deadline().map_or(self.now + 1, |d| d.max(self.now));
                self.s.handle_timeout(&cfg, self.now);
            }
            12 if self.s.si(Side::Back) == SiState::Que => {
                // A slot freed for this queued session (the runtime checks it still waits).
                let server = arg % SERVERS;
                self.s.handle_dequeued(&cfg, server, self.now);
                if before.si(Side::Back) == SiState::Que && self.s.si(Side::Back) == SiState::Ass {
                    assert!(self.slot.is_none(), "a queued session already held a slot");
                    self.slot = Some(server);
                }
            }
            13 => {
                self.s.handle_kill(&cfg, self.now);
                self.check_step(&before, None);
                return true;
            }
            _ => {
                // Time passes with nothing due, or something due.
                self.now += Millis::from(arg);
                self.s.handle_timeout(&cfg, self.now);
            }
        }
        self.check_step(&before, None);
        false
    }

    /// The poller reports `side`: only while its socket is open and registered (after CCLO
    /// the poller reports nothing).
    fn ready(&mut self, side: Side, bits: u8) {
        if !self.fd_open[side as usize] || self.s.conn(side).ops.done(Op::CtrlClose) {
            return;
        }
        let (readable, writable) = (bits & 1 != 0, bits & 2 != 0);
        self.s.handle_ready(&self.cfg, side, readable || !writable, writable, self.now);
    }

    /// Silent peers, timers only: the session closes within [`SILENT_FIRINGS`] firings, and
    /// whenever it waits, a timer is armed.
    fn silent_peers_until_closed(&mut self) {
        let mut none = Bytes { data: &[], pos: 0 };
        for _ in 0..SILENT_FIRINGS {
            self.run_to_quiescence(&mut none);
            if self.s.is_closed() {
                return;
            }
            // Invariant (model: liveness under timer fairness): a session that waits with
            // silent peers and no timer armed would wait for ever.
            let Some(deadline) = self.s.next_deadline() else {
                panic!("the session waits with no timer armed: {:#?}", self.s)
            };
            let before = self.s;
            self.now = deadline.max(self.now);
            self.s.handle_timeout(&self.cfg, self.now);
            self.check_step(&before, None);
        }
        panic!("not closed after {SILENT_FIRINGS} timer firings: {:#?}", self.s);
    }

    // ------------------------------------------------------------------
    // The invariants.
    // ------------------------------------------------------------------

    /// Before `action` runs. Model: "no I/O on a closed FD".
    fn check_action(&self, action: Action) {
        let side = match action {
            Action::RecvProxyHeader => Some(Side::Front),
            Action::FinishConnect => Some(Side::Back),
            Action::TlsHandshake(side)
            | Action::Recv { side, .. }
            | Action::Send { side, .. }
            | Action::DataShutw(side)
            | Action::CtrlShutw(side)
            | Action::DataClose(side)
            | Action::CtrlClose(side)
            | Action::SockClose { side, .. }
            | Action::CheckSendQueue(side) => Some(side),
            Action::Connect { server } => {
                assert!(!self.fd_open[Side::Back as usize], "connect while the last attempt's socket is open");
                assert_eq!(self.slot, Some(server), "connect to a server whose slot it does not hold");
                None
            }
            Action::EvalRules(_)
            | Action::PickServer { .. }
            | Action::Discard(_)
            | Action::ReleaseServer { .. }
            | Action::LeaveQueue => None,
        };
        if let Some(side) = side {
            assert!(self.fd_open[side as usize], "{action:?} on a closed socket: {:#?}", self.s);
        }
        if let Action::Send { side, from: Source::Buffer | Source::Pipe, .. } = action {
            assert!(!self.s.chan(side.output()).is_empty(), "{action:?} from an empty channel");
        }
    }

    /// What the runtime keeps: sockets and the server slot.
    fn account(&mut self, before: &Session, action: Action, outcome: Outcome) {
        match (action, outcome) {
            (Action::Connect { .. }, Outcome::NoResource) => {}
            (Action::Connect { .. }, _) => self.fd_open[Side::Back as usize] = true,
            (Action::SockClose { side, .. }, _) => self.fd_open[side as usize] = false,
            (Action::PickServer { .. }, Outcome::Pick(Pick::Assigned(server))) => {
                assert!(self.slot.is_none(), "a second slot taken while holding {:?}", self.slot);
                self.slot = Some(server);
            }
            (Action::ReleaseServer { server }, _) => {
                assert_eq!(self.slot, Some(server), "released a slot it does not hold");
                assert_eq!(before.server(), Some(server));
                self.slot = None;
            }
            _ => {}
        }
    }

    /// After every step.
    fn check_step(&mut self, before: &Session, step: Option<(Action, Outcome)>) {
        let s = &self.s;
        // Model: "a stream interface moves only along the note's transitions".
        let first = self.moves.len();
        trace::drain(&mut self.moves);
        for m in &self.moves[first..] {
            assert!(m.from.may_move_to(m.to), "{} => {} on the {} side after {step:?}", m.from, m.to, m.side);
        }
        for side in Side::BOTH {
            let (b, a) = (before.conn(side), s.conn(side));
            // Model: "an operation status only moves forward" (a new connect attempt starts a
            // new back connection).
            if side == Side::Front || before.attempts() == s.attempts() {
                for op in Op::ALL {
                    assert!(
                        a.ops.get(op).rank() >= b.ops.get(op).rank(),
                        "{side} {op:?} moved back from {} to {} after {step:?}",
                        b.ops.get(op),
                        a.ops.get(op)
                    );
                }
            }
            // Model: "layers close top-down".
            let o = a.ops;
            assert!(!o.done(Op::SockClose) || o.done(Op::CtrlClose), "{side}: socket closed before CCLO");
            assert!(!o.done(Op::CtrlClose) || o.done(Op::DataClose), "{side}: CCLO before DCLO");
            assert!(!o.done(Op::CtrlShutw) || o.done(Op::DataShutw), "{side}: CSHW before DSHW");
            assert!(!o.done(Op::CtrlShutr) || o.done(Op::DataShutr), "{side}: CSHR before DSHR");
        }
        // Model: "no chunk is lost, duplicated or reordered" needs the buffer empty before
        // the pipe is used, and the other way round.
        for dir in Dir::BOTH {
            let c = s.chan(dir);
            assert!(c.buf == Fill::Empty || c.pipe == Fill::Empty, "{dir}: data in the buffer and the pipe");
        }
        // Model: "no more connect attempts than the retry budget".
        assert!(s.attempts() <= 1 + self.cfg.retries, "{} attempts with {} retries", s.attempts(), self.cfg.retries);
        // The balancer and the session agree on the slot.
        assert_eq!(self.slot, s.server(), "the session's slot and the balancer's count disagree");
        // A termination code is two letters or none.
        let t = s.termination();
        assert_eq!(t.cause == Cause::Normal, t.phase == Phase::None, "half a termination code: {t}");
        // Model: "the proxy's RST never destroys data a peer has not read" rests on this: an
        // abortive close always has a recorded cause (a timeout, an abort, a rule, a kill).
        if let Some((Action::SockClose { abortive: true, side }, _)) = step {
            assert_ne!(t.cause, Cause::Normal, "an RST to the {side} peer with no cause: {:#?}", self.s);
        }
        // A closed session asks for nothing, holds nothing.
        if s.is_closed() {
            assert_eq!(s.poll_action(&self.cfg), None, "a closed session asks for more");
            assert!(self.slot.is_none() && !self.fd_open[0] && !self.fd_open[1]);
        }
        // Model: "every session ends with both stream interfaces in CLO and every FD closed":
        // once both sockets are closed and the core waits, the session is over.
        let quiescent = s.poll_action(&self.cfg).is_none();
        if quiescent && !self.fd_open[0] && !self.fd_open[1] && s.next_deadline().is_none() {
            assert!(s.is_closed(), "both sockets closed and nothing armed, yet not over: {:#?}", self.s);
        }
    }

    fn check_final(&self) {
        assert!(self.s.is_closed(), "not closed: {:#?}", self.s);
        assert_eq!((self.s.si(Side::Front), self.s.si(Side::Back)), (SiState::Clo, SiState::Clo));
        assert_eq!(self.s.poll_action(&self.cfg), None);
    }
}
