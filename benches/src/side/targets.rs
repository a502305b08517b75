//! The two proxies under test, each a child process configured with the
//! same routes: connseq (`connseq proxy --config FILE`) and HAProxy 2.6
//! (`haproxy -f FILE -db`). Every route is one listener on a port of
//! 127.0.0.1, sending to one of the bench's servers.

use std::fmt;
use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::procfs::Proc;
use super::servers::wait_until;
use super::tls::CertFiles;

/// What a listener does, and where it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// Plain TCP through buffers (no splice).
    Copy,
    /// Plain TCP through splice pipes (always).
    Splice,
    /// TLS from the client, plain to the server.
    TlsTerm,
    /// Plain from the client, TLS to the server.
    TlsOrig,
}

/// The listeners both proxies get: a name, what it does, and its server.
#[derive(Debug, Clone)]
pub struct RouteSet {
    /// `(name, route, server)` for every listener.
    pub routes: Vec<(&'static str, Route, SocketAddr)>,
}

/// The proxy implementations compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// No proxy: the client connects to the server.
    Direct,
    /// connseq.
    Connseq,
    /// HAProxy 2.6.
    Haproxy,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Direct => "direct",
            Kind::Connseq => "connseq",
            Kind::Haproxy => "HAProxy",
        })
    }
}

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    /// Which one.
    pub kind: Kind,
    child: Child,
    /// Its listeners, one per route, in the order of the [`RouteSet`].
    pub listeners: Vec<(&'static str, SocketAddr)>,
}

/// `n` distinct ports of 127.0.0.1 free right now: every probe socket stays
/// bound until all are chosen, so that no two routes get the same port.
fn free_ports(n: usize) -> io::Result<Vec<SocketAddr>> {
    let held = (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<io::Result<Vec<_>>>()?;
    held.iter().map(TcpListener::local_addr).collect()
}

/// The last lines of a proxy's log, for an error message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(12)..].join("\n    ");
    if tail.is_empty() {
        "(the log is empty)".to_owned()
    } else {
        format!("    {tail}")
    }
}

/// How a proxy is started.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The `connseq` binary.
    pub connseq: PathBuf,
    /// The `haproxy` binary.
    pub haproxy: PathBuf,
    /// Where configuration files and logs go.
    pub dir: PathBuf,
    /// The certificate the TLS listeners present.
    pub certs: CertFiles,
}

impl Proxy {
    /// Starts `kind` with `threads` threads and a listener per route; waits
    /// until it accepts.
    pub fn start(kind: Kind, setup: &Setup, routes: &RouteSet, threads: usize, maxconn: usize) -> io::Result<Proxy> {
        // A port chosen free can be taken by another process before the
        // proxy binds it: a start that fails is tried again on new ports.
        const ATTEMPTS: usize = 3;
        let mut last = None;
        for attempt in 1..=ATTEMPTS {
            match Proxy::start_once(kind, setup, routes, threads, maxconn) {
                Ok(proxy) => return Ok(proxy),
                Err(e) => {
                    eprintln!("side-by-side: {kind} start, attempt {attempt} of {ATTEMPTS}: {e}");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no attempt")))
    }

    fn start_once(kind: Kind, setup: &Setup, routes: &RouteSet, threads: usize, maxconn: usize) -> io::Result<Proxy> {
        let names = routes.routes.iter().map(|(name, _, _)| *name);
        let listeners: Vec<_> = names.zip(free_ports(routes.routes.len())?).collect();
        let tag = format!("{kind}-{threads}t").to_lowercase();
        let log_path = setup.dir.join(format!("{tag}.log"));
        let log = std::fs::File::create(&log_path)?;
        let child = match kind {
            Kind::Direct => return Err(io::Error::other("the direct path has no proxy")),
            Kind::Connseq => {
                let file = setup.dir.join(format!("{tag}.toml"));
                std::fs::write(&file, connseq_config(routes, &listeners, threads, maxconn, &setup.certs))?;
                Command::new(&setup.connseq)
                    .args(["proxy", "--config"])
                    .arg(&file)
                    // No per-session log line: HAProxy logs nothing without a
                    // `log` directive either.
                    .env("CONNSEQ_LOG", "warn")
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log)
                    .spawn()?
            }
            Kind::Haproxy => {
                let file = setup.dir.join(format!("{tag}.cfg"));
                std::fs::write(&file, haproxy_config(routes, &listeners, threads, maxconn, &setup.certs))?;
                Command::new(&setup.haproxy)
                    .arg("-f")
                    .arg(&file)
                    .arg("-db")
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log)
                    .spawn()?
            }
        };
        let mut proxy = Proxy { kind, child, listeners };
        let probe = proxy.listeners.iter().map(|(_, a)| *a).collect::<Vec<_>>();
        let mut exited = None;
        let up = wait_until(Duration::from_secs(30), || {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                exited = Some(status);
                return true;
            }
            probe.iter().all(|a| TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok())
        });
        let why = match (exited, up) {
            (Some(status), _) => format!("it exited ({status})"),
            (None, false) => {
                let _ = proxy.child.kill();
                let _ = proxy.child.wait();
                "it did not listen on every port within 30 s".to_owned()
            }
            (None, true) => return Ok(proxy),
        };
        Err(io::Error::other(format!(
            "{kind} did not start listening: {why}; {}:\n{}",
            log_path.display(),
            log_tail(&log_path)
        )))
    }

    /// Its process, for CPU time and memory.
    pub fn proc(&self) -> Proc {
        Proc(self.child.id())
    }

    /// The listener of route `name`.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
    }

    /// Stops it (SIGKILL: nothing of it is measured any more).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn connseq_config(
    routes: &RouteSet,
    listeners: &[(&str, SocketAddr)],
    threads: usize,
    maxconn: usize,
    certs: &CertFiles,
) -> String {
    let mut s = format!("[global]\nmaxconn = {maxconn}\nthreads = {threads}\n");
    for ((name, route, server), (_, addr)) in routes.routes.iter().zip(listeners) {
        let _ = write!(s, "\n[[listener]]\nname = \"{name}\"\nlisten = \"{addr}\"\n");
        let splice = if *route == Route::Splice { "always" } else { "never" };
        let _ = writeln!(s, "splice = \"{splice}\"");
        if *route == Route::TlsTerm {
            let _ = writeln!(
                s,
                "tls = {{ certs = [ {{ cert = \"{}\", key = \"{}\" }} ] }}",
                path(&certs.cert),
                path(&certs.key)
            );
        }
        let tls = if *route == Route::TlsOrig { ", tls = { insecure = true }" } else { "" };
        let _ = writeln!(s, "backend = {{ servers = [\"{server}\"]{tls} }}");
    }
    s
}

fn haproxy_config(
    routes: &RouteSet,
    listeners: &[(&str, SocketAddr)],
    threads: usize,
    maxconn: usize,
    certs: &CertFiles,
) -> String {
    let mut s = format!(
        "global\n    nbthread {threads}\n    maxconn {maxconn}\n\n\
         defaults\n    mode tcp\n    maxconn {maxconn}\n    timeout connect 5s\n    timeout client 30s\n    \
         timeout server 30s\n    timeout client-fin 5s\n    timeout server-fin 5s\n"
    );
    for ((name, route, server), (_, addr)) in routes.routes.iter().zip(listeners) {
        let ssl = if *route == Route::TlsTerm { format!(" ssl crt {}", path(&certs.combined)) } else { String::new() };
        let _ = write!(s, "\nlisten {name}\n    bind {addr}{ssl}\n");
        if *route == Route::Splice {
            s.push_str("    option splice-request\n    option splice-response\n");
        }
        let ssl = if *route == Route::TlsOrig { " ssl verify none" } else { "" };
        let _ = writeln!(s, "    server s {server}{ssl}");
    }
    s
}
