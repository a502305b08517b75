//! The arguments every model command shares: which preset, which features,
//! how many checker threads.

use clap::Args;
use connseq_model::check::{Feature, ModelConfig, Preset};

#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Preset: small (seconds), default (about a minute), io (partial I/O, about three minutes), queue (two sessions contend for the servers, about two minutes), full (every feature).
    #[arg(long, default_value = "default")]
    pub preset: Preset,
    /// Switch a feature on (repeatable): tls-front, tls-back, proxy-in,
    /// proxy-out, splice, health, monitor, rules, retries, queue, garbage, propagate-abort.
    #[arg(long = "feature", value_name = "FEATURE")]
    pub features: Vec<Feature>,
    /// Checker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

impl ModelArgs {
    /// The preset with the features switched on.
    pub fn config(&self) -> ModelConfig {
        self.features.iter().fold(ModelConfig::preset(self.preset), |c, &f| c.with(f))
    }
}
