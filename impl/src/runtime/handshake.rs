//! The incoming handshake handlers' I/O as the executor performs it, on any socket: the PROXY
//! header (HH_ACCEPT_PROXY) and what a TLS handshake step (HH_SSL_HS) means for the core.
//! Public so that the handshake fuzz target (`fuzz/fuzz_targets/handshake.rs`) drives the
//! very same code, with the core deciding, on a socket pair.

use crate::sys::socket;
use connseq_model::core::Outcome;
use connseq_proxy_protocol as pp;
use connseq_tls::{Step, TlsError};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

/// What one HH_ACCEPT_PROXY step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderStep {
    /// For the core.
    pub outcome: Outcome,
    /// The source and destination a complete PROXY header gave (PROXY command with an IP
    /// family); `None` otherwise.
    pub forwarded: Option<(SocketAddr, SocketAddr)>,
    /// Why the header was refused, as the log's stable word.
    pub reason: Option<&'static str>,
}

/// HH_ACCEPT_PROXY: peeks at what the client sent and parses it as a PROXY header; once it is
/// complete, reads exactly its bytes, so the payload stays queued for the data layer. A split
/// header waits for more bytes (a new edge); the handshake timeout bounds the wait.
pub fn recv_proxy_header<S: AsFd>(sock: &S) -> HeaderStep {
    let step = |outcome| HeaderStep { outcome, forwarded: None, reason: None };
    let mut buf = [0u8; pp::MAX_V2_LEN];
    let n = match socket::peek(sock, &mut buf) {
        Ok(0) => return step(Outcome::EofEmpty),
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return step(Outcome::WouldBlock),
        Err(_) => return step(Outcome::Reset),
    };
    let (len, forwarded) = match pp::parse(&buf[..n]) {
        Ok(pp::Parsed::Complete(header, len)) => {
            let a = &header.addresses;
            let forwarded = (header.command == pp::Command::Proxy).then(|| a.source().zip(a.destination())).flatten();
            (len, forwarded)
        }
        Ok(pp::Parsed::Incomplete(_)) => return step(Outcome::WouldBlock),
        Err(e) => return HeaderStep { outcome: Outcome::Invalid, forwarded: None, reason: Some(e.reason()) },
    };
    // The bytes are queued (the peek saw them): this read takes them all.
    match socket::recv(sock, &mut buf[..len]) {
        Ok(got) if got == len => HeaderStep { outcome: Outcome::Done, forwarded, reason: None },
        Ok(_) | Err(_) => step(Outcome::Reset),
    }
}

/// What a TLS handshake step on `sock` means for the core, and the log's word when the peer
/// broke TLS.
pub fn tls_outcome<S: AsFd>(step: Step, sock: &S) -> (Outcome, Option<&'static str>) {
    match step {
        Step::Done => (Outcome::Done, None),
        Step::WantRead => (Outcome::WouldBlock, None),
        Step::WantWrite => (Outcome::WantWrite, None),
        Step::Eof => (eof_or_reset(sock), None),
        Step::Reset => (Outcome::Reset, None),
        Step::Invalid(e) => (Outcome::Invalid, Some(tls_reason(&e))),
        // Our verification refused the peer's certificate: reported as the
        // peer's protocol failure, the log line says why.
        Step::Rejected(e) => (Outcome::Invalid, Some(tls_reason(&e))),
    }
}

/// A read returned 0: the peer's FIN. An RST that came after that FIN leaves it readable and
/// keeps `EPIPE` in `SO_ERROR` for the sends, which fail on their own (kernel_axioms.rs,
/// `data_for_a_closed_socket_after_its_fin_arrived_is_answered_with_rst_seen_as_epipe`; the
/// model's `Wire::reset_at_proxy`): still the end of the stream. A pending `ECONNRESET` is an
/// RST with no FIN before it: a reset.
pub(crate) fn eof_or_reset<S: AsFd>(sock: &S) -> Outcome {
    match socket::take_error(sock) {
        Ok(Some(e)) if e.raw_os_error() == Some(libc::ECONNRESET) => Outcome::Reset,
        _ => Outcome::Eof,
    }
}

/// The log's word for a TLS failure; for a certificate the verifier refused, the word and
/// the verifier's reason.
pub(crate) fn tls_reason(e: &TlsError) -> &'static str {
    use connseq_tls::rustls::CertificateError as C;
    use connseq_tls::rustls::Error as E;
    match e.as_rustls() {
        E::AlertReceived(_) => "tls-alert-received",
        E::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "tls-bad-certificate: unknown issuer",
            C::Expired | C::ExpiredContext { .. } => "tls-bad-certificate: expired",
            C::NotValidYet | C::NotValidYetContext { .. } => "tls-bad-certificate: not valid yet",
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "tls-bad-certificate: not valid for the server's name"
            }
            C::BadSignature => "tls-bad-certificate: bad signature",
            C::BadEncoding => "tls-bad-certificate: malformed",
            C::Revoked => "tls-bad-certificate: revoked",
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => "tls-bad-certificate: not for TLS servers",
            C::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => {
                "tls-bad-certificate: CA certificate used as end entity"
            }
            _ => "tls-bad-certificate",
        },
        E::NoApplicationProtocol => "tls-no-alpn",
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            "tls-not-tls"
        }
        E::PeerIncompatible(_) => "tls-incompatible",
        _ => "tls-handshake-failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::test_support::{loopback_pair, wait, Ready};
    use connseq_tls::rustls::{
        AlertDescription, CertificateError as C, ContentType, Error as E, HandshakeType, InvalidMessage, OtherError,
        PeerIncompatible,
    };
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn each_tls_failure_has_its_word_in_the_log() {
        let cert = |c: C| E::InvalidCertificate(c);
        let other = |what: &str| C::Other(OtherError(Arc::new(io::Error::other(what.to_owned()))));
        let cases = [
            (E::AlertReceived(AlertDescription::HandshakeFailure), "tls-alert-received"),
            (cert(C::UnknownIssuer), "tls-bad-certificate: unknown issuer"),
            (cert(C::Expired), "tls-bad-certificate: expired"),
            (cert(C::NotValidYet), "tls-bad-certificate: not valid yet"),
            (cert(C::NotValidForName), "tls-bad-certificate: not valid for the server's name"),
            (cert(C::BadSignature), "tls-bad-certificate: bad signature"),
            (cert(C::BadEncoding), "tls-bad-certificate: malformed"),
            (cert(C::Revoked), "tls-bad-certificate: revoked"),
            (cert(C::InvalidPurpose), "tls-bad-certificate: not for TLS servers"),
            (cert(other("CaUsedAsEndEntity")), "tls-bad-certificate: CA certificate used as end entity"),
            (cert(other("something else")), "tls-bad-certificate"),
            (cert(C::UnhandledCriticalExtension), "tls-bad-certificate"),
            (E::NoApplicationProtocol, "tls-no-alpn"),
            (E::InvalidMessage(InvalidMessage::InvalidContentType), "tls-not-tls"),
            (
                E::InappropriateMessage { expect_types: vec![ContentType::Handshake], got_type: ContentType::Alert },
                "tls-not-tls",
            ),
            (
                E::InappropriateHandshakeMessage {
                    expect_types: vec![HandshakeType::ServerHello],
                    got_type: HandshakeType::Finished,
                },
                "tls-not-tls",
            ),
            (E::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon), "tls-incompatible"),
            (E::General("anything".into()), "tls-handshake-failed"),
        ];
        for (e, word) in cases {
            assert_eq!(tls_reason(&TlsError::from(e.clone())), word, "{e:?}");
        }
    }

    #[test]
    fn a_proxy_header_is_read_whole_and_the_payload_stays_queued() {
        let (ours, mut peer) = loopback_pair();
        assert_eq!(recv_proxy_header(&ours).outcome, Outcome::WouldBlock, "nothing sent yet");
        peer.write_all(b"PROXY TCP4 192.0.2.1 198.51.100.2 1111 2222\r").expect("write");
        wait(&ours, Ready::Read);
        assert_eq!(recv_proxy_header(&ours).outcome, Outcome::WouldBlock, "a header split before its LF waits");
        peer.write_all(b"\nhello").expect("write");
        // Both parts are queued once the peek sees the payload's first byte.
        let mut probe = [0u8; 64];
        let whole = "PROXY TCP4 192.0.2.1 198.51.100.2 1111 2222\r\nh".len();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while socket::peek(&ours, &mut probe).expect("peek") < whole {
            assert!(std::time::Instant::now() < deadline, "the payload never arrived");
            std::thread::yield_now();
        }
        let step = recv_proxy_header(&ours);
        assert_eq!(step.outcome, Outcome::Done);
        let src: SocketAddr = "192.0.2.1:1111".parse().expect("address");
        let dst: SocketAddr = "198.51.100.2:2222".parse().expect("address");
        assert_eq!((step.forwarded, step.reason), (Some((src, dst)), None));
        let mut rest = [0u8; 5];
        (&ours).read_exact(&mut rest).expect("the payload");
        assert_eq!(&rest, b"hello", "only the header was taken");
    }

    #[test]
    fn garbage_is_refused_with_a_reason_and_a_silent_close_is_an_empty_eof() {
        let (ours, mut peer) = loopback_pair();
        peer.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("write");
        wait(&ours, Ready::Read);
        let step = recv_proxy_header(&ours);
        assert_eq!((step.outcome, step.forwarded), (Outcome::Invalid, None));
        assert!(step.reason.is_some_and(|r| !r.is_empty()), "{step:?}");

        let (ours, peer) = loopback_pair();
        drop(peer);
        wait(&ours, Ready::Read);
        assert_eq!(recv_proxy_header(&ours).outcome, Outcome::EofEmpty);
    }

    #[test]
    fn a_zero_read_is_the_end_after_a_fin_and_a_reset_after_an_rst_alone() {
        let (ours, peer) = loopback_pair();
        peer.shutdown(std::net::Shutdown::Write).expect("FIN");
        wait(&ours, Ready::Read);
        assert_eq!(eof_or_reset(&ours), Outcome::Eof);

        let (ours, peer) = loopback_pair();
        socket2::SockRef::from(&peer).set_linger(Some(Duration::ZERO)).expect("SO_LINGER 0");
        drop(peer);
        wait(&ours, Ready::Read);
        assert_eq!(eof_or_reset(&ours), Outcome::Reset);
    }
}
