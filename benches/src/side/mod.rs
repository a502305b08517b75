//! The side-by-side bench: connseq, HAProxy 2.6 and the direct path, the
//! same load on each, interleaved round by round, with each proxy's CPU
//! time read from `/proc` over the same window as its throughput.
//!
//! Rooms: [`cases`] (what is measured), [`servers`] (the servers behind the
//! proxies), [`load`] (the clients and the measuring window), [`targets`]
//! (the two proxies as child processes with identical routes), [`procfs`]
//! (CPU time and memory of a process), [`tls`] (the bench's certificate and
//! TLS ends), [`report`] and [`plot`] (Markdown and SVG).

pub mod cases;
pub mod load;
pub mod plot;
pub mod procfs;
pub mod report;
pub mod servers;
pub mod stream;
pub mod targets;
pub mod tls;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cases::{Case, Measure, Sample, Tls};
use load::Window;
use report::{cpu_goal, value_goal, Results, LATENCY_GOAL};
use servers::{Echo, Hold, Sink};
use targets::{Kind, Proxy, Route, RouteSet, Setup};

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Rounds; each runs every case against every target once.
    pub rounds: usize,
    /// The measuring window of every case.
    pub window: Window,
    /// Proxy thread counts, each a part of the run with fresh proxies.
    pub threads: Vec<usize>,
    /// Idle connections held for the memory measure (0: skipped).
    pub idle_conns: usize,
    /// Rounds of the memory measure.
    pub idle_rounds: usize,
    /// Clients of the short-connection cases.
    pub clients: usize,
    /// The cases.
    pub cases: Vec<Case>,
    /// Where the results go.
    pub out: PathBuf,
    /// Binaries and files (the certificate paths are set by [`run`]).
    pub setup: Setup,
}

/// The servers of a run.
#[derive(Debug)]
struct Servers {
    sink: Sink,
    tls_sink: Sink,
    echo: Echo,
    tls_echo: Echo,
    hold: Hold,
}

impl Servers {
    fn routes(&self) -> RouteSet {
        RouteSet {
            routes: vec![
                ("copy", Route::Copy, self.sink.addr),
                ("splice", Route::Splice, self.sink.addr),
                ("tls-term", Route::TlsTerm, self.sink.addr),
                ("tls-orig", Route::TlsOrig, self.tls_sink.addr),
                ("echo", Route::Copy, self.echo.addr),
                ("echo-splice", Route::Splice, self.echo.addr),
                ("tls-echo", Route::TlsTerm, self.echo.addr),
                ("hold", Route::Copy, self.hold.addr),
                ("tls-hold", Route::TlsTerm, self.hold.addr),
            ],
        }
    }
}

/// The TLS client configurations of a run.
#[derive(Debug)]
struct Clients {
    full: Arc<rustls::ClientConfig>,
    resume: Arc<rustls::ClientConfig>,
}

fn progress(msg: &str) {
    eprintln!("side-by-side: {msg}");
}

/// Runs the plan; returns every sample.
pub fn run(plan: &Plan) -> io::Result<Vec<Sample>> {
    let started = Instant::now();
    let certs = tls::Certs::generate(&plan.setup.dir)?;
    let server_tls = certs.server_config()?;
    let setup = Setup { certs: certs.files.clone(), ..plan.setup.clone() };
    let workers = plan.clients * 2;
    let servers = Servers {
        sink: Sink::start(None)?,
        tls_sink: Sink::start(Some(server_tls.clone()))?,
        echo: Echo::start(workers, None)?,
        tls_echo: Echo::start(workers, Some(server_tls))?,
        hold: Hold::start()?,
    };
    let clients = Clients { full: tls::client_config(false)?, resume: tls::client_config(true)? };
    let routes = servers.routes();
    let maxconn = (plan.idle_conns + 500).max(4000);
    let mut samples = Vec::new();
    for &threads in &plan.threads {
        progress(&format!("{threads} proxy thread(s): starting connseq and HAProxy"));
        let connseq = Proxy::start(Kind::Connseq, &setup, &routes, threads, maxconn)?;
        let haproxy = Proxy::start(Kind::Haproxy, &setup, &routes, threads, maxconn)?;
        for round in 0..plan.rounds {
            // Each round starts with another target, so none always runs first.
            let mut order = [Kind::Direct, Kind::Connseq, Kind::Haproxy];
            order.rotate_left(round % 3);
            for case in &plan.cases {
                for &target in &order {
                    let proxy = match target {
                        Kind::Direct => None,
                        Kind::Connseq => Some(&connseq),
                        Kind::Haproxy => Some(&haproxy),
                    };
                    let t0 = Instant::now();
                    let s = measure(plan, &servers, &clients, case, target, proxy, threads, round)?;
                    progress(&format!(
                        "{threads}t round {round} {:<16} {:<8} value {:>12.3} cpu {:>8} ({:.1} s){}",
                        case.id,
                        target.to_string(),
                        s.value,
                        s.cpu.map_or("-".to_owned(), |c| format!("{c:.4}")),
                        t0.elapsed().as_secs_f64(),
                        if s.errors > 0 { format!(" errors {}", s.errors) } else { String::new() }
                    ));
                    samples.push(s);
                }
            }
        }
        connseq.stop();
        haproxy.stop();
    }
    if plan.idle_conns > 0 {
        samples.extend(idle(plan, &setup, &servers, &clients, &routes)?);
    }
    progress(&format!("done in {:.0} s", started.elapsed().as_secs_f64()));
    Ok(samples)
}

/// The address, client TLS and sink of `case` against `target`.
fn endpoint(servers: &Servers, case: &Case, proxy: Option<&Proxy>) -> io::Result<SocketAddr> {
    match proxy {
        Some(p) => p.addr(case.listener).ok_or_else(|| io::Error::other(format!("no listener {}", case.listener))),
        None => Ok(match (case.measure, case.tls) {
            (Measure::Bulk { .. }, Tls::Plain) => servers.sink.addr,
            (Measure::Bulk { .. }, _) => servers.tls_sink.addr,
            (_, Tls::Plain) => servers.echo.addr,
            (_, _) => servers.tls_echo.addr,
        }),
    }
}

#[allow(clippy::too_many_arguments)] // one sample's coordinates
fn measure(
    plan: &Plan,
    servers: &Servers,
    clients: &Clients,
    case: &Case,
    target: Kind,
    proxy: Option<&Proxy>,
    threads: usize,
    round: usize,
) -> io::Result<Sample> {
    let addr = endpoint(servers, case, proxy)?;
    let pid = proxy.map(Proxy::proc);
    // The client speaks TLS when the proxy terminates it, or on the direct
    // path of any TLS case (the client talks to the TLS server itself).
    let client_tls = match (case.tls, target) {
        (Tls::Plain, _) => None,
        (Tls::Orig, Kind::Connseq | Kind::Haproxy) => None,
        (Tls::Term | Tls::Orig, _) => Some(if case.resume { &clients.resume } else { &clients.full }),
    };
    let mut sample =
        Sample { threads, case: case.id.to_owned(), target, round, value: 0.0, cpu: None, latency: None, errors: 0 };
    match case.measure {
        Measure::Bulk { streams } => {
            let sink = match (case.tls, target) {
                (Tls::Plain, _) | (Tls::Term, Kind::Connseq | Kind::Haproxy) => &servers.sink,
                _ => &servers.tls_sink,
            };
            let c = load::bulk(addr, client_tls, streams, sink, plan.window, pid);
            sample.value = c.work * 8.0 / c.secs / 1e9;
            sample.cpu = pid.map(|_| c.cpu / (c.work / f64::from(1u32 << 30)));
            sample.errors = c.errors;
        }
        Measure::Conns => {
            let c = load::conns(addr, client_tls, plan.clients, plan.window, pid);
            sample.value = c.work / c.secs;
            sample.cpu = pid.map(|_| c.cpu / (c.work / 1000.0));
            sample.errors = c.errors;
        }
        Measure::Latency => {
            let mut times = load::latency(addr, plan.window)?;
            times.sort_unstable();
            let p = |q| load::percentile(&times, q) / 1000.0;
            let l = [p(50.0), p(99.0), p(99.9)];
            sample.value = l[1];
            sample.latency = Some(l);
        }
    }
    Ok(sample)
}

/// Idle memory: a fresh proxy of one thread per measure, so that no pool
/// left over from another load hides the growth.
fn idle(
    plan: &Plan,
    setup: &Setup,
    servers: &Servers,
    clients: &Clients,
    routes: &RouteSet,
) -> io::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    let maxconn = plan.idle_conns + 500;
    for round in 0..plan.idle_rounds {
        let mut order = [Kind::Connseq, Kind::Haproxy];
        order.rotate_left(round % 2);
        for (case, listener, tls) in [("idle-plain", "hold", None), ("idle-tls", "tls-hold", Some(&clients.full))] {
            for &kind in &order {
                let proxy = Proxy::start(kind, setup, routes, 1, maxconn)?;
                let addr = proxy.addr(listener).ok_or_else(|| io::Error::other("no hold listener"))?;
                let per_conn = match load::idle_memory(addr, tls, plan.idle_conns, &servers.hold, proxy.proc()) {
                    Ok(v) => v,
                    Err(e) => {
                        progress(&format!("idle round {round} {case} {kind}: {e}; no sample"));
                        proxy.stop();
                        servers.hold.release();
                        continue;
                    }
                };
                progress(&format!("idle round {round} {case:<10} {kind:<8} {per_conn:.0} B/conn"));
                samples.push(Sample {
                    threads: 1,
                    case: case.to_owned(),
                    target: kind,
                    round,
                    value: per_conn,
                    cpu: None,
                    latency: None,
                    errors: 0,
                });
                proxy.stop();
                servers::wait_until(Duration::from_secs(5), || servers.hold.count() == 0);
            }
        }
    }
    Ok(samples)
}

/// Writes `samples.json`, `results.md` and one SVG per thread count into
/// `plan.out`; returns the Markdown.
pub fn write(plan: &Plan, samples: &[Sample]) -> io::Result<String> {
    std::fs::create_dir_all(&plan.out)?;
    std::fs::write(plan.out.join("samples.json"), serde_json::to_string_pretty(samples).map_err(io::Error::other)?)?;
    let md = report::markdown(samples, &plan.cases, plan.idle_conns);
    std::fs::write(plan.out.join("results.md"), &md)?;
    let r = Results::new(samples);
    for &t in &r.threads {
        let mut bars = Vec::new();
        for c in plan.cases.iter().filter(|c| c.measure != Measure::Latency) {
            if let Some(s) = r.ratio(t, c.id, |s| s.cpu) {
                bars.push(plot::Bar {
                    label: format!("CPU: {}", c.label),
                    ratio: s,
                    goal: cpu_goal(c),
                    lower_is_better: true,
                });
            }
        }
        for c in plan.cases.iter().filter(|c| c.measure != Measure::Latency) {
            if let Some(s) = r.ratio(t, c.id, |s| Some(s.value)) {
                let label = match c.measure {
                    Measure::Conns => format!("rate: {}", c.label),
                    _ => format!("throughput: {}", c.label),
                };
                bars.push(plot::Bar { label, ratio: s, goal: value_goal(c), lower_is_better: false });
            }
        }
        if let Some(s) = r.added_ratio(t, 1) {
            bars.push(plot::Bar {
                label: "added latency p99".to_owned(),
                ratio: s,
                goal: Some(LATENCY_GOAL),
                lower_is_better: true,
            });
        }
        if !bars.is_empty() {
            let title = format!("connseq / HAProxy 2.6, {t} proxy thread{}", if t == 1 { "" } else { "s" });
            plot::ratios(&plan.out.join(format!("ratios-{t}t.svg")), &title, &bars)?;
        }
    }
    Ok(md)
}
