//! Seamless reload on real processes: `connseq proxy -x SOCKET` takes the
//! listening sockets over from the running process 20 times in a row while
//! clients open connection after connection; not one is refused or reset.
//! And systemd's socket activation: a listening socket passed as
//! descriptor 3 with `LISTEN_FDS`, as `systemd-socket-activate` does.

mod common;
mod peers;

use common::{EchoServer, HANG_GUARD};
use peers::{free_port, TempDir};

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A `connseq proxy` process whose stderr a thread drains (a full pipe
/// would block its logging); the `listening on` lines come through `lines`.
struct Proxy {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proxy {
    fn start(args: &[&str]) -> Proxy {
        Proxy::start_with(Command::new(env!("CARGO_BIN_EXE_connseq")).arg("proxy").args(args))
    }

    fn start_with(cmd: &mut Command) -> Proxy {
        let mut child = cmd.env("CONNSEQ_LOG", "warn").stderr(Stdio::piped()).spawn().expect("connseq starts");
        let err = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Proxy { child, lines }
    }

    /// Waits for the line that says it listens; returns it.
    fn listening(&self) -> String {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with("connseq: listening on ") => return l,
                Ok(_) => {}
                Err(e) => panic!("no `listening on` line: {e}"),
            }
        }
    }

    /// Waits until the process exits on its own; its status must be 0.
    fn wait_exit(&mut self, what: &str) {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let rest: Vec<String> = self.lines.try_iter().collect();
                assert!(status.success(), "{what}: {status} {rest:?}");
                return;
            }
            assert!(Instant::now() < deadline, "{what}: still running");
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn terminate(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.wait_exit("the last process after SIGTERM");
    }
}

impl Drop for Proxy {
    /// A test that failed leaves no process behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    ok: AtomicU64,
    refused: AtomicU64,
    reset: AtomicU64,
    other: AtomicU64,
}

/// One client connection: 16 bytes out, their echo back, FIN, EOF.
fn one_session(addr: SocketAddr, n: u64) -> Result<(), io::Error> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(HANG_GUARD))?;
    let msg = format!("session {n:08}\n");
    s.write_all(msg.as_bytes())?;
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got)?;
    if got != msg.as_bytes() {
        return Err(io::Error::other("a wrong echo"));
    }
    s.shutdown(Shutdown::Write)?;
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)?;
    if rest.is_empty() {
        Ok(())
    } else {
        Err(io::Error::other("bytes after the echo"))
    }
}

#[test]
fn twenty_takeovers_under_load_refuse_and_reset_no_connection() {
    let server = EchoServer::start();
    let dir = TempDir::new("reload");
    let sock = dir.path("admin.sock");
    let front = free_port();
    let config = dir.path("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "[global]\nthreads = 2\nstats-socket = \"{}\"\n\n[[listener]]\nname = \"web\"\nlisten = \"{front}\"\n\
             backend = {{ servers = [\"{}\"] }}\n",
            sock.display(),
            server.addr()
        ),
    )
    .expect("write the configuration");
    let config = config.display().to_string();
    let sock_arg = sock.display().to_string();

    let mut current = Proxy::start(&["--config", &config]);
    current.listening();

    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (seen, stop, count) = (seen.clone(), stop.clone(), count.clone());
            thread::spawn(move || {
                // Bounded: at most 200,000 sessions in all.
                while !stop.load(Ordering::Acquire) && count.load(Ordering::Acquire) < 200_000 {
                    let n = count.fetch_add(1, Ordering::AcqRel);
                    match one_session(front, n) {
                        Ok(()) => seen.ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                            seen.refused.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof) => {
                            seen.reset.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(_) => seen.other.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    let wait_sessions = |more: u64| {
        let want = seen.ok.load(Ordering::Acquire) + more;
        common::wait_until("the clients made more sessions", || {
            seen.ok.load(Ordering::Acquire) + seen.refused.load(Ordering::Acquire) + seen.reset.load(Ordering::Acquire)
                >= want
        });
    };
    for i in 0..20 {
        wait_sessions(100);
        let next = Proxy::start(&["--config", &config, "-x", &sock_arg]);
        let line = next.listening();
        assert!(line.ends_with("(inherited)"), "reload {i}: {line}");
        current.wait_exit(&format!("the process before reload {i}"));
        current = next;
    }
    wait_sessions(100);
    stop.store(true, Ordering::Release);
    for c in clients {
        c.join().expect("a client");
    }
    current.terminate();
    let (ok, refused, reset, other) = (
        seen.ok.load(Ordering::Acquire),
        seen.refused.load(Ordering::Acquire),
        seen.reset.load(Ordering::Acquire),
        seen.other.load(Ordering::Acquire),
    );
    eprintln!("20 reloads: {ok} sessions served, {refused} refused, {reset} reset, {other} other failures");
    assert_eq!((refused, reset, other), (0, 0, 0), "{ok} served");
    assert!(ok >= 2000, "thousands of sessions during the reloads: {ok}");
}

/// Listening sockets on `addr`'s port, from `/proc/net/tcp` (each thread's
/// `SO_REUSEPORT` socket is one).
fn listening_sockets(addr: SocketAddr) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let want = format!(":{:04X}", addr.port());
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() > 3 && cols[1].ends_with(&want) && cols[3] == "0A"
        })
        .count()
}

#[test]
fn a_takeover_keeps_every_listening_socket_even_with_fewer_threads() {
    let server = EchoServer::start();
    let dir = TempDir::new("takeover");
    let sock = dir.path("admin.sock").display().to_string();
    let front = free_port().to_string();
    let server_addr = server.addr().to_string();
    let args = |threads: &'static str| {
        ["--listen", &front, "--server", &server_addr, "--stats-socket", &sock, "--threads", threads].map(str::to_owned)
    };
    let mut old = Proxy::start(&args("4").iter().map(String::as_str).collect::<Vec<_>>());
    old.listening();
    let front: SocketAddr = front.parse().expect("address");
    assert_eq!(listening_sockets(front), 4, "one per thread");
    let mut new_args: Vec<String> = args("2").to_vec();
    new_args.extend(["-x".to_owned(), sock.clone()]);
    let new = Proxy::start(&new_args.iter().map(String::as_str).collect::<Vec<_>>());
    new.listening();
    old.wait_exit("the old process");
    // A socket left behind would reset what its queue held when the old
    // process closed it: the new process holds all four.
    assert_eq!(listening_sockets(front), 4, "the old process's four sockets, held by two threads");
    for n in 0..20 {
        one_session(front, n).expect("served by the new process");
    }
    new.terminate();
}

#[test]
fn a_socket_passed_by_systemd_socket_activation_is_served() {
    let server = EchoServer::start();
    let front = free_port();
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.args(["--listen", &front.to_string(), env!("CARGO_BIN_EXE_connseq"), "proxy", "--threads", "2"]).args([
        "--listen",
        &front.to_string(),
        "--server",
        &server.addr().to_string(),
    ]);
    let proxy = Proxy::start_with(&mut cmd);
    // systemd-socket-activate listens, then starts connseq at the first connection.
    common::wait_until("systemd-socket-activate listens", || peers::is_listening(front));
    let answered = thread::spawn(move || one_session(front, 1));
    let line = proxy.listening();
    assert_eq!(line, format!("connseq: listening on {front} (inherited)"));
    answered.join().expect("the client").expect("the first connection is served");
    for n in 2..50 {
        one_session(front, n).expect("served");
    }
    proxy.terminate();
}
