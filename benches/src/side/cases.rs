//! What the side-by-side bench measures: its cases, each run against the
//! direct path and both proxies, and the samples they give.

use serde::{Deserialize, Serialize};

use super::targets::Kind;

/// What a case does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// `streams` connections sending as fast as they can.
    Bulk {
        /// Parallel connections.
        streams: usize,
    },
    /// Short connections: connect, 64 B each way, close.
    Conns,
    /// 64-byte round trips on one connection.
    Latency,
}

/// The TLS of a case, as the client and the server see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// None.
    Plain,
    /// The client speaks TLS to the proxy; the proxy speaks plain TCP to the server.
    Term,
    /// The client speaks plain TCP; the proxy speaks TLS to the server.
    Orig,
}

/// One line of the results.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Short id, used in file names and `--only`.
    pub id: &'static str,
    /// What the results table calls it.
    pub label: &'static str,
    /// What it does.
    pub measure: Measure,
    /// The proxies' listener it goes through.
    pub listener: &'static str,
    /// Its TLS.
    pub tls: Tls,
    /// Short connections: the client resumes TLS sessions.
    pub resume: bool,
}

const fn bulk(id: &'static str, label: &'static str, listener: &'static str, tls: Tls, streams: usize) -> Case {
    Case { id, label, measure: Measure::Bulk { streams }, listener, tls, resume: false }
}

/// Every case, in the order they run in a round.
pub const CASES: &[Case] = &[
    bulk("copy-1", "bulk, copy, 1 stream", "copy", Tls::Plain, 1),
    bulk("copy-8", "bulk, copy, 8 streams", "copy", Tls::Plain, 8),
    bulk("splice-1", "bulk, splice, 1 stream", "splice", Tls::Plain, 1),
    bulk("splice-8", "bulk, splice, 8 streams", "splice", Tls::Plain, 8),
    bulk("tls-term-1", "bulk, TLS termination, 1 stream", "tls-term", Tls::Term, 1),
    bulk("tls-term-8", "bulk, TLS termination, 8 streams", "tls-term", Tls::Term, 8),
    bulk("tls-orig-1", "bulk, TLS origination, 1 stream", "tls-orig", Tls::Orig, 1),
    bulk("tls-orig-8", "bulk, TLS origination, 8 streams", "tls-orig", Tls::Orig, 8),
    Case {
        id: "conn",
        label: "short connections",
        measure: Measure::Conns,
        listener: "echo",
        tls: Tls::Plain,
        resume: false,
    },
    Case {
        id: "conn-splice",
        label: "short connections, splice",
        measure: Measure::Conns,
        listener: "echo-splice",
        tls: Tls::Plain,
        resume: false,
    },
    Case {
        id: "conn-tls-full",
        label: "short connections, TLS 1.3 full handshake",
        measure: Measure::Conns,
        listener: "tls-echo",
        tls: Tls::Term,
        resume: false,
    },
    Case {
        id: "conn-tls-resume",
        label: "short connections, TLS 1.3 resumption",
        measure: Measure::Conns,
        listener: "tls-echo",
        tls: Tls::Term,
        resume: true,
    },
    Case {
        id: "latency",
        label: "64 B round trip",
        measure: Measure::Latency,
        listener: "echo",
        tls: Tls::Plain,
        resume: false,
    },
];

/// One measurement of one case against one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    /// Proxy threads (`nbthread`, `--threads`).
    pub threads: usize,
    /// [`Case::id`], or `idle-plain` / `idle-tls` for memory.
    pub case: String,
    /// Who carried it.
    pub target: Kind,
    /// The round (from 0).
    pub round: usize,
    /// Bulk: Gbit/s; short connections: connections per second; latency:
    /// the p99 in µs; idle memory: bytes per connection.
    pub value: f64,
    /// The proxy's CPU seconds per GiB (bulk) or per 1000 connections.
    pub cpu: Option<f64>,
    /// Latency percentiles p50, p99, p99.9 in µs.
    pub latency: Option<[f64; 3]>,
    /// Connections or transfers that failed during the sample.
    pub errors: u64,
}
