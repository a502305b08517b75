//! connseq, the reference proxy: the library behind the `connseq` binary.
//!
//! Rooms: [`config`] (flags and TOML file, validated), [`pool`] (buffers and
//! pipes, held only while data is in flight), [`sys`] (the one place that may
//! use `unsafe`: splice, pipes, signals, process limits). The mio runtime that
//! executes the core's actions on them comes with the runtime issue.

// `deny`, not `forbid`: the `sys` room allows unsafe code locally.
#![deny(unsafe_code)]

pub mod config;
pub mod pool;
pub mod sys;
