//! `side-by-side`: connseq, HAProxy 2.6 and a direct connection under the
//! same load, interleaved, several rounds; writes the results (Markdown,
//! SVG, the raw samples) into `--out`. See docs/performance.md.
//!
//! ```sh
//! cargo run --release -p connseq-benches --bin side-by-side -- --quick
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Parser;
use connseq_benches::side::{self, cases::CASES, load::Window, targets::Setup, Plan};

/// connseq against HAProxy 2.6 and the direct path, side by side.
#[derive(Debug, Parser)]
#[command(name = "side-by-side")]
struct Args {
    /// About a minute: one round, short windows, 1,000 idle connections.
    #[arg(long)]
    quick: bool,
    /// Rounds (default 3; 1 with --quick).
    #[arg(long)]
    rounds: Option<usize>,
    /// Seconds measured per case and target (default 2; 0.3 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// Proxy thread counts, comma-separated (default: 1 and every core).
    #[arg(long, value_delimiter = ',')]
    threads: Vec<usize>,
    /// Idle connections for the memory measure (default 7,000: the bench
    /// holds both ends of each and HAProxy wants 2.5 descriptors per
    /// `maxconn`, under a hard limit of 20,000 here; 1,000 with --quick;
    /// 0 skips it).
    #[arg(long)]
    idle_conns: Option<usize>,
    /// Only the cases whose id contains one of these (copy-1, splice-8,
    /// tls-term-1, conn-tls-full, latency...), comma-separated.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Clients of the short-connection cases.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Where the results go.
    #[arg(long, default_value = "target/side-by-side")]
    out: PathBuf,
    /// The connseq binary (default: `cargo build --release` it, then target/release/connseq).
    #[arg(long)]
    connseq: Option<PathBuf>,
    /// The HAProxy binary (default: `haproxy` on the PATH, installed with apt-get if missing).
    #[arg(long)]
    haproxy: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("side-by-side: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if args.threads.is_empty() {
        if cores > 1 {
            vec![1, cores]
        } else {
            vec![1]
        }
    } else {
        args.threads.clone()
    };
    let (rounds, seconds, idle, warmup) = if args.quick { (1, 0.3, 1_000, 0.15) } else { (3, 2.0, 7_000, 0.5) };
    let seconds = args.seconds.unwrap_or(seconds);
    let cases: Vec<_> = CASES
        .iter()
        .filter(|c| args.only.is_empty() || args.only.iter().any(|o| c.id.contains(o.as_str())))
        .copied()
        .collect();
    let idle_conns = args.idle_conns.unwrap_or(if args.only.is_empty() { idle } else { 0 });
    let haproxy = match args.haproxy {
        Some(p) => p,
        None => find_or_install_haproxy()?,
    };
    let connseq = match args.connseq {
        Some(p) => p,
        None => build_connseq()?,
    };
    raise_nofile()?;
    let work = args.out.join("work");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    // Absolute: the proxies' configurations name the certificate files, and
    // connseq reads a relative path from the configuration file's directory.
    let work = work.canonicalize().map_err(|e| format!("{}: {e}", work.display()))?;
    let plan = Plan {
        rounds: args.rounds.unwrap_or(rounds),
        window: Window { warmup: Duration::from_secs_f64(warmup), measure: Duration::from_secs_f64(seconds) },
        threads,
        idle_conns,
        idle_rounds: if args.quick { 1 } else { 2 },
        clients: args.clients,
        cases,
        out: args.out.clone(),
        setup: Setup { connseq, haproxy, dir: work, certs: placeholder_certs() },
    };
    let samples = side::run(&plan).map_err(|e| e.to_string())?;
    let md = side::write(&plan, &samples).map_err(|e| e.to_string())?;
    println!("{md}");
    eprintln!("side-by-side: results in {}", args.out.display());
    Ok(())
}

/// The certificate paths are filled by `side::run` once it made them.
fn placeholder_certs() -> side::tls::CertFiles {
    side::tls::CertFiles { cert: PathBuf::new(), key: PathBuf::new(), combined: PathBuf::new() }
}

/// Descriptors for the idle-memory measure: the bench holds both ends of
/// every connection and each proxy needs two per connection (HAProxy
/// refuses to start below what its `maxconn` needs). As root the hard limit
/// is raised too; otherwise the soft limit goes up to the hard one.
fn raise_nofile() -> Result<(), String> {
    const WANT: u64 = 65_536;
    if rlimit::setrlimit(rlimit::Resource::NOFILE, WANT, WANT).is_ok() {
        return Ok(());
    }
    rlimit::increase_nofile_limit(WANT).map(|_| ()).map_err(|e| format!("cannot raise the descriptor limit: {e}"))
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn find_or_install_haproxy() -> Result<PathBuf, String> {
    if let Some(p) = on_path("haproxy") {
        return Ok(p);
    }
    eprintln!("side-by-side: haproxy not found; installing it with apt-get");
    let ok = Command::new("apt-get").args(["install", "-y", "-qq", "haproxy"]).status().is_ok_and(|s| s.success())
        || (Command::new("apt-get").args(["update", "-qq"]).status().is_ok_and(|s| s.success())
            && Command::new("apt-get").args(["install", "-y", "-qq", "haproxy"]).status().is_ok_and(|s| s.success()));
    if !ok {
        return Err("haproxy is missing and `apt-get install haproxy` failed; pass --haproxy PATH".to_owned());
    }
    on_path("haproxy").ok_or_else(|| "haproxy installed but not found on the PATH".to_owned())
}

/// `cargo build --release -p connseq` (a no-op when it is fresh), then the binary beside this one.
fn build_connseq() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--release", "--quiet", "-p", "connseq", "--bin", "connseq"]);
    // `cargo run` gives this process the variables of its own package; passed
    // on, they make the nested build look different from a plain one and
    // rebuild connseq each time the two alternate.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let ours = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_", "CARGO_CRATE_", "CARGO_PRIMARY_PACKAGE"]
            .iter()
            .any(|p| key.starts_with(p));
        if ours || key == "CARGO_RUSTC_CURRENT_DIR" {
            build.env_remove(&key);
        }
    }
    let status = build.status().map_err(|e| format!("cannot run cargo to build connseq: {e}; pass --connseq PATH"))?;
    if !status.success() {
        return Err("cargo build of connseq failed".to_owned());
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let beside = me.with_file_name("connseq");
    if beside.is_file() {
        Ok(beside)
    } else {
        Err(format!("{} not found after the build; pass --connseq PATH", beside.display()))
    }
}
