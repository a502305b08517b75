//! The handshake layer on real loopback sockets: the PROXY header received
//! (split, invalid, absent) and sent, health and monitor replies, and
//! connection rules on the real and on the forwarded address.

mod common;

use common::{connect, listener, proxy_config, read_to_eof, records, round_trip, wait_until, EchoServer, HANG_GUARD};
use connseq::config::{Cidr, ListenerConfig, ProxyTlvs, ProxyVersion, Rule, Rules, SendProxy, Verdict};
use connseq::runtime::{self, Options, RunningProxy};
use connseq_proxy_protocol as pp;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

const RECORD: Options = Options {
    manual_clock: false,
    record_sessions: true,
    stepped: false,
    hold_connects: false,
    send_window: None,
    breakage: connseq::runtime::Breakage::None,
};

fn start(listeners: Vec<ListenerConfig>, options: Options) -> (RunningProxy, SocketAddr) {
    let proxy = runtime::spawn_with(&proxy_config(listeners, 0), options).expect("the proxy starts");
    let addr = proxy.addrs()[0];
    (proxy, addr)
}

fn cidr(s: &str) -> Cidr {
    s.parse().expect("a CIDR block")
}

fn rules(list: &[(Verdict, &str)]) -> Rules {
    Rules(list.iter().map(|&(verdict, net)| Rule { verdict, net: cidr(net) }).collect())
}

fn expect_reset(c: &mut TcpStream) {
    let mut buf = [0u8; 16];
    let got = c.read(&mut buf);
    assert!(matches!(&got, Err(e) if e.kind() == io::ErrorKind::ConnectionReset), "expected a reset, got {got:?}");
}

#[test]
fn a_split_v1_header_is_accepted_and_the_payload_after_it_reaches_the_server_intact() {
    let server = EchoServer::start();
    let mut l = listener("pp", &[server.addr()], 0, 0);
    l.options.accept_proxy = true;
    let (proxy, addr) = start(vec![l], RECORD);
    let mut c = connect(addr);
    c.set_nodelay(true).expect("nodelay");
    let header = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n";
    for piece in header.chunks(7) {
        c.write_all(piece).expect("a piece of the header");
    }
    round_trip(&mut c, b"payload right after the header");
    // A v2 header with the payload in the same write.
    let mut c2 = connect(addr);
    let mut buf = [0u8; 64];
    let n = pp::V2Builder::proxy("192.0.2.8:1000".parse().expect("a"), "198.51.100.1:443".parse().expect("a"))
        .write_to(&mut buf)
        .expect("build");
    let mut first = buf[..n].to_vec();
    first.extend_from_slice(b"v2 payload");
    c2.write_all(&first).expect("header and payload");
    let mut got = [0u8; 10];
    c2.read_exact(&mut got).expect("the echo");
    assert_eq!(&got, b"v2 payload");
    let local = (c.local_addr().expect("local"), c2.local_addr().expect("local"));
    assert!(common::finish(c).is_empty() && common::finish(c2).is_empty());
    let rs = records(&proxy, 2);
    assert!(rs.iter().all(|r| r.termination.to_string() == "--" && r.logged), "{rs:?}");
    // The log line names the source the header gave, as HAProxy's does,
    // and the real peer (the proxy that sent the header) after it.
    let line = |src: &str| rs.iter().find(|r| r.line.starts_with(src)).map(|r| r.line.clone());
    let v1 = line("192.0.2.7:56324 [pp] pp/s1 ").unwrap_or_else(|| panic!("{rs:?}"));
    assert!(v1.ends_with(&format!(" -- peer={}", local.0)), "{v1}");
    let v2 = line("192.0.2.8:1000 [pp] pp/s1 ").unwrap_or_else(|| panic!("{rs:?}"));
    assert!(v2.ends_with(&format!(" -- peer={}", local.1)), "{v2}");
    proxy.stop().expect("stop");
}

#[test]
fn an_invalid_header_resets_that_client_with_its_reason_and_a_bare_check_closes_quietly() {
    let server = EchoServer::start();
    let mut l = listener("pp", &[server.addr()], 0, 0);
    l.options.accept_proxy = true;
    let (proxy, addr) = start(vec![l], RECORD);
    let mut bad = connect(addr);
    bad.write_all(b"PROXY TCP4 192.0.2.7  198.51.100.1 1 2\r\n").expect("a header with two spaces");
    expect_reset(&mut bad);
    let bare = connect(addr);
    bare.shutdown(Shutdown::Write).expect("FIN before any byte");
    let mut good = connect(addr);
    good.write_all(b"PROXY UNKNOWN\r\nhello").expect("send");
    let mut got = [0u8; 5];
    good.read_exact(&mut got).expect("served");
    assert!(common::finish(good).is_empty());
    let rs = records(&proxy, 3);
    let invalid = rs.iter().find(|r| r.reason.is_some()).expect("the invalid header's record");
    assert_eq!(invalid.termination.to_string(), "CR");
    assert!(invalid.reason.is_some_and(|r| r.starts_with("v1-")), "{invalid:?}");
    let quiet: Vec<_> = rs.iter().filter(|r| !r.logged).collect();
    assert_eq!(quiet.len(), 1, "the bare check is not logged as a session: {rs:?}");
    assert!(invalid.logged && quiet[0].reason.is_none(), "the invalid header's session is logged: {rs:?}");
    assert_eq!(server.accepted(), 1, "only the good client reached the server");
    drop(bare);
    proxy.stop().expect("stop");
}

#[test]
fn health_and_monitor_replies_are_exact_and_reach_no_server() {
    let server = EchoServer::start();
    let mut health = listener("health", &[server.addr()], 0, 0);
    health.options.health = true;
    let mut monitor = listener("monitor", &[server.addr()], 0, 0);
    monitor.options.monitor_nets = vec![cidr("127.0.0.0/8")];
    let mut not_monitored = listener("normal", &[server.addr()], 0, 0);
    not_monitored.options.monitor_nets = vec![cidr("192.0.2.0/24")];
    let (proxy, _) = start(vec![health, monitor, not_monitored], RECORD);
    let addrs = proxy.addrs().to_vec();
    let mut h = connect(addrs[0]);
    assert_eq!(read_to_eof(&mut h), b"OK\n");
    let mut m = connect(addrs[1]);
    m.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("a request the reply drains");
    assert_eq!(read_to_eof(&mut m), b"HTTP/1.0 200 OK\r\n\r\n");
    drop((h, m));
    let mut n = connect(addrs[2]);
    round_trip(&mut n, b"a source outside the monitor net is proxied");
    assert!(common::finish(n).is_empty());
    let rs = records(&proxy, 3);
    assert_eq!(rs.iter().filter(|r| !r.logged).count(), 2, "the checks are not logged: {rs:?}");
    let mut replied: Vec<u64> = rs.iter().filter(|r| !r.logged).map(|r| r.to_client).collect();
    replied.sort_unstable();
    assert_eq!(replied, [3, 19], "each reply's bytes are counted as sent to its client: {rs:?}");
    assert_eq!(server.accepted(), 1);
    proxy.stop().expect("stop");
}

#[test]
fn deny_rules_reset_the_connection_first_match_wins_and_source_rules_see_the_forwarded_address() {
    let server = EchoServer::start();
    let mut allow_first = listener("allow-first", &[server.addr()], 0, 0);
    allow_first.options.conn_rules = rules(&[(Verdict::Allow, "127.0.0.1"), (Verdict::Deny, "127.0.0.0/8")]);
    let mut deny = listener("deny", &[server.addr()], 0, 0);
    deny.options.conn_rules = rules(&[(Verdict::Deny, "127.0.0.0/8"), (Verdict::Allow, "127.0.0.1")]);
    let mut src = listener("src", &[server.addr()], 0, 0);
    src.options.accept_proxy = true;
    src.options.src_rules = rules(&[(Verdict::Deny, "192.0.2.0/24")]);
    let (proxy, _) = start(vec![allow_first, deny, src], RECORD);
    let addrs = proxy.addrs().to_vec();

    let mut a = connect(addrs[0]);
    round_trip(&mut a, b"allowed by the first rule");
    assert!(common::finish(a).is_empty());
    let mut d = connect(addrs[1]);
    expect_reset(&mut d);
    let mut s_denied = connect(addrs[2]);
    s_denied.write_all(b"PROXY TCP4 192.0.2.1 198.51.100.1 1000 443\r\nx").expect("send");
    expect_reset(&mut s_denied);
    let mut s_ok = connect(addrs[2]);
    s_ok.write_all(b"PROXY TCP4 198.51.100.9 198.51.100.1 1000 443\r\n").expect("send");
    round_trip(&mut s_ok, b"a forwarded source no rule denies");
    assert!(common::finish(s_ok).is_empty());
    let rs = records(&proxy, 4);
    assert_eq!(proxy.stats().rejected, 2);
    assert_eq!(rs.iter().filter(|r| r.termination.to_string() == "PR" && !r.logged).count(), 2, "{rs:?}");
    assert_eq!(server.accepted(), 2);
    proxy.stop().expect("stop");
}

#[test]
fn send_proxy_v1_and_v2_carry_the_original_clients_addresses_first_on_the_server_connection() {
    for version in [ProxyVersion::V1, ProxyVersion::V2] {
        let upstream = TcpListener::bind("127.0.0.1:0").expect("bind");
        let up_addr = upstream.local_addr().expect("address");
        let srv = thread::spawn(move || {
            let (mut s, _) = upstream.accept().expect("the proxy connects");
            s.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
            let mut got = Vec::new();
            s.read_to_end(&mut got).expect("header and payload");
            got
        });
        let mut l = listener("send", &[up_addr], 0, 0);
        l.options.accept_proxy = true;
        let tlvs = ProxyTlvs { unique_id: true, crc32c: true, ..ProxyTlvs::default() };
        l.backend.send_proxy =
            Some(SendProxy { version, tlvs: if version == ProxyVersion::V2 { tlvs } else { ProxyTlvs::default() } });
        let (proxy, addr) = start(vec![l], RECORD);
        let mut c = connect(addr);
        c.write_all(b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\nbody").expect("send");
        c.shutdown(Shutdown::Write).expect("FIN");
        let got = srv.join().expect("server");
        let (header, len) = match pp::parse(&got) {
            Ok(pp::Parsed::Complete(h, len)) => (h, len),
            other => panic!("{version:?}: no header first: {other:?} in {got:?}"),
        };
        assert_eq!(header.addresses.source(), Some("[2001:db8::7]:40000".parse().expect("a")), "{version:?}");
        assert_eq!(header.addresses.destination(), Some("[2001:db8::1]:443".parse().expect("a")));
        if version == ProxyVersion::V2 {
            // The process id and the session's number, in hex (this process runs the proxy).
            let id = header.tlvs.unique_id().expect("UNIQUE_ID sent");
            let id = std::str::from_utf8(id).expect("text");
            let (pid, n) = id.split_once('-').unwrap_or_else(|| panic!("pid-number: {id}"));
            assert_eq!(pid, format!("{:08X}", std::process::id()), "{id}");
            assert!(n.len() == 16 && n.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
        assert_eq!(&got[len..], b"body", "{version:?}: the payload follows the header");
        drop(c);
        proxy.stop().expect("stop");
    }
}

#[test]
fn a_slow_header_is_closed_at_the_handshake_timeout_while_others_are_served() {
    let server = EchoServer::start();
    let mut l = listener("slow", &[server.addr()], 0, 0);
    l.options.accept_proxy = true;
    l.timeouts.handshake = Duration::from_secs(3);
    let (proxy, addr) = start(
        vec![l],
        Options {
            manual_clock: true,
            record_sessions: true,
            stepped: false,
            hold_connects: false,
            send_window: None,
            breakage: connseq::runtime::Breakage::None,
        },
    );
    let mut slow = connect(addr);
    slow.write_all(b"PRO").expect("the first bytes of a header");
    wait_until("the slow client was accepted", || proxy.stats().accepted == 1);
    let mut quick = connect(addr);
    quick.write_all(b"PROXY UNKNOWN\r\n").expect("send");
    round_trip(&mut quick, b"served meanwhile");
    proxy.advance(Duration::from_secs(3));
    expect_reset(&mut slow);
    assert!(common::finish(quick).is_empty());
    let rs = records(&proxy, 2);
    assert!(rs.iter().any(|r| r.termination.to_string() == "cR"), "{rs:?}");
    proxy.stop().expect("stop");
}
