//! TLS as an operator meets it, on real peers (OpenSSL's `s_server`):
//! the self-signed certificate `openssl req -x509` makes, given as its own
//! CA, is accepted as a pin; a certificate the verifier refuses is logged
//! with the verifier's reason on the session's line (at the default level);
//! a TLS handshake a client started and did not finish by the handshake
//! timeout is logged with a reason.

mod common;
mod peers;

use common::{listener, proxy_config, records, HANG_GUARD};
use connseq::config::{BackTls, ServerVerify};
use connseq::runtime::{self, Options, RunningProxy, SessionRecord};
use peers::{free_port, is_listening, TempDir};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `openssl req -x509` as its manual shows it: a self-signed certificate
/// (basicConstraints CA:TRUE) with `san` as subjectAltName; returns
/// (cert, key).
fn self_signed(dir: &Path, name: &str, san: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    let subject = format!("/CN={name}");
    let ext = format!("subjectAltName={san}");
    args.extend(["-keyout", &key, "-out", &cert, "-days", "2", "-subj", &subject, "-addext", &ext]);
    openssl(dir, &args);
    (dir.join(cert), dir.join(key))
}

/// `openssl s_server -rev` on a free port with this certificate; killed on drop.
struct SServer(Child, SocketAddr);

impl SServer {
    fn start(cert: &Path, key: &Path) -> SServer {
        let port = free_port();
        let child = Command::new("openssl")
            .args(["s_server", "-rev", "-quiet", "-accept", &port.to_string()])
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server runs");
        let deadline = Instant::now() + HANG_GUARD;
        while !is_listening(port) {
            assert!(Instant::now() < deadline, "s_server did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        SServer(child, port)
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn originate(server: SocketAddr, ca: PathBuf) -> RunningProxy {
    let mut l = listener("orig", &[server], 0, 0);
    l.backend.tls = Some(BackTls { verify: ServerVerify::Ca(ca), sni: None, alpn: Vec::new() });
    let options = Options { record_sessions: true, ..Options::default() };
    runtime::spawn_with(&proxy_config(vec![l], 0), options).expect("connseq starts")
}

/// A line through the proxy: s_server's reversed echo, or `None` when the
/// proxy closes the connection without one.
fn through(proxy: &RunningProxy) -> Option<String> {
    let mut c = TcpStream::connect(proxy.addrs()[0]).expect("connect");
    c.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
    c.write_all(b"abc\n").expect("send");
    let mut got = [0u8; 4];
    let answer = c.read_exact(&mut got).ok().map(|()| String::from_utf8_lossy(&got).into_owned());
    let _ = c.shutdown(Shutdown::Write);
    let _ = c.read_to_end(&mut Vec::new());
    answer
}

fn last_record(proxy: &RunningProxy) -> SessionRecord {
    records(proxy, 1).pop().expect("a record")
}

#[test]
fn a_self_signed_server_certificate_given_as_its_own_ca_is_trusted_as_a_pin() {
    let dir = TempDir::new("pin");
    let (cert, key) = self_signed(&dir.0, "server", "IP:127.0.0.1");
    let text = std::fs::read_to_string(&cert).expect("cert");
    assert!(
        Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&cert)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("CA:TRUE"))
            .unwrap_or(false),
        "the certificate is a CA certificate, as openssl req -x509 makes it: {text}"
    );
    let s = SServer::start(&cert, &key);
    let proxy = originate(s.1, cert.clone());
    assert_eq!(through(&proxy).as_deref(), Some("cba\n"), "the pinned server is reached");
    let r = last_record(&proxy);
    assert_eq!((r.termination.to_string().as_str(), r.reason), ("--", None), "{}", r.line);
    proxy.stop().expect("stop");

    // Another self-signed certificate is no pin for this server: webpki's
    // refusal stands, and its reason is on the session's (INFO) line.
    let (other, _) = self_signed(&dir.0, "other", "IP:127.0.0.1");
    let proxy = originate(s.1, other);
    assert_eq!(through(&proxy), None);
    let r = last_record(&proxy);
    let why = "tls-bad-certificate: CA certificate used as end entity";
    assert_eq!(r.reason, Some(why), "{}", r.line);
    assert!(r.line.ends_with(&format!(" SC {why}")), "the reason on the INFO line: {}", r.line);
    proxy.stop().expect("stop");
}

#[test]
fn a_pinned_certificate_must_still_name_the_server() {
    let dir = TempDir::new("pin-name");
    let (cert, key) = self_signed(&dir.0, "elsewhere", "DNS:elsewhere.example");
    let s = SServer::start(&cert, &key);
    let proxy = originate(s.1, cert);
    assert_eq!(through(&proxy), None, "the pin is for another name than 127.0.0.1");
    let r = last_record(&proxy);
    assert_eq!(r.reason, Some("tls-bad-certificate: not valid for the server's name"), "{}", r.line);
    proxy.stop().expect("stop");
}

#[test]
fn a_ca_certificate_presented_as_the_server_certificate_is_refused_with_the_verifiers_reason() {
    let dir = TempDir::new("ca-leaf");
    let (root, root_key) = self_signed(&dir.0, "root", "DNS:root.example");
    // A certificate with CA:TRUE, signed by the root, for 127.0.0.1.
    openssl(
        &dir.0,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "sub.key",
            "-out",
            "sub.csr",
            "-subj",
            "/CN=sub",
        ],
    );
    std::fs::write(dir.path("sub.cnf"), "basicConstraints=critical,CA:TRUE\nsubjectAltName=IP:127.0.0.1\n")
        .expect("cnf");
    let (root_s, key_s) = (root.display().to_string(), root_key.display().to_string());
    openssl(
        &dir.0,
        &[
            "x509",
            "-req",
            "-in",
            "sub.csr",
            "-CA",
            &root_s,
            "-CAkey",
            &key_s,
            "-CAcreateserial",
            "-out",
            "sub.pem",
            "-days",
            "2",
            "-extfile",
            "sub.cnf",
        ],
    );
    let s = SServer::start(&dir.path("sub.pem"), &dir.path("sub.key"));
    let proxy = originate(s.1, root);
    assert_eq!(through(&proxy), None);
    let r = last_record(&proxy);
    assert_eq!(r.reason, Some("tls-bad-certificate: CA certificate used as end entity"), "{}", r.line);
    assert_eq!(r.termination.to_string(), "SC", "{}", r.line);
    proxy.stop().expect("stop");
}

#[test]
fn a_tls_handshake_cut_short_at_the_handshake_timeout_is_logged_with_a_reason() {
    let cert = peers::Cert::new();
    let server = common::EchoServer::start();
    let mut l = listener("tls", &[server.addr()], 0, 0);
    l.options.tls = Some(cert.front(&[]));
    l.timeouts.handshake = Duration::from_millis(300);
    let options = Options { record_sessions: true, ..Options::default() };
    let proxy = runtime::spawn_with(&proxy_config(vec![l], 0), options).expect("connseq starts");
    // A TLS record header announcing 512 bytes of handshake, and 3 of them.
    let mut cut = TcpStream::connect(proxy.addrs()[0]).expect("connect");
    cut.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]).expect("a partial ClientHello");
    let r = last_record(&proxy);
    assert_eq!((r.termination.to_string().as_str(), r.reason), ("cR", Some("tls-handshake-incomplete")), "{}", r.line);
    // A client that sends nothing is only a timeout.
    let silent = TcpStream::connect(proxy.addrs()[0]).expect("connect");
    let r = last_record(&proxy);
    assert_eq!((r.termination.to_string().as_str(), r.reason), ("cR", None), "{}", r.line);
    drop((cut, silent));
    proxy.stop().expect("stop");
}

/// Behind a PROXY header, the TLS handshake's first step comes with the header, before any
/// TLS byte: a client that sent its header and nothing more is only a timeout (no reason),
/// one that began its ClientHello is the cut handshake.
#[test]
fn behind_a_proxy_header_only_a_begun_tls_handshake_is_logged_as_cut() {
    let cert = peers::Cert::new();
    let server = common::EchoServer::start();
    let mut l = listener("pp-tls", &[server.addr()], 0, 0);
    l.options.tls = Some(cert.front(&[]));
    l.options.accept_proxy = true;
    l.timeouts.handshake = Duration::from_millis(300);
    let options = Options { record_sessions: true, ..Options::default() };
    let proxy = runtime::spawn_with(&proxy_config(vec![l], 0), options).expect("connseq starts");
    let header = b"PROXY TCP4 192.0.2.1 198.51.100.1 1000 443\r\n";
    let mut silent = TcpStream::connect(proxy.addrs()[0]).expect("connect");
    silent.write_all(header).expect("the header alone");
    let r = last_record(&proxy);
    assert_eq!((r.termination.to_string().as_str(), r.reason), ("cR", None), "{}", r.line);
    let mut cut = TcpStream::connect(proxy.addrs()[0]).expect("connect");
    cut.write_all(header).expect("the header");
    cut.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]).expect("a partial ClientHello");
    let r = last_record(&proxy);
    assert_eq!((r.termination.to_string().as_str(), r.reason), ("cR", Some("tls-handshake-incomplete")), "{}", r.line);
    drop((silent, cut));
    proxy.stop().expect("stop");
}
