//! connseq-model: HAProxy's design note "Connection layering and sequencing"
//! (2012) as a pure core ([`core`]) and a stateright model of the closed
//! system around it ([`check`]).
//!
//! The core decides; the model and the runtime execute. See docs/model.md.

#![forbid(unsafe_code)]

pub mod check;
pub mod core;
