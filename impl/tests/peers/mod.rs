//! Real peers for the interop tests: HAProxy started on a generated
//! configuration, its log lines collected from its stdout; free ports.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use connseq::config::FrontTls;
use connseq_tls::rustls;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc as StdArc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const HANG_GUARD: Duration = Duration::from_secs(30);

/// A port on 127.0.0.1 that was free a moment ago (bound, then released),
/// for a peer that binds it itself (s_server, HAProxy, a `connseq` process).
/// Chosen below the kernel's ephemeral range, so that a socket numbered by
/// the kernel (another test's bind to port 0, a connect's source port) cannot
/// take it before the peer binds it; walks from a per-process start.
pub fn free_port() -> SocketAddr {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let low: u32 = range.split_whitespace().next().and_then(|p| p.parse().ok()).unwrap_or(32_768);
    assert!(low > 11_000, "the ephemeral range starts at {low}: no room below it for test ports");
    let span = low - 10_000;
    let start = std::process::id().wrapping_mul(7_919) % span;
    (0..span)
        .map(|_| 10_000 + (start + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) % span)
        .find_map(|p| TcpListener::bind(("127.0.0.1", p as u16)).and_then(|l| l.local_addr()).ok())
        .expect("a free port below the ephemeral range")
}

/// Whether something listens on `addr` (TCP, IPv4), read from
/// `/proc/net/tcp` so that checking does not open a connection.
pub fn is_listening(addr: SocketAddr) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else { return false };
    let want = format!(":{:04X}", addr.port());
    table.lines().skip(1).any(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        cols.len() > 3 && cols[1].ends_with(&want) && cols[3] == "0A"
    })
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("connseq-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// HAProxy in the foreground (`-db`) on `sections` (frontends and backends)
/// after a global section that logs each session on stdout (`option
/// tcplog`, raw format). Killed on drop.
#[derive(Debug)]
pub struct Haproxy {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    _dir: TempDir,
}

impl Haproxy {
    pub fn start(sections: &str) -> Haproxy {
        Haproxy::start_with("", sections)
    }

    /// As [`Haproxy::start`], with `global` lines added to the global section.
    pub fn start_with(global: &str, sections: &str) -> Haproxy {
        let dir = TempDir::new("haproxy");
        let cfg = dir.path("haproxy.cfg");
        let text = format!(
            "global\n  log stdout format raw local0\n  maxconn 256\n{global}\n\
             defaults\n  mode tcp\n  log global\n  option tcplog\n  timeout connect 5s\n  \
             timeout client 30s\n  timeout server 30s\n\n{sections}"
        );
        Haproxy::run(dir, &cfg, &text)
    }

    /// HAProxy on the whole configuration `text`, written to `cfg` in `dir`.
    pub fn start_file(text: &str) -> Haproxy {
        let dir = TempDir::new("haproxy");
        let cfg = dir.path("haproxy.cfg");
        Haproxy::run(dir, &cfg, text)
    }

    fn run(dir: TempDir, cfg: &std::path::Path, text: &str) -> Haproxy {
        let text = text.to_owned();
        std::fs::write(cfg, &text).expect("write haproxy.cfg");
        let mut child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(cfg)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("haproxy runs (install haproxy 2.6: .ci/run does)");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            child.stdout.take().map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|e| Box::new(e) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let sink = lines.clone();
            thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        let h = Haproxy { child, lines, _dir: dir };
        // Every `bind` of the configuration is listening before the test goes on.
        let binds: Vec<SocketAddr> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("bind "))
            .filter_map(|rest| rest.split_whitespace().next())
            .filter_map(|a| a.parse().ok())
            .collect();
        let deadline = Instant::now() + HANG_GUARD;
        while !binds.iter().all(|&b| is_listening(b)) {
            assert!(Instant::now() < deadline, "haproxy did not start: {:?}", h.lines());
            thread::sleep(Duration::from_millis(5));
        }
        h
    }

    /// Everything HAProxy printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for a printed line that satisfies `pred`.
    pub fn wait_log_line(&self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            if let Some(l) = self.lines().into_iter().find(|l| pred(l)) {
                return l;
            }
            assert!(Instant::now() < deadline, "no such haproxy line in {:?}", self.lines());
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test CA and a certificate it signed for `localhost` and 127.0.0.1,
/// made by OpenSSL (webpki refuses a CA certificate as an end entity, so
/// the usual one-line self-signed certificate does not do).
pub struct Cert {
    dir: TempDir,
}

fn openssl(args: &[&std::ffi::OsStr]) {
    let out = Command::new("openssl").args(args).output().expect("openssl runs (install openssl: .ci/run does)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Cert {
    pub fn new() -> Cert {
        let dir = TempDir::new("tls");
        let p = |n: &str| dir.path(n).into_os_string();
        let s = |v: &str| std::ffi::OsString::from(v);
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"].map(s);
        let mut ca = vec![s("req"), s("-x509")];
        ca.extend(ec.iter().cloned());
        ca.extend([
            s("-keyout"),
            p("ca.key"),
            s("-out"),
            p("ca.pem"),
            s("-days"),
            s("2"),
            s("-subj"),
            s("/CN=connseq test CA"),
        ]);
        openssl(&ca.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
        let mut req = vec![s("req")];
        req.extend(ec.iter().cloned());
        req.extend([s("-keyout"), p("key.pem"), s("-out"), p("leaf.csr"), s("-subj"), s("/CN=localhost")]);
        openssl(&req.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
        std::fs::write(
            dir.path("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("ext.cnf");
        let sign = [
            s("x509"),
            s("-req"),
            s("-in"),
            p("leaf.csr"),
            s("-CA"),
            p("ca.pem"),
            s("-CAkey"),
            p("ca.key"),
            s("-CAcreateserial"),
            s("-out"),
            p("cert.pem"),
            s("-days"),
            s("2"),
            s("-extfile"),
            p("ext.cnf"),
        ];
        openssl(&sign.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
        Cert { dir }
    }

    /// The CA certificate clients trust.
    pub fn ca(&self) -> PathBuf {
        self.dir.path("ca.pem")
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.path("cert.pem")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.path("key.pem")
    }

    pub fn front(&self, alpn: &[&str]) -> FrontTls {
        FrontTls { certs: vec![(self.cert(), self.key())], alpn: alpn.iter().map(|s| s.to_string()).collect() }
    }

    /// A rustls client that trusts this certificate.
    pub fn client_config(&self) -> StdArc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(self.ca()).expect("read ca.pem") {
            roots.add(c.expect("a certificate")).expect("a root");
        }
        let provider = StdArc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        StdArc::new(cfg)
    }
}
