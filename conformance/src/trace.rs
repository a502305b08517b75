//! A trace of the model: the configuration it was taken from, the initial
//! state chosen, the actions taken, and after every action what the model
//! predicts an observer sees.
//!
//! The model is deterministic once its environment is chosen:
//! [`System::step`] is a function of (state, action), and the environment's
//! choices (TLS per listener, health mode, monitor match, rule verdicts,
//! server occupancy) are made by picking one of [`System::init_states`].
//! So a trace is just `(model, init, actions)`; the observations are computed
//! from them ([`Trace::record`]) and stored so that a trace file is readable
//! without the model, and checked against it on import ([`Trace::verify`]).
//!
//! An [`Observation`] is read from the public fields of [`SysState`] only:
//!
//! | part | read from | what the replay compares it with |
//! | --- | --- | --- |
//! | [`PeerObs`] | the chunk each `PeerReads` took off the wire; `Peer::got_fin`, `Peer::got_rst` | what the real client and server read, in order; read0; ECONNRESET |
//! | `connects` | `Env::attempts` | connections the real server saw |
//! | `si_front`, `si_back`, [`ConnObs`], [`ChanObs`], `timers` | `SysState::core` | the runtime's core, which is the same type |
//! | `termination` | `Session::termination` once `Session::is_closed` | the log line's termination code |
//! | [`WireObs`] | `SysState::{front_up, front_down, back_up, back_down}` | what is in flight in the kernel (`MSG_PEEK`), where the replay can see it |

use crate::action::format_action;
use connseq_model::check::kernel::{Chunk, Wire};
use connseq_model::check::{Features, ModelConfig, Preset, Sess, SysAction, SysState, System, Who};
use connseq_model::core::{ChanFlags, Channel, ConnState, Connection, FdState, Fill, Mutant, OpTable, SiState};
use connseq_model::core::{Dir, Side, Termination, TimerKind};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// The model configuration a trace was taken from.
///
/// A [`ModelConfig`] is a preset plus a feature set, a mutant and, where a
/// campaign changes them, other sizes than the preset's (two-chunk buffers,
/// say); conformance traces are taken with `Mutant::None` (a mutant is a bug
/// in the core, and the runtime runs the correct core), but the mutant is
/// recorded all the same so that a trace says exactly what produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceModel {
    /// The preset: its name, and the sizes unless `sizes` says otherwise.
    pub preset: Preset,
    /// Every feature switched on (the preset's own and any added).
    pub features: Features,
    /// The deliberate bug in the core, `Mutant::None` for conformance.
    pub mutant: Mutant,
    /// Chunk counts and capacities.
    pub sizes: Sizes,
}

/// The sizes of a model configuration: chunks each peer sends, and what a
/// wire, a buffer and a pipe hold, in chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sizes {
    /// Data chunks the client may send.
    pub client_chunks: u8,
    /// Data chunks the server may send.
    pub server_chunks: u8,
    /// Chunks a kernel wire holds.
    pub wire_cap: u8,
    /// Chunks a channel buffer holds.
    pub buf_cap: u8,
    /// Chunks a pipe holds.
    pub pipe_cap: u8,
}

impl Sizes {
    /// The sizes of `cfg`.
    pub fn of(cfg: &ModelConfig) -> Sizes {
        Sizes {
            client_chunks: cfg.client_chunks,
            server_chunks: cfg.server_chunks,
            wire_cap: cfg.wire_cap,
            buf_cap: cfg.buf_cap,
            pipe_cap: cfg.pipe_cap,
        }
    }
}

impl fmt::Display for Sizes {
    /// `client=1,server=1,wire=1,buf=1,pipe=1`, as in an ITF `#meta.sizes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client={},server={},wire={},buf={},pipe={}",
            self.client_chunks, self.server_chunks, self.wire_cap, self.buf_cap, self.pipe_cap
        )
    }
}

impl std::str::FromStr for Sizes {
    type Err = String;

    fn from_str(text: &str) -> Result<Sizes, String> {
        let mut got: [Option<u8>; 5] = [None; 5];
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| format!("`{part}` is not key=value"))?;
            let at = ["client", "server", "wire", "buf", "pipe"]
                .iter()
                .position(|k| *k == key.trim())
                .ok_or_else(|| format!("unknown size `{key}` (client, server, wire, buf, pipe)"))?;
            let n: u8 = value.trim().parse().map_err(|e| format!("`{part}`: {e}"))?;
            if n == 0 {
                return Err(format!("`{part}`: a size is at least 1"));
            }
            if got[at].replace(n).is_some() {
                return Err(format!("`{key}` is given twice"));
            }
        }
        match got {
            [Some(client_chunks), Some(server_chunks), Some(wire_cap), Some(buf_cap), Some(pipe_cap)] => {
                Ok(Sizes { client_chunks, server_chunks, wire_cap, buf_cap, pipe_cap })
            }
            _ => Err(format!("`{text}` does not give all five sizes (client, server, wire, buf, pipe)")),
        }
    }
}

impl TraceModel {
    /// The model of `cfg`.
    pub fn of(cfg: &ModelConfig) -> TraceModel {
        TraceModel { preset: cfg.preset, features: cfg.features, mutant: cfg.mutant, sizes: Sizes::of(cfg) }
    }

    /// The configuration: the preset's, with this feature set, mutant and
    /// sizes.
    pub fn config(&self) -> ModelConfig {
        let mut c = ModelConfig::preset(self.preset);
        c.features = self.features;
        c.mutant = self.mutant;
        c.client_chunks = self.sizes.client_chunks;
        c.server_chunks = self.sizes.server_chunks;
        c.wire_cap = self.sizes.wire_cap;
        c.buf_cap = self.sizes.buf_cap;
        c.pipe_cap = self.sizes.pipe_cap;
        c
    }

    /// The system to replay the trace in.
    pub fn system(&self) -> System {
        System::new(self.config())
    }
}

/// Where a trace came from, so that it can be produced again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TraceSource {
    /// Path number `index` of the breadth-first enumeration to `depth`
    /// ([`crate::sources::bfs_traces`]).
    Bfs {
        /// The depth bound.
        depth: usize,
        /// Position in the enumeration.
        index: usize,
    },
    /// Walk number `index` of [`crate::sources::random_walks`] with `seed`.
    Walk {
        /// The seed.
        seed: u64,
        /// Position among the walks of that seed.
        index: usize,
        /// The length bound.
        max_len: usize,
    },
    /// Drawn by the proptest strategy [`crate::sources::walk_strategy`]
    /// (proptest reports the seed of a failing case itself).
    Proptest,
    /// Written by hand or by another tool.
    Manual,
}

impl fmt::Display for TraceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceSource::Bfs { depth, index } => write!(f, "bfs depth={depth} path={index}"),
            TraceSource::Walk { seed, index, max_len } => write!(f, "walk seed={seed} walk={index} max-len={max_len}"),
            TraceSource::Proptest => f.write_str("proptest"),
            TraceSource::Manual => f.write_str("manual"),
        }
    }
}

impl FromStr for TraceSource {
    type Err = String;

    /// Reads the form written by `Display`: `bfs depth=12 path=37`,
    /// `walk seed=7 walk=3 max-len=40`, `proptest`, `manual`.
    fn from_str(s: &str) -> Result<TraceSource, String> {
        let mut words = s.split_whitespace();
        let kind = words.next().unwrap_or_default();
        let mut fields = Vec::new();
        for w in words {
            let (k, v) = w.split_once('=').ok_or_else(|| format!("`{w}` is not key=value in trace source `{s}`"))?;
            fields.push((k, v));
        }
        let get = |key: &str| -> Result<u64, String> {
            let v = fields
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .ok_or_else(|| format!("trace source `{s}` has no {key}="))?;
            v.parse::<u64>().map_err(|e| format!("{key}={v} in trace source `{s}`: {e}"))
        };
        let size = |key: &str| get(key).and_then(|v| usize::try_from(v).map_err(|e| e.to_string()));
        let expect_fields = |n: usize| {
            if fields.len() == n {
                Ok(())
            } else {
                Err(format!("trace source `{s}` has {} fields, not {n}", fields.len()))
            }
        };
        match kind {
            "bfs" => {
                expect_fields(2)?;
                Ok(TraceSource::Bfs { depth: size("depth")?, index: size("path")? })
            }
            "walk" => {
                expect_fields(3)?;
                Ok(TraceSource::Walk { seed: get("seed")?, index: size("walk")?, max_len: size("max-len")? })
            }
            "proptest" => expect_fields(0).map(|_| TraceSource::Proptest),
            "manual" => expect_fields(0).map(|_| TraceSource::Manual),
            _ => Err(format!("unknown trace source `{s}` (bfs, walk, proptest or manual)")),
        }
    }
}

/// What one peer has read, as the model predicts it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PeerObs {
    /// Everything the peer read, in order: data chunks (`#0`, `#1`, ...,
    /// numbered per direction) and the non-data records the model names
    /// (the TLS server's `FINISHED`, a `CLOSE_NOTIFY`, the health or monitor
    /// `REPLY`, the server's `PROXY_OUT` header). For the server this is the
    /// current connection only: it starts empty again at each connect.
    pub received: Vec<Chunk>,
    /// The peer read the FIN (recv returned 0).
    pub fin: bool,
    /// The peer saw an RST (ECONNRESET).
    pub rst: bool,
}

impl PeerObs {
    /// Number of data chunks received.
    pub fn data(&self) -> usize {
        self.received.iter().filter(|c| c.data_id().is_some()).count()
    }
}

/// A connection of the core, as far as the replay compares it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnObs {
    /// FD state.
    pub fd: FdState,
    /// Connection state.
    pub state: ConnState,
    /// The seven operation statuses (DSHR, DSHW, CSHR, CSHW, DCLO, CCLO, FCLO).
    pub ops: OpTable,
    /// ERR.
    pub error: bool,
    /// The close was ordered abortive (RST).
    pub abortive: bool,
}

impl ConnObs {
    /// Reads a connection of the core.
    pub fn of(c: &Connection) -> ConnObs {
        ConnObs { fd: c.fd, state: c.state, ops: c.ops, error: c.error, abortive: c.abortive }
    }
}

/// A channel of the core: the note's six flags and the fill levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChanObs {
    /// ERR_IN, ERR_OUT, SHUT_IN, SHUT_OUT, EMPTY_IN, FULL_OUT.
    pub flags: ChanFlags,
    /// The buffer's fill level.
    pub buf: Fill,
    /// The pipe's fill level.
    pub pipe: Fill,
}

impl ChanObs {
    /// Reads a channel of the core.
    pub fn of(c: &Channel) -> ChanObs {
        ChanObs { flags: c.flags, buf: c.buf, pipe: c.pipe }
    }
}

/// One direction of a TCP connection in the model's kernel: what is in flight.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WireObs {
    /// Chunks sent and not yet read, oldest first.
    pub chunks: Vec<Chunk>,
    /// A FIN follows them.
    pub fin: bool,
    /// The receiver was reset.
    pub rst: bool,
}

impl WireObs {
    /// Reads a wire.
    pub fn of(w: &Wire) -> WireObs {
        WireObs { chunks: w.q.iter().collect(), fin: w.fin, rst: w.rst }
    }
}

/// The four wires: `up` runs from a peer to the proxy, `down` from the proxy to a peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct WiresObs {
    /// Client to proxy.
    pub front_up: WireObs,
    /// Proxy to client.
    pub front_down: WireObs,
    /// Server to proxy.
    pub back_up: WireObs,
    /// Proxy to server.
    pub back_down: WireObs,
}

/// What the model predicts an observer sees after a step.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Observation {
    /// What the client read.
    pub client: PeerObs,
    /// What the server read on the current connection.
    pub server: PeerObs,
    /// Connection attempts the servers saw (SYNs).
    pub connects: u8,
    /// Front stream interface.
    pub si_front: SiState,
    /// Back stream interface.
    pub si_back: SiState,
    /// Front connection.
    pub front: ConnObs,
    /// Back connection.
    pub back: ConnObs,
    /// Request channel (client to server).
    pub req: ChanObs,
    /// Response channel (server to client).
    pub res: ChanObs,
    /// Armed timers, in [`TimerKind::ALL`] order.
    pub timers: Vec<TimerKind>,
    /// The termination code, once the session is closed.
    pub termination: Option<Termination>,
    /// What is in flight in the kernel.
    pub wires: WiresObs,
}

impl Observation {
    /// The observation of an initial state: nobody has read anything.
    pub fn initial(s: &SysState) -> Observation {
        Observation::read(s.first(), PeerObs::default(), PeerObs::default())
    }

    /// The observation after `action` took `before` to `after`, given the
    /// observation `prev` of `before`. What a peer read is the one thing a
    /// `PeerReads` takes from its wire: the RST if it was reset, else the
    /// oldest chunk, else the FIN.
    pub fn after(prev: &Observation, before: &SysState, action: SysAction, after: &SysState) -> Observation {
        let mut client = prev.client.clone();
        let mut server = prev.server.clone();
        let (before, after) = (before.first(), after.first());
        if after.env.attempts != before.env.attempts {
            // A connect: a new connection to a server, which has read nothing.
            server = PeerObs::default();
        }
        if let SysAction::PeerReads(0, who) = action {
            let wire = before.down(who);
            if !wire.rst {
                if let Some(c) = wire.q.peek() {
                    match who {
                        Who::Client => client.received.push(c),
                        Who::Server => server.received.push(c),
                    }
                }
            }
        }
        Observation::read(after, client, server)
    }

    fn read(s: &Sess, mut client: PeerObs, mut server: PeerObs) -> Observation {
        client.fin = s.client.got_fin;
        client.rst = s.client.got_rst;
        server.fin = s.server.got_fin;
        server.rst = s.server.got_rst;
        let c = &s.core;
        Observation {
            client,
            server,
            connects: s.env.attempts,
            si_front: c.si(Side::Front),
            si_back: c.si(Side::Back),
            front: ConnObs::of(c.conn(Side::Front)),
            back: ConnObs::of(c.conn(Side::Back)),
            req: ChanObs::of(c.chan(Dir::Req)),
            res: ChanObs::of(c.chan(Dir::Res)),
            timers: TimerKind::ALL.into_iter().filter(|&k| c.timer_armed(k)).collect(),
            termination: c.is_closed().then(|| c.termination()),
            wires: WiresObs {
                front_up: WireObs::of(&s.front_up),
                front_down: WireObs::of(&s.front_down),
                back_up: WireObs::of(&s.back_up),
                back_down: WireObs::of(&s.back_down),
            },
        }
    }

    /// The observation's peer part for `who`.
    pub fn peer(&self, who: Who) -> &PeerObs {
        match who {
            Who::Client => &self.client,
            Who::Server => &self.server,
        }
    }
}

/// Why a trace does not fit a model.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TraceError {
    /// The trace was taken from another configuration than the system's.
    #[error("the trace was taken from {trace:?}, the system is {system:?}")]
    ConfigMismatch {
        /// The trace's.
        trace: TraceModel,
        /// The system's.
        system: TraceModel,
    },
    /// The system's sizes are not its preset's, so a trace could not name it.
    #[error("the system's configuration {system:?} is not a preset plus features")]
    NotAPreset {
        /// The system's configuration.
        system: ModelConfig,
    },
    /// The initial state index is out of range.
    #[error("initial state {index} does not exist: the model has {count}")]
    NoSuchInit {
        /// The trace's index.
        index: usize,
        /// How many initial states the model has.
        count: usize,
    },
    /// An action is not enabled in the state it is applied to.
    #[error("step {step}: {action} is not enabled (enabled: {enabled})")]
    Disabled {
        /// Step number, from 1.
        step: usize,
        /// The action, in its textual form.
        action: String,
        /// The enabled actions, in their textual form.
        enabled: String,
    },
    /// The number of observations is not one more than the number of actions.
    #[error("{observations} observations for {actions} actions (one per state is needed)")]
    Shape {
        /// Actions.
        actions: usize,
        /// Observations.
        observations: usize,
    },
    /// A stored observation differs from the model's.
    #[error("step {step}: the stored observation differs from the model's")]
    ObservationMismatch {
        /// Step number: 0 is the initial state.
        step: usize,
    },
}

/// A trace: the model, the initial state, the actions and the predicted
/// observations (one per state, so `observations.len() == actions.len() + 1`:
/// `observations[0]` is the initial state's, `observations[i]` the one after
/// `actions[i - 1]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Trace {
    /// The configuration the trace was taken from.
    pub model: TraceModel,
    /// Index of the initial state in [`System::init_states`].
    pub init: usize,
    /// The actions, in order.
    pub actions: Vec<SysAction>,
    /// The predicted observations, one per state.
    pub observations: Vec<Observation>,
    /// Where the trace came from.
    pub source: TraceSource,
}

impl Trace {
    /// Records the trace of `actions` from initial state `init` of `sys`,
    /// computing the observations; fails at the first action that is not
    /// enabled, and when the system's configuration is not a preset plus
    /// features (a trace names its model by preset, features and mutant only).
    pub fn record(sys: &System, init: usize, actions: &[SysAction], source: TraceSource) -> Result<Trace, TraceError> {
        let model = TraceModel::of(&sys.cfg);
        if model.config() != sys.cfg {
            return Err(TraceError::NotAPreset { system: sys.cfg });
        }
        let inits = sys.init_states();
        let Some(&s0) = inits.get(init) else {
            return Err(TraceError::NoSuchInit { index: init, count: inits.len() });
        };
        let mut obs = Vec::with_capacity(actions.len() + 1);
        obs.push(Observation::initial(&s0));
        let mut s = s0;
        let mut enabled = Vec::new();
        for (i, &a) in actions.iter().enumerate() {
            enabled.clear();
            sys.actions_into(&s, &mut enabled);
            if !enabled.contains(&a) {
                return Err(disabled(i + 1, a, &enabled));
            }
            let n = sys.step(&s, a, None);
            let o = Observation::after(&obs[i], &s, a, &n);
            obs.push(o);
            s = n;
        }
        Ok(Trace { model, init, actions: actions.to_vec(), observations: obs, source })
    }

    /// Number of actions.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// No action at all (the initial state alone).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The states the trace goes through in `sys`, the initial one first.
    /// The replay stops at the first action that is not enabled, so the
    /// result has `len() + 1` states exactly when the trace is legal; it is
    /// empty when the initial state does not exist.
    pub fn replay_in_model(&self, sys: &System) -> Vec<SysState> {
        let Some(&s0) = sys.init_states().get(self.init) else {
            return Vec::new();
        };
        let mut states = Vec::with_capacity(self.actions.len() + 1);
        states.push(s0);
        let mut enabled = Vec::new();
        let mut s = s0;
        for &a in &self.actions {
            enabled.clear();
            sys.actions_into(&s, &mut enabled);
            if !enabled.contains(&a) {
                break;
            }
            s = sys.step(&s, a, None);
            states.push(s);
        }
        states
    }

    /// Checks that the trace is legal in `sys`: taken from its
    /// configuration, from an initial state it has, every action enabled in
    /// the state it is applied to.
    pub fn check_legal(&self, sys: &System) -> Result<(), TraceError> {
        let system = TraceModel::of(&sys.cfg);
        if self.model != system || self.model.config() != sys.cfg {
            return Err(TraceError::ConfigMismatch { trace: self.model, system });
        }
        let inits = sys.init_states();
        let Some(&s0) = inits.get(self.init) else {
            return Err(TraceError::NoSuchInit { index: self.init, count: inits.len() });
        };
        let mut s = s0;
        let mut enabled = Vec::new();
        for (i, &a) in self.actions.iter().enumerate() {
            enabled.clear();
            sys.actions_into(&s, &mut enabled);
            if !enabled.contains(&a) {
                return Err(disabled(i + 1, a, &enabled));
            }
            s = sys.step(&s, a, None);
        }
        Ok(())
    }

    /// Checks that the trace is legal in `sys` and that its stored
    /// observations are the model's (what an imported trace must pass).
    pub fn verify(&self, sys: &System) -> Result<(), TraceError> {
        self.check_legal(sys)?;
        if self.observations.len() != self.actions.len() + 1 {
            return Err(TraceError::Shape { actions: self.actions.len(), observations: self.observations.len() });
        }
        let fresh = Trace::record(sys, self.init, &self.actions, self.source)?;
        match fresh.observations.iter().zip(&self.observations).position(|(a, b)| a != b) {
            Some(step) => Err(TraceError::ObservationMismatch { step }),
            None => Ok(()),
        }
    }

    /// The final observation.
    pub fn last(&self) -> Option<&Observation> {
        self.observations.last()
    }

    /// The actions in their textual form, separated by `, `.
    pub fn actions_text(&self) -> String {
        self.actions.iter().map(|&a| format_action(a)).collect::<Vec<_>>().join(", ")
    }
}

fn disabled(step: usize, a: SysAction, enabled: &[SysAction]) -> TraceError {
    TraceError::Disabled {
        step,
        action: format_action(a),
        enabled: enabled.iter().map(|&e| format_action(e)).collect::<Vec<_>>().join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_sources_read_back() {
        for s in [
            TraceSource::Bfs { depth: 12, index: 37 },
            TraceSource::Walk { seed: u64::MAX, index: 3, max_len: 64 },
            TraceSource::Proptest,
            TraceSource::Manual,
        ] {
            assert_eq!(s.to_string().parse::<TraceSource>(), Ok(s));
        }
        for bad in ["", "bfs", "bfs depth=1", "bfs depth=1 path=x", "walk seed=1 walk=2", "manual x=1", "dfs depth=1"] {
            assert!(bad.parse::<TraceSource>().is_err(), "{bad:?}");
        }
    }
}
