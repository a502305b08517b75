//! `connseq proxy`: run the proxy from flags or a TOML file until SIGINT,
//! SIGTERM or SIGUSR1, then let sessions finish for the grace period.

use clap::Args;
use connseq::config::ProxyArgs;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ProxyCommand {
    #[command(flatten)]
    args: ProxyArgs,
}

pub fn run(cmd: ProxyCommand) -> Result<ExitCode, String> {
    let config = cmd.args.into_config().map_err(|e| e.to_string())?;
    connseq::runtime::run(&config).map_err(|e| format!("proxy: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
