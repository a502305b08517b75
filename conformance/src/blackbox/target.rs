//! The target proxy: its command line, its process (started, watched,
//! stopped), and waiting until it listens.

use super::peers::Peers;
use super::{io_err, Blackbox, BlackboxError};
use crate::tls_peer::{Pki, PkiFiles};
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The external proxy, started by command.
#[derive(Debug)]
pub(super) struct TargetProcess {
    child: Child,
    output: Arc<Mutex<VecDeque<String>>>,
}

/// Lines of the proxy's output kept for error messages.
const OUTPUT_LINES: usize = 40;

impl TargetProcess {
    /// Runs `cmd` through `sh -c` in a process group of its own (so that
    /// stopping it stops what the shell started), its output collected.
    fn spawn(cmd: &str) -> io::Result<TargetProcess> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let output = Arc::new(Mutex::new(VecDeque::new()));
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for pipe in pipes.into_iter().flatten() {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let Ok(mut out) = output.lock() else { break };
                    if out.len() == OUTPUT_LINES {
                        out.pop_front();
                    }
                    out.push_back(line);
                }
            });
        }
        Ok(TargetProcess { child, output })
    }

    fn output(&self) -> String {
        self.output.lock().map(|o| o.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default()
    }

    /// The output, introduced for an error message, or empty.
    fn output_note(&self) -> String {
        match self.output() {
            o if o.is_empty() => String::new(),
            o => format!("; its output:\n{o}"),
        }
    }

    /// SIGTERM to the group, then SIGKILL if it is still there after a second.
    fn stop(&mut self) {
        let group = self.child.id();
        let signal = |sig: &str| {
            let _ = Command::new("sh").arg("-c").arg(format!("kill -{sig} -{group} 2>/dev/null")).status();
        };
        if matches!(self.child.try_wait(), Ok(None)) {
            signal("TERM");
            let deadline = Instant::now() + Duration::from_secs(1);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // What the shell started may outlive the shell.
        signal("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TargetProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether something listens on `addr`, from `/proc/net/tcp` or `tcp6`
/// (`None` when neither can be read). An entry bound to the unspecified
/// address of the family, on the same port, counts.
fn listening(addr: SocketAddr) -> Option<bool> {
    let file = if addr.is_ipv4() { "/proc/net/tcp" } else { "/proc/net/tcp6" };
    let text = std::fs::read_to_string(file).ok()?;
    const LISTEN: &str = "0A";
    Some(text.lines().skip(1).any(|line| {
        let mut f = line.split_whitespace();
        let (Some(_), Some(local), Some(_), Some(state)) = (f.next(), f.next(), f.next(), f.next()) else {
            return false;
        };
        state == LISTEN
            && parse_proc_addr(local)
                .is_some_and(|(ip, port)| port == addr.port() && (ip == addr.ip() || ip.is_unspecified()))
    }))
}

/// Reads `0100007F:1F90` (the address as the kernel's `u32` words in host
/// order, then the port) into an address.
fn parse_proc_addr(s: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<[u8; 4]> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok().map(u32::to_ne_bytes))
        .collect::<Option<_>>()?;
    let ip = match words.as_slice() {
        [a] => IpAddr::V4(Ipv4Addr::from(*a)),
        [a, b, c, d] => {
            let mut o = [0u8; 16];
            for (i, w) in [a, b, c, d].into_iter().enumerate() {
                o[i * 4..i * 4 + 4].copy_from_slice(w);
            }
            IpAddr::V6(Ipv6Addr::from(o))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// A port on `ip` that is free now, to hand to a proxy's command line.
///
/// A port the kernel picks (a bind to port 0) would come from the ephemeral
/// range, where the kernel may give it to another socket (a connect's source
/// port, another bind to port 0) before the proxy binds it: the proxy then
/// fails to start, or the harness talks to someone else's listener. So the
/// port is chosen below that range (`/proc/sys/net/ipv4/ip_local_port_range`),
/// from 10,000 up, walking from a start that differs between processes, and
/// checked by binding it; only another caller choosing the same port at the
/// same moment could take it.
pub fn free_port(ip: IpAddr) -> io::Result<SocketAddr> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    const FIRST: u32 = 10_000;
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    if low <= FIRST + 1_000 {
        return TcpListener::bind(SocketAddr::new(ip, 0))?.local_addr();
    }
    let span = low - FIRST;
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = FIRST + (start + n) % span;
        if let Ok(l) = TcpListener::bind(SocketAddr::new(ip, port as u16)) {
            return l.local_addr();
        }
    }
    Err(io::Error::new(io::ErrorKind::AddrInUse, format!("no free port on {ip} between {FIRST} and {low}")))
}
impl Blackbox {
    /// Writes the harness's certificate files (the leaf for `localhost` and
    /// 127.0.0.1, its key, the CA, the leaf and key in one file) into `dir`,
    /// for `{cert}`, `{key}`, `{ca}` and `{cert_pem_bundle}` in the target's
    /// command. Without it, those name the files where the harness made them.
    pub fn write_pki(&mut self, dir: &std::path::Path) -> Result<PkiFiles, BlackboxError> {
        let pki = Pki::get().map_err(io_err("making the harness's certificates"))?;
        let files = pki.write_into(dir).map_err(io_err(format!("writing the certificates into {}", dir.display())))?;
        self.pki_files = Some(files.clone());
        Ok(files)
    }
    /// `template` with `{server}` and `{listen}` replaced by the two
    /// addresses, and `{server_host}`, `{server_port}`, `{listen_host}`,
    /// `{listen_port}` by their parts (for proxies such as socat that take
    /// them apart); `{cert}`, `{key}`, `{ca}`, `{cert_pem_bundle}` by the
    /// certificate files ([`Blackbox::write_pki`]).
    pub fn substitute(&self, template: &str) -> Result<String, BlackboxError> {
        let mut template = template.to_owned();
        if ["{cert}", "{key}", "{ca}", "{cert_pem_bundle}"].iter().any(|p| template.contains(p)) {
            let files = match &self.pki_files {
                Some(f) => f.clone(),
                None => Pki::get().map_err(io_err("making the harness's certificates"))?.files(),
            };
            template = files.substitute(&template);
        }
        let (server, listen) = (self.server_addr(), self.target);
        Ok(template
            .replace("{server}", &server.to_string())
            .replace("{listen}", &listen.to_string())
            .replace("{server_host}", &server.ip().to_string())
            .replace("{server_port}", &server.port().to_string())
            .replace("{listen_host}", &listen.ip().to_string())
            .replace("{listen_port}", &listen.port().to_string()))
    }

    /// Starts the proxy with `sh -c cmd` (placeholders already substituted)
    /// and waits until it listens, at most `timeout`.
    pub fn launch(&mut self, cmd: &str, timeout: Duration) -> Result<(), BlackboxError> {
        let p = TargetProcess::spawn(cmd).map_err(io_err(format!("starting `{cmd}`")))?;
        self.process = Some(p);
        self.wait_listening(timeout)
    }

    /// The last lines the proxy wrote (empty when not started by the harness).
    pub fn target_output(&self) -> String {
        self.process.as_ref().map(TargetProcess::output).unwrap_or_default()
    }
    /// Waits until something listens on the proxy's address: read from
    /// `/proc/net/tcp`, so that waiting opens no session; where `/proc` is
    /// not readable, by connecting (the proxy's session to the server is
    /// then taken off the listener and closed).
    pub fn wait_listening(&mut self, timeout: Duration) -> Result<(), BlackboxError> {
        let start = Instant::now();
        loop {
            if let Some(p) = &mut self.process {
                if let Ok(Some(status)) = p.child.try_wait() {
                    std::thread::sleep(Duration::from_millis(50)); // let the readers collect the last lines
                    return Err(BlackboxError::Exited {
                        status: status.to_string(),
                        addr: self.target,
                        output: p.output_note(),
                    });
                }
            }
            let up = match listening(self.target) {
                Some(up) => up,
                None => match TcpStream::connect_timeout(&self.target, Duration::from_millis(100)) {
                    Ok(probe) => {
                        drop(probe);
                        let mut none = Peers::default();
                        self.settle_peers(&mut none);
                        true
                    }
                    Err(_) => false,
                },
            };
            if up {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(BlackboxError::NotListening {
                    addr: self.target,
                    waited: start.elapsed(),
                    output: self.process.as_ref().map(TargetProcess::output_note).unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    /// How the proxy's process ended, if the harness started it and it did.
    pub fn exited(&mut self) -> Option<String> {
        let p = self.process.as_mut()?;
        let status = p.child.try_wait().ok()??;
        Some(format!("the proxy's process exited ({status}){}", p.output_note()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_below_the_ephemeral_range_and_distinct() {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("the range");
        let low: u16 = range.split_whitespace().next().and_then(|p| p.parse().ok()).expect("its low end");
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (a, b) = (free_port(ip).expect("a port"), free_port(ip).expect("another"));
        if low > 11_000 {
            assert!(a.port() >= 10_000 && a.port() < low && b.port() < low, "{a} {b} (range from {low})");
        }
        assert_ne!(a, b);
        assert!(TcpListener::bind(a).is_ok(), "{a} is free to bind");
    }

    #[test]
    fn proc_net_tcp_addresses_read_back() {
        assert_eq!(parse_proc_addr("0100007F:1F90"), Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 8080)));
        assert_eq!(
            parse_proc_addr("00000000000000000000000001000000:0050"),
            Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 80))
        );
        assert_eq!(parse_proc_addr("0100007F"), None);
    }

    #[test]
    fn a_listener_shows_in_proc_net_tcp() {
        let l = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = l.local_addr().expect("bound");
        assert_eq!(listening(addr), Some(true));
        drop(l);
        assert_eq!(listening(addr), Some(false));
    }
}
