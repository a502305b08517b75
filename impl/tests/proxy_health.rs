//! Health checks on real sockets: a server that dies is marked DOWN and
//! gets no session until it comes back UP, with clients served throughout
//! by the other server; the checks speak the server's transport (a PROXY
//! v2 LOCAL header, a TLS handshake) and fail when the server does not.

mod common;

use common::{connect, round_trip, wait_until, EchoServer};
use connseq::config::{CheckParams, ListenerConfig, ProxyVersion, SendProxy, ServerOptions};
use connseq::runtime::{self, Options, RunningProxy};
use connseq_model::core::health::Status;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

const INTER: Duration = Duration::from_millis(100);

fn checked(l: ListenerConfig, rise: u32, fall: u32) -> ListenerConfig {
    checked_every(l, INTER, rise, fall)
}

fn checked_every(mut l: ListenerConfig, inter: Duration, rise: u32, fall: u32) -> ListenerConfig {
    let check = CheckParams { enabled: true, inter, rise, fall };
    let n = l.backend.servers.len();
    l.backend.server_options = (0..n).map(|i| ServerOptions { check, ..ServerOptions::numbered(i) }).collect();
    l
}

/// The logged lines that contain `needle` (each test's backend has a name of its own).
fn logged(needle: &str) -> Vec<String> {
    common::logs::lines_with(needle)
}

fn start(l: ListenerConfig) -> RunningProxy {
    common::logs::capture();
    let options = Options { record_sessions: true, ..Options::default() };
    runtime::spawn_with(&common::proxy_config(vec![l], 0), options).expect("start the proxy")
}

fn status(proxy: &RunningProxy, server: usize) -> Status {
    proxy.control().snapshot().backends[0].servers[server].status
}

/// One session through the proxy: an echo, then its server's name.
fn session(proxy: &RunningProxy) -> String {
    let mut c = connect(proxy.addrs()[0]);
    round_trip(&mut c, b"ping");
    drop(common::finish(c));
    common::records(proxy, 1).remove(0).server_name.unwrap_or_default()
}

#[test]
fn a_dead_server_goes_down_gets_no_session_and_comes_back_up_while_clients_are_served() {
    let a = EchoServer::start();
    let b = EchoServer::start();
    let b_addr = b.addr();
    // One retry that redispatches: a session that meets the dead server
    // before its checks took it down goes to the live one.
    let mut l = checked(common::listener("web", &[a.addr(), b_addr], 0, 1), 2, 2);
    l.backend.redispatch = true;
    let proxy = start(l);
    assert_eq!((status(&proxy, 0), status(&proxy, 1)), (Status::Up, Status::Up));
    for _ in 0..4 {
        session(&proxy);
    }

    b.stop();
    let killed = Instant::now();
    let mut served = 0;
    while status(&proxy, 1) != Status::Down {
        session(&proxy);
        served += 1;
        assert!(killed.elapsed() < common::HANG_GUARD, "s2 was never marked DOWN");
    }
    let down_after = killed.elapsed();
    let stats = proxy.control().snapshot().backends[0].servers[1].clone();
    let check = stats.check.expect("s2 is checked");
    assert_eq!(check.downs, 1);
    assert!(check.failures >= 2, "{check:?}");
    assert!(matches!(check.last, Some("L4CON" | "L4CON-SESSION")), "{check:?}");
    eprintln!("s2 DOWN {down_after:?} after it died ({served} sessions served meanwhile)");

    // DOWN: every session goes to s1, none fails.
    for _ in 0..10 {
        assert_eq!(session(&proxy), "s1");
    }

    // Back on its port: UP after `rise` passed checks, then picked again.
    let b = EchoServer::start_on(b_addr);
    wait_until("s2 UP again", || status(&proxy, 1) == Status::Up);
    let names: Vec<String> = (0..4).map(|_| session(&proxy)).collect();
    assert!(names.iter().any(|n| n == "s2"), "s2 is picked again: {names:?}");
    // Each change logged as HAProxy words it, with the servers still usable.
    let down = logged("Server web/s2 is DOWN");
    assert_eq!(down.len(), 1, "{down:?}");
    assert!(down[0].contains(" WARN ") && down[0].ends_with(". 1 active servers left."), "{}", down[0]);
    let up = logged("Server web/s2 is UP");
    assert_eq!(up.len(), 1, "{up:?}");
    assert!(up[0].contains(" INFO ") && up[0].ends_with("check status L4OK. 2 active servers online."), "{}", up[0]);
    proxy.stop().expect("stop");
    drop((a, b));
}

/// A backup server takes the sessions while the active one is DOWN, and only then: the active
/// one's checks take it down and bring it back, and the log counts the backup.
#[test]
fn a_backup_server_serves_while_the_active_one_is_down() {
    let active = EchoServer::start();
    let backup = EchoServer::start();
    let active_addr = active.addr();
    let mut l = checked(common::listener("db", &[active_addr, backup.addr()], 0, 1), 2, 2);
    l.backend.redispatch = true;
    l.backend.server_options[1].backup = true;
    let proxy = start(l);
    for _ in 0..3 {
        assert_eq!(session(&proxy), "s1", "the backup is not used while s1 is UP");
    }
    active.stop();
    wait_until("s1 DOWN", || status(&proxy, 0) == Status::Down);
    for _ in 0..3 {
        assert_eq!(session(&proxy), "s2", "the backup serves while s1 is DOWN");
    }
    let active = EchoServer::start_on(active_addr);
    wait_until("s1 UP again", || status(&proxy, 0) == Status::Up);
    for _ in 0..3 {
        assert_eq!(session(&proxy), "s1", "s1 again once UP");
    }
    let down = logged("Server db/s1 is DOWN");
    assert!(down.len() == 1 && down[0].ends_with(". 0 active and 1 backup servers left."), "{down:?}");
    assert!(!down[0].contains("Backup Server"), "s1 is an active server: {down:?}");
    let up = logged("Server db/s1 is UP");
    assert!(up.len() == 1 && up[0].ends_with(". 1 active and 1 backup servers online."), "{up:?}");
    // The backup's own change is a "Backup Server"'s.
    backup.stop();
    wait_until("s2 DOWN", || status(&proxy, 1) == Status::Down);
    let down = logged("Backup Server db/s2 is DOWN");
    assert!(down.len() == 1 && down[0].ends_with(". 1 active and 0 backup servers left."), "{down:?}");
    assert_eq!(session(&proxy), "s1");
    proxy.stop().expect("stop");
    drop(active);
}

#[test]
fn checks_send_the_proxy_v2_local_header_the_servers_sessions_would_get() {
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut l = checked(common::listener("pp", &[server.local_addr().expect("addr")], 0, 0), 2, 3);
    l.backend.send_proxy = Some(SendProxy { version: ProxyVersion::V2, tlvs: Default::default() });
    let proxy = start(l);
    let (mut check, _) = server.accept().expect("a check connects");
    check.set_read_timeout(Some(common::HANG_GUARD)).expect("timeout");
    let mut header = [0u8; 16];
    check.read_exact(&mut header).expect("a PROXY header");
    assert_eq!(&header[..12], b"\r\n\r\n\0\r\nQUIT\n", "the v2 signature");
    assert_eq!(header[12], 0x20, "version 2, command LOCAL");
    assert_eq!(&header[13..16], [0, 0, 0], "no address block");
    proxy.stop().expect("stop");
}

#[test]
fn a_tls_check_fails_against_a_server_that_does_not_speak_tls() {
    // The echo server sends the ClientHello back: no TLS server would.
    let plain = EchoServer::start();
    let mut l = checked(common::listener("tls", &[plain.addr()], 0, 0), 2, 3);
    l.backend.tls =
        Some(connseq::config::BackTls { verify: connseq::config::ServerVerify::Insecure, sni: None, alpn: Vec::new() });
    let proxy = start(l);
    wait_until("the server marked DOWN", || status(&proxy, 0) == Status::Down);
    let check = proxy.control().snapshot().backends[0].servers[0].check.expect("checked");
    assert_eq!(check.last, Some("L6RSP"), "{check:?}");
    proxy.stop().expect("stop");
}

/// Checks keep to their schedule: one every `inter` from the first while a
/// check takes less than `inter` (the schedule does not drift by each
/// check's duration), and a full `inter` of rest after a check that took
/// longer (no burst of checks to catch up). The server accepts and stays
/// silent, so each TLS check lasts exactly its bound, the connect timeout
/// at most `inter`.
#[test]
fn checks_run_every_inter_and_rest_a_full_inter_after_one_that_overran() {
    let silent_tls_checks = |connect: Duration, inter: Duration, n: usize| {
        let server = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut l =
            checked_every(common::listener("slow", &[server.local_addr().expect("addr")], 0, 0), inter, 1, 1000);
        l.backend.timeouts.connect = connect;
        l.backend.tls = Some(connseq::config::BackTls {
            verify: connseq::config::ServerVerify::Insecure,
            sni: None,
            alpn: Vec::new(),
        });
        let proxy = start(l);
        let mut at = Vec::new();
        let mut held = Vec::new();
        while at.len() <= n {
            held.push(server.accept().expect("a check connects").0);
            at.push(Instant::now());
        }
        proxy.stop().expect("stop");
        let check = span(&at);
        drop(held);
        check
    };
    // Checks of 150 ms every 400 ms: the fifth after the first 2 s later
    // (checks paced by their end would take 5 x 550 ms = 2.75 s).
    let (inter, n) = (Duration::from_millis(400), 5);
    let took = silent_tls_checks(Duration::from_millis(150), inter, n);
    assert!(took <= inter * (n as u32 + 1), "{n} checks every {inter:?} took {took:?}: the schedule drifted");
    // Checks of 300 ms every 300 ms: each overruns, the next comes a full
    // `inter` after it ends, 600 ms after it started (checks run back to
    // back would take 4 x 300 ms = 1.2 s).
    let (inter, n) = (Duration::from_millis(300), 4);
    let took = silent_tls_checks(Duration::from_secs(2), inter, n);
    assert!(took >= inter * (2 * n as u32 - 1), "{n} overrunning checks took {took:?}: no rest after an overrun");
}

/// The time from the first check accepted to the last.
fn span(at: &[Instant]) -> Duration {
    at[at.len() - 1] - at[0]
}

#[test]
fn a_server_without_check_is_never_marked_down() {
    let (_hold, dead): (_, SocketAddr) = common::refusing_port();
    let l = common::listener("plain", &[dead], 0, 0);
    let proxy = start(l);
    std::thread::sleep(INTER * 3);
    let s = proxy.control().snapshot().backends[0].servers[0].clone();
    assert_eq!((s.status, s.check), (Status::Up, None));
    proxy.stop().expect("stop");
}

#[test]
fn with_no_traffic_the_active_checks_alone_take_a_dead_server_down_and_bring_it_back() {
    let a = EchoServer::start();
    let a_addr = a.addr();
    let proxy = start(checked(common::listener("idle", &[a_addr], 0, 0), 2, 3));
    // Proven by a passed check first: from then on it takes `fall` failures.
    wait_until("a passed check", || {
        proxy.control().snapshot().backends[0].servers[0].check.is_some_and(|c| c.last == Some("L4OK"))
    });
    a.stop();
    let killed = Instant::now();
    wait_until("s1 DOWN", || status(&proxy, 0) == Status::Down);
    let down_after = killed.elapsed();
    let check = proxy.control().snapshot().backends[0].servers[0].check.expect("checked");
    assert_eq!((check.last, check.downs), (Some("L4CON"), 1), "{check:?}");
    assert!(check.failures >= 3, "fall 3: {check:?}");
    let a = EchoServer::start_on(a_addr);
    let back = Instant::now();
    wait_until("s1 UP", || status(&proxy, 0) == Status::Up);
    eprintln!(
        "fall 3, rise 2, inter {INTER:?}: DOWN {down_after:?} after it died, UP {:?} after it came back",
        back.elapsed()
    );
    proxy.stop().expect("stop");
    drop(a);
}

/// A session's failed connect is a passive observation: the server's check records it
/// (`L4CON-SESSION`) at once, not only at the next active check (an hour away here).
#[test]
fn a_sessions_refused_connect_counts_as_a_failed_check_of_its_server() {
    let server = EchoServer::start();
    let proxy =
        start(checked_every(common::listener("passive", &[server.addr()], 0, 0), Duration::from_secs(3600), 1, 1000));
    let check = || proxy.control().snapshot().backends[0].servers[0].check.expect("checked");
    wait_until("the first check passed", || check().last == Some("L4OK"));
    server.stop();
    let mut c = connect(proxy.addrs()[0]);
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    drop(c);
    let r = common::records(&proxy, 1).remove(0);
    assert_eq!(r.termination.to_string(), "SC", "{r:?}");
    wait_until("the failed connect reached the server's check", || check().failures == 1);
    assert_eq!(check().last, Some("L4CON-SESSION"), "{:?}", check());
    proxy.stop().expect("stop");
}
