//! The proxy on real loopback sockets: bulk transfer, half-close both ways,
//! a server that answers and closes early, a refused server, a client that
//! resets. Every peer is a plain blocking socket in a test thread; a 30 s
//! read timeout only turns a hang into a failure, never synchronises.

use connseq::config::{BackendConfig, GlobalConfig, ListenerConfig, ProxyConfig, ServerConfig};
use connseq::runtime::{self, RunningProxy};
mod common;

use common::connect;
use common::stream::{
    accept, echo, pattern, pattern_sha256, read_pattern_to_eof, read_pattern_to_eof_sha256, server_socket, spawn,
    write_pattern, MIB,
};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

fn config(server: SocketAddr, retries: u8) -> ProxyConfig {
    let mut backend = BackendConfig::new("app", vec![ServerConfig { addr: server, maxconn: 0 }]);
    backend.retries = retries;
    backend.timeouts.turn_around = Duration::ZERO;
    let listener = ListenerConfig {
        name: "test".into(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        backend,
        timeouts: Default::default(),
        maxconn: 0,
        options: Default::default(),
    };
    ProxyConfig { listeners: vec![listener], global: GlobalConfig { threads: 1, ..GlobalConfig::default() } }
}

fn start_proxy(server: SocketAddr, retries: u8) -> (RunningProxy, SocketAddr) {
    let options = runtime::Options { record_sessions: true, ..runtime::Options::default() };
    let proxy = runtime::spawn_with(&config(server, retries), options).expect("the proxy starts");
    let addr = proxy.addrs()[0];
    (proxy, addr)
}

/// Waits until every session ended, stops the proxy and checks the
/// sessions' termination codes (in any order).
fn stop_expecting_codes(mut proxy: RunningProxy, expected: &[&str]) {
    common::wait_until("every session ended", || proxy.live_sessions() == 0);
    proxy.shutdown().expect("the proxy stops cleanly");
    let mut codes: Vec<String> = proxy.take_records().iter().map(|r| r.termination.to_string()).collect();
    codes.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(codes, expected, "termination codes");
}

#[test]
fn twenty_mebibytes_each_way_arrive_intact_and_in_order() {
    let (l, server) = server_socket();
    let srv = spawn(move || echo(accept(&l)));
    let (proxy, addr) = start_proxy(server, 0);

    let mut client = connect(addr);
    let mut writer = client.try_clone().expect("clone");
    let up = spawn(move || {
        write_pattern(&mut writer, 1, 20 * MIB)?;
        writer.shutdown(Shutdown::Write)
    });
    let (got, sha) = read_pattern_to_eof_sha256(&mut client, 1, 0).expect("the echo comes back intact");
    up.join().expect("writer thread").expect("the client sends everything");
    assert_eq!(got, 20 * MIB as u64, "every byte came back");
    assert_eq!(sha, pattern_sha256(1, 20 * MIB), "SHA-256 of what came back = SHA-256 of what was sent");
    assert_eq!(srv.join().expect("server thread").expect("the server echoes"), 20 * MIB as u64);
    stop_expecting_codes(proxy, &["--"]);
}

#[test]
fn client_half_close_reaches_the_server_and_the_response_still_flows() {
    let (l, server) = server_socket();
    let srv = spawn(move || -> io::Result<u64> {
        let mut s = accept(&l);
        // Every client byte, then EOF.
        let got = read_pattern_to_eof(&mut s, 2, 0)?;
        // The client's write side is shut; this direction is still open.
        write_pattern(&mut s, 3, 4 * MIB)?;
        Ok(got)
    });
    let (proxy, addr) = start_proxy(server, 0);

    let mut client = connect(addr);
    write_pattern(&mut client, 2, MIB).expect("send the request");
    client.shutdown(Shutdown::Write).expect("half-close");
    let got = read_pattern_to_eof(&mut client, 3, 0).expect("the response arrives after the half-close");
    assert_eq!(got, 4 * MIB as u64, "all of the response, then EOF");
    assert_eq!(srv.join().expect("server thread").expect("server side"), MIB as u64, "EOF after every client byte");
    stop_expecting_codes(proxy, &["--"]);
}

#[test]
fn a_response_and_server_close_during_the_upload_reach_the_client_whole_then_eof() {
    let (l, server) = server_socket();
    let srv = spawn(move || -> io::Result<u64> {
        let mut s = accept(&l);
        let mut head = vec![0u8; 64 * 1024];
        s.read_exact(&mut head)?;
        // Answer and close our side while the client is still uploading,
        // then read what it still sends until its FIN (a server that
        // close()s with unread input resets the connection instead, and the
        // kernel may then drop the response it had not delivered: RFC 9293
        // 3.6.1; that case is not this test's).
        write_pattern(&mut s, 5, MIB)?;
        s.shutdown(Shutdown::Write)?;
        let mut sink = vec![0u8; 64 * 1024];
        let mut rest = 0u64;
        loop {
            match s.read(&mut sink)? {
                0 => return Ok(rest),
                n => rest += n as u64,
            }
        }
    });
    let (proxy, addr) = start_proxy(server, 0);

    let mut client = connect(addr);
    let mut writer = client.try_clone().expect("clone");
    let up = spawn(move || {
        write_pattern(&mut writer, 4, 8 * MIB)?;
        writer.shutdown(Shutdown::Write)
    });
    let got = read_pattern_to_eof(&mut client, 5, 0).expect("no reset before the last byte of the response");
    assert_eq!(got, MIB as u64, "the whole response, then EOF");
    up.join().expect("writer thread").expect("the upload is never reset");
    let rest = srv.join().expect("server thread").expect("server side");
    assert_eq!(rest + 64 * 1024, 8 * MIB as u64, "the server got the whole upload");
    stop_expecting_codes(proxy, &["--"]);
}

#[test]
fn a_refused_server_ends_the_client_connection_with_eof() {
    // A socket bound but not listening: connect() to it is refused, and no
    // other socket can take the port while it is held (a port freed by
    // dropping a listener could be reused and make the test flaky).
    let held = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    held.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).expect("bind");
    let server = held.local_addr().expect("local address").as_socket().expect("an inet address");
    let (proxy, addr) = start_proxy(server, 1);

    let mut client = connect(addr);
    let mut buf = [0u8; 16];
    let n = client.read(&mut buf).expect("a clean end, not a reset");
    assert_eq!(n, 0, "EOF");
    // Our FIN ends the proxy's lingering drain of this connection at once.
    drop(client);
    stop_expecting_codes(proxy, &["SC"]);
    drop(held);
}

#[test]
fn a_client_reset_mid_transfer_ends_the_server_side_and_the_proxy_serves_the_next_session() {
    let (l, server) = server_socket();
    let srv = spawn(move || {
        let first = echo(accept(&l));
        let second = echo(accept(&l));
        (first, second)
    });
    let (proxy, addr) = start_proxy(server, 0);

    let mut client = connect(addr);
    write_pattern(&mut client, 6, 64 * 1024).expect("send");
    let mut back = vec![0u8; 16 * 1024];
    client.read_exact(&mut back).expect("part of the echo");
    assert!(back.iter().enumerate().all(|(i, &b)| b == pattern(6, i as u64)));
    socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO)).expect("SO_LINGER 0");
    drop(client); // RST

    let mut next = connect(addr);
    next.write_all(b"hello").expect("send");
    next.shutdown(Shutdown::Write).expect("half-close");
    let mut got = Vec::new();
    next.read_to_end(&mut got).expect("the echo");
    assert_eq!(got, b"hello");

    let (first, second) = srv.join().expect("server thread");
    // The reset session's server side ended: EOF (echo count) or a reset.
    match first {
        Ok(n) => assert!(n <= 64 * 1024),
        Err(e) => assert!(
            matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe),
            "unexpected server-side error: {e}"
        ),
    }
    assert_eq!(second.expect("second session"), 5);
    stop_expecting_codes(proxy, &["CD", "--"]);
}

/// A broken runtime (`Options::breakage`, for the conformance suite) exists
/// only with the `test-hooks` feature; without it the proxy refuses to start
/// rather than run correctly where a test asked for a bug.
#[test]
fn a_breakage_needs_the_test_hooks_feature() {
    let server = common::EchoServer::start();
    let config = common::proxy_config(vec![common::listener("b", &[server.addr()], 0, 0)], 0);
    let options = runtime::Options { breakage: runtime::Breakage::SkipShutdown, ..runtime::Options::default() };
    let hooks = cfg!(feature = "test-hooks");
    match (runtime::spawn_with(&config, options), hooks) {
        (Ok(proxy), true) => proxy.stop().expect("stop"),
        (Err(e), false) => assert!(e.to_string().contains("test-hooks"), "{e}"),
        (Ok(_), false) => panic!("a breakage started without test-hooks"),
        (Err(e), true) => panic!("refused with test-hooks: {e}"),
    }
}

/// One event-loop thread binds its listening socket without `SO_REUSEPORT`
/// (only several threads share a port, each with its own socket): a second
/// proxy started on the same port by mistake fails to bind rather than
/// silently take a share of the connections.
#[test]
fn a_single_threaded_listener_holds_its_port_alone() {
    use socket2::{Domain, Socket, Type};
    let server = common::EchoServer::start();
    let config = common::proxy_config(vec![common::listener("alone", &[server.addr()], 0, 0)], 0);
    let proxy = runtime::spawn(&config).expect("the proxy starts");
    let addr = proxy.addrs()[0];
    let other = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    other.set_reuse_port(true).expect("SO_REUSEPORT");
    other.set_reuse_address(true).expect("SO_REUSEADDR");
    let err = other.bind(&addr.into()).expect_err("the port is the proxy's alone");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    proxy.stop().expect("stop");
}

/// `stop` returns once the event loops ended: with a session still open, at
/// the end of the grace period, when the loop killed it (its record is
/// there when `shutdown` returns); on the manual clock the grace period is
/// spent at once.
#[test]
fn stop_returns_when_the_event_loops_have_ended_after_the_grace_period() {
    for manual_clock in [false, true] {
        let server = common::EchoServer::start();
        let mut cfg = common::proxy_config(vec![common::listener("grace", &[server.addr()], 0, 0)], 0);
        cfg.global.grace_period = Duration::from_millis(300);
        let options = runtime::Options { manual_clock, record_sessions: true, ..runtime::Options::default() };
        let mut proxy = runtime::spawn_with(&cfg, options).expect("start");
        let mut open = connect(proxy.addrs()[0]);
        common::round_trip(&mut open, b"still open");
        // A stop that never returns is a failure, not a hang.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let stopped = proxy.shutdown().map_err(|e| e.to_string());
            let _ = tx.send((stopped, proxy.take_records()));
        });
        let (stopped, records) = rx.recv_timeout(common::HANG_GUARD).expect("shutdown returned");
        assert_eq!(stopped, Ok(()), "manual clock {manual_clock}");
        assert_eq!(records.len(), 1, "manual clock {manual_clock}: the killed session ended before shutdown returned");
        let mut rest = Vec::new();
        assert!(open.read_to_end(&mut rest).is_err() || rest.is_empty(), "the session was killed");
    }
}

/// A hard stop with no session left kills nothing: the grace period (spent at once on the
/// manual clock) ends no session, and the proxy says nothing of closing any.
#[test]
fn a_hard_stop_of_an_idle_proxy_kills_nothing_and_says_so() {
    common::logs::capture();
    let server = common::EchoServer::start();
    let cfg = common::proxy_config(vec![common::listener("idle-stop", &[server.addr()], 0, 0)], 0);
    let options = runtime::Options { manual_clock: true, record_sessions: true, ..runtime::Options::default() };
    let mut proxy = runtime::spawn_with(&cfg, options).expect("start");
    let mut c = connect(proxy.addrs()[0]);
    common::round_trip(&mut c, b"one session, ended before the stop");
    assert!(common::finish(c).is_empty());
    common::wait_until("the session ended", || proxy.live_sessions() == 0);
    proxy.shutdown().expect("the proxy stops");
    assert_eq!(proxy.take_records().len(), 1);
    let kills = common::logs::lines_with("closing 0 sessions");
    assert!(kills.is_empty(), "nothing to kill, nothing said: {kills:?}");
}
