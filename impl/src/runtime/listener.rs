//! The listeners' configurations as their sessions share them: rules,
//! PROXY and TLS settings (certificates loaded once), the backend and its
//! names for the log line, and the `use-backend` routes. Built once at
//! start ([`plan`]) and shared by every thread.

use super::backend_state::BackendState;
use super::flow::Names;
use crate::config::{Cidr, ListenerConfig, ListenerOptions, ProxyConfig, SendProxy, ServerVerify};
use connseq_model::core::SessionConfig;
use connseq_tls::{ClientTls, ServerTls, TlsConfigError};
use std::io;
use std::sync::Arc;

/// What a listener's sessions share.
#[derive(Debug, Clone)]
pub(crate) struct ListenerCfg {
    pub(crate) name: String,
    pub(crate) session: SessionConfig,
    pub(crate) backend: usize,
    /// The backend's name and its servers' names, for the log line.
    pub(crate) backend_name: String,
    pub(crate) server_names: Arc<[String]>,
    /// Rules, monitor nets, PROXY and TLS settings of the listener.
    pub(crate) options: ListenerOptions,
    /// The PROXY header its backend sends, if any.
    pub(crate) send_proxy: Option<SendProxy>,
    /// TLS termination: certificates and ALPN, loaded once.
    pub(crate) front_tls: Option<Arc<ServerTls>>,
    /// TLS towards the servers, loaded once.
    pub(crate) back_tls: Option<Arc<ClientTls>>,
    /// `use-backend`: the blocks, negated or not, and the entry (an index
    /// into the configurations, past the listeners') whose backend a client
    /// they match gets, first match first.
    pub(crate) routes: Vec<(Vec<Cidr>, bool, usize)>,
}

impl ListenerCfg {
    /// The entry a client at `ip` of this listener (entry `me`) gets.
    pub(crate) fn route(&self, me: usize, ip: std::net::IpAddr) -> usize {
        let hit = |(nets, negated, _): &&(Vec<Cidr>, bool, usize)| nets.iter().any(|n| n.contains(ip)) != *negated;
        self.routes.iter().find(hit).map_or(me, |r| r.2)
    }
}

impl ListenerCfg {
    /// The names its sessions' log lines show.
    pub(crate) fn names(&self) -> Names<'_> {
        Names { listener: &self.name, backend: &self.backend_name, servers: &self.server_names }
    }
}

fn alpn_list(names: &[String]) -> Vec<Vec<u8>> {
    names.iter().map(|n| n.as_bytes().to_vec()).collect()
}

fn tls_error(listener: &str, e: TlsConfigError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("listener '{listener}': {e}"))
}

/// The listener configurations (with their certificates loaded) and the
/// backends' initial state, as the threads share them.
pub(crate) fn plan(config: &ProxyConfig) -> io::Result<(Vec<ListenerCfg>, Vec<BackendState>)> {
    // Backends numbered as `ProxyConfig::backends` lists them.
    let all = config.backends();
    let names: Vec<&str> = all.iter().map(|b| b.name.as_str()).collect();
    let backends = all.iter().map(|b| BackendState::new(b)).collect();
    let number = |name: &str| names.iter().position(|n| *n == name).unwrap_or(0);
    // One entry per listener, at its index; then one per route of each,
    // the listener with the route's backend.
    let mut listeners: Vec<ListenerCfg> =
        config.listeners.iter().map(|l| entry(l, number(&l.backend.name))).collect::<io::Result<_>>()?;
    for (li, l) in config.listeners.iter().enumerate() {
        for r in &l.options.routes {
            let mut routed = l.clone();
            routed.backend = r.backend.clone();
            routed.options.routes.clear();
            let at = listeners.len();
            listeners.push(entry(&routed, number(&r.backend.name))?);
            listeners[li].routes.push((r.nets.clone(), r.negated, at));
        }
    }
    Ok((listeners, backends))
}

/// What `l`'s sessions share, with their backend numbered `backend`.
fn entry(l: &ListenerConfig, backend: usize) -> io::Result<ListenerCfg> {
    let front_tls = match &l.options.tls {
        Some(t) => Some(ServerTls::from_pem_files(&t.certs, &alpn_list(&t.alpn)).map_err(|e| tls_error(&l.name, e))?),
        None => None,
    };
    let back_tls = match &l.backend.tls {
        Some(t) => {
            let (ca, insecure) = match &t.verify {
                ServerVerify::Ca(path) => (Some(path.as_path()), false),
                ServerVerify::Insecure => (None, true),
            };
            Some(ClientTls::new(ca, insecure, &alpn_list(&t.alpn), t.sni.clone()).map_err(|e| tls_error(&l.name, e))?)
        }
        None => None,
    };
    let b = &l.backend;
    Ok(ListenerCfg {
        name: l.name.clone(),
        session: l.session_config(),
        backend,
        backend_name: b.name.clone(),
        server_names: (0..b.servers.len()).map(|i| b.server_name(i)).collect(),
        options: l.options.clone(),
        send_proxy: l.backend.send_proxy,
        front_tls,
        back_tls,
        routes: Vec::new(),
    })
}
