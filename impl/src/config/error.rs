//! Configuration errors. Each says who is at fault (the file or the flags)
//! and where: a file error names the file, the 1-based line and the key, as
//! `config.toml:7: key 'timeout-client': invalid duration "30 parsecs": ...`.

use super::address::AddressError;
use super::duration::DurationError;
use super::size::SizeError;
use std::net::SocketAddr;

/// A configuration that cannot be used, and who is at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read (missing, unreadable, not UTF-8).
    #[error("{file}: cannot read the configuration file: {source}")]
    Unreadable {
        /// The file as the user named it.
        file: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is wrong at `line`, under `key`.
    #[error("{file}:{line}: {}{problem}", key_prefix(.key))]
    File {
        /// The file as the user named it.
        file: String,
        /// 1-based line of the key (or of the table that lacks it).
        line: usize,
        /// The key at fault; `None` only for a TOML syntax error outside any key.
        key: Option<String>,
        /// What is wrong (boxed: keeps `Result<_, ConfigError>` small).
        problem: Box<Problem>,
    },
    /// A command-line flag is wrong (syntax errors are clap's; these are the
    /// checks that need more than one value).
    #[error("flag '{flag}': {problem}")]
    Flag {
        /// The flag at fault, as typed (`--listen`).
        flag: &'static str,
        /// What is wrong (boxed: keeps `Result<_, ConfigError>` small).
        problem: Box<Problem>,
    },
}

fn key_prefix(key: &Option<String>) -> String {
    key.as_ref().map(|k| format!("key '{k}': ")).unwrap_or_default()
}

impl ConfigError {
    /// What is wrong, if the configuration could be read at all.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ConfigError::Unreadable { .. } => None,
            ConfigError::File { problem, .. } | ConfigError::Flag { problem, .. } => Some(&**problem),
        }
    }

    /// The 1-based line of a file error.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::File { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The key (file) or flag at fault.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::File { key, .. } => key.as_deref(),
            ConfigError::Flag { flag, .. } => Some(flag),
            ConfigError::Unreadable { .. } => None,
        }
    }
}

/// What is wrong with a value or with the configuration as a whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A duration that does not parse.
    #[error("invalid duration \"{value}\": {reason}")]
    Duration {
        /// As written.
        value: String,
        /// Why.
        reason: DurationError,
    },
    /// A byte size that does not parse.
    #[error("invalid size \"{value}\": {reason}")]
    Size {
        /// As written.
        value: String,
        /// Why.
        reason: SizeError,
    },
    /// A socket address that does not parse or cannot be used there.
    #[error("invalid address \"{value}\": {reason}")]
    Address {
        /// As written.
        value: String,
        /// Why.
        reason: AddressError,
    },
    /// A word outside its list (`balance = "random"`).
    #[error("unknown value \"{value}\" (expected {expected})")]
    Choice {
        /// As written.
        value: String,
        /// The accepted words, for the message.
        expected: &'static str,
    },
    /// A number or duration outside its bounds.
    #[error("{value} is out of range ({min} to {max})")]
    OutOfRange {
        /// As written (or as formatted, for flags).
        value: String,
        /// Smallest accepted value.
        min: String,
        /// Largest accepted value.
        max: String,
    },
    /// A listener or backend name with characters a log line cannot carry.
    #[error("invalid name \"{0}\": use letters, digits, '-', '_', '.' and ':' only")]
    InvalidName(String),
    /// No listener at all.
    #[error("no listener is configured (add a [[listener]] table)")]
    NoListener,
    /// A listener without an address.
    #[error("listener '{0}' has no address to listen on")]
    NoAddress(String),
    /// A listener without a backend.
    #[error("listener '{0}' has no backend (a [backend.NAME] name or a table)")]
    NoBackend(String),
    /// A backend without a server.
    #[error("backend '{0}' has no server")]
    NoServer(String),
    /// A reference to a backend section that does not exist.
    #[error("unknown backend '{name}' ({known})")]
    UnknownBackend {
        /// The name referenced.
        name: String,
        /// The sections that exist, for the message.
        known: String,
    },
    /// Two listeners with one name.
    #[error("listener name '{name}' is already used on line {first_line}")]
    DuplicateListener {
        /// The name.
        name: String,
        /// Where it was first used.
        first_line: usize,
    },
    /// One address in two places (port 0 excepted: every bind gets its own port).
    #[error("address {addr} is already used by listener '{listener}'")]
    DuplicateAddress {
        /// The address.
        addr: SocketAddr,
        /// The listener that has it first.
        listener: String,
    },
    /// A listener's inline backend (named after the listener) would share its
    /// name with a `[backend.NAME]` section.
    #[error("the inline backend of listener '{0}' takes the listener's name, which a [backend.{0}] section already has; rename one")]
    BackendNameTaken(String),
    /// A listener's maxconn above the global one.
    #[error("maxconn {maxconn} exceeds the global maxconn {global}")]
    AboveGlobalMaxconn {
        /// The listener's.
        maxconn: u32,
        /// The global one.
        global: u32,
    },
    /// A quick-mode flag given with `--config`.
    #[error("cannot be combined with --config (the file is the whole configuration)")]
    ConflictsWithConfig,
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{0}")]
    Toml(String),
}
