//! The state of a file descriptor (the note's first table).
//!
//! ```text
//!            socket()/accept()                 close(2)
//!   CLOSED ----------------------> READY --------------------> CLOSED
//!                                    |  error reported (RST,      ^
//!                                    v  refused, reset)           |
//!                                  ERROR ---------- close(2) -----+
//!   LISTEN: a listening socket; sessions never hold one.
//! ```
//!
//! See docs/model.md, "FD, connection and stream-interface states".

use std::fmt;

/// FD state, named as in the note.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum FdState {
    /// No descriptor (not yet allocated, or closed).
    #[default]
    Closed,
    /// Allocated and usable.
    Ready,
    /// The kernel reported an error on it (peer reset, refused connect).
    Error,
    /// A listening socket.
    Listen,
}

impl fmt::Display for FdState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FdState::Closed => "CLOSED",
            FdState::Ready => "READY",
            FdState::Error => "ERROR",
            FdState::Listen => "LISTEN",
        })
    }
}
