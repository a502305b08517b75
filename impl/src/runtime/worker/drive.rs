//! Driving sessions: readiness and timers go into the cores, then each
//! session touched runs (`poll_action` -> execute -> `handle_outcome`) until
//! its core waits; a session that is over is logged and freed.

use super::Worker;
use crate::runtime::backend_state::Waiter;
use crate::runtime::exec::Exec;
use crate::runtime::{Breakage, SessionRecord};
use connseq_model::core::{Cause, Millis, Phase, Side};
use mio::{Interest, Token};
use std::sync::atomic::Ordering;
use tracing::{debug, info, warn};

impl Worker {
    /// Readiness goes into the core at once; the session runs after the
    /// batch (`drive_ready`), so that its core sees every input of the batch
    /// before it chooses what to do (the model's "proxy runs").
    pub(super) fn on_ready(&mut self, idx: usize, side: Side, readable: bool, writable: bool, now: Millis) {
        let Some(Some(flow)) = self.flows.get_mut(idx) else { return };
        let cfg = flow.cfg;
        flow.sock(side).edge |= readable;
        let _session = tracing::trace_span!(target: "connseq::core", "session", id = flow.id).entered();
        flow.core.handle_ready(&cfg, side, readable, writable, now);
        self.mark_ready(idx);
    }

    /// The poller flagged an error on a socket: its `SO_ERROR` is read now
    /// and kept (Linux reports it once, and a later EOF would hide it).
    pub(super) fn note_error(&mut self, idx: usize, side: Side) {
        if let Some(Some(flow)) = self.flows.get_mut(idx) {
            let sock = flow.sock(side);
            if let (Some(s), None) = (sock.stream.as_ref(), sock.error) {
                if let Ok(Some(e)) = crate::sys::socket::take_error(s) {
                    sock.error = Some(e.raw_os_error().unwrap_or(libc::EIO));
                }
            }
        }
    }

    pub(super) fn mark_ready(&mut self, idx: usize) {
        if let Some(Some(flow)) = self.flows.get_mut(idx) {
            if !flow.ready {
                flow.ready = true;
                self.ready.push_back(idx);
            }
        }
    }

    /// Runs every session an input of this batch touched.
    pub(super) fn drive_ready(&mut self, now: Millis) {
        while let Some(idx) = self.ready.pop_front() {
            if let Some(Some(flow)) = self.flows.get_mut(idx) {
                flow.ready = false;
                self.drive(idx, now);
            }
        }
    }

    pub(super) fn on_timer(&mut self, idx: usize, gen: u32, deadline: Millis, now: Millis) {
        if self.gens.get(idx) != Some(&gen) {
            return;
        }
        let Some(Some(flow)) = self.flows.get_mut(idx) else { return };
        if flow.timer_queued != Some(deadline) {
            return;
        }
        flow.timer_queued = None;
        if flow.poll_acks(now) && flow.core.next_deadline().map_or(true, |d| d > now) {
            // Only the ack poll was due: the session runs (and its next
            // wake-up is scheduled again after it).
            self.mark_ready(idx);
            return;
        }
        // Traffic pushed the session's inactivity deadline later since this
        // entry was pushed (the heap keeps one entry per session and does
        // not move it): nothing is due, so the entry goes back at the new
        // deadline and the core is not run for nothing.
        if let Some(next) = flow.next_wake().filter(|&d| d > now) {
            self.timers.schedule(next, idx, gen, &mut flow.timer_queued);
            return;
        }
        let cfg = flow.cfg;
        let session = tracing::trace_span!(target: "connseq::core", "session", id = flow.id).entered();
        flow.core.handle_timeout(&cfg, now);
        drop(session);
        // The handshake timer struck in the middle of a TLS handshake the
        // client had started: say so (the TLS state goes with the close).
        let t = flow.core.termination();
        let cut = flow.tls[Side::Front as usize]
            .as_ref()
            .is_some_and(|tls| tls.is_handshaking() && tls.handshake_bytes() > 0);
        if (t.cause, t.phase) == (Cause::ClientTimeout, Phase::Request) && cut {
            flow.reason.get_or_insert("tls-handshake-incomplete");
        }
        self.mark_ready(idx);
    }

    /// Runs session `idx` until the core waits, and the sessions it handed a
    /// server slot to.
    pub(super) fn drive(&mut self, idx: usize, now: Millis) {
        self.work.push(idx);
        self.run_work(now);
    }

    /// Drives every session in `work`: each until the core waits, then frees
    /// it if it is over or schedules its next deadline; server slots it gave back go
    /// to waiters (which join `work`).
    pub(super) fn run_work(&mut self, now: Millis) {
        while let Some(idx) = self.work.pop() {
            let back_token = Token(self.listeners.len() + 2 * idx + 1);
            let gen = self.gens[idx];
            let Some(Some(flow)) = self.flows.get_mut(idx) else { continue };
            let backend_idx = self.listeners_cfg[flow.route].backend;
            let mut exec = Exec {
                registry: self.poll.registry(),
                listener: &self.listeners_cfg[flow.route],
                pool: &mut self.pool,
                pipes: &mut self.pipes,
                shared: &self.shared,
                backend: backend_idx,
                now,
                waiter: Waiter { worker: self.id, idx, gen },
                back_token,
                handoffs: &mut self.handoffs,
                send_errno: None,
            };
            // The core's state moves (`connseq::core` at trace level) name their session.
            let session = tracing::trace_span!(target: "connseq::core", "session", id = flow.id).entered();
            loop {
                let cfg = flow.cfg;
                let Some(action) = flow.core.poll_action(&cfg) else { break };
                let outcome = exec.run(flow, action);
                flow.core.handle_outcome(&cfg, action, outcome, now);
            }
            drop(session);
            for (side, token) in [(Side::Front, Token(back_token.0 - 1)), (Side::Back, back_token)] {
                let sock = flow.sock(side);
                if std::mem::take(&mut sock.rearm) {
                    if let (Some(s), true) = (sock.stream.as_mut(), sock.registered) {
                        // Only after an injected EAGAIN (tests): the poller reports the
                        // socket again if it is ready.
                        let _ = self.poll.registry().reregister(s, token, Interest::READABLE | Interest::WRITABLE);
                    }
                }
            }
            flow.update_ack_poll(now);
            if flow.core.is_closed() {
                self.end_session(idx, now, false);
            } else if let Some(d) = flow.next_wake() {
                if !self.shared.broken(Breakage::TimerNotArmed) {
                    self.timers.schedule(d, idx, gen, &mut flow.timer_queued);
                }
            }
            while let Some((w, server)) = self.handoffs.pop() {
                self.deliver(backend_idx, w, server, now);
            }
        }
    }

    /// Logs and frees flow `idx`; its places in the gauges are given back.
    pub(super) fn end_session(&mut self, idx: usize, now: Millis, forced: bool) {
        let Some(mut flow) = self.flows[idx].take() else { return };
        let listener = &self.listeners_cfg[flow.route];
        let line = flow.log_line(listener.names(), now);
        if forced {
            warn!(target: "connseq::session", "{line} (closed at stop)");
        } else if flow.is_quiet() {
            // Health and monitor checks, bare TCP checks and rejected
            // connections are not sessions (HAProxy does not log them either).
            debug!(target: "connseq::session", "{line}");
        } else {
            info!(target: "connseq::session", "{line}");
        }
        if flow.core.rejected() {
            self.shared.counters.rejected.fetch_add(1, Ordering::Relaxed);
        }
        if flow.source_counted {
            let backend = self.listeners_cfg[flow.route].backend;
            if let Some(table) = self.shared.sources.get(backend).and_then(Option::as_ref) {
                table.release(flow.client.ip(), now);
            }
        }
        self.shared.ops.tally.ended(flow.listener, listener.backend, &flow, now);
        self.shared.record(|| SessionRecord::new(&flow, listener.names(), self.id, now));
        let registry = self.poll.registry();
        // The core closed both sockets already; this only guards a bug.
        flow.front.close(registry);
        flow.back.close(registry);
        flow.req.clear_all(&mut self.pool, &mut self.pipes);
        flow.res.clear_all(&mut self.pool, &mut self.pipes);
        self.gens[idx] = self.gens[idx].wrapping_add(1);
        self.free.push(idx);
        self.live -= 1;
        if self.live == 0 {
            self.idle_since = Some(now);
        }
        self.shared.counters.ended.fetch_add(1, Ordering::Relaxed);
        self.give_back_places(Some(flow.listener));
        // Descriptors freed: a resting listener may try again at once.
        self.accept_backoff = None;
    }

    /// The grace period is over: every remaining session is killed through
    /// the core (both sides closed abortively, in order, logged with `K`).
    /// A session the core could not close (a bug) is dropped.
    pub(super) fn kill_all(&mut self, now: Millis) {
        warn!(target: "connseq::runtime", "grace period over, closing {} sessions", self.live);
        for idx in 0..self.flows.len() {
            if let Some(Some(flow)) = self.flows.get_mut(idx) {
                let cfg = flow.cfg;
                flow.core.handle_kill(&cfg, now);
                self.drive(idx, now);
            }
        }
        for idx in 0..self.flows.len() {
            if self.flows[idx].is_some() {
                self.end_session(idx, now, true);
            }
        }
    }
}
