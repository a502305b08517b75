//! The backend side's decisions: which server, whether to queue, and what to
//! do after a failed connect attempt. The balancer's counters are shared by
//! every session of a backend, so they live with the caller (the runtime's
//! backend, or the model's servers); the decisions are made here.

/// Load-balancing algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Balance {
    /// Each server in turn.
    #[default]
    RoundRobin,
    /// The server with the fewest active connections (ties: lowest index after
    /// the cursor, so equal servers still rotate).
    LeastConn,
}

/// What the balancer needs to know about one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ServerView {
    /// Connections this server currently holds slots for.
    pub active: u32,
    /// `maxconn` for this server; 0 means unlimited.
    pub maxconn: u32,
    /// Whether the server may be chosen.
    pub usable: bool,
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
    let candidate = |skip_avoid: bool| -> Option<usize> {
        let eligible = order.clone().filter(|&i| servers[i].has_room() && !(skip_avoid && avoid == Some(i as u8)));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(active: u32, maxconn: u32) -> ServerView {
        ServerView { active, maxconn, usable: true }
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
