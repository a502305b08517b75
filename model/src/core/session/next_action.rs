//! The next I/O action ([`Session::poll_action`]), one step function per kind.

use super::{Action, Session, Side};
use crate::core::channel::{ChanFlags, Dir, Fill, Sink, Source};
use crate::core::config::{Bugs, Mutant, SessionConfig, SpliceMode};
use crate::core::connection::{ConnState, DataLayer, PendingRst};
use crate::core::handshake::{Handler, RuleStage};
use crate::core::op::{Op, OpStatus};
use crate::core::{FdState, SiState};

impl Session {
    /// The next I/O action, or `None` when the session waits for an event.
    pub fn poll_action<B: Bugs>(&self, cfg: &SessionConfig<B>) -> Option<Action> {
        // A session that no longer waits leaves the queue first, so the next
        // freed slot goes to one that does.
        if self.queued && self.si_back != SiState::Que {
            return Some(if cfg.mutant.has(Mutant::QueueTimeoutReleases) {
                // The bug: leaving the queue gives a slot back.
                Action::ReleaseServer { server: 0 }
            } else {
                Action::LeaveQueue
            });
        }
        for side in Side::BOTH {
            if let Some(a) = self.close_step(cfg, side) {
                return Some(a);
            }
        }
        if let Some(srv) = self.server {
            let release = match self.si_back {
                SiState::Clo => !(cfg.mutant.has(Mutant::LeakServerSlot) && self.retries_used > 0),
                SiState::Req => self.failed_server.is_some(),
                _ => false,
            };
            if release {
                return Some(Action::ReleaseServer { server: srv });
            }
        }
        for dir in Dir::BOTH {
            if self.consumer_gone(cfg, dir) && !self.chan(dir).is_empty() {
                return Some(Action::Discard(dir));
            }
        }
        if let Some(a) = self.front_handshake_step() {
            return Some(a);
        }
        if let Some(a) = self.back_step(cfg) {
            return Some(a);
        }
        for side in Side::BOTH {
            if let Some(a) = self.send_step(side) {
                return Some(a);
            }
        }
        for side in Side::BOTH {
            let c = self.conn(side);
            if c.rst == PendingRst::Scheduled && c.is_open() && !c.closing() {
                return Some(Action::CheckSendQueue(side));
            }
        }
        for side in Side::BOTH {
            if let Some(a) = self.recv_step(cfg, side) {
                return Some(a);
            }
        }
        for side in Side::BOTH {
            if let Some(a) = self.shutw_step(cfg, side) {
                return Some(a);
            }
        }
        None
    }

    fn close_step<B: Bugs>(&self, cfg: &SessionConfig<B>, side: Side) -> Option<Action> {
        let c = self.conn(side);
        let bottom_up = cfg.mutant.has(Mutant::CloseFdBeforeData);
        // The socket's close ends the sequence (the bug goes on to the
        // layers above it, on a descriptor already closed).
        let upper_done = c.ops.done(Op::DataClose) && c.ops.done(Op::CtrlClose);
        if !c.closing() || c.ops.done(Op::SockClose) && (!bottom_up || upper_done) {
            return None;
        }
        let order: [Op; 3] = if bottom_up {
            [Op::SockClose, Op::CtrlClose, Op::DataClose]
        } else {
            [Op::DataClose, Op::CtrlClose, Op::SockClose]
        };
        let next = order.into_iter().find(|&op| !c.ops.done(op))?;
        Some(match next {
            Op::DataClose => Action::DataClose(side),
            Op::CtrlClose => Action::CtrlClose(side),
            Op::SockClose => Action::SockClose { side, abortive: c.abortive },
            // Shutdown steps are never part of the close sequence.
            Op::DataShutr | Op::DataShutw | Op::CtrlShutr | Op::CtrlShutw => return None,
        })
    }

    fn front_handshake_step(&self) -> Option<Action> {
        let f = &self.front;
        if self.si_front != SiState::Ini || !f.is_open() || f.closing() {
            return None;
        }
        let readable = !self.req.has(ChanFlags::EMPTY_IN);
        let writable = !self.res.has(ChanFlags::FULL_OUT);
        match f.hs.first(&Handler::INCOMING)? {
            Handler::SendLastChunk => {
                writable.then_some(Action::Send { side: Side::Front, from: Source::Reply, more: false })
            }
            Handler::TcpRulesConn => Some(Action::EvalRules(RuleStage::Connection)),
            Handler::AcceptProxy => readable.then_some(Action::RecvProxyHeader),
            Handler::TcpRules => Some(Action::EvalRules(RuleStage::Source)),
            Handler::SslHs => self.tls_step(Side::Front),
            // Run by update() without I/O.
            Handler::MonitorIn | Handler::AcceptSession | Handler::SendProxy => None,
        }
    }

    fn tls_step(&self, side: Side) -> Option<Action> {
        let readable = !self.chan(side.input()).has(ChanFlags::EMPTY_IN);
        let writable = !self.chan(side.output()).has(ChanFlags::FULL_OUT);
        let c = self.conn(side);
        let go = match (side, c.data_hs) {
            // The client side starts by reading the ClientHello.
            (Side::Front, OpStatus::Desired) => readable,
            // The server side starts by writing the ClientHello.
            (Side::Back, OpStatus::Desired) => writable,
            (_, OpStatus::Started) => {
                if c.hs_wants_write {
                    writable
                } else {
                    readable
                }
            }
            (_, OpStatus::NotDesired | OpStatus::Done) => false,
        };
        go.then_some(Action::TlsHandshake(side))
    }

    fn back_step<B: Bugs>(&self, cfg: &SessionConfig<B>) -> Option<Action> {
        if self.si_front != SiState::Est || self.front.closing() && self.front.abortive_or_error() {
            return None;
        }
        let writable = !self.req.has(ChanFlags::FULL_OUT);
        match self.si_back {
            SiState::Req => Some(Action::PickServer { avoid: self.failed_server }),
            SiState::Ass => self.server.map(|server| Action::Connect { server }),
            SiState::Cer if self.retry_owed_from_cer(cfg) && self.back.fd == FdState::Closed => {
                self.server.map(|server| Action::Connect { server })
            }
            SiState::Con if self.back.state == ConnState::Connecting => writable.then_some(Action::FinishConnect),
            SiState::Con => {
                let b = &self.back;
                if b.closing() {
                    return None;
                }
                let order: [Handler; 2] = if cfg.mutant.has(Mutant::ProxyHeaderAfterTls) {
                    [Handler::SslHs, Handler::SendProxy]
                } else {
                    Handler::OUTGOING
                };
                match b.hs.first(&order)? {
                    Handler::SendProxy => {
                        // MSG_MORE only when request bytes wait to follow the
                        // header at once; a server that speaks first (SMTP)
                        // must get the header without waiting for them.
                        let more = self.req.buf != Fill::Empty || self.req.pipe != Fill::Empty;
                        writable.then_some(Action::Send { side: Side::Back, from: Source::ProxyHeader, more })
                    }
                    Handler::SslHs => self.tls_step(Side::Back),
                    // Not outgoing handlers.
                    Handler::MonitorIn
                    | Handler::SendLastChunk
                    | Handler::TcpRulesConn
                    | Handler::AcceptProxy
                    | Handler::TcpRules
                    | Handler::AcceptSession => None,
                }
            }
            // Waiting for a timer, a slot, or already done.
            SiState::Ini | SiState::Que | SiState::Tar | SiState::Cer | SiState::Est | SiState::Dis | SiState::Clo => {
                None
            }
        }
    }

    fn send_step(&self, side: Side) -> Option<Action> {
        let c = self.conn(side);
        let dir = side.output();
        let ch = self.chan(dir);
        if self.si(side) != SiState::Est
            || !c.carries_data()
            || ch.has(ChanFlags::FULL_OUT)
            || c.ops.get(Op::DataShutw).is_desired()
        {
            return None;
        }
        let from = ch.source()?;
        // MSG_MORE only when something is sure to follow at once: the
        // producer is shut, so a shutdown(SHUT_WR) comes right after this data
        // and pushes it out. A full buffer is no such promise: the producer may
        // have nothing more, and corked bytes would wait for a later send
        // (the conformance replay caught a forwarded chunk held back so).
        let more = ch.has(ChanFlags::SHUT_IN);
        Some(Action::Send { side, from, more })
    }

    fn recv_step<B: Bugs>(&self, cfg: &SessionConfig<B>, side: Side) -> Option<Action> {
        let c = self.conn(side);
        let dir = side.input();
        let ch = self.chan(dir);
        let open_checked = cfg.mutant.has(Mutant::RecvAfterClose) || (c.is_open() && !c.closing());
        let draining = c.draining() || cfg.mutant.has(Mutant::RecvAfterClose) && c.ops.get(Op::DataShutr).is_desired();
        // The drain of an active shutr runs whether or not a session exists
        // (a health check drains too).
        if draining && open_checked && !ch.has(ChanFlags::EMPTY_IN) {
            return Some(Action::Recv { side, into: Sink::Discard });
        }
        if !self.started()
            || !open_checked
            || c.state == ConnState::Connecting
            || !c.hs.is_empty()
            || ch.has(ChanFlags::EMPTY_IN)
            || c.shr()
        {
            return None;
        }
        if ch.has(ChanFlags::SHUT_IN) {
            return None;
        }
        let other = self.conn(side.other());
        let raw_both =
            (c.data == DataLayer::Raw && other.data == DataLayer::Raw) || cfg.mutant.has(Mutant::SpliceOverTls);
        let early_switch = cfg.mutant.has(Mutant::SpliceWhileBuffered) && ch.buf != Fill::Empty;
        let splice_ok = raw_both
            && !ch.no_pipe
            && match cfg.splice {
                SpliceMode::Never => false,
                SpliceMode::Auto => ch.seen_data || early_switch,
                SpliceMode::Always => true,
            };
        let buf_clear = ch.buf == Fill::Empty || cfg.mutant.has(Mutant::SpliceWhileBuffered);
        let into = if splice_ok && buf_clear && ch.pipe != Fill::Full {
            Sink::Pipe
        } else if ch.pipe == Fill::Empty && ch.buf != Fill::Full {
            Sink::Buffer
        } else {
            return None;
        };
        Some(Action::Recv { side, into })
    }

    fn shutw_step<B: Bugs>(&self, cfg: &SessionConfig<B>, side: Side) -> Option<Action> {
        let c = self.conn(side);
        if !c.is_open() || c.closing() {
            return None;
        }
        let writable = !self.chan(side.output()).has(ChanFlags::FULL_OUT);
        if c.ops.pending(Op::DataShutw) {
            // Raw data layers complete at once in update(); TLS sends close_notify.
            let given_up =
                cfg.mutant.has(Mutant::CloseNotifyNeverRetried) && c.ops.get(Op::DataShutw) == OpStatus::Started;
            return (c.data == DataLayer::Tls && writable && !given_up).then_some(Action::DataShutw(side));
        }
        if c.ops.done(Op::DataShutw) && c.ops.pending(Op::CtrlShutw) {
            return Some(Action::CtrlShutw(side));
        }
        None
    }
}
