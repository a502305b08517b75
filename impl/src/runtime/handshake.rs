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
