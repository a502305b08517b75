//! What the core needs to know about the listener and backend a session
//! belongs to, and the catalogue of deliberate bugs ([`Mutant`]) the model
//! checker must catch.

use super::backend::Balance;
use super::timers::Timeouts;
use std::fmt;
use std::str::FromStr;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionConfig {
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
    /// A deliberate bug, for the model checker to catch. `Mutant::None` in production.
    pub mutant: Mutant,
}

impl Default for SessionConfig {
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
            mutant: Mutant::None,
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
    /// Keeps reading from a side after its socket was closed.
    RecvAfterClose = "recv-after-close",
        "forgets to check that the socket is still open before reading from it";
    /// An abortive close clears pending shutdown steps instead of completing them.
    AbortClearsShutw = "abort-clears-shutw",
        "clears the pending shutdown steps on an abortive close (their status moves back to not desired) instead of completing them";
    /// Splices into the pipe while the buffer still holds older bytes.
    SpliceWhileBuffered = "splice-while-buffered",
        "switches the channel to the pipe as soon as the buffer holds data, while it still holds it";
    /// Forwards a FIN as soon as the producer's read0 arrives.
    FinBeforeFlush = "fin-before-flush",
        "forwards the FIN as soon as read0 arrives, before the channel is empty";
    /// Closes right after shutw, without the lingering drain.
    CloseWithoutDrain = "close-without-drain",
        "closes right after its own shutw instead of draining input until the peer's FIN";
    /// Starts the session without waiting for the other handshake handlers.
    ForwardBeforeHandshake = "forward-before-handshake",
        "instantiates the session (and forwards) while handshake handlers are still pending";
    /// Runs the outgoing TLS handshake before sending the PROXY header.
    ProxyHeaderAfterTls = "proxy-header-after-tls",
        "runs the outgoing TLS handshake before sending the PROXY header";
    /// Retries a failed attempt straight from CER to CON.
    RetryFromCer = "retry-from-cer",
        "retries a failed attempt by connecting straight from CER, skipping TAR/ASS";
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
    /// Keeps the server slot when the session gives up on connecting.
    LeakServerSlot = "leak-server-slot",
        "keeps the server slot when the session gives up after failed attempts";
    /// An abortive close leaves pending shutdown steps pending.
    AbortKeepsShutwPending = "abort-keeps-shutw-pending",
        "leaves pending shutw steps desired when an abortive close supersedes them";
    /// Records a full buffer as having room.
    IgnoreFullBuffer = "ignore-full-buffer",
        "records a recv that filled the buffer as leaving room, so the next recv overflows it";
    /// Discards buffered data when read0 arrives.
    DropTailOnShutr = "drop-tail-on-shutr",
        "discards the data still buffered in a channel when its producer's read0 arrives";
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
