//! Abort propagation (`--propagate-abort`) on real loopback sockets: a peer
//! that resets in the middle of its stream. Without the option the other
//! peer reads every byte and then an EOF, as with HAProxy, and cannot tell
//! the stream was cut; with it, every byte and then ECONNRESET. In both
//! directions.
//!
//! The resetting peer writes its bytes, waits until its kernel's send queue
//! is empty (`SIOCOUTQ` 0: the proxy's kernel has them all), and only then
//! closes with `SO_LINGER {1, 0}`, so the RST destroys none of them on the
//! way in. The other peer has a small receive buffer and starts reading only
//! after that reset, so when the proxy reads the RST (after the last byte)
//! bytes still wait in the proxy's send queue: an RST sent before that queue
//! emptied would destroy them (loopback acknowledges at once whatever fits
//! in the receiver's buffer, so without the small buffer nothing would be in
//! flight). An executor that answers `CheckSendQueue` with `Done` at once
//! fails both (seen with `--test-threads 1`; run in parallel on a loaded
//! machine, the client-reset one can pass by luck when the server drains
//! everything before the proxy reads the reset).
//! No assertion is about time; waits poll a condition under the hang guard.

use connseq::config::ProxyConfig;
use connseq::runtime::{self, RunningProxy};
mod common;

use common::stream::{accept, pattern, server_socket, spawn, write_pattern};
use common::{abort, connect, proxy_config, wait_until};
use socket2::{Domain, SockRef, Socket, Type};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// More than the proxy's buffer, less than what the kernels of a loopback
/// path hold without the reader reading.
const LEN: usize = 96 * 1024;

fn config(server: SocketAddr, propagate_abort: bool) -> ProxyConfig {
    let mut l = common::listener("abort", &[server], 0, 0);
    l.options.propagate_abort = propagate_abort;
    proxy_config(vec![l], 0)
}

fn start_proxy(server: SocketAddr, propagate_abort: bool) -> (RunningProxy, SocketAddr) {
    start_proxy_with(server, propagate_abort, runtime::Options::default())
}

fn start_proxy_with(
    server: SocketAddr,
    propagate_abort: bool,
    options: runtime::Options,
) -> (RunningProxy, SocketAddr) {
    let proxy = runtime::spawn_with(&config(server, propagate_abort), options).expect("the proxy starts");
    let addr = proxy.addrs()[0];
    (proxy, addr)
}

/// The reader's receive buffer: far less than `LEN`.
const SMALL_RCVBUF: usize = 4096;

/// A blocking client of the proxy with a small receive buffer (set before
/// the connect, so the window it advertises is small from the start).
fn connect_small_window(addr: SocketAddr) -> TcpStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.set_recv_buffer_size(SMALL_RCVBUF).expect("SO_RCVBUF");
    s.connect(&addr.into()).expect("connect to the proxy");
    let s = TcpStream::from(s);
    s.set_read_timeout(Some(common::HANG_GUARD)).expect("read timeout");
    s
}

/// The test server's socket, whose connections have a small receive buffer.
fn server_socket_small_window() -> (TcpListener, SocketAddr) {
    let (l, addr) = server_socket();
    SockRef::from(&l).set_recv_buffer_size(SMALL_RCVBUF).expect("SO_RCVBUF");
    (l, addr)
}

/// Writes `LEN` bytes of stream `seed`, waits until the peer's kernel
/// acknowledged them all, then resets the connection.
fn write_all_then_reset(mut s: TcpStream, seed: u64, len: usize) {
    write_pattern(&mut s, seed, len).expect("the bytes go out");
    wait_until("the proxy's kernel acknowledged every byte", || {
        connseq::sys::socket::unacked_output(&s).expect("SIOCOUTQ") == 0
    });
    abort(s);
}

/// How a stream read to its end ended: the bytes of stream `seed` read
/// (each checked), and the end: `Ok(())` for EOF, the error otherwise.
fn read_to_end_checked(s: &mut TcpStream, seed: u64) -> (u64, io::Result<()>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut off = 0u64;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (off, Ok(())),
            Ok(n) => {
                for &b in &buf[..n] {
                    assert_eq!(b, pattern(seed, off), "byte {off} of stream {seed}");
                    off += 1;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (off, Err(e)),
        }
    }
}

/// The server sends `LEN` bytes and resets; the client reads after the
/// reset. Returns what the client read and how its stream ended.
fn server_resets_mid_response(propagate_abort: bool, len: usize) -> (u64, io::Result<()>) {
    let (l, server) = server_socket();
    let (reset_tx, reset_rx) = mpsc::channel();
    let srv = spawn(move || {
        let s = accept(&l);
        write_all_then_reset(s, 7, len);
        reset_tx.send(()).expect("the client waits for the reset");
    });
    let (mut proxy, addr) = start_proxy(server, propagate_abort);
    let mut client = connect_small_window(addr);
    reset_rx.recv().expect("the server reset its connection");
    let end = read_to_end_checked(&mut client, 7);
    // Our close ends the proxy's lingering drain of this connection.
    drop(client);
    srv.join().expect("server thread");
    wait_until("the session ended", || proxy.live_sessions() == 0);
    proxy.shutdown().expect("the proxy stops cleanly");
    end
}

/// The client sends `LEN` bytes and resets; the server reads after the
/// reset. Returns what the server read and how its stream ended.
fn client_resets_mid_request(propagate_abort: bool) -> (u64, io::Result<()>) {
    let (l, server) = server_socket_small_window();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let srv = spawn(move || {
        let mut s = accept(&l);
        go_rx.recv().expect("the client reset its connection");
        read_to_end_checked(&mut s, 11)
    });
    let (mut proxy, addr) = start_proxy(server, propagate_abort);
    write_all_then_reset(connect(addr), 11, LEN);
    go_tx.send(()).expect("the server waits for the reset");
    let end = srv.join().expect("server thread");
    wait_until("the session ended", || proxy.live_sessions() == 0);
    proxy.shutdown().expect("the proxy stops cleanly");
    end
}

fn assert_reset(end: &io::Result<()>, who: &str) {
    match end {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{who}: {e}"),
        Ok(()) => panic!("{who} read an EOF: the abort was passed on as a FIN"),
    }
}

#[test]
fn without_the_option_a_server_reset_reaches_the_client_as_every_byte_then_eof() {
    let (got, end) = server_resets_mid_response(false, LEN);
    assert_eq!(got, LEN as u64, "every byte the server sent");
    assert!(end.is_ok(), "an EOF, as HAProxy does: {end:?}");
}

#[test]
fn with_propagate_abort_a_server_reset_reaches_the_client_as_every_byte_then_a_reset() {
    let (got, end) = server_resets_mid_response(true, LEN);
    assert_eq!(got, LEN as u64, "every byte the server sent arrives before the reset");
    assert_reset(&end, "the client");
}

/// A server that answers and resets at once, before the proxy read its
/// answer (the proxy's connect completes, the answer and the RST arrive in
/// one batch of events): Linux keeps what the proxy's socket received, and
/// the proxy passes every byte on before it passes the reset on (as an EOF,
/// or as an RST with the option). A proxy that takes the poller's error
/// flag for "nothing left to read" drops the whole answer, and its client,
/// without the option, sees a clean EOF of an empty answer. Repeated, since
/// the order of events is the kernel's: most rounds meet that batch.
#[test]
fn a_response_sent_right_before_the_servers_reset_is_passed_on_whole() {
    for propagate_abort in [false, true] {
        for _ in 0..10 {
            let len = 3 * SMALL_RCVBUF;
            let (got, end) = server_resets_mid_response(propagate_abort, len);
            assert_eq!(got, len as u64, "every byte the server sent, propagate-abort {propagate_abort}: {end:?}");
            if propagate_abort {
                assert_reset(&end, "the client");
            } else {
                assert!(end.is_ok(), "an EOF: {end:?}");
            }
        }
    }
}

/// A response that fits in the proxy's send buffer but not in the client's
/// window: the proxy's writes all succeed (no EAGAIN, so the kernel will not
/// report the socket writable again when the client's acknowledgements empty
/// the queue), and only the proxy's own look at its send queue, due an
/// `ACK_POLL` (10 ms) after it found bytes unacknowledged, sees the queue
/// empty and sends the reset. The proxy runs on its manual clock, set at
/// 1,000 s of uptime, which the test moves on by 50 ms steps while the
/// client reads: the look is due at the first step (a deadline computed
/// wrongly, such as 10 times the uptime, never comes).
#[test]
fn with_propagate_abort_a_reset_held_until_the_client_acknowledged_goes_out_at_the_next_look() {
    let len = 3 * SMALL_RCVBUF;
    let (l, server) = server_socket();
    let (reset_tx, reset_rx) = mpsc::channel();
    let srv = spawn(move || {
        let s = accept(&l);
        write_all_then_reset(s, 5, len);
        reset_tx.send(()).expect("the client waits for the reset");
    });
    let options = runtime::Options { manual_clock: true, ..runtime::Options::default() };
    let (mut proxy, addr) = start_proxy_with(server, true, options);
    assert!(proxy.advance(Duration::from_secs(1000)));
    let mut client = connect_small_window(addr);
    reset_rx.recv().expect("the server reset its connection");
    let reading = AtomicBool::new(true);
    let (got, end) = thread::scope(|scope| {
        scope.spawn(|| {
            // 400 steps: 20 s of the proxy's time, far below its timeouts.
            for _ in 0..400 {
                if !reading.load(Ordering::Relaxed) {
                    return;
                }
                proxy.advance(Duration::from_millis(50));
                thread::sleep(Duration::from_millis(20));
            }
        });
        let end = read_to_end_checked(&mut client, 5);
        reading.store(false, Ordering::Relaxed);
        end
    });
    drop(client);
    srv.join().expect("server thread");
    wait_until("the session ended", || proxy.live_sessions() == 0);
    proxy.shutdown().expect("the proxy stops cleanly");
    assert_eq!(got, len as u64, "every byte the server sent arrives before the reset");
    assert_reset(&end, "the client");
}

#[test]
fn without_the_option_a_client_reset_reaches_the_server_as_every_byte_then_eof() {
    let (got, end) = client_resets_mid_request(false);
    assert_eq!(got, LEN as u64, "every byte the client sent");
    assert!(end.is_ok(), "an EOF, as HAProxy does: {end:?}");
}

#[test]
fn with_propagate_abort_a_client_reset_reaches_the_server_as_every_byte_then_a_reset() {
    let (got, end) = client_resets_mid_request(true);
    assert_eq!(got, LEN as u64, "every byte the client sent arrives before the reset");
    assert_reset(&end, "the server");
}
