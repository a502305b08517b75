//! `connseq check`: exhaustive search of the model, a table of properties,
//! counterexamples as numbered steps.

use super::model_args::ModelArgs;
use clap::Args;
use connseq_model::check::{self, CheckOptions, Report, Strategy, Verdict};
use connseq_model::core::Mutant;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Run with a deliberate bug in the core (see --list-mutants). The mutant
    /// brings the features it needs (and two chunks each way, two-chunk
    /// buffers); the search stops at the first violation unless --exhaustive.
    #[arg(long)]
    mutant: Option<Mutant>,
    /// With --mutant: search the whole space anyway.
    #[arg(long)]
    exhaustive: bool,
    /// List the mutants and exit.
    #[arg(long)]
    list_mutants: bool,
    /// Breadth-first search (shortest traces, far more memory).
    #[arg(long)]
    bfs: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Check the servers' health model instead (`check::health`: the core's
    /// health counter, operator states and the balancer), exhaustively.
    #[arg(long, conflicts_with_all = ["mutant", "list_mutants", "bfs"])]
    health: bool,
}

pub fn run(a: CheckArgs) -> Result<ExitCode, String> {
    if a.list_mutants {
        for m in Mutant::ALL {
            println!("{:<26} {}", m.name(), m.description());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if a.health {
        return Ok(check_health(a.json));
    }
    let mut cfg = a.model.config();
    if let Some(m) = a.mutant {
        // A mutant brings the features and the room it needs to show.
        cfg = check::runner::mutant_config(cfg, m);
    }
    let opts = CheckOptions {
        threads: a.model.threads,
        strategy: if a.bfs { Strategy::Bfs } else { Strategy::Dfs },
        stop_at_first_failure: a.mutant.is_some() && !a.exhaustive,
        ..CheckOptions::default()
    };
    let live = std::io::stderr().is_terminal() && !a.json;
    // Not on a terminal (CI, a log file): one plain line a minute, so a long
    // search shows how far it got.
    let mut next_line = std::time::Duration::from_secs(60);
    let mut progress = |p: check::runner::Progress| {
        if !live && !a.json && p.elapsed >= next_line {
            next_line += std::time::Duration::from_secs(60);
            eprintln!(
                "checking {}: {} states, {} unique, depth {}, {:.0} s",
                cfg.preset,
                p.states,
                p.unique,
                p.depth,
                p.elapsed.as_secs_f64()
            );
        }
        if live {
            let secs = p.elapsed.as_secs_f64().max(0.001);
            eprint!(
                "\r\x1b[2Kchecking {}: {} states, {} unique, depth {}, {:.0} unique/s",
                cfg.preset,
                p.states,
                p.unique,
                p.depth,
                p.unique as f64 / secs
            );
            let _ = std::io::stderr().flush();
        }
    };
    let report = check::check(cfg, opts, &mut progress);
    if live {
        eprint!("\r\x1b[2K");
    }
    if a.json {
        println!("{}", report.to_json());
    } else {
        print_table(&report);
    }
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `check --health`: the health model, breadth-first and whole; the exit
/// status is the verdict (0: every property holds and every witness is
/// reached).
fn check_health(json: bool) -> ExitCode {
    use check::health::{HealthModel, HealthMutant};
    use stateright::{Checker, Expectation, Model};
    let model = HealthModel::new(HealthMutant::None);
    let start = std::time::Instant::now();
    let checker = model.clone().checker().spawn_bfs().join();
    let secs = start.elapsed().as_secs_f64();
    let results: Vec<(&str, &str, bool)> = model
        .properties()
        .iter()
        .map(|p| {
            let found = checker.discovery(p.name).is_some();
            let (kind, ok) = match p.expectation {
                Expectation::Always => ("always", !found),
                Expectation::Sometimes => ("sometimes", found),
                Expectation::Eventually => ("eventually", !found),
            };
            (p.name, kind, ok)
        })
        .collect();
    let passed = results.iter().all(|r| r.2);
    if json {
        let props: Vec<_> =
            results.iter().map(|(n, k, ok)| serde_json::json!({ "name": n, "kind": k, "holds": ok })).collect();
        let out = serde_json::json!({
            "model": "health",
            "rise": model.rules.rise,
            "fall": model.rules.fall,
            "unique_states": checker.unique_state_count(),
            "seconds": secs,
            "properties": props,
            "passed": passed,
        });
        println!("{out}");
    } else {
        println!(
            "health model (rise {}, fall {}): {} unique states, {:.2} s",
            model.rules.rise,
            model.rules.fall,
            checker.unique_state_count(),
            secs
        );
        for (n, k, ok) in &results {
            let verdict = match (*k, *ok) {
                ("sometimes", true) => "witnessed",
                ("sometimes", false) => "UNWITNESSED",
                (_, true) => "holds",
                (_, false) => "VIOLATED",
            };
            println!("{n:<84}  {k:<10}  {verdict}");
        }
        println!("{}", if passed { "all properties pass" } else { "a property fails" });
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_table(r: &Report) {
    let feats: Vec<_> = r.cfg.features.iter().map(|f| f.name()).collect();
    println!(
        "preset {} [{}]{}: {} unique states ({} generated), max depth {}, {:.1} s, {:.0} unique states/s",
        r.cfg.preset,
        feats.join(","),
        if r.cfg.mutant == Mutant::None { String::new() } else { format!(", mutant {}", r.cfg.mutant) },
        r.unique_states,
        r.states,
        r.max_depth,
        r.seconds,
        r.rate()
    );
    let w = r.properties.iter().map(|p| p.def.name.len()).max().unwrap_or(8);
    println!();
    println!("{:<w$}  {:<10}  {:<11}  trace", "property", "kind", "result", w = w);
    println!("{}", "-".repeat(w + 32));
    for p in &r.properties {
        let len = p.trace.as_ref().map(|t| t.len().to_string()).unwrap_or_else(|| "-".into());
        println!("{:<w$}  {:<10}  {:<11}  {}", p.def.name, p.def.kind.name(), p.verdict.name(), len, w = w);
    }
    for p in r.properties.iter().filter(|p| !p.verdict.passes()) {
        if let Some(t) = &p.trace {
            println!();
            println!("counterexample for \"{}\" ({} steps):", p.def.name, t.len());
            if let Some(i) = &p.init {
                println!("   0. initial state\n      {i}");
            }
            for (i, s) in t.iter().enumerate() {
                println!("  {:>2}. {}\n      {}", i + 1, s.what, s.after);
            }
        }
    }
    println!();
    let violated = r.violated().count();
    let unwitnessed = r.properties.iter().filter(|p| p.verdict == Verdict::Unwitnessed).count();
    let unchecked = r.properties.iter().filter(|p| p.verdict == Verdict::Unchecked).count();
    let mutant = r.cfg.mutant != Mutant::None;
    if violated > 0 {
        let names: Vec<_> = r.violated().map(|p| format!("\"{}\"", p.def.name)).collect();
        println!("{violated} of {} properties violated: {}", r.properties.len(), names.join(", "));
        if mutant {
            let how = if r.observably_violated() { "" } else { " (by internal checks only)" };
            println!("mutant {} refuted{how}", r.cfg.mutant);
        }
        if unchecked > 0 {
            println!(
                "{unchecked} properties unchecked: the search stopped at the first violation (--exhaustive to go on)"
            );
        }
    } else if mutant {
        println!(
            "mutant {} survives: no property is violated in the whole space ({} unique states)",
            r.cfg.mutant, r.unique_states
        );
    } else if unwitnessed > 0 {
        println!("{unwitnessed} of {} witnesses never reached", r.properties.len());
    } else {
        println!("all {} properties pass", r.properties.len());
    }
    let o = r.obligations_json();
    if !r.stopped_early {
        println!(
            "liveness obligations, where a behaviour may end ({} states): delivery applies in {} of {} with data sent (share {}), end of stream in {} of {} (share {})",
            o["stop_states"], o["delivery"]["applies"], o["delivery"]["with_data"], o["delivery"]["share_applies"],
            o["end_of_stream"]["applies"], o["end_of_stream"]["with_end"], o["end_of_stream"]["share_applies"]
        );
    }
}
