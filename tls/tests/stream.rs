//! Application data through an established TLS connection: volume, the
//! order of buffered plaintext versus `WouldBlock`, and partial writes.

mod common;

use std::time::Duration;

use common::{ends, established, handshake, pattern, tcp_pair_with, transfer, End, Pki, LOOPBACK};
use connseq_tls::{Flush, PlainSocketIo, Read, SocketIo, Step, TlsConn, Write};
use socket2::SockRef;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn a_mebibyte_crosses_client_to_server_intact() {
    let pki = Pki::new();
    let (mut c, mut s) = established(&pki.client(&[], Some("localhost")), &pki.server(&[]));
    let data = pattern(1 << 20);
    assert!(transfer(&mut c, &mut s, &data) == data, "bytes differ");
}

#[test]
fn a_mebibyte_crosses_server_to_client_intact() {
    let pki = Pki::new();
    let (mut c, mut s) = established(&pki.client(&[], Some("localhost")), &pki.server(&[]));
    let data = pattern(1 << 20);
    assert!(transfer(&mut s, &mut c, &data) == data, "bytes differ");
}

#[test]
fn buffered_plaintext_all_comes_out_before_would_block() {
    let pki = Pki::new();
    let (mut c, s) = established(&pki.client(&[], Some("localhost")), &pki.server(&[]));
    let mut s = s;
    // Three writes, three records, all in the server's socket at once.
    let data = pattern(3 * 5000);
    for part in data.chunks(5000) {
        assert_eq!(c.tls.write(&c.sock, part), Write::Sent { consumed: 5000, pending: false });
    }
    // Each TLS 1.3 record: 5 bytes of header, the 5000 bytes, 1 of type, 16 of AEAD tag.
    common::wait_queued(&s.sock, 3 * (5 + 5000 + 1 + 16));
    // A small buffer: several reads per record; no WouldBlock until all is out.
    let mut got = Vec::new();
    let mut out = [0u8; 100];
    loop {
        match s.tls.read(&s.sock, &mut out) {
            Read::Data(n) => got.extend_from_slice(&out[..n]),
            Read::WouldBlock => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got.len(), data.len(), "WouldBlock came with plaintext still buffered");
    assert!(got == data);
}

#[test]
fn application_data_sent_with_the_last_flight_is_readable_after_done() {
    let pki = Pki::new();
    let (mut c, mut s) = common::ends(&pki.client(&[], Some("localhost")), &pki.server(&[]));
    // Client: ClientHello. Server: its whole flight. Client: Finished, done.
    assert_eq!(c.tls.handshake(&c.sock), Step::WantRead);
    // The ClientHello is one record in one segment: once readable, it is all there.
    common::wait_readable(&s.sock);
    assert_eq!(s.tls.handshake(&s.sock), Step::WantRead);
    assert_eq!(common::step_until_answered(&mut c), Step::Done);
    // The client's first record follows its Finished before the server steps.
    assert_eq!(c.tls.write(&c.sock, b"early"), Write::Sent { consumed: 5, pending: false });
    assert_eq!(common::step_until_answered(&mut s), Step::Done);
    let mut got = Vec::new();
    assert_eq!(common::drain_at_least(&mut s, &mut got, 5), Read::WouldBlock);
    assert_eq!(got, b"early");
}

#[test]
fn reading_into_an_empty_buffer_moves_nothing() {
    let pki = Pki::new();
    let (mut c, mut s) = established(&pki.client(&[], Some("localhost")), &pki.server(&[]));
    assert_eq!(c.tls.write(&c.sock, b"x"), Write::Sent { consumed: 1, pending: false });
    assert_eq!(s.tls.read(&s.sock, &mut []), Read::Data(0));
    let mut got = Vec::new();
    assert_eq!(common::drain_at_least(&mut s, &mut got, 1), Read::WouldBlock);
    assert_eq!(got, b"x");
}

#[test]
fn a_full_socket_leaves_records_pending_and_then_refuses_more() {
    let pki = Pki::new();
    let (csock, ssock) = tcp_pair_with(|l| {
        SockRef::from(l).set_recv_buffer_size(4096).expect("SO_RCVBUF");
    });
    SockRef::from(&csock).set_send_buffer_size(4096).expect("SO_SNDBUF");
    let mut c = End { tls: TlsConn::client(&pki.client(&[], Some("localhost")), LOOPBACK).expect("conn"), sock: csock };
    let mut s = End { tls: TlsConn::server(&pki.server(&[])).expect("conn"), sock: ssock };
    assert_eq!(common::handshake(&mut c, &mut s), (Step::Done, Step::Done));
    let data = pattern(1 << 20);
    let mut consumed_total = 0;
    let mut saw_pending = false;
    loop {
        match c.tls.write(&c.sock, &data[consumed_total..]) {
            Write::Sent { consumed, pending } => {
                consumed_total += consumed;
                saw_pending |= pending;
                assert!(consumed > 0 || pending);
            }
            Write::WouldBlock => break,
            Write::Reset => panic!("reset"),
        }
        assert!(consumed_total < data.len(), "the socket never filled");
    }
    assert!(saw_pending, "a write that filled the socket reports pending records");
    assert!(c.tls.has_pending_output());
    // The server reads: the pending records and the rest go through.
    let mut got = Vec::new();
    for _ in 0..common::MAX_ROUNDS {
        assert_eq!(s.drain(&mut got), Read::WouldBlock);
        if got.len() == consumed_total && !c.tls.has_pending_output() {
            break;
        }
        let _ = c.tls.flush(&c.sock);
        std::thread::sleep(Duration::from_micros(100));
    }
    assert_eq!(got.len(), consumed_total);
    assert!(got == data[..consumed_total], "bytes differ");
}

/// A socket seam that moves at most 7 bytes per call and counts its calls.
struct Dribble {
    reads: AtomicUsize,
    writes: AtomicUsize,
}

impl SocketIo for Dribble {
    fn recv(&self, sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let n = buf.len().min(7);
        PlainSocketIo.recv(sock, &mut buf[..n])
    }

    fn send(&self, sock: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        PlainSocketIo.send(sock, &buf[..buf.len().min(7)])
    }
}

/// A client and a server whose socket calls go through `client` and `server`, handshaken, with
/// 64 KiB sent each way and checked; the ends and the bytes sent.
fn both_ways_through(pki: &Pki, client: &'static dyn SocketIo, server: &'static dyn SocketIo) -> (End, End, Vec<u8>) {
    let (mut c, mut s) = ends(&pki.client(&[], Some("localhost")), &pki.server(&[]));
    c.tls = c.tls.with_socket_io(client);
    s.tls = s.tls.with_socket_io(server);
    assert_eq!(handshake(&mut c, &mut s), (Step::Done, Step::Done));
    let data = pattern(64 * 1024);
    assert!(transfer(&mut c, &mut s, &data) == data, "bytes differ");
    assert!(transfer(&mut s, &mut c, &data) == data, "bytes differ");
    (c, s, data)
}

#[test]
fn every_socket_call_goes_through_the_seam_and_short_calls_lose_nothing() {
    static CLIENT: Dribble = Dribble { reads: AtomicUsize::new(0), writes: AtomicUsize::new(0) };
    static SERVER: Dribble = Dribble { reads: AtomicUsize::new(0), writes: AtomicUsize::new(0) };
    let pki = Pki::new();
    let (_, _, data) = both_ways_through(&pki, &CLIENT, &SERVER);
    // 64 KiB in records of at most 7 bytes per call, each way: every byte went through the seam.
    for (who, d) in [("client", &CLIENT), ("server", &SERVER)] {
        let (r, w) = (d.reads.load(Ordering::Relaxed), d.writes.load(Ordering::Relaxed));
        assert!(r > data.len() / 7 && w > data.len() / 7, "{who}: {r} reads and {w} writes through the seam");
    }
}

/// A socket seam whose every other call fails with EINTR before it touches the socket, as a
/// signal that lands in the call makes it fail; it counts the calls it failed.
struct Interrupting {
    calls: AtomicUsize,
    interrupted: AtomicUsize,
}

impl Interrupting {
    const fn new() -> Self {
        Interrupting { calls: AtomicUsize::new(0), interrupted: AtomicUsize::new(0) }
    }

    fn strike(&self) -> io::Result<()> {
        if self.calls.fetch_add(1, Ordering::Relaxed) % 2 == 0 {
            self.interrupted.fetch_add(1, Ordering::Relaxed);
            return Err(io::ErrorKind::Interrupted.into());
        }
        Ok(())
    }
}

impl SocketIo for Interrupting {
    fn recv(&self, sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        self.strike()?;
        PlainSocketIo.recv(sock, buf)
    }

    fn send(&self, sock: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
        self.strike()?;
        PlainSocketIo.send(sock, buf)
    }
}

/// EINTR is a call to make again, not a reset: a handshake, a transfer each way and the
/// close_notify through seams that fail every other call so lose nothing and end cleanly.
#[test]
fn an_interrupted_socket_call_is_made_again() {
    static CLIENT: Interrupting = Interrupting::new();
    static SERVER: Interrupting = Interrupting::new();
    let pki = Pki::new();
    let (mut c, mut s, _) = both_ways_through(&pki, &CLIENT, &SERVER);
    assert_eq!(common::eventually(|| c.tls.close_notify(&c.sock), |f| *f != Flush::WouldBlock), Flush::Done);
    let mut got = Vec::new();
    assert_eq!(common::drain_until_end(&mut s, &mut got), Read::Eof { clean: true });
    assert!(got.is_empty(), "{} bytes after the transfer", got.len());
    for (who, d) in [("client", &CLIENT), ("server", &SERVER)] {
        let n = d.interrupted.load(Ordering::Relaxed);
        assert!(n > 10, "{who}: {n} calls interrupted");
    }
}

/// A seam that keeps every byte it reads from the socket, so that the records can be seen as
/// they came on the wire.
struct Recording {
    got: std::sync::Mutex<Vec<u8>>,
}

impl SocketIo for Recording {
    fn recv(&self, sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        let n = PlainSocketIo.recv(sock, buf)?;
        self.got.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn send(&self, sock: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
        PlainSocketIo.send(sock, buf)
    }
}

/// A large write goes out in full TLS records (16 KiB of plaintext each, RFC 8446 5.1), not in
/// many small ones: 64 KiB is four application-data records of the largest size and, at
/// most, a short one.
#[test]
fn a_large_write_goes_out_in_full_records() {
    static SEEN: Recording = Recording { got: std::sync::Mutex::new(Vec::new()) };
    let pki = Pki::new();
    let (mut c, mut s) = established(&pki.client(&[], Some("localhost")), &pki.server(&[]));
    c.tls = c.tls.with_socket_io(&SEEN);
    SEEN.got.lock().expect("the record").clear();
    let data = pattern(64 * 1024);
    assert!(transfer(&mut s, &mut c, &data) == data, "bytes differ");
    let wire = SEEN.got.lock().expect("the record").clone();
    let mut lengths = Vec::new();
    let mut at = 0;
    while at + 5 <= wire.len() {
        let len = usize::from(u16::from_be_bytes([wire[at + 3], wire[at + 4]]));
        if wire[at] == 0x17 {
            lengths.push(len);
        }
        at += 5 + len;
    }
    assert_eq!(at, wire.len(), "whole records");
    // A full record: 16 KiB of plaintext, its content type and the AEAD tag (16 bytes).
    let full = lengths.iter().filter(|&&n| n == 16 * 1024 + 1 + 16).count();
    assert!(full >= 4 && lengths.len() <= 6, "application-data records of {lengths:?} bytes");
    assert!(format!("{:?}", s.tls).starts_with("TlsConn { side: \"server\""), "{:?}", s.tls);
}

/// A server's session ticket that rustls cannot take: the ticket of RFC 8446 4.6.1 may be
/// 65,535 bytes, and one of 65,450 makes a NewSessionTicket that fits the 64 KiB limit rustls
/// puts on a handshake message's length, while its records, joined, overflow the 64 KiB
/// rustls holds of a handshake message being joined after the handshake: `read_tls` refuses
/// the bytes. That is the peer's fault, as an oversized message is (`Read::Invalid`), not a
/// reset; and the connection stays failed. The server is rustls itself, given a ticketer
/// that makes tickets this large.
#[test]
fn a_session_ticket_too_large_to_hold_is_invalid_not_a_reset() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::Write as _;

    #[derive(Debug)]
    struct Tickets(usize);
    impl rustls::server::ProducesTickets for Tickets {
        fn enabled(&self) -> bool {
            true
        }
        fn lifetime(&self) -> u32 {
            3600
        }
        fn encrypt(&self, _plain: &[u8]) -> Option<Vec<u8>> {
            Some(vec![0x5a; self.0])
        }
        fn decrypt(&self, _cipher: &[u8]) -> Option<Vec<u8>> {
            None
        }
    }

    let pki = Pki::new();
    let certs: Vec<CertificateDer<'_>> = CertificateDer::pem_file_iter(&pki.cert_file)
        .expect("the certificate file")
        .collect::<Result<_, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(&pki.key_file).expect("the key");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the server's certificate");
    cfg.ticketer = std::sync::Arc::new(Tickets(65_450));
    cfg.send_tls13_tickets = 1;
    let (csock, mut ssock) = tcp_pair_with(|_| {});
    let server = std::thread::spawn(move || {
        ssock.set_nonblocking(false).expect("blocking");
        let mut conn = rustls::ServerConnection::new(std::sync::Arc::new(cfg)).expect("a server connection");
        let mut stream = rustls::Stream::new(&mut conn, &mut ssock);
        // The handshake, then the ticket, then these bytes, which never come through.
        let _ = stream.write_all(b"after the ticket").and_then(|()| stream.flush());
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut ssock, &mut rest);
    });
    let mut c = End { tls: TlsConn::client(&pki.client(&[], None), LOOPBACK).expect("client conn"), sock: csock };
    assert_eq!(common::step_until_answered(&mut c), Step::Done);
    let mut got = Vec::new();
    let end = common::drain_until_end(&mut c, &mut got);
    let Read::Invalid(e) = end else { panic!("{end:?} after {got:?}") };
    assert!(format!("{e:?}").contains("MessageTooLarge"), "{e:?}");
    assert!(got.is_empty(), "{got:?}");
    let again = c.tls.read(&c.sock, &mut [0u8; 16]);
    assert!(matches!(again, Read::Invalid(_)), "the connection stays failed: {again:?}");
    c.sock.shutdown(std::net::Shutdown::Both).expect("close");
    server.join().expect("the server");
}
