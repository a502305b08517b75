//! Fixtures for the runtime's unit tests: a proxy configuration of one
//! listener on loopback, and a worker built from it and not running.

use super::bind::Inherited;
use super::worker::Worker;
use super::Options;
use crate::config::{BackendConfig, GlobalConfig, ListenerConfig, ProxyConfig, ServerConfig};
use std::net::SocketAddr;

/// One listener on a free loopback port whose backend has `servers` (of
/// `maxconn` 0, round robin, the default timeouts), on one thread.
pub(crate) fn config(servers: &[SocketAddr]) -> ProxyConfig {
    let servers = servers.iter().map(|&addr| ServerConfig { addr, maxconn: 0 }).collect();
    let listener = ListenerConfig {
        name: "unit".into(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        backend: BackendConfig::new("unit", servers),
        timeouts: Default::default(),
        maxconn: 0,
        options: Default::default(),
    };
    ProxyConfig { listeners: vec![listener], global: GlobalConfig { threads: 1, ..GlobalConfig::default() } }
}

/// [`config`]'s proxy built as it starts (its listener bound), on the manual
/// clock, with its one worker not running; and the listener's address.
pub(crate) fn worker(servers: &[SocketAddr]) -> (Worker, SocketAddr) {
    let options = Options { manual_clock: true, ..Options::default() };
    let started = super::start(&config(servers), options, &mut Inherited::new(Vec::new()).expect("nothing inherited"))
        .expect("the proxy builds");
    let addr = started.addrs[0];
    (started.workers.into_iter().next().expect("one worker"), addr)
}
