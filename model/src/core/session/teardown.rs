//! How a side ends early: a peer gone or failed, an abort, a failed connect,
//! no server at all.

use super::{Outcome, Session, Side};
use crate::core::channel::ChanFlags;
use crate::core::config::{Bugs, Mutant, SessionConfig};
use crate::core::connection::ConnState;
use crate::core::op::{Op, OpStatus};
use crate::core::termination::Cause;
use crate::core::{FdState, SiState};

impl Session {
    /// A send on `side` (data or the close_notify) met the RST that came
    /// after the peer's FIN (`Outcome::PeerClosed`): the peer takes nothing
    /// more, so this output is shut in error and its shutdown steps are
    /// moot. What the peer sent before that FIN is still readable (Linux's
    /// CLOSE-WAIT), so the input stays open: its next recv reads it, then
    /// the FIN; that ends the connection.
    pub(super) fn output_failed<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side) {
        if cfg.mutant.has(Mutant::SendResetEndsInput) {
            // The bug: the reset is taken for the end of both directions.
            self.record_peer_fault(side);
            self.peer_gone(cfg, side);
            return;
        }
        if self.chan(side.input()).has(ChanFlags::SHUT_IN) {
            // Its input ended already: nothing is left to read.
            self.peer_gone(cfg, side);
            return;
        }
        let c = self.conn_mut(side);
        for op in [Op::DataShutw, Op::CtrlShutw] {
            c.ops.advance(op, OpStatus::Done);
        }
        self.chan_mut(side.output()).flags.set(ChanFlags::SHUT_OUT | ChanFlags::ERR_OUT);
    }

    /// A recv or send of the stream on `side` failed: the peer is gone. A
    /// reset (ECONNRESET, EPIPE) that ended the stream it fed (no FIN or
    /// error ended it before) is marked on that channel, so that with
    /// `propagate_abort` the other peer gets an RST, not a FIN.
    pub(super) fn peer_failed<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side, outcome: Outcome) {
        let was_open = !self.chan(side.input()).has(ChanFlags::SHUT_IN);
        self.record_peer_fault(side);
        self.peer_gone(cfg, side);
        if cfg.propagate_abort && outcome == Outcome::Reset && was_open {
            self.chan_mut(side.input()).aborted = true;
        }
    }

    /// The peer of `side` is gone (read0 before a header, reset, hard error):
    /// no RST risk, close without draining.
    pub(super) fn peer_gone<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side) {
        self.set_conn_state(side, ConnState::Error);
        self.conn_mut(side).error = true;
        if self.conn(side).fd == FdState::Ready {
            self.set_fd(side, FdState::Error);
        }
        self.close_now(cfg, side, false);
        let input = side.input();
        let output = side.output();
        self.chan_mut(input).flags.set(ChanFlags::SHUT_IN | ChanFlags::ERR_IN);
        self.chan_mut(output).flags.set(ChanFlags::SHUT_OUT | ChanFlags::ERR_OUT);
    }

    /// Abortive close of `side` (timeout, rule reject, protocol violation).
    pub(super) fn abort<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side) {
        let c = self.conn_mut(side);
        if !c.is_open() || c.closing() {
            if side == Side::Back && matches!(self.si_back, SiState::Req | SiState::Que | SiState::Tar | SiState::Ass) {
                self.give_up_server(cfg);
            }
            return;
        }
        self.close_now(cfg, side, true);
        let input = side.input();
        let output = side.output();
        // The input was cut, not ended by its peer.
        self.chan_mut(input).flags.set(ChanFlags::SHUT_IN | ChanFlags::ERR_IN);
        self.chan_mut(output).flags.set(ChanFlags::SHUT_OUT);
    }

    /// Starts the close sequence now; pending shutdown steps are superseded
    /// (the close is the shutdown).
    pub(super) fn close_now<B: Bugs>(&mut self, _cfg: &SessionConfig<B>, side: Side, abortive: bool) {
        let c = self.conn_mut(side);
        if c.closing() {
            return;
        }
        for op in [Op::DataShutr, Op::CtrlShutr, Op::DataShutw, Op::CtrlShutw] {
            if c.ops.pending(op) {
                c.ops.advance(op, OpStatus::Done);
            }
        }
        c.abortive = abortive;
        for op in [Op::DataClose, Op::CtrlClose, Op::SockClose] {
            c.ops.desire(op);
        }
    }

    pub(super) fn connect_failed<B: Bugs>(&mut self, cfg: &SessionConfig<B>, cause: Cause) {
        if self.si_back != SiState::Con {
            return;
        }
        self.fail_cause = cause;
        self.set_si(cfg, Side::Back, SiState::Cer);
        // The failed socket goes through the ordinary close sequence.
        self.close_now(cfg, Side::Back, false);
        self.set_conn_state(Side::Back, ConnState::Error);
        self.back.error = true;
        if self.back.fd == FdState::Ready {
            self.set_fd(Side::Back, FdState::Error);
        }
    }

    /// No server will be connected: the back stream interface closes and the
    /// front finishes gracefully (it drains what the client sends).
    pub(super) fn give_up_server<B: Bugs>(&mut self, cfg: &SessionConfig<B>) {
        if !matches!(self.si_back, SiState::Est | SiState::Dis | SiState::Clo | SiState::Con) {
            self.set_si(cfg, Side::Back, SiState::Clo);
        }
        // There is no response stream to end cleanly: the client is told
        // with a FIN alone (no close_notify), as for a cut stream.
        self.res.flags.set(ChanFlags::SHUT_IN | ChanFlags::ERR_IN);
        self.req.flags.set(ChanFlags::SHUT_OUT);
    }
}
