//! [`Sections`] into a [`ProxyConfig`]: each frontend (or `listen` with a
//! `bind`) becomes a listener, each backend (or `listen` with servers) a
//! backend, with HAProxy's defaults where HAProxy has them (`timeout
//! client-fin` is `timeout client` unless set, `timeout queue` is `timeout
//! connect`, the handshake is bounded by `timeout client`) and connseq's
//! where HAProxy has none (a missing timeout is connseq's default, not
//! infinite).

use super::parse::{kind_name, Diag, Kind, Proxy, Sections, Server};
use crate::config::checks;
use crate::config::error::{ConfigError, Problem};
use crate::config::handshake::{BackTls, Cidr, FrontTls, Rule, Rules, SendProxy, ServerVerify, Verdict};
use crate::config::{
    default_threads, BackendConfig, BackendTimeouts, CheckParams, GlobalConfig, ListenerConfig, ListenerOptions,
    ListenerTimeouts, ProxyConfig, Route, ServerConfig, ServerOptions,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;

pub(crate) fn build(s: Sections, diag: &mut Diag<'_>) -> Result<ProxyConfig, ConfigError> {
    let d = GlobalConfig::default();
    let g = &s.global;
    let global = GlobalConfig {
        maxconn: g.maxconn.unwrap_or(d.maxconn),
        threads: g.nbthread.unwrap_or_else(default_threads),
        buffer_size: g.bufsize.unwrap_or(d.buffer_size),
        pipe_size: g.pipesize,
        stats_socket: g.stats_socket.clone(),
        ..d
    };
    let mut backends: BTreeMap<String, BackendConfig> = BTreeMap::new();
    for p in s.proxies.iter().filter(|p| p.kind != Kind::Frontend && !p.servers.is_empty()) {
        if backends.contains_key(&p.name) {
            let problem = Problem::Syntax(format!("a second backend named '{}'", p.name));
            return Err(diag.error(p.line, kind_name(p.kind), problem));
        }
        let b = backend(p, diag)?;
        backends.insert(p.name.clone(), b);
    }
    let mut listeners = Vec::new();
    let mut bound: Vec<(SocketAddr, String)> = Vec::new();
    // Frontend names are unique among frontends and `listen` sections, as HAProxy requires (a
    // backend may share one): each names a listener in the logs and the runtime API.
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for p in s.proxies.iter().filter(|p| p.kind != Kind::Backend) {
        if let Some(&first_line) = names.get(p.name.as_str()) {
            let problem = Problem::DuplicateListener { name: p.name.clone(), first_line };
            return Err(diag.error(p.line, kind_name(p.kind), problem));
        }
        names.insert(&p.name, p.line);
        if p.binds.is_empty() {
            if p.kind == Kind::Frontend {
                return Err(diag.error(
                    p.line,
                    "frontend",
                    Problem::Syntax(format!("frontend '{}' has no 'bind'", p.name)),
                ));
            }
            continue;
        }
        let backend = match (&p.default_backend, p.kind) {
            (Some((line, name)), _) => backends.get(name).cloned().ok_or_else(|| {
                let known = backends.keys().cloned().collect::<Vec<_>>().join(", ");
                diag.error(
                    *line,
                    "default_backend",
                    Problem::UnknownBackend { name: name.clone(), known: format!("backends with servers: {known}") },
                )
            })?,
            (None, Kind::Listen) if !p.servers.is_empty() => backends[&p.name].clone(),
            _ => {
                let problem = Problem::Syntax(format!("'{}' has no default_backend and no server", p.name));
                return Err(diag.error(p.line, kind_name(p.kind), problem));
            }
        };
        let mut l = listener(p, backend, &global, &mut bound, diag)?;
        l.options.routes = routes(p, &backends, l.options.accept_proxy, diag)?;
        listeners.push(l);
    }
    if listeners.is_empty() {
        return Err(diag.error(1, "frontend", Problem::Syntax("no frontend or listen section with a 'bind'".into())));
    }
    Ok(ProxyConfig { listeners, global })
}

fn listener(
    p: &Proxy,
    backend: BackendConfig,
    global: &GlobalConfig,
    bound: &mut Vec<(SocketAddr, String)>,
    diag: &mut Diag<'_>,
) -> Result<ListenerConfig, ConfigError> {
    let first = &p.binds[0];
    let mut addrs = Vec::new();
    for b in &p.binds {
        if (b.accept_proxy, &b.certs, &b.alpn) != (first.accept_proxy, &first.certs, &first.alpn) {
            diag.unsupported(p.line, "bind", "binds with different options in one section (a listener has one set)")?;
        }
        for &a in &b.addrs {
            if a.port() != 0 {
                if let Some((_, other)) = bound.iter().find(|(x, _)| *x == a) {
                    return Err(diag.error(
                        p.line,
                        "bind",
                        Problem::DuplicateAddress { addr: a, listener: other.clone() },
                    ));
                }
            }
            bound.push((a, p.name.clone()));
            addrs.push(a);
        }
    }
    let s = &p.settings;
    let lt = ListenerTimeouts::default();
    let client = s.timeout_client.unwrap_or(lt.client);
    let tls = if first.certs.is_empty() {
        None
    } else {
        let mut certs = Vec::new();
        for c in &first.certs {
            let c = checks::readable_file(c).map_err(|pr| diag.error(p.line, "bind", pr))?;
            certs.push((c.clone(), c));
        }
        Some(FrontTls { certs, alpn: first.alpn.clone() })
    };
    let maxconn = checks::listener_maxconn(s.maxconn.unwrap_or(0), global.maxconn)
        .map_err(|pr| diag.error(p.line, "maxconn", pr))?;
    Ok(ListenerConfig {
        name: p.name.clone(),
        addrs,
        backend,
        timeouts: ListenerTimeouts { handshake: client, client, client_fin: s.timeout_client_fin.unwrap_or(client) },
        maxconn,
        options: ListenerOptions {
            splice: s.splice.unwrap_or(global.splice),
            accept_proxy: first.accept_proxy,
            health: false,
            monitor_nets: p.monitor_nets.clone(),
            conn_rules: rules(p, diag)?,
            src_rules: Rules::default(),
            tls,
            routes: Vec::new(),
            // HAProxy has no such option: an imported configuration behaves as HAProxy.
            propagate_abort: false,
        },
    })
}

/// `use_backend` rules as routes, in order. HAProxy evaluates them on the
/// session, where `src` is the PROXY header's source with `accept-proxy`;
/// connseq chooses at accept on the real peer address, so the two together
/// are refused rather than routed on another address.
fn routes(
    p: &Proxy,
    backends: &BTreeMap<String, BackendConfig>,
    accept_proxy: bool,
    diag: &mut Diag<'_>,
) -> Result<Vec<Route>, ConfigError> {
    let mut out = Vec::new();
    for u in &p.uses {
        if accept_proxy {
            diag.unsupported(
                u.line,
                "use_backend",
                "use_backend with accept-proxy (connseq routes at accept, on the real peer address)",
            )?;
            continue;
        }
        let Some(backend) = backends.get(&u.name).cloned() else {
            let known = backends.keys().cloned().collect::<Vec<_>>().join(", ");
            return Err(diag.error(
                u.line,
                "use_backend",
                Problem::UnknownBackend { name: u.name.clone(), known: format!("backends with servers: {known}") },
            ));
        };
        // No condition: every client (no block, negated).
        let (nets, negated) = match &u.nets {
            Some(n) => (n.clone(), u.negated),
            None => (Vec::new(), true),
        };
        out.push(Route { backend, nets, negated });
    }
    Ok(out)
}

/// `tcp-request connection` rules as connseq's first-match rules. A
/// negated rule (`unless`) acts on every address but its blocks, then lets
/// the others go on to the next rule: connseq's rules cannot say "go on",
/// so a negated rule must be the last one.
fn rules(p: &Proxy, diag: &mut Diag<'_>) -> Result<Rules, ConfigError> {
    let every = || -> Vec<Cidr> { ["0.0.0.0/0", "::/0"].iter().filter_map(|t| t.parse().ok()).collect() };
    let mut out = Vec::new();
    for (i, r) in p.rules.iter().enumerate() {
        let nets = r.nets.clone().unwrap_or_else(every);
        if !r.negated {
            out.extend(nets.into_iter().map(|net| Rule { verdict: r.verdict, net }));
            continue;
        }
        if i + 1 != p.rules.len() {
            diag.unsupported(
                r.line,
                "tcp-request connection",
                "'unless' (or 'if !acl') in a rule that is not the last one",
            )?;
            continue;
        }
        let other = if r.verdict == Verdict::Allow { Verdict::Deny } else { Verdict::Allow };
        out.extend(nets.into_iter().map(|net| Rule { verdict: other, net }));
        out.extend(every().into_iter().map(|net| Rule { verdict: r.verdict, net }));
    }
    Ok(Rules(out))
}

fn backend(p: &Proxy, diag: &mut Diag<'_>) -> Result<BackendConfig, ConfigError> {
    let s = &p.settings;
    let first = &p.servers[0];
    let mut servers = Vec::new();
    let mut options: Vec<ServerOptions> = Vec::new();
    for srv in &p.servers {
        if options.iter().any(|o| o.name == srv.name) {
            return Err(diag.error(
                srv.line,
                "server",
                Problem::DuplicateServer { name: srv.name.clone(), backend: p.name.clone() },
            ));
        }
        same_as_first(first, srv, diag)?;
        let o = &srv.opts;
        let d = CheckParams::default();
        let check = CheckParams {
            enabled: o.check.is_some(),
            inter: o.inter.unwrap_or(d.inter),
            rise: o.rise.unwrap_or(d.rise),
            fall: o.fall.unwrap_or(d.fall),
        };
        servers.push(ServerConfig { addr: srv.addr, maxconn: o.maxconn.unwrap_or(0) });
        options.push(ServerOptions { name: srv.name.clone(), check, backup: o.backup });
    }
    let d = BackendConfig::new(p.name.clone(), Vec::new());
    let bt = BackendTimeouts::default();
    let connect = s.timeout_connect.unwrap_or(bt.connect);
    let server = s.timeout_server.unwrap_or(bt.server);
    let o = &first.opts;
    let tls = if o.ssl {
        let verify = match (o.verify, &o.ca_file) {
            (Some(false), _) => ServerVerify::Insecure,
            (_, Some(ca)) => {
                ServerVerify::Ca(checks::readable_file(ca).map_err(|pr| diag.error(first.line, "server", pr))?)
            }
            (_, None) => {
                let problem = Problem::Syntax(
                    "'ssl' verifies the server's certificate: add 'ca-file FILE', or 'verify none'".into(),
                );
                return Err(diag.error(first.line, "server", problem));
            }
        };
        Some(BackTls { verify, sni: o.sni.clone(), alpn: o.alpn.clone() })
    } else {
        None
    };
    Ok(BackendConfig {
        servers,
        server_options: options,
        balance: s.balance.unwrap_or(d.balance),
        retries: s.retries.unwrap_or(d.retries),
        redispatch: s.redispatch.unwrap_or(false),
        timeouts: BackendTimeouts {
            connect,
            server,
            server_fin: s.timeout_server_fin.unwrap_or(server),
            queue: s.timeout_queue.unwrap_or(connect),
            turn_around: bt.turn_around,
        },
        send_proxy: o.send_proxy.map(|version| SendProxy { version, tlvs: Default::default() }),
        tls,
        ..d
    })
}

/// connseq sends the PROXY header and speaks TLS per backend: every server
/// of a backend must ask for the same.
fn same_as_first(first: &Server, srv: &Server, diag: &mut Diag<'_>) -> Result<(), ConfigError> {
    let (a, b) = (&first.opts, &srv.opts);
    if (a.send_proxy, a.ssl, a.verify, &a.ca_file, &a.sni, &a.alpn)
        != (b.send_proxy, b.ssl, b.verify, &b.ca_file, &b.sni, &b.alpn)
    {
        diag.unsupported(
            srv.line,
            "server",
            "servers of one backend with different send-proxy, ssl, verify, ca-file, sni or alpn (connseq sets them per backend)",
        )?;
    }
    Ok(())
}
