//! The textual form of the model's actions, and their kinds.
//!
//! A [`SysAction`] is written exactly as its `Debug` form: the variant name,
//! then its argument in parentheses, if it has one:
//!
//! ```text
//!   ProxyRuns  PeerSends(Client)  PeerReads(Server)  ClientSendsHello
//!   SlotFrees(0)  TimerFires(ClientFin)  ServerRefuses
//! ```
//!
//! [`format_action`] writes it and [`parse_action`] reads it back; a test pins
//! that the two agree with `Debug` for every action, so a trace file written
//! by one build is read by the next as long as the model keeps its names.
//! The matches below are exhaustive on purpose: a new action in the model
//! does not compile here until it has a name.

use connseq_model::check::{Piece, SysAction, Who, SESSIONS};
use connseq_model::core::TimerKind;
use std::fmt;

/// The name of a peer, as in `PeerSends(0, Client)`.
pub const fn who_name(who: Who) -> &'static str {
    match who {
        Who::Client => "Client",
        Who::Server => "Server",
    }
}

/// The name of a piece of a handshake message, as in `ClientSendsHeader(0, Head)`.
pub const fn piece_name(p: Piece) -> &'static str {
    match p {
        Piece::Whole => "Whole",
        Piece::Head => "Head",
        Piece::Tail => "Tail",
    }
}

/// The name of a timer kind, as in `TimerFires(0, ClientFin)`.
pub const fn timer_name(kind: TimerKind) -> &'static str {
    match kind {
        TimerKind::Handshake => "Handshake",
        TimerKind::Connect => "Connect",
        TimerKind::Queue => "Queue",
        TimerKind::TurnAround => "TurnAround",
        TimerKind::Client => "Client",
        TimerKind::Server => "Server",
        TimerKind::ClientFin => "ClientFin",
        TimerKind::ServerFin => "ServerFin",
    }
}

/// The stable textual form of an action: `PeerSends(0, Client)`, the
/// session first.
pub fn format_action(a: SysAction) -> String {
    let kind = ActionKind::of(a).name();
    match a {
        SysAction::ProxyRuns(s)
        | SysAction::ClientSendsGarbage(s)
        | SysAction::ServerAccepts(s)
        | SysAction::ServerRefuses(s)
        | SysAction::SlotFrees(s) => format!("{kind}({s})"),
        SysAction::ClientSendsHeader(s, p) | SysAction::ClientSendsHello(s, p) => {
            format!("{kind}({s}, {})", piece_name(p))
        }
        SysAction::PeerSends(s, w)
        | SysAction::PeerReads(s, w)
        | SysAction::PeerShutsWrite(s, w)
        | SysAction::PeerCloses(s, w)
        | SysAction::PeerAborts(s, w) => format!("{kind}({s}, {})", who_name(w)),
        SysAction::TimerFires(s, k) => format!("{kind}({s}, {})", timer_name(k)),
    }
}

/// Reads the textual form written by [`format_action`]. Surrounding
/// whitespace is ignored; anything else that is not exactly an action of the
/// model (an unknown name, a missing or extra argument, a session or slot
/// index other than 0 or 1) is `None`.
pub fn parse_action(s: &str) -> Option<SysAction> {
    let s = s.trim();
    let open = s.find('(')?;
    let inner = s[open + 1..].strip_suffix(')')?;
    let name = &s[..open];
    let kind = ActionKind::ALL.iter().copied().find(|k| k.name() == name)?;
    let mut args = inner.split(", ");
    let index = match args.next()? {
        "0" => 0u8,
        "1" => 1u8,
        _ => return None,
    };
    let second = args.next();
    if args.next().is_some() {
        return None;
    }
    let who = |arg: Option<&str>| match arg? {
        "Client" => Some(Who::Client),
        "Server" => Some(Who::Server),
        _ => None,
    };
    let piece = |arg: Option<&str>| match arg? {
        "Whole" => Some(Piece::Whole),
        "Head" => Some(Piece::Head),
        "Tail" => Some(Piece::Tail),
        _ => None,
    };
    let none = second.is_none();
    let action = match kind {
        ActionKind::ProxyRuns => none.then_some(SysAction::ProxyRuns(index))?,
        ActionKind::ClientSendsGarbage => none.then_some(SysAction::ClientSendsGarbage(index))?,
        ActionKind::ServerAccepts => none.then_some(SysAction::ServerAccepts(index))?,
        ActionKind::ServerRefuses => none.then_some(SysAction::ServerRefuses(index))?,
        ActionKind::SlotFrees => none.then_some(SysAction::SlotFrees(index))?,
        ActionKind::ClientSendsHeader => SysAction::ClientSendsHeader(index, piece(second)?),
        ActionKind::ClientSendsHello => SysAction::ClientSendsHello(index, piece(second)?),
        ActionKind::PeerSends => SysAction::PeerSends(index, who(second)?),
        ActionKind::PeerReads => SysAction::PeerReads(index, who(second)?),
        ActionKind::PeerShutsWrite => SysAction::PeerShutsWrite(index, who(second)?),
        ActionKind::PeerCloses => SysAction::PeerCloses(index, who(second)?),
        ActionKind::PeerAborts => SysAction::PeerAborts(index, who(second)?),
        ActionKind::TimerFires => {
            let arg = second?;
            SysAction::TimerFires(index, TimerKind::ALL.iter().copied().find(|&k| timer_name(k) == arg)?)
        }
    };
    Some(action)
}

/// Every action the model has, in a fixed order. Which ones a configuration
/// can take is for the model to say: see [`crate::coverage::space_coverage`].
pub fn all_actions() -> Vec<SysAction> {
    let mut v = Vec::new();
    let pieces = [Piece::Whole, Piece::Head, Piece::Tail];
    for s in 0..SESSIONS as u8 {
        for kind in ActionKind::ALL {
            match kind {
                ActionKind::ProxyRuns => v.push(SysAction::ProxyRuns(s)),
                ActionKind::ClientSendsHeader => v.extend(pieces.map(|p| SysAction::ClientSendsHeader(s, p))),
                ActionKind::ClientSendsHello => v.extend(pieces.map(|p| SysAction::ClientSendsHello(s, p))),
                ActionKind::ClientSendsGarbage => v.push(SysAction::ClientSendsGarbage(s)),
                ActionKind::ServerAccepts => v.push(SysAction::ServerAccepts(s)),
                ActionKind::ServerRefuses => v.push(SysAction::ServerRefuses(s)),
                ActionKind::PeerSends => v.extend([Who::Client, Who::Server].map(|w| SysAction::PeerSends(s, w))),
                ActionKind::PeerReads => v.extend([Who::Client, Who::Server].map(|w| SysAction::PeerReads(s, w))),
                ActionKind::PeerShutsWrite => {
                    v.extend([Who::Client, Who::Server].map(|w| SysAction::PeerShutsWrite(s, w)))
                }
                ActionKind::PeerCloses => v.extend([Who::Client, Who::Server].map(|w| SysAction::PeerCloses(s, w))),
                ActionKind::PeerAborts => v.extend([Who::Client, Who::Server].map(|w| SysAction::PeerAborts(s, w))),
                ActionKind::SlotFrees => v.push(SysAction::SlotFrees(s)),
                ActionKind::TimerFires => v.extend(TimerKind::ALL.map(|k| SysAction::TimerFires(s, k))),
            }
        }
    }
    v
}

/// What an action does, without its argument: `PeerSends(Client)` and
/// `PeerSends(Server)` are both [`ActionKind::PeerSends`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionKind {
    /// [`SysAction::ProxyRuns`].
    ProxyRuns,
    /// [`SysAction::PeerSends`].
    PeerSends,
    /// [`SysAction::ClientSendsHeader`].
    ClientSendsHeader,
    /// [`SysAction::ClientSendsHello`].
    ClientSendsHello,
    /// [`SysAction::ClientSendsGarbage`].
    ClientSendsGarbage,
    /// [`SysAction::PeerReads`].
    PeerReads,
    /// [`SysAction::PeerShutsWrite`].
    PeerShutsWrite,
    /// [`SysAction::PeerCloses`].
    PeerCloses,
    /// [`SysAction::PeerAborts`].
    PeerAborts,
    /// [`SysAction::ServerAccepts`].
    ServerAccepts,
    /// [`SysAction::ServerRefuses`].
    ServerRefuses,
    /// [`SysAction::SlotFrees`].
    SlotFrees,
    /// [`SysAction::TimerFires`].
    TimerFires,
}

impl ActionKind {
    /// Every kind, in declaration order.
    pub const ALL: [ActionKind; 13] = [
        ActionKind::ProxyRuns,
        ActionKind::PeerSends,
        ActionKind::ClientSendsHeader,
        ActionKind::ClientSendsHello,
        ActionKind::ClientSendsGarbage,
        ActionKind::PeerReads,
        ActionKind::PeerShutsWrite,
        ActionKind::PeerCloses,
        ActionKind::PeerAborts,
        ActionKind::ServerAccepts,
        ActionKind::ServerRefuses,
        ActionKind::SlotFrees,
        ActionKind::TimerFires,
    ];

    /// The kind of `a`.
    pub const fn of(a: SysAction) -> ActionKind {
        match a {
            SysAction::ProxyRuns(_) => ActionKind::ProxyRuns,
            SysAction::PeerSends(..) => ActionKind::PeerSends,
            SysAction::ClientSendsHeader(..) => ActionKind::ClientSendsHeader,
            SysAction::ClientSendsHello(..) => ActionKind::ClientSendsHello,
            SysAction::ClientSendsGarbage(_) => ActionKind::ClientSendsGarbage,
            SysAction::PeerReads(..) => ActionKind::PeerReads,
            SysAction::PeerShutsWrite(..) => ActionKind::PeerShutsWrite,
            SysAction::PeerCloses(..) => ActionKind::PeerCloses,
            SysAction::PeerAborts(..) => ActionKind::PeerAborts,
            SysAction::ServerAccepts(_) => ActionKind::ServerAccepts,
            SysAction::ServerRefuses(_) => ActionKind::ServerRefuses,
            SysAction::SlotFrees(_) => ActionKind::SlotFrees,
            SysAction::TimerFires(..) => ActionKind::TimerFires,
        }
    }

    /// The variant's name, as in the textual form of its actions.
    pub const fn name(self) -> &'static str {
        match self {
            ActionKind::ProxyRuns => "ProxyRuns",
            ActionKind::PeerSends => "PeerSends",
            ActionKind::ClientSendsHeader => "ClientSendsHeader",
            ActionKind::ClientSendsHello => "ClientSendsHello",
            ActionKind::ClientSendsGarbage => "ClientSendsGarbage",
            ActionKind::PeerReads => "PeerReads",
            ActionKind::PeerShutsWrite => "PeerShutsWrite",
            ActionKind::PeerCloses => "PeerCloses",
            ActionKind::PeerAborts => "PeerAborts",
            ActionKind::ServerAccepts => "ServerAccepts",
            ActionKind::ServerRefuses => "ServerRefuses",
            ActionKind::SlotFrees => "SlotFrees",
            ActionKind::TimerFires => "TimerFires",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reads_back_and_matches_debug() {
        let all = all_actions();
        assert_eq!(all.len(), 2 * 29);
        for a in all {
            let s = format_action(a);
            assert_eq!(s, format!("{a:?}"));
            assert_eq!(parse_action(&s), Some(a), "{s}");
        }
    }

    #[test]
    fn malformed_actions_are_rejected() {
        for s in [
            "",
            "ProxyRuns",
            "proxyruns(0)",
            "ProxyRuns()",
            "ProxyRuns(2)",
            "ProxyRuns(0, Client)",
            "PeerSends(0)",
            "PeerSends(0, client)",
            "PeerSends(0,Client)",
            "PeerSends(0, Client",
            "PeerSends(0, Client))",
            "ClientSendsHeader(0, Half)",
            "SlotFrees(2)",
            "SlotFrees(-1)",
            "TimerFires(0, Nothing)",
            "Nothing(0)",
        ] {
            assert_eq!(parse_action(s), None, "{s:?}");
        }
        assert_eq!(parse_action("  ProxyRuns(0) \n"), Some(SysAction::ProxyRuns(0)));
    }
}
