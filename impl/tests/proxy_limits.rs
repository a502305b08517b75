//! The limits on real loopback sockets: the global maxconn pauses accepting
//! and resumes when a session ends; a server's maxconn queues sessions and
//! hands a freed slot to the next live waiter.
//!
//! "Not served" is shown without a sleep: after the waiting client has sent
//! its bytes, the sessions already served make a round trip through the
//! proxy's loop; then the echo server has still accepted nothing more and
//! the waiting client has nothing to read. Each wait has a 30 s hang guard.

mod common;

use common::{
    abort, assert_nothing_to_read, connect, finish, listener, proxy_config, round_trip, wait_until, EchoServer,
};
use connseq::runtime::{self, RunningProxy};
use std::io::{Read, Write};
use std::net::TcpStream;

/// Sends `msg` without waiting for anything.
fn send(c: &mut TcpStream, msg: &[u8]) {
    c.write_all(msg).expect("send");
}

/// Reads the echo of `msg`.
fn expect_echo(c: &mut TcpStream, msg: &[u8]) {
    let mut got = vec![0u8; msg.len()];
    c.read_exact(&mut got).expect("the echo");
    assert_eq!(got, msg);
}

/// Ends a session politely and checks that nothing else was in flight.
fn end(c: TcpStream) {
    assert!(finish(c).is_empty(), "EOF and nothing else");
}

fn stop(proxy: RunningProxy, server: EchoServer) {
    proxy.stop().expect("the proxy stops cleanly");
    server.stop();
}

#[test]
fn global_maxconn_stops_accepting_and_resumes() {
    let server = EchoServer::start();
    let proxy =
        runtime::spawn(&proxy_config(vec![listener("l", &[server.addr()], 0, 0)], 2)).expect("the proxy starts");
    let addr = proxy.addrs()[0];

    let mut a = connect(addr);
    round_trip(&mut a, b"a1");
    let mut b = connect(addr);
    round_trip(&mut b, b"b1");

    // At the limit: the kernel completes the third handshake into the
    // backlog, but the proxy must not take it.
    let mut c = connect(addr);
    send(&mut c, b"c1");
    round_trip(&mut a, b"a2");
    round_trip(&mut b, b"b2");
    assert_eq!(server.accepted(), 2, "no server connection for the third client");
    assert_nothing_to_read(&mut c, "the third client at the limit");
    assert_eq!(proxy.live_sessions(), 2);

    // A slot frees: the third client is served.
    end(a);
    expect_echo(&mut c, b"c1");
    assert_eq!(server.accepted(), 3);

    // At the limit again (b and c): a fourth waits, then is served too.
    let mut d = connect(addr);
    send(&mut d, b"d1");
    round_trip(&mut b, b"b3");
    round_trip(&mut c, b"c2");
    assert_eq!(server.accepted(), 3, "no server connection for the fourth client");
    assert_nothing_to_read(&mut d, "the fourth client at the limit");
    end(b);
    expect_echo(&mut d, b"d1");
    assert_eq!(server.accepted(), 4);

    end(c);
    end(d);
    wait_until("every session ended", || proxy.live_sessions() == 0);
    stop(proxy, server);
}

#[test]
fn queued_session_is_served_when_a_slot_frees() {
    let server = EchoServer::start();
    let proxy =
        runtime::spawn(&proxy_config(vec![listener("q", &[server.addr()], 1, 0)], 0)).expect("the proxy starts");
    let addr = proxy.addrs()[0];

    let mut a = connect(addr);
    round_trip(&mut a, b"a1");

    // The server's one slot is taken: the second session is accepted by the
    // proxy but waits in the queue.
    let mut b = connect(addr);
    send(&mut b, b"b1");
    wait_until("the proxy accepted the second client", || proxy.live_sessions() == 2);
    round_trip(&mut a, b"a2");
    assert_eq!(server.accepted(), 1, "no server connection for the queued session");
    assert_nothing_to_read(&mut b, "the queued client");

    end(a);
    expect_echo(&mut b, b"b1");
    assert_eq!(server.accepted(), 2);
    round_trip(&mut b, b"b2");

    end(b);
    wait_until("every session ended", || proxy.live_sessions() == 0);
    stop(proxy, server);
}

#[test]
fn a_slot_goes_to_the_next_live_waiter_when_a_queued_client_left() {
    let server = EchoServer::start();
    let proxy =
        runtime::spawn(&proxy_config(vec![listener("q", &[server.addr()], 1, 0)], 0)).expect("the proxy starts");
    let addr = proxy.addrs()[0];

    let mut a = connect(addr);
    round_trip(&mut a, b"a1");
    let b = connect(addr);
    wait_until("the proxy queued the second client", || proxy.live_sessions() == 2);
    let mut c = connect(addr);
    send(&mut c, b"c1");
    wait_until("the proxy queued the third client", || proxy.live_sessions() == 3);

    // The first waiter resets while queued; its session ends.
    abort(b);
    wait_until("the reset waiter's session ended", || proxy.live_sessions() == 2);
    round_trip(&mut a, b"a2");
    assert_eq!(server.accepted(), 1, "still one server connection");
    assert_nothing_to_read(&mut c, "the second waiter");

    // The slot skips the gone waiter and goes to the live one.
    end(a);
    expect_echo(&mut c, b"c1");
    assert_eq!(server.accepted(), 2, "exactly one new server connection: the live waiter's");

    end(c);
    wait_until("every session ended", || proxy.live_sessions() == 0);
    stop(proxy, server);
}
