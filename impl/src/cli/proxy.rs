//! `connseq proxy`: run the proxy from flags, a TOML file or an HAProxy
//! configuration until SIGINT, SIGTERM or SIGUSR1, then let sessions finish
//! (for the grace period after SIGINT or SIGTERM). `--check` validates the
//! configuration without binding anything; `--print-config` prints it as
//! parsed.
//!
//! Logs go through `tracing` to stderr, filtered by `CONNSEQ_LOG` (the
//! `tracing_subscriber::EnvFilter` syntax; default `info`): one line per
//! session at its end (target `connseq::session`), the runtime's events
//! (`connseq::runtime`) and, at trace level, every state move of the core
//! (`connseq::core`). The `connseq: listening on IP:PORT` lines are not
//! logs but part of the interface, printed before any log line.

use clap::{ArgMatches, Args};
use connseq::config::{to_toml, ProxyArgs};
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// The environment variable that filters the logs.
pub const LOG_ENV: &str = "CONNSEQ_LOG";

#[derive(Debug, Args)]
pub struct ProxyCommand {
    /// Boxed: the flags outweigh every other command's by far.
    #[command(flatten)]
    args: Box<ProxyArgs>,

    /// Check the configuration (values, files, certificates, addresses)
    /// without binding anything, then exit: 0 when it is valid, 2 when not.
    #[arg(short = 'c', long, help_heading = "Operations")]
    check: bool,

    /// Print the configuration as parsed, in TOML (a file --config loads),
    /// and exit; with --check, print it and check it.
    #[arg(long, help_heading = "Operations")]
    print_config: bool,

    /// Take the listening sockets over from the connseq process whose
    /// runtime API listens on this Unix socket (HAProxy's -x): no
    /// connection is refused while both run; the old process stops
    /// accepting once this one runs, and finishes its sessions.
    #[arg(short = 'x', long, value_name = "SOCKET", help_heading = "Operations")]
    takeover: Option<PathBuf>,
}

impl ProxyCommand {
    /// Records the command-line order of the rule flags from the
    /// subcommand's `matches` (see [`ProxyArgs::order_rules`]).
    pub fn order_rules(&mut self, matches: &ArgMatches) {
        self.args.order_rules(matches);
    }

    /// The configuration the flags describe.
    #[cfg(test)]
    pub fn into_config(self) -> Result<connseq::config::ProxyConfig, connseq::config::ConfigError> {
        self.args.into_config()
    }
}

pub fn run(cmd: ProxyCommand) -> Result<ExitCode, String> {
    let loaded = cmd.args.load().map_err(|e| e.to_string())?;
    for w in &loaded.warnings {
        eprintln!("connseq: warning: {w}");
    }
    let config = loaded.config;
    if cmd.print_config {
        print!("{}", to_toml(&config));
    }
    if cmd.check {
        connseq::runtime::check(&config).map_err(|e| format!("proxy: {e}"))?;
        let backends = config.backends();
        let servers: usize = backends.iter().map(|b| b.servers.len()).sum();
        println!(
            "connseq: configuration is valid ({} listeners, {} backends, {servers} servers)",
            config.listeners.len(),
            backends.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if cmd.print_config {
        return Ok(ExitCode::SUCCESS);
    }
    let filter = match std::env::var(LOG_ENV) {
        Ok(spec) => EnvFilter::try_new(&spec).map_err(|e| format!("{LOG_ENV}={spec}: {e}"))?,
        Err(_) => EnvFilter::new("info"),
    };
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).init();
    let run = connseq::service::Run { takeover: cmd.takeover };
    connseq::service::run(&config, run).map_err(|e| format!("proxy: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
