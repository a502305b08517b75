//! Waiting for the external proxy: the harness settles after every action
//! until the peers' sockets show nothing new for a quiet period.

use super::peers::{PeerSock, Peers};
use super::seen::Seen;
use super::Blackbox;
use std::time::{Duration, Instant};

/// How long the harness waits for the external proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settle {
    /// The proxy has settled when the peers' sockets showed nothing new for this long.
    pub quiet: Duration,
    /// The longest a settle lasts (a proxy that never quiets down).
    pub bound: Duration,
    /// The interval between two looks at the sockets.
    pub poll: Duration,
}

impl Default for Settle {
    fn default() -> Self {
        Settle { quiet: Duration::from_millis(20), bound: Duration::from_secs(2), poll: Duration::from_millis(1) }
    }
}
impl Blackbox {
    /// The state of every socket, for telling when the proxy has settled.
    fn observe(&mut self, p: &mut Peers) -> Vec<(Seen, usize)> {
        while let Some(s) = self.port.try_accept() {
            p.pending.push_back(PeerSock::new(s));
        }
        let mut v = Vec::with_capacity(2 + p.pending.len());
        v.push((Seen::Nothing, p.pending.len()));
        for s in p.client.iter_mut().chain(p.server.iter_mut()).chain(p.pending.iter_mut()) {
            v.push(s.peek());
        }
        v
    }

    /// Waits until the proxy has settled (see [`crate::blackbox`]).
    pub(super) fn settle_peers(&mut self, p: &mut Peers) {
        let start = Instant::now();
        let mut last = self.observe(p);
        let mut since = start;
        loop {
            std::thread::sleep(self.settle.poll);
            let now = self.observe(p);
            let t = Instant::now();
            if now != last {
                last = now;
                since = t;
            } else if t.duration_since(since) >= self.settle.quiet {
                return;
            }
            if t.duration_since(start) >= self.settle.bound {
                self.settle_timeouts += 1;
                return;
            }
        }
    }
}
