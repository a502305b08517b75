//! Replay of a model trace against the real proxy on real sockets.
//!
//! The harness plays the client and the server with loopback sockets and
//! runs the proxy runtime in-process, stepped (`Options::stepped`: the event
//! loop runs only when granted a turn, until it has nothing left to do, which
//! is the model's "proxy runs") on a manual clock, with the connect shim
//! (`Options::hold_connects`: a server connection completes at the model's
//! "server accepts" or "server refuses", not when the loopback kernel would)
//! and the send-window shim (`Options::send_window`: the proxy's writes to
//! each peer are held to the room the model's wire has, so its EAGAIN comes
//! where the trace has it). The client and the server speak TLS through
//! rustls when the configuration says so ([`crate::tls_peer`]). Each
//! environment action of the trace is applied to the real sockets:
//!
//! | model action | real action |
//! |---|---|
//! | proxy runs | the send window is set to the model's room on each wire; one turn of the event loop, then turns until the cores stop changing |
//! | peer sends a chunk | `write` of the chunk's 8 bytes (`c`/`s`, its number, padding); a TLS peer: one record of them |
//! | client sends its PROXY header, garbage, its TLS hello | `write` of a v1 header, of 8 bytes that are neither, of a rustls ClientHello |
//! | peer reads | one non-blocking read of at most one chunk: data, EOF, a reset, or nothing; a TLS peer reads records until one has an effect (the hello, the flight, the Finished, a chunk, a close_notify) |
//! | peer shuts its write side | `shutdown(SHUT_WR)`, after a close_notify if its TLS handshake is done |
//! | peer closes | `close()` (the kernel resets if input is unread, as the model assumes) |
//! | peer aborts | `SO_LINGER {1, 0}` then `close()`: an RST |
//! | server accepts | `accept()` on the server's listener, then the attempt is released |
//! | server refuses | the attempt is released; the server's port was bound without listening when the proxy connected (the harness reads the answer ahead in the trace), so the kernel refused it: `SO_ERROR` is `ECONNREFUSED` |
//! | timer fires | the manual clock moves to that timer's deadline in the real core |
//! | (initial state) other sessions hold servers | real sessions through a second listener (`ghost`) that shares the backend, one per busy server, established before the replayed client connects; their timers never fire within a replay |
//! | a slot frees | the ghost on that server aborts (its client resets): at the next turn the proxy ends it, releases the slot through the core's `backend::release` and hands it to the queued session, its real dequeue |
//!
//! After each "proxy runs" the real core (the runtime's snapshot) is
//! compared with the model's: stream-interface states, each connection's FD
//! and connection states and its seven op statuses, each channel's flags and
//! fill levels, and, once the session ended, the termination code. After each
//! "peer reads" what the real peer read is compared with what the model's
//! peer read. A difference is a [`Divergence`].
//!
//! What peers observe does not fix every internal choice of the model; where
//! the real kernel cannot take the model's path, the trace is
//! [`Outcome::Unsupported`] with the reason, not a divergence: a timer the
//! model fires while an earlier deadline is armed (the model fires any armed
//! timer; a clock fires the earliest first). Where Linux is kinder than the
//! model's kernel, or the real proxy sends what the model has no message for
//! (TLS session tickets), the trace is [`Outcome::Explained`].

use crate::server_port::ServerPort;
use crate::tls_peer::{self, Pki, TlsPeer, Unit};
use connseq::config::{
    BackTls, BackendConfig, Cidr, FrontTls, GlobalConfig, ListenerConfig, ListenerOptions, ProxyConfig, ProxyTlvs,
    ProxyVersion, Rule, Rules, SendProxy, ServerConfig, ServerVerify, Verdict,
};
use connseq::runtime::{self, Breakage, Held, Options, RunningProxy};
use connseq_model::check::system::TLS_UP;
use connseq_model::check::{Piece, SysAction, SysState, System, Who};
use connseq_model::core::{Channel, Dir, Fill, NoBugs, Op, Session, SessionConfig, SiState, Side, Timeouts, TimerKind};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Every reason a trace is [`Outcome::Unsupported`], by name, with the
/// words its message carries: the only ones a campaign may skip
/// ([`unsupported_class`]; the tests fail on any other). Each is a step the
/// model may take that the real proxy, its clock or this harness cannot
/// take at that moment; docs/conformance.md counts them per campaign.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    ("another session acts", "the harness plays one session"),
    ("a handshake message in pieces", "the harness writes handshake messages whole"),
    ("a timer before the first turn", "a timer fires before the proxy's first turn"),
    ("a timer armed by a firing since the last turn", "was armed by a timer that fired since the proxy's last turn"),
    ("a timer fires twice between two turns", "fires twice between two turns of the proxy"),
    ("a timer after a freed slot", "fires after a slot freed since the proxy's last turn"),
    ("a timer that is not the earliest", "while another timer is due first or at the same time"),
    (
        "a freed slot after a timer",
        "after a timer fired since the proxy's last turn (the model handles the firing at once",
    ),
    ("a freed slot after the waiting client's RST", "while the waiting session's client RST"),
    ("TLS on a listener without it", "the listener has no TLS"),
    ("an action this harness does not play", "not played by this harness"),
];

/// The name of the [`UNSUPPORTED`] reason `why` gives, if it is one.
pub fn unsupported_class(why: &str) -> Option<&'static str> {
    UNSUPPORTED.iter().find(|(_, words)| why.contains(words)).map(|(name, _)| *name)
}

/// Bytes of one model chunk on the wire.
pub const CHUNK: usize = 8;

const HANG_GUARD: Duration = Duration::from_secs(30);

/// What a divergence says when the proxy's event loop did not finish a turn.
pub const TURN_LOST: &str = "the proxy's turn did not end (its event loop hangs or has died)";

/// How the replay of one trace ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every comparison agreed; `compared` core states and reads were checked.
    Agrees {
        /// Comparisons made.
        compared: usize,
    },
    /// The real run departed from the model.
    Diverges(Divergence),
    /// The trace cannot be played on real sockets by this harness.
    Unsupported(String),
    /// The real run departed where the model's kernel is known to be more
    /// pessimistic than Linux (a kernel-axiom test shows Linux's behaviour);
    /// the comparison stops there.
    Explained(String),
    /// The harness itself failed (it could not start the proxy, or a socket
    /// call of its own failed): neither agreement nor a divergence, and never
    /// a pass.
    HarnessError(String),
}

/// Where and how the real run departed from the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the action after which the difference showed.
    pub step: usize,
    /// The action.
    pub action: String,
    /// What was compared.
    pub what: String,
    /// The model's prediction.
    pub expected: String,
    /// What the real run gave.
    pub actual: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "after step {} ({}): {}: the model predicts {}, the real run gave {}",
            self.step, self.action, self.what, self.expected, self.actual
        )
    }
}

/// What one peer read in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadObs {
    Nothing,
    Data,
    Fin,
    Rst,
    /// The PROXY header the proxy sends first (server side).
    Header,
    /// A PROXY header whose source is not the one the proxy must forward
    /// (the client's, or the one its own PROXY header gave).
    HeaderWithOtherSource,
    /// A health or monitor reply (client side).
    Reply,
    /// The server read the client's TLS hello (and answered with its flight).
    TlsHello,
    /// The client read the server's TLS flight (and answered with its Finished).
    TlsFlight,
    /// The server read the client's TLS Finished.
    TlsFinished,
    /// A TLS close_notify.
    CloseNotify,
    /// A TLS alert, or bytes that are no TLS record: nothing the model sends.
    Alert,
}

impl From<Unit> for ReadObs {
    fn from(u: Unit) -> ReadObs {
        match u {
            Unit::Nothing => ReadObs::Nothing,
            Unit::Hello => ReadObs::TlsHello,
            Unit::Flight => ReadObs::TlsFlight,
            Unit::Finished => ReadObs::TlsFinished,
            Unit::Data => ReadObs::Data,
            Unit::CloseNotify => ReadObs::CloseNotify,
            Unit::Fin => ReadObs::Fin,
            Unit::Rst => ReadObs::Rst,
            Unit::Alert => ReadObs::Alert,
        }
    }
}

/// The core's state as compared: everything but timers and internals that
/// only the model's executor tracks.
fn projection(core: &Session) -> String {
    let mut out = format!("si {:?}/{:?}", core.si(Side::Front), core.si(Side::Back));
    for side in Side::BOTH {
        let c = core.conn(side);
        out.push_str(&format!(" | {side} {:?}/{:?} ops[", c.fd, c.state));
        for op in Op::ALL {
            out.push_str(&format!("{:?}={:?} ", op, c.ops.get(op)));
        }
        out.push(']');
    }
    for dir in [Dir::Req, Dir::Res] {
        let ch = core.chan(dir);
        out.push_str(&format!(" | {dir:?} {:?} buf {:?} pipe {:?}", ch.flags, ch.buf, ch.pipe));
    }
    out
}

/// The source address the harness's PROXY header gives, and the block the
/// source rules match it with.
const HEADER: &[u8] = b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\n";
const HEADER_SOURCE: &str = "192.0.2.1";
const HEADER_SOURCE_NET: &str = "192.0.2.0/24";
/// What the client sends as garbage: not a PROXY header.
const GARBAGE: &[u8] = b"GARBAGE\n";

fn peer_obs(before: &SysState, after: &SysState, who: Who) -> ReadObs {
    let (b, a) = (before.sess[0].peer(who), after.sess[0].peer(who));
    if a.got_hdr && !b.got_hdr {
        ReadObs::Header
    } else if a.got_reply && !b.got_reply {
        ReadObs::Reply
    } else if a.got > b.got {
        ReadObs::Data
    } else if who == Who::Server && a.hello_sent && !b.hello_sent {
        ReadObs::TlsHello
    } else if who == Who::Client && a.tls_up && !b.tls_up {
        ReadObs::TlsFlight
    } else if a.got_finished && !b.got_finished {
        ReadObs::TlsFinished
    } else if a.got_cn && !b.got_cn {
        ReadObs::CloseNotify
    } else if a.got_rst && !b.got_rst {
        ReadObs::Rst
    } else if a.got_fin && !b.got_fin {
        ReadObs::Fin
    } else {
        ReadObs::Nothing
    }
}

/// The proxy's configuration for the model's session configuration: one
/// listener, one server per model server, the model's timeouts; TLS with
/// the harness's certificate towards the client, and towards the server
/// with no verification (the harness's server is the only one there).
fn proxy_config(
    cfg: &SessionConfig,
    env: &connseq_model::check::system::Env,
    servers: &[SocketAddr],
    pki: Option<&Pki>,
) -> ProxyConfig {
    let ms = Duration::from_millis;
    let t = &cfg.timeouts;
    let mut backend =
        BackendConfig::new("model", servers.iter().map(|&addr| ServerConfig { addr, maxconn: 1 }).collect());
    backend.balance = cfg.balance;
    backend.retries = cfg.retries;
    backend.redispatch = cfg.redispatch;
    backend.queue = cfg.queue;
    backend.timeouts.connect = ms(t.connect);
    backend.timeouts.server = ms(t.server);
    backend.timeouts.server_fin = ms(t.server_fin);
    backend.timeouts.queue = ms(t.queue);
    backend.timeouts.turn_around = if cfg.turn_around { ms(t.turn_around) } else { Duration::ZERO };
    if cfg.tls_back {
        backend.tls = Some(BackTls { verify: ServerVerify::Insecure, sni: None, alpn: Vec::new() });
    }
    let mut options = handshake_options(cfg, env);
    if let (true, Some(pki)) = (cfg.tls_front, pki) {
        options.tls = Some(FrontTls { certs: vec![(pki.cert_file.clone(), pki.key_file.clone())], alpn: Vec::new() });
    }
    let listener = ListenerConfig {
        name: "model".into(),
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        backend,
        timeouts: connseq::config::ListenerTimeouts {
            handshake: ms(t.handshake),
            client: ms(t.client),
            client_fin: ms(t.client_fin),
        },
        maxconn: 0,
        options,
    };
    ProxyConfig {
        listeners: vec![listener],
        global: GlobalConfig { threads: 1, maxconn: 0, ..GlobalConfig::default() },
    }
}

/// The listener's handshake options for the model's configuration and its
/// environment's choices: the monitor net matches 127.0.0.0/8 (the
/// harness's client) when the model's source matches, and a block the
/// client is not in otherwise; the rules deny the client (connection rules)
/// or the header's source (source rules) where the model's rules reject.
fn handshake_options(cfg: &SessionConfig, env: &connseq_model::check::system::Env) -> ListenerOptions {
    let net = |s: &str| s.parse::<Cidr>().expect("a constant block");
    let rules = |deny: bool, block: &str| {
        let verdict = if deny { Verdict::Deny } else { Verdict::Allow };
        Rules(vec![Rule { verdict, net: net(block) }])
    };
    ListenerOptions {
        splice: cfg.splice,
        accept_proxy: cfg.accept_proxy,
        health: cfg.health,
        monitor_nets: if !cfg.monitor {
            Vec::new()
        } else if env.monitor_match {
            vec![net("127.0.0.0/8")]
        } else {
            vec![net("198.51.100.0/24")]
        },
        conn_rules: if cfg.conn_rules { rules(env.reject == 1, "127.0.0.0/8") } else { Rules::default() },
        src_rules: if cfg.src_rules { rules(env.reject == 2, HEADER_SOURCE_NET) } else { Rules::default() },
        tls: None,
        routes: Vec::new(),
        propagate_abort: cfg.propagate_abort,
    }
}

/// The proxy's timeouts for one trace. The model lets any armed timer fire
/// at any step; a clock fires the earliest deadline first. So the timer
/// kinds the trace fires get the shortest timeouts, in the order it first
/// fires them (1 s, 2 s, ...), and the others 1,000 s. Every timer armed
/// before the first firing was armed at the same reading of the manual
/// clock, so the first firing is always the earliest deadline; a later one
/// is when the arming times allow it, and the trace is unsupported at that
/// step otherwise (a firing is always checked against the real deadlines).
/// The values change no decision of the core: it compares no timeouts, it
/// only arms and fires timers.
fn trace_timeouts(actions: &[SysAction]) -> Timeouts {
    let mut order: Vec<TimerKind> = Vec::new();
    for a in actions {
        if let SysAction::TimerFires(0, k) = *a {
            if !order.contains(&k) {
                order.push(k);
            }
        }
    }
    let t = |k: TimerKind| -> u64 { order.iter().position(|&x| x == k).map_or(1_000_000, |i| 1_000 * (i as u64 + 1)) };
    Timeouts {
        handshake: t(TimerKind::Handshake),
        connect: t(TimerKind::Connect),
        queue: t(TimerKind::Queue),
        turn_around: t(TimerKind::TurnAround),
        client: t(TimerKind::Client),
        server: t(TimerKind::Server),
        client_fin: t(TimerKind::ClientFin),
        server_fin: t(TimerKind::ServerFin),
    }
}

/// The real side of a replay.
struct Harness {
    proxy: RunningProxy,
    addr: SocketAddr,
    servers: Vec<ServerPort>,
    client: Option<TcpStream>,
    client_connected: bool,
    /// The source a PROXY header sent to the server must carry.
    forwarded_source: &'static str,
    server: Option<TcpStream>,
    /// The TLS layer of each peer ([`Who`] order) once it speaks TLS.
    tls: [Option<TlsPeer>; 2],
    /// The server speaks TLS (its layer starts when it accepts).
    tls_back: bool,
    /// The client speaks TLS (after its PROXY header, if any).
    tls_front: bool,
    pki: Option<&'static Pki>,
    sent: [u8; 2],
    clock: u64,
    /// The model's other sessions (`Backend::ghosts`), real ones: for each
    /// server, the client and server sockets of a session of the ghost
    /// listener that holds its slot, while it does.
    ghosts: Vec<Option<(TcpStream, TcpStream)>>,
    /// Connections the proxy had accepted before the replayed client
    /// connected (the ghosts).
    accepted_before: u64,
}

/// The listener the ghost sessions come through (index 1 in the
/// configuration; the replayed session's is 0). It shares the backend,
/// so its sessions take the same server slots.
const GHOST: &str = "ghost";

/// A ghost's timeouts: no timer of a ghost fires within a replay (its
/// manual clock moves by seconds).
const GHOST_TIMEOUT: Duration = Duration::from_secs(86_400);

/// The ghost listener: the replayed listener's backend (the same name, so
/// the same slots and queue) without its handshake layers, and with
/// timeouts that never fire.
fn ghost_listener(model: &ListenerConfig) -> ListenerConfig {
    let mut g = model.clone();
    g.name = GHOST.into();
    g.options = ListenerOptions { splice: model.options.splice, ..ListenerOptions::default() };
    g.timeouts = connseq::config::ListenerTimeouts {
        handshake: GHOST_TIMEOUT,
        client: GHOST_TIMEOUT,
        client_fin: GHOST_TIMEOUT,
    };
    g.backend.tls = None;
    g.backend.send_proxy = None;
    let t = &mut g.backend.timeouts;
    (t.connect, t.server, t.server_fin, t.queue) = (GHOST_TIMEOUT, GHOST_TIMEOUT, GHOST_TIMEOUT, GHOST_TIMEOUT);
    g
}

fn chunk(who: Who, n: u8) -> [u8; CHUNK] {
    let tag = match who {
        Who::Client => b'c',
        Who::Server => b's',
    };
    [tag, n, b'-', b'-', b'-', b'-', b'-', b'\n']
}

impl Harness {
    fn start(
        cfg: &SessionConfig,
        env: &connseq_model::check::system::Env,
        busy: [bool; 2],
        servers: usize,
        (buffer, pipe): (usize, usize),
        breakage: Breakage,
    ) -> io::Result<Harness> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let servers: Vec<ServerPort> = (0..servers).map(|_| ServerPort::bind(any)).collect::<io::Result<_>>()?;
        let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
        let options = Options {
            manual_clock: true,
            record_sessions: true,
            stepped: true,
            hold_connects: true,
            send_window: Some(CHUNK),
            breakage,
        };
        let pki = if cfg.tls_front || cfg.tls_back { Some(Pki::get()?) } else { None };
        let mut config = proxy_config(cfg, env, &addrs, pki);
        if cfg.send_proxy {
            config.listeners[0].backend.send_proxy =
                Some(SendProxy { version: ProxyVersion::V1, tlvs: ProxyTlvs::default() });
        }
        config.global.buffer_size = buffer;
        config.global.pipe_size = Some(pipe);
        let ghosts = busy.iter().take(servers.len()).any(|&b| b);
        if ghosts {
            let g = ghost_listener(&config.listeners[0]);
            config.listeners.push(g);
        }
        let proxy = runtime::spawn_with(&config, options)?;
        let addr = proxy.addrs()[0];
        let mut h = Harness {
            proxy,
            addr,
            servers,
            client: None,
            client_connected: false,
            forwarded_source: if cfg.accept_proxy { HEADER_SOURCE } else { "127.0.0.1" },
            server: None,
            tls: [None, None],
            tls_back: cfg.tls_back,
            tls_front: cfg.tls_front,
            pki,
            sent: [0; 2],
            clock: 0,
            ghosts: Vec::new(),
            accepted_before: 0,
        };
        if ghosts {
            h.start_ghosts(busy)?;
        }
        Ok(h)
    }

    /// The model's other sessions, as real sessions through the ghost
    /// listener, each holding the slot of a server the initial state says
    /// is busy. One ghost connects per server, in server order, so that the
    /// balancer's cursor comes back where the model's starts; then the
    /// ghosts of the servers that are free end.
    fn start_ghosts(&mut self, busy: [bool; 2]) -> io::Result<()> {
        let entry = self.proxy.addrs()[1];
        for i in 0..self.servers.len() {
            let client = TcpStream::connect(entry)?;
            client.set_nonblocking(true)?;
            // Accepted, a server picked, its connect held; then released.
            self.run_proxy()?;
            self.proxy.release_connects();
            self.run_proxy()?;
            let deadline = Instant::now() + HANG_GUARD;
            let server = loop {
                if let Some(s) = self.servers[i].try_accept() {
                    break s;
                }
                if Instant::now() > deadline {
                    return Err(io::Error::other(format!("ghost {i} never reached server {i}")));
                }
                std::thread::yield_now();
            };
            self.ghosts.push(Some((client, server)));
        }
        for i in (0..self.servers.len()).filter(|&i| !busy[i]) {
            self.end_ghost(i)?;
        }
        self.run_proxy()?;
        let live = self.proxy.cores_on(1);
        let want = busy.iter().take(self.servers.len()).filter(|&&b| b).count();
        if live.len() != want || live.iter().any(|c| c.si_back != SiState::Est) {
            return Err(io::Error::other(format!(
                "{} ghost sessions established where the model has {want}",
                live.iter().filter(|c| c.si_back == SiState::Est).count()
            )));
        }
        // The ghosts' own log lines are not the replayed session's.
        let _ = self.proxy.take_records();
        self.accepted_before = self.proxy.stats().accepted;
        Ok(())
    }

    /// The ghost on server `i` ends (its client aborts): at its next turn
    /// the proxy closes that session and releases the slot through the
    /// core's `backend::release`, which hands it to the oldest waiter. This
    /// is the model's "a slot frees". False if no ghost holds that slot.
    fn end_ghost(&mut self, i: usize) -> io::Result<bool> {
        let Some((client, server)) = self.ghosts.get_mut(i).and_then(Option::take) else { return Ok(false) };
        socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO))?;
        drop(client);
        drop(server);
        Ok(true)
    }

    /// The replayed session's log records since the last call (the ghosts'
    /// are left out).
    fn take_records(&self) -> Vec<connseq::runtime::SessionRecord> {
        self.proxy.take_records().into_iter().filter(|r| r.listener != GHOST).collect()
    }

    /// Whether the proxy accepted the replayed client yet.
    fn accepted(&self) -> bool {
        self.proxy.stats().accepted > self.accepted_before
    }

    /// The client connects (the model's initial state: a connection accepted).
    fn connect_client(&mut self) -> io::Result<()> {
        let c = TcpStream::connect(self.addr)?;
        c.set_nodelay(true)?;
        c.set_nonblocking(true)?;
        self.client = Some(c);
        self.client_connected = true;
        Ok(())
    }

    fn sock(&mut self, who: Who) -> Option<&mut TcpStream> {
        match who {
            Who::Client => self.client.as_mut(),
            Who::Server => self.server.as_mut(),
        }
    }

    /// Accepts the proxy's pending connection on any server port.
    fn accept_server(&mut self) -> io::Result<TcpStream> {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            if let Some(s) = self.accept_pending() {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no connection from the proxy"));
            }
            std::thread::yield_now();
        }
    }

    /// Another connection already waiting on a server port, if any.
    fn accept_pending(&mut self) -> Option<TcpStream> {
        self.servers.iter().find_map(ServerPort::try_accept)
    }

    /// Reads the PROXY header line or a reply whole (the model reads each as
    /// one chunk); anything else is what `read_one` says.
    fn read_expecting(&mut self, who: Who, expected: ReadObs) -> io::Result<ReadObs> {
        let want: Option<(&[u8], ReadObs)> = match expected {
            ReadObs::Header => Some((b"PROXY ", ReadObs::Header)),
            ReadObs::Reply => Some((b"", ReadObs::Reply)),
            _ => None,
        };
        let Some((prefix, obs)) = want else { return self.read_one(who) };
        let Some(s) = self.sock(who) else { return Ok(ReadObs::Nothing) };
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            match s.read(&mut byte) {
                Ok(0) => break,
                Ok(_) => {
                    line.push(byte[0]);
                    if byte[0] == b'\n' {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && line.is_empty() => return Ok(ReadObs::Nothing),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        break;
                    }
                    std::thread::yield_now();
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset && line.is_empty() => return Ok(ReadObs::Rst),
                Err(e) => return Err(e),
            }
        }
        let reply = matches!(&line[..], b"OK\n" | b"HTTP/1.0 200 OK\r\n");
        if line.is_empty() {
            return Ok(ReadObs::Fin);
        }
        if obs == ReadObs::Header && line.starts_with(prefix) {
            // `PROXY TCP4 SRC DST SPORT DPORT`: the source is the third
            // field; with --accept-proxy it is the one the client's header
            // gave, otherwise the client's own address.
            let text = String::from_utf8_lossy(&line);
            let source = text.split(' ').nth(2).unwrap_or("");
            return Ok(if source == self.forwarded_source { obs } else { ReadObs::HeaderWithOtherSource });
        }
        if line.starts_with(prefix) && reply {
            if obs == ReadObs::Reply && line.as_slice() == b"HTTP/1.0 200 OK\r\n" {
                // The monitor reply's empty line.
                let mut rest = [0u8; 2];
                let _ = s.read_exact(&mut rest);
            }
            return Ok(obs);
        }
        Ok(ReadObs::Data)
    }

    /// What the peer reads next: one TLS message through its TLS layer, a
    /// PROXY header or reply whole, or one chunk.
    fn read_next(&mut self, who: Who, expected: ReadObs, answer: bool) -> io::Result<ReadObs> {
        if !matches!(expected, ReadObs::Header | ReadObs::Reply) {
            let sock = match who {
                Who::Client => self.client.as_mut(),
                Who::Server => self.server.as_mut(),
            };
            if let (Some(sock), Some(tls)) = (sock, self.tls[who as usize].as_mut()) {
                return Ok(tls.read(sock, CHUNK, answer)?.into());
            }
        }
        if who == Who::Client && self.tls_front {
            self.skip_alert()?;
        }
        self.read_expecting(who, expected)
    }

    /// A client that sent garbage to a TLS listener gets rustls's alert
    /// before the end (RFC 8446 6): the model's proxy gives up without one,
    /// so it is read through here (the observation mapping says so).
    fn skip_alert(&mut self) -> io::Result<()> {
        let Some(s) = self.client.as_mut() else { return Ok(()) };
        let mut head = [0u8; 7];
        let deadline = Instant::now() + Duration::from_millis(200);
        loop {
            match s.peek(&mut head) {
                Ok(7) => break,
                Ok(n) if n > 0 && head[0] == 21 && Instant::now() < deadline => std::thread::yield_now(),
                _ => return Ok(()),
            }
        }
        if tls_peer::is_alert_record(&head) {
            s.read_exact(&mut head)?;
        }
        Ok(())
    }

    fn read_one(&mut self, who: Who) -> io::Result<ReadObs> {
        let Some(s) = self.sock(who) else { return Ok(ReadObs::Nothing) };
        let mut buf = [0u8; CHUNK];
        let mut got = 0;
        loop {
            match s.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(ReadObs::Fin),
                Ok(0) => return Ok(ReadObs::Data),
                Ok(n) => {
                    got += n;
                    if got == CHUNK {
                        return Ok(ReadObs::Data);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && got == 0 => return Ok(ReadObs::Nothing),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(ReadObs::Rst),
                Err(e) => return Err(e),
            }
        }
    }

    /// Turns until the real core stops changing (at most a few): the model's
    /// "proxy runs" is a run to quiescence.
    fn run_proxy(&mut self) -> io::Result<()> {
        let mut last = None;
        for _ in 0..4 {
            if !self.proxy.turn() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, TURN_LOST));
            }
            let now: Vec<String> = self.proxy.cores().iter().map(projection).collect();
            if last.as_ref() == Some(&now) {
                break;
            }
            last = Some(now);
        }
        Ok(())
    }
}

/// Replays `actions` from `init` in the model and on real sockets, and
/// compares them.
pub fn replay(sys: &System, init: &SysState, actions: &[SysAction]) -> Outcome {
    replay_with(sys, init, actions, Breakage::None)
}

/// [`replay`] against a deliberately broken runtime (`breakage`): the test
/// that shows the comparison catches a runtime that misbehaves.
pub fn replay_with(sys: &System, init: &SysState, actions: &[SysAction], breakage: Breakage) -> Outcome {
    if let Some(a) = actions.iter().find(|a| a.session().is_some_and(|s| s != 0)) {
        return Outcome::Unsupported(format!("{a}: the harness plays one session"));
    }
    let split = |a: &&SysAction| matches!(a, SysAction::ClientSendsHeader(_, p) | SysAction::ClientSendsHello(_, p) if *p != Piece::Whole);
    if let Some(a) = actions.iter().find(split) {
        return Outcome::Unsupported(format!("{a}: the harness writes handshake messages whole"));
    }
    let mut cfg = sys.session_config(init.first()).with_bugs(NoBugs);
    cfg.timeouts = trace_timeouts(actions);
    // A model buffer holds `buf_cap` chunks and a pipe `pipe_cap`: the real
    // ones hold as many chunks' bytes (a pipe's fill limit, `pipe-size`), so
    // "full" means the same on both sides.
    let buffer = CHUNK * usize::from(sys.cfg.buf_cap.max(1));
    let pipe = CHUNK * usize::from(sys.cfg.pipe_cap.max(1));
    let servers = usize::from(sys.cfg.servers());
    let mut h = match Harness::start(&cfg, &init.sess[0].env, init.backend.ghosts, servers, (buffer, pipe), breakage) {
        Ok(h) => h,
        Err(e) => return Outcome::HarnessError(format!("the harness could not start: {e}")),
    };
    match run(sys, init, actions, &mut h) {
        Ok(compared) => Outcome::Agrees { compared },
        Err(Stop::Diverged(d)) => Outcome::Diverges(d),
        Err(Stop::Unsupported(why)) => Outcome::Unsupported(why),
        Err(Stop::Explained(why)) => Outcome::Explained(why),
        Err(Stop::Io(e)) => Outcome::HarnessError(format!("harness I/O error: {e}")),
    }
}

enum Stop {
    Diverged(Divergence),
    Unsupported(String),
    Explained(String),
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Io(e)
    }
}

fn run(sys: &System, init: &SysState, actions: &[SysAction], h: &mut Harness) -> Result<usize, Stop> {
    let mut model = *init;
    let mut compared = 0;
    // Set where the model's kernel is more pessimistic than Linux: the model
    // delivers an RST that Linux drops (the peer sent its FIN, the proxy had
    // sent its own, then the peer closed or aborted: on Linux both FINs ended
    // the connection and the RST finds no socket), or it destroys data and a
    // FIN that Linux keeps (an RST provoked by sending to a peer that closed
    // with a FIN); or the proxy's TLS session tickets, which the model does
    // not have, reach a client that had closed, whose kernel answers with an
    // RST. A later difference is explained, not a divergence: the step and
    // the reason.
    let mut rst_dropped: Option<(usize, &str)> = None;
    const KEPT: &str = "the model's kernel resets what Linux keeps (an RST after both FINs, or provoked by data sent \
                        to a peer that closed with a FIN)";
    const TICKETS: &str = "the proxy's TLS 1.3 session tickets, which the model does not send, reached a client that \
                           had closed, and its kernel answered with an RST";
    // A timer fired since the proxy's last turn: the model handles a firing
    // at once, the runtime at its next turn.
    // The timers fired since the proxy's last turn: the model handles a
    // firing at once, the runtime at its next turn, in deadline order.
    let mut fired_since_turn: Vec<TimerKind> = Vec::new();
    // A slot freed since the proxy's last turn: the runtime hands it over
    // and runs the waiting session at once, when it reads the message.
    let mut slot_freed_since_turn = false;
    // The client's RST came since the proxy's last turn: the runtime reads
    // its inputs in the order they came, so the waiting session reads the
    // RST (and leaves the queue, `CQ`) before the ghost that freed a slot
    // after it ends; the model hands the slot over at once, before the proxy
    // reads (`CC`). A FIN or a close reads the same either way.
    let mut client_ended_since_turn: Option<SysAction> = None;
    h.connect_client()?;
    let mut log = Vec::new();
    for (i, &a) in actions.iter().enumerate() {
        log.clear();
        let next = sys.step(&model, a, Some(&mut log));
        if a == SysAction::ProxyRuns(0) && rst_dropped.is_none() {
            for who in [Who::Client, Who::Server] {
                // The proxy sent to a peer that had closed with a FIN: the
                // model resets the proxy's incoming wire (data and FIN gone);
                // Linux keeps both and reports EPIPE (kernel_axioms.rs:
                // data_for_a_closed_socket_after_its_fin_arrived_is_answered_with_rst_seen_as_epipe).
                let p = model.sess[0].peer(who);
                if p.closed && !p.reset_sent && !model.sess[0].up(who).rst && next.sess[0].up(who).rst {
                    rst_dropped = Some((i, KEPT));
                }
            }
            // The real proxy's front handshake ends by sending tickets.
            let c = model.sess[0].peer(Who::Client);
            if model.sess[0].exec.tls[0] < TLS_UP && next.sess[0].exec.tls[0] == TLS_UP && c.closed && !c.reset_sent {
                rst_dropped = Some((i, TICKETS));
            }
        }
        if let SysAction::PeerAborts(0, Who::Client) = a {
            client_ended_since_turn.get_or_insert(a);
        }
        if let SysAction::PeerCloses(0, who) | SysAction::PeerAborts(0, who) = a {
            let proxy_fin = model.sess[0].core.conn(who.side()).ops.done(Op::CtrlShutw);
            if model.sess[0].peer(who).shut_wr && proxy_fin && rst_dropped.is_none() {
                rst_dropped = Some((i, KEPT));
            }
        }
        let diverge = |what: &str, expected: String, actual: String| match rst_dropped {
            Some((at, why)) => Stop::Explained(format!("step {i}: after step {at} {why}")),
            None => Stop::Diverged(Divergence { step: i, action: a.to_string(), what: what.into(), expected, actual }),
        };
        match a {
            SysAction::ProxyRuns(0) => {
                // A connect the proxy starts now meets the answer the trace
                // gives it later.
                let accept = actions[i + 1..]
                    .iter()
                    .find_map(|x| match x {
                        SysAction::ServerAccepts(0) => Some(true),
                        SysAction::ServerRefuses(0) => Some(false),
                        _ => None,
                    })
                    .unwrap_or(true);
                for s in &mut h.servers {
                    s.answer(accept)?;
                }
                // What each peer's wire can still take in the model: the
                // real proxy's writes are held to it (the send-window shim).
                // A peer that closed takes no data: the model's kernel answers
                // what the proxy sends it with an RST, and no wire fills, so
                // the real kernel decides, one chunk per send as the model.
                for who in [Who::Client, Who::Server] {
                    let x = &model.sess[0];
                    if x.peer(who).closed {
                        h.proxy.set_send_window_closed(who.side());
                    } else {
                        let room = sys.cfg.wire_cap.saturating_sub(x.down(who).q.len());
                        h.proxy.set_send_window(who.side(), usize::from(room));
                    }
                }
                if let Err(e) = h.run_proxy() {
                    // A runtime that hangs or whose loop died departs from
                    // the model as surely as a wrong state.
                    return Err(Stop::Diverged(Divergence {
                        step: i,
                        action: a.to_string(),
                        what: "the proxy's turn".into(),
                        expected: "a turn that ends".into(),
                        actual: e.to_string(),
                    }));
                }
                fired_since_turn.clear();
                slot_freed_since_turn = false;
                client_ended_since_turn = None;
                let real = h.proxy.cores_on(0);
                match (next.sess[0].core.is_closed(), real.first()) {
                    (false, Some(core)) => {
                        let (e, r) = (projection(&next.sess[0].core), projection(core));
                        if e != r {
                            return Err(diverge("the core's state", e, r));
                        }
                    }
                    (true, None) => {
                        let recs = h.take_records();
                        let code = recs.first().map(|r| r.termination.to_string()).unwrap_or_default();
                        if code != next.sess[0].core.termination().to_string() {
                            return Err(diverge(
                                "the termination code",
                                next.sess[0].core.termination().to_string(),
                                code,
                            ));
                        }
                        // The log's connect count is the attempts the
                        // model's server saw.
                        let connects = recs.first().map_or(0, |r| r.connects);
                        if connects != u32::from(next.sess[0].env.attempts) {
                            return Err(diverge(
                                "the connect attempts in the log",
                                next.sess[0].env.attempts.to_string(),
                                connects.to_string(),
                            ));
                        }
                    }
                    (false, None) => {
                        // Before the proxy accepted there is no real core: the
                        // model's initial state is an accepted connection.
                        if h.accepted() {
                            return Err(diverge("the session", "alive".into(), "ended".into()));
                        }
                    }
                    (true, Some(core)) => {
                        return Err(diverge("the session", "ended".into(), projection(core)));
                    }
                }
                // Each server counts the slots the model's backend counts
                // (the replayed session's and the ghosts'): a slot kept or
                // given back twice shows here before any client waits.
                let servers = usize::from(sys.cfg.servers());
                let expected: Vec<u32> = next.backend.servers[..servers].iter().map(|s| s.active).collect();
                let real = h.proxy.server_slots(0);
                if real != expected {
                    return Err(diverge("the server slots taken", format!("{expected:?}"), format!("{real:?}")));
                }
                // A channel holds a buffer or a pipe only while the model
                // says data is in flight in it: an idle connection holds
                // none, and an ended session has given everything back.
                let alive = !next.sess[0].core.is_closed();
                let count = |f: fn(&Channel) -> Fill| {
                    [&next.sess[0].core.req, &next.sess[0].core.res]
                        .into_iter()
                        .filter(|c| alive && f(c) != Fill::Empty)
                        .count()
                };
                let expected = Held { buffers: count(|c| c.buf), pipes: count(|c| c.pipe) };
                let held = h.proxy.held();
                if held != expected {
                    return Err(diverge("the buffers and pipes held", format!("{expected:?}"), format!("{held:?}")));
                }
                compared += 1;
                // The session tickets a TLS 1.3 server sends after its
                // handshake are no model message: while the model says
                // nothing waits for the client, its TLS layer takes them.
                let w = next.sess[0].down(Who::Client);
                if let (true, false, false, Some(sock), Some(tls)) =
                    (w.q.is_empty(), w.fin, w.rst, h.client.as_mut(), h.tls[Who::Client as usize].as_mut())
                {
                    tls.read_through_tickets(sock)?;
                }
            }
            SysAction::PeerSends(0, who) => {
                let n = h.sent[who as usize];
                h.sent[who as usize] += 1;
                let bytes = chunk(who, n);
                // A peer whose connection was reset may fail to send: the
                // model's wire then drops the chunk too.
                let (sock, tls) = match who {
                    Who::Client => (h.client.as_mut(), &mut h.tls[0]),
                    Who::Server => (h.server.as_mut(), &mut h.tls[1]),
                };
                match (sock, tls.as_mut()) {
                    (Some(s), Some(tls)) => {
                        let _ = tls.send(s, &bytes);
                    }
                    (Some(s), None) => {
                        let _ = s.write_all(&bytes);
                    }
                    (None, _) => {}
                }
            }
            SysAction::PeerReads(0, who) => {
                let expected = peer_obs(&model, &next, who);
                let real = h.read_next(who, expected, !model.sess[0].peer(who).shut_wr)?;
                if expected == ReadObs::Rst && !matches!(real, ReadObs::Nothing | ReadObs::Rst | ReadObs::Alert) {
                    // The model's RST destroys everything its wire held; on
                    // Linux a receiver still reads what had arrived before
                    // the RST (kernel_axioms.rs:
                    // rst_loses_what_the_receiver_had_not_received_not_what_it_had_not_read).
                    return Err(Stop::Explained(format!(
                        "step {i} ({a}): the model's RST destroyed a {} Linux had already delivered",
                        match real {
                            ReadObs::Fin => "FIN",
                            ReadObs::Data => "chunk",
                            _ => "handshake message",
                        }
                    )));
                }
                if real != expected {
                    return Err(diverge(&format!("what the {who} read"), format!("{expected:?}"), format!("{real:?}")));
                }
                compared += 1;
            }
            SysAction::PeerShutsWrite(0, who) => {
                // A TLS peer that finished its handshake says close_notify
                // first, as the model's does.
                let tls_up = model.sess[0].peer(who).tls_up;
                let (sock, tls) = match who {
                    Who::Client => (h.client.as_mut(), &mut h.tls[0]),
                    Who::Server => (h.server.as_mut(), &mut h.tls[1]),
                };
                if let Some(s) = sock {
                    if let (true, Some(tls)) = (tls_up, tls.as_mut()) {
                        let _ = tls.close_notify(s);
                    }
                    let _ = s.shutdown(std::net::Shutdown::Write);
                }
            }
            SysAction::PeerCloses(0, who) => {
                h.tls[who as usize] = None;
                match who {
                    Who::Client => h.client = None,
                    Who::Server => h.server = None,
                }
            }
            SysAction::PeerAborts(0, who) => {
                h.tls[who as usize] = None;
                let s = match who {
                    Who::Client => h.client.take(),
                    Who::Server => h.server.take(),
                };
                if let Some(s) = s {
                    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
                }
            }
            SysAction::ServerAccepts(0) => {
                // Earlier attempts the proxy abandoned (a connect timeout)
                // may still wait in the backlog, completed by the kernel:
                // the newest connection is the current attempt.
                let mut s = h.accept_server()?;
                while let Some(newer) = h.accept_pending() {
                    s = newer;
                }
                h.server = Some(s);
                h.tls[Who::Server as usize] = match (h.tls_back, h.pki) {
                    (true, Some(pki)) => Some(TlsPeer::server(pki)?),
                    _ => None,
                };
                h.proxy.release_connects();
            }
            SysAction::ServerRefuses(0) => {
                // The port was bound without listening when the proxy
                // connected: the kernel refused; the proxy learns it now.
                h.proxy.release_connects();
            }
            SysAction::TimerFires(0, kind) => {
                if !h.accepted() {
                    return Err(Stop::Unsupported(
                        "a timer fires before the proxy's first turn (the runtime runs a session as it accepts it)"
                            .into(),
                    ));
                }
                let Some(core) = h.proxy.cores_on(0).first().copied() else {
                    return Err(diverge("the session", format!("alive with timer {kind} armed"), "ended".into()));
                };
                let Some(deadline) = core.timers.deadline(kind) else {
                    if !fired_since_turn.is_empty() {
                        return Err(Stop::Unsupported(format!(
                            "timer {kind} was armed by a timer that fired since the proxy's last turn (the model \
                             handles a firing at once, the runtime at its next turn)"
                        )));
                    }
                    return Err(diverge(&format!("timer {kind}"), "armed".into(), "not armed".into()));
                };
                if fired_since_turn.contains(&kind) {
                    return Err(Stop::Unsupported(format!(
                        "timer {kind} fires twice between two turns of the proxy (re-armed by its own firing, which \
                         the runtime handles at its next turn)"
                    )));
                }
                if slot_freed_since_turn {
                    return Err(Stop::Unsupported(format!(
                        "timer {kind} fires after a slot freed since the proxy's last turn (the runtime runs the \
                         session it hands the slot to at once, before the timer)"
                    )));
                }
                // A clock fires every timer due when it moves: the fired one
                // must be due strictly before every other armed timer; those
                // that fired since the last turn are due already and go first,
                // in the order they fired.
                let other = TimerKind::ALL
                    .into_iter()
                    .filter(|&k| k != kind && !fired_since_turn.contains(&k))
                    .filter_map(|k| core.timers.deadline(k))
                    .min();
                if other.is_some_and(|d| d <= deadline) {
                    return Err(Stop::Unsupported(format!(
                        "the model fires {kind} while another timer is due first or at the same time (a clock fires \
                         the earliest first)"
                    )));
                }
                fired_since_turn.push(kind);
                let by = deadline.saturating_sub(h.clock);
                h.clock += by;
                h.proxy.advance(Duration::from_millis(by));
            }
            SysAction::ClientSendsHeader(0, Piece::Whole) | SysAction::ClientSendsGarbage(0) => {
                let bytes = if a == SysAction::ClientSendsHeader(0, Piece::Whole) { HEADER } else { GARBAGE };
                if let Some(s) = h.sock(Who::Client) {
                    let _ = s.write_all(bytes);
                }
            }
            SysAction::SlotFrees(server) => {
                if !fired_since_turn.is_empty() {
                    return Err(Stop::Unsupported(format!(
                        "{a} after a timer fired since the proxy's last turn (the model handles the firing at once, \
                         the runtime at its next turn, after it hands over the slot)"
                    )));
                }
                let waiting = model.sess[0].core.si_back == SiState::Que;
                if let (true, Some(end)) = (waiting, client_ended_since_turn) {
                    return Err(Stop::Unsupported(format!(
                        "{a} while the waiting session's client RST ({end}) is unread: the runtime reads inputs in \
                         the order they came, the model hands the slot over before the proxy reads"
                    )));
                }
                slot_freed_since_turn |= waiting;
                if !h.end_ghost(usize::from(server))? {
                    return Err(Stop::Io(io::Error::other(format!("{a}: no ghost session holds that slot"))));
                }
            }
            SysAction::ClientSendsHello(0, Piece::Whole) => {
                let Some(pki) = h.pki else {
                    return Err(Stop::Unsupported(format!("{a}: the listener has no TLS")));
                };
                let mut tls = TlsPeer::client(pki)?;
                if let Some(s) = h.client.as_mut() {
                    let _ = tls.flush(s);
                }
                h.tls[Who::Client as usize] = Some(tls);
            }
            // Refused up front by `replay_with`: another session, or a
            // handshake message in pieces.
            _ => return Err(Stop::Unsupported(format!("{a}: not played by this harness"))),
        }
        model = next;
    }
    Ok(compared)
}

#[cfg(test)]
mod unsupported_tests {
    use super::*;

    #[test]
    fn every_named_reason_is_told_apart_and_an_unnamed_one_is_not_a_reason() {
        for (name, words) in UNSUPPORTED {
            assert_eq!(unsupported_class(&format!("step 3: {words} (detail)")), Some(*name), "{words}");
        }
        assert_eq!(unsupported_class("the harness could not read the server's answer"), None);
    }
}
