//! The backend and the timeouts on real loopback sockets: round robin and
//! leastconn, a refused server (retries with turn-around), a silent server
//! (connect timeout), the queue timeout, the client timeout, a listener's
//! maxconn, a kill at the end of a stop's grace period, a soft stop, and
//! several event-loop threads sharing a server's maxconn and the global one.
//!
//! Timeouts run on the proxy's manual clock: a test moves it only after the
//! proxy's counters show the step it waits for, so no test depends on how
//! fast the machine is. Each wait has a 30 s hang guard.

mod common;

use common::{
    assert_nothing_to_read, connect, finish, listener, proxy_config, read_to_eof, refusing_port, round_trip,
    wait_until, EchoServer,
};
use connseq::config::{ListenerConfig, ProxyConfig};
use connseq::runtime::{self, Options, RunningProxy, SessionRecord, Stats};
use connseq_model::core::{Balance, Cause, Phase};
use socket2::{Domain, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const MANUAL: Options = Options {
    manual_clock: true,
    record_sessions: true,
    stepped: false,
    hold_connects: false,
    send_window: None,
    breakage: connseq::runtime::Breakage::None,
};

fn start(config: &ProxyConfig, options: Options) -> (RunningProxy, SocketAddr) {
    let proxy = runtime::spawn_with(config, options).expect("the proxy starts");
    let addr = proxy.addrs()[0];
    (proxy, addr)
}

/// [`start`] with options that need the `test-hooks` feature (stepped mode,
/// held connects): without it, checks that the proxy refuses them, naming
/// the feature, and gives `None` (the test has nothing more to run).
fn start_hooked(config: &ProxyConfig, options: Options) -> Option<(RunningProxy, SocketAddr)> {
    if !cfg!(feature = "test-hooks") {
        let e = runtime::spawn_with(config, options).expect_err("a test hook without test-hooks");
        assert!(e.to_string().contains("test-hooks"), "{e}");
        return None;
    }
    Some(start(config, options))
}

fn wait_stats(proxy: &RunningProxy, what: &str, cond: impl Fn(&Stats) -> bool) {
    wait_until(what, || cond(&proxy.stats()));
}

/// Waits for the next ended session's record.
fn next_record(proxy: &RunningProxy, pending: &mut Vec<SessionRecord>) -> SessionRecord {
    wait_until("a session ended", || {
        pending.extend(proxy.take_records());
        !pending.is_empty()
    });
    pending.remove(0)
}

fn code(r: &SessionRecord) -> String {
    r.termination.to_string()
}

/// A server that never answers a SYN: a listening socket whose accept queue
/// (backlog 0: one connection) is already full with `filler`. Keep both
/// alive while in use.
fn silent_server() -> (Socket, TcpStream, SocketAddr) {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).expect("bind");
    s.listen(0).expect("listen");
    let addr = s.local_addr().expect("address").as_socket().expect("inet");
    let filler = TcpStream::connect(addr).expect("the filler fills the queue");
    (s, filler, addr)
}

fn timeouts(l: &mut ListenerConfig, f: impl FnOnce(&mut connseq::config::BackendTimeouts)) {
    f(&mut l.backend.timeouts);
}

#[test]
fn round_robin_alternates_and_leastconn_picks_the_least_busy_server() {
    let (s1, s2) = (EchoServer::start(), EchoServer::start());
    let servers = [s1.addr(), s2.addr()];
    let (proxy, addr) = start(&proxy_config(vec![listener("rr", &servers, 0, 0)], 0), Options::default());
    for i in 0..4u8 {
        let mut c = connect(addr);
        round_trip(&mut c, &[i]);
        assert!(finish(c).is_empty());
    }
    assert_eq!((s1.accepted(), s2.accepted()), (2, 2), "round robin alternates");
    proxy.stop().expect("stop");

    let mut l = listener("lc", &servers, 0, 0);
    l.backend.balance = Balance::LeastConn;
    let (proxy, addr) = start(&proxy_config(vec![l], 0), Options::default());
    let mut a = connect(addr);
    round_trip(&mut a, b"a");
    let mut b = connect(addr);
    round_trip(&mut b, b"b");
    assert_eq!((s1.accepted(), s2.accepted()), (3, 3), "one each");
    // Both busy; `a` leaves, so its server is the least busy.
    wait_until("one session open on each server", || s1.open() == 1 && s2.open() == 1);
    let before = (s1.accepted(), s2.accepted());
    assert!(finish(a).is_empty());
    wait_until("a's server connection closed", || s1.open() + s2.open() == 1);
    let idle_is_s1 = s1.open() == 0;
    for i in 0..3u8 {
        let mut c = connect(addr);
        round_trip(&mut c, &[i]);
        assert!(finish(c).is_empty());
        wait_until("the short session's server connection closed", || s1.open() + s2.open() == 1);
    }
    let after = (s1.accepted() - before.0, s2.accepted() - before.1);
    let expected = if idle_is_s1 { (3, 0) } else { (0, 3) };
    assert_eq!(after, expected, "while `b` stays, every new session goes to the other server");
    assert!(finish(b).is_empty());
    proxy.stop().expect("stop");
}

#[test]
fn a_refused_server_is_retried_after_the_turn_around_then_the_client_is_closed_with_sc() {
    let (_guard, refusing) = refusing_port();
    let mut l = listener("r", &[refusing], 0, 2);
    timeouts(&mut l, |t| t.turn_around = Duration::from_secs(1));
    let (proxy, addr) = start(&proxy_config(vec![l], 0), MANUAL);
    let mut c = connect(addr);
    c.write_all(b"hello").expect("send");
    for attempt in 1..=3 {
        wait_stats(&proxy, "the attempt was refused", |s| s.connect_failures == attempt);
        assert_eq!(proxy.stats().connects, attempt, "no attempt before the turn-around ends");
        if attempt < 3 {
            assert_nothing_to_read(&mut c, "the client while the proxy retries");
            proxy.advance(Duration::from_secs(1));
        }
    }
    assert!(read_to_eof(&mut c).is_empty(), "the client gets a clean close, no data");
    // The proxy drains the client until its FIN (or the client-fin timeout).
    drop(c);
    let mut pending = Vec::new();
    let r = next_record(&proxy, &mut pending);
    assert_eq!(code(&r), "SC", "refused by the server while connecting: {r:?}");
    assert_eq!(r.connects, 3, "the first attempt and two retries");
    assert_eq!(r.total_ms, 2000, "two turn-arounds of 1 s, on the manual clock");
    assert_eq!(r.server, Some(refusing));
    // The log line's Tw/Tc/Tt: no wait for a slot, no connect established (-1, as HAProxy).
    assert!(r.line.contains(" 0/-1/2000 0/0 SC"), "{}", r.line);
    proxy.stop().expect("stop");
}

#[test]
fn a_silent_server_times_out_each_attempt_and_the_client_is_closed_with_sc_lowercase() {
    let (_listener, _filler, silent) = silent_server();
    let mut l = listener("t", &[silent], 0, 1);
    timeouts(&mut l, |t| t.connect = Duration::from_secs(5));
    let (proxy, addr) = start(&proxy_config(vec![l], 0), MANUAL);
    let mut c = connect(addr);
    for attempt in 1..=2 {
        wait_stats(&proxy, "the attempt started", |s| s.connects == attempt);
        assert_nothing_to_read(&mut c, "the client while the server is silent");
        proxy.advance(Duration::from_secs(5));
    }
    assert!(read_to_eof(&mut c).is_empty(), "the client gets a clean close");
    drop(c);
    let r = next_record(&proxy, &mut Vec::new());
    assert_eq!(code(&r), "sC", "{r:?}");
    assert_eq!((r.connects, r.total_ms, r.connect_ms), (2, 10_000, None));
    assert_eq!(proxy.stats().connect_failures, 0, "timeouts are not refusals");
    proxy.stop().expect("stop");
}

#[test]
fn a_queued_session_times_out_with_sq_and_the_served_one_is_untouched() {
    let server = EchoServer::start();
    let mut l = listener("q", &[server.addr()], 1, 0);
    timeouts(&mut l, |t| t.queue = Duration::from_secs(3));
    let (proxy, addr) = start(&proxy_config(vec![l], 0), MANUAL);
    let mut a = connect(addr);
    round_trip(&mut a, b"a1");
    let mut b = connect(addr);
    b.write_all(b"b1").expect("send");
    wait_stats(&proxy, "the second session queued", |s| s.queued == 1);
    proxy.advance(Duration::from_secs(3));
    assert!(read_to_eof(&mut b).is_empty(), "the queued client is closed without data");
    drop(b);
    let r = next_record(&proxy, &mut Vec::new());
    assert_eq!(code(&r), "sQ", "{r:?}");
    assert_eq!((r.connects, r.server, r.queue_ms), (0, None, None));
    round_trip(&mut a, b"a2");
    assert_eq!(server.accepted(), 1);
    assert!(finish(a).is_empty());
    proxy.stop().expect("stop");
}

#[test]
fn an_idle_session_hits_the_client_timeout_and_both_sides_are_reset_with_cd() {
    let server = EchoServer::start();
    let mut l = listener("i", &[server.addr()], 0, 0);
    l.timeouts.client = Duration::from_secs(10);
    let (proxy, addr) = start(&proxy_config(vec![l], 0), MANUAL);
    let mut c = connect(addr);
    round_trip(&mut c, b"x");
    proxy.advance(Duration::from_secs(10));
    let mut buf = [0u8; 8];
    let got = c.read(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
        "a timeout closes abortively: {got:?}"
    );
    let r = next_record(&proxy, &mut Vec::new());
    assert_eq!(code(&r), "cD", "{r:?}");
    assert_eq!((r.to_server, r.to_client, r.total_ms), (1, 1, 10_000));
    wait_until("the server side closed too", || server.open() == 0);
    proxy.stop().expect("stop");
}

/// On the real clock the loop sets its own wake-up: with no traffic at all, the poller's
/// timeout brings it back at the client timeout's deadline (300 ms), not later, and not in
/// a spin of zero-length polls before it.
#[test]
fn on_the_real_clock_an_idle_session_times_out_with_no_event_to_wake_the_loop() {
    let server = EchoServer::start();
    let mut l = listener("i", &[server.addr()], 0, 0);
    l.timeouts.client = Duration::from_millis(300);
    let (proxy, addr) = start(&proxy_config(vec![l], 0), Options { manual_clock: false, ..MANUAL });
    let mut c = connect(addr);
    round_trip(&mut c, b"x");
    let before = proxy.stats();
    c.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    let mut buf = [0u8; 8];
    let got = c.read(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
        "the timeout fired by itself: {got:?}"
    );
    let r = next_record(&proxy, &mut Vec::new());
    assert_eq!(code(&r), "cD", "{r:?}");
    assert!(r.total_ms >= 300, "not before the deadline: {r:?}");
    // The wake-up at the deadline, and the few events of the ends; a loop that polled with
    // a zero timeout until the deadline would count thousands here.
    let wakeups = proxy.stats().wakeups - before.wakeups;
    assert!(wakeups < 50, "{wakeups} wake-ups while the session sat idle");
    proxy.stop().expect("stop");
}

/// The timer heap keeps the entry of the first deadline when traffic moves
/// it later: that entry still pops at 10 s and must put the session back at
/// its new deadline (16 s), neither firing early nor losing the timeout.
#[test]
fn traffic_pushes_the_client_timeout_back_and_it_fires_at_the_new_deadline() {
    let server = EchoServer::start();
    let mut l = listener("i", &[server.addr()], 0, 0);
    l.timeouts.client = Duration::from_secs(10);
    let (proxy, addr) = start(&proxy_config(vec![l], 0), MANUAL);
    let mut c = connect(addr);
    round_trip(&mut c, b"x");
    proxy.advance(Duration::from_secs(6));
    round_trip(&mut c, b"y");
    // The first entry (10 s) pops at 11 s, with no traffic after it on this
    // session; another session's round trip shows the loop ran past 11 s.
    proxy.advance(Duration::from_secs(5));
    let mut other = connect(addr);
    round_trip(&mut other, b"o");
    proxy.advance(Duration::from_secs(5));
    let mut buf = [0u8; 8];
    let got = c.read(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
        "the timeout fired at the deadline the traffic set: {got:?}"
    );
    let r = next_record(&proxy, &mut Vec::new());
    assert_eq!(code(&r), "cD", "{r:?}");
    assert_eq!((r.to_server, r.to_client, r.total_ms), (2, 2, 16_000));
    proxy.stop().expect("stop");
}

#[test]
fn a_listener_maxconn_holds_new_clients_in_the_backlog_until_a_session_ends() {
    let server = EchoServer::start();
    let mut l = listener("one", &[server.addr()], 0, 0);
    l.maxconn = 1;
    let (proxy, addr) = start(&proxy_config(vec![l, listener("other", &[server.addr()], 0, 0)], 0), MANUAL);
    let other = proxy.addrs()[1];
    let mut a = connect(addr);
    round_trip(&mut a, b"a");
    let mut b = connect(addr);
    b.write_all(b"b").expect("send");
    // The other listener is not limited.
    let mut o = connect(other);
    round_trip(&mut o, b"o");
    round_trip(&mut a, b"a2");
    assert_eq!(proxy.stats().accepted, 2, "the second client of `one` waits in the backlog");
    assert_nothing_to_read(&mut b, "the waiting client");
    assert!(finish(a).is_empty());
    let mut got = [0u8; 1];
    b.read_exact(&mut got).expect("served once a place is free");
    assert_eq!(&got, b"b");
    assert!(finish(b).is_empty() && finish(o).is_empty());
    proxy.stop().expect("stop");
}

#[test]
fn at_the_end_of_the_grace_period_remaining_sessions_are_killed_in_order_with_k() {
    let server = EchoServer::start();
    let (mut proxy, addr) = start(&proxy_config(vec![listener("k", &[server.addr()], 0, 0)], 0), MANUAL);
    let mut c = connect(addr);
    round_trip(&mut c, b"x");
    proxy.shutdown().expect("the stop completes");
    let mut buf = [0u8; 8];
    let got = c.read(&mut buf);
    assert!(matches!(&got, Err(e) if e.kind() == io::ErrorKind::ConnectionReset), "killed: {got:?}");
    let r = next_record(&proxy, &mut Vec::new());
    assert_eq!(code(&r), "KD", "{r:?}");
    assert_eq!(r.termination.cause, Cause::Killed);
    assert_eq!(r.termination.phase, Phase::Data);
    wait_until("the server side closed too", || server.open() == 0);
    assert_eq!(proxy.live_sessions(), 0);
}

#[test]
fn a_soft_stop_closes_the_listeners_and_lets_sessions_finish() {
    let server = EchoServer::start();
    let (mut proxy, addr) = start(&proxy_config(vec![listener("s", &[server.addr()], 0, 0)], 0), MANUAL);
    let mut c = connect(addr);
    round_trip(&mut c, b"before");
    proxy.soft_stop();
    // A probe the proxy accepted before its listener closed is a session too.
    wait_until("the listener is closed", || TcpStream::connect(addr).is_err());
    // A soft stop has no grace period: past a hard stop's (5 s), the session goes on.
    assert!(proxy.advance(Duration::from_secs(6)));
    round_trip(&mut c, b"during the stop");
    assert!(finish(c).is_empty());
    wait_until("every session ended", || proxy.live_sessions() == 0);
    let records = proxy.take_records();
    let r = records.iter().find(|r| r.to_server == 21).expect("the session's record");
    assert_eq!(code(r), "--", "a normal end: {r:?}");
    proxy.shutdown().expect("the threads end");
}

#[test]
fn four_threads_share_a_server_maxconn_of_one_and_serve_every_client() {
    let server = EchoServer::start();
    let mut config = proxy_config(vec![listener("mt", &[server.addr()], 1, 0)], 0);
    config.global.threads = 4;
    let (mut proxy, addr) = start(
        &config,
        Options {
            manual_clock: false,
            record_sessions: true,
            stepped: false,
            hold_connects: false,
            send_window: None,
            breakage: connseq::runtime::Breakage::None,
        },
    );
    let clients: Vec<_> = (0..16u8)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = connect(addr);
                let msg = vec![i; 4096];
                round_trip(&mut c, &msg);
                assert!(finish(c).is_empty());
            })
        })
        .collect();
    for c in clients {
        c.join().expect("every client is served");
    }
    wait_until("every session ended", || proxy.live_sessions() == 0);
    assert_eq!(server.peak(), 1, "never two server connections at once");
    assert_eq!(server.accepted(), 16);
    proxy.shutdown().expect("stop");
    let records = proxy.take_records();
    assert_eq!(records.len(), 16);
    assert!(records.iter().all(|r| code(r) == "--"), "{records:?}");
    let threads: std::collections::BTreeSet<_> = records.iter().map(|r| r.thread).collect();
    assert!(threads.len() > 1, "the kernel spread the clients over the threads: {threads:?}");
}

#[test]
fn four_threads_share_the_global_maxconn() {
    let server = EchoServer::start();
    let mut config = proxy_config(vec![listener("g", &[server.addr()], 0, 0)], 2);
    config.global.threads = 4;
    let (proxy, addr) = start(&config, Options::default());
    let mut a = connect(addr);
    round_trip(&mut a, b"a");
    let mut b = connect(addr);
    round_trip(&mut b, b"b");
    // Whichever thread the next clients land on, none may take them.
    let mut waiting: Vec<TcpStream> = (0..4)
        .map(|i| {
            let mut c = connect(addr);
            c.write_all(&[b'0' + i]).expect("send");
            c
        })
        .collect();
    round_trip(&mut a, b"a2");
    round_trip(&mut b, b"b2");
    assert_eq!(proxy.stats().accepted, 2);
    assert_eq!(server.accepted(), 2);
    for c in &mut waiting {
        assert_nothing_to_read(c, "a client beyond the global maxconn");
    }
    // Free both places: the waiting clients are served two at a time, in
    // whatever order the threads take them.
    assert!(finish(a).is_empty() && finish(b).is_empty());
    let served: Vec<_> = waiting
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            std::thread::spawn(move || {
                let mut got = [0u8; 1];
                c.read_exact(&mut got).expect("served once a place frees");
                assert_eq!(got[0], b'0' + i as u8);
                assert!(finish(c).is_empty());
            })
        })
        .collect();
    for t in served {
        t.join().expect("every waiting client is served");
    }
    assert_eq!(server.peak(), 2, "never more than maxconn sessions at once");
    proxy.stop().expect("stop");
}

#[test]
fn in_stepped_mode_the_proxy_runs_only_in_the_turns_it_is_granted() {
    use connseq_model::core::SiState;
    let server = EchoServer::start();
    let options = Options {
        manual_clock: true,
        record_sessions: true,
        stepped: true,
        hold_connects: false,
        send_window: None,
        breakage: connseq::runtime::Breakage::None,
    };
    let config = proxy_config(vec![listener("step", &[server.addr()], 0, 0)], 0);
    let Some((proxy, addr)) = start_hooked(&config, options) else { return };
    let mut c = connect(addr);
    c.write_all(b"ping").expect("send");
    assert_eq!(proxy.stats().accepted, 0, "no turn yet: the connection waits in the backlog");
    assert!(proxy.turn(), "a turn runs");
    assert_eq!(proxy.stats().accepted, 1);
    let cores = proxy.cores();
    assert_eq!(cores.len(), 1);
    assert_eq!(cores[0].si(connseq_model::core::Side::Front), SiState::Est);
    // The echo comes back only through further turns (the server answers
    // between them).
    let mut got = [0u8; 4];
    let deadline = std::time::Instant::now() + common::HANG_GUARD;
    c.set_nonblocking(true).expect("non-blocking");
    loop {
        assert!(proxy.turn());
        match c.read(&mut got) {
            Ok(4) => break,
            Ok(n) => panic!("partial echo {n}"),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
        assert!(std::time::Instant::now() < deadline, "no echo");
    }
    assert_eq!(&got, b"ping");
    c.set_nonblocking(false).expect("blocking");
    c.shutdown(std::net::Shutdown::Write).expect("FIN");
    while proxy.live_sessions() > 0 {
        assert!(proxy.turn());
        assert!(std::time::Instant::now() < deadline, "the session never ended");
    }
    assert!(proxy.cores().is_empty());
    proxy.stop().expect("stop");
}

/// Stepped mode's report of sends a peer's kernel has not acknowledged
/// (`RunningProxy::unanswered_on`, which the conformance replay waits on
/// before it judges a turn): a server that reads nothing and whose window is
/// full leaves the proxy's back socket connected with bytes in flight; once
/// the server resets, nothing is owed any more.
#[test]
fn in_stepped_mode_a_send_the_peer_has_not_acknowledged_is_reported() {
    let options = Options { manual_clock: true, stepped: true, ..Options::default() };
    let silent = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    silent.set_recv_buffer_size(4096).expect("a small window");
    silent.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).expect("bind");
    silent.listen(1).expect("listen");
    let server_addr = silent.local_addr().expect("address").as_socket().expect("inet");
    let config = proxy_config(vec![listener("owed", &[server_addr], 0, 0)], 0);
    let Some((proxy, addr)) = start_hooked(&config, options) else { return };
    let mut c = connect(addr);
    c.set_nonblocking(true).expect("non-blocking");
    let chunk = [7u8; 16 * 1024];
    let deadline = std::time::Instant::now() + common::HANG_GUARD;
    let (server, _) = loop {
        assert!(proxy.turn());
        if let Ok(accepted) = silent.accept() {
            break accepted;
        }
        assert!(std::time::Instant::now() < deadline, "the proxy never connected");
    };
    loop {
        let _ = c.write(&chunk);
        assert!(proxy.turn());
        if proxy.unanswered_on(0) == [[false, true]] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never owed: {:?}", proxy.unanswered_on(0));
    }
    // The server's FIN, then its RST: the proxy keeps the session (what came
    // before the FIN is read, EPIPE refuses the writes), with its back socket
    // reset and bytes it never sent.
    server.shutdown(std::net::Shutdown::Write).expect("FIN");
    assert!(proxy.turn());
    socket2::SockRef::from(&server).set_linger(Some(Duration::ZERO)).expect("SO_LINGER 0");
    drop(server);
    while proxy.unanswered_on(0).first().is_some_and(|u| u[1]) {
        assert!(proxy.turn());
        assert!(std::time::Instant::now() < deadline, "still owed after the server's RST");
    }
    drop(c);
    proxy.stop().expect("stop");
}

/// `use-backend`: a client whose address a route matches gets that route's
/// backend, the others the listener's own; `unless` inverts the match.
#[test]
fn a_route_on_the_client_address_chooses_the_backend() {
    use connseq::config::{Cidr, Route};
    let own = EchoServer::start();
    let routed = EchoServer::start();
    let run = |negated: bool| -> (usize, usize) {
        let (before_own, before_routed) = (own.accepted(), routed.accepted());
        let mut l = listener("web", &[own.addr()], 0, 0);
        let mut other = listener("db", &[routed.addr()], 0, 0).backend;
        other.name = "db".into();
        let nets = vec!["127.0.0.0/8".parse::<Cidr>().expect("cidr")];
        l.options.routes = vec![Route { backend: other, nets, negated }];
        let (proxy, addr) = start(&proxy_config(vec![l], 0), Options { record_sessions: true, ..Options::default() });
        for _ in 0..3 {
            let mut c = connect(addr);
            round_trip(&mut c, b"hi");
            drop(common::finish(c));
        }
        let recs = common::records(&proxy, 3);
        assert!(recs.iter().all(|r| r.listener == "web"), "the listener's name in every line");
        proxy.stop().expect("stop");
        (own.accepted() - before_own, routed.accepted() - before_routed)
    };
    assert_eq!(run(false), (0, 3), "127.0.0.1 matches the route");
    assert_eq!(run(true), (3, 0), "unless: 127.0.0.1 does not take it");
}

/// A connect reported ready while the kernel still waits for the server's
/// SYN-ACK stays in progress: no error in `SO_ERROR` and no peer
/// (`getpeername` says `ENOTCONN`) is not a refusal. The report comes from
/// the conformance harness's release of a held connect
/// (`Options::hold_connects`), which says writable whatever the kernel says,
/// as a spurious poller event would; the server's accept queue is full, so
/// the SYN goes unanswered until the queue is emptied and the kernel sends
/// it again. Stepped mode orders the release before that.
#[test]
fn a_connect_reported_ready_before_the_kernel_completes_it_stays_in_progress() {
    use connseq_model::core::{SiState, Side};
    let (silent, filler, server_addr) = silent_server();
    let options = Options { manual_clock: true, record_sessions: true, stepped: true, hold_connects: true, ..MANUAL };
    let config = proxy_config(vec![listener("early", &[server_addr], 0, 0)], 0);
    let Some((proxy, addr)) = start_hooked(&config, options) else { return };
    let mut c = connect(addr);
    c.write_all(b"ping").expect("send");
    let deadline = std::time::Instant::now() + common::HANG_GUARD;
    while proxy.stats().connects == 0 {
        assert!(proxy.turn());
        assert!(std::time::Instant::now() < deadline, "no connect");
    }
    proxy.release_connects();
    assert!(proxy.turn(), "the release's turn runs");
    let s = proxy.stats();
    assert_eq!((s.connects, s.connect_failures), (1, 0), "a connect still in SYN-SENT is not refused: {s:?}");
    assert_eq!(proxy.cores()[0].si(Side::Back), SiState::Con, "the attempt is still in progress");
    // Room in the accept queue: the SYN the kernel sends again (one second
    // after the first) completes the connect, and its writable edge ends it.
    drop(filler);
    let (_, _) = silent.accept().expect("the filler leaves the queue");
    let mut server = loop {
        assert!(proxy.turn());
        silent.set_nonblocking(true).expect("non-blocking");
        if let Ok((s, _)) = silent.accept() {
            break TcpStream::from(s);
        }
        std::thread::sleep(Duration::from_millis(10));
        assert!(std::time::Instant::now() < deadline, "the SYN was never sent again");
    };
    server.set_nonblocking(true).expect("non-blocking");
    c.set_nonblocking(true).expect("non-blocking");
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    while to_server.len() < 4 || to_client.len() < 4 {
        assert!(proxy.turn());
        let mut buf = [0u8; 16];
        if let Ok(n) = server.read(&mut buf) {
            to_server.extend_from_slice(&buf[..n]);
            if to_server.len() == 4 {
                server.write_all(b"pong").expect("answer");
            }
        }
        if let Ok(n) = c.read(&mut buf) {
            to_client.extend_from_slice(&buf[..n]);
        }
        std::thread::sleep(Duration::from_millis(1));
        assert!(std::time::Instant::now() < deadline, "no exchange: {to_server:?} {to_client:?}");
    }
    assert_eq!((&to_server[..], &to_client[..]), (&b"ping"[..], &b"pong"[..]));
    let s = proxy.stats();
    assert_eq!((s.connects, s.connect_failures), (1, 0), "one attempt, never refused: {s:?}");
    drop((c, server));
    proxy.stop().expect("stop");
}
