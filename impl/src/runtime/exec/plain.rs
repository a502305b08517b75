//! Plain TCP: recv into and send from a channel's buffer, the drain of an
//! active shutr, and the check that a peer acknowledged everything before
//! an RST.

use super::{internal, Exec};
use crate::runtime::flow::Flow;
use crate::runtime::handshake::eof_or_reset;
use crate::runtime::Breakage;
use crate::sys::socket;
use connseq_model::core::{Action, Outcome, Side, Source};
use connseq_tls::Flush;
use std::io;

impl Exec<'_> {
    pub(super) fn recv(&mut self, flow: &mut Flow, side: Side) -> Outcome {
        if self.shared.broken(Breakage::EdgeNotDrained) && !std::mem::take(&mut flow.sock(side).edge) {
            // The bug: one recv per readable edge, as if the poller were
            // level-triggered; bytes left behind by the last one wait for an
            // edge that never comes.
            return Outcome::WouldBlock;
        }
        let (sock, buf) = flow.io(side, side.input());
        let Some(sock) = sock else { return Outcome::Reset };
        let got = socket::recv(sock, buf.space(self.pool));
        let outcome = match got {
            Ok(0) => eof_or_reset(sock),
            Ok(n) => {
                buf.commit(n);
                return Outcome::Data { full: buf.is_full() };
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
            Err(_) => Outcome::Reset,
        };
        if self.shared.broken(Breakage::BufferReturnedInUse) && outcome == Outcome::Eof {
            // The bug: the end of stream is taken for "this buffer is done"
            // and it goes back to the pool with what it still holds.
            buf.clear(self.pool);
        }
        if !self.shared.broken(Breakage::KeepIdleBuffer) {
            buf.release_if_empty(self.pool);
        }
        outcome
    }

    pub(super) fn send(&mut self, flow: &mut Flow, side: Side, more: bool) -> Outcome {
        let dir = side.output();
        let (sock, buf) = flow.io(side, dir);
        let Some(sock) = sock else { return Outcome::Reset };
        if buf.is_empty() {
            return internal(flow, Action::Send { side, from: Source::Buffer, more }, Outcome::Sent { drained: true });
        }
        let allowed = self.room(side, buf.pending().len());
        if allowed == 0 {
            Self::refused(sock);
            return Outcome::WouldBlock;
        }
        let more = self.cork(side, more);
        match socket::send(sock, &buf.pending()[..allowed], more) {
            Ok(0) => Outcome::WouldBlock,
            Ok(n) => {
                self.sent_bytes(side, n);
                buf.consume(n, self.pool);
                if self.shared.broken(Breakage::ShortWriteComplete) {
                    let rest = buf.pending().len();
                    buf.consume(rest, self.pool);
                }
                let drained = buf.is_empty();
                flow.sent[dir as usize] += n as u64;
                Outcome::Sent { drained }
            }
            Err(e) => self.send_failed(&e),
        }
    }

    /// The drain of an active shutr: read and throw away.
    pub(super) fn drain(flow: &mut Flow, side: Side) -> Outcome {
        let Some(sock) = flow.sock(side).stream.as_ref() else { return Outcome::Reset };
        let mut scratch = [0u8; 4096];
        match socket::recv(sock, &mut scratch) {
            Ok(0) => eof_or_reset(sock),
            Ok(_) => Outcome::Data { full: false },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
            Err(_) => Outcome::Reset,
        }
    }

    /// Before an RST that propagates the other peer's abort: whether `side`'s
    /// peer acknowledged every byte written to it (TLS records the data
    /// layer still holds are flushed first). `WouldBlock` when some are not:
    /// Linux sends no writable edge when acknowledgements empty a send queue
    /// that never filled, so the worker reports the socket writable again
    /// after [`ACK_POLL`](crate::runtime::flow::ACK_POLL) (`Slot::ack_poll`).
    pub(super) fn check_send_queue(flow: &mut Flow, side: Side) -> Outcome {
        let (sock, tls, _) = flow.tls_io(side, side.output());
        let Some(sock) = sock else { return Outcome::Reset };
        if let Some(tls) = tls.filter(|t| t.has_pending_output()) {
            match tls.flush(sock) {
                Flush::Done => {}
                Flush::WouldBlock => return Outcome::WouldBlock,
                Flush::Reset => return Outcome::Reset,
            }
        }
        match socket::unacked_output(sock) {
            Ok(0) => Outcome::Done,
            Ok(_) => Outcome::WouldBlock,
            // The ioctl cannot fail on an open TCP socket but for a kernel
            // bug; then the RST goes now rather than never.
            Err(_) => Outcome::Done,
        }
    }
}
