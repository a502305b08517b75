//! The state of the closed system and its actions.
//!
//! ```text
//!   client ==front_up==>   [ front conn | req channel | back conn ] ==back_down==> server
//!   client <==front_down== [ front conn | res channel | back conn ] <==back_up==   server
//!                            \______________ core: Session _______________/
//! ```
//!
//! One [`Sess`] holds everything of one proxied session: the core, its two
//! peers, the four kernel wires between them and the proxy, the abstract
//! runtime's holdings ([`Holdings`]) and what the environment chose for it
//! ([`Env`]). A [`SysState`] holds [`SESSIONS`] of them (the second one is
//! inactive unless the configuration has two sessions) and what they share:
//! the backend's servers.

use super::kernel::Wire;
use crate::core::backend::Shared;
use crate::core::{Dir, ServerView, Session, Side, TimerKind};
use std::fmt;

/// Sessions a state can hold.
pub const SESSIONS: usize = 2;

/// "No chunk is excused": the value of an [`Excuse`] horizon nobody set.
pub const NONE: u8 = u8::MAX;

/// The two peers of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    /// The channel this peer's chunks travel through.
    pub const fn sends_on(self) -> Dir {
        match self {
            Who::Client => Dir::Req,
            Who::Server => Dir::Res,
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

/// The peer facing `side`.
pub const fn peer_of(side: Side) -> Who {
    match side {
        Side::Front => Who::Client,
        Side::Back => Who::Server,
    }
}

/// The peer that sends on channel `dir`.
pub const fn sender(dir: Dir) -> Who {
    match dir {
        Dir::Req => Who::Client,
        Dir::Res => Who::Server,
    }
}

/// The peer that receives what channel `dir` carries.
pub const fn receiver(dir: Dir) -> Who {
    sender(dir).other()
}

/// How a handshake message is written: whole, or in two pieces (a record
/// split by the sender's writes or the network).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Piece {
    /// In one write.
    Whole,
    /// Its first part.
    Head,
    /// The rest, after the head.
    Tail,
}

/// What one endpoint did and saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Data chunks sent.
    pub sent: u8,
    /// Data chunks received, in order.
    pub got: u8,
    /// Client: its PROXY header is sent whole (or garbage in its place).
    pub hdr_sent: bool,
    /// Client: sent the first half of a split PROXY header.
    pub hdr_head: bool,
    /// Client: sent its TLS hello whole (or garbage in its place). Server: answered one.
    pub hello_sent: bool,
    /// Client: sent the first half of a split TLS hello.
    pub hello_head: bool,
    /// The TLS handshake completed from this peer's point of view.
    pub tls_up: bool,
    /// Sent garbage (a protocol violation).
    pub garbage: bool,
    /// shutdown(SHUT_WR) (or close) done: a FIN follows its data.
    pub shut_wr: bool,
    /// It ended its stream cleanly: a FIN (raw), a close_notify then a FIN (TLS).
    pub clean_end: bool,
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
    /// `propagate-abort` only: its RST ended a stream the proxy was carrying
    /// (both handshakes done, its own stream not ended by a FIN, the proxy's
    /// sockets towards both peers open and neither peer reset by the proxy
    /// nor gone): the other peer is owed an RST once the proxy reads this one.
    pub rst_live: bool,
}

/// What the environment chose for one session, and what happened to its
/// current connect attempt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Env {
    /// The session exists (the second one exists only in two-session configurations).
    pub active: bool,
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
    /// The server slot this session holds, as the backend's counters say.
    pub slot: Option<u8>,
    /// A SYN waits for the server's answer.
    pub syn: bool,
    /// The server accepted the current attempt.
    pub accepted: bool,
    /// The server refused the current attempt.
    pub refused: bool,
    /// SYNs the servers saw.
    pub attempts: u8,
    /// The server of the current attempt.
    pub attempt_server: Option<u8>,
    /// Time passed since the current attempt's SYN: the turn-around delay,
    /// or the connect timeout (which is at least as long).
    pub waited: bool,
}

impl Env {
    /// Index of the listener variant: health, TLS front, TLS back.
    pub const fn variant(&self) -> usize {
        (self.health as usize) | (self.tls_front as usize) << 1 | (self.tls_back as usize) << 2
    }
}

/// The abstract runtime of one session: what the real runtime holds (bytes
/// in buffers and pipes, open sockets, TLS state), as chunks and flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Holdings {
    /// Channel buffers, indexed by [`Dir`].
    pub buf: [super::kernel::Fifo; 2],
    /// Channel pipes, indexed by [`Dir`].
    pub pipe: [super::kernel::Fifo; 2],
    /// Sockets open, indexed by [`Side`].
    pub fd_open: [bool; 2],
    /// Sockets registered with the poller, indexed by [`Side`].
    pub polled: [bool; 2],
    /// TLS progress on each side, 0 to [`TLS_UP`]. Front (the proxy is the
    /// TLS server): 1 the hello read, 2 its flight queued, 3 the client's
    /// Finished read. Back (the proxy is the client): 1 the hello queued, 2
    /// the server's flight read, 3 the proxy's Finished queued.
    pub tls: [u8; 2],
    /// The front TLS layer holds the first half of a split hello.
    pub hello_head: bool,
    /// The PROXY header was parsed.
    pub hdr_ok: bool,
    /// Rule stages passed (bit 0 connection, bit 1 source).
    pub rules_ok: u8,
    /// Bytes of a PROXY header were seen.
    pub hdr_bytes: bool,
    /// Data chunks moved from a wire into a channel (or discarded), per direction.
    pub taken: [u8; 2],
    /// Chunks discarded (drain or Discard).
    pub dropped: u8,
    /// Server slots given back.
    pub released: u8,
    /// Something was queued towards the server on this connection.
    pub sent_back: bool,
    /// Chunks and FINs the proxy queued towards the peers (progress).
    pub pushed: u8,
    /// The proxy queued a FIN (shutdown or close) towards the peer of each side.
    pub fin_out: [bool; 2],
    /// Queue events of this session: told to wait, handed a slot, left (progress).
    pub queue_moves: u8,

    /// How the proxy read each peer's end, indexed by [`Side`]: 0 not yet,
    /// [`END_CLEAN`] a read0 after the whole stream (and a close_notify on
    /// TLS), [`END_CUT`] a truncation or a reset.
    pub end: [u8; 2],
    /// `propagate-abort` only: a recv or send of the proxy on that side
    /// (`[front, back]`) returned the peer's reset.
    pub rst_seen: [bool; 2],
    /// `propagate-abort` only: `SO_ERROR` read after this attempt's connect
    /// said it succeeded (the proxy took the server connection as up).
    pub connected: bool,
}

/// [`Holdings::tls`] of a side whose TLS handshake is complete.
pub const TLS_UP: u8 = 3;
/// [`Holdings::end`]: a clean end was read.
pub const END_CLEAN: u8 = 1;
/// [`Holdings::end`]: the stream was cut (TLS truncation or reset).
pub const END_CUT: u8 = 2;

/// What losses an event explains, per direction, as a horizon in positions
/// along the stream: position `k` is data chunk `k`, and the end of stream
/// (FIN, with its close_notify on TLS) takes the position after the last
/// chunk sent. Everything below the horizon must arrive; what is at or above
/// it may be lost (docs/model.md, "Excuses"). A horizon only moves down, and
/// only by an event that explains the loss of those positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Excuse {
    /// Horizons set by events of the session as a whole (a peer's abort, a
    /// client that closed, a timer that cut both sides), indexed by [`Dir`].
    pub session: [u8; 2],
    /// Horizons set by events of the current connect attempt (a refusal, a
    /// connect timeout, a server that broke its handshake or aborted),
    /// indexed by [`Dir`]; a new attempt starts with none.
    pub attempt: [u8; 2],
}

impl Default for Excuse {
    fn default() -> Self {
        Excuse { session: [NONE; 2], attempt: [NONE; 2] }
    }
}

impl Excuse {
    /// The horizon of `dir`: the lower of the two.
    pub fn horizon(&self, dir: Dir) -> u8 {
        self.session[dir as usize].min(self.attempt[dir as usize])
    }
}

/// One session: the core, its peers, its wires, the runtime's holdings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sess {
    /// The proxy's session: the core.
    pub core: Session,
    /// The client.
    pub client: Peer,
    /// The server of the current connect attempt.
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
    pub held: Holdings,
    /// The environment's choices and the current attempt.
    pub env: Env,
    /// The losses that events explain.
    pub excuse: Excuse,
}

impl Sess {
    /// A peer.
    pub fn peer(&self, who: Who) -> &Peer {
        match who {
            Who::Client => &self.client,
            Who::Server => &self.server,
        }
    }

    /// A peer, to change.
    pub fn peer_mut(&mut self, who: Who) -> &mut Peer {
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

    /// The wire from `who` to the proxy, to change.
    pub fn up_mut(&mut self, who: Who) -> &mut Wire {
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

    /// The wire from the proxy to `who`, to change.
    pub fn down_mut(&mut self, who: Who) -> &mut Wire {
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

    /// Whether `who` speaks TLS to the proxy.
    pub fn tls_peer(&self, who: Who) -> bool {
        match who {
            Who::Client => self.env.tls_front && !self.is_check(),
            Who::Server => self.env.tls_back,
        }
    }

    /// Data chunks of `dir` that reached the receiving peer's kernel: read
    /// by it, or waiting in its receive queue.
    pub fn delivered(&self, dir: Dir) -> u8 {
        let who = receiver(dir);
        let queued = self.down(who).q.iter().filter(|c| c.data_id().is_some()).count() as u8;
        self.peer(who).got + queued
    }

    /// Data chunks of `dir` its sender wrote.
    pub fn sent(&self, dir: Dir) -> u8 {
        self.peer(sender(dir)).sent
    }

    /// Data chunks of `dir` the proxy took off the sender's wire.
    pub fn taken(&self, dir: Dir) -> u8 {
        self.held.taken[dir as usize]
    }

    /// `propagate-abort`: `who` is owed an RST, because the other peer's RST
    /// ended a stream the proxy carried and the proxy read that RST.
    pub fn rst_owed(&self, who: Who) -> bool {
        let other = who.other();
        self.peer(other).rst_live && self.held.rst_seen[other.side() as usize]
    }

    /// The chunks of `dir` that must still arrive: all sent, up to the horizon.
    pub fn owed(&self, dir: Dir) -> u8 {
        self.sent(dir).min(self.excuse.horizon(dir))
    }

    /// Whether the end of stream of `dir` (its sender's FIN, after every
    /// chunk) must still arrive: no event excused it.
    pub fn end_owed(&self, dir: Dir) -> bool {
        self.excuse.horizon(dir) > self.sent(dir)
    }

    /// Position reached along `dir` by the proxy: data chunks it took, and
    /// the end of stream once it read it.
    pub fn taken_pos(&self, dir: Dir) -> u8 {
        self.taken(dir) + u8::from(self.held.end[sender(dir).side() as usize] != 0)
    }

    /// Position reached along `dir` by its receiver: chunks it read, and the
    /// end of stream once it read the FIN.
    pub fn read_pos(&self, dir: Dir) -> u8 {
        let p = self.peer(receiver(dir));
        p.got + u8::from(p.got_fin)
    }

    /// Position reached along `dir` in the receiver's kernel: chunks read
    /// or queued, and the end once its FIN is queued or read.
    pub fn delivered_pos(&self, dir: Dir) -> u8 {
        let who = receiver(dir);
        self.delivered(dir) + u8::from(self.down(who).fin || self.peer(who).got_fin)
    }
}

/// A step rule that failed: the bit is set in [`SysState::violations`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Violation {
    // ---- observable: what a peer read, what the kernel held or was asked
    /// An I/O call (recv, send, shutdown, epoll_ctl, a TLS flush) on a socket already closed.
    IoOnClosedFd = 0,
    /// A peer received a chunk out of order, twice, or after a gap.
    ChunkOrder,
    /// A peer saw a FIN before every chunk sent before it.
    FinEarly,
    /// An RST of the proxy destroyed data a peer had not read, that no event excuses.
    RstDestroyedData,
    /// Payload was read from or written to a socket before its handshake finished.
    PayloadBeforeHandshake,
    /// Something other than the PROXY header came first on the server connection.
    ProxyHeaderNotFirst,
    /// More connect attempts than the retry budget allows.
    TooManyAttempts,
    /// A retry after a refusal did not wait for the turn-around delay.
    RetryTooSoon,
    /// A health or monitor check reached a server, got data, or lost its reply.
    CheckLeaked,
    /// A rejected connection reached a server or got a reply.
    RejectLeaked,
    /// The proxy did not reach quiescence (a busy loop).
    BusyLoop,
    /// A TLS connection used a pipe (splice on a TLS socket).
    TlsSpliced,
    /// A TLS peer read a FIN with no close_notify before it, though the other peer ended cleanly.
    TlsTruncatedCleanEnd,
    /// A TLS peer read a close_notify though the other peer's stream was cut.
    TlsForgedCleanEnd,
    /// The proxy sleeps while it could move data or an end of stream by itself.
    Stalled,
    /// The proxy sleeps with a socket open and no timer armed.
    SleepsWithoutTimer,
    /// A peer read a FIN though the other peer's RST ended its stream (`propagate-abort`).
    AbortAsFin,
    /// A propagated RST destroyed data that preceded the abort (`propagate-abort`).
    AbortBeforeData,
    // ---- internal consistency: the core's bookkeeping against itself or the runtime
    /// A lower layer closed (or shut) before the layer above it.
    LayerOrder,
    /// An operation status moved backwards.
    OpBackwards,
    /// A stream interface took a transition the note does not have.
    IllegalSiMove,
    /// The core's fill levels disagree with the data the runtime holds.
    FillMismatch,
    /// A step did not increase the progress measure (the model would have a cycle).
    NoProgress,
    /// The core's EMPTY_IN says nothing is readable while the wire holds something.
    StaleEmptyIn,
    /// The core's FULL_OUT says the socket is full while the wire has room.
    StaleFullOut,
    /// A pending shutdown or close step could run, and the proxy sleeps.
    PendingStepIdle,
    /// A half-closed or draining connection had no timer bounding it.
    HalfClosedUnbounded,
    /// A freed slot went to a session that was told to wait after another that still waits.
    QueueOrder,
    /// A client was told to wait while a server had a free slot, and the proxy sleeps.
    Starved,
    /// A server held more connections than its maxconn.
    MaxconnExceeded,
}

impl Violation {
    /// Every violation.
    pub const ALL: [Violation; 30] = [
        Violation::IoOnClosedFd,
        Violation::ChunkOrder,
        Violation::FinEarly,
        Violation::RstDestroyedData,
        Violation::PayloadBeforeHandshake,
        Violation::ProxyHeaderNotFirst,
        Violation::TooManyAttempts,
        Violation::RetryTooSoon,
        Violation::CheckLeaked,
        Violation::RejectLeaked,
        Violation::BusyLoop,
        Violation::TlsSpliced,
        Violation::TlsTruncatedCleanEnd,
        Violation::TlsForgedCleanEnd,
        Violation::Stalled,
        Violation::SleepsWithoutTimer,
        Violation::AbortAsFin,
        Violation::AbortBeforeData,
        Violation::LayerOrder,
        Violation::OpBackwards,
        Violation::IllegalSiMove,
        Violation::FillMismatch,
        Violation::NoProgress,
        Violation::StaleEmptyIn,
        Violation::StaleFullOut,
        Violation::PendingStepIdle,
        Violation::HalfClosedUnbounded,
        Violation::QueueOrder,
        Violation::Starved,
        Violation::MaxconnExceeded,
    ];
}

/// Events worth witnessing that leave no trace in the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Witness {
    /// A close_notify could not be sent at once (the socket was full).
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
    /// A recv took part of what the wire held.
    PartialRead,
    /// A send took part of what the buffer held.
    PartialWrite,
    /// A PROXY header arrived in two pieces.
    SplitHeader,
    /// A TLS hello arrived in two pieces.
    SplitHello,
    /// An inactivity timer (client or server) ended an established session.
    IdleTimeout,
    /// A TLS stream cut without close_notify reached the proxy.
    Truncation,
    /// A freed slot went to a waiting session while another still waited.
    HandedOver,
}

/// The backend the sessions share: its servers and its queue as the core's
/// decisions (`core::backend`) read and change them, the sessions outside the
/// model that hold slots, and, as the environment observed it, who was told
/// to wait, in order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Backend {
    /// Each server's slots taken (by sessions of the model and the others) and maxconn.
    pub servers: [ServerView; 2],
    /// The round-robin cursor.
    pub cursor: usize,
    /// The core's queue: session indices, oldest first.
    pub queue: [u8; SESSIONS],
    /// How many are in it.
    pub queue_len: u8,
    /// Another session, outside the model, holds a slot on server `i`.
    pub ghosts: [bool; 2],
    /// The sessions the balancer told to wait, in the order it told them
    /// (what their clients observed), and how many still wait.
    pub waiting: [u8; SESSIONS],
    /// How many sessions wait.
    pub waiting_len: u8,
}

impl Backend {
    /// Whether session `i` was told to wait and was not handed a slot or
    /// left since.
    pub fn is_waiting(&self, i: u8) -> bool {
        self.waiting[..usize::from(self.waiting_len)].contains(&i)
    }

    /// Records that session `i` was told to wait.
    pub fn told_to_wait(&mut self, i: u8) {
        if !self.is_waiting(i) && usize::from(self.waiting_len) < SESSIONS {
            self.waiting[usize::from(self.waiting_len)] = i;
            self.waiting_len += 1;
        }
    }

    /// Records that session `i` waits no more; returns whether a session
    /// told to wait before it still waits (it was served out of order).
    pub fn stops_waiting(&mut self, i: u8) -> bool {
        let len = usize::from(self.waiting_len);
        let Some(pos) = self.waiting[..len].iter().position(|&w| w == i) else { return false };
        self.waiting.copy_within(pos + 1..len, pos);
        self.waiting_len -= 1;
        self.waiting[usize::from(self.waiting_len)] = 0;
        pos > 0
    }

    /// Whether some server has a free slot a waiting session could take.
    pub fn slot_free(&self, servers: usize) -> bool {
        self.servers[..servers].iter().any(|s| s.usable && (s.maxconn == 0 || s.active < s.maxconn))
    }
}

impl Shared for Backend {
    type Waiter = u8;

    fn servers(&mut self) -> &mut [ServerView] {
        &mut self.servers
    }

    fn cursor(&mut self) -> &mut usize {
        &mut self.cursor
    }

    fn push_waiter(&mut self, w: u8) {
        if usize::from(self.queue_len) < SESSIONS {
            self.queue[usize::from(self.queue_len)] = w;
            self.queue_len += 1;
        }
    }

    fn waiters(&self) -> usize {
        usize::from(self.queue_len)
    }

    fn waiter(&self, pos: usize) -> Option<u8> {
        (pos < usize::from(self.queue_len)).then(|| self.queue[pos])
    }

    fn remove_waiter(&mut self, pos: usize) -> Option<u8> {
        let len = usize::from(self.queue_len);
        if pos >= len {
            return None;
        }
        let w = self.queue[pos];
        self.queue.copy_within(pos + 1..len, pos);
        self.queue_len -= 1;
        self.queue[usize::from(self.queue_len)] = 0;
        Some(w)
    }
}

/// One state of the closed system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SysState {
    /// The sessions; those whose `env.active` is false do not exist.
    pub sess: [Sess; SESSIONS],
    /// The backend they share.
    pub backend: Backend,
    /// Violation bits.
    pub violations: u32,
    /// Witness bits.
    pub seen: u16,
    /// No proxy step is enabled: the proxy sleeps in the poller (derived).
    pub quiet: bool,
    /// Quiet and no timer armed: a fair behaviour may end here (derived;
    /// liveness is judged in these states, docs/model.md "Fairness").
    pub stop: bool,
}

impl SysState {
    /// Whether violation `v` happened.
    pub fn violated(&self, v: Violation) -> bool {
        self.violations & (1 << v as u32) != 0
    }

    /// Records violation `v`.
    pub fn violate(&mut self, v: Violation) {
        self.violations |= 1 << v as u32;
    }

    /// Whether `w` was witnessed.
    pub fn witnessed(&self, w: Witness) -> bool {
        self.seen & (1 << w as u16) != 0
    }

    /// Records witness `w`.
    pub fn witness(&mut self, w: Witness) {
        self.seen |= 1 << w as u16;
    }

    /// The sessions that exist.
    pub fn sessions(&self) -> impl Iterator<Item = &Sess> + '_ {
        self.sess.iter().filter(|x| x.env.active)
    }

    /// Session 0, the one every configuration has.
    pub fn first(&self) -> &Sess {
        &self.sess[0]
    }
}

/// An action of the closed system. The `u8` is the session it concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SysAction {
    /// The proxy runs session `s` until its core waits (one event-loop turn).
    ProxyRuns(u8),
    /// A peer sends its next data chunk.
    PeerSends(u8, Who),
    /// The client sends its PROXY header (or a piece of it).
    ClientSendsHeader(u8, Piece),
    /// The client sends its TLS hello (or a piece of it).
    ClientSendsHello(u8, Piece),
    /// The client sends garbage instead of a header or hello.
    ClientSendsGarbage(u8),
    /// A peer reads one thing: a chunk, the FIN or the RST.
    PeerReads(u8, Who),
    /// A peer half-closes (TLS: close_notify first).
    PeerShutsWrite(u8, Who),
    /// A peer closes its socket (TLS: without close_notify, a truncation).
    PeerCloses(u8, Who),
    /// A peer closes with SO_LINGER 0 (RST).
    PeerAborts(u8, Who),
    /// The server accepts the pending connect.
    ServerAccepts(u8),
    /// The server refuses the pending connect.
    ServerRefuses(u8),
    /// Another session leaves server `i`, freeing a slot.
    SlotFrees(u8),
    /// An armed timer of session `s` fires (time passes while the proxy sleeps).
    TimerFires(u8, TimerKind),
}

impl SysAction {
    /// The session the action concerns (`None` for a slot freed by another session).
    pub const fn session(self) -> Option<u8> {
        match self {
            SysAction::ProxyRuns(s)
            | SysAction::PeerSends(s, _)
            | SysAction::ClientSendsHeader(s, _)
            | SysAction::ClientSendsHello(s, _)
            | SysAction::ClientSendsGarbage(s)
            | SysAction::PeerReads(s, _)
            | SysAction::PeerShutsWrite(s, _)
            | SysAction::PeerCloses(s, _)
            | SysAction::PeerAborts(s, _)
            | SysAction::ServerAccepts(s)
            | SysAction::ServerRefuses(s)
            | SysAction::TimerFires(s, _) => Some(s),
            SysAction::SlotFrees(_) => None,
        }
    }
}

impl fmt::Display for SysAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.session().filter(|&s| s != 0) {
            write!(f, "[session {s}] ")?;
        }
        let piece = |p: &Piece| match p {
            Piece::Whole => "",
            Piece::Head => " (first half)",
            Piece::Tail => " (second half)",
        };
        match self {
            SysAction::ProxyRuns(_) => f.write_str("proxy runs"),
            SysAction::PeerSends(_, w) => write!(f, "{w} sends a chunk"),
            SysAction::ClientSendsHeader(_, p) => write!(f, "client sends its PROXY header{}", piece(p)),
            SysAction::ClientSendsHello(_, p) => write!(f, "client sends its TLS hello{}", piece(p)),
            SysAction::ClientSendsGarbage(_) => f.write_str("client sends garbage"),
            SysAction::PeerReads(_, w) => write!(f, "{w} reads"),
            SysAction::PeerShutsWrite(_, w) => write!(f, "{w} shuts its write side (FIN)"),
            SysAction::PeerCloses(_, w) => write!(f, "{w} closes"),
            SysAction::PeerAborts(_, w) => write!(f, "{w} aborts (RST)"),
            SysAction::ServerAccepts(_) => f.write_str("server accepts the connection"),
            SysAction::ServerRefuses(_) => f.write_str("server refuses the connection"),
            SysAction::SlotFrees(i) => write!(f, "a slot frees on server {i}"),
            SysAction::TimerFires(_, k) => write!(f, "timer {k} fires"),
        }
    }
}
