//! The loop's timer heap, in the milliseconds of the proxy's clock
//! (`shared::Clock`). The heap
//! holds `(deadline, flow, generation)`; each session has at most one live
//! entry, its earliest deadline ([`TimerHeap::schedule`] pushes only an
//! earlier one), and stale entries are recognised when they pop.

use connseq_model::core::Millis;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// Deadlines of sessions, earliest first.
#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<(Millis, usize, u32)>>,
}

impl TimerHeap {
    /// Makes sure flow `idx` (generation `gen`) wakes up at `deadline`.
    /// `queued` is the deadline of the flow's live entry, updated here.
    pub(crate) fn schedule(&mut self, deadline: Millis, idx: usize, gen: u32, queued: &mut Option<Millis>) {
        if queued.map_or(true, |q| deadline < q) {
            self.heap.push(Reverse((deadline, idx, gen)));
            *queued = Some(deadline);
        }
    }

    /// The next entry due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Millis) -> Option<(Millis, usize, u32)> {
        match self.heap.peek() {
            Some(Reverse((d, _, _))) if *d <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// How long until the earliest entry, if any.
    pub(crate) fn timeout(&self, now: Millis) -> Option<Duration> {
        self.heap.peek().map(|Reverse((d, _, _))| Duration::from_millis(d.saturating_sub(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_earlier_deadline_is_pushed_and_entries_pop_in_order() {
        let mut h = TimerHeap::default();
        let (mut a, mut b) = (None, None);
        h.schedule(50, 0, 1, &mut a);
        h.schedule(80, 0, 1, &mut a);
        h.schedule(20, 1, 7, &mut b);
        assert_eq!((a, b), (Some(50), Some(20)));
        assert_eq!(h.timeout(5), Some(Duration::from_millis(15)));
        assert_eq!(h.pop_due(19), None);
        assert_eq!(h.pop_due(60), Some((20, 1, 7)));
        assert_eq!(h.pop_due(60), Some((50, 0, 1)));
        assert_eq!(h.pop_due(1000), None);
    }

    #[test]
    fn the_same_deadline_scheduled_again_is_not_pushed_twice() {
        // A session's deadline is scheduled after every run of it: an entry
        // per run would grow the heap with the traffic.
        let mut h = TimerHeap::default();
        let mut q = None;
        for _ in 0..3 {
            h.schedule(50, 0, 1, &mut q);
        }
        assert_eq!(h.pop_due(60), Some((50, 0, 1)));
        assert_eq!(h.pop_due(60), None, "one entry");
    }
}
