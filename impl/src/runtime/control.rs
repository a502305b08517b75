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

use super::shared::{Shared, StopMode};
use super::tally::{Tally, Times};
use crate::config::{balance_name, ProxyConfig};
use connseq_model::core::health::Status;
use connseq_model::core::{SiState, Side};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a query waits for an event loop's answer: a loop answers at its
/// next wake, at once unless it is stopped or stepped.
const ANSWER_GUARD: Duration = Duration::from_secs(2);

/// A server's admin state, as HAProxy's `set server BE/SRV state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminState {
    /// Picked by the balancer.
    Ready = 0,
    /// Not picked; its sessions go on to their end.
    Drain = 1,
    /// Maintenance: not picked; its sessions go on to their end.
    Maint = 2,
}

impl AdminState {
    fn from_u8(v: u8) -> AdminState {
        match v {
            0 => AdminState::Ready,
            1 => AdminState::Drain,
            _ => AdminState::Maint,
        }
    }

    /// The word of `set server ... state WORD`.
    pub fn parse(word: &str) -> Option<AdminState> {
        match word {
            "ready" => Some(AdminState::Ready),
            "drain" => Some(AdminState::Drain),
            "maint" => Some(AdminState::Maint),
            _ => None,
        }
    }

    /// The core's name for it.
    pub fn core(self) -> connseq_model::core::health::Admin {
        use connseq_model::core::health::Admin;
        match self {
            AdminState::Ready => Admin::Ready,
            AdminState::Drain => Admin::Drain,
            AdminState::Maint => Admin::Maint,
        }
    }

    /// The word for the state.
    pub fn name(self) -> &'static str {
        match self {
            AdminState::Ready => "ready",
            AdminState::Drain => "drain",
            AdminState::Maint => "maint",
        }
    }
}

/// Why a server could not be found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoSuch {
    /// No backend of that name.
    Backend,
    /// The backend has no server of that name.
    Server,
}

/// A listener as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerInfo {
    /// Its name.
    pub name: String,
    /// Its backend (an index into [`Topology::backends`]).
    pub backend: usize,
    /// Its own maxconn (0: the global one only).
    pub maxconn: u32,
}

/// A backend as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendInfo {
    /// Its name.
    pub name: String,
    /// `roundrobin` or `leastconn`.
    pub balance: &'static str,
    /// Its servers, in order.
    pub servers: Vec<ServerInfo>,
}

/// A server as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    /// Its name.
    pub name: String,
    /// Its address.
    pub addr: SocketAddr,
    /// Its maxconn (0: unlimited).
    pub maxconn: u32,
}

/// The names and limits of a running configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// The listeners, in configuration order.
    pub listeners: Vec<ListenerInfo>,
    /// The backends, in the order listeners first use them.
    pub backends: Vec<BackendInfo>,
    /// The global maxconn (0: unlimited).
    pub maxconn: u32,
    /// Event-loop threads.
    pub threads: usize,
}

impl Topology {
    pub(crate) fn of(config: &ProxyConfig, threads: usize) -> Topology {
        let backends: Vec<BackendInfo> = config
            .backends()
            .into_iter()
            .map(|b| BackendInfo {
                name: b.name.clone(),
                balance: balance_name(b.balance),
                servers: b
                    .servers
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ServerInfo { name: b.server_name(i), addr: s.addr, maxconn: s.maxconn })
                    .collect(),
            })
            .collect();
        let listeners = config
            .listeners
            .iter()
            .map(|l| ListenerInfo {
                name: l.name.clone(),
                backend: backends.iter().position(|b| b.name == l.backend.name).unwrap_or(0),
                maxconn: l.maxconn,
            })
            .collect();
        Topology { listeners, backends, maxconn: config.global.maxconn, threads }
    }

    /// The backend and server indexes of `backend/server`.
    pub fn find_server(&self, backend: &str, server: &str) -> Result<(usize, u8), NoSuch> {
        let b = self.backends.iter().position(|b| b.name == backend).ok_or(NoSuch::Backend)?;
        let s = self.backends[b].servers.iter().position(|s| s.name == server).ok_or(NoSuch::Server)?;
        u8::try_from(s).map(|s| (b, s)).map_err(|_| NoSuch::Server)
    }
}

/// A live session as its event loop sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    /// Its number in the process (`0x` and hex in `show sess`).
    pub id: u64,
    /// Its listener (index into [`Topology::listeners`]).
    pub listener: usize,
    /// Its listener's backend.
    pub backend: usize,
    /// The server it holds a slot on.
    pub slot: Option<u8>,
    /// The server of its last connect attempt.
    pub server: Option<u8>,
    /// The real peer.
    pub peer: SocketAddr,
    /// The source a PROXY header gave, else the peer.
    pub source: SocketAddr,
    /// Milliseconds since accept.
    pub age_ms: u64,
    /// Bytes written to the server and to the client so far.
    pub to_server: u64,
    /// See `to_server`.
    pub to_client: u64,
    /// The two stream interfaces (front, back).
    pub si: [SiState; 2],
    /// The event loop it lives on.
    pub thread: usize,
}

impl SessionView {
    /// Waiting in its backend's queue.
    pub fn queued(&self) -> bool {
        self.si[Side::Back as usize] == SiState::Que
    }
}

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

/// What the event loops are asked by the runtime API.
#[derive(Debug)]
pub(crate) enum Query {
    /// Their live sessions.
    Sessions(Sender<Vec<SessionView>>),
    /// Kill session `id` if it lives there; says whether it did.
    Shutdown { id: u64, reply: Sender<bool> },
    /// Duplicates of their listening sockets, for a new process.
    Listeners(Sender<Vec<OwnedFd>>),
}

/// What the threads share for the runtime API.
#[derive(Debug)]
pub(crate) struct Ops {
    pub(crate) topology: Topology,
    pub(crate) tally: Tally,
    /// Each server's [`AdminState`], by backend.
    states: Vec<Vec<AtomicU8>>,
    /// Each event loop's queries.
    queries: Vec<Mutex<Vec<Query>>>,
    started: Instant,
}

impl Ops {
    pub(crate) fn new(config: &ProxyConfig, threads: usize) -> Ops {
        let topology = Topology::of(config, threads);
        let sizes: Vec<usize> = topology.backends.iter().map(|b| b.servers.len()).collect();
        Ops {
            tally: Tally::new(topology.listeners.len(), &sizes),
            states: sizes.iter().map(|&n| (0..n).map(|_| AtomicU8::new(AdminState::Ready as u8)).collect()).collect(),
            queries: (0..threads).map(|_| Mutex::new(Vec::new())).collect(),
            topology,
            started: Instant::now(),
        }
    }

    /// The queries posted to event loop `me` since its last look.
    pub(crate) fn take_queries(&self, me: usize) -> Vec<Query> {
        self.queries
            .get(me)
            .map(|q| std::mem::take(&mut *q.lock().unwrap_or_else(PoisonError::into_inner)))
            .unwrap_or_default()
    }

    fn state(&self, backend: usize, server: usize) -> AdminState {
        self.states
            .get(backend)
            .and_then(|b| b.get(server))
            .map_or(AdminState::Ready, |s| AdminState::from_u8(s.load(Ordering::Acquire)))
    }
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
            if let Some(srv) = s.slot.and_then(|i| b.servers.get_mut(usize::from(i))) {
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
