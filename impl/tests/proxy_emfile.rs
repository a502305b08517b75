//! Accept when the process is out of file descriptors (EMFILE), with no session alive: the
//! connection stays in the backlog, the proxy rests its listeners for 100 ms and tries again,
//! it never spins on the failing accept, and once descriptors are free it serves the waiting
//! client although no session end is left to wake it.
//!
//! On the manual clock the backoff ends only when the test moves time, so every failed accept
//! is counted against its cause: the first attempt, then one per backoff period. Between them
//! the test makes the loop turn (a wake-up without moving the clock, seen in
//! `Stats::wakeups`), and the loop must not try again: one that retried on every turn would
//! fail once per turn.
//!
//! The descriptor limit is process-wide, so this is the only test in its binary.

mod common;

use common::{listener, proxy_config, round_trip, wait_until, EchoServer};
use connseq::runtime::{self, Options, RunningProxy};
use std::io::Read;
use std::net::Shutdown;
use std::time::Duration;

/// The runtime's accept backoff (`worker::ACCEPT_BACKOFF`).
const BACKOFF: Duration = Duration::from_millis(100);
/// Loop turns that must not bring a new accept.
const TURNS: usize = 20;

/// Wakes the event loop without moving the clock and waits until it came back from its poller.
fn turn(proxy: &RunningProxy) {
    let before = proxy.stats().wakeups;
    assert!(proxy.advance(Duration::ZERO), "the manual clock");
    wait_until("the loop turned", || proxy.stats().wakeups > before);
}

#[test]
fn accept_backs_off_after_emfile_and_resumes_with_no_live_session() {
    let server = EchoServer::start();
    let options = Options { manual_clock: true, ..Options::default() };
    let proxy =
        runtime::spawn_with(&proxy_config(vec![listener("e", &[server.addr()], 0, 0)], 0), options).expect("start");
    let addr = proxy.addrs()[0];
    let mut warmup = common::connect(addr);
    round_trip(&mut warmup, b"warm");
    assert!(common::finish(warmup).is_empty(), "EOF after the echo");
    wait_until("the warm-up session ended", || proxy.live_sessions() == 0);
    // And the echo server closed its side: a descriptor it freed later would
    // let the proxy accept while the test holds the others.
    wait_until("the echo server closed the warm-up", || server.open() == 0);

    let out = common::OutOfDescriptors::connect(addr);
    wait_until("the proxy's accept failed", || proxy.stats().accept_errors >= 1);

    // Resting: the loop turns and does not try to accept again.
    for _ in 0..TURNS {
        turn(&proxy);
    }
    assert_eq!(proxy.stats().accept_errors, 1, "an accept retried before the backoff ended");

    // The backoff ends with time: one more attempt, which fails, then rest again.
    assert!(proxy.advance(BACKOFF));
    wait_until("the listener tried again after the backoff", || proxy.stats().accept_errors >= 2);
    for _ in 0..TURNS {
        turn(&proxy);
    }
    assert_eq!(proxy.stats().accept_errors, 2, "more than one attempt in a backoff period");
    assert_eq!(proxy.stats().accepted, 1, "only the warm-up was accepted");

    // Descriptors free again and no session alive: only the backoff's end resumes accepting.
    let mut client = out.release();
    assert!(proxy.advance(BACKOFF));
    round_trip(&mut client, b"after EMFILE");
    client.shutdown(Shutdown::Write).expect("half-close");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).expect("EOF");
    assert!(rest.is_empty());
    let stats = proxy.stats();
    assert_eq!((stats.accepted, stats.accept_errors), (2, 2), "{stats:?}");
    assert_eq!(stats.empty_wakeups, 0, "the loop polled without waiting: {stats:?}");
    proxy.stop().expect("stop");
}
