//! Kernel pipes for zero-copy forwarding: `pipe2`, `F_SETPIPE_SZ` and
//! `splice` socket -> pipe and pipe -> socket (haproxy-semantics.md, "Data
//! path": `raw_sock_to_pipe`, `raw_sock_from_pipe`).
//!
//! A [`Pipe`] owns both ends and counts the bytes it holds, so the runtime
//! knows, without a syscall, whether the pipe must be flushed before the
//! channel may switch back to its buffer.
//!
//! Kernel facts the caller must keep in mind:
//! - The sockets must be non-blocking (mio's are). `SPLICE_F_NONBLOCK` only
//!   makes the *pipe* side non-blocking; whether the socket side blocks is
//!   decided by the socket's own `O_NONBLOCK`.
//! - `splice_in` failing with `WouldBlock` means either "the socket has
//!   nothing to read" or "the pipe has no room"; when the pipe is not empty,
//!   treat it as "pipe full": flush it, then splice in again *without*
//!   waiting for a new readiness edge (the socket may still hold data).
//! - A pipe is full by slots (one per page or skb fragment), not by bytes:
//!   it may refuse input while holding far less than its capacity. So a pipe
//!   is never made smaller than the kernel's default (16 slots); a smaller
//!   *fill limit* ([`Pipe::set_limit`], the `pipe-size` setting) bounds the
//!   bytes the runtime moves into it instead.
//! - `splice` to a socket does not pass `MSG_NOSIGNAL`: on a reset peer it
//!   raises `SIGPIPE` (observed on Linux 6.x). Rust's runtime ignores
//!   `SIGPIPE` before `main`; the proxy states it with
//!   [`super::signal::ignore_sigpipe`].

use super::{cvt, cvt_size, fault_point, retry_eintr, Call};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The size Linux gives a new pipe (16 pages of 4 KiB).
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

/// `SPLICE_F_MOVE | SPLICE_F_NONBLOCK`, as HAProxy passes them both ways.
const SPLICE_FLAGS: libc::c_uint = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;

/// A non-blocking, close-on-exec pipe and the count of bytes in it.
#[derive(Debug)]
pub struct Pipe {
    /// The end splice reads from (`pipe->cons` in HAProxy).
    rd: OwnedFd,
    /// The end splice writes into (`pipe->prod`).
    wr: OwnedFd,
    /// Bytes spliced in and not yet spliced out.
    len: usize,
    /// The size the kernel reports (`F_GETPIPE_SZ`).
    capacity: usize,
    /// The most bytes the runtime moves into the pipe before flushing it:
    /// the capacity, or less ([`Pipe::set_limit`]).
    limit: usize,
}

impl Pipe {
    /// Opens a pipe with `pipe2(O_NONBLOCK | O_CLOEXEC)`.
    pub fn new() -> io::Result<Pipe> {
        fault_point(Call::Pipe, 0, false)?;
        let mut fds: [libc::c_int; 2] = [-1, -1];
        // SAFETY: `fds` is a writable array of two ints, which is what
        // pipe2(2) fills; nothing else is read or written.
        cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
        // SAFETY: pipe2 succeeded, so fds[0] is open, and nothing else owns
        // it: ownership moves into this OwnedFd here, once.
        let rd = unsafe { OwnedFd::from_raw_fd(fds[0]) };
        // SAFETY: as above, for fds[1].
        let wr = unsafe { OwnedFd::from_raw_fd(fds[1]) };
        let mut pipe = Pipe { rd, wr, len: 0, capacity: DEFAULT_CAPACITY, limit: DEFAULT_CAPACITY };
        pipe.capacity = pipe.query_capacity()?;
        pipe.limit = pipe.capacity;
        Ok(pipe)
    }

    /// Asks the kernel to resize the pipe to at least `bytes` (`F_SETPIPE_SZ`)
    /// and returns the size it granted (rounded up to a power of two pages).
    /// The fill limit becomes the new capacity.
    ///
    /// Fails with `EPERM` above `/proc/sys/fs/pipe-max-size` for an
    /// unprivileged process, and with `EBUSY` below what the pipe holds.
    pub fn set_capacity(&mut self, bytes: usize) -> io::Result<usize> {
        fault_point(Call::PipeGrow, 0, false)?;
        let arg = libc::c_int::try_from(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: F_SETPIPE_SZ takes an int by value and touches no memory of
        // ours; the descriptor is open because we own it.
        let granted = cvt(unsafe { libc::fcntl(self.wr.as_raw_fd(), libc::F_SETPIPE_SZ, arg) })?;
        self.capacity = usize::try_from(granted).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        self.limit = self.capacity;
        Ok(self.capacity)
    }

    /// Moves at most `bytes` (at least 1, at most the capacity) into the
    /// pipe before it counts as full ([`Pipe::is_full`], [`Pipe::room`]).
    pub fn set_limit(&mut self, bytes: usize) {
        self.limit = bytes.clamp(1, self.capacity);
    }

    /// The fill limit: the capacity unless [`Pipe::set_limit`] lowered it.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes the pipe may still take before it reaches its fill limit.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.len)
    }

    /// The pipe holds its fill limit: flush it before splicing in again.
    pub fn is_full(&self) -> bool {
        self.len >= self.limit
    }

    fn query_capacity(&self) -> io::Result<usize> {
        // SAFETY: F_GETPIPE_SZ takes no argument and touches no memory of
        // ours; the descriptor is open because we own it.
        let size = cvt(unsafe { libc::fcntl(self.wr.as_raw_fd(), libc::F_GETPIPE_SZ) })?;
        usize::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
    }

    /// The pipe's size in bytes, as the kernel last reported it.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes in the pipe: spliced in and not yet spliced out.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No byte is waiting in the pipe.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The end splice reads from.
    pub fn read_fd(&self) -> BorrowedFd<'_> {
        self.rd.as_fd()
    }

    /// The end splice writes into.
    pub fn write_fd(&self) -> BorrowedFd<'_> {
        self.wr.as_fd()
    }

    /// Moves up to `max` bytes from `socket` into the pipe
    /// (`splice(socket -> pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)`).
    ///
    /// `Ok(0)` is the socket's EOF (the peer's FIN); `WouldBlock` means the
    /// socket is empty or the pipe is full (see the module doc). `max == 0`
    /// is refused with `InvalidInput`, so that `Ok(0)` always means EOF.
    pub fn splice_in<S: AsFd>(&mut self, socket: &S, max: usize) -> io::Result<usize> {
        if max == 0 {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let max = fault_point(Call::SpliceIn, max, self.len == 0)?;
        let n = splice(socket.as_fd(), self.wr.as_fd(), max)?;
        self.len += n;
        Ok(n)
    }

    /// Moves up to `max` bytes from the pipe into `socket`
    /// (`splice(pipe -> socket, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)`).
    ///
    /// `Ok(0)` means the pipe was empty (no syscall is made then);
    /// `WouldBlock` means the socket's send buffer is full.
    pub fn splice_out<S: AsFd>(&mut self, socket: &S, max: usize) -> io::Result<usize> {
        let want = max.min(self.len);
        if want == 0 {
            return Ok(0);
        }
        let want = fault_point(Call::SpliceOut, want, false)?;
        let n = splice(self.rd.as_fd(), socket.as_fd(), want)?;
        self.len -= n.min(self.len);
        Ok(n)
    }

    /// Bytes the kernel says the pipe holds (`FIONREAD`): a check on
    /// [`Pipe::len`], for tests and assertions, not for the data path.
    pub fn kernel_len(&self) -> io::Result<usize> {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer, which points
        // to `n`, alive and writable for the whole call; the fd is ours.
        cvt(unsafe { libc::ioctl(self.rd.as_raw_fd(), libc::FIONREAD, &mut n as *mut libc::c_int) })?;
        usize::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
    }
}

/// One splice between two descriptors that have no file offset (a socket
/// and a pipe), retrying `EINTR`; `EAGAIN` comes back as `WouldBlock`.
fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    retry_eintr(|| {
        // SAFETY: both descriptors are borrowed, hence open for the call;
        // the offset pointers are null, which splice(2) requires for pipes
        // and sockets; no memory of ours is read or written.
        cvt_size(unsafe {
            libc::splice(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                to.as_raw_fd(),
                std::ptr::null_mut(),
                len,
                SPLICE_FLAGS,
            )
        })
    })
}

/// The error means "splice is not available here": the caller falls back to
/// buffers. `ENOSYS`: the kernel has no splice; `EINVAL`: this file (e.g. a
/// socket type or a filesystem) does not support it.
pub fn is_unsupported(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::super::signal;
    use super::super::socket;
    use super::super::test_support::{is_os_error, loopback_pair, pattern_byte, wait, Ready, SigpipeBlocked};
    use super::*;
    use std::io::{Read, Write};
    use std::net::Shutdown;
    use std::thread;

    const TOTAL: usize = 4 * 1024 * 1024 + 12_345;

    fn is_would_block(r: &io::Result<usize>) -> bool {
        matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    #[test]
    fn a_new_pipe_is_empty_and_has_the_default_capacity() {
        let pipe = Pipe::new().expect("pipe2");
        assert!(pipe.is_empty());
        assert_eq!(pipe.capacity(), DEFAULT_CAPACITY);
        assert_eq!(pipe.kernel_len().expect("FIONREAD"), 0);
    }

    #[test]
    fn what_the_write_end_takes_the_kernel_counts_and_the_read_end_gives() {
        use std::io::{Read, Write};
        let pipe = Pipe::new().expect("pipe2");
        let mut w = std::fs::File::from(pipe.write_fd().try_clone_to_owned().expect("dup"));
        w.write_all(b"seven b").expect("write");
        assert_eq!(pipe.kernel_len().expect("FIONREAD"), 7);
        let mut r = std::fs::File::from(pipe.read_fd().try_clone_to_owned().expect("dup"));
        let mut got = [0u8; 7];
        r.read_exact(&mut got).expect("read");
        assert_eq!((&got, pipe.kernel_len().expect("FIONREAD")), (b"seven b", 0));
    }

    #[test]
    fn set_capacity_returns_the_size_the_kernel_granted() {
        let mut pipe = Pipe::new().expect("pipe2");
        // Rounded up to a power of two pages.
        let granted = pipe.set_capacity(100 * 1024).expect("F_SETPIPE_SZ");
        assert_eq!(granted, 128 * 1024);
        assert_eq!(pipe.capacity(), granted);
        assert_eq!(pipe.query_capacity().expect("F_GETPIPE_SZ"), granted);
    }

    #[test]
    fn a_fill_limit_bounds_room_and_fullness_but_not_the_kernel_size() {
        let (ours, mut peer) = loopback_pair();
        ours.set_nonblocking(true).expect("O_NONBLOCK");
        let mut pipe = Pipe::new().expect("pipe2");
        assert_eq!(pipe.limit(), pipe.capacity());
        pipe.set_limit(16);
        assert_eq!((pipe.limit(), pipe.room(), pipe.capacity()), (16, 16, DEFAULT_CAPACITY));
        peer.write_all(&[7u8; 40]).expect("peer write");
        wait(&ours, Ready::Read);
        assert_eq!(pipe.splice_in(&ours, pipe.room()).expect("splice in"), 16);
        assert!(pipe.is_full());
        assert_eq!(pipe.room(), 0);
        pipe.set_limit(usize::MAX);
        assert_eq!(pipe.limit(), pipe.capacity());
        pipe.set_limit(0);
        assert_eq!(pipe.limit(), 1);
    }

    #[test]
    fn splice_out_of_an_empty_pipe_is_zero() {
        let (ours, _peer) = loopback_pair();
        let mut pipe = Pipe::new().expect("pipe2");
        assert_eq!(pipe.splice_out(&ours, 1024).expect("nothing to move"), 0);
    }

    #[test]
    fn splice_in_from_an_empty_socket_would_block() {
        let (ours, _peer) = loopback_pair();
        ours.set_nonblocking(true).expect("O_NONBLOCK");
        let mut pipe = Pipe::new().expect("pipe2");
        assert!(is_would_block(&pipe.splice_in(&ours, 1024)));
        assert!(pipe.is_empty());
    }

    #[test]
    fn splice_in_of_zero_bytes_is_refused_so_zero_means_eof() {
        let (ours, _peer) = loopback_pair();
        let mut pipe = Pipe::new().expect("pipe2");
        let err = pipe.splice_in(&ours, 0).expect_err("max 0");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn unsupported_means_enosys_or_einval() {
        assert!(is_unsupported(&io::Error::from_raw_os_error(libc::ENOSYS)));
        assert!(is_unsupported(&io::Error::from_raw_os_error(libc::EINVAL)));
        assert!(!is_unsupported(&io::Error::from_raw_os_error(libc::EAGAIN)));
        assert!(!is_unsupported(&io::Error::from_raw_os_error(libc::EPIPE)));
    }

    #[test]
    fn splice_out_to_a_reset_socket_fails_and_any_sigpipe_finds_it_ignored() {
        let (src, mut src_peer) = loopback_pair();
        src.set_nonblocking(true).expect("O_NONBLOCK");
        src_peer.write_all(b"orphan").expect("peer write");
        let mut pipe = Pipe::new().expect("pipe2");
        wait(&src, Ready::Read);
        assert_eq!(pipe.splice_in(&src, 64).expect("splice in"), 6);

        let sigpipe = SigpipeBlocked::new();
        let (dst, dst_peer) = loopback_pair();
        dst.set_nonblocking(true).expect("O_NONBLOCK");
        socket::set_linger_zero(&dst_peer).expect("SO_LINGER {1, 0}");
        drop(dst_peer);
        wait(&dst, Ready::Read);
        let first = pipe.splice_out(&dst, 64);
        assert!(is_os_error(&first, &[libc::ECONNRESET, libc::EPIPE]), "first splice: {first:?}");
        let second = pipe.splice_out(&dst, 64);
        assert!(is_os_error(&second, &[libc::EPIPE]), "second splice: {second:?}");
        assert_eq!(pipe.len(), 6, "nothing left the pipe");
        // splice(2) has no MSG_NOSIGNAL: Linux 6.x raises SIGPIPE with the
        // EPIPE (observed; not asserted, it is the kernel's choice). What the
        // runtime relies on is that SIGPIPE is ignored in the process.
        sigpipe.take_pending();
        signal::ignore_sigpipe().expect("sigaction");
        assert!(signal::sigpipe_is_ignored().expect("sigaction"));
    }

    #[test]
    fn splice_moves_mebibytes_socket_to_pipe_to_socket_in_order_and_reports_eof_as_zero() {
        // client -> [front | pipe | back] -> server
        let (front, mut client) = loopback_pair();
        let (back, mut server) = loopback_pair();
        front.set_nonblocking(true).expect("O_NONBLOCK");
        back.set_nonblocking(true).expect("O_NONBLOCK");

        let writer = thread::spawn(move || {
            let mut chunk = [0u8; 10_007];
            let mut sent = 0;
            while sent < TOTAL {
                let n = chunk.len().min(TOTAL - sent);
                for (i, b) in chunk[..n].iter_mut().enumerate() {
                    *b = pattern_byte(sent + i);
                }
                client.write_all(&chunk[..n]).expect("client write");
                sent += n;
            }
            client.shutdown(Shutdown::Write).expect("client FIN");
            client
        });
        let reader = thread::spawn(move || {
            let mut chunk = [0u8; 7_919];
            let mut seen = 0;
            loop {
                let n = server.read(&mut chunk).expect("server read");
                if n == 0 {
                    return seen;
                }
                for (i, &b) in chunk[..n].iter().enumerate() {
                    assert_eq!(b, pattern_byte(seen + i), "byte {} out of order", seen + i);
                }
                seen += n;
            }
        });

        let mut pipe = Pipe::new().expect("pipe2");
        let (mut spliced_in, mut spliced_out, mut eof) = (0, 0, false);
        while !(eof && pipe.is_empty()) {
            let mut in_blocked = true;
            if !eof {
                let r = pipe.splice_in(&front, pipe.capacity());
                match r {
                    Ok(0) => eof = true,
                    Ok(n) => {
                        spliced_in += n;
                        in_blocked = false;
                    }
                    Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("splice in: {e}"),
                }
            }
            let r = pipe.splice_out(&back, usize::MAX);
            let out_blocked = is_would_block(&r);
            match r {
                Ok(n) => spliced_out += n,
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("splice out: {e}"),
            }
            assert_eq!(pipe.len(), pipe.kernel_len().expect("FIONREAD"), "Pipe::len agrees with the kernel");
            if out_blocked {
                // The pipe is waiting for room in `back`; only the server's
                // reading can unblock us.
                wait(&back, Ready::Write);
            } else if in_blocked && !eof && pipe.is_empty() {
                wait(&front, Ready::Read);
            }
        }
        assert_eq!(spliced_in, TOTAL);
        assert_eq!(spliced_out, TOTAL);
        // EOF is sticky: the socket keeps reporting 0.
        assert_eq!(pipe.splice_in(&front, 1024).expect("EOF again"), 0);
        socket::shutdown_write(&back).expect("back FIN");
        assert_eq!(reader.join().expect("reader thread"), TOTAL);
        drop(writer.join().expect("writer thread"));
    }
}
