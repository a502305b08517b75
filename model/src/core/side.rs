//! The two sides of a session, and which channel each fills and drains.

use crate::core::channel::Dir;
use std::fmt;

/// One side of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The client-facing connection.
    Front,
    /// The server-facing connection.
    Back,
}

impl Side {
    /// Both sides.
    pub const BOTH: [Side; 2] = [Side::Front, Side::Back];

    /// The channel this side produces into.
    pub const fn input(self) -> Dir {
        match self {
            Side::Front => Dir::Req,
            Side::Back => Dir::Res,
        }
    }

    /// The channel this side consumes from.
    pub const fn output(self) -> Dir {
        match self {
            Side::Front => Dir::Res,
            Side::Back => Dir::Req,
        }
    }

    /// The other side.
    pub const fn other(self) -> Side {
        match self {
            Side::Front => Side::Back,
            Side::Back => Side::Front,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Front => "front",
            Side::Back => "back",
        })
    }
}

impl Dir {
    /// The side that fills this channel.
    pub const fn producer(self) -> Side {
        match self {
            Dir::Req => Side::Front,
            Dir::Res => Side::Back,
        }
    }

    /// The side that drains this channel.
    pub const fn consumer(self) -> Side {
        self.producer().other()
    }
}
