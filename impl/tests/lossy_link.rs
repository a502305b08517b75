//! The proxy's bulk transfers over a lossy, delayed link: a network namespace of the test's
//! own whose loopback runs through `tc netem` (delay 20 ms ± 5 ms, 2 % loss, 10 % reordering).
//! Every byte must arrive intact, in order, then EOF, with `--` in the log, and the kernel must
//! have retransmitted (the link really lost packets).
//!
//! A kernel without netem (this project's machines have none, and no module to load) gets a
//! bottleneck instead, made of the token-bucket filter every kernel has: the loopback's MTU set
//! to 1500 and its traffic shaped to 50 Mbit/s behind a 64 KiB queue, so that a bulk flow
//! queues (milliseconds of delay) and then loses the packets that overflow the queue (tail
//! drop, hundreds per transfer): real losses and retransmissions, without reordering. The test
//! names the link it used.
//!
//! `CONNSEQ_LOSSY_QDISC="KIND ARGS..."` replaces both (for example
//! `"tbf rate 20mbit burst 32kb latency 100ms"`).
//!
//! The test runs itself again inside `unshare --net` (the namespace, its loopback and its
//! qdisc vanish with that process: nothing is left behind). Where namespaces are not allowed,
//! or the kernel has neither qdisc, it says so on stderr and passes without running: such a
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
const NETEM: [&str; 10] = ["netem", "delay", "20ms", "5ms", "loss", "2%", "reorder", "10%", "limit", "100000"];
/// The bottleneck where netem is missing: 50 Mbit/s behind a 64 KiB queue (at most about
/// 10 ms of queueing), which a bulk flow overflows.
const BOTTLENECK: [&str; 7] = ["tbf", "rate", "50mbit", "burst", "16kb", "limit", "64kb"];

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

/// Inside the namespace: loopback up, netem (or the bottleneck) on it, then the transfers.
fn inside() {
    let sh = |args: &[&str]| Command::new(args[0]).args(&args[1..]).output();
    match sh(&["ip", "link", "set", "lo", "up"]) {
        Ok(o) if o.status.success() => {}
        other => return println!("SKIP: `ip link set lo up` failed in the namespace: {other:?}"),
    }
    let custom = std::env::var("CONNSEQ_LOSSY_QDISC").ok();
    let choices: Vec<Vec<&str>> = match &custom {
        Some(spec) => vec![spec.split_whitespace().collect()],
        None => vec![NETEM.to_vec(), BOTTLENECK.to_vec()],
    };
    let mut refused = Vec::new();
    let mut used = None;
    for qdisc in &choices {
        if qdisc.first() == Some(&"tbf") {
            // Packets of an Ethernet's size, as a real bottleneck sees them (the loopback's
            // 64 KiB would make a handful of packets per queue).
            let _ = sh(&["ip", "link", "set", "lo", "mtu", "1500"]);
        }
        let mut tc = vec!["tc", "qdisc", "add", "dev", "lo", "root"];
        tc.extend(qdisc);
        match sh(&tc) {
            Ok(o) if o.status.success() => {
                used = Some(qdisc.join(" "));
                break;
            }
            Ok(o) => refused.push(format!(
                "no {} qdisc in this kernel ({})",
                qdisc.first().unwrap_or(&"?"),
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => return println!("SKIP: tc cannot run: {e}"),
        }
    }
    let Some(used) = used else { return println!("SKIP: {}", refused.join("; ")) };
    for why in &refused {
        eprintln!("lossy_link: {why}");
    }
    eprintln!("lossy_link: loopback through {used}");
    let retrans_before = retransmitted();
    transfers();
    let retrans = retransmitted() - retrans_before;
    let stats =
        sh(&["tc", "-s", "qdisc", "show", "dev", "lo"]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    eprintln!("lossy_link: {retrans} segments retransmitted; {}", stats.unwrap_or_default().trim().replace('\n', " "));
    assert!(retrans > 0, "the link lost nothing: no segment was retransmitted");
}

/// The TCP segments this namespace's kernel has retransmitted (`RetransSegs` in /proc/net/snmp).
fn retransmitted() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").expect("/proc/net/snmp");
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next().expect("Tcp names"), tcp.next().expect("Tcp values"));
    let at = names.split_whitespace().position(|n| n == "RetransSegs").expect("RetransSegs");
    values.split_whitespace().nth(at).and_then(|v| v.parse().ok()).expect("a count")
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
