//! The proxy forwarding through kernel pipes (splice) on real loopback
//! sockets: 20 MiB each way with `splice = always` and with `auto`, and a
//! client half-close while the server keeps sending through the pipe. Every
//! byte is checked against a position-dependent pattern. Every peer is a
//! plain blocking socket in a test thread; a 30 s read timeout only turns a
//! hang into a failure, never synchronises.

use connseq::config::{BackendConfig, GlobalConfig, ListenerConfig, ListenerOptions, ProxyConfig, ServerConfig};
use connseq::runtime::{self, RunningProxy};
use connseq_model::core::SpliceMode;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const HANG_GUARD: Duration = Duration::from_secs(30);
const MIB: usize = 1 << 20;

fn config(server: SocketAddr, splice: SpliceMode) -> ProxyConfig {
    let mut backend = BackendConfig::new("app", vec![ServerConfig { addr: server, maxconn: 0 }]);
    backend.retries = 0;
    backend.timeouts.turn_around = Duration::ZERO;
    let listener = ListenerConfig {
        name: "splice".into(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        backend,
        timeouts: Default::default(),
        maxconn: 0,
        options: ListenerOptions { splice },
    };
    ProxyConfig { listeners: vec![listener], global: GlobalConfig { threads: 1, splice, ..GlobalConfig::default() } }
}

fn start_proxy(server: SocketAddr, splice: SpliceMode) -> (RunningProxy, SocketAddr) {
    let proxy = runtime::spawn(&config(server, splice)).expect("the proxy starts");
    let addr = proxy.addrs()[0];
    (proxy, addr)
}

fn server_socket() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind the test server");
    let addr = l.local_addr().expect("local address");
    (l, addr)
}

fn accept(l: &TcpListener) -> TcpStream {
    let (s, _) = l.accept().expect("the proxy connects to the server");
    s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
    s
}

fn connect(proxy: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(proxy).expect("connect to the proxy");
    s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
    s
}

/// Byte `i` of stream `seed`: position-dependent, so a lost, duplicated or
/// reordered byte shows.
fn pattern(seed: u64, i: u64) -> u8 {
    ((i ^ seed.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Writes `len` bytes of stream `seed`, in uneven chunks.
fn write_pattern(s: &mut TcpStream, seed: u64, len: usize) -> io::Result<()> {
    let mut chunk = vec![0u8; 48 * 1024 + 7];
    let mut off = 0usize;
    while off < len {
        let n = chunk.len().min(len - off);
        for (k, b) in chunk[..n].iter_mut().enumerate() {
            *b = pattern(seed, (off + k) as u64);
        }
        s.write_all(&chunk[..n])?;
        off += n;
    }
    Ok(())
}

/// Reads until EOF, checking every byte against stream `seed`; returns how
/// many bytes came before EOF.
fn read_pattern_to_eof(s: &mut TcpStream, seed: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0u64;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(off);
        }
        for &b in &buf[..n] {
            if b != pattern(seed, off) {
                return Err(io::Error::other(format!("byte {off} of stream {seed} is wrong")));
            }
            off += 1;
        }
    }
}

/// Echoes until EOF, then shuts its write side; returns the bytes echoed.
fn echo(mut s: TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            s.shutdown(Shutdown::Write)?;
            return Ok(total);
        }
        s.write_all(&buf[..n])?;
        total += n as u64;
    }
}

fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    thread::spawn(f)
}

/// 20 MiB from the client to an echo server and the same 20 MiB back, at
/// the same time, byte for byte.
fn twenty_mebibytes_each_way(splice: SpliceMode, seed: u64) {
    let (l, server) = server_socket();
    let srv = spawn(move || echo(accept(&l)));
    let (proxy, addr) = start_proxy(server, splice);

    let mut client = connect(addr);
    let mut writer = client.try_clone().expect("clone");
    let up = spawn(move || {
        write_pattern(&mut writer, seed, 20 * MIB)?;
        writer.shutdown(Shutdown::Write)
    });
    let got = read_pattern_to_eof(&mut client, seed).expect("the echo comes back intact");
    up.join().expect("writer thread").expect("the client sends everything");
    assert_eq!(got, 20 * MIB as u64, "every byte came back, then EOF");
    assert_eq!(srv.join().expect("server thread").expect("the server echoes"), 20 * MIB as u64);
    proxy.stop().expect("the proxy stops cleanly");
}

#[test]
fn twenty_mebibytes_each_way_through_pipes_with_splice_always() {
    twenty_mebibytes_each_way(SpliceMode::Always, 11);
}

#[test]
fn twenty_mebibytes_each_way_through_pipes_with_splice_auto() {
    twenty_mebibytes_each_way(SpliceMode::Auto, 12);
}

/// The client sends a request and shuts its write side; the server reads
/// it to EOF while it keeps sending 20 MiB, then closes. The client gets
/// every byte, then EOF.
fn half_close_while_the_server_keeps_sending(splice: SpliceMode, seed: u64) {
    const REQUEST: usize = 3 * MIB + 5;
    const RESPONSE: usize = 20 * MIB;
    let (l, server) = server_socket();
    let srv = spawn(move || -> io::Result<u64> {
        let mut s = accept(&l);
        let mut reader = s.try_clone()?;
        let req = spawn(move || read_pattern_to_eof(&mut reader, seed));
        write_pattern(&mut s, seed + 1, RESPONSE)?;
        let got = req.join().expect("server reader thread")?;
        s.shutdown(Shutdown::Write)?;
        Ok(got)
    });
    let (proxy, addr) = start_proxy(server, splice);

    let mut client = connect(addr);
    write_pattern(&mut client, seed, REQUEST).expect("the client sends its request");
    client.shutdown(Shutdown::Write).expect("the client shuts its write side");
    let got = read_pattern_to_eof(&mut client, seed + 1).expect("the response comes intact");
    assert_eq!(got, RESPONSE as u64, "every response byte, then EOF");
    assert_eq!(srv.join().expect("server thread").expect("the server's side"), REQUEST as u64, "the whole request");
    proxy.stop().expect("the proxy stops cleanly");
}

#[test]
fn client_half_close_through_pipes_with_splice_always() {
    half_close_while_the_server_keeps_sending(SpliceMode::Always, 21);
}

#[test]
fn client_half_close_through_pipes_with_splice_auto() {
    half_close_while_the_server_keeps_sending(SpliceMode::Auto, 31);
}
