//! What a set of traces exercises: action kinds, actions, and edges between
//! state classes.
//!
//! # State class
//!
//! A state's class is the pair of its stream-interface states (front, back),
//! e.g. `EST/CON`. The stream interfaces are the note's summary of where a
//! session is (handshake, queue, connect, data, close), they are what the
//! runtime logs at every move, and the pair is small: the small preset's
//! 41,477 states fall into 14 classes and its edges into 95 (class, kind)
//! pairs, so "every edge" is a goal a suite can reach and a reader can check
//! by eye. Finer
//! classes (adding the connection states or the channel flags) separate
//! states the replay can already tell apart by the full observation it
//! compares at every step; the class is only for measuring.
//!
//! An edge is `(class of the state an action is taken from, kind of the
//! action)`. [`Coverage::of_traces`] counts the edges of traces (reading the
//! class from each step's observation); [`space_coverage`] counts every edge
//! of the model's reachable space; [`crate::sources::BfsStats::explored`]
//! those a breadth-first search expanded. [`Coverage::missing`] compares two.

use crate::action::{format_action, ActionKind};
use crate::trace::{Observation, Trace};
use connseq_model::check::SysAction;
use connseq_model::check::{SysState, System};
use connseq_model::core::{SiState, Side};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

/// The class of a state: its (front, back) stream-interface states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateClass {
    /// Front stream interface.
    pub si_front: SiState,
    /// Back stream interface.
    pub si_back: SiState,
}

impl StateClass {
    /// The class of a model state.
    pub fn of_state(s: &SysState) -> StateClass {
        StateClass { si_front: s.first().core.si(Side::Front), si_back: s.first().core.si(Side::Back) }
    }

    /// The class of an observed state.
    pub fn of_obs(o: &Observation) -> StateClass {
        StateClass { si_front: o.si_front, si_back: o.si_back }
    }
}

impl fmt::Display for StateClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.si_front, self.si_back)
    }
}

/// Counts of what was exercised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Steps per action kind.
    pub kinds: BTreeMap<ActionKind, usize>,
    /// Steps per action, by textual form (`PeerSends(Client)`).
    pub actions: BTreeMap<String, usize>,
    /// Steps per (state class, action kind) edge.
    pub edges: BTreeMap<(StateClass, ActionKind), usize>,
    /// State classes seen (including the final states of traces).
    pub classes: BTreeMap<StateClass, usize>,
    /// Steps counted.
    pub steps: usize,
}

impl Coverage {
    /// Counts one step: `a` taken from a state of class `from`.
    pub fn add(&mut self, from: StateClass, a: SysAction) {
        let kind = ActionKind::of(a);
        *self.kinds.entry(kind).or_default() += 1;
        *self.actions.entry(format_action(a)).or_default() += 1;
        *self.edges.entry((from, kind)).or_default() += 1;
        *self.classes.entry(from).or_default() += 1;
        self.steps += 1;
    }

    /// Counts a state seen without an action from it (a trace's last state).
    pub fn add_state(&mut self, class: StateClass) {
        *self.classes.entry(class).or_default() += 1;
    }

    /// The steps of `traces`.
    pub fn of_traces(traces: &[Trace]) -> Coverage {
        let mut c = Coverage::default();
        for t in traces {
            c.add_trace(t);
        }
        c
    }

    /// Counts the steps of one trace.
    pub fn add_trace(&mut self, t: &Trace) {
        for (o, &a) in t.observations.iter().zip(&t.actions) {
            self.add(StateClass::of_obs(o), a);
        }
        if let Some(o) = t.observations.get(t.actions.len()) {
            self.add_state(StateClass::of_obs(o));
        }
    }

    /// What `universe` has that `self` lacks.
    pub fn missing(&self, universe: &Coverage) -> Gap {
        Gap {
            kinds: universe.kinds.keys().filter(|k| !self.kinds.contains_key(k)).copied().collect(),
            actions: universe.actions.keys().filter(|k| !self.actions.contains_key(*k)).cloned().collect(),
            edges: universe.edges.keys().filter(|k| !self.edges.contains_key(k)).copied().collect(),
            classes: universe.classes.keys().filter(|k| !self.classes.contains_key(k)).copied().collect(),
        }
    }
}

/// What one coverage lacks against another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gap {
    /// Action kinds.
    pub kinds: Vec<ActionKind>,
    /// Actions.
    pub actions: Vec<String>,
    /// Edges.
    pub edges: Vec<(StateClass, ActionKind)>,
    /// State classes.
    pub classes: Vec<StateClass>,
}

impl Gap {
    /// Nothing is missing.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty() && self.actions.is_empty() && self.edges.is_empty() && self.classes.is_empty()
    }
}

/// The action kinds the traces take.
pub fn action_kinds_covered(traces: &[Trace]) -> BTreeSet<ActionKind> {
    traces.iter().flat_map(|t| t.actions.iter().map(|&a| ActionKind::of(a))).collect()
}

/// Every edge of the reachable space of `sys`, each (state, action) counted
/// once, found by a search over all reachable states. Cost: the model's state
/// count (the small preset: 41,477 states, well under a second; the default
/// preset: millions, minutes).
pub fn space_coverage(sys: &System) -> Coverage {
    let mut c = Coverage::default();
    let mut seen: HashSet<SysState> = HashSet::new();
    let mut stack: Vec<SysState> = Vec::new();
    for s in sys.init_states() {
        if seen.insert(s) {
            stack.push(s);
        }
    }
    let mut enabled = Vec::new();
    while let Some(s) = stack.pop() {
        enabled.clear();
        sys.actions_into(&s, &mut enabled);
        let class = StateClass::of_state(&s);
        if enabled.is_empty() {
            c.add_state(class);
        }
        for &a in &enabled {
            c.add(class, a);
            let n = sys.step(&s, a, None);
            if seen.insert(n) {
                stack.push(n);
            }
        }
    }
    c
}
