//! The soak: a million mixed sessions through a running `connseq` process.
//!
//! ```text
//! connseq-soak --proxy PATH [--sessions N] [--concurrency C] [--threads T] [--out DIR]
//! ```
//!
//! It starts its servers (one plain, one that expects a PROXY v2 header), writes a
//! configuration with three listeners (raw, TLS termination, accept-proxy with send-proxy
//! v2), starts the proxy with it, and runs a warm-up, then N sessions from C client threads
//! in the mix of [`session::Kind`]. Meanwhile it samples the proxy's descriptors, resident
//! memory and CPU time twice a second. At the end it checks:
//!
//! - every client saw what its kind must end with (the whole echo, intact, then EOF; for an
//!   abort, a correct prefix) and every server connection too;
//! - the proxy logged one line per session, under the address the client knows, with the
//!   termination code's first letter the kind explains (`-`, `C` for a client reset, `S` for
//!   a server reset);
//! - the descriptors come back to the idle baseline taken after the warm-up, and resident
//!   memory has no growth trend over the second half of the run;
//!
//! and writes `DIR/samples.csv`, `DIR/fds.svg`, `DIR/rss.svg` and `DIR/summary.txt`. The
//! exit status is 0 only if every check passed. `scripts/soak.sh` builds and runs it.

mod client;
mod plot;
mod sample;
mod server;
mod session;

use connseq_tls::rustls;
use sample::Sample;
use session::Kind;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

struct Args {
    proxy: PathBuf,
    sessions: u64,
    concurrency: usize,
    threads: usize,
    out: PathBuf,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        proxy: PathBuf::from("target/release/connseq"),
        sessions: 1_000_000,
        concurrency: 32,
        threads: 2,
        out: PathBuf::from("target/soak"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--proxy" => a.proxy = PathBuf::from(value()?),
            "--sessions" => a.sessions = value()?.parse().map_err(|e| format!("--sessions: {e}"))?,
            "--concurrency" => a.concurrency = value()?.parse().map_err(|e| format!("--concurrency: {e}"))?,
            "--threads" => a.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--out" => a.out = PathBuf::from(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() {
    let code = match args().and_then(|a| soak(&a)) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("connseq-soak: {e}");
            2
        }
    };
    std::process::exit(code);
}

/// What the proxy's stderr said.
#[derive(Default)]
struct ProxyLog {
    /// Session lines: the client address and the termination code.
    sessions: Vec<(SocketAddr, String)>,
    /// Warnings and errors.
    problems: Vec<String>,
}

fn soak(a: &Args) -> Result<bool, String> {
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let (tls_config, cert, key) = tls_files(&a.out)?;
    let counts = Arc::new(server::ServerCounts::default());
    let plain = server::start(false, counts.clone()).map_err(|e| format!("server: {e}"))?;
    let proxied = server::start(true, counts.clone()).map_err(|e| format!("server: {e}"))?;
    let config = a.out.join("proxy.toml");
    std::fs::write(&config, proxy_config(a.threads, plain, proxied, &cert, &key)).map_err(|e| e.to_string())?;

    let mut child = Command::new(&a.proxy)
        .args(["proxy", "--config"])
        .arg(&config)
        .env("CONNSEQ_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", a.proxy.display()))?;
    let pid = child.id();
    let log = Arc::new(Mutex::new(ProxyLog::default()));
    let result = match read_stderr(&mut child, log.clone()) {
        Ok(addrs) => drive(a, pid, &addrs, tls_config, &counts, &log),
        Err(e) => {
            thread::sleep(Duration::from_millis(200));
            let said = log.lock().map(|l| l.problems.join("; ")).unwrap_or_default();
            Err(format!("{e}: {said}"))
        }
    };
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let _ = child.wait();
    result
}

fn drive(
    a: &Args,
    pid: u32,
    addrs: &[SocketAddr],
    tls_config: Arc<rustls::ClientConfig>,
    counts: &server::ServerCounts,
    log: &Mutex<ProxyLog>,
) -> Result<bool, String> {
    let targets = client::Targets { raw: addrs[0], tls: addrs[1], proxy: addrs[2], tls_config };
    let start = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let sampler = {
        let (done, stop, samples) = (done.clone(), stop.clone(), samples.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                if let Ok(s) = sample::sample(pid, start, done.load(Ordering::Acquire)) {
                    samples.lock().unwrap_or_else(|e| e.into_inner()).push(s);
                }
                thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let idle_fds = sample::sample(pid, start, 0).map_err(|e| e.to_string())?.fds;

    // Warm-up: the pools and the allocator reach their working size.
    let warmup = (a.sessions / 100).clamp(1000, 20_000);
    let mut outcomes = run_sessions(&targets, 0..warmup, a.concurrency, &done);
    wait_idle(pid, idle_fds, start)?;
    let baseline = sample::sample(pid, start, done.load(Ordering::Acquire)).map_err(|e| e.to_string())?;
    let t_run = start.elapsed().as_secs_f64();
    outcomes.extend(run_sessions(&targets, warmup..warmup + a.sessions, a.concurrency, &done));
    let t_end = start.elapsed().as_secs_f64();
    let total = warmup + a.sessions;
    wait_until(Duration::from_secs(120), || log.lock().map_or(0, |l| l.sessions.len() as u64) >= total);
    wait_idle(pid, baseline.fds, start)?;
    let end = sample::sample(pid, start, done.load(Ordering::Acquire)).map_err(|e| e.to_string())?;
    stop.store(true, Ordering::Release);
    let _ = sampler.join();
    let samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let log = log.lock().unwrap_or_else(|e| e.into_inner());
    report(a, &outcomes, counts, &log, &samples, (baseline, end), (t_run, t_end))
}

/// Runs sessions `ids` from `concurrency` threads; every outcome with its kind.
fn run_sessions(
    t: &client::Targets,
    ids: std::ops::Range<u64>,
    concurrency: usize,
    done: &Arc<AtomicU64>,
) -> Vec<(Kind, client::Ended)> {
    let next = Arc::new(AtomicU64::new(ids.start));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (t, next, done, end) = (t.clone(), next.clone(), done.clone(), ids.end);
            thread::spawn(move || {
                let mut out = Vec::new();
                loop {
                    let id = next.fetch_add(1, Ordering::AcqRel);
                    if id >= end {
                        return out;
                    }
                    out.push((Kind::of(id), client::run(&t, id)));
                    done.fetch_add(1, Ordering::AcqRel);
                }
            })
        })
        .collect();
    workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect()
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Waits until the proxy holds `fds` descriptors again (its sessions lingering to their end).
fn wait_idle(pid: u32, fds: u64, start: Instant) -> Result<(), String> {
    let back = wait_until(Duration::from_secs(60), || sample::sample(pid, start, 0).is_ok_and(|s| s.fds <= fds));
    if back {
        Ok(())
    } else {
        Err(format!("the proxy's descriptors did not come back to {fds} within 60 s"))
    }
}

/// Reads the proxy's stderr: the three `listening on` lines first, then, on a thread, the
/// session lines and any warning or error.
fn read_stderr(child: &mut Child, log: Arc<Mutex<ProxyLog>>) -> Result<Vec<SocketAddr>, String> {
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut addrs = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(a) = line.strip_prefix("connseq: listening on ") {
                addrs.push(a.parse::<SocketAddr>().ok());
                if addrs.len() == 3 {
                    let _ = tx.send(addrs.clone());
                }
                continue;
            }
            let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(rest) = line.split_once("connseq::session: ").map(|(_, r)| r) {
                let fields: Vec<&str> = rest.split_whitespace().collect();
                if let (Some(Ok(client)), Some(code)) = (fields.first().map(|f| f.parse()), fields.get(5)) {
                    l.sessions.push((client, (*code).to_owned()));
                    continue;
                }
            }
            let problem = line.contains("WARN") || line.contains("ERROR") || line.starts_with("connseq:");
            if problem && l.problems.len() < 50 {
                l.problems.push(line);
            }
        }
    });
    let addrs = rx.recv_timeout(Duration::from_secs(30)).map_err(|_| "the proxy did not start listening")?;
    addrs.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| "an unreadable listening address".to_owned())
}

fn proxy_config(threads: usize, plain: SocketAddr, proxied: SocketAddr, cert: &Path, key: &Path) -> String {
    format!(
        r#"[global]
threads = {threads}
maxconn = 4096

[[listener]]
name = "raw"
listen = "127.0.0.1:0"
backend = {{ servers = ["{plain}"] }}

[[listener]]
name = "tls"
listen = "127.0.0.1:0"
tls = {{ certs = [ {{ cert = "{cert}", key = "{key}" }} ] }}
backend = {{ servers = ["{plain}"] }}

[[listener]]
name = "pp"
listen = "127.0.0.1:0"
accept-proxy = true
backend = {{ servers = ["{proxied}"], send-proxy = "v2" }}
"#,
        // Paths in the file are relative to its directory, where both are written.
        cert = cert.file_name().map_or(cert.display().to_string(), |f| f.to_string_lossy().into_owned()),
        key = key.file_name().map_or(key.display().to_string(), |f| f.to_string_lossy().into_owned())
    )
}

/// A certificate for `localhost`, its key, and a client configuration that trusts it.
fn tls_files(dir: &Path) -> Result<(Arc<rustls::ClientConfig>, PathBuf, PathBuf), String> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).map_err(|e| e.to_string())?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).map_err(|e| e.to_string())?;
    std::fs::write(&key, ck.signing_key.serialize_pem()).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((Arc::new(config), cert, key))
}

#[allow(clippy::too_many_arguments)]
fn report(
    a: &Args,
    outcomes: &[(Kind, client::Ended)],
    counts: &server::ServerCounts,
    log: &ProxyLog,
    samples: &[Sample],
    (baseline, end): (Sample, Sample),
    (t_run, t_end): (f64, f64),
) -> Result<bool, String> {
    let mut s = String::new();
    let mut ok = true;
    let mut fail = |s: &mut String, what: String| {
        ok = false;
        let _ = writeln!(s, "FAIL: {what}");
    };
    let _ = writeln!(s, "sessions: {} ({} in the warm-up)", outcomes.len(), outcomes.len() as u64 - a.sessions);
    let _ = writeln!(
        s,
        "run: {:.0} s for {} sessions ({:.0} sessions/s), proxy threads {}, client threads {}",
        t_end - t_run,
        a.sessions,
        a.sessions as f64 / (t_end - t_run).max(1e-9),
        a.threads,
        a.concurrency
    );
    // Clients.
    let mut by_kind: HashMap<Kind, (u64, u64)> = HashMap::new();
    let mut failures = Vec::new();
    for (k, o) in outcomes {
        let e = by_kind.entry(*k).or_default();
        e.0 += 1;
        if let Err(why) = &o.result {
            e.1 += 1;
            failures.push(why.clone());
        }
    }
    for k in Kind::ALL {
        let (n, bad) = by_kind.get(&k).copied().unwrap_or_default();
        let _ = writeln!(s, "  {:<13} {n:>8} sessions, {bad} not as expected", k.name());
    }
    if !failures.is_empty() {
        fail(
            &mut s,
            format!(
                "{} sessions not as the client expected; first: {:?}",
                failures.len(),
                &failures[..failures.len().min(10)]
            ),
        );
    }
    let (sok, sbad) = (counts.ok.load(Ordering::Acquire), counts.bad.load(Ordering::Acquire));
    let _ = writeln!(s, "servers: {sok} connections as expected, {sbad} not");
    if sbad > 0 {
        fail(&mut s, format!("{sbad} server connections not as expected"));
    }
    // Termination codes, against what each client's kind explains.
    let mut codes: HashMap<&str, u64> = HashMap::new();
    let mut logged: HashMap<SocketAddr, Vec<char>> = HashMap::new();
    for (client, code) in &log.sessions {
        *codes.entry(code.as_str()).or_default() += 1;
        logged.entry(*client).or_default().push(code.chars().next().unwrap_or('?'));
    }
    let mut codes: Vec<_> = codes.into_iter().collect();
    codes.sort();
    let _ = writeln!(s, "termination codes: {codes:?}");
    let mut expected: HashMap<SocketAddr, Vec<char>> = HashMap::new();
    for (k, o) in outcomes {
        expected.entry(o.key).or_default().push(k.expected_cause());
    }
    let mut mismatched = 0u64;
    for (key, mut want) in expected {
        let mut got = logged.remove(&key).unwrap_or_default();
        want.sort_unstable();
        got.sort_unstable();
        if want != got {
            mismatched += 1;
            if mismatched <= 10 {
                let _ = writeln!(s, "  {key}: expected causes {want:?}, logged {got:?}");
            }
        }
    }
    mismatched += logged.len() as u64;
    if mismatched > 0 {
        fail(
            &mut s,
            format!("{mismatched} client addresses whose logged codes differ from what their sessions explain"),
        );
    }
    if !log.problems.is_empty() {
        let _ = writeln!(s, "proxy warnings and errors: {:?}", &log.problems);
    }
    // Descriptors, memory, CPU.
    let run: Vec<&Sample> = samples.iter().filter(|x| x.t >= t_run && x.t <= t_end).collect();
    let peak_fds = run.iter().map(|x| x.fds).max().unwrap_or(0);
    let peak_rss = run.iter().map(|x| x.rss_kib).max().unwrap_or(0);
    let second_half: Vec<(f64, f64)> =
        run.iter().filter(|x| x.t >= (t_run + t_end) / 2.0).map(|x| (x.t, x.rss_kib as f64)).collect();
    let slope_kib_per_min = sample::slope(&second_half) * 60.0;
    let cpu = end.cpu_s - baseline.cpu_s;
    let _ = writeln!(s, "descriptors: idle {} before the run, peak {peak_fds}, {} after", baseline.fds, end.fds);
    let _ = writeln!(
        s,
        "resident memory: {} KiB idle before the run, peak {peak_rss} KiB, {} KiB after; trend over the second half {slope_kib_per_min:+.1} KiB/min",
        baseline.rss_kib, end.rss_kib
    );
    let _ =
        writeln!(s, "proxy CPU: {cpu:.1} s over the run ({:.1} µs per session)", cpu * 1e6 / a.sessions.max(1) as f64);
    if end.fds != baseline.fds {
        fail(&mut s, format!("descriptors {} after the run, {} before", end.fds, baseline.fds));
    }
    // Allocators keep some freed memory: 10 % above the idle baseline is still "back".
    if end.rss_kib > baseline.rss_kib + baseline.rss_kib / 10 + 1024 {
        fail(&mut s, format!("resident memory {} KiB after the run, {} KiB before", end.rss_kib, baseline.rss_kib));
    }
    // Growth of a KiB per minute or more in the second half is a leak's trend, not noise.
    if slope_kib_per_min > 1024.0 {
        fail(&mut s, format!("resident memory grows by {slope_kib_per_min:.0} KiB/min in the second half"));
    }
    write_outputs(&a.out, samples, &s)?;
    print!("{s}");
    println!("{}", if ok { "soak: every check passed" } else { "soak: FAILED" });
    Ok(ok)
}

fn write_outputs(dir: &Path, samples: &[Sample], summary: &str) -> Result<(), String> {
    let mut csv = String::from("t_s,sessions,fds,rss_kib,cpu_s\n");
    for x in samples {
        let _ = writeln!(csv, "{:.2},{},{},{},{:.2}", x.t, x.sessions, x.fds, x.rss_kib, x.cpu_s);
    }
    std::fs::write(dir.join("samples.csv"), csv).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("summary.txt"), summary).map_err(|e| e.to_string())?;
    plot::line(&dir.join("fds.svg"), "connseq: open descriptors during the soak", "descriptors", samples, |x| {
        x.fds as f64
    })?;
    plot::line(&dir.join("rss.svg"), "connseq: resident memory during the soak", "KiB", samples, |x| x.rss_kib as f64)
}
