//! Running the checker: exhaustive search with a progress callback, a report
//! per property, and counterexamples cut at their first violating state and
//! shortened by a breadth-first search where that finishes in time.

use super::properties::{Kind, PropDef};
use super::system::{describe, SysAction, SysState};
use super::CensusCounts;
use super::{ConnseqModel, ModelConfig};
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
    /// The search stopped at its first violation (the rest is unchecked).
    pub stopped_early: bool,
    /// Where liveness obligations applied, among the states where a
    /// behaviour may end (complete only when the search was not stopped).
    pub census: CensusCounts,
}

impl Report {
    /// The verdict: no property violated and, for the correct core, every
    /// witness found. The exit status of `connseq check` is this.
    pub fn passed(&self) -> bool {
        let mutant = self.cfg.mutant != crate::core::Mutant::None;
        self.properties.iter().all(|p| match p.verdict {
            Verdict::Holds | Verdict::Witnessed | Verdict::Unchecked => true,
            Verdict::Violated => false,
            Verdict::Unwitnessed => mutant,
        })
    }

    /// The properties violated.
    pub fn violated(&self) -> impl Iterator<Item = &PropResult> + '_ {
        self.properties.iter().filter(|p| p.verdict == Verdict::Violated)
    }

    /// Whether an observable property (not only an internal check) is violated.
    pub fn observably_violated(&self) -> bool {
        self.violated().any(|p| p.def.kind.observable())
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
            "passed": self.passed(),
            "stopped_early": self.stopped_early,
            "obligations": self.obligations_json(),
            "properties": self.properties.iter().map(|p| serde_json::json!({
                "name": p.def.name,
                "kind": p.def.kind.name(),
                "observes": p.def.observes,
                "result": p.verdict.name(),
                "trace_len": p.trace.as_ref().map(|t| t.len()),
            })).collect::<Vec<_>>(),
        })
    }

    /// Where each liveness obligation applied, as counts and shares.
    pub fn obligations_json(&self) -> serde_json::Value {
        let c = self.census;
        let share = |a: u64, b: u64| {
            if b == 0 {
                serde_json::Value::Null
            } else {
                serde_json::json!(((a as f64 / b as f64) * 1000.0).round() / 1000.0)
            }
        };
        serde_json::json!({
            "stop_states": c.stops,
            "delivery": {
                "with_data": c.with_data,
                "applies": c.delivery_applies,
                "whole": c.delivery_whole,
                "share_applies": share(c.delivery_applies, c.with_data),
                "share_whole": share(c.delivery_whole, c.with_data),
            },
            "end_of_stream": {
                "with_end": c.with_end,
                "applies": c.end_applies,
                "share_applies": share(c.end_applies, c.with_end),
            },
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
    // Read before any counterexample search visits states again.
    let census = model.census.counts();
    let mut results = Vec::new();
    // The search stops early only at a real violation: when none was found,
    // it went through the whole space and every verdict is final.
    let failed = props.iter().any(|def| def.kind != Kind::Sometimes && discoveries.iter().any(|(n, _)| *n == def.name));
    let stopped_early = opts.stop_at_first_failure && failed;
    for def in props {
        let found = discoveries.iter().find(|(n, _)| *n == def.name).map(|(_, p)| p.clone());
        let verdict = match (def.kind, &found) {
            (Kind::Sometimes, Some(_)) => Verdict::Witnessed,
            (_, Some(_)) => Verdict::Violated,
            (_, None) if stopped_early => Verdict::Unchecked,
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
    Report { cfg, unique_states: unique, states, max_depth: depth, seconds, properties: results, stopped_early, census }
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
        Kind::Always | Kind::Eventually | Kind::Internal => !(def.check)(model, s),
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

pub use super::describe::summary;

/// The mutants, each with the property it must break (a mutant written
/// against two properties appears twice).
pub fn mutant_cases() -> Vec<(crate::core::Mutant, &'static PropDef)> {
    super::properties::MUTANTS.iter().map(|d| (d.mutant, d.property())).collect()
}

/// The configuration a mutant is shown on: `base` with the features and the
/// sizes every catalogue entry of the mutant needs.
pub fn mutant_config(base: ModelConfig, m: crate::core::Mutant) -> ModelConfig {
    super::properties::mutant_defs(m).fold(base.with_mutant(m), |cfg, d| d.config(cfg))
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

/// Searches `cfg` until one of `defs` fails, and returns its name with the
/// length of the path that refutes it, or `None` if all of them hold.
pub fn refute_any(cfg: ModelConfig, defs: &[&'static PropDef], opts: CheckOptions) -> Option<(&'static str, usize)> {
    let model = ConnseqModel::new(cfg);
    let applicable = model.props();
    let names: BTreeSet<&'static str> =
        defs.iter().filter(|d| applicable.iter().any(|a| a.name == d.name)).map(|d| d.name).collect();
    if names.is_empty() {
        return None;
    }
    let checker = model
        .clone()
        .checker()
        .threads(opts.threads.max(1))
        .finish_when(HasDiscoveries::AnyOf(names.clone()))
        .spawn_dfs()
        .join();
    names.iter().find_map(|&n| {
        let def = defs.iter().find(|d| d.name == n)?;
        let path = checker.discovery(n)?;
        Some((n, cut(&model, def, path).len().saturating_sub(1)))
    })
}
