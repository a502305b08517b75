//! TLS against real peers: OpenSSL's `s_client` into connseq's TLS
//! termination; connseq's origination (`--server-tls`) into `s_server`; the
//! PROXY v2 TLVs a TLS session fills (ALPN, AUTHORITY, SSL); and a full
//! chain client -> connseq (TLS, send-proxy v2) -> HAProxy (accept-proxy)
//! -> server with SHA-256 equality. TLS garbage and a wrong CA end the
//! affected connection with a reason while others are served.
//!
//! The certificates are made by `openssl req` for each test. OpenSSL and
//! HAProxy come from the system (`.ci/run` installs them).

mod common;
mod peers;

use common::{listener, proxy_config, records, EchoServer, HANG_GUARD};
use connseq::config::{BackTls, ProxyTlvs, ProxyVersion, SendProxy, ServerVerify};
use connseq::runtime::{self, Options, RunningProxy};
use connseq_proxy_protocol as pp;
use connseq_tls::rustls;
use peers::{free_port, is_listening, Cert, Haproxy};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const RECORD: Options = Options {
    manual_clock: false,
    record_sessions: true,
    stepped: false,
    hold_connects: false,
    send_window: None,
    breakage: connseq::runtime::Breakage::None,
};

fn start(listeners: Vec<connseq::config::ListenerConfig>) -> RunningProxy {
    runtime::spawn_with(&proxy_config(listeners, 0), RECORD).expect("connseq starts")
}

/// A blocking TLS client over rustls to `addr` with SNI `localhost`.
fn tls_client(cert: &Cert, addr: SocketAddr) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let conn = rustls::ClientConnection::new(cert.client_config(), name).expect("a client");
    rustls::StreamOwned::new(conn, sock)
}

#[test]
fn openssl_s_client_into_connseq_tls_termination() {
    let cert = Cert::new();
    let server = EchoServer::start();
    let mut l = listener("tls", &[server.addr()], 0, 0);
    l.options.tls = Some(cert.front(&["h2"]));
    let proxy = start(vec![l]);
    let mut child = Command::new("openssl")
        .args(["s_client", "-brief", "-no_ign_eof", "-servername", "localhost", "-alpn", "h2", "-verify_return_error"])
        .arg("-CAfile")
        .arg(cert.ca())
        .arg("-connect")
        .arg(proxy.addrs()[0].to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"hello through TLS\n").expect("send");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("the echo");
    assert_eq!(line, "hello through TLS\n");
    drop(stdin); // s_client sends close_notify and exits
    let status = child.wait().expect("s_client exits");
    let mut err = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut err).expect("stderr");
    assert!(status.success(), "s_client: {err}");
    assert!(err.contains("Verification: OK") && err.contains("TLSv1.3"), "{err}");
    let rs = records(&proxy, 1);
    assert_eq!((rs[0].to_server, rs[0].to_client), (18, 18), "{rs:?}");
    proxy.stop().expect("stop");
}

#[test]
fn connseq_server_tls_into_openssl_s_server() {
    let cert = Cert::new();
    let port = free_port();
    let mut s_server = Command::new("openssl")
        .args(["s_server", "-rev", "-naccept", "1", "-quiet"])
        .arg("-accept")
        .arg(port.to_string())
        .arg("-cert")
        .arg(cert.cert())
        .arg("-key")
        .arg(cert.key())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server runs");
    let deadline = Instant::now() + HANG_GUARD;
    while !is_listening(port) {
        assert!(Instant::now() < deadline, "s_server did not start");
        thread::sleep(Duration::from_millis(5));
    }
    let mut l = listener("orig", &[port], 0, 0);
    l.backend.tls =
        Some(BackTls { verify: ServerVerify::Ca(cert.ca()), sni: Some("localhost".into()), alpn: Vec::new() });
    let proxy = start(vec![l]);
    let mut c = TcpStream::connect(proxy.addrs()[0]).expect("connect");
    c.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
    c.write_all(b"abc\n").expect("send");
    let mut got = [0u8; 4];
    c.read_exact(&mut got).expect("s_server's reversed line through TLS");
    assert_eq!(&got, b"cba\n");
    c.shutdown(Shutdown::Write).expect("FIN");
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    let _ = s_server.kill();
    let _ = s_server.wait();
    proxy.stop().expect("stop");
}

#[test]
fn a_tls_session_fills_the_alpn_authority_and_ssl_tlvs_of_the_v2_header() {
    let cert = Cert::new();
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind");
    let up_addr = upstream.local_addr().expect("address");
    let srv = thread::spawn(move || {
        let (mut s, _) = upstream.accept().expect("connseq connects");
        s.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("header and payload");
        got
    });
    let mut l = listener("tlv", &[up_addr], 0, 0);
    l.options.tls = Some(cert.front(&["h2", "http/1.1"]));
    let tlvs = ProxyTlvs { alpn: true, authority: true, ssl: true, unique_id: true, crc32c: true };
    l.backend.send_proxy = Some(SendProxy { version: ProxyVersion::V2, tlvs });
    let proxy = start(vec![l]);
    let mut c = tls_client(&cert, proxy.addrs()[0]);
    c.write_all(b"payload").expect("send");
    // The suite the client negotiated, by its IANA name (rustls says TLS13_ for TLS 1.3's).
    let suite = c.conn.negotiated_cipher_suite().expect("negotiated").suite();
    let iana = suite.as_str().expect("a known suite").replace("TLS13_", "TLS_");
    c.conn.send_close_notify();
    c.flush().expect("flush");
    let got = srv.join().expect("server");
    let (header, len) = match pp::parse(&got) {
        Ok(pp::Parsed::Complete(h, len)) => (h, len),
        other => panic!("no header first: {other:?}"),
    };
    assert_eq!(header.tlvs.alpn(), Some(&b"h2"[..]));
    assert_eq!(header.tlvs.authority(), Some("localhost"));
    let ssl = header.tlvs.ssl().expect("the SSL TLV");
    assert_eq!(ssl.version(), Some("TLSv1.3"));
    assert!(ssl.client_flags().contains(pp::SslClientFlags::SSL));
    assert_eq!(ssl.cipher(), Some(iana.as_str()));
    // No client certificate (the listener asks for none): no CN, no CERT_CONN flag.
    assert_eq!(ssl.cn(), None);
    assert!(!ssl.client_flags().contains(pp::SslClientFlags::CERT_CONN), "{:?}", ssl.client_flags());
    assert_eq!(&got[len..], b"payload");
    drop(c);
    proxy.stop().expect("stop");
}

#[test]
fn client_to_connseq_tls_send_proxy_v2_to_haproxy_accept_proxy_to_server_keeps_every_byte() {
    const LEN: usize = 8 << 20;
    let cert = Cert::new();
    // The server hashes everything until EOF and answers with the digest.
    let sink = TcpListener::bind("127.0.0.1:0").expect("bind");
    let sink_addr = sink.local_addr().expect("address");
    let srv = thread::spawn(move || {
        let (mut s, _) = sink.accept().expect("haproxy connects");
        s.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut n = 0usize;
        loop {
            let k = s.read(&mut buf).expect("read");
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k;
        }
        let digest: [u8; 32] = h.finalize().into();
        s.write_all(&digest).expect("answer");
        n
    });
    let front = free_port();
    let haproxy = Haproxy::start(&format!(
        "frontend fe\n  bind {front} accept-proxy\n  default_backend be\nbackend be\n  server s1 {sink_addr}\n"
    ));
    let mut l = listener("chain", &[front], 0, 0);
    l.options.tls = Some(cert.front(&["h2"]));
    let tlvs = ProxyTlvs { ssl: true, authority: true, ..ProxyTlvs::default() };
    l.backend.send_proxy = Some(SendProxy { version: ProxyVersion::V2, tlvs });
    let proxy = start(vec![l]);
    let mut c = tls_client(&cert, proxy.addrs()[0]);
    let local = c.sock.local_addr().expect("local address");
    let mut sent = Sha256::new();
    let mut chunk = vec![0u8; 64 << 10];
    for i in 0..LEN / chunk.len() {
        for (k, b) in chunk.iter_mut().enumerate() {
            *b = common::stream::pattern(9, (i * (64 << 10) + k) as u64);
        }
        sent.update(&chunk);
        c.write_all(&chunk).expect("send through TLS");
    }
    c.conn.send_close_notify();
    c.flush().expect("flush");
    let mut answer = Vec::new();
    match c.read_to_end(&mut answer) {
        Ok(_) => {}
        // The proxy's close_notify may be followed by the TCP close before
        // rustls reads it; the digest is what matters.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("reading the answer: {e}"),
    }
    let expected: [u8; 32] = sent.finalize().into();
    assert_eq!(srv.join().expect("server"), LEN, "every byte reached the server");
    assert_eq!(answer, expected, "SHA-256 at the server = SHA-256 of what the client sent");
    let line = haproxy.wait_log_line(|l| l.contains(" fe be/s1 "));
    assert!(line.starts_with(&format!("{}:{} ", local.ip(), local.port())), "HAProxy logs the TLS client: {line}");
    let rs = records(&proxy, 1);
    assert_eq!(rs[0].to_server, LEN as u64, "{rs:?}");
    proxy.stop().expect("stop");
}

#[test]
fn tls_garbage_and_an_unknown_ca_end_only_their_connection_with_a_reason() {
    let cert = Cert::new();
    let other = Cert::new();
    let server = EchoServer::start();
    let mut l = listener("tls", &[server.addr()], 0, 0);
    l.options.tls = Some(cert.front(&[]));
    let proxy = start(vec![l]);
    let addr = proxy.addrs()[0];
    // Plain text to a TLS listener.
    let mut garbage = TcpStream::connect(addr).expect("connect");
    garbage.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
    garbage.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send");
    let mut rest = Vec::new();
    let _ = garbage.read_to_end(&mut rest); // an alert, then the close (or a reset)
                                            // A client that trusts another CA.
    let mut wrong = tls_client(&other, addr);
    let refused = wrong.write_all(b"x").and_then(|()| wrong.flush());
    let mut buf = [0u8; 1];
    assert!(refused.is_err() || wrong.read(&mut buf).is_err(), "the handshake fails for a client of another CA");
    drop(wrong);
    // A good client meanwhile.
    let mut good = tls_client(&cert, addr);
    good.write_all(b"fine").expect("send");
    let mut got = [0u8; 4];
    good.read_exact(&mut got).expect("echo");
    assert_eq!(&got, b"fine");
    good.conn.send_close_notify();
    good.flush().expect("flush");
    let rs = records(&proxy, 3);
    let garbage_rec = rs.iter().find(|r| r.reason == Some("tls-not-tls")).expect("the garbage's record");
    assert_eq!(garbage_rec.termination.to_string(), "CR", "{rs:?}");
    assert!(rs.iter().any(|r| r.reason == Some("tls-alert-received")), "the other CA's client: {rs:?}");
    assert_eq!(server.accepted(), 1, "only the good client reached the server");
    proxy.stop().expect("stop");
}
