//! Where traces come from: the paths of a breadth-first search to a depth,
//! and random walks over the enabled actions (a proptest strategy, and a
//! seeded generator built on it).
//!
//! # Breadth-first paths ([`bfs`], [`bfs_traces`])
//!
//! Every maximal path of length at most `D` is too many: the small preset
//! has 4,641 at `D = 6`, and the number grows about four times with each
//! step ([`count_paths`] counts them without building them). So the search merges
//! paths that reach the same state at the same depth, as the checker merges
//! states:
//!
//! 1. Level 0 holds the initial states. Level `d + 1` holds the successors,
//!    by every enabled action in [`System::actions_into`] order, of the
//!    states of level `d`, each state once: the first path to reach a state
//!    at that depth keeps it (a *tree edge*); a later edge into it is
//!    *merged*.
//! 2. A trace is emitted for every leaf of that tree: a state at depth `D`,
//!    a terminal state (no action enabled), or a state whose successors
//!    were all merged into other paths.
//! 3. Merging keeps one interleaving of actions that commute, the one whose
//!    actions come first in the enabled list, and the proxy's turn comes
//!    first there. So an environment action taken while the proxy has work
//!    pending (a peer that sends just as a connect times out) is mostly on
//!    merged edges only, and those races are what a replay on real sockets
//!    most needs. For every `(state class, action kind)` edge
//!    ([`crate::coverage`]) that only merged edges take, one more trace is
//!    emitted: the path to the first such edge's state, then the edge.
//! 4. A trace shorter than `D` that does not end in a terminal state (cases
//!    2 and 3) is extended by the first enabled action at each step to `D`
//!    actions or a terminal state, so every trace is maximal.
//!
//! Hence: every trace is a distinct legal maximal path; every state reachable
//! in exactly `d <= D` steps lies at position `d` of some trace; every
//! `(state class, action kind)` edge the search expanded is exercised by
//! some trace ([`BfsStats::explored`] records them). Traces are numbered in
//! the order they are emitted (leaves above `D` as their level is expanded,
//! then the leaves at `D`, then the edge traces), which is stable for a given
//! model.
//!
//! The small preset, for each depth (`tests/traces.rs` pins these figures):
//!
//! | `D` | 1 | 2 | 3 | 4 | 5 | **6** |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | paths of exactly `D` steps | 5 | 17 | 69 | 318 | 1,283 | 4,616 |
//! | states first reached at depth `D` | 5 | 17 | 55 | 187 | 600 | 1,718 |
//! | traces (of which edge traces) | 5 | 17 | 60 | 197 | 627 | 1,839 (0) |
//!
//! [`DEFAULT_DEPTH`] is 6, the first depth that reaches everything.
//!
//! # Random walks ([`walk_strategy`], [`random_walks`])
//!
//! A walk is a list of choice numbers: at each step the walk takes the
//! enabled action the choice selects (modulo the number of enabled actions,
//! weighted by kind: see [`Weights`]) and stops early at a terminal state.
//! Every list of numbers is therefore a legal trace, so a proptest strategy
//! that draws a `Vec<u32>` (and an initial state) generates only legal
//! traces. Shrinking works on the trace ([`WalkTree`]): shorter prefixes,
//! one action fewer, an earlier enabled action in place of one, an earlier
//! initial state; candidates that are not legal are skipped, so the result
//! is a legal trace that is a local minimum. (Shrinking the choice list
//! instead, as proptest does for a `Vec`, leaves traces longer than they
//! need be: deleting a choice changes what every later choice selects.)
//!
//! (`proptest-state-machine` generates transitions from a strategy per state
//! and shrinks by deleting transitions, rejecting the shrunk sequences whose
//! preconditions fail; its state-machine trait is static, with no access to
//! a runtime configuration like [`System`]. Here generation needs no
//! precondition, and the shrinker skips illegal candidates itself, so no
//! case is ever rejected.)
//!
//! [`random_walks`] draws from the same strategy with proptest's ChaCha
//! generator seeded from a `u64`, so a seed names the same walks for a given
//! build (proptest's generator and sampling are pinned by Cargo.lock).

use crate::action::ActionKind;
use crate::coverage::{Coverage, StateClass};
use crate::trace::{Observation, Trace, TraceError, TraceModel, TraceSource};
use connseq_model::check::{SysAction, SysState, System};
use proptest::collection::{vec, SizeRange};
use proptest::prelude::*;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// The default depth of [`bfs_traces`]: the smallest depth at which the
/// traces of the small preset exercise every action kind (depth 3 does),
/// every action (depth 5 does) and every `(state class, action kind)` edge
/// the preset takes anywhere in its state space: 1,774 traces
/// (`tests/traces.rs` checks it).
pub const DEFAULT_DEPTH: usize = 6;

/// The default length bound of a random walk: longer than the longest path
/// of the small preset (20 actions), so its walks end in terminal states.
pub const DEFAULT_WALK_LEN: usize = 64;

/// What a breadth-first enumeration did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BfsStats {
    /// The depth bound.
    pub depth: usize,
    /// Distinct states at each depth (index 0: the initial states).
    pub states_per_depth: Vec<usize>,
    /// Edges that kept their successor (on the tree).
    pub tree_edges: usize,
    /// Edges whose successor another path reached first at that depth.
    pub merged_edges: usize,
    /// Traces emitted.
    pub traces: usize,
    /// Leaf traces that were extended past a state whose successors were all merged.
    pub extended: usize,
    /// Traces added for the (class, kind) edges that only merged edges take.
    pub edge_traces: usize,
    /// Every expanded edge, by state class and action.
    pub explored: Coverage,
}

/// One node of the search tree: how it was reached.
#[derive(Clone, Copy)]
struct Node {
    /// The parent node, or `u32::MAX` for an initial state.
    parent: u32,
    /// The action from the parent (unused for an initial state).
    action: SysAction,
    /// The initial state this path starts from.
    init: u32,
}

/// Enumerates the breadth-first paths of `sys` to `depth` (see the module
/// documentation), handing each trace to `emit` as it is found.
pub fn bfs(sys: &System, depth: usize, mut emit: impl FnMut(Trace)) -> BfsStats {
    let mut stats = BfsStats { depth, ..BfsStats::default() };
    if TraceModel::of(&sys.cfg).config() != sys.cfg {
        // Not a preset plus features: no trace can name this model.
        return stats;
    }
    let mut nodes: Vec<Node> = Vec::new();
    let mut level: Vec<(u32, SysState)> = Vec::new();
    let mut seen: HashSet<SysState> = HashSet::new();
    for (i, s) in sys.init_states().into_iter().enumerate() {
        if seen.insert(s) {
            let init = u32::try_from(i).unwrap_or(u32::MAX);
            level.push((push(&mut nodes, Node { parent: u32::MAX, action: SysAction::ProxyRuns(0), init }), s));
        }
    }
    stats.states_per_depth.push(level.len());
    // Edges by (class, kind): those on the tree, and the first merged one of each.
    let mut on_tree: BTreeSet<(StateClass, ActionKind)> = BTreeSet::new();
    let mut first_merged: BTreeMap<(StateClass, ActionKind), (u32, SysAction)> = BTreeMap::new();
    let mut enabled = Vec::new();
    let mut emitted = 0usize;
    let mut out = |t: Option<Trace>, emitted: &mut usize| {
        if let Some(t) = t {
            *emitted += 1;
            emit(t);
        }
    };
    for _ in 0..depth {
        let mut next: Vec<(u32, SysState)> = Vec::new();
        let mut next_seen: HashSet<SysState> = HashSet::with_capacity(level.len() * 2);
        for &(id, s) in &level {
            enabled.clear();
            sys.actions_into(&s, &mut enabled);
            let class = StateClass::of_state(&s);
            let mut kept_child = false;
            for &a in &enabled {
                stats.explored.add(class, a);
                let n = sys.step(&s, a, None);
                if next_seen.insert(n) {
                    let init = nodes[id as usize].init;
                    next.push((push(&mut nodes, Node { parent: id, action: a, init }), n));
                    stats.tree_edges += 1;
                    on_tree.insert((class, ActionKind::of(a)));
                    kept_child = true;
                } else {
                    stats.merged_edges += 1;
                    first_merged.entry((class, ActionKind::of(a))).or_insert((id, a));
                }
            }
            if enabled.is_empty() {
                stats.explored.add_state(class);
            }
            if !kept_child {
                // A leaf above depth D: terminal, or every successor merged.
                stats.extended += usize::from(!enabled.is_empty());
                out(path_trace(sys, &nodes, id, None, depth, emitted), &mut emitted);
            }
        }
        stats.states_per_depth.push(next.len());
        level = next;
        if level.is_empty() {
            break;
        }
    }
    for &(id, s) in &level {
        stats.explored.add_state(StateClass::of_state(&s));
        out(path_trace(sys, &nodes, id, None, depth, emitted), &mut emitted);
    }
    // The (class, kind) edges that only merged edges take: one trace each.
    for (edge, &(id, a)) in &first_merged {
        if !on_tree.contains(edge) {
            stats.edge_traces += 1;
            out(path_trace(sys, &nodes, id, Some(a), depth, emitted), &mut emitted);
        }
    }
    // Trailing empty levels say nothing.
    while stats.states_per_depth.last() == Some(&0) {
        stats.states_per_depth.pop();
    }
    stats.traces = emitted;
    stats
}

fn push(nodes: &mut Vec<Node>, n: Node) -> u32 {
    nodes.push(n);
    u32::try_from(nodes.len() - 1).unwrap_or(u32::MAX)
}

/// The trace of the path to node `id`, then `extra` if given, extended by
/// first enabled actions to `depth` actions or a terminal state.
fn path_trace(
    sys: &System,
    nodes: &[Node],
    id: u32,
    extra: Option<SysAction>,
    depth: usize,
    index: usize,
) -> Option<Trace> {
    let mut actions = Vec::new();
    let mut at = id;
    while let Some(n) = nodes.get(at as usize) {
        if n.parent == u32::MAX {
            break;
        }
        actions.push(n.action);
        at = n.parent;
    }
    actions.reverse();
    actions.extend(extra);
    let init = nodes.get(id as usize)?.init as usize;
    if actions.len() < depth {
        let mut s = *sys.init_states().get(init)?;
        for &a in &actions {
            s = sys.step(&s, a, None);
        }
        let mut enabled = Vec::new();
        while actions.len() < depth {
            enabled.clear();
            sys.actions_into(&s, &mut enabled);
            let Some(&a) = enabled.first() else { break };
            actions.push(a);
            s = sys.step(&s, a, None);
        }
    }
    Trace::record(sys, init, &actions, TraceSource::Bfs { depth, index }).ok()
}

/// Every trace of [`bfs`] to `depth`, in order.
pub fn bfs_traces(sys: &System, depth: usize) -> Vec<Trace> {
    let mut v = Vec::new();
    bfs(sys, depth, |t| v.push(t));
    v
}

/// The number of paths of the model, without merging.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathCounts {
    /// Paths of exactly `d` actions from an initial state (index `d`).
    pub exact: Vec<u128>,
    /// Maximal paths of at most `depth` actions: those of exactly `depth`
    /// actions, and the shorter ones that end in a terminal state.
    pub maximal: u128,
}

/// Counts the paths of `sys` up to `depth`, by counting per state and depth
/// (no path is built). Saturates at `u128::MAX`.
pub fn count_paths(sys: &System, depth: usize) -> PathCounts {
    let mut level: HashMap<SysState, u128> = HashMap::new();
    for s in sys.init_states() {
        let c = level.entry(s).or_default();
        *c = c.saturating_add(1);
    }
    let mut counts = PathCounts { exact: vec![level.values().fold(0, |a: u128, &b| a.saturating_add(b))], maximal: 0 };
    let mut enabled = Vec::new();
    for _ in 0..depth {
        let mut next: HashMap<SysState, u128> = HashMap::with_capacity(level.len() * 2);
        for (s, &c) in &level {
            enabled.clear();
            sys.actions_into(s, &mut enabled);
            if enabled.is_empty() {
                counts.maximal = counts.maximal.saturating_add(c);
            }
            for &a in &enabled {
                let e = next.entry(sys.step(s, a, None)).or_default();
                *e = e.saturating_add(c);
            }
        }
        counts.exact.push(next.values().fold(0, |a: u128, &b| a.saturating_add(b)));
        level = next;
    }
    let at_depth = counts.exact.last().copied().unwrap_or_default();
    counts.maximal = counts.maximal.saturating_add(at_depth);
    counts
}

/// How likely each kind of action is in a random walk: at each step the
/// walk picks among the enabled actions in proportion to their weights.
///
/// A uniform pick ends most sessions before their data phase: from the
/// first state of the small preset six actions are enabled and three of
/// them (close, abort, a timer) end the session; 200 uniform walks (seed 1)
/// never reach a state where both stream interfaces are established, and
/// exercise 55 of the 95 `(state class, action kind)` edges; 200 walks
/// with [`Weights::PROGRESS`] and the same seed exercise 78. These weights
/// make the actions that move a session forward (the proxy's turn, sending,
/// reading, accepting, the handshakes) eight or four times as likely as
/// those that end it (close, abort, refusal, a timer, garbage), which stay
/// possible at every step where they are enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weights(pub [u32; 13]);

impl Weights {
    /// Every enabled action equally likely.
    pub const UNIFORM: Weights = Weights([1; 13]);

    /// Progress first (the default), in [`ActionKind::ALL`] order.
    pub const PROGRESS: Weights = Weights([
        8, // ProxyRuns
        4, // PeerSends
        4, // ClientSendsHeader
        4, // ClientSendsHello
        1, // ClientSendsGarbage
        4, // PeerReads
        2, // PeerShutsWrite
        1, // PeerCloses
        1, // PeerAborts
        4, // ServerAccepts
        1, // ServerRefuses
        2, // SlotFrees
        1, // TimerFires
    ]);

    /// The weight of a kind.
    pub fn of(&self, kind: ActionKind) -> u32 {
        // The kinds are numbered in declaration order, which is ALL's.
        self.0[kind as usize]
    }

    /// The action `choice` selects among `enabled`: the enabled actions,
    /// in order, cover consecutive ranges as wide as their weights, and the
    /// choice (modulo the total) falls in one. Choice 0 is the first enabled
    /// action. When every weight is 0 the pick is uniform.
    pub fn pick(&self, enabled: &[SysAction], choice: u32) -> Option<SysAction> {
        let total: u64 = enabled.iter().map(|&a| u64::from(self.of(ActionKind::of(a)))).sum();
        if total == 0 {
            return enabled.get(choice as usize % enabled.len().max(1)).copied();
        }
        let mut r = u64::from(choice) % total;
        for &a in enabled {
            let w = u64::from(self.of(ActionKind::of(a)));
            if r < w {
                return Some(a);
            }
            r -= w;
        }
        None
    }
}

impl Default for Weights {
    fn default() -> Self {
        Weights::PROGRESS
    }
}

/// The walk of `choices` from initial state `init` (see the module
/// documentation): at each step the action `weights.pick(enabled, choice)`,
/// stopping at a terminal state. Fails only when `init` does not exist or
/// the system is not a preset plus features.
pub fn walk_with(
    sys: &System,
    init: usize,
    choices: &[u32],
    weights: &Weights,
    source: TraceSource,
) -> Result<Trace, TraceError> {
    let inits = sys.init_states();
    let Some(&s0) = inits.get(init) else {
        return Err(TraceError::NoSuchInit { index: init, count: inits.len() });
    };
    let model = TraceModel::of(&sys.cfg);
    if model.config() != sys.cfg {
        return Err(TraceError::NotAPreset { system: sys.cfg });
    }
    let mut s = s0;
    let mut actions = Vec::with_capacity(choices.len());
    let mut observations = Vec::with_capacity(choices.len() + 1);
    observations.push(Observation::initial(&s0));
    let mut enabled = Vec::new();
    for &c in choices {
        enabled.clear();
        sys.actions_into(&s, &mut enabled);
        let Some(a) = weights.pick(&enabled, c) else { break };
        let n = sys.step(&s, a, None);
        let o = Observation::after(&observations[actions.len()], &s, a, &n);
        observations.push(o);
        actions.push(a);
        s = n;
    }
    Ok(Trace { model, init, actions, observations, source })
}

/// [`walk_with`] the default [`Weights`].
pub fn walk(sys: &System, init: usize, choices: &[u32], source: TraceSource) -> Result<Trace, TraceError> {
    walk_with(sys, init, choices, &Weights::default(), source)
}

/// A proptest strategy of legal traces of `sys`: walks of `len` choices
/// (fewer actions if a terminal state comes first) from any initial state,
/// with the default [`Weights`]. See [`WalkTree`] for shrinking.
pub fn walk_strategy(sys: &System, len: impl Into<SizeRange>) -> WalkStrategy {
    walk_strategy_with(sys, len, Weights::default())
}

/// [`walk_strategy`] with other weights.
pub fn walk_strategy_with(sys: &System, len: impl Into<SizeRange>, weights: Weights) -> WalkStrategy {
    WalkStrategy { sys: Arc::new(sys.clone()), len: len.into(), weights }
}

/// The strategy of [`walk_strategy`]: draws an initial state and a list of
/// choices with proptest's own strategies, walks them, and hands the trace
/// to a [`WalkTree`] for shrinking.
#[derive(Clone, Debug)]
pub struct WalkStrategy {
    sys: Arc<System>,
    len: SizeRange,
    weights: Weights,
}

impl Strategy for WalkStrategy {
    type Tree = WalkTree;
    type Value = Trace;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let inits = self.sys.init_states().len();
        if inits == 0 {
            return Err("the model has no initial state".into());
        }
        let (init, choices) = (0..inits, vec(any::<u32>(), self.len.clone())).new_tree(runner)?.current();
        let t =
            walk_with(&self.sys, init, &choices, &self.weights, TraceSource::Proptest).map_err(|e| e.to_string())?;
        Ok(WalkTree { sys: Arc::clone(&self.sys), best: t, candidate: None, next: Shrink::Prefix(0) })
    }
}

/// The value tree of a walk. Shrinking works on the trace itself, not on
/// the choices that drew it (removing a choice would change what every
/// later choice selects). Candidates, in the order they are tried:
///
/// 1. every proper prefix, shortest first;
/// 2. the trace without one action, for each action;
/// 3. the trace with one action replaced by an action that comes earlier
///    in the list of actions enabled at that point;
/// 4. the same actions from an earlier initial state.
///
/// A candidate that is not legal is skipped without being tested, so the
/// test only ever sees legal traces. When a candidate still fails the test
/// it becomes the trace, and the candidates start again from 1. The result
/// is a local minimum: no shorter prefix, no trace with one action fewer,
/// with one earlier alternative or from an earlier initial state fails.
#[derive(Clone, Debug)]
pub struct WalkTree {
    sys: Arc<System>,
    /// The smallest trace known to fail (at first: the drawn one).
    best: Trace,
    /// The candidate under test, if any.
    candidate: Option<Trace>,
    /// The next candidate to try.
    next: Shrink,
}

/// Where [`WalkTree`] is in its list of candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shrink {
    /// The prefix of this many actions.
    Prefix(usize),
    /// Without the action at this position.
    Delete(usize),
    /// The action at `at` replaced by enabled action number `alt`.
    Earlier { at: usize, alt: usize },
    /// From this initial state.
    Init(usize),
    /// Nothing left to try.
    Done,
}

impl WalkTree {
    /// The next legal candidate, advancing `next`; `None` when exhausted.
    fn next_candidate(&mut self) -> Option<Trace> {
        let sys = Arc::clone(&self.sys);
        let best = &self.best;
        let n = best.actions.len();
        loop {
            let (actions, init) = match self.next {
                Shrink::Done => return None,
                Shrink::Prefix(k) if k < n => {
                    self.next = Shrink::Prefix(k + 1);
                    (best.actions[..k].to_vec(), best.init)
                }
                Shrink::Prefix(_) => {
                    self.next = Shrink::Delete(0);
                    continue;
                }
                Shrink::Delete(i) if i < n => {
                    self.next = Shrink::Delete(i + 1);
                    let mut v = best.actions.clone();
                    v.remove(i);
                    (v, best.init)
                }
                Shrink::Delete(_) => {
                    self.next = Shrink::Earlier { at: 0, alt: 0 };
                    continue;
                }
                Shrink::Earlier { at, alt } if at < n => {
                    let Some(before) = best.replay_in_model(&sys).get(at).copied() else {
                        self.next = Shrink::Init(0);
                        continue;
                    };
                    let enabled = sys.enabled(&before);
                    let taken = enabled.iter().position(|&a| a == best.actions[at]).unwrap_or_default();
                    if alt >= taken {
                        self.next = Shrink::Earlier { at: at + 1, alt: 0 };
                        continue;
                    }
                    self.next = Shrink::Earlier { at, alt: alt + 1 };
                    let mut v = best.actions.clone();
                    v[at] = enabled[alt];
                    (v, best.init)
                }
                Shrink::Earlier { .. } => {
                    self.next = Shrink::Init(0);
                    continue;
                }
                Shrink::Init(k) if k < best.init => {
                    self.next = Shrink::Init(k + 1);
                    (best.actions.clone(), k)
                }
                Shrink::Init(_) => {
                    self.next = Shrink::Done;
                    continue;
                }
            };
            if let Ok(t) = Trace::record(&sys, init, &actions, best.source) {
                return Some(t);
            }
        }
    }
}

impl ValueTree for WalkTree {
    type Value = Trace;

    fn current(&self) -> Trace {
        self.candidate.clone().unwrap_or_else(|| self.best.clone())
    }

    fn simplify(&mut self) -> bool {
        // Called after the current value failed: a candidate that failed
        // becomes the trace to shrink further.
        if let Some(c) = self.candidate.take() {
            self.best = c;
            self.next = Shrink::Prefix(0);
        }
        self.candidate = self.next_candidate();
        self.candidate.is_some()
    }

    fn complicate(&mut self) -> bool {
        // The candidate passed: back to the trace known to fail (which the
        // runner tests again), then on to the next candidate.
        self.candidate.take().is_some()
    }
}

/// The proptest configuration for walks: no regression file (a walk is
/// reproduced from its seed or its trace file), ChaCha as the generator.
pub fn walk_config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, rng_algorithm: RngAlgorithm::ChaCha, ..Config::default() }
}

/// A test runner whose generator is seeded from `seed`.
pub fn seeded_runner(config: Config, seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    // The rest of the key spells what it is for, so a seed of 0 is not an all-zero key.
    bytes[8..].copy_from_slice(b"connseq-conformance-walk");
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// `n` random walks of `max_len` choices each, from [`walk_strategy`] with a
/// generator seeded from `seed`: the same seed gives the same walks. Walk `i`
/// records [`TraceSource::Walk`] with its seed and index.
pub fn random_walks(sys: &System, n: usize, max_len: usize, seed: u64) -> Vec<Trace> {
    let strategy = walk_strategy(sys, max_len..=max_len);
    let mut runner = seeded_runner(walk_config(1), seed);
    let mut out = Vec::with_capacity(n);
    for index in 0..n {
        match strategy.new_tree(&mut runner) {
            Ok(tree) => {
                let mut t = tree.current();
                t.source = TraceSource::Walk { seed, index, max_len };
                out.push(t);
            }
            // Only a model without initial states rejects every case.
            Err(_) => break,
        }
    }
    out
}
