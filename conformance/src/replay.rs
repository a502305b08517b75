//! Replay of a model trace against the real proxy on real sockets.
//!
//! The harness plays the client and the server with loopback sockets and
//! runs the proxy runtime in-process, stepped (`Options::stepped`: the event
//! loop runs only when granted a turn, until it has nothing left to do, which
//! is the model's "proxy runs") on a manual clock, with the connect shim
//! (`Options::hold_connects`: a server connection completes at the model's
//! "server accepts" or "server refuses", not when the loopback kernel would).
//! Each environment action of the trace is applied to the real sockets:
//!
//! | model action | real action |
//! |---|---|
//! | proxy runs | one turn of the event loop, then turns until the cores stop changing |
//! | peer sends a chunk | `write` of the chunk's 8 bytes (`c`/`s`, its number, padding) |
//! | peer reads | one non-blocking read of at most one chunk: data, EOF, a reset, or nothing |
//! | peer shuts its write side | `shutdown(SHUT_WR)` |
//! | peer closes | `close()` (the kernel resets if input is unread, as the model assumes) |
//! | peer aborts | `SO_LINGER {1, 0}` then `close()`: an RST |
//! | server accepts | `accept()` on the server's listener, then the attempt is released |
//! | server refuses | the attempt is released; the server's port was bound without listening when the proxy connected (the harness reads the answer ahead in the trace), so the kernel refused it: `SO_ERROR` is `ECONNREFUSED` |
//! | timer fires | the manual clock moves to that timer's deadline in the real core |
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
//! timer; a clock fires the earliest first), and the features this harness
//! does not drive yet (TLS hellos, PROXY headers, garbage, health, monitor,
//! rules, the queue).

use connseq::config::{BackendConfig, GlobalConfig, ListenerConfig, ListenerOptions, ProxyConfig, ServerConfig};
use connseq::runtime::{self, Breakage, Options, RunningProxy};
use connseq_model::check::{SysAction, SysState, System, Who};
use connseq_model::core::{Dir, Op, Session, SessionConfig, Side, TimerKind};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Bytes of one model chunk on the wire.
pub const CHUNK: usize = 8;

const HANG_GUARD: Duration = Duration::from_secs(30);

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

/// Why this harness cannot play traces of `init`'s configuration, if so.
fn unsupported(sys: &System, init: &SysState) -> Option<String> {
    let e = &init.env;
    let c = sys.session_config(init);
    if e.health || e.monitor_match || e.tls_front || e.tls_back || e.reject != 0 || e.busy != [false, false] {
        return Some("the environment needs the handshake layer or the queue".into());
    }
    if c.accept_proxy || c.send_proxy || c.tls_front || c.tls_back || c.conn_rules || c.src_rules {
        return Some("the listener needs the handshake layer".into());
    }
    None
}

fn peer_obs(before: &SysState, after: &SysState, who: Who) -> ReadObs {
    let (b, a) = (before.peer(who), after.peer(who));
    if a.got > b.got {
        ReadObs::Data
    } else if a.got_rst && !b.got_rst {
        ReadObs::Rst
    } else if a.got_fin && !b.got_fin {
        ReadObs::Fin
    } else {
        ReadObs::Nothing
    }
}

/// The proxy's configuration for the model's session configuration: one
/// listener, one server per model server, the model's timeouts.
fn proxy_config(cfg: &SessionConfig, servers: &[SocketAddr]) -> ProxyConfig {
    let ms = Duration::from_millis;
    let t = &cfg.timeouts;
    let mut backend =
        BackendConfig::new("model", servers.iter().map(|&addr| ServerConfig { addr, maxconn: 0 }).collect());
    backend.balance = cfg.balance;
    backend.retries = cfg.retries;
    backend.redispatch = cfg.redispatch;
    backend.queue = cfg.queue;
    backend.timeouts.connect = ms(t.connect);
    backend.timeouts.server = ms(t.server);
    backend.timeouts.server_fin = ms(t.server_fin);
    backend.timeouts.queue = ms(t.queue);
    backend.timeouts.turn_around = if cfg.turn_around { ms(t.turn_around) } else { Duration::ZERO };
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
        options: ListenerOptions { splice: cfg.splice, ..ListenerOptions::default() },
    };
    ProxyConfig {
        listeners: vec![listener],
        global: GlobalConfig { threads: 1, maxconn: 0, ..GlobalConfig::default() },
    }
}

/// A model server's port: listening (the next attempt will be accepted) or
/// bound without listening (the next attempt will be refused: the kernel
/// answers the SYN with an RST, as a closed port does).
struct ServerPort {
    addr: SocketAddr,
    listener: Option<TcpListener>,
    refuser: Option<socket2::Socket>,
}

impl ServerPort {
    fn new() -> io::Result<ServerPort> {
        let l = Self::listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        Ok(ServerPort { addr: l.local_addr()?, listener: Some(l), refuser: None })
    }

    fn socket(addr: SocketAddr) -> io::Result<socket2::Socket> {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        s.set_reuse_address(true)?;
        s.bind(&addr.into())?;
        Ok(s)
    }

    fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
        let s = Self::socket(addr)?;
        s.listen(16)?;
        let l: TcpListener = s.into();
        l.set_nonblocking(true)?;
        Ok(l)
    }

    /// Makes the port answer the next SYN by accepting (`true`) or refusing.
    fn answer(&mut self, accept: bool) -> io::Result<()> {
        if accept && self.listener.is_none() {
            self.refuser = None;
            self.listener = Some(Self::listen(self.addr)?);
        } else if !accept && self.refuser.is_none() {
            self.listener = None;
            self.refuser = Some(Self::socket(self.addr)?);
        }
        Ok(())
    }
}

/// The real side of a replay.
struct Harness {
    proxy: RunningProxy,
    addr: SocketAddr,
    servers: Vec<ServerPort>,
    client: Option<TcpStream>,
    client_connected: bool,
    server: Option<TcpStream>,
    sent: [u8; 2],
    clock: u64,
}

fn chunk(who: Who, n: u8) -> [u8; CHUNK] {
    let tag = match who {
        Who::Client => b'c',
        Who::Server => b's',
    };
    [tag, n, b'-', b'-', b'-', b'-', b'-', b'\n']
}

impl Harness {
    fn start(cfg: &SessionConfig, servers: usize, buffer: usize, breakage: Breakage) -> io::Result<Harness> {
        let servers: Vec<ServerPort> = (0..servers).map(|_| ServerPort::new()).collect::<io::Result<_>>()?;
        let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
        let options =
            Options { manual_clock: true, record_sessions: true, stepped: true, hold_connects: true, breakage };
        let mut config = proxy_config(cfg, &addrs);
        config.global.buffer_size = buffer;
        let proxy = runtime::spawn_with(&config, options)?;
        let addr = proxy.addrs()[0];
        Ok(Harness {
            proxy,
            addr,
            servers,
            client: None,
            client_connected: false,
            server: None,
            sent: [0; 2],
            clock: 0,
        })
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

    /// Accepts the proxy's pending connection on any server listener.
    fn accept_server(&mut self) -> io::Result<TcpStream> {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            for l in self.servers.iter().filter_map(|s| s.listener.as_ref()) {
                match l.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(true)?;
                        s.set_nodelay(true)?;
                        return Ok(s);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no connection from the proxy"));
            }
            std::thread::yield_now();
        }
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
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the proxy's turn did not end"));
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
    if let Some(why) = unsupported(sys, init) {
        return Outcome::Unsupported(why);
    }
    let cfg = *sys.session_config(init);
    // A model buffer holds `buf_cap` chunks: the real one holds as many
    // chunks' bytes, so "full" means the same on both sides.
    let buffer = CHUNK * usize::from(sys.cfg.buf_cap.max(1));
    let mut h = match Harness::start(&cfg, usize::from(sys.cfg.servers()), buffer, breakage) {
        Ok(h) => h,
        Err(e) => return Outcome::Unsupported(format!("the harness could not start: {e}")),
    };
    match run(sys, init, actions, &mut h) {
        Ok(compared) => Outcome::Agrees { compared },
        Err(Stop::Diverged(d)) => Outcome::Diverges(d),
        Err(Stop::Unsupported(why)) => Outcome::Unsupported(why),
        Err(Stop::Explained(why)) => Outcome::Explained(why),
        Err(Stop::Io(e)) => Outcome::Unsupported(format!("harness I/O error: {e}")),
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
    h.connect_client()?;
    for (i, &a) in actions.iter().enumerate() {
        let next = sys.step(&model, a, None);
        let diverge = |what: &str, expected: String, actual: String| {
            Stop::Diverged(Divergence { step: i, action: a.to_string(), what: what.into(), expected, actual })
        };
        match a {
            SysAction::ProxyRuns => {
                // A connect the proxy starts now meets the answer the trace
                // gives it later.
                let accept = actions[i + 1..]
                    .iter()
                    .find_map(|x| match x {
                        SysAction::ServerAccepts => Some(true),
                        SysAction::ServerRefuses => Some(false),
                        _ => None,
                    })
                    .unwrap_or(true);
                for s in &mut h.servers {
                    s.answer(accept)?;
                }
                h.run_proxy()?;
                let real = h.proxy.cores();
                match (next.core.is_closed(), real.first()) {
                    (false, Some(core)) => {
                        let (e, r) = (projection(&next.core), projection(core));
                        if e != r {
                            return Err(diverge("the core's state", e, r));
                        }
                    }
                    (true, None) => {
                        let recs = h.proxy.take_records();
                        let code = recs.first().map(|r| r.termination.to_string()).unwrap_or_default();
                        if code != next.core.termination().to_string() {
                            return Err(diverge("the termination code", next.core.termination().to_string(), code));
                        }
                    }
                    (false, None) => {
                        // Before the proxy accepted there is no real core: the
                        // model's initial state is an accepted connection.
                        if h.proxy.stats().accepted > 0 {
                            return Err(diverge("the session", "alive".into(), "ended".into()));
                        }
                    }
                    (true, Some(core)) => {
                        return Err(diverge("the session", "ended".into(), projection(core)));
                    }
                }
                compared += 1;
            }
            SysAction::PeerSends(who) => {
                let n = h.sent[who as usize];
                h.sent[who as usize] += 1;
                let bytes = chunk(who, n);
                if let Some(s) = h.sock(who) {
                    // A peer whose connection was reset may fail to send: the
                    // model's wire then drops the chunk too.
                    let _ = s.write_all(&bytes);
                }
            }
            SysAction::PeerReads(who) => {
                let real = h.read_one(who)?;
                let expected = peer_obs(&model, &next, who);
                if expected == ReadObs::Rst && matches!(real, ReadObs::Fin | ReadObs::Data) {
                    // The model's RST destroys everything its wire held; on
                    // Linux a receiver still reads what had arrived before
                    // the RST (kernel_axioms.rs:
                    // rst_loses_what_the_receiver_had_not_received_not_what_it_had_not_read).
                    return Err(Stop::Explained(format!(
                        "step {i} ({a}): the model's RST destroyed a {} Linux had already delivered",
                        if real == ReadObs::Fin { "FIN" } else { "chunk" }
                    )));
                }
                if real != expected {
                    return Err(diverge(&format!("what the {who} read"), format!("{expected:?}"), format!("{real:?}")));
                }
                compared += 1;
            }
            SysAction::PeerShutsWrite(who) => {
                if let Some(s) = h.sock(who) {
                    let _ = s.shutdown(std::net::Shutdown::Write);
                }
            }
            SysAction::PeerCloses(who) => match who {
                Who::Client => h.client = None,
                Who::Server => h.server = None,
            },
            SysAction::PeerAborts(who) => {
                let s = match who {
                    Who::Client => h.client.take(),
                    Who::Server => h.server.take(),
                };
                if let Some(s) = s {
                    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
                }
            }
            SysAction::ServerAccepts => {
                let s = h.accept_server()?;
                h.server = Some(s);
                h.proxy.release_connects();
            }
            SysAction::ServerRefuses => {
                // The port was bound without listening when the proxy
                // connected: the kernel refused; the proxy learns it now.
                h.proxy.release_connects();
            }
            SysAction::TimerFires(kind) => {
                if h.proxy.stats().accepted == 0 {
                    return Err(Stop::Unsupported(
                        "a timer fires before the proxy's first turn (the runtime runs a session as it accepts it)"
                            .into(),
                    ));
                }
                let Some(core) = h.proxy.cores().first().copied() else {
                    return Err(diverge("the session", format!("alive with timer {kind} armed"), "ended".into()));
                };
                let Some(deadline) = core.timers.deadline(kind) else {
                    return Err(diverge(&format!("timer {kind}"), "armed".into(), "not armed".into()));
                };
                // A clock fires the earliest deadline first, and timers due
                // together in the core's order (`TimerKind::ALL`).
                let first = TimerKind::ALL
                    .into_iter()
                    .filter_map(|k| core.timers.deadline(k).map(|d| (d, k as u8, k)))
                    .min()
                    .map(|(_, _, k)| k);
                if first != Some(kind) {
                    return Err(Stop::Unsupported(format!(
                        "the model fires {kind} while another timer is due first (a clock fires the earliest first)"
                    )));
                }
                let by = deadline.saturating_sub(h.clock);
                h.clock += by;
                h.proxy.advance(Duration::from_millis(by));
            }
            SysAction::ClientSendsHeader
            | SysAction::ClientSendsHello
            | SysAction::ClientSendsGarbage
            | SysAction::SlotFrees(_) => {
                return Err(Stop::Unsupported(format!("{a}: not driven by this harness yet")));
            }
        }
        model = next;
    }
    Ok(compared)
}
