//! The TOML configuration file: reads it into the shape of `toml_raw`, then
//! checks and translates every value into a [`ProxyConfig`], pointing each
//! error at the line of the key at fault (or of the table that lacks it).
//!
//! Checks run in this order, and the first failure is reported: TOML syntax
//! and shape (unknown keys, wrong types), `[global]`, the `[backend.NAME]`
//! sections in file order (used or not), then the listeners in file order,
//! each in turn: its name, its addresses (against those before them), its
//! backend, maxconn and timeouts, its handshake keys (`monitor-net`,
//! `rules`, `src-rules`, `tls`), and last whether its name is taken. In a
//! backend: servers, balance, retries, timeouts, then `send-proxy` and `tls`.
//!
//! Files the configuration names (certificates, keys, CA) are relative to
//! the configuration file's directory, and must be readable when it is
//! checked; their content is the runtime's TLS loader's to check.

use super::address::{parse_listen_addr, parse_server_addr};
use super::checks;
use super::choice::{add_tlv, parse_balance, parse_proxy_version, parse_splice};
use super::duration::parse_duration;
use super::error::{ConfigError, Problem};
use super::handshake::{
    BackTls, Cidr, FrontTls, ProxyTlvs, ProxyVersion, Rule, Rules, SendProxy, ServerVerify, Verdict,
};
use super::locate::Source;
use super::size::parse_size;
use super::toml_raw::{
    BackendRef, DurationText, Int, OneOrMany, RawBackTls, RawBackend, RawFile, RawFrontTls, RawGlobal, RawListener,
    RawRule, RawServer, RawServerTable, SizeText,
};
use super::{
    BackendConfig, BackendTimeouts, CheckParams, GlobalConfig, ListenerConfig, ListenerOptions, ListenerTimeouts,
    ProxyConfig, Route, ServerConfig, ServerOptions, SourceLimits,
};
use connseq_model::core::SpliceMode;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

type Result<T> = std::result::Result<T, ConfigError>;

/// Reads and checks the file at `path`; errors name it as the user wrote it.
pub(crate) fn load(path: &Path) -> Result<ProxyConfig> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &file),
        Err(source) => Err(ConfigError::Unreadable { file, source }),
    }
}

/// Checks TOML `text`; errors name it `file`, and the files it names are
/// relative to `file`'s directory.
pub(crate) fn parse(text: &str, file: &str) -> Result<ProxyConfig> {
    let src = Source { file, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
    let dir = Path::new(file).parent().unwrap_or(Path::new("")).to_owned();
    Builder { src, dir }.build(raw)
}

/// Turns the raw file into checked configuration types.
struct Builder<'a> {
    src: Source<'a>,
    /// Where relative paths start: the configuration file's directory.
    dir: PathBuf,
}

impl Builder<'_> {
    fn build(&self, raw: RawFile) -> Result<ProxyConfig> {
        let global = match &raw.global {
            Some(g) => self.global(g.get_ref())?,
            None => GlobalConfig::default(),
        };

        let mut sections: Vec<(&Spanned<String>, &Spanned<RawBackend>)> = raw.backend.iter().collect();
        sections.sort_by_key(|(name, _)| name.span().start);
        let mut backends = BTreeMap::new();
        for (name, section) in sections {
            let checked = checks::name(name.get_ref()).map_err(|p| self.err(name.span(), "backend", p))?;
            backends.insert(checked.clone(), self.backend(checked, section.get_ref(), section.span())?);
        }

        let Some(list) = raw.listener.as_ref().filter(|l| !l.get_ref().is_empty()) else {
            let span = raw.listener.as_ref().map_or(0..0, |l| l.span());
            return Err(self.err(span, "listener", Problem::NoListener));
        };
        let mut listeners: Vec<(ListenerConfig, usize)> = Vec::new();
        let mut bound: Vec<(SocketAddr, String)> = Vec::new();
        for l in list.get_ref() {
            let line = self.src.line(l.span().start);
            let listener = self.listener(l.get_ref(), l.span(), &global, &backends, &mut bound)?;
            if let Some((_, first_line)) = listeners.iter().find(|(o, _)| o.name == listener.name) {
                let problem = Problem::DuplicateListener { name: listener.name.clone(), first_line: *first_line };
                return Err(self.err(l.get_ref().name.span(), "name", problem));
            }
            listeners.push((listener, line));
        }
        Ok(ProxyConfig { listeners: listeners.into_iter().map(|(l, _)| l).collect(), global })
    }

    fn global(&self, g: &RawGlobal) -> Result<GlobalConfig> {
        let d = GlobalConfig::default();
        Ok(GlobalConfig {
            maxconn: self.opt_int(&g.maxconn, "maxconn", 0, u32::MAX.into())?.unwrap_or(d.maxconn),
            threads: match &g.threads {
                Some(t) => self.int(t, "threads", 1, checks::MAX_THREADS as i64)?,
                None => d.threads,
            },
            buffer_size: match &g.buffer_size {
                Some(s) => self.size(s, "buffer-size")?,
                None => d.buffer_size,
            },
            pipe_size: match &g.pipe_size {
                Some(s) => Some(self.size(s, "pipe-size")?),
                None => d.pipe_size,
            },
            splice: match &g.splice {
                Some(s) => parse_splice(s.get_ref()).map_err(|p| self.err(s.span(), "splice", p))?,
                None => d.splice,
            },
            grace_period: self.opt_delay(&g.grace_period, "grace-period", d.grace_period)?,
            stats_socket: g.stats_socket.as_ref().map(|p| self.dir.join(p.get_ref())),
            metrics: match &g.metrics {
                Some(a) => Some(parse_listen_addr(a.get_ref()).map_err(|reason| {
                    self.err(a.span(), "metrics", Problem::Address { value: a.get_ref().clone(), reason })
                })?),
                None => None,
            },
        })
    }

    fn backend(&self, name: String, b: &RawBackend, span: Range<usize>) -> Result<BackendConfig> {
        let d = BackendConfig::new(name, Vec::new());
        let server_maxconn = self.opt_int(&b.server_maxconn, "server-maxconn", 0, u32::MAX.into())?.unwrap_or(0);
        let mut servers = Vec::new();
        let mut server_options: Vec<ServerOptions> = Vec::new();
        if let Some(list) = &b.servers {
            for s in list.get_ref() {
                let (server, options) = self.server(s, server_maxconn, servers.len())?;
                if server_options.iter().any(|o| o.name == options.name) {
                    let problem = Problem::DuplicateServer { name: options.name, backend: d.name };
                    return Err(self.err(s.span(), "name", problem));
                }
                servers.push(server);
                server_options.push(options);
            }
        }
        if servers.is_empty() {
            let at = b.servers.as_ref().map_or(span, |s| s.span());
            return Err(self.err(at, "servers", Problem::NoServer(d.name)));
        }
        let dt = d.timeouts;
        Ok(BackendConfig {
            servers,
            balance: match &b.balance {
                Some(s) => parse_balance(s.get_ref()).map_err(|p| self.err(s.span(), "balance", p))?,
                None => d.balance,
            },
            retries: self.opt_int(&b.retries, "retries", 0, u8::MAX.into())?.unwrap_or(d.retries),
            redispatch: b.redispatch.as_ref().map_or(d.redispatch, |v| *v.get_ref()),
            queue: b.queue.as_ref().map_or(d.queue, |v| *v.get_ref()),
            timeouts: BackendTimeouts {
                connect: self.opt_timeout(&b.timeout_connect, "timeout-connect", dt.connect)?,
                server: self.opt_timeout(&b.timeout_server, "timeout-server", dt.server)?,
                server_fin: self.opt_timeout(&b.timeout_server_fin, "timeout-server-fin", dt.server_fin)?,
                queue: self.opt_timeout(&b.timeout_queue, "timeout-queue", dt.queue)?,
                turn_around: self.opt_delay(&b.timeout_turn_around, "timeout-turn-around", dt.turn_around)?,
            },
            send_proxy: self.send_proxy(b)?,
            tls: b.tls.as_ref().map(|t| self.back_tls(t)).transpose()?,
            server_options,
            limits: self.source_limits(b)?,
            ..d
        })
    }

    /// `send-proxy` with its `send-proxy-tlv`s.
    fn send_proxy(&self, b: &RawBackend) -> Result<Option<SendProxy>> {
        let mut tlvs = ProxyTlvs::default();
        for t in b.send_proxy_tlv.iter().flat_map(|l| l.get_ref()) {
            add_tlv(&mut tlvs, t.get_ref()).map_err(|p| self.err(t.span(), "send-proxy-tlv", p))?;
        }
        let version = match &b.send_proxy {
            Some(v) => Some(parse_proxy_version(v.get_ref()).map_err(|p| self.err(v.span(), "send-proxy", p))?),
            None => None,
        };
        let needs = "send-proxy = \"v2\"";
        let tlv_err =
            |problem| self.err(b.send_proxy_tlv.as_ref().map_or(0..0, |l| l.span()), "send-proxy-tlv", problem);
        let any_tlv = tlvs != ProxyTlvs::default();
        match version {
            None if any_tlv => Err(tlv_err(Problem::TlvsWithoutSendProxy { needs })),
            None => Ok(None),
            Some(ProxyVersion::V1) if any_tlv => Err(tlv_err(Problem::TlvsNeedV2 { needs })),
            Some(version) => Ok(Some(SendProxy { version, tlvs })),
        }
    }

    /// A backend's `tls`: exactly one of `ca` and `insecure = true`.
    fn back_tls(&self, t: &Spanned<RawBackTls>) -> Result<BackTls> {
        let raw = t.get_ref();
        let insecure = raw.insecure.as_ref().filter(|i| *i.get_ref());
        let verify = match (&raw.ca, insecure) {
            (Some(_), Some(i)) => {
                let problem = Problem::BothServerVerify { choices: "ca and insecure" };
                return Err(self.err(i.span(), "insecure", problem));
            }
            (None, None) => {
                let problem = Problem::NoServerVerify { choices: "ca = \"FILE\" or insecure = true" };
                return Err(self.err(t.span(), "tls", problem));
            }
            (Some(ca), None) => ServerVerify::Ca(self.file(ca, "ca")?),
            (None, Some(_)) => ServerVerify::Insecure,
        };
        let sni = match &raw.sni {
            Some(s) => Some(checks::sni(s.get_ref()).map_err(|p| self.err(s.span(), "sni", p))?),
            None => None,
        };
        Ok(BackTls { verify, sni, alpn: self.alpn(&raw.alpn)? })
    }

    /// A listener's `tls`: at least one certificate and key.
    fn front_tls(&self, t: &Spanned<RawFrontTls>) -> Result<FrontTls> {
        let raw = t.get_ref();
        let pairs = raw.certs.as_ref().map_or(&[][..], |c| c.get_ref().as_slice());
        if pairs.is_empty() {
            let at = raw.certs.as_ref().map_or(t.span(), |c| c.span());
            return Err(self.err(at, "certs", Problem::NoCertificate));
        }
        let mut certs = Vec::new();
        for pair in pairs {
            let pair = pair.get_ref();
            certs.push((self.file(&pair.cert, "cert")?, self.file(&pair.key, "key")?));
        }
        Ok(FrontTls { certs, alpn: self.alpn(&raw.alpn)? })
    }

    /// ALPN protocol names, in the written order.
    fn alpn(&self, list: &Option<Spanned<Vec<Spanned<String>>>>) -> Result<Vec<String>> {
        let names = list.iter().flat_map(|l| l.get_ref());
        names.map(|a| checks::alpn(a.get_ref()).map_err(|p| self.err(a.span(), "alpn", p))).collect()
    }

    /// A file the configuration names, relative to its directory, which
    /// must be readable now.
    fn file(&self, v: &Spanned<String>, key: &str) -> Result<PathBuf> {
        checks::readable_file(&self.dir.join(v.get_ref())).map_err(|p| self.err(v.span(), key, p))
    }

    /// `rules` or `src-rules` (`key`), in the written order.
    fn rules(&self, list: &Option<Spanned<Vec<Spanned<RawRule>>>>, key: &str) -> Result<Rules> {
        let mut rules = Vec::new();
        for r in list.iter().flat_map(|l| l.get_ref()) {
            let (verdict, net, net_key) = match (&r.get_ref().allow, &r.get_ref().deny) {
                (Some(net), None) => (Verdict::Allow, net, "allow"),
                (None, Some(net)) => (Verdict::Deny, net, "deny"),
                _ => return Err(self.err(r.span(), key, Problem::RuleVerdict)),
            };
            rules.push(Rule { verdict, net: self.cidr(net.get_ref(), net.span(), net_key)? });
        }
        Ok(Rules(rules))
    }

    /// A listener's `use-backend` routes, each to a `[backend.NAME]`.
    fn routes(
        &self,
        l: &RawListener,
        backends: &BTreeMap<String, BackendConfig>,
        accept_proxy: bool,
    ) -> Result<Vec<Route>> {
        let Some(list) = &l.use_backend else { return Ok(Vec::new()) };
        if accept_proxy && !list.get_ref().is_empty() {
            return Err(self.err(list.span(), "use-backend", Problem::RoutesWithAcceptProxy));
        }
        let mut routes = Vec::new();
        for r in list.get_ref() {
            let r = r.get_ref();
            let name = r.backend.get_ref();
            let backend = backends.get(name).cloned().ok_or_else(|| {
                let known = backends.keys().cloned().collect::<Vec<_>>().join(", ");
                self.err(r.backend.span(), "backend", Problem::UnknownBackend { name: name.clone(), known })
            })?;
            let nets =
                r.src.get_ref().iter().map(|n| self.cidr(n.get_ref(), n.span(), "src")).collect::<Result<_>>()?;
            routes.push(Route { backend, nets, negated: r.unless.as_ref().is_some_and(|u| *u.get_ref()) });
        }
        Ok(routes)
    }

    fn cidr(&self, text: &str, span: Range<usize>, key: &str) -> Result<Cidr> {
        text.parse().map_err(|reason| self.err(span, key, Problem::Cidr { value: text.to_owned(), reason }))
    }

    /// The `i`-th server of a backend (from 0), with its name (`s{i+1}`
    /// unless it has one) and health-check settings.
    fn server(&self, s: &Spanned<RawServer>, default_maxconn: u32, i: usize) -> Result<(ServerConfig, ServerOptions)> {
        let mut options = ServerOptions::numbered(i);
        let (text, span, maxconn) = match s.get_ref() {
            RawServer::Addr(a) => (a.as_str(), s.span(), default_maxconn),
            RawServer::Table(t) => {
                let maxconn = self.opt_int(&t.maxconn, "maxconn", 0, u32::MAX.into())?.unwrap_or(default_maxconn);
                if let Some(n) = &t.name {
                    options.name = checks::name(n.get_ref()).map_err(|p| self.err(n.span(), "name", p))?;
                }
                options.check = self.check(t)?;
                options.backup = t.backup.as_ref().is_some_and(|b| *b.get_ref());
                (t.addr.get_ref().as_str(), t.addr.span(), maxconn)
            }
        };
        let addr = parse_server_addr(text)
            .map_err(|reason| self.err(span, "servers", Problem::Address { value: text.to_owned(), reason }))?;
        Ok((ServerConfig { addr, maxconn }, options))
    }

    /// A server's `check`, `inter`, `rise` and `fall`, each value checked.
    fn check(&self, t: &RawServerTable) -> Result<CheckParams> {
        let d = CheckParams::default();
        let count = |v: &Option<Spanned<Int>>, key: &str, default: u32| match v {
            Some(v) => checks::check_count(v.get_ref().0).map_err(|p| self.err(v.span(), key, p)),
            None => Ok(default),
        };
        Ok(CheckParams {
            enabled: t.check.as_ref().is_some_and(|c| *c.get_ref()),
            inter: self.opt_timeout(&t.inter, "inter", d.inter)?,
            rise: count(&t.rise, "rise", d.rise)?,
            fall: count(&t.fall, "fall", d.fall)?,
        })
    }

    fn listener(
        &self,
        l: &RawListener,
        span: Range<usize>,
        global: &GlobalConfig,
        backends: &BTreeMap<String, BackendConfig>,
        bound: &mut Vec<(SocketAddr, String)>,
    ) -> Result<ListenerConfig> {
        let name = checks::name(l.name.get_ref()).map_err(|p| self.err(l.name.span(), "name", p))?;
        let addrs = self.addrs(l, &name, span.clone(), bound)?;
        let backend = match &l.backend {
            None => return Err(self.err(span, "backend", Problem::NoBackend(name))),
            Some(r) => match r.get_ref() {
                BackendRef::Name(n) => backends.get(n).cloned().ok_or_else(|| {
                    let known = if backends.is_empty() {
                        "no [backend.NAME] section is defined".to_owned()
                    } else {
                        format!("defined: {}", backends.keys().cloned().collect::<Vec<_>>().join(", "))
                    };
                    self.err(r.span(), "backend", Problem::UnknownBackend { name: n.clone(), known })
                })?,
                BackendRef::Inline(b) => {
                    if backends.contains_key(&name) {
                        return Err(self.err(r.span(), "backend", Problem::BackendNameTaken(name)));
                    }
                    self.backend(name.clone(), b, r.span())?
                }
            },
        };
        let d = ListenerTimeouts::default();
        let maxconn = match &l.maxconn {
            Some(m) => {
                let n = self.int(m, "maxconn", 0, u32::MAX.into())?;
                checks::listener_maxconn(n, global.maxconn).map_err(|p| self.err(m.span(), "maxconn", p))?
            }
            None => 0,
        };
        let timeouts = ListenerTimeouts {
            handshake: self.opt_timeout(&l.timeout_handshake, "timeout-handshake", d.handshake)?,
            client: self.opt_timeout(&l.timeout_client, "timeout-client", d.client)?,
            client_fin: self.opt_timeout(&l.timeout_client_fin, "timeout-client-fin", d.client_fin)?,
        };
        let splice = match &l.splice {
            Some(s) => parse_splice(s.get_ref()).map_err(|p| self.err(s.span(), "splice", p))?,
            None => global.splice,
        };
        let mut options = self.options(l, splice)?;
        options.routes = self.routes(l, backends, options.accept_proxy)?;
        Ok(ListenerConfig { name, addrs, backend, timeouts, maxconn, options })
    }

    /// The listener's handshake keys, with the checks across them: source
    /// rules need `accept-proxy`, and a health listener has no TLS.
    fn options(&self, l: &RawListener, splice: SpliceMode) -> Result<ListenerOptions> {
        let flag = |v: &Option<Spanned<bool>>| v.as_ref().is_some_and(|v| *v.get_ref());
        let (accept_proxy, health) = (flag(&l.accept_proxy), flag(&l.health));
        let mut monitor_nets = Vec::new();
        if let Some(list) = &l.monitor_net {
            for (text, at) in one_or_many(&list.get_ref().0, list.span()) {
                monitor_nets.push(self.cidr(text, at, "monitor-net")?);
            }
        }
        let conn_rules = self.rules(&l.rules, "rules")?;
        let src_rules = self.rules(&l.src_rules, "src-rules")?;
        if let Some(list) = l.src_rules.as_ref().filter(|_| !src_rules.is_empty() && !accept_proxy) {
            let problem = Problem::SrcRulesWithoutAcceptProxy { needs: "accept-proxy = true" };
            return Err(self.err(list.span(), "src-rules", problem));
        }
        let tls = match &l.tls {
            Some(t) if health => return Err(self.err(t.span(), "tls", Problem::HealthWithTls)),
            Some(t) => Some(self.front_tls(t)?),
            None => None,
        };
        let propagate_abort = flag(&l.propagate_abort);
        Ok(ListenerOptions {
            splice,
            accept_proxy,
            health,
            monitor_nets,
            conn_rules,
            src_rules,
            tls,
            routes: Vec::new(),
            propagate_abort,
        })
    }

    /// `src-conn-limit`, `src-conn-rate` and `src-conn-rate-period`.
    fn source_limits(&self, b: &RawBackend) -> Result<SourceLimits> {
        let d = SourceLimits::default();
        let conns = self.opt_int(&b.src_conn_limit, "src-conn-limit", 0, u32::MAX.into())?.unwrap_or(d.conns);
        let rate = self.opt_int(&b.src_conn_rate, "src-conn-rate", 0, u32::MAX.into())?.unwrap_or(d.rate);
        let period = self.opt_timeout(&b.src_conn_rate_period, "src-conn-rate-period", d.period)?;
        Ok(SourceLimits { conns, rate, period })
    }

    /// The listener's addresses, each checked against those already bound
    /// (port 0 excepted: every bind of port 0 gets its own port).
    fn addrs(
        &self,
        l: &RawListener,
        name: &str,
        span: Range<usize>,
        bound: &mut Vec<(SocketAddr, String)>,
    ) -> Result<Vec<SocketAddr>> {
        let written = l.listen.as_ref().map_or(Vec::new(), |list| one_or_many(&list.get_ref().0, list.span()));
        if written.is_empty() {
            let at = l.listen.as_ref().map_or(span, |s| s.span());
            return Err(self.err(at, "listen", Problem::NoAddress(name.to_owned())));
        }
        let mut addrs = Vec::new();
        for (text, at) in written {
            let addr = parse_listen_addr(text).map_err(|reason| {
                self.err(at.clone(), "listen", Problem::Address { value: text.to_owned(), reason })
            })?;
            if addr.port() != 0 {
                if let Some((_, other)) = bound.iter().find(|(a, _)| *a == addr) {
                    return Err(self.err(at, "listen", Problem::DuplicateAddress { addr, listener: other.clone() }));
                }
            }
            bound.push((addr, name.to_owned()));
            addrs.push(addr);
        }
        Ok(addrs)
    }

    fn err(&self, span: Range<usize>, key: &str, problem: Problem) -> ConfigError {
        self.src.error(&span, key, problem)
    }

    fn int<T: TryFrom<i64>>(&self, v: &Spanned<Int>, key: &str, min: i64, max: i64) -> Result<T> {
        checks::int(v.get_ref().0, min, max).map_err(|p| self.err(v.span(), key, p))
    }

    fn opt_int<T: TryFrom<i64>>(&self, v: &Option<Spanned<Int>>, key: &str, min: i64, max: i64) -> Result<Option<T>> {
        v.as_ref().map(|v| self.int(v, key, min, max)).transpose()
    }

    /// A duration as written: a string with a unit, or an integer of
    /// milliseconds (read like the same digits in a string).
    fn duration(&self, v: &Spanned<DurationText>, key: &str) -> Result<(Duration, String)> {
        let written = v.get_ref().0.text();
        match parse_duration(&written) {
            Ok(d) => Ok((d, written)),
            Err(reason) => Err(self.err(v.span(), key, Problem::Duration { value: written, reason })),
        }
    }

    fn opt_timeout(&self, v: &Option<Spanned<DurationText>>, key: &str, default: Duration) -> Result<Duration> {
        let Some(v) = v else { return Ok(default) };
        let (d, written) = self.duration(v, key)?;
        checks::timeout(d, || written).map_err(|p| self.err(v.span(), key, p))
    }

    fn opt_delay(&self, v: &Option<Spanned<DurationText>>, key: &str, default: Duration) -> Result<Duration> {
        let Some(v) = v else { return Ok(default) };
        let (d, written) = self.duration(v, key)?;
        checks::delay(d, || written).map_err(|p| self.err(v.span(), key, p))
    }

    /// A buffer size as written: a string with a unit, or an integer of bytes.
    fn size(&self, v: &Spanned<SizeText>, key: &str) -> Result<usize> {
        let written = v.get_ref().0.text();
        match parse_size(&written) {
            Ok(n) => checks::buffer_size(n, || written).map_err(|p| self.err(v.span(), key, p)),
            Err(reason) => Err(self.err(v.span(), key, Problem::Size { value: written, reason })),
        }
    }
}

/// Each string of `list` with its position; a lone string is at `span`.
fn one_or_many(list: &OneOrMany, span: Range<usize>) -> Vec<(&str, Range<usize>)> {
    match list {
        OneOrMany::One(a) => vec![(a.as_str(), span)],
        OneOrMany::Many(v) => v.iter().map(|a| (a.get_ref().as_str(), a.span())).collect(),
    }
}
