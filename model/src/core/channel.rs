//! The channel between two connections (the note: "connection <-> channel <->
//! connection"): flags and fill levels, never the bytes themselves.
//!
//! ```text
//!   producer conn --recv--> [ buffer | pipe ] --send--> consumer conn
//!        flags set by the producer side:  ERR_IN  SHUT_IN  EMPTY_IN
//!        flags set by the consumer side:  ERR_OUT SHUT_OUT FULL_OUT
//! ```
//!
//! The bytes live in the runtime's pooled buffers and pipes (or, in the model,
//! as numbered chunks). The core knows only whether each is empty, holds data
//! or is full, which is all its decisions depend on (docs/model.md, "Channel"). A channel holds data in
//! the buffer or in the pipe, never both: the buffer must be empty before the
//! producer switches to the pipe, and the pipe must be flushed before the
//! buffer is used again, so bytes are never in two places or out of order.

use std::fmt;

/// The note's six channel status flags.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ChanFlags(u8);

impl ChanFlags {
    /// An error was reported on the input side (the producer's socket).
    pub const ERR_IN: u8 = 0x01;
    /// An error was reported on the output side (the consumer's socket).
    pub const ERR_OUT: u8 = 0x02;
    /// The input side is shut: read0, a clean TLS end, an error or an active shutr.
    pub const SHUT_IN: u8 = 0x04;
    /// The output side is shut: the consumer's shutw completed, or it is gone.
    pub const SHUT_OUT: u8 = 0x08;
    /// The producer's socket has nothing to read (the last recv said EAGAIN).
    pub const EMPTY_IN: u8 = 0x10;
    /// The consumer's socket cannot take more (the last send said EAGAIN).
    pub const FULL_OUT: u8 = 0x20;

    /// Whether `flag` is set.
    pub const fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }

    /// Sets `flag`.
    pub fn set(&mut self, flag: u8) {
        self.0 |= flag;
    }

    /// Clears `flag`.
    pub fn clear(&mut self, flag: u8) {
        self.0 &= !flag;
    }

    /// The raw byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Builds flags from a raw byte (tests and trace import).
    pub const fn from_bits(bits: u8) -> ChanFlags {
        ChanFlags(bits & 0x3f)
    }
}

impl fmt::Debug for ChanFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::ERR_IN, "ERR_IN"),
            (Self::ERR_OUT, "ERR_OUT"),
            (Self::SHUT_IN, "SHUT_IN"),
            (Self::SHUT_OUT, "SHUT_OUT"),
            (Self::EMPTY_IN, "EMPTY_IN"),
            (Self::FULL_OUT, "FULL_OUT"),
        ];
        let mut first = true;
        for (bit, name) in names {
            if self.has(bit) {
                if !first {
                    f.write_str("|")?;
                }
                first = false;
                f.write_str(name)?;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// How much a buffer or pipe holds, as far as decisions go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Fill {
    /// Nothing in flight; the runtime holds no buffer for it.
    #[default]
    Empty,
    /// Some data, and room for more.
    Some,
    /// No room left.
    Full,
}

/// Where a received byte goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sink {
    /// Into the channel's buffer (`raw_sock_to_buf`, `ssl_sock_to_buf`).
    Buffer,
    /// Into the channel's pipe (`raw_sock_to_pipe`, splice in).
    Pipe,
    /// Read and discarded: the drain of an active shutr.
    Discard,
}

/// Where a sent byte comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// From the channel's buffer (`raw_sock_from_buf`, `ssl_sock_from_buf`).
    Buffer,
    /// From the channel's pipe (`raw_sock_from_pipe`, splice out).
    Pipe,
    /// The fixed reply of a health or monitor check (`HH_SEND_LAST_CHUNK`).
    Reply,
    /// The PROXY protocol header (`HH_SEND_PROXY`).
    ProxyHeader,
}

/// The two channels of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// Client to server (request): produced by the front, consumed by the back.
    Req,
    /// Server to client (response): produced by the back, consumed by the front.
    Res,
}

impl Dir {
    /// Both channels.
    pub const BOTH: [Dir; 2] = [Dir::Req, Dir::Res];
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::Req => "req",
            Dir::Res => "res",
        })
    }
}

/// A channel: flags, fill levels, and whether data already crossed it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Channel {
    /// The note's flags.
    pub flags: ChanFlags,
    /// The buffer's fill level.
    pub buf: Fill,
    /// The pipe's fill level.
    pub pipe: Fill,
    /// Data has already crossed this channel (splice `auto` starts after the first buffer).
    pub seen_data: bool,
    /// The producer's peer reset its connection (ECONNRESET, EPIPE) before
    /// it ended its stream: with `propagate_abort`, the consumer's peer is
    /// owed an RST once the channel is flushed. Never set without it.
    pub aborted: bool,
    /// No pipe could be had for a splice on this channel (the runtime's
    /// pipe limit, a kernel without splice, an error making one): it
    /// carries its data through the buffer from then on.
    pub no_pipe: bool,
}

impl Channel {
    /// Nothing in the buffer nor in the pipe.
    pub fn is_empty(&self) -> bool {
        self.buf == Fill::Empty && self.pipe == Fill::Empty
    }

    /// The source the next send drains: the pipe if it holds data, else the buffer.
    pub fn source(&self) -> Option<Source> {
        if self.pipe != Fill::Empty {
            Some(Source::Pipe)
        } else if self.buf != Fill::Empty {
            Some(Source::Buffer)
        } else {
            None
        }
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags.has(flag)
    }
}
