//! The control layer as rustls sees it: `io::Read`/`io::Write` over a
//! borrowed non-blocking TCP socket, the socket calls that move the bytes
//! ([`SocketIo`], the seam a runtime fills with its own calls), and what
//! each socket answer means.

use std::ffi::c_int;
use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;

use socket2::SockRef;

/// `MSG_NOSIGNAL` (Linux `<bits/socket.h>`): a send to a reset peer fails
/// with `EPIPE` instead of raising `SIGPIPE`.
#[cfg(any(target_os = "linux", target_os = "android"))]
const MSG_NOSIGNAL: c_int = 0x4000;
/// Elsewhere there is no such flag; Rust programs ignore `SIGPIPE` from
/// before `main`, so the send still fails with `EPIPE`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const MSG_NOSIGNAL: c_int = 0;

/// The socket calls through which a [`TlsConn`](crate::TlsConn) moves its
/// records: every byte it reads from or writes to its socket goes through
/// one of these, and nothing else touches the socket.
///
/// [`PlainSocketIo`] is the default. A runtime that keeps its system calls
/// in one place of its own (connseq's `sys` room, where tests inject
/// faults) passes its calls instead, with
/// [`TlsConn::with_socket_io`](crate::TlsConn::with_socket_io).
///
/// Each call must behave as the plain socket call does on a socket that
/// may be non-blocking: `Ok(n)` moved exactly `n` bytes (fewer than asked
/// is a short read or write, never an error); `Ok(0)` from `recv` with a
/// non-empty buffer is the peer's FIN; `WouldBlock` is `EAGAIN`; a send to
/// a reset peer fails (`EPIPE`, `ECONNRESET`) and raises no `SIGPIPE`.
pub trait SocketIo: Send + Sync {
    /// `recv` into `buf`.
    fn recv(&self, sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize>;

    /// `send` of `buf`.
    fn send(&self, sock: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize>;

    /// `sendmsg` of `bufs`, in order, as one write. The default sends the
    /// first non-empty slice only (a short write, which callers handle).
    fn send_vectored(&self, sock: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
        self.send(sock, first)
    }
}

/// The plain socket calls, through socket2: `recv`, `send` and `sendmsg`
/// with `MSG_NOSIGNAL`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainSocketIo;

impl SocketIo for PlainSocketIo {
    fn recv(&self, sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut &*SockRef::from(&sock), buf)
    }

    fn send(&self, sock: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
        SockRef::from(&sock).send_with_flags(buf, MSG_NOSIGNAL)
    }

    fn send_vectored(&self, sock: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        SockRef::from(&sock).send_vectored_with_flags(bufs, MSG_NOSIGNAL)
    }
}

/// A borrowed socket and the calls to use on it, for one call of
/// `read_tls` or `write_tls`.
pub(crate) struct SockIo<'s> {
    pub(crate) sock: BorrowedFd<'s>,
    pub(crate) io: &'s dyn SocketIo,
}

impl fmt::Debug for SockIo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SockIo").field("sock", &self.sock).finish_non_exhaustive()
    }
}

impl io::Read for SockIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.recv(self.sock, buf)
    }
}

impl io::Write for SockIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io.send(self.sock, buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.io.send_vectored(self.sock, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a failed socket call means for the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SockError {
    /// `EAGAIN`: wait for readiness.
    WouldBlock,
    /// `EINTR`: call again at once.
    Interrupted,
    /// `ECONNRESET`, `EPIPE`, `ETIMEDOUT` or any other hard error: the peer is gone.
    Reset,
}

impl SockError {
    pub(crate) fn of(e: &io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock => Self::WouldBlock,
            io::ErrorKind::Interrupted => Self::Interrupted,
            _ => Self::Reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;

    #[test]
    fn a_plain_write_goes_through_the_seams_send() {
        // rustls writes with `write_vectored`; `write` must reach the socket too.
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let ours = TcpStream::connect(l.local_addr().expect("address")).expect("connect");
        let (mut peer, _) = l.accept().expect("accept");
        let mut io = SockIo { sock: ours.as_fd(), io: &PlainSocketIo };
        assert_eq!(io.write(b"hello").expect("write"), 5);
        assert!(format!("{io:?}").starts_with("SockIo"));
        let mut got = [0u8; 5];
        peer.read_exact(&mut got).expect("the peer reads it");
        assert_eq!(&got, b"hello");
    }

    /// A seam that fills in `recv` and `send` only: the default `send_vectored`.
    struct SendOnly;

    impl SocketIo for SendOnly {
        fn recv(&self, sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
            PlainSocketIo.recv(sock, buf)
        }

        fn send(&self, sock: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
            PlainSocketIo.send(sock, buf)
        }
    }

    #[test]
    fn the_default_vectored_send_sends_the_first_non_empty_slice_alone() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let ours = TcpStream::connect(l.local_addr().expect("address")).expect("connect");
        let (mut peer, _) = l.accept().expect("accept");
        let bufs = [io::IoSlice::new(b""), io::IoSlice::new(b"first"), io::IoSlice::new(b"second")];
        // A short write the caller sees as one: the first non-empty slice, whole.
        assert_eq!(SendOnly.send_vectored(ours.as_fd(), &bufs).expect("send"), 5);
        assert_eq!(SendOnly.send_vectored(ours.as_fd(), &[io::IoSlice::new(b"")]).expect("nothing"), 0);
        drop(ours);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).expect("the peer reads it");
        assert_eq!(got, b"first");
    }
}
