//! Command-line interface.

mod check;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// connseq: connection layering and sequencing, model-checked.
#[derive(Debug, Parser)]
#[command(name = "connseq", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Model-check the connection-sequencing core (exhaustive search).
    Check(check::CheckArgs),
}

/// Runs the chosen command.
pub fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Check(a) => check::run(a),
    }
}
