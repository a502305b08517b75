//! Per-source limits on real loopback sockets: `src-conn-limit` (connections one address holds
//! at once) and `src-conn-rate` (new connections per sliding window), applied in the
//! connection-rules stage. A refused connection is reset, reaches no server, is counted
//! (`Stats::throttled`) and logged with its reason; another source address (127.0.0.2) is not
//! affected. The rate runs on the manual clock, so the window moves only when the test says.

mod common;

use common::{finish, listener, proxy_config, records, round_trip, wait_until, EchoServer, HANG_GUARD};
use connseq::config::SourceLimits;
use connseq::runtime::{self, Options, RunningProxy};
use socket2::{Domain, Socket, Type};
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn start(server: &EchoServer, limits: SourceLimits) -> RunningProxy {
    let mut l = listener("src", &[server.addr()], 0, 0);
    l.backend.limits = limits;
    let options = Options { manual_clock: true, record_sessions: true, ..Options::default() };
    runtime::spawn_with(&proxy_config(vec![l], 0), options).expect("the proxy starts")
}

/// A client of the proxy from `source` (127.0.0.1 or another loopback address).
fn client_from(source: [u8; 4], proxy: SocketAddr) -> TcpStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from((source, 0)).into()).expect("bind the client's source");
    s.connect(&proxy.into()).expect("connect");
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
    s
}

/// The proxy resets this client: its read ends with a reset, never with data.
fn expect_reset(mut c: TcpStream) {
    let mut buf = [0u8; 16];
    match c.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected a reset, got {other:?}"),
    }
}

const HOME: [u8; 4] = [127, 0, 0, 1];
const OTHER: [u8; 4] = [127, 0, 0, 2];

#[test]
fn a_source_at_its_connection_limit_is_reset_until_one_of_its_sessions_ends() {
    let server = EchoServer::start();
    let proxy = start(&server, SourceLimits { conns: 2, ..SourceLimits::default() });
    let addr = proxy.addrs()[0];
    let mut a = client_from(HOME, addr);
    round_trip(&mut a, b"a");
    let mut b = client_from(HOME, addr);
    round_trip(&mut b, b"b");

    expect_reset(client_from(HOME, addr));
    let mut other = client_from(OTHER, addr);
    round_trip(&mut other, b"another source has its own count");
    assert_eq!(server.accepted(), 3, "the refused connection reached no server");

    assert!(finish(a).is_empty());
    wait_until("a's session ended", || proxy.live_sessions() == 2);
    let mut c = client_from(HOME, addr);
    round_trip(&mut c, b"a place freed");

    let refused: Vec<_> = records(&proxy, 2).into_iter().filter(|r| r.reason.is_some()).collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let r = &refused[0];
    assert_eq!((r.termination.to_string().as_str(), r.reason, r.logged), ("PR", Some("src-conn-limit"), false));
    assert_eq!((r.server, r.to_server, r.to_client), (None, 0, 0));
    let stats = proxy.stats();
    assert_eq!((stats.throttled, stats.rejected), (1, 1), "{stats:?}");
    for s in [b, other, c] {
        assert!(finish(s).is_empty());
    }
    proxy.stop().expect("stops");
}

/// Each session that ends gives its place back, with no refusal in between
/// (whose end must give back none).
#[test]
fn a_source_limited_to_one_connection_is_served_one_session_after_another() {
    let server = EchoServer::start();
    let proxy = start(&server, SourceLimits { conns: 1, ..SourceLimits::default() });
    let addr = proxy.addrs()[0];
    for i in 0..3 {
        let mut c = client_from(HOME, addr);
        round_trip(&mut c, format!("session {i}").as_bytes());
        assert!(finish(c).is_empty());
        wait_until("the session ended", || proxy.live_sessions() == 0);
    }
    let mut h = client_from(HOME, addr);
    round_trip(&mut h, b"holds the place");
    expect_reset(client_from(HOME, addr));
    assert!(finish(h).is_empty());
    wait_until("the session ended", || proxy.live_sessions() == 0);
    let mut c = client_from(HOME, addr);
    round_trip(&mut c, b"the place is free again");
    assert!(finish(c).is_empty());
    assert_eq!(proxy.stats().throttled, 1);
    proxy.stop().expect("stops");
}

#[test]
fn a_source_over_its_connection_rate_is_reset_until_the_window_moves_on() {
    let server = EchoServer::start();
    let limits = SourceLimits { rate: 3, period: Duration::from_secs(10), ..SourceLimits::default() };
    let proxy = start(&server, limits);
    let addr = proxy.addrs()[0];
    for i in 0..3 {
        let mut c = client_from(HOME, addr);
        round_trip(&mut c, format!("{i}").as_bytes());
        assert!(finish(c).is_empty());
    }
    expect_reset(client_from(HOME, addr));
    expect_reset(client_from(HOME, addr));
    let mut other = client_from(OTHER, addr);
    round_trip(&mut other, b"another source has its own window");
    assert!(finish(other).is_empty());

    // Five attempts in the first 10 s; 25 s later none of them is in the window.
    assert!(proxy.advance(Duration::from_secs(25)));
    let mut c = client_from(HOME, addr);
    round_trip(&mut c, b"the window moved on");
    assert!(finish(c).is_empty());

    let codes: Vec<_> = records(&proxy, 7)
        .into_iter()
        .map(|r| (r.termination.to_string(), r.reason))
        .filter(|(_, r)| r.is_some())
        .collect();
    assert_eq!(codes, vec![("PR".to_string(), Some("src-conn-rate")); 2]);
    assert_eq!(proxy.stats().throttled, 2);
    proxy.stop().expect("stops");
}
