//! `connseq proxy`: run the proxy from flags or a TOML file until SIGINT,
//! SIGTERM or SIGUSR1, then let sessions finish (for the grace period after
//! SIGINT or SIGTERM).
//!
//! Logs go through `tracing` to stderr, filtered by `CONNSEQ_LOG` (the
//! `tracing_subscriber::EnvFilter` syntax; default `info`): one line per
//! session at its end (target `connseq::session`) and the runtime's events
//! (`connseq::runtime`). The `connseq: listening on IP:PORT` lines are not
//! logs but part of the interface, printed before any log line.

use clap::{ArgMatches, Args};
use connseq::config::{ConfigError, ProxyArgs, ProxyConfig};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// The environment variable that filters the logs.
pub const LOG_ENV: &str = "CONNSEQ_LOG";

#[derive(Debug, Args)]
pub struct ProxyCommand {
    /// Boxed: the flags outweigh every other command's by far.
    #[command(flatten)]
    args: Box<ProxyArgs>,
}

impl ProxyCommand {
    /// Records the command-line order of the rule flags from the
    /// subcommand's `matches` (see [`ProxyArgs::order_rules`]).
    pub fn order_rules(&mut self, matches: &ArgMatches) {
        self.args.order_rules(matches);
    }

    /// The configuration the flags describe.
    pub fn into_config(self) -> Result<ProxyConfig, ConfigError> {
        self.args.into_config()
    }
}

pub fn run(cmd: ProxyCommand) -> Result<ExitCode, String> {
    let config = cmd.into_config().map_err(|e| e.to_string())?;
    let filter = match std::env::var(LOG_ENV) {
        Ok(spec) => EnvFilter::try_new(&spec).map_err(|e| format!("{LOG_ENV}={spec}: {e}"))?,
        Err(_) => EnvFilter::new("info"),
    };
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).init();
    connseq::runtime::run(&config).map_err(|e| format!("proxy: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
