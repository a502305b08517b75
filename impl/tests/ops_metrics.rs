//! The metrics scraped over HTTP and read by a real parser: Python's
//! `prometheus_client` (Debian's python3-prometheus-client, which `.ci/run`
//! installs), whose OpenMetrics parser refuses a malformed exposition
//! (a histogram without `+Inf`, buckets that decrease, a missing `# EOF`,
//! a counter without `_total`). The values it reads are those of the
//! traffic the test made.

mod common;

use common::{connect, listener, proxy_config, records, round_trip, EchoServer};
use connseq::runtime::control::AdminState;
use connseq::runtime::{self, Options};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::Command;

/// The parser Debian installs beside its python3 (not a pyenv shim's).
const PYTHON: &str = "/usr/bin/python3";

/// Scrapes `addr` with urllib and parses the body with prometheus_client's
/// OpenMetrics parser; prints the content type, then one JSON sample a line.
const SCRAPE: &str = r#"
import json, sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
with urllib.request.urlopen(sys.argv[1], timeout=30) as r:
    print(r.headers["Content-Type"])
    body = r.read().decode()
for family in text_string_to_metric_families(body):
    for s in family.samples:
        print(json.dumps([family.type, s.name, s.labels, s.value]))
"#;

#[derive(Debug)]
struct Sample {
    kind: String,
    name: String,
    labels: serde_json::Map<String, serde_json::Value>,
    value: f64,
}

fn scrape(addr: SocketAddr) -> (String, Vec<Sample>) {
    let out = Command::new(PYTHON)
        .args(["-c", SCRAPE, &format!("http://{addr}/metrics")])
        .output()
        .expect("python3 runs (install python3-prometheus-client: .ci/run does)");
    assert!(out.status.success(), "the parser refused the metrics: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines = text.lines();
    let content_type = lines.next().expect("the content type").to_owned();
    let samples = lines
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON sample");
            Sample {
                kind: v[0].as_str().expect("type").to_owned(),
                name: v[1].as_str().expect("name").to_owned(),
                labels: v[2].as_object().expect("labels").clone(),
                value: v[3].as_f64().expect("value"),
            }
        })
        .collect();
    (content_type, samples)
}

/// The value of the sample `name` whose labels include `labels`.
#[track_caller]
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).and_then(|x| x.as_str()) == Some(v)))
        .collect();
    assert_eq!(found.len(), 1, "one {name} {labels:?} in {samples:?}");
    found[0].value
}

#[test]
fn the_metrics_parse_with_prometheus_clients_parser_and_count_the_traffic() {
    let (e1, e2) = (EchoServer::start(), EchoServer::start());
    let options = Options { record_sessions: true, ..Options::default() };
    let proxy = runtime::spawn_with(&proxy_config(vec![listener("web", &[e1.addr(), e2.addr()], 0, 0)], 0), options)
        .expect("connseq starts");
    let metrics = connseq::metrics::serve("127.0.0.1:0".parse().expect("address"), proxy.control()).expect("serves");

    for msg in [&b"one"[..], b"two", b"three"] {
        let mut c = connect(proxy.addrs()[0]);
        round_trip(&mut c, msg);
        c.shutdown(Shutdown::Write).expect("FIN");
        let _ = common::read_to_eof(&mut c);
    }
    let ended = records(&proxy, 3);
    assert!(ended.iter().all(|r| r.termination.to_string() == "--"), "{ended:?}");
    let mut open = connect(proxy.addrs()[0]);
    round_trip(&mut open, b"four");
    proxy.control().set_server_state("web", "s1", AdminState::Drain).expect("a server");

    let (content_type, samples) = scrape(metrics.addr());
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let fe = [("frontend", "web")];
    assert_eq!(value(&samples, "connseq_frontend_sessions_total", &fe), 4.0);
    assert_eq!(value(&samples, "connseq_frontend_current_sessions", &fe), 1.0);
    assert_eq!(value(&samples, "connseq_frontend_bytes_in_total", &fe), 15.0, "3 + 3 + 5 ended, 4 live");
    assert_eq!(value(&samples, "connseq_frontend_bytes_out_total", &fe), 15.0);
    assert_eq!(value(&samples, "connseq_frontend_terminations_total", &[("frontend", "web"), ("code", "--")]), 3.0);
    let s1 = [("backend", "web"), ("server", "s1")];
    let s2 = [("backend", "web"), ("server", "s2")];
    assert_eq!(value(&samples, "connseq_server_sessions_total", &s1), 2.0);
    assert_eq!(value(&samples, "connseq_server_sessions_total", &s2), 2.0);
    assert_eq!(value(&samples, "connseq_server_current_sessions", &s2), 1.0, "the open session holds s2");
    assert_eq!(value(&samples, "connseq_server_bytes_in_total", &s2), 7.0, "\"two\" ended, \"four\" live");
    assert_eq!(value(&samples, "connseq_server_bytes_out_total", &s2), 7.0, "the echoes of both");
    assert_eq!(value(&samples, "connseq_server_connect_time_seconds_count", &s1), 2.0);
    assert_eq!(value(&samples, "connseq_server_connect_time_seconds_count", &s2), 1.0);
    let inf = [("backend", "web"), ("server", "s1"), ("le", "+Inf")];
    assert_eq!(value(&samples, "connseq_server_connect_time_seconds_bucket", &inf), 2.0);
    let state = |st| value(&samples, "connseq_server_state", &[("server", "s1"), ("state", st)]);
    assert_eq!((state("ready"), state("drain"), state("maint")), (0.0, 1.0, 0.0));
    assert_eq!(value(&samples, "connseq_process_current_connections", &[]), 1.0);
    let kind = |name: &str| samples.iter().find(|s| s.name.starts_with(name)).map(|s| s.kind.clone());
    assert_eq!(kind("connseq_server_queue_time_seconds").as_deref(), Some("histogram"));
    assert_eq!(kind("connseq_server_sessions").as_deref(), Some("counter"));

    drop(open);
    drop(metrics);
    proxy.stop().expect("stop");
}

/// The counters of failures, each from a session that fails that way: a
/// server that refuses (a connection error of that server, `SC`), a client
/// that resets (a client abort, `CD`), a server that resets (a server
/// abort, `SD`); none counts anything the others do. A refused connect is
/// a connection error and no abort, as HAProxy 2.6 counts it (`show stat`
/// after one refused session of a `retries 0` listen: `econ` 1, `srv_abrt`
/// 0).
#[test]
fn the_failure_counters_say_which_connect_failed_and_which_side_ended_each_session() {
    let (_guard, refusing) = common::refusing_port();
    let echo = EchoServer::start();
    let resetting = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let listeners = vec![
        listener("refused", &[refusing], 0, 0),
        listener("clients", &[echo.addr()], 0, 0),
        listener("servers", &[resetting.local_addr().expect("address")], 0, 0),
    ];
    let options = Options { record_sessions: true, ..Options::default() };
    let proxy = runtime::spawn_with(&proxy_config(listeners, 0), options).expect("connseq starts");
    let metrics = connseq::metrics::serve("127.0.0.1:0".parse().expect("address"), proxy.control()).expect("serves");
    let code = |n: usize| {
        let r = records(&proxy, 1);
        assert_eq!(r.len(), 1, "one session ended at a time");
        assert_eq!(r[0].listener, ["refused", "clients", "servers"][n], "{r:?}");
        r[0].termination.to_string()
    };

    let mut c = connect(proxy.addrs()[0]);
    c.write_all(b"to nobody").expect("send");
    let _ = c.read(&mut [0u8; 16]);
    // The proxy drains the client until its FIN.
    drop(c);
    assert_eq!(code(0), "SC");

    let mut c = connect(proxy.addrs()[1]);
    round_trip(&mut c, b"hi");
    common::abort(c);
    assert_eq!(code(1), "CD");

    let mut c = connect(proxy.addrs()[2]);
    c.write_all(b"hi").expect("send");
    let (mut s, _) = resetting.accept().expect("the proxy connects");
    s.read_exact(&mut [0u8; 2]).expect("the request");
    common::abort(s);
    let _ = c.read(&mut [0u8; 16]);
    drop(c);
    assert_eq!(code(2), "SD");

    let (_, samples) = scrape(metrics.addr());
    let server = |backend| [("backend", backend), ("server", "s1")];
    let counts = |backend| {
        let get = |name| value(&samples, name, &server(backend));
        (
            get("connseq_server_connection_errors_total"),
            get("connseq_server_client_aborts_total"),
            get("connseq_server_server_aborts_total"),
        )
    };
    assert_eq!(counts("refused"), (1.0, 0.0, 0.0), "a refused connect, ended by the proxy");
    assert_eq!(counts("clients"), (0.0, 1.0, 0.0));
    assert_eq!(counts("servers"), (0.0, 0.0, 1.0));
    let ended = |frontend, code| {
        value(&samples, "connseq_frontend_terminations_total", &[("frontend", frontend), ("code", code)])
    };
    assert_eq!((ended("refused", "SC"), ended("clients", "CD"), ended("servers", "SD")), (1.0, 1.0, 1.0));
    for frontend in ["refused", "clients", "servers"] {
        let get = |name| value(&samples, name, &[("frontend", frontend)]);
        let (errors, denied) =
            (get("connseq_frontend_request_errors_total"), get("connseq_frontend_denied_connections_total"));
        assert_eq!((errors, denied), (0.0, 0.0), "{frontend}: no bad request, no rule refused it");
    }
}

/// A session waiting for a server slot is in its backend's current queue
/// (`connseq_backend_current_queue`, HAProxy's `qcur`), and leaves it when
/// the slot frees.
#[test]
fn a_session_waiting_for_a_server_slot_is_in_the_backends_current_queue() {
    let echo = EchoServer::start();
    let proxy = runtime::spawn(&proxy_config(vec![listener("q", &[echo.addr()], 1, 0)], 0)).expect("connseq starts");
    let metrics = connseq::metrics::serve("127.0.0.1:0".parse().expect("address"), proxy.control()).expect("serves");
    let queue = || value(&scrape(metrics.addr()).1, "connseq_backend_current_queue", &[("backend", "q")]);
    let mut a = connect(proxy.addrs()[0]);
    round_trip(&mut a, b"a");
    assert_eq!(queue(), 0.0, "one session, on the server");
    let mut b = connect(proxy.addrs()[0]);
    b.write_all(b"b").expect("send");
    common::wait_until("the second session queued", || proxy.stats().queued == 1);
    assert_eq!(queue(), 1.0, "the second waits for the server's only slot");
    assert!(common::finish(a).is_empty());
    let mut got = [0u8; 1];
    b.read_exact(&mut got).expect("served once the slot frees");
    assert_eq!(queue(), 0.0);
    assert!(common::finish(b).is_empty());
}
