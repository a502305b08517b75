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
//!
//! # Where things are
//!
//! - `mod.rs`: the [`Session`] itself, [`Session::accept`] and the accessors;
//! - `side.rs`: [`Side`], and which channel each side fills and drains;
//! - `action.rs`: the runtime's vocabulary, [`Action`] and [`Outcome`];
//! - `input.rs`: readiness, a queue slot, timers and the proxy's stop;
//! - `outcome.rs`: [`Session::handle_outcome`], what each answer changes;
//! - `teardown.rs`: how a side ends early (peer gone, abort, failed connect);
//! - `update.rs`: the consequences that need no I/O, applied to a fixpoint;
//! - `next_action.rs`: [`Session::poll_action`], the next I/O action.

mod action;
mod input;
mod next_action;
mod outcome;
mod teardown;
mod update;

pub use crate::core::side::Side;
pub use action::{Action, Outcome};

use crate::core::channel::{ChanFlags, Channel, Dir};
use crate::core::config::{Bugs, Mutant, SessionConfig};
use crate::core::connection::{ConnState, Connection, DataLayer};
use crate::core::handshake::{Handler, Reply};
use crate::core::op::OpStatus;
use crate::core::termination::{Cause, Phase, Termination};
use crate::core::timers::{TimerKind, Timers};
use crate::core::{FdState, Millis, SiState};

/// A proxied TCP session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Session {
    /// The client-facing connection.
    front: Connection,
    /// The server-facing connection.
    back: Connection,
    /// Client to server.
    req: Channel,
    /// Server to client.
    res: Channel,
    /// The front stream interface.
    si_front: SiState,
    /// The back stream interface.
    si_back: SiState,
    /// The reply HH_SEND_LAST_CHUNK sends.
    reply: Option<Reply>,
    /// The source matched monitor-net (input of HH_MONITOR_IN).
    monitor_match: bool,
    /// The server the session holds a slot on.
    server: Option<u8>,
    /// The server of the last failed attempt (a redispatch avoids it).
    failed_server: Option<u8>,
    /// Connect attempts issued.
    attempts: u8,
    /// Retries spent.
    retries_used: u8,
    /// Armed timers.
    timers: Timers,
    /// Why it ended.
    term: Termination,
    /// The connection was counted as rejected by a rule.
    rejected: bool,
    /// Who made the last connect attempt fail (refusal or timeout).
    fail_cause: Cause,
    /// HH_ACCEPT_SESSION ran: the session exists.
    started: bool,
    /// The session is in its backend's queue (from a `Queue` pick until it is
    /// handed a slot or leaves).
    queued: bool,
}

impl Session {
    /// A session for a socket `accept()` just returned. `monitor_match` tells
    /// whether its source address matches monitor-net.
    pub fn accept<B: Bugs>(cfg: &SessionConfig<B>, now: Millis, monitor_match: bool) -> Session {
        let mut front = Connection::default();
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
        s.set_fd(Side::Front, FdState::Ready);
        s.set_conn_state(Side::Front, ConnState::Accepted);
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

    /// Every state change of a stream interface goes through here; it is
    /// recorded for the checker (`core::trace`) and emitted as a trace event
    /// (target `connseq::core`: `SI front: INI -> EST`). A move the note's
    /// table does not have ([`SiState::may_move_to`]) is a bug of the core:
    /// it fails here in debug builds, tests and fuzzing, unless the one
    /// mutant written to make it (`retry-from-cer`) does, so that the property
    /// "a stream interface moves only along the note's transitions" refutes it.
    fn set_si<B: Bugs>(&mut self, cfg: &SessionConfig<B>, side: Side, to: SiState) {
        let si = match side {
            Side::Front => &mut self.si_front,
            Side::Back => &mut self.si_back,
        };
        if *si != to {
            let from = *si;
            debug_assert!(
                from.may_move_to(to) || cfg.mutant.has(Mutant::RetryFromCer),
                "SI {side}: {from} -> {to} is not a transition of the note"
            );
            *si = to;
            tracing::trace!(target: "connseq::core", "SI {side}: {from} -> {to}");
            crate::core::trace::record(side, from, to);
        }
    }

    /// Every change of a connection's state goes through here, emitted as a
    /// trace event (`conn back: CONNECTING -> ESTABLISHED`).
    fn set_conn_state(&mut self, side: Side, to: ConnState) {
        let c = self.conn_mut(side);
        if c.state != to {
            tracing::trace!(target: "connseq::core", "conn {side}: {} -> {to}", c.state);
            c.state = to;
        }
    }

    /// Every change of an FD's state goes through here, emitted as a trace
    /// event (`FD back: READY -> ERROR`).
    fn set_fd(&mut self, side: Side, to: FdState) {
        let c = self.conn_mut(side);
        if c.fd != to {
            tracing::trace!(target: "connseq::core", "FD {side}: {} -> {to}", c.fd);
            c.fd = to;
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

    /// The reply HH_SEND_LAST_CHUNK sends, if any.
    pub fn reply(&self) -> Option<Reply> {
        self.reply
    }

    /// The source matched monitor-net (input of HH_MONITOR_IN).
    pub fn monitor_match(&self) -> bool {
        self.monitor_match
    }

    /// The server the session holds a slot on.
    pub fn server(&self) -> Option<u8> {
        self.server
    }

    /// The server of the last failed attempt (a redispatch avoids it).
    pub fn failed_server(&self) -> Option<u8> {
        self.failed_server
    }

    /// Connect attempts issued.
    pub fn attempts(&self) -> u8 {
        self.attempts
    }

    /// Retries spent.
    pub fn retries_used(&self) -> u8 {
        self.retries_used
    }

    /// The armed timers.
    pub fn timers(&self) -> &Timers {
        &self.timers
    }

    /// The connection was counted as rejected by a rule.
    pub fn rejected(&self) -> bool {
        self.rejected
    }

    /// The session is in its backend's queue (from a `Queue` pick until it
    /// is handed a slot or leaves).
    pub fn queued(&self) -> bool {
        self.queued
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
}

impl Connection {
    /// Closing because of an abort or an error (not a graceful end).
    pub fn abortive_or_error(&self) -> bool {
        self.closing() && (self.abortive || self.error)
    }
}
