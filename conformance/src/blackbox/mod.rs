//! Black-box conformance: any TCP proxy held to the model on what its peers
//! see.
//!
//! [`crate::replay`] runs connseq's own runtime in-process, stepped, and
//! compares its core after every turn. An external proxy (HAProxy, a build
//! of connseq started by command, anything that forwards TCP) offers none of
//! that: it is a process that listens on one address and connects to
//! another. This harness plays the client and the server on real loopback
//! sockets around it and compares the one thing every proxy shares with the
//! model: what each peer reads, in order: a data chunk, the FIN, the RST, or
//! nothing.
//!
//! # Why the proxy is not stepped
//!
//! The model's proxy acts only at `ProxyRuns`: the environment may act
//! several times in a row while the proxy's work waits. An external process
//! runs whenever the kernel wakes it; its turn can be neither withheld nor
//! granted, only waited for. So the harness *settles* instead: after every
//! action it polls the peers' sockets (non-destructive `MSG_PEEK` reads) and
//! the server's listener until nothing new has shown for a quiet period
//! ([`Settle::quiet`], 20 ms by default), within a bound ([`Settle::bound`],
//! 2 s). This is timing-based: a proxy that takes longer than the quiet
//! period to react (a loaded machine, a proxy that delays on purpose) looks
//! like one that did not react, and what is reported is then a timing
//! artefact. A longer quiet period trades speed for certainty; and a run
//! that departs is run again with a quiet period twice as long, the
//! departure counting only when it shows again ([`Report::unconfirmed`]
//! counts the others).
//!
//! Because the real proxy takes its turn after every environment action, the
//! prediction it is held to is the model's *eager schedule* ([`plan()`]): the
//! trace's environment actions in order, each followed by `ProxyRuns` for as
//! long as the model's proxy has work, so a trace's own `ProxyRuns` steps
//! add nothing. The server's kernel is eager too: a listening port completes
//! the handshake at the SYN, so the model's server answers a connect as soon
//! as the proxy starts it, with the answer the trace gives later (accept,
//! or refuse). The trace's `ServerAccepts` is then the server application's
//! `accept()`, which no proxy can see. Traces that differ only in where the
//! proxy's turns fall share one eager schedule and are run once
//! ([`Blackbox::campaign`] groups them).
//!
//! | model action | black-box action |
//! |---|---|
//! | proxy runs | nothing more: the harness settled after the action before |
//! | peer sends a chunk | `write` of the chunk's 8 bytes (as in [`crate::replay`]), then settle |
//! | peer reads | one read of at most one chunk, compared with the eager model's read |
//! | peer shuts its write side | `shutdown(SHUT_WR)`, then settle |
//! | peer closes | `close()` (an RST if input is unread), then settle |
//! | peer aborts | `SO_LINGER {1, 0}` then `close()`: an RST; then settle |
//! | server accepts | the connection the proxy made, which the harness took off the listener as it came |
//! | server refuses | before the client connects, the server's port is bound without listening, so the kernel refuses the proxy's connect at once |
//! | timer `k` fires | wait `k`'s declared timeout and a margin ([`crate::pace`]), then settle |
//! | (slow variant) | before a peer's action, a pause well below every timeout, which must change nothing |
//! | client sends its PROXY header | `write` of a v1 or v2 header ([`crate::proxy_peer`]) giving 192.0.2.1:1000 |
//! | client sends its TLS hello | a rustls client's ClientHello (the harness's CA, name `localhost`) |
//! | server reads the PROXY header | the header read whole, and nothing behind it; it must give the client's header's source (or, without one, the client's own address) |
//! | a TLS peer reads | records until one has an effect the model names: the hello (the server answers with its flight), the flight (the client answers with its Finished), the Finished, at most one chunk of plaintext, a close_notify; records with none (session tickets) are read through |
//! | a TLS peer sends a chunk | one record of the chunk's 8 bytes |
//! | a TLS peer shuts its write side | close_notify, then `shutdown(SHUT_WR)`, once its handshake is up (the model's clean end) |
//! | a TLS peer closes | `close()` with no close_notify (the model's truncation); the client's TLS layer first takes the session tickets waiting, where the model has nothing for it |
//! | a TLS peer aborts | `SO_LINGER {1, 0}` then `close()`: an RST |
//!
//! # Handshake layers
//!
//! A target configured for the PROXY protocol or TLS declares it as the
//! model's features (`proxy-in`, `proxy-out`, `tls-front`, `tls-back`), and
//! the traces of the model with those features are played: the harness's
//! client sends the header and speaks TLS, its server checks the header and
//! terminates TLS. With `tls-front` (`tls-back`) the model also has initial
//! states with a plain listener (server), which such a target does not
//! have: [`fits_layers`] keeps the others. What the model judges is what
//! the peers read, and so what is compared: a TLS peer's reads are the
//! model's TLS messages, a chunk inside TLS is one record's plaintext, and
//! a close_notify is a read of its own before the FIN. Closes follow the
//! model's peers: a clean end is a shut (close_notify, then the FIN), a
//! close without a shut truncates the stream (no close_notify), an abort
//! is an RST. Four classes belong to the layers: the server's header is
//! missing or wrong ([`Class::ProxyHeaderWrong`]), a handshake message
//! where the model has another read ([`Class::TlsHandshake`]), an end
//! without the close_notify the model delivers ([`Class::CloseNotifyMissing`]),
//! a close_notify for a stream the model says was cut ([`Class::CloseNotifyForged`]).
//!
//! # Real time
//!
//! The proxy's clock runs; the model has none. The harness is told the
//! target's timeouts ([`Timeouts`](crate::pace::Timeouts)) and lets time pass two ways
//! ([`crate::pace`]). A trace that fires a timer is played by waiting past
//! the declared timeout, where every other timer the model has armed is
//! declared longer than the time the run has let pass (so the real proxy
//! fires the same one first); such runs take seconds, so a campaign plays
//! at most [`Pace::timer_runs`] of them, those where a peer reads after the
//! timer first, then the shortest waits, taking turns among the timers
//! fired. And a
//! *slow variant* of an instant run has a peer pause before its last
//! actions (at most [`Pace::max_pauses`]): the model lets no timer fire,
//! so the peers must see exactly what they saw without the pauses. A
//! campaign plays at most [`Pace::slow_runs`] slow variants, one per shape
//! (the run's steps other than reads), shapes where a peer acts after the
//! other's half-close first: that is where a proxy's own unmodelled timers
//! (socat's `-t 0.5`) show.
//!
//! After the trace's last action, each open peer reads what the eager model
//! still delivers to it (the epilogue: what a peer that keeps reading sees
//! in the end, without timers), and then once more where the model has
//! nothing left, which catches what the proxy sent that the model did not.
//!
//! A run stops at its first departure, which gets one [`Class`]. The model
//! is more pessimistic than Linux about an RST: it destroys everything on
//! its wire, while a Linux receiver still reads what had arrived before it
//! (`kernel_axioms.rs`:
//! `rst_loses_what_the_receiver_had_not_received_not_what_it_had_not_read`).
//! A departure of that shape is [`Class::RstAfterDelivery`], which the model
//! explains ([`Class::explained`]); the others are findings about the proxy
//! (its own choices, such as resetting both sides when one aborts, among
//! them).

mod campaign;
mod judge;
mod peers;
mod plan;
mod play;
mod report;
mod seen;
mod settle;
mod target;

pub use judge::{Class, Departure};
pub use plan::{fits_layers, plan, Layers, Plan, PlanStep, Planned, Stage};
pub use play::RunOutcome;
pub use report::{ClassTally, Report};
pub use seen::{Expect, Seen};
pub use settle::Settle;
pub use target::free_port;

use crate::pace::Pace;
use crate::proxy_peer::ProxyVersion;
use crate::server_port::ServerPort;
use crate::tls_peer::PkiFiles;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use target::TargetProcess;
use thiserror::Error;

/// Why the harness could not start or reach the proxy.
#[derive(Debug, Error)]
pub enum BlackboxError {
    /// A socket or process call failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// The proxy's command ended before it listened.
    #[error("the proxy's command exited ({status}) before listening on {addr}{output}")]
    Exited {
        /// Its exit status.
        status: String,
        /// Where it should have listened.
        addr: SocketAddr,
        /// The last lines it wrote, introduced (`; its output: ...`), or empty.
        output: String,
    },
    /// Nothing listened at the proxy's address in time.
    #[error("nothing listens on {addr} after {waited:?}{output}")]
    NotListening {
        /// The address.
        addr: SocketAddr,
        /// How long the harness waited.
        waited: Duration,
        /// The last lines the proxy wrote, introduced, or empty.
        output: String,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> BlackboxError {
    let what = what.into();
    move |source| BlackboxError::Io { what, source }
}
/// The harness: the server's port, the proxy's address, and the proxy's
/// process when the harness started it.
#[derive(Debug)]
pub struct Blackbox {
    port: ServerPort,
    target: SocketAddr,
    settle: Settle,
    pace: Pace,
    process: Option<TargetProcess>,
    settle_timeouts: usize,
    /// The version of the PROXY header the client sends.
    proxy_version: ProxyVersion,
    /// Where the target's certificate files are (`{cert}` and the others).
    pki_files: Option<PkiFiles>,
}
impl Blackbox {
    /// Binds the server's listener at `server` (port 0: any free port) and
    /// records where the proxy listens: `target`, or a free port on the
    /// loopback address when `None` (for a proxy started by [`Blackbox::launch`]).
    pub fn bind(server: SocketAddr, target: Option<SocketAddr>, settle: Settle) -> Result<Blackbox, BlackboxError> {
        let port = ServerPort::bind(server).map_err(io_err(format!("binding the server's listener at {server}")))?;
        let target = match target {
            Some(t) => t,
            None => free_port(IpAddr::V4(Ipv4Addr::LOCALHOST)).map_err(io_err("picking a port for the proxy"))?,
        };
        Ok(Blackbox {
            port,
            target,
            settle,
            pace: Pace::default(),
            process: None,
            settle_timeouts: 0,
            proxy_version: ProxyVersion::V1,
            pki_files: None,
        })
    }

    /// The version of the PROXY header the client sends where the model's
    /// client sends one (by default v1).
    pub fn set_proxy_version(&mut self, v: ProxyVersion) {
        self.proxy_version = v;
    }
    /// How campaigns let real time pass: the target's declared timeouts and
    /// how many slow and timer runs to play (by default, none).
    pub fn set_pace(&mut self, pace: Pace) {
        self.pace = pace;
    }

    /// The server's address (what the proxy must connect to).
    pub fn server_addr(&self) -> SocketAddr {
        self.port.addr
    }

    /// Where the proxy listens.
    pub fn target_addr(&self) -> SocketAddr {
        self.target
    }
    /// Settles that ended at the bound, not after a quiet period.
    pub fn settle_timeouts(&self) -> usize {
        self.settle_timeouts
    }
}
