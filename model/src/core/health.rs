//! A server's health, as HAProxy's checks decide it, and whether the
//! balancer may give it a session.
//!
//! A checked server carries a health counter from 0 to `rise + fall - 1`;
//! it is UP while the counter is at least `rise`. It starts at `rise`: UP,
//! but the first failed check takes it down (HAProxy's start). A passed
//! check counts up, and once the counter reaches `rise` it jumps to the top,
//! so that only `fall` failures in a row take the server down again; a
//! failed check counts down, and once below `rise` it drops to 0, so that
//! only `rise` passes in a row bring it back. The result of a check is the
//! runtime's (a connect that succeeded or not, with its PROXY LOCAL header
//! and TLS handshake when the server has them), and so is a connect failure
//! a session observed (counted as a failed check); the counter and every
//! change of state are decided here.
//!
//! An operator's state comes on top ([`Admin`]): a server in DRAIN or
//! MAINT is given no new session whatever its health, and, as a server that
//! goes DOWN, keeps the sessions it has to their end.

/// `rise` and `fall` of one server, each at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rules {
    /// Passed checks in a row that bring a DOWN server UP.
    pub rise: u32,
    /// Failed checks in a row that take an UP server DOWN.
    pub fall: u32,
}

impl Rules {
    /// The top of the counter: fully UP.
    const fn top(self) -> u32 {
        self.rise + self.fall - 1
    }
}

/// The health counter of one checked server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Health {
    counter: u32,
}

/// A change of a server's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    /// It was DOWN and is UP now.
    WentUp,
    /// It was UP and is DOWN now.
    WentDown,
}

impl Health {
    /// A server at start: UP, at the bottom of UP.
    pub const fn new(rules: Rules) -> Health {
        Health { counter: rules.rise }
    }

    /// Whether the server is UP.
    pub const fn is_up(self, rules: Rules) -> bool {
        self.counter >= rules.rise
    }

    /// The counter (HAProxy's `check_health`, shown by `show stat`).
    pub const fn counter(self) -> u32 {
        self.counter
    }

    /// Counts one check's result; says whether the server changed state.
    pub fn record(&mut self, rules: Rules, passed: bool) -> Option<Change> {
        let was_up = self.is_up(rules);
        if passed {
            if self.counter < rules.top() {
                self.counter += 1;
                if self.counter >= rules.rise {
                    self.counter = rules.top();
                }
            }
        } else if self.counter > 0 {
            self.counter -= 1;
            if self.counter < rules.rise {
                self.counter = 0;
            }
        }
        match (was_up, self.is_up(rules)) {
            (false, true) => Some(Change::WentUp),
            (true, false) => Some(Change::WentDown),
            _ => None,
        }
    }
}

/// What a session's connect attempt tells of its server's health
/// (passive observation, HAProxy's `observe layer4`): a refusal counts as a
/// failed check; anything else says nothing (a timeout is the check's own
/// business, a lack of local resources is not the server's).
pub fn observed(outcome: super::Outcome) -> Option<bool> {
    match outcome {
        super::Outcome::Refused => Some(false),
        _ => None,
    }
}

/// What an operator set a server to (the runtime API's `set server ...
/// state`, `disable/enable server`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Admin {
    /// Picked by the balancer when UP.
    #[default]
    Ready,
    /// Not picked; its sessions go on to their end.
    Drain,
    /// Maintenance: not picked; its sessions go on to their end; checks
    /// go on, so the health is known when it comes back.
    Maint,
}

/// The state `show stat` and the metrics give a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Ready and UP (or not checked).
    Up,
    /// Ready and DOWN.
    Down,
    /// Drained by an operator.
    Drain,
    /// In maintenance.
    Maint,
}

impl Status {
    /// HAProxy's word for it.
    pub const fn name(self) -> &'static str {
        match self {
            Status::Up => "UP",
            Status::Down => "DOWN",
            Status::Drain => "DRAIN",
            Status::Maint => "MAINT",
        }
    }
}

/// A server's state from its operator's setting and its health (`up` is
/// true for a server without checks).
pub const fn status(admin: Admin, up: bool) -> Status {
    match (admin, up) {
        (Admin::Maint, _) => Status::Maint,
        (Admin::Drain, _) => Status::Drain,
        (Admin::Ready, true) => Status::Up,
        (Admin::Ready, false) => Status::Down,
    }
}

/// Whether the balancer may give the server a new session: only an UP
/// server its operator left ready ([`super::ServerView::usable`]).
pub const fn usable(admin: Admin, up: bool) -> bool {
    matches!(status(admin, up), Status::Up)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Rules = Rules { rise: 2, fall: 3 };

    fn run(h: &mut Health, results: &[bool]) -> Vec<Option<Change>> {
        results.iter().map(|&ok| h.record(R, ok)).collect()
    }

    #[test]
    fn a_server_starts_up_and_the_first_failure_takes_it_down() {
        let mut h = Health::new(R);
        assert!(h.is_up(R));
        assert_eq!(h.record(R, false), Some(Change::WentDown));
        assert_eq!(h.counter(), 0);
    }

    #[test]
    fn once_proven_it_takes_fall_failures_in_a_row_to_go_down() {
        let mut h = Health::new(R);
        assert_eq!(run(&mut h, &[true]), [None]);
        assert_eq!(h.counter(), 4);
        assert_eq!(run(&mut h, &[false, false]), [None, None]);
        assert!(h.is_up(R));
        assert_eq!(h.record(R, true), None, "a pass in between starts the count again");
        assert_eq!(run(&mut h, &[false, false, false]), [None, None, Some(Change::WentDown)]);
    }

    #[test]
    fn a_down_server_takes_rise_passes_in_a_row_to_come_back() {
        let mut h = Health::new(R);
        h.record(R, false);
        assert_eq!(run(&mut h, &[true, false, true]), [None, None, None]);
        assert!(!h.is_up(R));
        assert_eq!(run(&mut h, &[true]), [Some(Change::WentUp)]);
        assert_eq!(h.counter(), 4, "fully up at once");
    }

    #[test]
    fn only_a_refused_connect_counts_against_a_server() {
        assert_eq!(observed(crate::core::Outcome::Refused), Some(false));
        assert_eq!(observed(crate::core::Outcome::NoResource), None);
        assert_eq!(observed(crate::core::Outcome::Done), None);
    }

    #[test]
    fn only_a_ready_up_server_is_usable() {
        assert!(usable(Admin::Ready, true));
        assert!(!usable(Admin::Ready, false));
        assert!(!usable(Admin::Drain, true));
        assert!(!usable(Admin::Maint, true));
        assert_eq!(status(Admin::Maint, false), Status::Maint);
    }
}
