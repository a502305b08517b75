//! The proxy's configuration: the validated types the runtime reads, and the
//! two ways to write them.
//!
//! - Quick mode, flags only ([`ProxyArgs`]): one listener on every `--listen`
//!   address, one backend with every `--server`.
//! - A TOML file ([`ProxyConfig::from_file`]): several listeners, each with its
//!   own backend or a reference to a `[backend.NAME]` section.
//!
//! Both end in a [`ProxyConfig`] that has passed every check: a runtime that
//! holds one can bind, connect and arm timers without validating anything.
//! Each listener hands the core its decisions' inputs through
//! [`ListenerConfig::session_config`]. Key names follow HAProxy's vocabulary
//! (`timeout client`, `maxconn`, `retries`, `balance leastconn`), and so do
//! the defaults; docs/operations.md lists them all.
//!
//! Rooms, one job each:
//! - [`duration`](parse_duration), [`size`](parse_size), [`address`](parse_listen_addr),
//!   [`choice`](parse_balance): one value each, as written by a user;
//! - `handshake`: the handshake layer's values ([`Cidr`] and [`Rules`],
//!   [`SendProxy`], [`FrontTls`], [`BackTls`]);
//! - `checks`: the bounds and the file, SNI and ALPN checks (shared by flags
//!   and file);
//! - `error`: [`ConfigError`] (who is at fault, where) and [`Problem`] (what);
//! - `flags`: [`ProxyArgs`], quick mode;
//! - `toml_raw`, `toml_file`, `locate`: the file's shape, its translation into
//!   these types, and the file positions errors point at.

mod address;
mod checks;
mod choice;
mod duration;
mod error;
mod flags;
mod handshake;
mod haproxy;
mod loaded;
mod locate;
mod print;
mod size;
mod toml_file;
mod toml_raw;

pub use address::{parse_listen_addr, parse_server_addr, AddressError};
pub use checks::{MAX_BUFFER_SIZE, MAX_CHECK_COUNT, MAX_THREADS, MAX_TIMEOUT, MIN_BUFFER_SIZE, MIN_TIMEOUT};
pub use choice::{
    balance_name, parse_balance, parse_proxy_version, parse_splice, proxy_version_name, splice_name, BALANCE_NAMES,
    PROXY_VERSION_NAMES, SPLICE_NAMES,
};
pub use duration::{format_duration, parse_duration, DisplayDuration, DurationError};
pub use error::{ConfigError, Problem};
pub use flags::ProxyArgs;
pub use handshake::{
    BackTls, Cidr, CidrError, FrontTls, ProxyTlvs, ProxyVersion, Rule, Rules, SendProxy, ServerVerify, Verdict,
    TLV_NAMES,
};
pub use loaded::Loaded;
pub use print::to_toml;
pub use size::{format_size, parse_size, SizeError};

use connseq_model::core::{Balance, Millis, NoBugs, SessionConfig, SpliceMode, Timeouts};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `maxconn` in `[global]` and `--maxconn`: 4096, the order of magnitude of
/// HAProxy's usual `global maxconn` (a session holds two sockets, so the
/// runtime needs about 8200 file descriptors for it).
pub const DEFAULT_MAXCONN: u32 = 4096;

/// `buffer-size`: 16 KiB, HAProxy's `tune.bufsize`.
pub const DEFAULT_BUFFER_SIZE: usize = 16 << 10;

/// `grace-period`: how long SIGTERM lets sessions finish, 5 s.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// `retries`: 3, HAProxy's default.
pub const DEFAULT_RETRIES: u8 = 3;

/// `timeout-handshake`: 5 s (PROXY header, rules and TLS before the session starts).
pub const DEFAULT_TIMEOUT_HANDSHAKE: Duration = Duration::from_secs(5);
/// `timeout-client`: 30 s of client inactivity.
pub const DEFAULT_TIMEOUT_CLIENT: Duration = Duration::from_secs(30);
/// `timeout-client-fin`: 5 s for a half-closed client side.
pub const DEFAULT_TIMEOUT_CLIENT_FIN: Duration = Duration::from_secs(5);
/// `timeout-connect`: 5 s per connect attempt.
pub const DEFAULT_TIMEOUT_CONNECT: Duration = Duration::from_secs(5);
/// `timeout-server`: 30 s of server inactivity.
pub const DEFAULT_TIMEOUT_SERVER: Duration = Duration::from_secs(30);
/// `timeout-server-fin`: 5 s for a half-closed server side.
pub const DEFAULT_TIMEOUT_SERVER_FIN: Duration = Duration::from_secs(5);
/// `timeout-queue`: 5 s in a server queue (HAProxy uses `timeout connect`).
pub const DEFAULT_TIMEOUT_QUEUE: Duration = Duration::from_secs(5);
/// `timeout-turn-around`: 1 s between a refused attempt and the next, HAProxy's fixed delay.
pub const DEFAULT_TIMEOUT_TURN_AROUND: Duration = Duration::from_secs(1);

/// The name of quick mode's listener and of its backend.
pub const QUICK_NAME: &str = "default";

/// `inter`: 2 s between two health checks of a server, HAProxy's default.
pub const DEFAULT_CHECK_INTER: Duration = Duration::from_secs(2);
/// `rise`: 2 good checks in a row bring a server up, HAProxy's default.
pub const DEFAULT_CHECK_RISE: u32 = 2;
/// `fall`: 3 failed checks in a row take a server down, HAProxy's default.
pub const DEFAULT_CHECK_FALL: u32 = 3;

/// The whole configuration of a proxy process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// At least one; names and (non-zero-port) addresses are unique.
    pub listeners: Vec<ListenerConfig>,
    /// Process-wide settings.
    pub global: GlobalConfig,
}

impl ProxyConfig {
    /// Reads and checks a TOML configuration file; the paths it names are
    /// relative to its directory, and must be readable now.
    pub fn from_file(path: &Path) -> Result<ProxyConfig, ConfigError> {
        toml_file::load(path)
    }

    /// Reads the tcp-mode subset of an HAProxy 2.x configuration file
    /// (`--haproxy-cfg`); with `lenient`, directives outside it are left
    /// out with a warning instead of refused.
    pub fn from_haproxy_file(path: &Path, lenient: bool) -> Result<Loaded, ConfigError> {
        haproxy::load(path, lenient)
    }

    /// Reads HAProxy configuration text; `file` is the name errors give it.
    pub fn from_haproxy_str(text: &str, file: &str, lenient: bool) -> Result<Loaded, ConfigError> {
        haproxy::parse_text(text, file, lenient)
    }

    /// Checks TOML text; `file` is the name errors give it, and the paths
    /// the text names (certificates, keys, CA) are relative to its directory.
    pub fn from_toml_str(text: &str, file: &str) -> Result<ProxyConfig, ConfigError> {
        toml_file::parse(text, file)
    }

    /// Every backend once, in the order listeners first use them (a listener's own
    /// backend, then its routes'). Two listeners
    /// that reference one `[backend.NAME]` section hold equal copies of it: the
    /// runtime shares per-server state (connection counts, queue, round-robin
    /// cursor) by [`BackendConfig::name`], which is unique.
    pub fn backends(&self) -> Vec<&BackendConfig> {
        let mut seen: Vec<&BackendConfig> = Vec::new();
        for l in &self.listeners {
            for b in std::iter::once(&l.backend).chain(l.options.routes.iter().map(|r| &r.backend)) {
                if !seen.iter().any(|s| s.name == b.name) {
                    seen.push(b);
                }
            }
        }
        seen
    }
}

/// Process-wide settings (`[global]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalConfig {
    /// Sessions at once over all listeners; 0 is unlimited. Default [`DEFAULT_MAXCONN`].
    pub maxconn: u32,
    /// Event-loop threads, 1 to [`MAX_THREADS`]. Default: one per CPU, as HAProxy's `nbthread`.
    pub threads: usize,
    /// Bytes per channel buffer. Default [`DEFAULT_BUFFER_SIZE`].
    pub buffer_size: usize,
    /// Bytes a splice pipe holds before the runtime flushes it (HAProxy's
    /// `tune.pipesize`). Above the kernel's default size (64 KiB) the pipe
    /// is grown to it; below, the pipe keeps its size and only its fill
    /// limit is lowered. Default `None`: the kernel's size.
    pub pipe_size: Option<usize>,
    /// Default splice policy of listeners. Default [`SpliceMode::Auto`] (HAProxy's
    /// `option splice-auto`; the runtime falls back to buffers where splice is missing).
    pub splice: SpliceMode,
    /// How long SIGTERM lets sessions finish before closing them. Default [`DEFAULT_GRACE_PERIOD`].
    pub grace_period: Duration,
    /// The runtime API's Unix socket (HAProxy's `stats socket`). Default none.
    pub stats_socket: Option<PathBuf>,
    /// The address of the HTTP listener that serves the metrics in the
    /// Prometheus text format. Default none.
    pub metrics: Option<SocketAddr>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            maxconn: DEFAULT_MAXCONN,
            threads: default_threads(),
            buffer_size: DEFAULT_BUFFER_SIZE,
            pipe_size: None,
            splice: SpliceMode::Auto,
            grace_period: DEFAULT_GRACE_PERIOD,
            stats_socket: None,
            metrics: None,
        }
    }
}

/// One thread per CPU the process may use, at most [`MAX_THREADS`].
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS)
}

/// A listener (HAProxy's `frontend` with its `bind` lines) and the backend it
/// sends its sessions to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Unique among listeners; appears in logs.
    pub name: String,
    /// At least one. Port 0 binds a free port.
    pub addrs: Vec<SocketAddr>,
    /// Where sessions go.
    pub backend: BackendConfig,
    /// Client-side timeouts.
    pub timeouts: ListenerTimeouts,
    /// Sessions at once on this listener; 0 means only the global maxconn applies.
    pub maxconn: u32,
    /// Per-listener switches.
    pub options: ListenerOptions,
}

impl ListenerConfig {
    /// What the core decides on for this listener's sessions: which
    /// handshake handlers run, and the backend's choices.
    pub fn session_config(&self) -> SessionConfig {
        let (b, o) = (&self.backend, &self.options);
        SessionConfig {
            health: o.health,
            monitor: !o.monitor_nets.is_empty(),
            conn_rules: !o.conn_rules.is_empty() || !b.limits.is_empty(),
            accept_proxy: o.accept_proxy,
            src_rules: !o.src_rules.is_empty(),
            tls_front: o.tls.is_some(),
            tls_back: b.tls.is_some(),
            send_proxy: b.send_proxy.is_some(),
            splice: o.splice,
            balance: b.balance,
            queue: b.queue,
            retries: b.retries,
            redispatch: b.redispatch,
            turn_around: !b.timeouts.turn_around.is_zero(),
            timeouts: self.core_timeouts(),
            propagate_abort: o.propagate_abort,
            mutant: NoBugs,
        }
    }

    /// The listener's and its backend's timeouts in the core's milliseconds
    /// (rounded up, so no non-zero timeout becomes 0).
    pub fn core_timeouts(&self) -> Timeouts {
        let (l, b) = (&self.timeouts, &self.backend.timeouts);
        Timeouts {
            handshake: millis(l.handshake),
            connect: millis(b.connect),
            queue: millis(b.queue),
            turn_around: millis(b.turn_around),
            client: millis(l.client),
            server: millis(b.server),
            client_fin: millis(l.client_fin),
            server_fin: millis(b.server_fin),
        }
    }
}

/// `d` in whole milliseconds, rounded up.
pub fn millis(d: Duration) -> Millis {
    let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
    Millis::try_from(ms).unwrap_or(Millis::MAX)
}

/// Per-listener switches: splice, and the handshake layer (TLS, PROXY
/// header, health and monitor replies, connection rules), each off by
/// default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerOptions {
    /// Splice policy (`splice` in the listener; default: the global one).
    pub splice: SpliceMode,
    /// Expect a PROXY header (v1 or v2) first on every connection (`accept-proxy`).
    pub accept_proxy: bool,
    /// Answer every connection with `OK\n` and close it; nothing is proxied
    /// (HAProxy's `mode health`).
    pub health: bool,
    /// Sources that get `HTTP/1.0 200 OK\r\n\r\n` and a close (`monitor-net`).
    pub monitor_nets: Vec<Cidr>,
    /// Rules on the real peer address, before the PROXY header (`allow`, `deny`).
    pub conn_rules: Rules,
    /// Rules on the source the PROXY header gives (`allow-src`, `deny-src`).
    pub src_rules: Rules,
    /// TLS termination.
    pub tls: Option<FrontTls>,
    /// Backends chosen by the client's address (`use-backend`, HAProxy's
    /// `use_backend NAME if ACL` on `src`), the first that matches; the
    /// listener's own backend otherwise. Matched at accept on the real peer
    /// address (not with `accept_proxy`, whose source comes later).
    pub routes: Vec<Route>,
    /// A peer's reset in the middle of its stream reaches the other peer as a
    /// reset, once every byte before it was delivered and acknowledged
    /// (`propagate-abort`), instead of HAProxy's FIN. Default off.
    pub propagate_abort: bool,
}

/// A backend chosen for the clients of some address blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The backend.
    pub backend: BackendConfig,
    /// The blocks the client's address is matched against.
    pub nets: Vec<Cidr>,
    /// `unless`: the route is taken by the clients outside the blocks.
    pub negated: bool,
}

impl Route {
    /// Whether a client at `ip` takes this route.
    pub fn matches(&self, ip: std::net::IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip)) != self.negated
    }
}

/// Per-source-address limits of a backend, checked in the connection-rules stage
/// (HH_TCP_RULES_CONN) of its listeners on the real peer address, after the `rules`: HAProxy's
/// `tcp-request connection reject if { sc_conn_cur(0) gt N }` and `{ sc_conn_rate(0) gt N }`
/// with `track-sc0 src` in a table of `conn_cur,conn_rate(PERIOD)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceLimits {
    /// Connections one source may hold at once (`src-conn-limit`); 0: no limit.
    pub conns: u32,
    /// New connections one source may open per `period` (`src-conn-rate`), counted over a
    /// sliding window; 0: no limit.
    pub rate: u32,
    /// The window of `rate` (`src-conn-rate-period`). Default [`DEFAULT_SRC_CONN_RATE_PERIOD`].
    pub period: Duration,
}

/// HAProxy's usual `conn_rate(10s)`.
pub const DEFAULT_SRC_CONN_RATE_PERIOD: Duration = Duration::from_secs(10);

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits { conns: 0, rate: 0, period: DEFAULT_SRC_CONN_RATE_PERIOD }
    }
}

impl SourceLimits {
    /// No limit is set: the core needs no rules stage for them.
    pub fn is_empty(&self) -> bool {
        self.conns == 0 && self.rate == 0
    }
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions {
            splice: SpliceMode::Auto,
            accept_proxy: false,
            health: false,
            monitor_nets: Vec::new(),
            conn_rules: Rules::default(),
            src_rules: Rules::default(),
            tls: None,
            routes: Vec::new(),
            propagate_abort: false,
        }
    }
}

/// The client side's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerTimeouts {
    /// `timeout-handshake`: everything before the session starts. Default [`DEFAULT_TIMEOUT_HANDSHAKE`].
    pub handshake: Duration,
    /// `timeout-client`: client inactivity. Default [`DEFAULT_TIMEOUT_CLIENT`].
    pub client: Duration,
    /// `timeout-client-fin`: a half-closed client side. Default [`DEFAULT_TIMEOUT_CLIENT_FIN`].
    pub client_fin: Duration,
}

impl Default for ListenerTimeouts {
    fn default() -> Self {
        ListenerTimeouts {
            handshake: DEFAULT_TIMEOUT_HANDSHAKE,
            client: DEFAULT_TIMEOUT_CLIENT,
            client_fin: DEFAULT_TIMEOUT_CLIENT_FIN,
        }
    }
}

/// A backend: its servers and how sessions are spread and retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendConfig {
    /// Unique among backends: the `[backend.NAME]` name, or the listener's
    /// name for an inline backend.
    pub name: String,
    /// At least one, in the written order (round-robin follows it).
    pub servers: Vec<ServerConfig>,
    /// Default [`Balance::RoundRobin`].
    pub balance: Balance,
    /// Connect retries after the first attempt. Default [`DEFAULT_RETRIES`].
    pub retries: u8,
    /// Try another server for the last retry (`option redispatch`). Default off.
    pub redispatch: bool,
    /// Wait in a queue when every server is at its maxconn, rather than fail
    /// at once. Default on (HAProxy always queues).
    pub queue: bool,
    /// The server side's timers.
    pub timeouts: BackendTimeouts,
    /// A PROXY header first on every server connection (`send-proxy`).
    pub send_proxy: Option<SendProxy>,
    /// TLS towards the servers.
    pub tls: Option<BackTls>,
    /// Each server's name and health-check settings, in the order of
    /// `servers`; a server past the end of this list takes the defaults of
    /// [`ServerOptions::numbered`].
    pub server_options: Vec<ServerOptions>,
    /// Per-source limits on the sessions sent here, checked in the connection-rules stage of
    /// every listener that uses this backend, which share the counts (HAProxy's stick table
    /// declared in a backend, tracked from the frontends).
    pub limits: SourceLimits,
}

impl BackendConfig {
    /// A backend with these servers and every default: the servers are
    /// named `s1`, `s2`, ... in order.
    pub fn new(name: impl Into<String>, servers: Vec<ServerConfig>) -> BackendConfig {
        let server_options = (0..servers.len()).map(ServerOptions::numbered).collect();
        BackendConfig {
            name: name.into(),
            server_options,
            servers,
            balance: Balance::RoundRobin,
            retries: DEFAULT_RETRIES,
            redispatch: false,
            queue: true,
            timeouts: BackendTimeouts::default(),
            send_proxy: None,
            tls: None,
            limits: SourceLimits::default(),
        }
    }
}

impl BackendConfig {
    /// The name of server `i` (`s1` for the first when it has none).
    pub fn server_name(&self, i: usize) -> String {
        self.server_options.get(i).map_or_else(|| ServerOptions::numbered(i).name, |o| o.name.clone())
    }

    /// The health-check settings of server `i`.
    pub fn server_check(&self, i: usize) -> CheckParams {
        self.server_options.get(i).map_or_else(CheckParams::default, |o| o.check)
    }

    /// Whether server `i` is a backup server.
    pub fn server_is_backup(&self, i: usize) -> bool {
        self.server_options.get(i).is_some_and(|o| o.backup)
    }
}

/// What an operator knows a server by besides its address: its name (in
/// the log line, the runtime API and the metrics, as HAProxy's `server
/// NAME ADDR`), its health-check settings, and whether it is a backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// Unique within its backend; the characters of a listener name.
    pub name: String,
    /// `check`, `inter`, `rise`, `fall`.
    pub check: CheckParams,
    /// `backup`: taken only while no active server of the backend is usable
    /// (down, in maintenance or draining), and then the first usable backup
    /// only, as in HAProxy without `option allbackups`. Default off.
    pub backup: bool,
}

impl ServerOptions {
    /// The defaults of the `i`-th server (from 0): named `s{i+1}`, no check,
    /// active.
    pub fn numbered(i: usize) -> ServerOptions {
        ServerOptions { name: format!("s{}", i + 1), check: CheckParams::default(), backup: false }
    }
}

/// A server's health-check settings, with HAProxy's meaning (a TCP connect
/// every `inter`; `fall` failures in a row take the server down, `rise`
/// successes bring it back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckParams {
    /// `check`: the server is checked.
    pub enabled: bool,
    /// `inter`: the time between two checks. Default [`DEFAULT_CHECK_INTER`].
    pub inter: Duration,
    /// `rise`: good checks in a row that bring a server up. Default [`DEFAULT_CHECK_RISE`].
    pub rise: u32,
    /// `fall`: failed checks in a row that take it down. Default [`DEFAULT_CHECK_FALL`].
    pub fall: u32,
}

impl Default for CheckParams {
    fn default() -> Self {
        CheckParams { enabled: false, inter: DEFAULT_CHECK_INTER, rise: DEFAULT_CHECK_RISE, fall: DEFAULT_CHECK_FALL }
    }
}

/// A server of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Sessions at once on this server; 0 (the default) is unlimited.
    pub maxconn: u32,
}

/// The server side's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendTimeouts {
    /// `timeout-connect`: one connect attempt. Default [`DEFAULT_TIMEOUT_CONNECT`].
    pub connect: Duration,
    /// `timeout-server`: server inactivity. Default [`DEFAULT_TIMEOUT_SERVER`].
    pub server: Duration,
    /// `timeout-server-fin`: a half-closed server side. Default [`DEFAULT_TIMEOUT_SERVER_FIN`].
    pub server_fin: Duration,
    /// `timeout-queue`: the wait for a server slot. Default [`DEFAULT_TIMEOUT_QUEUE`].
    pub queue: Duration,
    /// `timeout-turn-around`: the delay before retrying after a refusal; 0
    /// retries at once. Default [`DEFAULT_TIMEOUT_TURN_AROUND`].
    pub turn_around: Duration,
}

impl Default for BackendTimeouts {
    fn default() -> Self {
        BackendTimeouts {
            connect: DEFAULT_TIMEOUT_CONNECT,
            server: DEFAULT_TIMEOUT_SERVER,
            server_fin: DEFAULT_TIMEOUT_SERVER_FIN,
            queue: DEFAULT_TIMEOUT_QUEUE,
            turn_around: DEFAULT_TIMEOUT_TURN_AROUND,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener() -> ListenerConfig {
        let server = ServerConfig { addr: "127.0.0.1:9000".parse().expect("address"), maxconn: 0 };
        ListenerConfig {
            name: "web".into(),
            addrs: vec!["127.0.0.1:0".parse().expect("address")],
            backend: BackendConfig::new("app", vec![server]),
            timeouts: ListenerTimeouts::default(),
            maxconn: 0,
            options: ListenerOptions::default(),
        }
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let g = GlobalConfig::default();
        assert_eq!(g.maxconn, 4096);
        assert_eq!(g.buffer_size, 16384);
        assert_eq!(g.splice, SpliceMode::Auto);
        assert_eq!(g.grace_period, Duration::from_secs(5));
        assert!(g.threads >= 1 && g.threads <= MAX_THREADS);
        let b = BackendConfig::new("b", vec![]);
        assert_eq!((b.balance, b.retries, b.redispatch, b.queue), (Balance::RoundRobin, 3, false, true));
    }

    #[test]
    fn session_config_carries_backend_choices_and_leaves_later_features_off() {
        let mut l = listener();
        l.backend.balance = Balance::LeastConn;
        l.backend.retries = 7;
        l.backend.redispatch = true;
        l.backend.queue = false;
        l.options.splice = SpliceMode::Never;
        let c = l.session_config();
        assert_eq!((c.balance, c.retries, c.redispatch, c.queue), (Balance::LeastConn, 7, true, false));
        assert_eq!(c.splice, SpliceMode::Never);
        assert!(c.turn_around);
        assert_eq!(c.mutant, NoBugs);
        let later = [c.health, c.monitor, c.conn_rules, c.accept_proxy, c.src_rules, c.tls_front, c.tls_back];
        assert!(!later.contains(&true) && !c.send_proxy);
    }

    #[test]
    fn default_timeouts_equal_the_cores_defaults() {
        assert_eq!(listener().core_timeouts(), Timeouts::default());
    }

    #[test]
    fn every_timeout_reaches_its_core_field() {
        let mut l = listener();
        let ms = Duration::from_millis;
        l.timeouts = ListenerTimeouts { handshake: ms(1), client: ms(2), client_fin: ms(3) };
        l.backend.timeouts =
            BackendTimeouts { connect: ms(4), server: ms(5), server_fin: ms(6), queue: ms(7), turn_around: ms(8) };
        let t = l.session_config().timeouts;
        let got = [t.handshake, t.client, t.client_fin, t.connect, t.server, t.server_fin, t.queue, t.turn_around];
        assert_eq!(got, [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn a_zero_turn_around_retries_at_once() {
        let mut l = listener();
        l.backend.timeouts.turn_around = Duration::ZERO;
        assert!(!l.session_config().turn_around);
    }

    #[test]
    fn sub_millisecond_durations_round_up() {
        assert_eq!(millis(Duration::from_micros(1500)), 2);
        assert_eq!(millis(Duration::from_micros(1)), 1);
        assert_eq!(millis(Duration::from_millis(7)), 7);
        assert_eq!(millis(Duration::ZERO), 0);
        assert_eq!(millis(Duration::MAX), Millis::MAX);
    }

    #[test]
    fn backends_are_listed_once_in_first_use_order() {
        let a = listener();
        let mut b = listener();
        b.name = "other".into();
        let mut c = listener();
        c.name = "third".into();
        c.backend.name = "db".into();
        let cfg = ProxyConfig { listeners: vec![a, b, c], global: GlobalConfig::default() };
        let names: Vec<_> = cfg.backends().iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["app", "db"]);
    }
}
