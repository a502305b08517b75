//! What the event loops and the runtime API's handle share: the
//! configuration's names and limits ([`Topology`]), each server's admin
//! state, the counters ([`Tally`]), and the queries posted to each loop's
//! mailbox ([`Query`]). The loops read it through [`super::shared::Shared`];
//! the handle ([`super::control::Control`]) reads and steers it. Neither
//! of those rooms is imported here.

use super::tally::Tally;
use crate::config::{balance_name, ProxyConfig};
use connseq_model::core::{SiState, Side};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

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
    pub(super) fn from_u8(v: u8) -> AdminState {
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
    /// A backup server (`backup`).
    pub backup: bool,
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
                    .map(|(i, s)| ServerInfo {
                        name: b.server_name(i),
                        addr: s.addr,
                        maxconn: s.maxconn,
                        backup: b.server_is_backup(i),
                    })
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
    pub flow: Option<u8>,
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
    pub(super) states: Vec<Vec<AtomicU8>>,
    /// Each event loop's queries.
    pub(super) queries: Vec<Mutex<Vec<Query>>>,
    pub(super) started: Instant,
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

    pub(super) fn state(&self, backend: usize, server: usize) -> AdminState {
        self.states
            .get(backend)
            .and_then(|b| b.get(server))
            .map_or(AdminState::Ready, |s| AdminState::from_u8(s.load(Ordering::Acquire)))
    }
}
