//! Fixtures shared by the real-socket tests: a throwaway PKI written as PEM
//! files, non-blocking loopback socket pairs, and bounded drivers that step
//! two `TlsConn` ends until they agree.

// Each test file uses a different subset of the fixtures.
#![allow(dead_code)]

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use connseq_tls::{ClientTls, Flush, Read, ServerTls, Step, TlsConn, Write};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// Rounds a driver may take before it declares a livelock.
pub const MAX_ROUNDS: usize = 20_000;

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("connseq-tls-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir can be created");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Write `contents` to `name` in this directory; its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("temp file can be written");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test certificate authority.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(cn: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list is valid");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name = dn(cn);
        let key = KeyPair::generate().expect("key generation");
        Self { issuer: CertifiedIssuer::self_signed(params, key).expect("CA self-signs") }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `sans` (DNS names or IP addresses) with subject CN `cn`:
    /// `(certificate PEM, PKCS#8 key PEM)`.
    pub fn leaf(&self, sans: &[&str], cn: &str) -> (String, String) {
        let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(sans).expect("valid SANs");
        params.distinguished_name = dn(cn);
        let key = KeyPair::generate().expect("key generation");
        let cert = params.signed_by(&key, &self.issuer).expect("CA signs");
        (cert.pem(), key.serialize_pem())
    }
}

/// A self-signed certificate: `(certificate PEM, key PEM)`.
pub fn self_signed(sans: &[&str], cn: &str) -> (String, String) {
    let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(sans).expect("valid SANs");
    params.distinguished_name = dn(cn);
    let key = KeyPair::generate().expect("key generation");
    let cert = params.self_signed(&key).expect("self-signs");
    (cert.pem(), key.serialize_pem())
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// A server and a client configuration that trust each other: one leaf
/// for `localhost` and 127.0.0.1 (CN "localhost"), signed by a fresh CA.
pub struct Pki {
    pub dir: TempDir,
    pub ca: Ca,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Pki {
    pub fn new() -> Self {
        let dir = TempDir::new();
        let ca = Ca::new("connseq test CA");
        let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"], "localhost");
        let ca_file = dir.write("ca.pem", &ca.pem());
        let cert_file = dir.write("localhost.crt", &cert);
        let key_file = dir.write("localhost.key", &key);
        Self { dir, ca, ca_file, cert_file, key_file }
    }

    pub fn server(&self, alpn: &[Vec<u8>]) -> Arc<ServerTls> {
        ServerTls::from_pem_files(&[(self.cert_file.clone(), self.key_file.clone())], alpn).expect("server config")
    }

    pub fn client(&self, alpn: &[Vec<u8>], sni: Option<&str>) -> Arc<ClientTls> {
        ClientTls::new(Some(&self.ca_file), false, alpn, sni.map(str::to_owned)).expect("client config")
    }
}

/// A connected loopback pair, both ends non-blocking with `TCP_NODELAY`:
/// `(client, server)`.
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    tcp_pair_with(|_| {})
}

/// As [`tcp_pair`], with `tune` applied to the listener (its options are
/// inherited by the accepted socket) before the connection is made.
pub fn tcp_pair_with(tune: impl FnOnce(&TcpListener)) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind((LOOPBACK, 0)).expect("bind loopback");
    tune(&listener);
    let client = TcpStream::connect(listener.local_addr().expect("bound")).expect("connect loopback");
    let (server, _) = listener.accept().expect("accept");
    for sock in [&client, &server] {
        sock.set_nonblocking(true).expect("non-blocking");
        // As a proxy does: no Nagle delay behind an unacknowledged record
        // (a close_notify right after data would wait for a delayed ACK).
        sock.set_nodelay(true).expect("TCP_NODELAY");
    }
    (client, server)
}

/// One end of a TLS connection: the state and its socket.
pub struct End {
    pub tls: TlsConn,
    pub sock: TcpStream,
}

impl End {
    /// Read until `WouldBlock` or an end; the bytes, and the last answer.
    pub fn drain(&mut self, into: &mut Vec<u8>) -> Read {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.tls.read(&self.sock, &mut buf) {
                Read::Data(n) => into.extend_from_slice(&buf[..n]),
                other => return other,
            }
        }
    }

    /// Shut the socket for writing (the control layer's shutw).
    pub fn shutw(&self) {
        self.sock.shutdown(Shutdown::Write).expect("shutdown(SHUT_WR)");
    }
}

/// Step both ends' handshakes alternately until both are `Done` or one
/// fails; the last step of each. Panics on livelock.
pub fn handshake(client: &mut End, server: &mut End) -> (Step, Step) {
    let mut c = Step::WantRead;
    let mut s = Step::WantRead;
    for _ in 0..MAX_ROUNDS {
        if c != Step::Done {
            c = client.tls.handshake(&client.sock);
        }
        if s != Step::Done {
            s = server.tls.handshake(&server.sock);
        }
        let failed = |step: &Step| matches!(step, Step::Eof | Step::Reset | Step::Invalid(_));
        if (c == Step::Done && s == Step::Done) || failed(&c) || failed(&s) {
            return (c, s);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    panic!("handshake livelock: client {c:?}, server {s:?}");
}

/// A client and a server end over a fresh loopback pair, not yet handshaken.
pub fn ends(client: &Arc<ClientTls>, server: &Arc<ServerTls>) -> (End, End) {
    let (csock, ssock) = tcp_pair();
    (
        End { tls: TlsConn::client(client, LOOPBACK).expect("client conn"), sock: csock },
        End { tls: TlsConn::server(server).expect("server conn"), sock: ssock },
    )
}

/// A client and a server end, handshaken.
pub fn established(client: &Arc<ClientTls>, server: &Arc<ServerTls>) -> (End, End) {
    let (mut c, mut s) = ends(client, server);
    assert_eq!(handshake(&mut c, &mut s), (Step::Done, Step::Done));
    (c, s)
}

/// Send all of `data` from `from` to `to` through both TLS layers, reading
/// as it goes; what `to` received. Panics on livelock or a failure.
pub fn transfer(from: &mut End, to: &mut End, data: &[u8]) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::with_capacity(data.len());
    for _ in 0..MAX_ROUNDS {
        let before = (sent, got.len());
        if sent < data.len() || from.tls.has_pending_output() {
            match from.tls.write(&from.sock, &data[sent..]) {
                Write::Sent { consumed, .. } => sent += consumed,
                Write::WouldBlock => {}
                Write::Reset => panic!("writer reset after {sent} bytes"),
            }
        }
        match to.drain(&mut got) {
            Read::WouldBlock => {}
            other => panic!("reader got {other:?} after {} bytes", got.len()),
        }
        if got.len() == data.len() && !from.tls.has_pending_output() {
            return got;
        }
        if before == (sent, got.len()) {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    panic!("transfer livelock: sent {sent}, received {}", got.len());
}

/// Flush `end` until done; panics on livelock or reset.
pub fn flush_fully(end: &mut End) {
    for _ in 0..MAX_ROUNDS {
        match end.tls.flush(&end.sock) {
            Flush::Done => return,
            Flush::WouldBlock => std::thread::sleep(Duration::from_micros(100)),
            Flush::Reset => panic!("flush reset"),
        }
    }
    panic!("flush livelock");
}

/// Write raw bytes to a non-blocking socket that has room for them.
pub fn write_raw(mut sock: &TcpStream, bytes: &[u8]) {
    sock.write_all(bytes).expect("raw write to an empty socket");
}

/// Pseudo-random bytes (xorshift), so that a shifted or repeated block shows.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// The SEC1 `EC PRIVATE KEY` PEM inside a PKCS#8 `PRIVATE KEY` PEM
/// (RFC 5208 5: the OCTET STRING `privateKey` of an EC key is the RFC 5915
/// ECPrivateKey).
pub fn pkcs8_to_sec1_pem(pkcs8_pem: &str) -> String {
    use connseq_tls::rustls::pki_types::pem::PemObject as _;
    use connseq_tls::rustls::pki_types::PrivatePkcs8KeyDer;
    let pkcs8 = PrivatePkcs8KeyDer::from_pem_slice(pkcs8_pem.as_bytes()).expect("a PKCS#8 PEM key");
    let der = pkcs8.secret_pkcs8_der();
    // SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING privateKey }
    let (_, body) = der_item(der, 0x30);
    let (rest, _) = der_item(body, 0x02);
    let (rest, _) = der_item(rest, 0x30);
    let (_, sec1) = der_item(rest, 0x04);
    let mut pem = String::from("-----BEGIN EC PRIVATE KEY-----\n");
    for line in base64(sec1).as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem + "-----END EC PRIVATE KEY-----\n"
}

/// One DER item of type `tag` at the start of `der`: (what follows, its contents).
fn der_item(der: &[u8], tag: u8) -> (&[u8], &[u8]) {
    assert_eq!(der[0], tag, "DER tag");
    let (len, header) = match der[1] {
        n if n < 0x80 => (usize::from(n), 2),
        0x81 => (usize::from(der[2]), 3),
        0x82 => (usize::from(der[2]) << 8 | usize::from(der[3]), 4),
        other => panic!("DER length form {other:#x}"),
    };
    (&der[header + len..], &der[header..header + len])
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Turns a hang into a failure in the bounded waits below; never a synchronisation.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// Repeats a non-blocking `step` until `done` accepts its answer, checking every 100 µs, and
/// returns that answer; after [`HANG_GUARD`] it returns the last answer, for the caller's
/// assertion to report. This replaces "sleep, then assert one step": on a loaded machine the
/// peer's bytes may take longer than any fixed sleep to cross loopback.
pub fn eventually<T>(mut step: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = std::time::Instant::now() + HANG_GUARD;
    loop {
        let answer = step();
        if done(&answer) || std::time::Instant::now() >= deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Repeats a handshake step while it waits for the peer ([`Step::WantRead`]); the first other
/// answer (or the last after [`HANG_GUARD`]).
pub fn step_until_answered(end: &mut End) -> Step {
    eventually(|| end.tls.handshake(&end.sock), |s| *s != Step::WantRead)
}

/// Reads into `into` until an answer other than `WouldBlock` (an end, or an error), bounded by
/// [`HANG_GUARD`]; the bytes that came before it stay in `into`.
pub fn drain_until_end(end: &mut End, into: &mut Vec<u8>) -> Read {
    eventually(|| end.drain(into), |r| *r != Read::WouldBlock)
}

/// Reads into `into` until it holds at least `len` bytes (bounded by [`HANG_GUARD`]); the
/// last answer, `WouldBlock` when the bytes came and nothing else.
pub fn drain_at_least(end: &mut End, into: &mut Vec<u8>, len: usize) -> Read {
    let deadline = std::time::Instant::now() + HANG_GUARD;
    loop {
        let answer = end.drain(into);
        if into.len() >= len || answer != Read::WouldBlock || std::time::Instant::now() >= deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Waits until `sock` has at least `len` bytes queued for reading (peeked, not consumed),
/// bounded by [`HANG_GUARD`].
pub fn wait_queued(sock: &TcpStream, len: usize) {
    let mut buf = vec![0u8; len];
    let got = eventually(|| sock.peek(&mut buf).unwrap_or(0), |n| *n >= len);
    assert!(got >= len, "{got} of {len} bytes arrived within {HANG_GUARD:?}");
}

/// Waits until `sock` is readable: data, an end or an error is queued (bounded by
/// [`HANG_GUARD`]). What a readiness event says, and like it this consumes nothing: a peek
/// would take a pending reset (Linux reports it once).
pub fn wait_readable(sock: &TcpStream) {
    use std::os::fd::AsRawFd;
    let mut poll = mio::Poll::new().expect("epoll");
    let fd = sock.as_raw_fd();
    let mut source = mio::unix::SourceFd(&fd);
    poll.registry().register(&mut source, mio::Token(0), mio::Interest::READABLE).expect("register");
    let mut events = mio::Events::with_capacity(4);
    poll.poll(&mut events, Some(HANG_GUARD)).expect("epoll_wait");
    assert!(!events.is_empty(), "nothing to read within {HANG_GUARD:?}");
    poll.registry().deregister(&mut source).expect("deregister");
}
