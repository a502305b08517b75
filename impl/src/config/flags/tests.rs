//! The quick mode's tests: each flag lands in its field, defaults, the
//! errors clap and [`ProxyArgs::into_config`] give, and the handshake layer's
//! flags with the order of `--allow` and `--deny`.

use super::*;
use crate::config::{
    DEFAULT_BUFFER_SIZE, DEFAULT_GRACE_PERIOD, DEFAULT_MAXCONN, DEFAULT_RETRIES, DEFAULT_TIMEOUT_CLIENT,
    DEFAULT_TIMEOUT_CLIENT_FIN, DEFAULT_TIMEOUT_CONNECT, DEFAULT_TIMEOUT_HANDSHAKE, DEFAULT_TIMEOUT_QUEUE,
    DEFAULT_TIMEOUT_SERVER, DEFAULT_TIMEOUT_SERVER_FIN, DEFAULT_TIMEOUT_TURN_AROUND,
};
use clap::{CommandFactory, FromArgMatches, Parser};

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
        .filter(|id| !["config", "haproxy_cfg", "lenient", "stats_socket", "metrics", "help"].contains(&id.as_str()))
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
    assert_eq!(c.global.pipe_size, None);
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
        "--pipe-size",
        "256k",
        "--grace-period",
        "1m",
    ]);
    let s = Duration::from_secs;
    assert_eq!((c.global.maxconn, c.global.threads, c.global.buffer_size), (100, 3, 64 << 10));
    assert_eq!(c.global.pipe_size, Some(256 << 10));
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
        ("--pipe-size", "100", "100 is out of range (1k to 64m)"),
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
    for d in ["[default: 4096]", "[default: 30s]", "[default: 5s]", "[default: 1s]", "[default: 16k]", "[default: 3]"] {
        assert!(help.contains(d), "{d} missing from help:\n{help}");
    }
}

// ---- the handshake layer ----

/// Files under the temporary directory, removed when dropped: what
/// `--tls-cert`, `--tls-key` and `--server-ca` name must exist.
struct Files(Vec<PathBuf>);

impl Files {
    fn new(names: &[&str]) -> Files {
        let dir = std::env::temp_dir();
        let paths: Vec<PathBuf> =
            names.iter().map(|n| dir.join(format!("connseq-flags-{}-{n}", std::process::id()))).collect();
        for p in &paths {
            std::fs::write(p, "checked by the TLS loader, not here\n").expect("the temporary directory is writable");
        }
        Files(paths)
    }

    fn arg(&self, i: usize) -> &str {
        self.0[i].to_str().expect("temporary paths are UTF-8 here")
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Parses `args` as `connseq proxy` does, with the rules' order recorded.
fn parse_in_order(args: &[&str]) -> Result<ProxyArgs, clap::Error> {
    let argv = std::iter::once("connseq-proxy").chain(args.iter().copied());
    let matches = ProxyArgs::command().try_get_matches_from(argv)?;
    let mut parsed = ProxyArgs::from_arg_matches(&matches)?;
    parsed.order_rules(&matches);
    Ok(parsed)
}

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn rule(verdict: Verdict, net: &str) -> Rule {
    Rule { verdict, net: cidr(net) }
}

fn with_minimal<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    [&MINIMAL[..], extra].concat()
}

/// The error `into_config` gives for `MINIMAL` and `extra`.
#[track_caller]
fn refused(extra: &[&str]) -> ConfigError {
    let args = parse_in_order(&with_minimal(extra)).unwrap_or_else(|e| panic!("{extra:?} should parse: {e}"));
    args.into_config().expect_err("should be refused")
}

#[test]
fn the_minimal_command_line_leaves_the_handshake_layer_off() {
    let c = config(&MINIMAL);
    let l = &c.listeners[0];
    assert_eq!(l.options, ListenerOptions::default());
    assert_eq!((l.backend.send_proxy, l.backend.tls.clone()), (None, None));
}

#[test]
fn every_handshake_flag_lands_in_its_field() {
    let f = Files::new(&["a.pem", "a.key", "b.pem", "b.key", "ca.pem"]);
    let args = parse_in_order(&with_minimal(&[
        "--accept-proxy",
        "--send-proxy",
        "v2",
        "--send-proxy-tlv",
        "alpn,authority",
        "--send-proxy-tlv",
        "ssl",
        "--send-proxy-tlv=unique-id,crc32c",
        "--tls-cert",
        f.arg(0),
        "--tls-key",
        f.arg(1),
        "--tls-cert",
        f.arg(2),
        "--tls-key",
        f.arg(3),
        "--alpn",
        "h2,http/1.1",
        "--server-tls",
        "--server-ca",
        f.arg(4),
        "--server-sni",
        "backend.example.com",
        "--monitor-net",
        "192.0.2.0/24",
        "--monitor-net",
        "2001:db8::/32",
        "--allow",
        "10.0.0.0/8",
        "--deny",
        "0.0.0.0/0",
        "--allow-src",
        "203.0.113.7",
        "--deny-src",
        "::/0",
    ]))
    .expect("valid flags");
    let c = args.into_config().expect("valid configuration");
    let o = &c.listeners[0].options;
    assert!(o.accept_proxy && !o.health);
    assert_eq!(o.monitor_nets, [cidr("192.0.2.0/24"), cidr("2001:db8::/32")]);
    assert_eq!(o.conn_rules, Rules(vec![rule(Verdict::Allow, "10.0.0.0/8"), rule(Verdict::Deny, "0.0.0.0/0")]));
    assert_eq!(o.src_rules, Rules(vec![rule(Verdict::Allow, "203.0.113.7/32"), rule(Verdict::Deny, "::/0")]));
    let tls = o.tls.as_ref().expect("front TLS");
    assert_eq!(tls.certs, [(f.0[0].clone(), f.0[1].clone()), (f.0[2].clone(), f.0[3].clone())]);
    assert_eq!(tls.alpn, ["h2", "http/1.1"]);
    let b = &c.listeners[0].backend;
    let all = ProxyTlvs { alpn: true, authority: true, ssl: true, unique_id: true, crc32c: true };
    assert_eq!(b.send_proxy, Some(SendProxy { version: ProxyVersion::V2, tlvs: all }));
    let want =
        BackTls { verify: ServerVerify::Ca(f.0[4].clone()), sni: Some("backend.example.com".into()), alpn: Vec::new() };
    assert_eq!(b.tls, Some(want));
    let sc = c.listeners[0].session_config();
    let on = [sc.accept_proxy, sc.monitor, sc.conn_rules, sc.src_rules, sc.tls_front, sc.tls_back, sc.send_proxy];
    assert!(!on.contains(&false) && !sc.health);
}

#[test]
fn each_switch_alone_lands_in_its_field() {
    let with = |extra: &[&str]| config(&with_minimal(extra)).listeners.remove(0);
    assert!(with(&["--health"]).options.health);
    assert!(with(&["--accept-proxy"]).options.accept_proxy);
    let b = with(&["--send-proxy", "v1"]).backend;
    assert_eq!(b.send_proxy, Some(SendProxy { version: ProxyVersion::V1, tlvs: ProxyTlvs::default() }));
    let b = with(&["--server-tls", "--server-insecure"]).backend;
    assert_eq!(b.tls, Some(BackTls { verify: ServerVerify::Insecure, sni: None, alpn: Vec::new() }));
    assert_eq!(with(&["--deny", "10.0.0.0/8"]).options.conn_rules, Rules(vec![rule(Verdict::Deny, "10.0.0.0/8")]));
}

#[test]
fn allow_and_deny_keep_their_command_line_order() {
    let args = [
        "--deny",
        "10.1.2.0/24",
        "--allow",
        "10.1.0.0/16",
        "--deny=10.0.0.0/8",
        "--accept-proxy",
        "--allow-src",
        "192.0.2.1",
        "--deny-src",
        "192.0.2.0/24",
        "--allow-src",
        "0.0.0.0/0",
    ];
    let c = parse_in_order(&with_minimal(&args)).expect("valid flags").into_config().expect("valid");
    let o = &c.listeners[0].options;
    let conn =
        [rule(Verdict::Deny, "10.1.2.0/24"), rule(Verdict::Allow, "10.1.0.0/16"), rule(Verdict::Deny, "10.0.0.0/8")];
    assert_eq!(o.conn_rules, Rules(conn.to_vec()));
    let src =
        [rule(Verdict::Allow, "192.0.2.1/32"), rule(Verdict::Deny, "192.0.2.0/24"), rule(Verdict::Allow, "0.0.0.0/0")];
    assert_eq!(o.src_rules, Rules(src.to_vec()));
    let peer = |ip: &str| o.conn_rules.verdict(ip.parse().expect("ip"));
    assert_eq!((peer("10.1.2.3"), peer("10.1.3.3"), peer("10.2.0.1")), (Verdict::Deny, Verdict::Allow, Verdict::Deny));
}

#[test]
fn without_matches_every_allow_comes_before_every_deny() {
    let c = config(&with_minimal(&["--deny", "10.0.0.0/8", "--allow", "10.1.0.0/16", "--allow", "10.2.0.0/16"]));
    let want =
        [rule(Verdict::Allow, "10.1.0.0/16"), rule(Verdict::Allow, "10.2.0.0/16"), rule(Verdict::Deny, "10.0.0.0/8")];
    assert_eq!(c.listeners[0].options.conn_rules, Rules(want.to_vec()));
}

#[test]
fn matches_of_other_arguments_leave_the_fallback_order() {
    let mut args = parse(&with_minimal(&["--deny", "10.0.0.0/8", "--allow", "10.1.0.0/16"])).expect("valid");
    let other = ProxyArgs::command().try_get_matches_from(["p", "--listen", ":1", "--server", "127.0.0.1:1"]);
    args.order_rules(&other.expect("valid"));
    args.order_rules(&clap::Command::new("unrelated").get_matches_from(["unrelated"]));
    let want = [rule(Verdict::Allow, "10.1.0.0/16"), rule(Verdict::Deny, "10.0.0.0/8")];
    assert_eq!(args.into_config().expect("valid").listeners[0].options.conn_rules, Rules(want.to_vec()));
}

#[test]
fn handshake_flags_that_cannot_be_used_name_their_flag() {
    let f = Files::new(&["err.pem", "err.key"]);
    let absent = std::env::temp_dir().join(format!("connseq-flags-{}-absent.pem", std::process::id()));
    let absent = absent.to_str().expect("UTF-8");
    let (cert, key) = (f.arg(0), f.arg(1));
    for (extra, flag, says) in [
        (&["--send-proxy-tlv", "ssl"][..], "--send-proxy-tlv", "TLVs travel in a PROXY header: add --send-proxy v2"),
        (&["--send-proxy", "v1", "--send-proxy-tlv", "crc32c"], "--send-proxy-tlv", "TLVs need --send-proxy v2"),
        (
            &["--tls-cert", cert, "--tls-cert", cert, "--tls-key", key],
            "--tls-cert",
            "2 --tls-cert but 1 --tls-key: give each certificate its key, in the same order",
        ),
        (&["--tls-key", key], "--tls-key", "0 --tls-cert but 1 --tls-key: give each certificate its key, in the same order"),
        (&["--tls-cert", absent, "--tls-key", key], "--tls-cert", "No such file or directory"),
        (&["--tls-cert", cert, "--tls-key", absent], "--tls-key", "No such file or directory"),
        (&["--alpn", "h2"], "--alpn", "ALPN is offered in the listener's TLS handshake: add --tls-cert and --tls-key"),
        (
            &["--health", "--tls-cert", cert, "--tls-key", key],
            "--tls-cert",
            "health replies are never encrypted: a health listener cannot have tls",
        ),
        (
            &["--server-tls"],
            "--server-tls",
            "TLS towards the servers checks their certificates against a CA or is marked insecure: set --server-ca PEM or --server-insecure",
        ),
        (
            &["--server-tls", "--server-ca", cert, "--server-insecure"],
            "--server-insecure",
            "--server-ca and --server-insecure exclude each other: set one",
        ),
        (&["--server-tls", "--server-ca", absent], "--server-ca", "No such file or directory"),
        (&["--server-ca", cert], "--server-ca", "applies to TLS towards the servers only: add --server-tls"),
        (&["--server-insecure"], "--server-insecure", "applies to TLS towards the servers only: add --server-tls"),
        (&["--server-sni", "a.example"], "--server-sni", "applies to TLS towards the servers only: add --server-tls"),
        (
            &["--allow-src", "10.0.0.0/8"],
            "--allow-src",
            "source rules match the address the PROXY header gives: add --accept-proxy",
        ),
        (&["--deny-src", "::/0"], "--deny-src", "source rules match the address the PROXY header gives: add --accept-proxy"),
    ] {
        let e = refused(extra);
        let msg = e.to_string();
        assert!(msg.starts_with(&format!("flag '{flag}': ")) && msg.contains(says), "{extra:?}: {msg}");
        assert_eq!(e.key(), Some(flag));
    }
    let e = refused(&["--tls-cert", absent, "--tls-key", key]);
    assert_eq!(
        e.to_string(),
        format!("flag '--tls-cert': cannot read \"{absent}\": No such file or directory (os error 2)")
    );
}

#[test]
fn malformed_handshake_values_are_clap_errors_that_say_why() {
    for (extra, says) in [
        (&["--allow", "10.1.2.3/8"][..], "has bits set past its prefix length (did you mean 10.0.0.0/8?)"),
        (&["--deny", "10.0.0/8"], "\"10.0.0\" is not an IP address"),
        (&["--monitor-net", "::/129"], "prefix length \"129\" must be 0 to 128"),
        (&["--allow-src", "x"], "\"x\" is not an IP address"),
        (&["--deny-src", "1.2.3.4/33"], "must be 0 to 32"),
        (&["--send-proxy", "v3"], "[possible values: v1, v2]"),
        (&["--send-proxy-tlv", "alpn,sni"], "[possible values: alpn, authority, ssl, unique-id, crc32c]"),
        (&["--alpn", "h2,,http/1.1"], "invalid ALPN protocol \"\""),
        (&["--server-sni", "10.0.0.1"], "invalid SNI \"10.0.0.1\""),
        (&["--server-sni", "under_score.example"], "not an IP address"),
    ] {
        let e = parse(&with_minimal(extra)).expect_err("malformed").to_string();
        assert!(e.contains(extra[0]) && e.contains(says), "{extra:?}: {e}");
    }
}

#[test]
fn config_excludes_every_handshake_flag() {
    for extra in [
        &["--accept-proxy"][..],
        &["--send-proxy", "v2"],
        &["--send-proxy-tlv", "ssl"],
        &["--tls-cert", "a.pem"],
        &["--tls-key", "a.key"],
        &["--alpn", "h2"],
        &["--server-tls"],
        &["--server-ca", "ca.pem"],
        &["--server-insecure"],
        &["--server-sni", "a.example"],
        &["--health"],
        &["--monitor-net", "10.0.0.0/8"],
        &["--allow", "10.0.0.0/8"],
        &["--deny", "10.0.0.0/8"],
        &["--allow-src", "10.0.0.0/8"],
        &["--deny-src", "10.0.0.0/8"],
    ] {
        let e = parse(&[&["--config", "x.toml"][..], extra].concat()).expect_err("conflict");
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict, "{extra:?}");
        let args = parse(&with_minimal(extra)).expect("quick mode parses");
        let flag = args.quick_flags_given().find(|f| !MINIMAL.contains(f));
        assert_eq!(flag, Some(extra[0]), "quick_flags_given lists {}", extra[0]);
    }
}
