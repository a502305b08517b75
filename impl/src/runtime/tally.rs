//! Counters since start per listener and per server, for the runtime API's
//! `show stat` and the metrics: what ended sessions did (bytes, codes,
//! times) and what connect attempts met. Each is touched at a session event
//! (accept, connect attempt, end), never per byte; what is true only of
//! live sessions (how many, their bytes so far) is asked of the event loops
//! when someone looks ([`super::control`]).

use super::flow::Flow;
use connseq_model::core::{Cause, Millis, Phase, Termination};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The upper bounds of the time histograms, in milliseconds (the last
/// bucket, `+Inf`, is implicit).
pub const TIME_BUCKETS_MS: [u64; 14] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000];

/// A histogram of durations in milliseconds with [`TIME_BUCKETS_MS`].
#[derive(Debug, Default)]
pub(crate) struct TimeHistogram {
    /// Observations at or below each bound (not cumulative).
    buckets: [AtomicU64; TIME_BUCKETS_MS.len()],
    /// Observations above the last bound.
    over: AtomicU64,
    sum_ms: AtomicU64,
    count: AtomicU64,
}

/// A [`TimeHistogram`] read at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Times {
    /// Observations at or below each bound of [`TIME_BUCKETS_MS`], cumulative.
    pub cumulative: Vec<u64>,
    /// Every observation.
    pub count: u64,
    /// Their sum, in milliseconds.
    pub sum_ms: u64,
}

impl Times {
    /// The mean in milliseconds, 0 without observations.
    pub fn mean_ms(&self) -> u64 {
        self.sum_ms.checked_div(self.count).unwrap_or(0)
    }
}

impl TimeHistogram {
    fn observe(&self, ms: Millis) {
        match TIME_BUCKETS_MS.iter().position(|&b| ms <= b) {
            Some(i) => self.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self) -> Times {
        let mut total = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        Times { cumulative, count: self.count.load(Ordering::Relaxed), sum_ms: self.sum_ms.load(Ordering::Relaxed) }
    }
}

/// One listener's counters.
#[derive(Debug, Default)]
pub(crate) struct ListenerTally {
    /// Connections accepted.
    pub(crate) accepted: AtomicU64,
    /// Connections a rule rejected.
    pub(crate) denied: AtomicU64,
    /// Sessions that ended because the client broke a protocol (an invalid
    /// PROXY header, a failed TLS handshake: a reason on the log line).
    pub(crate) errors: AtomicU64,
    /// Bytes of ended sessions written to servers and to clients.
    pub(crate) to_server: AtomicU64,
    pub(crate) to_client: AtomicU64,
    /// Ended sessions by termination code.
    pub(crate) codes: Mutex<HashMap<Termination, u64>>,
    /// Time from accept to end of every ended session.
    pub(crate) total: TimeHistogram,
}

/// One server's counters.
#[derive(Debug, Default)]
pub(crate) struct ServerTally {
    /// Sessions that made a connect attempt to it (once per session).
    pub(crate) sessions: AtomicU64,
    /// Attempts refused or failed (timeouts are the core's; not counted).
    pub(crate) connect_failures: AtomicU64,
    /// Attempts that retried this server after a failed one.
    pub(crate) retries: AtomicU64,
    /// Sessions that came to it after failing on another (redispatch).
    pub(crate) redispatches: AtomicU64,
    /// Bytes of ended sessions whose last attempt was this server.
    pub(crate) to_server: AtomicU64,
    pub(crate) to_client: AtomicU64,
    /// Data transfers the client (`CD`, `cD`, `CL`, `cL`) or the server (`SD`, `sD`, ...) aborted.
    pub(crate) client_aborts: AtomicU64,
    pub(crate) server_aborts: AtomicU64,
    /// `Tc` and `Tw` of ended sessions whose last attempt was this server.
    pub(crate) connect: TimeHistogram,
    pub(crate) queue: TimeHistogram,
    /// `Tt` of the same sessions.
    pub(crate) total: TimeHistogram,
}

/// Every listener's and server's counters (indexed as the configuration
/// lists listeners, and backends in first-use order).
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) listeners: Vec<ListenerTally>,
    pub(crate) servers: Vec<Vec<ServerTally>>,
}

impl Tally {
    /// Zeroed counters for `listeners` listeners and backends of these sizes.
    pub(crate) fn new(listeners: usize, backends: &[usize]) -> Tally {
        Tally {
            listeners: (0..listeners).map(|_| ListenerTally::default()).collect(),
            servers: backends.iter().map(|&n| (0..n).map(|_| ServerTally::default()).collect()).collect(),
        }
    }

    fn server(&self, backend: usize, server: u8) -> Option<&ServerTally> {
        self.servers.get(backend)?.get(usize::from(server))
    }

    /// A connect attempt of a session to `server`; `previous` is the
    /// server of its last attempt, if any.
    pub(crate) fn attempt(&self, backend: usize, server: u8, previous: Option<u8>) {
        let Some(s) = self.server(backend, server) else { return };
        match previous {
            None => {
                s.sessions.fetch_add(1, Ordering::Relaxed);
            }
            Some(p) if p == server => {
                s.retries.fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {
                s.sessions.fetch_add(1, Ordering::Relaxed);
                s.redispatches.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A connect attempt to `server` was refused or failed.
    pub(crate) fn connect_failed(&self, backend: usize, server: u8) {
        if let Some(s) = self.server(backend, server) {
            s.connect_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A session of listener `listener` (on backend `backend`) ended.
    pub(crate) fn ended(&self, listener: usize, backend: usize, flow: &Flow, now: Millis) {
        let term = flow.core.termination();
        let t = &flow.times;
        let total = now.saturating_sub(t.accept);
        if let Some(l) = self.listeners.get(listener) {
            l.to_server.fetch_add(flow.sent[0], Ordering::Relaxed);
            l.to_client.fetch_add(flow.sent[1], Ordering::Relaxed);
            if flow.core.rejected() {
                l.denied.fetch_add(1, Ordering::Relaxed);
            }
            if flow.reason.is_some() && matches!(term.cause, Cause::Client) {
                l.errors.fetch_add(1, Ordering::Relaxed);
            }
            *l.codes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(term).or_default() += 1;
            l.total.observe(total);
        }
        let Some(s) = flow.server_idx.and_then(|i| self.server(backend, i)) else { return };
        s.to_server.fetch_add(flow.sent[0], Ordering::Relaxed);
        s.to_client.fetch_add(flow.sent[1], Ordering::Relaxed);
        match (term.cause, matches!(term.phase, Phase::Data | Phase::Close)) {
            (Cause::Client | Cause::ClientTimeout, true) => s.client_aborts.fetch_add(1, Ordering::Relaxed),
            (Cause::Server | Cause::ServerTimeout, true) => s.server_aborts.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        if let (Some(a), Some(b)) = (t.connect, t.established) {
            s.connect.observe(b.saturating_sub(a));
        }
        if let (Some(a), Some(b)) = (t.pick, t.assigned) {
            s.queue.observe(b.saturating_sub(a));
        }
        s.total.observe(total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_observation_once_in_its_bucket_and_reads_cumulatively() {
        let h = TimeHistogram::default();
        for ms in [0, 1, 2, 7, 40_000] {
            h.observe(ms);
        }
        let t = h.read();
        assert_eq!(t.count, 5);
        assert_eq!(t.sum_ms, 40_010);
        assert_eq!(&t.cumulative[..4], [2, 3, 3, 4], "<=1: 0 and 1; <=2: 2; <=10: 7");
        assert_eq!(t.cumulative.last(), Some(&4), "40 s is above every bound");
        assert_eq!(t.mean_ms(), 8002);
    }

    #[test]
    fn an_attempt_counts_a_session_a_retry_or_a_redispatch_as_haproxy_does() {
        // stot, wretr and wredis of `show stat`: a first attempt is a session
        // of its server; another attempt on the same server a retry; one on
        // another server a session there and a redispatch.
        let t = Tally::new(1, &[2]);
        t.attempt(0, 0, None);
        t.attempt(0, 0, Some(0));
        t.attempt(0, 1, Some(0));
        t.attempt(0, 7, None);
        t.attempt(3, 0, None);
        let read = |s: u8| {
            let s = t.server(0, s).expect("a server of backend 0");
            let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
            (get(&s.sessions), get(&s.retries), get(&s.redispatches))
        };
        assert_eq!(read(0), (1, 1, 0));
        assert_eq!(read(1), (1, 0, 1));
        assert!(t.server(0, 2).is_none() && t.server(1, 0).is_none(), "no such server: nothing counted");
    }
}
