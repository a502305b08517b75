//! The proxy leaks no descriptor: after ten thousand sessions of every
//! ending (echo and close, half-close, client reset after data, client reset
//! at once, refused server) the process has exactly the descriptors it had
//! before them.
//!
//! Descriptors are process-wide, and the tests of one binary share a
//! process: this file holds this one test only, so nothing else opens or
//! closes descriptors while it counts.

mod common;

use common::{abort, connect, finish, listener, proxy_config, refusing_port, round_trip, wait_until, EchoServer};
use connseq::runtime;
use connseq::sys::process::open_fd_count;
use std::io::Read;
use std::net::SocketAddr;
use std::thread;

const SESSIONS: usize = 10_000;
const CLIENTS: usize = 4;

/// One session of kind `i % 5` through `echo` (to the echo server) or
/// `refused` (to a port where connect() is refused).
fn session(i: usize, echo: SocketAddr, refused: SocketAddr) {
    let msg = format!("session {i}");
    match i % 5 {
        // Echo, then a full close.
        0 => {
            let mut c = connect(echo);
            round_trip(&mut c, msg.as_bytes());
        }
        // Request, half-close, the whole echo then EOF.
        1 => {
            let mut c = connect(echo);
            std::io::Write::write_all(&mut c, msg.as_bytes()).expect("send");
            assert_eq!(finish(c), msg.as_bytes(), "session {i}: the echo, then EOF");
        }
        // Echo, then a reset.
        2 => {
            let mut c = connect(echo);
            round_trip(&mut c, msg.as_bytes());
            abort(c);
        }
        // A reset at once, whatever the proxy has done by then.
        3 => abort(connect(echo)),
        // Refused server (after one retry): the proxy ends with EOF.
        _ => {
            let mut c = connect(refused);
            let mut buf = [0u8; 16];
            let n = c.read(&mut buf).unwrap_or_else(|e| panic!("session {i}: a clean end, not {e}"));
            assert_eq!(n, 0, "session {i}: EOF");
        }
    }
}

#[test]
fn fd_count_returns_to_baseline_after_10000_mixed_sessions() {
    let server = EchoServer::start();
    let (_refuser, dead) = refusing_port();
    let mut config =
        proxy_config(vec![listener("echo", &[server.addr()], 0, 0), listener("refused", &[dead], 0, 1)], 0);
    // Two event loops: the sessions, their ends and the queue handoffs cross threads.
    config.global.threads = 2;
    let proxy = runtime::spawn(&config).expect("the proxy starts");
    let (echo, refused) = (proxy.addrs()[0], proxy.addrs()[1]);

    // Everything is up and idle: this is what must remain.
    let baseline = open_fd_count().expect("count fds");

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                for i in (c..SESSIONS).step_by(CLIENTS) {
                    session(i, echo, refused);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("a client thread");
    }
    assert!(server.accepted() > 0, "sessions reached the echo server");

    // Every client socket is closed; wait for the proxy and the echo server
    // to see the ends and close theirs.
    wait_until("the proxy has no live session", || proxy.live_sessions() == 0);
    wait_until("the echo server has no open connection", || server.open() == 0);
    let after = open_fd_count().expect("count fds");
    eprintln!(
        "fds: baseline {baseline}, after {SESSIONS} sessions {after}; echo server accepted {}",
        server.accepted()
    );
    assert_eq!(after, baseline, "descriptors after {SESSIONS} sessions");

    proxy.stop().expect("the proxy stops cleanly");
    server.stop();
}
