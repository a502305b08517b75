//! An idle proxy sleeps in its poller: with an idle session open, with four threads, and with
//! the listeners paused at the global maxconn while a client waits in the backlog.
//!
//! Counted, not timed: the proxy runs on the manual clock, where no deadline ever wakes a loop
//! (only `RunningProxy::advance` moves time), so every return from the poller is caused by an
//! event. The observation window is work, not time: round trips through an idle session,
//! each a handful of events. A loop that polls without waiting shows as wake-ups with no event
//! (`Stats::empty_wakeups`, which must stay 0); one that re-arms a paused listener, or spins on
//! some other always-ready source, shows as far more wake-ups than round trips. Neither
//! figure depends on the machine's speed or load.
//!
//! One test runs on the real clock: a proxy with nothing to do (an idle session whose timeouts
//! are minutes away, then no session, no timer, no spare pipe) must not come back from the
//! poller at all while the test waits.

mod common;

use common::{connect, listener, proxy_config, round_trip, EchoServer};
use connseq::runtime::{self, Options, RunningProxy, Stats};
use std::net::TcpStream;

/// Round trips that make the observation window.
const ROUND_TRIPS: u64 = 50;
/// Poller wake-ups one echo round trip may cause: the client's bytes, the server's answer, and
/// the writable edges as each peer acknowledges (a few each way).
const WAKEUPS_PER_ROUND_TRIP: u64 = 12;

/// A proxy on the manual clock with global `maxconn` to a fresh echo server, and `n` sessions
/// through it, each shown to work by one echo.
fn proxy_with_idle_sessions(maxconn: u32, n: usize, threads: usize) -> (EchoServer, RunningProxy, Vec<TcpStream>) {
    let server = EchoServer::start();
    let mut config = proxy_config(vec![listener("idle", &[server.addr()], 0, 0)], maxconn);
    config.global.threads = threads;
    let options = Options { manual_clock: true, ..Options::default() };
    let proxy = runtime::spawn_with(&config, options).expect("the proxy starts");
    let clients: Vec<_> = (0..n)
        .map(|i| {
            let mut c = connect(proxy.addrs()[0]);
            round_trip(&mut c, format!("client {i}").as_bytes());
            c
        })
        .collect();
    assert_eq!(proxy.live_sessions(), n);
    (server, proxy, clients)
}

/// Runs [`ROUND_TRIPS`] echoes spread over `clients` and returns the counters before and after.
fn observe(proxy: &RunningProxy, clients: &mut [TcpStream]) -> (Stats, Stats) {
    let before = proxy.stats();
    for i in 0..ROUND_TRIPS {
        let c = &mut clients[i as usize % clients.len()];
        round_trip(c, format!("ping {i}").as_bytes());
    }
    (before, proxy.stats())
}

/// The loop slept between the events of the window.
fn assert_slept(what: &str, (before, after): (Stats, Stats)) {
    let wakeups = after.wakeups - before.wakeups;
    eprintln!("{what}: {wakeups} wake-ups in {ROUND_TRIPS} round trips, {} with no event", after.empty_wakeups);
    assert_eq!(after.empty_wakeups, 0, "{what}: the loop came back from the poller with nothing to do");
    assert!(
        wakeups <= ROUND_TRIPS * WAKEUPS_PER_ROUND_TRIP,
        "{what}: {wakeups} wake-ups for {ROUND_TRIPS} round trips: something keeps the loop busy"
    );
    assert!(wakeups >= ROUND_TRIPS, "{what}: {wakeups} wake-ups: the window saw no work");
}

/// Half-closes each client and expects EOF and nothing else.
fn end_sessions(clients: Vec<TcpStream>) {
    for c in clients {
        assert!(common::finish(c).is_empty(), "EOF and nothing else");
    }
}

/// Ends the sessions (half-close, EOF), then stops the proxy and the server.
fn end(server: EchoServer, proxy: RunningProxy, clients: Vec<TcpStream>) {
    end_sessions(clients);
    proxy.stop().expect("the proxy stops cleanly");
    server.stop();
}

#[test]
fn an_idle_proxy_sleeps_between_events() {
    let (server, proxy, mut clients) = proxy_with_idle_sessions(0, 1, 1);
    assert_slept("one thread, one session", observe(&proxy, &mut clients));
    end(server, proxy, clients);
}

#[test]
fn an_idle_proxy_with_four_threads_sleeps_between_events() {
    let (server, proxy, mut clients) = proxy_with_idle_sessions(0, 8, 4);
    assert_slept("four threads, eight sessions", observe(&proxy, &mut clients));
    end(server, proxy, clients);
}

#[test]
fn a_proxy_paused_at_global_maxconn_sleeps_with_a_client_in_the_backlog() {
    let (server, proxy, mut clients) = proxy_with_idle_sessions(2, 2, 2);
    // A third client waits in the listener's backlog: the listener is readable, and a loop
    // that kept polling it while paused would wake up for it again and again.
    let third = connect(proxy.addrs()[0]);
    std::io::Write::write_all(&mut &third, b"third").expect("send");

    assert_slept("paused at maxconn, one client waiting", observe(&proxy, &mut clients));
    assert_eq!(server.accepted(), 2, "the third client was not served");
    assert_eq!(proxy.stats().accepted, 2, "nor accepted");

    // Served once a slot frees: its echo, then EOF after its half-close.
    let mut third = third;
    end_sessions(clients);
    let mut got = [0u8; 5];
    std::io::Read::read_exact(&mut third, &mut got).expect("the third client's echo");
    assert_eq!(&got, b"third");
    end(server, proxy, vec![third]);
}

/// On the real clock too, a proxy with nothing to do sleeps: first with one idle session open
/// (its timeouts are minutes away, and nothing waits for an acknowledgement, so no ack poll
/// is due), then with its last session ended, no timer armed, and no spare pipe waiting to
/// be closed (splice is off, so there is none). Over 1 s, then 1.5 s, of nothing the loop
/// does not come back from the poller once; a deadline it set for itself (an ack poll for a
/// side that awaits nothing, a pipe trim with no pipe to trim, a timeout of zero) would show
/// here.
#[test]
fn a_proxy_on_the_real_clock_with_nothing_left_to_do_does_not_wake_up() {
    use connseq_model::core::SpliceMode;
    let server = EchoServer::start();
    let mut l = listener("idle", &[server.addr()], 0, 0);
    l.options.splice = SpliceMode::Never;
    let mut config = proxy_config(vec![l], 0);
    config.global.splice = SpliceMode::Never;
    let proxy = runtime::spawn(&config).expect("the proxy starts");
    let mut c = connect(proxy.addrs()[0]);
    round_trip(&mut c, b"one session");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let before = proxy.stats();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let after = proxy.stats();
    assert_eq!(after.wakeups - before.wakeups, 0, "the loop woke up with an idle session {after:?}");
    assert!(common::finish(c).is_empty(), "EOF and nothing else");
    common::wait_until("the session ended", || proxy.live_sessions() == 0);
    common::wait_until("the server saw the end", || server.open() == 0);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let before = proxy.stats();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let after = proxy.stats();
    assert_eq!(after.wakeups - before.wakeups, 0, "the idle loop woke up {after:?}");
    proxy.stop().expect("the proxy stops cleanly");
    server.stop();
}
