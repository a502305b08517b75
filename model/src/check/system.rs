//! The closed system the checker explores: client endpoint, kernel wires,
//! the proxy (the core's [`Session`] plus an abstract runtime that executes
//! its actions), kernel wires, server endpoint, timers.
//!
//! ```text
//!   client ==front.up==>  [front conn | req channel | back conn] ==back.down==> server
//!   client <==front.down== [front conn | res channel | back conn] <==back.up==  server
//! ```
//!
//! Environment actions are nondeterministic (peers send, half-close, close,
//! abort, read or not; the server accepts, refuses or stays silent; slots
//! free up; armed timers fire). The proxy's action runs the core to
//! quiescence, as one turn of the runtime's event loop does: take the next
//! action from [`Session::poll_action`], execute it against the abstract
//! kernel, feed the outcome back, repeat.
//!
//! Checks that need history (an operation moving backwards, a chunk out of
//! order, an RST that destroyed unread data) are made on every step and
//! recorded as violation bits ([`Violation`]); the properties read them.

use super::config::{Feature, ModelConfig};
use super::kernel::{Chunk, Fifo, Wire};
use crate::core::trace::{self, SiMove};
use crate::core::{
    backend, Action, ConnState, DataLayer, Dir, FdState, Fill, Op, Outcome, Pick, RuleStage, ServerView, Session,
    SessionConfig, SiState, Side, Sink, Source, TimerKind,
};
use std::fmt;

/// The two peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Who {
    /// The client.
    Client,
    /// The server.
    Server,
}

impl Who {
    /// The proxy side facing this peer.
    pub const fn side(self) -> Side {
        match self {
            Who::Client => Side::Front,
            Who::Server => Side::Back,
        }
    }

    /// The other peer.
    pub const fn other(self) -> Who {
        match self {
            Who::Client => Who::Server,
            Who::Server => Who::Client,
        }
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Who::Client => "client",
            Who::Server => "server",
        })
    }
}

/// What one endpoint did and saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Data chunks sent.
    pub sent: u8,
    /// Data chunks received, in order.
    pub got: u8,
    /// Client: sent its PROXY header (or garbage in its place).
    pub hdr_sent: bool,
    /// Client: sent its TLS hello (or garbage in its place). Server: answered one.
    pub hello_sent: bool,
    /// The TLS handshake completed from this peer's point of view.
    pub tls_up: bool,
    /// Sent garbage (a protocol violation).
    pub garbage: bool,
    /// shutdown(SHUT_WR) (or close) done: a FIN follows its data.
    pub shut_wr: bool,
    /// close() called.
    pub closed: bool,
    /// Its close sent an RST (SO_LINGER 0, or unread input).
    pub reset_sent: bool,
    /// Saw the FIN (read0).
    pub got_fin: bool,
    /// Saw an RST.
    pub got_rst: bool,
    /// Client: received the health/monitor reply.
    pub got_reply: bool,
    /// Received a TLS close_notify.
    pub got_cn: bool,
    /// Server: read the client's Finished (its side of the handshake is complete).
    pub got_finished: bool,
    /// Server: received the PROXY header.
    pub got_hdr: bool,
    /// Received anything at all.
    pub got_any: bool,
    /// A handshake with this peer failed (garbage, or a close mid-handshake).
    pub hs_broken: bool,
}

/// The world outside the session: listener mode, rule verdicts, servers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Env {
    /// The listener is in `mode health`.
    pub health: bool,
    /// The listener terminates TLS.
    pub tls_front: bool,
    /// The server speaks TLS.
    pub tls_back: bool,
    /// The client's address matches monitor-net.
    pub monitor_match: bool,
    /// Where the rules reject: 0 nowhere, 1 connection rules, 2 source rules.
    pub reject: u8,
    /// Other sessions fill server `i` (its maxconn is 1).
    pub busy: [bool; 2],
    /// Round-robin cursor.
    pub cursor: u8,
    /// The server our session holds a slot on.
    pub slot: Option<u8>,
    /// A SYN waits for the server's answer.
    pub syn: bool,
    /// The server accepted the current attempt.
    pub accepted: bool,
    /// The server refused the current attempt.
    pub refused: bool,
    /// SYNs the servers saw.
    pub attempts: u8,
    /// Some timer fired.
    pub timer_fired: bool,
    /// Something excused data loss happened: an abort, an RST, a refusal,
    /// garbage, a rejection, a timer.
    pub disturbed: bool,
}

/// The abstract runtime: what the real runtime holds (bytes in buffers and
/// pipes, open sockets, TLS state), as chunks and flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Exec {
    /// Channel buffers, indexed by [`Dir`].
    pub buf: [Fifo; 2],
    /// Channel pipes, indexed by [`Dir`].
    pub pipe: [Fifo; 2],
    /// Sockets open, indexed by [`Side`].
    pub fd_open: [bool; 2],
    /// TLS progress on each side, 0 to [`TLS_UP`]. Front (the proxy is the
    /// TLS server): 1 the hello read, 2 its flight queued, 3 the client's
    /// Finished read. Back (the proxy is the client): 1 the hello queued, 2
    /// the server's flight read, 3 the proxy's Finished queued.
    pub tls: [u8; 2],
    /// The PROXY header was parsed.
    pub hdr_ok: bool,
    /// Rule stages passed (bit 0 connection, bit 1 source).
    pub rules_ok: u8,
    /// Bytes of a PROXY header were seen.
    pub hdr_bytes: bool,
    /// Chunks moved from a wire into a channel, per direction.
    pub taken: [u8; 2],
    /// Chunks discarded (drain or Discard).
    pub dropped: u8,
    /// Server slots given back.
    pub released: u8,
    /// Something was queued towards the server on this connection.
    pub sent_back: bool,
    /// Chunks and FINs the proxy queued towards the peers (progress).
    pub pushed: u8,
}

/// [`Exec::tls`] of a side whose TLS handshake is complete.
pub const TLS_UP: u8 = 3;

/// A safety check made on every step; the bit is set when it fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Violation {
    /// A lower layer closed (or shut) before the layer above it.
    LayerOrder = 0,
    /// An I/O action on a socket already closed.
    IoOnClosedFd,
    /// An operation status moved backwards.
    OpBackwards,
    /// A peer received a chunk out of order, twice, or after a gap.
    ChunkOrder,
    /// A peer saw a FIN before every chunk sent before it.
    FinEarly,
    /// An RST of the proxy destroyed data a peer had not read.
    RstDestroyedData,
    /// Payload moved before every handshake handler finished.
    PayloadBeforeHandshake,
    /// Something other than the PROXY header came first on the server connection.
    ProxyHeaderNotFirst,
    /// A stream interface took a transition the note does not have.
    IllegalSiMove,
    /// More connect attempts than the retry budget allows.
    TooManyAttempts,
    /// A health or monitor check reached a server or got data.
    CheckLeaked,
    /// A rejected connection reached a server or got a reply.
    RejectLeaked,
    /// A step did not make progress (the model would have a cycle), or the
    /// proxy did not reach quiescence.
    NoProgress,
    /// A half-closed or draining connection had no timer bounding it.
    HalfClosedUnbounded,
    /// A TLS connection used a pipe.
    TlsSpliced,
    /// The core's fill levels disagree with the data the runtime holds.
    FillMismatch,
}

impl Violation {
    /// Every violation.
    pub const ALL: [Violation; 16] = [
        Violation::LayerOrder,
        Violation::IoOnClosedFd,
        Violation::OpBackwards,
        Violation::ChunkOrder,
        Violation::FinEarly,
        Violation::RstDestroyedData,
        Violation::PayloadBeforeHandshake,
        Violation::ProxyHeaderNotFirst,
        Violation::IllegalSiMove,
        Violation::TooManyAttempts,
        Violation::CheckLeaked,
        Violation::RejectLeaked,
        Violation::NoProgress,
        Violation::HalfClosedUnbounded,
        Violation::TlsSpliced,
        Violation::FillMismatch,
    ];
}

/// Events worth witnessing that leave no trace in the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Witness {
    /// A close_notify could not be sent and was retried.
    PostponedShutw = 0,
    /// Input was drained (active shutr) before a close.
    Drained,
    /// Data crossed through a pipe.
    Spliced,
    /// A connect attempt timed out.
    ConnectTimeout,
    /// A retry went to another server.
    Redispatched,
    /// A fin timer closed a half-closed side.
    FinTimeout,
    /// A session waited in the queue.
    Queued,
    /// The server closed while the client was still sending.
    ServerClosedEarly,
}

/// One state of the closed system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SysState {
    /// The proxy's session: the core.
    pub core: Session,
    /// The client.
    pub client: Peer,
    /// The server.
    pub server: Peer,
    /// Client to proxy.
    pub front_up: Wire,
    /// Proxy to client.
    pub front_down: Wire,
    /// Server to proxy.
    pub back_up: Wire,
    /// Proxy to server.
    pub back_down: Wire,
    /// The abstract runtime.
    pub exec: Exec,
    /// The world.
    pub env: Env,
    /// Violation bits.
    pub violations: u32,
    /// Witness bits.
    pub seen: u16,
    /// No action is enabled (derived; stored so properties need not recompute it).
    pub terminal: bool,
}

impl Env {
    /// Index of the listener variant: health, TLS front, TLS back.
    pub const fn variant(&self) -> usize {
        (self.health as usize) | (self.tls_front as usize) << 1 | (self.tls_back as usize) << 2
    }
}

impl SysState {
    /// Whether violation `v` happened.
    pub fn violated(&self, v: Violation) -> bool {
        self.violations & (1 << v as u32) != 0
    }

    fn violate(&mut self, v: Violation) {
        self.violations |= 1 << v as u32;
    }

    /// Whether `w` was witnessed.
    pub fn witnessed(&self, w: Witness) -> bool {
        self.seen & (1 << w as u16) != 0
    }

    fn witness(&mut self, w: Witness) {
        self.seen |= 1 << w as u16;
    }

    /// A peer.
    pub fn peer(&self, who: Who) -> &Peer {
        match who {
            Who::Client => &self.client,
            Who::Server => &self.server,
        }
    }

    fn peer_mut(&mut self, who: Who) -> &mut Peer {
        match who {
            Who::Client => &mut self.client,
            Who::Server => &mut self.server,
        }
    }

    /// The wire from `who` to the proxy.
    pub fn up(&self, who: Who) -> &Wire {
        match who {
            Who::Client => &self.front_up,
            Who::Server => &self.back_up,
        }
    }

    fn up_mut(&mut self, who: Who) -> &mut Wire {
        match who {
            Who::Client => &mut self.front_up,
            Who::Server => &mut self.back_up,
        }
    }

    /// The wire from the proxy to `who`.
    pub fn down(&self, who: Who) -> &Wire {
        match who {
            Who::Client => &self.front_down,
            Who::Server => &self.back_down,
        }
    }

    fn down_mut(&mut self, who: Who) -> &mut Wire {
        match who {
            Who::Client => &mut self.front_down,
            Who::Server => &mut self.back_down,
        }
    }

    /// The listener is a check (health mode, or a monitor-net source).
    pub fn is_check(&self) -> bool {
        self.env.health || self.env.monitor_match
    }

    /// A proxied session: not a check, not rejected.
    pub fn is_proxied(&self) -> bool {
        !self.is_check() && self.env.reject == 0
    }

    /// Whether `who` misbehaved: aborted, closed on unread data, or sent garbage.
    pub fn misbehaved(&self, who: Who) -> bool {
        let p = self.peer(who);
        p.reset_sent || p.garbage || p.hs_broken
    }
}

/// An action of the closed system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SysAction {
    /// The proxy runs its event loop turn to quiescence.
    ProxyRuns,
    /// A peer sends its next data chunk.
    PeerSends(Who),
    /// The client sends its PROXY header.
    ClientSendsHeader,
    /// The client sends its TLS hello.
    ClientSendsHello,
    /// The client sends garbage instead of a header or hello.
    ClientSendsGarbage,
    /// A peer reads one thing: a chunk, the FIN or the RST.
    PeerReads(Who),
    /// A peer half-closes (TLS: close_notify first).
    PeerShutsWrite(Who),
    /// A peer closes its socket.
    PeerCloses(Who),
    /// A peer closes with SO_LINGER 0 (RST).
    PeerAborts(Who),
    /// The server accepts the pending connect.
    ServerAccepts,
    /// The server refuses the pending connect.
    ServerRefuses,
    /// Another session leaves server `i`, freeing a slot.
    SlotFrees(u8),
    /// An armed timer fires.
    TimerFires(TimerKind),
}

impl fmt::Display for SysAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysAction::ProxyRuns => f.write_str("proxy runs"),
            SysAction::PeerSends(w) => write!(f, "{w} sends a chunk"),
            SysAction::ClientSendsHeader => f.write_str("client sends its PROXY header"),
            SysAction::ClientSendsHello => f.write_str("client sends its TLS hello"),
            SysAction::ClientSendsGarbage => f.write_str("client sends garbage"),
            SysAction::PeerReads(w) => write!(f, "{w} reads"),
            SysAction::PeerShutsWrite(w) => write!(f, "{w} shuts its write side (FIN)"),
            SysAction::PeerCloses(w) => write!(f, "{w} closes"),
            SysAction::PeerAborts(w) => write!(f, "{w} aborts (RST)"),
            SysAction::ServerAccepts => f.write_str("server accepts the connection"),
            SysAction::ServerRefuses => f.write_str("server refuses the connection"),
            SysAction::SlotFrees(i) => write!(f, "a slot frees on server {i}"),
            SysAction::TimerFires(k) => write!(f, "timer {k} fires"),
        }
    }
}

/// Bound on the actions of one proxy turn; exceeding it is a busy loop.
pub const TURN_BOUND: usize = 64;

/// The system: configuration plus transition function.
#[derive(Clone, Debug)]
pub struct System {
    /// What is explored.
    pub cfg: ModelConfig,
    /// One core configuration per listener variant: see [`Env::variant`].
    configs: [SessionConfig; 8],
}

impl System {
    /// A system for `cfg`.
    pub fn new(cfg: ModelConfig) -> System {
        let configs = std::array::from_fn(|i| cfg.session_config(i & 1 != 0, i & 2 != 0, i & 4 != 0));
        System { cfg, configs }
    }

    /// The core's configuration for a state's listener.
    pub fn session_config(&self, s: &SysState) -> &SessionConfig {
        &self.configs[s.env.variant()]
    }

    /// Every initial state: one per listener mode, monitor match, rule
    /// verdict and server occupancy the features allow.
    pub fn init_states(&self) -> Vec<SysState> {
        let c = &self.cfg;
        let mut modes = vec![(false, false)];
        if c.has(Feature::Health) {
            modes.push((true, false));
        }
        if c.has(Feature::Monitor) {
            modes.push((false, true));
        }
        let rejects: &[u8] = if c.has(Feature::Rules) {
            if c.has(Feature::ProxyIn) {
                &[0, 1, 2]
            } else {
                &[0, 1]
            }
        } else {
            &[0]
        };
        let busy: &[[bool; 2]] =
            if c.has(Feature::Queue) { &[[false, false], [true, true]] } else { &[[false, false]] };
        let mut out = Vec::new();
        let tls_fronts: &[bool] = if c.has(Feature::TlsFront) { &[false, true] } else { &[false] };
        let tls_backs: &[bool] = if c.has(Feature::TlsBack) { &[false, true] } else { &[false] };
        for &(health, monitor_match) in &modes {
            for &tls_front in tls_fronts {
                for &tls_back in tls_backs {
                    if health && tls_front {
                        // Health replies are never encrypted.
                        continue;
                    }
                    for &reject in rejects {
                        if (health || monitor_match) && reject != 0 {
                            continue;
                        }
                        for &b in busy {
                            if (health || monitor_match || reject != 0) && b != [false, false] {
                                continue;
                            }
                            let env =
                                Env { health, monitor_match, tls_front, tls_back, reject, busy: b, ..Env::default() };
                            let scfg = &self.configs[env.variant()];
                            trace::start();
                            let core = Session::accept(scfg, 0, monitor_match);
                            let exec = Exec { fd_open: [true, false], ..Exec::default() };
                            let mut s = SysState {
                                core,
                                client: Peer::default(),
                                server: Peer::default(),
                                front_up: Wire::default(),
                                front_down: Wire::default(),
                                back_up: Wire::default(),
                                back_down: Wire::default(),
                                exec,
                                env,
                                violations: 0,
                                seen: 0,
                                terminal: false,
                            };
                            trace::stop();
                            s.terminal = self.enabled(&s).is_empty();
                            out.push(s);
                        }
                    }
                }
            }
        }
        out
    }

    /// The enabled actions.
    pub fn enabled(&self, s: &SysState) -> Vec<SysAction> {
        let mut v = Vec::new();
        self.actions_into(s, &mut v);
        v
    }

    /// Appends the enabled actions to `out`.
    pub fn actions_into(&self, s: &SysState, out: &mut Vec<SysAction>) {
        if s.violations & (1 << Violation::NoProgress as u32) != 0 {
            // A busy loop has no successor worth exploring.
            return;
        }
        let scfg = self.session_config(s);
        if s.core.poll_action(scfg).is_some() {
            out.push(SysAction::ProxyRuns);
        }
        let c = &self.cfg;
        for who in [Who::Client, Who::Server] {
            let p = s.peer(who);
            let connected = match who {
                Who::Client => true,
                Who::Server => s.env.accepted,
            };
            if !connected || p.closed {
                continue;
            }
            // Reading: anything to learn.
            if s.down(who).readable()
                && !(p.got_rst && s.down(who).q.is_empty())
                && !(p.got_fin && s.down(who).q.is_empty() && !s.down(who).rst)
            {
                out.push(SysAction::PeerReads(who));
            }
            let can_write = !p.shut_wr && !p.got_rst;
            if can_write {
                if who == Who::Client && c.has(Feature::ProxyIn) && !p.hdr_sent {
                    if !s.up(who).full(c.wire_cap) {
                        out.push(SysAction::ClientSendsHeader);
                        if c.has(Feature::Garbage) {
                            out.push(SysAction::ClientSendsGarbage);
                        }
                    }
                } else if who == Who::Client && s.env.tls_front && !s.is_check() && !p.hello_sent {
                    if !s.up(who).full(c.wire_cap) {
                        out.push(SysAction::ClientSendsHello);
                        if c.has(Feature::Garbage) && !c.has(Feature::ProxyIn) {
                            out.push(SysAction::ClientSendsGarbage);
                        }
                    }
                } else {
                    let limit = match who {
                        Who::Client => c.client_chunks,
                        Who::Server => c.server_chunks,
                    };
                    let tls_needed = match who {
                        Who::Client => s.env.tls_front && !s.is_check(),
                        Who::Server => s.env.tls_back,
                    };
                    if p.sent < limit && (!tls_needed || p.tls_up) && !p.garbage && !s.up(who).full(c.wire_cap) {
                        out.push(SysAction::PeerSends(who));
                    }
                }
                let cn_room = !(self.tls_peer(s, who) && p.tls_up && s.up(who).full(c.wire_cap));
                if cn_room {
                    out.push(SysAction::PeerShutsWrite(who));
                }
            }
            out.push(SysAction::PeerCloses(who));
            out.push(SysAction::PeerAborts(who));
        }
        if s.env.syn && !s.env.accepted && !s.env.refused {
            out.push(SysAction::ServerAccepts);
            out.push(SysAction::ServerRefuses);
        }
        for i in 0..2u8 {
            if s.env.busy[i as usize] {
                out.push(SysAction::SlotFrees(i));
            }
        }
        for k in TimerKind::ALL {
            if s.core.timer_armed(k) {
                out.push(SysAction::TimerFires(k));
            }
        }
    }

    fn tls_peer(&self, s: &SysState, who: Who) -> bool {
        match who {
            Who::Client => s.env.tls_front && !s.is_check(),
            Who::Server => s.env.tls_back,
        }
    }

    /// The successor of `s` by `a`, with the proxy's actions of a
    /// [`SysAction::ProxyRuns`] step reported to `log` when given.
    pub fn step(&self, s: &SysState, a: SysAction, log: Option<&mut Vec<(Action, Outcome)>>) -> SysState {
        self.step_recording(s, a, log, &mut Observer::default())
    }

    /// The successor of `s` by `a` (exactly the one [`System::step`]
    /// returns), with what happened inside the core during the step: every
    /// stream-interface move, in order, as recorded by [`trace`]; and the
    /// core after each of its steps, in order (one per action of a proxy
    /// turn, then the final core; for an environment event, the final core).
    pub fn step_observed(&self, s: &SysState, a: SysAction) -> (SysState, Vec<SiMove>, Vec<Session>) {
        let mut obs = Observer { moves: Vec::new(), cores: Some(Vec::new()) };
        let n = self.step_recording(s, a, None, &mut obs);
        (n, obs.moves, obs.cores.unwrap_or_default())
    }

    /// [`System::step`], reporting to `obs`.
    fn step_recording(
        &self,
        s: &SysState,
        a: SysAction,
        mut log: Option<&mut Vec<(Action, Outcome)>>,
        obs: &mut Observer,
    ) -> SysState {
        let mut n = *s;
        let before = *s;
        trace::start();
        match a {
            SysAction::ProxyRuns => self.proxy_turn(&mut n, &mut log, obs),
            SysAction::PeerSends(who) => {
                let id = n.peer(who).sent;
                n.peer_mut(who).sent += 1;
                self.peer_push(&mut n, who, Chunk::data(id));
            }
            SysAction::ClientSendsHeader => {
                n.client.hdr_sent = true;
                self.peer_push(&mut n, Who::Client, Chunk::HDR);
            }
            SysAction::ClientSendsHello => {
                n.client.hello_sent = true;
                self.peer_push(&mut n, Who::Client, Chunk::HELLO);
            }
            SysAction::ClientSendsGarbage => {
                n.client.hdr_sent = true;
                n.client.hello_sent = true;
                n.client.garbage = true;
                n.env.disturbed = true;
                self.peer_push(&mut n, Who::Client, Chunk::GARBAGE);
            }
            SysAction::PeerReads(who) => self.peer_read(&mut n, who),
            SysAction::PeerShutsWrite(who) => {
                if self.tls_peer(&n, who) && n.peer(who).tls_up {
                    self.peer_push(&mut n, who, Chunk::CLOSE_NOTIFY);
                }
                n.peer_mut(who).shut_wr = true;
                if !n.peer(who).got_rst {
                    n.up_mut(who).fin = true;
                }
                self.notify(&mut n, who.side(), true, false);
            }
            SysAction::PeerCloses(who) => {
                let unread = !n.down(who).q.is_empty() && !n.down(who).rst;
                self.peer_close(&mut n, who, unread);
            }
            SysAction::PeerAborts(who) => self.peer_close(&mut n, who, true),
            SysAction::ServerAccepts => {
                n.env.accepted = true;
                self.notify(&mut n, Side::Back, false, true);
            }
            SysAction::ServerRefuses => {
                n.env.refused = true;
                n.env.disturbed = true;
                self.notify(&mut n, Side::Back, true, true);
            }
            SysAction::SlotFrees(i) => {
                n.env.busy[i as usize] = false;
                if n.core.si_back == SiState::Que && n.env.slot.is_none() {
                    n.env.slot = Some(i);
                    n.witness(Witness::Queued);
                    let scfg = *self.session_config(&n);
                    n.core.handle_dequeued(&scfg, i, 0);
                }
            }
            SysAction::TimerFires(k) => {
                n.env.timer_fired = true;
                n.env.disturbed = true;
                match k {
                    TimerKind::Connect => n.witness(Witness::ConnectTimeout),
                    TimerKind::ClientFin | TimerKind::ServerFin => n.witness(Witness::FinTimeout),
                    _ => {}
                }
                let scfg = *self.session_config(&n);
                n.core.fire_timer(&scfg, k, 0);
            }
        }
        self.check_core_step(&before, &mut n, obs);
        trace::stop();
        if measure(&n) <= measure(&before) {
            n.violate(Violation::NoProgress);
        }
        n.terminal = false;
        n.terminal = self.enabled(&n).is_empty();
        n
    }

    // ------------------------------------------------------------------
    // The proxy: the core's actions executed against the abstract kernel.
    // ------------------------------------------------------------------

    fn proxy_turn(&self, n: &mut SysState, log: &mut Option<&mut Vec<(Action, Outcome)>>, obs: &mut Observer) {
        let scfg = *self.session_config(n);
        let mut count = 0;
        while let Some(action) = n.core.poll_action(&scfg) {
            count += 1;
            if count > TURN_BOUND {
                n.violate(Violation::NoProgress);
                return;
            }
            let before = *n;
            let mut events = Events::default();
            let outcome = self.execute(n, action, &mut events);
            if let Some(side) = handshake_side(action) {
                if matches!(outcome, Outcome::Invalid | Outcome::Eof | Outcome::EofEmpty | Outcome::Reset) {
                    n.peer_mut(peer_of(side)).hs_broken = true;
                    n.env.disturbed = true;
                }
            }
            if let Some(l) = log.as_deref_mut() {
                l.push((action, outcome));
            }
            n.core.handle_outcome(&scfg, action, outcome, 0);
            for side in Side::BOTH {
                let (r, w) = events.get(side);
                if r || w {
                    n.core.handle_ready(&scfg, side, r, w, 0);
                }
            }
            self.check_core_step(&before, n, obs);
        }
    }

    /// Executes one core action; the kernel's side effects on the proxy's
    /// own sockets (an RST provoked by a send) are reported through `events`.
    fn execute(&self, n: &mut SysState, action: Action, ev: &mut Events) -> Outcome {
        let cap = self.cfg.wire_cap;
        match action {
            Action::RecvProxyHeader => {
                if !self.fd_ok(n, Side::Front) {
                    return Outcome::Reset;
                }
                let w = n.front_up;
                if w.rst {
                    n.front_up.q.clear();
                    return Outcome::Reset;
                }
                match w.q.peek() {
                    Some(Chunk::HDR) => {
                        n.front_up.q.pop();
                        n.exec.hdr_ok = true;
                        n.exec.hdr_bytes = true;
                        Outcome::Done
                    }
                    Some(_) => {
                        n.exec.hdr_bytes = true;
                        Outcome::Invalid
                    }
                    None if w.fin && !n.exec.hdr_bytes => Outcome::EofEmpty,
                    None if w.fin => Outcome::Eof,
                    None => Outcome::WouldBlock,
                }
            }
            Action::EvalRules(stage) => {
                let (bit, reject) = match stage {
                    RuleStage::Connection => (1, n.env.reject == 1),
                    RuleStage::Source => (2, n.env.reject == 2),
                };
                if !reject {
                    n.exec.rules_ok |= bit;
                }
                Outcome::Verdict(!reject)
            }
            Action::TlsHandshake(side) => self.tls_handshake(n, side, ev),
            Action::PickServer { avoid } => {
                let servers = self.cfg.servers() as usize;
                let mut views = [ServerView::default(); 2];
                for (i, v) in views.iter_mut().enumerate().take(servers) {
                    v.usable = true;
                    v.maxconn = 1;
                    v.active = u32::from(n.env.busy[i]);
                }
                let mut cursor = n.env.cursor as usize;
                let scfg = self.session_config(n);
                let pick = backend::pick(scfg.balance, &mut cursor, &views[..servers], avoid, scfg.queue);
                n.env.cursor = cursor as u8;
                if let Pick::Assigned(i) = pick {
                    if n.env.slot.is_some() {
                        n.violate(Violation::FillMismatch);
                    }
                    n.env.slot = Some(i);
                    if avoid.is_some() {
                        n.witness(Witness::Redispatched);
                    }
                }
                if pick == Pick::Queue {
                    n.witness(Witness::Queued);
                }
                Outcome::Pick(pick)
            }
            Action::Connect { .. } => {
                if n.exec.fd_open[Side::Back as usize] {
                    n.violate(Violation::IoOnClosedFd);
                }
                n.exec.fd_open[Side::Back as usize] = true;
                n.exec.tls[Side::Back as usize] = 0;
                n.back_up = Wire::default();
                n.back_down = Wire::default();
                n.exec.sent_back = false;
                n.env.syn = true;
                n.server = Peer::default();
                n.env.accepted = false;
                n.env.refused = false;
                n.env.attempts += 1;
                if n.is_check() {
                    n.violate(Violation::CheckLeaked);
                }
                if n.env.reject != 0 {
                    n.violate(Violation::RejectLeaked);
                }
                let budget = 1 + self.session_config(n).retries;
                if n.env.attempts > budget {
                    n.violate(Violation::TooManyAttempts);
                }
                Outcome::InProgress
            }
            Action::FinishConnect => {
                if !self.fd_ok(n, Side::Back) {
                    return Outcome::Reset;
                }
                if n.env.accepted {
                    Outcome::Done
                } else if n.env.refused {
                    Outcome::Refused
                } else {
                    Outcome::WouldBlock
                }
            }
            Action::Recv { side, into } => self.recv(n, side, into),
            Action::Send { side, from, .. } => self.send(n, side, from, ev),
            Action::Discard(dir) => {
                let d = dir as usize;
                n.exec.dropped += n.exec.buf[d].clear() + n.exec.pipe[d].clear();
                Outcome::Done
            }
            Action::DataShutw(side) => {
                if !self.fd_ok(n, side) {
                    return Outcome::Reset;
                }
                let who = peer_of(side);
                if n.up(who).rst {
                    return Outcome::Reset;
                }
                if n.down(who).full(cap) {
                    n.witness(Witness::PostponedShutw);
                    return Outcome::WouldBlock;
                }
                self.proxy_push(n, side, Chunk::CLOSE_NOTIFY, ev);
                Outcome::Done
            }
            Action::CtrlShutw(side) => {
                if !self.fd_ok(n, side) {
                    return Outcome::Reset;
                }
                let who = peer_of(side);
                if !n.down(who).rst {
                    n.down_mut(who).fin = true;
                }
                n.exec.pushed += 1;
                Outcome::Done
            }
            Action::DataClose(side) | Action::CtrlClose(side) => {
                if !self.fd_ok(n, side) {
                    return Outcome::Done;
                }
                Outcome::Done
            }
            Action::SockClose { side, abortive } => {
                if !self.fd_ok(n, side) {
                    return Outcome::Done;
                }
                self.proxy_close(n, side, abortive);
                Outcome::Done
            }
            Action::ReleaseServer { .. } => {
                if n.env.slot.take().is_none() {
                    n.violate(Violation::FillMismatch);
                }
                n.exec.released += 1;
                Outcome::Done
            }
        }
    }

    fn fd_ok(&self, n: &mut SysState, side: Side) -> bool {
        if n.exec.fd_open[side as usize] {
            true
        } else {
            n.violate(Violation::IoOnClosedFd);
            false
        }
    }

    /// One step of HH_SSL_HS, RFC 8446 2 as three messages. Front (the
    /// proxy is the server): read the hello, queue the flight, read the
    /// client's Finished. Back (the proxy is the client): queue the hello,
    /// read the server's flight, queue the Finished. A step that has to wait
    /// leaves the stage where it was, and the next call resumes there.
    fn tls_handshake(&self, n: &mut SysState, side: Side, ev: &mut Events) -> Outcome {
        enum Msg {
            Read(Chunk),
            Write(Chunk),
        }
        let steps = match side {
            Side::Front => [Msg::Read(Chunk::HELLO), Msg::Write(Chunk::FINISHED), Msg::Read(Chunk::CLIENT_FINISHED)],
            Side::Back => [Msg::Write(Chunk::HELLO), Msg::Read(Chunk::FINISHED), Msg::Write(Chunk::CLIENT_FINISHED)],
        };
        if !self.fd_ok(n, side) {
            return Outcome::Reset;
        }
        let who = peer_of(side);
        for msg in &steps[usize::from(n.exec.tls[side as usize].min(TLS_UP))..] {
            if n.up(who).rst {
                n.up_mut(who).q.clear();
                return Outcome::Reset;
            }
            match *msg {
                Msg::Read(expect) => match n.up(who).q.peek() {
                    Some(c) if c == expect => {
                        n.up_mut(who).q.pop();
                    }
                    Some(_) => return Outcome::Invalid,
                    None if n.up(who).fin => return Outcome::Eof,
                    None => return Outcome::WouldBlock,
                },
                Msg::Write(out) => {
                    if n.down(who).full(self.cfg.wire_cap) {
                        return Outcome::WantWrite;
                    }
                    if side == Side::Back {
                        self.record_server_first(n, out);
                    }
                    self.proxy_push(n, side, out, ev);
                }
            }
            n.exec.tls[side as usize] += 1;
        }
        Outcome::Done
    }

    fn record_server_first(&self, n: &mut SysState, c: Chunk) {
        // Chunks the proxy queues towards the server, in order: the first
        // one must be the PROXY header when one is configured.
        if self.session_config(n).send_proxy && !n.exec.sent_back && c != Chunk::PROXY_OUT {
            n.violate(Violation::ProxyHeaderNotFirst);
        }
    }

    fn handshake_done(&self, n: &SysState, side: Side) -> bool {
        let scfg = self.session_config(n);
        if n.is_check() {
            return false;
        }
        match side {
            Side::Front => {
                (!scfg.accept_proxy || n.exec.hdr_ok)
                    && (!scfg.tls_front || n.exec.tls[0] == TLS_UP)
                    && (!scfg.conn_rules || n.exec.rules_ok & 1 != 0)
                    && (!scfg.src_rules || n.exec.rules_ok & 2 != 0)
            }
            Side::Back => (!scfg.send_proxy || n.exec.sent_back) && (!scfg.tls_back || n.exec.tls[1] == TLS_UP),
        }
    }

    fn recv(&self, n: &mut SysState, side: Side, into: Sink) -> Outcome {
        if !self.fd_ok(n, side) {
            return Outcome::Reset;
        }
        let who = peer_of(side);
        let dir = side.input() as usize;
        if n.up(who).rst {
            n.up_mut(who).q.clear();
            return Outcome::Reset;
        }
        let tls = n.core.conn(side).data == DataLayer::Tls;
        if into == Sink::Discard {
            // A drain reads bytes and throws them away, whatever they are.
            if n.up_mut(who).q.pop().is_some() {
                n.exec.dropped += 1;
                n.exec.taken[dir] += 1;
                n.witness(Witness::Drained);
                return Outcome::Data { full: false };
            }
            return if n.up(who).fin { Outcome::Eof } else { Outcome::WouldBlock };
        }
        match n.up(who).q.peek() {
            Some(c) if c.data_id().is_some() => {
                n.up_mut(who).q.pop();
                if into != Sink::Discard && !self.handshake_done(n, side) {
                    n.violate(Violation::PayloadBeforeHandshake);
                }
                let cap = match into {
                    Sink::Buffer => self.cfg.buf_cap,
                    Sink::Pipe => self.cfg.pipe_cap,
                    Sink::Discard => {
                        n.exec.dropped += 1;
                        n.exec.taken[dir] += 1;
                        n.witness(Witness::Drained);
                        return Outcome::Data { full: false };
                    }
                };
                let overflow = {
                    let fifo = if into == Sink::Buffer { &mut n.exec.buf[dir] } else { &mut n.exec.pipe[dir] };
                    let over = fifo.len() >= cap;
                    fifo.push(c);
                    over
                };
                if overflow {
                    n.violate(Violation::FillMismatch);
                }
                let len = if into == Sink::Buffer { n.exec.buf[dir].len() } else { n.exec.pipe[dir].len() };
                let full = len >= cap;
                n.exec.taken[dir] += 1;
                if into == Sink::Pipe {
                    n.witness(Witness::Spliced);
                    let other = n.core.conn(side.other()).data;
                    if tls || other == DataLayer::Tls {
                        n.violate(Violation::TlsSpliced);
                    }
                }
                Outcome::Data { full }
            }
            Some(Chunk::CLOSE_NOTIFY) if tls => {
                n.up_mut(who).q.pop();
                Outcome::Eof
            }
            Some(_) => Outcome::Invalid,
            None if n.up(who).fin => Outcome::Eof,
            None => Outcome::WouldBlock,
        }
    }

    fn send(&self, n: &mut SysState, side: Side, from: Source, ev: &mut Events) -> Outcome {
        if !self.fd_ok(n, side) {
            return Outcome::Reset;
        }
        let who = peer_of(side);
        let dir = side.output() as usize;
        if n.up(who).rst {
            // EPIPE / ECONNRESET: the peer reset this connection.
            return Outcome::Reset;
        }
        if n.down(who).full(self.cfg.wire_cap) {
            return Outcome::WouldBlock;
        }
        let (chunk, drained) = match from {
            Source::Buffer | Source::Pipe => {
                if !self.handshake_done(n, side) {
                    n.violate(Violation::PayloadBeforeHandshake);
                }
                let fifo = if from == Source::Buffer { &mut n.exec.buf[dir] } else { &mut n.exec.pipe[dir] };
                let Some(c) = fifo.pop() else {
                    n.violate(Violation::FillMismatch);
                    return Outcome::Sent { drained: true };
                };
                (c, fifo.is_empty())
            }
            Source::Reply => (Chunk::REPLY, true),
            Source::ProxyHeader => (Chunk::PROXY_OUT, true),
        };
        if side == Side::Back {
            self.record_server_first(n, chunk);
        }
        self.proxy_push(n, side, chunk, ev);
        Outcome::Sent { drained }
    }

    /// The proxy queues `c` towards the peer of `side`. If that peer closed
    /// its socket, its kernel answers with an RST.
    fn proxy_push(&self, n: &mut SysState, side: Side, c: Chunk, ev: &mut Events) {
        let who = peer_of(side);
        if n.peer(who).closed {
            // Data for a closed socket: RST back; what the proxy had not
            // read from that peer is gone too.
            n.up_mut(who).reset();
            n.env.disturbed = true;
            ev.set(side, true, true);
            return;
        }
        n.down_mut(who).q.push(c);
        n.exec.pushed += 1;
        if side == Side::Back {
            n.exec.sent_back = true;
        }
    }

    fn proxy_close(&self, n: &mut SysState, side: Side, abortive: bool) {
        let who = peer_of(side);
        n.exec.fd_open[side as usize] = false;
        if side == Side::Back && !n.env.accepted {
            // A connect abandoned before the server answered.
            n.env.syn = false;
            return;
        }
        let unread = !n.up(who).q.is_empty() && !n.up(who).rst;
        if (abortive || unread) && !n.down(who).rst && !n.peer(who).closed {
            let destroyed = n.down_mut(who).reset();
            let excused = n.env.timer_fired || n.misbehaved(who) || n.env.reject != 0;
            if destroyed > 0 && !excused {
                n.violate(Violation::RstDestroyedData);
            }
            n.env.disturbed = true;
        } else if !n.down(who).rst {
            n.down_mut(who).fin = true;
        }
        n.exec.pushed += 1;
        // Nothing more is read from this socket.
        n.up_mut(who).q.clear();
        n.up_mut(who).fin = false;
    }

    // ------------------------------------------------------------------
    // The peers.
    // ------------------------------------------------------------------

    fn peer_push(&self, n: &mut SysState, who: Who, c: Chunk) {
        let side = who.side();
        if !n.exec.fd_open[side as usize] && n.core.conn(side).fd == FdState::Closed && self.proxy_side_existed(n, side)
        {
            // The proxy already closed this socket: its kernel resets.
            let destroyed = n.down_mut(who).reset();
            let excused = n.env.timer_fired || n.misbehaved(who) || n.env.reject != 0;
            if destroyed > 0 && !excused {
                n.violate(Violation::RstDestroyedData);
            }
            n.env.disturbed = true;
            return;
        }
        n.up_mut(who).q.push(c);
        self.notify(n, side, true, false);
    }

    fn proxy_side_existed(&self, n: &SysState, side: Side) -> bool {
        match side {
            Side::Front => true,
            Side::Back => n.env.accepted,
        }
    }

    fn peer_read(&self, n: &mut SysState, who: Who) {
        let scfg = *self.session_config(n);
        if n.down(who).rst {
            n.down_mut(who).q.clear();
            n.peer_mut(who).got_rst = true;
            n.env.disturbed = true;
            return;
        }
        if let Some(c) = n.down_mut(who).q.pop() {
            let proxied = n.is_proxied();
            let p = n.peer_mut(who);
            p.got_any = true;
            match c.data_id() {
                Some(id) => {
                    if id != p.got {
                        n.violate(Violation::ChunkOrder);
                    } else {
                        n.peer_mut(who).got += 1;
                    }
                    if who == Who::Client && !proxied {
                        if n.is_check() {
                            n.violate(Violation::CheckLeaked);
                        } else {
                            n.violate(Violation::RejectLeaked);
                        }
                    }
                }
                None => match c {
                    Chunk::REPLY => {
                        p.got_reply = true;
                        if n.env.reject != 0 {
                            n.violate(Violation::RejectLeaked);
                        }
                    }
                    Chunk::FINISHED => {
                        // The client answers the server's flight with its
                        // Finished, and may send data at once; one that shut
                        // its write side can answer nothing.
                        p.tls_up = true;
                        let answers = !p.shut_wr;
                        if answers {
                            self.peer_push(n, who, Chunk::CLIENT_FINISHED);
                        }
                    }
                    Chunk::HELLO => {
                        // The server answers the hello with its flight, and
                        // may send data right after it (TLS 1.3 "half-RTT"
                        // data, before the client's Finished).
                        p.hello_sent = true;
                        let answers = !p.shut_wr;
                        if answers && !n.up(who).full(self.cfg.wire_cap) {
                            n.peer_mut(who).tls_up = true;
                            self.peer_push(n, who, Chunk::FINISHED);
                        }
                    }
                    Chunk::CLOSE_NOTIFY => p.got_cn = true,
                    Chunk::CLIENT_FINISHED => p.got_finished = true,
                    Chunk::PROXY_OUT => p.got_hdr = true,
                    _ => {}
                },
            }
            let _ = scfg;
            self.notify(n, who.side(), false, true);
            return;
        }
        if n.down(who).fin && !n.peer(who).got_fin {
            n.peer_mut(who).got_fin = true;
            // The FIN must come after every chunk the other peer sent before
            // its own FIN, unless something excuses a loss.
            let other = *n.peer(who.other());
            let complete = other.shut_wr && n.peer(who).got == other.sent;
            // Before any server accepted, the client's FIN only tells the
            // session never started: nothing was forwarded to lose.
            let applies = who == Who::Server || n.env.accepted;
            if n.is_proxied() && applies && !n.env.disturbed && !complete {
                n.violate(Violation::FinEarly);
            }
            if n.is_check() && who == Who::Client && !n.client.got_reply && !n.env.disturbed {
                n.violate(Violation::CheckLeaked);
            }
        }
    }

    fn peer_close(&self, n: &mut SysState, who: Who, rst: bool) {
        let side = who.side();
        let p = n.peer_mut(who);
        p.closed = true;
        p.shut_wr = true;
        if rst {
            p.reset_sent = true;
            n.env.disturbed = true;
            n.up_mut(who).reset();
            if who == Who::Server && !n.client.shut_wr {
                n.witness(Witness::ServerClosedEarly);
            }
        } else {
            n.up_mut(who).fin = true;
            if who == Who::Server && !n.client.shut_wr {
                n.witness(Witness::ServerClosedEarly);
            }
        }
        // Its own receive queue is gone with it.
        n.down_mut(who).q.clear();
        n.down_mut(who).fin = false;
        self.notify(n, side, true, true);
    }

    /// The poller reports `side`'s socket: only while it is open and still
    /// registered (after CCLO the poller reports nothing; the conformance
    /// replay found the model notifying a socket the proxy had closed).
    fn notify(&self, n: &mut SysState, side: Side, readable: bool, writable: bool) {
        if !n.exec.fd_open[side as usize] || n.core.conn(side).ops.done(Op::CtrlClose) {
            return;
        }
        let scfg = *self.session_config(n);
        n.core.handle_ready(&scfg, side, readable, writable, 0);
    }

    // ------------------------------------------------------------------
    // Checks made after every core step.
    // ------------------------------------------------------------------

    /// Checks the core's step from `before` to `n`, reporting it to `obs`.
    fn check_core_step(&self, before: &SysState, n: &mut SysState, obs: &mut Observer) {
        let first = obs.moves.len();
        trace::drain(&mut obs.moves);
        if let Some(cores) = obs.cores.as_mut() {
            cores.push(n.core);
        }
        for m in &obs.moves[first..] {
            if !m.from.may_move_to(m.to) {
                n.violate(Violation::IllegalSiMove);
            }
        }
        for side in Side::BOTH {
            let c = *n.core.conn(side);
            let b = before.core.conn(side);
            let same_conn = side == Side::Front || before.core.attempts == n.core.attempts;
            if same_conn {
                for op in Op::ALL {
                    if c.ops.get(op).rank() < b.ops.get(op).rank() {
                        n.violate(Violation::OpBackwards);
                    }
                }
            }
            let o = c.ops;
            let ordered = (!o.done(Op::SockClose) || o.done(Op::CtrlClose))
                && (!o.done(Op::CtrlClose) || o.done(Op::DataClose))
                && (!o.done(Op::CtrlShutw) || o.done(Op::DataShutw))
                && (!o.done(Op::CtrlShutr) || o.done(Op::DataShutr));
            if !ordered {
                n.violate(Violation::LayerOrder);
            }
            // A half-closed or draining connection that waits for an event is
            // bounded by a timer: its fin timer once the proxy shut its side
            // (or drains) and waits for the peer's FIN; its inactivity timer
            // (or the fin timer) while the peer's side is shut and the proxy
            // still sends. (Between two actions of one run nothing waits.)
            let waiting = n.core.poll_action(self.session_config(n)).is_none();
            let live = waiting && c.is_open() && !c.closing();
            let waits_for_fin = (c.shw() && !c.shr()) || c.draining();
            let peer_shut = c.shr() && !c.shw();
            let relevant = match side {
                Side::Front => live,
                Side::Back => live && n.core.si_back == SiState::Est,
            };
            let (fin, idle) = match side {
                Side::Front => (TimerKind::ClientFin, TimerKind::Client),
                Side::Back => (TimerKind::ServerFin, TimerKind::Server),
            };
            let bounded = if waits_for_fin {
                n.core.timer_armed(fin)
            } else if peer_shut {
                n.core.timer_armed(fin) || n.core.timer_armed(idle)
            } else {
                true
            };
            if relevant && !bounded {
                n.violate(Violation::HalfClosedUnbounded);
            }
        }
        for dir in Dir::BOTH {
            let ch = n.core.chan(dir);
            let d = dir as usize;
            if !fill_matches(ch.buf, n.exec.buf[d].len(), self.cfg.buf_cap)
                || !fill_matches(ch.pipe, n.exec.pipe[d].len(), self.cfg.pipe_cap)
            {
                n.violate(Violation::FillMismatch);
            }
        }
    }
}

/// What a step reports about the core's inside ([`System::step_observed`]).
#[derive(Default)]
struct Observer {
    /// Stream-interface moves, in order.
    moves: Vec<SiMove>,
    /// The core after each of its steps, when asked for.
    cores: Option<Vec<Session>>,
}

fn fill_matches(f: Fill, len: u8, cap: u8) -> bool {
    match f {
        Fill::Empty => len == 0,
        Fill::Some => len > 0 && len < cap,
        Fill::Full => len >= cap,
    }
}

fn handshake_side(a: Action) -> Option<Side> {
    match a {
        Action::RecvProxyHeader => Some(Side::Front),
        Action::TlsHandshake(side) => Some(side),
        _ => None,
    }
}

const fn peer_of(side: Side) -> Who {
    match side {
        Side::Front => Who::Client,
        Side::Back => Who::Server,
    }
}

#[derive(Default)]
struct Events {
    front: (bool, bool),
    back: (bool, bool),
}

impl Events {
    fn set(&mut self, side: Side, r: bool, w: bool) {
        let e = match side {
            Side::Front => &mut self.front,
            Side::Back => &mut self.back,
        };
        e.0 |= r;
        e.1 |= w;
    }

    fn get(&self, side: Side) -> (bool, bool) {
        match side {
            Side::Front => self.front,
            Side::Back => self.back,
        }
    }
}

/// The progress measure: it grows strictly on every step of a correct
/// model, which makes the reachable graph acyclic (checked on every step as
/// [`Violation::NoProgress`]). Monotone counters of the environment weigh
/// more than the flags a proxy step may set, because an environment event
/// (a chunk arriving) can clear one such flag (EMPTY_IN) while adding its own
/// counter.
pub fn measure(s: &SysState) -> u32 {
    let peer = |p: &Peer| -> u32 {
        u32::from(p.sent)
            + u32::from(p.got)
            + [
                p.hdr_sent,
                p.hello_sent,
                p.tls_up,
                p.garbage,
                p.shut_wr,
                p.closed,
                p.reset_sent,
                p.got_fin,
                p.got_rst,
                p.got_reply,
                p.got_cn,
                p.got_finished,
                p.got_hdr,
                p.got_any,
                p.hs_broken,
            ]
            .iter()
            .filter(|&&b| b)
            .count() as u32
    };
    let wires = [s.front_up, s.front_down, s.back_up, s.back_down];
    let wire_flags: u32 = wires.iter().map(|w| u32::from(w.rst)).sum();
    let env = u32::from(s.env.accepted)
        + u32::from(s.env.refused)
        + u32::from(s.env.timer_fired)
        + s.env.busy.iter().filter(|&&b| !b).count() as u32;
    let exec = u32::from(s.exec.taken[0])
        + u32::from(s.exec.taken[1])
        + u32::from(s.exec.dropped)
        + u32::from(s.exec.released)
        + u32::from(s.exec.tls[0])
        + u32::from(s.exec.tls[1])
        + u32::from(s.exec.hdr_ok)
        + u32::from(s.exec.hdr_bytes)
        + s.exec.rules_ok.count_ones()
        + u32::from(s.exec.sent_back);
    let queued = u32::from(s.exec.pushed);
    let c = &s.core;
    let conn = |x: &crate::core::Connection| -> u32 {
        x.ops.rank_sum()
            + u32::from(x.data_hs.rank())
            + (8 - x.hs.len())
            + u32::from(x.error)
            + u32::from(x.abortive)
            + match x.state {
                ConnState::Closed => 0,
                ConnState::Accepted | ConnState::Connecting => 1,
                ConnState::Established => 2,
                ConnState::Error => 3,
            }
            + match x.fd {
                FdState::Closed => 0,
                FdState::Ready | FdState::Listen => 1,
                FdState::Error => 2,
            }
    };
    let flags = |d: Dir| -> u32 {
        let ch = c.chan(d);
        let f = ch.flags;
        u32::from(f.has(crate::core::ChanFlags::EMPTY_IN))
            + u32::from(f.has(crate::core::ChanFlags::FULL_OUT))
            + 2 * (u32::from(f.has(crate::core::ChanFlags::SHUT_IN))
                + u32::from(f.has(crate::core::ChanFlags::SHUT_OUT))
                + u32::from(f.has(crate::core::ChanFlags::ERR_IN))
                + u32::from(f.has(crate::core::ChanFlags::ERR_OUT)))
            + u32::from(ch.seen_data)
    };
    let core = conn(&c.front)
        + if c.attempts == 0 { conn(&c.back) } else { 0 }
        + u32::from(c.si_front.rank())
        + u32::from(c.si_back.rank())
        + 2 * (flags(Dir::Req) + flags(Dir::Res))
        + u32::from(c.rejected);
    let back_epoch = u32::from(c.attempts) * 4096 + u32::from(c.retries_used) * 1024 + u32::from(s.env.attempts) * 4096;
    let back_now = if c.attempts > 0 { conn(&c.back) } else { 0 };
    16 * (peer(&s.client) + peer(&s.server) + wire_flags + env + exec + queued)
        + 2 * core
        + back_epoch
        + 2 * back_now
        + s.seen.count_ones()
}

/// Reports `a`'s effect from `s` in words, with the proxy's actions and
/// their outcomes for a proxy turn.
pub fn describe(sys: &System, s: &SysState, a: SysAction) -> String {
    if a != SysAction::ProxyRuns {
        return a.to_string();
    }
    let mut log = Vec::new();
    let _ = sys.step(s, a, Some(&mut log));
    let parts: Vec<String> =
        log.iter().map(|(act, out)| format!("{} -> {}", fmt_action(act), fmt_outcome(out))).collect();
    format!("proxy runs: {}", parts.join("; "))
}

/// A core action in words.
pub fn fmt_action(a: &Action) -> String {
    match a {
        Action::RecvProxyHeader => "recv PROXY header".into(),
        Action::EvalRules(RuleStage::Connection) => "evaluate connection rules".into(),
        Action::EvalRules(RuleStage::Source) => "evaluate source rules".into(),
        Action::TlsHandshake(s) => format!("TLS handshake on {s}"),
        Action::PickServer { avoid: None } => "pick a server".into(),
        Action::PickServer { avoid: Some(i) } => format!("pick a server other than {i}"),
        Action::Connect { server } => format!("connect to server {server}"),
        Action::FinishConnect => "finish connect".into(),
        Action::Recv { side, into } => format!("recv {side} into {into:?}"),
        Action::Send { side, from, .. } => format!("send {side} from {from:?}"),
        Action::Discard(d) => format!("discard {d}"),
        Action::DataShutw(s) => format!("close_notify on {s}"),
        Action::CtrlShutw(s) => format!("shutdown(SHUT_WR) {s}"),
        Action::DataClose(s) => format!("close data layer {s}"),
        Action::CtrlClose(s) => format!("deregister {s}"),
        Action::SockClose { side, abortive: false } => format!("close {side}"),
        Action::SockClose { side, abortive: true } => format!("close {side} with RST"),
        Action::ReleaseServer { server } => format!("release slot on server {server}"),
    }
}

/// An outcome in words.
pub fn fmt_outcome(o: &Outcome) -> String {
    match o {
        Outcome::Data { full: true } => "data (full)".into(),
        Outcome::Data { full: false } => "data".into(),
        Outcome::Sent { drained: true } => "sent (drained)".into(),
        Outcome::Sent { drained: false } => "sent".into(),
        Outcome::Pick(p) => format!("{p:?}"),
        Outcome::Verdict(true) => "accept".into(),
        Outcome::Verdict(false) => "reject".into(),
        other => format!("{other:?}"),
    }
}
