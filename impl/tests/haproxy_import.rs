//! `--haproxy-cfg`: HAProxy configurations read as connseq's. The tcp-mode
//! configurations of HAProxy's own documentation (doc/configuration.txt)
//! either load or are refused at the line and directive connseq does not
//! support (with `--lenient`: warnings naming them); a configuration of the
//! whole subset lands in every field; and the same configuration run by
//! HAProxy 2.6 and by connseq treats the same traffic the same way.

mod common;
mod peers;

use common::{wait_until, HANG_GUARD};
use connseq::config::{ConfigError, Loaded, ProxyConfig, ProxyVersion, ServerVerify, Verdict};
use connseq::runtime::{self, Options};
use connseq_model::core::Balance;
use peers::{free_port, Cert, Haproxy, TempDir};
use socket2::{Domain, Socket, Type};
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

fn load(text: &str, lenient: bool) -> Result<Loaded, ConfigError> {
    ProxyConfig::from_haproxy_str(text, "haproxy.cfg", lenient)
}

/// Refused at `line` for `directive`, and the message says why.
#[track_caller]
fn refused_at(text: &str, line: usize, directive: &str) -> String {
    let e = load(text, false).expect_err("refused");
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("haproxy.cfg:{line}: directive '{directive}': ")), "{msg}");
    assert_eq!((e.line(), e.key()), (Some(line), Some(directive)), "{msg}");
    msg
}

// ---- the tcp-mode examples of HAProxy's configuration manual ----

/// configuration.txt, "option tcplog": a frontend and a backend in tcp mode.
/// The example has no `bind` (it shows a log line): HAProxy warns, connseq
/// refuses a frontend it could not listen for.
const DOC_TCPLOG: &str = "\
frontend fnt
    mode tcp
    option tcplog
    log global
    default_backend bck

backend bck
    server srv1 127.0.0.1:8000
";

/// configuration.txt, "rate-limit sessions": SMTP limited to 10 sessions a second.
const DOC_SMTP: &str = "\
listen smtp
    mode tcp
    bind :25
    rate-limit sessions 10
    server smtp1 127.0.0.1:1025
";

/// configuration.txt, "src_updt_conn_cnt": SSH limited per source.
const DOC_SSH: &str = "\
listen ssh
    bind :22
    mode tcp
    maxconn 100
    stick-table type ip size 20 expire 10s store conn_cnt
    tcp-request content reject if { src_updt_conn_cnt gt 3 }
    server local 127.0.0.1:22
";

/// configuration.txt, "stick match": POP and SMTP on the same server.
const DOC_STICK: &str = "\
backend pop
    mode tcp
    balance roundrobin
    stick store-request src
    stick-table type ip size 200k expire 30m
    server s1 192.168.1.1:110
    server s2 192.168.1.1:110
";

/// configuration.txt, "option httpchk": HTTPS relayed, checked over HTTP.
const DOC_HTTPS_RELAY: &str = "\
backend https_relay
    mode tcp
    option httpchk OPTIONS * HTTP/1.1
    http-check send hdr Host www
    server apache1 192.168.1.1:443 check port 80
";

/// configuration.txt, "tcp-request connection": whitelisted sources.
const DOC_WHITELIST: &str = "\
frontend fe
    bind :8443
    mode tcp
    tcp-request connection accept if { src -f /etc/haproxy/whitelist.lst }
    tcp-request connection reject if { src_conn_rate gt 10 }
    default_backend be
backend be
    server s1 127.0.0.1:8443
";

#[test]
fn the_manuals_tcp_examples_are_refused_at_the_first_directive_connseq_does_not_do() {
    let msg = refused_at(DOC_TCPLOG, 1, "frontend");
    assert!(msg.contains("frontend 'fnt' has no 'bind'"), "{msg}");
    let msg = refused_at(DOC_SMTP, 4, "rate-limit");
    assert!(msg.contains("not supported by connseq"), "{msg}");
    refused_at(DOC_SSH, 5, "stick-table");
    refused_at(DOC_STICK, 4, "stick");
    refused_at(DOC_HTTPS_RELAY, 3, "option httpchk");
    let msg = refused_at(DOC_WHITELIST, 4, "tcp-request connection");
    assert!(msg.contains("-f FILE"), "{msg}");
}

#[test]
fn lenient_leaves_out_what_connseq_does_not_do_and_names_each_line() {
    let smtp = load(DOC_SMTP, true).expect("loads");
    assert_eq!(smtp.warnings.len(), 1, "{:?}", smtp.warnings);
    assert!(smtp.warnings[0].starts_with("haproxy.cfg:4: directive 'rate-limit': "), "{:?}", smtp.warnings);
    let l = &smtp.config.listeners[0];
    assert_eq!((l.name.as_str(), l.addrs[0].to_string().as_str()), ("smtp", "0.0.0.0:25"));
    assert_eq!((l.backend.name.as_str(), l.backend.server_name(0)), ("smtp", "smtp1".to_owned()));

    let ssh = load(DOC_SSH, true).expect("loads");
    let lines: Vec<&str> = ssh.warnings.iter().map(|w| w.split(": directive").next().unwrap_or("")).collect();
    assert_eq!(lines, ["haproxy.cfg:5", "haproxy.cfg:6"], "{:?}", ssh.warnings);
    assert_eq!(ssh.config.listeners[0].maxconn, 100);

    let relay = load(DOC_HTTPS_RELAY, true).expect_err("a backend alone has nothing to listen on");
    assert!(relay.to_string().contains("no frontend or listen section with a 'bind'"), "{relay}");
    let white = load(DOC_WHITELIST, true).expect("loads");
    assert_eq!(white.warnings.len(), 2, "{:?}", white.warnings);
    assert!(white.config.listeners[0].options.conn_rules.is_empty(), "both rules left out");
}

#[test]
fn health_checks_are_read_from_the_server_line() {
    let text = "defaults\n  mode tcp\nlisten web\n  bind 127.0.0.1:0\n  server a 127.0.0.1:1 check inter 500ms rise 1 fall 5\n  server b 127.0.0.1:2\n";
    let loaded = load(text, false).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let b = &loaded.config.listeners[0].backend;
    let check = b.server_check(0);
    assert_eq!((check.enabled, check.inter, check.rise, check.fall), (true, Duration::from_millis(500), 1, 5));
    assert!(!b.server_check(1).enabled, "a server without 'check' is not checked");
}

/// `option tcp-check` with no rule is HAProxy's connect check, which connseq's is; a
/// `tcp-check` rule (a send, an expect, another port) is refused at its line.
#[test]
fn option_tcp_check_without_rules_is_the_connect_check_and_a_rule_is_refused() {
    let text = "defaults\n  mode tcp\nbackend db\n  option tcp-check\n  server a 127.0.0.1:1 check\n\
                frontend fe\n  bind 127.0.0.1:0\n  default_backend db\n";
    let loaded = load(text, false).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(loaded.config.listeners[0].backend.server_check(0).enabled);
    let with_rule = text.replace("  option tcp-check\n", "  option tcp-check\n  tcp-check send PING\\r\\n\n");
    refused_at(&with_rule, 5, "tcp-check send");
}

#[test]
fn backup_is_read_from_the_server_line_and_no_backup_takes_a_default_server_s_back() {
    let text = "defaults\n  mode tcp\nlisten db\n  bind 127.0.0.1:0\n  default-server backup\n  \
                server a 127.0.0.1:1 no-backup\n  server b 127.0.0.1:2\n  server c 127.0.0.1:3 check backup\n";
    let loaded = load(text, false).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let b = &loaded.config.listeners[0].backend;
    assert_eq!((0..3).map(|i| b.server_is_backup(i)).collect::<Vec<_>>(), [false, true, true]);
    assert!(b.server_check(2).enabled);
}

#[test]
fn errors_name_the_line_and_directive_of_a_value_that_does_not_parse() {
    refused_at(
        "listen a\n  bind 127.0.0.1:0\n  timeout client 5 parsecs\n  server s 127.0.0.1:1\n",
        3,
        "timeout client",
    );
    refused_at("listen a\n  bind 127.0.0.1:0\n  server s 10.0.0.1\n", 3, "server");
    refused_at("listen a\n  bind 127.0.0.1:0\n  mode http\n  server s 127.0.0.1:1\n", 3, "mode");
    refused_at("frontend a\n  bind 127.0.0.1:0\n  default_backend nope\n", 3, "default_backend");
    refused_at("global\n  daemon\n", 2, "daemon");
    let msg = refused_at("maxconn 10\n", 1, "maxconn");
    assert!(msg.contains("outside any section"), "{msg}");
}

/// Found by the `haproxy_cfg` fuzz target: a word with NUL bytes in it
/// (`frontend4\0\0\0\0\0\0\0as`) was quoted whole, control characters included,
/// in the error; a word with a control character is now refused at its line.
#[test]
fn a_control_character_in_a_word_is_refused_at_its_line_and_the_error_quotes_none() {
    let text = include_str!("data/fuzz-haproxy-control-character.cfg");
    for lenient in [false, true] {
        let e = load(text, lenient).expect_err("not a configuration");
        let msg = e.to_string();
        assert!(msg.starts_with("haproxy.cfg:1: directive '(quoting)': a control character"), "{msg:?}");
        assert!(!msg.chars().any(char::is_control), "{msg:?}");
        assert_eq!((e.line(), e.key()), (Some(1), Some("(quoting)")), "{msg:?}");
    }
    let msg = refused_at("listen a\n  bind 127.0.0.1:0\n  server s \"127.0.0.1:1\u{b}\"\n", 3, "(quoting)");
    assert!(msg.contains("a control character (\\u{b})"), "{msg}");
}

/// Found by the `haproxy_cfg` fuzz target: a line whose first word is an
/// empty quoted string got an error naming the directive `''`; it is refused
/// at its line as a syntax error.
#[test]
fn a_line_that_starts_with_an_empty_word_is_refused_at_its_line() {
    for text in ["''", "\"\"\n", "global\n  '' 10\n"] {
        let line = text.lines().count();
        let msg = refused_at(text, line, "(quoting)");
        assert!(msg.ends_with("an empty word (\"\" or '') where a keyword belongs"), "{msg}");
    }
}

/// Found by the `haproxy_cfg` fuzz target: two frontends of one name loaded
/// as two listeners of one name (HAProxy refuses them); the second is refused
/// at its line. A backend may share a frontend's name, as in HAProxy.
#[test]
fn a_second_frontend_or_listen_of_one_name_is_refused_at_its_line() {
    let text = include_str!("data/fuzz-haproxy-two-frontends.cfg");
    let e = load(text, true).expect_err("two frontends named fe");
    assert_eq!((e.line(), e.key()), (Some(16), Some("frontend")), "{e}");
    assert!(e.to_string().ends_with("listener name 'fe' is already used on line 7"), "{e}");
    let two = "frontend fe\n  bind :1\n  default_backend b\nlisten fe\n  bind :2\n  server s 127.0.0.1:1\n\
               backend b\n  server s 127.0.0.1:1\n";
    refused_at(two, 4, "listen");
    let shared = "frontend app\n  bind :1\n  default_backend app\nbackend app\n  server s 127.0.0.1:1\n";
    assert_eq!(load(shared, false).expect("loads").config.listeners[0].name, "app");
}

// ---- the whole subset ----

#[test]
fn every_directive_of_the_subset_lands_in_its_field() {
    let cert = Cert::new();
    let dir = TempDir::new("import");
    let pem = dir.path("site.pem");
    let both = std::fs::read_to_string(cert.cert()).expect("cert") + &std::fs::read_to_string(cert.key()).expect("key");
    std::fs::write(&pem, both).expect("write the combined PEM");
    let text = format!(
        "global\n  maxconn 500\n  nbthread 3\n  tune.bufsize 32768\n  stats socket {sock} level admin mode 600\n  \
         log stdout format raw local0\n\
         defaults\n  mode tcp\n  log global\n  option tcplog\n  timeout connect 2s\n  timeout client 30s\n  \
         timeout server 40s\n  timeout queue 7s\n  retries 5\n  option redispatch\n\
         frontend web\n  bind 127.0.0.1:8443,[::1]:8443 ssl crt {pem} alpn h2,http/1.1 accept-proxy\n  maxconn 200\n  \
         acl office src 192.0.2.0/24 2001:db8::/32\n  tcp-request connection accept if office\n  \
         tcp-request connection reject if {{ src 10.0.0.0/8 }}\n  tcp-request connection reject unless {{ src 198.51.100.0/24 }}\n  \
         monitor-net 203.0.113.0/24\n  default_backend app\n\
         backend app\n  balance leastconn\n  timeout client-fin 3s\n  no option redispatch\n  \
         default-server maxconn 50 send-proxy-v2 ssl verify required ca-file {ca} sni str(app.example.com)\n  \
         server a 127.0.0.1:9000\n  server b 127.0.0.1:9001 maxconn 9 inter 3s rise 4 fall 6\n",
        sock = dir.path("admin.sock").display(),
        pem = pem.display(),
        ca = cert.ca().display(),
    );
    let Loaded { config: c, warnings } = load(&text, false).unwrap_or_else(|e| panic!("loads: {e}"));
    assert!(warnings.is_empty());
    let g = &c.global;
    assert_eq!((g.maxconn, g.threads, g.buffer_size), (500, 3, 32768));
    assert_eq!(g.stats_socket.as_deref(), Some(dir.path("admin.sock").as_path()));
    let [l] = c.listeners.as_slice() else { panic!("one listener") };
    assert_eq!(l.name, "web");
    assert_eq!(l.addrs, ["127.0.0.1:8443".parse::<SocketAddr>().expect("a"), "[::1]:8443".parse().expect("a")]);
    assert_eq!(l.maxconn, 200);
    let s = Duration::from_secs;
    assert_eq!((l.timeouts.client, l.timeouts.handshake, l.timeouts.client_fin), (s(30), s(30), s(30)));
    let o = &l.options;
    assert!(o.accept_proxy);
    let tls = o.tls.as_ref().expect("TLS termination");
    assert_eq!(
        (tls.certs.as_slice(), tls.alpn.as_slice()),
        ([(pem.clone(), pem.clone())].as_slice(), ["h2".to_owned(), "http/1.1".to_owned()].as_slice())
    );
    assert_eq!(o.monitor_nets, ["203.0.113.0/24".parse().expect("block")]);
    let rules: Vec<(Verdict, String)> = o.conn_rules.0.iter().map(|r| (r.verdict, r.net.to_string())).collect();
    let want = [
        (Verdict::Allow, "192.0.2.0/24"),
        (Verdict::Allow, "2001:db8::/32"),
        (Verdict::Deny, "10.0.0.0/8"),
        (Verdict::Allow, "198.51.100.0/24"),
        (Verdict::Deny, "0.0.0.0/0"),
        (Verdict::Deny, "::/0"),
    ];
    assert_eq!(rules, want.map(|(v, n)| (v, n.to_owned())));
    let b = &l.backend;
    assert_eq!((b.name.as_str(), b.balance, b.retries, b.redispatch), ("app", Balance::LeastConn, 5, false));
    assert_eq!(
        (b.timeouts.connect, b.timeouts.server, b.timeouts.queue, b.timeouts.server_fin),
        (s(2), s(40), s(7), s(40))
    );
    assert_eq!((b.servers[0].maxconn, b.servers[1].maxconn), (50, 9));
    assert_eq!((b.server_name(0), b.server_name(1)), ("a".to_owned(), "b".to_owned()));
    let check = b.server_check(1);
    assert_eq!((check.inter, check.rise, check.fall), (s(3), 4, 6));
    assert_eq!(b.send_proxy.map(|p| p.version), Some(ProxyVersion::V2));
    let t = b.tls.as_ref().expect("TLS origination");
    assert_eq!((&t.verify, t.sni.as_deref()), (&ServerVerify::Ca(cert.ca()), Some("app.example.com")));
    // What HAProxy itself makes of the same file: it loads (apart from the
    // monitor-net it dropped in 2.4).
    let cfg = dir.path("haproxy.cfg");
    std::fs::write(&cfg, text.replace("  monitor-net 203.0.113.0/24\n", "")).expect("write");
    let out = Command::new("haproxy").arg("-c").arg("-f").arg(&cfg).output().expect("haproxy -c");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_command_line_checks_prints_and_runs_an_haproxy_file() {
    let dir = TempDir::new("import-cli");
    let cfg = dir.path("haproxy.cfg");
    std::fs::write(
        &cfg,
        "defaults\n  mode tcp\nlisten web\n  bind 127.0.0.1:0\n  rate-limit sessions 10\n  server a 127.0.0.1:9\n",
    )
    .expect("write");
    let cfg_arg = cfg.display().to_string();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_connseq"))
            .args(["proxy", "--haproxy-cfg", &cfg_arg])
            .args(extra)
            .output()
            .expect("runs")
    };
    let strict = run(&["--check"]);
    let err = String::from_utf8_lossy(&strict.stderr);
    assert_eq!(strict.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{cfg_arg}:5: directive 'rate-limit': not supported by connseq")), "{err}");
    let lenient = run(&["--lenient", "--check", "--print-config"]);
    let (out, err) = (String::from_utf8_lossy(&lenient.stdout), String::from_utf8_lossy(&lenient.stderr));
    assert_eq!(lenient.status.code(), Some(0), "{err}");
    assert!(err.contains("connseq: warning: ") && err.contains(":5: directive 'rate-limit'"), "{err}");
    assert!(out.contains("name = \"a\"") && out.contains("configuration is valid"), "{out}");
    let conflict = run(&["--listen", "127.0.0.1:0"]);
    assert_eq!(conflict.status.code(), Some(2), "--haproxy-cfg is the whole configuration");
}

// ---- the same traffic through HAProxy and through connseq ----

/// A server that writes `tag`, then what it reads (the first line: a PROXY
/// header when one comes), then closes after the client's FIN.
fn tagged_server(tag: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("address");
    thread::spawn(move || {
        while let Ok((mut s, _)) = l.accept() {
            thread::spawn(move || {
                let _ = s.set_read_timeout(Some(HANG_GUARD));
                let mut got = Vec::new();
                let _ = s.read_to_end(&mut got);
                let _ = s.write_all(format!("{tag}:").as_bytes()).and_then(|()| s.write_all(&got));
            });
        }
    });
    addr
}

/// From `src` (an address of 127.0.0.0/8) to `to`: sends `msg`, a FIN, and
/// reads the answer; `None` when the proxy closes or resets without one.
fn ask_from(src: [u8; 4], to: SocketAddr, msg: &str) -> Option<String> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from((src, 0)).into()).expect("bind the source");
    s.connect(&to.into()).expect("connect");
    let mut c: TcpStream = s.into();
    c.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
    if c.write_all(msg.as_bytes()).is_err() || c.shutdown(Shutdown::Write).is_err() {
        return None;
    }
    let mut got = String::new();
    match BufReader::new(c).read_to_string(&mut got) {
        Ok(_) if !got.is_empty() => Some(got),
        _ => None,
    }
}

/// The answer with the PROXY header's ports (which differ between the two
/// proxies' listeners) left out.
fn without_ports(answer: Option<String>) -> Option<String> {
    answer.map(|a| {
        let mut lines = a.lines();
        let first = lines.next().unwrap_or("");
        let first = match first.split_once("PROXY ") {
            Some((tag, h)) => format!("{tag}PROXY {}", h.split(' ').take(3).collect::<Vec<_>>().join(" ")),
            None => first.to_owned(),
        };
        std::iter::once(first).chain(lines.map(str::to_owned)).collect::<Vec<_>>().join("\n")
    })
}

#[test]
fn haproxy_and_connseq_treat_the_same_traffic_the_same_way_under_one_configuration() {
    let (a, b, c) = (tagged_server("a"), tagged_server("b"), tagged_server("c"));
    let template = |fe: SocketAddr, fe2: SocketAddr| {
        format!(
            "global\n  maxconn 200\n\
             defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n  retries 2\n\
             frontend fe\n  bind {fe}\n  acl blocked src 127.0.0.2\n  tcp-request connection reject if blocked\n  \
             default_backend be\n\
             backend be\n  balance roundrobin\n  server a {a}\n  server b {b}\n\
             frontend fe2\n  bind {fe2}\n  default_backend proxied\n\
             backend proxied\n  server c {c} send-proxy\n"
        )
    };
    let (h_fe, h_fe2) = (free_port(), free_port());
    let haproxy = Haproxy::start_file(&template(h_fe, h_fe2));
    let dir = TempDir::new("same");
    let cfg = dir.path("haproxy.cfg");
    std::fs::write(&cfg, template("127.0.0.1:0".parse().expect("a"), "127.0.0.1:0".parse().expect("a")))
        .expect("write");
    let loaded = ProxyConfig::from_haproxy_file(&cfg, false).unwrap_or_else(|e| panic!("imports: {e}"));
    let options = Options { record_sessions: true, ..Options::default() };
    let proxy = runtime::spawn_with(&loaded.config, options).expect("connseq starts");
    let (c_fe, c_fe2) = (proxy.addrs()[0], proxy.addrs()[1]);

    let traffic = |fe: SocketAddr, fe2: SocketAddr| {
        let mut seen = Vec::new();
        for i in 0..4 {
            seen.push(ask_from([127, 0, 0, 1], fe, &format!("hello {i}\n")));
        }
        seen.push(ask_from([127, 0, 0, 2], fe, "blocked\n"));
        seen.push(without_ports(ask_from([127, 0, 0, 3], fe2, "behind a header\n")));
        seen
    };
    let h = traffic(h_fe, h_fe2);
    let c = traffic(c_fe, c_fe2);
    assert_eq!(c, h, "connseq and HAProxy answer alike");
    assert_eq!(h[0].as_deref(), Some("a:hello 0\n"), "round robin from the first server");
    assert_eq!(h[1].as_deref(), Some("b:hello 1\n"));
    assert_eq!(h[4], None, "the blocked source is rejected");
    assert_eq!(h[5].as_deref(), Some("c:PROXY TCP4 127.0.0.3 127.0.0.1\nbehind a header"));
    wait_until("connseq logged the sessions", || proxy.stats().ended >= 6);
    drop(haproxy);
    proxy.stop().expect("stop");
}

#[test]
fn use_backend_on_src_becomes_routes_in_order_and_refuses_what_it_cannot_do() {
    let text = "\
defaults
  mode tcp
frontend fe
  bind 127.0.0.1:0
  acl office src 10.0.0.0/8 192.168.0.0/16
  use_backend internal if office
  use_backend lab if { src 172.16.0.0/12 }
  use_backend public unless office
  default_backend public
backend internal
  server i1 127.0.0.1:1
backend lab
  server l1 127.0.0.1:2
backend public
  server p1 127.0.0.1:3
";
    let loaded = load(text, false).expect("loads");
    let routes = &loaded.config.listeners[0].options.routes;
    let summary: Vec<(String, usize, bool)> =
        routes.iter().map(|r| (r.backend.name.clone(), r.nets.len(), r.negated)).collect();
    assert_eq!(
        summary,
        [("internal".to_owned(), 2, false), ("lab".to_owned(), 1, false), ("public".to_owned(), 2, true)]
    );
    assert!(routes[0].matches("10.1.2.3".parse().expect("ip")) && !routes[0].matches("127.0.0.1".parse().expect("ip")));
    let names: Vec<&str> = loaded.config.backends().iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["public", "internal", "lab"]);

    let unknown = text.replace("use_backend lab if", "use_backend nowhere if");
    let msg = refused_at(&unknown, 7, "use_backend");
    assert!(msg.contains("nowhere"), "{msg}");
    let with_proxy = text.replace("bind 127.0.0.1:0", "bind 127.0.0.1:0 accept-proxy");
    let msg = refused_at(&with_proxy, 6, "use_backend");
    assert!(msg.contains("accept-proxy"), "{msg}");
    let two = text.replace("use_backend internal if office", "use_backend internal if office lab");
    refused_at(&two, 6, "use_backend");
}
