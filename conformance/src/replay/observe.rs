//! What a replay compares: what one peer read ([`ReadObs`], and what the
//! model's peer read in a step), and the core's state as compared
//! ([`projection`]).

use crate::tls_peer::Unit;
use connseq_model::check::{SysState, Who};
use connseq_model::core::{Dir, Op, Session, Side};
/// What one peer read in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadObs {
    Nothing,
    Data,
    Fin,
    Rst,
    /// The PROXY header the proxy sends first (server side).
    Header,
    /// A PROXY header whose source is not the one the proxy must forward
    /// (the client's, or the one its own PROXY header gave).
    HeaderWithOtherSource,
    /// A health or monitor reply (client side).
    Reply,
    /// The server read the client's TLS hello (and answered with its flight).
    TlsHello,
    /// The client read the server's TLS flight (and answered with its Finished).
    TlsFlight,
    /// The server read the client's TLS Finished.
    TlsFinished,
    /// A TLS close_notify.
    CloseNotify,
    /// A TLS alert, or bytes that are no TLS record: nothing the model sends.
    Alert,
}

impl From<Unit> for ReadObs {
    fn from(u: Unit) -> ReadObs {
        match u {
            Unit::Nothing => ReadObs::Nothing,
            Unit::Hello => ReadObs::TlsHello,
            Unit::Flight => ReadObs::TlsFlight,
            Unit::Finished => ReadObs::TlsFinished,
            Unit::Data => ReadObs::Data,
            Unit::CloseNotify => ReadObs::CloseNotify,
            Unit::Fin => ReadObs::Fin,
            Unit::Rst => ReadObs::Rst,
            Unit::Alert => ReadObs::Alert,
        }
    }
}

/// The core's state as compared: everything but timers and internals that
/// only the model's executor tracks.
pub(super) fn projection(core: &Session) -> String {
    let mut out = format!("si {:?}/{:?}", core.si(Side::Front), core.si(Side::Back));
    for side in Side::BOTH {
        let c = core.conn(side);
        out.push_str(&format!(" | {side} {:?}/{:?} ops[", c.fd, c.state));
        for op in Op::ALL {
            out.push_str(&format!("{:?}={:?} ", op, c.ops.get(op)));
        }
        out.push(']');
    }
    for dir in [Dir::Req, Dir::Res] {
        let ch = core.chan(dir);
        out.push_str(&format!(" | {dir:?} {:?} buf {:?} pipe {:?}", ch.flags, ch.buf, ch.pipe));
    }
    out
}
pub(super) fn peer_obs(before: &SysState, after: &SysState, who: Who) -> ReadObs {
    let (b, a) = (before.sess[0].peer(who), after.sess[0].peer(who));
    if a.got_hdr && !b.got_hdr {
        ReadObs::Header
    } else if a.got_reply && !b.got_reply {
        ReadObs::Reply
    } else if a.got > b.got {
        ReadObs::Data
    } else if who == Who::Server && a.hello_sent && !b.hello_sent {
        ReadObs::TlsHello
    } else if who == Who::Client && a.tls_up && !b.tls_up {
        ReadObs::TlsFlight
    } else if a.got_finished && !b.got_finished {
        ReadObs::TlsFinished
    } else if a.got_cn && !b.got_cn {
        ReadObs::CloseNotify
    } else if a.got_rst && !b.got_rst {
        ReadObs::Rst
    } else if a.got_fin && !b.got_fin {
        ReadObs::Fin
    } else {
        ReadObs::Nothing
    }
}
