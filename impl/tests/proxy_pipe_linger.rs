//! An idle proxy holds no splice pipe: when the last session ends, its pipe
//! stays a spare for the next session for a second (`PIPE_LINGER`), and is
//! closed then. The proxy runs on its manual clock, so "a second" is the
//! test's to give: at 999 ms the spare is still open, at 1,000 ms it is
//! closed.
//!
//! Pipes are counted in `/proc/self/fd` (the process's `pipe:[…]`
//! descriptors), which every test of a binary shares: this file holds this
//! one test only.

mod common;

use common::{listener, proxy_config, wait_until};
use connseq::runtime::{self, Options};
use connseq_model::core::SpliceMode;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// The descriptors of this process that are pipes.
fn pipes() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(Result::ok)
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("pipe:")))
        .count()
}

/// A server that echoes one connection until EOF, then closes it.
fn echo_once() -> (thread::JoinHandle<()>, std::net::SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let t = thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => s.write_all(&buf[..n]).expect("echo"),
            }
        }
        let _ = s.shutdown(Shutdown::Write);
    });
    (t, addr)
}

#[test]
fn the_spare_pipe_of_the_last_session_closes_one_second_after_it() {
    let (server, addr) = echo_once();
    let mut l = listener("splice", &[addr], 0, 0);
    l.options.splice = SpliceMode::Always;
    let mut config = proxy_config(vec![l], 0);
    config.global.threads = 1;
    config.global.splice = SpliceMode::Always;
    let mut proxy = runtime::spawn_with(&config, Options { manual_clock: true, ..Options::default() }).expect("start");
    assert!(proxy.advance(Duration::from_secs(1000)));
    let before = pipes();

    let mut c = TcpStream::connect(proxy.addrs()[0]).expect("connect");
    let msg = vec![7u8; 64 * 1024];
    c.write_all(&msg).expect("send");
    c.shutdown(Shutdown::Write).expect("shutdown");
    let mut back = Vec::new();
    c.read_to_end(&mut back).expect("echo back");
    assert_eq!(back.len(), msg.len(), "the whole echo");
    drop(c);
    server.join().expect("server");
    wait_until("the session ended", || proxy.live_sessions() == 0);
    assert!(proxy.stats().spliced > 0, "the session went through a pipe");

    // The last session's pipes are spares now, kept for the next session.
    thread::sleep(Duration::from_millis(100));
    let idle = pipes();
    assert!(idle > before, "a spare pipe is kept when the last session ends ({before} pipes before, {idle} after)");

    // Not before a second of idleness...
    assert!(proxy.advance(Duration::from_millis(999)));
    thread::sleep(Duration::from_millis(300));
    assert_eq!(pipes(), idle, "the spare pipe is still open 999 ms after the last session ended");

    // ...and at a second, closed.
    assert!(proxy.advance(Duration::from_millis(1)));
    wait_until("the spare pipes closed at 1,000 ms of idleness", || pipes() == before);
    proxy.shutdown().expect("the proxy stops cleanly");
}
