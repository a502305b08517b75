//! The runtime handle's report of its loops: a loop that fails is told to
//! the caller of `stop`. No test can make a running loop fail (`epoll_wait`
//! or the signal descriptor failing), so the failure is a thread of the
//! handle's that returns an error, beside the real loop.

use super::{spawn_with, test_support, Options};
use std::io;

#[test]
fn a_loop_that_failed_is_reported_by_stop() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("a server");
    let config = test_support::config(&[server.local_addr().expect("address")]);
    let mut proxy = spawn_with(&config, Options::default()).expect("the proxy starts");
    proxy.threads.push(std::thread::spawn(|| Err(io::Error::other("the loop failed"))));
    let e = proxy.stop().expect_err("the failure is reported");
    assert_eq!(e.to_string(), "the loop failed");

    let proxy = spawn_with(&config, Options::default()).expect("the proxy starts");
    proxy.stop().expect("a loop that ended well reports nothing");
}
