//! TLS sessions under injected system-call faults (`connseq::sys::fault`, built with the
//! test-only `fault-injection` feature): the table of `tests/faults.rs`, on TLS termination
//! (a rustls client, the proxy's TLS on the client side, a plain echo server) and on TLS
//! origination (a plain client, the proxy's TLS on the server side, a rustls echo server).
//!
//! A TLS session reads and writes its records through `connseq-tls`'s socket seam, which the
//! runtime fills with the `sys` room's calls (`sys::socket::TlsSocketIo`); their fault points
//! are `Call::TlsRecv` and `Call::TlsSend`, so a rule can strike the TLS layer alone. Faults:
//! EAGAIN on any call, short reads and writes of any size, ENOBUFS and ENOMEM on a TLS send,
//! ECONNRESET and EPIPE in the middle of a TLS send, ECONNRESET and ETIMEDOUT on a TLS receive,
//! the plain server's reset while the TLS sends to the client meet a full socket.
//!
//! Every session sends a pattern stream to the echo server through the proxy and reads the
//! echo back; each peer hashes what it received (SHA-256) and records how its input ended
//! (close_notify then FIN on TLS, FIN on TCP). Every session must end in order, with the
//! termination code its fault explains, and lose nothing that must arrive:
//! - `--`: the client got its whole stream back, then a clean end; a server connection got
//!   the whole stream, then a clean end;
//! - `SD` or `SL` (a send to or receive from the server failed): the client got exactly the
//!   bytes the proxy wrote to it (the records rustls still held included), then a clean end,
//!   or on TLS a FIN without close_notify where the server's input ended in a reset;
//! - `CD` or `CL` (the same on the client's side): a server connection got exactly the bytes
//!   the proxy wrote to it, then a clean end.
//!
//! Where a fault strikes the handshake, the session ends with the code of the side and the
//! phase (`CR` on the client side, `SC` on the server side) and no application byte moved.
//!
//! The faults are process-wide, so the tests take turns.

mod common;
mod peers;

use common::stream::{pattern, pattern_sha256, server_socket, MIB};
use common::{wait_until, HANG_GUARD};
use connseq::config::{
    BackTls, BackendConfig, GlobalConfig, ListenerConfig, ListenerOptions, ProxyConfig, ServerConfig, ServerVerify,
};
use connseq::runtime::{self, Options, RunningProxy, SessionRecord};
use connseq::sys::fault::{self, Call, Fault, Plan, Rule};
use connseq_model::core::SpliceMode;
use connseq_tls::rustls;
use mio::{Events, Interest, Poll, Token};
use peers::Cert;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Sessions per test, at once.
const SESSIONS: usize = 6;
/// Bytes each client sends (and gets back).
const LEN: usize = MIB + 4321;

/// Which side of the proxy speaks TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The client side: the proxy terminates TLS.
    Termination,
    /// The server side: the proxy originates TLS.
    Origination,
}

impl Mode {
    /// The first letter of a code blaming the TLS side.
    fn tls_side(self) -> char {
        match self {
            Mode::Termination => 'C',
            Mode::Origination => 'S',
        }
    }
}

fn seed(test: u64) -> u64 {
    let seed = std::env::var("CONNSEQ_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x7150_0000 + test);
    eprintln!("fault seed {seed} (CONNSEQ_FAULT_SEED={seed} repeats it)");
    seed
}

fn config(mode: Mode, cert: &Cert, server: SocketAddr) -> ProxyConfig {
    let mut backend = BackendConfig::new("app", vec![ServerConfig { addr: server, maxconn: 0 }]);
    backend.retries = 0;
    backend.timeouts.turn_around = Duration::ZERO;
    let mut options = ListenerOptions { splice: SpliceMode::Never, ..ListenerOptions::default() };
    match mode {
        Mode::Termination => options.tls = Some(cert.front(&[])),
        Mode::Origination => {
            backend.tls =
                Some(BackTls { verify: ServerVerify::Ca(cert.ca()), sni: Some("localhost".into()), alpn: Vec::new() })
        }
    }
    let listener = ListenerConfig {
        name: "faults-tls".into(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        backend,
        timeouts: Default::default(),
        maxconn: 0,
        options,
    };
    let global = GlobalConfig { threads: 1, splice: SpliceMode::Never, ..GlobalConfig::default() };
    ProxyConfig { listeners: vec![listener], global }
}

/// How a peer's input ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    /// In order: a FIN on TCP; close_notify, then a FIN, on TLS.
    Clean,
    /// TLS only: a FIN with no close_notify before it.
    Truncated,
    /// An error: a reset, a TLS alert, a broken record.
    Failed(String),
    /// Nothing came for the hang guard's time: the proxy left the peer waiting.
    Silent,
}

/// What a peer received: how many bytes, their SHA-256, and how the input ended.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Saw {
    got: u64,
    sha: [u8; 32],
    end: End,
}

impl Saw {
    /// Exactly the first `n` bytes of stream `seed`, then a clean end.
    fn is_clean_prefix(&self, seed: u64, n: u64) -> bool {
        self.got == n && self.end == End::Clean && self.sha == pattern_sha256(seed, n as usize)
    }

    /// Exactly the first `n` bytes of stream `seed`, then an end in order: a clean one, or a
    /// FIN without close_notify (what a TLS client gets when the server's input to it ended
    /// in a reset: the proxy does not vouch for an end it did not see).
    fn is_prefix_in_order(&self, seed: u64, n: u64) -> bool {
        self.got == n && matches!(self.end, End::Clean | End::Truncated) && self.sha == pattern_sha256(seed, n as usize)
    }
}

/// What goes out of a TLS peer.
enum Out {
    /// `len` bytes of stream `seed`, then close_notify and a FIN.
    Pattern { seed: u64, len: usize },
    /// What came in; once the input ended, close_notify and a FIN.
    Echo,
}

/// Drives one rustls connection over a non-blocking socket until its input ended and its
/// output is closed (or can no longer be written): a real TLS peer of the proxy that reads and
/// writes at once. The socket calls are the standard library's, so no injected fault strikes
/// the peer.
fn tls_peer(conn: rustls::Connection, sock: TcpStream, out: Out) -> Saw {
    // rustls's debug assertions may fire on a broken record stream (a second fatal alert):
    // that is what the peer saw, not a failure of the test's own.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drive_tls_peer(conn, sock, out))).unwrap_or_else(|_| Saw {
        got: 0,
        sha: [0; 32],
        end: End::Failed("rustls panicked on what it received".into()),
    })
}

fn drive_tls_peer(mut conn: rustls::Connection, sock: TcpStream, out: Out) -> Saw {
    sock.set_nonblocking(true).expect("non-blocking");
    let mut sock = mio::net::TcpStream::from_std(sock);
    let mut poll = Poll::new().expect("a poller");
    poll.registry().register(&mut sock, Token(0), Interest::READABLE | Interest::WRITABLE).expect("register");
    let mut events = Events::with_capacity(4);
    let mut hash = Sha256::new();
    let mut got = 0u64;
    let mut end: Option<End> = None;
    let mut echo: Vec<u8> = Vec::new();
    let mut sent = 0usize;
    let mut chunk = vec![0u8; 16 * 1024];
    let (mut notified, mut shut, mut write_dead) = (false, false, false);
    let saw = |got, hash: Sha256, end| Saw { got, sha: hash.finalize().into(), end };
    loop {
        let mut progress = false;
        // In: records from the socket, plaintext out of rustls, until the socket is empty.
        while end.is_none() {
            let tcp_eof = match conn.read_tls(&mut sock) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    end = Some(End::Failed(e.to_string()));
                    break;
                }
            };
            progress = true;
            if let Err(e) = conn.process_new_packets() {
                let _ = conn.write_tls(&mut sock);
                end = Some(End::Failed(format!("TLS: {e}")));
                break;
            }
            let mut buf = [0u8; 16 * 1024];
            loop {
                match conn.reader().read(&mut buf) {
                    Ok(0) => end = Some(End::Clean),
                    Ok(n) => {
                        hash.update(&buf[..n]);
                        got += n as u64;
                        if matches!(out, Out::Echo) {
                            echo.extend_from_slice(&buf[..n]);
                        }
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => end = Some(End::Truncated),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && tcp_eof => end = Some(End::Truncated),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => end = Some(End::Failed(e.to_string())),
                }
                break;
            }
        }
        if matches!(end, Some(End::Failed(_))) {
            return saw(got, hash, end.expect("set above"));
        }
        // Out: plaintext into rustls (it takes what its buffer limit allows), then close_notify.
        if !write_dead && !notified {
            match out {
                Out::Pattern { seed, len } => {
                    while sent < len {
                        let n = chunk.len().min(len - sent);
                        for (k, b) in chunk[..n].iter_mut().enumerate() {
                            *b = pattern(seed, (sent + k) as u64);
                        }
                        let taken = conn.writer().write(&chunk[..n]).expect("rustls takes plaintext");
                        if taken == 0 {
                            break;
                        }
                        sent += taken;
                        progress = true;
                    }
                    if sent == len {
                        conn.send_close_notify();
                        notified = true;
                    }
                }
                Out::Echo => {
                    if !echo.is_empty() {
                        let taken = conn.writer().write(&echo).expect("rustls takes plaintext");
                        echo.drain(..taken);
                        progress |= taken > 0;
                    }
                    if echo.is_empty() && end.is_some() {
                        conn.send_close_notify();
                        notified = true;
                    }
                }
            }
        }
        while !write_dead && conn.wants_write() {
            match conn.write_tls(&mut sock) {
                Ok(_) => progress = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // The proxy gave up on this peer: what came in says why (read again: the
                // socket's error may have been this send's, with no readiness edge after it).
                Err(_) => {
                    write_dead = true;
                    progress = true;
                }
            }
        }
        if notified && !conn.wants_write() && !shut && !write_dead {
            let _ = sock.shutdown(Shutdown::Write);
            shut = true;
        }
        if let Some(end) = &end {
            // Done once the output is closed too, or can never be (a handshake cut short).
            if shut || write_dead || conn.is_handshaking() {
                return saw(got, hash, end.clone());
            }
        }
        if !progress {
            poll.poll(&mut events, Some(HANG_GUARD)).expect("poll");
            if events.is_empty() {
                return saw(got, hash, End::Silent);
            }
        }
    }
}

/// A plain peer's reading side: hashes what comes until EOF or an error.
fn plain_read(s: &mut TcpStream, mut echo: Option<&mut TcpStream>) -> Saw {
    let mut buf = vec![0u8; 64 * 1024];
    let mut hash = Sha256::new();
    let mut got = 0u64;
    let end = loop {
        match s.read(&mut buf) {
            Ok(0) => break End::Clean,
            Ok(n) => {
                hash.update(&buf[..n]);
                got += n as u64;
                if let Some(w) = echo.as_mut() {
                    if let Err(e) = w.write_all(&buf[..n]) {
                        break End::Failed(format!("echo: {e}"));
                    }
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => break End::Silent,
            Err(e) => break End::Failed(e.to_string()),
        }
    };
    Saw { got, sha: hash.finalize().into(), end }
}

/// A plain echo server: what each connection received, until `n` connections were served.
fn plain_echo_server(l: TcpListener, n: usize) -> JoinHandle<Vec<Saw>> {
    thread::spawn(move || {
        let conns: Vec<_> = (0..n)
            .map_while(|_| l.accept().ok())
            .map(|(mut s, _)| {
                thread::spawn(move || {
                    s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
                    let mut w = s.try_clone().expect("clone");
                    let saw = plain_read(&mut s, Some(&mut w));
                    let _ = s.shutdown(Shutdown::Write);
                    saw
                })
            })
            .collect();
        conns.into_iter().map(|h| h.join().expect("an echo thread")).collect()
    })
}

/// A TLS echo server on rustls with `cert`.
fn tls_echo_server(l: TcpListener, n: usize, cert: &Cert) -> JoinHandle<Vec<Saw>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert.cert())
        .expect("read cert.pem")
        .collect::<Result<_, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(cert.key()).expect("read key.pem");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("a server configuration"),
    );
    thread::spawn(move || {
        let conns: Vec<_> = (0..n)
            .map_while(|_| l.accept().ok())
            .map(|(s, _)| {
                let conn = rustls::ServerConnection::new(config.clone()).expect("a TLS server");
                thread::spawn(move || tls_peer(conn.into(), s, Out::Echo))
            })
            .collect();
        conns.into_iter().map(|h| h.join().expect("an echo thread")).collect()
    })
}

/// What one client saw.
#[derive(Debug)]
struct Client {
    addr: SocketAddr,
    seed: u64,
    saw: Saw,
}

/// One client: sends its stream and closes its output while it reads the echo.
fn client(mode: Mode, proxy: SocketAddr, seed: u64, cert: &Cert) -> JoinHandle<Client> {
    let tls = (mode == Mode::Termination).then(|| cert.client_config());
    thread::spawn(move || {
        let mut s = TcpStream::connect(proxy).expect("connect to the proxy");
        let addr = s.local_addr().expect("local address");
        let saw = match tls {
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
                let conn = rustls::ClientConnection::new(config, name).expect("a TLS client");
                tls_peer(conn.into(), s, Out::Pattern { seed, len: LEN })
            }
            None => {
                s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
                let mut w = s.try_clone().expect("clone");
                // The writer may fail when the proxy gave up on this client: what came back says why.
                let writer = thread::spawn(move || {
                    let _ = common::stream::write_pattern(&mut w, seed, LEN);
                    let _ = w.shutdown(Shutdown::Write);
                });
                let saw = plain_read(&mut s, None);
                writer.join().expect("the writer");
                saw
            }
        };
        Client { addr, seed, saw }
    })
}

/// Runs [`SESSIONS`] sessions of `mode` under `rules` and checks every session by its code
/// (see the module's doc); returns the records and the strike counts.
fn run(test: u64, mode: Mode, rules: Vec<Rule>) -> (Vec<SessionRecord>, Vec<u64>) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cert = Cert::new();
    let (l, server) = server_socket();
    let servers = match mode {
        Mode::Termination => plain_echo_server(l, SESSIONS),
        Mode::Origination => tls_echo_server(l, SESSIONS, &cert),
    };
    let options = Options { record_sessions: true, ..Options::default() };
    let mut proxy: RunningProxy = runtime::spawn_with(&config(mode, &cert, server), options).expect("start");
    let addr = proxy.addrs()[0];
    let installed = fault::install(Plan { seed: seed(test), rules });
    let clients: Vec<_> = (0..SESSIONS).map(|i| client(mode, addr, test * 100 + i as u64, &cert)).collect();
    let clients: Vec<Client> = clients.into_iter().map(|c| c.join().expect("a client")).collect();
    wait_until("every session ended", || proxy.stats().ended >= SESSIONS as u64);
    let struck = installed.struck();
    drop(installed);
    proxy.shutdown().expect("the proxy stops");
    let records = proxy.take_records();
    // The echo server waits for one connection per session; sessions that never reached it
    // are stood in for by empty ones.
    while !servers.is_finished() {
        drop(TcpStream::connect(server));
        thread::sleep(Duration::from_millis(1));
    }
    let served = servers.join().expect("the echo server");
    eprintln!(
        "{mode:?}: struck {struck:?}; codes {:?}",
        records.iter().map(|r| r.termination.to_string()).collect::<Vec<_>>()
    );
    check(&records, &clients, &served);
    (records, struck)
}

/// Every session's code explains what its peers saw.
fn check(records: &[SessionRecord], clients: &[Client], served: &[Saw]) {
    assert_eq!(records.len(), SESSIONS, "one record per session");
    for r in records {
        let c = clients.iter().find(|c| c.addr == r.client).expect("each record is a client's");
        let server_got = |n: u64| served.iter().any(|s| s.is_clean_prefix(c.seed, n));
        assert!(c.saw.end != End::Silent, "{r:?}: the client was left waiting: {c:?}");
        match r.termination.to_string().as_str() {
            "--" => {
                assert!(c.saw.is_clean_prefix(c.seed, LEN as u64), "{r:?}: the whole echo, then a clean end: {c:?}");
                assert!(server_got(LEN as u64), "{r:?}: the server got the whole stream, then a clean end: {served:?}");
                assert_eq!((r.to_server, r.to_client), (LEN as u64, LEN as u64), "{r:?}");
            }
            "SD" | "SL" => assert!(
                c.saw.is_prefix_in_order(c.seed, r.to_client),
                "{r:?}: the client got what the proxy wrote to it, then an end in order: {c:?}"
            ),
            "CD" | "CL" => assert!(
                server_got(r.to_server),
                "{r:?}: no server connection got exactly {} bytes, then a clean end: {served:?}",
                r.to_server
            ),
            // A fault in the handshake, or on the client's side while the proxy connects to
            // the server: the session ends there, before any application byte moved.
            "CR" | "SC" | "CC" => {
                assert_eq!((r.to_server, r.to_client, c.saw.got), (0, 0, 0), "{r:?}: no byte moved: {c:?}");
            }
            other => panic!("{r:?}: unexpected code {other}: {c:?}"),
        }
    }
}

fn failed(records: &[SessionRecord]) -> Vec<String> {
    records.iter().map(|r| r.termination.to_string()).filter(|c| c != "--").collect()
}

fn all_normal(records: &[SessionRecord]) {
    assert!(failed(records).is_empty(), "every session ends normally: {:?}", failed(records));
}

#[test]
fn eagain_on_every_call_of_a_tls_session_delays_but_loses_nothing() {
    for (i, mode) in [Mode::Termination, Mode::Origination].into_iter().enumerate() {
        let eagain = |call| Rule::new(call, Fault::Errno(libc::EAGAIN), 300);
        let rules = vec![eagain(Call::TlsRecv), eagain(Call::TlsSend), eagain(Call::Recv), eagain(Call::Send)];
        let (records, struck) = run(1 + i as u64, mode, rules);
        all_normal(&records);
        assert!(struck.iter().all(|&n| n > 0), "the TLS layer's calls and the plain ones were struck: {struck:?}");
    }
}

#[test]
fn short_tls_reads_and_writes_of_any_size_lose_nothing() {
    for (i, mode) in [Mode::Termination, Mode::Origination].into_iter().enumerate() {
        let short = |call| Rule::new(call, Fault::Short(4096), 500);
        let rules = vec![short(Call::TlsRecv), short(Call::TlsSend), short(Call::Recv), short(Call::Send)];
        let (records, struck) = run(10 + i as u64, mode, rules);
        all_normal(&records);
        assert!(struck[..2].iter().all(|&n| n > 100), "the TLS layer's calls were cut short: {struck:?}");
    }
}

/// `errno` on a TLS record send or receive (`call`), at most twice: each strike ends at most
/// one session, in order, with a code that blames the TLS side.
fn a_failed_tls_call_ends_that_session_in_order(test: u64, mode: Mode, call: Call, errno: i32) {
    let rules = vec![Rule::new(call, Fault::Errno(errno), 50).at_most(2)];
    let (records, struck) = run(test, mode, rules);
    let failed = failed(&records);
    assert!(
        !failed.is_empty() && failed.len() as u64 <= struck[0],
        "a session ends per fault at most: {failed:?} {struck:?}"
    );
    assert!(failed.iter().all(|c| c.starts_with(mode.tls_side())), "{mode:?}: the TLS side is blamed: {failed:?}");
}

#[test]
fn enobufs_or_enomem_on_a_tls_send_ends_that_session_in_order() {
    let mut n = 0;
    for mode in [Mode::Termination, Mode::Origination] {
        for errno in [libc::ENOBUFS, libc::ENOMEM] {
            n += 1;
            a_failed_tls_call_ends_that_session_in_order(20 + n, mode, Call::TlsSend, errno);
        }
    }
}

#[test]
fn econnreset_or_epipe_in_the_middle_of_a_tls_send_ends_that_session_in_order() {
    let mut n = 0;
    for mode in [Mode::Termination, Mode::Origination] {
        for errno in [libc::ECONNRESET, libc::EPIPE] {
            n += 1;
            a_failed_tls_call_ends_that_session_in_order(30 + n, mode, Call::TlsSend, errno);
        }
    }
}

/// A receive of TLS records fails the way a reset connection's or a dead peer's does
/// (`ECONNRESET`; `ETIMEDOUT`, keepalive's verdict): the session ends in order, the other
/// peer gets what the proxy took, then a clean end.
#[test]
fn econnreset_or_etimedout_on_a_tls_receive_ends_that_session_in_order() {
    let mut n = 0;
    for mode in [Mode::Termination, Mode::Origination] {
        for errno in [libc::ECONNRESET, libc::ETIMEDOUT] {
            n += 1;
            a_failed_tls_call_ends_that_session_in_order(40 + n, mode, Call::TlsRecv, errno);
        }
    }
}

/// The TLS side of `tests/faults.rs`'s EPIPE test: the proxy's TLS send of the server's answer
/// to the client meets the client's RST first as EPIPE (the RST came after its FIN; the fault
/// layer stands in for the RST landing between the poller's report and the send, which no
/// test can arrange on loopback). The errno comes back through the TLS seam, and the input
/// stays open: what the client sent before its end still reaches the server.
#[test]
fn after_a_tls_send_meets_epipe_the_rest_of_the_request_still_reaches_the_server() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cert = Cert::new();
    let (l, server) = server_socket();
    let srv = common::AnsweringServer::start(l);
    let options = Options { record_sessions: true, ..Options::default() };
    let mut proxy = runtime::spawn_with(&config(Mode::Termination, &cert, server), options).expect("start");
    let sock = TcpStream::connect(proxy.addrs()[0]).expect("connect to the proxy");
    sock.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let conn = rustls::ClientConnection::new(cert.client_config(), name).expect("a client");
    let mut c = rustls::StreamOwned::new(conn, sock);
    c.write_all(b"req").expect("the request");
    c.flush().expect("flush");
    srv.asked.recv().expect("the request reached the server");
    let installed = fault::install(Plan {
        seed: 1,
        rules: vec![Rule::new(Call::TlsSend, Fault::Errno(libc::EPIPE), 1000).at_most(1)],
    });
    srv.go.send(()).expect("the server answers");
    wait_until("the answer's TLS send failed", || installed.struck() == [1]);
    drop(installed);
    // A proxy that gave the client up resets these: the server's read says so.
    let _ = c.write_all(b" and the rest");
    c.conn.send_close_notify();
    let _ = c.flush();
    let _ = c.sock.shutdown(Shutdown::Write);
    let after = srv.after.join().expect("the server");
    drop(c);
    wait_until("the session ended", || proxy.live_sessions() == 0);
    proxy.shutdown().expect("the proxy stops");
    let r = proxy.take_records().pop().expect("the session's record");
    assert_eq!(after, Ok(b" and the rest".to_vec()), "{r:?}");
}

/// The server's side fails (ECONNRESET on a receive from the plain server) while the proxy's
/// TLS sends to the client often meet a full socket (EAGAIN): what rustls took but could not
/// yet write is still the client's. The client gets every byte the proxy counted as sent to it
/// (the records rustls held included), then a FIN without close_notify; a channel taken for
/// drained while rustls held records would shut the socket under them.
#[test]
fn a_server_reset_behind_full_tls_sends_loses_none_of_the_records_rustls_holds() {
    let rules = vec![
        Rule::new(Call::TlsSend, Fault::Errno(libc::EAGAIN), 500),
        Rule::new(Call::Recv, Fault::Errno(libc::ECONNRESET), 20).at_most(3),
    ];
    let (records, struck) = run(60, Mode::Termination, rules);
    let failed = failed(&records);
    assert!(failed.iter().any(|c| c.starts_with('S')), "a server side failed: {failed:?} {struck:?}");
    assert!(struck[0] > 100, "the TLS sends met a full socket: {struck:?}");
}
