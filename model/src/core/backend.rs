//! The backend side's decisions: which server, whether to queue, who gets a
//! freed slot, and what to do after a failed connect attempt. The balancer's
//! counters and the queue are shared by every session of a backend, so they
//! live with the caller (the runtime's backend, or the model's servers,
//! through [`Shared`]); the decisions are made here.

use super::config::{Balance, Bugs, Mutant, SessionConfig};

/// What the balancer needs to know about one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ServerView {
    /// Connections this server currently holds slots for.
    pub active: u32,
    /// `maxconn` for this server; 0 means unlimited.
    pub maxconn: u32,
    /// Whether the server may be chosen.
    pub usable: bool,
    /// A backup server (HAProxy's `backup`): chosen only while no active
    /// server is usable, and then only the first usable one.
    pub backup: bool,
}

impl ServerView {
    fn has_room(&self) -> bool {
        self.usable && (self.maxconn == 0 || self.active < self.maxconn)
    }
}

/// The balancer's decision for one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pick {
    /// Take a slot on this server.
    Assigned(u8),
    /// Every usable server is at its maxconn: wait in the queue.
    Queue,
    /// No server can ever take it.
    NoServer,
}

/// Which servers the balancer picks from now, as a test of a server's index:
/// the active servers while one of them is usable (a full one makes
/// sessions queue, it does not send them to a backup); once none is (down,
/// in maintenance, draining), the first usable backup server only, as
/// HAProxy does without `option allbackups`. One pass over the servers.
fn in_service(servers: &[ServerView]) -> impl Fn(usize) -> bool + '_ {
    let any_active = servers.iter().any(|s| s.usable && !s.backup);
    let first_backup = if any_active { None } else { servers.iter().position(|s| s.usable && s.backup) };
    move |i| servers.get(i).is_some_and(|s| if any_active { !s.backup } else { first_backup == Some(i) })
}

/// Chooses a server. `cursor` is the backend's round-robin position;
/// `avoid` is the server a redispatch moves away from (still chosen if it is
/// the only one with room). `queue` says whether queueing is enabled.
pub fn pick(balance: Balance, cursor: &mut usize, servers: &[ServerView], avoid: Option<u8>, queue: bool) -> Pick {
    let n = servers.len();
    if n == 0 || !servers.iter().any(|s| s.usable) {
        return Pick::NoServer;
    }
    let start = *cursor % n;
    let order = (0..n).map(|i| (start + i) % n);
    let serving = in_service(servers);
    let candidate = |skip_avoid: bool| -> Option<usize> {
        let eligible =
            order.clone().filter(|&i| servers[i].has_room() && serving(i) && !(skip_avoid && avoid == Some(i as u8)));
        match balance {
            Balance::RoundRobin => eligible.clone().next(),
            Balance::LeastConn => eligible.min_by_key(|&i| servers[i].active),
        }
    };
    match candidate(true).or_else(|| candidate(false)) {
        Some(i) => {
            *cursor = (i + 1) % n;
            Pick::Assigned(i as u8)
        }
        None if queue => Pick::Queue,
        None => Pick::NoServer,
    }
}

/// What follows a failed connect attempt (the CER state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Retry {
    /// Try the same server again at once (CER -> ASS).
    SameServer,
    /// Wait the turn-around delay, then try again (CER -> TAR).
    TurnAround,
    /// Give the slot back and choose a server again (CER -> REQ).
    Redispatch,
    /// No retry left (CER -> CLO).
    GiveUp,
}

/// Decides the next step after a failed attempt, HAProxy's way: each retry
/// costs one unit of the budget; the last one redispatches when allowed; the
/// others wait the turn-around delay when `turn_around` says so (the caller
/// asks for it after a fast failure such as a refusal, not after a connect
/// timeout, which already waited), or retry the same server at once.
pub fn after_failure(retries: u8, used: u8, redispatch: bool, turn_around: bool) -> Retry {
    if used >= retries {
        Retry::GiveUp
    } else if redispatch && used + 1 == retries {
        Retry::Redispatch
    } else if turn_around {
        Retry::TurnAround
    } else {
        Retry::SameServer
    }
}

/// The state a backend's sessions share, as the core decides on it: each
/// server's slots, the round-robin cursor and the queue. The runtime keeps it
/// in growable collections behind a mutex (`impl/src/runtime/backend_state.rs`);
/// the model in fixed arrays (`check::state::Shared`). Only the storage is
/// theirs: who gets a slot, who waits, who is handed a freed slot is decided
/// here ([`take`], [`release`], [`leave`], [`offer`]).
pub trait Shared {
    /// A session waiting in the queue.
    type Waiter: Copy + PartialEq;

    /// The servers, in the backend's order.
    fn servers(&mut self) -> &mut [ServerView];
    /// The round-robin cursor.
    fn cursor(&mut self) -> &mut usize;
    /// Appends a waiter at the back of the queue (the newest).
    fn push_waiter(&mut self, w: Self::Waiter);
    /// How many wait.
    fn waiters(&self) -> usize;
    /// The waiter at `pos` (0 is the oldest).
    fn waiter(&self, pos: usize) -> Option<Self::Waiter>;
    /// Removes the waiter at `pos`.
    fn remove_waiter(&mut self, pos: usize) -> Option<Self::Waiter>;
}

fn room(s: &ServerView) -> bool {
    s.has_room()
}

/// Session `me` asks for a server, avoiding `avoid` if it can: a server with
/// room gives it a slot (counted at once), a full backend queues it (when
/// `cfg.queue`), or there is no server for it.
pub fn take<B: Bugs, S: Shared>(cfg: &SessionConfig<B>, shared: &mut S, avoid: Option<u8>, me: S::Waiter) -> Pick {
    let mut cursor = *shared.cursor();
    let p = pick(cfg.balance, &mut cursor, shared.servers(), avoid, cfg.queue);
    *shared.cursor() = cursor;
    match p {
        Pick::Assigned(i) => {
            if let Some(s) = shared.servers().get_mut(usize::from(i)) {
                s.active += 1;
            }
        }
        Pick::Queue => shared.push_waiter(me),
        Pick::NoServer => {}
    }
    p
}

/// Server `i`'s slot is given back. If a session waits and the server may
/// take one, the slot goes straight to the oldest waiter, who is returned (it
/// is handed server `i`: [`crate::core::Session::handle_dequeued`]); the
/// count does not move. Otherwise the slot is freed.
pub fn release<B: Bugs, S: Shared>(cfg: &SessionConfig<B>, shared: &mut S, i: u8) -> Option<S::Waiter> {
    let idx = usize::from(i);
    // A backup server out of service again (an active one is back) takes no
    // waiter: its slot is freed, and the waiters go to the active servers.
    let usable = shared.servers().get(idx).is_some_and(|s| s.usable) && in_service(shared.servers())(idx);
    let hand_over = !cfg.mutant.has(Mutant::ReleaseForgetsQueue);
    if usable && shared.waiters() > 0 && hand_over {
        // The oldest waiter first (mutant: the newest).
        let pos = if cfg.mutant.has(Mutant::QueueSkipsOldest) { shared.waiters() - 1 } else { 0 };
        return shared.remove_waiter(pos);
    }
    if let Some(s) = shared.servers().get_mut(idx) {
        s.active = s.active.saturating_sub(1);
    }
    None
}

/// A free slot on server `i` that no release brought (a server made ready
/// again): the oldest waiter takes it, if the server has room.
pub fn offer<S: Shared>(shared: &mut S, i: u8) -> Option<S::Waiter> {
    let idx = usize::from(i);
    let has_room = shared.servers().get(idx).is_some_and(room) && in_service(shared.servers())(idx);
    if !has_room || shared.waiters() == 0 {
        return None;
    }
    let w = shared.remove_waiter(0)?;
    if let Some(s) = shared.servers().get_mut(idx) {
        s.active += 1;
    }
    Some(w)
}

/// Session `me` leaves the queue (queue timeout, client abort). It holds no
/// slot, so nothing is freed. False if it was not in the queue (a slot was
/// handed to it meanwhile: it releases that one).
pub fn leave<S: Shared>(shared: &mut S, me: S::Waiter) -> bool {
    let found = (0..shared.waiters()).find(|&p| shared.waiter(p) == Some(me));
    found.and_then(|p| shared.remove_waiter(p)).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(active: u32, maxconn: u32) -> ServerView {
        ServerView { active, maxconn, usable: true, backup: false }
    }

    fn backup(active: u32, maxconn: u32) -> ServerView {
        ServerView { backup: true, ..srv(active, maxconn) }
    }

    fn down(s: ServerView) -> ServerView {
        ServerView { usable: false, ..s }
    }

    #[test]
    fn backups_serve_only_while_no_active_server_is_usable_and_then_the_first_one() {
        let mut c = 0;
        for balance in [Balance::RoundRobin, Balance::LeastConn] {
            let s = [backup(0, 0), srv(5, 0), backup(0, 0), srv(7, 0)];
            let picks: Vec<_> = (0..4).map(|_| pick(balance, &mut c, &s, None, true)).collect();
            assert!(picks.iter().all(|p| matches!(p, Pick::Assigned(1 | 3))), "{balance:?}: {picks:?}");
            // Every active server down: the first usable backup, always.
            let s = [down(backup(0, 0)), down(srv(0, 0)), backup(9, 0), backup(0, 0), down(srv(0, 0))];
            let picks: Vec<_> = (0..3).map(|_| pick(balance, &mut c, &s, None, true)).collect();
            assert_eq!(picks, [Pick::Assigned(2); 3], "{balance:?}");
            // Its maxconn reached: queue (or fail), not the next backup.
            let s = [down(srv(0, 0)), backup(1, 1), backup(0, 0)];
            assert_eq!(pick(balance, &mut c, &s, None, true), Pick::Queue, "{balance:?}");
            assert_eq!(pick(balance, &mut c, &s, None, false), Pick::NoServer, "{balance:?}");
        }
        // Active servers full: queue, not the backup.
        let s = [srv(1, 1), backup(0, 0)];
        assert_eq!(pick(Balance::RoundRobin, &mut c, &s, None, true), Pick::Queue);
        // Nothing usable at all.
        let s = [down(srv(0, 0)), down(backup(0, 0))];
        assert_eq!(pick(Balance::RoundRobin, &mut c, &s, None, true), Pick::NoServer);
    }

    /// A test backend: servers and a queue of numbered waiters.
    struct Backend {
        servers: Vec<ServerView>,
        cursor: usize,
        queue: Vec<u32>,
    }

    impl Shared for Backend {
        type Waiter = u32;
        fn servers(&mut self) -> &mut [ServerView] {
            &mut self.servers
        }
        fn cursor(&mut self) -> &mut usize {
            &mut self.cursor
        }
        fn push_waiter(&mut self, w: u32) {
            self.queue.push(w);
        }
        fn waiters(&self) -> usize {
            self.queue.len()
        }
        fn waiter(&self, pos: usize) -> Option<u32> {
            self.queue.get(pos).copied()
        }
        fn remove_waiter(&mut self, pos: usize) -> Option<u32> {
            (pos < self.queue.len()).then(|| self.queue.remove(pos))
        }
    }

    #[test]
    fn a_backup_out_of_service_hands_no_slot_and_takes_no_offer() {
        let cfg: SessionConfig = SessionConfig::default();
        // The active server is back (usable, full): the backup's freed slot
        // is not handed to the waiter, whose place is the active server's queue.
        let mut b = Backend { servers: vec![srv(1, 1), backup(1, 0)], cursor: 0, queue: vec![7] };
        assert_eq!(release(&cfg, &mut b, 1), None);
        assert_eq!((b.servers[1].active, b.queue.len()), (0, 1));
        assert_eq!(offer(&mut b, 1), None, "a backup out of service takes no waiter");
        // While it is in service (the active server down), it hands its slot on.
        b.servers[0].usable = false;
        b.servers[1].active = 1;
        assert_eq!(release(&cfg, &mut b, 1), Some(7));
        assert_eq!(b.servers[1].active, 1, "the slot went to the waiter");
    }

    #[test]
    fn roundrobin_rotates() {
        let s = [srv(0, 0), srv(0, 0), srv(0, 0)];
        let mut c = 0;
        let picks: Vec<_> = (0..4).map(|_| pick(Balance::RoundRobin, &mut c, &s, None, false)).collect();
        assert_eq!(picks, [Pick::Assigned(0), Pick::Assigned(1), Pick::Assigned(2), Pick::Assigned(0)]);
    }

    #[test]
    fn leastconn_prefers_the_idle_server() {
        let s = [srv(3, 0), srv(1, 0), srv(2, 0)];
        let mut c = 0;
        assert_eq!(pick(Balance::LeastConn, &mut c, &s, None, false), Pick::Assigned(1));
    }

    #[test]
    fn full_servers_queue_or_fail() {
        let s = [srv(1, 1), srv(2, 2)];
        let mut c = 0;
        assert_eq!(pick(Balance::RoundRobin, &mut c, &s, None, true), Pick::Queue);
        assert_eq!(pick(Balance::RoundRobin, &mut c, &s, None, false), Pick::NoServer);
    }

    #[test]
    fn redispatch_avoids_the_failed_server_when_it_can() {
        let s = [srv(0, 0), srv(0, 0)];
        let mut c = 0;
        assert_eq!(pick(Balance::RoundRobin, &mut c, &s, Some(0), false), Pick::Assigned(1));
        let one = [srv(0, 0)];
        assert_eq!(pick(Balance::RoundRobin, &mut c, &one, Some(0), false), Pick::Assigned(0));
    }

    #[test]
    fn retry_budget_is_spent_then_given_up() {
        assert_eq!(after_failure(0, 0, true, true), Retry::GiveUp);
        assert_eq!(after_failure(2, 0, true, true), Retry::TurnAround);
        assert_eq!(after_failure(2, 1, true, true), Retry::Redispatch);
        assert_eq!(after_failure(2, 0, false, false), Retry::SameServer);
        assert_eq!(after_failure(2, 2, true, true), Retry::GiveUp);
    }
}
