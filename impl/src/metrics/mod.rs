//! The metrics, in the Prometheus text format (OpenMetrics 1.0, as the
//! `prometheus-client` crate encodes it), served over HTTP on
//! `--metrics ADDR` (`[global] metrics`) at any path, usually `/metrics`.
//!
//! Every scrape reads a fresh [`Snapshot`] of the running proxy (the
//! counters since start and the live sessions, asked of the event loops)
//! and encodes it; nothing is counted twice and nothing is kept between
//! scrapes. The metric families:
//!
//! | family | type | labels |
//! |---|---|---|
//! | `connseq_frontend_current_sessions` | gauge | `frontend` |
//! | `connseq_frontend_sessions` | counter | `frontend` |
//! | `connseq_frontend_denied_connections` | counter | `frontend` |
//! | `connseq_frontend_request_errors` | counter | `frontend` |
//! | `connseq_frontend_bytes_in`, `_bytes_out` | counter | `frontend` |
//! | `connseq_frontend_terminations` | counter | `frontend`, `code` |
//! | `connseq_frontend_session_duration_seconds` | histogram | `frontend` |
//! | `connseq_backend_current_queue` | gauge | `backend` |
//! | `connseq_server_current_sessions` | gauge | `backend`, `server` |
//! | `connseq_server_sessions` | counter | `backend`, `server` |
//! | `connseq_server_bytes_in`, `_bytes_out` | counter | `backend`, `server` |
//! | `connseq_server_connection_errors` | counter | `backend`, `server` |
//! | `connseq_server_retries`, `_redispatches` | counter | `backend`, `server` |
//! | `connseq_server_client_aborts`, `_server_aborts` | counter | `backend`, `server` |
//! | `connseq_server_connect_time_seconds` | histogram | `backend`, `server` |
//! | `connseq_server_queue_time_seconds` | histogram | `backend`, `server` |
//! | `connseq_server_state` | gauge (1 for the state it is in) | `backend`, `server`, `state` |
//! | `connseq_server_status` | gauge (1 for the status it has: `UP`, `DOWN`, `DRAIN`, `MAINT`) | `backend`, `server`, `status` |
//! | `connseq_server_check_failures`, `_check_downs` | counter (checked servers) | `backend`, `server` |
//! | `connseq_server_check_health` | gauge (checked servers: the health counter, UP from `rise`) | `backend`, `server` |
//! | `connseq_process_current_connections`, `_uptime_seconds` | gauge | |
//!
//! Counters carry the `_total` suffix in the output, as OpenMetrics wants.

use crate::runtime::control::{AdminState, Snapshot, Topology};
use crate::runtime::tally::{Times, TIME_BUCKETS_MS};
use crate::runtime::Control;
use connseq_model::core::health::Status;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::warn;

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// The HTTP listener and its thread; dropping it stops serving.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// The bound address (port 0 resolved).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves the metrics of `control` over HTTP on `addr`, on a thread.
pub fn serve(addr: SocketAddr, control: Control) -> io::Result<MetricsServer> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| io::Error::new(io::ErrorKind::AddrInUse, format!("metrics: cannot listen on {addr}: {e}")))?;
    let bound = server.server_addr().to_ip().unwrap_or(addr);
    eprintln!("connseq: metrics on http://{bound}/metrics");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new().name("connseq-metrics".into()).spawn(move || {
        while !flag.load(Ordering::Acquire) {
            let request = match server.recv_timeout(Duration::from_millis(100)) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    warn!(target: "connseq::runtime", "metrics: {e}");
                    continue;
                }
            };
            let body = render(control.topology(), &control.snapshot());
            let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], CONTENT_TYPE.as_bytes());
            let mut response = tiny_http::Response::from_string(body);
            if let Ok(h) = header {
                response = response.with_header(h);
            }
            let _ = request.respond(response);
        }
    })?;
    Ok(MetricsServer { addr: bound, stop, thread: Some(thread) })
}

/// Histograms of durations, one per label set (a family of them).
#[derive(Debug)]
struct TimeFamily(Vec<(Labels, Times)>);

impl EncodeMetric for TimeFamily {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        for (labels, t) in &self.0 {
            let mut prev = 0;
            let mut buckets: Vec<(f64, u64)> = TIME_BUCKETS_MS
                .iter()
                .zip(&t.cumulative)
                .map(|(&bound, &c)| {
                    let n = c.saturating_sub(prev);
                    prev = c;
                    (bound as f64 / 1000.0, n)
                })
                .collect();
            buckets.push((f64::MAX, t.count.saturating_sub(prev)));
            let e = encoder.encode_family(labels)?;
            let mut e = e;
            e.encode_histogram::<NoLabelSet>(t.sum_ms as f64 / 1000.0, t.count, &buckets, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn counters(reg: &mut Registry, name: &str, help: &str, values: impl IntoIterator<Item = (Labels, u64)>) {
    let f = Family::<Labels, Counter>::default();
    for (l, v) in values {
        f.get_or_create(&l).inc_by(v);
    }
    reg.register(name, help, f);
}

fn gauges(reg: &mut Registry, name: &str, help: &str, values: impl IntoIterator<Item = (Labels, i64)>) {
    let f = Family::<Labels, Gauge>::default();
    for (l, v) in values {
        f.get_or_create(&l).set(v);
    }
    reg.register(name, help, f);
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The metrics of `snap`, encoded.
pub fn render(top: &Topology, snap: &Snapshot) -> String {
    let mut reg = Registry::with_prefix("connseq");
    let fe = |i: usize| vec![("frontend", top.listeners[i].name.clone())];
    let fes = || snap.listeners.iter().enumerate().take(top.listeners.len());
    gauges(&mut reg, "frontend_current_sessions", "Sessions open now", fes().map(|(i, l)| (fe(i), to_i64(l.current))));
    counters(&mut reg, "frontend_sessions", "Connections accepted", fes().map(|(i, l)| (fe(i), l.accepted)));
    counters(
        &mut reg,
        "frontend_denied_connections",
        "Connections a rule rejected",
        fes().map(|(i, l)| (fe(i), l.denied)),
    );
    counters(
        &mut reg,
        "frontend_request_errors",
        "Sessions the client ended by breaking a protocol",
        fes().map(|(i, l)| (fe(i), l.errors)),
    );
    counters(
        &mut reg,
        "frontend_bytes_in",
        "Bytes from clients, written to servers",
        fes().map(|(i, l)| (fe(i), l.to_server)),
    );
    counters(&mut reg, "frontend_bytes_out", "Bytes written to clients", fes().map(|(i, l)| (fe(i), l.to_client)));
    counters(
        &mut reg,
        "frontend_terminations",
        "Ended sessions by termination code",
        fes().flat_map(|(i, l)| {
            l.codes.iter().map(move |(code, n)| {
                let mut labels = fe(i);
                labels.push(("code", code.clone()));
                (labels, *n)
            })
        }),
    );
    reg.register(
        "frontend_session_duration_seconds",
        "Time from accept to the end of each ended session (Tt)",
        TimeFamily(fes().map(|(i, l)| (fe(i), l.total.clone())).collect()),
    );

    let be = |b: usize| vec![("backend", top.backends[b].name.clone())];
    let bes = || snap.backends.iter().enumerate().take(top.backends.len());
    gauges(
        &mut reg,
        "backend_current_queue",
        "Sessions waiting for a server slot",
        bes().map(|(b, s)| (be(b), to_i64(s.queued))),
    );
    let srv = |b: usize, i: usize| {
        vec![("backend", top.backends[b].name.clone()), ("server", top.backends[b].servers[i].name.clone())]
    };
    let servers = || {
        bes().flat_map(|(b, bs)| {
            bs.servers.iter().enumerate().take(top.backends[b].servers.len()).map(move |(i, s)| (b, i, s))
        })
    };
    gauges(
        &mut reg,
        "server_current_sessions",
        "Sessions holding a slot on the server",
        servers().map(|(b, i, s)| (srv(b, i), to_i64(s.current))),
    );
    counters(
        &mut reg,
        "server_sessions",
        "Sessions that connected or tried to",
        servers().map(|(b, i, s)| (srv(b, i), s.sessions)),
    );
    counters(
        &mut reg,
        "server_bytes_in",
        "Bytes written to the server",
        servers().map(|(b, i, s)| (srv(b, i), s.to_server)),
    );
    counters(
        &mut reg,
        "server_bytes_out",
        "Bytes from the server written to clients",
        servers().map(|(b, i, s)| (srv(b, i), s.to_client)),
    );
    counters(
        &mut reg,
        "server_connection_errors",
        "Connect attempts refused or failed",
        servers().map(|(b, i, s)| (srv(b, i), s.connect_failures)),
    );
    counters(
        &mut reg,
        "server_retries",
        "Connect attempts retried on the same server",
        servers().map(|(b, i, s)| (srv(b, i), s.retries)),
    );
    counters(
        &mut reg,
        "server_redispatches",
        "Sessions redispatched to the server",
        servers().map(|(b, i, s)| (srv(b, i), s.redispatches)),
    );
    counters(
        &mut reg,
        "server_client_aborts",
        "Ended sessions the client ended",
        servers().map(|(b, i, s)| (srv(b, i), s.client_aborts)),
    );
    counters(
        &mut reg,
        "server_server_aborts",
        "Ended sessions the server ended",
        servers().map(|(b, i, s)| (srv(b, i), s.server_aborts)),
    );
    reg.register(
        "server_connect_time_seconds",
        "Time from connect() to the connection established (Tc)",
        TimeFamily(servers().map(|(b, i, s)| (srv(b, i), s.connect.clone())).collect()),
    );
    reg.register(
        "server_queue_time_seconds",
        "Time from the first pick to the assignment of the server (Tw)",
        TimeFamily(servers().map(|(b, i, s)| (srv(b, i), s.queue.clone())).collect()),
    );
    gauges(
        &mut reg,
        "server_state",
        "The server's admin state: 1 for the state it is in",
        servers().flat_map(|(b, i, s)| {
            [AdminState::Ready, AdminState::Drain, AdminState::Maint].into_iter().map(move |st| {
                let mut labels = srv(b, i);
                labels.push(("state", st.name().to_owned()));
                (labels, i64::from(s.state == st))
            })
        }),
    );
    gauges(
        &mut reg,
        "server_status",
        "What the balancer makes of the server (its checks and its admin state): 1 for the status it has",
        servers().flat_map(|(b, i, s)| {
            [Status::Up, Status::Down, Status::Drain, Status::Maint].into_iter().map(move |st| {
                let mut labels = srv(b, i);
                labels.push(("status", st.name().to_owned()));
                (labels, i64::from(s.status == st))
            })
        }),
    );
    counters(
        &mut reg,
        "server_check_failures",
        "Failed health checks, a session's refused connect included",
        servers().filter_map(|(b, i, s)| Some((srv(b, i), s.check?.failures))),
    );
    counters(
        &mut reg,
        "server_check_downs",
        "Times the server went DOWN",
        servers().filter_map(|(b, i, s)| Some((srv(b, i), s.check?.downs))),
    );
    gauges(
        &mut reg,
        "server_check_health",
        "The health counter: UP from rise, fully up at rise + fall - 1",
        servers().filter_map(|(b, i, s)| Some((srv(b, i), i64::from(s.check?.health)))),
    );
    gauges(
        &mut reg,
        "process_current_connections",
        "Sessions open now over every listener",
        [(Vec::new(), to_i64(snap.current))],
    );
    gauges(&mut reg, "process_uptime_seconds", "Seconds since start", [(Vec::new(), to_i64(snap.uptime.as_secs()))]);

    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
    out
}
