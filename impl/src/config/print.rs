//! `connseq proxy --print-config`: a [`ProxyConfig`] written back as the
//! TOML file that would load into it. Every value is printed, defaults
//! included, so the output shows what the proxy will run with; each backend
//! is a `[backend.NAME]` section that its listeners name, and file paths are
//! absolute, so the output loads the same from any directory.

use super::choice::{balance_name, proxy_version_name, splice_name};
use super::duration::format_duration;
use super::handshake::{ProxyTlvs, ServerVerify, Verdict};
use super::size::format_size;
use super::{BackendConfig, ListenerConfig, ProxyConfig};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    global: Global,
    listener: Vec<Listener>,
    backend: BTreeMap<String, Backend>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Global {
    maxconn: u32,
    threads: usize,
    buffer_size: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pipe_size: Option<String>,
    splice: &'static str,
    grace_period: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats_socket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Listener {
    name: String,
    listen: Vec<String>,
    backend: String,
    maxconn: u32,
    splice: &'static str,
    timeout_handshake: String,
    timeout_client: String,
    timeout_client_fin: String,
    accept_proxy: bool,
    health: bool,
    propagate_abort: bool,
    monitor_net: Vec<String>,
    rules: Vec<BTreeMap<&'static str, String>>,
    src_rules: Vec<BTreeMap<&'static str, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<FrontTls>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    use_backend: Vec<RoutePrint>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RoutePrint {
    backend: String,
    src: Vec<String>,
    unless: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct FrontTls {
    certs: Vec<CertPair>,
    alpn: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct CertPair {
    cert: String,
    key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Backend {
    balance: &'static str,
    retries: u8,
    redispatch: bool,
    queue: bool,
    timeout_connect: String,
    timeout_server: String,
    timeout_server_fin: String,
    timeout_queue: String,
    timeout_turn_around: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    send_proxy: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    send_proxy_tlv: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<BackTls>,
    #[serde(skip_serializing_if = "is_zero")]
    src_conn_limit: u32,
    #[serde(skip_serializing_if = "is_zero")]
    src_conn_rate: u32,
    src_conn_rate_period: String,
    servers: Vec<Server>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct BackTls {
    #[serde(skip_serializing_if = "Option::is_none")]
    ca: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    insecure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sni: Option<String>,
    alpn: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Server {
    name: String,
    addr: String,
    maxconn: u32,
    check: bool,
    inter: String,
    rise: u32,
    fall: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    backup: bool,
}

/// The configuration as a TOML file that loads into it.
pub fn to_toml(config: &ProxyConfig) -> String {
    let g = &config.global;
    let file = File {
        global: Global {
            maxconn: g.maxconn,
            threads: g.threads,
            buffer_size: format_size(g.buffer_size),
            pipe_size: g.pipe_size.map(format_size),
            splice: splice_name(g.splice),
            grace_period: format_duration(g.grace_period),
            stats_socket: g.stats_socket.as_deref().map(absolute),
            metrics: g.metrics.map(|a| a.to_string()),
        },
        listener: config.listeners.iter().map(listener).collect(),
        backend: config.backends().into_iter().map(|b| (b.name.clone(), backend(b))).collect(),
    };
    // Every value above is a string, integer, boolean, array or table: TOML
    // holds them all, so serialising cannot fail.
    toml::to_string(&file).unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"))
}

fn listener(l: &ListenerConfig) -> Listener {
    let o = &l.options;
    let rules = |r: &super::Rules| {
        r.0.iter()
            .map(|r| {
                let verdict = if r.verdict == Verdict::Allow { "allow" } else { "deny" };
                BTreeMap::from([(verdict, r.net.to_string())])
            })
            .collect()
    };
    Listener {
        name: l.name.clone(),
        listen: l.addrs.iter().map(|a| a.to_string()).collect(),
        backend: l.backend.name.clone(),
        maxconn: l.maxconn,
        splice: splice_name(o.splice),
        timeout_handshake: format_duration(l.timeouts.handshake),
        timeout_client: format_duration(l.timeouts.client),
        timeout_client_fin: format_duration(l.timeouts.client_fin),
        accept_proxy: o.accept_proxy,
        health: o.health,
        propagate_abort: o.propagate_abort,
        monitor_net: o.monitor_nets.iter().map(|n| n.to_string()).collect(),
        rules: rules(&o.conn_rules),
        src_rules: rules(&o.src_rules),
        tls: o.tls.as_ref().map(|t| FrontTls {
            certs: t.certs.iter().map(|(c, k)| CertPair { cert: absolute(c), key: absolute(k) }).collect(),
            alpn: t.alpn.clone(),
        }),
        use_backend: o
            .routes
            .iter()
            .map(|r| RoutePrint {
                backend: r.backend.name.clone(),
                src: r.nets.iter().map(|n| n.to_string()).collect(),
                unless: r.negated,
            })
            .collect(),
    }
}

fn backend(b: &BackendConfig) -> Backend {
    let t = &b.timeouts;
    Backend {
        balance: balance_name(b.balance),
        retries: b.retries,
        redispatch: b.redispatch,
        queue: b.queue,
        timeout_connect: format_duration(t.connect),
        timeout_server: format_duration(t.server),
        timeout_server_fin: format_duration(t.server_fin),
        timeout_queue: format_duration(t.queue),
        timeout_turn_around: format_duration(t.turn_around),
        send_proxy: b.send_proxy.map(|s| proxy_version_name(s.version)),
        send_proxy_tlv: b.send_proxy.map_or_else(Vec::new, |s| tlv_names(s.tlvs)),
        tls: b.tls.as_ref().map(|t| BackTls {
            ca: match &t.verify {
                ServerVerify::Ca(p) => Some(absolute(p)),
                ServerVerify::Insecure => None,
            },
            insecure: matches!(t.verify, ServerVerify::Insecure).then_some(true),
            sni: t.sni.clone(),
            alpn: t.alpn.clone(),
        }),
        src_conn_limit: b.limits.conns,
        src_conn_rate: b.limits.rate,
        src_conn_rate_period: format_duration(b.limits.period),
        servers: b
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let check = b.server_check(i);
                Server {
                    name: b.server_name(i),
                    addr: s.addr.to_string(),
                    maxconn: s.maxconn,
                    check: check.enabled,
                    inter: format_duration(check.inter),
                    rise: check.rise,
                    fall: check.fall,
                    backup: b.server_is_backup(i),
                }
            })
            .collect(),
    }
}

fn tlv_names(t: ProxyTlvs) -> Vec<&'static str> {
    let all = [
        (t.alpn, "alpn"),
        (t.authority, "authority"),
        (t.ssl, "ssl"),
        (t.unique_id, "unique-id"),
        (t.crc32c, "crc32c"),
    ];
    all.into_iter().filter_map(|(on, name)| on.then_some(name)).collect()
}

/// `p` from the filesystem's root, so that the printed file loads from any
/// directory (as written when the working directory cannot be read).
fn absolute(p: &Path) -> String {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned()).display().to_string()
}
