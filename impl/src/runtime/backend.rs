//! Per-backend balancer state shared by every event-loop thread (behind a
//! mutex in `Shared`): each server's active count, the round-robin cursor
//! and the queue of sessions waiting for a slot. The decisions are the
//! core's ([`connseq_model::core::backend::pick`]); this file only keeps the
//! counts.

use crate::config::BackendConfig;
use connseq_model::core::backend;
use connseq_model::core::{Balance, Pick, ServerView};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// A session waiting in a backend's queue: its thread, slot index and
/// generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Waiter {
    pub(crate) worker: usize,
    pub(crate) idx: usize,
    pub(crate) gen: u32,
}

/// One backend's counters.
#[derive(Debug)]
pub(crate) struct BackendState {
    balance: Balance,
    servers: Vec<ServerView>,
    addrs: Vec<SocketAddr>,
    cursor: usize,
    queue: VecDeque<Waiter>,
}

impl BackendState {
    /// Fresh counters for `cfg`: every server usable, none busy.
    pub(crate) fn new(cfg: &BackendConfig) -> BackendState {
        BackendState {
            balance: cfg.balance,
            servers: cfg.servers.iter().map(|s| ServerView { active: 0, maxconn: s.maxconn, usable: true }).collect(),
            addrs: cfg.servers.iter().map(|s| s.addr).collect(),
            cursor: 0,
            queue: VecDeque::new(),
        }
    }

    /// Asks the balancer; an assigned server's slot is taken at once. A
    /// `Queue` answer puts `waiter` in the queue.
    pub(crate) fn pick(&mut self, avoid: Option<u8>, queue: bool, waiter: Waiter) -> Pick {
        let pick = backend::pick(self.balance, &mut self.cursor, &self.servers, avoid, queue);
        match pick {
            Pick::Assigned(i) => self.take(i),
            Pick::Queue => self.queue.push_back(waiter),
            Pick::NoServer => {}
        }
        pick
    }

    /// The address of server `i`, if it exists.
    pub(crate) fn addr(&self, i: u8) -> Option<SocketAddr> {
        self.addrs.get(usize::from(i)).copied()
    }

    /// Gives server `i`'s slot back.
    pub(crate) fn release(&mut self, i: u8) {
        if let Some(s) = self.servers.get_mut(usize::from(i)) {
            s.active = s.active.saturating_sub(1);
        }
    }

    /// If server `i` has room and someone still waits (`still_waiting` says
    /// whether a queued session is alive and in QUE, or cannot tell because
    /// it belongs to another thread, which then checks), takes the slot for
    /// the first such waiter and returns it.
    pub(crate) fn dequeue(&mut self, i: u8, still_waiting: impl Fn(Waiter) -> bool) -> Option<Waiter> {
        let s = self.servers.get(usize::from(i))?;
        if !(s.usable && (s.maxconn == 0 || s.active < s.maxconn)) {
            return None;
        }
        while let Some(w) = self.queue.pop_front() {
            if still_waiting(w) {
                self.take(i);
                return Some(w);
            }
        }
        None
    }

    pub(crate) fn take(&mut self, i: u8) {
        if let Some(s) = self.servers.get_mut(usize::from(i)) {
            s.active += 1;
        }
    }

    /// Active connections per server (for tests and logs).
    #[cfg(test)]
    pub(crate) fn active(&self) -> Vec<u32> {
        self.servers.iter().map(|s| s.active).collect()
    }
}

// ---- The runtime API's one hook (`super::control`) ----

impl BackendState {
    /// Sets whether server `i` may be picked: false while an operator
    /// drains it or puts it in maintenance (its sessions keep their slots
    /// to their end), true when it is ready again. The balancer reads it as
    /// [`ServerView::usable`].
    pub(crate) fn set_admin_usable(&mut self, i: u8, usable: bool) {
        if let Some(s) = self.servers.get_mut(usize::from(i)) {
            s.usable = usable;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;

    fn w(idx: usize) -> Waiter {
        Waiter { worker: 0, idx, gen: 0 }
    }

    fn backend(maxconn: u32) -> BackendState {
        let s = |port| ServerConfig { addr: SocketAddr::from(([127, 0, 0, 1], port)), maxconn };
        BackendState::new(&BackendConfig::new("b", vec![s(1), s(2)]))
    }

    #[test]
    fn a_pick_takes_a_slot_and_a_release_gives_it_back() {
        let mut b = backend(0);
        assert_eq!(b.pick(None, true, w(0)), Pick::Assigned(0));
        assert_eq!(b.pick(None, true, w(1)), Pick::Assigned(1));
        assert_eq!(b.active(), [1, 1]);
        b.release(0);
        assert_eq!(b.active(), [0, 1]);
    }

    #[test]
    fn a_full_backend_queues_and_a_release_hands_the_slot_to_a_live_waiter() {
        let mut b = backend(1);
        b.pick(None, true, w(0));
        b.pick(None, true, w(1));
        assert_eq!(b.pick(None, true, w(2)), Pick::Queue);
        assert_eq!(b.pick(None, true, w(3)), Pick::Queue);
        assert_eq!(b.dequeue(0, |_| true), None, "no room yet");
        b.release(0);
        assert_eq!(b.dequeue(0, |x| x.idx != 2), Some(w(3)), "the gone waiter is skipped");
        assert_eq!(b.active(), [1, 1]);
    }
}
