//! The runtime API's queries (`crate::runtime::control`), answered on the
//! thread that owns the sessions.

use super::Worker;
use crate::runtime::ops::{Query, SessionView};
use connseq_model::core::{Millis, Side};
use std::os::fd::AsFd;

impl Worker {
    /// Answers what the runtime API asked this thread since its last wake.
    pub(super) fn answer_queries(&mut self, now: Millis) {
        for q in self.shared.ops.take_queries(self.id) {
            match q {
                Query::Sessions(reply) => {
                    let _ = reply.send(self.session_views(now));
                }
                Query::Shutdown { id, reply } => {
                    let _ = reply.send(self.shutdown_session(id, now));
                }
                Query::Listeners(reply) => {
                    let socks = self.listeners.iter().filter_map(|l| l.sock.as_ref());
                    let _ = reply.send(socks.filter_map(|s| s.as_fd().try_clone_to_owned().ok()).collect());
                }
            }
        }
    }

    pub(super) fn session_views(&self, now: Millis) -> Vec<SessionView> {
        self.flows
            .iter()
            .flatten()
            .map(|s| SessionView {
                id: s.id,
                listener: s.listener,
                backend: self.listeners_cfg[s.route].backend,
                flow: s.core.server(),
                server: s.server_idx,
                peer: s.client,
                source: s.source(),
                age_ms: now.saturating_sub(s.times.accept),
                to_server: s.sent[0],
                to_client: s.sent[1],
                si: [s.core.si(Side::Front), s.core.si(Side::Back)],
                thread: self.id,
            })
            .collect()
    }

    /// HAProxy's `shutdown session`: the core kills session `id` (both
    /// sides abortively, in its close order; the log line's code starts
    /// with `K`). False if this thread has no such session.
    pub(super) fn shutdown_session(&mut self, id: u64, now: Millis) -> bool {
        let Some(idx) = self.flows.iter().position(|s| s.as_ref().is_some_and(|s| s.id == id)) else {
            return false;
        };
        if let Some(Some(flow)) = self.flows.get_mut(idx) {
            let cfg = flow.cfg;
            flow.core.handle_kill(&cfg, now);
        }
        self.drive(idx, now);
        true
    }
}
