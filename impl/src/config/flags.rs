//! Quick mode: a whole proxy from flags, `connseq proxy --listen :8080
//! --server 10.0.0.1:80 --server 10.0.0.2:80`, or `connseq proxy --config
//! FILE`. Clap checks each value's syntax (addresses, durations, sizes,
//! words, address blocks) as it parses; [`ProxyArgs::into_config`] checks
//! the rest.
//!
//! The order of `--allow` and `--deny` matters (the first matching rule
//! decides) but the derived fields keep one list per flag:
//! [`ProxyArgs::order_rules`] recovers the command-line order from clap's
//! [`ArgMatches`].

use super::address::{parse_listen_addr, parse_server_addr};
use super::checks;
use super::choice::{
    add_tlv, parse_balance, parse_proxy_version, parse_splice, BALANCE_NAMES, PROXY_VERSION_NAMES, SPLICE_NAMES,
};
use super::duration::{format_duration, parse_duration};
use super::error::{ConfigError, Problem};
use super::handshake::{
    BackTls, Cidr, FrontTls, ProxyTlvs, ProxyVersion, Rule, Rules, SendProxy, ServerVerify, Verdict, TLV_NAMES,
};
use super::loaded::Loaded;
use super::size::{format_size, parse_size};
use super::{
    default_threads, BackendConfig, BackendTimeouts, CheckParams, GlobalConfig, ListenerConfig, ListenerOptions,
    ListenerTimeouts, ProxyConfig, ServerConfig, SourceLimits, QUICK_NAME,
};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::ArgMatches;
use connseq_model::core::{Balance, SpliceMode};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Run a TCP proxy: one listener and one backend from flags, or any number
/// of them from a TOML file (--config).
///
/// Durations are a whole number and a unit among us, ms, s, m, h, d (a bare
/// number is milliseconds, as in HAProxy); sizes take k, m, g (powers of 1024).
#[derive(Clone, Debug, Default, clap::Parser)]
#[command(name = "connseq proxy")]
pub struct ProxyArgs {
    /// Address to listen on: IP:PORT, [IPv6]:PORT, or :PORT for every IPv4
    /// address; port 0 picks a free port. Repeatable.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_addr, required_unless_present_any = ["config", "haproxy_cfg"],
          help_heading = "Quick mode")]
    pub listen: Vec<SocketAddr>,

    /// Server to forward to: IP:PORT or [IPv6]:PORT. Repeatable.
    #[arg(long, value_name = "ADDR", value_parser = parse_server_addr, required_unless_present_any = ["config", "haproxy_cfg"],
          help_heading = "Quick mode")]
    pub server: Vec<SocketAddr>,

    /// A backup server, after the --server ones: taken only while no --server is usable (down,
    /// in maintenance or draining), and then the first usable backup only, as HAProxy's
    /// `backup`. Repeatable.
    #[arg(long, value_name = "ADDR", value_parser = parse_server_addr, help_heading = "Quick mode")]
    pub backup_server: Vec<SocketAddr>,

    /// How to choose a server [default: roundrobin].
    #[arg(long, value_name = "ALGO", help_heading = "Quick mode",
          value_parser = PossibleValuesParser::new(BALANCE_NAMES).try_map(|s| parse_balance(&s)))]
    pub balance: Option<Balance>,

    /// Sessions at once over the whole process; 0 is unlimited [default: 4096].
    #[arg(long, value_name = "N", help_heading = "Quick mode")]
    pub maxconn: Option<u32>,

    /// Sessions at once per server (more wait in the queue); 0 is unlimited [default: 0].
    #[arg(long, value_name = "N", help_heading = "Quick mode")]
    pub server_maxconn: Option<u32>,

    /// Connect retries after the first attempt, 0 to 255 [default: 3].
    #[arg(long, value_name = "N", help_heading = "Quick mode")]
    pub retries: Option<u8>,

    /// Make the last retry go to another server (HAProxy's option redispatch).
    #[arg(long, help_heading = "Quick mode")]
    pub redispatch: bool,

    /// Time for the PROXY header, rules and TLS before the session starts [default: 5s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Quick mode")]
    pub timeout_handshake: Option<Duration>,

    /// Time for one connect attempt [default: 5s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Quick mode")]
    pub timeout_connect: Option<Duration>,

    /// Client inactivity [default: 30s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Quick mode")]
    pub timeout_client: Option<Duration>,

    /// Server inactivity [default: 30s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Quick mode")]
    pub timeout_server: Option<Duration>,

    /// A half-closed side, client or server (sets client-fin and server-fin) [default: 5s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Quick mode")]
    pub timeout_fin: Option<Duration>,

    /// The wait for a server slot when every server is at its maxconn [default: 5s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Quick mode")]
    pub timeout_queue: Option<Duration>,

    /// The delay before retrying after a refused connect; 0 retries at once [default: 1s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Quick mode")]
    pub timeout_turn_around: Option<Duration>,

    /// When to move data through a kernel pipe instead of a buffer [default: auto].
    #[arg(long, value_name = "MODE", help_heading = "Quick mode",
          value_parser = PossibleValuesParser::new(SPLICE_NAMES).try_map(|s| parse_splice(&s)))]
    pub splice: Option<SpliceMode>,

    /// Event-loop threads, 1 to 1024 [default: one per CPU].
    #[arg(long, value_name = "N", help_heading = "Quick mode")]
    pub threads: Option<usize>,

    /// Bytes per channel buffer, 1k to 64m, e.g. 16k or 64KiB [default: 16k].
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Quick mode")]
    pub buffer_size: Option<usize>,

    /// Bytes a splice pipe holds before it is flushed, 1k to 64m [default: the kernel's pipe size, 64k].
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Quick mode")]
    pub pipe_size: Option<usize>,

    /// How long SIGTERM lets sessions finish before closing them [default: 5s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Quick mode")]
    pub grace_period: Option<Duration>,

    /// Expect a PROXY header (v1 or v2) first on every connection; the
    /// session's source is the one it gives.
    #[arg(long, help_heading = "Quick mode: handshake")]
    pub accept_proxy: bool,

    /// Send a PROXY header first on every server connection: v1 (text) or v2 (binary).
    #[arg(long, value_name = "VERSION", help_heading = "Quick mode: handshake",
          value_parser = PossibleValuesParser::new(PROXY_VERSION_NAMES).try_map(|s| parse_proxy_version(&s)))]
    pub send_proxy: Option<ProxyVersion>,

    /// TLVs to add to the v2 header, comma-separated or repeated (needs --send-proxy v2).
    #[arg(long, value_name = "TLV", value_delimiter = ',', help_heading = "Quick mode: handshake",
          value_parser = PossibleValuesParser::new(TLV_NAMES))]
    pub send_proxy_tlv: Vec<String>,

    /// Terminate TLS with this certificate chain (PEM file). Repeatable,
    /// paired in order with --tls-key; the client's SNI picks the pair,
    /// the first one when none matches.
    #[arg(long, value_name = "PEM", help_heading = "Quick mode: handshake")]
    pub tls_cert: Vec<PathBuf>,

    /// The private key (PEM file) of the --tls-cert at the same position. Repeatable.
    #[arg(long, value_name = "PEM", help_heading = "Quick mode: handshake")]
    pub tls_key: Vec<PathBuf>,

    /// ALPN protocols the listener's TLS offers, in preference order, e.g.
    /// h2,http/1.1 (comma-separated or repeated; needs --tls-cert).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = checks::alpn,
          help_heading = "Quick mode: handshake")]
    pub alpn: Vec<String>,

    /// Use TLS towards the servers (with exactly one of --server-ca and --server-insecure).
    #[arg(long, help_heading = "Quick mode: handshake")]
    pub server_tls: bool,

    /// Check the servers' certificates against the CA certificates of this PEM file.
    #[arg(long, value_name = "PEM", help_heading = "Quick mode: handshake")]
    pub server_ca: Option<PathBuf>,

    /// Do not check the servers' certificates (tests and trusted networks only).
    #[arg(long, help_heading = "Quick mode: handshake")]
    pub server_insecure: bool,

    /// The DNS name to send as SNI and to check the server's certificate
    /// against; without it, no SNI is sent and the certificate is checked
    /// against the server's IP address.
    #[arg(long, value_name = "NAME", value_parser = checks::sni, help_heading = "Quick mode: handshake")]
    pub server_sni: Option<String>,

    /// Check the servers' health (HAProxy's `check`): a TCP connect every
    /// `--server-inter` (with the PROXY v2 LOCAL header and the TLS
    /// handshake when the servers get them); a server is DOWN after
    /// `--server-fall` failures in a row, UP again after `--server-rise`
    /// passes.
    #[arg(long, help_heading = "Quick mode: servers")]
    pub server_check: bool,

    /// Time between two health checks of a server [default: 2s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Quick mode: servers")]
    pub server_inter: Option<Duration>,

    /// Good checks in a row that bring a server up, 1 to 1000 [default: 2].
    #[arg(long, value_name = "N", help_heading = "Quick mode: servers")]
    pub server_rise: Option<u32>,

    /// Failed checks in a row that take a server down, 1 to 1000 [default: 3].
    #[arg(long, value_name = "N", help_heading = "Quick mode: servers")]
    pub server_fall: Option<u32>,

    /// Answer every connection with "OK" and close it; nothing is proxied.
    #[arg(long, help_heading = "Quick mode: handshake")]
    pub health: bool,

    /// When a peer resets its connection in the middle of its stream, reset
    /// the other connection too, once every byte received before it was
    /// delivered and acknowledged (instead of a FIN, which looks like a
    /// complete stream).
    #[arg(long, help_heading = "Quick mode")]
    pub propagate_abort: bool,

    /// Sources in this block get an "HTTP/1.0 200 OK" reply and a close
    /// instead of a session. Repeatable.
    #[arg(long, value_name = "CIDR", value_parser = Cidr::from_str, help_heading = "Quick mode: handshake")]
    pub monitor_net: Vec<Cidr>,

    /// Let peers in this block through. With --deny, the first rule that
    /// matches the peer's address decides, in command-line order; a peer
    /// no rule matches is let through. Repeatable.
    #[arg(long, value_name = "CIDR", value_parser = Cidr::from_str, help_heading = "Quick mode: handshake")]
    pub allow: Vec<Cidr>,

    /// Reset connections from peers in this block (see --allow). Repeatable.
    #[arg(long, value_name = "CIDR", value_parser = Cidr::from_str, help_heading = "Quick mode: handshake")]
    pub deny: Vec<Cidr>,

    /// As --allow, on the source the PROXY header gives (needs --accept-proxy). Repeatable.
    #[arg(long, value_name = "CIDR", value_parser = Cidr::from_str, help_heading = "Quick mode: handshake")]
    pub allow_src: Vec<Cidr>,

    /// As --deny, on the source the PROXY header gives (needs --accept-proxy). Repeatable.
    #[arg(long, value_name = "CIDR", value_parser = Cidr::from_str, help_heading = "Quick mode: handshake")]
    pub deny_src: Vec<Cidr>,

    /// Reset a peer's connection when its address already holds this many [default: 0, no limit].
    #[arg(long, value_name = "N", help_heading = "Quick mode: handshake")]
    pub src_conn_limit: Option<u32>,

    /// Reset a peer's connection when its address opened this many in the last
    /// --src-conn-rate-period [default: 0, no limit].
    #[arg(long, value_name = "N", help_heading = "Quick mode: handshake")]
    pub src_conn_rate: Option<u32>,

    /// The sliding window of --src-conn-rate [default: 10s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Quick mode: handshake")]
    pub src_conn_rate_period: Option<Duration>,

    /// The rule flags in command-line order, recorded by
    /// [`ProxyArgs::order_rules`]; `None`: every allow before every deny.
    #[arg(skip)]
    rules_in_order: Option<RulesInOrder>,

    /// Read the whole configuration from a TOML file (no other flag may be
    /// given, but --stats-socket and --metrics).
    #[arg(long, value_name = "FILE", conflicts_with_all = QUICK_FLAG_IDS, help_heading = "Configuration file")]
    pub config: Option<PathBuf>,

    /// Read the whole configuration from an HAProxy 2.x configuration file
    /// (its tcp-mode subset; every other directive is an error).
    #[arg(long, value_name = "FILE", conflicts_with_all = QUICK_FLAG_IDS, conflicts_with = "config",
          help_heading = "Configuration file")]
    pub haproxy_cfg: Option<PathBuf>,

    /// With --haproxy-cfg: warn about the directives connseq does not
    /// support and go on without them, instead of refusing the file.
    #[arg(long, requires = "haproxy_cfg", help_heading = "Configuration file")]
    pub lenient: bool,

    /// Serve the runtime API on this Unix socket (HAProxy's stats socket);
    /// with a file, replaces its setting.
    #[arg(long, value_name = "PATH", help_heading = "Operations")]
    pub stats_socket: Option<PathBuf>,

    /// Serve the metrics in the Prometheus text format over HTTP on this
    /// address (e.g. 127.0.0.1:9100); with a file, replaces its setting.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_addr, help_heading = "Operations")]
    pub metrics: Option<SocketAddr>,
}

/// The connection rules of quick mode, each list in command-line order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RulesInOrder {
    /// `--allow` and `--deny`.
    conn: Rules,
    /// `--allow-src` and `--deny-src`.
    src: Rules,
}

/// The clap ids of every quick-mode flag, which `--config` excludes (a test
/// checks that this is every argument but `config`).
const QUICK_FLAG_IDS: [&str; 44] = [
    "listen",
    "server",
    "backup_server",
    "balance",
    "maxconn",
    "server_maxconn",
    "retries",
    "redispatch",
    "timeout_handshake",
    "timeout_connect",
    "timeout_client",
    "timeout_server",
    "timeout_fin",
    "timeout_queue",
    "timeout_turn_around",
    "splice",
    "threads",
    "buffer_size",
    "pipe_size",
    "grace_period",
    "accept_proxy",
    "send_proxy",
    "send_proxy_tlv",
    "tls_cert",
    "tls_key",
    "alpn",
    "server_tls",
    "server_ca",
    "server_insecure",
    "server_sni",
    "server_check",
    "server_inter",
    "server_rise",
    "server_fall",
    "health",
    "propagate_abort",
    "monitor_net",
    "allow",
    "deny",
    "allow_src",
    "deny_src",
    "src_conn_limit",
    "src_conn_rate",
    "src_conn_rate_period",
];

impl ProxyArgs {
    /// Records the command-line order of `--allow` and `--deny`, and of
    /// `--allow-src` and `--deny-src`, which the derived fields lose: the
    /// first rule that matches decides, so `--allow 10.1.0.0/16 --deny
    /// 10.0.0.0/8` lets 10.1.2.3 through and `--deny 10.0.0.0/8 --allow
    /// 10.1.0.0/16` does not. `matches` must be the ones these arguments
    /// were built from (for `connseq proxy`, the subcommand's); matches
    /// that do not hold exactly these rules are ignored.
    ///
    /// Without this call (arguments built by [`clap::Parser::parse`] alone,
    /// or by hand), [`ProxyArgs::into_config`] puts every allow rule before
    /// every deny rule.
    pub fn order_rules(&mut self, matches: &ArgMatches) {
        let conn = in_order(matches, "allow", "deny").filter(|r| holds(r, &self.allow, &self.deny));
        let src = in_order(matches, "allow_src", "deny_src").filter(|r| holds(r, &self.allow_src, &self.deny_src));
        if let (Some(conn), Some(src)) = (conn, src) {
            self.rules_in_order = Some(RulesInOrder { conn, src });
        }
    }

    /// The configuration these flags describe: the file named by `--config`,
    /// or one listener named `default` on every `--listen` address with one
    /// backend (also `default`) holding every `--server`; unset flags take
    /// the defaults of [`super`]. `--maxconn` is the global maxconn; the
    /// listener has no maxconn of its own.
    ///
    /// Checks run in this order and the first failure is reported:
    /// addresses, global settings, timeouts, then the handshake flags
    /// (PROXY header to send, TLS towards the servers, the listener's TLS,
    /// health, rules).
    pub fn into_config(self) -> Result<ProxyConfig, ConfigError> {
        self.load().map(|l| l.config)
    }

    /// [`ProxyArgs::into_config`], keeping the warnings of a lenient
    /// HAProxy import. `--stats-socket` and `--metrics` replace what a file
    /// says.
    pub fn load(mut self) -> Result<Loaded, ConfigError> {
        let (stats_socket, metrics) = (self.stats_socket.take(), self.metrics.take());
        let mut loaded = self.load_source()?;
        let g = &mut loaded.config.global;
        if stats_socket.is_some() {
            g.stats_socket = stats_socket;
        }
        if metrics.is_some() {
            g.metrics = metrics;
        }
        Ok(loaded)
    }

    fn load_source(self) -> Result<Loaded, ConfigError> {
        let file = self.config.as_ref().or(self.haproxy_cfg.as_ref());
        if let Some(path) = file {
            if let Some(flag) = self.quick_flags_given().next() {
                return Err(ConfigError::Flag { flag, problem: Box::new(Problem::ConflictsWithConfig) });
            }
            if self.config.is_some() {
                return Ok(Loaded { config: ProxyConfig::from_file(path)?, warnings: Vec::new() });
            }
            return super::haproxy::load(path, self.lenient);
        }
        self.quick().map(|config| Loaded { config, warnings: Vec::new() })
    }

    /// Quick mode: one listener, one backend.
    fn quick(mut self) -> Result<ProxyConfig, ConfigError> {
        if self.listen.is_empty() {
            return Err(err("--listen")(Problem::NoAddress(QUICK_NAME.into())));
        }
        for (i, &addr) in self.listen.iter().enumerate() {
            if addr.port() != 0 && self.listen[..i].contains(&addr) {
                return Err(err("--listen")(Problem::DuplicateAddress { addr, listener: QUICK_NAME.into() }));
            }
        }
        if self.server.is_empty() {
            return Err(err("--server")(Problem::NoServer(QUICK_NAME.into())));
        }

        let defaults = GlobalConfig::default();
        let global = GlobalConfig {
            maxconn: self.maxconn.unwrap_or(defaults.maxconn),
            threads: match self.threads {
                Some(n) => checks::threads(n).map_err(err("--threads"))?,
                None => default_threads(),
            },
            buffer_size: match self.buffer_size {
                Some(n) => checks::buffer_size(n, || format_size(n)).map_err(err("--buffer-size"))?,
                None => defaults.buffer_size,
            },
            pipe_size: match self.pipe_size {
                Some(n) => Some(checks::buffer_size(n, || format_size(n)).map_err(err("--pipe-size"))?),
                None => defaults.pipe_size,
            },
            splice: self.splice.unwrap_or(defaults.splice),
            grace_period: delay(self.grace_period, defaults.grace_period).map_err(err("--grace-period"))?,
            stats_socket: None,
            metrics: None,
        };

        let lt = ListenerTimeouts::default();
        let bt = BackendTimeouts::default();
        let timeouts = ListenerTimeouts {
            handshake: timeout(self.timeout_handshake, lt.handshake).map_err(err("--timeout-handshake"))?,
            client: timeout(self.timeout_client, lt.client).map_err(err("--timeout-client"))?,
            client_fin: timeout(self.timeout_fin, lt.client_fin).map_err(err("--timeout-fin"))?,
        };
        let server_maxconn = self.server_maxconn.unwrap_or(0);
        let servers = self.server.iter().chain(&self.backup_server);
        let servers = servers.map(|&addr| ServerConfig { addr, maxconn: server_maxconn }).collect();
        let mut d = BackendConfig::new(QUICK_NAME, servers);
        let check = self.check_params()?;
        for (i, o) in d.server_options.iter_mut().enumerate() {
            o.check = check;
            o.backup = i >= self.server.len();
        }
        let backend = BackendConfig {
            balance: self.balance.unwrap_or(d.balance),
            retries: self.retries.unwrap_or(d.retries),
            redispatch: self.redispatch,
            timeouts: BackendTimeouts {
                connect: timeout(self.timeout_connect, bt.connect).map_err(err("--timeout-connect"))?,
                server: timeout(self.timeout_server, bt.server).map_err(err("--timeout-server"))?,
                server_fin: timeout(self.timeout_fin, bt.server_fin).map_err(err("--timeout-fin"))?,
                queue: timeout(self.timeout_queue, bt.queue).map_err(err("--timeout-queue"))?,
                turn_around: delay(self.timeout_turn_around, bt.turn_around).map_err(err("--timeout-turn-around"))?,
            },
            ..d
        };
        let ld = SourceLimits::default();
        let limits = SourceLimits {
            conns: self.src_conn_limit.unwrap_or(ld.conns),
            rate: self.src_conn_rate.unwrap_or(ld.rate),
            period: timeout(self.src_conn_rate_period, ld.period).map_err(err("--src-conn-rate-period"))?,
        };
        let backend = BackendConfig { send_proxy: self.send_proxy_config()?, tls: self.back_tls()?, limits, ..backend };
        let tls = self.front_tls()?;
        let (conn_rules, src_rules) = self.rules()?;
        let options = ListenerOptions {
            splice: global.splice,
            accept_proxy: self.accept_proxy,
            health: self.health,
            monitor_nets: self.monitor_net,
            conn_rules,
            src_rules,
            tls,
            routes: Vec::new(),
            propagate_abort: self.propagate_abort,
        };
        let listener =
            ListenerConfig { name: QUICK_NAME.into(), addrs: self.listen, backend, timeouts, maxconn: 0, options };
        Ok(ProxyConfig { listeners: vec![listener], global })
    }

    /// `--server-inter`, `--server-rise`, `--server-fall`, each checked,
    /// then `--server-check` refused (no health checks in this version).
    fn check_params(&self) -> Result<CheckParams, ConfigError> {
        let d = CheckParams::default();
        let count = |n: Option<u32>, default: u32, flag| match n {
            Some(n) => checks::check_count(i64::from(n)).map_err(err(flag)),
            None => Ok(default),
        };
        Ok(CheckParams {
            enabled: self.server_check,
            inter: timeout(self.server_inter, d.inter).map_err(err("--server-inter"))?,
            rise: count(self.server_rise, d.rise, "--server-rise")?,
            fall: count(self.server_fall, d.fall, "--server-fall")?,
        })
    }

    /// `--send-proxy` with its `--send-proxy-tlv`s.
    fn send_proxy_config(&self) -> Result<Option<SendProxy>, ConfigError> {
        let needs = "--send-proxy v2";
        let mut tlvs = ProxyTlvs::default();
        for name in &self.send_proxy_tlv {
            add_tlv(&mut tlvs, name).map_err(err("--send-proxy-tlv"))?;
        }
        let any_tlv = tlvs != ProxyTlvs::default();
        match self.send_proxy {
            None if any_tlv => Err(err("--send-proxy-tlv")(Problem::TlvsWithoutSendProxy { needs })),
            None => Ok(None),
            Some(ProxyVersion::V1) if any_tlv => Err(err("--send-proxy-tlv")(Problem::TlvsNeedV2 { needs })),
            Some(version) => Ok(Some(SendProxy { version, tlvs })),
        }
    }

    /// `--server-tls` and the flags that need it.
    fn back_tls(&self) -> Result<Option<BackTls>, ConfigError> {
        if !self.server_tls {
            let given = [
                ("--server-ca", self.server_ca.is_some()),
                ("--server-insecure", self.server_insecure),
                ("--server-sni", self.server_sni.is_some()),
            ];
            return match given.into_iter().find(|&(_, set)| set) {
                Some((flag, _)) => Err(err(flag)(Problem::WithoutServerTls)),
                None => Ok(None),
            };
        }
        let verify = match (&self.server_ca, self.server_insecure) {
            (Some(_), true) => {
                let choices = "--server-ca and --server-insecure";
                return Err(err("--server-insecure")(Problem::BothServerVerify { choices }));
            }
            (None, false) => {
                let choices = "--server-ca PEM or --server-insecure";
                return Err(err("--server-tls")(Problem::NoServerVerify { choices }));
            }
            (Some(ca), false) => ServerVerify::Ca(checks::readable_file(ca).map_err(err("--server-ca"))?),
            (None, true) => ServerVerify::Insecure,
        };
        Ok(Some(BackTls { verify, sni: self.server_sni.clone(), alpn: Vec::new() }))
    }

    /// `--tls-cert` and `--tls-key` paired in order, with `--alpn`; refused
    /// on a health listener.
    fn front_tls(&self) -> Result<Option<FrontTls>, ConfigError> {
        let (certs, keys) = (self.tls_cert.len(), self.tls_key.len());
        if certs != keys {
            let flag = if certs > keys { "--tls-cert" } else { "--tls-key" };
            return Err(err(flag)(Problem::UnpairedCertificates { certs, keys }));
        }
        if certs == 0 {
            if !self.alpn.is_empty() {
                return Err(err("--alpn")(Problem::AlpnWithoutTls { needs: "--tls-cert and --tls-key" }));
            }
            return Ok(None);
        }
        if self.health {
            return Err(err("--tls-cert")(Problem::HealthWithTls));
        }
        let mut pairs = Vec::new();
        for (cert, key) in self.tls_cert.iter().zip(&self.tls_key) {
            let cert = checks::readable_file(cert).map_err(err("--tls-cert"))?;
            let key = checks::readable_file(key).map_err(err("--tls-key"))?;
            pairs.push((cert, key));
        }
        Ok(Some(FrontTls { certs: pairs, alpn: self.alpn.clone() }))
    }

    /// The peer rules and the source rules, in command-line order when
    /// [`ProxyArgs::order_rules`] recorded it; source rules need `--accept-proxy`.
    fn rules(&mut self) -> Result<(Rules, Rules), ConfigError> {
        if !self.accept_proxy {
            let given = [("--allow-src", &self.allow_src), ("--deny-src", &self.deny_src)];
            if let Some((flag, _)) = given.into_iter().find(|(_, nets)| !nets.is_empty()) {
                return Err(err(flag)(Problem::SrcRulesWithoutAcceptProxy { needs: "--accept-proxy" }));
            }
        }
        Ok(match self.rules_in_order.take() {
            Some(RulesInOrder { conn, src }) => (conn, src),
            None => (allow_then_deny(&self.allow, &self.deny), allow_then_deny(&self.allow_src, &self.deny_src)),
        })
    }

    /// The quick-mode flags that were given, as typed.
    fn quick_flags_given(&self) -> impl Iterator<Item = &'static str> {
        let given = [
            ("--listen", !self.listen.is_empty()),
            ("--server", !self.server.is_empty()),
            ("--backup-server", !self.backup_server.is_empty()),
            ("--balance", self.balance.is_some()),
            ("--maxconn", self.maxconn.is_some()),
            ("--server-maxconn", self.server_maxconn.is_some()),
            ("--retries", self.retries.is_some()),
            ("--redispatch", self.redispatch),
            ("--timeout-handshake", self.timeout_handshake.is_some()),
            ("--timeout-connect", self.timeout_connect.is_some()),
            ("--timeout-client", self.timeout_client.is_some()),
            ("--timeout-server", self.timeout_server.is_some()),
            ("--timeout-fin", self.timeout_fin.is_some()),
            ("--timeout-queue", self.timeout_queue.is_some()),
            ("--timeout-turn-around", self.timeout_turn_around.is_some()),
            ("--splice", self.splice.is_some()),
            ("--threads", self.threads.is_some()),
            ("--buffer-size", self.buffer_size.is_some()),
            ("--pipe-size", self.pipe_size.is_some()),
            ("--grace-period", self.grace_period.is_some()),
            ("--accept-proxy", self.accept_proxy),
            ("--send-proxy", self.send_proxy.is_some()),
            ("--send-proxy-tlv", !self.send_proxy_tlv.is_empty()),
            ("--tls-cert", !self.tls_cert.is_empty()),
            ("--tls-key", !self.tls_key.is_empty()),
            ("--alpn", !self.alpn.is_empty()),
            ("--server-tls", self.server_tls),
            ("--server-ca", self.server_ca.is_some()),
            ("--server-insecure", self.server_insecure),
            ("--server-sni", self.server_sni.is_some()),
            ("--server-check", self.server_check),
            ("--server-inter", self.server_inter.is_some()),
            ("--server-rise", self.server_rise.is_some()),
            ("--server-fall", self.server_fall.is_some()),
            ("--health", self.health),
            ("--propagate-abort", self.propagate_abort),
            ("--monitor-net", !self.monitor_net.is_empty()),
            ("--allow", !self.allow.is_empty()),
            ("--deny", !self.deny.is_empty()),
            ("--allow-src", !self.allow_src.is_empty()),
            ("--deny-src", !self.deny_src.is_empty()),
        ];
        given.into_iter().filter_map(|(flag, set)| set.then_some(flag))
    }
}

/// The rules of the `allow` and `deny` arguments of `matches`, ordered by
/// their position on the command line; `None` if `matches` lacks them.
fn in_order(matches: &ArgMatches, allow: &str, deny: &str) -> Option<Rules> {
    let mut placed: Vec<(usize, Rule)> = Vec::new();
    for (id, verdict) in [(allow, Verdict::Allow), (deny, Verdict::Deny)] {
        let values = matches.try_get_many::<Cidr>(id).ok()?.into_iter().flatten();
        let indices = matches.indices_of(id).into_iter().flatten();
        placed.extend(indices.zip(values).map(|(at, &net)| (at, Rule { verdict, net })));
    }
    placed.sort_by_key(|&(at, _)| at);
    Some(Rules(placed.into_iter().map(|(_, rule)| rule).collect()))
}

/// Whether `ordered` holds exactly the rules of `allow` and `deny`, in any order.
fn holds(ordered: &Rules, allow: &[Cidr], deny: &[Cidr]) -> bool {
    let mut want = allow_then_deny(allow, deny).0;
    let mut got = ordered.0.clone();
    let key = |r: &Rule| (r.verdict == Verdict::Deny, r.net.addr(), r.net.prefix());
    want.sort_by_key(key);
    got.sort_by_key(key);
    want == got
}

/// Every allow rule, then every deny rule: the order when the command
/// line's is unknown.
fn allow_then_deny(allow: &[Cidr], deny: &[Cidr]) -> Rules {
    let allows = allow.iter().map(|&net| Rule { verdict: Verdict::Allow, net });
    let denies = deny.iter().map(|&net| Rule { verdict: Verdict::Deny, net });
    Rules(allows.chain(denies).collect())
}

/// The error about `flag`, for `map_err`.
fn err(flag: &'static str) -> impl Fn(Problem) -> ConfigError {
    move |problem| ConfigError::Flag { flag, problem: Box::new(problem) }
}

/// A timeout flag, or its default.
fn timeout(given: Option<Duration>, default: Duration) -> Result<Duration, Problem> {
    let d = given.unwrap_or(default);
    checks::timeout(d, || format_duration(d))
}

/// A delay flag (zero allowed), or its default.
fn delay(given: Option<Duration>, default: Duration) -> Result<Duration, Problem> {
    let d = given.unwrap_or(default);
    checks::delay(d, || format_duration(d))
}

#[cfg(test)]
mod tests;
