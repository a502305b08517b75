//! The inputs that are not answers to an action: readiness, a queue slot,
//! timers, and the proxy's stop.

use super::{Session, Side};
use crate::core::channel::ChanFlags;
use crate::core::config::{Bugs, Mutant, SessionConfig};
use crate::core::connection::PendingRst;
use crate::core::op::{Op, OpStatus};
use crate::core::termination::{Cause, Phase};
use crate::core::timers::TimerKind;
use crate::core::{Millis, SiState};

impl Session {
    /// The poller reported `side` readable and/or writable (a hangup or error
    /// counts as readable: the next recv tells what happened).
    pub fn handle_ready<B: Bugs>(
        &mut self,
        cfg: &SessionConfig<B>,
        side: Side,
        readable: bool,
        writable: bool,
        now: Millis,
    ) {
        if readable {
            self.chan_mut(side.input()).flags.clear(ChanFlags::EMPTY_IN);
            let c = self.conn_mut(side);
            if cfg.mutant.has(Mutant::ShutwRepeated) && c.ops.done(Op::CtrlShutw) && !c.closing() {
                // The bug: the completed shutw is forgotten (01 -> 00).
                c.ops.set(Op::DataShutw, OpStatus::NotDesired);
                c.ops.set(Op::CtrlShutw, OpStatus::NotDesired);
            }
        }
        if writable && !(side == Side::Front && cfg.mutant.has(Mutant::LostWriteWakeup)) {
            self.chan_mut(side.output()).flags.clear(ChanFlags::FULL_OUT);
        }
        if writable && self.conn(side).rst == PendingRst::AwaitingAck {
            // The peer may have acknowledged more: look at the queue again.
            self.conn_mut(side).rst = PendingRst::Scheduled;
        }
        self.update(cfg, now);
    }

    /// A queued session was given a slot on `server` by the balancer.
    pub fn handle_dequeued<B: Bugs>(&mut self, cfg: &SessionConfig<B>, server: u8, now: Millis) {
        // The slot is this session's now, whatever it is doing: a session
        // that left QUE meanwhile (its hand-off crossed its timeout) gives
        // it back (`poll_action`).
        self.queued = false;
        self.server = Some(server);
        if self.si_back == SiState::Que {
            self.set_si(cfg, Side::Back, SiState::Ass);
        }
        self.update(cfg, now);
    }

    /// The clock passed some deadlines: fires every expired timer.
    pub fn handle_timeout<B: Bugs>(&mut self, cfg: &SessionConfig<B>, now: Millis) {
        let mut expired = [None; 8];
        for (i, k) in self.timers.expired(now).enumerate() {
            expired[i] = Some(k);
        }
        for kind in expired.into_iter().flatten() {
            if self.timers.is_armed(kind) {
                self.fire_timer(cfg, kind, now);
            }
        }
    }

    /// Timer `kind` expired.
    pub fn fire_timer<B: Bugs>(&mut self, cfg: &SessionConfig<B>, kind: TimerKind, now: Millis) {
        if !self.timers.is_armed(kind) {
            return;
        }
        self.timers.disarm(kind);
        match kind {
            TimerKind::Handshake if cfg.mutant.has(Mutant::HandshakeTimerRearms) => {
                // The bug: nothing happens, and update() arms it again.
            }
            TimerKind::Handshake => {
                // The handshake handlers did not finish in time.
                self.term.record(Cause::ClientTimeout, Phase::Request);
                self.abort(cfg, Side::Front);
            }
            TimerKind::Connect => {
                // The attempt is abandoned: its socket is closed, CER decides.
                self.connect_failed(cfg, Cause::ServerTimeout);
            }
            TimerKind::Queue => {
                self.term.record(Cause::ServerTimeout, Phase::Queue);
                self.give_up_server(cfg);
            }
            TimerKind::TurnAround => {
                if self.si_back == SiState::Tar {
                    let to = if self.server.is_some() { SiState::Ass } else { SiState::Req };
                    self.set_si(cfg, Side::Back, to);
                }
            }
            // An inactivity timeout cuts the idle side only. The other side
            // ends gracefully through the ordinary rules (its channel's input
            // is cut: what was taken is flushed, then a FIN without a
            // close_notify; what comes back is drained until its FIN or its
            // fin timer), so nothing its peer already received is destroyed.
            TimerKind::Client => {
                self.term.record(Cause::ClientTimeout, self.phase());
                self.abort(cfg, Side::Front);
            }
            TimerKind::Server => {
                self.term.record(Cause::ServerTimeout, self.phase());
                self.abort(cfg, Side::Back);
            }
            TimerKind::ClientFin => {
                self.term.record(Cause::ClientTimeout, Phase::Close);
                self.abort(cfg, Side::Front);
            }
            TimerKind::ServerFin => {
                self.term.record(Cause::ServerTimeout, Phase::Close);
                self.abort(cfg, Side::Back);
            }
        }
        self.update(cfg, now);
    }

    /// The proxy is stopping and the grace period is over: both sides are
    /// closed abortively, in the ordinary close order (their pending shutdown
    /// steps complete as part of the close), and the session ends with `K`.
    /// The runtime's input only; the model does not stop the proxy.
    pub fn handle_kill<B: Bugs>(&mut self, cfg: &SessionConfig<B>, now: Millis) {
        self.term.record(Cause::Killed, self.phase());
        self.abort(cfg, Side::Front);
        self.abort(cfg, Side::Back);
        self.update(cfg, now);
    }
}
