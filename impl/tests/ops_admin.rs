//! The runtime API on real sockets, driven with `socat` as an operator's
//! script drives HAProxy's stats socket: the same commands sent to HAProxy
//! 2.6 and to connseq, with the same topology and traffic, get the same
//! answers (HAProxy's words, HAProxy's CSV columns); a drained server
//! finishes its sessions and gets no new one; `shutdown session` kills one
//! session through the core.

mod common;
mod peers;

use common::{connect, listener, proxy_config, records, round_trip, wait_until, EchoServer};
use connseq::runtime::{self, Options, RunningProxy};
use peers::{free_port, Haproxy, TempDir};
use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `echo "CMD" | socat stdio PATH`, as a script would; what came back.
fn socat(path: &Path, cmd: &str) -> String {
    let mut child = Command::new("socat")
        .arg("stdio")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("socat runs (install socat: .ci/run does)");
    child.stdin.take().expect("stdin").write_all(format!("{cmd}\n").as_bytes()).expect("send the command");
    let out = child.wait_with_output().expect("socat ends");
    assert!(out.status.success(), "socat {cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The rows of `show stat`, each as column name -> value, keyed by
/// `pxname/svname`; asserts the header is HAProxy's.
fn stat_rows(csv: &str) -> (String, HashMap<String, HashMap<String, String>>) {
    let mut lines = csv.lines();
    let header = lines.next().expect("a header").to_owned();
    let cols: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let mut rows = HashMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), cols.len(), "one cell per column: {line}");
        let row: HashMap<String, String> =
            cols.iter().zip(&cells).map(|(c, v)| ((*c).to_owned(), (*v).to_owned())).collect();
        rows.insert(format!("{}/{}", row["pxname"], row["svname"]), row);
    }
    (header, rows)
}

fn start_connseq(listeners: Vec<connseq::config::ListenerConfig>, maxconn: u32) -> RunningProxy {
    let options = Options { record_sessions: true, ..Options::default() };
    runtime::spawn_with(&proxy_config(listeners, maxconn), options).expect("connseq starts")
}

/// A listener `fe` sending to a backend `be` with servers `s1`, `s2`.
fn fe_be(servers: &[SocketAddr]) -> connseq::config::ListenerConfig {
    let mut l = listener("fe", servers, 0, 0);
    l.backend.name = "be".into();
    l
}

/// HAProxy with a frontend `fe` on a free port and a backend `be` of `servers` (its `server`
/// lines), its runtime API on `haproxy.sock` in `dir`; its frontend's address, and the paths of
/// its socket and of connseq's (`connseq.sock`) beside it.
fn haproxy_fe_be(dir: &TempDir, servers: &str) -> (Haproxy, SocketAddr, PathBuf, PathBuf) {
    let (h_sock, c_sock) = (dir.path("haproxy.sock"), dir.path("connseq.sock"));
    let front = free_port();
    let haproxy = Haproxy::start_with(
        &format!("  stats socket {} level admin\n", h_sock.display()),
        &format!("frontend fe\n  bind {front}\n  default_backend be\nbackend be\n  balance roundrobin\n{servers}"),
    );
    (haproxy, front, h_sock, c_sock)
}

#[test]
fn haproxy_and_connseq_answer_the_same_socat_commands_the_same_way() {
    let (e1, e2) = (EchoServer::start(), EchoServer::start());
    let dir = TempDir::new("admin");
    let servers = format!("  server s1 {}\n  server s2 {}\n", e1.addr(), e2.addr());
    let (haproxy, front, h_sock, c_sock) = haproxy_fe_be(&dir, &servers);
    let proxy = start_connseq(vec![fe_be(&[e1.addr(), e2.addr()])], 256);
    let _admin = connseq::admin::serve(&c_sock, proxy.control()).expect("the runtime API listens");

    // One live session through each, on its first server.
    let mut h_client = connect(front);
    round_trip(&mut h_client, b"ping");
    let mut c_client = connect(proxy.addrs()[0]);
    round_trip(&mut c_client, b"ping");

    let compare = |when: &str, cols: &[&str]| {
        let (h_header, h_rows) = stat_rows(&socat(&h_sock, "show stat"));
        let (c_header, c_rows) = stat_rows(&socat(&c_sock, "show stat"));
        assert_eq!(c_header, h_header, "the header is HAProxy's");
        let mut keys: Vec<&String> = h_rows.keys().collect();
        keys.sort();
        let mut c_keys: Vec<&String> = c_rows.keys().collect();
        c_keys.sort();
        assert_eq!(c_keys, keys, "{when}: the same rows");
        for k in keys {
            for &col in cols {
                let frontend_only = col == "slim";
                if frontend_only && !k.ends_with("/FRONTEND") {
                    continue;
                }
                assert_eq!(c_rows[k][col], h_rows[k][col], "{when}: {k} column {col}");
            }
        }
    };
    let cols =
        ["type", "status", "scur", "stot", "slim", "addr", "weight", "act", "bck", "mode", "algo", "qcur", "iid"];
    compare("one session each", &cols[..cols.len() - 1]);

    let sess = |path: &Path| socat(path, "show sess");
    let (h_sess, c_sess) = (sess(&h_sock), sess(&c_sock));
    for (out, client) in [(&h_sess, &h_client), (&c_sess, &c_client)] {
        let src = format!("src={} fe=fe be=be srv=s1 ", client.local_addr().expect("local"));
        assert!(out.lines().any(|l| l.starts_with("0x") && l.contains(&src)), "{src} in {out}");
    }

    // Each command answers the same bytes from both, errors included.
    for cmd in [
        "set server be/s9 state drain",
        "set server bx/s1 state drain",
        "set server be/s1 state bogus",
        "disable server be/s9",
        "shutdown session 0x1234",
        "set server be/s1 state drain",
    ] {
        assert_eq!(socat(&c_sock, cmd), socat(&h_sock, cmd), "{cmd}");
    }
    compare("s1 drained", &["status"]);
    let cmd = "disable server be/s2";
    assert_eq!(socat(&c_sock, cmd), socat(&h_sock, cmd), "{cmd}");
    compare("s1 drained, s2 in maintenance", &["status"]);
    for cmd in ["enable server be/s2", "set server be/s1 state ready"] {
        assert_eq!(socat(&c_sock, cmd), socat(&h_sock, cmd), "{cmd}");
    }
    compare("both ready again", &["status", "weight", "act"]);

    // `show info`: HAProxy's keys, one `Key: value` a line.
    for path in [&h_sock, &c_sock] {
        let info = socat(path, "show info");
        for key in ["Name: ", "Pid: ", "Nbthread: ", "Uptime_sec: ", "Maxconn: 256", "CurrConns: "] {
            assert!(info.lines().any(|l| l.starts_with(key)), "{key} in {info}");
        }
    }
    // Two commands on one line, `;`-separated, as HAProxy takes them.
    let both = socat(&c_sock, "show info; show stat");
    assert!(both.contains("Name: connseq\n") && both.contains("\n# pxname,svname,"), "{both}");

    c_client.shutdown(Shutdown::Write).expect("FIN");
    let _ = common::read_to_eof(&mut c_client);
    h_client.shutdown(Shutdown::Write).expect("FIN");
    let _ = common::read_to_eof(&mut h_client);
    drop(haproxy);
    proxy.stop().expect("stop");
}

/// Backup servers, side by side with HAProxy: `s1` active, `s2` and `s3` backups. While `s1` is
/// usable every session goes to it; in maintenance, to the first usable backup only (`s2`), then
/// `s3` once `s2` is in maintenance too; back to `s1` once it is ready. `show stat`'s `act`,
/// `bck`, `weight` and `status` agree at each step.
#[test]
fn backup_servers_take_over_in_order_as_haproxys_do() {
    let echoes = [EchoServer::start(), EchoServer::start(), EchoServer::start()];
    let addrs: Vec<SocketAddr> = echoes.iter().map(EchoServer::addr).collect();
    let dir = TempDir::new("backup");
    let servers =
        format!("  server s1 {}\n  server s2 {} backup\n  server s3 {} backup\n", addrs[0], addrs[1], addrs[2]);
    let (haproxy, front, h_sock, c_sock) = haproxy_fe_be(&dir, &servers);
    let mut l = fe_be(&addrs);
    for o in &mut l.backend.server_options[1..] {
        o.backup = true;
    }
    let proxy = start_connseq(vec![l], 256);
    let _admin = connseq::admin::serve(&c_sock, proxy.control()).expect("the runtime API listens");
    // Which server each of four sessions through `addr` reached.
    let served = |addr: SocketAddr| -> Vec<usize> {
        let before: Vec<usize> = echoes.iter().map(EchoServer::accepted).collect();
        for i in 0..4u8 {
            let mut c = connect(addr);
            round_trip(&mut c, &[i]);
            c.shutdown(Shutdown::Write).expect("FIN");
            let _ = common::read_to_eof(&mut c);
        }
        echoes.iter().zip(before).map(|(e, b)| e.accepted() - b).collect()
    };
    let step = |when: &str, cmds: &[&str], want: [usize; 3]| {
        for cmd in cmds {
            assert_eq!(socat(&c_sock, cmd), socat(&h_sock, cmd), "{cmd}");
        }
        assert_eq!(served(front), want, "{when}: HAProxy");
        assert_eq!(served(proxy.addrs()[0]), want, "{when}: connseq");
        let (_, h_rows) = stat_rows(&socat(&h_sock, "show stat"));
        let (_, c_rows) = stat_rows(&socat(&c_sock, "show stat"));
        for k in ["be/s1", "be/s2", "be/s3", "be/BACKEND"] {
            for col in ["status", "weight", "act", "bck"] {
                assert_eq!(c_rows[k][col], h_rows[k][col], "{when}: {k} column {col}");
            }
        }
    };
    step("all ready", &[], [4, 0, 0]);
    step("s1 in maintenance", &["disable server be/s1"], [0, 4, 0]);
    step("s1 and s2 in maintenance", &["disable server be/s2"], [0, 0, 4]);
    step("s1 ready again", &["enable server be/s1", "enable server be/s2"], [4, 0, 0]);
    drop(haproxy);
    proxy.stop().expect("stop");
}

/// Two `listen` sections (each a frontend and a backend of one name) against connseq's two
/// listeners, each with its own backend: `show stat` lists the rows in HAProxy's order, each
/// backend's server rows and BACKEND row right after its frontend's row.
#[test]
fn show_stat_lists_each_backend_after_its_frontend_in_haproxys_order() {
    let (e1, e2) = (EchoServer::start(), EchoServer::start());
    let dir = TempDir::new("admin-order");
    let (h_sock, c_sock) = (dir.path("haproxy.sock"), dir.path("connseq.sock"));
    let (f1, f2) = (free_port(), free_port());
    let haproxy = Haproxy::start_with(
        &format!("  stats socket {} level admin\n", h_sock.display()),
        &format!(
            "listen one\n  bind {f1}\n  server s1 {}\nlisten two\n  bind {f2}\n  server s1 {}\n",
            e1.addr(),
            e2.addr()
        ),
    );
    let named = |name: &str, server: SocketAddr| {
        let mut l = listener(name, &[server], 0, 0);
        l.backend.name = name.into();
        l
    };
    let proxy = start_connseq(vec![named("one", e1.addr()), named("two", e2.addr())], 256);
    let _admin = connseq::admin::serve(&c_sock, proxy.control()).expect("the runtime API listens");
    let order = |path: &Path| -> Vec<String> {
        socat(path, "show stat")
            .lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join("/"))
            .collect()
    };
    let want = ["one/FRONTEND", "one/s1", "one/BACKEND", "two/FRONTEND", "two/s1", "two/BACKEND"];
    assert_eq!(order(&h_sock), want, "HAProxy's order");
    assert_eq!(order(&c_sock), want, "connseq's order");
    drop(haproxy);
    proxy.stop().expect("stop");
}

#[test]
fn a_drained_server_finishes_its_sessions_and_gets_no_new_one_until_ready() {
    let (e1, e2) = (EchoServer::start(), EchoServer::start());
    let dir = TempDir::new("drain");
    let sock = dir.path("admin.sock");
    let proxy = start_connseq(vec![listener("web", &[e1.addr(), e2.addr()], 0, 0)], 0);
    let _admin = connseq::admin::serve(&sock, proxy.control()).expect("the runtime API listens");

    let mut long = connect(proxy.addrs()[0]);
    round_trip(&mut long, b"first");
    assert_eq!(e1.accepted(), 1, "round robin starts with s1");
    assert_eq!(socat(&sock, "set server web/s1 state drain"), "\n");

    for i in 0..4 {
        let mut c = connect(proxy.addrs()[0]);
        round_trip(&mut c, format!("new {i}").as_bytes());
        c.shutdown(Shutdown::Write).expect("FIN");
        let _ = common::read_to_eof(&mut c);
    }
    assert_eq!((e1.accepted(), e2.accepted()), (1, 4), "no new session on the drained server");
    let ended = records(&proxy, 4);
    assert!(ended.iter().all(|r| r.server_name.as_deref() == Some("s2")), "{ended:?}");

    // The drained server's session goes on to its end.
    round_trip(&mut long, b"still served");
    long.shutdown(Shutdown::Write).expect("FIN");
    assert!(common::read_to_eof(&mut long).is_empty());
    let r = records(&proxy, 1).pop().expect("the long session's record");
    assert_eq!((r.server_name.as_deref(), r.termination.to_string().as_str()), (Some("s1"), "--"), "{}", r.line);
    assert_eq!(r.to_server, "first".len() as u64 + "still served".len() as u64);

    assert_eq!(socat(&sock, "disable server web/s2"), "\n");
    let mut refused = connect(proxy.addrs()[0]);
    assert!(common::read_to_eof(&mut refused).is_empty(), "no ready server: closed at once");
    drop(refused);
    let r = records(&proxy, 1).pop().expect("a record");
    assert_eq!(r.termination.to_string(), "PC", "{}", r.line);

    assert_eq!(socat(&sock, "set server web/s1 state ready"), "\n");
    let mut c = connect(proxy.addrs()[0]);
    round_trip(&mut c, b"back");
    assert_eq!(e1.accepted(), 2, "s1 takes sessions again");
    drop(c);
    proxy.stop().expect("stop");
}

/// `show info`'s figures are the proxy's: the sessions live and accepted,
/// and `Stopping` from the moment a stop is asked; the admin state set is
/// the one read back.
#[test]
fn show_info_counts_the_sessions_and_says_when_the_proxy_is_stopping() {
    use connseq::runtime::control::AdminState;
    let e = EchoServer::start();
    let dir = TempDir::new("info");
    let sock = dir.path("admin.sock");
    let proxy = start_connseq(vec![fe_be(&[e.addr()])], 0);
    let _admin = connseq::admin::serve(&sock, proxy.control()).expect("the runtime API listens");
    let info = |key: &str| {
        let out = socat(&sock, "show info");
        let line = out.lines().find(|l| l.starts_with(&format!("{key}: "))).unwrap_or_else(|| panic!("{key} in {out}"));
        line[key.len() + 2..].to_owned()
    };
    for i in 0..2 {
        let mut c = connect(proxy.addrs()[0]);
        round_trip(&mut c, format!("ended {i}").as_bytes());
        c.shutdown(Shutdown::Write).expect("FIN");
        let _ = common::read_to_eof(&mut c);
    }
    records(&proxy, 2);
    let mut live = connect(proxy.addrs()[0]);
    round_trip(&mut live, b"live");
    assert_eq!((info("CurrConns"), info("CumConns"), info("Stopping")), ("1".into(), "3".into(), "0".into()));
    assert_eq!(proxy.control().counters().accepted, 3);

    let control = proxy.control();
    assert_eq!(control.server_state(0, 0), AdminState::Ready);
    control.set_server_state("be", "s1", AdminState::Maint).expect("a server");
    assert_eq!(control.server_state(0, 0), AdminState::Maint);

    assert!(!control.stopping());
    control.soft_stop();
    assert!(control.stopping() && control.snapshot().stopping);
    assert_eq!(info("Stopping"), "1", "the live session keeps the proxy up, stopping");
    live.shutdown(Shutdown::Write).expect("FIN");
    let _ = common::read_to_eof(&mut live);
    proxy.stop().expect("stop");
}

#[test]
fn shutdown_session_kills_the_session_show_sess_lists_and_only_it() {
    let server = EchoServer::start();
    let dir = TempDir::new("kill");
    let sock = dir.path("admin.sock");
    let proxy = start_connseq(vec![listener("web", &[server.addr()], 0, 0)], 0);
    let _admin = connseq::admin::serve(&sock, proxy.control()).expect("the runtime API listens");
    let mut doomed = connect(proxy.addrs()[0]);
    round_trip(&mut doomed, b"a");
    let mut other = connect(proxy.addrs()[0]);
    round_trip(&mut other, b"b");
    let me = format!("src={} ", doomed.local_addr().expect("local"));
    let listing = socat(&sock, "show sess");
    let line = listing.lines().find(|l| l.contains(&me)).unwrap_or_else(|| panic!("{me} in {listing}"));
    let id = line.split(':').next().expect("the id");
    assert_eq!(socat(&sock, &format!("shutdown session {id}")), "\n");
    let r = records(&proxy, 1).pop().expect("the killed session's record");
    assert!(r.termination.to_string().starts_with('K'), "{}", r.line);
    assert_eq!(r.client, doomed.local_addr().expect("local"));
    let mut buf = [0u8; 1];
    let got = std::io::Read::read(&mut doomed, &mut buf);
    assert!(matches!(got, Ok(0) | Err(_)), "the client's connection is closed: {got:?}");
    round_trip(&mut other, b"the other goes on");
    wait_until("one session left", || socat(&sock, "show sess").lines().filter(|l| l.starts_with("0x")).count() == 1);
    assert_eq!(socat(&sock, &format!("shutdown session {id}")), "No such session (use 'show sess').\n\n");
    drop(other);
    proxy.stop().expect("stop");
}

/// The socket file an earlier process left at the path (here a listener of
/// the test's, standing for a process that keeps running after a failed
/// takeover) is replaced only once the new socket is served: a new socket
/// bound and dropped unserved (the process failed to start) gives the path
/// back to it; served, the path is the new one's. No file is left beside.
#[test]
fn a_runtime_api_socket_dropped_unserved_gives_the_path_back_to_the_earlier_one() {
    use std::os::unix::net::{UnixListener, UnixStream};
    let server = EchoServer::start();
    let dir = TempDir::new("admin-back");
    let sock = dir.path("admin.sock");
    let earlier = UnixListener::bind(&sock).expect("the earlier process's socket");
    earlier.set_nonblocking(true).expect("non-blocking");
    let reaches_earlier = || {
        let _c = UnixStream::connect(&sock).expect("something listens at the path");
        wait_until("the earlier socket accepts", || earlier.accept().is_ok());
    };
    let names = || {
        let mut n: Vec<String> = std::fs::read_dir(&dir.0)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into())
            .collect();
        n.sort();
        n
    };

    let bound = connseq::admin::bind(&sock).expect("bound");
    assert!(earlier.accept().is_err(), "nothing waiting yet");
    let _c = UnixStream::connect(&sock).expect("the new socket takes connections into its backlog");
    assert!(earlier.accept().is_err(), "the path is the new socket's while it is bound");
    drop(bound);
    reaches_earlier();
    assert_eq!(names(), ["admin.sock"]);

    let proxy = start_connseq(vec![listener("web", &[server.addr()], 0, 0)], 0);
    let served = connseq::admin::bind(&sock).expect("bound").serve(proxy.control()).expect("served");
    assert!(socat(&sock, "show info").contains("Name: connseq"), "the path is the new socket's");
    assert!(earlier.accept().is_err(), "the earlier socket is reached no more");
    assert_eq!(names(), ["admin.sock"]);
    drop(served);
    proxy.stop().expect("stop");
}
