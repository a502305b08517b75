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
    assert!(log.contains("[default]") && log.contains(&server_addr.to_string()), "log line: {log}");
    assert!(log.ends_with(" 4/4 --"), "bytes each way and a normal end: {log}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill(1)");
    assert!(status.success());
    let exit = child.wait().expect("connseq exits");
    assert!(exit.success(), "exit status {exit}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stopping")), "{rest:?}");
}
