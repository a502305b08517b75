//! The conformance harness's send window (`Options::send_window`): a
//! fault-injecting shim, never set in production.
//!
//! The model's kernel wire towards a peer holds one or two chunks, so the
//! proxy's send, its TLS close_notify or a handshake message meet EAGAIN as
//! soon as the peer leaves that much unread: that is where the note's
//! postponed steps ("each of these steps may fail ... and be postponed in an
//! asynchronous task") happen in the model. A real socket buffer holds
//! hundreds of kilobytes, and the proxy's own socket cannot be filled from
//! outside, so the real condition cannot be made at the model's moments on
//! loopback. The shim stands in for it: before each of the proxy's turns the
//! harness says how many chunks each peer's wire can still take (the
//! model's room), and the executor lets through that many chunks' bytes (a
//! message, such as a TLS flight or a close_notify, counts as one chunk)
//! and answers `WouldBlock` past them, as the kernel would. When the harness
//! gives room again after a refusal, the side is reported writable at the
//! next turn, as the kernel reports a socket that was full.
//!
//! The EAGAIN itself is real elsewhere: `tls/tests/close.rs` and the
//! runtime's tests fill real sockets; this shim only puts it where the
//! model's trace has it.

use connseq_model::core::Side;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Chunks each side's peer can still take, and which sides were refused.
#[derive(Debug)]
pub(crate) struct SendWindow {
    /// Bytes of one chunk.
    chunk: usize,
    /// Room per [`Side`], in bytes (the harness's chunks times `chunk`);
    /// `usize::MAX` before the harness sets it. Counted in bytes, so that a
    /// short write (injected: `sys::fault`) leaves the rest of its chunk's
    /// room for the rest of the chunk.
    room: [AtomicUsize; 2],
    /// A write to this side was refused since the room last grew.
    refused: [AtomicBool; 2],
    /// The room grew after a refusal: report the side writable.
    reopened: [AtomicBool; 2],
    /// The peer closed: no limit, but one chunk per call (the model sends a
    /// chunk at a time, and the RST the first one provokes fails the next).
    closed: [AtomicBool; 2],
}

impl SendWindow {
    /// A window of no limit yet, counting `chunk` bytes per chunk.
    pub(crate) fn new(chunk: usize) -> SendWindow {
        SendWindow {
            chunk: chunk.max(1),
            room: [AtomicUsize::new(usize::MAX), AtomicUsize::new(usize::MAX)],
            refused: Default::default(),
            reopened: Default::default(),
            closed: Default::default(),
        }
    }

    /// The harness: `side`'s peer closed its socket. Its kernel answers what
    /// it is sent with an RST: the real kernel decides, one chunk per call.
    pub(crate) fn set_closed(&self, side: Side) {
        self.set(side, usize::MAX);
        self.closed[side as usize].store(true, Ordering::Release);
    }

    /// The harness: `side`'s peer can take `chunks` more.
    pub(crate) fn set(&self, side: Side, chunks: usize) {
        let i = side as usize;
        self.closed[i].store(false, Ordering::Release);
        self.room[i].store(chunks.saturating_mul(self.chunk), Ordering::Release);
        if chunks > 0 && self.refused[i].swap(false, Ordering::AcqRel) {
            self.reopened[i].store(true, Ordering::Release);
        }
    }

    /// The worker: `side`'s peer can take nothing more, so the poller's
    /// "writable" is not passed on (a socket that is really full is not
    /// writable).
    pub(crate) fn is_shut(&self, side: Side) -> bool {
        self.room[side as usize].load(Ordering::Acquire) == 0
    }

    /// The executor: whether `side`'s peer closed (no corking towards it).
    pub(crate) fn is_closed(&self, side: Side) -> bool {
        self.closed[side as usize].load(Ordering::Acquire)
    }

    /// The worker: whether `side` must be reported writable (once).
    pub(crate) fn take_reopened(&self, side: Side) -> bool {
        self.reopened[side as usize].swap(false, Ordering::AcqRel)
    }

    /// How many of `want` bytes may go to `side`'s peer now; 0 is a refusal
    /// (remembered, so that the room growing again reports the side).
    pub(crate) fn bytes(&self, side: Side, want: usize) -> usize {
        if self.closed[side as usize].load(Ordering::Acquire) {
            return want.min(self.chunk);
        }
        let room = self.room[side as usize].load(Ordering::Acquire);
        let allowed = want.min(room);
        if allowed == 0 && want > 0 {
            self.refused[side as usize].store(true, Ordering::Release);
        }
        allowed
    }

    /// Whether one message may go to `side`'s peer now (a refusal is
    /// remembered, as for [`SendWindow::bytes`]).
    pub(crate) fn message(&self, side: Side) -> bool {
        self.bytes(side, self.chunk) > 0
    }

    /// `n` bytes went to `side`'s peer.
    pub(crate) fn sent_bytes(&self, side: Side, n: usize) {
        self.take(side, n);
    }

    /// One message went to `side`'s peer.
    pub(crate) fn sent_message(&self, side: Side) {
        self.take(side, self.chunk);
    }

    fn take(&self, side: Side, bytes: usize) {
        let room = &self.room[side as usize];
        let _ = room.fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| Some(r.saturating_sub(bytes)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_lets_its_room_through_then_refuses_and_reports_the_side_when_it_grows() {
        let w = SendWindow::new(8);
        assert_eq!(w.bytes(Side::Back, 1 << 20), 1 << 20, "no limit before the harness sets one");
        w.set(Side::Back, 1);
        assert_eq!(w.bytes(Side::Back, 16), 8);
        w.sent_bytes(Side::Back, 8);
        assert_eq!(w.bytes(Side::Back, 16), 0);
        assert!(!w.message(Side::Back));
        assert!(w.is_shut(Side::Back) && !w.is_shut(Side::Front));
        assert!(w.message(Side::Front), "the other side has its own window");
        w.set(Side::Back, 0);
        assert!(!w.take_reopened(Side::Back), "no room yet");
        w.set(Side::Back, 2);
        assert!(w.take_reopened(Side::Back));
        assert!(!w.take_reopened(Side::Back), "reported once");
        w.sent_message(Side::Back);
        w.sent_bytes(Side::Back, 3);
        assert_eq!(w.bytes(Side::Back, 8), 5, "a short write leaves the rest of its chunk's room");
        w.sent_bytes(Side::Back, 5);
        assert_eq!(w.bytes(Side::Back, 8), 0);
        w.set(Side::Back, 1);
        assert!(w.take_reopened(Side::Back));
        w.sent_bytes(Side::Back, 8);
        w.set_closed(Side::Back);
        assert_eq!(w.bytes(Side::Back, 20), 8, "a closed peer: one chunk per call");
        w.sent_bytes(Side::Back, 8);
        assert_eq!(w.bytes(Side::Back, 20), 8, "and no total");
        w.set(Side::Back, 1);
        assert_eq!(w.bytes(Side::Back, 20), 8);
        w.sent_bytes(Side::Back, 8);
        assert_eq!(w.bytes(Side::Back, 20), 0, "a room again");
    }

    #[test]
    fn room_that_grows_without_a_refusal_reports_nothing() {
        let w = SendWindow::new(8);
        w.set(Side::Front, 1);
        w.sent_message(Side::Front);
        w.set(Side::Front, 1);
        assert!(!w.take_reopened(Side::Front));
    }
}
