//! TLS through `connseq-tls` (HH_SSL_HS, then the data layer): one step of
//! the handshake, and recv, send and close_notify through a side's TLS
//! layer.

use super::{internal, Exec};
use crate::runtime::flow::Flow;
use crate::runtime::handshake::{self, eof_or_reset, tls_reason};
use crate::runtime::Breakage;
use crate::sys::socket;
use connseq_model::core::{Action, Outcome, Side};
use connseq_tls::{Flush, Read as TlsRead, Step, TlsConn, Write as TlsWrite};
use tracing::{debug, error};

impl Exec<'_> {
    /// HH_SSL_HS: one step of the TLS handshake on `side`; its TLS layer is
    /// made at the first step (a server's for the client side, a client's
    /// for the server side).
    pub(super) fn tls_handshake(&mut self, flow: &mut Flow, side: Side) -> Outcome {
        if flow.tls[side as usize].is_none() {
            let made = match side {
                Side::Front => self.listener.front_tls.as_ref().map(TlsConn::server),
                Side::Back => {
                    let ip = flow.server.map(|a| a.ip());
                    self.listener.back_tls.as_ref().zip(ip).map(|(c, ip)| TlsConn::client(c, ip))
                }
            };
            match made {
                // Its records go through the `sys` room's calls (and their fault points).
                Some(Ok(conn)) => flow.tls[side as usize] = Some(Box::new(conn.with_socket_io(&socket::TlsSocketIo))),
                Some(Err(e)) => {
                    error!(target: "connseq::runtime", "{}: cannot start TLS on the {side} side: {e}", flow.client);
                    return Outcome::Reset;
                }
                None => return internal(flow, Action::TlsHandshake(side), Outcome::Reset),
            }
        }
        let (sock, tls, _) = flow.tls_io(side, side.input());
        let (Some(sock), Some(tls)) = (sock, tls) else { return Outcome::Reset };
        // What this step writes, for the shim (`Options::send_window`): on
        // the client side the hello (queued when the layer is made) and the
        // Finished; on the server side the flight, written once the hello
        // is read (the session tickets after the client's Finished are no
        // message of the model's).
        let hello_queued = side == Side::Back && tls.has_pending_output();
        let version_known = tls.version().is_some();
        if hello_queued && !self.room_for_message(side) {
            Self::refused(sock);
            return Outcome::WantWrite;
        }
        let step = tls.handshake(sock);
        if step != Step::WantWrite {
            let flight = side == Side::Front && !version_known && tls.version().is_some();
            let finished = side == Side::Back && step == Step::Done;
            for _ in 0..(usize::from(hello_queued) + usize::from(flight) + usize::from(finished)) {
                self.sent_message(side);
            }
        }
        let (outcome, reason) = handshake::tls_outcome(step, sock);
        if let Some(reason) = reason {
            debug!(target: "connseq::runtime", "{}: TLS handshake on the {side} side failed: {reason}", flow.client);
            flow.reason.get_or_insert(reason);
        }
        outcome
    }

    /// Reads plaintext from `side`'s TLS layer into its input channel.
    pub(super) fn tls_recv(&mut self, flow: &mut Flow, side: Side) -> Outcome {
        let (sock, tls, buf) = flow.tls_io(side, side.input());
        let (Some(sock), Some(tls)) = (sock, tls) else { return Outcome::Reset };
        let outcome = match tls.read(sock, buf.space(self.pool)) {
            TlsRead::Data(n) => {
                buf.commit(n);
                return Outcome::Data { full: buf.is_full() };
            }
            TlsRead::WouldBlock => Outcome::WouldBlock,
            // TCP's end with no close_notify before it: the stream was cut
            // (a truncation), which the core passes on as one. As on a raw
            // socket, a reset that came after the FIN is a reset.
            TlsRead::Eof { clean: false } => match eof_or_reset(sock) {
                Outcome::Eof => Outcome::Truncated,
                other => other,
            },
            TlsRead::Eof { clean: true } => Outcome::Eof,
            TlsRead::Reset => Outcome::Reset,
            TlsRead::Invalid(e) => {
                let reason = tls_reason(&e);
                flow.reason.get_or_insert(reason);
                Outcome::Reset
            }
        };
        let (_, _, buf) = flow.tls_io(side, side.input());
        buf.release_if_empty(self.pool);
        outcome
    }

    /// Encrypts the output channel's bytes to `side`; with nothing left in
    /// the buffer, flushes the records rustls still holds. The channel is
    /// drained only when both are empty.
    pub(super) fn tls_send(&mut self, flow: &mut Flow, side: Side) -> Outcome {
        let dir = side.output();
        let (sock, tls, buf) = flow.tls_io(side, dir);
        let (Some(sock), Some(tls)) = (sock, tls) else { return Outcome::Reset };
        if buf.is_empty() {
            return match tls.flush(sock) {
                Flush::Done => Outcome::Sent { drained: true },
                Flush::WouldBlock => Outcome::WouldBlock,
                Flush::Reset => Outcome::Reset,
            };
        }
        let allowed = self.room(side, buf.pending().len());
        if allowed == 0 {
            return Outcome::WouldBlock;
        }
        match tls.write(sock, &buf.pending()[..allowed]) {
            TlsWrite::Sent { consumed: 0, .. } | TlsWrite::WouldBlock => Outcome::WouldBlock,
            TlsWrite::Sent { consumed, pending } => {
                self.sent_bytes(side, consumed);
                buf.consume(consumed, self.pool);
                let drained = buf.is_empty() && !pending;
                flow.sent[dir as usize] += consumed as u64;
                Outcome::Sent { drained }
            }
            TlsWrite::Reset => Outcome::Reset,
        }
    }

    /// DSHW on TLS: close_notify, queued once and flushed; a socket that is
    /// full answers `WouldBlock` and the core retries when it is writable.
    pub(super) fn tls_close_notify(&self, flow: &mut Flow, side: Side) -> Outcome {
        let (sock, tls, _) = flow.tls_io(side, side.output());
        let would_block =
            if self.shared.broken(Breakage::DropPostponedCloseNotify) { Outcome::Done } else { Outcome::WouldBlock };
        match (sock, tls) {
            (Some(_), Some(_)) if !self.room_for_message(side) => would_block,
            (Some(sock), Some(tls)) => match tls.close_notify(sock) {
                Flush::Done => {
                    self.sent_message(side);
                    Outcome::Done
                }
                Flush::WouldBlock => would_block,
                Flush::Reset => Outcome::Reset,
            },
            // No TLS state (the handshake never started): nothing to notify.
            (Some(_), None) => Outcome::Done,
            _ => Outcome::Reset,
        }
    }
}
