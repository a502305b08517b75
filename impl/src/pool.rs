//! Pools of channel storage: fixed-size buffers and splice pipes, one pool
//! of each per event-loop thread (no locks: `&mut self`).
//!
//! A channel holds a buffer or a pipe only while data is in flight
//! (DESIGN.md, "The runtime"): it takes one when the first byte arrives and
//! gives it back as soon as it is empty, so an idle connection holds none,
//! and the counts here say so. Getting and putting back allocate nothing
//! once a pool is warm.

use crate::sys::pipe::{self, Pipe};
use std::io;

/// Fixed-size byte buffers, handed out as `Box<[u8]>` and taken back.
///
/// A buffer comes back with whatever bytes it held: the channel tracks what
/// is valid, the pool never clears it.
#[derive(Debug)]
pub struct BufPool {
    buf_size: usize,
    max_spares: usize,
    spares: Vec<Box<[u8]>>,
    in_use: usize,
}

impl BufPool {
    /// HAProxy's `tune.bufsize` default.
    pub const DEFAULT_BUF_SIZE: usize = 16 * 1024;

    /// A pool of `buf_size`-byte buffers that keeps at most `max_spares`
    /// returned buffers for reuse (the rest are freed).
    pub fn new(buf_size: usize, max_spares: usize) -> BufPool {
        BufPool { buf_size, max_spares, spares: Vec::with_capacity(max_spares), in_use: 0 }
    }

    /// A pool of [`BufPool::DEFAULT_BUF_SIZE`] buffers.
    pub fn with_default_size(max_spares: usize) -> BufPool {
        BufPool::new(Self::DEFAULT_BUF_SIZE, max_spares)
    }

    /// A buffer of [`BufPool::buf_size`] bytes: a spare if there is one,
    /// else a new (zeroed) allocation.
    pub fn get(&mut self) -> Box<[u8]> {
        self.in_use += 1;
        match self.spares.pop() {
            Some(buf) => buf,
            None => vec![0u8; self.buf_size].into_boxed_slice(),
        }
    }

    /// Takes a buffer back: kept as a spare while fewer than `max_spares`
    /// are kept, freed otherwise. A buffer of another size (not from this
    /// pool: a caller bug) is freed.
    pub fn put(&mut self, buf: Box<[u8]>) {
        debug_assert!(self.in_use > 0, "a buffer came back that was never handed out");
        debug_assert_eq!(buf.len(), self.buf_size, "a buffer came back that is not from this pool");
        self.in_use = self.in_use.saturating_sub(1);
        if buf.len() == self.buf_size && self.spares.len() < self.max_spares {
            self.spares.push(buf);
        }
    }

    /// Buffers handed out and not yet given back.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Buffers kept for reuse.
    pub fn spares(&self) -> usize {
        self.spares.len()
    }

    /// The size of every buffer of this pool.
    pub fn buf_size(&self) -> usize {
        self.buf_size
    }
}

/// Why [`PipePool::get`] gave no pipe. In every case the channel uses its
/// buffer instead.
#[derive(Debug)]
pub enum NoPipe {
    /// Splice does not work on this kernel: the pool was told so by
    /// [`PipePool::note_splice_error`], and hands out no pipe any more.
    Unsupported,
    /// `max_pipes` pipes are in use.
    Limit,
    /// The kernel refused a new pipe (`EMFILE`, `ENFILE`, `ENOMEM`): a local
    /// resource limit.
    Os(io::Error),
}

/// Splice pipes, at most `max_pipes` in use at once.
///
/// Only empty pipes are reused. A pipe that still holds bytes belongs to its
/// channel until the channel has spliced it out to the socket (flushed it)
/// or given up on those bytes (the consumer is gone: `Discard`); either way
/// the caller gives it back with [`PipePool::put`], which closes a non-empty
/// pipe rather than hand its stale bytes to the next channel.
#[derive(Debug)]
pub struct PipePool {
    max_pipes: usize,
    size: Option<usize>,
    spares: Vec<Pipe>,
    in_use: usize,
    unsupported: bool,
}

impl PipePool {
    /// A pool of at most `max_pipes` pipes, in use and spare together, each
    /// holding at most `size` bytes if given (HAProxy's `tune.pipesize`):
    /// a size above the kernel's default grows the pipe (`F_SETPIPE_SZ`; if
    /// the kernel refuses, the pipe keeps its default size and that is its
    /// limit), a size below it only lowers the pipe's fill limit
    /// ([`Pipe::set_limit`]), because a pipe is full by slots and a smaller
    /// one would refuse small segments long before its size.
    pub fn new(max_pipes: usize, size: Option<usize>) -> PipePool {
        PipePool { max_pipes, size, spares: Vec::with_capacity(max_pipes), in_use: 0, unsupported: false }
    }

    /// An empty pipe: a spare if there is one, else a new one.
    pub fn get(&mut self) -> Result<Pipe, NoPipe> {
        if self.unsupported {
            return Err(NoPipe::Unsupported);
        }
        if self.in_use >= self.max_pipes {
            return Err(NoPipe::Limit);
        }
        let pipe = match self.spares.pop() {
            Some(pipe) => pipe,
            None => {
                let mut pipe = Pipe::new().map_err(NoPipe::Os)?;
                if let Some(bytes) = self.size {
                    if bytes > pipe.capacity() {
                        // A refused resize leaves a working pipe of the
                        // default size, which `Pipe::capacity` reports; not
                        // worth failing.
                        let _ = pipe.set_capacity(bytes);
                    }
                    pipe.set_limit(bytes);
                }
                pipe
            }
        };
        self.in_use += 1;
        Ok(pipe)
    }

    /// Takes a pipe back: kept for reuse if it is empty and there is room,
    /// closed otherwise (see the type's doc).
    pub fn put(&mut self, pipe: Pipe) {
        debug_assert!(self.in_use > 0, "a pipe came back that was never handed out");
        self.in_use = self.in_use.saturating_sub(1);
        if pipe.is_empty() && !self.unsupported && self.spares.len() < self.max_pipes {
            self.spares.push(pipe);
        }
    }

    /// Tells the pool about a failed splice. Returns whether the channel
    /// must fall back to buffers ([`pipe::is_unsupported`]: `ENOSYS` or
    /// `EINVAL`, when no byte can be in the pipe yet). `ENOSYS` (no splice
    /// in this kernel) also turns splicing off for the whole pool; `EINVAL`
    /// may be one socket's, so only that channel falls back.
    pub fn note_splice_error(&mut self, err: &io::Error) -> bool {
        if err.raw_os_error() == Some(libc::ENOSYS) {
            self.unsupported = true;
            self.spares.clear();
        }
        pipe::is_unsupported(err)
    }

    /// Whether the pool still hands out pipes (splice was not found missing).
    pub fn splice_supported(&self) -> bool {
        !self.unsupported
    }

    /// Pipes handed out and not yet given back.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Empty pipes kept for reuse.
    pub fn spares(&self) -> usize {
        self.spares.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::test_support::{loopback_pair, wait, Ready};
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn buf_pool_hands_out_buffers_of_the_configured_size() {
        let mut pool = BufPool::with_default_size(4);
        assert_eq!(pool.buf_size(), 16 * 1024);
        let buf = pool.get();
        assert_eq!(buf.len(), 16 * 1024);
        pool.put(buf);
        let mut small = BufPool::new(512, 1);
        assert_eq!(small.get().len(), 512);
    }

    #[test]
    fn buf_pool_reuses_a_returned_buffer() {
        let mut pool = BufPool::new(1024, 2);
        let mut buf = pool.get();
        buf[0] = 42;
        let addr = buf.as_ptr();
        pool.put(buf);
        let again = pool.get();
        assert_eq!(again.as_ptr(), addr, "the spare came back");
        assert_eq!(again[0], 42, "the pool does not clear");
        pool.put(again);
    }

    #[test]
    fn buf_pool_counts_buffers_in_use_and_an_idle_pool_holds_none() {
        let mut pool = BufPool::new(256, 8);
        assert_eq!(pool.in_use(), 0);
        let (a, b) = (pool.get(), pool.get());
        assert_eq!(pool.in_use(), 2);
        pool.put(a);
        assert_eq!(pool.in_use(), 1);
        pool.put(b);
        assert_eq!((pool.in_use(), pool.spares()), (0, 2));
    }

    #[test]
    fn buf_pool_keeps_at_most_max_spares() {
        let mut pool = BufPool::new(64, 2);
        let bufs: Vec<_> = (0..5).map(|_| pool.get()).collect();
        assert_eq!(pool.in_use(), 5);
        for buf in bufs {
            pool.put(buf);
        }
        assert_eq!((pool.in_use(), pool.spares()), (0, 2));
    }

    #[test]
    fn pipe_pool_reuses_an_empty_pipe() {
        let mut pool = PipePool::new(4, None);
        let pipe = pool.get().expect("a pipe");
        let fd = pipe.read_fd().as_raw_fd();
        pool.put(pipe);
        assert_eq!((pool.in_use(), pool.spares()), (0, 1));
        let again = pool.get().expect("a pipe");
        assert_eq!(again.read_fd().as_raw_fd(), fd, "the same pipe");
        assert_eq!(pool.in_use(), 1);
        pool.put(again);
    }

    #[test]
    fn pipe_pool_grows_a_pipe_to_a_size_above_the_default() {
        let mut pool = PipePool::new(1, Some(256 * 1024));
        let pipe = pool.get().expect("a pipe");
        assert_eq!((pipe.capacity(), pipe.limit()), (256 * 1024, 256 * 1024));
        pool.put(pipe);
    }

    #[test]
    fn pipe_pool_keeps_the_default_size_below_it_and_lowers_the_fill_limit() {
        let mut pool = PipePool::new(1, Some(16));
        let pipe = pool.get().expect("a pipe");
        assert_eq!((pipe.capacity(), pipe.limit()), (pipe::DEFAULT_CAPACITY, 16));
        pool.put(pipe);
    }

    #[test]
    fn pipe_pool_refuses_past_its_limit_until_a_pipe_comes_back() {
        let mut pool = PipePool::new(2, None);
        let a = pool.get().expect("first");
        let b = pool.get().expect("second");
        assert!(matches!(pool.get(), Err(NoPipe::Limit)));
        pool.put(a);
        let c = pool.get().expect("room again");
        assert_eq!(pool.in_use(), 2);
        pool.put(b);
        pool.put(c);
        assert_eq!((pool.in_use(), pool.spares()), (0, 2));
    }

    #[test]
    fn pipe_pool_closes_a_pipe_that_comes_back_with_bytes() {
        let (ours, mut peer) = loopback_pair();
        ours.set_nonblocking(true).expect("O_NONBLOCK");
        peer.write_all(b"stale").expect("peer write");
        let mut pool = PipePool::new(2, None);
        let mut pipe = pool.get().expect("a pipe");
        wait(&ours, Ready::Read);
        assert_eq!(pipe.splice_in(&ours, 1024).expect("splice in"), 5);
        pool.put(pipe);
        assert_eq!((pool.in_use(), pool.spares()), (0, 0), "not kept: it holds bytes");
        let fresh = pool.get().expect("a new pipe");
        assert!(fresh.is_empty());
        assert_eq!(fresh.kernel_len().expect("FIONREAD"), 0);
        pool.put(fresh);
    }

    #[test]
    fn pipe_pool_reports_enosys_as_splice_unsupported_for_good() {
        let mut pool = PipePool::new(2, None);
        let pipe = pool.get().expect("a pipe");
        assert!(pool.note_splice_error(&io::Error::from_raw_os_error(libc::ENOSYS)), "fall back");
        assert!(!pool.splice_supported());
        assert!(matches!(pool.get(), Err(NoPipe::Unsupported)));
        pool.put(pipe);
        assert_eq!((pool.in_use(), pool.spares()), (0, 0), "no spares kept once unsupported");
    }

    #[test]
    fn pipe_pool_lets_one_channel_fall_back_on_einval_and_keeps_splicing() {
        let mut pool = PipePool::new(2, None);
        assert!(pool.note_splice_error(&io::Error::from_raw_os_error(libc::EINVAL)), "fall back");
        assert!(pool.splice_supported());
        assert!(!pool.note_splice_error(&io::Error::from_raw_os_error(libc::EPIPE)), "a real error, not a fallback");
        let pipe = pool.get().expect("still hands out pipes");
        pool.put(pipe);
    }
}
