//! Command-line interface: one module per subcommand, each with its
//! arguments (`clap::Args`) and a `run` function. A new subcommand is a new
//! module here, a variant of [`Command`] and an arm of [`run`].

mod blackbox;
mod coverage;
mod export;
mod model_args;
mod replay;
mod report;
mod walks;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// connseq-conformance: model traces for the conformance suite.
#[derive(Debug, Parser)]
#[command(name = "connseq-conformance", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write every breadth-first path to a depth as ITF files, plus an index.
    Export(export::ExportArgs),
    /// Write seeded random walks as ITF files, plus an index.
    Walks(walks::WalksArgs),
    /// Print which action kinds and (state class, action kind) edges the
    /// breadth-first traces (and, optionally, random walks) exercise.
    Coverage(coverage::CoverageArgs),
    /// Replay traces against the real runtime on loopback sockets and
    /// compare them with the model, step by step; or one trace file.
    ///
    /// Exits with status 1 when a trace diverges. The runtime prints one
    /// `connseq: listening on` line per trace to stderr: `2>/dev/null`
    /// leaves the progress line and the summary.
    Replay(replay::ReplayArgs),
    /// Hold an external TCP proxy (started by command) to the model on what
    /// its client and server see.
    Blackbox(blackbox::BlackboxArgs),
    /// Hold every proxy of a targets file to the model in black-box mode
    /// and write a Markdown report and a JSON file side by side.
    Report(report::ReportArgs),
}

/// What a subcommand returns on failure.
pub type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// Runs the command.
pub fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Export(a) => export::run(&a),
        Command::Walks(a) => walks::run(&a),
        Command::Coverage(a) => coverage::run(&a),
        Command::Replay(a) => replay::run(&a),
        Command::Blackbox(a) => blackbox::run(&a),
        Command::Report(a) => report::run(&a),
    }
}
