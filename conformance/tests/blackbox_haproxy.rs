//! The black-box harness against HAProxy 2.6 and against connseq's own
//! binary, each started by command, over the small preset's breadth-first
//! traces (depth 6; in the last measured run, of 1,774 traces 647 played without a timer, in 376
//! eager schedules; HAProxy 2.6.12 agreed on 350 runs and reset where the model says FIN on 26,
//! connseq agreed on all 376). HAProxy must be installed (`.ci/run` installs it): the test fails
//! without it rather than skip, and it builds the `connseq` binary it runs. The two campaigns run side by side, each with its own
//! server port, and the test prints their classifications next to each
//! other.
//!
//! HAProxy is configured as close to the small preset as its options allow:
//!
//! - `mode tcp`: no HTTP parsing, bytes forwarded as they come;
//! - `nbthread 1`: one thread, so a session's events are handled in order;
//! - `retries 0`: the preset has one server and no retry, so a refused
//!   connect ends the session;
//! - `timeout connect/client/server 30s`: no timer fires within a run (the
//!   harness is told so; a timer run would wait past 30 s, so none is
//!   played here: `conformance/tests/blackbox_time.rs` plays them with
//!   short timeouts), and six slow variants pause 1 s, which must change
//!   nothing;
//! - no `option nolinger` (it would close every connection with an RST),
//!   no `option splice-*` (the preset forwards through buffers), no
//!   `option redispatch` (one server), no `log` (the proxy's output holds
//!   only its warnings, shown if it fails to start).
//!
//! connseq runs with `--threads 1 --retries 0` for the same reasons, its
//! timeouts left at their defaults (5 s and more).

mod common;

use common::connseq_binary;
use connseq_conformance::blackbox::{Blackbox, Class, Report, Settle};
use connseq_conformance::pace::{Pace, Timeouts};
use connseq_conformance::sources;
use connseq_conformance::trace::Trace;
use connseq_model::check::{ModelConfig, Preset, System};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Slow variants per campaign: a 1 s pause (the timeouts are 30 s) before
/// the last two actions of the first shapes (responses after a half-close
/// first), about 2 s each.
const SLOW_RUNS: usize = 6;

/// The departures HAProxy 2.6 shows on this suite (HAProxy 2.6.12, Linux
/// loopback, stable over repeated runs): when the client aborts (RST) after
/// its data went through, HAProxy resets the server's connection too, where
/// the model, and connseq, forward the data and then a FIN. Every other run
/// agrees with the model.
const HAPROXY_2_6_CLASSES: [Class; 1] = [Class::RstInsteadOfFin];

fn small() -> System {
    System::new(ModelConfig::preset(Preset::Small))
}

/// `haproxy -v`'s version (`2.6.12-1+deb12u4`), or `None` when HAProxy is
/// not installed.
fn haproxy_version() -> Option<String> {
    let out = Command::new("haproxy").arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?;
    line.split_whitespace().skip_while(|w| *w != "version").nth(1).map(str::to_owned)
}

fn haproxy_config(dir: &Path, bb: &Blackbox) -> PathBuf {
    let cfg = format!(
        "global\n    nbthread 1\n\n\
         defaults\n    mode tcp\n    retries 0\n    timeout connect 30s\n    timeout client 30s\n    timeout server 30s\n\n\
         frontend fe\n    bind {listen}\n    default_backend be\n\n\
         backend be\n    server s1 {server}\n",
        listen = bb.target_addr(),
        server = bb.server_addr()
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).expect("the configuration is written");
    path
}

/// Starts a proxy with the command `cmd` builds from the harness's
/// addresses and plays every trace against it.
fn campaign(sys: &System, traces: &[Trace], cmd: impl FnOnce(&Blackbox) -> String) -> Report {
    let mut bb = Blackbox::bind("127.0.0.1:0".parse().expect("an address"), None, Settle::default())
        .expect("the server's port binds");
    bb.set_pace(Pace::new(Timeouts::default(), SLOW_RUNS, 0));
    let cmd = cmd(&bb);
    if let Err(e) = bb.launch(&cmd, START_TIMEOUT) {
        panic!("`{cmd}` did not start: {e}");
    }
    let report = bb.campaign(sys, traces, |_, _, _| {});
    assert!(bb.exited().is_none(), "the proxy ended during the campaign: {}", bb.target_output());
    report
}

/// The two reports' classes side by side.
fn side_by_side(a: (&str, &Report), b: (&str, Option<&Report>)) -> String {
    let mut s = format!("{:<52} {:>14} {:>14}\n", "runs (traces)", a.0, b.0);
    let cell = |r: Option<&Report>, c: Option<Class>| -> String {
        let Some(r) = r else { return "-".into() };
        match c {
            None => format!("{} ({})", r.agree_runs, r.agree),
            Some(c) => r.classes.get(&c).map(|t| format!("{} ({})", t.runs, t.traces)).unwrap_or_else(|| "0".into()),
        }
    };
    s.push_str(&format!("{:<52} {:>14} {:>14}\n", "agree", cell(Some(a.1), None), cell(b.1, None)));
    for c in Class::ALL {
        if a.1.classes.contains_key(&c) || b.1.is_some_and(|r| r.classes.contains_key(&c)) {
            s.push_str(&format!("{:<52} {:>14} {:>14}\n", c.name(), cell(Some(a.1), Some(c)), cell(b.1, Some(c))));
        }
    }
    s
}

#[test]
fn haproxy_departs_from_the_model_only_as_recorded_and_connseq_not_at_all() {
    // Never skipped: .ci/run installs HAProxy (Debian's haproxy package).
    let version = haproxy_version()
        .expect("haproxy is not installed: the black-box campaign needs HAProxy 2.6 (apt-get install haproxy)");
    let start = Instant::now();
    let sys = small();
    let traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
    let dir = std::env::temp_dir().join(format!("connseq-blackbox-haproxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let connseq = connseq_binary();
    let (sys, traces, dir) = (&sys, &traces[..], &dir);
    let (haproxy, own) = std::thread::scope(|s| {
        let haproxy = s.spawn(move || {
            campaign(sys, traces, |bb| format!("exec haproxy -db -f {}", haproxy_config(dir, bb).display()))
        });
        let bin = &connseq;
        let own = s.spawn(move || {
            campaign(sys, traces, |bb| {
                bb.substitute(&format!(
                    "exec {} proxy --listen {{listen}} --server {{server}} --threads 1 --retries 0",
                    bin.display()
                ))
                .expect("the command's placeholders")
            })
        });
        (haproxy.join().expect("the HAProxy campaign"), own.join().expect("the connseq campaign"))
    });
    let _ = std::fs::remove_dir_all(dir);
    eprintln!("HAProxy {version}:\n{}", haproxy.table());
    eprintln!("connseq ({}):\n{}", connseq.display(), own.table());
    eprintln!("{}", side_by_side(("HAProxy", &haproxy), ("connseq", Some(&own))));
    eprintln!("both campaigns: {:.1} s", start.elapsed().as_secs_f64());

    // The harness ran: every playable trace was played, and read something.
    assert!(haproxy.errors.is_empty(), "harness errors: {:?}", haproxy.errors);
    assert_eq!(haproxy.traces, traces.len(), "every BFS trace was considered");
    // Close to the last measured run (376 runs, 449 reads compared, 350
    // runs agree): a harness that stops playing or reading shows here.
    assert!(haproxy.runs >= 370, "{} runs", haproxy.runs);
    assert!(haproxy.compared >= 440, "{} reads compared", haproxy.compared);
    assert!(haproxy.agree_runs >= 340, "{}", haproxy.table());
    // The classes this HAProxy shows (see HAPROXY_2_6_CLASSES).
    if version.starts_with("2.6.") {
        assert_eq!(haproxy.observed(), HAPROXY_2_6_CLASSES, "{}", haproxy.table());
    } else {
        eprintln!("HAProxy {version} is not 2.6: its classes are printed, not checked");
    }
    // The slow variants were played, and a pause well inside every timeout
    // changes nothing for either proxy.
    assert_eq!(haproxy.slow_runs, SLOW_RUNS);
    assert_eq!(haproxy.slow_agree, SLOW_RUNS, "{}", haproxy.table());
    assert_eq!(own.slow_agree, SLOW_RUNS, "{}", own.table());
    // connseq is held to its own model: no departure the model does not explain.
    assert!(own.errors.is_empty(), "harness errors: {:?}", own.errors);
    assert_eq!(own.runs, haproxy.runs, "the same traces, the same schedules");
    assert_eq!(own.unexplained_runs(), 0, "{}", own.table());
}
