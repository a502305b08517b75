//! The one room with `unsafe`: thin, safe wrappers over the Linux calls the
//! runtime needs and that no well-kept crate offers safely (splice, pipes,
//! signalfd, rlimits), plus the socket calls it makes through socket2.
//!
//! Every `unsafe` block here carries a `// SAFETY:` comment. Everything this
//! module exports is safe to call. Linux only: the project's non-goals put
//! other platforms on the buffer path.

#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::multiple_unsafe_ops_per_block)]

pub mod fdpass;
pub mod listen_fds;
pub mod pipe;
pub mod process;
pub mod signal;
pub mod socket;

#[cfg(test)]
pub(crate) mod test_support;

use std::io;

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
