//! The arguments every command shares: which model.

use clap::Args;
use connseq_model::check::{Feature, ModelConfig, Preset, System};

#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Preset: small (seconds), default (about a minute), io (partial I/O, about three minutes), queue (two sessions contend for the servers, about two minutes), full (every feature).
    #[arg(long, default_value = "small")]
    pub preset: Preset,
    /// Switch a feature on (repeatable): tls-front, tls-back, proxy-in,
    /// proxy-out, splice, health, monitor, rules, retries, queue, garbage.
    #[arg(long = "feature", value_name = "FEATURE")]
    pub features: Vec<Feature>,
}

impl ModelArgs {
    /// The preset with the features switched on (and no mutant).
    pub fn config(&self) -> ModelConfig {
        self.features.iter().fold(ModelConfig::preset(self.preset), |c, &f| c.with(f))
    }

    /// The system of that configuration.
    pub fn system(&self) -> System {
        System::new(self.config())
    }
}
