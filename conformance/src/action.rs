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

use connseq_model::check::{SysAction, Who};
use connseq_model::core::TimerKind;
use std::fmt;

/// The name of a peer, as in `PeerSends(Client)`.
pub const fn who_name(who: Who) -> &'static str {
    match who {
        Who::Client => "Client",
        Who::Server => "Server",
    }
}

/// The name of a timer kind, as in `TimerFires(ClientFin)`.
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

/// The stable textual form of an action: `PeerSends(Client)`.
pub fn format_action(a: SysAction) -> String {
    let kind = ActionKind::of(a).name();
    match a {
        SysAction::ProxyRuns
        | SysAction::ClientSendsHeader
        | SysAction::ClientSendsHello
        | SysAction::ClientSendsGarbage
        | SysAction::ServerAccepts
        | SysAction::ServerRefuses => kind.to_owned(),
        SysAction::PeerSends(w)
        | SysAction::PeerReads(w)
        | SysAction::PeerShutsWrite(w)
        | SysAction::PeerCloses(w)
        | SysAction::PeerAborts(w) => format!("{kind}({})", who_name(w)),
        SysAction::SlotFrees(i) => format!("{kind}({i})"),
        SysAction::TimerFires(k) => format!("{kind}({})", timer_name(k)),
    }
}

/// Reads the textual form written by [`format_action`]. Surrounding
/// whitespace is ignored; anything else that is not exactly an action of the
/// model (an unknown name, a missing or extra argument, a slot index other
/// than 0 or 1) is `None`.
pub fn parse_action(s: &str) -> Option<SysAction> {
    let s = s.trim();
    let (name, arg) = match s.find('(') {
        Some(open) => {
            let inner = s[open + 1..].strip_suffix(')')?;
            (&s[..open], Some(inner))
        }
        None => (s, None),
    };
    let kind = ActionKind::ALL.iter().copied().find(|k| k.name() == name)?;
    let who = |arg: Option<&str>| match arg? {
        "Client" => Some(Who::Client),
        "Server" => Some(Who::Server),
        _ => None,
    };
    let action = match kind {
        ActionKind::ProxyRuns => arg.is_none().then_some(SysAction::ProxyRuns)?,
        ActionKind::ClientSendsHeader => arg.is_none().then_some(SysAction::ClientSendsHeader)?,
        ActionKind::ClientSendsHello => arg.is_none().then_some(SysAction::ClientSendsHello)?,
        ActionKind::ClientSendsGarbage => arg.is_none().then_some(SysAction::ClientSendsGarbage)?,
        ActionKind::ServerAccepts => arg.is_none().then_some(SysAction::ServerAccepts)?,
        ActionKind::ServerRefuses => arg.is_none().then_some(SysAction::ServerRefuses)?,
        ActionKind::PeerSends => SysAction::PeerSends(who(arg)?),
        ActionKind::PeerReads => SysAction::PeerReads(who(arg)?),
        ActionKind::PeerShutsWrite => SysAction::PeerShutsWrite(who(arg)?),
        ActionKind::PeerCloses => SysAction::PeerCloses(who(arg)?),
        ActionKind::PeerAborts => SysAction::PeerAborts(who(arg)?),
        // The model has two servers at most (`Env::busy` has two slots).
        ActionKind::SlotFrees => match arg? {
            "0" => SysAction::SlotFrees(0),
            "1" => SysAction::SlotFrees(1),
            _ => return None,
        },
        ActionKind::TimerFires => {
            let arg = arg?;
            SysAction::TimerFires(TimerKind::ALL.iter().copied().find(|&k| timer_name(k) == arg)?)
        }
    };
    Some(action)
}

/// Every action the model has, in a fixed order (26 of them). Which ones a
/// configuration can take is for the model to say: see
/// [`crate::coverage::space_coverage`].
pub fn all_actions() -> Vec<SysAction> {
    let mut v = Vec::with_capacity(26);
    for kind in ActionKind::ALL {
        match kind {
            ActionKind::ProxyRuns => v.push(SysAction::ProxyRuns),
            ActionKind::ClientSendsHeader => v.push(SysAction::ClientSendsHeader),
            ActionKind::ClientSendsHello => v.push(SysAction::ClientSendsHello),
            ActionKind::ClientSendsGarbage => v.push(SysAction::ClientSendsGarbage),
            ActionKind::ServerAccepts => v.push(SysAction::ServerAccepts),
            ActionKind::ServerRefuses => v.push(SysAction::ServerRefuses),
            ActionKind::PeerSends => v.extend([Who::Client, Who::Server].map(SysAction::PeerSends)),
            ActionKind::PeerReads => v.extend([Who::Client, Who::Server].map(SysAction::PeerReads)),
            ActionKind::PeerShutsWrite => v.extend([Who::Client, Who::Server].map(SysAction::PeerShutsWrite)),
            ActionKind::PeerCloses => v.extend([Who::Client, Who::Server].map(SysAction::PeerCloses)),
            ActionKind::PeerAborts => v.extend([Who::Client, Who::Server].map(SysAction::PeerAborts)),
            ActionKind::SlotFrees => v.extend([0, 1].map(SysAction::SlotFrees)),
            ActionKind::TimerFires => v.extend(TimerKind::ALL.map(SysAction::TimerFires)),
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
            SysAction::ProxyRuns => ActionKind::ProxyRuns,
            SysAction::PeerSends(_) => ActionKind::PeerSends,
            SysAction::ClientSendsHeader => ActionKind::ClientSendsHeader,
            SysAction::ClientSendsHello => ActionKind::ClientSendsHello,
            SysAction::ClientSendsGarbage => ActionKind::ClientSendsGarbage,
            SysAction::PeerReads(_) => ActionKind::PeerReads,
            SysAction::PeerShutsWrite(_) => ActionKind::PeerShutsWrite,
            SysAction::PeerCloses(_) => ActionKind::PeerCloses,
            SysAction::PeerAborts(_) => ActionKind::PeerAborts,
            SysAction::ServerAccepts => ActionKind::ServerAccepts,
            SysAction::ServerRefuses => ActionKind::ServerRefuses,
            SysAction::SlotFrees(_) => ActionKind::SlotFrees,
            SysAction::TimerFires(_) => ActionKind::TimerFires,
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
        assert_eq!(all.len(), 26);
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
            "proxyruns",
            "ProxyRuns()",
            "ProxyRuns(Client)",
            "PeerSends",
            "PeerSends()",
            "PeerSends(client)",
            "PeerSends(Client",
            "PeerSends(Client))",
            "SlotFrees(2)",
            "SlotFrees(-1)",
            "TimerFires(Nothing)",
            "Nothing",
        ] {
            assert_eq!(parse_action(s), None, "{s:?}");
        }
        assert_eq!(parse_action("  ProxyRuns \n"), Some(SysAction::ProxyRuns));
    }
}
