//! Running the checker: exhaustive search with a progress callback, a report
//! per property, and counterexamples cut at their first violating state and
//! shortened by a breadth-first search where that finishes in time.

use super::properties::{Kind, PropDef};
use super::system::{describe, SysAction, SysState};
use super::{ConnseqModel, ModelConfig};
use crate::core::{Dir, Side};
use stateright::{Checker, HasDiscoveries, Model, Path};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Search order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Depth-first: little memory (the default).
    Dfs,
    /// Breadth-first: shortest counterexamples, much more memory.
    Bfs,
}

/// How to run.
#[derive(Clone, Copy, Debug)]
pub struct CheckOptions {
    /// Checker threads.
    pub threads: usize,
    /// Search order.
    pub strategy: Strategy,
    /// Shorten counterexamples with a bounded breadth-first search.
    pub shorten: bool,
    /// Give up shortening after this long.
    pub shorten_budget: Duration,
    /// Stop at the first violated property (used with a mutant: the point is
    /// the counterexample, not the rest of the space).
    pub stop_at_first_failure: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            threads: 2,
            strategy: Strategy::Dfs,
            shorten: true,
            shorten_budget: Duration::from_secs(30),
            stop_at_first_failure: false,
        }
    }
}

/// A property's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An always/eventually property held.
    Holds,
    /// An always/eventually property failed.
    Violated,
    /// A sometimes property was witnessed.
    Witnessed,
    /// A sometimes property was never witnessed.
    Unwitnessed,
    /// Not decided: the search stopped at the first violation.
    Unchecked,
}

impl Verdict {
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Violated => "violated",
            Verdict::Witnessed => "witnessed",
            Verdict::Unwitnessed => "unwitnessed",
            Verdict::Unchecked => "unchecked",
        }
    }

    /// Whether this result passes the check.
    pub const fn passes(self) -> bool {
        matches!(self, Verdict::Holds | Verdict::Witnessed)
    }
}

/// One step of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStep {
    /// What happened, in words.
    pub what: String,
    /// The state after it, in short.
    pub after: String,
    /// The action itself.
    pub action: SysAction,
}

/// A property's line in the report.
#[derive(Clone, Debug)]
pub struct PropResult {
    /// The property.
    pub def: &'static PropDef,
    /// Its result.
    pub verdict: Verdict,
    /// The witness or counterexample, if any.
    pub trace: Option<Vec<TraceStep>>,
    /// The initial state of the trace, in short.
    pub init: Option<String>,
}

/// Progress of a running search.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// States generated.
    pub states: usize,
    /// Distinct states.
    pub unique: usize,
    /// Deepest path so far.
    pub depth: usize,
    /// Time since start.
    pub elapsed: Duration,
}

/// The result of a check.
#[derive(Clone, Debug)]
pub struct Report {
    /// What was checked.
    pub cfg: ModelConfig,
    /// Distinct states.
    pub unique_states: usize,
    /// States generated.
    pub states: usize,
    /// Deepest path.
    pub max_depth: usize,
    /// Wall time.
    pub seconds: f64,
    /// One line per property.
    pub properties: Vec<PropResult>,
}

impl Report {
    /// Every property passed.
    pub fn passed(&self) -> bool {
        self.properties.iter().all(|p| p.verdict.passes())
    }

    /// Distinct states per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.unique_states as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The report as one JSON object (see `connseq check --json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "preset": self.cfg.preset.name(),
            "features": self.cfg.features.iter().map(|f| f.name()).collect::<Vec<_>>(),
            "mutant": self.cfg.mutant.name(),
            "unique_states": self.unique_states,
            "states": self.states,
            "max_depth": self.max_depth,
            "seconds": (self.seconds * 1000.0).round() / 1000.0,
            "properties": self.properties.iter().map(|p| serde_json::json!({
                "name": p.def.name,
                "kind": p.def.kind.name(),
                "result": p.verdict.name(),
                "trace_len": p.trace.as_ref().map(|t| t.len()),
            })).collect::<Vec<_>>(),
        })
    }
}

/// Runs an exhaustive check of `cfg`, calling `progress` about once a second.
pub fn check(cfg: ModelConfig, opts: CheckOptions, progress: &mut dyn FnMut(Progress)) -> Report {
    let model = ConnseqModel::new(cfg);
    let props = model.props();
    let start = Instant::now();
    let mut builder = model.clone().checker().threads(opts.threads.max(1));
    if opts.stop_at_first_failure {
        builder = builder.finish_when(HasDiscoveries::AnyFailures);
    }
    let (unique, states, depth, discoveries) = match opts.strategy {
        Strategy::Dfs => run(builder.spawn_dfs(), start, progress),
        Strategy::Bfs => run(builder.spawn_bfs(), start, progress),
    };
    let seconds = start.elapsed().as_secs_f64();
    let mut results = Vec::new();
    for def in props {
        let found = discoveries.iter().find(|(n, _)| *n == def.name).map(|(_, p)| p.clone());
        let verdict = match (def.kind, &found) {
            (Kind::Sometimes, Some(_)) => Verdict::Witnessed,
            (_, Some(_)) => Verdict::Violated,
            (_, None) if opts.stop_at_first_failure => Verdict::Unchecked,
            (Kind::Sometimes, None) => Verdict::Unwitnessed,
            (_, None) => Verdict::Holds,
        };
        let (init, trace) = match found {
            None => (None, None),
            Some(path) => {
                let path = counterexample(&model, def, opts, path);
                let (i, t) = render(&model, &path);
                (Some(i), Some(t))
            }
        };
        results.push(PropResult { def, verdict, trace, init });
    }
    Report { cfg, unique_states: unique, states, max_depth: depth, seconds, properties: results }
}

type Discoveries = Vec<(&'static str, Path<SysState, SysAction>)>;

fn run<C: Checker<ConnseqModel>>(
    checker: C,
    start: Instant,
    progress: &mut dyn FnMut(Progress),
) -> (usize, usize, usize, Discoveries) {
    // Poll often enough that a small run is not rounded up to the poll
    // period; report progress about four times a second.
    let mut last_report = Instant::now();
    while !checker.is_done() {
        std::thread::sleep(Duration::from_millis(5));
        if last_report.elapsed() >= Duration::from_millis(250) {
            last_report = Instant::now();
            progress(Progress {
                states: checker.state_count(),
                unique: checker.unique_state_count(),
                depth: checker.max_depth(),
                elapsed: start.elapsed(),
            });
        }
    }
    let checker = checker.join();
    let d: Discoveries = checker.discoveries().into_iter().collect();
    (checker.unique_state_count(), checker.state_count(), checker.max_depth(), d)
}

/// A path as (state, action taken from it) pairs, cut at the first state
/// that violates `def` (stateright may report a path that runs past it).
fn cut(model: &ConnseqModel, def: &PropDef, path: Path<SysState, SysAction>) -> Vec<(SysState, Option<SysAction>)> {
    let mut v = path.into_vec();
    let bad = |s: &SysState| match def.kind {
        Kind::Sometimes => (def.check)(model, s),
        Kind::Always | Kind::Eventually => !(def.check)(model, s),
    };
    if let Some(i) = v.iter().position(|(s, _)| bad(s)) {
        v.truncate(i + 1);
        if let Some(last) = v.last_mut() {
            last.1 = None;
        }
    }
    v
}

/// A shortest counterexample, by breadth-first search for this property
/// alone, if it finishes within the budget.
fn shortest(
    model: &ConnseqModel,
    def: &'static PropDef,
    opts: CheckOptions,
) -> Option<Vec<(SysState, Option<SysAction>)>> {
    search_one(model, def, opts, Strategy::Bfs).map(|p| cut(model, def, p))
}

/// Searches until `def` is discovered (or the space is exhausted).
fn search_one(
    model: &ConnseqModel,
    def: &'static PropDef,
    opts: CheckOptions,
    strategy: Strategy,
) -> Option<Path<SysState, SysAction>> {
    let mut names = BTreeSet::new();
    names.insert(def.name);
    let builder = model.clone().checker().threads(opts.threads.max(1)).finish_when(HasDiscoveries::AnyOf(names));
    match strategy {
        Strategy::Dfs => builder.spawn_dfs().join().discovery(def.name),
        Strategy::Bfs => builder.timeout(opts.shorten_budget).spawn_bfs().join().discovery(def.name),
    }
}

/// A discovered path, cut at its first violation and, where a bounded
/// breadth-first search finds a shorter one, replaced by it.
fn counterexample(
    model: &ConnseqModel,
    def: &'static PropDef,
    opts: CheckOptions,
    path: Path<SysState, SysAction>,
) -> Vec<(SysState, Option<SysAction>)> {
    let path = cut(model, def, path);
    if def.kind == Kind::Sometimes || !opts.shorten {
        return path;
    }
    match shortest(model, def, opts) {
        Some(short) if short.len() < path.len() => short,
        _ => path,
    }
}

fn render(model: &ConnseqModel, path: &[(SysState, Option<SysAction>)]) -> (String, Vec<TraceStep>) {
    let init = path.first().map(|(s, _)| summary(s)).unwrap_or_default();
    let mut steps = Vec::new();
    for w in path.windows(2) {
        let (s, a) = &w[0];
        let (next, _) = &w[1];
        if let Some(a) = a {
            steps.push(TraceStep { what: describe(&model.sys, s, *a), after: summary(next), action: *a });
        }
    }
    (init, steps)
}

/// A state in one line: stream interfaces, connections with their op
/// statuses, channels with their flags, wires, peers.
pub fn summary(s: &SysState) -> String {
    let c = &s.core;
    let conn = |side: Side| {
        let x = c.conn(side);
        format!("{} {}/{} ops[{:?}]{}", side, x.fd, x.state, x.ops, if x.draining() { " drain" } else { "" })
    };
    let chan = |d: Dir| {
        let ch = c.chan(d);
        let e = &s.exec;
        format!("{d} {:?} buf{:?} pipe{:?}", ch.flags, e.buf[d as usize], e.pipe[d as usize])
    };
    format!(
        "si {}/{} | {} | {} | {} | {} | up {:?} {:?} down {:?} {:?} | client sent {} got {}{}{} | server sent {} got {}{}{} | timers {:?}",
        c.si_front,
        c.si_back,
        conn(Side::Front),
        conn(Side::Back),
        chan(Dir::Req),
        chan(Dir::Res),
        s.front_up,
        s.back_up,
        s.front_down,
        s.back_down,
        s.client.sent,
        s.client.got,
        if s.client.got_fin { " FIN" } else { "" },
        if s.client.got_rst { " RST" } else { "" },
        s.server.sent,
        s.server.got,
        if s.server.got_fin { " FIN" } else { "" },
        if s.server.got_rst { " RST" } else { "" },
        c.timers,
    )
}

/// The mutants, each with the property it must break and the features it needs.
pub fn mutant_cases() -> Vec<(crate::core::Mutant, &'static PropDef)> {
    super::properties::PROPERTIES.iter().filter_map(|p| p.mutant.map(|m| (m, p))).collect()
}

/// The configuration a mutant is shown on: `base` with the features the
/// mutant needs, at least two chunks each way and room for two in a buffer.
pub fn mutant_config(base: ModelConfig, m: crate::core::Mutant) -> ModelConfig {
    let mut cfg = base.with_mutant(m);
    for (mm, p) in mutant_cases() {
        if mm == m {
            for &f in p.mutant_needs {
                cfg = cfg.with(f);
            }
        }
    }
    cfg.client_chunks = cfg.client_chunks.max(2);
    cfg.server_chunks = cfg.server_chunks.max(2);
    cfg.buf_cap = cfg.buf_cap.max(2);
    cfg
}

/// Searches `cfg` until `def` fails, and returns the counterexample (cut at
/// its first violation, shortened where a breadth-first search finishes in
/// time), or `None` if the property holds.
pub fn refute(cfg: ModelConfig, def: &'static PropDef, opts: CheckOptions) -> Option<(String, Vec<TraceStep>)> {
    let model = ConnseqModel::new(cfg);
    let path = refute_path(&model, def, opts)?;
    Some(render(&model, &path))
}

/// The counterexample path itself: (state, action taken from it) pairs, the
/// last state being the first that violates `def`.
pub fn refute_path(
    model: &ConnseqModel,
    def: &'static PropDef,
    opts: CheckOptions,
) -> Option<Vec<(SysState, Option<SysAction>)>> {
    let path = search_one(model, def, opts, Strategy::Dfs)?;
    Some(counterexample(model, def, opts, path))
}
