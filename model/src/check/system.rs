//! The closed system the checker explores: for each session, a client, kernel
//! wires, the proxy (the core's [`Session`] plus an abstract runtime that
//! executes its actions, `exec.rs`), kernel wires, a server; timers; the
//! backend's servers, which sessions share.
//!
//! Environment actions are free (`peers.rs`): peers send, half-close, close,
//! abort, read or not, or stop acting for ever; the server accepts, refuses or
//! stays silent; slots free up. Time passes only while the proxy sleeps (no
//! proxy step enabled): then any armed timer may fire. The proxy's action runs
//! one session's core to quiescence, as one turn of the runtime's event loop
//! does: take the next action from [`Session::poll_action`], execute it
//! against the abstract kernel, feed the outcome back, repeat.
//!
//! Fairness (docs/model.md, "Fairness"): the proxy's steps are weakly fair
//! and so is every armed timer; nothing else is. A behaviour may therefore
//! end in any state where the proxy sleeps and no timer is armed
//! ([`SysState::stop`]), and liveness is judged there.
//!
//! Checks that need history (an operation moving backwards, a chunk out of
//! order, an RST that destroyed unread data) are made on every step and
//! recorded as violation bits ([`Violation`]); the properties read them.

use super::config::{Feature, ModelConfig};
use super::kernel::Chunk;
pub use super::state::*;
use crate::core::trace::{self, SiMove};
use crate::core::{
    Action, ChanFlags, DataLayer, Dir, FdState, Mutant, Op, Outcome, Session, SessionConfig, SiState, Side, TimerKind,
};

pub use super::describe::{describe, fmt_action, fmt_outcome};
pub use super::progress::measure;

/// Bound on the actions of one proxy turn; exceeding it is a busy loop.
pub const TURN_BOUND: usize = 64;

/// The system: configuration plus transition function.
#[derive(Clone, Debug)]
pub struct System {
    /// What is explored.
    pub cfg: ModelConfig,
    /// One core configuration per listener variant: see [`Env::variant`].
    configs: [SessionConfig<Mutant>; 8],
}

/// What a step reports about the core's inside ([`System::step_observed`]).
#[derive(Default)]
pub(super) struct Observer {
    /// Stream-interface moves, in order.
    pub(super) moves: Vec<SiMove>,
    /// The core after each of its steps, when asked for.
    pub(super) cores: Option<Vec<Session>>,
}

/// Readiness the kernel reports to the proxy while one action runs (an RST
/// provoked by a send).
#[derive(Default)]
pub(super) struct Events {
    front: (bool, bool),
    back: (bool, bool),
}

impl Events {
    pub(super) fn set(&mut self, side: Side, r: bool, w: bool) {
        let e = match side {
            Side::Front => &mut self.front,
            Side::Back => &mut self.back,
        };
        e.0 |= r;
        e.1 |= w;
    }

    fn get(&self, side: Side) -> (bool, bool) {
        match side {
            Side::Front => self.front,
            Side::Back => self.back,
        }
    }
}

impl System {
    /// A system for `cfg`.
    pub fn new(cfg: ModelConfig) -> System {
        let configs = std::array::from_fn(|i| cfg.session_config(i & 1 != 0, i & 2 != 0, i & 4 != 0));
        System { cfg, configs }
    }

    /// The core's configuration for a session's listener.
    pub fn session_config(&self, x: &Sess) -> &SessionConfig<Mutant> {
        &self.configs[x.env.variant()]
    }

    /// Every initial state: one per listener mode, monitor match, rule
    /// verdict and server occupancy the features allow.
    pub fn init_states(&self) -> Vec<SysState> {
        let c = &self.cfg;
        let mut modes = vec![(false, false)];
        if c.has(Feature::Health) {
            modes.push((true, false));
        }
        if c.has(Feature::Monitor) {
            modes.push((false, true));
        }
        let rejects: &[u8] = if c.has(Feature::Rules) {
            if c.has(Feature::ProxyIn) {
                &[0, 1, 2]
            } else {
                &[0, 1]
            }
        } else {
            &[0]
        };
        let busy: &[[bool; 2]] =
            if c.has(Feature::Queue) { &[[false, false], [true, true]] } else { &[[false, false]] };
        let mut out = Vec::new();
        let tls_fronts: &[bool] = if c.has(Feature::TlsFront) { &[false, true] } else { &[false] };
        let tls_backs: &[bool] = if c.has(Feature::TlsBack) { &[false, true] } else { &[false] };
        for &(health, monitor_match) in &modes {
            for &tls_front in tls_fronts {
                for &tls_back in tls_backs {
                    if health && tls_front {
                        // Health replies are never encrypted.
                        continue;
                    }
                    for &reject in rejects {
                        if (health || monitor_match) && reject != 0 {
                            continue;
                        }
                        for &b in busy {
                            if (health || monitor_match || reject != 0) && b != [false, false] {
                                continue;
                            }
                            let env = Env {
                                active: true,
                                health,
                                monitor_match,
                                tls_front,
                                tls_back,
                                reject,
                                ..Env::default()
                            };
                            let mut backend = Backend { ghosts: b, ..Backend::default() };
                            for (k, srv) in backend.servers.iter_mut().enumerate() {
                                srv.maxconn = 1;
                                srv.usable = k < usize::from(self.cfg.servers());
                                srv.active = u32::from(b[k]);
                            }
                            let mut s = SysState {
                                sess: [Sess::default(); SESSIONS],
                                backend,
                                violations: 0,
                                seen: 0,
                                quiet: false,
                                stop: false,
                            };
                            s.sess[0] = self.new_session(env);
                            if self.cfg.sessions >= 2 {
                                // A second client on the same listener: no
                                // check, no rule against it.
                                let second = Env { health: false, monitor_match: false, reject: 0, ..env };
                                s.sess[1] = self.new_session(second);
                            }
                            self.derive(&mut s);
                            out.push(s);
                        }
                    }
                }
            }
        }
        out
    }

    /// A session for a socket the listener just accepted.
    fn new_session(&self, env: Env) -> Sess {
        let mut x = Sess { env, ..Sess::default() };
        let scfg = *self.session_config(&x);
        trace::start();
        x.core = Session::accept(&scfg, 0, env.monitor_match);
        trace::stop();
        x.held.fd_open = [true, false];
        x.held.polled = [true, false];
        x
    }

    /// The enabled actions.
    pub fn enabled(&self, s: &SysState) -> Vec<SysAction> {
        let mut v = Vec::new();
        self.actions_into(s, &mut v);
        v
    }

    /// Whether session `x`'s core has an action to take.
    pub fn proxy_ready(&self, x: &Sess) -> bool {
        x.env.active && x.core.poll_action(self.session_config(x)).is_some()
    }

    /// Appends the enabled actions to `out`.
    pub fn actions_into(&self, s: &SysState, out: &mut Vec<SysAction>) {
        if s.violated(Violation::BusyLoop)
            || s.violated(Violation::NoProgress)
            || s.violated(Violation::TooManyAttempts)
        {
            // A busy loop, a cycle, or retries without end have no successor
            // worth exploring (the last would make the space infinite).
            return;
        }
        for (i, x) in s.sess.iter().enumerate().filter(|(_, x)| x.env.active) {
            let i = i as u8;
            if self.proxy_ready(x) {
                out.push(SysAction::ProxyRuns(i));
            }
            self.peer_actions(i, x, out);
        }
        for i in 0..2u8 {
            if s.backend.ghosts[i as usize] {
                out.push(SysAction::SlotFrees(i));
            }
        }
        if s.quiet {
            // Time passes only while the proxy sleeps.
            for (i, x) in s.sess.iter().enumerate().filter(|(_, x)| x.env.active) {
                for k in TimerKind::ALL {
                    if x.core.timer_armed(k) {
                        out.push(SysAction::TimerFires(i as u8, k));
                    }
                }
            }
        }
    }

    /// The successor of `s` by `a`, with the proxy's actions of a
    /// [`SysAction::ProxyRuns`] step reported to `log` when given.
    pub fn step(&self, s: &SysState, a: SysAction, log: Option<&mut Vec<(Action, Outcome)>>) -> SysState {
        self.step_recording(s, a, log, &mut Observer::default())
    }

    /// The successor of `s` by `a` (exactly the one [`System::step`]
    /// returns), with what happened inside the session's core during the
    /// step: every stream-interface move, in order, as recorded by [`trace`];
    /// and the core after each of its steps, in order (one per action of a
    /// proxy turn, then the final core; for an environment event, the final core).
    pub fn step_observed(&self, s: &SysState, a: SysAction) -> (SysState, Vec<SiMove>, Vec<Session>) {
        let mut obs = Observer { moves: Vec::new(), cores: Some(Vec::new()) };
        let n = self.step_recording(s, a, None, &mut obs);
        (n, obs.moves, obs.cores.unwrap_or_default())
    }

    fn step_recording(
        &self,
        s: &SysState,
        a: SysAction,
        mut log: Option<&mut Vec<(Action, Outcome)>>,
        obs: &mut Observer,
    ) -> SysState {
        let mut n = *s;
        trace::start();
        match a {
            SysAction::ProxyRuns(i) => self.proxy_turn(&mut n, i as usize, &mut log, obs),
            SysAction::SlotFrees(k) => self.slot_frees(&mut n, k, obs),
            SysAction::TimerFires(i, k) => self.timer_fires(&mut n, i as usize, k, obs),
            _ => self.env_action(&mut n, a, obs),
        }
        trace::stop();
        if measure(&n) <= measure(s) {
            n.violate(Violation::NoProgress);
        }
        self.check_servers(&mut n);
        self.derive(&mut n);
        n
    }

    /// Observable: no server holds more of the proxy's connections (and the
    /// other sessions') than its maxconn.
    fn check_servers(&self, n: &mut SysState) {
        for k in 0..usize::from(self.cfg.servers()) {
            let srv = n.backend.servers[k];
            let conns = u32::from(n.backend.ghosts[k])
                + n.sessions()
                    .filter(|x| x.held.fd_open[Side::Back as usize] && x.env.attempt_server == Some(k as u8))
                    .count() as u32;
            if srv.maxconn != 0 && conns > srv.maxconn {
                n.violate(Violation::MaxconnExceeded);
            }
        }
    }

    /// Recomputes the derived flags of `n` and, if the proxy sleeps, checks
    /// what may not be true of a sleeping proxy.
    fn derive(&self, n: &mut SysState) {
        n.quiet = !n.sess.iter().any(|x| self.proxy_ready(x));
        n.stop = n.quiet && !n.sessions().any(|x| x.core.timers().any_armed());
        if n.quiet {
            self.check_quiescent(n);
        }
    }

    /// A session outside the model leaves server `k`: the backend releases
    /// its slot, and the core decides whether a waiting session gets it.
    fn slot_frees(&self, n: &mut SysState, k: u8, obs: &mut Observer) {
        n.backend.ghosts[k as usize] = false;
        let scfg = *self.session_config(&n.sess[0]);
        if let Some(j) = crate::core::backend::release(&scfg, &mut n.backend, k) {
            self.hand_slot(n, usize::from(j), k, obs);
        }
    }

    /// The backend handed server `k`'s slot to waiting session `j`.
    pub(super) fn hand_slot(&self, n: &mut SysState, j: usize, k: u8, obs: &mut Observer) -> usize {
        if j >= SESSIONS || !n.sess[j].env.active {
            n.violate(Violation::FillMismatch);
            return j;
        }
        if n.backend.stops_waiting(j as u8) {
            n.violate(Violation::QueueOrder);
        }
        n.witness(Witness::Queued);
        if n.backend.waiting_len > 0 {
            n.witness(Witness::HandedOver);
        }
        let before = n.sess[j];
        if n.sess[j].env.slot.replace(k).is_some() {
            n.violate(Violation::FillMismatch);
        }
        let x = &mut n.sess[j];
        x.held.queue_moves += 1;
        let scfg = *self.session_config(x);
        x.core.handle_dequeued(&scfg, k, 0);
        self.check_core_step(n, j, &before, obs);
        j
    }

    fn timer_fires(&self, n: &mut SysState, i: usize, k: TimerKind, obs: &mut Observer) {
        let before = n.sess[i];
        match k {
            TimerKind::Connect => n.witness(Witness::ConnectTimeout),
            TimerKind::ClientFin | TimerKind::ServerFin => n.witness(Witness::FinTimeout),
            TimerKind::Client | TimerKind::Server if before.core.started() => n.witness(Witness::IdleTimeout),
            _ => {}
        }
        self.excuse_timer(n, i, k);
        let x = &mut n.sess[i];
        if matches!(k, TimerKind::TurnAround | TimerKind::Connect) {
            // Time passed on this attempt: the turn-around delay, or the
            // connect timeout (at least as long), before any refusal came.
            x.env.waited = true;
        }
        let scfg = *self.session_config(x);
        x.core.fire_timer(&scfg, k, 0);
        self.check_core_step(n, i, &before, obs);
    }

    // ------------------------------------------------------------------
    // The proxy's turn.
    // ------------------------------------------------------------------

    /// Runs session `i` until its core waits, then every session the
    /// backend handed a freed slot to during it (the runtime's `run_work`).
    fn proxy_turn(
        &self,
        n: &mut SysState,
        i: usize,
        log: &mut Option<&mut Vec<(Action, Outcome)>>,
        obs: &mut Observer,
    ) {
        let mut work = vec![i];
        while let Some(j) = work.pop() {
            self.run_session(n, j, &mut work, log, obs);
        }
    }

    fn run_session(
        &self,
        n: &mut SysState,
        i: usize,
        work: &mut Vec<usize>,
        log: &mut Option<&mut Vec<(Action, Outcome)>>,
        obs: &mut Observer,
    ) {
        let scfg = *self.session_config(&n.sess[i]);
        let mut count = 0;
        while let Some(action) = n.sess[i].core.poll_action(&scfg) {
            count += 1;
            if count > TURN_BOUND {
                n.violate(Violation::BusyLoop);
                return;
            }
            let before = n.sess[i];
            let mut events = Events::default();
            let (outcome, handed) = self.execute(n, i, action, &mut events, obs);
            if let Some(j) = handed {
                work.push(j);
            }
            if let Some(l) = log.as_deref_mut() {
                l.push((action, outcome));
            }
            let x = &mut n.sess[i];
            x.core.handle_outcome(&scfg, action, outcome, 0);
            for side in Side::BOTH {
                let (r, w) = events.get(side);
                if r || w {
                    self.notify(x, side, r, w);
                }
            }
            self.check_core_step(n, i, &before, obs);
        }
    }

    /// The poller reports `side`'s socket: only while it is open and still
    /// registered (the conformance replay found the model notifying a
    /// socket the proxy had closed).
    pub(super) fn notify(&self, x: &mut Sess, side: Side, readable: bool, writable: bool) {
        if !x.held.fd_open[side as usize] || !x.held.polled[side as usize] {
            return;
        }
        let scfg = *self.session_config(x);
        x.core.handle_ready(&scfg, side, readable, writable, 0);
    }

    /// Whether the handshake on `side` is complete, from what the runtime
    /// holds (the header parsed, the rules passed, TLS up, the header sent).
    pub(super) fn handshake_done(&self, x: &Sess, side: Side) -> bool {
        let scfg = self.session_config(x);
        if x.is_check() {
            return false;
        }
        match side {
            Side::Front => {
                (!scfg.accept_proxy || x.held.hdr_ok)
                    && (!scfg.tls_front || x.held.tls[0] == TLS_UP)
                    && (!scfg.conn_rules || x.held.rules_ok & 1 != 0)
                    && (!scfg.src_rules || x.held.rules_ok & 2 != 0)
            }
            Side::Back => (!scfg.send_proxy || x.held.sent_back) && (!scfg.tls_back || x.held.tls[1] == TLS_UP),
        }
    }

    // ------------------------------------------------------------------
    // Checks made after every step of a core.
    // ------------------------------------------------------------------

    /// Checks session `i`'s core step from `before`, reporting it to `obs`.
    /// These read the core's bookkeeping: they are the internal-consistency
    /// checks, and no mutant may be refuted by them alone.
    pub(super) fn check_core_step(&self, n: &mut SysState, i: usize, before: &Sess, obs: &mut Observer) {
        let first = obs.moves.len();
        trace::drain(&mut obs.moves);
        let x = n.sess[i];
        if let Some(cores) = obs.cores.as_mut() {
            cores.push(x.core);
        }
        if obs.moves[first..].iter().any(|m| !m.from.may_move_to(m.to)) {
            n.violate(Violation::IllegalSiMove);
        }
        for side in Side::BOTH {
            let c = *x.core.conn(side);
            let b = before.core.conn(side);
            let same_conn = side == Side::Front || before.core.attempts() == x.core.attempts();
            if same_conn && Op::ALL.iter().any(|&op| c.ops.get(op).rank() < b.ops.get(op).rank()) {
                n.violate(Violation::OpBackwards);
            }
            let o = c.ops;
            let ordered = (!o.done(Op::SockClose) || o.done(Op::CtrlClose))
                && (!o.done(Op::CtrlClose) || o.done(Op::DataClose))
                && (!o.done(Op::CtrlShutw) || o.done(Op::DataShutw))
                && (!o.done(Op::CtrlShutr) || o.done(Op::DataShutr));
            if !ordered {
                n.violate(Violation::LayerOrder);
            }
        }
        for dir in Dir::BOTH {
            let ch = x.core.chan(dir);
            let d = dir as usize;
            if !fill_matches(ch.buf, x.held.buf[d].len(), self.cfg.buf_cap)
                || !fill_matches(ch.pipe, x.held.pipe[d].len(), self.cfg.pipe_cap)
            {
                n.violate(Violation::FillMismatch);
            }
        }
    }

    /// What may not be true while the proxy sleeps.
    fn check_quiescent(&self, n: &mut SysState) {
        // Observable: a client told to wait while a server has room.
        if n.backend.waiting_len > 0 && n.backend.slot_free(usize::from(self.cfg.servers())) {
            n.violate(Violation::Starved);
        }
        for i in 0..SESSIONS {
            let x = n.sess[i];
            if !x.env.active {
                continue;
            }
            // Observable: an open socket and nothing to wake the proxy but
            // its peers, who may never act again.
            if x.held.fd_open.contains(&true) && !x.core.timers().any_armed() {
                n.violate(Violation::SleepsWithoutTimer);
            }
            // Observable: data or an end of stream the proxy could move itself.
            if x.is_proxied() && Dir::BOTH.iter().any(|&d| self.moving(&x, d)) {
                n.violate(Violation::Stalled);
            }
            for side in Side::BOTH {
                self.check_quiescent_side(n, &x, side);
            }
        }
    }

    /// The internal-consistency checks of a sleeping proxy, one side.
    fn check_quiescent_side(&self, n: &mut SysState, x: &Sess, side: Side) {
        let c = x.core.conn(side);
        let open = x.held.fd_open[side as usize] && x.held.polled[side as usize];
        if !open {
            return;
        }
        let who = peer_of(side);
        let input = x.core.chan(side.input());
        let output = x.core.chan(side.output());
        let up = x.up(who);
        // A lone first half of a PROXY header is read with MSG_PEEK and left
        // on the wire: EMPTY_IN rightly waits for the rest.
        let peeked_prefix = up.q.len() == 1 && up.q.peek() == Some(Chunk::HDR_HEAD) && !up.fin && !up.rst;
        if input.has(ChanFlags::EMPTY_IN) && up.readable() && !peeked_prefix && !c.shr() && !c.closing() {
            n.violate(Violation::StaleEmptyIn);
        }
        let connected = side == Side::Front || x.env.accepted;
        let down = x.down(who);
        if output.has(ChanFlags::FULL_OUT) && connected && !down.full(self.cfg.wire_cap) && !c.closing() {
            n.violate(Violation::StaleFullOut);
        }
        let ops = c.ops;
        let writable = !output.has(ChanFlags::FULL_OUT);
        let pending_step = if c.closing() {
            !ops.done(Op::SockClose)
        } else if ops.pending(Op::DataShutw) {
            c.data == DataLayer::Tls && writable
        } else {
            ops.done(Op::DataShutw) && ops.pending(Op::CtrlShutw)
        };
        if pending_step && c.is_open() {
            n.violate(Violation::PendingStepIdle);
        }
        // A half-closed or draining connection that waits for its peer is
        // bounded by a timer: its fin timer once the proxy shut its side (or
        // drains); its inactivity timer or the fin timer while the peer's
        // side is shut and the proxy still sends.
        let live = c.is_open() && !c.closing();
        let relevant = match side {
            Side::Front => live,
            Side::Back => live && x.core.si(Side::Back) == SiState::Est,
        };
        let (fin, idle) = match side {
            Side::Front => (TimerKind::ClientFin, TimerKind::Client),
            Side::Back => (TimerKind::ServerFin, TimerKind::Server),
        };
        let bounded = if (c.shw() && !c.shr()) || c.draining() {
            x.core.timer_armed(fin)
        } else if c.shr() && !c.shw() {
            x.core.timer_armed(fin) || x.core.timer_armed(idle)
        } else {
            true
        };
        if relevant && !bounded {
            n.violate(Violation::HalfClosedUnbounded);
        }
    }

    /// Whether the proxy could move something of `dir` by itself: data it
    /// holds towards a peer whose socket has room, data waiting on the
    /// sender's wire with room to take it, or an end of stream it read and
    /// has not passed on. Read from the kernel and the runtime only.
    pub(super) fn moving(&self, x: &Sess, dir: Dir) -> bool {
        let (p, c) = (sender(dir), receiver(dir));
        let (ps, cs) = (p.side() as usize, c.side() as usize);
        let d = dir as usize;
        let cap = self.cfg.wire_cap;
        let held = x.held.buf[d].len() + x.held.pipe[d].len();
        let down = x.down(c);
        let c_ready = x.held.fd_open[cs]
            && (c == Who::Client || x.env.accepted)
            && self.handshake_done(x, c.side())
            && !x.held.fin_out[cs]
            && !x.peer(c).closed
            && !down.rst
            && !x.up(c).refuses_sends()
            && x.core.si(c.side()) == SiState::Est;
        // Held data, and room at the receiver.
        if held > 0 && c_ready && !down.full(cap) {
            return true;
        }
        // Data on the sender's wire, and room in the channel.
        let up = x.up(p);
        let room = (x.held.pipe[d].is_empty() && x.held.buf[d].len() < self.cfg.buf_cap)
            || (x.held.buf[d].is_empty() && !x.held.pipe[d].is_empty() && x.held.pipe[d].len() < self.cfg.pipe_cap);
        let p_ready = x.held.fd_open[ps]
            && (p == Who::Client || x.env.accepted)
            && self.handshake_done(x, Side::Front)
            && self.handshake_done(x, p.side())
            && x.held.end[ps] == 0
            && !(up.rst && up.q.is_empty());
        let data_waits = up.q.peek().and_then(|ch| ch.data_id()).is_some();
        if data_waits && p_ready && room {
            return true;
        }
        // The sender's end of stream waits at the head of its wire.
        let end_waits = (up.q.is_empty() && up.fin) || up.q.peek() == Some(Chunk::CLOSE_NOTIFY);
        if end_waits && p_ready && room {
            return true;
        }
        // An end of stream read and not passed on. A reset passed on as an
        // RST (propagate-abort) waits for the receiver to read what it holds:
        // only its read can move it.
        let rst_waits = x.held.rst_seen[ps] && !down.q.is_empty();
        if x.held.end[ps] != 0 && held == 0 && c_ready && !rst_waits {
            let needs_cn = x.tls_peer(c) && x.held.end[ps] == END_CLEAN;
            let cn_out = down.q.iter().any(|ch| ch == Chunk::CLOSE_NOTIFY) || x.peer(c).got_cn;
            if !needs_cn || cn_out || !down.full(cap) {
                return true;
            }
        }
        false
    }
}

fn fill_matches(f: crate::core::Fill, len: u8, cap: u8) -> bool {
    match f {
        crate::core::Fill::Empty => len == 0,
        crate::core::Fill::Some => len > 0 && len < cap,
        crate::core::Fill::Full => len >= cap,
    }
}

/// The side whose handshake `a` advances, if it is a handshake step.
pub(super) fn handshake_side(a: Action) -> Option<Side> {
    match a {
        Action::RecvProxyHeader => Some(Side::Front),
        Action::TlsHandshake(side) => Some(side),
        _ => None,
    }
}

/// Whether the proxy side facing `who` existed (the server side exists once
/// the server accepted).
pub(super) fn side_existed(x: &Sess, side: Side) -> bool {
    match side {
        Side::Front => true,
        Side::Back => x.env.accepted,
    }
}

/// The peer side's socket as the core sees it is closed.
pub(super) fn core_closed(x: &Sess, side: Side) -> bool {
    x.core.conn(side).fd == FdState::Closed
}
