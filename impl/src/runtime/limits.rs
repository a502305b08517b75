//! Per-source limits of a listener (`src-conn-limit`, `src-conn-rate`), evaluated with the
//! connection rules (HH_TCP_RULES_CONN) on the real peer address: HAProxy's `track-sc0 src`
//! into a table that stores `conn_cur` and `conn_rate(PERIOD)`, with
//! `tcp-request connection reject if { sc_conn_cur(0) ge N }` (the new connection makes N+1)
//! or `{ sc_conn_rate(0) gt N }`.
//!
//! One table per listener, shared by the threads (with `SO_REUSEPORT` the connections of
//! one source are spread over every thread): a mutex around a map from address to counts,
//! taken once when a connection reaches the stage and once when an admitted one ends.
//!
//! The rate is a sliding window the way HAProxy's `freq_ctr` computes it: the count of the
//! current period plus the previous period's count weighted by the part of it still inside
//! the window. Every connection that reaches the stage counts, admitted or not, as with
//! `track-sc0` before the reject rule: a source that keeps trying stays over its rate.

use crate::config::SourceLimits;
use connseq_model::core::Millis;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

/// What the limits say about a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Within both limits: it now counts as one of the source's connections.
    Yes,
    /// The source already holds `src-conn-limit` connections.
    OverConns,
    /// The source opened more than `src-conn-rate` connections in the window.
    OverRate,
}

impl Admit {
    /// The log's word for a refusal.
    pub(crate) fn reason(self) -> Option<&'static str> {
        match self {
            Admit::Yes => None,
            Admit::OverConns => Some("src-conn-limit"),
            Admit::OverRate => Some("src-conn-rate"),
        }
    }
}

/// One source's counts.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// Admitted connections still open.
    live: u32,
    /// Start of the current period.
    start: Millis,
    /// Connections in the current period.
    cur: u32,
    /// Connections in the previous period.
    prev: u32,
}

impl Entry {
    /// Moves the periods forward to the one holding `now`.
    fn rotate(&mut self, now: Millis, period: Millis) {
        let passed = now.saturating_sub(self.start) / period;
        if passed >= 2 {
            self.prev = 0;
            self.cur = 0;
        } else if passed == 1 {
            self.prev = self.cur;
            self.cur = 0;
        }
        self.start = self.start.saturating_add(passed.saturating_mul(period));
    }

    /// Connections over the last `period` (HAProxy's `freq_ctr_remain` reading).
    fn rate(&self, now: Millis, period: Millis) -> u64 {
        let into = now.saturating_sub(self.start).min(period);
        u64::from(self.cur) + u64::from(self.prev) * (period - into) / period
    }

    fn idle(&self, now: Millis, period: Millis) -> bool {
        self.live == 0 && self.rate(now, period) == 0
    }
}

/// The per-source counts of one listener.
#[derive(Debug)]
pub(crate) struct SourceTable {
    limits: SourceLimits,
    period: Millis,
    map: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<IpAddr, Entry>,
    /// Connections seen since the last sweep of idle entries.
    since_sweep: usize,
}

/// Idle entries are swept after this many connections, or as many as the table holds.
const SWEEP_EVERY: usize = 4096;

impl SourceTable {
    pub(crate) fn new(limits: SourceLimits) -> SourceTable {
        let period = crate::config::millis(limits.period).max(1);
        SourceTable { limits, period, map: Mutex::new(Table::default()) }
    }

    /// A connection from `ip` reaches the stage at `now`: counted in the rate, and, if both
    /// limits allow it, in the source's open connections until [`SourceTable::release`].
    pub(crate) fn admit(&self, ip: IpAddr, now: Millis) -> Admit {
        let ip = ip.to_canonical();
        let mut t = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        t.since_sweep += 1;
        if t.since_sweep >= SWEEP_EVERY.max(t.entries.len()) {
            t.since_sweep = 0;
            let period = self.period;
            t.entries.retain(|_, e| {
                e.rotate(now, period);
                !e.idle(now, period)
            });
        }
        let e = t.entries.entry(ip).or_insert(Entry { start: now, ..Entry::default() });
        e.rotate(now, self.period);
        e.cur = e.cur.saturating_add(1);
        if self.limits.conns != 0 && e.live >= self.limits.conns {
            Admit::OverConns
        } else if self.limits.rate != 0 && e.rate(now, self.period) > u64::from(self.limits.rate) {
            Admit::OverRate
        } else {
            e.live += 1;
            Admit::Yes
        }
    }

    /// An admitted connection from `ip` ended.
    pub(crate) fn release(&self, ip: IpAddr, now: Millis) {
        let ip = ip.to_canonical();
        let mut t = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = t.entries.get_mut(&ip) {
            e.live = e.live.saturating_sub(1);
            e.rotate(now, self.period);
            if e.idle(now, self.period) {
                t.entries.remove(&ip);
            }
        }
    }

    /// Sources the table holds counts for.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn table(conns: u32, rate: u32, period_s: u64) -> SourceTable {
        SourceTable::new(SourceLimits { conns, rate, period: Duration::from_secs(period_s) })
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_source_holds_at_most_its_limit_and_gets_a_place_back_when_one_ends() {
        let t = table(2, 0, 10);
        assert_eq!((t.admit(A, 0), t.admit(A, 0), t.admit(A, 0)), (Admit::Yes, Admit::Yes, Admit::OverConns));
        assert_eq!(t.admit(B, 0), Admit::Yes, "another source has its own count");
        t.release(A, 5);
        assert_eq!((t.admit(A, 6), t.admit(A, 6)), (Admit::Yes, Admit::OverConns));
    }

    #[test]
    fn the_rate_counts_every_attempt_over_a_sliding_window() {
        let t = table(0, 3, 10);
        for at in [0, 1, 2] {
            assert_eq!(t.admit(A, at * 1000), Admit::Yes);
        }
        assert_eq!(t.admit(A, 3_000), Admit::OverRate, "a fourth in 10 s (refused, and counted)");
        // 2 s into the next period, 8/10 of the previous one's 4 attempts still count.
        assert_eq!(t.admit(A, 12_000), Admit::OverRate, "1 + 3 > 3");
        // At 7.5 s in, a quarter of them: 2 + 1 is within 3.
        assert_eq!(t.admit(A, 17_500), Admit::Yes);
        // Two periods later the window is empty.
        assert_eq!(t.admit(A, 40_000), Admit::Yes);
    }

    #[test]
    fn a_sources_first_period_starts_at_its_first_connection() {
        // Not at a multiple of the period: three attempts just before 10 s
        // and a fourth just after are four within one period of the first.
        let t = table(0, 3, 10);
        for _ in 0..3 {
            assert_eq!(t.admit(A, 9_900), Admit::Yes);
        }
        assert_eq!(t.admit(A, 10_100), Admit::OverRate, "4 attempts in 200 ms");
    }

    #[test]
    fn a_source_that_closes_each_connection_before_the_next_still_counts_in_the_rate() {
        // Its entry outlives its connections while its rate is not zero.
        let t = table(0, 3, 10);
        for at in [0, 1_000, 2_000] {
            assert_eq!(t.admit(A, at), Admit::Yes);
            t.release(A, at + 10);
        }
        assert_eq!(t.len(), 1, "no connection open, three in the window");
        assert_eq!(t.admit(A, 3_000), Admit::OverRate);
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_their_ipv4_source() {
        let t = table(1, 0, 10);
        assert_eq!(t.admit(A, 0), Admit::Yes);
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(t.admit(mapped, 0), Admit::OverConns);
    }

    #[test]
    fn idle_sources_are_forgotten() {
        let t = table(1, 0, 1);
        assert_eq!(t.admit(A, 0), Admit::Yes);
        t.release(A, 5_000);
        assert_eq!(t.len(), 0, "no connection open and nothing in the window");
    }

    #[test]
    fn a_refusal_has_its_word_in_the_log_and_an_admission_none() {
        assert_eq!(Admit::Yes.reason(), None);
        assert_eq!(Admit::OverConns.reason(), Some("src-conn-limit"));
        assert_eq!(Admit::OverRate.reason(), Some("src-conn-rate"));
    }

    #[test]
    fn idle_sources_left_by_a_scan_are_swept_after_as_many_connections_as_the_table_holds() {
        // 4,094 sources connect once each and close: their rate keeps them
        // for a period. Five periods later, they are idle, and the sweep
        // comes with the 4,096th connection, not before (one scan of the
        // table per 4,096 connections, not one per connection).
        let t = table(0, 10, 1);
        for i in 0..4094u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + i));
            assert_eq!(t.admit(ip, 0), Admit::Yes);
            t.release(ip, 0);
        }
        assert_eq!(t.len(), 4094, "each within its rate period");
        assert_eq!(t.admit(A, 5_000), Admit::Yes);
        assert_eq!(t.len(), 4095, "the 4,095th connection: no sweep yet");
        assert_eq!(t.admit(B, 5_000), Admit::Yes);
        assert_eq!(t.len(), 2, "swept: only the two sources with a connection open");
    }
}
