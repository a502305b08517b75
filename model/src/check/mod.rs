//! The stateright model of the closed system around one proxied session.
//!
//! Read top to bottom: [`config`] (presets and feature switches), [`kernel`]
//! (the abstract Linux TCP the model assumes, every rule of which is a
//! kernel axiom tested on real sockets), [`system`] (state, actions, and the
//! executor that runs the core's actions), [`properties`] (named, typed,
//! each with the mutant that refutes it), [`runner`] (the search, its report
//! and counterexamples), [`diagram`] (state machines drawn from the
//! transitions the search reached).

pub mod config;
pub mod diagram;
pub mod kernel;
pub mod properties;
pub mod runner;
pub mod system;

pub use config::{Feature, Features, ModelConfig, Preset};
pub use properties::{Kind, PropDef, PROPERTIES};
pub use runner::{check, CheckOptions, PropResult, Report, Strategy, Verdict};
pub use system::{SysAction, SysState, System, Violation, Who, Witness};

use stateright::{Model, Property};

/// The stateright model: a [`System`] plus the properties that apply to it.
#[derive(Clone, Debug)]
pub struct ConnseqModel {
    /// The system explored.
    pub sys: System,
}

impl ConnseqModel {
    /// The model of `cfg`.
    pub fn new(cfg: ModelConfig) -> ConnseqModel {
        ConnseqModel { sys: System::new(cfg) }
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
        self.props()
            .into_iter()
            .map(|p| match p.kind {
                // Liveness is checked in its terminal-state form: see properties.rs.
                Kind::Always | Kind::Eventually => Property::always(p.name, p.check),
                Kind::Sometimes => Property::sometimes(p.name, p.check),
            })
            .collect()
    }
}
