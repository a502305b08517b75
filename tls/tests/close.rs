//! The data layer's shutw (close_notify) and the ways a peer ends: a clean
//! close_notify, a bare TCP FIN, a reset; and the note's asynchronous shutw
//! when the close_notify does not fit in the socket.

mod common;

use std::io::Read as _;
use std::time::Duration;

use common::{
    drain_until_end, established, eventually, flush_fully, pattern, tcp_pair_with, wait_queued, wait_readable, End,
    Pki, LOOPBACK, MAX_ROUNDS,
};
use connseq_tls::{Flush, Read, Step, TlsConn, Write};
use socket2::SockRef;

fn pair() -> (End, End) {
    let pki = Pki::new();
    established(&pki.client(&[], Some("localhost")), &pki.server(&[]))
}

/// An observation window for something that must not happen (the only sleep left here: a
/// wait for an event cannot show that none comes).
fn settle() {
    std::thread::sleep(Duration::from_millis(20));
}

#[test]
fn close_notify_from_the_client_gives_the_server_a_clean_eof_after_the_data() {
    let (mut c, mut s) = pair();
    assert_eq!(c.tls.write(&c.sock, b"last words"), Write::Sent { consumed: 10, pending: false });
    assert_eq!(c.tls.close_notify(&c.sock), Flush::Done);
    let mut got = Vec::new();
    assert_eq!(drain_until_end(&mut s, &mut got), Read::Eof { clean: true });
    assert_eq!(got, b"last words");
    // An end is sticky.
    assert_eq!(s.tls.read(&s.sock, &mut [0u8; 16]), Read::Eof { clean: true });
}

#[test]
fn close_notify_from_the_server_gives_the_client_a_clean_eof() {
    let (mut c, mut s) = pair();
    assert_eq!(s.tls.close_notify(&s.sock), Flush::Done);
    assert_eq!(drain_until_end(&mut c, &mut Vec::new()), Read::Eof { clean: true });
}

#[test]
fn close_notify_shuts_one_direction_only() {
    let (mut c, mut s) = pair();
    assert_eq!(c.tls.close_notify(&c.sock), Flush::Done);
    assert_eq!(drain_until_end(&mut s, &mut Vec::new()), Read::Eof { clean: true });
    // The other direction still carries data, then its own close_notify.
    assert_eq!(s.tls.write(&s.sock, b"response"), Write::Sent { consumed: 8, pending: false });
    assert_eq!(s.tls.close_notify(&s.sock), Flush::Done);
    let mut got = Vec::new();
    assert_eq!(drain_until_end(&mut c, &mut got), Read::Eof { clean: true });
    assert_eq!(got, b"response");
}

#[test]
fn close_notify_is_queued_once_and_leaves_the_socket_open() {
    let (mut c, s) = pair();
    assert_eq!(c.tls.close_notify(&c.sock), Flush::Done);
    assert_eq!(c.tls.close_notify(&c.sock), Flush::Done);
    assert!(!c.tls.has_pending_output());
    // One TLS 1.3 alert record: 5 header + 2 alert + 1 type + 16 AEAD tag.
    wait_queued(&s.sock, 24);
    let mut raw = [0u8; 256];
    let n = (&s.sock).read(&mut raw).expect("the alert is in the socket");
    assert_eq!(n, 24);
    assert_eq!(raw[0], 0x17, "TLS 1.3 hides the alert in an application_data record");
    // No FIN came with it: the socket is still open for reading.
    let again = (&s.sock).read(&mut raw);
    assert_eq!(again.map_err(|e| e.kind()), Err(std::io::ErrorKind::WouldBlock));
}

#[test]
fn tcp_fin_without_close_notify_is_an_unclean_eof_after_the_data() {
    let (mut c, mut s) = pair();
    assert_eq!(c.tls.write(&c.sock, b"tail"), Write::Sent { consumed: 4, pending: false });
    c.shutw();
    let mut got = Vec::new();
    assert_eq!(drain_until_end(&mut s, &mut got), Read::Eof { clean: false });
    assert_eq!(got, b"tail");
    assert_eq!(s.tls.read(&s.sock, &mut [0u8; 16]), Read::Eof { clean: false });
}

#[test]
fn close_notify_then_fin_is_a_clean_eof() {
    let (mut c, mut s) = pair();
    assert_eq!(c.tls.close_notify(&c.sock), Flush::Done);
    c.shutw();
    assert_eq!(drain_until_end(&mut s, &mut Vec::new()), Read::Eof { clean: true });
}

/// Resets `end`'s connection and waits until the RST reached `peer`'s socket.
fn reset(end: End, peer: &End) {
    SockRef::from(&end.sock).set_linger(Some(Duration::ZERO)).expect("SO_LINGER");
    drop(end);
    wait_readable(&peer.sock);
}

#[test]
fn a_peer_reset_is_reset_on_read() {
    let (c, mut s) = pair();
    reset(c, &s);
    assert_eq!(s.tls.read(&s.sock, &mut [0u8; 16]), Read::Reset);
}

#[test]
fn a_peer_reset_is_reset_on_write_and_close_notify() {
    let (c, mut s) = pair();
    reset(c, &s);
    assert_eq!(s.tls.write(&s.sock, b"into the void"), Write::Reset);
    let (c, mut s) = pair();
    reset(c, &s);
    assert_eq!(s.tls.close_notify(&s.sock), Flush::Reset);
}

#[test]
fn a_write_after_the_peer_closed_is_reset_not_a_signal() {
    let (c, mut s) = pair();
    drop(c);
    wait_readable(&s.sock);
    // The first send is answered with RST; a later one fails with EPIPE
    // (MSG_NOSIGNAL: no SIGPIPE).
    let outcome = eventually(|| s.tls.write(&s.sock, b"anyone there?"), |w| *w == Write::Reset);
    assert_eq!(outcome, Write::Reset);
}

/// The note's asynchronous shutw: a close_notify that does not fit in the
/// socket is a step that would block, kept and retried when writable.
#[test]
fn close_notify_on_a_full_socket_would_block_then_completes_once_the_peer_reads() {
    let pki = Pki::new();
    let (csock, ssock) = tcp_pair_with(|l| {
        SockRef::from(l).set_recv_buffer_size(4096).expect("SO_RCVBUF");
    });
    SockRef::from(&csock).set_send_buffer_size(4096).expect("SO_SNDBUF");
    let mut c = End { tls: TlsConn::client(&pki.client(&[], Some("localhost")), LOOPBACK).expect("conn"), sock: csock };
    let mut s = End { tls: TlsConn::server(&pki.server(&[])).expect("conn"), sock: ssock };
    assert_eq!(common::handshake(&mut c, &mut s), (Step::Done, Step::Done));
    flush_fully(&mut s);

    // Fill the path with data the server does not read.
    let data = pattern(1 << 20);
    let mut sent = 0;
    loop {
        match c.tls.write(&c.sock, &data[sent..]) {
            Write::Sent { consumed, .. } => sent += consumed,
            Write::WouldBlock => break,
            Write::Reset => panic!("reset while filling"),
        }
        assert!(sent < data.len(), "the socket never filled");
    }

    // DSHW: the close_notify queues behind the pending records and waits.
    assert_eq!(c.tls.close_notify(&c.sock), Flush::WouldBlock);
    assert!(c.tls.has_pending_output());
    settle();
    assert_eq!(c.tls.close_notify(&c.sock), Flush::WouldBlock, "nothing moves while the peer does not read");

    // The peer reads; each retry (on writability) pushes more, until done.
    let mut got = Vec::new();
    let mut shutw_done = false;
    for _ in 0..MAX_ROUNDS {
        match s.drain(&mut got) {
            Read::WouldBlock => {}
            Read::Eof { clean: true } => break,
            other => panic!("server read {other:?} after {} bytes", got.len()),
        }
        if !shutw_done {
            shutw_done = c.tls.close_notify(&c.sock) == Flush::Done;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    assert!(shutw_done);
    assert_eq!(got.len(), sent);
    assert!(got == data[..sent], "bytes differ");
    assert_eq!(s.tls.read(&s.sock, &mut [0u8; 16]), Read::Eof { clean: true });
}
