//! What the session asks the runtime to do ([`Action`]), and what the runtime
//! answers ([`Outcome`]).

use super::Side;
use crate::core::backend::Pick;
use crate::core::channel::{Dir, Sink, Source};
use crate::core::handshake::RuleStage;

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

impl Action {
    /// Whether a runtime may answer this action with `outcome`: the table
    /// [`Session::handle_outcome`](super::Session::handle_outcome) holds the
    /// runtime to. Any other answer is a bug of the runtime: it fails in
    /// debug builds, tests and fuzzing (the core still takes it the way its
    /// `handle_outcome` arm says, in a release build).
    pub fn may_give(self, outcome: Outcome) -> bool {
        use Outcome::*;
        match self {
            Action::RecvProxyHeader => matches!(outcome, Done | WouldBlock | EofEmpty | Eof | Reset | Invalid),
            Action::EvalRules(_) => matches!(outcome, Verdict(_)),
            Action::TlsHandshake(_) => {
                matches!(outcome, Done | WouldBlock | WantWrite | Eof | Truncated | Reset | PeerClosed | Invalid)
            }
            Action::PickServer { .. } => matches!(outcome, Pick(_)),
            Action::Connect { .. } => matches!(outcome, InProgress | Done | Refused | NoResource),
            Action::FinishConnect => matches!(outcome, Done | WouldBlock | Refused),
            Action::Recv { .. } => {
                matches!(outcome, Data { .. } | WouldBlock | Eof | EofEmpty | Truncated | Reset | Invalid | NoResource)
            }
            Action::Send { .. } => matches!(outcome, Sent { .. } | Done | WouldBlock | Reset | PeerClosed | NoResource),
            Action::DataShutw(_) | Action::CheckSendQueue(_) => {
                matches!(outcome, Done | WouldBlock | Reset | PeerClosed)
            }
            Action::Discard(_)
            | Action::CtrlShutw(_)
            | Action::DataClose(_)
            | Action::CtrlClose(_)
            | Action::SockClose { .. }
            | Action::ReleaseServer { .. }
            | Action::LeaveQueue => matches!(outcome, Done),
        }
    }
}
