//! The stateright model of the closed system around the proxy's sessions.
//!
//! Read top to bottom: [`config`] (presets and feature switches), [`kernel`]
//! (the abstract Linux TCP the model assumes, every rule of which is a
//! kernel axiom tested on real sockets), [`state`] (the state and the
//! actions), [`system`] (the transition function and the checks made on
//! every step), `peers.rs` (the environment), `exec.rs` (the abstract
//! runtime that executes the core's actions), [`excuse`] (which losses an
//! event explains), [`progress`] (the measure that keeps the model acyclic),
//! [`properties`] (named, typed, each with the mutant that refutes it),
//! [`runner`] (the search, its report and counterexamples), [`describe`],
//! [`diagram`] (state machines drawn from the transitions the search reached).

pub mod config;
pub mod describe;
pub mod diagram;
pub mod excuse;
mod exec;
pub mod health;
pub mod kernel;
mod peers;
pub mod progress;
pub mod properties;
pub mod runner;
pub mod state;
pub mod system;

pub use config::{Feature, Features, ModelConfig, Preset};
pub use properties::{Kind, PropDef, PROPERTIES};
pub use runner::{check, CheckOptions, PropResult, Report, Strategy, Verdict};
pub use state::{Piece, Sess, SysAction, SysState, Violation, Who, Witness, SESSIONS};
pub use system::System;

use stateright::{Model, Property};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How often each liveness obligation applies where behaviours may end:
/// counted once per distinct state as the checker visits it.
#[derive(Debug, Default)]
pub struct Census {
    /// Distinct states where a behaviour may end (the proxy sleeps, no timer armed).
    pub stops: AtomicU64,
    /// Of those, proxied sessions in which some data chunk was sent.
    pub with_data: AtomicU64,
    /// Of those, the ones where at least one sent chunk is owed (not excused).
    pub delivery_applies: AtomicU64,
    /// Of those, the ones where every sent chunk is owed (nothing excused).
    pub delivery_whole: AtomicU64,
    /// Proxied sessions at a stop in which some peer ended its stream cleanly.
    pub with_end: AtomicU64,
    /// Of those, the ones where that end is owed to the other peer.
    pub end_applies: AtomicU64,
}

/// The census's figures, read once the search is over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CensusCounts {
    /// See [`Census::stops`].
    pub stops: u64,
    /// See [`Census::with_data`].
    pub with_data: u64,
    /// See [`Census::delivery_applies`].
    pub delivery_applies: u64,
    /// See [`Census::delivery_whole`].
    pub delivery_whole: u64,
    /// See [`Census::with_end`].
    pub with_end: u64,
    /// See [`Census::end_applies`].
    pub end_applies: u64,
}

impl Census {
    /// Counts one distinct state.
    pub fn count(&self, s: &SysState) {
        if !s.stop {
            return;
        }
        self.stops.fetch_add(1, Ordering::Relaxed);
        for x in s.sessions().filter(|x| x.is_proxied()) {
            let sent: u32 = crate::core::Dir::BOTH.iter().map(|&d| u32::from(x.sent(d))).sum();
            if sent > 0 {
                self.with_data.fetch_add(1, Ordering::Relaxed);
                let owed: u32 = crate::core::Dir::BOTH.iter().map(|&d| u32::from(x.owed(d))).sum();
                if owed > 0 {
                    self.delivery_applies.fetch_add(1, Ordering::Relaxed);
                }
                if owed >= sent {
                    self.delivery_whole.fetch_add(1, Ordering::Relaxed);
                }
            }
            let ends: Vec<_> =
                crate::core::Dir::BOTH.iter().filter(|&&d| x.peer(state::sender(d)).clean_end).copied().collect();
            if !ends.is_empty() {
                self.with_end.fetch_add(1, Ordering::Relaxed);
                if ends.iter().any(|&d| x.end_owed(d)) {
                    self.end_applies.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// The figures.
    pub fn counts(&self) -> CensusCounts {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CensusCounts {
            stops: r(&self.stops),
            with_data: r(&self.with_data),
            delivery_applies: r(&self.delivery_applies),
            delivery_whole: r(&self.delivery_whole),
            with_end: r(&self.with_end),
            end_applies: r(&self.end_applies),
        }
    }
}

/// The stateright model: a [`System`] plus the properties that apply to it.
#[derive(Clone, Debug)]
pub struct ConnseqModel {
    /// The system explored.
    pub sys: System,
    /// Where liveness obligations apply, counted during a search.
    pub census: Arc<Census>,
}

impl ConnseqModel {
    /// The model of `cfg`.
    pub fn new(cfg: ModelConfig) -> ConnseqModel {
        ConnseqModel { sys: System::new(cfg), census: Arc::new(Census::default()) }
    }

    /// The properties checked, in report order.
    pub fn props(&self) -> Vec<&'static PropDef> {
        properties::applicable(self)
    }
}

impl Model for ConnseqModel {
    type State = SysState;
    type Action = SysAction;

    fn init_states(&self) -> Vec<SysState> {
        self.sys.init_states()
    }

    fn actions(&self, state: &SysState, actions: &mut Vec<SysAction>) {
        self.sys.actions_into(state, actions);
    }

    fn next_state(&self, last: &SysState, action: SysAction) -> Option<SysState> {
        Some(self.sys.step(last, action, None))
    }

    fn format_action(&self, action: &SysAction) -> String {
        action.to_string()
    }

    fn format_step(&self, last: &SysState, action: SysAction) -> Option<String> {
        Some(format!(
            "{}\n{}",
            system::describe(&self.sys, last, action),
            runner::summary(&self.sys.step(last, action, None))
        ))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut v: Vec<Property<Self>> = vec![Property::always("(census)", |m: &Self, s: &SysState| {
            m.census.count(s);
            true
        })];
        v.extend(self.props().into_iter().map(|p| match p.kind {
            // Liveness is checked where behaviours may end: see properties.rs.
            Kind::Always | Kind::Eventually | Kind::Internal => Property::always(p.name, p.check),
            Kind::Sometimes => Property::sometimes(p.name, p.check),
        }));
        v
    }
}
