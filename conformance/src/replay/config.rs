//! The proxy's configuration for a replay: the model's session
//! configuration and environment as a listener and its backend, the
//! timeouts that make a clock fire the trace's timers in its order, and the
//! ghost listener the model's other sessions come through.

use crate::tls_peer::Pki;
use connseq::config::{
    BackTls, BackendConfig, Cidr, FrontTls, GlobalConfig, ListenerConfig, ListenerOptions, ProxyConfig, Rule, Rules,
    ServerConfig, ServerVerify, Verdict,
};
use connseq_model::check::SysAction;
use connseq_model::core::{SessionConfig, Timeouts, TimerKind};
use std::net::SocketAddr;
use std::time::Duration;
/// The source address the harness's PROXY header gives, and the block the
/// source rules match it with.
pub(super) const HEADER: &[u8] = b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\n";
pub(super) const HEADER_SOURCE: &str = "192.0.2.1";
const HEADER_SOURCE_NET: &str = "192.0.2.0/24";
/// What the client sends as garbage: not a PROXY header.
pub(super) const GARBAGE: &[u8] = b"GARBAGE\n";
/// The proxy's configuration for the model's session configuration: one
/// listener, one server per model server, the model's timeouts; TLS with
/// the harness's certificate towards the client, and towards the server
/// with no verification (the harness's server is the only one there).
pub(super) fn proxy_config(
    cfg: &SessionConfig,
    env: &connseq_model::check::system::Env,
    servers: &[SocketAddr],
    pki: Option<&Pki>,
) -> ProxyConfig {
    let ms = Duration::from_millis;
    let t = &cfg.timeouts;
    let mut backend =
        BackendConfig::new("model", servers.iter().map(|&addr| ServerConfig { addr, maxconn: 1 }).collect());
    backend.balance = cfg.balance;
    backend.retries = cfg.retries;
    backend.redispatch = cfg.redispatch;
    backend.queue = cfg.queue;
    backend.timeouts.connect = ms(t.connect);
    backend.timeouts.server = ms(t.server);
    backend.timeouts.server_fin = ms(t.server_fin);
    backend.timeouts.queue = ms(t.queue);
    backend.timeouts.turn_around = if cfg.turn_around { ms(t.turn_around) } else { Duration::ZERO };
    if cfg.tls_back {
        backend.tls = Some(BackTls { verify: ServerVerify::Insecure, sni: None, alpn: Vec::new() });
    }
    let mut options = handshake_options(cfg, env);
    if let (true, Some(pki)) = (cfg.tls_front, pki) {
        options.tls = Some(FrontTls { certs: vec![(pki.cert_file.clone(), pki.key_file.clone())], alpn: Vec::new() });
    }
    let listener = ListenerConfig {
        name: "model".into(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        backend,
        timeouts: connseq::config::ListenerTimeouts {
            handshake: ms(t.handshake),
            client: ms(t.client),
            client_fin: ms(t.client_fin),
        },
        maxconn: 0,
        options,
    };
    ProxyConfig {
        listeners: vec![listener],
        global: GlobalConfig { threads: 1, maxconn: 0, ..GlobalConfig::default() },
    }
}

/// The listener's handshake options for the model's configuration and its
/// environment's choices: the monitor net matches 127.0.0.0/8 (the
/// harness's client) when the model's source matches, and a block the
/// client is not in otherwise; the rules deny the client (connection rules)
/// or the header's source (source rules) where the model's rules reject.
fn handshake_options(cfg: &SessionConfig, env: &connseq_model::check::system::Env) -> ListenerOptions {
    let net = |s: &str| s.parse::<Cidr>().expect("a constant block");
    let rules = |deny: bool, block: &str| {
        let verdict = if deny { Verdict::Deny } else { Verdict::Allow };
        Rules(vec![Rule { verdict, net: net(block) }])
    };
    ListenerOptions {
        splice: cfg.splice,
        accept_proxy: cfg.accept_proxy,
        health: cfg.health,
        monitor_nets: if !cfg.monitor {
            Vec::new()
        } else if env.monitor_match {
            vec![net("127.0.0.0/8")]
        } else {
            vec![net("198.51.100.0/24")]
        },
        conn_rules: if cfg.conn_rules { rules(env.reject == 1, "127.0.0.0/8") } else { Rules::default() },
        src_rules: if cfg.src_rules { rules(env.reject == 2, HEADER_SOURCE_NET) } else { Rules::default() },
        tls: None,
        routes: Vec::new(),
        propagate_abort: cfg.propagate_abort,
    }
}

/// The proxy's timeouts for one trace. The model lets any armed timer fire
/// at any step; a clock fires the earliest deadline first. So the timer
/// kinds the trace fires get the shortest timeouts, in the order it first
/// fires them (1 s, 2 s, ...), and the others 1,000 s. Every timer armed
/// before the first firing was armed at the same reading of the manual
/// clock, so the first firing is always the earliest deadline; a later one
/// is when the arming times allow it, and the trace is unsupported at that
/// step otherwise (a firing is always checked against the real deadlines).
/// The values change no decision of the core: it compares no timeouts, it
/// only arms and fires timers.
pub(super) fn trace_timeouts(actions: &[SysAction]) -> Timeouts {
    let mut order: Vec<TimerKind> = Vec::new();
    for a in actions {
        if let SysAction::TimerFires(0, k) = *a {
            if !order.contains(&k) {
                order.push(k);
            }
        }
    }
    let t = |k: TimerKind| -> u64 { order.iter().position(|&x| x == k).map_or(1_000_000, |i| 1_000 * (i as u64 + 1)) };
    Timeouts {
        handshake: t(TimerKind::Handshake),
        connect: t(TimerKind::Connect),
        queue: t(TimerKind::Queue),
        turn_around: t(TimerKind::TurnAround),
        client: t(TimerKind::Client),
        server: t(TimerKind::Server),
        client_fin: t(TimerKind::ClientFin),
        server_fin: t(TimerKind::ServerFin),
    }
}
/// The listener the ghost sessions come through (index 1 in the
/// configuration; the replayed session's is 0). It shares the backend,
/// so its sessions take the same server slots.
pub(super) const GHOST: &str = "ghost";

/// A ghost's timeouts: no timer of a ghost fires within a replay (its
/// manual clock moves by seconds).
const GHOST_TIMEOUT: Duration = Duration::from_secs(86_400);

/// The ghost listener: the replayed listener's backend (the same name, so
/// the same slots and queue) without its handshake layers, and with
/// timeouts that never fire.
pub(super) fn ghost_listener(model: &ListenerConfig) -> ListenerConfig {
    let mut g = model.clone();
    g.name = GHOST.into();
    g.options = ListenerOptions { splice: model.options.splice, ..ListenerOptions::default() };
    g.timeouts = connseq::config::ListenerTimeouts {
        handshake: GHOST_TIMEOUT,
        client: GHOST_TIMEOUT,
        client_fin: GHOST_TIMEOUT,
    };
    g.backend.tls = None;
    g.backend.send_proxy = None;
    let t = &mut g.backend.timeouts;
    (t.connect, t.server, t.server_fin, t.queue) = (GHOST_TIMEOUT, GHOST_TIMEOUT, GHOST_TIMEOUT, GHOST_TIMEOUT);
    g
}
