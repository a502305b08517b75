//! `connseq proxy` as a user runs it: it reports where it listens, forwards
//! a session, logs it, and exits 0 on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

const HANG_GUARD: Duration = Duration::from_secs(30);

#[test]
fn proxy_command_forwards_a_session_logs_it_and_exits_on_sigterm() {
    let server = TcpListener::bind("127.0.0.1:0").expect("bind the test server");
    let server_addr = server.local_addr().expect("address");
    let srv = thread::spawn(move || {
        let (mut s, _) = server.accept().expect("the proxy connects");
        s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("the request");
        s.write_all(&got).expect("the echo");
    });

    let mut child = Command::new(env!("CARGO_BIN_EXE_connseq"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--server", &server_addr.to_string(), "--threads", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("connseq proxy starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let first = lines.next().expect("a first line").expect("utf-8");
    let addr: SocketAddr = first
        .strip_prefix("connseq: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .parse()
        .expect("an address");

    let mut client = TcpStream::connect(addr).expect("connect to the proxy");
    client.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
    client.write_all(b"ping").expect("send");
    client.shutdown(Shutdown::Write).expect("half-close");
    let mut got = Vec::new();
    client.read_to_end(&mut got).expect("the echo");
    assert_eq!(got, b"ping");
    srv.join().expect("server thread");

    let log = lines.next().expect("a log line").expect("utf-8");
    assert!(log.contains("[default] default/s1 "), "log line: {log}");
    assert!(log.ends_with(" 4/4 --"), "bytes each way and a normal end: {log}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill(1)");
    assert!(status.success());
    let exit = child.wait().expect("connseq exits");
    assert!(exit.success(), "exit status {exit}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    // SIGTERM is a hard stop (SIGUSR1's is the soft one).
    assert!(rest.iter().any(|l| l.ends_with("signal Term received, stopping")), "{rest:?}");
}

/// A server that answers every connection, each on its own thread, with
/// `tag` followed by what it read until EOF, then closes it. Its threads
/// end with the test process.
fn tagged_server(tag: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("address");
    thread::spawn(move || {
        while let Ok((mut s, _)) = l.accept() {
            thread::spawn(move || {
                s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
                let mut got = Vec::new();
                if s.read_to_end(&mut got).is_ok() {
                    let _ = s.write_all(tag).and_then(|()| s.write_all(&got));
                }
            });
        }
    });
    addr
}

fn ask(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).expect("connect to the proxy");
    c.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
    c.write_all(msg).expect("send");
    c.shutdown(Shutdown::Write).expect("half-close");
    let mut got = Vec::new();
    c.read_to_end(&mut got).expect("the answer");
    got
}

/// Reads the `listening on` lines: `n` addresses.
fn listening<R: BufRead>(lines: &mut std::io::Lines<R>, n: usize) -> Vec<SocketAddr> {
    (0..n)
        .map(|_| {
            let line = lines.next().expect("a line").expect("utf-8");
            line.strip_prefix("connseq: listening on ")
                .unwrap_or_else(|| panic!("unexpected line: {line}"))
                .parse()
                .expect("an address")
        })
        .collect()
}

#[test]
fn a_config_file_with_two_listeners_and_two_threads_routes_each_to_its_backend_and_sigusr1_stops_softly() {
    let web_server = tagged_server(b"web:");
    let db_server = tagged_server(b"db:");
    let dir = std::env::temp_dir().join(format!("connseq-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("proxy.toml");
    std::fs::write(
        &file,
        format!(
            r#"[global]
threads = 2

[[listener]]
name = "web"
listen = "127.0.0.1:0"
backend = "app"

[[listener]]
name = "db"
listen = ["127.0.0.1:0"]
backend = {{ servers = ["{db_server}"], timeout-connect = "1s" }}

[backend.app]
balance = "leastconn"
servers = [ {{ addr = "{web_server}", maxconn = 10 }} ]
"#
        ),
    )
    .expect("write the config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_connseq"))
        .arg("proxy")
        .arg("--config")
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .expect("connseq proxy starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addrs = listening(&mut lines, 2);
    assert_eq!(ask(addrs[0], b"GET"), b"web:GET");
    assert_eq!(ask(addrs[1], b"SELECT"), b"db:SELECT");
    let logs: Vec<String> = (0..2).map(|_| lines.next().expect("a log line").expect("utf-8")).collect();
    assert!(logs.iter().any(|l| l.contains("connseq::session") && l.contains("[web]")), "{logs:?}");
    assert!(logs.iter().any(|l| l.contains("connseq::session") && l.contains("[db]")), "{logs:?}");

    // A session in flight during a soft stop (SIGUSR1) finishes; new
    // connections are refused; the process exits when it is done.
    let mut held = TcpStream::connect(addrs[0]).expect("connect");
    held.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
    held.write_all(b"held").expect("send");
    let status = Command::new("kill").args(["-USR1", &child.id().to_string()]).status().expect("kill(1)");
    assert!(status.success());
    let line = lines.next().expect("a line").expect("utf-8");
    assert!(line.contains("stopping softly"), "{line}");
    let deadline = std::time::Instant::now() + HANG_GUARD;
    while TcpStream::connect(addrs[0]).is_ok() {
        assert!(std::time::Instant::now() < deadline, "the listener never closed");
        thread::sleep(Duration::from_millis(1));
    }
    held.shutdown(Shutdown::Write).expect("half-close");
    let mut got = Vec::new();
    held.read_to_end(&mut got).expect("the answer");
    assert_eq!(got, b"web:held", "the session in flight completes");
    let exit = child.wait().expect("connseq exits by itself once the session ended");
    assert!(exit.success(), "exit status {exit}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `connseq proxy` with `args` and returns it with its first listening address.
fn spawn_proxy(args: &[&str]) -> (std::process::Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_connseq"))
        .arg("proxy")
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("connseq proxy starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = listening(&mut lines, 1)[0];
    // Keep draining stderr so the proxy never blocks on a full pipe.
    thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    (child, addr)
}

fn stop(mut child: std::process::Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill(1)");
    assert!(status.success());
    assert!(child.wait().expect("connseq exits").success());
}

#[test]
fn handshake_flags_reach_the_runtime_with_the_rules_in_command_line_order() {
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind");
    let up = upstream.local_addr().expect("address").to_string();
    let srv = thread::spawn(move || {
        let (mut s, _) = upstream.accept().expect("the proxy connects");
        s.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("header and payload");
        got
    });
    // Allow before deny: 127.0.0.1 passes.
    let (child, addr) = spawn_proxy(&[
        "--listen",
        "127.0.0.1:0",
        "--server",
        &up,
        "--threads",
        "1",
        "--allow",
        "127.0.0.1",
        "--deny",
        "0.0.0.0/0",
        "--accept-proxy",
        "--send-proxy",
        "v1",
    ]);
    let mut c = TcpStream::connect(addr).expect("connect");
    c.write_all(b"PROXY TCP4 192.0.2.9 192.0.2.1 4000 80\r\nping").expect("send");
    c.shutdown(Shutdown::Write).expect("FIN");
    let got = srv.join().expect("server");
    assert_eq!(got, b"PROXY TCP4 192.0.2.9 192.0.2.1 4000 80\r\nping", "the original client, forwarded");
    drop(c);
    stop(child);

    // Deny before allow: the same client is reset.
    let (child, addr) = spawn_proxy(&[
        "--listen",
        "127.0.0.1:0",
        "--server",
        &up,
        "--threads",
        "1",
        "--deny",
        "127.0.0.1",
        "--allow",
        "0.0.0.0/0",
    ]);
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
    let mut buf = [0u8; 4];
    let got = c.read(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "a deny rule first resets: {got:?}"
    );
    stop(child);
}

fn connseq_proxy(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_connseq")).arg("proxy").args(args).output().expect("connseq runs")
}

#[test]
fn check_validates_without_binding_and_exits_0_or_2() {
    // A port some other socket holds: --check does not bind, so it passes.
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_addr = busy.local_addr().expect("address").to_string();
    let ok = connseq_proxy(&["--listen", &busy_addr, "--server", "127.0.0.1:9", "--check"]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{out} {}", String::from_utf8_lossy(&ok.stderr));
    assert!(out.contains("configuration is valid (1 listeners, 1 backends, 1 servers)"), "{out}");

    // 192.0.2.1 (TEST-NET-1) is no address of this host.
    let far = connseq_proxy(&["--listen", "192.0.2.1:80", "--server", "127.0.0.1:9", "--check"]);
    let err = String::from_utf8_lossy(&far.stderr);
    assert_eq!(far.status.code(), Some(2), "{err}");
    assert!(err.contains("192.0.2.1:80 is not an address of this host"), "{err}");

    // The metrics address is held to the same rule; a local one passes.
    let far_metrics =
        connseq_proxy(&["--listen", &busy_addr, "--server", "127.0.0.1:9", "--metrics", "192.0.2.1:9100", "--check"]);
    let err = String::from_utf8_lossy(&far_metrics.stderr);
    assert_eq!(far_metrics.status.code(), Some(2), "{err}");
    assert!(err.contains("metrics: 192.0.2.1:9100 is not an address of this host"), "{err}");
    let near_metrics =
        connseq_proxy(&["--listen", &busy_addr, "--server", "127.0.0.1:9", "--metrics", "127.0.0.1:9100", "--check"]);
    assert_eq!(near_metrics.status.code(), Some(0), "{}", String::from_utf8_lossy(&near_metrics.stderr));

    // The runtime API socket's directory must exist; the socket need not.
    let nowhere = format!("/nonexistent-connseq-{}/api.sock", std::process::id());
    let no_dir =
        connseq_proxy(&["--listen", &busy_addr, "--server", "127.0.0.1:9", "--stats-socket", &nowhere, "--check"]);
    let err = String::from_utf8_lossy(&no_dir.stderr);
    assert_eq!(no_dir.status.code(), Some(2), "{err}");
    assert!(err.contains("no directory /nonexistent-connseq-"), "{err}");
    let here = std::env::temp_dir().join(format!("connseq-check-api-{}.sock", std::process::id()));
    let here = here.display().to_string();
    let dir_ok =
        connseq_proxy(&["--listen", &busy_addr, "--server", "127.0.0.1:9", "--stats-socket", &here, "--check"]);
    assert_eq!(dir_ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&dir_ok.stderr));

    // A certificate file that exists but holds no certificate: the loader's check.
    let dir = std::env::temp_dir().join(format!("connseq-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").expect("write");
    let junk = junk.display().to_string();
    let bad = connseq_proxy(&[
        "--listen",
        "127.0.0.1:0",
        "--server",
        "127.0.0.1:9",
        "--tls-cert",
        &junk,
        "--tls-key",
        &junk,
        "--check",
    ]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(err.contains("junk.pem") && err.contains("no certificate found"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    drop(busy);
}

#[test]
fn print_config_prints_a_file_that_config_loads() {
    let printed =
        connseq_proxy(&["--listen", "127.0.0.1:0", "--server", "127.0.0.1:9", "--retries", "7", "--print-config"]);
    assert_eq!(printed.status.code(), Some(0));
    let text = String::from_utf8(printed.stdout).expect("utf-8");
    assert!(text.contains("retries = 7") && text.contains("name = \"s1\""), "{text}");
    let file = std::env::temp_dir().join(format!("connseq-printed-{}.toml", std::process::id()));
    std::fs::write(&file, &text).expect("write");
    let file_arg = file.display().to_string();
    let again = connseq_proxy(&["--config", &file_arg, "--print-config"]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(String::from_utf8_lossy(&again.stdout), text, "printing is a fixed point");
}

/// The log line's times, as HAProxy's `Tw/Tc/Tt` in milliseconds: a session
/// that waited for the only server slot shows that wait (at least the
/// 300 ms the test held the slot), a connect time, and a total no shorter
/// than its wait and no longer than the client saw; the one before it shows
/// no wait to speak of.
#[test]
fn the_log_line_shows_the_queue_wait_the_connect_and_the_total_in_milliseconds() {
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = upstream.local_addr().expect("address").to_string();
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    thread::spawn(move || {
        while let Ok((mut s, _)) = upstream.accept() {
            let _ = accepted_tx.send(());
            thread::spawn(move || {
                s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
                let mut got = Vec::new();
                if s.read_to_end(&mut got).is_ok() {
                    let _ = s.write_all(&got);
                }
            });
        }
    });
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_connseq"))
            .args(["proxy", "--listen", "127.0.0.1:0", "--server", &server, "--server-maxconn", "1", "--threads", "1"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("connseq proxy starts"),
    );
    let mut lines = BufReader::new(child.0.stderr.take().expect("stderr")).lines();
    let addr = listening(&mut lines, 1)[0];

    let connect = || {
        let c = TcpStream::connect(addr).expect("connect to the proxy");
        c.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
        c
    };
    let mut first = connect();
    first.write_all(b"first").expect("send");
    accepted.recv_timeout(HANG_GUARD).expect("the first session holds the only slot");
    let started = std::time::Instant::now();
    let mut second = connect();
    second.write_all(b"second").expect("send");
    second.shutdown(Shutdown::Write).expect("half-close");
    thread::sleep(Duration::from_millis(300));
    first.shutdown(Shutdown::Write).expect("half-close");
    let mut got = Vec::new();
    first.read_to_end(&mut got).expect("the first echo");
    assert_eq!(got, b"first");
    got.clear();
    second.read_to_end(&mut got).expect("the second echo, after the wait");
    assert_eq!(got, b"second");

    // "<client> [default] default/s1 Tw/Tc/Tt up/down --"
    let mut times = std::collections::HashMap::new();
    while times.len() < 2 {
        let line = lines.next().expect("a log line").expect("utf-8");
        let Some(rest) = line.split_once(" default/s1 ").map(|(_, r)| r.to_owned()) else { continue };
        let fields: Vec<&str> = rest.split(' ').collect();
        let t: Vec<i64> = fields[0].split('/').map(|n| n.parse().expect("a number")).collect();
        assert_eq!((t.len(), fields[2]), (3, "--"), "{line}");
        times.insert(fields[1].to_owned(), (t[0], t[1], t[2], line.clone()));
    }
    let seen = i64::try_from(started.elapsed().as_millis()).expect("ms");
    let (w1, c1, t1, line1) = &times["5/5"];
    let (w2, c2, t2, line2) = &times["6/6"];
    assert!(*w1 >= 0 && *w1 < 300 && *c1 >= 0 && *t1 >= 300, "the first session: {line1}");
    assert!(*w2 >= 300 && *c2 >= 0 && (*w2..=seen + 1).contains(t2), "the second session ({seen} ms seen): {line2}");
}

/// A proxy process that a failed assertion does not leave running: killed
/// (SIGKILL) and reaped when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A proxy stopped (SIGSTOP, as a debugger or `kill -STOP` does) and then
/// continued (SIGCONT): Linux wakes every thread blocked in `epoll_wait`
/// with `EINTR` even though no handler ran (signal(7)), and the proxy must
/// take that as "poll again", not as a failure. The session open across the
/// pause carries on, new sessions are served, and SIGTERM still stops it.
#[test]
fn a_proxy_stopped_and_continued_keeps_its_sessions_and_serves_new_ones() {
    let server = tagged_server(b"t:");
    let (child, addr) = spawn_proxy(&["--listen", "127.0.0.1:0", "--server", &server.to_string(), "--threads", "2"]);
    let child = KillOnDrop(child);
    let pid = child.0.id().to_string();
    let mut open = TcpStream::connect(addr).expect("connect to the proxy");
    open.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
    open.write_all(b"before ").expect("send");
    // Every thread is asleep in the poller: nothing to do until the pause.
    thread::sleep(Duration::from_millis(200));
    for sig in ["-STOP", "-CONT"] {
        assert!(Command::new("kill").args([sig, &pid]).status().expect("kill(1)").success());
        thread::sleep(Duration::from_millis(200));
    }
    open.write_all(b"after").expect("send");
    open.shutdown(Shutdown::Write).expect("half-close");
    let mut got = Vec::new();
    open.read_to_end(&mut got).expect("the answer to the session open across the pause");
    assert_eq!(got, b"t:before after");
    for i in 0..4 {
        assert_eq!(ask(addr, format!("new {i}").as_bytes()), format!("t:new {i}").into_bytes());
    }
    let mut child = child;
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill(1)");
    assert!(status.success());
    let exit = child.0.wait().expect("connseq exits");
    assert!(exit.success(), "exit status {exit}");
}
