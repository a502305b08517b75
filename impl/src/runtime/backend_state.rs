//! Per-backend state shared by every event-loop thread (behind a mutex in
//! `Shared`): each server's slots, the round-robin cursor and the queue of
//! sessions waiting for a slot. This file keeps the storage only: who gets a
//! slot, who waits, and who is handed a freed slot is decided by the core
//! (`connseq_model::core::backend`: `take`, `release`, `leave`, `offer`),
//! the same code the model checks with sessions contending for a server.

use crate::config::BackendConfig;
use connseq_model::core::backend::Shared;
use connseq_model::core::health::{self, Admin, Change, Health, Rules, Status};
use connseq_model::core::ServerView;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// A session waiting in a backend's queue: its thread, flow index and
/// generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Waiter {
    pub(crate) worker: usize,
    pub(crate) idx: usize,
    pub(crate) gen: u32,
}

/// One backend's slots and queue, and each server's health and operator
/// state, from which the balancer's `usable` follows.
#[derive(Debug)]
pub(crate) struct BackendState {
    servers: Vec<ServerView>,
    addrs: Vec<SocketAddr>,
    cursor: usize,
    queue: VecDeque<Waiter>,
    admin: Vec<Admin>,
    checks: Vec<Option<CheckState>>,
}

/// A checked server's health and what `show stat` shows of its checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckState {
    pub(crate) rules: Rules,
    pub(crate) health: Health,
    /// Failed checks (and connect failures counted as such) since start.
    pub(crate) failures: u64,
    /// Times it went DOWN.
    pub(crate) downs: u64,
    /// The last result: passed, and its description (`L4OK`, ...).
    pub(crate) last: Option<(bool, &'static str)>,
}

impl BackendState {
    /// Fresh counters for `cfg`: every server usable, none busy.
    pub(crate) fn new(cfg: &BackendConfig) -> BackendState {
        let checks = (0..cfg.servers.len())
            .map(|i| {
                let p = cfg.server_check(i);
                p.enabled.then(|| {
                    let rules = Rules { rise: p.rise, fall: p.fall };
                    CheckState { rules, health: Health::new(rules), failures: 0, downs: 0, last: None }
                })
            })
            .collect();
        BackendState {
            servers: cfg
                .servers
                .iter()
                .enumerate()
                .map(|(i, s)| ServerView {
                    active: 0,
                    maxconn: s.maxconn,
                    usable: true,
                    backup: cfg.server_is_backup(i),
                })
                .collect(),
            addrs: cfg.servers.iter().map(|s| s.addr).collect(),
            cursor: 0,
            queue: VecDeque::new(),
            admin: vec![Admin::Ready; cfg.servers.len()],
            checks,
        }
    }

    /// Whether server `i` is UP (a server without checks always is).
    fn is_up(&self, i: usize) -> bool {
        self.checks.get(i).copied().flatten().map_or(true, |c| c.health.is_up(c.rules))
    }

    /// The state `show stat` gives server `i`.
    pub(crate) fn status(&self, i: usize) -> Status {
        health::status(self.admin.get(i).copied().unwrap_or_default(), self.is_up(i))
    }

    /// Server `i`'s checks, if it is checked.
    pub(crate) fn check(&self, i: usize) -> Option<CheckState> {
        self.checks.get(i).copied().flatten()
    }

    /// Servers the balancer may pick now (usable): the active ones and the
    /// backup ones.
    pub(crate) fn usable_count(&self) -> (usize, usize) {
        let count = |backup: bool| self.servers.iter().filter(|s| s.usable && s.backup == backup).count();
        (count(false), count(true))
    }

    /// Whether any server is a backup.
    pub(crate) fn has_backups(&self) -> bool {
        self.servers.iter().any(|s| s.backup)
    }

    /// Whether server `i` is a backup.
    pub(crate) fn is_backup(&self, i: usize) -> bool {
        self.servers.get(i).is_some_and(|s| s.backup)
    }

    fn refresh(&mut self, i: usize) {
        let usable = health::usable(self.admin.get(i).copied().unwrap_or_default(), self.is_up(i));
        if let Some(s) = self.servers.get_mut(i) {
            s.usable = usable;
        }
    }

    /// The result of a check of server `i` (or a connect failure a session
    /// saw, counted as a failed check): the core's health counter decides
    /// whether the server changed state. Nothing for a server not checked.
    pub(crate) fn record_check(&mut self, i: usize, passed: bool, what: &'static str) -> Option<Change> {
        let c = self.checks.get_mut(i)?.as_mut()?;
        let change = c.health.record(c.rules, passed);
        c.last = Some((passed, what));
        c.failures += u64::from(!passed);
        c.downs += u64::from(change == Some(Change::WentDown));
        self.refresh(i);
        change
    }

    /// The address of server `i`, if it exists.
    pub(crate) fn addr(&self, i: u8) -> Option<SocketAddr> {
        self.addrs.get(usize::from(i)).copied()
    }

    /// Active connections per server (for tests and logs).
    #[cfg(test)]
    pub(crate) fn active(&self) -> Vec<u32> {
        self.servers.iter().map(|s| s.active).collect()
    }
}

impl Shared for BackendState {
    type Waiter = Waiter;

    fn servers(&mut self) -> &mut [ServerView] {
        &mut self.servers
    }

    fn cursor(&mut self) -> &mut usize {
        &mut self.cursor
    }

    fn push_waiter(&mut self, w: Waiter) {
        self.queue.push_back(w);
    }

    fn waiters(&self) -> usize {
        self.queue.len()
    }

    fn waiter(&self, pos: usize) -> Option<Waiter> {
        self.queue.get(pos).copied()
    }

    fn remove_waiter(&mut self, pos: usize) -> Option<Waiter> {
        self.queue.remove(pos)
    }
}

// ---- The runtime API's one hook (`super::control`) ----

impl BackendState {
    /// Sets server `i`'s operator state: in DRAIN or MAINT it is not
    /// picked (its sessions keep their slots to their end); READY, it is
    /// picked again when UP. The balancer reads it as [`ServerView::usable`].
    pub(crate) fn set_admin(&mut self, i: u8, admin: Admin) {
        if let Some(a) = self.admin.get_mut(usize::from(i)) {
            *a = admin;
            self.refresh(usize::from(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;
    use connseq_model::core::backend::{leave, release, take};
    use connseq_model::core::{Pick, SessionConfig};

    fn w(idx: usize) -> Waiter {
        Waiter { worker: 0, idx, gen: 0 }
    }

    fn backend(maxconn: u32) -> BackendState {
        let s = |port| ServerConfig { addr: SocketAddr::from(([127, 0, 0, 1], port)), maxconn };
        BackendState::new(&BackendConfig::new("b", vec![s(1), s(2)]))
    }

    fn cfg() -> SessionConfig {
        SessionConfig { queue: true, ..SessionConfig::default() }
    }

    #[test]
    fn a_pick_takes_a_slot_and_a_release_gives_it_back() {
        let mut b = backend(0);
        assert_eq!(take(&cfg(), &mut b, None, w(0)), Pick::Assigned(0));
        assert_eq!(take(&cfg(), &mut b, None, w(1)), Pick::Assigned(1));
        assert_eq!(b.active(), [1, 1]);
        assert_eq!(release(&cfg(), &mut b, 0), None);
        assert_eq!(b.active(), [0, 1]);
    }

    #[test]
    fn a_full_backend_queues_and_a_release_hands_the_slot_to_the_oldest_waiter() {
        let mut b = backend(1);
        take(&cfg(), &mut b, None, w(0));
        take(&cfg(), &mut b, None, w(1));
        assert_eq!(take(&cfg(), &mut b, None, w(2)), Pick::Queue);
        assert_eq!(take(&cfg(), &mut b, None, w(3)), Pick::Queue);
        assert!(leave(&mut b, w(2)), "a waiter that gives up leaves the queue");
        assert!(!leave(&mut b, w(2)), "and is in it no more");
        assert_eq!(release(&cfg(), &mut b, 0), Some(w(3)), "the flow goes straight to the next waiter");
        assert_eq!(b.active(), [1, 1], "handed over, not freed");
    }
}
