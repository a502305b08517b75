//! The consequences of every input that need no I/O, applied until nothing
//! changes (`Session::update`): instant handlers, retries, FIN propagation,
//! the close decision, stream-interface moves, timers.

use super::{Session, Side};
use crate::core::backend::{self, Retry};
use crate::core::channel::{ChanFlags, Dir};
use crate::core::config::{Bugs, Mutant, SessionConfig};
use crate::core::connection::{ConnState, Connection, DataLayer, PendingRst};
use crate::core::handshake::{Handler, HandlerSet, Reply};
use crate::core::op::{Op, OpStatus};
use crate::core::termination::{Cause, Phase};
use crate::core::timers::TimerKind;
use crate::core::{FdState, Millis, SiState};

impl Session {
    /// Applies every consequence that needs no I/O, until nothing changes:
    /// handlers that complete at once, FIN propagation, active shutr, the
    /// close decision, stream-interface moves, timers.
    pub(super) fn update<B: Bugs>(&mut self, cfg: &SessionConfig<B>, now: Millis) {
        let mut settled = false;
        for _ in 0..8 {
            let before = *self;
            self.run_instant_handlers(cfg);
            self.retry_after_failure(cfg);
            for dir in Dir::BOTH {
                self.update_channel(cfg, dir);
            }
            for side in Side::BOTH {
                self.update_connection(cfg, side);
            }
            self.update_stream_interfaces(cfg);
            if *self == before {
                settled = true;
                break;
            }
        }
        // Each pass only moves states forward: eight are more than any
        // chain of consequences needs. One that does not settle is a bug.
        debug_assert!(settled, "the session's update did not settle in 8 passes: {self:?}");
        self.update_timers(cfg, now);
    }

    /// HH_MONITOR_IN and HH_ACCEPT_SESSION need no I/O.
    fn run_instant_handlers<B: Bugs>(&mut self, cfg: &SessionConfig<B>) {
        if self.front.closing() || !self.front.is_open() {
            return;
        }
        let first = if cfg.mutant.has(Mutant::ForwardBeforeHandshake) && self.front.hs.has(Handler::AcceptSession) {
            Some(Handler::AcceptSession)
        } else {
            self.front.hs.first(&Handler::INCOMING)
        };
        match first {
            Some(Handler::MonitorIn) => {
                self.front.hs.remove(Handler::MonitorIn);
                if self.monitor_match {
                    // monitor-net has precedence over the PROXY header and the
                    // data layer: only the reply remains.
                    if !cfg.mutant.has(Mutant::ReplyThenSession) {
                        self.front.hs = HandlerSet::EMPTY;
                        self.front.data = DataLayer::Raw;
                        self.front.data_hs = OpStatus::NotDesired;
                    }
                    self.front.hs.add(Handler::SendLastChunk);
                    self.reply = Some(Reply::Monitor);
                }
            }
            Some(Handler::AcceptSession) => {
                self.front.hs = HandlerSet::EMPTY;
                self.set_conn_state(Side::Front, ConnState::Established);
                self.started = true;
                self.set_si(cfg, Side::Front, SiState::Est);
                self.set_si(cfg, Side::Back, SiState::Req);
            }
            // Handlers that need I/O or an answer from the runtime: see poll_action.
            Some(Handler::SendLastChunk)
            | Some(Handler::TcpRulesConn)
            | Some(Handler::AcceptProxy)
            | Some(Handler::TcpRules)
            | Some(Handler::SslHs)
            | Some(Handler::SendProxy)
            | None => {}
        }
    }

    /// CER: once the failed socket is closed, retry or give up.
    fn retry_after_failure<B: Bugs>(&mut self, cfg: &SessionConfig<B>) {
        if self.si_back != SiState::Cer || self.back.fd != FdState::Closed || self.retry_owed_from_cer(cfg) {
            return;
        }
        if self.front.closing() {
            // The client is gone: nobody to connect for.
            self.set_si(cfg, Side::Back, SiState::Clo);
            return;
        }
        let used = if cfg.mutant.has(Mutant::RetryWithoutBudget) { 0 } else { self.retries_used };
        let refused = self.fail_cause == Cause::Server;
        match backend::after_failure(cfg.retries, used, cfg.redispatch, cfg.turn_around && refused) {
            Retry::GiveUp => {
                let cause = self.fail_cause;
                self.term.record(cause, Phase::Connect);
                self.give_up_server(cfg);
            }
            Retry::SameServer => {
                self.retries_used = self.retries_used.saturating_add(1);
                self.set_si(cfg, Side::Back, SiState::Ass);
            }
            Retry::TurnAround => {
                self.retries_used = self.retries_used.saturating_add(1);
                self.set_si(cfg, Side::Back, SiState::Tar);
            }
            Retry::Redispatch => {
                self.retries_used = self.retries_used.saturating_add(1);
                self.failed_server = self.server;
                self.set_si(cfg, Side::Back, SiState::Req);
            }
        }
        if cfg.mutant.has(Mutant::RetryFromCer) && self.si_back == SiState::Tar {
            // The bug: it stays in CER and connects from there at once
            // (`retry_owed_from_cer`), without the turn-around delay.
            self.set_si(cfg, Side::Back, SiState::Cer);
        }
    }

    /// Mutant `retry-from-cer` only: a retry was decided (counted) and its
    /// connect is issued from CER itself.
    pub(super) fn retry_owed_from_cer<B: Bugs>(&self, cfg: &SessionConfig<B>) -> bool {
        cfg.mutant.has(Mutant::RetryFromCer) && self.si_back == SiState::Cer && self.attempts <= self.retries_used
    }

    /// Whether the consumer of `dir` will never take data again.
    pub(super) fn consumer_gone<B: Bugs>(&self, cfg: &SessionConfig<B>, dir: Dir) -> bool {
        let ch = self.chan(dir);
        if cfg.mutant.has(Mutant::DropTailOnShutr) && ch.has(ChanFlags::SHUT_IN) && !ch.is_empty() {
            return true;
        }
        let side = dir.consumer();
        let c = self.conn(side);
        match side {
            Side::Front => self.si_front == SiState::Clo || c.closing() || c.shw(),
            Side::Back => match self.si_back {
                SiState::Clo | SiState::Dis => true,
                SiState::Est => c.closing() || c.shw(),
                // A failed attempt keeps the request for the next one.
                _ => false,
            },
        }
    }

    fn update_channel<B: Bugs>(&mut self, cfg: &SessionConfig<B>, dir: Dir) {
        let prod = dir.producer();
        let cons = dir.consumer();
        let gone = self.consumer_gone(cfg, dir);
        if gone {
            self.chan_mut(dir).flags.set(ChanFlags::SHUT_OUT);
            // Active shutr on the producer: stop forwarding, drain its input
            // (the note's read_abort_pending), so that its eventual close
            // destroys nothing the peer sent.
            let p = self.conn(prod);
            if p.is_open() && !p.closing() && !p.shr() && self.started() {
                self.conn_mut(prod).ops.desire(Op::DataShutr);
            }
        }
        // FIN propagation: shutw the consumer once the producer is shut and
        // every byte before the FIN left the channel.
        let ch = *self.chan(dir);
        let flushed = ch.is_empty() || cfg.mutant.has(Mutant::FinBeforeFlush);
        let c = self.conn(cons);
        let ends = ch.has(ChanFlags::SHUT_IN) && flushed && !gone && c.carries_data() && self.si(cons) == SiState::Est;
        let fin_ordered = c.ops.get(Op::DataShutw).is_desired();
        if ends && ch.aborted && !fin_ordered && !cfg.mutant.has(Mutant::AbortAsFin) {
            // Abort propagation: the producer's peer reset its stream, so its
            // consumer's peer gets an RST instead of a FIN, scheduled behind
            // every byte already sent (the send queue must empty first).
            if c.rst == PendingRst::None {
                if cfg.mutant.has(Mutant::RstBeforeAck) {
                    // The bug: the RST at once, over data still in flight.
                    self.abort(cfg, cons);
                } else {
                    self.conn_mut(cons).rst = PendingRst::Scheduled;
                }
            }
            return;
        }
        if ends && !fin_ordered {
            let c = self.conn_mut(cons);
            c.ops.desire(Op::DataShutw);
            c.ops.desire(Op::CtrlShutw);
            if ch.has(ChanFlags::ERR_IN) {
                // The input did not end cleanly (reset, truncation, cut by a
                // timer): no close_notify, so a TLS peer sees a truncation.
                c.ops.advance(Op::DataShutw, OpStatus::Done);
            }
        }
    }

    fn update_connection<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side) {
        let c = self.conn_mut(side);
        if !c.is_open() {
            return;
        }
        // Raw data layers complete their shutw and close at once.
        let no_close_notify = c.data == DataLayer::Raw || cfg.mutant.has(Mutant::FinWithoutCloseNotify);
        if no_close_notify && c.ops.pending(Op::DataShutw) {
            c.ops.advance(Op::DataShutw, OpStatus::Done);
        }
        // CSHR follows DSHR at once: we stop polling for reads, we never
        // call shutdown(SHUT_RD).
        if c.ops.done(Op::DataShutr) && !c.ops.done(Op::CtrlShutr) {
            c.ops.advance(Op::CtrlShutr, OpStatus::Done);
        }
        // A FIN owed on a connection whose input is over (the peer's FIN was
        // read: nothing is left to read and nothing more will come): close(2)
        // sends the FIN that shutdown(SHUT_WR) would, so the close sequence
        // stands for the CSHW, one system call fewer per connection (HAProxy
        // makes one shutdown per connection too). While the input is open the
        // shutdown must come first: a close would answer what the peer still
        // sends with an RST.
        let c = self.conn(side);
        let input_over = c.shr() || cfg.mutant.has(Mutant::CloseForShutwEarly);
        if !c.closing() && input_over && c.ops.done(Op::DataShutw) && c.ops.pending(Op::CtrlShutw) {
            self.close_now(cfg, side, false);
        }
        // Both directions shut: close (SHR and SHW, the note's si_shutw/si_shutr).
        let skip_linger = cfg.mutant.has(Mutant::CloseWithoutDrain)
            || cfg.mutant.has(Mutant::LingerSkippedAfterRetry) && self.retries_used > 0
            || cfg.mutant.has(Mutant::LingerSkippedAfterRedispatch)
                && self.failed_server.is_some()
                && self.req.seen_data
                && self.conn(side).data != DataLayer::Raw;
        let c = self.conn_mut(side);
        let lingering_done = c.shr() || skip_linger && c.draining();
        if !c.closing() && c.shw() && lingering_done {
            for op in [Op::DataClose, Op::CtrlClose, Op::SockClose] {
                c.ops.desire(op);
            }
        }
        if c.closing() && c.data == DataLayer::Raw && c.ops.pending(Op::DataClose) {
            c.ops.advance(Op::DataClose, OpStatus::Done);
        }
    }

    fn update_stream_interfaces<B: Bugs>(&mut self, cfg: &SessionConfig<B>) {
        // Front.
        match self.si_front {
            SiState::Ini => {
                if self.front.fd == FdState::Closed && self.front.closing() {
                    self.set_si(cfg, Side::Front, SiState::Clo);
                }
            }
            SiState::Est => {
                if self.front.closing() || (self.front.shr() && self.front.shw()) {
                    self.set_si(cfg, Side::Front, SiState::Dis);
                }
            }
            SiState::Dis => {
                if self.front.fd == FdState::Closed {
                    self.set_si(cfg, Side::Front, SiState::Clo);
                }
            }
            // The front interface only uses INI, EST, DIS and CLO.
            SiState::Req | SiState::Que | SiState::Tar | SiState::Ass | SiState::Con | SiState::Cer | SiState::Clo => {}
        }
        // Back.
        let front_gone = self.front.closing() || self.si_front == SiState::Clo;
        match self.si_back {
            SiState::Ini => {
                if self.si_front == SiState::Clo {
                    self.set_si(cfg, Side::Back, SiState::Clo);
                }
            }
            SiState::Req | SiState::Que | SiState::Tar | SiState::Ass => {
                if front_gone && self.front.abortive_or_error() {
                    self.set_si(cfg, Side::Back, SiState::Clo);
                }
            }
            SiState::Con => {
                if self.back.state == ConnState::Established && self.back.hs.is_empty() && !self.back.closing() {
                    self.set_si(cfg, Side::Back, SiState::Est);
                } else if front_gone && self.front.abortive_or_error() {
                    // Abandon the attempt. A plain close: before TCP is up it
                    // makes no difference, and once it is up the server has
                    // read everything a handshake reply answered, so no RST
                    // is needed to destroy what it has not.
                    self.close_now(cfg, Side::Back, false);
                    if self.back.fd == FdState::Closed {
                        self.set_si(cfg, Side::Back, SiState::Clo);
                    }
                }
            }
            SiState::Cer => {}
            SiState::Est => {
                if self.back.closing() || (self.back.shr() && self.back.shw()) {
                    self.set_si(cfg, Side::Back, SiState::Dis);
                }
            }
            SiState::Dis => {
                if self.back.fd == FdState::Closed && !cfg.mutant.has(Mutant::NoDisToClo) {
                    self.set_si(cfg, Side::Back, SiState::Clo);
                }
            }
            SiState::Clo => {}
        }
        // A closed session holds nothing: its channels are emptied by
        // Discard actions before both interfaces reach CLO.
    }

    fn update_timers<B: Bugs>(&mut self, cfg: &SessionConfig<B>, now: Millis) {
        let f = &self.front;
        let b = &self.back;
        let live = |c: &Connection| c.is_open() && !c.closing();
        // The fin timers bound the wait for a peer's FIN after the proxy shut
        // its own side (or started an active shutr and drains): HAProxy's
        // `timeout client-fin` / `server-fin`, which apply once the proxy's
        // write side towards that peer is shut. A peer that sent its FIN and
        // still receives (shr without shw) stays under the inactivity timer:
        // a half-closed client waiting for a slow response is not cut short.
        // An RST owed behind the data waits under the fin timer too: the
        // stream towards that peer is over, only its acknowledgement is not.
        let half = |c: &Connection| (c.shw() && !c.shr()) || c.draining() || c.rst != PendingRst::None;
        let fin_timers = !cfg.mutant.has(Mutant::NoFinTimer);
        let idle_timers = !cfg.mutant.has(Mutant::NoIdleTimer);
        let want = [
            (TimerKind::Handshake, self.si_front == SiState::Ini && live(f) && !f.hs.is_empty()),
            (TimerKind::Connect, self.si_back == SiState::Con),
            (TimerKind::Queue, self.si_back == SiState::Que),
            (TimerKind::TurnAround, self.si_back == SiState::Tar),
            (TimerKind::Client, idle_timers && self.si_front == SiState::Est && live(f) && !half(f)),
            (TimerKind::Server, idle_timers && self.si_back == SiState::Est && live(b) && !half(b)),
            (TimerKind::ClientFin, fin_timers && live(f) && half(f)),
            (TimerKind::ServerFin, fin_timers && self.si_back == SiState::Est && live(b) && half(b)),
        ];
        for (kind, armed) in want {
            if armed {
                self.timers.arm(kind, now + cfg.timeouts.get(kind));
            } else {
                self.timers.disarm(kind);
            }
        }
    }
}
