//! Holding one read to the eager model: the classes of departure, a
//! departure, and the comparison that classifies it.

use super::peers::PeerSock;
use super::plan::Stage;
use super::seen::{describe, Expect, Seen};
use crate::replay::chunk;
use connseq_model::check::Who;
use std::fmt;
use std::time::Duration;

/// The kinds of departure from the model, as a peer sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// The model delivers a chunk; the peer got an RST, a FIN, or nothing
    /// (after the sender's end, or after settling).
    DataLost,
    /// The model delivers a FIN; the peer got an RST.
    RstInsteadOfFin,
    /// The model delivers an RST; the peer got a FIN and no RST after it.
    FinInsteadOfRst,
    /// The model delivers a FIN at a read of the trace; the peer got nothing.
    FinNotForwarded,
    /// The model delivers a FIN or an RST to a peer that keeps reading after
    /// the trace; the peer got nothing: the proxy left the connection open.
    HalfOpenNeverClosed,
    /// The peer got a chunk the model does not deliver (then, or at all).
    ExtraData,
    /// A timer fired, after the declared timeout, and the model's proxy
    /// ended the connection (a FIN or an RST); the peer, reading after it
    /// (before any end was read), got nothing: the proxy left it open past
    /// the timeout it declared (a longer one, or a timeout that does not
    /// end this state).
    NotClosedAtTimeout,
    /// The peer got a FIN or an RST where the model delivers nothing: the
    /// proxy closed a connection the model keeps open.
    ClosedEarly,
    /// The model delivers an RST; the peer first got chunks, a handshake
    /// message or a FIN that had arrived before it, then the RST. The model's RST destroys its
    /// whole wire; Linux keeps what had arrived (explained).
    RstAfterDelivery,
    /// The model delivers the PROXY header first; the server read none, a
    /// malformed one, or one giving another source than the client's (or
    /// the one the client's own header gave).
    ProxyHeaderWrong,
    /// A TLS handshake message where the model has another read, another
    /// read where it has one, or a TLS alert.
    TlsHandshake,
    /// The model delivers a close_notify; the peer got TCP's end (or an
    /// RST) without one: the proxy truncated a stream the other peer ended
    /// cleanly.
    CloseNotifyMissing,
    /// The model delivers TCP's end without close_notify (the other peer
    /// closed without one, or was cut); the peer got a close_notify: the
    /// proxy told a clean end that did not happen.
    CloseNotifyForged,
    /// The client aborted while the model's proxy, its one-chunk request
    /// buffer full, could not read the RST; the proxy, with room, read it
    /// at once and answered the abort then, so the server's connection
    /// ended (or its handshake stopped) before what the model delivers
    /// there. A bigger model buffer has the same behaviour (explained).
    AbortReadEarly,
    /// Anything else: wrong bytes, an RST that never came, no connection to
    /// the server.
    Other,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 15] = [
        Class::DataLost,
        Class::RstInsteadOfFin,
        Class::FinInsteadOfRst,
        Class::FinNotForwarded,
        Class::HalfOpenNeverClosed,
        Class::ExtraData,
        Class::NotClosedAtTimeout,
        Class::ClosedEarly,
        Class::RstAfterDelivery,
        Class::ProxyHeaderWrong,
        Class::TlsHandshake,
        Class::CloseNotifyMissing,
        Class::CloseNotifyForged,
        Class::AbortReadEarly,
        Class::Other,
    ];

    /// The class's name in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Class::DataLost => "data lost",
            Class::RstInsteadOfFin => "RST instead of FIN",
            Class::FinInsteadOfRst => "FIN instead of RST",
            Class::FinNotForwarded => "FIN not forwarded",
            Class::HalfOpenNeverClosed => "half-open never closed",
            Class::ExtraData => "extra data",
            Class::NotClosedAtTimeout => "not closed at the timeout",
            Class::ClosedEarly => "closed early",
            Class::RstAfterDelivery => "RST after delivered data (model's pessimistic RST)",
            Class::ProxyHeaderWrong => "PROXY header missing or wrong",
            Class::TlsHandshake => "TLS handshake departs",
            Class::CloseNotifyMissing => "end without close_notify",
            Class::CloseNotifyForged => "close_notify for a truncated stream",
            Class::AbortReadEarly => "client abort read early (model's one-chunk buffer)",
            Class::Other => "other",
        }
    }

    /// The model accounts for the departure: it is no finding about the proxy.
    pub const fn explained(self) -> bool {
        matches!(self, Class::RstAfterDelivery | Class::AbortReadEarly)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where and how a run departed from the eager model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Departure {
    /// The class.
    pub class: Class,
    /// The trace action at which it showed (`None`: after the trace).
    pub at: Option<usize>,
    /// That action, or what the harness did after the trace.
    pub action: String,
    /// The peer that saw it.
    pub who: Who,
    /// The eager model's prediction.
    pub expected: String,
    /// What the peer got.
    pub actual: String,
}

impl fmt::Display for Departure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(i) => write!(f, "step {i} ({})", self.action)?,
            None => write!(f, "after the trace ({})", self.action)?,
        }
        write!(f, ": {}: the {} expects {}, the proxy gave {}", self.class, self.who, self.expected, self.actual)
    }
}
/// Compares one read with the eager model's prediction; the departure if
/// they differ. For an expected RST the peer keeps reading, to tell an RST
/// that came behind what Linux delivered (explained) from none at all.
#[allow(clippy::too_many_arguments)] // one read's whole context, used once
pub(super) fn judge(
    s: &mut PeerSock,
    who: Who,
    expect: Expect,
    stage: Stage,
    seen: Seen,
    bytes: &[u8],
    at: Option<usize>,
    action: String,
    wait: Duration,
) -> Option<Departure> {
    let mut actual = describe(seen, bytes);
    let class = match (expect.seen, seen) {
        (Seen::Data, Seen::Data) => {
            let want = expect.chunk.map(|n| chunk(who.other(), n));
            if want.is_some_and(|w| w[..] != *bytes) {
                Class::Other
            } else {
                return None;
            }
        }
        (e, r) if e == r => return None,
        (Seen::Header, _) | (_, Seen::Header | Seen::HeaderWrong) => Class::ProxyHeaderWrong,
        // An RST where a handshake message that had arrived before it is
        // read first: Linux keeps it, as it keeps data (below).
        (Seen::Rst, r) if r.handshake() => after_expected_rst(s, seen, &mut actual, wait),
        (e, r) if e.handshake() || r.handshake() || r == Seen::Alert => Class::TlsHandshake,
        (Seen::CloseNotify, Seen::Fin | Seen::Rst) => Class::CloseNotifyMissing,
        (Seen::CloseNotify, Seen::Nothing) if stage != Stage::Trace => Class::HalfOpenNeverClosed,
        (Seen::CloseNotify, Seen::Nothing) => Class::FinNotForwarded,
        (Seen::CloseNotify, Seen::Data) => Class::ExtraData,
        (Seen::Fin, Seen::CloseNotify) => Class::CloseNotifyForged,
        (Seen::Nothing, Seen::CloseNotify) => Class::ClosedEarly,
        (Seen::Nothing, Seen::Data) | (Seen::Fin, Seen::Data) => Class::ExtraData,
        (Seen::Nothing, Seen::Fin | Seen::Rst) => Class::ClosedEarly,
        (Seen::Data, _) => Class::DataLost,
        (Seen::Fin | Seen::Rst, Seen::Nothing) if stage != Stage::Trace => Class::HalfOpenNeverClosed,
        (Seen::Fin, Seen::Nothing) => Class::FinNotForwarded,
        (Seen::Fin, Seen::Rst) => Class::RstInsteadOfFin,
        (Seen::Rst, Seen::Nothing) => Class::Other,
        (Seen::Rst, Seen::Data | Seen::Fin | Seen::CloseNotify) => after_expected_rst(s, seen, &mut actual, wait),
        // Every pair with equal sides returned above; the handshake's and
        // the PROXY header's went to their classes.
        (Seen::Nothing | Seen::Fin | Seen::Rst, _) => Class::Other,
        (Seen::HeaderWrong | Seen::Hello | Seen::Flight | Seen::Finished | Seen::CloseNotify | Seen::Alert, _) => {
            Class::Other
        }
    };
    Some(Departure { class, at, action, who, expected: expect.to_string(), actual })
}

/// The model delivers an RST and the peer read `seen` (data, a handshake
/// message, a close_notify or a FIN) first: it reads on to tell an RST that
/// came behind what Linux delivered (explained) from none at all.
fn after_expected_rst(s: &mut PeerSock, seen: Seen, actual: &mut String, wait: Duration) -> Class {
    // What follows: more data or messages, a close_notify, the FIN, and whether an RST came.
    let mut last = seen;
    for _ in 0..8 {
        if !(matches!(last, Seen::Data | Seen::CloseNotify) || last.handshake()) {
            break;
        }
        let (next, more) = s.read_one(wait);
        actual.push_str(&format!(", then {}", describe(next, &more)));
        last = next;
    }
    let rst = last == Seen::Rst || (last == Seen::Fin && s.reset_behind());
    if rst && last == Seen::Fin {
        actual.push_str(", then RST (SO_ERROR)");
    }
    match (rst, last) {
        (true, _) => Class::RstAfterDelivery,
        (false, Seen::Fin) => Class::FinInsteadOfRst,
        (false, _) if seen.handshake() => Class::TlsHandshake,
        _ => Class::ExtraData,
    }
}
