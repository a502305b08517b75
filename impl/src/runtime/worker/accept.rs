//! Accepting: the listeners armed or rested as the limits allow (the
//! maxconn gauges, the accept backoff after running out of descriptors),
//! accept until EAGAIN, and a new session for each connection.

use super::{Worker, ACCEPT_BACKOFF, ACCEPT_WARNING_EVERY};
use crate::runtime::flow::Flow;
use crate::runtime::shared::StopMode;
use connseq_model::core::{Millis, Session, SpliceMode};
use mio::net::TcpStream;
use mio::{Interest, Token};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use tracing::warn;

impl Worker {
    /// Whether each listener may accept now, and the poller told so.
    pub(super) fn arm_listeners(&mut self, now: Millis) {
        if self.stop != StopMode::Running {
            return;
        }
        let base = self.accept_backoff.is_none() && !self.shared.live.is_full();
        let mut paused = false;
        for t in 0..self.listeners.len() {
            let l = &mut self.listeners[t];
            let want = base && !self.shared.listeners[l.cfg].is_full();
            paused |= !want;
            if want == l.armed {
                continue;
            }
            let Some(sock) = l.sock.as_mut() else { continue };
            let registry = self.poll.registry();
            let ok = if want {
                registry.register(sock, Token(t), Interest::READABLE).is_ok()
            } else {
                registry.deregister(sock).is_ok()
            };
            if ok {
                l.armed = want;
            }
            if want && ok {
                // Connections that waited in the backlog: the registration
                // reports them too, but reading them now costs nothing.
                self.accept(t, now);
            }
        }
        self.shared.set_paused(self.id, paused);
    }

    /// Accepts on listener `t` until EAGAIN, a limit, or an error.
    pub(super) fn accept(&mut self, t: usize, now: Millis) {
        loop {
            let l = &self.listeners[t];
            if !l.armed || self.stop != StopMode::Running || self.accept_backoff.is_some() {
                return;
            }
            let Some(sock) = l.sock.as_ref() else { return };
            let cfg = l.cfg;
            // A place in both gauges first, so threads never pass a limit.
            if !self.shared.live.try_reserve() {
                self.arm_listeners(now);
                return;
            }
            if !self.shared.listeners[cfg].try_reserve() {
                self.give_back_places(None);
                self.arm_listeners(now);
                return;
            }
            match crate::sys::socket::accept(sock) {
                Ok((stream, client)) => self.start_session(cfg, stream, client, now),
                Err(e) => {
                    self.give_back_places(Some(cfg));
                    match e.kind() {
                        io::ErrorKind::WouldBlock => {
                            if crate::sys::take_spurious_eagain() {
                                // An injected EAGAIN (tests only): the backlog may hold
                                // connections and no edge will say so; re-arming does.
                                self.rearm_listener(t);
                            }
                            return;
                        }
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => continue,
                        _ => {
                            // EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection
                            // stays in the backlog. Rest the listeners, and try
                            // again when a session ends or the backoff is over,
                            // so even a proxy with no session left resumes.
                            self.shared.counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                            self.warn_accept_failure(&e, now);
                            self.accept_backoff = Some(now.saturating_add(ACCEPT_BACKOFF));
                            self.arm_listeners(now);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Logs an accept failure, at most once per [`ACCEPT_WARNING_EVERY`]:
    /// the failures in between are counted and the next line says how many.
    pub(super) fn warn_accept_failure(&mut self, e: &io::Error, now: Millis) {
        if self.accept_warned.is_some_and(|at| now.saturating_sub(at) < ACCEPT_WARNING_EVERY) {
            self.accept_unlogged += 1;
            return;
        }
        let unlogged = std::mem::take(&mut self.accept_unlogged);
        self.accept_warned = Some(now);
        if unlogged == 0 {
            warn!(target: "connseq::runtime", "accept: {e}; pausing the listeners for {ACCEPT_BACKOFF} ms");
        } else {
            warn!(
                target: "connseq::runtime",
                "accept: {e}; pausing the listeners for {ACCEPT_BACKOFF} ms ({unlogged} more failures since the last warning)"
            );
        }
    }

    /// Re-registers listener `t`, so the poller reports it again if its backlog holds
    /// connections (after an injected `EAGAIN`, tests only).
    pub(super) fn rearm_listener(&mut self, t: usize) {
        let l = &mut self.listeners[t];
        if let (Some(sock), true) = (l.sock.as_mut(), l.armed) {
            let _ = self.poll.registry().reregister(sock, Token(t), Interest::READABLE);
        }
    }

    /// Gives back the global place and, if `listener`, that listener's.
    pub(super) fn give_back_places(&mut self, listener: Option<usize>) {
        let mut was_full = self.shared.live.release();
        if let Some(cfg) = listener {
            was_full |= self.shared.listeners[cfg].release();
        }
        if was_full {
            self.shared.wake_paused(self.id);
        }
    }

    pub(super) fn front_token(&self, idx: usize) -> Token {
        Token(self.listeners.len() + 2 * idx)
    }

    pub(super) fn start_session(&mut self, cfg_idx: usize, mut stream: TcpStream, client: SocketAddr, now: Millis) {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.flows.push(None);
                self.gens.push(0);
                self.flows.len() - 1
            }
        };
        let _ = stream.set_nodelay(true);
        let token = self.front_token(idx);
        if let Err(e) = self.poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE) {
            warn!(target: "connseq::runtime", "{client}: cannot poll the accepted socket: {e}");
            self.free.push(idx);
            self.give_back_places(Some(cfg_idx));
            return;
        }
        let id = self.shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = self.shared.ops.tally.listeners.get(cfg_idx) {
            t.accepted.fetch_add(1, Ordering::Relaxed);
        }
        // `use-backend`: the entry of the backend this client gets.
        let route = self.listeners_cfg[cfg_idx].route(cfg_idx, client.ip());
        let lcfg = &self.listeners_cfg[route];
        let mut cfg = lcfg.session;
        if !self.pipes.splice_supported() {
            cfg.splice = SpliceMode::Never;
        }
        let monitor_match = lcfg.options.monitor_nets.iter().any(|n| n.contains(client.ip()));
        let core = {
            let _session = tracing::trace_span!(target: "connseq::core", "session", id, %client).entered();
            Session::accept(&cfg, now, monitor_match)
        };
        let mut flow = Flow::new(core, cfg, cfg_idx, stream, client, now);
        flow.route = route;
        flow.front.registered = true;
        flow.id = id;
        self.flows[idx] = Some(flow);
        self.live += 1;
        self.idle_since = None;
        self.drive(idx, now);
    }
}
