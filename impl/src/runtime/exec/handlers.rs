//! The handshake handlers besides TLS: the PROXY header received
//! (HH_ACCEPT_PROXY, through [`handshake::recv_proxy_header`]) and sent
//! (HH_SEND_PROXY, with its TLVs), the health and monitor replies; and the
//! listener's connection rules with the backend's per-source limits.

use super::{internal, Exec};
use crate::config::{ProxyVersion, SendProxy, Verdict};
use crate::runtime::flow::Flow;
use crate::runtime::handshake;
use crate::runtime::limits::Admit;
use crate::sys::socket;
use connseq_model::core::{Action, Outcome, RuleStage, Side, Source};
use connseq_proxy_protocol as pp;
use connseq_tls::TlsConn;
use std::io;
use std::sync::atomic::Ordering;
use tracing::{debug, error};

impl Exec<'_> {
    /// TCP_RULES: the listener's rules of `stage` (on the real peer's
    /// address, or on the source a PROXY header gave), then, on the real
    /// peer, the backend's per-source limits: whether the peer may go on.
    pub(super) fn eval_rules(&self, flow: &mut Flow, stage: RuleStage) -> Outcome {
        let (rules, ip) = match stage {
            RuleStage::Connection => (&self.listener.options.conn_rules, flow.client.ip()),
            RuleStage::Source => (&self.listener.options.src_rules, flow.source().ip()),
        };
        let allowed = rules.verdict(ip) == Verdict::Allow;
        Outcome::Verdict(allowed && (stage == RuleStage::Source || self.admit_source(flow)))
    }

    /// The health or monitor reply, whole: a few bytes into a fresh socket,
    /// so a short write means the peer is already gone. Never through TLS:
    /// the core runs this handler before the TLS handshake.
    pub(super) fn send_reply(&self, flow: &mut Flow, side: Side) -> Outcome {
        let Some(reply) = flow.core.reply() else {
            return internal(flow, Action::Send { side, from: Source::Reply, more: false }, Outcome::Reset);
        };
        let Some(sock) = flow.sock(side).stream.as_ref() else { return Outcome::Reset };
        if !self.room_for_message(side) {
            return Outcome::WouldBlock;
        }
        let bytes = reply.bytes();
        match socket::send(sock, bytes, false) {
            Ok(n) if n == bytes.len() => {
                self.sent_message(side);
                flow.sent[1] += n as u64;
                Outcome::Sent { drained: true }
            }
            Ok(_) => Outcome::Reset,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
            Err(_) => Outcome::Reset,
        }
    }

    /// HH_ACCEPT_PROXY on the client's socket ([`handshake::recv_proxy_header`]).
    pub(super) fn recv_proxy_header(flow: &mut Flow) -> Outcome {
        let Some(sock) = flow.front.stream.as_ref() else { return Outcome::Reset };
        let step = handshake::recv_proxy_header(sock);
        if let Some(fwd) = step.forwarded {
            flow.forwarded = Some(fwd);
        }
        if let Some(reason) = step.reason {
            flow.reason = Some(reason);
            debug!(target: "connseq::runtime", "{}: invalid PROXY header: {reason}", flow.client);
        }
        step.outcome
    }

    /// HH_SEND_PROXY: the PROXY header, first on the server connection. It
    /// is built at its first send; what a partial send (or a full socket)
    /// leaves is kept in the flow and sent by the next call, so the header's
    /// addresses and TLVs are looked up once per attempt.
    pub(super) fn send_proxy_header(&mut self, flow: &mut Flow, more: bool) -> Outcome {
        let Some(send) = self.listener.send_proxy else {
            return internal(flow, Action::Send { side: Side::Back, from: Source::ProxyHeader, more }, Outcome::Reset);
        };
        if flow.back.stream.is_none() {
            return Outcome::Reset;
        }
        if !self.room_for_message(Side::Back) {
            return Outcome::WouldBlock;
        }
        let mut built = [0u8; pp::MAX_V2_LEN];
        let kept = flow.header_rest.take();
        let bytes: &[u8] = match &kept {
            Some(rest) => rest,
            None => match build_proxy_header(flow, send, &mut built) {
                Ok(len) => &built[..len],
                Err(outcome) => return outcome,
            },
        };
        let Some(sock) = flow.back.stream.as_ref() else { return Outcome::Reset };
        let more = self.cork(Side::Back, more);
        let len = bytes.len();
        let sent = match socket::send(sock, bytes, more) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => return Outcome::Reset,
        };
        if sent == len {
            self.sent_message(Side::Back);
            return Outcome::Sent { drained: true };
        }
        // What is left: the kept rest as it is when nothing went, else a copy
        // of its tail (one allocation per partial send, none per refusal).
        flow.header_rest = Some(match kept {
            Some(rest) if sent == 0 => rest,
            Some(rest) => rest[sent..].into(),
            None => built[sent..len].into(),
        });
        if sent == 0 {
            Outcome::WouldBlock
        } else {
            Outcome::Sent { drained: false }
        }
    }

    /// The backend's per-source limits (`src-conn-limit`, `src-conn-rate`), after the listener's
    /// connection rules let the peer through: false when one refuses it (the core then
    /// rejects the connection as for a deny rule; the reason goes to the log line).
    pub(super) fn admit_source(&self, flow: &mut Flow) -> bool {
        let Some(table) = self.shared.sources.get(self.backend).and_then(Option::as_ref) else { return true };
        let admit = table.admit(flow.client.ip(), self.now);
        flow.source_counted = admit == Admit::Yes;
        if let Some(reason) = admit.reason() {
            flow.reason = Some(reason);
            self.shared.counters.throttled.fetch_add(1, Ordering::Relaxed);
        }
        admit == Admit::Yes
    }
}

/// The PROXY header `send` asks for, written into `buf`: its length, or the
/// outcome that ends the attempt. The addresses are the client's as the
/// proxy knows them: a received header's, else the real peer and the address
/// it connected to; the TLVs carry what the client's TLS layer learnt (ALPN,
/// SNI, version, cipher, the certificate's CN), each only when asked for and
/// known.
fn build_proxy_header(flow: &Flow, send: SendProxy, buf: &mut [u8]) -> Result<usize, Outcome> {
    let dst = match flow.forwarded {
        Some((_, dst)) => dst,
        None => match flow.front.stream.as_ref().map(|s| s.local_addr()) {
            Some(Ok(a)) => a,
            _ => return Err(Outcome::Reset),
        },
    };
    let src = flow.source();
    let mut id = [0u8; 32];
    let front = flow.tls[Side::Front as usize].as_deref();
    let cn = front.filter(|_| send.tlvs.ssl).and_then(TlsConn::peer_cn);
    let built = match send.version {
        ProxyVersion::V1 => pp::V1Builder::new(src, dst).write_to(buf),
        ProxyVersion::V2 => {
            let mut b = pp::V2Builder::proxy(src, dst);
            if send.tlvs.unique_id {
                b = b.unique_id(flow.unique_id(&mut id));
            }
            if let Some(tls) = front {
                if let Some(alpn) = tls.alpn().filter(|_| send.tlvs.alpn) {
                    b = b.alpn(alpn);
                }
                if let Some(sni) = tls.sni().filter(|_| send.tlvs.authority) {
                    b = b.authority(sni);
                }
                if send.tlvs.ssl {
                    let mut client = pp::SslClientFlags::SSL;
                    if cn.is_some() {
                        client = client.union(pp::SslClientFlags::CERT_CONN);
                    }
                    b = b.ssl(pp::SslParams {
                        client,
                        verify: 0,
                        version: tls.version(),
                        cn: cn.as_deref(),
                        cipher: tls.cipher(),
                        sig_alg: None,
                        key_alg: None,
                    });
                }
            }
            if send.tlvs.crc32c {
                b = b.crc32c();
            }
            b.write_to(buf)
        }
    };
    built.map_err(|e| {
        error!(target: "connseq::runtime", "{}: cannot build the PROXY header: {e}", flow.client);
        Outcome::Reset
    })
}
