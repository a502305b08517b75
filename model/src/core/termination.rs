//! The two-letter termination code of a session, after HAProxy's tcplog:
//! who ended it, and in which phase.

use std::fmt;

/// Who or what ended the session (first letter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Cause {
    /// Normal end: both sides closed cleanly (`-`).
    #[default]
    Normal,
    /// The client aborted or misbehaved (`C`).
    Client,
    /// The server aborted, refused or misbehaved (`S`).
    Server,
    /// The proxy decided: a rule rejected the connection, no server (`P`).
    Proxy,
    /// The client-side timeout struck (`c`).
    ClientTimeout,
    /// The server-side timeout struck (`s`).
    ServerTimeout,
    /// A local resource ran out (`R`).
    Resource,
    /// The proxy was stopping and the grace period ran out (`K`, HAProxy's
    /// "killed by an admin").
    Killed,
}

impl Cause {
    /// The letter in the log.
    pub const fn letter(self) -> char {
        match self {
            Cause::Normal => '-',
            Cause::Client => 'C',
            Cause::Server => 'S',
            Cause::Proxy => 'P',
            Cause::ClientTimeout => 'c',
            Cause::ServerTimeout => 's',
            Cause::Resource => 'R',
            Cause::Killed => 'K',
        }
    }
}

/// The phase the session was in (second letter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Phase {
    /// Ended normally (`-`).
    #[default]
    None,
    /// Before the session started: handshake handlers (`R`).
    Request,
    /// Waiting in a queue (`Q`).
    Queue,
    /// Choosing a server or connecting (`C`).
    Connect,
    /// Forwarding data (`D`).
    Data,
    /// Closing: draining, half-closed, lingering (`L`).
    Close,
}

impl Phase {
    /// The letter in the log.
    pub const fn letter(self) -> char {
        match self {
            Phase::None => '-',
            Phase::Request => 'R',
            Phase::Queue => 'Q',
            Phase::Connect => 'C',
            Phase::Data => 'D',
            Phase::Close => 'L',
        }
    }
}

/// A session's termination code: the first cause recorded wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Termination {
    /// Who ended it.
    pub cause: Cause,
    /// When.
    pub phase: Phase,
}

impl Termination {
    /// Records `cause` in `phase` unless a cause is already recorded.
    pub fn record(&mut self, cause: Cause, phase: Phase) {
        if self.cause == Cause::Normal {
            self.cause = cause;
            self.phase = phase;
        }
    }

    /// The two letters, e.g. `CD` or `--`.
    pub fn code(&self) -> [char; 2] {
        [self.cause.letter(), self.phase.letter()]
    }
}

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = self.code();
        write!(f, "{a}{b}")
    }
}
