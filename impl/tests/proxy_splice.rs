//! The proxy forwarding through kernel pipes (splice) on real loopback
//! sockets: 20 MiB each way with `splice = always` and with `auto`, and a
//! client half-close while the server keeps sending through the pipe. Every
//! byte is checked against a position-dependent pattern. Every peer is a
//! plain blocking socket in a test thread; a 30 s read timeout only turns a
//! hang into a failure, never synchronises.
//!
//! The runtime falls back to buffers silently where a pipe cannot be had, so each test also
//! counts the bytes that went through pipes (`Stats::spliced`): every byte with `always`, all
//! but the first buffer's worth each way with `auto`.

use connseq::config::{BackendConfig, GlobalConfig, ListenerConfig, ListenerOptions, ProxyConfig, ServerConfig};
use connseq::runtime::{self, RunningProxy};
use connseq_model::core::SpliceMode;
mod common;

use common::connect;
use common::stream::{
    accept, echo, pattern_sha256, read_pattern_to_eof, read_pattern_to_eof_sha256, server_socket, spawn, write_pattern,
    MIB,
};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

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
        options: ListenerOptions { splice, ..ListenerOptions::default() },
    };
    ProxyConfig { listeners: vec![listener], global: GlobalConfig { threads: 1, splice, ..GlobalConfig::default() } }
}

fn start_proxy(server: SocketAddr, splice: SpliceMode) -> (RunningProxy, SocketAddr) {
    let proxy = runtime::spawn(&config(server, splice)).expect("the proxy starts");
    let addr = proxy.addrs()[0];
    (proxy, addr)
}

/// With `always` every byte forwarded went through a pipe; with `auto` the first bytes of each
/// direction cross the buffer (HAProxy's splice-auto), at most a few buffers' worth.
fn assert_spliced(proxy: &RunningProxy, splice: SpliceMode, forwarded: u64) {
    let spliced = proxy.stats().spliced;
    eprintln!("{splice:?}: {spliced} of {forwarded} bytes through pipes");
    match splice {
        SpliceMode::Always => assert_eq!(spliced, forwarded, "splice always: every byte through a pipe"),
        SpliceMode::Auto => {
            let through_buffers = forwarded - spliced.min(forwarded);
            assert!(spliced <= forwarded && through_buffers <= 4 * 16 * 1024, "splice auto: {spliced} of {forwarded}");
        }
        SpliceMode::Never => assert_eq!(spliced, 0),
    }
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
    let (got, sha) = read_pattern_to_eof_sha256(&mut client, seed, 0).expect("the echo comes back intact");
    assert_eq!(sha, pattern_sha256(seed, 20 * MIB), "SHA-256 of what came back = SHA-256 of what was sent");
    up.join().expect("writer thread").expect("the client sends everything");
    assert_eq!(got, 20 * MIB as u64, "every byte came back, then EOF");
    assert_eq!(srv.join().expect("server thread").expect("the server echoes"), 20 * MIB as u64);
    assert_spliced(&proxy, splice, 2 * 20 * MIB as u64);
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
        let req = spawn(move || read_pattern_to_eof(&mut reader, seed, 0));
        write_pattern(&mut s, seed + 1, RESPONSE)?;
        let got = req.join().expect("server reader thread")?;
        s.shutdown(Shutdown::Write)?;
        Ok(got)
    });
    let (proxy, addr) = start_proxy(server, splice);

    let mut client = connect(addr);
    write_pattern(&mut client, seed, REQUEST).expect("the client sends its request");
    client.shutdown(Shutdown::Write).expect("the client shuts its write side");
    let got = read_pattern_to_eof(&mut client, seed + 1, 0).expect("the response comes intact");
    assert_eq!(got, RESPONSE as u64, "every response byte, then EOF");
    assert_eq!(srv.join().expect("server thread").expect("the server's side"), REQUEST as u64, "the whole request");
    assert_spliced(&proxy, splice, (REQUEST + RESPONSE) as u64);
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
