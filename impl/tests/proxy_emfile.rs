//! Accept when the process is out of file descriptors (EMFILE), with no
//! session alive: no session end will wake the listeners, so the proxy must
//! retry on its own (a 100 ms backoff) and serve the waiting client once
//! descriptors are free again; it never spins on the failing accept.
//!
//! The descriptor limit is process-wide, so this is the only test in its
//! binary.

mod common;

use common::{listener, proxy_config, round_trip, wait_until, EchoServer};
use connseq::runtime;
use connseq::sys::process::{open_fd_count, set_nofile_soft_limit};
use socket2::{Domain, Socket, Type};
use std::fs::File;
use std::io::Read;
use std::net::{Shutdown, TcpStream};

#[test]
fn accept_resumes_after_emfile_with_no_live_session() {
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

    // The client's socket exists before the descriptors run out; its
    // connect needs none.
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let limit = open_fd_count().expect("count") as u64 + 16;
    let old = set_nofile_soft_limit(limit).expect("lower the limit");
    let mut hog = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        hog.push(f);
    }
    assert!(!hog.is_empty(), "the hog took the last descriptors");
    client.connect(&addr.into()).expect("the kernel completes the handshake into the backlog");
    wait_until("the proxy's accept failed", || proxy.stats().accept_errors >= 1);
    assert_eq!(proxy.stats().accepted, 1, "only the warm-up was accepted");
    let errors_while_out = proxy.stats().accept_errors;

    // Descriptors free again, and still no session alive: the backoff ends
    // and the waiting client is served.
    drop(hog);
    set_nofile_soft_limit(old).expect("restore the limit");
    let mut client: TcpStream = client.into();
    client.set_read_timeout(Some(common::HANG_GUARD)).expect("timeout");
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
