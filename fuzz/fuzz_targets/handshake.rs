//! The incoming handshake pipeline as the runtime drives it: bytes in arbitrary chunks through
//! HH_TCP_RULES_CONN, HH_ACCEPT_PROXY, HH_TCP_RULES (the forwarded source) and HH_SSL_HS, with
//! the core (`Session`) deciding every step and the runtime's own handshake I/O
//! (`connseq::runtime::handshake`, rustls through `connseq_tls`) performing it on a Unix
//! socket pair.
//!
//! Input: one configuration byte (bit 0 accept-proxy, bit 1 source rules, bit 2 the real peer
//! is denied, bit 3 TLS), then chunks, each a length byte and its bytes, written one by one
//! to the client's end, each followed by a readable event and a turn of the core.
//!
//! Checked, besides "no panic" and "no descriptor left open":
//! - the session starts only if the PROXY header (when expected) is what the parser makes of
//!   the whole input, complete and valid, and its source passed the rules; the header is
//!   consumed exactly, the payload left queued (without TLS, which reads further);
//! - a header the parser refuses never starts a session: the code is `CR`;
//! - a denied peer or source gets `PR`; once the input ends, the handshake timer closes
//!   whatever did not start, with both interfaces in CLO.

#![no_main]

use connseq::runtime::handshake;
use connseq_model::core::{Action, Cause, Outcome, RuleStage, Session, SessionConfig, SiState, Side, TimerKind};
use connseq_proxy_protocol as pp;
use connseq_tls::{ServerTls, TlsConn};
use libfuzzer_sys::fuzz_target;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, OnceLock};

/// The forwarded sources the source rules deny (the seeds' headers come from 192.0.2.7).
fn src_denied(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[..3] == [192, 0, 2])
}

/// A server certificate for the TLS steps, made once per process.
fn server_tls() -> &'static Arc<ServerTls> {
    static TLS: OnceLock<Arc<ServerTls>> = OnceLock::new();
    TLS.get_or_init(|| {
        let ck = rcgen::generate_simple_self_signed(vec!["app.example".to_owned()]).expect("a certificate");
        let dir = std::env::temp_dir().join(format!("connseq-fuzz-handshake-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).expect("write the certificate");
        std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write the key");
        ServerTls::from_pem_files(&[(cert, key)], &[b"h2".to_vec()]).expect("the TLS configuration")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg_byte, mut rest)) = data.split_first() else { return };
    let cfg = SessionConfig {
        conn_rules: true,
        accept_proxy: cfg_byte & 1 != 0,
        src_rules: cfg_byte & 1 != 0 && cfg_byte & 2 != 0,
        tls_front: cfg_byte & 8 != 0,
        ..SessionConfig::default()
    };
    let peer_denied = cfg_byte & 4 != 0;
    let (mut client, front) = UnixStream::pair().expect("a socket pair");
    client.set_nonblocking(true).expect("non-blocking");
    front.set_nonblocking(true).expect("non-blocking");

    let mut run = Run { cfg, s: Session::accept(&cfg, 0, false), tls: None, forwarded: None, peer_denied };
    let mut sent = Vec::new();
    run.turn(&front);
    while let Some((&len, more)) = rest.split_first() {
        let chunk = &more[..usize::from(len).min(more.len())];
        rest = &more[chunk.len()..];
        if run.s.si(Side::Front) != SiState::Ini {
            break;
        }
        if client.write_all(chunk).is_err() {
            break;
        }
        sent.extend_from_slice(chunk);
        run.s.handle_ready(&cfg, Side::Front, true, false, 0);
        run.turn(&front);
        drain(&mut client);
    }
    run.check(&sent, &front);
    // The input ends: whatever did not start meets the handshake timeout.
    if !run.s.started() {
        run.s.fire_timer(&cfg, TimerKind::Handshake, 1);
        run.turn(&front);
        assert!(
            run.s.conn(Side::Front).fd == connseq_model::core::FdState::Closed,
            "the front did not close: {:#?}",
            run.s
        );
        assert_eq!((run.s.si(Side::Front), run.s.si(Side::Back)), (SiState::Clo, SiState::Clo));
    }
});

/// The session under test and what the runtime keeps beside it.
struct Run {
    cfg: SessionConfig,
    s: Session,
    tls: Option<TlsConn>,
    forwarded: Option<(std::net::SocketAddr, std::net::SocketAddr)>,
    peer_denied: bool,
}

impl Run {
    /// Runs the core until it waits, or until the session started (the backend is not here).
    fn turn(&mut self, front: &UnixStream) {
        for _ in 0..10_000 {
            if self.s.started() {
                return;
            }
            let Some(action) = self.s.poll_action(&self.cfg) else { return };
            let outcome = match action {
                Action::EvalRules(RuleStage::Connection) => Outcome::Verdict(!self.peer_denied),
                Action::EvalRules(RuleStage::Source) => {
                    let denied = self.forwarded.is_some_and(|(src, _)| src_denied(src.ip()));
                    Outcome::Verdict(!denied)
                }
                Action::RecvProxyHeader => {
                    let step = handshake::recv_proxy_header(front);
                    if step.outcome == Outcome::Done {
                        self.forwarded = step.forwarded;
                    }
                    assert_eq!(step.outcome == Outcome::Invalid, step.reason.is_some());
                    step.outcome
                }
                Action::TlsHandshake(Side::Front) => {
                    let tls = self.tls.get_or_insert_with(|| TlsConn::server(server_tls()).expect("a TLS server"));
                    handshake::tls_outcome(tls.handshake(front), front).0
                }
                // The close sequence of a refused connection: nothing to do on a socket pair.
                Action::DataClose(_) | Action::CtrlClose(_) | Action::SockClose { .. } | Action::CtrlShutw(_) => {
                    Outcome::Done
                }
                Action::DataShutw(_) => Outcome::Done,
                Action::Discard(_) => Outcome::Done,
                Action::Recv { .. } => Outcome::WouldBlock,
                other => panic!("a handshake asked for {other:?}: {:#?}", self.s),
            };
            self.s.handle_outcome(&self.cfg, action, outcome, 0);
        }
        panic!("no quiescence: {:#?}", self.s);
    }

    /// The session's state agrees with what the parser and the rules make of `sent`.
    fn check(&self, sent: &[u8], front: &UnixStream) {
        let parsed = pp::parse(sent);
        let term = self.s.termination();
        if self.cfg.accept_proxy {
            match &parsed {
                Ok(pp::Parsed::Complete(h, len)) => {
                    let a = h.addresses;
                    let want = (h.command == pp::Command::Proxy).then(|| a.source().zip(a.destination())).flatten();
                    if self.s.conn(Side::Front).hs.is_empty() || self.s.started() {
                        assert_eq!(self.forwarded, want, "the forwarded addresses");
                    }
                    if self.s.started() && !self.cfg.tls_front {
                        // The header, exactly, was consumed: the payload is still queued.
                        let mut queued = vec![0u8; sent.len() + 1];
                        let n = peek(front, &mut queued);
                        assert_eq!(&queued[..n], &sent[*len..], "what is left after the header");
                    }
                }
                Ok(pp::Parsed::Incomplete(_)) => {
                    assert!(!self.s.started(), "a session started on an incomplete header");
                }
                Err(_) => {
                    assert!(!self.s.started(), "a session started on an invalid header");
                    if !self.peer_denied {
                        assert_eq!(term.cause, Cause::Client, "an invalid header is the client's fault: {term}");
                    }
                }
            }
        }
        if self.peer_denied {
            assert!(!self.s.started() && self.s.rejected(), "a denied peer got through");
            assert_eq!(term.to_string(), "PR");
        }
        if self.s.started() {
            if let Some((src, _)) = self.forwarded.filter(|_| self.cfg.src_rules) {
                assert!(!src_denied(src.ip()), "a denied source got through");
            }
            assert!(self.s.conn(Side::Front).hs.is_empty());
        }
    }
}

/// Reads and drops what the proxy wrote to the client (a TLS flight, an alert).
fn drain(client: &mut UnixStream) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = client.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// What is queued on `sock`, not consumed.
fn peek(sock: &UnixStream, buf: &mut [u8]) -> usize {
    connseq::sys::socket::peek(sock, buf).unwrap_or(0)
}
