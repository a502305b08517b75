//! Server slots handed over: a slot a session gave back goes to the
//! session the backend picked from its queue, on this thread at once or on
//! another through its mailbox.

use super::Worker;
use crate::runtime::backend_state::Waiter;
use crate::runtime::shared::Msg;
use connseq_model::core::backend as balancer;
use connseq_model::core::{Millis, SessionConfig};

impl Worker {
    /// Reads this thread's mailbox (the waker also stands for "the clock
    /// moved", "stop" and "a place freed": the loop checks those itself).
    pub(super) fn read_inbox(&mut self, now: Millis) {
        let mut inbox = std::mem::take(&mut self.inbox);
        self.shared.take_inbox(self.id, &mut inbox);
        for msg in inbox.drain(..) {
            match msg {
                Msg::Dequeued { backend, server, idx, gen } => self.on_dequeued(backend, server, idx, gen, now),
            }
        }
        self.inbox = inbox;
        // The sessions handed a slot run now.
        self.run_work(now);
    }

    /// The backend handed server `server`'s slot to waiting session `w`, of
    /// this thread or another.
    pub(super) fn deliver(&mut self, backend: usize, w: Waiter, server: u8, now: Millis) {
        if w.worker == self.id {
            self.on_dequeued(backend, server, w.idx, w.gen, now);
        } else {
            self.shared.send(w.worker, Msg::Dequeued { backend, server, idx: w.idx, gen: w.gen });
        }
    }

    /// The backend handed a slot on `server` to our session `(idx, gen)`:
    /// the core takes it (and gives it back itself if it left the queue
    /// meanwhile). A session that ended meanwhile cannot take it: the core's
    /// release decides where it goes instead.
    pub(super) fn on_dequeued(&mut self, backend: usize, server: u8, idx: usize, gen: u32, now: Millis) {
        match self.flows.get_mut(idx) {
            Some(Some(s)) if self.gens.get(idx) == Some(&gen) => {
                s.times.assigned = Some(now);
                let cfg = s.cfg;
                s.core.handle_dequeued(&cfg, server, now);
                self.work.push(idx);
            }
            _ => {
                let cfg: SessionConfig = SessionConfig::default();
                let handed = balancer::release(&cfg, &mut *self.shared.backend(backend), server);
                if let Some(w) = handed {
                    self.deliver(backend, w, server, now);
                }
            }
        }
    }
}
