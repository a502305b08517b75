//! `connseq explore`: stateright's Explorer, a web UI to walk the model's
//! states one action at a time, see each property's status and replay
//! counterexamples.

use super::model_args::ModelArgs;
use clap::Args;
use connseq_model::check::ConnseqModel;
use stateright::Model;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// Address to serve the Explorer on (keep it on loopback: it has no
    /// authentication).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// The model to explore; states are computed on demand, as the UI asks.
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(a: ExploreArgs) -> Result<ExitCode, String> {
    let cfg = a.model.config();
    // stateright's server panics if it cannot bind: find out first, and say why.
    let probe = TcpListener::bind(a.addr).map_err(|e| format!("cannot listen on {}: {e}", a.addr))?;
    let addr = probe.local_addr().map_err(|e| format!("cannot read the address bound for {}: {e}", a.addr))?;
    drop(probe);
    let feats: Vec<_> = cfg.features.iter().map(|f| f.name()).collect();
    println!("Explorer for preset {} [{}]: http://{addr}/", cfg.preset, feats.join(","));
    // Serves until the process is stopped.
    ConnseqModel::new(cfg).checker().threads(a.model.threads.max(1)).serve(addr);
    Ok(ExitCode::SUCCESS)
}
