//! The PROXY protocol against real peers: HAProxy 2.6 `send-proxy` and
//! `send-proxy-v2` into connseq's `accept-proxy`; connseq's `send-proxy`
//! v1 and v2 into HAProxy's `accept-proxy` (HAProxy logs the original
//! client); curl `--haproxy-protocol` into connseq.
//!
//! HAProxy and curl come from the system (`.ci/run` installs them); a
//! missing one fails the test with a message saying so.

mod common;
mod peers;

use common::{listener, proxy_config, records, EchoServer, HANG_GUARD};
use connseq::config::{ProxyTlvs, ProxyVersion, SendProxy};
use connseq::runtime::{self, Options};
use peers::{free_port, Haproxy};
use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;

const RECORD: Options = Options {
    manual_clock: false,
    record_sessions: true,
    stepped: false,
    hold_connects: false,
    send_window: None,
    breakage: connseq::runtime::Breakage::None,
};

fn exchange(addr: SocketAddr, msg: &[u8]) -> (SocketAddr, Vec<u8>) {
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
    let local = c.local_addr().expect("local address");
    c.write_all(msg).expect("send");
    c.shutdown(Shutdown::Write).expect("FIN");
    let mut got = Vec::new();
    c.read_to_end(&mut got).expect("the echo");
    (local, got)
}

#[test]
fn haproxy_send_proxy_v1_and_v2_into_connseq_accept_proxy() {
    for directive in ["send-proxy", "send-proxy-v2"] {
        let server = EchoServer::start();
        let mut l = listener("in", &[server.addr()], 0, 0);
        l.options.accept_proxy = true;
        let proxy = runtime::spawn_with(&proxy_config(vec![l], 0), RECORD).expect("connseq starts");
        let connseq = proxy.addrs()[0];
        let front = free_port();
        let haproxy = Haproxy::start(&format!(
            "frontend fe\n  bind {front}\n  default_backend be\nbackend be\n  server s1 {connseq} {directive}\n"
        ));
        let (client, got) = exchange(front, b"through haproxy then connseq");
        assert_eq!(got, b"through haproxy then connseq", "{directive}");
        let rs = records(&proxy, 1);
        assert_eq!(rs[0].forwarded, Some(client), "{directive}: connseq saw the original client: {rs:?}");
        assert_eq!(rs[0].termination.to_string(), "--");
        drop(haproxy);
        proxy.stop().expect("stop");
    }
}

#[test]
fn connseq_send_proxy_v1_and_v2_into_haproxy_accept_proxy_which_logs_the_original_client() {
    for version in [ProxyVersion::V1, ProxyVersion::V2] {
        let server = EchoServer::start();
        let front = free_port();
        let haproxy = Haproxy::start(&format!(
            "frontend fe\n  bind {front} accept-proxy\n  default_backend be\nbackend be\n  server s1 {}\n",
            server.addr()
        ));
        let mut l = listener("out", &[front], 0, 0);
        let tlvs = match version {
            ProxyVersion::V1 => ProxyTlvs::default(),
            ProxyVersion::V2 => ProxyTlvs { unique_id: true, crc32c: true, ..ProxyTlvs::default() },
        };
        l.backend.send_proxy = Some(SendProxy { version, tlvs });
        let proxy = runtime::spawn_with(&proxy_config(vec![l], 0), RECORD).expect("connseq starts");
        let (client, got) = exchange(proxy.addrs()[0], b"through connseq then haproxy");
        assert_eq!(got, b"through connseq then haproxy", "{version:?}");
        let line = haproxy.wait_log_line(|l| l.contains(" fe be/s1 "));
        assert!(
            line.starts_with(&format!("{}:{} ", client.ip(), client.port())),
            "{version:?}: HAProxy logs the client connseq forwarded ({client}): {line}"
        );
        proxy.stop().expect("stop");
    }
}

#[test]
fn curl_haproxy_protocol_into_connseq() {
    // A minimal HTTP/1.0 server: reads the request head, answers, closes.
    let http = TcpListener::bind("127.0.0.1:0").expect("bind");
    let http_addr = http.local_addr().expect("address");
    let srv = thread::spawn(move || {
        let (s, _) = http.accept().expect("connseq connects");
        s.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
        let mut reader = std::io::BufReader::new(s.try_clone().expect("clone"));
        let mut first = String::new();
        reader.read_line(&mut first).expect("request line");
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("header line") <= 2 {
                break;
            }
        }
        let mut s = s;
        s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello").expect("answer");
        first
    });
    let mut l = listener("curl", &[http_addr], 0, 0);
    l.options.accept_proxy = true;
    let proxy = runtime::spawn_with(&proxy_config(vec![l], 0), RECORD).expect("connseq starts");
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30", "--haproxy-protocol"])
        .arg(format!("http://{}/probe", proxy.addrs()[0]))
        .output()
        .expect("curl runs (install curl: .ci/run does)");
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"hello");
    assert!(srv.join().expect("server").starts_with("GET /probe "), "the request came after the header");
    let rs = records(&proxy, 1);
    let fwd = rs[0].forwarded.expect("curl's PROXY header was parsed");
    assert_eq!(fwd.ip(), rs[0].client.ip(), "curl sends its own address: {rs:?}");
    proxy.stop().expect("stop");
}
