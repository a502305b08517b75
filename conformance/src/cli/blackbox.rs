//! `blackbox`: any TCP proxy held to the model on what its peers see (the
//! library's `blackbox` module). The harness binds the server's listener,
//! starts the proxy with `--target-cmd` (or finds it already listening at
//! `--target-addr`), plays each trace's client and server against it, and
//! prints the departures by class with one example each.
//!
//! The exit status is 1 when some run departed in a class the model does
//! not explain, 0 otherwise; 2 when the harness could not start.

use super::model_args::ModelArgs;
use super::replay::Progress;
use super::CliResult;
use clap::Args;
use connseq_conformance::blackbox::{self, Blackbox, Settle};
use connseq_conformance::itf::{self, features_text};
use connseq_conformance::pace::{Pace, Timeouts};
use connseq_conformance::proxy_peer::ProxyVersion;
use connseq_conformance::sources::{bfs_traces, random_walks, DEFAULT_DEPTH, DEFAULT_WALK_LEN};
use connseq_conformance::trace::{Sizes, TraceModel};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct BlackboxArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Depth bound of the breadth-first traces; 0 plays none (walks only).
    #[arg(long, visible_alias = "bfs-depth", default_value_t = DEFAULT_DEPTH)]
    pub depth: usize,
    /// Also play this many seeded random walks.
    #[arg(long, default_value_t = 0)]
    pub traces: usize,
    /// Seed of the walks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Length bound of a walk.
    #[arg(long, default_value_t = DEFAULT_WALK_LEN)]
    pub max_len: usize,
    /// The proxy's command, run through `sh -c` and stopped at the end; it
    /// must stay in the foreground (HAProxy: -db). `{server}` is replaced by
    /// the server's address, `{listen}` by the proxy's (--target-addr);
    /// `{cert}`, `{key}`, `{ca}`, `{cert_pem_bundle}` by the harness's
    /// certificate files (--feature tls-front, tls-back).
    /// E.g. 'connseq proxy --listen {listen} --server {server} --threads 1
    /// --retries 0'.
    #[arg(long, value_name = "CMD")]
    pub target_cmd: Option<String>,
    /// Where the proxy listens. With --target-cmd it defaults to a free
    /// loopback port; without, the proxy must already run there and connect
    /// to --server-addr.
    #[arg(long, value_name = "ADDR", required_unless_present = "target_cmd")]
    pub target_addr: Option<SocketAddr>,
    /// Where the harness's server listens; port 0 picks a free one (then
    /// only usable with --target-cmd, through `{server}`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub server_addr: SocketAddr,
    /// The proxy has settled when the peers' sockets showed nothing new for
    /// this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pub quiet_ms: u64,
    /// The longest a settle lasts, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub settle_max_ms: u64,
    /// How long the proxy may take to listen, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub start_timeout_ms: u64,
    /// The timeouts the proxy is configured with: `client=30s,server=30s,connect=5s`
    /// (also `client-fin`, `server-fin`, which default to `client` and `server`, and
    /// `handshake`, the wait for a client's PROXY header or TLS handshake, which defaults to
    /// `client` as in HAProxy 2.6).
    /// Timer traces wait past them; slow variants pause well below them.
    #[arg(long, value_name = "LIST", value_parser = Timeouts::parse, default_value = "client=30s,server=30s,connect=5s")]
    pub timeouts: Timeouts,
    /// Play at most this many traces that fire a timer (each waits past a
    /// declared timeout): those where a peer reads after the timer first, then the
    /// shortest waits.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub timer_runs: usize,
    /// Play at most this many slow variants (a peer pauses before its last
    /// actions, well below every timeout), one per shape of run.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub slow_runs: usize,
    /// A bigger world: the chunks each peer sends and what a wire and a
    /// buffer hold (`client=2,server=2,wire=2,buf=2,pipe=1`), over the
    /// preset's own.
    #[arg(long, value_name = "SIZES")]
    pub sizes: Option<Sizes>,
    /// Play one ITF trace file (as written by `report`) instead of the
    /// breadth-first traces and walks; with its slow variant unless
    /// --slow-runs 0.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["depth", "traces", "seed", "max_len", "sizes"])]
    pub trace: Option<PathBuf>,
    /// The PROXY header the client sends where the model's client sends one
    /// (--feature proxy-in; the proxy accepts it): v1 or v2.
    #[arg(long, value_name = "VERSION", default_value = "v1")]
    pub proxy_version: ProxyVersion,
    /// Write the certificate files the command's `{cert}`, `{key}`, `{ca}`
    /// and `{cert_pem_bundle}` name into this directory (by default, a
    /// directory of the harness's own under the system's temporary one).
    #[arg(long, value_name = "DIR")]
    pub pki_dir: Option<PathBuf>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &BlackboxArgs) -> CliResult {
    if a.target_cmd.is_none() && a.server_addr.port() == 0 {
        return Err("without --target-cmd, give --server-addr with the port the running proxy connects to".into());
    }
    let (sys, traces) = match &a.trace {
        Some(file) => {
            let t = itf::read_file(file)?;
            (t.model.system(), vec![t])
        }
        None => {
            let sys = match a.sizes {
                Some(sizes) => {
                    let mut m = TraceModel::of(&a.model.config());
                    m.sizes = sizes;
                    m.system()
                }
                None => a.model.system(),
            };
            let mut traces = if a.depth > 0 { bfs_traces(&sys, a.depth) } else { Vec::new() };
            if a.traces > 0 {
                traces.extend(random_walks(&sys, a.traces, a.max_len, a.seed));
            }
            // A target configured for TLS has no plain listener (server).
            traces.retain(|t| blackbox::fits_layers(&sys, t));
            (sys, traces)
        }
    };
    let settle = Settle {
        quiet: Duration::from_millis(a.quiet_ms),
        bound: Duration::from_millis(a.settle_max_ms),
        ..Settle::default()
    };
    let mut bb = Blackbox::bind(a.server_addr, a.target_addr, settle)?;
    bb.set_pace(Pace::new(a.timeouts, a.slow_runs, a.timer_runs));
    bb.set_proxy_version(a.proxy_version);
    if let Some(dir) = &a.pki_dir {
        bb.write_pki(dir)?;
    }
    let cmd = a.target_cmd.as_deref().map(|c| bb.substitute(c)).transpose()?;
    let start_timeout = Duration::from_millis(a.start_timeout_ms);
    match &cmd {
        Some(c) => bb.launch(c, start_timeout)?,
        None => bb.wait_listening(start_timeout)?,
    }
    if !a.json {
        println!(
            "blackbox: preset {} ({}) features [{}], {} traces; proxy at {}, server at {}{}",
            sys.cfg.preset,
            Sizes::of(&sys.cfg),
            features_text(sys.cfg.features),
            traces.len(),
            bb.target_addr(),
            bb.server_addr(),
            cmd.as_deref().map(|c| format!("; command: {c}")).unwrap_or_default()
        );
    }
    let mut progress = if a.json { Progress::stderr() } else { Progress::stdout() };
    let report = bb.campaign(&sys, &traces, |r, done, runs| {
        progress.show(|| {
            format!(
                "run {done}/{runs}  agree {}  departed {}  ({} traces)",
                r.agree_runs,
                r.classes.values().map(|t| t.runs).sum::<usize>(),
                r.traces
            )
        });
    });
    progress.clear();
    if a.json {
        let mut v = report.to_json();
        v["target"] = json!({
            "cmd": cmd,
            "listen": bb.target_addr().to_string(),
            "server": bb.server_addr().to_string(),
        });
        v["model"] = json!({ "preset": sys.cfg.preset.name(), "features": features_text(sys.cfg.features) });
        v["settle"] = json!({ "quiet_ms": a.quiet_ms, "max_ms": a.settle_max_ms });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", report.table());
    }
    Ok(if report.unexplained_runs() > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
