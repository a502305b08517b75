//! `walks`: seeded random walks over the enabled actions, one ITF file each.

use super::model_args::ModelArgs;
use super::CliResult;
use clap::Args;
use connseq_conformance::sources::{random_walks, DEFAULT_WALK_LEN};
use connseq_conformance::store::TraceWriter;
use connseq_conformance::trace::TraceModel;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct WalksArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Number of walks.
    #[arg(long, default_value_t = 100)]
    pub traces: usize,
    /// Seed: the same seed gives the same walks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Length bound of a walk (it stops earlier at a terminal state).
    #[arg(long, default_value_t = DEFAULT_WALK_LEN)]
    pub max_len: usize,
    /// Output directory (created if needed).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: &WalksArgs) -> CliResult {
    let sys = a.model.system();
    let walks = random_walks(&sys, a.traces, a.max_len, a.seed);
    let mut w = TraceWriter::create(&a.out, &format!("walk-s{}", a.seed), TraceModel::of(&sys.cfg))?;
    let mut steps = 0;
    for t in &walks {
        steps += t.len();
        w.add(t)?;
    }
    let index = w.finish(
        &format!("walk seed={} max-len={}", a.seed, a.max_len),
        json!({ "walks": walks.len(), "steps": steps }),
    )?;
    println!("{} walks, {steps} steps (seed {}) -> {}", walks.len(), a.seed, index.display());
    Ok(ExitCode::SUCCESS)
}
