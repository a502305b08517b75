//! A configuration as a loader returns it: the flags, a TOML file or an
//! imported HAProxy file (its own room, so that the loaders need not import
//! each other for it).

use super::ProxyConfig;

/// A configuration as loaded, with what the loader had to say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// The checked configuration.
    pub config: ProxyConfig,
    /// Directives of an imported HAProxy file that were left out
    /// (`--lenient`), one line each, as `FILE:LINE: directive 'X': ...`.
    pub warnings: Vec<String>,
}
