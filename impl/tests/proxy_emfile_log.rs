//! Accept when the process is out of file descriptors (EMFILE), with no
//! session alive: no session end will wake the listeners, so the proxy must
//! retry on its own (a 100 ms backoff) and serve the waiting client once
//! descriptors are free again; it never spins on the failing accept.
//!
//! The warning it logs comes once, then at most once per 10 s with the
//! number of failures in between (not once per failed accept).
//!
//! The descriptor limit and the log subscriber are process-wide, so this is
//! the only test in its binary.

mod common;

use common::{listener, proxy_config, round_trip, wait_until, EchoServer};
use connseq::runtime;
use std::io::Read;
use std::net::{Shutdown, TcpStream};

#[test]
fn the_accept_failure_warning_comes_once_then_at_most_every_ten_seconds() {
    common::logs::capture();
    let server = EchoServer::start();
    let proxy = runtime::spawn(&proxy_config(vec![listener("e", &[server.addr()], 0, 0)], 0)).expect("start");
    let addr = proxy.addrs()[0];
    let mut warmup = TcpStream::connect(addr).expect("connect");
    round_trip(&mut warmup, b"warm");
    warmup.shutdown(Shutdown::Write).expect("half-close");
    let mut rest = Vec::new();
    warmup.read_to_end(&mut rest).expect("EOF");
    drop(warmup);
    wait_until("the warm-up session ended", || proxy.live_sessions() == 0);

    let out = common::OutOfDescriptors::connect(addr);
    wait_until("the proxy's accept failed", || proxy.stats().accept_errors >= 1);
    assert_eq!(proxy.stats().accepted, 1, "only the warm-up was accepted");
    // One failure every backoff period while the descriptors stay out:
    // several failures, one warning.
    wait_until("the proxy's accept failed again and again", || proxy.stats().accept_errors >= 4);
    assert_eq!(
        common::logs::lines_with("accept: Too many open files").len(),
        1,
        "one warning for {} failures",
        proxy.stats().accept_errors
    );
    let errors_while_out = proxy.stats().accept_errors;

    // Descriptors free again, and still no session alive: the backoff ends
    // and the waiting client is served.
    let mut client = out.release();
    round_trip(&mut client, b"after EMFILE");
    client.shutdown(Shutdown::Write).expect("half-close");
    client.read_to_end(&mut rest).expect("EOF");
    assert!(rest.is_empty());
    let stats = proxy.stats();
    assert_eq!(stats.accepted, 2);
    // One failed accept per backoff period at most: not a busy loop. The
    // bound is loose (a slow machine may take several periods to free the
    // descriptors) but a spinning accept makes thousands.
    assert!(stats.accept_errors - errors_while_out < 1000, "{stats:?}");
    proxy.stop().expect("stop");
}
