//! States and steps in words, for counterexamples and the Explorer.

use super::state::{Sess, SysAction, SysState};
use super::system::System;
use crate::core::{Action, Dir, Outcome, RuleStage, Side};

/// Reports `a`'s effect from `s` in words, with the proxy's actions and
/// their outcomes for a proxy turn.
pub fn describe(sys: &System, s: &SysState, a: SysAction) -> String {
    let SysAction::ProxyRuns(_) = a else {
        return a.to_string();
    };
    let mut log = Vec::new();
    let _ = sys.step(s, a, Some(&mut log));
    let parts: Vec<String> =
        log.iter().map(|(act, out)| format!("{} -> {}", fmt_action(act), fmt_outcome(out))).collect();
    format!("{a}: {}", parts.join("; "))
}

/// A core action in words.
pub fn fmt_action(a: &Action) -> String {
    match a {
        Action::RecvProxyHeader => "recv PROXY header".into(),
        Action::EvalRules(RuleStage::Connection) => "evaluate connection rules".into(),
        Action::EvalRules(RuleStage::Source) => "evaluate source rules".into(),
        Action::TlsHandshake(s) => format!("TLS handshake on {s}"),
        Action::PickServer { avoid: None } => "pick a server".into(),
        Action::PickServer { avoid: Some(i) } => format!("pick a server other than {i}"),
        Action::Connect { server } => format!("connect to server {server}"),
        Action::FinishConnect => "finish connect".into(),
        Action::Recv { side, into } => format!("recv {side} into {into:?}"),
        Action::Send { side, from, .. } => format!("send {side} from {from:?}"),
        Action::Discard(d) => format!("discard {d}"),
        Action::DataShutw(s) => format!("close_notify on {s}"),
        Action::CtrlShutw(s) => format!("shutdown(SHUT_WR) {s}"),
        Action::DataClose(s) => format!("close data layer {s}"),
        Action::CtrlClose(s) => format!("deregister {s}"),
        Action::SockClose { side, abortive: false } => format!("close {side}"),
        Action::SockClose { side, abortive: true } => format!("close {side} with RST"),
        Action::ReleaseServer { server } => format!("release slot on server {server}"),
        Action::LeaveQueue => "leave the queue".into(),
        Action::CheckSendQueue(s) => format!("read the send queue of {s}"),
    }
}

/// An outcome in words.
pub fn fmt_outcome(o: &Outcome) -> String {
    match o {
        Outcome::Data { full: true } => "data (full)".into(),
        Outcome::Data { full: false } => "data".into(),
        Outcome::Sent { drained: true } => "sent (drained)".into(),
        Outcome::Sent { drained: false } => "sent".into(),
        Outcome::Pick(p) => format!("{p:?}"),
        Outcome::Verdict(true) => "accept".into(),
        Outcome::Verdict(false) => "reject".into(),
        other => format!("{other:?}"),
    }
}

/// A state in one line per session: stream interfaces, connections with
/// their op statuses, channels with their flags, wires, peers, timers.
pub fn summary(s: &SysState) -> String {
    let mut lines: Vec<String> = s.sessions().map(session_summary).collect();
    if s.backend.ghosts.contains(&true) {
        lines.push(format!("other sessions hold servers {:?}", s.backend.ghosts));
    }
    let b = &s.backend;
    if b.queue_len > 0 || b.waiting_len > 0 {
        lines.push(format!(
            "queue {:?} (told to wait: {:?})",
            &b.queue[..usize::from(b.queue_len)],
            &b.waiting[..usize::from(b.waiting_len)]
        ));
    }
    lines.join("\n      ")
}

fn session_summary(x: &Sess) -> String {
    let c = &x.core;
    let conn = |side: Side| {
        let k = c.conn(side);
        format!("{} {}/{} ops[{:?}]{}", side, k.fd, k.state, k.ops, if k.draining() { " drain" } else { "" })
    };
    let chan = |d: Dir| {
        let ch = c.chan(d);
        let e = &x.held;
        format!("{d} {:?} buf{:?} pipe{:?}", ch.flags, e.buf[d as usize], e.pipe[d as usize])
    };
    let peer = |p: &super::state::Peer| {
        format!(
            "sent {} got {}{}{}{}",
            p.sent,
            p.got,
            if p.got_cn { " CN" } else { "" },
            if p.got_fin { " FIN" } else { "" },
            if p.got_rst { " RST" } else { "" }
        )
    };
    format!(
        "si {}/{} | {} | {} | {} | {} | up {:?} {:?} down {:?} {:?} | client {} | server {} | timers {:?}",
        c.si(Side::Front),
        c.si(Side::Back),
        conn(Side::Front),
        conn(Side::Back),
        chan(Dir::Req),
        chan(Dir::Res),
        x.front_up,
        x.back_up,
        x.front_down,
        x.back_down,
        peer(&x.client),
        peer(&x.server),
        c.timers(),
    )
}
