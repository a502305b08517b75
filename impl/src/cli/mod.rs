//! Command-line interface.

mod check;
mod diagram;
mod explore;
mod model_args;
mod proxy;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

/// connseq: connection layering and sequencing, model-checked.
#[derive(Debug, Parser)]
#[command(name = "connseq", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Parses the process's arguments as [`Parser::parse`] does (printing
    /// clap's message and exiting on an error), and also keeps what the
    /// derived fields lose: the command-line order of `connseq proxy`'s
    /// `--allow`/`--deny` rules, where the first match wins.
    pub fn parse_in_order() -> Cli {
        let matches = Cli::command().get_matches();
        Cli::from_matches(&matches).unwrap_or_else(|e| e.format(&mut Cli::command()).exit())
    }

    /// The command `matches` describe, with the rule order recorded.
    fn from_matches(matches: &ArgMatches) -> Result<Cli, clap::Error> {
        let mut cli = Cli::from_arg_matches(matches)?;
        if let (Command::Proxy(proxy), Some(("proxy", sub))) = (&mut cli.command, matches.subcommand()) {
            proxy.order_rules(sub);
        }
        Ok(cli)
    }
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
    /// Run the TCP proxy.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_rules_keep_their_command_line_order() {
        let argv = [
            "connseq",
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--server",
            "127.0.0.1:1",
            "--deny",
            "10.0.0.0/8",
            "--allow",
            "10.1.0.0/16",
            "--deny",
            "0.0.0.0/0",
        ];
        let matches = Cli::command().try_get_matches_from(argv).expect("valid command line");
        let Command::Proxy(proxy) = Cli::from_matches(&matches).expect("matches fit").command else {
            panic!("the proxy command")
        };
        let rules = proxy.into_config().expect("valid configuration").listeners[0].options.conn_rules.clone();
        let written: Vec<String> = rules.0.iter().map(|r| format!("{:?} {}", r.verdict, r.net)).collect();
        assert_eq!(written, ["Deny 10.0.0.0/8", "Allow 10.1.0.0/16", "Deny 0.0.0.0/0"]);
    }
}
