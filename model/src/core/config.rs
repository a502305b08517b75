//! What the core needs to know about the listener and backend a session
//! belongs to, and the catalogue of deliberate bugs ([`Mutant`]) the model
//! checker must catch.

use super::timers::Timeouts;
use std::fmt;
use std::str::FromStr;

/// Load-balancing algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Balance {
    /// Each server in turn.
    #[default]
    RoundRobin,
    /// The server with the fewest active connections (ties: lowest index after
    /// the cursor, so equal servers still rotate).
    LeastConn,
}

/// When the channel may use a pipe (splice) instead of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpliceMode {
    /// Never splice.
    Never,
    /// Splice once data has crossed the channel through the buffer (HAProxy's `splice-auto`).
    #[default]
    Auto,
    /// Splice from the first byte.
    Always,
}

/// The per-listener configuration a session's decisions depend on. The core
/// never stores it: every entry point takes it by reference, so one listener's
/// configuration serves all its sessions, and the model's states stay small.
///
/// `B` says which deliberate bugs the core carries: the proxy uses the
/// default, [`NoBugs`], for which every mutant branch is a constant `false`
/// that the compiler removes, so the shipped session has none; the model
/// checker instantiates the same code with a [`Mutant`] to show that each
/// property can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionConfig<B = NoBugs> {
    /// `mode health`: every connection gets `OK\n` and is closed.
    pub health: bool,
    /// A monitor-net is configured (the runtime says whether a source matches).
    pub monitor: bool,
    /// Connection rules on the real peer address.
    pub conn_rules: bool,
    /// Expect a PROXY header on incoming connections.
    pub accept_proxy: bool,
    /// Rules on the forwarded source address.
    pub src_rules: bool,
    /// TLS on the client side.
    pub tls_front: bool,
    /// TLS towards the server.
    pub tls_back: bool,
    /// Send a PROXY header to the server.
    pub send_proxy: bool,
    /// Splice policy (raw connections only).
    pub splice: SpliceMode,
    /// Balancing algorithm.
    pub balance: Balance,
    /// Queue when every server is at maxconn (otherwise fail at once).
    pub queue: bool,
    /// Connect retries after the first attempt.
    pub retries: u8,
    /// Choose another server for the last retry.
    pub redispatch: bool,
    /// Wait the turn-around delay before retrying.
    pub turn_around: bool,
    /// Timer durations.
    pub timeouts: Timeouts,
    /// `--propagate-abort`: a peer's reset in the middle of its stream is
    /// passed on as a reset of the other connection, once every byte taken
    /// before it was delivered and acknowledged, instead of HAProxy's FIN
    /// (docs/operations.md, docs/model.md "Abort propagation").
    pub propagate_abort: bool,
    /// The deliberate bugs: [`NoBugs`] in the proxy, a [`Mutant`] in the checker.
    pub mutant: B,
}

/// Which deliberate bugs a core carries (see [`SessionConfig`]).
pub trait Bugs: Copy + fmt::Debug + PartialEq + Eq + std::hash::Hash + Send + Sync + 'static {
    /// Whether the core carries mutant `m`.
    fn has(self, m: Mutant) -> bool;
}

/// The correct core: no mutant at all, every check folded away at compile time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NoBugs;

impl Bugs for NoBugs {
    #[inline(always)]
    fn has(self, _: Mutant) -> bool {
        false
    }
}

impl Bugs for Mutant {
    #[inline]
    fn has(self, m: Mutant) -> bool {
        self == m
    }
}

impl<B> SessionConfig<B> {
    /// The same configuration carrying other bugs.
    pub fn with_bugs<C>(self, mutant: C) -> SessionConfig<C> {
        let SessionConfig {
            health,
            monitor,
            conn_rules,
            accept_proxy,
            src_rules,
            tls_front,
            tls_back,
            send_proxy,
            splice,
            balance,
            queue,
            retries,
            redispatch,
            turn_around,
            timeouts,
            propagate_abort,
            mutant: _,
        } = self;
        SessionConfig {
            health,
            monitor,
            conn_rules,
            accept_proxy,
            src_rules,
            tls_front,
            tls_back,
            send_proxy,
            splice,
            balance,
            queue,
            retries,
            redispatch,
            turn_around,
            timeouts,
            propagate_abort,
            mutant,
        }
    }
}

impl<B: Default> Default for SessionConfig<B> {
    fn default() -> Self {
        SessionConfig {
            health: false,
            monitor: false,
            conn_rules: false,
            accept_proxy: false,
            src_rules: false,
            tls_front: false,
            tls_back: false,
            send_proxy: false,
            splice: SpliceMode::Never,
            balance: Balance::RoundRobin,
            queue: false,
            retries: 0,
            redispatch: false,
            turn_around: false,
            timeouts: Timeouts::default(),
            propagate_abort: false,
            mutant: B::default(),
        }
    }
}

macro_rules! mutants {
    ($( $(#[$doc:meta])* $name:ident = $key:literal, $desc:literal; )*) => {
        /// Deliberate bugs in the core, each selectable in the model's
        /// configuration. Every `always` and `eventually` property has one that
        /// the checker must refute: the proof that the property can fail.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
        pub enum Mutant {
            /// The correct core.
            #[default]
            None,
            $( $(#[$doc])* $name, )*
        }

        impl Mutant {
            /// Every mutant (not `None`).
            pub const ALL: &'static [Mutant] = &[$(Mutant::$name),*];

            /// The name used on the command line.
            pub const fn name(self) -> &'static str {
                match self {
                    Mutant::None => "none",
                    $( Mutant::$name => $key, )*
                }
            }

            /// What the bug does.
            pub const fn description(self) -> &'static str {
                match self {
                    Mutant::None => "the correct core",
                    $( Mutant::$name => $desc, )*
                }
            }
        }
    };
}

mutants! {
    /// Closes the socket before the data and control layers.
    CloseFdBeforeData = "close-fd-before-data",
        "closes the socket first, then the control and data layers (bottom-up)";
    /// Keeps draining after the drain completed, without checking the socket is open.
    RecvAfterClose = "recv-after-close",
        "tests DSHR != 00 instead of DSHR & 10 for a drain, and forgets to check that the socket is still open: it reads on after read0, and after the close";
    /// A completed shutdown moves back to desired and runs again.
    ShutwRepeated = "shutw-repeated",
        "moves a completed shutw back to not desired when the socket becomes readable again, so the close_notify and the FIN are sent a second time";
    /// Splices into the pipe while the buffer still holds older bytes.
    SpliceWhileBuffered = "splice-while-buffered",
        "switches the channel to the pipe as soon as the buffer holds data, while it still holds it";
    /// Forwards a FIN as soon as the producer's read0 arrives.
    FinBeforeFlush = "fin-before-flush",
        "forwards the FIN as soon as read0 arrives, before the channel is empty";
    /// Closes right after shutw, without the lingering drain.
    CloseWithoutDrain = "close-without-drain",
        "closes right after its own shutw instead of draining input until the peer's FIN";
    /// Lets the close stand for the shutw while the input is still open.
    CloseForShutwEarly = "close-for-shutw-early",
        "closes instead of shutting the write side when a FIN is owed, even while the peer may still send (a close stands for the shutw only once the peer's FIN was read)";
    /// Starts the session without waiting for the other handshake handlers.
    ForwardBeforeHandshake = "forward-before-handshake",
        "instantiates the session (and forwards) while handshake handlers are still pending";
    /// Runs the outgoing TLS handshake before sending the PROXY header.
    ProxyHeaderAfterTls = "proxy-header-after-tls",
        "runs the outgoing TLS handshake before sending the PROXY header";
    /// Retries a refused attempt straight from CER to CON.
    RetryFromCer = "retry-from-cer",
        "retries a refused attempt by connecting straight from CER, skipping the turn-around delay (TAR)";
    /// Does not count retries.
    RetryWithoutBudget = "retry-without-budget",
        "forgets to count retries, so a refusing server is tried again and again";
    /// Lets a health or monitor connection go on to a session.
    ReplyThenSession = "reply-then-session",
        "keeps the other handshake handlers after a health or monitor reply, so the check reaches a server";
    /// Ignores a reject verdict.
    RulesIgnored = "rules-ignored",
        "ignores a reject verdict of the connection rules";
    /// Retries a recv that said EAGAIN without waiting for readiness.
    RetryWouldBlock = "retry-wouldblock",
        "retries a recv that returned EAGAIN without waiting for the poller (a busy loop)";
    /// Arms no fin timer on a half-closed connection.
    NoFinTimer = "no-fin-timer",
        "arms no client-fin/server-fin timer, so a half-closed connection can wait forever";
    /// Splices TLS connections.
    SpliceOverTls = "splice-over-tls",
        "lets a TLS connection use the pipe (ssl_sock_to_pipe is NULL in the note)";
    /// Leaves the stream interface in DIS after its socket closed.
    NoDisToClo = "no-dis-to-clo",
        "leaves a stream interface in DIS after its socket closed";
    /// Keeps the server slot of a session whose connect was retried.
    LeakServerSlot = "leak-server-slot",
        "never gives the server slot back once a connect attempt was retried";
    /// Records a full buffer as having room.
    IgnoreFullBuffer = "ignore-full-buffer",
        "records a recv that filled the buffer as leaving room, so the next recv has no room to read into";
    /// Discards buffered data when read0 arrives.
    DropTailOnShutr = "drop-tail-on-shutr",
        "discards the data still buffered in a channel when its producer's read0 arrives";
    /// No inactivity timer on an established session.
    NoIdleTimer = "no-idle-timer",
        "arms no client/server inactivity timer on an established session, so one whose peers go silent never ends";
    /// One recv per readiness edge.
    LostWakeup = "lost-wakeup",
        "takes one recv per readiness edge: after a recv that brought data it marks the socket empty (EMPTY_IN) instead of reading on until EAGAIN";
    /// A writable edge on the client side is lost.
    LostWriteWakeup = "lost-write-wakeup",
        "forgets the writable edge of the client's socket: after one EAGAIN it never sends to the client again";
    /// A postponed close_notify is never retried.
    CloseNotifyNeverRetried = "close-notify-never-retried",
        "never retries a close_notify that a full socket postponed";
    /// A short write is treated as complete.
    ShortWriteComplete = "short-write-complete",
        "treats a short write as complete: what the send did not take is forgotten";
    /// The lingering drain is skipped once a connect was retried.
    LingerSkippedAfterRetry = "linger-skipped-after-retry",
        "closes without the lingering drain, but only on a session whose connect was retried";
    /// The lingering drain is skipped on a TLS connection once a connect was
    /// redispatched and the request carried data.
    LingerSkippedAfterRedispatch = "linger-skipped-after-redispatch",
        "closes a TLS connection without the lingering drain, but only on a session that was redispatched to another server and carried a request";
    /// The handshake timer re-arms itself instead of closing.
    HandshakeTimerRearms = "handshake-timer-rearms",
        "re-arms the handshake timer when it fires instead of closing the slow client, so such a session never ends";
    /// A freed slot goes to the newest waiter.
    QueueSkipsOldest = "queue-skips-oldest",
        "hands a freed server slot to the newest session in the queue instead of the oldest";
    /// A release frees the slot without handing it to a waiter.
    ReleaseForgetsQueue = "release-forgets-queue",
        "frees a released server slot without looking at the queue, so a waiting session waits on while a slot is free";
    /// Leaving the queue gives back a slot the session never held.
    QueueTimeoutReleases = "queue-timeout-releases",
        "gives a server slot back when a session leaves the queue (its queue timeout or its client's abort), though it never held one";
    /// A truncated TLS stream is forwarded as a clean close.
    TruncationAsClose = "truncation-as-close",
        "forwards a TLS stream that ended without close_notify (a truncation) as a clean close, with a close_notify";
    /// A failed send ends the input too.
    SendResetEndsInput = "send-reset-ends-input",
        "takes a send that failed with a reset for the end of the connection, and throws away what the peer sent before its FIN and the kernel still holds";
    /// A TLS connection's shutw sends a FIN without close_notify.
    FinWithoutCloseNotify = "fin-without-close-notify",
        "shuts the write side of a TLS connection with a FIN and no close_notify";
    /// A propagated reset does not wait for the send queue.
    RstBeforeAck = "rst-before-ack",
        "with propagate-abort, resets the other connection as soon as the channel is flushed, without waiting for its send queue to empty: the RST destroys data in flight";
    /// A peer's reset is passed on as a FIN.
    AbortAsFin = "abort-as-fin",
        "with propagate-abort, ends the other connection with a FIN after a peer's reset, as HAProxy does";
}

impl fmt::Display for Mutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mutant {
    type Err = String;

    fn from_str(s: &str) -> Result<Mutant, String> {
        if s == "none" {
            return Ok(Mutant::None);
        }
        Mutant::ALL
            .iter()
            .copied()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown mutant `{s}` (see --list-mutants)"))
    }
}
