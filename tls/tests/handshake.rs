//! HH_SSL_HS on real non-blocking loopback sockets: completion, the facts a
//! completed handshake reports, certificate choice and verification, and
//! peers that are not TLS or go away.

mod common;

use std::io::{Read as _, Write as _};

use common::{ends, handshake, tcp_pair, write_raw, Ca, End, Pki, TempDir, LOOPBACK};
use connseq_tls::rustls::{AlertDescription, CertificateError, Error as RustlsError, InvalidMessage};
use connseq_tls::{ClientTls, ServerTls, Step, TlsConn};

#[test]
fn handshake_completes_on_both_ends_through_nonblocking_steps() {
    let pki = Pki::new();
    let (mut c, mut s) = ends(&pki.client(&[], Some("localhost")), &pki.server(&[]));
    for end in [&c, &s] {
        assert!(end.tls.is_handshaking());
        assert_eq!(end.tls.handshake_bytes(), 0);
    }
    assert_eq!(handshake(&mut c, &mut s), (Step::Done, Step::Done));
    for end in [&c, &s] {
        assert!(!end.tls.is_handshaking());
        // At least a record header and a handshake message's header read from the peer.
        assert!(end.tls.handshake_bytes() > 9, "{}", end.tls.handshake_bytes());
        assert_eq!(end.tls.version(), Some("TLSv1.3"));
        assert!(end.tls.cipher().is_some_and(|name| name.starts_with("TLS_")), "{:?}", end.tls.cipher());
        assert!(!end.tls.has_pending_output());
    }
    assert_eq!(s.tls.sni(), Some("localhost"));
    assert_eq!(c.tls.sni(), None, "sni() is a server-side fact");
    assert_eq!(c.tls.peer_cn().as_deref(), Some("localhost"));
    assert_eq!(s.tls.peer_cn(), None, "the client sent no certificate");
}

#[test]
fn handshake_step_after_done_is_done_again() {
    let pki = Pki::new();
    let (mut c, mut s) = ends(&pki.client(&[], Some("localhost")), &pki.server(&[]));
    assert_eq!(handshake(&mut c, &mut s), (Step::Done, Step::Done));
    assert_eq!(c.tls.handshake(&c.sock), Step::Done);
    assert_eq!(s.tls.handshake(&s.sock), Step::Done);
}

#[test]
fn first_client_step_sends_the_hello_and_wants_to_read() {
    let pki = Pki::new();
    let (c, s) = ends(&pki.client(&[], Some("localhost")), &pki.server(&[]));
    let (mut c, mut s) = (c, s);
    assert_eq!(s.tls.handshake(&s.sock), Step::WantRead, "nothing arrived yet");
    assert_eq!(c.tls.handshake(&c.sock), Step::WantRead, "ClientHello sent, waiting for the server");
    assert!(!c.tls.has_pending_output());
}

#[test]
fn without_sni_the_client_verifies_the_server_ip_and_sends_no_sni() {
    let pki = Pki::new();
    let (mut c, mut s) = ends(&pki.client(&[], None), &pki.server(&[]));
    assert_eq!(handshake(&mut c, &mut s), (Step::Done, Step::Done));
    assert_eq!(s.tls.sni(), None);
}

#[test]
fn alpn_settles_on_the_protocol_both_offer() {
    let pki = Pki::new();
    let server = pki.server(&[b"h2".to_vec(), b"http/1.1".to_vec()]);
    let client = pki.client(&[b"http/1.1".to_vec()], Some("localhost"));
    let (mut c, mut s) = ends(&client, &server);
    assert_eq!(handshake(&mut c, &mut s), (Step::Done, Step::Done));
    assert_eq!(c.tls.alpn(), Some(&b"http/1.1"[..]));
    assert_eq!(s.tls.alpn(), Some(&b"http/1.1"[..]));
}

#[test]
fn alpn_is_none_when_the_client_offers_nothing() {
    let pki = Pki::new();
    let (mut c, mut s) = ends(&pki.client(&[], Some("localhost")), &pki.server(&[b"h2".to_vec()]));
    assert_eq!(handshake(&mut c, &mut s), (Step::Done, Step::Done));
    assert_eq!(s.tls.alpn(), None);
}

/// Two pairs: `a.example` (CN "cert-a") and `*.b.example` (CN "cert-b"),
/// plus one known only by its CN "c.example" (no SAN DNS name).
fn sni_server(dir: &TempDir, ca: &Ca) -> std::sync::Arc<ServerTls> {
    let (a_crt, a_key) = ca.leaf(&["a.example"], "cert-a");
    let (b_crt, b_key) = ca.leaf(&["*.b.example"], "cert-b");
    let (c_crt, c_key) = ca.leaf(&["10.9.9.9"], "c.example");
    let pairs = [
        (dir.write("a.crt", &a_crt), dir.write("a.key", &a_key)),
        (dir.write("b.crt", &b_crt), dir.write("b.key", &b_key)),
        (dir.write("c.crt", &c_crt), dir.write("c.key", &c_key)),
    ];
    ServerTls::from_pem_files(&pairs, &[]).expect("three pairs load")
}

fn cn_seen_for(server: &std::sync::Arc<ServerTls>, sni: Option<&str>) -> (Option<String>, Option<String>) {
    let client = ClientTls::new(None, true, &[], sni.map(str::to_owned)).expect("insecure client");
    let (mut c, mut s) = ends(&client, server);
    assert_eq!(handshake(&mut c, &mut s), (Step::Done, Step::Done), "sni {sni:?}");
    (c.tls.peer_cn(), s.tls.sni().map(str::to_owned))
}

#[test]
fn sni_picks_the_certificate_whose_name_matches() {
    let dir = TempDir::new();
    let server = sni_server(&dir, &Ca::new("sni CA"));
    assert_eq!(cn_seen_for(&server, Some("a.example")).0.as_deref(), Some("cert-a"));
    let (cn, sni) = cn_seen_for(&server, Some("www.b.example"));
    assert_eq!(cn.as_deref(), Some("cert-b"), "the wildcard covers one label");
    assert_eq!(sni.as_deref(), Some("www.b.example"));
    assert_eq!(cn_seen_for(&server, Some("C.Example")).0.as_deref(), Some("c.example"), "CN as fallback");
}

#[test]
fn sni_without_a_match_or_no_sni_gets_the_first_pair() {
    let dir = TempDir::new();
    let server = sni_server(&dir, &Ca::new("sni CA"));
    assert_eq!(cn_seen_for(&server, Some("x.y.b.example")).0.as_deref(), Some("cert-a"));
    assert_eq!(cn_seen_for(&server, Some("b.example")).0.as_deref(), Some("cert-a"));
    assert_eq!(cn_seen_for(&server, None).0.as_deref(), Some("cert-a"));
}

#[test]
fn the_verified_client_accepts_the_certificate_sni_chose() {
    let dir = TempDir::new();
    let ca = Ca::new("sni CA");
    let server = sni_server(&dir, &ca);
    let ca_file = dir.write("ca.pem", &ca.pem());
    let client = ClientTls::new(Some(&ca_file), false, &[], Some("w.b.example".into())).expect("client");
    let (mut c, mut s) = ends(&client, &server);
    assert_eq!(handshake(&mut c, &mut s), (Step::Done, Step::Done));
    assert_eq!(c.tls.peer_cn().as_deref(), Some("cert-b"));
}

#[test]
fn a_server_certificate_from_another_ca_is_invalid_unknown_issuer() {
    let pki = Pki::new();
    let other = Ca::new("some other CA");
    let other_file = pki.dir.write("other-ca.pem", &other.pem());
    let client = ClientTls::new(Some(&other_file), false, &[], Some("localhost".into())).expect("client");
    let (mut c, mut s) = ends(&client, &pki.server(&[]));
    let (cs, ss) = handshake(&mut c, &mut s);
    let Step::Rejected(err) = cs else { panic!("client step {cs:?}") };
    assert!(err.is_certificate_rejected());
    assert_eq!(err.as_rustls(), &RustlsError::InvalidCertificate(CertificateError::UnknownIssuer));
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    // The client's alert reaches the server, which reports it.
    let ss = if ss == Step::WantRead { s.tls.handshake(&s.sock) } else { ss };
    let Step::Invalid(err) = ss else { panic!("server step {ss:?}") };
    assert_eq!(err.alert_received(), Some(AlertDescription::UnknownCA));
}

#[test]
fn a_server_certificate_for_another_name_is_invalid() {
    let pki = Pki::new();
    let (mut c, mut s) = ends(&pki.client(&[], Some("not-localhost.example")), &pki.server(&[]));
    let (cs, _) = handshake(&mut c, &mut s);
    let Step::Rejected(err) = cs else { panic!("client step {cs:?}") };
    assert!(matches!(err.as_rustls(), RustlsError::InvalidCertificate(_)), "{err:?}");
    // Every later step answers the same.
    assert_eq!(c.tls.handshake(&c.sock), Step::Rejected(err));
}

#[test]
fn insecure_mode_accepts_a_self_signed_certificate() {
    let dir = TempDir::new();
    let (crt, key) = common::self_signed(&["self.example"], "self-signed");
    let server =
        ServerTls::from_pem_files(&[(dir.write("s.crt", &crt), dir.write("s.key", &key))], &[]).expect("server config");
    let client = ClientTls::new(None, true, &[], None).expect("insecure client");
    let (mut c, mut s) = ends(&client, &server);
    assert_eq!(handshake(&mut c, &mut s), (Step::Done, Step::Done));
    assert_eq!(c.tls.peer_cn().as_deref(), Some("self-signed"));
}

#[test]
fn verified_mode_refuses_the_same_self_signed_certificate() {
    let dir = TempDir::new();
    let (crt, key) = common::self_signed(&["self.example"], "self-signed");
    let server =
        ServerTls::from_pem_files(&[(dir.write("s.crt", &crt), dir.write("s.key", &key))], &[]).expect("server config");
    let other = Ca::new("unrelated CA");
    let client = ClientTls::new(Some(&dir.write("ca.pem", &other.pem())), false, &[], Some("self.example".into()))
        .expect("client");
    let (mut c, mut s) = ends(&client, &server);
    let (cs, _) = handshake(&mut c, &mut s);
    assert!(matches!(cs, Step::Rejected(_)), "{cs:?}");
}

#[test]
fn garbage_instead_of_a_client_hello_is_invalid_with_a_reason() {
    let pki = Pki::new();
    let (raw, sock) = tcp_pair();
    let mut s = End { tls: TlsConn::server(&pki.server(&[])).expect("server conn"), sock };
    write_raw(&raw, b"GET / HTTP/1.0\r\n\r\n");
    let step = common::step_until_answered(&mut s);
    let Step::Invalid(err) = step else { panic!("server step {step:?}") };
    assert_eq!(err.as_rustls(), &RustlsError::InvalidMessage(InvalidMessage::InvalidContentType));
    assert!(err.to_string().contains("InvalidContentType"), "{err}");
    // Later steps keep the verdict rather than panicking or reading on.
    assert!(matches!(s.tls.handshake(&s.sock), Step::Invalid(_)));
}

/// A ClientHello as long as rustls takes (64 KiB less one byte of body), sent in records
/// whose headers push the bytes rustls must hold before the message is whole past its 64 KiB
/// input buffer: rustls refuses to read more, and that is the peer's invalid message (too
/// large, with an alert), not a reset.
#[test]
fn a_client_hello_larger_than_rustls_holds_is_invalid() {
    let pki = Pki::new();
    let (raw, sock) = tcp_pair();
    let mut s = End { tls: TlsConn::server(&pki.server(&[])).expect("server conn"), sock };
    let mut hello = vec![0x01, 0x00, 0xff, 0xff];
    hello.resize(4 + 0xffff, 0);
    let mut wire = Vec::new();
    for record in hello.chunks(16 * 1024) {
        wire.extend([0x16, 0x03, 0x01]);
        wire.extend(u16::try_from(record.len()).expect("a record's length").to_be_bytes());
        wire.extend(record);
    }
    // 65,564 bytes: more than a fresh socket may take at once; the server reads as it comes.
    let writer = std::thread::spawn(move || {
        raw.set_nonblocking(false).expect("blocking");
        let _ = (&raw).write_all(&wire);
        raw
    });
    let step = common::step_until_answered(&mut s);
    let Step::Invalid(err) = step else { panic!("server step {step:?}") };
    assert_eq!(err.as_rustls(), &RustlsError::InvalidMessage(InvalidMessage::MessageTooLarge));
    drop(writer.join().expect("the writer"));
}

#[test]
fn garbage_instead_of_a_server_hello_is_invalid() {
    let pki = Pki::new();
    let (sock, raw) = tcp_pair();
    let mut c = End { tls: TlsConn::client(&pki.client(&[], Some("localhost")), LOOPBACK).expect("conn"), sock };
    assert_eq!(c.tls.handshake(&c.sock), Step::WantRead);
    write_raw(&raw, b"HTTP/1.0 400 Bad Request\r\n\r\n");
    assert!(matches!(common::step_until_answered(&mut c), Step::Invalid(_)));
}

#[test]
fn an_invalid_peer_gets_an_alert() {
    let pki = Pki::new();
    let (mut raw, sock) = tcp_pair();
    let mut s = End { tls: TlsConn::server(&pki.server(&[])).expect("server conn"), sock };
    // A TLS 1.2 handshake record header announcing a ClientHello with a broken body.
    write_raw(&raw, &[0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0xff]);
    assert!(matches!(common::step_until_answered(&mut s), Step::Invalid(_)));
    // A TLS 1.2 alert record: 5 bytes of header, 2 of alert.
    common::wait_queued(&raw, 7);
    let mut alert = [0u8; 64];
    let n = raw.read(&mut alert).expect("the alert record is readable");
    assert!(n >= 7, "{n} bytes");
    assert_eq!(alert[0], 0x15, "record type alert (RFC 8446 5.1)");
    assert_eq!(alert[5], 2, "fatal");
}

#[test]
fn tcp_close_during_the_handshake_is_eof() {
    let pki = Pki::new();
    let (raw, sock) = tcp_pair();
    let mut s = End { tls: TlsConn::server(&pki.server(&[])).expect("server conn"), sock };
    drop(raw);
    assert_eq!(common::step_until_answered(&mut s), Step::Eof);
}

#[test]
fn reset_during_the_handshake_is_reset() {
    let pki = Pki::new();
    let (raw, sock) = tcp_pair();
    let mut c = End { tls: TlsConn::client(&pki.client(&[], Some("localhost")), LOOPBACK).expect("conn"), sock };
    assert_eq!(c.tls.handshake(&c.sock), Step::WantRead);
    // Close with unread data (the ClientHello): Linux answers with RST.
    common::wait_readable(&raw);
    drop(raw);
    assert_eq!(common::step_until_answered(&mut c), Step::Reset);
}
