//! Configuration errors. Each says who is at fault (the file or the flags)
//! and where: a file error names the file, the 1-based line and the key, as
//! `config.toml:7: key 'timeout-client': invalid duration "30 parsecs": ...`.

use super::address::AddressError;
use super::duration::DurationError;
use super::handshake::CidrError;
use super::size::SizeError;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// An imported HAProxy configuration is wrong, or asks for what connseq
    /// does not do, at `line`, in `directive`.
    #[error("{file}:{line}: directive '{directive}': {problem}")]
    Directive {
        /// The file as the user named it.
        file: String,
        /// 1-based line of the directive.
        line: usize,
        /// The directive's keyword(s), as written (`tcp-request connection`).
        directive: String,
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
            ConfigError::File { problem, .. }
            | ConfigError::Flag { problem, .. }
            | ConfigError::Directive { problem, .. } => Some(&**problem),
        }
    }

    /// The 1-based line of a file error.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::File { line, .. } | ConfigError::Directive { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The key (file) or flag at fault.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::File { key, .. } => key.as_deref(),
            ConfigError::Directive { directive, .. } => Some(directive),
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
    /// An address block that does not parse (`monitor-net`, rules).
    #[error("invalid address block \"{value}\": {reason}")]
    Cidr {
        /// As written.
        value: String,
        /// Why.
        reason: CidrError,
    },
    /// A rule table with both `allow` and `deny`, or neither.
    #[error("a rule has exactly one of allow or deny, as in {{ allow = \"10.0.0.0/8\" }}")]
    RuleVerdict,
    /// Source rules without a PROXY header to take the source from;
    /// `needs` is the setting to add, as flags or the file spell it.
    #[error("source rules match the address the PROXY header gives: add {needs}")]
    SrcRulesWithoutAcceptProxy {
        /// `--accept-proxy` or `accept-proxy = true`.
        needs: &'static str,
    },
    /// TLVs asked for without any PROXY header to carry them.
    #[error("TLVs travel in a PROXY header: add {needs}")]
    TlvsWithoutSendProxy {
        /// `--send-proxy v2` or `send-proxy = "v2"`.
        needs: &'static str,
    },
    /// TLVs asked for with a v1 header, which has no room for them.
    #[error("TLVs need {needs}")]
    TlvsNeedV2 {
        /// `--send-proxy v2` or `send-proxy = "v2"`.
        needs: &'static str,
    },
    /// A certificate, key or CA file that cannot be opened for reading
    /// (its content is checked when the runtime loads it).
    #[error("cannot read \"{}\": {reason}", .path.display())]
    UnreadableFile {
        /// The path as resolved (a file's relative paths start at its directory).
        path: PathBuf,
        /// What the operating system said.
        reason: String,
    },
    /// `--tls-cert` and `--tls-key` given a different number of times.
    #[error("{certs} --tls-cert but {keys} --tls-key: give each certificate its key, in the same order")]
    UnpairedCertificates {
        /// How many `--tls-cert`.
        certs: usize,
        /// How many `--tls-key`.
        keys: usize,
    },
    /// A listener's `tls` table without a certificate.
    #[error("a listener's tls needs at least one certificate: certs = [ {{ cert = \"FILE\", key = \"FILE\" }} ]")]
    NoCertificate,
    /// ALPN protocols for a listener that does not terminate TLS.
    #[error("ALPN is offered in the listener's TLS handshake: add {needs}")]
    AlpnWithoutTls {
        /// The flags to add.
        needs: &'static str,
    },
    /// An ALPN protocol name that cannot be sent (RFC 7301 3.1: 1 to 255 bytes).
    #[error("invalid ALPN protocol \"{0}\": use 1 to 255 visible ASCII characters, as in h2 or http/1.1")]
    InvalidAlpn(String),
    /// An SNI that is not a DNS name (RFC 6066 3: no IP address, no trailing dot).
    #[error("invalid SNI \"{0}\": use a DNS name (letters, digits, '-' and '.'), not an IP address")]
    InvalidSni(String),
    /// TLS towards the servers that neither checks their certificates nor
    /// says it will not.
    #[error("TLS towards the servers checks their certificates against a CA or is marked insecure: set {choices}")]
    NoServerVerify {
        /// The two settings, as flags or the file spell them.
        choices: &'static str,
    },
    /// Both a CA and insecure for TLS towards the servers.
    #[error("{choices} exclude each other: set one")]
    BothServerVerify {
        /// The two settings, as flags or the file spell them.
        choices: &'static str,
    },
    /// A server TLS flag without `--server-tls`.
    #[error("applies to TLS towards the servers only: add --server-tls")]
    WithoutServerTls,
    /// A health listener with TLS: health replies (`OK\n`) are sent in
    /// clear at accept, before any handshake.
    #[error("health replies are never encrypted: a health listener cannot have tls")]
    HealthWithTls,
    /// Routes on a listener that expects a PROXY header.
    #[error("use-backend routes at accept on the real peer address: not with accept-proxy, whose source comes later")]
    RoutesWithAcceptProxy,
    /// Two servers of one backend with one name.
    #[error("server name '{name}' is used twice in backend '{backend}'")]
    DuplicateServer {
        /// The name.
        name: String,
        /// The backend.
        backend: String,
    },
    /// An HAProxy directive, or a form of one, that connseq does not do.
    #[error("not supported by connseq: {0}")]
    Unsupported(String),
    /// An HAProxy directive written wrongly.
    #[error("{0}")]
    Syntax(String),
    /// A quick-mode flag given with `--config`.
    #[error("cannot be combined with --config (the file is the whole configuration)")]
    ConflictsWithConfig,
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{0}")]
    Toml(String),
}
