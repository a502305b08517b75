//! The proxy's bulk transfers over a lossy, delayed, reordering link: a network namespace of
//! the test's own whose loopback runs through `tc netem` (delay 20 ms ± 5 ms, 2 % loss, 10 %
//! reordering). Every byte must arrive intact, in order, then EOF, with `--` in the log.
//!
//! `CONNSEQ_LOSSY_QDISC="KIND ARGS..."` replaces the netem settings (for example
//! `"tbf rate 20mbit burst 32kb latency 100ms"` to try the test's own path on a kernel
//! without netem).
//!
//! The test runs itself again inside `unshare --net` (the namespace, its loopback and its
//! qdisc vanish with that process: nothing is left behind). Where namespaces are not allowed,
//! or the kernel has no netem qdisc, it says so on stderr and passes without running: such a
//! machine cannot make the condition.

mod common;

use common::stream::{pattern_sha256, read_pattern_to_eof_sha256, server_socket, spawn, write_pattern, MIB};
use connseq::config::{BackendConfig, GlobalConfig, ListenerConfig, ProxyConfig, ServerConfig};
use connseq::runtime::{self, Options};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::Command;

/// Set in the child that runs inside the namespace.
const INSIDE: &str = "CONNSEQ_LOSSY_LINK_INSIDE";
/// The netem settings of the namespace's loopback.
const NETEM: [&str; 9] = ["delay", "20ms", "5ms", "loss", "2%", "reorder", "10%", "limit", "100000"];

#[test]
fn bulk_transfers_through_a_lossy_delayed_reordering_link_arrive_intact() {
    if std::env::var_os(INSIDE).is_some() {
        return inside();
    }
    let me = std::env::current_exe().expect("the test binary");
    let run = Command::new("unshare")
        .args(["--net", "--"])
        .arg(&me)
        .args(["--exact", "bulk_transfers_through_a_lossy_delayed_reordering_link_arrive_intact", "--nocapture"])
        .env(INSIDE, "1")
        .output();
    let out = match run {
        Ok(out) => out,
        Err(e) => return skip(&format!("cannot run unshare: {e}")),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if let Some(reason) = stderr.lines().chain(stdout.lines()).find_map(|l| l.strip_prefix("SKIP: ")) {
        return skip(reason);
    }
    if !out.status.success() && stderr.contains("unshare") && !stdout.contains("running 1 test") {
        return skip(&format!("network namespaces are not allowed here: {}", stderr.trim()));
    }
    eprintln!("{stdout}{stderr}");
    assert!(out.status.success(), "the run inside the namespace failed");
    assert!(stdout.contains("1 passed"), "the run inside the namespace ran no test");
}

fn skip(reason: &str) {
    eprintln!("lossy_link: SKIPPED, this machine cannot make a lossy link: {reason}");
}

/// Inside the namespace: loopback up, netem on it, then the transfers.
fn inside() {
    let sh = |args: &[&str]| Command::new(args[0]).args(&args[1..]).output();
    match sh(&["ip", "link", "set", "lo", "up"]) {
        Ok(o) if o.status.success() => {}
        other => return println!("SKIP: `ip link set lo up` failed in the namespace: {other:?}"),
    }
    let custom = std::env::var("CONNSEQ_LOSSY_QDISC").ok();
    let qdisc: Vec<&str> = match &custom {
        Some(spec) => spec.split_whitespace().collect(),
        None => std::iter::once("netem").chain(NETEM).collect(),
    };
    let mut tc = vec!["tc", "qdisc", "add", "dev", "lo", "root"];
    tc.extend(&qdisc);
    match sh(&tc) {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            return println!("SKIP: no {} qdisc in this kernel ({})", qdisc.first().unwrap_or(&"netem"), why.trim());
        }
        Err(e) => return println!("SKIP: tc cannot run: {e}"),
    }
    eprintln!("lossy_link: loopback through {}", qdisc.join(" "));
    transfers();
}

fn transfers() {
    let (l, server) = server_socket();
    let echo = spawn(move || {
        let mut done = Vec::new();
        for _ in 0..4 {
            let s = common::stream::accept(&l);
            done.push(spawn(move || common::stream::echo(s)));
        }
        done.into_iter().map(|h| h.join().expect("echo thread").expect("echo")).collect::<Vec<u64>>()
    });
    let mut backend = BackendConfig::new("lossy", vec![ServerConfig { addr: server, maxconn: 0 }]);
    backend.retries = 3;
    let listener = ListenerConfig {
        name: "lossy".into(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        backend,
        timeouts: Default::default(),
        maxconn: 0,
        options: Default::default(),
    };
    let config =
        ProxyConfig { listeners: vec![listener], global: GlobalConfig { threads: 2, ..GlobalConfig::default() } };
    let mut proxy = runtime::spawn_with(&config, Options { record_sessions: true, ..Options::default() })
        .expect("the proxy starts");
    let addr = proxy.addrs()[0];
    let clients: Vec<_> = (0..4u64)
        .map(|seed| {
            spawn(move || {
                let mut c = common::connect(addr);
                let mut w = c.try_clone().expect("clone");
                let len = 2 * MIB + seed as usize * 12345;
                let up = spawn(move || {
                    write_pattern(&mut w, seed, len).expect("send");
                    w.shutdown(Shutdown::Write).expect("FIN");
                });
                let (got, sha) = read_pattern_to_eof_sha256(&mut c, seed, 0).expect("the echo, intact");
                up.join().expect("writer");
                assert_eq!((got, sha), (len as u64, pattern_sha256(seed, len)), "session {seed}");
                let mut rest = Vec::new();
                assert_eq!(c.read_to_end(&mut rest).expect("EOF stays"), 0);
                let _ = c.flush();
            })
        })
        .collect();
    for c in clients {
        c.join().expect("a client");
    }
    assert_eq!(echo.join().expect("echo server").len(), 4);
    common::wait_until("every session ended", || proxy.live_sessions() == 0);
    proxy.shutdown().expect("stops");
    let codes: Vec<String> = proxy.take_records().iter().map(|r| r.termination.to_string()).collect();
    assert_eq!(codes, vec!["--".to_string(); 4]);
    let _ = std::io::stdout().flush();
}
