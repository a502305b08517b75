//! The answer to an action ([`Session::handle_outcome`]): what each outcome
//! of each action changes.

use super::{Action, Outcome, Session, Side};
use crate::core::backend::Pick;
use crate::core::channel::{ChanFlags, Fill, Sink, Source};
use crate::core::config::{Bugs, Mutant, SessionConfig};
use crate::core::connection::{ConnState, Connection, DataLayer, PendingRst};
use crate::core::handshake::{Handler, HandlerSet, RuleStage};
use crate::core::op::{Op, OpStatus};
use crate::core::termination::{Cause, Phase};
use crate::core::timers::TimerKind;
use crate::core::{FdState, Millis, SiState};

impl Session {
    /// The runtime performed `action`; this is what happened.
    ///
    /// Every (action, outcome) pair is named: an outcome an action cannot
    /// give ([`Action::may_give`] says which it can) is a runtime bug, which
    /// fails here in debug builds, tests and fuzzing; a release build takes
    /// it with the answer it is grouped with. A new action or outcome does
    /// not compile until it is placed here.
    pub fn handle_outcome<B: Bugs>(&mut self, cfg: &SessionConfig<B>, action: Action, outcome: Outcome, now: Millis) {
        debug_assert!(
            action.may_give(outcome),
            "the runtime answered {action:?} with {outcome:?}, which it cannot give"
        );
        match action {
            Action::RecvProxyHeader => match outcome {
                Outcome::Done => self.front.hs.remove(Handler::AcceptProxy),
                Outcome::WouldBlock => self.req.flags.set(ChanFlags::EMPTY_IN),
                Outcome::EofEmpty => {
                    // A bare TCP health check: close quickly and quietly.
                    self.peer_gone(cfg, Side::Front);
                }
                Outcome::Eof | Outcome::Reset => {
                    self.term.record(Cause::Client, Phase::Request);
                    self.peer_gone(cfg, Side::Front);
                }
                // An invalid header: the peer is at fault. The other outcomes
                // cannot answer a header read; they are taken the same way.
                Outcome::Invalid
                | Outcome::Data { .. }
                | Outcome::Sent { .. }
                | Outcome::WantWrite
                | Outcome::Truncated
                | Outcome::Refused
                | Outcome::InProgress
                | Outcome::Pick(_)
                | Outcome::Verdict(_)
                | Outcome::PeerClosed
                | Outcome::NoResource => {
                    self.term.record(Cause::Client, Phase::Request);
                    self.abort(cfg, Side::Front);
                }
            },
            Action::EvalRules(stage) => {
                let accepted = match outcome {
                    Outcome::Verdict(accepted) => accepted,
                    // Not a verdict: taken as a reject.
                    Outcome::Done
                    | Outcome::Data { .. }
                    | Outcome::Sent { .. }
                    | Outcome::WouldBlock
                    | Outcome::WantWrite
                    | Outcome::Eof
                    | Outcome::EofEmpty
                    | Outcome::Truncated
                    | Outcome::Reset
                    | Outcome::Refused
                    | Outcome::Invalid
                    | Outcome::InProgress
                    | Outcome::Pick(_)
                    | Outcome::PeerClosed
                    | Outcome::NoResource => false,
                };
                if accepted || cfg.mutant.has(Mutant::RulesIgnored) {
                    self.front.hs.remove(match stage {
                        RuleStage::Connection => Handler::TcpRulesConn,
                        RuleStage::Source => Handler::TcpRules,
                    });
                } else {
                    // `tcp-request connection reject`: reset, count, no log line.
                    self.rejected = true;
                    self.term.record(Cause::Proxy, Phase::Request);
                    self.abort(cfg, Side::Front);
                }
            }
            Action::TlsHandshake(side) => {
                let c = self.conn_mut(side);
                match outcome {
                    Outcome::Done => {
                        c.data_hs = OpStatus::Done;
                        c.hs.remove(Handler::SslHs);
                    }
                    Outcome::WouldBlock => {
                        c.data_hs.max_assign(OpStatus::Started);
                        c.hs_wants_write = false;
                        self.chan_mut(side.input()).flags.set(ChanFlags::EMPTY_IN);
                    }
                    Outcome::WantWrite => {
                        c.data_hs.max_assign(OpStatus::Started);
                        c.hs_wants_write = true;
                        self.chan_mut(side.output()).flags.set(ChanFlags::FULL_OUT);
                    }
                    // Any failure of the server's handshake fails the connect
                    // attempt (the arms below still name every failure).
                    _ if side == Side::Back && self.si_back == SiState::Con => {
                        self.connect_failed(cfg, Cause::Server);
                    }
                    Outcome::Eof | Outcome::Truncated | Outcome::Reset | Outcome::PeerClosed => {
                        self.record_peer_fault(side);
                        self.peer_gone(cfg, side);
                    }
                    // A protocol violation; the other outcomes cannot answer
                    // a handshake step and are taken the same way.
                    Outcome::Invalid
                    | Outcome::Data { .. }
                    | Outcome::Sent { .. }
                    | Outcome::EofEmpty
                    | Outcome::Refused
                    | Outcome::InProgress
                    | Outcome::Pick(_)
                    | Outcome::Verdict(_)
                    | Outcome::NoResource => {
                        self.record_peer_fault(side);
                        self.abort(cfg, side);
                    }
                }
            }
            Action::PickServer { .. } => match outcome {
                Outcome::Pick(Pick::Assigned(srv)) => {
                    self.server = Some(srv);
                    self.set_si(cfg, Side::Back, SiState::Ass);
                }
                Outcome::Pick(Pick::Queue) if cfg.queue => {
                    self.queued = true;
                    self.set_si(cfg, Side::Back, SiState::Que);
                }
                // No server, or a queue that is not enabled; the other
                // outcomes cannot answer a pick and are taken as no server.
                Outcome::Pick(Pick::Queue | Pick::NoServer)
                | Outcome::Done
                | Outcome::Data { .. }
                | Outcome::Sent { .. }
                | Outcome::WouldBlock
                | Outcome::WantWrite
                | Outcome::Eof
                | Outcome::EofEmpty
                | Outcome::Truncated
                | Outcome::Reset
                | Outcome::Refused
                | Outcome::Invalid
                | Outcome::InProgress
                | Outcome::Verdict(_)
                | Outcome::PeerClosed
                | Outcome::NoResource => {
                    self.term.record(Cause::Proxy, Phase::Connect);
                    self.give_up_server(cfg);
                }
            },
            Action::Connect { .. } => match outcome {
                Outcome::NoResource => {
                    // No socket could be made (EMFILE, ENOBUFS).
                    self.term.record(Cause::Resource, Phase::Connect);
                    self.give_up_server(cfg);
                }
                Outcome::InProgress | Outcome::Done => self.connect_started(cfg),
                // connect() failed at once (ECONNREFUSED on loopback): the
                // socket exists and is closed like any failed attempt. The
                // other outcomes cannot answer a connect and are taken as a
                // refusal.
                Outcome::Refused
                | Outcome::Data { .. }
                | Outcome::Sent { .. }
                | Outcome::WouldBlock
                | Outcome::WantWrite
                | Outcome::Eof
                | Outcome::EofEmpty
                | Outcome::Truncated
                | Outcome::Reset
                | Outcome::Invalid
                | Outcome::Pick(_)
                | Outcome::Verdict(_)
                | Outcome::PeerClosed => {
                    self.connect_started(cfg);
                    self.connect_failed(cfg, Cause::Server);
                }
            },
            Action::FinishConnect => match outcome {
                Outcome::Done => {
                    // TCP is up; the interface stays in CON until the
                    // outgoing handshake handlers are done (update()), so a
                    // broken TLS server is a failed attempt, bounded by the
                    // connect timer and retried.
                    self.set_conn_state(Side::Back, ConnState::Established);
                    if cfg.send_proxy {
                        self.back.hs.add(Handler::SendProxy);
                    }
                    if cfg.tls_back {
                        self.back.hs.add(Handler::SslHs);
                        self.back.data_hs = OpStatus::Desired;
                    }
                }
                Outcome::WouldBlock => self.req.flags.set(ChanFlags::FULL_OUT),
                // SO_ERROR holds an error; the other outcomes cannot answer
                // it and are taken as a refusal.
                Outcome::Refused
                | Outcome::Data { .. }
                | Outcome::Sent { .. }
                | Outcome::WantWrite
                | Outcome::Eof
                | Outcome::EofEmpty
                | Outcome::Truncated
                | Outcome::Reset
                | Outcome::Invalid
                | Outcome::InProgress
                | Outcome::Pick(_)
                | Outcome::Verdict(_)
                | Outcome::PeerClosed
                | Outcome::NoResource => self.connect_failed(cfg, Cause::Server),
            },
            Action::Recv { side, into } => self.recv_outcome(cfg, side, into, outcome, now),
            Action::Send { side, from, .. } => self.send_outcome(cfg, side, from, outcome, now),
            Action::Discard(dir) => {
                step_done(outcome);
                let ch = self.chan_mut(dir);
                ch.buf = Fill::Empty;
                ch.pipe = Fill::Empty;
            }
            Action::DataShutw(side) => match outcome {
                Outcome::Done => self.conn_mut(side).ops.advance(Op::DataShutw, OpStatus::Done),
                Outcome::WouldBlock => {
                    // The close_notify does not fit yet: keep the step, retry
                    // when the socket is writable (the note's async task).
                    let c = self.conn_mut(side);
                    c.ops.advance(Op::DataShutw, OpStatus::Started);
                    self.chan_mut(side.output()).flags.set(ChanFlags::FULL_OUT);
                }
                // The peer closed, then reset: nothing was lost on this
                // step (a close_notify), and its input still holds what it
                // sent before its FIN.
                Outcome::PeerClosed => self.output_failed(cfg, side),
                // The peer is gone; the other outcomes cannot answer a
                // close_notify and are taken the same way.
                Outcome::Reset
                | Outcome::Data { .. }
                | Outcome::Sent { .. }
                | Outcome::WantWrite
                | Outcome::Eof
                | Outcome::EofEmpty
                | Outcome::Truncated
                | Outcome::Refused
                | Outcome::Invalid
                | Outcome::InProgress
                | Outcome::Pick(_)
                | Outcome::Verdict(_)
                | Outcome::NoResource => {
                    self.record_peer_fault(side);
                    self.peer_gone(cfg, side);
                }
            },
            Action::CtrlShutw(side) => {
                // shutdown(SHUT_WR) does not block; ENOTCONN counts as done.
                step_done(outcome);
                let c = self.conn_mut(side);
                c.ops.advance(Op::CtrlShutw, OpStatus::Done);
                let out = side.output();
                self.chan_mut(out).flags.set(ChanFlags::SHUT_OUT);
            }
            Action::DataClose(side) => {
                step_done(outcome);
                self.conn_mut(side).ops.advance(Op::DataClose, OpStatus::Done);
            }
            Action::CtrlClose(side) => {
                step_done(outcome);
                self.conn_mut(side).ops.advance(Op::CtrlClose, OpStatus::Done);
            }
            Action::SockClose { side, .. } => {
                step_done(outcome);
                self.conn_mut(side).ops.advance(Op::SockClose, OpStatus::Done);
                self.set_fd(side, FdState::Closed);
                // No CLOSED flag is needed: a closed connection is detached
                // (the note); ERR stays recorded in `error`.
                self.set_conn_state(side, ConnState::Closed);
            }
            Action::ReleaseServer { .. } => {
                step_done(outcome);
                self.server = None;
                if cfg.mutant.has(Mutant::QueueTimeoutReleases) && self.si_back != SiState::Que {
                    // The bug's "release" stood for leaving the queue.
                    self.queued = false;
                }
            }
            Action::LeaveQueue => {
                step_done(outcome);
                self.queued = false;
            }
            Action::CheckSendQueue(side) => match outcome {
                // Every byte before the abort reached the peer: now the RST.
                Outcome::Done => self.abort(cfg, side),
                Outcome::WouldBlock => self.conn_mut(side).rst = PendingRst::AwaitingAck,
                // This peer reset too: nothing is left to pass on. The other
                // outcomes cannot answer a look at the send queue and are
                // taken the same way.
                Outcome::Reset
                | Outcome::PeerClosed
                | Outcome::Data { .. }
                | Outcome::Sent { .. }
                | Outcome::WantWrite
                | Outcome::Eof
                | Outcome::EofEmpty
                | Outcome::Truncated
                | Outcome::Refused
                | Outcome::Invalid
                | Outcome::InProgress
                | Outcome::Pick(_)
                | Outcome::Verdict(_)
                | Outcome::NoResource => {
                    self.record_peer_fault(side);
                    self.peer_gone(cfg, side);
                }
            },
        }
        self.update(cfg, now);
    }

    /// A connect attempt has a socket now (in progress, done, or refused at
    /// once): the back connection starts over.
    fn connect_started<B: Bugs>(&mut self, cfg: &SessionConfig<B>) {
        self.attempts = self.attempts.saturating_add(1);
        self.back =
            Connection { data: if cfg.tls_back { DataLayer::Tls } else { DataLayer::Raw }, ..Connection::default() };
        self.set_fd(Side::Back, FdState::Ready);
        self.set_conn_state(Side::Back, ConnState::Connecting);
        self.req.flags.set(ChanFlags::FULL_OUT);
        self.res.flags.set(ChanFlags::EMPTY_IN);
        self.res.flags.clear(ChanFlags::SHUT_IN | ChanFlags::ERR_IN);
        self.req.flags.clear(ChanFlags::SHUT_OUT | ChanFlags::ERR_OUT);
        self.set_si(cfg, Side::Back, SiState::Con);
    }

    pub(super) fn record_peer_fault(&mut self, side: Side) {
        let phase = self.phase();
        self.term.record(
            match side {
                Side::Front => Cause::Client,
                Side::Back => Cause::Server,
            },
            phase,
        );
    }

    fn recv_outcome<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side, into: Sink, outcome: Outcome, now: Millis) {
        let dir = side.input();
        match outcome {
            Outcome::Data { full } => {
                let ch = self.chan_mut(dir);
                let fill = if full && !cfg.mutant.has(Mutant::IgnoreFullBuffer) { Fill::Full } else { Fill::Some };
                match into {
                    Sink::Buffer => ch.buf = fill,
                    Sink::Pipe => ch.pipe = fill,
                    Sink::Discard => {}
                }
                if cfg.mutant.has(Mutant::LostWakeup) {
                    // The bug: one read per edge, as if it had drained the socket.
                    ch.flags.set(ChanFlags::EMPTY_IN);
                }
                // A drain discards what it reads: it does not keep its side
                // alive, so an endless stream is still cut at the fin timer.
                if into != Sink::Discard {
                    self.refresh_idle(cfg, side, now);
                }
            }
            Outcome::WouldBlock => {
                if !cfg.mutant.has(Mutant::RetryWouldBlock) {
                    self.chan_mut(dir).flags.set(ChanFlags::EMPTY_IN);
                }
            }
            Outcome::Eof | Outcome::EofEmpty | Outcome::Truncated => {
                // read0: the peer's FIN, after every byte it sent. A TLS
                // stream cut without close_notify is an error on the input
                // (ERR_IN): its consumer ends without a close_notify too, so
                // the truncation stays visible.
                let c = self.conn_mut(side);
                c.ops.advance(Op::DataShutr, OpStatus::Done);
                let ch = self.chan_mut(dir);
                ch.flags.set(ChanFlags::SHUT_IN);
                if outcome == Outcome::Truncated && !cfg.mutant.has(Mutant::TruncationAsClose) {
                    ch.flags.set(ChanFlags::ERR_IN);
                }
            }
            // No pipe for a splice: nothing was read, and the socket is as
            // readable as before; this channel goes through the buffer now.
            Outcome::NoResource if into == Sink::Pipe => self.chan_mut(dir).no_pipe = true,
            // The peer is gone (or no buffer could be had). The other
            // outcomes cannot answer a recv and are taken the same way.
            Outcome::Reset
            | Outcome::NoResource
            | Outcome::Done
            | Outcome::Sent { .. }
            | Outcome::WantWrite
            | Outcome::Refused
            | Outcome::Invalid
            | Outcome::InProgress
            | Outcome::Pick(_)
            | Outcome::Verdict(_)
            | Outcome::PeerClosed => self.peer_failed(cfg, side, outcome),
        }
    }

    fn send_outcome<B: Bugs>(
        &mut self,
        cfg: &SessionConfig<B>,
        side: Side,
        from: Source,
        outcome: Outcome,
        now: Millis,
    ) {
        let dir = side.output();
        match outcome {
            Outcome::Sent { drained } | Outcome::Data { full: drained } => match from {
                Source::Reply => {
                    if drained {
                        self.reply_sent(cfg);
                    }
                }
                Source::ProxyHeader => {
                    if drained {
                        self.back.hs.remove(Handler::SendProxy);
                    }
                }
                Source::Buffer | Source::Pipe => {
                    let ch = self.chan_mut(dir);
                    let drained = drained || cfg.mutant.has(Mutant::ShortWriteComplete);
                    let level = if drained { Fill::Empty } else { Fill::Some };
                    if from == Source::Buffer {
                        ch.buf = level;
                    } else {
                        ch.pipe = level;
                    }
                    ch.seen_data = true;
                    self.refresh_idle(cfg, side, now);
                }
            },
            Outcome::Done => match from {
                Source::Reply => self.reply_sent(cfg),
                Source::ProxyHeader => self.back.hs.remove(Handler::SendProxy),
                Source::Buffer | Source::Pipe => {
                    let ch = self.chan_mut(dir);
                    if from == Source::Buffer {
                        ch.buf = Fill::Empty;
                    } else {
                        ch.pipe = Fill::Empty;
                    }
                    ch.seen_data = true;
                }
            },
            Outcome::WouldBlock => self.chan_mut(dir).flags.set(ChanFlags::FULL_OUT),
            // Any failure to send to a server whose handshake is not done
            // (the PROXY header) fails the connect attempt.
            _ if side == Side::Back && self.si_back == SiState::Con => self.connect_failed(cfg, Cause::Server),
            Outcome::PeerClosed if matches!(from, Source::Buffer | Source::Pipe) => {
                // Data the peer will never read, after its FIN: its fault;
                // what it sent before that FIN is still to be read.
                self.record_peer_fault(side);
                self.output_failed(cfg, side);
            }
            // The peer is gone. The other outcomes cannot answer a send and
            // are taken the same way.
            Outcome::Reset
            | Outcome::PeerClosed
            | Outcome::NoResource
            | Outcome::WantWrite
            | Outcome::Eof
            | Outcome::EofEmpty
            | Outcome::Truncated
            | Outcome::Refused
            | Outcome::Invalid
            | Outcome::InProgress
            | Outcome::Pick(_)
            | Outcome::Verdict(_) => self.peer_failed(cfg, side, outcome),
        }
    }

    fn reply_sent<B: Bugs>(&mut self, cfg: &SessionConfig<B>) {
        self.front.hs.remove(Handler::SendLastChunk);
        if cfg.mutant.has(Mutant::ReplyThenSession) {
            // The bug: the check goes on to the session's handlers.
            Self::add_session_handlers(cfg, &mut self.front);
        } else {
            // The handler "tries to send and dies": nothing else runs on
            // this connection; it drains its input and closes.
            self.front.hs = HandlerSet::EMPTY;
            self.res.flags.set(ChanFlags::SHUT_IN);
            self.front.ops.desire(Op::DataShutr);
            self.front.ops.desire(Op::DataShutw);
            self.front.ops.desire(Op::CtrlShutw);
        }
    }

    /// Traffic on `side` pushes back its inactivity timers (the fin timers
    /// are inactivity timers too, as HAProxy's client-fin and server-fin).
    pub(super) fn refresh_idle<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side, now: Millis) {
        let kinds = match side {
            Side::Front => [TimerKind::Client, TimerKind::ClientFin],
            Side::Back => [TimerKind::Server, TimerKind::ServerFin],
        };
        for kind in kinds {
            self.timers.refresh(kind, now + cfg.timeouts.get(kind));
        }
    }
}

impl OpStatus {
    fn max_assign(&mut self, other: OpStatus) {
        if other.rank() > self.rank() {
            *self = other;
        }
    }
}

/// The answer to a step that cannot fail (dropping a buffer, CSHW, DCLO,
/// CCLO, FCLO, giving a slot back, leaving the queue): the runtime reports
/// `Done` ([`Action::may_give`]), and a release build takes any other answer
/// as done all the same. Every outcome is named, so that a new one is
/// weighed here too.
fn step_done(outcome: Outcome) {
    match outcome {
        Outcome::Done
        | Outcome::Data { .. }
        | Outcome::Sent { .. }
        | Outcome::WouldBlock
        | Outcome::WantWrite
        | Outcome::Eof
        | Outcome::EofEmpty
        | Outcome::Truncated
        | Outcome::Reset
        | Outcome::Refused
        | Outcome::Invalid
        | Outcome::InProgress
        | Outcome::Pick(_)
        | Outcome::Verdict(_)
        | Outcome::PeerClosed
        | Outcome::NoResource => {}
    }
}
