//! A channel's buffer as the runtime holds it: a pooled byte buffer taken
//! when the first byte arrives and given back as soon as it is empty, so an
//! idle session holds none (DESIGN.md, "The runtime"). The same goes for
//! the channel's splice pipe: taken from the [`PipePool`] on the first
//! splice, given back as soon as it is empty.

use crate::pool::{BufPool, PipePool};
use crate::sys::pipe::Pipe;

/// The bytes of one channel: `buf[start..end]` is what is still to be sent,
/// and `pipe` holds what was spliced in and not yet spliced out. The core
/// never has data in both.
#[derive(Debug, Default)]
pub(crate) struct ChanBuf {
    buf: Option<Box<[u8]>>,
    start: usize,
    end: usize,
    /// The channel's pipe, held only while it holds bytes (or for the
    /// duration of one splice).
    pub(crate) pipe: Option<Pipe>,
}

impl ChanBuf {
    /// Room to receive into: takes a buffer from `pool` if none is held, and
    /// moves unsent bytes to the front so all free room is at the end.
    pub(crate) fn space(&mut self, pool: &mut BufPool) -> &mut [u8] {
        let buf = self.buf.get_or_insert_with(|| pool.get());
        if self.start > 0 {
            buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut buf[self.end..]
    }

    /// `n` bytes were received into [`ChanBuf::space`].
    pub(crate) fn commit(&mut self, n: usize) {
        self.end += n;
    }

    /// The bytes still to be sent.
    pub(crate) fn pending(&self) -> &[u8] {
        match &self.buf {
            Some(b) => &b[self.start..self.end],
            None => &[],
        }
    }

    /// `n` bytes were sent; an emptied buffer goes back to `pool`.
    pub(crate) fn consume(&mut self, n: usize, pool: &mut BufPool) {
        self.start = (self.start + n).min(self.end);
        self.release_if_empty(pool);
    }

    /// No room is left.
    pub(crate) fn is_full(&self) -> bool {
        self.buf.as_ref().is_some_and(|b| self.start == 0 && self.end == b.len())
    }

    /// Nothing to send.
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Gives the buffer back if it holds nothing.
    pub(crate) fn release_if_empty(&mut self, pool: &mut BufPool) {
        if self.is_empty() {
            self.start = 0;
            self.end = 0;
            if let Some(b) = self.buf.take() {
                pool.put(b);
            }
        }
    }

    /// Drops what the buffer holds (the consumer is gone) and gives it back.
    pub(crate) fn clear(&mut self, pool: &mut BufPool) {
        self.start = self.end;
        self.release_if_empty(pool);
    }

    /// Gives the pipe back if it holds nothing.
    pub(crate) fn release_pipe_if_empty(&mut self, pipes: &mut PipePool) {
        if self.pipe.as_ref().is_some_and(Pipe::is_empty) {
            if let Some(p) = self.pipe.take() {
                pipes.put(p);
            }
        }
    }

    /// Gives the pipe back whatever it holds: the pool closes a pipe that
    /// still holds bytes (the consumer is gone), so they are dropped.
    pub(crate) fn drop_pipe(&mut self, pipes: &mut PipePool) {
        if let Some(p) = self.pipe.take() {
            pipes.put(p);
        }
    }

    /// Drops the buffer's and the pipe's bytes and gives both back.
    pub(crate) fn clear_all(&mut self, pool: &mut BufPool, pipes: &mut PipePool) {
        self.clear(pool);
        self.drop_pipe(pipes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_is_held_only_while_it_holds_bytes() {
        let mut pool = BufPool::new(8, 2);
        let mut c = ChanBuf::default();
        c.release_if_empty(&mut pool);
        assert_eq!(pool.in_use(), 0);
        c.space(&mut pool)[..3].copy_from_slice(b"abc");
        c.commit(3);
        assert_eq!((pool.in_use(), c.pending()), (1, &b"abc"[..]));
        c.consume(2, &mut pool);
        assert_eq!(c.pending(), b"c");
        c.consume(1, &mut pool);
        assert_eq!((pool.in_use(), c.is_empty()), (0, true));
    }

    #[test]
    fn receiving_compacts_unsent_bytes_to_the_front() {
        let mut pool = BufPool::new(4, 2);
        let mut c = ChanBuf::default();
        c.space(&mut pool).copy_from_slice(b"wxyz");
        c.commit(4);
        assert!(c.is_full());
        c.consume(3, &mut pool);
        let room = c.space(&mut pool);
        assert_eq!(room.len(), 3);
        room.copy_from_slice(b"123");
        c.commit(3);
        assert_eq!(c.pending(), b"z123");
        assert!(c.is_full());
        c.clear(&mut pool);
        assert_eq!(pool.in_use(), 0);
    }
}
