//! The model of servers' health: the core's health counter
//! ([`crate::core::health`]) fed every sequence of check results, operator
//! states and sessions, with the balancer ([`crate::core::backend::pick`])
//! choosing among a checked server, a second active one that an operator
//! takes out of service and puts back, and a backup server that is always
//! UP.
//!
//! Properties judge what an operator and a client can observe: which server
//! the balancer gives a session to, the state `show stat` shows after each
//! check, and whether a session ended otherwise than by its own end. The
//! check results are the environment's: any sequence of passes and failures
//! is explored, and no fairness is assumed (every property is a safety
//! property).

use crate::core::backend::{pick, Pick, ServerView};
use crate::core::config::Balance;
use crate::core::health::{usable, Admin, Change, Health, Rules};
use stateright::{Model, Property};
use std::fmt;

/// A deliberate bug in how health is counted or used, for the test that
/// shows each property can fail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HealthMutant {
    /// The correct core.
    #[default]
    None,
    /// A DOWN server comes UP at its first passed check (`rise` ignored).
    UpOnFirstPass,
    /// An UP server goes DOWN at its first failed check, however healthy
    /// it was (`fall` ignored).
    DownOnFirstFailure,
    /// Failed checks are not counted: a dead server stays UP.
    FailuresIgnored,
    /// A drained server is still picked (only MAINT stops the balancer).
    DrainStillPicked,
    /// Draining a server ends the sessions it has.
    DrainCutsSessions,
    /// The backup server is taken as an active one.
    BackupAlwaysInService,
    /// The backup server is never taken.
    BackupNeverServes,
}

impl HealthMutant {
    /// Every mutant (not `None`).
    pub const ALL: [HealthMutant; 7] = [
        HealthMutant::UpOnFirstPass,
        HealthMutant::DownOnFirstFailure,
        HealthMutant::FailuresIgnored,
        HealthMutant::DrainStillPicked,
        HealthMutant::DrainCutsSessions,
        HealthMutant::BackupAlwaysInService,
        HealthMutant::BackupNeverServes,
    ];
}

/// The checked server (server 0) and what was observed of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HealthState {
    health: Health,
    admin: Admin,
    /// Sessions the balancer gave server 0 that have not ended (at most 2).
    sessions: u8,
    /// The balancer's round-robin cursor.
    cursor: usize,
    /// Whether the second active server is ready (an operator sets it).
    other_ready: bool,
    /// Failed checks since the last pass (capped at `fall`).
    fails_in_row: u32,
    /// Passed checks since the last failure (capped at `rise`).
    passes_in_row: u32,
    /// The server was UP when the last check passed (or at start): it then
    /// takes `fall` failures in a row to go down.
    proven: bool,
    /// The server was DOWN when the last check failed: it then takes
    /// `rise` passes in a row to come back.
    down_at_last_failure: bool,
    /// Observed: the balancer gave server 0 a session while it was not UP
    /// and ready.
    bad_pick: bool,
    /// Observed: a session on server 0 ended without its own end.
    cut: bool,
    /// Observed: the balancer gave the backup server a session while an
    /// active server could be chosen.
    backup_while_active: bool,
    /// Observed: the balancer found no server while one could be chosen.
    no_server: bool,
    /// Witnesses.
    went_down: bool,
    came_back: bool,
    drained_session_ended: bool,
    backup_served: bool,
}

/// A step of the environment or of the balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HealthAction {
    /// A check of server 0 passes (connect, PROXY LOCAL header, TLS).
    CheckPasses,
    /// A check of server 0 fails, or a session's connect to it failed.
    CheckFails,
    /// An operator sets server 0's state.
    SetAdmin(Admin),
    /// An operator puts the second active server in maintenance (false) or
    /// makes it ready again (true).
    SetOther(bool),
    /// A session asks the balancer for a server, avoiding `avoid` (a
    /// redispatch) if it can.
    Pick { avoid: Option<u8> },
    /// A session on server 0 ends.
    SessionEnds,
}

impl fmt::Display for HealthAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthAction::CheckPasses => write!(f, "a check passes"),
            HealthAction::CheckFails => write!(f, "a check fails"),
            HealthAction::SetAdmin(a) => write!(f, "the operator sets {a:?}"),
            HealthAction::SetOther(true) => write!(f, "the operator makes server 1 ready"),
            HealthAction::SetOther(false) => write!(f, "the operator puts server 1 in maintenance"),
            HealthAction::Pick { avoid: None } => write!(f, "a session picks a server"),
            HealthAction::Pick { avoid: Some(s) } => write!(f, "a session redispatches away from server {s}"),
            HealthAction::SessionEnds => write!(f, "a session on server 0 ends"),
        }
    }
}

/// The health model for one `rise`/`fall` and, for the tests, a mutant.
#[derive(Clone, Debug)]
pub struct HealthModel {
    /// The checked server's rules.
    pub rules: Rules,
    /// The bug carried, if any.
    pub mutant: HealthMutant,
}

impl HealthModel {
    /// The model HAProxy's defaults give (`rise 2`, `fall 3`).
    pub fn new(mutant: HealthMutant) -> HealthModel {
        HealthModel { rules: Rules { rise: 2, fall: 3 }, mutant }
    }

    fn is_up(&self, s: &HealthState) -> bool {
        s.health.is_up(self.rules)
    }

    fn usable(&self, s: &HealthState) -> bool {
        match self.mutant {
            HealthMutant::DrainStillPicked => s.admin != Admin::Maint && self.is_up(s),
            _ => usable(s.admin, self.is_up(s)),
        }
    }

    /// Counts one result, with the mutant's bug where it has one.
    fn record(&self, s: &mut HealthState, passed: bool) -> Option<Change> {
        let r = self.rules;
        let was_up = s.health.is_up(r);
        match (self.mutant, passed) {
            (HealthMutant::UpOnFirstPass, true) => {
                while !s.health.is_up(r) {
                    s.health.record(r, true);
                }
                s.health.record(r, true);
            }
            (HealthMutant::DownOnFirstFailure, false) if was_up => {
                while s.health.is_up(r) {
                    s.health.record(r, false);
                }
            }
            (HealthMutant::FailuresIgnored, false) => {}
            _ => {
                s.health.record(r, passed);
            }
        }
        match (was_up, s.health.is_up(r)) {
            (false, true) => Some(Change::WentUp),
            (true, false) => Some(Change::WentDown),
            _ => None,
        }
    }
}

impl Model for HealthModel {
    type State = HealthState;
    type Action = HealthAction;

    fn init_states(&self) -> Vec<HealthState> {
        vec![HealthState {
            health: Health::new(self.rules),
            admin: Admin::Ready,
            sessions: 0,
            cursor: 0,
            other_ready: true,
            fails_in_row: 0,
            passes_in_row: 0,
            proven: false,
            down_at_last_failure: false,
            bad_pick: false,
            cut: false,
            backup_while_active: false,
            no_server: false,
            went_down: false,
            came_back: false,
            drained_session_ended: false,
            backup_served: false,
        }]
    }

    fn actions(&self, s: &HealthState, actions: &mut Vec<HealthAction>) {
        actions.push(HealthAction::CheckPasses);
        actions.push(HealthAction::CheckFails);
        for a in [Admin::Ready, Admin::Drain, Admin::Maint] {
            if a != s.admin {
                actions.push(HealthAction::SetAdmin(a));
            }
        }
        actions.push(HealthAction::SetOther(!s.other_ready));
        if s.sessions < 2 {
            actions.push(HealthAction::Pick { avoid: None });
            actions.push(HealthAction::Pick { avoid: Some(1) });
        }
        if s.sessions > 0 {
            actions.push(HealthAction::SessionEnds);
        }
    }

    fn next_state(&self, last: &HealthState, action: HealthAction) -> Option<HealthState> {
        let mut s = *last;
        match action {
            HealthAction::CheckPasses => {
                let change = self.record(&mut s, true);
                s.passes_in_row = (s.passes_in_row + 1).min(self.rules.rise);
                s.fails_in_row = 0;
                s.proven = self.is_up(&s);
                s.came_back |= change == Some(Change::WentUp);
            }
            HealthAction::CheckFails => {
                let change = self.record(&mut s, false);
                s.fails_in_row = (s.fails_in_row + 1).min(self.rules.fall);
                s.passes_in_row = 0;
                s.down_at_last_failure = !self.is_up(&s);
                // `proven` stays as the last pass left it: the property
                // judges this failure against it.
                s.went_down |= change == Some(Change::WentDown);
            }
            HealthAction::SetAdmin(a) => {
                s.admin = a;
                if a == Admin::Drain && self.mutant == HealthMutant::DrainCutsSessions && s.sessions > 0 {
                    s.sessions = 0;
                    s.cut = true;
                }
            }
            HealthAction::SetOther(ready) => s.other_ready = ready,
            HealthAction::Pick { avoid } => {
                let usable0 = self.usable(&s);
                let backup = ServerView {
                    active: 0,
                    maxconn: 0,
                    usable: self.mutant != HealthMutant::BackupNeverServes,
                    backup: self.mutant != HealthMutant::BackupAlwaysInService,
                };
                let servers = [
                    ServerView { active: u32::from(s.sessions), maxconn: 0, usable: usable0, backup: false },
                    ServerView { active: 0, maxconn: 0, usable: s.other_ready, backup: false },
                    backup,
                ];
                // What is observed is judged by the correct rule, not the
                // mutant's: server 0 can be chosen when UP and ready.
                let active_usable = usable(s.admin, self.is_up(&s)) || s.other_ready;
                match pick(Balance::RoundRobin, &mut s.cursor, &servers, avoid, false) {
                    Pick::Assigned(0) => {
                        if !usable(s.admin, self.is_up(&s)) {
                            s.bad_pick = true;
                        }
                        s.sessions += 1;
                    }
                    Pick::Assigned(2) => {
                        s.backup_while_active |= active_usable;
                        s.backup_served |= !active_usable;
                    }
                    Pick::Assigned(_) => {}
                    Pick::Queue | Pick::NoServer => s.no_server = true,
                }
            }
            HealthAction::SessionEnds => {
                s.sessions -= 1;
                s.drained_session_ended |= s.admin == Admin::Drain;
            }
        }
        Some(s)
    }

    fn format_action(&self, action: &HealthAction) -> String {
        action.to_string()
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("a server that is not UP and ready gets no new session", |_, s: &HealthState| !s.bad_pick),
            Property::always("a server is DOWN after `fall` failed checks in a row", |m: &Self, s: &HealthState| {
                s.fails_in_row < m.rules.fall || !m.is_up(s)
            }),
            Property::always(
                "a server that passed a check while UP stays UP until `fall` failed checks in a row",
                |m: &Self, s: &HealthState| !s.proven || s.fails_in_row >= m.rules.fall || m.is_up(s),
            ),
            Property::always("a server is UP after `rise` passed checks in a row", |m: &Self, s: &HealthState| {
                s.passes_in_row < m.rules.rise || m.is_up(s)
            }),
            Property::always(
                "a DOWN server stays DOWN until `rise` passed checks in a row",
                |m: &Self, s: &HealthState| !s.down_at_last_failure || s.passes_in_row >= m.rules.rise || !m.is_up(s),
            ),
            Property::always(
                "a session on a drained, DOWN or maintained server ends only by its own end",
                |_, s: &HealthState| !s.cut,
            ),
            Property::always(
                "a backup server gets no new session while an active server can be chosen",
                |_, s: &HealthState| !s.backup_while_active,
            ),
            Property::always("a session gets a server while one can be chosen", |_, s: &HealthState| !s.no_server),
            Property::sometimes("a server goes DOWN and comes back UP", |_, s: &HealthState| {
                s.went_down && s.came_back
            }),
            Property::sometimes("a drained server's session ends", |_, s: &HealthState| s.drained_session_ended),
            Property::sometimes(
                "the backup server serves while no active server can be chosen",
                |_, s: &HealthState| s.backup_served,
            ),
        ]
    }
}
