//! Active health checks: one thread per checked server runs a check every
//! `inter` and reports its result; the core's health counter
//! (`connseq_model::core::health`, through [`BackendState::record_check`])
//! decides whether the server is UP or DOWN, and the balancer gives a
//! session only to a server that is UP and that its operator left ready.
//!
//! A check is what HAProxy's plain `check` does for a tcp-mode server,
//! with the server's own transport: a TCP connect, then the PROXY header the
//! server's sessions get (v2 LOCAL, or v1 `UNKNOWN`: a header that stands
//! for no client), then the TLS handshake if the server speaks TLS, then a
//! close. Each step is bounded by the backend's connect timeout, at most
//! `inter`. Checks run on the real clock, from the start (the first one at
//! once: a server is UP at start until its first failure, as in HAProxy).
//!
//! A connect a session makes that the server refuses is counted as a failed
//! check too (passive observation, HAProxy's `observe layer4`): a dead
//! server goes DOWN after `fall` refusals even between two checks.
//!
//! [`BackendState::record_check`]: super::backend_state::BackendState::record_check

use super::shared::{Shared, StopMode};
use crate::config::{ProxyConfig, ProxyVersion, SendProxy};
use connseq_model::core::health::Change;
use connseq_proxy_protocol as pp;
use connseq_tls::{ClientTls, Step, TlsConn};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// One checked server.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) backend: usize,
    pub(crate) server: u8,
    pub(crate) addr: SocketAddr,
    pub(crate) inter: Duration,
    /// Each step's bound: the connect timeout, at most `inter`.
    pub(crate) timeout: Duration,
    pub(crate) proxy: Option<SendProxy>,
    pub(crate) tls: Option<Arc<ClientTls>>,
}

/// The checked servers of `config`; `back` gives each backend's PROXY
/// header and loaded TLS client (by backend index, as `listener::plan`
/// numbers them).
pub(crate) fn targets(config: &ProxyConfig, back: &[(Option<SendProxy>, Option<Arc<ClientTls>>)]) -> Vec<Target> {
    let mut out = Vec::new();
    for (b, cfg) in config.backends().into_iter().enumerate() {
        let (proxy, tls) = back.get(b).cloned().unwrap_or_default();
        for (i, srv) in cfg.servers.iter().enumerate() {
            let p = cfg.server_check(i);
            let Ok(server) = u8::try_from(i) else { continue };
            if p.enabled {
                out.push(Target {
                    backend: b,
                    server,
                    addr: srv.addr,
                    inter: p.inter,
                    timeout: cfg.timeouts.connect.min(p.inter),
                    proxy,
                    tls: tls.clone(),
                });
            }
        }
    }
    out
}

/// Starts one checking thread per target; each ends when a stop is asked.
pub(crate) fn spawn(shared: &Arc<Shared>, targets: Vec<Target>) -> io::Result<Vec<JoinHandle<io::Result<()>>>> {
    targets
        .into_iter()
        .map(|t| {
            let shared = Arc::clone(shared);
            std::thread::Builder::new().name(format!("connseq-check-{}-{}", t.backend, t.server)).spawn(move || {
                run(&shared, &t);
                Ok(())
            })
        })
        .collect()
}

fn run(shared: &Shared, t: &Target) {
    let mut next = Instant::now();
    loop {
        // Sleep until the next check in short steps, to see a stop soon.
        loop {
            if shared.stop_mode() != StopMode::Running {
                return;
            }
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        let result = probe(t);
        report(shared, t.backend, t.server, result);
        next += t.inter;
        if next < Instant::now() {
            next = Instant::now() + t.inter;
        }
    }
}

/// A result, passed or failed, with HAProxy's check status word.
pub(crate) type CheckResult = Result<&'static str, &'static str>;

/// One check of `t`.
fn probe(t: &Target) -> CheckResult {
    let sock = match TcpStream::connect_timeout(&t.addr, t.timeout) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err("L4TOUT"),
        Err(_) => return Err("L4CON"),
    };
    let deadline = Instant::now() + t.timeout;
    let left = || deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    let _ = sock.set_nodelay(true);
    if let Some(p) = t.proxy {
        let mut header = Vec::new();
        let built = match p.version {
            ProxyVersion::V1 => Ok(pp::V1Builder::unknown().append_to(&mut header)),
            ProxyVersion::V2 => pp::V2Builder::local().append_to(&mut header),
        };
        if built.is_err() || sock.set_write_timeout(Some(left())).is_err() || (&sock).write_all(&header).is_err() {
            return Err("L4CON");
        }
    }
    let Some(tls) = &t.tls else { return Ok("L4OK") };
    let Ok(mut conn) = TlsConn::client(tls, t.addr.ip()) else { return Err("L6RSP") };
    loop {
        if Instant::now() >= deadline {
            return Err("L6TOUT");
        }
        // Blocking with a bound: a step that waits returns at the deadline.
        let _ = sock.set_read_timeout(Some(left()));
        let _ = sock.set_write_timeout(Some(left()));
        match conn.handshake(&sock) {
            Step::Done => break,
            Step::WantRead | Step::WantWrite => {}
            Step::Eof | Step::Reset | Step::Invalid(_) | Step::Rejected(_) => return Err("L6RSP"),
        }
    }
    let _ = conn.close_notify(&sock);
    Ok("L6OK")
}

/// Counts a result of server `server` of backend `backend` (a check's, or a
/// session's refused connect) and logs a change of state as HAProxy does.
pub(crate) fn report(shared: &Shared, backend: usize, server: u8, result: CheckResult) {
    let (passed, what) = match result {
        Ok(w) => (true, w),
        Err(w) => (false, w),
    };
    let (change, (act, bck), backups, kind) = {
        let mut b = shared.backend(backend);
        let change = b.record_check(usize::from(server), passed, what);
        let kind = if b.is_backup(usize::from(server)) { "Backup Server" } else { "Server" };
        (change, b.usable_count(), b.has_backups(), kind)
    };
    // HAProxy's count of what is left; the backup servers only where the backend has some.
    let left = if backups { format!("{act} active and {bck} backup servers") } else { format!("{act} active servers") };
    let Some(change) = change else { return };
    let topo = &shared.ops.topology;
    let bname = topo.backends.get(backend).map_or("?", |b| b.name.as_str());
    let sname =
        topo.backends.get(backend).and_then(|b| b.servers.get(usize::from(server))).map_or("?", |s| s.name.as_str());
    match change {
        Change::WentDown => warn!(
            target: "connseq::health",
            "{kind} {bname}/{sname} is DOWN, reason: {}, check status {what}. {left} left.",
            reason(what)
        ),
        Change::WentUp => info!(
            target: "connseq::health",
            "{kind} {bname}/{sname} is UP, check status {what}. {left} online."
        ),
    }
}

/// HAProxy's words for a check status.
fn reason(status: &str) -> &'static str {
    match status {
        "L4TOUT" => "Layer4 timeout",
        "L4CON" => "Layer4 connection problem",
        "L6TOUT" => "Layer6 timeout",
        "L6RSP" => "Layer6 invalid response",
        "L4CON-SESSION" => "Layer4 connection problem seen by a session",
        _ => "check passed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProxyTlvs;
    use std::io::Read;
    use std::net::TcpListener;

    fn target(addr: SocketAddr, proxy: Option<ProxyVersion>, tls: bool) -> Target {
        Target {
            backend: 0,
            server: 0,
            addr,
            inter: Duration::from_secs(2),
            timeout: Duration::from_millis(300),
            proxy: proxy.map(|version| SendProxy { version, tlvs: ProxyTlvs::default() }),
            tls: tls.then(|| ClientTls::new(None, true, &[], None).expect("a TLS client")),
        }
    }

    /// A server that accepts one connection and hands it to `f` on a thread.
    fn serve_once<T: Send + 'static>(f: impl FnOnce(TcpStream) -> T + Send + 'static) -> (SocketAddr, JoinHandle<T>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("address");
        let h = std::thread::spawn(move || {
            let (s, _) = l.accept().expect("the check connects");
            s.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
            f(s)
        });
        (addr, h)
    }

    #[test]
    fn a_refused_connect_is_l4con_and_an_accepted_one_l4ok() {
        let closed = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
        assert_eq!(probe(&target(closed, None, false)), Err("L4CON"));
        let (addr, h) = serve_once(|mut s| s.read_to_end(&mut Vec::new()).expect("the check closes"));
        assert_eq!(probe(&target(addr, None, false)), Ok("L4OK"));
        assert_eq!(h.join().expect("server"), 0, "a plain check sends nothing");
    }

    #[test]
    fn a_check_sends_the_proxy_header_of_no_client_its_server_expects() {
        for (version, want) in [
            (ProxyVersion::V1, b"PROXY UNKNOWN\r\n".to_vec()),
            (ProxyVersion::V2, {
                let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
                v2.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]); // v2 LOCAL, no address, length 0
                v2
            }),
        ] {
            let (addr, h) = serve_once(|mut s| {
                let mut got = Vec::new();
                s.read_to_end(&mut got).expect("the header, then the close");
                got
            });
            assert_eq!(probe(&target(addr, Some(version), false)), Ok("L4OK"));
            assert_eq!(h.join().expect("server"), want, "{version:?}");
        }
    }

    #[test]
    fn a_tls_check_fails_l6rsp_on_a_server_that_is_not_tls_and_l6tout_on_a_silent_one() {
        let (addr, h) = serve_once(|mut s| {
            let mut hello = [0u8; 5];
            s.read_exact(&mut hello).expect("a ClientHello");
            std::io::Write::write_all(&mut s, b"HTTP/1.0 400 Bad Request\r\n\r\n").expect("answer");
        });
        assert_eq!(probe(&target(addr, None, true)), Err("L6RSP"));
        h.join().expect("server");
        let (addr, h) = serve_once(|mut s| s.read_to_end(&mut Vec::new()));
        assert_eq!(probe(&target(addr, None, true)), Err("L6TOUT"));
        let _ = h.join().expect("server");
    }

    #[test]
    fn each_check_status_has_haproxys_words() {
        for (status, words) in [
            ("L4TOUT", "Layer4 timeout"),
            ("L4CON", "Layer4 connection problem"),
            ("L6TOUT", "Layer6 timeout"),
            ("L6RSP", "Layer6 invalid response"),
            ("L4CON-SESSION", "Layer4 connection problem seen by a session"),
            ("L4OK", "check passed"),
            ("L6OK", "check passed"),
        ] {
            assert_eq!(reason(status), words, "{status}");
        }
    }
}
