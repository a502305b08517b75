//! Command-line interface.

mod check;
mod diagram;
mod explore;
mod model_args;
mod proxy;

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
    /// Serve stateright's Explorer web UI over the model.
    Explore(explore::ExploreArgs),
    /// Write Graphviz diagrams of the state machines, drawn from the
    /// transitions the model reached.
    Diagram(diagram::DiagramArgs),
    /// Run the TCP proxy (raw TCP, one event-loop thread in this version).
    Proxy(proxy::ProxyCommand),
}

/// Runs the chosen command.
pub fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Check(a) => check::run(a),
        Command::Explore(a) => explore::run(a),
        Command::Diagram(a) => diagram::run(a),
        Command::Proxy(a) => proxy::run(a),
    }
}
