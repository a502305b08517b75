//! A session: two connections, two channels, two stream interfaces, and every
//! sequencing decision the note describes.
//!
//! # How to drive it
//!
//! The session is a deterministic state machine with no I/O and no clock, in
//! the shape of quinn-proto's `Connection`:
//!
//! 1. [`Session::accept`] creates it for a freshly accepted socket.
//! 2. Feed what happened: [`Session::handle_ready`] for readiness reported by
//!    the poller, [`Session::handle_outcome`] for the result of the action the
//!    session asked for, [`Session::handle_timeout`] when the clock passed
//!    [`Session::next_deadline`] (or [`Session::fire_timer`] for one timer),
//!    [`Session::handle_dequeued`] when a queued session got a server slot.
//! 3. Drain [`Session::poll_action`]: each call returns the next I/O action to
//!    perform, or `None` when the session waits for an event. Perform the
//!    action, report its result with [`Session::handle_outcome`], poll again.
//! 4. The session is over when [`Session::is_closed`] is true; then
//!    [`Session::termination`] gives its two-letter code.
//!
//! Every entry point takes the listener's [`SessionConfig`] and, where time
//! matters, `now` in milliseconds of the caller's monotonic clock. The model
//! checker drives the very same methods against an abstract kernel
//! (`check::system`), and the runtime against real sockets.
//!
//! # The shutdown sequences (the note's `si_shutw()` / `si_shutr()`)
//!
//! ```text
//!   shutw(conn): DSHW (TLS close_notify, may be postponed) -> CSHW (shutdown(SHUT_WR))
//!   shutr(conn): DSHR (read0 / close_notify / active shutr) -> CSHR (stop polling)
//!   when SHR and SHW: DCLO -> CCLO (deregister) -> FCLO (close(2), never retried)
//! ```
//!
//! Each step is recorded desired before it runs, so a step that fails (EAGAIN)
//! stays desired-and-started and is retried when the poller says the socket
//! is ready again: the note's "asynchronous task", whose knowledge of what
//! comes next is exactly these recorded desires. A connection whose output
//! side is gone drains its input (the active shutr: `read_abort_pending`)
//! and closes only after the peer's FIN or the fin timer, so a close never
//! turns into an RST that destroys a response the peer has not read.
//!
//! # Abort propagation (`SessionConfig::propagate_abort`)
//!
//! ```text
//!   peer's reset (recv/send: Reset) -> channel.aborted
//!   channel empty: consumer.rst = SCHEDULED (instead of DSHW/CSHW)
//!   SCHEDULED -> CheckSendQueue: Done -> close with SO_LINGER {1, 0}
//!                               WouldBlock -> AWAITING_ACK --writable--> SCHEDULED
//! ```
//!
//! The RST waits behind every byte already sent, bounded by the fin timer
//! (docs/model.md, "Abort propagation").

use super::backend::{self, Pick, Retry};
use super::channel::{ChanFlags, Channel, Dir, Fill, Sink, Source};
use super::config::{Bugs, Mutant, SessionConfig, SpliceMode};
use super::connection::{ConnState, Connection, DataLayer, PendingRst};
use super::handshake::{Handler, HandlerSet, Reply, RuleStage};
use super::op::{Op, OpStatus};
use super::termination::{Cause, Phase, Termination};
use super::timers::{TimerKind, Timers};
use super::{FdState, Millis, SiState};
use std::fmt;

/// One side of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The client-facing connection.
    Front,
    /// The server-facing connection.
    Back,
}

impl Side {
    /// Both sides.
    pub const BOTH: [Side; 2] = [Side::Front, Side::Back];

    /// The channel this side produces into.
    pub const fn input(self) -> Dir {
        match self {
            Side::Front => Dir::Req,
            Side::Back => Dir::Res,
        }
    }

    /// The channel this side consumes from.
    pub const fn output(self) -> Dir {
        match self {
            Side::Front => Dir::Res,
            Side::Back => Dir::Req,
        }
    }

    /// The other side.
    pub const fn other(self) -> Side {
        match self {
            Side::Front => Side::Back,
            Side::Back => Side::Front,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Front => "front",
            Side::Back => "back",
        })
    }
}

impl Dir {
    /// The side that fills this channel.
    pub const fn producer(self) -> Side {
        match self {
            Dir::Req => Side::Front,
            Dir::Res => Side::Back,
        }
    }

    /// The side that drains this channel.
    pub const fn consumer(self) -> Side {
        self.producer().other()
    }
}

/// What the session asks the runtime to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// HH_ACCEPT_PROXY: read from the front socket into the header parser,
    /// never past the end of the header.
    RecvProxyHeader,
    /// HH_TCP_RULES: evaluate the rule set of `stage`; answer with
    /// [`Outcome::Verdict`].
    EvalRules(RuleStage),
    /// HH_SSL_HS: advance the TLS handshake on `side`.
    TlsHandshake(Side),
    /// Ask the balancer for a server, avoiding `avoid` if it can (redispatch);
    /// answer with [`Outcome::Pick`].
    PickServer {
        /// The server a redispatch moves away from.
        avoid: Option<u8>,
    },
    /// Open a socket and start a non-blocking connect to `server`.
    Connect {
        /// Server index in the backend.
        server: u8,
    },
    /// The back socket became writable while connecting: read `SO_ERROR`.
    FinishConnect,
    /// Receive from `side` into `into`.
    Recv {
        /// Which socket.
        side: Side,
        /// Where the bytes go.
        into: Sink,
    },
    /// Send to `side` from `from`.
    Send {
        /// Which socket.
        side: Side,
        /// Where the bytes come from.
        from: Source,
        /// `MSG_MORE`: more data is known to follow.
        more: bool,
    },
    /// Drop what a channel holds and release its buffer and pipe: its consumer is gone.
    Discard(Dir),
    /// DSHW on a TLS connection: queue close_notify and flush it.
    DataShutw(Side),
    /// CSHW: `shutdown(SHUT_WR)` (ENOTCONN is success).
    CtrlShutw(Side),
    /// DCLO on a TLS connection: free the TLS state.
    DataClose(Side),
    /// CCLO: deregister the socket from the poller.
    CtrlClose(Side),
    /// FCLO: `close(2)`, with `SO_LINGER {1, 0}` first when `abortive`.
    SockClose {
        /// Which socket.
        side: Side,
        /// Reset instead of FIN.
        abortive: bool,
    },
    /// Give the server slot back to the balancer.
    ReleaseServer {
        /// Server index in the backend.
        server: u8,
    },
    /// Leave the backend's queue without a slot (queue timeout, client abort).
    LeaveQueue,
    /// An RST is owed to the peer of `side` (`--propagate-abort`): read the
    /// socket's send queue (`SIOCOUTQ`). [`Outcome::Done`] when the peer
    /// acknowledged every byte, [`Outcome::WouldBlock`] when some are still
    /// unacknowledged (ask again when the socket is reported writable; a
    /// runtime whose kernel sends no edge for acknowledgements polls).
    CheckSendQueue(Side),
}

/// What happened when the runtime performed an [`Action`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The action completed.
    Done,
    /// A recv moved bytes; `full` if the sink has no room left.
    Data {
        /// The buffer or pipe is now full.
        full: bool,
    },
    /// A send moved bytes; `drained` if the source is now empty.
    Sent {
        /// The source is now empty.
        drained: bool,
    },
    /// EAGAIN (for a TLS handshake: it wants to read).
    WouldBlock,
    /// A TLS handshake wants to write and the socket is full.
    WantWrite,
    /// read0 (or a clean TLS end) after some bytes.
    Eof,
    /// read0 before any byte of a PROXY header: a bare TCP health check.
    EofEmpty,
    /// read0 on a TLS connection without a close_notify first: the peer's
    /// stream was cut (a truncation, RFC 8446 6.1), which the other side
    /// must be able to tell from a clean end.
    Truncated,
    /// ECONNRESET, EPIPE or another hard error: the peer is gone.
    Reset,
    /// The connect attempt failed (refused, unreachable).
    Refused,
    /// The peer violated the protocol (PROXY header, TLS).
    Invalid,
    /// connect() is in progress.
    InProgress,
    /// The balancer's answer.
    Pick(Pick),
    /// The rules' answer: accept (`true`) or reject.
    Verdict(bool),
    /// A send met the RST that answered data sent after the peer's FIN
    /// (Linux: `EPIPE` as the socket's first error, CLOSE-WAIT): the peer
    /// takes nothing more, and what it sent before its FIN is still
    /// readable. `Reset` is an RST with no FIN before it: both directions
    /// are gone.
    PeerClosed,
    /// A local resource ran out (EMFILE, no buffer; for a recv into the
    /// pipe: no pipe could be had, and nothing was read).
    NoResource,
}

/// A proxied TCP session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Session {
    /// The client-facing connection.
    pub front: Connection,
    /// The server-facing connection.
    pub back: Connection,
    /// Client to server.
    pub req: Channel,
    /// Server to client.
    pub res: Channel,
    /// The front stream interface.
    pub si_front: SiState,
    /// The back stream interface.
    pub si_back: SiState,
    /// The reply HH_SEND_LAST_CHUNK sends.
    pub reply: Option<Reply>,
    /// The source matched monitor-net (input of HH_MONITOR_IN).
    pub monitor_match: bool,
    /// The server the session holds a slot on.
    pub server: Option<u8>,
    /// The server of the last failed attempt (a redispatch avoids it).
    pub failed_server: Option<u8>,
    /// Connect attempts issued.
    pub attempts: u8,
    /// Retries spent.
    pub retries_used: u8,
    /// Armed timers.
    pub timers: Timers,
    /// Why it ended.
    pub term: Termination,
    /// The connection was counted as rejected by a rule.
    pub rejected: bool,
    /// Who made the last connect attempt fail (refusal or timeout).
    pub fail_cause: Cause,
    /// HH_ACCEPT_SESSION ran: the session exists.
    pub started: bool,
    /// The session is in its backend's queue (from a `Queue` pick until it is
    /// handed a slot or leaves).
    pub queued: bool,
}

impl Session {
    /// A session for a socket `accept()` just returned. `monitor_match` tells
    /// whether its source address matches monitor-net.
    pub fn accept<B: Bugs>(cfg: &SessionConfig<B>, now: Millis, monitor_match: bool) -> Session {
        let mut front = Connection { fd: FdState::Ready, state: ConnState::Accepted, ..Connection::default() };
        let mut reply = None;
        if cfg.health {
            // mode health: HH_HEALTH, which tries to send OK and dies.
            front.hs.add(Handler::SendLastChunk);
            reply = Some(Reply::Health);
        } else {
            if cfg.monitor {
                front.hs.add(Handler::MonitorIn);
            }
            Self::add_session_handlers(cfg, &mut front);
        }
        let mut req = Channel::default();
        // Nothing is known to be readable until the poller says so.
        req.flags.set(ChanFlags::EMPTY_IN);
        let mut res = Channel::default();
        // The back socket does not exist yet: nothing can be sent to it.
        req.flags.set(ChanFlags::FULL_OUT);
        res.flags.set(ChanFlags::EMPTY_IN);
        let mut s = Session {
            front,
            back: Connection::default(),
            req,
            res,
            si_front: SiState::Ini,
            si_back: SiState::Ini,
            reply,
            monitor_match,
            server: None,
            failed_server: None,
            attempts: 0,
            retries_used: 0,
            timers: Timers::default(),
            term: Termination::default(),
            rejected: false,
            fail_cause: Cause::Normal,
            started: false,
            queued: false,
        };
        s.update(cfg, now);
        s
    }

    fn add_session_handlers<B: Bugs>(cfg: &SessionConfig<B>, front: &mut Connection) {
        if cfg.conn_rules {
            front.hs.add(Handler::TcpRulesConn);
        }
        if cfg.accept_proxy {
            front.hs.add(Handler::AcceptProxy);
        }
        if cfg.src_rules {
            front.hs.add(Handler::TcpRules);
        }
        if cfg.tls_front {
            front.hs.add(Handler::SslHs);
            front.data = DataLayer::Tls;
            front.data_hs = OpStatus::Desired;
        }
        front.hs.add(Handler::AcceptSession);
    }

    /// A connection by side.
    pub fn conn(&self, side: Side) -> &Connection {
        match side {
            Side::Front => &self.front,
            Side::Back => &self.back,
        }
    }

    fn conn_mut(&mut self, side: Side) -> &mut Connection {
        match side {
            Side::Front => &mut self.front,
            Side::Back => &mut self.back,
        }
    }

    /// A channel by direction.
    pub fn chan(&self, dir: Dir) -> &Channel {
        match dir {
            Dir::Req => &self.req,
            Dir::Res => &self.res,
        }
    }

    fn chan_mut(&mut self, dir: Dir) -> &mut Channel {
        match dir {
            Dir::Req => &mut self.req,
            Dir::Res => &mut self.res,
        }
    }

    /// A stream interface by side.
    pub fn si(&self, side: Side) -> SiState {
        match side {
            Side::Front => self.si_front,
            Side::Back => self.si_back,
        }
    }

    /// Every state change of a stream interface goes through here.
    fn set_si(&mut self, side: Side, to: SiState) {
        let slot = match side {
            Side::Front => &mut self.si_front,
            Side::Back => &mut self.si_back,
        };
        if *slot != to {
            let from = *slot;
            *slot = to;
            super::trace::record(side, from, to);
        }
    }

    /// The session is over: both stream interfaces reached CLO, both sockets
    /// are closed, the server slot is given back and the channels hold
    /// nothing. [`Session::poll_action`] returns `None` from then on.
    pub fn is_closed(&self) -> bool {
        self.si_front == SiState::Clo
            && self.si_back == SiState::Clo
            && self.front.fd == FdState::Closed
            && self.back.fd == FdState::Closed
            && self.server.is_none()
            && !self.queued
            && self.req.is_empty()
            && self.res.is_empty()
    }

    /// The session went past its handshake handlers.
    pub fn started(&self) -> bool {
        self.started
    }

    /// The termination code (meaningful once closed).
    pub fn termination(&self) -> Termination {
        self.term
    }

    /// The phase the session is in, for termination codes.
    pub fn phase(&self) -> Phase {
        if self.si_front == SiState::Ini {
            return Phase::Request;
        }
        match self.si_back {
            SiState::Que => Phase::Queue,
            SiState::Ini | SiState::Req | SiState::Tar | SiState::Ass | SiState::Con | SiState::Cer => Phase::Connect,
            SiState::Est => {
                if self.front.shr() || self.front.shw() || self.back.shr() || self.back.shw() {
                    Phase::Close
                } else {
                    Phase::Data
                }
            }
            SiState::Dis | SiState::Clo => Phase::Close,
        }
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.timers.next_deadline()
    }

    /// Whether a timer is armed.
    pub fn timer_armed(&self, kind: TimerKind) -> bool {
        self.timers.is_armed(kind)
    }

    // ------------------------------------------------------------------
    // Inputs
    // ------------------------------------------------------------------

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
            self.set_si(Side::Back, SiState::Ass);
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
                self.give_up_server();
            }
            TimerKind::TurnAround => {
                if self.si_back == SiState::Tar {
                    let to = if self.server.is_some() { SiState::Ass } else { SiState::Req };
                    self.set_si(Side::Back, to);
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

    /// The runtime performed `action`; this is what happened.
    pub fn handle_outcome<B: Bugs>(&mut self, cfg: &SessionConfig<B>, action: Action, outcome: Outcome, now: Millis) {
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
                // Invalid header, or anything unexpected: the peer is at fault.
                _ => {
                    self.term.record(Cause::Client, Phase::Request);
                    self.abort(cfg, Side::Front);
                }
            },
            Action::EvalRules(stage) => match outcome {
                Outcome::Verdict(true) => self.front.hs.remove(match stage {
                    RuleStage::Connection => Handler::TcpRulesConn,
                    RuleStage::Source => Handler::TcpRules,
                }),
                _ if cfg.mutant.has(Mutant::RulesIgnored) => self.front.hs.remove(match stage {
                    RuleStage::Connection => Handler::TcpRulesConn,
                    RuleStage::Source => Handler::TcpRules,
                }),
                _ => {
                    // `tcp-request connection reject`: reset, count, no log line.
                    self.rejected = true;
                    self.term.record(Cause::Proxy, Phase::Request);
                    self.abort(cfg, Side::Front);
                }
            },
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
                    _ if side == Side::Back && self.si_back == SiState::Con => {
                        self.connect_failed(cfg, Cause::Server);
                    }
                    Outcome::Eof | Outcome::Truncated | Outcome::Reset | Outcome::PeerClosed => {
                        self.record_peer_fault(side);
                        self.peer_gone(cfg, side);
                    }
                    _ => {
                        self.record_peer_fault(side);
                        self.abort(cfg, side);
                    }
                }
            }
            Action::PickServer { .. } => match outcome {
                Outcome::Pick(Pick::Assigned(srv)) => {
                    self.server = Some(srv);
                    self.set_si(Side::Back, SiState::Ass);
                }
                Outcome::Pick(Pick::Queue) if cfg.queue => {
                    self.queued = true;
                    self.set_si(Side::Back, SiState::Que);
                }
                _ => {
                    self.term.record(Cause::Proxy, Phase::Connect);
                    self.give_up_server();
                }
            },
            Action::Connect { .. } => match outcome {
                Outcome::NoResource => {
                    // No socket could be made (EMFILE, ENOBUFS).
                    self.term.record(Cause::Resource, Phase::Connect);
                    self.give_up_server();
                }
                _ => {
                    self.attempts = self.attempts.saturating_add(1);
                    self.back = Connection {
                        fd: FdState::Ready,
                        state: ConnState::Connecting,
                        data: if cfg.tls_back { DataLayer::Tls } else { DataLayer::Raw },
                        ..Connection::default()
                    };
                    self.req.flags.set(ChanFlags::FULL_OUT);
                    self.res.flags.set(ChanFlags::EMPTY_IN);
                    self.res.flags.clear(ChanFlags::SHUT_IN | ChanFlags::ERR_IN);
                    self.req.flags.clear(ChanFlags::SHUT_OUT | ChanFlags::ERR_OUT);
                    self.set_si(Side::Back, SiState::Con);
                    if !matches!(outcome, Outcome::InProgress | Outcome::Done) {
                        // connect() failed at once (ECONNREFUSED on loopback):
                        // the socket exists and is closed like any failed attempt.
                        self.connect_failed(cfg, Cause::Server);
                    }
                }
            },
            Action::FinishConnect => match outcome {
                Outcome::Done => {
                    // TCP is up; the interface stays in CON until the
                    // outgoing handshake handlers are done (update()), so a
                    // broken TLS server is a failed attempt, bounded by the
                    // connect timer and retried.
                    self.back.state = ConnState::Established;
                    if cfg.send_proxy {
                        self.back.hs.add(Handler::SendProxy);
                    }
                    if cfg.tls_back {
                        self.back.hs.add(Handler::SslHs);
                        self.back.data_hs = OpStatus::Desired;
                    }
                }
                Outcome::WouldBlock => self.req.flags.set(ChanFlags::FULL_OUT),
                _ => self.connect_failed(cfg, Cause::Server),
            },
            Action::Recv { side, into } => self.recv_outcome(cfg, side, into, outcome, now),
            Action::Send { side, from, .. } => self.send_outcome(cfg, side, from, outcome, now),
            Action::Discard(dir) => {
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
                _ => {
                    self.record_peer_fault(side);
                    self.peer_gone(cfg, side);
                }
            },
            Action::CtrlShutw(side) => {
                // shutdown(SHUT_WR) does not block; ENOTCONN counts as done.
                let c = self.conn_mut(side);
                c.ops.advance(Op::CtrlShutw, OpStatus::Done);
                let out = side.output();
                self.chan_mut(out).flags.set(ChanFlags::SHUT_OUT);
            }
            Action::DataClose(side) => self.conn_mut(side).ops.advance(Op::DataClose, OpStatus::Done),
            Action::CtrlClose(side) => self.conn_mut(side).ops.advance(Op::CtrlClose, OpStatus::Done),
            Action::SockClose { side, .. } => {
                let c = self.conn_mut(side);
                c.ops.advance(Op::SockClose, OpStatus::Done);
                c.fd = FdState::Closed;
                // No CLOSED flag is needed: a closed connection is detached
                // (the note); ERR stays recorded in `error`.
                c.state = ConnState::Closed;
            }
            Action::ReleaseServer { .. } => {
                self.server = None;
                if cfg.mutant.has(Mutant::QueueTimeoutReleases) && self.si_back != SiState::Que {
                    // The bug's "release" stood for leaving the queue.
                    self.queued = false;
                }
            }
            Action::LeaveQueue => self.queued = false,
            Action::CheckSendQueue(side) => match outcome {
                // Every byte before the abort reached the peer: now the RST.
                Outcome::Done => self.abort(cfg, side),
                Outcome::WouldBlock => self.conn_mut(side).rst = PendingRst::AwaitingAck,
                // This peer reset too: nothing is left to pass on.
                _ => {
                    self.record_peer_fault(side);
                    self.peer_gone(cfg, side);
                }
            },
        }
        self.update(cfg, now);
    }

    fn record_peer_fault(&mut self, side: Side) {
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
            _ => self.peer_failed(cfg, side, outcome),
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
            _ if side == Side::Back && self.si_back == SiState::Con => self.connect_failed(cfg, Cause::Server),
            Outcome::PeerClosed if matches!(from, Source::Buffer | Source::Pipe) => {
                // Data the peer will never read, after its FIN: its fault;
                // what it sent before that FIN is still to be read.
                self.record_peer_fault(side);
                self.output_failed(cfg, side);
            }
            _ => self.peer_failed(cfg, side, outcome),
        }
    }

    /// A send on `side` (data or the close_notify) met the RST that came
    /// after the peer's FIN (`Outcome::PeerClosed`): the peer takes nothing
    /// more, so this output is shut in error and its shutdown steps are
    /// moot. What the peer sent before that FIN is still readable (Linux's
    /// CLOSE-WAIT), so the input stays open: its next recv reads it, then
    /// the FIN; that ends the connection.
    fn output_failed<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side) {
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
    fn peer_failed<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side, outcome: Outcome) {
        let was_open = !self.chan(side.input()).has(ChanFlags::SHUT_IN);
        self.record_peer_fault(side);
        self.peer_gone(cfg, side);
        if cfg.propagate_abort && outcome == Outcome::Reset && was_open {
            self.chan_mut(side.input()).aborted = true;
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
    fn refresh_idle<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side, now: Millis) {
        let kinds = match side {
            Side::Front => [TimerKind::Client, TimerKind::ClientFin],
            Side::Back => [TimerKind::Server, TimerKind::ServerFin],
        };
        for kind in kinds {
            self.timers.refresh(kind, now + cfg.timeouts.get(kind));
        }
    }

    /// The peer of `side` is gone (read0 before a header, reset, hard error):
    /// no RST risk, close without draining.
    fn peer_gone<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side) {
        let c = self.conn_mut(side);
        c.state = ConnState::Error;
        c.error = true;
        if c.fd == FdState::Ready {
            c.fd = FdState::Error;
        }
        self.close_now(cfg, side, false);
        let input = side.input();
        let output = side.output();
        self.chan_mut(input).flags.set(ChanFlags::SHUT_IN | ChanFlags::ERR_IN);
        self.chan_mut(output).flags.set(ChanFlags::SHUT_OUT | ChanFlags::ERR_OUT);
    }

    /// Abortive close of `side` (timeout, rule reject, protocol violation).
    fn abort<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side) {
        let c = self.conn_mut(side);
        if !c.is_open() || c.closing() {
            if side == Side::Back && matches!(self.si_back, SiState::Req | SiState::Que | SiState::Tar | SiState::Ass) {
                self.give_up_server();
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
    fn close_now<B: Bugs>(&mut self, _cfg: &SessionConfig<B>, side: Side, abortive: bool) {
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

    fn connect_failed<B: Bugs>(&mut self, cfg: &SessionConfig<B>, cause: Cause) {
        if self.si_back != SiState::Con {
            return;
        }
        self.fail_cause = cause;
        self.set_si(Side::Back, SiState::Cer);
        // The failed socket goes through the ordinary close sequence.
        self.close_now(cfg, Side::Back, false);
        self.back.state = ConnState::Error;
        self.back.error = true;
        if self.back.fd == FdState::Ready {
            self.back.fd = FdState::Error;
        }
    }

    /// No server will be connected: the back stream interface closes and the
    /// front finishes gracefully (it drains what the client sends).
    fn give_up_server(&mut self) {
        if !matches!(self.si_back, SiState::Est | SiState::Dis | SiState::Clo | SiState::Con) {
            self.set_si(Side::Back, SiState::Clo);
        }
        // There is no response stream to end cleanly: the client is told
        // with a FIN alone (no close_notify), as for a cut stream.
        self.res.flags.set(ChanFlags::SHUT_IN | ChanFlags::ERR_IN);
        self.req.flags.set(ChanFlags::SHUT_OUT);
    }
}

impl OpStatus {
    fn max_assign(&mut self, other: OpStatus) {
        if other.rank() > self.rank() {
            *self = other;
        }
    }
}

// ----------------------------------------------------------------------
// The internal consequences of every input, and the next action.
// ----------------------------------------------------------------------
impl Session {
    /// Applies every consequence that needs no I/O, until nothing changes:
    /// handlers that complete at once, FIN propagation, active shutr, the
    /// close decision, stream-interface moves, timers.
    fn update<B: Bugs>(&mut self, cfg: &SessionConfig<B>, now: Millis) {
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
                self.front.state = ConnState::Established;
                self.started = true;
                self.set_si(Side::Front, SiState::Est);
                self.set_si(Side::Back, SiState::Req);
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
            self.set_si(Side::Back, SiState::Clo);
            return;
        }
        let used = if cfg.mutant.has(Mutant::RetryWithoutBudget) { 0 } else { self.retries_used };
        let refused = self.fail_cause == Cause::Server;
        match backend::after_failure(cfg.retries, used, cfg.redispatch, cfg.turn_around && refused) {
            Retry::GiveUp => {
                let cause = self.fail_cause;
                self.term.record(cause, Phase::Connect);
                self.give_up_server();
            }
            Retry::SameServer => {
                self.retries_used = self.retries_used.saturating_add(1);
                self.set_si(Side::Back, SiState::Ass);
            }
            Retry::TurnAround => {
                self.retries_used = self.retries_used.saturating_add(1);
                self.set_si(Side::Back, SiState::Tar);
            }
            Retry::Redispatch => {
                self.retries_used = self.retries_used.saturating_add(1);
                self.failed_server = self.server;
                self.set_si(Side::Back, SiState::Req);
            }
        }
        if cfg.mutant.has(Mutant::RetryFromCer) && self.si_back == SiState::Tar {
            // The bug: it stays in CER and connects from there at once
            // (`retry_owed_from_cer`), without the turn-around delay.
            self.set_si(Side::Back, SiState::Cer);
        }
    }

    /// Mutant `retry-from-cer` only: a retry was decided (counted) and its
    /// connect is issued from CER itself.
    fn retry_owed_from_cer<B: Bugs>(&self, cfg: &SessionConfig<B>) -> bool {
        cfg.mutant.has(Mutant::RetryFromCer) && self.si_back == SiState::Cer && self.attempts <= self.retries_used
    }

    /// Whether the consumer of `dir` will never take data again.
    fn consumer_gone<B: Bugs>(&self, cfg: &SessionConfig<B>, dir: Dir) -> bool {
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
                    self.set_si(Side::Front, SiState::Clo);
                }
            }
            SiState::Est => {
                if self.front.closing() || (self.front.shr() && self.front.shw()) {
                    self.set_si(Side::Front, SiState::Dis);
                }
            }
            SiState::Dis => {
                if self.front.fd == FdState::Closed {
                    self.set_si(Side::Front, SiState::Clo);
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
                    self.set_si(Side::Back, SiState::Clo);
                }
            }
            SiState::Req | SiState::Que | SiState::Tar | SiState::Ass => {
                if front_gone && self.front.abortive_or_error() {
                    self.set_si(Side::Back, SiState::Clo);
                }
            }
            SiState::Con => {
                if self.back.state == ConnState::Established && self.back.hs.is_empty() && !self.back.closing() {
                    self.set_si(Side::Back, SiState::Est);
                } else if front_gone && self.front.abortive_or_error() {
                    // Abandon the attempt. A plain close: before TCP is up it
                    // makes no difference, and once it is up the server has
                    // read everything a handshake reply answered, so no RST
                    // is needed to destroy what it has not.
                    self.close_now(cfg, Side::Back, false);
                    if self.back.fd == FdState::Closed {
                        self.set_si(Side::Back, SiState::Clo);
                    }
                }
            }
            SiState::Cer => {}
            SiState::Est => {
                if self.back.closing() || (self.back.shr() && self.back.shw()) {
                    self.set_si(Side::Back, SiState::Dis);
                }
            }
            SiState::Dis => {
                if self.back.fd == FdState::Closed && !cfg.mutant.has(Mutant::NoDisToClo) {
                    self.set_si(Side::Back, SiState::Clo);
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

impl Connection {
    /// Closing because of an abort or an error (not a graceful end).
    pub fn abortive_or_error(&self) -> bool {
        self.closing() && (self.abortive || self.error)
    }
}
