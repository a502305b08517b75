//! An idle proxy sleeps in the poller: in one second with nothing happening
//! it uses (almost) no CPU, with an idle session open and also with the
//! listeners paused at the global maxconn. A busy loop would burn about a
//! whole second of CPU in that second.
//!
//! CPU time is process-wide, so this file has its own process and its tests
//! take turns (a lock), so that neither measures the other's work.

mod common;

use common::{connect, listener, proxy_config, round_trip, EchoServer};
use connseq::runtime::{self, RunningProxy};
use connseq::sys::process::cpu_time;
use std::net::TcpStream;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

/// Far above what an idle loop uses (none, bar a timer tick's accounting),
/// far below the ~1000 ms a busy loop burns.
const IDLE_CPU_BOUND: Duration = Duration::from_millis(50);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The process's CPU time over one second of the test thread's sleep. The
/// sleep is the measuring window, not a synchronisation.
fn cpu_used_in_one_second() -> Duration {
    let before = cpu_time().expect("getrusage");
    thread::sleep(Duration::from_secs(1));
    cpu_time().expect("getrusage") - before
}

/// A proxy with global `maxconn` to a fresh echo server, and `n` sessions
/// through it, each shown to work by one echo.
fn proxy_with_idle_sessions(maxconn: u32, n: usize, threads: usize) -> (EchoServer, RunningProxy, Vec<TcpStream>) {
    let server = EchoServer::start();
    let mut config = proxy_config(vec![listener("idle", &[server.addr()], 0, 0)], maxconn);
    config.global.threads = threads;
    let proxy = runtime::spawn(&config).expect("the proxy starts");
    let clients: Vec<_> = (0..n)
        .map(|i| {
            let mut c = connect(proxy.addrs()[0]);
            round_trip(&mut c, format!("client {i}").as_bytes());
            c
        })
        .collect();
    assert_eq!(proxy.live_sessions(), n);
    (server, proxy, clients)
}

/// Half-closes each client and expects EOF and nothing else.
fn end_sessions(clients: Vec<TcpStream>) {
    for c in clients {
        assert!(common::finish(c).is_empty(), "EOF and nothing else");
    }
}

/// Ends the sessions (half-close, EOF), then stops the proxy and the server.
fn end(server: EchoServer, proxy: RunningProxy, clients: Vec<TcpStream>) {
    end_sessions(clients);
    proxy.stop().expect("the proxy stops cleanly");
    server.stop();
}

#[test]
fn an_idle_proxy_uses_no_cpu() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (server, proxy, clients) = proxy_with_idle_sessions(0, 1, 1);

    let used = cpu_used_in_one_second();
    eprintln!("CPU used in one idle second, one idle session: {:.3} ms", used.as_secs_f64() * 1e3);
    assert!(used < IDLE_CPU_BOUND, "an idle proxy used {used:?} of CPU in one second");

    end(server, proxy, clients);
}

#[test]
fn an_idle_proxy_with_four_threads_uses_no_cpu() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (server, proxy, clients) = proxy_with_idle_sessions(0, 8, 4);

    let used = cpu_used_in_one_second();
    eprintln!("CPU used in one idle second, four threads, eight idle sessions: {:.3} ms", used.as_secs_f64() * 1e3);
    assert!(used < IDLE_CPU_BOUND, "an idle proxy used {used:?} of CPU in one second");

    end(server, proxy, clients);
}

#[test]
fn a_proxy_paused_at_global_maxconn_uses_no_cpu() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (server, proxy, clients) = proxy_with_idle_sessions(2, 2, 2);
    // A third client waits in the listener's backlog: the listener is
    // readable, and a loop that polls it while paused would spin.
    let third = connect(proxy.addrs()[0]);
    std::io::Write::write_all(&mut &third, b"third").expect("send");

    let used = cpu_used_in_one_second();
    eprintln!("CPU used in one idle second at maxconn with one waiting client: {:.3} ms", used.as_secs_f64() * 1e3);
    assert!(used < IDLE_CPU_BOUND, "a proxy at maxconn used {used:?} of CPU in one second");
    assert_eq!(server.accepted(), 2, "the third client was not served");

    // Served once a slot frees: its echo, then EOF after its half-close.
    let mut third = third;
    end_sessions(clients);
    let mut got = [0u8; 5];
    std::io::Read::read_exact(&mut third, &mut got).expect("the third client's echo");
    assert_eq!(&got, b"third");
    end(server, proxy, vec![third]);
}
