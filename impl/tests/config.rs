//! The configuration file as an operator writes it: real files under the
//! temporary directory, read through `ProxyConfig::from_file` and through
//! `connseq proxy --config`. Every error names the file, the line and the key.

use clap::{CommandFactory, FromArgMatches, Parser};
use connseq::config::{
    BackTls, BackendTimeouts, Cidr, ConfigError, FrontTls, ListenerOptions, ListenerTimeouts, Problem, ProxyArgs,
    ProxyConfig, ProxyTlvs, ProxyVersion, Rule, Rules, SendProxy, ServerConfig, ServerVerify, Verdict, DEFAULT_MAXCONN,
};
use connseq_model::core::{Balance, SpliceMode};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A configuration file under the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(lines: &[&str]) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("connseq-config-test-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, lines.join("\n") + "\n").expect("the temporary directory is writable");
        TempFile(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn name(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn load(lines: &[&str]) -> ProxyConfig {
    let f = TempFile::new(lines);
    ProxyConfig::from_file(f.path()).unwrap_or_else(|e| panic!("should load: {e}"))
}

/// Loads `lines`, expects an error at `line` about `key`, and returns its message.
#[track_caller]
fn error_at(lines: &[&str], line: usize, key: &str) -> String {
    let f = TempFile::new(lines);
    let e = ProxyConfig::from_file(f.path()).expect_err("should be refused");
    let msg = e.to_string();
    let want = format!("{}:{line}: key '{key}': ", f.name());
    assert!(msg.starts_with(&want), "expected {want:?}..., got {msg:?}");
    assert_eq!((e.line(), e.key()), (Some(line), Some(key)), "{msg}");
    assert!(matches!(e, ConfigError::File { .. }));
    msg
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// The smallest valid file, for error tests to change one line of.
const MINIMAL: [&str; 4] = ["[[listener]]", "name = \"web\"", "listen = [\"127.0.0.1:0\"]", "backend = \"app\""];
const APP: [&str; 2] = ["[backend.app]", "servers = [\"127.0.0.1:9000\"]"];

fn minimal_with<'a>(extra_listener_lines: &[&'a str]) -> Vec<&'a str> {
    let mut v = MINIMAL.to_vec();
    v.extend_from_slice(extra_listener_lines);
    v.extend(APP);
    v
}

// ---- complete files ----

#[test]
fn the_example_of_the_design_loads_with_every_value() {
    let c = load(&[
        "[global]",
        "maxconn = 10000",
        "threads = 2",
        "[[listener]]",
        "name = \"web\"",
        "listen = [\"127.0.0.1:8080\"]",
        "backend = \"app\"",
        "timeout-client = \"30s\"",
        "[backend.app]",
        "balance = \"leastconn\"",
        "retries = 3",
        "timeout-connect = \"2s\"",
        "servers = [ { addr = \"127.0.0.1:9000\", maxconn = 100 }, { addr = \"127.0.0.1:9001\" } ]",
    ]);
    assert_eq!((c.global.maxconn, c.global.threads), (10000, 2));
    let l = &c.listeners[0];
    assert_eq!((l.name.as_str(), l.addrs.as_slice()), ("web", [addr("127.0.0.1:8080")].as_slice()));
    assert_eq!(l.timeouts.client, Duration::from_secs(30));
    let b = &l.backend;
    assert_eq!((b.name.as_str(), b.balance, b.retries), ("app", Balance::LeastConn, 3));
    assert_eq!(b.timeouts.connect, Duration::from_secs(2));
    assert_eq!(
        b.servers,
        [
            ServerConfig { addr: addr("127.0.0.1:9000"), maxconn: 100 },
            ServerConfig { addr: addr("127.0.0.1:9001"), maxconn: 0 },
        ]
    );
}

#[test]
fn every_key_of_a_complete_file_lands_in_its_field() {
    let c = load(&[
        "# every key, none at its default",
        "[global]",
        "maxconn = 500",
        "threads = 3",
        "buffer-size = \"64KiB\"",
        "pipe-size = \"1m\"",
        "splice = \"never\"",
        "grace-period = \"1m\"",
        "",
        "[[listener]]",
        "name = \"web\"",
        "listen = [\"127.0.0.1:8080\", \"[::1]:8080\", \":8081\"]",
        "backend = \"app\"",
        "maxconn = 200",
        "splice = \"always\"",
        "timeout-handshake = \"1s\"",
        "timeout-client = 2000",
        "timeout-client-fin = \"3s\"",
        "",
        "[[listener]]",
        "name = \"db-front\"",
        "listen = \"127.0.0.1:0\"",
        "[listener.backend]",
        "servers = [\"10.0.0.9:5432\"]",
        "",
        "[backend.app]",
        "balance = \"leastconn\"",
        "retries = 0",
        "redispatch = true",
        "queue = false",
        "server-maxconn = 50",
        "timeout-connect = \"4s\"",
        "timeout-server = \"5s\"",
        "timeout-server-fin = \"6s\"",
        "timeout-queue = \"7s\"",
        "timeout-turn-around = \"0\"",
        "servers = [",
        "  \"10.0.0.1:80\",",
        "  { addr = \"10.0.0.2:80\", maxconn = 5 },",
        "]",
    ]);
    let s = Duration::from_secs;
    let g = &c.global;
    assert_eq!(g.pipe_size, Some(1 << 20));
    assert_eq!(
        (g.maxconn, g.threads, g.buffer_size, g.splice, g.grace_period),
        (500, 3, 64 << 10, SpliceMode::Never, s(60))
    );

    let [web, db] = c.listeners.as_slice() else { panic!("two listeners") };
    assert_eq!(web.addrs, [addr("127.0.0.1:8080"), addr("[::1]:8080"), addr("0.0.0.0:8081")]);
    assert_eq!((web.maxconn, web.options.splice), (200, SpliceMode::Always));
    assert_eq!(web.timeouts, ListenerTimeouts { handshake: s(1), client: s(2), client_fin: s(3) });
    let app = &web.backend;
    assert_eq!((app.balance, app.retries, app.redispatch, app.queue), (Balance::LeastConn, 0, true, false));
    assert_eq!(
        app.servers,
        [
            ServerConfig { addr: addr("10.0.0.1:80"), maxconn: 50 },
            ServerConfig { addr: addr("10.0.0.2:80"), maxconn: 5 }
        ]
    );
    let want = BackendTimeouts { connect: s(4), server: s(5), server_fin: s(6), queue: s(7), turn_around: s(0) };
    assert_eq!(app.timeouts, want);

    assert_eq!((db.name.as_str(), db.addrs.as_slice()), ("db-front", [addr("127.0.0.1:0")].as_slice()));
    assert_eq!(db.options.splice, SpliceMode::Never, "a listener without splice takes the global one");
    assert_eq!(db.backend.name, "db-front", "an inline backend takes its listener's name");
    assert_eq!(db.backend.servers, [ServerConfig { addr: addr("10.0.0.9:5432"), maxconn: 0 }]);

    let sc = web.session_config();
    assert_eq!(
        (sc.balance, sc.retries, sc.redispatch, sc.queue, sc.turn_around),
        (Balance::LeastConn, 0, true, false, false)
    );
    assert_eq!((sc.timeouts.client, sc.timeouts.server_fin, sc.splice), (2000, 6000, SpliceMode::Always));
}

#[test]
fn a_minimal_file_takes_every_default() {
    let c = load(&[&MINIMAL[..], &APP[..]].concat());
    assert_eq!(c.global.maxconn, DEFAULT_MAXCONN);
    assert_eq!(c.global.buffer_size, 16 << 10);
    assert_eq!(c.global.pipe_size, None);
    assert_eq!(c.global.grace_period, Duration::from_secs(5));
    assert_eq!(c.global.splice, SpliceMode::Auto);
    assert_eq!(c.global.threads, connseq::config::default_threads());
    let l = &c.listeners[0];
    assert_eq!((l.maxconn, l.timeouts), (0, ListenerTimeouts::default()));
    let b = &l.backend;
    assert_eq!((b.balance, b.retries, b.redispatch, b.queue), (Balance::RoundRobin, 3, false, true));
    assert_eq!(b.timeouts, BackendTimeouts::default());
    assert_eq!(l.session_config().timeouts, connseq_model::core::Timeouts::default());
}

#[test]
fn listeners_sharing_a_backend_section_share_its_name() {
    let c = load(&[
        "[[listener]]",
        "name = \"a\"",
        "listen = [\"127.0.0.1:0\"]",
        "backend = \"app\"",
        "[[listener]]",
        "name = \"b\"",
        "listen = [\"127.0.0.1:0\"]",
        "backend = \"app\"",
        "[[listener]]",
        "name = \"c\"",
        "listen = [\"127.0.0.1:0\"]",
        "backend = { servers = [\"127.0.0.1:1\"] }",
        "[backend.app]",
        "servers = [\"127.0.0.1:9000\"]",
        "[backend.unused]",
        "servers = [\"127.0.0.1:9001\"]",
    ]);
    assert_eq!(c.listeners[0].backend, c.listeners[1].backend);
    let names: Vec<_> = c.backends().iter().map(|b| b.name.clone()).collect();
    assert_eq!(names, ["app", "c"]);
}

#[test]
fn the_config_flag_loads_the_file() {
    let f = TempFile::new(&[&MINIMAL[..], &APP[..]].concat());
    let args = ProxyArgs::try_parse_from(["connseq-proxy", "--config", &f.name()]).expect("flags parse");
    let c = args.into_config().expect("the file loads");
    assert_eq!(c.listeners[0].name, "web");
}

// ---- one test per error kind: file name, line, key ----

#[test]
fn a_missing_file_is_named() {
    let path = std::env::temp_dir().join(format!("connseq-config-test-{}-absent.toml", std::process::id()));
    let e = ProxyConfig::from_file(&path).expect_err("no such file");
    assert!(matches!(e, ConfigError::Unreadable { .. }));
    assert!(e.to_string().starts_with(&format!("{}: cannot read the configuration file: ", path.display())), "{e}");
}

#[test]
fn a_toml_syntax_error_points_at_its_line_and_key() {
    let msg = error_at(&["[global]", "maxconn = ", "threads = 2"], 2, "maxconn");
    assert!(msg.contains("string values must be quoted"), "{msg}");
}

#[test]
fn a_syntax_error_outside_any_value_names_the_line_as_key() {
    let msg = error_at(&["[global]", "", "hello world"], 3, "hello world");
    assert!(msg.contains("expected `=`"), "{msg}");
    error_at(&["[global", "threads = 1"], 1, "global");
}

#[test]
fn a_duplicate_table_is_refused() {
    error_at(&["[global]", "threads = 1", "[global]"], 3, "global");
}

#[test]
fn a_duplicate_key_is_refused() {
    error_at(&["[global]", "maxconn = 1", "maxconn = 2"], 3, "maxconn");
}

#[test]
fn an_unknown_key_is_refused_in_every_table() {
    let msg = error_at(&["[global]", "maxcon = 1"], 2, "maxcon");
    assert!(msg.contains("unknown field `maxcon`"), "{msg}");
    error_at(&minimal_with(&["timeout-cleint = \"1s\""]), 5, "timeout-cleint");
    error_at(&[&MINIMAL[..], &["[backend.app]", "servers = [\"127.0.0.1:1\"]", "weight = 3"]].concat(), 7, "weight");
    let server = "servers = [ { addr = \"127.0.0.1:1\", weight = 3 } ]";
    error_at(&[&MINIMAL[..], &["[backend.app]", server]].concat(), 6, "weight");
    error_at(&["[[listeners]]", "name = \"web\""], 1, "listeners");
    let inline = "backend = { servers = [\"127.0.0.1:1\"], weight = 3 }";
    error_at(&["[[listener]]", "name = \"web\"", "listen = [\"127.0.0.1:0\"]", inline], 4, "weight");
}

#[test]
fn a_value_of_the_wrong_type_is_refused() {
    let msg = error_at(&["[global]", "threads = \"two\""], 2, "threads");
    assert!(msg.contains("expected an integer"), "{msg}");
    error_at(&minimal_with(&["timeout-client = true"]), 5, "timeout-client");
    error_at(
        &[&MINIMAL[..], &["[backend.app]", "servers = [\"127.0.0.1:1\"]", "redispatch = \"yes\""]].concat(),
        7,
        "redispatch",
    );
}

#[test]
fn a_missing_name_points_at_the_listener_table() {
    error_at(&["[global]", "[[listener]]", "listen = [\"127.0.0.1:0\"]"], 2, "name");
}

#[test]
fn an_invalid_duration_says_why() {
    let msg = error_at(&minimal_with(&["", "", "timeout-client = \"30 parsecs\""]), 7, "timeout-client");
    assert!(
        msg.ends_with(
            "key 'timeout-client': invalid duration \"30 parsecs\": unknown unit 'parsecs' (use us, ms, s, m, h or d)"
        ),
        "{msg}"
    );
    let msg = error_at(&minimal_with(&["timeout-handshake = \"1.5s\""]), 5, "timeout-handshake");
    assert!(msg.contains("fractions are not supported"), "{msg}");
    let msg = error_at(&minimal_with(&["timeout-client = -5"]), 5, "timeout-client");
    assert!(msg.contains("invalid duration \"-5\""), "{msg}");
}

#[test]
fn a_timeout_out_of_range_is_refused() {
    let msg = error_at(&minimal_with(&["timeout-client-fin = 0"]), 5, "timeout-client-fin");
    assert!(msg.ends_with("0 is out of range (1ms to 24d)"), "{msg}");
    let msg = error_at(&["[global]", "grace-period = \"25d\""], 2, "grace-period");
    assert!(msg.ends_with("25d is out of range (0s to 24d)"), "{msg}");
}

#[test]
fn an_invalid_size_is_refused() {
    let msg = error_at(&["[global]", "buffer-size = \"16 parsecs\""], 2, "buffer-size");
    assert!(msg.contains("invalid size \"16 parsecs\": unknown unit 'parsecs'"), "{msg}");
    let msg = error_at(&["[global]", "buffer-size = 100"], 2, "buffer-size");
    assert!(msg.ends_with("100 is out of range (1k to 64m)"), "{msg}");
    let msg = error_at(&["[global]", "pipe-size = \"128g\""], 2, "pipe-size");
    assert!(msg.ends_with("128g is out of range (1k to 64m)"), "{msg}");
}

#[test]
fn an_unknown_word_lists_the_accepted_ones() {
    let msg = error_at(
        &[&MINIMAL[..], &["[backend.app]", "servers = [\"127.0.0.1:1\"]", "balance = \"random\""]].concat(),
        7,
        "balance",
    );
    assert!(msg.ends_with("unknown value \"random\" (expected roundrobin or leastconn)"), "{msg}");
    error_at(&["[global]", "splice = \"sometimes\""], 2, "splice");
}

#[test]
fn a_file_without_listener_is_refused() {
    let msg = error_at(&["[global]", "maxconn = 1", "", "[backend.app]", "servers = [\"127.0.0.1:1\"]"], 1, "listener");
    assert!(msg.ends_with("no listener is configured (add a [[listener]] table)"), "{msg}");
    error_at(&["# nothing yet", "listener = []"], 2, "listener");
}

#[test]
fn a_listener_without_address_is_refused() {
    let msg = error_at(&["", "[[listener]]", "name = \"web\"", "backend = \"app\"", APP[0], APP[1]], 2, "listen");
    assert!(msg.ends_with("listener 'web' has no address to listen on"), "{msg}");
    error_at(&["[[listener]]", "name = \"web\"", "listen = []", "backend = \"app\"", APP[0], APP[1]], 3, "listen");
}

#[test]
fn a_listener_without_backend_is_refused() {
    let msg = error_at(&["[[listener]]", "name = \"web\"", "listen = [\"127.0.0.1:0\"]"], 1, "backend");
    assert!(msg.ends_with("listener 'web' has no backend (a [backend.NAME] name or a table)"), "{msg}");
}

#[test]
fn a_backend_without_server_is_refused() {
    let msg = error_at(&[&MINIMAL[..], &["[backend.app]", "retries = 1"]].concat(), 5, "servers");
    assert!(msg.ends_with("backend 'app' has no server"), "{msg}");
    error_at(&[&MINIMAL[..], &["[backend.app]", "retries = 1", "servers = []"]].concat(), 7, "servers");
    let inline = ["[[listener]]", "name = \"web\"", "listen = [\"127.0.0.1:0\"]", "backend = { retries = 1 }"];
    let msg = error_at(&inline, 4, "servers");
    assert!(msg.ends_with("backend 'web' has no server"), "{msg}");
}

#[test]
fn a_reference_to_an_unknown_backend_is_refused() {
    let msg = error_at(
        &["[[listener]]", "name = \"web\"", "listen = [\"127.0.0.1:0\"]", "backend = \"ap\"", APP[0], APP[1]],
        4,
        "backend",
    );
    assert!(msg.ends_with("unknown backend 'ap' (defined: app)"), "{msg}");
    let msg = error_at(&MINIMAL, 4, "backend");
    assert!(msg.ends_with("unknown backend 'app' (no [backend.NAME] section is defined)"), "{msg}");
}

#[test]
fn duplicate_listener_names_are_refused() {
    let lines = [
        &MINIMAL[..],
        &["[[listener]]", "name = \"web\"", "listen = [\"127.0.0.1:1\"]", "backend = \"app\""],
        &APP[..],
    ]
    .concat();
    let msg = error_at(&lines, 6, "name");
    assert!(msg.ends_with("listener name 'web' is already used on line 1"), "{msg}");
}

#[test]
fn duplicate_addresses_are_refused_but_port_zero_may_repeat() {
    let second = [
        "[[listener]]",
        "name = \"api\"",
        "listen = [",
        "  \"127.0.0.1:0\",",
        "  \"127.0.0.1:8080\",",
        "]",
        "backend = \"app\"",
    ];
    let first =
        ["[[listener]]", "name = \"web\"", "listen = [\"127.0.0.1:8080\", \"127.0.0.1:0\"]", "backend = \"app\""];
    let msg = error_at(&[&first[..], &second[..], &APP[..]].concat(), 9, "listen");
    assert!(msg.ends_with("address 127.0.0.1:8080 is already used by listener 'web'"), "{msg}");
    let same = ["[[listener]]", "name = \"web\"", "listen = [\"127.0.0.1:80\", \"127.0.0.1:80\"]", "backend = \"app\""];
    error_at(&[&same[..], &APP[..]].concat(), 3, "listen");
}

#[test]
fn retries_above_255_are_refused() {
    let msg = error_at(
        &[&MINIMAL[..], &["[backend.app]", "servers = [\"127.0.0.1:1\"]", "retries = 256"]].concat(),
        7,
        "retries",
    );
    assert!(msg.ends_with("256 is out of range (0 to 255)"), "{msg}");
    error_at(&[&MINIMAL[..], &["[backend.app]", "retries = -1", "servers = [\"127.0.0.1:1\"]"]].concat(), 6, "retries");
}

#[test]
fn maxconn_bounds_are_enforced() {
    let msg = error_at(&["[global]", "maxconn = -1"], 2, "maxconn");
    assert!(msg.ends_with("-1 is out of range (0 to 4294967295)"), "{msg}");
    error_at(&["[global]", "maxconn = 4294967296"], 2, "maxconn");
    let lines = [&["[global]", "maxconn = 100"][..], &MINIMAL[..], &["maxconn = 101"], &APP[..]].concat();
    let msg = error_at(&lines, 7, "maxconn");
    assert!(msg.ends_with("maxconn 101 exceeds the global maxconn 100"), "{msg}");
    let server = "servers = [ { addr = \"127.0.0.1:1\", maxconn = -3 } ]";
    error_at(&[&MINIMAL[..], &["[backend.app]", server]].concat(), 6, "maxconn");
    error_at(&[&MINIMAL[..], &["[backend.app]", "server-maxconn = -1", APP[1]]].concat(), 6, "server-maxconn");
}

#[test]
fn threads_out_of_range_are_refused() {
    let msg = error_at(&["[global]", "threads = 0"], 2, "threads");
    assert!(msg.ends_with("0 is out of range (1 to 1024)"), "{msg}");
}

#[test]
fn an_unparseable_address_is_refused() {
    let lines = ["[[listener]]", "name = \"web\"", "listen = [\"localhost:80\"]", "backend = \"app\"", APP[0], APP[1]];
    let msg = error_at(&lines, 3, "listen");
    assert!(
        msg.ends_with(
            "invalid address \"localhost:80\": 'localhost' is not an IP address (host names are not resolved)"
        ),
        "{msg}"
    );
    let msg = error_at(&[&MINIMAL[..], &["[backend.app]", "servers = [\"127.0.0.1\"]"]].concat(), 6, "servers");
    assert!(msg.contains("missing port"), "{msg}");
    let table = "servers = [ { addr = \"127.0.0.1:0\" } ]";
    let msg = error_at(&[&MINIMAL[..], &["[backend.app]", table]].concat(), 6, "servers");
    assert!(msg.contains("port other than 0"), "{msg}");
}

#[test]
fn an_invalid_name_is_refused() {
    let msg = error_at(&["[[listener]]", "name = \"my web\"", "listen = [\"127.0.0.1:0\"]"], 2, "name");
    assert!(msg.contains("invalid name \"my web\""), "{msg}");
    error_at(&[&MINIMAL[..], &["[backend.\"a b\"]", "servers = [\"127.0.0.1:1\"]"]].concat(), 5, "backend");
}

#[test]
fn an_inline_backend_may_not_take_a_sections_name() {
    let lines = [
        "[[listener]]",
        "name = \"app\"",
        "listen = [\"127.0.0.1:0\"]",
        "backend = { servers = [\"127.0.0.1:1\"] }",
        APP[0],
        APP[1],
    ];
    let msg = error_at(&lines, 4, "backend");
    assert!(msg.contains("[backend.app] section already has"), "{msg}");
}

#[test]
fn a_problem_is_exposed_for_programs() {
    let f = TempFile::new(&["[global]", "threads = 0"]);
    let e = ProxyConfig::from_file(f.path()).expect_err("refused");
    assert!(matches!(e.problem(), Some(Problem::OutOfRange { .. })));
}

// ---- the handshake layer ----

/// A directory under the temporary directory holding a configuration file
/// and the files it names, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(files: &[&str]) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("connseq-config-dir-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
        let d = TempDir(dir);
        for f in files {
            d.write(f, "-----BEGIN CERTIFICATE-----\n(the TLS loader reads this, not the configuration)\n");
        }
        d
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the temporary directory is writable");
        }
        std::fs::write(&path, text).expect("the temporary directory is writable");
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `lines` as `proxy.toml` in the directory and loads it.
    fn load(&self, lines: &[&str]) -> Result<ProxyConfig, ConfigError> {
        let file = self.write("proxy.toml", &(lines.join("\n") + "\n"));
        ProxyConfig::from_file(&file)
    }

    /// As [`error_at`], in this directory.
    #[track_caller]
    fn error_at(&self, lines: &[&str], line: usize, key: &str) -> String {
        let e = self.load(lines).expect_err("should be refused");
        let msg = e.to_string();
        let want = format!("{}:{line}: key '{key}': ", self.path("proxy.toml").display());
        assert!(msg.starts_with(&want), "expected {want:?}..., got {msg:?}");
        assert_eq!((e.line(), e.key()), (Some(line), Some(key)), "{msg}");
        msg
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn rules(list: &[(Verdict, &str)]) -> Rules {
    Rules(list.iter().map(|&(verdict, net)| Rule { verdict, net: cidr(net) }).collect())
}

use Verdict::{Allow, Deny};

#[test]
fn every_handshake_key_lands_in_its_field() {
    let d = TempDir::new(&["web.pem", "web.key", "tls/api.pem", "tls/api.key", "ca.pem"]);
    let c = d
        .load(&[
            "[[listener]]",
            "name = \"web\"",
            "listen = [\"127.0.0.1:0\"]",
            "backend = \"app\"",
            "accept-proxy = true",
            "monitor-net = [\"192.0.2.0/24\", \"2001:db8::/32\"]",
            "rules = [ { allow = \"10.0.0.0/8\" }, { deny = \"0.0.0.0/0\" } ]",
            "src-rules = [ { deny = \"203.0.113.0/24\" }, { allow = \"::/0\" } ]",
            "tls = { certs = [ { cert = \"web.pem\", key = \"web.key\" }, { cert = \"tls/api.pem\", key = \"tls/api.key\" } ], alpn = [\"h2\", \"http/1.1\"] }",
            "",
            "[[listener]]",
            "name = \"health\"",
            "listen = \"127.0.0.1:0\"",
            "health = true",
            "monitor-net = \"127.0.0.1\"",
            "backend = { servers = [\"127.0.0.1:2\"], send-proxy = \"v1\", tls = { insecure = true } }",
            "",
            "[backend.app]",
            "servers = [\"127.0.0.1:1\"]",
            "send-proxy = \"v2\"",
            "send-proxy-tlv = [\"alpn\", \"authority\", \"ssl\", \"unique-id\", \"crc32c\"]",
            "tls = { ca = \"ca.pem\", sni = \"app.example.com\", alpn = [\"h2\"] }",
        ])
        .unwrap_or_else(|e| panic!("should load: {e}"));
    let [web, health] = c.listeners.as_slice() else { panic!("two listeners") };
    let o = &web.options;
    assert!(o.accept_proxy && !o.health);
    assert_eq!(o.monitor_nets, [cidr("192.0.2.0/24"), cidr("2001:db8::/32")]);
    assert_eq!(o.conn_rules, rules(&[(Allow, "10.0.0.0/8"), (Deny, "0.0.0.0/0")]));
    assert_eq!(o.src_rules, rules(&[(Deny, "203.0.113.0/24"), (Allow, "::/0")]));
    let certs = vec![(d.path("web.pem"), d.path("web.key")), (d.path("tls/api.pem"), d.path("tls/api.key"))];
    assert_eq!(o.tls, Some(FrontTls { certs, alpn: vec!["h2".into(), "http/1.1".into()] }));
    let all = ProxyTlvs { alpn: true, authority: true, ssl: true, unique_id: true, crc32c: true };
    assert_eq!(web.backend.send_proxy, Some(SendProxy { version: ProxyVersion::V2, tlvs: all }));
    let want = BackTls {
        verify: ServerVerify::Ca(d.path("ca.pem")),
        sni: Some("app.example.com".into()),
        alpn: vec!["h2".into()],
    };
    assert_eq!(web.backend.tls, Some(want));
    let sc = web.session_config();
    let on = [sc.accept_proxy, sc.monitor, sc.conn_rules, sc.src_rules, sc.tls_front, sc.tls_back, sc.send_proxy];
    assert!(!on.contains(&false) && !sc.health);

    let o = &health.options;
    assert!(o.health && !o.accept_proxy && o.tls.is_none());
    assert_eq!((o.monitor_nets.as_slice(), o.conn_rules.is_empty()), ([cidr("127.0.0.1/32")].as_slice(), true));
    let b = &health.backend;
    assert_eq!(b.send_proxy, Some(SendProxy { version: ProxyVersion::V1, tlvs: ProxyTlvs::default() }));
    assert_eq!(b.tls, Some(BackTls { verify: ServerVerify::Insecure, sni: None, alpn: Vec::new() }));
    assert!(health.session_config().health);
}

#[test]
fn a_file_without_handshake_keys_leaves_the_layer_off() {
    let c = load(&[&MINIMAL[..], &APP[..]].concat());
    assert_eq!(c.listeners[0].options, ListenerOptions::default());
    assert_eq!((c.listeners[0].backend.send_proxy, &c.listeners[0].backend.tls), (None, &None));
}

#[test]
fn tls_can_be_written_as_tables() {
    let d = TempDir::new(&["a.pem", "a.key", "ca.pem"]);
    let c = d
        .load(&[
            "[[listener]]",
            "name = \"web\"",
            "listen = \"127.0.0.1:0\"",
            "[listener.tls]",
            "alpn = [\"http/1.1\"]",
            "[[listener.tls.certs]]",
            "cert = \"a.pem\"",
            "key = \"a.key\"",
            "[listener.backend]",
            "servers = [\"127.0.0.1:1\"]",
            "[listener.backend.tls]",
            "ca = \"ca.pem\"",
            "insecure = false",
        ])
        .unwrap_or_else(|e| panic!("should load: {e}"));
    let l = &c.listeners[0];
    let tls = l.options.tls.as_ref().expect("front TLS");
    assert_eq!(
        (tls.certs.as_slice(), tls.alpn.as_slice()),
        ([(d.path("a.pem"), d.path("a.key"))].as_slice(), ["http/1.1".to_owned()].as_slice())
    );
    assert_eq!(l.backend.tls.as_ref().map(|t| &t.verify), Some(&ServerVerify::Ca(d.path("ca.pem"))));
}

#[test]
fn rules_keep_their_written_order() {
    let c = load(
        &[
            &MINIMAL[..],
            &[
                "accept-proxy = true",
                "rules = [",
                "  { deny = \"10.1.2.0/24\" },",
                "  { allow = \"10.1.0.0/16\" },",
                "  { deny = \"10.0.0.0/8\" },",
                "  { allow = \"0.0.0.0/0\" },",
                "]",
                "src-rules = [ { allow = \"192.0.2.1\" }, { deny = \"192.0.2.0/24\" } ]",
            ],
            &APP[..],
        ]
        .concat(),
    );
    let o = &c.listeners[0].options;
    let want = rules(&[(Deny, "10.1.2.0/24"), (Allow, "10.1.0.0/16"), (Deny, "10.0.0.0/8"), (Allow, "0.0.0.0/0")]);
    assert_eq!(o.conn_rules, want);
    assert_eq!(o.conn_rules.verdict("10.1.2.3".parse().expect("ip")), Deny);
    assert_eq!(o.conn_rules.verdict("10.1.3.3".parse().expect("ip")), Allow);
    assert_eq!(o.src_rules, rules(&[(Allow, "192.0.2.1/32"), (Deny, "192.0.2.0/24")]));
}

#[test]
fn rule_flags_keep_their_command_line_order() {
    let argv = [
        "connseq-proxy",
        "--listen",
        "127.0.0.1:0",
        "--server",
        "127.0.0.1:1",
        "--deny",
        "10.1.2.0/24",
        "--allow",
        "10.1.0.0/16",
        "--deny",
        "0.0.0.0/0",
        "--accept-proxy",
        "--deny-src",
        "192.0.2.0/24",
        "--allow-src",
        "0.0.0.0/0",
    ];
    let matches = ProxyArgs::command().try_get_matches_from(argv).expect("valid flags");
    let mut args = ProxyArgs::from_arg_matches(&matches).expect("matches fit");
    let unordered = args.clone().into_config().expect("valid");
    args.order_rules(&matches);
    let c = args.into_config().expect("valid");
    let o = &c.listeners[0].options;
    assert_eq!(o.conn_rules, rules(&[(Deny, "10.1.2.0/24"), (Allow, "10.1.0.0/16"), (Deny, "0.0.0.0/0")]));
    assert_eq!(o.src_rules, rules(&[(Deny, "192.0.2.0/24"), (Allow, "0.0.0.0/0")]));
    let fallback = &unordered.listeners[0].options;
    assert_eq!(fallback.conn_rules, rules(&[(Allow, "10.1.0.0/16"), (Deny, "10.1.2.0/24"), (Deny, "0.0.0.0/0")]));
}

#[test]
fn tls_paths_are_relative_to_the_files_directory() {
    let d = TempDir::new(&["certs/site.pem", "certs/site.key"]);
    let elsewhere = TempDir::new(&["ca.pem"]);
    let ca = elsewhere.path("ca.pem").display().to_string();
    let back = format!("tls = {{ ca = \"{ca}\" }}");
    let c = d
        .load(
            &[
                &MINIMAL[..],
                &["tls = { certs = [ { cert = \"certs/site.pem\", key = \"./certs/site.key\" } ] }"],
                &APP[..],
                &[back.as_str()],
            ]
            .concat(),
        )
        .unwrap_or_else(|e| panic!("should load: {e}"));
    let l = &c.listeners[0];
    let tls = l.options.tls.as_ref().expect("front TLS");
    assert_eq!(tls.certs, [(d.path("certs/site.pem"), d.path("./certs/site.key"))]);
    assert!(tls.certs[0].0.is_absolute() == d.0.is_absolute() && tls.certs[0].0.exists());
    assert_eq!(l.backend.tls.as_ref().map(|t| &t.verify), Some(&ServerVerify::Ca(elsewhere.path("ca.pem"))));

    // The same names, from a file in another directory, are not found.
    let other = TempDir::new(&[]);
    let lines =
        [&MINIMAL[..], &["tls = { certs = [ { cert = \"certs/site.pem\", key = \"certs/site.key\" } ] }"], &APP[..]]
            .concat();
    let msg = other.error_at(&lines, 5, "cert");
    let resolved = other.path("certs/site.pem");
    assert!(msg.contains(&format!("cannot read \"{}\": No such file or directory", resolved.display())), "{msg}");
}

#[test]
fn handshake_keys_that_cannot_be_used_are_refused_at_their_line() {
    let d = TempDir::new(&["a.pem", "a.key", "ca.pem"]);
    let listener = |extra: &[&'static str]| [&MINIMAL[..], extra, &APP[..]].concat();
    let backend = |extra: &[&'static str]| [&MINIMAL[..], &APP[..], extra].concat();
    let cases: Vec<(Vec<&str>, usize, &str, &str)> = vec![
        (listener(&["rules = [", "  { allow = \"10.0.0.0/8\", deny = \"0.0.0.0/0\" },", "]"]), 6, "rules",
         "a rule has exactly one of allow or deny, as in { allow = \"10.0.0.0/8\" }"),
        (listener(&["rules = [ {} ]"]), 5, "rules", "a rule has exactly one of allow or deny"),
        (listener(&["src-rules = [ { allow = \"10.0.0.0/8\" } ]"]), 5, "src-rules",
         "source rules match the address the PROXY header gives: add accept-proxy = true"),
        (listener(&["accept-proxy = false", "src-rules = [ { deny = \"::/0\" } ]"]), 6, "src-rules",
         "add accept-proxy = true"),
        (listener(&["rules = [", "  { allow = \"10.0.0.0/8\" },", "  { deny = \"10.1.2.3/8\" },", "]"]), 7, "deny",
         "invalid address block \"10.1.2.3/8\": 10.1.2.3/8 has bits set past its prefix length (did you mean 10.0.0.0/8?)"),
        (listener(&["monitor-net = \"10.0.0/8\""]), 5, "monitor-net",
         "invalid address block \"10.0.0/8\": \"10.0.0\" is not an IP address"),
        (listener(&["monitor-net = [", "  \"10.0.0.0/8\",", "  \"::/200\",", "]"]), 7, "monitor-net",
         "prefix length \"200\" must be 0 to 128"),
        (listener(&["health = true", "tls = { certs = [ { cert = \"a.pem\", key = \"a.key\" } ] }"]), 6, "tls",
         "health replies are never encrypted: a health listener cannot have tls"),
        (listener(&["tls = { alpn = [\"h2\"] }"]), 5, "certs",
         "a listener's tls needs at least one certificate: certs = [ { cert = \"FILE\", key = \"FILE\" } ]"),
        (listener(&["tls = { certs = [] }"]), 5, "certs", "needs at least one certificate"),
        (listener(&["tls = { certs = [ { cert = \"absent.pem\", key = \"a.key\" } ] }"]), 5, "cert",
         "absent.pem\": No such file or directory"),
        (listener(&["[listener.tls]", "[[listener.tls.certs]]", "cert = \"a.pem\"", "key = \"absent.key\""]), 8, "key",
         "absent.key\": No such file or directory"),
        (listener(&["tls = { certs = [ { cert = \"a.pem\", key = \"a.key\" } ], alpn = [\"h2\", \"\"] }"]), 5, "alpn",
         "invalid ALPN protocol \"\": use 1 to 255 visible ASCII characters, as in h2 or http/1.1"),
        (backend(&["send-proxy = \"v3\""]), 7, "send-proxy", "unknown value \"v3\" (expected v1 or v2)"),
        (backend(&["send-proxy = \"v2\"", "send-proxy-tlv = [\"ssl\", \"sni\"]"]), 8, "send-proxy-tlv",
         "unknown value \"sni\" (expected alpn, authority, ssl, unique-id or crc32c)"),
        (backend(&["send-proxy-tlv = [\"ssl\"]"]), 7, "send-proxy-tlv",
         "TLVs travel in a PROXY header: add send-proxy = \"v2\""),
        (backend(&["send-proxy = \"v1\"", "send-proxy-tlv = [\"crc32c\"]"]), 8, "send-proxy-tlv",
         "TLVs need send-proxy = \"v2\""),
        (backend(&["tls = { sni = \"a.example\" }"]), 7, "tls",
         "TLS towards the servers checks their certificates against a CA or is marked insecure: set ca = \"FILE\" or insecure = true"),
        (backend(&["tls = { insecure = false }"]), 7, "tls", "set ca = \"FILE\" or insecure = true"),
        (backend(&["[backend.app.tls]", "ca = \"ca.pem\"", "insecure = true"]), 9, "insecure",
         "ca and insecure exclude each other: set one"),
        (backend(&["tls = { ca = \"absent-ca.pem\" }"]), 7, "ca", "absent-ca.pem\": No such file or directory"),
        (backend(&["tls = { insecure = true, sni = \"192.0.2.1\" }"]), 7, "sni",
         "invalid SNI \"192.0.2.1\": use a DNS name (letters, digits, '-' and '.'), not an IP address"),
        (backend(&["tls = { insecure = true, alpn = [\"h 2\"] }"]), 7, "alpn", "invalid ALPN protocol \"h 2\""),
    ];
    for (lines, line, key, says) in cases {
        let msg = d.error_at(&lines, line, key);
        assert!(msg.contains(says), "{lines:?}: {msg}");
    }
}

#[test]
fn handshake_tables_refuse_unknown_keys_and_wrong_types() {
    let d = TempDir::new(&["a.pem", "a.key"]);
    let listener = |extra: &[&'static str]| [&MINIMAL[..], extra, &APP[..]].concat();
    let backend = |extra: &[&'static str]| [&MINIMAL[..], &APP[..], extra].concat();
    for (lines, line, key) in [
        (listener(&["accept-proxy = \"yes\""]), 5, "accept-proxy"),
        (listener(&["health = 1"]), 5, "health"),
        (listener(&["monitor-net = 10"]), 5, "monitor-net"),
        (listener(&["rules = [ { alow = \"10.0.0.0/8\" } ]"]), 5, "alow"),
        (listener(&["rules = { allow = \"10.0.0.0/8\" }"]), 5, "rules"),
        (listener(&["src-rules = [ { deny = 10 } ]"]), 5, "deny"),
        (listener(&["tls = { certs = [ { cert = \"a.pem\", key = \"a.key\" } ], ciphers = \"all\" }"]), 5, "ciphers"),
        (listener(&["tls = { certs = [ { cert = \"a.pem\" } ] }"]), 5, "key"),
        (listener(&["tls = { certs = [ { cert = \"a.pem\", key = \"a.key\", chain = \"x\" } ] }"]), 5, "chain"),
        (backend(&["send-proxy = 2"]), 7, "send-proxy"),
        (backend(&["send-proxy-tlv = \"ssl\""]), 7, "send-proxy-tlv"),
        (backend(&["tls = { insecure = true, verify = false }"]), 7, "verify"),
        (backend(&["tls = { insecure = \"yes\" }"]), 7, "insecure"),
    ] {
        let msg = d.error_at(&lines, line, key);
        assert!(
            msg.contains("unknown field") || msg.contains("invalid type") || msg.contains("missing field"),
            "{msg}"
        );
    }
}

#[test]
fn the_config_flag_excludes_the_handshake_flags() {
    for flag in ["--accept-proxy", "--health", "--server-tls", "--server-insecure"] {
        let e = ProxyArgs::try_parse_from(["connseq-proxy", "--config", "x.toml", flag]).expect_err("conflict");
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict, "{flag}");
    }
}

// ---- the manual ----

#[test]
fn every_toml_example_in_the_operations_manual_loads() {
    let manual = include_str!("../../docs/operations.md");
    let blocks: Vec<&str> = manual.split("```toml\n").skip(1).filter_map(|b| b.split("```").next()).collect();
    assert!(blocks.len() >= 2, "the manual has TOML examples");
    for block in blocks {
        let lines: Vec<&str> = block.lines().collect();
        let c = load(&lines);
        assert!(!c.listeners.is_empty());
    }
}

// ---- servers: names and health-check settings ----

#[test]
fn servers_carry_their_names_and_check_settings() {
    let c = load(
        &[
            &MINIMAL[..],
            &[
                "[backend.app]",
                "servers = [",
                "  { addr = \"127.0.0.1:9000\", name = \"web1\", inter = \"500ms\", rise = 1, fall = 5 },",
                "  \"127.0.0.1:9001\",",
                "  { addr = \"127.0.0.1:9002\", check = false },",
                "]",
            ],
        ]
        .concat(),
    );
    let b = &c.listeners[0].backend;
    let names: Vec<String> = (0..3).map(|i| b.server_name(i)).collect();
    assert_eq!(names, ["web1", "s2", "s3"], "an unnamed server is named by its position");
    let c0 = b.server_check(0);
    assert_eq!((c0.enabled, c0.inter, c0.rise, c0.fall), (false, Duration::from_millis(500), 1, 5));
    let c1 = b.server_check(1);
    assert_eq!((c1.inter, c1.rise, c1.fall), (Duration::from_secs(2), 2, 3), "HAProxy's defaults");
}

#[test]
fn a_server_that_asks_for_health_checks_gets_them() {
    let lines =
        [&MINIMAL[..], &["[backend.app]", "servers = [", "  { addr = \"127.0.0.1:9000\", check = true },", "]"]]
            .concat();
    assert!(load(&lines).listeners[0].backend.server_check(0).enabled);
}

#[test]
fn check_settings_out_of_range_and_duplicate_server_names_are_refused() {
    let server = |s: &'static str| [&MINIMAL[..], &["[backend.app]", "servers = [", s, "]"]].concat();
    let msg = error_at(&server("{ addr = \"127.0.0.1:9000\", rise = 0 },"), 7, "rise");
    assert!(msg.contains("0 is out of range (1 to 1000)"), "{msg}");
    let msg = error_at(&server("{ addr = \"127.0.0.1:9000\", fall = 1001 },"), 7, "fall");
    assert!(msg.contains("out of range"), "{msg}");
    let msg = error_at(&server("{ addr = \"127.0.0.1:9000\", inter = \"0ms\" },"), 7, "inter");
    assert!(msg.contains("out of range"), "{msg}");
    let msg = error_at(&server("{ addr = \"127.0.0.1:9000\", name = \"a b\" },"), 7, "name");
    assert!(msg.contains("invalid name"), "{msg}");
    let lines = [
        &MINIMAL[..],
        &[
            "[backend.app]",
            "servers = [",
            "{ addr = \"127.0.0.1:1\", name = \"x\" },",
            "{ addr = \"127.0.0.1:2\", name = \"x\" },",
            "]",
        ],
    ]
    .concat();
    let msg = error_at(&lines, 8, "name");
    assert!(msg.contains("server name 'x' is used twice in backend 'app'"), "{msg}");
}

#[test]
fn quick_mode_check_flags_are_checked_and_check_turns_checks_on() {
    let parse = |extra: &[&str]| {
        let mut argv = vec!["connseq-proxy", "--listen", "127.0.0.1:0", "--server", "127.0.0.1:1"];
        argv.extend_from_slice(extra);
        ProxyArgs::try_parse_from(argv).expect("flags parse").into_config()
    };
    let c = parse(&["--server-inter", "1s", "--server-rise", "4", "--server-fall", "6"]).expect("valid");
    let check = c.listeners[0].backend.server_check(0);
    assert_eq!((check.inter, check.rise, check.fall), (Duration::from_secs(1), 4, 6));
    assert_eq!(c.listeners[0].backend.server_name(0), "s1");
    assert!(!check.enabled, "no check without --server-check");
    let c = parse(&["--server-check"]).expect("valid");
    assert!(c.listeners[0].backend.server_check(0).enabled);
    let e = parse(&["--server-rise", "0"]).expect_err("refused");
    assert_eq!(e.key(), Some("--server-rise"));
}

// ---- the runtime API and the metrics ----

#[test]
fn the_stats_socket_and_the_metrics_address_are_global_keys_that_flags_replace() {
    let d = TempDir::new(&[]);
    let mut lines = vec!["[global]", "stats-socket = \"admin.sock\"", "metrics = \"127.0.0.1:9100\""];
    lines.extend(MINIMAL);
    lines.extend(APP);
    let c = d.load(&lines).expect("loads");
    assert_eq!(c.global.stats_socket, Some(d.path("admin.sock")), "relative to the file's directory");
    assert_eq!(c.global.metrics, Some(addr("127.0.0.1:9100")));
    let file = d.path("proxy.toml").display().to_string();
    let args = ProxyArgs::try_parse_from(["connseq-proxy", "--config", &file, "--metrics", "127.0.0.1:9200"]);
    let c = args.expect("--metrics goes with --config").into_config().expect("loads");
    assert_eq!(c.global.metrics, Some(addr("127.0.0.1:9200")));
    let lines = ["[global]", "metrics = \"127.0.0.1\""];
    let msg = d.error_at(&[&lines[..], &MINIMAL[..], &APP[..]].concat(), 2, "metrics");
    assert!(msg.contains("invalid address"), "{msg}");
}

// ---- --print-config ----

#[test]
fn the_printed_configuration_loads_back_into_the_same_one() {
    let d = TempDir::new(&["web.pem", "web.key", "ca.pem"]);
    let c = d
        .load(&[
            "[global]",
            "maxconn = 700",
            "threads = 3",
            "pipe-size = \"128k\"",
            "stats-socket = \"admin.sock\"",
            "metrics = \"127.0.0.1:9100\"",
            "[[listener]]",
            "name = \"web\"",
            "listen = [\"127.0.0.1:0\", \"[::1]:8443\"]",
            "backend = \"app\"",
            "maxconn = 50",
            "timeout-client = \"1500us\"",
            "accept-proxy = true",
            "propagate-abort = true",
            "monitor-net = [\"192.0.2.0/24\"]",
            "rules = [ { deny = \"10.0.0.0/8\" }, { allow = \"0.0.0.0/0\" } ]",
            "src-rules = [ { deny = \"203.0.113.0/24\" } ]",
            "tls = { certs = [ { cert = \"web.pem\", key = \"web.key\" } ], alpn = [\"h2\"] }",
            "[[listener]]",
            "name = \"db\"",
            "listen = \"127.0.0.1:0\"",
            "backend = { servers = [\"127.0.0.1:5432\"], tls = { insecure = true } }",
            "[backend.app]",
            "balance = \"leastconn\"",
            "redispatch = true",
            "queue = false",
            "timeout-turn-around = 0",
            "send-proxy = \"v2\"",
            "send-proxy-tlv = [\"ssl\", \"crc32c\"]",
            "tls = { ca = \"ca.pem\", sni = \"app.example.com\" }",
            "src-conn-limit = 20",
            "src-conn-rate = 100",
            "src-conn-rate-period = \"30s\"",
            "servers = [ { addr = \"127.0.0.1:9000\", name = \"a\", maxconn = 9, inter = \"3s\", rise = 4, fall = 5 }, \"127.0.0.1:9001\", { addr = \"127.0.0.1:9002\", backup = true } ]",
        ])
        .unwrap_or_else(|e| panic!("should load: {e}"));
    let b = &c.listeners[0].backend;
    assert_eq!((0..3).map(|i| b.server_is_backup(i)).collect::<Vec<_>>(), [false, false, true]);
    let printed = connseq::config::to_toml(&c);
    let other = TempDir::new(&[]);
    let again = other.load(&printed.lines().collect::<Vec<_>>()).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(again, c, "{printed}");
}

/// `backup`: from a server table, and from `--backup-server` after the `--server` ones.
#[test]
fn backup_servers_come_from_the_file_and_the_flag() {
    let argv = ["proxy", "--listen", "127.0.0.1:0", "--server", "127.0.0.1:1", "--backup-server", "127.0.0.1:2"];
    let matches = ProxyArgs::command().try_get_matches_from(argv).expect("valid flags");
    let c = ProxyArgs::from_arg_matches(&matches).expect("matches fit").into_config().expect("valid");
    let b = &c.listeners[0].backend;
    assert_eq!(b.servers.iter().map(|s| s.addr).collect::<Vec<_>>(), [addr("127.0.0.1:1"), addr("127.0.0.1:2")]);
    assert_eq!((b.server_is_backup(0), b.server_is_backup(1)), (false, true));
    let argv = ["proxy", "--config", "x.toml", "--backup-server", "127.0.0.1:2"];
    assert!(ProxyArgs::command().try_get_matches_from(argv).is_err(), "a quick-mode flag, which --config excludes");
    let lines =
        [&MINIMAL[..], &["[backend.app]", "servers = [", "  { addr = \"127.0.0.1:9000\", backup = \"yes\" },", "]"]];
    error_at(&lines.concat(), 7, "backup");
}

#[test]
fn propagate_abort_is_off_by_default_and_reaches_the_core_from_the_file_and_the_flag() {
    let off = load(&minimal_with(&[]));
    assert!(!off.listeners[0].options.propagate_abort && !off.listeners[0].session_config().propagate_abort);
    let on = load(&minimal_with(&["propagate-abort = true"]));
    assert!(on.listeners[0].options.propagate_abort && on.listeners[0].session_config().propagate_abort);
    assert!(connseq::config::to_toml(&on).contains("propagate-abort = true"));
    error_at(&minimal_with(&["propagate-abort = \"yes\""]), 5, "propagate-abort");
    let argv = ["proxy", "--listen", "127.0.0.1:0", "--server", "127.0.0.1:1", "--propagate-abort"];
    let matches = ProxyArgs::command().try_get_matches_from(argv).expect("valid flags");
    let c = ProxyArgs::from_arg_matches(&matches).expect("matches fit").into_config().expect("valid");
    assert!(c.listeners[0].session_config().propagate_abort);
}

#[test]
fn per_source_limits_load_with_a_default_window_and_are_checked() {
    let in_backend = |lines: &[&'static str]| {
        let mut v = MINIMAL.to_vec();
        v.extend(APP);
        v.extend_from_slice(lines);
        v
    };
    let c = load(&in_backend(&["src-conn-limit = 20", "src-conn-rate = 100"]));
    let limits = c.listeners[0].backend.limits;
    assert_eq!((limits.conns, limits.rate, limits.period), (20, 100, Duration::from_secs(10)));
    assert!(c.listeners[0].session_config().conn_rules, "the limits run in the connection-rules stage");
    let c = load(&in_backend(&["src-conn-rate = 5", "src-conn-rate-period = \"1m\""]));
    assert_eq!(c.listeners[0].backend.limits.period, Duration::from_secs(60));
    assert!(!load(&minimal_with(&[])).listeners[0].session_config().conn_rules, "no limit, no stage");
    let msg = error_at(&in_backend(&["src-conn-limit = -1"]), 7, "src-conn-limit");
    assert!(msg.contains("out of range"), "{msg}");
    error_at(&in_backend(&["src-conn-rate-period = \"0s\""]), 7, "src-conn-rate-period");
    error_at(&minimal_with(&["src-conn-limit = 5"]), 5, "src-conn-limit");
}

/// Found by the `config_toml` fuzz target: a broken file whose parser error points into a
/// multi-line string the recovering parser took for a key; the error quoted that "key" whole,
/// newlines and control characters included, on dozens of lines.
#[test]
fn a_broken_file_gets_a_one_line_error_even_when_its_key_is_garbage() {
    let text = include_str!("data/fuzz-config-multiline-key.toml");
    let e = ProxyConfig::from_toml_str(text, "fuzz.toml").expect_err("not a configuration");
    let msg = e.to_string();
    assert!(msg.starts_with("fuzz.toml:"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg:?}");
    assert!(e.key().is_some_and(|k| k.chars().count() <= 67), "{msg}");
}

#[test]
fn use_backend_routes_name_named_backends_and_print_back() {
    let lines = [
        "[[listener]]",
        "name = \"web\"",
        "listen = [\"127.0.0.1:0\"]",
        "backend = \"app\"",
        "use-backend = [ { backend = \"db\", src = [\"10.0.0.0/8\"] }, { backend = \"app\", src = [\"127.0.0.0/8\"], unless = true } ]",
        "[backend.app]",
        "servers = [\"127.0.0.1:9000\"]",
        "[backend.db]",
        "servers = [\"127.0.0.1:9001\"]",
    ];
    let c = load(&lines);
    let routes = &c.listeners[0].options.routes;
    assert_eq!(routes.len(), 2);
    assert_eq!((routes[0].backend.name.as_str(), routes[0].negated), ("db", false));
    assert_eq!((routes[1].backend.name.as_str(), routes[1].negated), ("app", true));
    let printed = connseq::config::to_toml(&c);
    assert!(printed.contains("use-backend"), "{printed}");
    let f = TempFile::new(&printed.lines().collect::<Vec<_>>());
    let again = ProxyConfig::from_file(f.path()).expect("the printed configuration loads");
    assert_eq!(again.listeners[0].options.routes, c.listeners[0].options.routes);

    let mut unknown = lines.to_vec();
    unknown[4] = "use-backend = [ { backend = \"nope\", src = [\"10.0.0.0/8\"] } ]";
    let msg = error_at(&unknown, 5, "backend");
    assert!(msg.contains("nope"), "{msg}");
    let mut with_proxy = lines.to_vec();
    with_proxy.insert(4, "accept-proxy = true");
    let msg = error_at(&with_proxy, 6, "use-backend");
    assert!(msg.contains("accept-proxy"), "{msg}");
}
