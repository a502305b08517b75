//! The running proxy as an operator sees and steers it: what the runtime
//! API (`crate::admin`) and the metrics (`crate::metrics`) read and do,
//! through a [`Control`] handle.
//!
//! Reading: the names and limits of the configuration ([`Topology`]), the
//! counters since start ([`super::tally`]), and what only the event loops
//! know (their live sessions), asked of each loop with a [`Query`] posted
//! to its mailbox and answered at its next wake. Steering: a server's admin
//! state (ready, drain, maint: the balancer picks only a ready server, and
//! a drained or maintained server keeps its sessions to their end), a
//! session shut down (killed through the core, logged with a `K` code), the
//! listening sockets lent to a new process, and a soft stop.

pub use super::ops::{AdminState, BackendInfo, ListenerInfo, NoSuch, ServerInfo, SessionView, Topology};
use super::ops::{Ops, Query};
use super::shared::{Shared, StopMode};
use super::tally::Times;
use connseq_model::core::health::Status;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

/// How long a query waits for an event loop's answer: a loop answers at its
/// next wake, at once unless it is stopped or stepped.
const ANSWER_GUARD: Duration = Duration::from_secs(2);

/// A listener's figures at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerStats {
    /// Sessions open now.
    pub current: u64,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Connections rejected by a rule.
    pub denied: u64,
    /// Sessions the client ended by breaking a protocol.
    pub errors: u64,
    /// Bytes written to servers (ended sessions and live ones so far).
    pub to_server: u64,
    /// Bytes written to clients.
    pub to_client: u64,
    /// Ended sessions by termination code, in code order.
    pub codes: Vec<(String, u64)>,
    /// `Tt` of ended sessions.
    pub total: Times,
}

/// A server's figures at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerStats {
    /// Its admin state.
    pub state: AdminState,
    /// What the balancer makes of it: UP, DOWN (its checks failed),
    /// DRAIN or MAINT.
    pub status: connseq_model::core::health::Status,
    /// Its health checks, if it is checked.
    pub check: Option<CheckStats>,
    /// Sessions holding a slot on it now.
    pub current: u64,
    /// Sessions that made a connect attempt to it.
    pub sessions: u64,
    /// Refused or failed attempts.
    pub connect_failures: u64,
    /// Retries on it after a failed attempt.
    pub retries: u64,
    /// Sessions redispatched to it.
    pub redispatches: u64,
    /// Bytes written to it (ended sessions and live ones so far).
    pub to_server: u64,
    /// Bytes written to clients from it.
    pub to_client: u64,
    /// Ended sessions the client ended (`C`, `c`).
    pub client_aborts: u64,
    /// Ended sessions the server ended (`S`, `s`).
    pub server_aborts: u64,
    /// `Tc`, `Tw` and `Tt` of ended sessions.
    pub connect: Times,
    /// See `connect`.
    pub queue: Times,
    /// See `connect`.
    pub total: Times,
}

/// A checked server's checks at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckStats {
    /// `rise` and `fall`.
    pub rise: u32,
    /// See `rise`.
    pub fall: u32,
    /// The health counter (HAProxy's `check_health`): UP from `rise`.
    pub health: u32,
    /// Failed checks since start (HAProxy's `chkfail`), a session's
    /// refused connect included.
    pub failures: u64,
    /// Times it went DOWN (`chkdown`).
    pub downs: u64,
    /// The last check's status word (`L4OK`, `L4CON`, `L4TOUT`, `L6OK`,
    /// `L6TOUT`, `L6RSP`), if one ran.
    pub last: Option<&'static str>,
}

/// A backend's figures at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendStats {
    /// Sessions waiting in its queue.
    pub queued: u64,
    /// Its servers, in order.
    pub servers: Vec<ServerStats>,
}

/// Everything `show stat` and the metrics show, read at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Per listener, as [`Topology::listeners`].
    pub listeners: Vec<ListenerStats>,
    /// Per backend, as [`Topology::backends`].
    pub backends: Vec<BackendStats>,
    /// Sessions open now, over every listener.
    pub current: u64,
    /// Since start.
    pub uptime: Duration,
    /// A stop was asked for.
    pub stopping: bool,
}

/// A handle on a running proxy for the runtime API and the metrics.
#[derive(Clone, Debug)]
pub struct Control {
    shared: Arc<Shared>,
}

impl Control {
    pub(crate) fn new(shared: Arc<Shared>) -> Control {
        Control { shared }
    }

    fn ops(&self) -> &Ops {
        &self.shared.ops
    }

    /// The configuration's names and limits.
    pub fn topology(&self) -> &Topology {
        &self.ops().topology
    }

    /// Posts a query made by `make` to every event loop and gathers the
    /// answers that come within [`ANSWER_GUARD`] (a stopped loop answers
    /// nothing).
    fn ask<T>(&self, make: impl Fn(Sender<T>) -> Query) -> Vec<T> {
        let (tx, rx): (Sender<T>, Receiver<T>) = mpsc::channel();
        let mut asked = 0;
        for (me, q) in self.ops().queries.iter().enumerate() {
            q.lock().unwrap_or_else(PoisonError::into_inner).push(make(tx.clone()));
            self.shared.wake(me);
            asked += 1;
        }
        drop(tx);
        let deadline = Instant::now() + ANSWER_GUARD;
        let mut got = Vec::with_capacity(asked);
        while got.len() < asked {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(v) => got.push(v),
                Err(_) => break,
            }
        }
        got
    }

    /// Every live session, ordered by id.
    pub fn sessions(&self) -> Vec<SessionView> {
        let mut all: Vec<SessionView> = self.ask(Query::Sessions).into_iter().flatten().collect();
        all.sort_by_key(|s| s.id);
        all
    }

    /// Kills session `id` (HAProxy's `shutdown session`): false if no loop has it.
    pub fn shutdown_session(&self, id: u64) -> bool {
        self.ask(|reply| Query::Shutdown { id, reply }).contains(&true)
    }

    /// Duplicates of every listening socket of every loop (none once stopping).
    pub fn listening_sockets(&self) -> Vec<OwnedFd> {
        self.ask(Query::Listeners).into_iter().flatten().collect()
    }

    /// Stops accepting and lets the sessions finish, as SIGUSR1 does.
    pub fn soft_stop(&self) {
        self.shared.request_stop(StopMode::Soft);
    }

    /// Whether a stop was asked for.
    pub fn stopping(&self) -> bool {
        self.shared.stop_mode() != StopMode::Running
    }

    /// Sets the admin state of server `server` of backend `backend`.
    pub fn set_server_state(&self, backend: &str, server: &str, state: AdminState) -> Result<(), NoSuch> {
        let (b, s) = self.topology().find_server(backend, server)?;
        self.ops().states[b][usize::from(s)].store(state as u8, Ordering::Release);
        self.shared.backend(b).set_admin(s, state.core());
        Ok(())
    }

    /// The admin state of server `server` of backend `backend`.
    pub fn server_state(&self, backend: usize, server: usize) -> AdminState {
        self.ops().state(backend, server)
    }

    /// The counters since start.
    pub fn counters(&self) -> super::Stats {
        self.shared.stats()
    }

    /// Every figure of `show stat` and the metrics, read now.
    pub fn snapshot(&self) -> Snapshot {
        let sessions = self.sessions();
        let ops = self.ops();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let mut listeners: Vec<ListenerStats> = ops
            .tally
            .listeners
            .iter()
            .map(|l| {
                let mut codes: Vec<(String, u64)> = l
                    .codes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .map(|(t, n)| (t.to_string(), *n))
                    .collect();
                codes.sort();
                ListenerStats {
                    current: 0,
                    accepted: load(&l.accepted),
                    denied: load(&l.denied),
                    errors: load(&l.errors),
                    to_server: load(&l.to_server),
                    to_client: load(&l.to_client),
                    codes,
                    total: l.total.read(),
                }
            })
            .collect();
        // Each server's status and checks, read under its backend's lock.
        let health: Vec<Vec<(Status, Option<CheckStats>)>> = (0..ops.tally.servers.len())
            .map(|b| {
                let st = self.shared.backend(b);
                (0..ops.tally.servers[b].len())
                    .map(|i| {
                        let check = st.check(i).map(|c| CheckStats {
                            rise: c.rules.rise,
                            fall: c.rules.fall,
                            health: c.health.counter(),
                            failures: c.failures,
                            downs: c.downs,
                            last: c.last.map(|(_, w)| w),
                        });
                        (st.status(i), check)
                    })
                    .collect()
            })
            .collect();
        let mut backends: Vec<BackendStats> = ops
            .tally
            .servers
            .iter()
            .enumerate()
            .map(|(b, servers)| BackendStats {
                queued: 0,
                servers: servers
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ServerStats {
                        state: ops.state(b, i),
                        status: health[b].get(i).map_or(Status::Up, |h| h.0),
                        check: health[b].get(i).and_then(|h| h.1),
                        current: 0,
                        sessions: load(&s.sessions),
                        connect_failures: load(&s.connect_failures),
                        retries: load(&s.retries),
                        redispatches: load(&s.redispatches),
                        to_server: load(&s.to_server),
                        to_client: load(&s.to_client),
                        client_aborts: load(&s.client_aborts),
                        server_aborts: load(&s.server_aborts),
                        connect: s.connect.read(),
                        queue: s.queue.read(),
                        total: s.total.read(),
                    })
                    .collect(),
            })
            .collect();
        for s in &sessions {
            if let Some(l) = listeners.get_mut(s.listener) {
                l.current += 1;
                l.to_server += s.to_server;
                l.to_client += s.to_client;
            }
            let Some(b) = backends.get_mut(s.backend) else { continue };
            if s.queued() {
                b.queued += 1;
            }
            if let Some(srv) = s.flow.and_then(|i| b.servers.get_mut(usize::from(i))) {
                srv.current += 1;
            }
            if let Some(srv) = s.server.and_then(|i| b.servers.get_mut(usize::from(i))) {
                srv.to_server += s.to_server;
                srv.to_client += s.to_client;
            }
        }
        Snapshot {
            current: sessions.len() as u64,
            listeners,
            backends,
            uptime: ops.started.elapsed(),
            stopping: self.stopping(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_state_words_read_back() {
        for s in [AdminState::Ready, AdminState::Drain, AdminState::Maint] {
            assert_eq!(AdminState::parse(s.name()), Some(s));
            assert_eq!(AdminState::from_u8(s as u8), s);
        }
        assert_eq!(AdminState::parse("up"), None);
    }
}
