//! The accept failure warning on the proxy's manual clock: the first failure
//! is logged alone; the failures of the next 10 s are counted, not logged;
//! the first one 10 s after it (not one millisecond later) is logged with how
//! many there were in between.
//!
//! The descriptor limit and the log subscriber are process-wide, so this is
//! the only test in its binary (as `proxy_emfile_log.rs`, which shows the
//! same on the real clock, without the count).

mod common;

use common::{listener, proxy_config, round_trip, wait_until, EchoServer};
use connseq::runtime::{self, Options};
use std::io::Read;
use std::net::Shutdown;
use std::time::Duration;

fn accept_warnings() -> Vec<String> {
    common::logs::lines_with("accept: Too many open files")
}

#[test]
fn the_failures_between_two_accept_warnings_are_counted_in_the_second() {
    common::logs::capture();
    let server = EchoServer::start();
    let options = Options { manual_clock: true, ..Options::default() };
    let proxy =
        runtime::spawn_with(&proxy_config(vec![listener("e", &[server.addr()], 0, 0)], 0), options).expect("start");
    let addr = proxy.addrs()[0];

    let out = common::OutOfDescriptors::connect(addr);
    wait_until("the proxy's accept failed", || proxy.stats().accept_errors == 1);
    // Each 100 ms backoff over, the accept fails again: three failures in
    // the next 10 s, none logged.
    for n in 2..=4 {
        assert!(proxy.advance(Duration::from_millis(100)));
        wait_until("the accept failed again", || proxy.stats().accept_errors == n);
    }
    let first = accept_warnings();
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].ends_with("pausing the listeners for 100 ms"), "the first warning counts nothing: {}", first[0]);
    // Exactly 10 s after the first warning (300 ms of backoffs, then 9.7 s): the
    // next failure is logged, with the count.
    assert!(proxy.advance(Duration::from_millis(9_700)));
    wait_until("the accept failed after 10 s", || proxy.stats().accept_errors == 5);
    let all = accept_warnings();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[1].ends_with("(3 more failures since the last warning)"), "{}", all[1]);

    let mut client = out.release();
    assert!(proxy.advance(Duration::from_millis(100)));
    round_trip(&mut client, b"after EMFILE");
    client.shutdown(Shutdown::Write).expect("half-close");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).expect("EOF");
    proxy.stop().expect("stop");
}
