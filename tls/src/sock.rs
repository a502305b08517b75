//! The control layer as rustls sees it: `io::Read`/`io::Write` over a
//! borrowed non-blocking TCP socket, and what each socket answer means.

use std::ffi::c_int;
use std::io;

use socket2::Socket;

/// `MSG_NOSIGNAL` (Linux `<bits/socket.h>`): a send to a reset peer fails
/// with `EPIPE` instead of raising `SIGPIPE`.
#[cfg(any(target_os = "linux", target_os = "android"))]
const MSG_NOSIGNAL: c_int = 0x4000;
/// Elsewhere there is no such flag; Rust programs ignore `SIGPIPE` from
/// before `main`, so the send still fails with `EPIPE`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const MSG_NOSIGNAL: c_int = 0;

/// A borrowed socket, for one call of `read_tls` or `write_tls`.
pub(crate) struct SockIo<'s>(pub(crate) &'s Socket);

impl io::Read for SockIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl io::Write for SockIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send_with_flags(buf, MSG_NOSIGNAL)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.send_vectored_with_flags(bufs, MSG_NOSIGNAL)
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
