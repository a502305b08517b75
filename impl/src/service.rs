//! The proxy as a process: the event loops ([`crate::runtime`]), the
//! runtime API ([`crate::admin`]), the metrics endpoint
//! ([`crate::metrics`]), the sockets given by systemd or taken over from an
//! old process, the signals and the descriptor limit, put together for
//! `connseq proxy`. The one room that knows them all; none of them knows it.

use crate::admin::takeover::Takeover;
use crate::config::ProxyConfig;
use crate::runtime;
use crate::sys::signal::Signals;
use std::io;

/// How `connseq proxy` runs besides its configuration.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Take the listening sockets over from the process whose runtime API
    /// listens on this Unix socket (`-x`).
    pub takeover: Option<std::path::PathBuf>,
}

/// Runs the proxy until SIGINT or SIGTERM (stop after the grace period) or
/// SIGUSR1 (stop when the sessions are done), with its runtime API and
/// metrics endpoint when the configuration names them.
pub fn run(config: &ProxyConfig, run: Run) -> io::Result<()> {
    // Block the signals before any thread starts, so that none gets them.
    let signals = Signals::new()?;
    let nofile = crate::sys::process::raise_nofile_limit()?;
    // Sockets given rather than bound: systemd's, then the old process's.
    let mut fds = crate::sys::listen_fds::take()?;
    let mut takeover = run.takeover.as_deref().map(Takeover::request).transpose()?;
    if let Some(t) = takeover.as_mut() {
        fds.append(&mut t.sockets);
    }
    // Bound before the `listening on` lines (and after a takeover asked the
    // old process, whose socket has the same path): whoever reads them may
    // talk to the runtime API at once.
    let admin = config.global.stats_socket.as_deref().map(crate::admin::bind).transpose()?;
    let launch = runtime::launch(config, fds)?;
    // After the `listening on` lines, which scripts read first.
    let needed = u64::from(config.global.maxconn).saturating_mul(2).saturating_add(64);
    if config.global.maxconn != 0 && nofile < needed {
        tracing::warn!(
            target: "connseq::runtime",
            "the descriptor limit ({nofile}) is below what maxconn {} needs (about {needed}); accept will pause when it runs out",
            config.global.maxconn
        );
    }
    let control = launch.control();
    let admin = admin.map(|a| a.serve(control.clone())).transpose()?;
    let metrics = config.global.metrics.map(|a| crate::metrics::serve(a, control.clone())).transpose()?;
    let result = launch.run(signals, || {
        if let Some(t) = takeover {
            // Every listening socket is in a poller: the old process may stop.
            if let Err(e) = t.finish() {
                tracing::warn!(target: "connseq::runtime", "takeover: the old process did not hear that this one runs: {e}");
            }
        }
    });
    drop((admin, metrics));
    result
}
