//! The one room with `unsafe`: thin, safe wrappers over the Linux calls the
//! runtime needs and that no well-kept crate offers safely (splice, pipes,
//! signalfd, rlimits), plus the socket calls it makes through socket2.
//!
//! Every `unsafe` block here carries a `// SAFETY:` comment. Everything this
//! module exports is safe to call. Linux only: the project's non-goals put
//! other platforms on the buffer path.

#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::multiple_unsafe_ops_per_block)]

#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod fdpass;
pub mod listen_fds;
pub mod pipe;
pub mod process;
pub mod signal;
pub mod socket;

#[cfg(test)]
pub(crate) mod test_support;

use std::io;

/// A call of this room that fault injection may strike (`fault`, built with the
/// test-only `fault-injection` feature; without it every fault point is a no-op).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// `recv` on a socket (data path and drain).
    Recv,
    /// `recv(MSG_PEEK)` (the PROXY header).
    Peek,
    /// `send` on a socket.
    Send,
    /// `recv` of TLS records (a TLS session's reads, through `connseq-tls`'s seam).
    TlsRecv,
    /// `sendmsg` of TLS records (a TLS session's writes, through the same seam).
    TlsSend,
    /// `splice` socket -> pipe.
    SpliceIn,
    /// `splice` pipe -> socket.
    SpliceOut,
    /// `accept` on a listening socket.
    Accept,
    /// `socket` + `connect` towards a server.
    Connect,
    /// `pipe2`.
    Pipe,
    /// `F_SETPIPE_SZ`: growing a pipe.
    PipeGrow,
}

/// A fault point: the number of bytes `call` may move (`len`, or fewer for an injected short
/// read or write), or the error injected in its place. `pipe_empty` tells a splice into an
/// empty pipe. Without the `fault-injection` feature: always `Ok(len)`.
#[inline]
#[allow(unused_variables)]
fn fault_point(call: Call, len: usize, pipe_empty: bool) -> io::Result<usize> {
    #[cfg(feature = "fault-injection")]
    match fault::check(call, len, pipe_empty) {
        Some(fault::Injected::Fail(e)) => return Err(e),
        Some(fault::Injected::Cap(n)) => return Ok(n.min(len)),
        None => {}
    }
    Ok(len)
}

/// Whether a fault point of this thread injected an `EAGAIN` since the last call: the socket
/// is in fact ready and no readiness edge will come, so the caller re-arms it in the poller.
/// Always false without the `fault-injection` feature.
pub fn take_spurious_eagain() -> bool {
    #[cfg(feature = "fault-injection")]
    {
        fault::take_spurious()
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        false
    }
}

/// Turns a C return value into `io::Result`: `-1` becomes `errno`.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like [`cvt`], for calls returning `ssize_t`.
fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        // A non-negative ssize_t always fits in usize.
        Ok(ret as usize)
    }
}

/// Runs `f` again while it fails with `EINTR`.
fn retry_eintr<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minus_one_is_the_only_failure_of_a_c_call() {
        assert_eq!(cvt(0).expect("0"), 0);
        assert_eq!(cvt(1).expect("1 (fcntl's F_GETFD may say so)"), 1);
        assert_eq!(cvt(65536).expect("a pipe size"), 65536);
        assert!(cvt(-1).is_err());
        assert_eq!(cvt_size(1).expect("one byte"), 1);
        assert_eq!(cvt_size(0).expect("EOF"), 0);
        assert!(cvt_size(-1).is_err());
    }

    #[test]
    fn an_interrupted_call_is_made_again_and_any_other_result_is_returned() {
        // A signal whose handler runs during a blocking call makes it fail
        // with EINTR (signal(7)); the call is simply made again.
        let mut calls = 0;
        let got = retry_eintr(|| {
            calls += 1;
            if calls < 3 {
                Err(io::Error::from_raw_os_error(libc::EINTR))
            } else {
                Ok(7)
            }
        });
        assert_eq!((got.expect("the third call"), calls), (7, 3));
        let mut calls = 0;
        let got: io::Result<()> = retry_eintr(|| {
            calls += 1;
            Err(io::Error::from_raw_os_error(libc::EAGAIN))
        });
        assert_eq!((got.expect_err("EAGAIN is returned").raw_os_error(), calls), (Some(libc::EAGAIN), 1));
    }
}
