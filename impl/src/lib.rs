//! connseq, the reference proxy: the library behind the `connseq` binary.
//!
//! Rooms: [`config`] (flags and TOML file, validated), [`pool`] (buffers and
//! pipes, held only while data is in flight), [`sys`] (the one place that may
//! use `unsafe`: splice, pipes, signals, process limits), [`runtime`] (the mio
//! event loops that execute the core's actions on them), [`admin`] (the
//! runtime API on a Unix socket, and the takeover of listening sockets),
//! [`metrics`] (the Prometheus endpoint), and [`service`] (all of them put
//! together as the `connseq proxy` process).

// `deny`, not `forbid`: the `sys` room allows unsafe code locally.
#![deny(unsafe_code)]

pub mod admin;
pub mod config;
pub mod metrics;
pub mod pool;
pub mod runtime;
pub mod service;
pub mod sys;
