//! Real time in the black-box harness: a proxy with an unmodelled timer is
//! caught by a slow variant, and timer traces are played on connseq with
//! short timeouts.
//!
//! - socat closes a half-closed connection 0.5 s after the first FIN by
//!   default (`-t 0.5`): a server that answers one second after the
//!   client's FIN, well inside every declared timeout (30 s), loses its
//!   response. The slow variants (a 1 s pause before a peer's last
//!   actions) must show it as data lost; with `-t 30` every run, slow or
//!   not, must agree. The BFS traces to depth 4 hold the shape (the client
//!   shuts its write side, the server accepts, then answers).
//! - connseq with 2 s / 3 s / 1 s timeouts plays the timer traces whose
//!   timer fires first in real time (six of them, the shortest waits first,
//!   taking turns among the timers): every run agrees, or departs only as
//!   the model explains (an RST behind data or a FIN Linux delivered).
//! - connseq reading a PROXY header with a 1 s handshake timeout, declared
//!   as such (`handshake=1s`), plays the traces where the client never
//!   sends its header and the handshake timer fires, and agrees; the same
//!   proxy with a 4 s handshake timeout declared as 1 s is caught there.
//!
//! socat must be installed (`.ci/run` installs it): the test fails without it.

mod common;

use common::connseq_binary;
use connseq_conformance::blackbox::{self, Blackbox, Class, Report, Settle};
use connseq_conformance::pace::{Pace, Timeouts};
use connseq_conformance::sources;
use connseq_conformance::trace::Trace;
use connseq_model::check::{Feature, ModelConfig, Preset, System, Who};
use std::process::Command;
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(10);

fn small() -> System {
    System::new(ModelConfig::preset(Preset::Small))
}

fn campaign(sys: &System, traces: &[Trace], pace: Pace, cmd: &str) -> Report {
    let mut bb = Blackbox::bind("127.0.0.1:0".parse().expect("an address"), None, Settle::default())
        .expect("the server's port binds");
    bb.set_pace(pace);
    let dir = std::env::temp_dir().join(format!("connseq-blackbox-time-{}-{:p}", std::process::id(), &bb));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    bb.write_pki(&dir).expect("the certificates are written");
    let cmd = bb.substitute(cmd).expect("the command's placeholders");
    if let Err(e) = bb.launch(&cmd, START_TIMEOUT) {
        panic!("`{cmd}` did not start: {e}");
    }
    let report = bb.campaign(sys, traces, |_, _, _| {});
    assert!(bb.exited().is_none(), "the proxy ended during the campaign: {}", bb.target_output());
    assert!(report.errors.is_empty(), "harness errors: {:?}", report.errors);
    let _ = std::fs::remove_dir_all(&dir);
    report
}

fn socat(options: &str) -> String {
    format!("exec socat {options} TCP-LISTEN:{{listen_port}},bind={{listen_host}},reuseaddr,fork TCP:{{server}}")
}

#[test]
fn socat_default_loses_a_late_response_after_a_half_close_and_socat_t30_does_not() {
    assert!(
        Command::new("socat").arg("-V").output().is_ok_and(|o| o.status.success()),
        "socat is not installed (apt-get install socat)"
    );
    let start = Instant::now();
    let sys = small();
    let traces = sources::bfs_traces(&sys, 4);
    // 30 s timeouts (socat has none by default): a 1 s pause, two slow variants.
    let pace = Pace::new(Timeouts::default(), 2, 0);
    let (sys, traces) = (&sys, &traces[..]);
    let (default, t30) = std::thread::scope(|s| {
        let default = s.spawn(move || campaign(sys, traces, pace, &socat("")));
        let t30 = s.spawn(move || campaign(sys, traces, pace, &socat("-t 30")));
        (default.join().expect("socat"), t30.join().expect("socat -t 30"))
    });
    eprintln!("socat:\n{}\nsocat -t 30:\n{}", default.table(), t30.table());
    eprintln!("both campaigns: {:.1} s", start.elapsed().as_secs_f64());

    assert_eq!(default.pace.pause, Duration::from_secs(1));
    assert_eq!(default.slow_runs, 2, "{}", default.table());
    // Without pauses socat agrees: the departure is real time's alone.
    assert!(default.classes.is_empty(), "{}", default.table());
    let lost = default.slow_classes.get(&Class::DataLost).unwrap_or_else(|| panic!("{}", default.table()));
    assert_eq!(lost.departure.actual, "FIN", "{}", default.table());
    assert!(lost.example.actions_text().contains("PeerShutsWrite(0, Client)"), "{}", default.table());
    // socat -t 30 agrees on the same runs, slow variants included.
    assert_eq!(t30.slow_runs, 2);
    assert_eq!(t30.slow_agree, 2, "{}", t30.table());
    assert_eq!(t30.unexplained_runs(), 0, "{}", t30.table());
    assert_eq!(t30.agree_runs, t30.runs, "{}", t30.table());
}

#[test]
fn connseq_plays_the_timer_traces_whose_timer_fires_first() {
    let start = Instant::now();
    let sys = small();
    let traces = sources::bfs_traces(&sys, 5);
    let timeouts = Timeouts::parse("client=2s,server=3s,connect=5s,client-fin=1s,server-fin=1s").expect("valid");
    let pace = Pace::new(timeouts, 0, 6);
    let bin = connseq_binary();
    let cmd = format!(
        "exec {} proxy --listen {{listen}} --server {{server}} --threads 1 --retries 0 \
         --timeout-client 2s --timeout-server 3s --timeout-fin 1s",
        bin.display()
    );
    let report = campaign(&sys, &traces, pace, &cmd);
    eprintln!("connseq, timeouts {timeouts}:\n{}", report.table());
    eprintln!("campaign: {:.1} s", start.elapsed().as_secs_f64());

    // Traces with a timer are played now, not skipped.
    assert!(report.timer_traces >= 100, "{}", report.time_line());
    assert_eq!(report.timer_runs, 6, "{}", report.time_line());
    assert!(report.unsupported.keys().all(|why| !why.starts_with("a timer fires")));
    assert!(report.unconfirmed == 0 && report.errors.is_empty(), "{}", report.table());
    // connseq is held to its own model, timers included.
    assert_eq!(report.unexplained_runs(), 0, "{}", report.table());
    assert!(report.observed().iter().all(|c| c.explained()), "{}", report.table());
}

#[test]
fn the_handshake_timer_is_played_and_a_proxy_slower_than_it_declares_is_caught() {
    let start = Instant::now();
    let sys = System::new(ModelConfig::preset(Preset::Small).with(Feature::ProxyIn));
    let mut traces = sources::bfs_traces(&sys, 4);
    traces.retain(|t| blackbox::fits_layers(&sys, t));
    let timeouts =
        Timeouts::parse("client=2s,server=3s,connect=5s,client-fin=1s,server-fin=1s,handshake=1s").expect("valid");
    let pace = Pace::new(timeouts, 0, 4);
    let bin = connseq_binary();
    let cmd = |handshake: &str| {
        format!(
            "exec {} proxy --listen {{listen}} --server {{server}} --threads 1 --retries 0 --accept-proxy \
             --timeout-client 2s --timeout-server 3s --timeout-fin 1s --timeout-handshake {handshake}",
            bin.display()
        )
    };
    let (sys, traces) = (&sys, &traces[..]);
    let (honest, slow) = std::thread::scope(|s| {
        let honest = s.spawn(|| campaign(sys, traces, pace, &cmd("1s")));
        let slow = s.spawn(|| campaign(sys, traces, pace, &cmd("4s")));
        (honest.join().expect("connseq, 1 s"), slow.join().expect("connseq, 4 s"))
    });
    eprintln!("connseq, handshake 1 s:\n{}\nconnseq, handshake 4 s declared as 1 s:\n{}", honest.table(), slow.table());
    eprintln!("both campaigns: {:.1} s", start.elapsed().as_secs_f64());

    // The handshake timer's traces are played, not skipped.
    assert!(honest.unsupported.keys().all(|why| !why.contains("handshake")), "{:?}", honest.unsupported);
    assert!(honest.timers_played.get("handshake").is_some_and(|&n| n >= 1), "{}", honest.time_line());
    // A proxy whose handshake timeout is the declared one agrees there.
    assert_eq!(honest.unexplained_runs(), 0, "{}", honest.table());
    // One that waits longer than it declares keeps the client's connection
    // open where the model's timer closed it: every handshake run departs
    // so, and nothing else does.
    assert_eq!(slow.timers_played, honest.timers_played, "the same runs are played");
    let late = slow.classes.get(&Class::NotClosedAtTimeout).unwrap_or_else(|| panic!("{}", slow.table()));
    assert_eq!(late.runs, slow.timers_played["handshake"], "{}", slow.table());
    assert_eq!(slow.observed(), [Class::NotClosedAtTimeout], "{}", slow.table());
    assert!(late.example.actions_text().contains("TimerFires(0, Handshake)"), "{}", slow.table());
    assert_eq!((late.departure.who, late.departure.actual.as_str()), (Who::Client, "nothing"), "{}", late.departure);
}

/// With TLS termination the handshake timer fires after the proxy sent its
/// flight: the client reads the flight, answers it into the proxy's RST (the
/// kernel reports the reset to that write), and the harness must still see
/// the RST the model's timer gives. connseq agrees or departs only as the
/// model explains (the flight read before the RST, which Linux keeps).
#[test]
fn the_handshake_timer_of_a_tls_listener_ends_in_the_rst_the_model_gives() {
    let sys = System::new(ModelConfig::preset(Preset::Small).with(Feature::TlsFront));
    let mut traces = sources::bfs_traces(&sys, 6);
    // The traces where the timer fires after the proxy sent its flight.
    traces.retain(|t| {
        blackbox::fits_layers(&sys, t)
            && t.actions_text().starts_with("ClientSendsHello(0, Whole), ProxyRuns(0), TimerFires(0, Handshake)")
    });
    let timeouts =
        Timeouts::parse("client=2s,server=3s,connect=5s,client-fin=1s,server-fin=1s,handshake=1s").expect("valid");
    let cmd = format!(
        "exec {} proxy --listen {{listen}} --server {{server}} --threads 1 --retries 0 --tls-cert {{cert}} \
         --tls-key {{key}} --timeout-client 2s --timeout-server 3s --timeout-fin 1s --timeout-handshake 1s",
        connseq_binary().display()
    );
    let report = campaign(&sys, &traces, Pace::new(timeouts, 0, 4), &cmd);
    eprintln!("connseq, TLS termination, handshake 1 s:\n{}", report.table());
    let played = report.timers_played.get("handshake").copied().unwrap_or(0);
    assert!(played >= 2, "{}", report.time_line());
    assert_eq!(report.unexplained_runs(), 0, "{}", report.table());
    // The flight was read before the RST in at least one run.
    assert!(report.classes.contains_key(&Class::RstAfterDelivery), "{}", report.table());
}
