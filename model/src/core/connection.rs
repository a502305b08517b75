//! A connection: its FD, its state, its data layer, the table of shutdown and
//! close operations, and its handshake handlers.
//!
//! ```text
//!                 accept()                     handshake handlers done
//!   CLOSED ------------------> ACCEPTED --------------------------------> ESTABLISHED
//!     |   connect()                                                          |   |
//!     +------------------> CONNECTING --connected--> ESTABLISHED            |   |
//!                              |                                             |   |
//!                              +--refused/timeout--> ERROR <--reset----------+   |
//!                                                      |                         |
//!                                                      +------> CLOSED <--close--+
//!
//!   ACCEPTED -> ERROR (bad handshake, reset) or -> CLOSED (closed before the
//!   session started); CONNECTING -> CLOSED (a connect abandoned).
//! ```
//!
//! Externally a connection is seen with very few flags (the note: SHR, SHW,
//! ERR): [`Connection::shr`], [`Connection::shw`], [`Connection::err`].
//! See docs/model.md, "Connection", for the states the checker reached.

use super::handshake::HandlerSet;
use super::op::{Op, OpStatus, OpTable};
use super::FdState;
use std::fmt;

/// Connection state, named as in the note.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ConnState {
    /// No connection.
    #[default]
    Closed,
    /// Accepted; incoming handshake handlers may still run.
    Accepted,
    /// connect() in progress.
    Connecting,
    /// Ready to carry data (handshake handlers may still run on the outgoing side).
    Established,
    /// An error was reported (reset, refused, protocol violation).
    Error,
}

impl fmt::Display for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnState::Closed => "CLOSED",
            ConnState::Accepted => "ACCEPTED",
            ConnState::Connecting => "CONNECTING",
            ConnState::Established => "ESTABLISHED",
            ConnState::Error => "ERROR",
        })
    }
}

/// The data layer over the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DataLayer {
    /// Bytes as they are (`raw_sock`).
    #[default]
    Raw,
    /// TLS (`ssl_sock`): its shutw is close_notify, and it never splices.
    Tls,
}

/// An RST the proxy owes this connection's peer because the other peer reset
/// its own (`SessionConfig::propagate_abort`): a reset scheduled behind the
/// data, as h2's scheduled reset, never a FIN.
///
/// ```text
///   NONE --channel flushed after the other peer's RST--> SCHEDULED
///   SCHEDULED --send queue empty (CheckSendQueue: Done)--> close with SO_LINGER {1, 0}
///   SCHEDULED --bytes not yet acknowledged (WouldBlock)--> AWAITING_ACK
///   AWAITING_ACK --socket reported writable--> SCHEDULED
/// ```
///
/// The fin timer bounds the wait (a peer that never reads gets the RST at its
/// `timeout client-fin` / `server-fin`). See docs/model.md, "Abort propagation".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PendingRst {
    /// No RST is owed.
    #[default]
    None,
    /// Owed: the next step reads the socket's send queue.
    Scheduled,
    /// The send queue held bytes the peer had not acknowledged at the last
    /// look: waits for the socket to be reported writable.
    AwaitingAck,
}

impl PendingRst {
    /// 0, 1, 2: the order the states are reached in.
    pub const fn rank(self) -> u8 {
        match self {
            PendingRst::None => 0,
            PendingRst::Scheduled => 1,
            PendingRst::AwaitingAck => 2,
        }
    }
}

impl fmt::Display for PendingRst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PendingRst::None => "NONE",
            PendingRst::Scheduled => "SCHEDULED",
            PendingRst::AwaitingAck => "AWAITING_ACK",
        })
    }
}

/// One side of a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Connection {
    /// The FD.
    pub fd: FdState,
    /// The connection state.
    pub state: ConnState,
    /// Raw or TLS.
    pub data: DataLayer,
    /// Desired and completed shutdown/close operations, per layer and direction.
    pub ops: OpTable,
    /// Handshake handlers still subscribed.
    pub hs: HandlerSet,
    /// The data layer's handshake (TLS accept or connect), as the note's 2 bits.
    pub data_hs: OpStatus,
    /// ERR: an error was reported (reset, refused, protocol violation). It
    /// outlives the close, which moves the state to CLOSED.
    pub error: bool,
    /// The close was ordered abortive (`SO_LINGER {on, 0}`: RST, no TIME_WAIT).
    pub abortive: bool,
    /// The data layer's handshake waits to write (else to read).
    pub hs_wants_write: bool,
    /// An RST owed to the peer behind the data (`--propagate-abort`).
    pub rst: PendingRst,
}

impl Connection {
    /// SHR: reading is over (read0, error, or given up).
    pub fn shr(&self) -> bool {
        self.ops.done(Op::DataShutr)
    }

    /// SHW: the shutw sequence completed (FIN queued), or the socket is gone.
    pub fn shw(&self) -> bool {
        self.ops.done(Op::CtrlShutw)
    }

    /// ERR: an error was reported.
    pub fn err(&self) -> bool {
        self.error
    }

    /// An active shutr is in progress: DSHR is desired and not done (the
    /// note's `read_abort_pending`). Input is read and discarded until read0
    /// or the fin timer.
    pub fn draining(&self) -> bool {
        self.ops.pending(Op::DataShutr)
    }

    /// The socket is open.
    pub fn is_open(&self) -> bool {
        matches!(self.fd, FdState::Ready | FdState::Error)
    }

    /// The close sequence was asked for.
    pub fn closing(&self) -> bool {
        self.ops.get(Op::SockClose).is_desired()
    }

    /// Whether the connection can carry payload: established, every outgoing
    /// handler done, not closing.
    pub fn carries_data(&self) -> bool {
        self.state == ConnState::Established && self.hs.is_empty() && !self.closing()
    }
}
