//! The proxy's bulk transfers under injected system-call faults (`connseq::sys::fault`, built
//! with the test-only `fault-injection` feature): EAGAIN on any call, short reads and writes,
//! ENOBUFS and ENOMEM on send, EMFILE and ENFILE on accept and on the server connect,
//! ECONNABORTED and EINTR on accept, ECONNRESET and EPIPE in the middle of a send or a splice,
//! splice answering EINVAL (the fallback to buffers), a pipe that cannot grow, no pipe at all,
//! a PROXY header whose send fails, a send that meets the client's reset before the poller
//! reported it, a drain that meets it.
//!
//! Each test runs sessions that each send a pattern stream through the proxy to an echo
//! server and read the echo back, with the faults striking at random points drawn from a
//! seed (printed; `CONNSEQ_FAULT_SEED=N` repeats a run's choices, as far as the threads'
//! timing lets). Every session must end in order, with the termination code its fault
//! explains, and lose nothing that must arrive:
//! - `--`: the client got its whole stream back, intact, then EOF;
//! - `SD` or `SL` (a send to or receive from the server failed, with data flowing or while
//!   closing): the client got exactly the bytes the proxy wrote to it, intact, then a clean EOF;
//! - `CD` or `CL` (the same on the client's side): the server got exactly the bytes the proxy
//!   wrote to it, then an EOF, or an RST where the proxy closed with the server's echo unread
//!   (the kernel's answer to a close with unread data);
//! - `RC` (no socket for the server) or `SC` (the connect failed): the client got nothing and
//!   a clean EOF.
//!
//! The faults are process-wide, so the tests take turns.

mod common;

use common::stream::{pattern, server_socket, write_pattern, MIB};
use common::{wait_until, HANG_GUARD};
use connseq::config::{BackendConfig, GlobalConfig, ListenerConfig, ListenerOptions, ProxyConfig, ServerConfig};
use connseq::runtime::{self, Options, RunningProxy, SessionRecord};
use connseq::sys::fault::{self, Call, Fault, Plan, Rule};
use connseq_model::core::SpliceMode;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::thread::{self, JoinHandle};
use std::time::Duration;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The log lines that name one of `records`' clients and contain `needle`.
fn logged(records: &[SessionRecord], needle: &str) -> usize {
    let clients: Vec<String> = records.iter().map(|r| format!("{}: ", r.client)).collect();
    common::logs::lines_with(needle).iter().filter(|l| clients.iter().any(|c| l.contains(c.as_str()))).count()
}

/// Sessions per test, at once.
const SESSIONS: usize = 6;
/// Bytes each client sends (and gets back).
const LEN: usize = MIB + 4321;

fn seed(test: u64) -> u64 {
    let seed = std::env::var("CONNSEQ_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_0000 + test);
    eprintln!("fault seed {seed} (CONNSEQ_FAULT_SEED={seed} repeats it)");
    seed
}

fn config(server: SocketAddr, splice: SpliceMode, pipe_size: Option<usize>) -> ProxyConfig {
    let mut backend = BackendConfig::new("app", vec![ServerConfig { addr: server, maxconn: 0 }]);
    backend.retries = 0;
    backend.timeouts.turn_around = Duration::ZERO;
    let listener = ListenerConfig {
        name: "faults".into(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        backend,
        timeouts: Default::default(),
        maxconn: 0,
        options: ListenerOptions { splice, ..ListenerOptions::default() },
    };
    let global = GlobalConfig { threads: 1, splice, pipe_size, ..GlobalConfig::default() };
    ProxyConfig { listeners: vec![listener], global }
}

/// What one client saw: the echo bytes it read (checked against its stream as they came) and
/// how its read ended.
#[derive(Debug)]
struct ClientSaw {
    client: SocketAddr,
    got: u64,
    end: Result<(), io::ErrorKind>,
}

/// What one server connection received: the bytes read, and how its reads ended (a clean
/// EOF, or the error that ended them).
#[derive(Debug)]
struct Echoed {
    got: u64,
    end: Result<(), io::ErrorKind>,
}

/// An echo server that keeps what each connection received. Once an echo cannot be written
/// (the proxy reset the connection) it stops echoing and reads on, so that every byte that
/// arrived before the end is counted.
fn echo_server(l: TcpListener, n: usize) -> JoinHandle<Vec<Echoed>> {
    thread::spawn(move || {
        let conns: Vec<_> = (0..n)
            .map_while(|_| l.accept().ok())
            .map(|(mut s, _)| {
                thread::spawn(move || {
                    s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
                    let mut buf = vec![0u8; 64 * 1024];
                    let (mut got, mut echoing) = (0u64, true);
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) => {
                                let _ = s.shutdown(Shutdown::Write);
                                break Echoed { got, end: Ok(()) };
                            }
                            Ok(n) => {
                                got += n as u64;
                                echoing = echoing && s.write_all(&buf[..n]).is_ok();
                            }
                            Err(e) => break Echoed { got, end: Err(e.kind()) },
                        }
                    }
                })
            })
            .collect();
        conns.into_iter().map(|h| h.join().expect("an echo thread")).collect()
    })
}

/// One client: sends its stream and half-closes while it reads the echo, checking each byte.
fn client(addr: SocketAddr, seed: u64) -> JoinHandle<ClientSaw> {
    thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect to the proxy");
        s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
        let me = s.local_addr().expect("local address");
        let mut w = s.try_clone().expect("clone");
        // The writer may fail when the proxy gave up on this client: what came back says why.
        let writer = thread::spawn(move || {
            let _ = write_pattern(&mut w, seed, LEN);
            let _ = w.shutdown(Shutdown::Write);
        });
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        let end = loop {
            match s.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    for &b in &buf[..n] {
                        assert_eq!(b, pattern(seed, got), "byte {got} of the echo to {me} is wrong");
                        got += 1;
                    }
                }
                Err(e) => break Err(e.kind()),
            }
        };
        writer.join().expect("the writer");
        ClientSaw { client: me, got, end }
    })
}

/// Runs [`SESSIONS`] sessions through a proxy of `splice` mode under `rules` and checks every
/// session by its code (see the module's doc); returns the records and the strike counts.
fn run(test: u64, splice: SpliceMode, pipe_size: Option<usize>, rules: Vec<Rule>) -> (Vec<SessionRecord>, Vec<u64>) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    common::logs::capture();
    let (l, server) = server_socket();
    let echoes = echo_server(l, SESSIONS);
    let options = Options { record_sessions: true, ..Options::default() };
    let mut proxy: RunningProxy = runtime::spawn_with(&config(server, splice, pipe_size), options).expect("start");
    let addr = proxy.addrs()[0];
    let installed = fault::install(Plan { seed: seed(test), rules });
    let clients: Vec<_> = (0..SESSIONS).map(|i| client(addr, test * 100 + i as u64)).collect();
    let saw: Vec<ClientSaw> = clients.into_iter().map(|c| c.join().expect("a client")).collect();
    wait_until("every session ended", || proxy.stats().ended >= SESSIONS as u64);
    let struck = installed.struck();
    drop(installed);
    proxy.shutdown().expect("the proxy stops");
    let records = proxy.take_records();
    // The echo server waits for one connection per session; sessions that never reached it
    // (RC) are stood in for by empty ones.
    while !echoes.is_finished() {
        drop(TcpStream::connect(server));
        thread::sleep(Duration::from_millis(1));
    }
    let echoed = echoes.join().expect("the echo server");
    check(&records, &saw, &echoed);
    eprintln!(
        "struck {struck:?}; codes {:?}; {} spliced bytes",
        records.iter().map(|r| r.termination.to_string()).collect::<Vec<_>>(),
        proxy.stats().spliced
    );
    (records, struck)
}

/// Every session's code explains what its peers saw.
fn check(records: &[SessionRecord], saw: &[ClientSaw], echoed: &[Echoed]) {
    assert_eq!(records.len(), SESSIONS, "one record per session");
    for r in records {
        let c = saw.iter().find(|c| c.client == r.client).expect("each record is a client's");
        match r.termination.to_string().as_str() {
            "--" => {
                assert_eq!((c.got, c.end), (LEN as u64, Ok(())), "{r:?}: the whole echo, then EOF");
                assert_eq!((r.to_server, r.to_client), (LEN as u64, LEN as u64), "{r:?}");
            }
            "SD" | "SL" => assert_eq!((c.got, c.end), (r.to_client, Ok(())), "{r:?}: what the proxy wrote, then EOF"),
            // The proxy closes the server's side with the server's echo possibly unread in
            // its socket: the kernel then sends an RST, not a FIN (a close with unread data),
            // which the server reads after every byte that came before it.
            "CD" | "CL" => assert!(
                echoed
                    .iter()
                    .any(|e| e.got == r.to_server && matches!(e.end, Ok(()) | Err(io::ErrorKind::ConnectionReset))),
                "{r:?}: no server connection got exactly {} bytes then its end: {echoed:?}",
                r.to_server
            ),
            "RC" | "SC" => assert_eq!((c.got, c.end, r.to_server), (0, Ok(()), 0), "{r:?}: nothing, then EOF"),
            other => panic!("{r:?}: unexpected code {other}"),
        }
    }
}

fn codes(records: &[SessionRecord]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(|r| r.termination.to_string()).collect();
    v.sort();
    v
}

fn all_normal(records: &[SessionRecord]) {
    assert_eq!(codes(records), vec!["--".to_string(); SESSIONS], "every session ends normally");
}

#[test]
fn eagain_on_every_kind_of_call_delays_but_loses_nothing() {
    for (i, splice) in [SpliceMode::Never, SpliceMode::Always].into_iter().enumerate() {
        let eagain = |call| Rule::new(call, Fault::Errno(libc::EAGAIN), 300);
        let rules = vec![
            eagain(Call::Recv),
            eagain(Call::Send),
            eagain(Call::SpliceIn),
            eagain(Call::SpliceOut),
            eagain(Call::Accept),
        ];
        let (records, struck) = run(1 + i as u64, splice, None, rules);
        all_normal(&records);
        // Through buffers every byte meets recv and send; through pipes, splice.
        let data_path = if splice == SpliceMode::Always { &struck[2..4] } else { &struck[0..2] };
        assert!(data_path.iter().all(|&n| n > 0) && struck[4] > 0, "{struck:?}");
    }
}

#[test]
fn short_reads_and_writes_of_any_size_lose_nothing() {
    for (i, splice) in [SpliceMode::Never, SpliceMode::Always].into_iter().enumerate() {
        let short = |call| Rule::new(call, Fault::Short(4096), 500);
        let rules = vec![short(Call::Recv), short(Call::Send), short(Call::SpliceIn), short(Call::SpliceOut)];
        let (records, struck) = run(10 + i as u64, splice, None, rules);
        all_normal(&records);
        assert!(struck.iter().sum::<u64>() > 100, "{struck:?}");
    }
}

#[test]
fn enobufs_or_enomem_on_a_send_ends_that_session_in_order() {
    for (i, errno) in [libc::ENOBUFS, libc::ENOMEM].into_iter().enumerate() {
        let rules = vec![Rule::new(Call::Send, Fault::Errno(errno), 10).at_most(2)];
        let (records, struck) = run(20 + i as u64, SpliceMode::Never, None, rules);
        let failed = records.iter().filter(|r| r.termination.to_string() != "--").count() as u64;
        assert!(
            failed >= 1 && failed <= struck[0],
            "a session ends per fault at most: {:?} {struck:?}",
            codes(&records)
        );
    }
}

#[test]
fn econnreset_or_epipe_in_the_middle_of_a_send_or_a_splice_ends_that_session_in_order() {
    let mut n = 0;
    for splice in [SpliceMode::Never, SpliceMode::Always] {
        for errno in [libc::ECONNRESET, libc::EPIPE] {
            let call = if splice == SpliceMode::Always { Call::SpliceOut } else { Call::Send };
            let rules = vec![Rule::new(call, Fault::Errno(errno), 10).at_most(2)];
            n += 1;
            let (records, struck) = run(30 + n, splice, None, rules);
            let failed = records.iter().filter(|r| r.termination.to_string() != "--").count() as u64;
            assert!(
                failed >= 1 && failed <= struck[0],
                "a session ends per fault at most: {:?} {struck:?}",
                codes(&records)
            );
        }
    }
}

/// The same on the receiving side: a reset met by a `recv` or by a splice into an empty pipe
/// ends that session in order (a splice's error other than "unsupported" is no reason to fall
/// back to the buffers).
#[test]
fn econnreset_in_the_middle_of_a_recv_or_a_splice_in_ends_that_session_in_order() {
    for (i, (splice, call)) in
        [(SpliceMode::Never, Call::Recv), (SpliceMode::Always, Call::SpliceIn)].into_iter().enumerate()
    {
        let rules = vec![Rule::new(call, Fault::Errno(libc::ECONNRESET), 10).at_most(2)];
        let (records, struck) = run(35 + i as u64, splice, None, rules);
        let failed = records.iter().filter(|r| r.termination.to_string() != "--").count() as u64;
        assert!(
            failed >= 1 && failed <= struck[0],
            "{call:?}: a session ends per fault at most: {:?} {struck:?}",
            codes(&records)
        );
    }
}

#[test]
fn emfile_or_enfile_on_accept_pauses_and_then_serves_everyone() {
    for (i, errno) in [libc::EMFILE, libc::ENFILE].into_iter().enumerate() {
        let rules = vec![Rule::new(Call::Accept, Fault::Errno(errno), 400).at_most(4)];
        let (records, struck) = run(40 + i as u64, SpliceMode::Auto, None, rules);
        all_normal(&records);
        assert!(struck[0] > 0, "{struck:?}");
    }
}

#[test]
fn emfile_or_enfile_on_the_server_connect_ends_with_rc() {
    for (i, errno) in [libc::EMFILE, libc::ENFILE].into_iter().enumerate() {
        let rules = vec![Rule::new(Call::Connect, Fault::Errno(errno), 1000).at_most(2)];
        let (records, struck) = run(50 + i as u64, SpliceMode::Auto, None, rules);
        assert_eq!(struck, vec![2]);
        let mut want = vec!["--".to_string(); SESSIONS - 2];
        want.extend(["RC".to_string(), "RC".to_string()]);
        want.sort();
        assert_eq!(codes(&records), want);
    }
}

/// A connect the kernel refuses at once for another reason than a lack of resources (no
/// route, the address unusable) is a failed connect to the server (`SC`), not a resource
/// shortage (`RC`). Loopback cannot produce these: a connect to it only ever fails later.
#[test]
fn a_connect_that_fails_at_once_without_a_resource_shortage_ends_with_sc() {
    for (i, errno) in [libc::ENETUNREACH, libc::EADDRNOTAVAIL].into_iter().enumerate() {
        let rules = vec![Rule::new(Call::Connect, Fault::Errno(errno), 1000).at_most(2)];
        let (records, struck) = run(55 + i as u64, SpliceMode::Auto, None, rules);
        assert_eq!(struck, vec![2]);
        let mut want = vec!["--".to_string(); SESSIONS - 2];
        want.extend(["SC".to_string(), "SC".to_string()]);
        want.sort();
        assert_eq!(codes(&records), want, "errno {errno}");
    }
}

#[test]
fn splice_answering_einval_falls_back_to_buffers() {
    let rules = vec![Rule::new(Call::SpliceIn, Fault::SpliceUnsupported, 1000)];
    let (records, struck) = run(60, SpliceMode::Always, None, rules);
    all_normal(&records);
    assert!(struck[0] >= SESSIONS as u64, "each session's first splice failed: {struck:?}");
    // Said as what it is: splice unsupported, not a lack of pipes.
    assert!(logged(&records, "splice not supported (") >= SESSIONS, "a warning per session");
    assert_eq!(logged(&records, ": no pipe ("), 0);
}

#[test]
fn a_pipe_that_cannot_grow_keeps_the_default_size() {
    let rules = vec![Rule::new(Call::PipeGrow, Fault::Errno(libc::EPERM), 1000)];
    let (records, struck) = run(70, SpliceMode::Always, Some(1 << 20), rules);
    all_normal(&records);
    assert!(struck[0] > 0, "{struck:?}");
}

#[test]
fn no_pipe_at_all_falls_back_to_buffers() {
    for (i, errno) in [libc::EMFILE, libc::ENFILE, libc::ENOMEM].into_iter().enumerate() {
        let rules = vec![Rule::new(Call::Pipe, Fault::Errno(errno), 1000)];
        let (records, struck) = run(80 + i as u64, SpliceMode::Always, None, rules);
        all_normal(&records);
        assert!(struck[0] > 0, "{struck:?}");
        // Said as what it is: no pipe, not splice unsupported.
        assert!(logged(&records, ": no pipe (") >= 1, "errno {errno}: a warning");
        assert_eq!(logged(&records, "splice not supported"), 0, "errno {errno}");
    }
}

/// The PROXY header is built at its first send and what a partial send leaves is kept for the
/// next: under short writes and EAGAIN on most sends, every server connection still starts with
/// one whole, valid v2 header (its CRC32C checked by the parser) naming its client, followed by
/// exactly that client's bytes. A real socket does not cut a header of a few dozen bytes on an
/// empty send queue; the fault layer does.
#[test]
fn a_proxy_header_sent_in_pieces_arrives_whole_before_the_data() {
    use connseq::config::{ProxyTlvs, ProxyVersion, SendProxy};
    use connseq_proxy_protocol::{self as pp, Addresses, Parsed};
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (l, server) = server_socket();
    let mut cfg = config(server, SpliceMode::Never, None);
    let tlvs = ProxyTlvs { unique_id: true, crc32c: true, ..ProxyTlvs::default() };
    cfg.listeners[0].backend.send_proxy = Some(SendProxy { version: ProxyVersion::V2, tlvs });
    // Each server connection: (the source its header named, the bytes after the header).
    let servers = thread::spawn(move || {
        (0..SESSIONS)
            .map(|_| {
                let (mut s, _) = l.accept().expect("the proxy connects");
                s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
                let mut got = Vec::new();
                s.read_to_end(&mut got).expect("read to the client's FIN");
                match pp::parse(&got) {
                    Ok(Parsed::Complete(h, len)) => {
                        let Addresses::Inet { src, .. } = h.addresses else { panic!("not an IPv4 header: {h:?}") };
                        (SocketAddr::V4(src), got[len..].to_vec())
                    }
                    other => panic!("the server connection does not start with a whole header: {other:?} in {got:?}"),
                }
            })
            .collect::<Vec<_>>()
    });
    let mut proxy = runtime::spawn_with(&cfg, Options::default()).expect("start");
    let addr = proxy.addrs()[0];
    let installed = fault::install(Plan {
        seed: seed(60),
        rules: vec![
            Rule::new(Call::Send, Fault::Errno(libc::EAGAIN), 300),
            Rule::new(Call::Send, Fault::Short(5), 900),
        ],
    });
    let clients: Vec<_> = (0..SESSIONS)
        .map(|i| {
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect to the proxy");
                s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
                let payload = format!("client {i} says hello through the proxy");
                s.write_all(payload.as_bytes()).expect("send");
                s.shutdown(Shutdown::Write).expect("half-close");
                let mut rest = Vec::new();
                s.read_to_end(&mut rest).expect("the proxy ends the session cleanly");
                (s.local_addr().expect("local address"), payload.into_bytes())
            })
        })
        .collect();
    let sent: Vec<_> = clients.into_iter().map(|c| c.join().expect("a client")).collect();
    let received = servers.join().expect("the server");
    let struck = installed.struck();
    drop(installed);
    proxy.shutdown().expect("the proxy stops");
    for (client, payload) in &sent {
        let (_, after) = received.iter().find(|(src, _)| src == client).expect("a header names each client");
        assert_eq!(after, payload, "the bytes after {client}'s header");
    }
    assert!(struck[1] > SESSIONS as u64, "the header's sends were cut: {struck:?}");
}

/// A send of the PROXY header that fails as a dead server's would (ECONNRESET, EPIPE) ends
/// that session as a failed send to the server: its client gets nothing and a clean EOF,
/// and the server's side of it is closed; every other session goes on.
#[test]
fn a_proxy_header_send_that_fails_ends_that_session_alone() {
    use connseq::config::{ProxyVersion, SendProxy};
    use connseq_proxy_protocol::{self as pp, Parsed};
    for (i, errno) in [libc::ECONNRESET, libc::EPIPE].into_iter().enumerate() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let (l, server) = server_socket();
        let mut cfg = config(server, SpliceMode::Never, None);
        cfg.listeners[0].backend.send_proxy = Some(SendProxy { version: ProxyVersion::V1, tlvs: Default::default() });
        // Each server connection echoes what follows its header; one whose header never
        // came reads nothing but the proxy's close.
        let servers = thread::spawn(move || {
            let conns: Vec<_> = (0..SESSIONS)
                .map(|_| {
                    let (mut s, _) = l.accept().expect("the proxy connects");
                    thread::spawn(move || -> io::Result<usize> {
                        s.set_read_timeout(Some(HANG_GUARD))?;
                        let mut got = Vec::new();
                        s.read_to_end(&mut got)?;
                        let Ok(Parsed::Complete(_, len)) = pp::parse(&got) else {
                            assert!(got.is_empty(), "a server connection without a whole header: {got:?}");
                            return Ok(0);
                        };
                        s.write_all(&got[len..])?;
                        Ok(got.len() - len)
                    })
                })
                .collect();
            conns.into_iter().map(|h| h.join().expect("a server connection")).collect::<Vec<_>>()
        });
        let options = Options { record_sessions: true, ..Options::default() };
        let mut proxy = runtime::spawn_with(&cfg, options).expect("start");
        let addr = proxy.addrs()[0];
        // The first send of all is a PROXY header: a session's data to its server follows
        // its header, and its data to the client follows the server's echo.
        let installed = fault::install(Plan {
            seed: seed(90 + i as u64),
            rules: vec![Rule::new(Call::Send, Fault::Errno(errno), 1000).at_most(1)],
        });
        let clients: Vec<_> = (0..SESSIONS)
            .map(|i| {
                thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).expect("connect to the proxy");
                    s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
                    let payload = format!("client {i}");
                    s.write_all(payload.as_bytes()).expect("send");
                    s.shutdown(Shutdown::Write).expect("half-close");
                    let mut echo = Vec::new();
                    let end = s.read_to_end(&mut echo).map(|_| ()).map_err(|e| e.kind());
                    (s.local_addr().expect("local address"), payload.into_bytes(), echo, end)
                })
            })
            .collect();
        let saw: Vec<_> = clients.into_iter().map(|c| c.join().expect("a client")).collect();
        wait_until("every session ended", || proxy.stats().ended >= SESSIONS as u64);
        let struck = installed.struck();
        drop(installed);
        proxy.shutdown().expect("the proxy stops");
        let echoed = servers.join().expect("the server");
        let records = proxy.take_records();
        assert_eq!(struck, vec![1], "{errno}");
        let mut want = vec!["--".to_string(); SESSIONS - 1];
        want.push("SC".to_string());
        want.sort();
        assert_eq!(codes(&records), want, "errno {errno}: the session whose header failed ends, alone");
        for r in &records {
            let (_, payload, echo, end) = saw.iter().find(|c| c.0 == r.client).expect("each record is a client's");
            if r.termination.to_string() == "--" {
                assert_eq!((echo, *end), (payload, Ok(())), "{r:?}");
            } else {
                assert_eq!((echo.len(), *end, r.to_server), (0, Ok(()), 0), "{r:?}: nothing, then EOF");
            }
        }
        assert_eq!(echoed.iter().filter(|e| matches!(e, Ok(0))).count(), 1, "{echoed:?}");
    }
}

/// What one session's peers saw when the proxy's send of the server's answer to the client
/// failed with `errno` before the poller reported anything: the client's RST reached the
/// socket between the poller's report and the send. On loopback the RST lands the moment the
/// client closes, so no test can put it there on purpose: the fault layer stands in for it.
/// After the fault the client sends `more`, and ends its request if `fin`. Returns the
/// session's record, what the client read and how its read ended, and what the server read
/// after the request and how that ended.
struct AnswerLost {
    record: SessionRecord,
    client_end: Result<Vec<u8>, io::ErrorKind>,
    server_after: Result<Vec<u8>, io::ErrorKind>,
}

fn answer_send_fails(errno: i32, more: &'static [u8], fin: bool) -> AnswerLost {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (l, server) = server_socket();
    let srv = common::AnsweringServer::start(l);
    let options = Options { record_sessions: true, ..Options::default() };
    let mut proxy = runtime::spawn_with(&config(server, SpliceMode::Never, None), options).expect("start");
    let mut c = TcpStream::connect(proxy.addrs()[0]).expect("connect to the proxy");
    c.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    c.write_all(b"req").expect("the request");
    srv.asked.recv().expect("the request reached the server");
    // The request is at the server: the next send the proxy makes is the answer's, to the
    // client.
    let installed =
        fault::install(Plan { seed: 1, rules: vec![Rule::new(Call::Send, Fault::Errno(errno), 1000).at_most(1)] });
    srv.go.send(()).expect("the server answers");
    wait_until("the answer's send failed", || installed.struck() == [1]);
    drop(installed);
    // A proxy that gave the client up resets these: the server's read says so.
    let _ = c.write_all(more);
    if fin {
        let _ = c.shutdown(Shutdown::Write);
    }
    let mut got = Vec::new();
    let client_end = c.read_to_end(&mut got).map(|_| got).map_err(|e| e.kind());
    drop(c);
    let server_after = srv.after.join().expect("the server");
    wait_until("the session ended", || proxy.live_sessions() == 0);
    proxy.shutdown().expect("the proxy stops");
    let record = proxy.take_records().pop().expect("the session's record");
    AnswerLost { record, client_end, server_after }
}

/// A send to the client that meets its reset (ECONNRESET: the client did not end its
/// request) is the client's abort in the data phase: `CD`, and the proxy gives the client's
/// connection up at once (its client, which sends nothing more and no FIN, reads the end
/// now, not at its read timeout: a proxy that went on reading a reset connection would wait
/// for it) and closes the server's side cleanly.
#[test]
fn a_send_that_meets_the_clients_reset_first_is_the_clients_abort() {
    let saw = answer_send_fails(libc::ECONNRESET, b"", false);
    assert_eq!(saw.record.termination.to_string(), "CD", "{:?}", saw.record);
    assert_eq!(saw.client_end, Ok(Vec::new()), "the client's connection is given up at once");
    assert_eq!(saw.server_after, Ok(Vec::new()), "the server reads a clean end");
}

/// EPIPE says the client's FIN came before its RST: what it sent before that FIN is still
/// readable, so the proxy keeps reading the request (Linux's CLOSE-WAIT) and passes it on
/// whole, though the answer can no longer reach the client.
#[test]
fn after_a_send_meets_epipe_the_rest_of_the_request_still_reaches_the_server() {
    let saw = answer_send_fails(libc::EPIPE, b" and the rest", true);
    assert_eq!(saw.server_after, Ok(b" and the rest".to_vec()), "{:?}", saw.record);
}

/// A health reply's send: a spurious EAGAIN is waited out (the client reads the whole reply),
/// and a short write means the client is gone (a few bytes into a fresh socket), so the
/// session ends as the client's fault, not as a reply sent.
#[test]
fn a_health_reply_waits_out_eagain_and_takes_a_short_write_for_a_gone_client() {
    for (i, (fault, code)) in [(Fault::Errno(libc::EAGAIN), "--"), (Fault::Short(2), "CR")].into_iter().enumerate() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let (_l, server) = server_socket();
        let mut cfg = config(server, SpliceMode::Never, None);
        cfg.listeners[0].options.health = true;
        let options = Options { record_sessions: true, ..Options::default() };
        let mut proxy = runtime::spawn_with(&cfg, options).expect("start");
        let installed =
            fault::install(Plan { seed: 70 + i as u64, rules: vec![Rule::new(Call::Send, fault, 1000).at_most(1)] });
        let mut c = TcpStream::connect(proxy.addrs()[0]).expect("connect to the proxy");
        c.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
        let mut got = Vec::new();
        let end = c.read_to_end(&mut got).map_err(|e| e.kind());
        drop(c);
        wait_until("the check ended", || proxy.live_sessions() == 0 && proxy.stats().ended == 1);
        assert_eq!(installed.struck(), [1], "{fault:?} struck the reply's send");
        drop(installed);
        proxy.shutdown().expect("the proxy stops");
        let r = proxy.take_records().pop().expect("the check's record");
        assert_eq!(r.termination.to_string(), code, "{fault:?}: {r:?}");
        if code == "--" {
            assert_eq!((got.as_slice(), end), (&b"OK\n"[..], Ok(3)), "{fault:?}: the whole reply, then EOF");
            assert_eq!(r.to_client, 3, "{r:?}");
        } else {
            assert!(got.len() < 3, "{fault:?}: at most the start of the reply: {got:?}");
        }
    }
}

/// The PROXY header's read under faults: a peek that fails as a reset would ends the session
/// as the client's reset at once (not at the handshake timeout), and a read that takes fewer
/// of the header's bytes than the peek saw (Linux never does that on a TCP socket's queued
/// bytes: the fault layer stands in) ends it too, rather than passing the header's tail to
/// the server as data. In both, no server connection is made.
#[test]
fn a_failed_peek_or_a_short_read_of_the_proxy_header_ends_that_session_at_once() {
    for (i, (call, fault)) in
        [(Call::Peek, Fault::Errno(libc::ECONNRESET)), (Call::Recv, Fault::Short(10))].into_iter().enumerate()
    {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let (l, server) = server_socket();
        l.set_nonblocking(true).expect("non-blocking");
        let mut cfg = config(server, SpliceMode::Never, None);
        cfg.listeners[0].options.accept_proxy = true;
        cfg.listeners[0].timeouts.handshake = Duration::from_secs(60);
        let options = Options { record_sessions: true, ..Options::default() };
        let mut proxy = runtime::spawn_with(&cfg, options).expect("start");
        let installed =
            fault::install(Plan { seed: 80 + i as u64, rules: vec![Rule::new(call, fault, 1000).at_most(1)] });
        let mut c = TcpStream::connect(proxy.addrs()[0]).expect("connect to the proxy");
        c.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
        c.write_all(b"PROXY TCP4 192.0.2.1 198.51.100.1 1000 443\r\npayload").expect("header and payload");
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        wait_until("the session ended", || proxy.stats().ended == 1);
        assert_eq!(installed.struck(), [1], "{call:?}");
        drop(installed);
        proxy.shutdown().expect("the proxy stops");
        let r = proxy.take_records().pop().expect("the session's record");
        assert_eq!(r.termination.to_string(), "CR", "{call:?}: {r:?}");
        assert!(got.is_empty(), "{call:?}: {got:?}");
        assert!(
            matches!(l.accept(), Err(e) if e.kind() == io::ErrorKind::WouldBlock),
            "{call:?}: the proxy connected to the server"
        );
    }
}

/// The drain after a health reply (an active shutr: the proxy reads and throws away what the
/// client sends until its FIN) that meets the client's reset ends the session at once. The
/// reset arriving between the poller's report and the read is a race no test can set up on
/// loopback (the poller reports an RST that is already there): the fault layer stands in. A
/// drain that took the error for EAGAIN would wait for an edge that never comes (the manual
/// clock fires no timeout).
#[test]
fn a_drain_that_meets_the_clients_reset_ends_the_session_at_once() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_l, server) = server_socket();
    let mut cfg = config(server, SpliceMode::Never, None);
    cfg.listeners[0].options.health = true;
    let options = Options { record_sessions: true, manual_clock: true, ..Options::default() };
    let mut proxy = runtime::spawn_with(&cfg, options).expect("start");
    let mut c = TcpStream::connect(proxy.addrs()[0]).expect("connect to the proxy");
    c.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
    let mut got = Vec::new();
    c.read_to_end(&mut got).expect("the reply, then EOF");
    assert_eq!(got, b"OK\n");
    assert_eq!(proxy.stats().ended, 0, "the proxy drains the client until its FIN");
    let installed = fault::install(Plan {
        seed: 90,
        rules: vec![Rule::new(Call::Recv, Fault::Errno(libc::ECONNRESET), 1000).at_most(1)],
    });
    c.write_all(b"more").expect("more for the drain");
    wait_until("the drain's read failed", || installed.struck() == [1]);
    drop(installed);
    wait_until("the session ended", || proxy.live_sessions() == 0 && proxy.stats().ended == 1);
    proxy.shutdown().expect("the proxy stops");
    let r = proxy.take_records().pop().expect("the check's record");
    assert_eq!(r.termination.to_string(), "CR", "{r:?}");
}

/// An accept that fails as for a connection its client gave up before it was taken
/// (ECONNABORTED), or as a signal interrupted it (EINTR), is tried again at once: the client
/// behind it is served with no pause and no accept error counted. The proxy runs on its
/// manual clock, where the back-off of a resource shortage would never end.
#[test]
fn an_aborted_or_interrupted_accept_is_tried_again_at_once() {
    for (i, errno) in [libc::ECONNABORTED, libc::EINTR].into_iter().enumerate() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let (l, server) = server_socket();
        let echo = echo_server(l, 1);
        let options = Options { manual_clock: true, ..Options::default() };
        let mut proxy = runtime::spawn_with(&config(server, SpliceMode::Never, None), options).expect("start");
        let installed = fault::install(Plan {
            seed: 95 + i as u64,
            rules: vec![Rule::new(Call::Accept, Fault::Errno(errno), 1000).at_most(1)],
        });
        let mut c = TcpStream::connect(proxy.addrs()[0]).expect("connect to the proxy");
        c.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
        c.write_all(b"ping").expect("send");
        let mut got = [0u8; 4];
        c.read_exact(&mut got).expect("the echo, with no pause");
        assert_eq!(&got, b"ping");
        assert_eq!(installed.struck(), [1], "errno {errno}");
        drop(installed);
        assert_eq!(proxy.stats().accept_errors, 0, "errno {errno}: no accept error counted");
        c.shutdown(Shutdown::Write).expect("half-close");
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).expect("EOF");
        proxy.shutdown().expect("the proxy stops");
        let served = echo.join().expect("the echo server");
        assert_eq!(served.len(), 1, "errno {errno}: {served:?}");
    }
}
