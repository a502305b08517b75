//! The abstract kernel: one TCP connection is two wires, each a bounded FIFO
//! of chunks followed by an optional FIN, or reset. The rules are the axioms
//! of spec/tcp-close-semantics.md, each of which the conformance suite checks
//! on real Linux sockets:
//!
//! - `close()` with unread input sends RST, not FIN; a peer that receives an
//!   RST loses what it had received and not yet read (the proxy does not: it
//!   reads what reached its socket, then the RST);
//! - `close()` with `SO_LINGER {1, 0}` sends RST and discards the send queue;
//! - otherwise `close()` and `shutdown(SHUT_WR)` queue a FIN behind the data;
//! - data arriving for a closed socket is answered with RST;
//! - send on a full wire is EAGAIN; send after an RST is EPIPE/ECONNRESET;
//! - recv returns data, then 0 at the FIN, or ECONNRESET at the RST.

use std::fmt;

/// What travels on a wire. Data chunks are numbered per direction, so order,
/// loss and duplication are visible at the receiver.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Chunk(pub u8);

impl Chunk {
    /// A valid PROXY header from the client's side.
    pub const HDR: Chunk = Chunk(16);
    /// Bytes that are neither a valid PROXY header nor a TLS record.
    pub const GARBAGE: Chunk = Chunk(17);
    /// A TLS ClientHello.
    pub const HELLO: Chunk = Chunk(18);
    /// The TLS server's flight (TLS 1.3: ServerHello to the server's
    /// Finished, RFC 8446 2), its answer to the hello.
    pub const FINISHED: Chunk = Chunk(19);
    /// A TLS close_notify alert.
    pub const CLOSE_NOTIFY: Chunk = Chunk(20);
    /// The health or monitor reply.
    pub const REPLY: Chunk = Chunk(21);
    /// The PROXY header the proxy sends to the server.
    pub const PROXY_OUT: Chunk = Chunk(22);
    /// The TLS client's Finished, its answer to the server's flight: the
    /// server's side of the handshake completes when it reads it.
    pub const CLIENT_FINISHED: Chunk = Chunk(23);
    /// The first half of a PROXY header written in two pieces.
    pub const HDR_HEAD: Chunk = Chunk(24);
    /// The second half of a PROXY header written in two pieces.
    pub const HDR_TAIL: Chunk = Chunk(25);
    /// The first half of a TLS hello written in two pieces.
    pub const HELLO_HEAD: Chunk = Chunk(26);
    /// The second half of a TLS hello written in two pieces.
    pub const HELLO_TAIL: Chunk = Chunk(27);

    /// Every chunk that is not data, by name.
    pub const NAMED: [Chunk; 12] = [
        Chunk::HDR,
        Chunk::GARBAGE,
        Chunk::HELLO,
        Chunk::FINISHED,
        Chunk::CLOSE_NOTIFY,
        Chunk::REPLY,
        Chunk::PROXY_OUT,
        Chunk::CLIENT_FINISHED,
        Chunk::HDR_HEAD,
        Chunk::HDR_TAIL,
        Chunk::HELLO_HEAD,
        Chunk::HELLO_TAIL,
    ];

    /// Data chunk number `n`.
    pub const fn data(n: u8) -> Chunk {
        Chunk(n)
    }

    /// The number of a data chunk.
    pub const fn data_id(self) -> Option<u8> {
        if self.0 < 16 {
            Some(self.0)
        } else {
            None
        }
    }
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Chunk::HDR => f.write_str("HDR"),
            Chunk::GARBAGE => f.write_str("GARBAGE"),
            Chunk::HELLO => f.write_str("HELLO"),
            Chunk::FINISHED => f.write_str("FINISHED"),
            Chunk::CLOSE_NOTIFY => f.write_str("CLOSE_NOTIFY"),
            Chunk::REPLY => f.write_str("REPLY"),
            Chunk::PROXY_OUT => f.write_str("PROXY_OUT"),
            Chunk::CLIENT_FINISHED => f.write_str("CLIENT_FINISHED"),
            Chunk::HDR_HEAD => f.write_str("HDR_HEAD"),
            Chunk::HDR_TAIL => f.write_str("HDR_TAIL"),
            Chunk::HELLO_HEAD => f.write_str("HELLO_HEAD"),
            Chunk::HELLO_TAIL => f.write_str("HELLO_TAIL"),
            Chunk(n) => write!(f, "#{n}"),
        }
    }
}

/// A FIFO of at most four chunks.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Fifo {
    items: [u8; 4],
    len: u8,
}

impl Fifo {
    /// Number of chunks held.
    pub const fn len(&self) -> u8 {
        self.len
    }

    /// Holds nothing.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends; returns false when four chunks are already held.
    pub fn push(&mut self, c: Chunk) -> bool {
        if self.len as usize >= self.items.len() {
            return false;
        }
        self.items[self.len as usize] = c.0;
        self.len += 1;
        true
    }

    /// Takes the oldest chunk.
    pub fn pop(&mut self) -> Option<Chunk> {
        if self.len == 0 {
            return None;
        }
        let c = self.items[0];
        self.items.copy_within(1..self.len as usize, 0);
        self.len -= 1;
        self.items[self.len as usize] = 0;
        Some(Chunk(c))
    }

    /// The oldest chunk.
    pub fn peek(&self) -> Option<Chunk> {
        (self.len > 0).then(|| Chunk(self.items[0]))
    }

    /// Empties the FIFO, returning how many chunks were dropped.
    pub fn clear(&mut self) -> u8 {
        let n = self.len;
        *self = Fifo::default();
        n
    }

    /// The chunks, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = Chunk> + '_ {
        self.items[..self.len as usize].iter().map(|&c| Chunk(c))
    }
}

impl fmt::Debug for Fifo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One direction of a TCP connection, from the sender's socket to the
/// receiver's application: what is queued, whether a FIN follows it, and
/// whether the receiver was reset.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Wire {
    /// Chunks sent and not yet read.
    pub q: Fifo,
    /// A FIN follows the queued chunks.
    pub fin: bool,
    /// An RST reached the receiver. A peer's unread chunks are gone with it
    /// ([`Wire::reset`]); the proxy reads the chunks that reached its socket
    /// first ([`Wire::reset_at_proxy`]). Then its next recv fails, and every
    /// send.
    pub rst: bool,
    /// An RST reached the proxy's socket after the FIN before it: what came
    /// before the FIN is still read, then the FIN; only sends fail.
    pub rst_after_fin: bool,
}

impl Wire {
    /// Whether `cap` chunks are queued already.
    pub fn full(&self, cap: u8) -> bool {
        self.q.len() >= cap
    }

    /// An RST reaches the receiver: everything it had not read is destroyed.
    /// Returns how many chunks were destroyed.
    pub fn reset(&mut self) -> u8 {
        self.rst = true;
        self.fin = false;
        self.q.clear()
    }

    /// An RST reaches the proxy's socket. Linux keeps what its socket had
    /// received (`tcp_reset` purges the write queue, not the receive queue).
    /// When the FIN came before it (CLOSE-WAIT), recv returns the data, then
    /// 0, and the RST shows only to sends, as `EPIPE` (kernel axiom
    /// `data_for_a_closed_socket_after_its_fin_arrived_is_answered_with_rst_seen_as_epipe`).
    /// Otherwise recv returns the data, then fails with `ECONNRESET`, and
    /// sends fail at once (kernel axiom
    /// `rst_loses_what_the_receiver_had_not_received_not_what_it_had_not_read`).
    /// A chunk on the wire is one the sender's kernel handed over (on
    /// loopback, in the proxy's socket before the peer's write returned).
    /// Nothing is destroyed.
    pub fn reset_at_proxy(&mut self) {
        if self.fin && !self.rst {
            self.rst_after_fin = true;
        } else {
            self.rst = true;
            self.fin = false;
        }
    }

    /// The proxy's sends on this connection fail: it was reset.
    pub fn refuses_sends(&self) -> bool {
        self.rst || self.rst_after_fin
    }

    /// The receiver has something to learn: a chunk, a FIN, or an RST.
    pub fn readable(&self) -> bool {
        !self.q.is_empty() || self.fin || self.rst
    }
}

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.q)?;
        if self.fin {
            f.write_str("+FIN")?;
        }
        if self.rst {
            f.write_str("+RST")?;
        }
        if self.rst_after_fin {
            f.write_str("+RST(after FIN)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_past_the_data_is_named() {
        for (i, c) in Chunk::NAMED.iter().enumerate() {
            assert_eq!(usize::from(c.0), 16 + i, "NAMED is in order, with no gap");
            assert!(c.data_id().is_none());
            assert!(!format!("{c:?}").starts_with('#'), "{c:?} has a name");
        }
        let next = Chunk(16 + Chunk::NAMED.len() as u8);
        assert!(format!("{next:?}").starts_with('#'), "a chunk is missing from NAMED");
    }

    #[test]
    fn fifo_keeps_order() {
        let mut f = Fifo::default();
        assert!(f.push(Chunk::data(0)) && f.push(Chunk::data(1)));
        assert_eq!(f.pop(), Some(Chunk::data(0)));
        assert_eq!(f.pop(), Some(Chunk::data(1)));
        assert_eq!(f.pop(), None);
    }

    #[test]
    fn reset_destroys_unread_chunks() {
        let mut w = Wire::default();
        w.q.push(Chunk::data(0));
        w.fin = true;
        assert_eq!(w.reset(), 1);
        assert!(w.rst && !w.fin && w.q.is_empty());
    }

    #[test]
    fn an_rst_after_the_fin_leaves_the_proxy_its_input() {
        let mut w = Wire::default();
        w.q.push(Chunk::data(0));
        w.fin = true;
        w.reset_at_proxy();
        assert!(!w.rst && w.rst_after_fin && w.fin && w.q.len() == 1 && w.refuses_sends());
        let mut w = Wire::default();
        w.q.push(Chunk::data(0));
        w.reset_at_proxy();
        assert!(w.rst && !w.rst_after_fin && w.refuses_sends(), "no FIN before it: an RST behind the data");
        assert_eq!(w.q.len(), 1, "what reached the proxy's socket is still read");
    }
}
