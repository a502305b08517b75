//! Diagrams drawn from the transitions the checker reached.
//!
//! [`Diagrams::explore`] enumerates every reachable state of a
//! [`ModelConfig`] (depth-first, each state expanded once, the same space
//! `connseq check` searches) and records, for every transition of the closed
//! system, what changed in the core:
//!
//! - **stream interfaces**: the precise moves the core made, as its one
//!   setter reported them to [`trace`] ([`System::step_observed`]), so a
//!   transient state such as `CER` or `DIS` shows even when one proxy turn
//!   passes through it;
//! - **connections**, **FDs** and **operation statuses**: the value before
//!   and after each step of the core, per side: each action of a proxy turn
//!   (its outcome and the readiness it caused handled), or one environment
//!   event. Two changes inside one core step show as one edge (an operation
//!   desired and completed by one outcome goes `00 -> 01`). A new connect
//!   attempt replaces the back connection: its changes are drawn from a
//!   fresh connection (`CLOSED`, every operation `00`), never from the
//!   previous attempt's state.
//!
//! The initial accept is not a system action: what `Session::accept` did is
//! replayed for every initial state and recorded with the cause
//! [`ACCEPT`].
//!
//! Each edge keeps how many transitions took it and the kinds of system
//! action that caused it ([`action_kind`]). [`Diagrams::to_dot`] renders one
//! machine as Graphviz DOT, with the note's names on the nodes.
//!
//! One configuration does not reach every transition: with every feature on,
//! every session has handshake handlers, so a front connection never goes
//! straight from `accept()` to `ESTABLISHED` and the back stream interface
//! never waits in `REQ`. [`coverage_configs`] lists the configurations whose
//! union the documentation's diagrams are drawn from, and
//! [`Diagrams::explore_all`] merges them.

use super::system::{SysAction, SysState, System};
use super::{Feature, ModelConfig, Preset};
use crate::core::trace::{self, SiMove};
use crate::core::{ConnState, Connection, FdState, Op, OpStatus, Session, SiState, Side};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::{self, Write as _};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// The cause recorded for what the initial `accept()` did.
pub const ACCEPT: &str = "accept";

/// The kind of a system action, without its parameters: the cause an edge
/// records.
pub const fn action_kind(a: SysAction) -> &'static str {
    match a {
        SysAction::ProxyRuns(_) => "proxy runs",
        SysAction::PeerSends(..) => "peer sends",
        SysAction::ClientSendsHeader(..) => "client sends header",
        SysAction::ClientSendsHello(..) => "client sends hello",
        SysAction::ClientSendsGarbage(_) => "client sends garbage",
        SysAction::PeerReads(..) => "peer reads",
        SysAction::PeerShutsWrite(..) => "peer shuts write",
        SysAction::PeerCloses(..) => "peer closes",
        SysAction::PeerAborts(..) => "peer aborts",
        SysAction::ServerAccepts(_) => "server accepts",
        SysAction::ServerRefuses(_) => "server refuses",
        SysAction::SlotFrees(_) => "slot frees",
        SysAction::TimerFires(..) => "timer fires",
    }
}

/// The four machines drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Machine {
    /// Stream-interface states (`INI` ... `CLO`).
    Si,
    /// Connection states (`CLOSED`, `ACCEPTED`, ...).
    Connection,
    /// FD states (`CLOSED`, `READY`, `ERROR`).
    Fd,
    /// The note's 2-bit operation status (`00`, `10`, `11`, `01`).
    OpStatus,
}

impl Machine {
    /// Every machine, in the order files are written.
    pub const ALL: [Machine; 4] = [Machine::Si, Machine::Connection, Machine::Fd, Machine::OpStatus];

    /// Short name, also the file stem (`si.dot`, `op-status.dot`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Machine::Si => "si",
            Machine::Connection => "connection",
            Machine::Fd => "fd",
            Machine::OpStatus => "op-status",
        }
    }

    /// What the diagram shows, in words.
    pub const fn title(self) -> &'static str {
        match self {
            Machine::Si => "Stream-interface states",
            Machine::Connection => "Connection states",
            Machine::Fd => "FD states",
            Machine::OpStatus => "Operation status (the note's 2 bits)",
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is known about one edge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EdgeInfo {
    /// Transitions of the closed system that took this edge.
    pub count: u64,
    /// The kinds of system action that caused it ([`action_kind`] or [`ACCEPT`]).
    pub causes: BTreeSet<&'static str>,
}

impl EdgeInfo {
    fn add(&mut self, cause: &'static str) {
        self.count += 1;
        self.causes.insert(cause);
    }
}

/// The edges of one machine that has a state type `S`, per side.
pub type EdgeMap<S> = BTreeMap<(Side, S, S), EdgeInfo>;

/// The operation-status edges: per side and operation.
pub type OpEdgeMap = BTreeMap<(Side, Op, OpStatus, OpStatus), EdgeInfo>;

/// The configurations the documentation's diagrams are drawn from: the
/// small preset alone, and with each feature alone (garbage together with
/// the PROXY header and TLS hello it replaces, as the small-preset tests
/// show it). About 1.7 million states, about 4 s on one core.
///
/// Measured: their union reaches exactly the edges (and the causes) of the
/// union of every pair of features and of the small preset with every
/// feature on (52.7 million states, minutes), plus two the latter misses
/// (front `CLOSED -> ESTABLISHED` at accept, back `REQ -> CLO`); the
/// default preset (two chunks each way) adds none.
pub fn coverage_configs() -> Vec<ModelConfig> {
    let small = ModelConfig::preset(Preset::Small);
    let mut v = vec![small];
    for f in Feature::ALL {
        v.push(match f {
            Feature::Garbage => small.with(f).with(Feature::ProxyIn).with(Feature::TlsFront),
            _ => small.with(f),
        });
    }
    v
}

/// Every edge reached in one configuration, or in several merged, per machine.
#[derive(Clone, Debug)]
pub struct Diagrams {
    /// What was explored: one configuration, or several whose edges were merged.
    pub configs: Vec<ModelConfig>,
    /// Distinct states explored (summed over the configurations).
    pub states: usize,
    /// Transitions (state, action) taken.
    pub transitions: u64,
    /// Stream-interface moves.
    pub si: EdgeMap<SiState>,
    /// Connection-state changes.
    pub conn: EdgeMap<ConnState>,
    /// FD-state changes.
    pub fd: EdgeMap<FdState>,
    /// Operation-status changes.
    pub ops: OpEdgeMap,
}

/// A state's fingerprint: states are stored as 64-bit hashes, as stateright
/// does, so the full preset fits in memory.
fn fingerprint(s: &SysState) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Fingerprints are hashes already: the set uses them as they are.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type FingerprintSet = HashSet<u64, BuildHasherDefault<Identity>>;

impl Diagrams {
    /// Explores every reachable state of `cfg` and collects the edges.
    pub fn explore(cfg: ModelConfig) -> Diagrams {
        Diagrams::explore_with_progress(cfg, &mut |_| {})
    }

    /// Explores each of `cfgs` and merges the edges, calling `progress`
    /// with the number of states explored so far every 100,000 states.
    pub fn explore_all(cfgs: &[ModelConfig], progress: &mut dyn FnMut(usize)) -> Diagrams {
        let mut all = Diagrams::empty(Vec::new());
        for &cfg in cfgs {
            let done = all.states;
            let d = Diagrams::explore_with_progress(cfg, &mut |n| progress(done + n));
            all.merge(d);
        }
        all
    }

    /// Adds the edges and counts of `other`.
    pub fn merge(&mut self, other: Diagrams) {
        fn add<K: Ord>(into: &mut BTreeMap<K, EdgeInfo>, from: BTreeMap<K, EdgeInfo>) {
            for (k, info) in from {
                let e = into.entry(k).or_default();
                e.count += info.count;
                e.causes.extend(info.causes);
            }
        }
        self.configs.extend(other.configs);
        self.states += other.states;
        self.transitions += other.transitions;
        add(&mut self.si, other.si);
        add(&mut self.conn, other.conn);
        add(&mut self.fd, other.fd);
        add(&mut self.ops, other.ops);
    }

    fn empty(configs: Vec<ModelConfig>) -> Diagrams {
        Diagrams {
            configs,
            states: 0,
            transitions: 0,
            si: BTreeMap::new(),
            conn: BTreeMap::new(),
            fd: BTreeMap::new(),
            ops: BTreeMap::new(),
        }
    }

    /// [`Diagrams::explore`], calling `progress` with the number of states
    /// explored so far every 100,000 states.
    pub fn explore_with_progress(cfg: ModelConfig, progress: &mut dyn FnMut(usize)) -> Diagrams {
        let sys = System::new(cfg);
        let mut d = Diagrams::empty(vec![cfg]);
        let mut seen = FingerprintSet::default();
        let mut stack: Vec<SysState> = Vec::new();
        for s in sys.init_states() {
            d.record_accept(&sys, &s);
            if seen.insert(fingerprint(&s)) {
                stack.push(s);
            }
        }
        let mut actions = Vec::new();
        while let Some(s) = stack.pop() {
            d.states += 1;
            if d.states % 100_000 == 0 {
                progress(d.states);
            }
            actions.clear();
            sys.actions_into(&s, &mut actions);
            for &a in &actions {
                let (n, moves, cores) = sys.step_observed(&s, a);
                d.record_step(&s, &n, a, &moves, &cores);
                if seen.insert(fingerprint(&n)) {
                    stack.push(n);
                }
            }
        }
        d
    }

    /// Records what `Session::accept` did to reach the initial state `s`.
    fn record_accept(&mut self, sys: &System, s: &SysState) {
        for x in s.sessions() {
            trace::start();
            let core = Session::accept(sys.session_config(x), 0, x.env.monitor_match);
            let mut moves = Vec::new();
            trace::drain(&mut moves);
            trace::stop();
            debug_assert_eq!(core, x.core, "init_states builds its core with Session::accept");
            self.record_si(&moves, ACCEPT);
            for side in Side::BOTH {
                self.record_conn(side, &Connection::default(), x.core.conn(side), ACCEPT);
            }
        }
    }

    /// Records the transition from `s` by `a`, in which the core made the
    /// stream-interface `moves` and went through `cores`, one per core step.
    fn record_step(&mut self, s: &SysState, n: &SysState, a: SysAction, moves: &[SiMove], cores: &[Session]) {
        let cause = action_kind(a);
        self.transitions += 1;
        self.record_si(moves, cause);
        // The session the step concerns (a freed slot: the one it dequeued).
        let i = match a.session() {
            Some(i) => usize::from(i),
            None => (0..s.sess.len()).find(|&i| s.sess[i].core != n.sess[i].core).unwrap_or(0),
        };
        let mut before = &s.sess[i].core;
        for after in cores {
            for side in Side::BOTH {
                let same_conn = side == Side::Front || before.attempts() == after.attempts();
                let fresh = Connection::default();
                let from = if same_conn { before.conn(side) } else { &fresh };
                self.record_conn(side, from, after.conn(side), cause);
            }
            before = after;
        }
    }

    fn record_si(&mut self, moves: &[SiMove], cause: &'static str) {
        for m in moves {
            self.si.entry((m.side, m.from, m.to)).or_default().add(cause);
        }
    }

    fn record_conn(&mut self, side: Side, before: &Connection, after: &Connection, cause: &'static str) {
        if before.state != after.state {
            self.conn.entry((side, before.state, after.state)).or_default().add(cause);
        }
        if before.fd != after.fd {
            self.fd.entry((side, before.fd, after.fd)).or_default().add(cause);
        }
        for op in Op::ALL {
            let (b, a) = (before.ops.get(op), after.ops.get(op));
            if b != a {
                self.ops.entry((side, op, b, a)).or_default().add(cause);
            }
        }
    }

    /// Whether the stream interface of `side` moved `from -> to`.
    pub fn has_si(&self, side: Side, from: SiState, to: SiState) -> bool {
        self.si.contains_key(&(side, from, to))
    }

    /// Whether the connection of `side` changed `from -> to`.
    pub fn has_conn(&self, side: Side, from: ConnState, to: ConnState) -> bool {
        self.conn.contains_key(&(side, from, to))
    }

    /// Whether the FD of `side` changed `from -> to`.
    pub fn has_fd(&self, side: Side, from: FdState, to: FdState) -> bool {
        self.fd.contains_key(&(side, from, to))
    }

    /// Whether some operation on some side changed status `from -> to`.
    pub fn has_op(&self, from: OpStatus, to: OpStatus) -> bool {
        self.ops.keys().any(|&(_, _, f, t)| f == from && t == to)
    }

    /// Number of edges drawn for `m` (per side; for operation statuses,
    /// per side and status change, whatever the operation).
    pub fn edge_count(&self, m: Machine) -> usize {
        match m {
            Machine::Si => self.si.len(),
            Machine::Connection => self.conn.len(),
            Machine::Fd => self.fd.len(),
            Machine::OpStatus => self.ops.keys().map(|&(side, _, f, t)| (side, f, t)).collect::<BTreeSet<_>>().len(),
        }
    }

    /// What was explored, in one line, for titles and summaries: `preset
    /// small (tls-front, retries)`, or for several configurations of one
    /// preset `preset small with: no features | tls-front | ...`.
    pub fn describe_config(&self) -> String {
        let feats = |c: &ModelConfig| {
            let v: Vec<_> = c.features.iter().map(|f| f.name()).collect();
            if v.is_empty() {
                "no features".to_string()
            } else {
                v.join(", ")
            }
        };
        match self.configs.as_slice() {
            [] => "nothing".to_string(),
            [c] => format!("preset {} ({})", c.preset, feats(c)),
            [first, ..] if self.configs.iter().all(|c| c.preset == first.preset) => {
                let each: Vec<_> = self.configs.iter().map(feats).collect();
                format!("preset {} with: {}", first.preset, each.join(" | "))
            }
            many => {
                let each: Vec<_> = many.iter().map(|c| format!("{} ({})", c.preset, feats(c))).collect();
                format!("presets {}", each.join(" | "))
            }
        }
    }

    /// Machine `m` as a Graphviz digraph.
    pub fn to_dot(&self, m: Machine) -> String {
        match m {
            Machine::Si => self.simple_dot(m, &self.si, &SiState::ALL),
            Machine::Connection => self.simple_dot(m, &self.conn, &CONN_STATES),
            Machine::Fd => self.simple_dot(m, &self.fd, &FD_STATES),
            Machine::OpStatus => self.op_status_dot(),
        }
    }

    /// The graph's preamble; `note` is a last line of its title.
    fn header(&self, m: Machine, note: &str, out: &mut String) {
        let _ = writeln!(out, "// Generated by `connseq diagram` from the transitions the model reached; do not edit.");
        let _ = writeln!(out, "// {}", self.describe_config());
        let _ = writeln!(out, "digraph \"{}\" {{", m.name());
        // The configuration list, a few to a line.
        let what = self.describe_config();
        let parts: Vec<&str> = what.split(" | ").collect();
        let what = parts.chunks(5).map(|c| c.join(" | ")).collect::<Vec<_>>().join(" |\\n");
        let _ = writeln!(out, "  label=\"{} as reached\\n{what}\\n{} states explored{note}\";", m.title(), self.states);
        let _ =
            writeln!(out, "  labelloc=t; fontname=\"Helvetica\"; fontsize=16; rankdir=LR; nodesep=0.4; ranksep=0.6;");
        let _ = writeln!(out, "  node [shape=box, style=\"rounded\", fontname=\"Helvetica\", fontsize=12];");
        let _ = writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#444444\"];");
    }

    /// A machine whose edges are per side: one cluster per side, the
    /// reached states as nodes in `order`, one edge per move.
    fn simple_dot<S: Copy + Ord + fmt::Display>(&self, m: Machine, edges: &EdgeMap<S>, order: &[S]) -> String {
        let mut out = String::new();
        let accept_only = |i: &EdgeInfo| i.causes.iter().all(|&c| c == ACCEPT);
        let note = if edges.values().any(accept_only) { "; dashed: what accept() did" } else { "" };
        self.header(m, note, &mut out);
        for side in CLUSTER_ORDER {
            let reached: BTreeSet<S> = edges.keys().filter(|k| k.0 == side).flat_map(|&(_, f, t)| [f, t]).collect();
            if reached.is_empty() {
                continue;
            }
            let _ = writeln!(out, "  subgraph cluster_{side} {{");
            let _ = writeln!(out, "    label=\"{}\"; fontsize=13; color=\"#999999\";", side_title(side));
            for s in order.iter().filter(|s| reached.contains(s)) {
                let _ = writeln!(out, "    {} [label=\"{s}\"];", node_id(side, s));
            }
            let _ = writeln!(out, "  }}");
        }
        for (&(side, from, to), info) in edges {
            let _ = writeln!(
                out,
                "  {} -> {} [label=\"{}\", tooltip=\"{} {from} -> {to}: {} transitions\"{}];",
                node_id(side, &from),
                node_id(side, &to),
                cause_label(&info.causes),
                side,
                info.count,
                if accept_only(info) { ", style=dashed" } else { "" }
            );
        }
        out.push_str("}\n");
        out
    }

    /// The operation statuses: one cluster per side with the four
    /// statuses, one edge per status change labelled with the operations
    /// that took it.
    fn op_status_dot(&self) -> String {
        let mut out = String::new();
        self.header(Machine::OpStatus, "", &mut out);
        let mut grouped: BTreeMap<(Side, u8, u8), (Vec<Op>, EdgeInfo)> = BTreeMap::new();
        for (&(side, op, from, to), info) in &self.ops {
            let e = grouped.entry((side, from.rank(), to.rank())).or_default();
            if !e.0.contains(&op) {
                e.0.push(op);
            }
            e.1.count += info.count;
            e.1.causes.extend(info.causes.iter().copied());
        }
        for side in CLUSTER_ORDER {
            if !grouped.keys().any(|k| k.0 == side) {
                continue;
            }
            let _ = writeln!(out, "  subgraph cluster_{side} {{");
            let _ = writeln!(out, "    label=\"{}\"; fontsize=13; color=\"#999999\";", side_title(side));
            for st in OP_STATUSES {
                let _ = writeln!(
                    out,
                    "    {} [label=\"{st}\\n{}\", tooltip=\"{}\"];",
                    node_id(side, &st),
                    op_status_words(st),
                    op_status_words(st)
                );
            }
            let _ = writeln!(out, "  }}");
        }
        for (&(side, from, to), (ops, info)) in &grouped {
            let (from, to) = (OP_STATUSES[usize::from(from)], OP_STATUSES[usize::from(to)]);
            let names: Vec<&str> = ops.iter().map(|o| o.name()).collect();
            let _ = writeln!(
                out,
                "  {} -> {} [label=\"{}\", tooltip=\"{} {from} -> {to}: {} transitions; causes: {}\"];",
                node_id(side, &from),
                node_id(side, &to),
                wrap(&names, 4),
                side,
                info.count,
                info.causes.iter().copied().collect::<Vec<_>>().join(", ")
            );
        }
        out.push_str("}\n");
        out
    }
}

/// The order clusters are written in: Graphviz stacks them bottom-up in a
/// left-to-right graph, so this puts the front (client side) on top.
const CLUSTER_ORDER: [Side; 2] = [Side::Back, Side::Front];

/// Connection states in the order drawn.
const CONN_STATES: [ConnState; 5] =
    [ConnState::Closed, ConnState::Accepted, ConnState::Connecting, ConnState::Established, ConnState::Error];

/// FD states in the order drawn.
const FD_STATES: [FdState; 4] = [FdState::Closed, FdState::Listen, FdState::Ready, FdState::Error];

/// Operation statuses by rank: the only direction of travel.
const OP_STATUSES: [OpStatus; 4] = [OpStatus::NotDesired, OpStatus::Desired, OpStatus::Started, OpStatus::Done];

fn op_status_words(s: OpStatus) -> &'static str {
    match s {
        OpStatus::NotDesired => "not desired",
        OpStatus::Desired => "desired",
        OpStatus::Started => "started",
        OpStatus::Done => "done",
    }
}

fn side_title(side: Side) -> &'static str {
    match side {
        Side::Front => "front (client side)",
        Side::Back => "back (server side)",
    }
}

/// A DOT identifier for state `s` of `side` (quoted: `01` is a name here).
fn node_id<S: fmt::Display>(side: Side, s: &S) -> String {
    format!("\"{side}_{s}\"")
}

/// The causes of an edge, short, one or two per line.
fn cause_label(causes: &BTreeSet<&'static str>) -> String {
    let v: Vec<&str> = causes.iter().copied().collect();
    wrap(&v, 2)
}

/// `items` joined with ", ", `per_line` to a line (DOT's `\n`).
fn wrap(items: &[&str], per_line: usize) -> String {
    items.chunks(per_line.max(1)).map(|c| c.join(", ")).collect::<Vec<_>>().join(",\\n")
}
