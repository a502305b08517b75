//! The runtime API's commands, with HAProxy's names and answers where
//! HAProxy has the command, so that a script written for HAProxy's stats
//! socket works unchanged for them:
//!
//! | command | answer |
//! |---|---|
//! | `show info` | `Key: value` lines (HAProxy's keys where they apply) |
//! | `show stat [IID TYPE SID]` | HAProxy 2.6's CSV (see `stat_csv`) |
//! | `show sess` | one line per live session, `0xID: proto=tcpv4 src=... fe=... be=... srv=...` |
//! | `set server BE/SRV state ready\|drain\|maint` | nothing, or HAProxy's error |
//! | `disable server BE/SRV`, `enable server BE/SRV` | `maint`, `ready` |
//! | `shutdown session 0xID` | nothing, or HAProxy's error |
//! | `help` | the list |
//!
//! Every answer ends with an empty line, as HAProxy's do.

use super::stat_csv::{self, Filter};
use crate::runtime::control::{AdminState, Control, NoSuch};
use std::fmt::Write as _;

/// The help text.
const HELP: &str = "\
The following commands are valid at this level:
  help                                    : this message
  prompt                                  : toggle interactive mode with prompt
  quit                                    : disconnect
  show info                               : report information about the running process
  show stat [<iid> <type> <sid>]          : report counters for each proxy and server
  show sess                               : report the list of current sessions
  set server <bk>/<srv> state ready|drain|maint : change a server's administrative state
  disable server <bk>/<srv>               : put a server in maintenance
  enable server <bk>/<srv>                : make a server ready again
  shutdown session <id>                   : kill a specific session
";

/// The answer to one command (without the empty line that ends it).
pub(crate) fn run(control: &Control, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["help"] => HELP.to_owned(),
        ["show", "info"] => show_info(control),
        ["show", "stat"] => show_stat(control, Filter::default()),
        ["show", "stat", iid, ty, sid] => match (iid.parse(), ty.parse(), sid.parse()) {
            (Ok(iid), Ok(types), Ok(sid)) => show_stat(control, Filter { iid, types, sid }),
            _ => "Require a valid proxy id, type mask and server id (use -1 for all).\n".to_owned(),
        },
        ["show", "sess"] => show_sess(control),
        ["set", "server", target, "state", word] => match AdminState::parse(word) {
            Some(state) => set_state(control, target, state),
            None => "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".to_owned(),
        },
        ["set", "server", _, "state"] => "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".to_owned(),
        ["disable", "server", target] => set_state(control, target, AdminState::Maint),
        ["enable", "server", target] => set_state(control, target, AdminState::Ready),
        ["shutdown", "session", id] => shutdown_session(control, id),
        [] => String::new(),
        _ => format!("Unknown command: '{}'.\n{HELP}", line.trim()),
    }
}

fn set_state(control: &Control, target: &str, state: AdminState) -> String {
    let Some((backend, server)) = target.split_once('/') else {
        return "Require 'backend/server'.\n".to_owned();
    };
    match control.set_server_state(backend, server, state) {
        Ok(()) => String::new(),
        Err(NoSuch::Backend) => "No such backend.\n".to_owned(),
        Err(NoSuch::Server) => "No such server.\n".to_owned(),
    }
}

fn shutdown_session(control: &Control, id: &str) -> String {
    let parsed = match id.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => id.parse().ok(),
    };
    match parsed {
        Some(id) if control.shutdown_session(id) => String::new(),
        _ => "No such session (use 'show sess').\n".to_owned(),
    }
}

fn show_stat(control: &Control, filter: Filter) -> String {
    stat_csv::render(control.topology(), &control.snapshot(), filter)
}

/// Seconds as HAProxy's `show info` writes an uptime: `0d 0h00m05s`.
fn uptime(secs: u64) -> String {
    format!("{}d {}h{:02}m{:02}s", secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60)
}

fn show_info(control: &Control) -> String {
    let top = control.topology();
    let snap = control.snapshot();
    let c = control.counters();
    let secs = snap.uptime.as_secs();
    let bytes_out: u64 = snap.listeners.iter().map(|l| l.to_client + l.to_server).sum();
    let mut out = String::new();
    let mut kv = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{k}: {v}");
    };
    kv("Name", &"connseq");
    kv("Version", &env!("CARGO_PKG_VERSION"));
    kv("Nbthread", &top.threads);
    kv("Nbproc", &1);
    kv("Process_num", &1);
    kv("Pid", &std::process::id());
    kv("Uptime", &uptime(secs));
    kv("Uptime_sec", &secs);
    kv("Maxconn", &top.maxconn);
    kv("Hard_maxconn", &top.maxconn);
    kv("CurrConns", &c.live);
    kv("CumConns", &c.accepted);
    kv("Stopping", &u8::from(snap.stopping));
    kv("Jobs", &snap.current);
    kv("Listeners", &top.listeners.len());
    kv("TotalBytesOut", &bytes_out);
    out
}

fn show_sess(control: &Control) -> String {
    let top = control.topology();
    let mut out = String::new();
    for s in control.sessions() {
        let fe = top.listeners.get(s.listener).map_or("-", |l| l.name.as_str());
        let be = top.backends.get(s.backend);
        let srv = s.server.and_then(|i| be?.servers.get(usize::from(i))).map_or("<none>", |s| s.name.as_str());
        let proto = if s.source.is_ipv4() { "tcpv4" } else { "tcpv6" };
        let _ = writeln!(
            out,
            "0x{:x}: proto={proto} src={} fe={fe} be={} srv={srv} ts=00 age={} thread={} si=[{},{}] peer={} bytes={}/{}",
            s.id,
            s.source,
            be.map_or("<NONE>", |b| b.name.as_str()),
            age(s.age_ms),
            s.thread,
            s.si[0],
            s.si[1],
            s.peer,
            s.to_server,
            s.to_client,
        );
    }
    out
}

/// An age as HAProxy writes one: `5s`, `2m5s`, `1h2m`, `3d4h`.
fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{}h", s / 86_400, s / 3600 % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_and_ages_are_written_as_haproxy_writes_them() {
        assert_eq!(uptime(5), "0d 0h00m05s");
        assert_eq!(uptime(90_061), "1d 1h01m01s");
        assert_eq!(
            (age(999), age(125_000), age(3_720_000), age(90_000_000)),
            ("0s".into(), "2m5s".into(), "1h2m".into(), "1d1h".into())
        );
    }
}
