//! The conformance harness's shims as the loop follows them: connects held
//! until released (`Options::hold_connects`), sides reported writable
//! when the send window opens again (`Options::send_window`), and, at the
//! end of a stepped turn, the sends whose answer the kernel has not
//! delivered yet (`RunningProxy::unanswered_on`).

use super::Worker;
use crate::runtime::flow::Sock;
use crate::runtime::shared::Gate;
use crate::runtime::RunningProxy;
use crate::sys::socket;
use connseq_model::core::{SiState, Side};
use mio::net::TcpStream;
use std::sync::atomic::Ordering;

impl Worker {
    /// `Options::hold_connects`: after a release, every attempt in progress
    /// may complete; its writable edge was spent while held, so it is
    /// reported again. True if something was released.
    pub(super) fn follow_connect_releases(&mut self) -> bool {
        if !self.shared.holds_connects() {
            return false;
        }
        let n = self.shared.connect_releases.load(Ordering::Acquire);
        if n == self.releases_seen {
            return false;
        }
        self.releases_seen = n;
        let now = self.now();
        for idx in 0..self.flows.len() {
            if let Some(Some(flow)) = self.flows.get_mut(idx) {
                if flow.core.si(Side::Back) == SiState::Con && !flow.connect_released {
                    flow.connect_released = true;
                    let cfg = flow.cfg;
                    // Writable, and readable if something came while held
                    // (a refusal's error, the server's first bytes or FIN).
                    let readable = flow.back.error.is_some() || std::mem::take(&mut flow.held_readable);
                    flow.back.edge |= readable;
                    flow.core.handle_ready(&cfg, Side::Back, readable, true, now);
                    self.mark_ready(idx);
                }
            }
        }
        true
    }

    /// `Options::send_window`: a side the harness gave room again after a
    /// refused write is reported writable, as the kernel reports a socket
    /// that was full. True if a side was.
    pub(super) fn follow_send_window(&mut self) -> bool {
        let Some(window) = self.shared.window() else { return false };
        let reopened = Side::BOTH.map(|s| window.take_reopened(s));
        if !reopened.contains(&true) {
            return false;
        }
        let now = self.now();
        for idx in 0..self.flows.len() {
            if let Some(Some(flow)) = self.flows.get_mut(idx) {
                let cfg = flow.cfg;
                // As the poller would: only a socket registered for
                // writable events is reported writable.
                let read_only = [flow.front.read_only, flow.back.read_only];
                for side in Side::BOTH.into_iter().filter(|&s| reopened[s as usize] && !read_only[s as usize]) {
                    flow.core.handle_ready(&cfg, side, false, true, now);
                }
                self.mark_ready(idx);
            }
        }
        true
    }

    /// `Options::hold_connects`: session `idx`'s connect attempt waits for
    /// the harness's release.
    pub(super) fn connect_held(&self, idx: usize) -> bool {
        self.shared.holds_connects()
            && matches!(self.flows.get(idx), Some(Some(s)) if s.core.si(Side::Back) == SiState::Con && !s.connect_released)
    }

    /// Stepped mode, at the end of a turn: for each live session, in the
    /// snapshot's order, whether its front and back sockets are still
    /// connected and hold bytes their peers' kernels have not acknowledged.
    /// Towards a peer that closed, an RST is owed and has not come yet (an
    /// RST leaves the socket unconnected: `getpeername` says `ENOTCONN`).
    pub(super) fn unanswered(&self) -> Vec<[bool; 2]> {
        let owed = |s: &Sock| {
            let waiting = |t: &TcpStream| t.peer_addr().is_ok() && socket::unacked_output(t).is_ok_and(|n| n > 0);
            !s.reset && s.stream.as_ref().is_some_and(waiting)
        };
        self.flows.iter().flatten().map(|f| [owed(&f.front), owed(&f.back)]).collect()
    }
}

impl Gate {
    /// [`Gate::snapshot`]'s sessions' unanswered sends ([`Worker::unanswered`]),
    /// in the same order.
    fn unanswered(&self) -> Vec<[bool; 2]> {
        self.snapshot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).2.clone()
    }
}

impl RunningProxy {
    /// Stepped mode: for each session listener `listener` accepted, in
    /// [`RunningProxy::cores_on`]'s order, whether its front and back
    /// sockets were still connected and held bytes their peers had not
    /// acknowledged at the end of the last turn. A peer that closed answers
    /// such bytes with an RST: the harness lets it arrive before it judges
    /// the turn, since on a loaded machine the kernel may deliver it late.
    pub fn unanswered_on(&self, listener: usize) -> Vec<[bool; 2]> {
        let Some(g) = self.shared.gate() else { return Vec::new() };
        let (cores, flags) = (g.snapshot(), g.unanswered());
        cores.iter().zip(flags).filter(|((l, _), _)| *l == listener).map(|(_, f)| f).collect()
    }
}
