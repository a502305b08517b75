//! The proxy leaks no descriptor: after ten thousand sessions of every
//! ending (echo and close, half-close, client reset after data, client reset
//! at once, refused server, an invalid PROXY header, a valid one, plain text
//! to a TLS listener, a TLS client that resets in its handshake) the process
//! has exactly the descriptors it had before them.
//!
//! Descriptors are process-wide, and the tests of one binary share a
//! process: this file holds this one test only, so nothing else opens or
//! closes descriptors while it counts.

mod common;
mod peers;

use common::{abort, connect, finish, listener, proxy_config, refusing_port, round_trip, wait_until, EchoServer};
use connseq::runtime;
use connseq::sys::process::open_fd_count;
use std::io::Read;
use std::net::SocketAddr;
use std::thread;

const SESSIONS: usize = 10_000;
const CLIENTS: usize = 4;

/// The proxy's listeners: echo, refused, PROXY header, TLS.
#[derive(Clone, Copy)]
struct Targets {
    echo: SocketAddr,
    refused: SocketAddr,
    pp: SocketAddr,
    tls: SocketAddr,
}

/// Reads until EOF or an error (a reset): the proxy ended the connection.
fn until_closed(mut c: std::net::TcpStream) {
    let mut buf = [0u8; 256];
    while let Ok(n) = c.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// One session of kind `i % 9` through the proxy's listeners.
fn session(i: usize, t: Targets) {
    let msg = format!("session {i}");
    let Targets { echo, refused, .. } = t;
    match i % 9 {
        // An invalid PROXY header: reset by the proxy.
        5 => {
            let mut c = connect(t.pp);
            std::io::Write::write_all(&mut c, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n").expect("send");
            until_closed(c);
        }
        // A valid PROXY header, then an echo.
        6 => {
            let mut c = connect(t.pp);
            std::io::Write::write_all(&mut c, b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\n").expect("send");
            round_trip(&mut c, msg.as_bytes());
        }
        // Plain text to the TLS listener: an alert and the close.
        7 => {
            let mut c = connect(t.tls);
            std::io::Write::write_all(&mut c, b"GET / HTTP/1.0\r\n\r\n").expect("send");
            until_closed(c);
        }
        // A TLS ClientHello's first bytes, then a reset.
        8 => {
            let mut c = connect(t.tls);
            std::io::Write::write_all(&mut c, &[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01]).expect("send");
            abort(c);
        }
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
    let cert = peers::Cert::new();
    let mut pp = listener("pp", &[server.addr()], 0, 0);
    pp.options.accept_proxy = true;
    let mut tls = listener("tls", &[server.addr()], 0, 0);
    tls.options.tls = Some(cert.front(&[]));
    let mut config =
        proxy_config(vec![listener("echo", &[server.addr()], 0, 0), listener("refused", &[dead], 0, 1), pp, tls], 0);
    // Two event loops: the sessions, their ends and the queue handoffs cross threads.
    config.global.threads = 2;
    let proxy = runtime::spawn(&config).expect("the proxy starts");
    let a = proxy.addrs();
    let targets = Targets { echo: a[0], refused: a[1], pp: a[2], tls: a[3] };

    // Everything is up and idle: this is what must remain.
    let baseline = open_fd_count().expect("count fds");

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                for i in (c..SESSIONS).step_by(CLIENTS) {
                    session(i, targets);
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
    // The spare splice pipes close a second after the proxy went idle.
    wait_until("the descriptors are back to the baseline", || open_fd_count().is_ok_and(|n| n == baseline));
    let after = open_fd_count().expect("count fds");
    eprintln!(
        "fds: baseline {baseline}, after {SESSIONS} sessions {after}; echo server accepted {}",
        server.accepted()
    );
    assert_eq!(after, baseline, "descriptors after {SESSIONS} sessions");

    proxy.stop().expect("the proxy stops cleanly");
    server.stop();
}
