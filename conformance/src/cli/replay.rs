//! `replay`: model traces replayed against the real runtime on loopback
//! sockets (the library's `replay` module): the breadth-first paths to a
//! depth and seeded random walks, or one trace file step by step.
//!
//! Each divergence is printed (the trace, the step, what the model predicts
//! and what the real run gave, where the trace came from) and written as an
//! ITF file under `--out`, with the command that replays it again. The exit
//! status is 1 when any trace diverges. Traces the harness cannot play
//! (`Unsupported`) and departures the model explains (`Explained`) are
//! counted by reason, never failures.
//!
//! The runtime prints a `connseq: listening on` line to stderr for each
//! trace; `2>/dev/null` keeps the terminal to the progress line and the
//! summary.

use super::model_args::ModelArgs;
use super::CliResult;
use clap::Args;
use connseq_conformance::itf;
use connseq_conformance::replay::{replay, Divergence, ReplayVerdict};
use connseq_conformance::sources::{bfs_traces, random_walks, DEFAULT_DEPTH, DEFAULT_WALK_LEN};
use connseq_conformance::store::TraceWriter;
use connseq_conformance::trace::{Observation, PeerObs, Trace, TraceModel};
use connseq_model::check::System;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Depth bound of the breadth-first traces; 0 replays none (walks only).
    #[arg(long, visible_alias = "bfs-depth", default_value_t = DEFAULT_DEPTH)]
    pub depth: usize,
    /// Also replay this many seeded random walks.
    #[arg(long, default_value_t = 0)]
    pub traces: usize,
    /// Seed of the walks: the same seed gives the same walks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Length bound of a walk (it stops earlier at a terminal state).
    #[arg(long, default_value_t = DEFAULT_WALK_LEN)]
    pub max_len: usize,
    /// Replay one ITF trace file, printing each step (the model is the file's).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["depth", "traces", "seed", "max_len", "preset", "features"])]
    pub trace: Option<PathBuf>,
    /// Where divergent traces are written, as ITF files with an index.
    #[arg(long, value_name = "DIR", default_value = "target/conformance-divergences")]
    pub out: PathBuf,
}

pub fn run(a: &ReplayArgs) -> CliResult {
    if let Some(file) = &a.trace {
        return run_one(file);
    }
    let sys = a.model.system();
    let mut traces = Vec::new();
    let mut origin = Vec::new();
    if a.depth > 0 {
        traces = bfs_traces(&sys, a.depth);
        origin.push(format!("bfs depth {}: {}", a.depth, traces.len()));
    }
    if a.traces > 0 {
        let walks = random_walks(&sys, a.traces, a.max_len, a.seed);
        origin.push(format!("walks seed {} max-len {}: {}", a.seed, a.max_len, walks.len()));
        traces.extend(walks);
    }
    println!(
        "replay: preset {} features [{}], {} traces ({})",
        sys.cfg.preset,
        itf::features_text(sys.cfg.features),
        traces.len(),
        origin.join("; ")
    );
    let start = Instant::now();
    let mut tally = Tally::default();
    let mut progress = Progress::stdout();
    for (i, t) in traces.iter().enumerate() {
        tally.add(t, replay(&sys, &sys.init_states()[t.init], &t.actions));
        progress.show(|| {
            format!(
                "{}/{}  agree {}  explained {}  unsupported {}  diverge {}  {:.1} s",
                i + 1,
                traces.len(),
                tally.agree,
                tally.explained.values().sum::<usize>(),
                tally.unsupported.values().sum::<usize>(),
                tally.diverged.len(),
                start.elapsed().as_secs_f64()
            )
        });
    }
    progress.clear();
    print!("{}", tally.summary(traces.len(), start.elapsed()));
    if tally.diverged.is_empty() {
        // A harness error is not a pass: exit 2, as for any error of the tool.
        return Ok(if tally.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) });
    }
    let files = write_divergences(&sys, &a.out, &tally.diverged)?;
    for ((t, d), file) in tally.diverged.iter().zip(&files) {
        println!();
        print_divergence(t, d);
        println!("  written to {}", file.display());
        println!("  replay it: connseq-conformance replay --trace {}", file.display());
    }
    Ok(ExitCode::from(1))
}

/// The outcomes of a campaign.
#[derive(Debug, Default)]
struct Tally {
    agree: usize,
    compared: usize,
    explained: BTreeMap<String, usize>,
    unsupported: BTreeMap<String, usize>,
    errors: BTreeMap<String, usize>,
    diverged: Vec<(Trace, Divergence)>,
}

impl Tally {
    fn add(&mut self, t: &Trace, outcome: ReplayVerdict) {
        match outcome {
            ReplayVerdict::Agrees { compared } => {
                self.agree += 1;
                self.compared += compared;
            }
            ReplayVerdict::Explained(why) => *self.explained.entry(reason(&why)).or_default() += 1,
            ReplayVerdict::Unsupported(why) => *self.unsupported.entry(reason(&why)).or_default() += 1,
            ReplayVerdict::HarnessError(why) => *self.errors.entry(reason(&why)).or_default() += 1,
            ReplayVerdict::Diverges(d) => self.diverged.push((t.clone(), d)),
        }
    }

    fn summary(&self, traces: usize, wall: Duration) -> String {
        let mut s = String::new();
        let row = |s: &mut String, name: &str, n: usize| s.push_str(&format!("  {name:<12} {n:>7}\n"));
        row(&mut s, "traces", traces);
        s.push_str(&format!("  {:<12} {:>7}   ({} comparisons)\n", "agree", self.agree, self.compared));
        row(&mut s, "explained", self.explained.values().sum());
        for (why, n) in &self.explained {
            s.push_str(&format!("      {n:>7}   {why}\n"));
        }
        row(&mut s, "unsupported", self.unsupported.values().sum());
        for (why, n) in &self.unsupported {
            s.push_str(&format!("      {n:>7}   {why}\n"));
        }
        row(&mut s, "errors", self.errors.values().sum());
        for (why, n) in &self.errors {
            s.push_str(&format!("      {n:>7}   {why}\n"));
        }
        row(&mut s, "diverge", self.diverged.len());
        s.push_str(&format!("  {:<12} {:>7.1} s\n", "wall time", wall.as_secs_f64()));
        s
    }
}

/// A reason with the steps it names made generic (`step 4 (client reads):
/// ...` becomes `step N: ...`), so that one reason at different steps is
/// counted once.
fn reason(why: &str) -> String {
    let mut out = String::with_capacity(why.len());
    let mut rest = why;
    while let Some(pos) = rest.find("step ") {
        out.push_str(&rest[..pos + 5]);
        rest = &rest[pos + 5..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push('N');
            rest = &rest[digits..];
            // The action the step names, in parentheses.
            if let Some(close) = rest.strip_prefix(" (").and_then(|r| r.find(')').map(|c| c + 3)) {
                rest = &rest[close..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The step a reason starts with (`step 4 ...`), if any.
fn first_step(why: &str) -> Option<usize> {
    let rest = why.strip_prefix("step ")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[..digits].parse().ok()
}

fn print_divergence(t: &Trace, d: &Divergence) {
    println!("DIVERGES: {} (initial state {}), {} actions", t.source, t.init, t.len());
    println!("  trace: {}", t.actions_text());
    println!("  at step {} ({}): {}", d.step, d.action, d.what);
    println!("    the model predicts: {}", d.expected);
    println!("    the real run gave:  {}", d.actual);
}

/// Writes the divergent traces into `dir`; returns their paths, in order.
fn write_divergences(
    sys: &System,
    dir: &Path,
    diverged: &[(Trace, Divergence)],
) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let mut w = TraceWriter::create(dir, "divergence", TraceModel::of(&sys.cfg))?;
    let mut files = Vec::new();
    for (t, _) in diverged {
        files.push(dir.join(w.add(t)?));
    }
    let what: Vec<_> =
        diverged.iter().map(|(t, d)| json!({ "origin": t.source.to_string(), "divergence": d.to_string() })).collect();
    w.finish("replay divergences", json!({ "divergences": what }))?;
    Ok(files)
}

/// `--trace FILE`: replays one trace and prints each step with the model's
/// observation, marking where the comparison stopped.
fn run_one(file: &Path) -> CliResult {
    let t = itf::read_file(file)?;
    let sys = t.model.system();
    t.verify(&sys)?;
    println!(
        "{}: {} (preset {} features [{}], initial state {}), {} actions",
        file.display(),
        t.source,
        t.model.preset,
        itf::features_text(t.model.features),
        t.init,
        t.len()
    );
    let outcome = replay(&sys, &sys.init_states()[t.init], &t.actions);
    let stop = match &outcome {
        ReplayVerdict::Diverges(d) => Some(d.step),
        ReplayVerdict::Explained(why) | ReplayVerdict::Unsupported(why) => first_step(why),
        ReplayVerdict::HarnessError(_) => None,
        ReplayVerdict::Agrees { .. } => None,
    };
    println!("  step  {:<34} {:<9} {:<22} {:<22} termination", "action", "si", "client read", "server read");
    for (i, a) in t.actions.iter().enumerate() {
        let mark = match stop {
            Some(s) if i == s => "X",
            Some(s) if i > s => ".",
            _ => " ",
        };
        let o = &t.observations[i + 1];
        println!(
            "{mark} {i:>4}  {:<34} {:<9} {:<22} {:<22} {}",
            a.to_string(),
            si(o),
            peer(&o.client),
            peer(&o.server),
            term(o)
        );
    }
    println!("  (X: where the comparison stopped; .: not replayed)");
    match outcome {
        ReplayVerdict::Agrees { compared } => {
            println!("agrees ({compared} comparisons)");
            Ok(ExitCode::SUCCESS)
        }
        ReplayVerdict::Explained(why) => {
            println!("explained: {why}");
            Ok(ExitCode::SUCCESS)
        }
        ReplayVerdict::Unsupported(why) => {
            println!("unsupported: {why}");
            Ok(ExitCode::SUCCESS)
        }
        ReplayVerdict::HarnessError(why) => {
            println!("harness error: {why}");
            Ok(ExitCode::from(2))
        }
        ReplayVerdict::Diverges(d) => {
            print_divergence(&t, &d);
            Ok(ExitCode::from(1))
        }
    }
}

fn si(o: &Observation) -> String {
    format!("{}/{}", o.si_front, o.si_back)
}

fn peer(p: &PeerObs) -> String {
    let mut s: Vec<String> = p.received.iter().map(|c| format!("{c:?}")).collect();
    if p.fin {
        s.push("FIN".into());
    }
    if p.rst {
        s.push("RST".into());
    }
    if s.is_empty() {
        "-".into()
    } else {
        s.join(" ")
    }
}

fn term(o: &Observation) -> String {
    o.termination.map(|c| c.to_string()).unwrap_or_default()
}

/// A progress line redrawn in place (carriage return) when the stream is a
/// terminal, at most every 100 ms; nothing otherwise.
#[derive(Debug)]
pub struct Progress {
    /// Stdout (`true`) or stderr, when it is a terminal.
    to_stdout: Option<bool>,
    last: Option<Instant>,
    width: usize,
}

impl Progress {
    /// On stdout, if it is a terminal.
    pub fn stdout() -> Progress {
        Progress { to_stdout: std::io::stdout().is_terminal().then_some(true), last: None, width: 0 }
    }

    /// On stderr, if it is a terminal.
    pub fn stderr() -> Progress {
        Progress { to_stdout: std::io::stderr().is_terminal().then_some(false), last: None, width: 0 }
    }

    fn write(&self, text: &str) {
        let _ = match self.to_stdout {
            Some(true) => std::io::stdout().write_all(text.as_bytes()).and_then(|()| std::io::stdout().flush()),
            Some(false) => std::io::stderr().write_all(text.as_bytes()),
            None => Ok(()),
        };
    }

    /// Redraws the line with `text()` (only computed when drawn).
    pub fn show(&mut self, text: impl FnOnce() -> String) {
        if self.to_stdout.is_none() || self.last.is_some_and(|l| l.elapsed() < Duration::from_millis(100)) {
            return;
        }
        self.last = Some(Instant::now());
        let text = text();
        let pad = self.width.saturating_sub(text.len());
        self.write(&format!("\r{text}{:pad$}", ""));
        self.width = text.len();
    }

    /// Erases the line.
    pub fn clear(&mut self) {
        if self.width > 0 {
            self.write(&format!("\r{:w$}\r", "", w = self.width));
            self.width = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_counted_without_their_steps() {
        assert_eq!(
            reason("step 3 (client reads): the model's RST destroyed a FIN"),
            "step N: the model's RST destroyed a FIN"
        );
        assert_eq!(reason("step 7: after step 4 the kernel resets"), "step N: after step N the kernel resets");
        assert_eq!(reason("a timer fires first"), "a timer fires first");
        assert_eq!(first_step("step 12: after step 4"), Some(12));
        assert_eq!(first_step("a timer"), None);
    }
}
