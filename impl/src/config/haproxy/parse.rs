//! The sections and directives of an HAProxy configuration, read into
//! [`Sections`]: every directive of the supported subset is checked and
//! kept with its line; every other one is an error naming its line and
//! keyword, or with `--lenient` a warning ([`Diag`]).

use super::words::Line;
use crate::config::address::{parse_listen_addr, parse_server_addr};
use crate::config::checks;
use crate::config::duration::parse_duration;
use crate::config::error::{ConfigError, Problem};
use crate::config::handshake::{Cidr, ProxyVersion, Verdict};
use crate::config::size::parse_size;
use connseq_model::core::{Balance, SpliceMode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where diagnostics go: errors stop the import; with `lenient`, a
/// directive connseq does not support becomes a warning instead.
#[derive(Debug)]
pub(crate) struct Diag<'a> {
    pub(crate) file: &'a str,
    pub(crate) lenient: bool,
    pub(crate) warnings: Vec<String>,
}

impl Diag<'_> {
    pub(crate) fn error(&self, line: usize, directive: &str, problem: Problem) -> ConfigError {
        ConfigError::Directive {
            file: self.file.to_owned(),
            line,
            directive: directive.to_owned(),
            problem: Box::new(problem),
        }
    }

    /// A directive connseq does not do: an error, or a warning (and
    /// `Ok`) when lenient.
    pub(crate) fn unsupported(&mut self, line: usize, directive: &str, why: &str) -> Result<(), ConfigError> {
        self.refuse(line, directive, Problem::Unsupported(why.to_owned()))
    }

    /// [`Diag::unsupported`] with its own problem.
    pub(crate) fn refuse(&mut self, line: usize, directive: &str, problem: Problem) -> Result<(), ConfigError> {
        let e = self.error(line, directive, problem);
        if self.lenient {
            self.warnings.push(format!("{e} (left out)"));
            Ok(())
        } else {
            Err(e)
        }
    }
}

/// What a `defaults` section gives the proxies after it, and what each
/// proxy may set for itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    pub(crate) timeout_client: Option<Duration>,
    pub(crate) timeout_server: Option<Duration>,
    pub(crate) timeout_connect: Option<Duration>,
    pub(crate) timeout_queue: Option<Duration>,
    pub(crate) timeout_client_fin: Option<Duration>,
    pub(crate) timeout_server_fin: Option<Duration>,
    pub(crate) maxconn: Option<u32>,
    pub(crate) retries: Option<u8>,
    pub(crate) redispatch: Option<bool>,
    pub(crate) balance: Option<Balance>,
    pub(crate) splice: Option<SpliceMode>,
    pub(crate) default_server: ServerOpts,
}

/// A `server` line's (or `default-server`'s) options.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServerOpts {
    pub(crate) maxconn: Option<u32>,
    pub(crate) check: Option<usize>,
    pub(crate) inter: Option<Duration>,
    pub(crate) rise: Option<u32>,
    pub(crate) fall: Option<u32>,
    /// `backup` (`no-backup` takes a `default-server`'s back).
    pub(crate) backup: bool,
    pub(crate) send_proxy: Option<ProxyVersion>,
    pub(crate) ssl: bool,
    /// `verify none` (false) or `verify required` (true).
    pub(crate) verify: Option<bool>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) sni: Option<String>,
    pub(crate) alpn: Vec<String>,
}

/// A `server` line.
#[derive(Clone, Debug)]
pub(crate) struct Server {
    pub(crate) line: usize,
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    pub(crate) opts: ServerOpts,
}

/// A `bind` line.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bind {
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) certs: Vec<PathBuf>,
    pub(crate) alpn: Vec<String>,
    pub(crate) accept_proxy: bool,
}

/// A `tcp-request connection accept|reject` rule, translated.
#[derive(Clone, Debug)]
pub(crate) struct ConnRule {
    pub(crate) line: usize,
    pub(crate) verdict: Verdict,
    /// The blocks it matches; `None`: every address.
    pub(crate) nets: Option<Vec<Cidr>>,
    /// `unless` (or `if !acl`): the rule acts on what the blocks do not match.
    pub(crate) negated: bool,
}

/// A `use_backend NAME [if|unless COND]` rule, translated.
#[derive(Clone, Debug)]
pub(crate) struct UseBackend {
    pub(crate) line: usize,
    pub(crate) name: String,
    /// The blocks it matches; `None`: every address.
    pub(crate) nets: Option<Vec<Cidr>>,
    /// `unless` (or `if !acl`).
    pub(crate) negated: bool,
}

/// What kind of proxy section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Frontend,
    Backend,
    Listen,
}

/// A `frontend`, `backend` or `listen` section.
#[derive(Clone, Debug)]
pub(crate) struct Proxy {
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) line: usize,
    pub(crate) settings: Settings,
    pub(crate) binds: Vec<Bind>,
    pub(crate) default_backend: Option<(usize, String)>,
    pub(crate) rules: Vec<ConnRule>,
    pub(crate) uses: Vec<UseBackend>,
    pub(crate) monitor_nets: Vec<Cidr>,
    pub(crate) servers: Vec<Server>,
    acls: HashMap<String, Vec<Cidr>>,
}

/// The `global` section's settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct Global {
    pub(crate) maxconn: Option<u32>,
    pub(crate) nbthread: Option<usize>,
    pub(crate) bufsize: Option<usize>,
    pub(crate) pipesize: Option<usize>,
    pub(crate) stats_socket: Option<PathBuf>,
    pub(crate) crt_base: Option<PathBuf>,
    pub(crate) ca_base: Option<PathBuf>,
}

/// The whole file.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sections {
    pub(crate) global: Global,
    pub(crate) proxies: Vec<Proxy>,
}

/// The section being read.
enum Current {
    None,
    Global,
    Defaults,
    Proxy(Box<Proxy>),
    /// A section connseq does not know (its lines are skipped with it).
    Skipped,
}

/// Reads `lines`; relative paths start at `dir`.
pub(crate) fn sections(lines: &[Line], dir: &Path, diag: &mut Diag<'_>) -> Result<Sections, ConfigError> {
    let mut out = Sections::default();
    let mut defaults = Settings::default();
    let mut current = Current::None;
    let r = Reader { dir };
    for line in lines {
        let w: Vec<&str> = line.words.iter().map(String::as_str).collect();
        let n = line.number;
        let section = match w[0] {
            "global" => Some(Current::Global),
            "defaults" => {
                if w.len() > 1 {
                    diag.unsupported(n, "defaults", "named defaults sections (the unnamed one applies)")?;
                    Some(Current::Skipped)
                } else {
                    defaults = Settings::default();
                    Some(Current::Defaults)
                }
            }
            kw @ ("frontend" | "backend" | "listen") => {
                let kind = match kw {
                    "frontend" => Kind::Frontend,
                    "backend" => Kind::Backend,
                    _ => Kind::Listen,
                };
                let Some(name) = w.get(1) else {
                    return Err(diag.error(n, kw, Problem::Syntax(format!("'{kw}' needs a name"))));
                };
                let name = checks::name(name).map_err(|p| diag.error(n, kw, p))?;
                if w.len() > 2 {
                    diag.unsupported(n, kw, "options after the section's name (a 'from' defaults section)")?;
                }
                Some(Current::Proxy(Box::new(Proxy {
                    kind,
                    name,
                    line: n,
                    settings: defaults.clone(),
                    binds: Vec::new(),
                    default_backend: None,
                    rules: Vec::new(),
                    uses: Vec::new(),
                    monitor_nets: Vec::new(),
                    servers: Vec::new(),
                    acls: HashMap::new(),
                })))
            }
            kw @ ("userlist" | "peers" | "resolvers" | "mailers" | "program" | "http-errors" | "ring" | "cache"
            | "crt-store" | "traces" | "log-forward") => {
                diag.unsupported(n, kw, "this kind of section")?;
                Some(Current::Skipped)
            }
            _ => None,
        };
        if let Some(next) = section {
            if let Current::Proxy(p) = std::mem::replace(&mut current, next) {
                out.proxies.push(*p);
            }
            continue;
        }
        match &mut current {
            Current::None => {
                return Err(diag.error(n, w[0], Problem::Syntax("a directive outside any section".into())));
            }
            Current::Skipped => {}
            Current::Global => r.global(&mut out.global, line, &w, diag)?,
            Current::Defaults => {
                if !r.setting(&mut defaults, line, &w, diag)? {
                    unknown(diag, n, &w, "in a defaults section")?;
                }
            }
            Current::Proxy(p) => r.proxy(p, &out.global, line, &w, diag)?,
        }
    }
    if let Current::Proxy(p) = current {
        out.proxies.push(*p);
    }
    Ok(out)
}

/// A directive connseq does not know at all.
fn unknown(diag: &mut Diag<'_>, n: usize, w: &[&str], place: &str) -> Result<(), ConfigError> {
    let kw = directive_name(w);
    diag.unsupported(n, &kw, &format!("this directive {place}"))
}

/// The keyword(s) that name a directive: `option redispatch`, `timeout
/// client`, `tcp-request connection`, or the first word.
fn directive_name(w: &[&str]) -> String {
    match w {
        [a @ ("option" | "no" | "timeout" | "stats" | "http-check" | "tcp-check"), b, ..] => format!("{a} {b}"),
        [a @ ("tcp-request" | "tcp-response" | "http-request" | "http-response"), b, ..] => format!("{a} {b}"),
        [a, ..] => (*a).to_owned(),
        [] => String::new(),
    }
}

struct Reader<'a> {
    dir: &'a Path,
}

impl Reader<'_> {
    fn count<T: TryFrom<i64>>(&self, diag: &Diag<'_>, n: usize, kw: &str, v: &str, max: i64) -> Result<T, ConfigError> {
        let parsed: i64 =
            v.parse().map_err(|_| diag.error(n, kw, Problem::Syntax(format!("'{v}' is not a number"))))?;
        checks::int(parsed, 0, max).map_err(|p| diag.error(n, kw, p))
    }

    fn time(&self, diag: &Diag<'_>, n: usize, kw: &str, v: &str) -> Result<Duration, ConfigError> {
        let d =
            parse_duration(v).map_err(|reason| diag.error(n, kw, Problem::Duration { value: v.to_owned(), reason }))?;
        checks::timeout(d, || v.to_owned()).map_err(|p| diag.error(n, kw, p))
    }

    fn path(&self, base: Option<&Path>, v: &str) -> PathBuf {
        match base {
            Some(b) if Path::new(v).is_relative() => self.dir.join(b).join(v),
            _ => self.dir.join(v),
        }
    }

    fn global(&self, g: &mut Global, line: &Line, w: &[&str], diag: &mut Diag<'_>) -> Result<(), ConfigError> {
        let n = line.number;
        match w {
            ["maxconn", v] => g.maxconn = Some(self.count(diag, n, "maxconn", v, u32::MAX.into())?),
            ["nbthread", v] => {
                let t: usize = self.count(diag, n, "nbthread", v, checks::MAX_THREADS as i64)?;
                g.nbthread = Some(checks::threads(t).map_err(|p| diag.error(n, "nbthread", p))?);
            }
            ["tune.bufsize", v] | ["tune.pipesize", v] => {
                let size = parse_size(v)
                    .map_err(|reason| diag.error(n, w[0], Problem::Size { value: (*v).to_owned(), reason }))?;
                let size = checks::buffer_size(size, || (*v).to_owned()).map_err(|p| diag.error(n, w[0], p))?;
                if w[0] == "tune.bufsize" {
                    g.bufsize = Some(size);
                } else {
                    g.pipesize = Some(size);
                }
            }
            ["stats", "socket", path, rest @ ..] => {
                let mut opts = rest.iter();
                while let Some(o) = opts.next() {
                    match (*o, opts.next()) {
                        ("level", Some(&"admin")) | ("mode", Some(&"600")) | ("mode", Some(&"0600")) => {}
                        _ => diag.unsupported(
                            n,
                            "stats socket",
                            &format!("the option '{o}' (connseq's socket is mode 0600, level admin)"),
                        )?,
                    }
                }
                g.stats_socket = Some(self.path(None, path));
            }
            ["stats", "timeout", ..] => {
                diag.unsupported(n, "stats timeout", "a runtime API timeout (connseq's is 60 s)")?
            }
            ["crt-base", v] => g.crt_base = Some(PathBuf::from(v)),
            ["ca-base", v] => g.ca_base = Some(PathBuf::from(v)),
            ["log", "stdout" | "stderr", ..] => {} // connseq logs to stderr.
            ["log", ..] => {
                diag.unsupported(n, "log", "a log target other than stdout or stderr (connseq logs to stderr)")?
            }
            ["daemon"] => {
                diag.unsupported(n, "daemon", "running in the background (run connseq under systemd: dist/systemd)")?
            }
            _ => unknown(diag, n, w, "in the global section")?,
        }
        Ok(())
    }

    /// A directive both `defaults` and proxies take; false if `w` is not one.
    fn setting(&self, s: &mut Settings, line: &Line, w: &[&str], diag: &mut Diag<'_>) -> Result<bool, ConfigError> {
        let n = line.number;
        match w {
            ["mode", "tcp"] => {}
            ["mode", m] => diag.unsupported(n, "mode", &format!("mode {m} (connseq proxies TCP only: mode tcp)"))?,
            ["timeout", which, v] => {
                let kw = format!("timeout {which}");
                let slot = match *which {
                    "client" => &mut s.timeout_client,
                    "server" => &mut s.timeout_server,
                    "connect" => &mut s.timeout_connect,
                    "queue" => &mut s.timeout_queue,
                    "client-fin" => &mut s.timeout_client_fin,
                    "server-fin" => &mut s.timeout_server_fin,
                    "check" => {
                        diag.unsupported(
                            n,
                            &kw,
                            "a TCP check is a connect: it is bounded by timeout connect and inter",
                        )?;
                        return Ok(true);
                    }
                    _ => {
                        diag.unsupported(n, &kw, "this timeout")?;
                        return Ok(true);
                    }
                };
                *slot = Some(self.time(diag, n, &kw, v)?);
            }
            ["maxconn", v] => s.maxconn = Some(self.count(diag, n, "maxconn", v, u32::MAX.into())?),
            ["retries", v] => s.retries = Some(self.count(diag, n, "retries", v, u8::MAX.into())?),
            ["option", "redispatch"] => s.redispatch = Some(true),
            ["no", "option", "redispatch"] => s.redispatch = Some(false),
            ["option", "splice-auto"] => s.splice = Some(SpliceMode::Auto),
            ["no", "option", "splice-auto"] => s.splice = Some(SpliceMode::Never),
            // The log line connseq writes is a tcplog line, to stderr.
            ["option", "tcplog"] | ["log", "global"] => {}
            // HAProxy's tcp-check without a `tcp-check` rule (each is refused) is a connect to
            // the server: connseq's check.
            ["option", "tcp-check"] => {}
            ["balance", "roundrobin"] => s.balance = Some(Balance::RoundRobin),
            ["balance", "leastconn"] => s.balance = Some(Balance::LeastConn),
            ["balance", b, ..] => {
                diag.unsupported(n, "balance", &format!("balance {b} (use roundrobin or leastconn)"))?
            }
            ["default-server", opts @ ..] => {
                let mut d = s.default_server.clone();
                self.server_opts(&mut d, None, line, opts, diag)?;
                s.default_server = d;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn proxy(
        &self,
        p: &mut Proxy,
        g: &Global,
        line: &Line,
        w: &[&str],
        diag: &mut Diag<'_>,
    ) -> Result<(), ConfigError> {
        let n = line.number;
        let front = p.kind != Kind::Backend;
        let back = p.kind != Kind::Frontend;
        if self.setting(&mut p.settings, line, w, diag)? {
            return Ok(());
        }
        match w {
            ["bind", addrs, opts @ ..] if front => {
                let mut b = Bind::default();
                for a in addrs.split(',') {
                    let addr = parse_listen_addr(a)
                        .map_err(|reason| diag.error(n, "bind", Problem::Address { value: a.to_owned(), reason }))?;
                    b.addrs.push(addr);
                }
                self.bind_opts(&mut b, g, n, opts, diag)?;
                p.binds.push(b);
            }
            ["default_backend", name] if front => p.default_backend = Some((n, (*name).to_owned())),
            ["use_backend", name, cond @ ..] if front => {
                if let Some((negated, nets)) = self.condition(p, n, "use_backend", cond, diag)? {
                    p.uses.push(UseBackend { line: n, name: (*name).to_owned(), nets, negated });
                }
            }
            ["acl", _, "src", nets @ ..] if front && nets.iter().any(|t| t.starts_with('-')) => diag.unsupported(
                n,
                "acl",
                "match flags such as -f FILE (write the address blocks in the configuration)",
            )?,
            ["acl", name, "src", nets @ ..] if front && !nets.is_empty() => {
                let nets = nets.iter().map(|t| self.cidr(diag, n, "acl", t)).collect::<Result<_, _>>()?;
                p.acls.insert((*name).to_owned(), nets);
            }
            ["acl", ..] if front => diag.unsupported(n, "acl", "an ACL on anything but src with address blocks")?,
            ["tcp-request", "connection", action, cond @ ..] if front => self.conn_rule(p, n, action, cond, diag)?,
            ["monitor-net", net] if front => {
                let net = self.cidr(diag, n, "monitor-net", net)?;
                p.monitor_nets.push(net);
            }
            ["server", name, addr, opts @ ..] if back => {
                let name = checks::name(name).map_err(|pr| diag.error(n, "server", pr))?;
                let addr = parse_server_addr(addr).map_err(|reason| {
                    diag.error(n, "server", Problem::Address { value: (*addr).to_owned(), reason })
                })?;
                let mut o = p.settings.default_server.clone();
                self.server_opts(&mut o, Some(g), line, opts, diag)?;
                p.servers.push(Server { line: n, name, addr, opts: o });
            }
            _ => unknown(diag, n, w, &format!("in a {} section", kind_name(p.kind)))?,
        }
        Ok(())
    }

    fn cidr(&self, diag: &Diag<'_>, n: usize, kw: &str, text: &str) -> Result<Cidr, ConfigError> {
        text.parse().map_err(|reason| diag.error(n, kw, Problem::Cidr { value: text.to_owned(), reason }))
    }

    /// `[if|unless COND]` after an action, COND being `{ src BLOCK... }` or
    /// an ACL name, maybe negated with `!`: whether it is negated and its
    /// blocks (`None`: no condition, every address); `None` when it is not
    /// supported and left out (`--lenient`).
    #[allow(clippy::type_complexity)]
    fn condition(
        &self,
        p: &Proxy,
        n: usize,
        kw: &str,
        cond: &[&str],
        diag: &mut Diag<'_>,
    ) -> Result<Option<(bool, Option<Vec<Cidr>>)>, ConfigError> {
        let (negated, nets) = match cond {
            [] => (false, None),
            [word @ ("if" | "unless"), rest @ ..] => {
                let mut negated = *word == "unless";
                let nets = match rest {
                    ["{", "src", nets @ .., "}"] if nets.iter().any(|t| t.starts_with('-')) => {
                        return diag
                            .unsupported(
                                n,
                                kw,
                                "match flags such as -f FILE (write the address blocks in the configuration)",
                            )
                            .map(|()| None);
                    }
                    ["{", "src", nets @ .., "}"] if !nets.is_empty() => {
                        nets.iter().map(|t| self.cidr(diag, n, kw, t)).collect::<Result<Vec<_>, _>>()?
                    }
                    [name] => {
                        let (neg, name) = match name.strip_prefix('!') {
                            Some(stripped) => (true, stripped),
                            None => (false, *name),
                        };
                        negated ^= neg;
                        match p.acls.get(name) {
                            Some(nets) => nets.clone(),
                            None => {
                                return Err(diag.error(
                                    n,
                                    kw,
                                    Problem::Syntax(format!(
                                        "unknown ACL '{name}' (define it with 'acl {name} src BLOCK...' before)"
                                    )),
                                ));
                            }
                        }
                    }
                    _ => {
                        return diag
                            .unsupported(
                                n,
                                kw,
                                "a condition other than one src match ({ src BLOCK... } or one ACL on src)",
                            )
                            .map(|()| None)
                    }
                };
                (negated, Some(nets))
            }
            _ => return Err(diag.error(n, kw, Problem::Syntax("expected 'if' or 'unless' after the action".into()))),
        };
        Ok(Some((negated, nets)))
    }

    /// `tcp-request connection accept|reject [if|unless COND]`, COND being
    /// `{ src BLOCK... }` or an ACL name, maybe negated with `!`.
    fn conn_rule(
        &self,
        p: &mut Proxy,
        n: usize,
        action: &str,
        cond: &[&str],
        diag: &mut Diag<'_>,
    ) -> Result<(), ConfigError> {
        let kw = "tcp-request connection";
        let verdict = match action {
            "accept" => Verdict::Allow,
            "reject" => Verdict::Deny,
            other => return diag.unsupported(n, kw, &format!("the action '{other}' (accept and reject are)")),
        };
        let Some((negated, nets)) = self.condition(p, n, kw, cond, diag)? else { return Ok(()) };
        p.rules.push(ConnRule { line: n, verdict, nets, negated });
        Ok(())
    }

    fn bind_opts(
        &self,
        b: &mut Bind,
        g: &Global,
        n: usize,
        opts: &[&str],
        diag: &mut Diag<'_>,
    ) -> Result<(), ConfigError> {
        let mut it = opts.iter();
        let mut ssl = false;
        while let Some(o) = it.next() {
            match *o {
                "ssl" => ssl = true,
                "accept-proxy" => b.accept_proxy = true,
                "crt" => {
                    let v =
                        it.next().ok_or_else(|| diag.error(n, "bind", Problem::Syntax("'crt' needs a file".into())))?;
                    b.certs.push(self.path(g.crt_base.as_deref(), v));
                }
                "alpn" => {
                    let v = it
                        .next()
                        .ok_or_else(|| diag.error(n, "bind", Problem::Syntax("'alpn' needs a list".into())))?;
                    for a in v.split(',') {
                        b.alpn.push(checks::alpn(a).map_err(|p| diag.error(n, "bind", p))?);
                    }
                }
                other => diag.unsupported(n, "bind", &format!("the bind option '{other}'"))?,
            }
        }
        if ssl == b.certs.is_empty() {
            let why = if ssl { "'ssl' needs at least one 'crt FILE'" } else { "'crt' needs 'ssl'" };
            return Err(diag.error(n, "bind", Problem::Syntax(why.into())));
        }
        Ok(())
    }

    fn server_opts(
        &self,
        o: &mut ServerOpts,
        g: Option<&Global>,
        line: &Line,
        opts: &[&str],
        diag: &mut Diag<'_>,
    ) -> Result<(), ConfigError> {
        let n = line.number;
        let kw = if g.is_some() { "server" } else { "default-server" };
        let ca_base = g.and_then(|g| g.ca_base.as_deref());
        let mut it = opts.iter();
        while let Some(opt) = it.next() {
            let mut arg = || {
                it.next().copied().ok_or_else(|| diag.error(n, kw, Problem::Syntax(format!("'{opt}' needs a value"))))
            };
            match *opt {
                "maxconn" => {
                    let v = arg()?;
                    o.maxconn = Some(self.count(diag, n, kw, v, u32::MAX.into())?);
                }
                "check" => o.check = Some(n),
                "backup" => o.backup = true,
                "no-backup" => o.backup = false,
                "inter" => {
                    let v = arg()?;
                    o.inter = Some(self.time(diag, n, kw, v)?);
                }
                "rise" | "fall" => {
                    let v = arg()?;
                    let c: i64 =
                        v.parse().map_err(|_| diag.error(n, kw, Problem::Syntax(format!("'{v}' is not a number"))))?;
                    let c = checks::check_count(c).map_err(|p| diag.error(n, kw, p))?;
                    if *opt == "rise" {
                        o.rise = Some(c);
                    } else {
                        o.fall = Some(c);
                    }
                }
                "send-proxy" => o.send_proxy = Some(ProxyVersion::V1),
                "send-proxy-v2" => o.send_proxy = Some(ProxyVersion::V2),
                "ssl" => o.ssl = true,
                "verify" => match arg()? {
                    "none" => o.verify = Some(false),
                    "required" => o.verify = Some(true),
                    v => {
                        return Err(diag.error(
                            n,
                            kw,
                            Problem::Syntax(format!("verify {v}: expected none or required")),
                        ))
                    }
                },
                "ca-file" => {
                    let v = arg()?;
                    o.ca_file = Some(self.path(ca_base, v));
                }
                "sni" => {
                    let v = arg()?;
                    match v.strip_prefix("str(").and_then(|s| s.strip_suffix(')')) {
                        Some(name) => o.sni = Some(checks::sni(name).map_err(|p| diag.error(n, kw, p))?),
                        None => {
                            diag.unsupported(n, kw, &format!("sni {v} (a fixed name, sni str(NAME), is supported)"))?
                        }
                    }
                }
                "alpn" => {
                    let v = arg()?;
                    for a in v.split(',') {
                        o.alpn.push(checks::alpn(a).map_err(|p| diag.error(n, kw, p))?);
                    }
                }
                other => diag.unsupported(n, kw, &format!("the server option '{other}'"))?,
            }
        }
        Ok(())
    }
}

pub(crate) fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Frontend => "frontend",
        Kind::Backend => "backend",
        Kind::Listen => "listen",
    }
}
