//! The pure connection-sequencing core: every decision of the note, no I/O,
//! no clock. The stateright model (`crate::check`) and the mio runtime call
//! the same code; see [`Session`] for how to drive it.
//!
//! Rooms, one job each:
//! - [`op`]: the note's 2-bit operation status, per layer and direction;
//! - [`fd`], [`connection`], [`stream_interface`]: the three state tables;
//! - [`handshake`]: the incoming and outgoing handshake handlers;
//! - [`channel`]: the channel between two connections and its six flags;
//! - [`backend`]: server choice, queueing, retries;
//! - [`health`]: a server's health from its checks, and whether it may be picked;
//! - [`timers`]: which timers are armed;
//! - [`session`]: the transition function that ties them together;
//! - [`termination`]: the two-letter termination code;
//! - [`config`]: listener configuration and the catalogue of mutants.

pub mod backend;
pub mod channel;
pub mod config;
pub mod connection;
pub mod fd;
pub mod handshake;
pub mod health;
pub mod op;
pub mod session;
pub mod side;
pub mod stream_interface;
pub mod termination;
pub mod timers;
pub mod trace;

/// Time as milliseconds of the caller's monotonic clock. The model passes 0.
pub type Millis = u64;

pub use backend::{Pick, Retry, ServerView};
pub use channel::{ChanFlags, Channel, Dir, Fill, Sink, Source};
pub use config::{Balance, Bugs, Mutant, NoBugs, SessionConfig, SpliceMode};
pub use connection::{ConnState, Connection, DataLayer, PendingRst};
pub use fd::FdState;
pub use handshake::{Handler, HandlerSet, Reply, RuleStage};
pub use op::{Layer, Op, OpStatus, OpTable};
pub use session::{Action, Outcome, Session, Side};
pub use stream_interface::SiState;
pub use termination::{Cause, Phase, Termination};
pub use timers::{Timeouts, TimerKind, Timers};
