//! Quick mode: a whole proxy from flags, `connseq proxy --listen :8080
//! --server 10.0.0.1:80 --server 10.0.0.2:80`, or `connseq proxy --config
//! FILE`. Clap checks each value's syntax (addresses, durations, sizes,
//! words) as it parses; [`ProxyArgs::into_config`] checks the rest.

use super::address::{parse_listen_addr, parse_server_addr};
use super::checks;
use super::choice::{parse_balance, parse_splice, BALANCE_NAMES, SPLICE_NAMES};
use super::duration::{format_duration, parse_duration};
use super::error::{ConfigError, Problem};
use super::size::{format_size, parse_size};
use super::{
    default_threads, BackendConfig, BackendTimeouts, GlobalConfig, ListenerConfig, ListenerOptions, ListenerTimeouts,
    ProxyConfig, ServerConfig, QUICK_NAME,
};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use connseq_model::core::{Balance, SpliceMode};
use std::net::SocketAddr;
use std::path::PathBuf;
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
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_addr, required_unless_present = "config",
          help_heading = "Quick mode")]
    pub listen: Vec<SocketAddr>,

    /// Server to forward to: IP:PORT or [IPv6]:PORT. Repeatable.
    #[arg(long, value_name = "ADDR", value_parser = parse_server_addr, required_unless_present = "config",
          help_heading = "Quick mode")]
    pub server: Vec<SocketAddr>,

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

    /// How long SIGTERM lets sessions finish before closing them [default: 5s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Quick mode")]
    pub grace_period: Option<Duration>,

    /// Read the whole configuration from a TOML file (no other flag may be given).
    #[arg(long, value_name = "FILE", conflicts_with_all = QUICK_FLAG_IDS)]
    pub config: Option<PathBuf>,
}

/// The clap ids of every quick-mode flag, which `--config` excludes (a test
/// checks that this is every argument but `config`).
const QUICK_FLAG_IDS: [&str; 18] = [
    "listen",
    "server",
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
    "grace_period",
];

impl ProxyArgs {
    /// The configuration these flags describe: the file named by `--config`,
    /// or one listener named `default` on every `--listen` address with one
    /// backend (also `default`) holding every `--server`; unset flags take
    /// the defaults of [`super`]. `--maxconn` is the global maxconn; the
    /// listener has no maxconn of its own.
    pub fn into_config(self) -> Result<ProxyConfig, ConfigError> {
        if let Some(path) = &self.config {
            if let Some(flag) = self.quick_flags_given().next() {
                return Err(ConfigError::Flag { flag, problem: Box::new(Problem::ConflictsWithConfig) });
            }
            return ProxyConfig::from_file(path);
        }
        let err = |flag: &'static str| move |problem| ConfigError::Flag { flag, problem: Box::new(problem) };

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
            splice: self.splice.unwrap_or(defaults.splice),
            grace_period: delay(self.grace_period, defaults.grace_period).map_err(err("--grace-period"))?,
        };

        let lt = ListenerTimeouts::default();
        let bt = BackendTimeouts::default();
        let timeouts = ListenerTimeouts {
            handshake: timeout(self.timeout_handshake, lt.handshake).map_err(err("--timeout-handshake"))?,
            client: timeout(self.timeout_client, lt.client).map_err(err("--timeout-client"))?,
            client_fin: timeout(self.timeout_fin, lt.client_fin).map_err(err("--timeout-fin"))?,
        };
        let server_maxconn = self.server_maxconn.unwrap_or(0);
        let servers = self.server.iter().map(|&addr| ServerConfig { addr, maxconn: server_maxconn }).collect();
        let d = BackendConfig::new(QUICK_NAME, servers);
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
        let listener = ListenerConfig {
            name: QUICK_NAME.into(),
            addrs: self.listen,
            backend,
            timeouts,
            maxconn: 0,
            options: ListenerOptions { splice: global.splice },
        };
        Ok(ProxyConfig { listeners: vec![listener], global })
    }

    /// The quick-mode flags that were given, as typed.
    fn quick_flags_given(&self) -> impl Iterator<Item = &'static str> {
        let given = [
            ("--listen", !self.listen.is_empty()),
            ("--server", !self.server.is_empty()),
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
            ("--grace-period", self.grace_period.is_some()),
        ];
        given.into_iter().filter_map(|(flag, set)| set.then_some(flag))
    }
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
mod tests {
    use super::*;
    use crate::config::{
        DEFAULT_BUFFER_SIZE, DEFAULT_GRACE_PERIOD, DEFAULT_MAXCONN, DEFAULT_RETRIES, DEFAULT_TIMEOUT_CLIENT,
        DEFAULT_TIMEOUT_CLIENT_FIN, DEFAULT_TIMEOUT_CONNECT, DEFAULT_TIMEOUT_HANDSHAKE, DEFAULT_TIMEOUT_QUEUE,
        DEFAULT_TIMEOUT_SERVER, DEFAULT_TIMEOUT_SERVER_FIN, DEFAULT_TIMEOUT_TURN_AROUND,
    };
    use clap::{CommandFactory, Parser};

    fn parse(args: &[&str]) -> Result<ProxyArgs, clap::Error> {
        ProxyArgs::try_parse_from(std::iter::once("connseq-proxy").chain(args.iter().copied()))
    }

    fn config(args: &[&str]) -> ProxyConfig {
        let parsed = parse(args).unwrap_or_else(|e| panic!("{args:?} should parse: {e}"));
        parsed.into_config().unwrap_or_else(|e| panic!("{args:?} should be valid: {e}"))
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    const MINIMAL: [&str; 4] = ["--listen", "127.0.0.1:0", "--server", "127.0.0.1:9000"];

    #[test]
    fn quick_flags_exclude_exactly_every_argument_but_config() {
        let mut ids: Vec<String> = ProxyArgs::command()
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .filter(|id| id != "config" && id != "help")
            .collect();
        ids.sort();
        let mut quick: Vec<String> = QUICK_FLAG_IDS.iter().map(|s| s.to_string()).collect();
        quick.sort();
        assert_eq!(ids, quick);
        ProxyArgs::command().debug_assert();
    }

    #[test]
    fn the_minimal_command_line_takes_every_default() {
        let c = config(&MINIMAL);
        assert_eq!(c.global.maxconn, DEFAULT_MAXCONN);
        assert_eq!(c.global.threads, default_threads());
        assert_eq!(c.global.buffer_size, DEFAULT_BUFFER_SIZE);
        assert_eq!(c.global.splice, SpliceMode::Auto);
        assert_eq!(c.global.grace_period, DEFAULT_GRACE_PERIOD);
        let [l] = c.listeners.as_slice() else { panic!("one listener") };
        assert_eq!(l.name, "default");
        assert_eq!(l.addrs, [addr("127.0.0.1:0")]);
        assert_eq!(l.maxconn, 0);
        assert_eq!(l.options.splice, SpliceMode::Auto);
        assert_eq!(l.timeouts.handshake, DEFAULT_TIMEOUT_HANDSHAKE);
        assert_eq!(l.timeouts.client, DEFAULT_TIMEOUT_CLIENT);
        assert_eq!(l.timeouts.client_fin, DEFAULT_TIMEOUT_CLIENT_FIN);
        let b = &l.backend;
        assert_eq!(b.name, "default");
        assert_eq!(b.servers, [ServerConfig { addr: addr("127.0.0.1:9000"), maxconn: 0 }]);
        assert_eq!(b.balance, Balance::RoundRobin);
        assert_eq!(b.retries, DEFAULT_RETRIES);
        assert!(!b.redispatch);
        assert!(b.queue);
        assert_eq!(b.timeouts.connect, DEFAULT_TIMEOUT_CONNECT);
        assert_eq!(b.timeouts.server, DEFAULT_TIMEOUT_SERVER);
        assert_eq!(b.timeouts.server_fin, DEFAULT_TIMEOUT_SERVER_FIN);
        assert_eq!(b.timeouts.queue, DEFAULT_TIMEOUT_QUEUE);
        assert_eq!(b.timeouts.turn_around, DEFAULT_TIMEOUT_TURN_AROUND);
    }

    #[test]
    fn every_flag_lands_in_its_field() {
        let c = config(&[
            "--listen",
            "127.0.0.1:8080",
            "--listen",
            "[::1]:8080",
            "--listen",
            ":8081",
            "--server",
            "10.0.0.1:80",
            "--server",
            "10.0.0.2:80",
            "--balance",
            "leastconn",
            "--maxconn",
            "100",
            "--server-maxconn",
            "10",
            "--retries",
            "5",
            "--redispatch",
            "--timeout-handshake",
            "1s",
            "--timeout-connect",
            "2s",
            "--timeout-client",
            "3s",
            "--timeout-server",
            "4s",
            "--timeout-fin",
            "6s",
            "--timeout-queue",
            "7s",
            "--timeout-turn-around",
            "0",
            "--splice",
            "never",
            "--threads",
            "3",
            "--buffer-size",
            "64KiB",
            "--grace-period",
            "1m",
        ]);
        let s = Duration::from_secs;
        assert_eq!((c.global.maxconn, c.global.threads, c.global.buffer_size), (100, 3, 64 << 10));
        assert_eq!((c.global.splice, c.global.grace_period), (SpliceMode::Never, s(60)));
        let l = &c.listeners[0];
        assert_eq!(l.addrs, [addr("127.0.0.1:8080"), addr("[::1]:8080"), addr("0.0.0.0:8081")]);
        assert_eq!(l.options.splice, SpliceMode::Never);
        assert_eq!(l.timeouts, ListenerTimeouts { handshake: s(1), client: s(3), client_fin: s(6) });
        let b = &l.backend;
        assert_eq!(
            b.servers.iter().map(|s| (s.addr, s.maxconn)).collect::<Vec<_>>(),
            [(addr("10.0.0.1:80"), 10), (addr("10.0.0.2:80"), 10)]
        );
        assert_eq!((b.balance, b.retries, b.redispatch), (Balance::LeastConn, 5, true));
        let want = BackendTimeouts { connect: s(2), server: s(4), server_fin: s(6), queue: s(7), turn_around: s(0) };
        assert_eq!(b.timeouts, want);
        assert!(!l.session_config().turn_around);
    }

    #[test]
    fn listen_and_server_are_required_without_config() {
        let e = parse(&["--server", "127.0.0.1:1"]).expect_err("no --listen");
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let e = parse(&["--listen", "127.0.0.1:1"]).expect_err("no --server");
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn config_excludes_the_quick_mode_flags() {
        assert!(parse(&["--config", "x.toml"]).is_ok());
        for extra in [["--listen", "127.0.0.1:1"], ["--server", "127.0.0.1:1"], ["--threads", "2"]] {
            let e = parse(&["--config", "x.toml", extra[0], extra[1]]).expect_err("conflict");
            assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict, "{extra:?}");
        }
        let e = parse(&["--config", "x.toml", "--redispatch"]).expect_err("conflict");
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn into_config_refuses_quick_flags_set_beside_config() {
        let args = ProxyArgs { config: Some("x.toml".into()), threads: Some(2), ..ProxyArgs::default() };
        let e = args.into_config().expect_err("conflict");
        assert_eq!(
            e.to_string(),
            "flag '--threads': cannot be combined with --config (the file is the whole configuration)"
        );
    }

    #[test]
    fn malformed_values_are_clap_errors_that_quote_the_value() {
        for (flag, value, says) in [
            ("--timeout-client", "30 parsecs", "unknown unit 'parsecs'"),
            ("--timeout-connect", "1.5s", "fractions are not supported"),
            ("--buffer-size", "16 parsecs", "unknown unit 'parsecs'"),
            ("--listen", "localhost:80", "host names are not resolved"),
            ("--server", "127.0.0.1:0", "port other than 0"),
            ("--balance", "random", "roundrobin"),
            ("--splice", "sometimes", "never"),
            ("--retries", "256", "256"),
            ("--maxconn", "lots", "lots"),
            ("--threads", "two", "two"),
        ] {
            let mut args = MINIMAL.to_vec();
            args.extend([flag, value]);
            let e = parse(&args).expect_err(flag).to_string();
            assert!(e.contains(flag) && e.contains(says), "{flag} {value}: {e}");
        }
    }

    #[test]
    fn ephemeral_ports_may_repeat_but_other_addresses_may_not() {
        let c = config(&["--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--server", "127.0.0.1:1"]);
        assert_eq!(c.listeners[0].addrs.len(), 2);
        let args = parse(&["--listen", "127.0.0.1:80", "--listen", "127.0.0.1:80", "--server", "127.0.0.1:1"]);
        let e = args.expect("clap accepts it").into_config().expect_err("duplicate");
        assert_eq!(e.to_string(), "flag '--listen': address 127.0.0.1:80 is already used by listener 'default'");
    }

    #[test]
    fn out_of_range_values_name_their_flag() {
        for (flag, value, says) in [
            ("--threads", "0", "0 is out of range (1 to 1024)"),
            ("--threads", "5000", "5000 is out of range (1 to 1024)"),
            ("--buffer-size", "512", "512 is out of range (1k to 64m)"),
            ("--timeout-client", "0", "0s is out of range (1ms to 24d)"),
            ("--timeout-fin", "25d", "25d is out of range (1ms to 24d)"),
            ("--timeout-handshake", "500us", "500us is out of range (1ms to 24d)"),
            ("--grace-period", "30d", "30d is out of range (0s to 24d)"),
        ] {
            let mut args = MINIMAL.to_vec();
            args.extend([flag, value]);
            let e = parse(&args).expect("syntax is fine").into_config().expect_err(flag);
            assert_eq!(e.to_string(), format!("flag '{flag}': {says}"));
            assert_eq!(e.key(), Some(flag));
        }
    }

    #[test]
    fn a_zero_grace_period_and_turn_around_are_allowed() {
        let mut args = MINIMAL.to_vec();
        args.extend(["--grace-period", "0", "--timeout-turn-around", "0s"]);
        let c = config(&args);
        assert_eq!(c.global.grace_period, Duration::ZERO);
        assert_eq!(c.listeners[0].backend.timeouts.turn_around, Duration::ZERO);
    }

    #[test]
    fn into_config_without_addresses_names_the_missing_flag() {
        let e = ProxyArgs::default().into_config().expect_err("nothing to listen on");
        assert_eq!(e.to_string(), "flag '--listen': listener 'default' has no address to listen on");
        let args = ProxyArgs { listen: vec![addr("127.0.0.1:0")], ..ProxyArgs::default() };
        let e = args.into_config().expect_err("no server");
        assert_eq!(e.to_string(), "flag '--server': backend 'default' has no server");
    }

    #[test]
    fn help_shows_every_default() {
        let help = ProxyArgs::command().render_long_help().to_string();
        for d in
            ["[default: 4096]", "[default: 30s]", "[default: 5s]", "[default: 1s]", "[default: 16k]", "[default: 3]"]
        {
            assert!(help.contains(d), "{d} missing from help:\n{help}");
        }
    }
}
