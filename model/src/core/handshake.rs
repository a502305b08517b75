//! Handshake handlers: the note's "map of handshake handlers on the
//! connection". Each handler removes itself from the set when its work
//! succeeds; while it waits, it stays subscribed and the connection polls for
//! what it needs, until it is woken again or the handshake timeout strikes.
//!
//! ```text
//!   incoming: MONITOR_IN -> SEND_LAST_CHUNK -> TCP_RULES_CONN -> ACCEPT_PROXY
//!             -> TCP_RULES -> SSL_HS -> ACCEPT_SESSION
//!   outgoing: SEND_PROXY -> SSL_HS
//! ```
//!
//! HH_SEND_LAST_CHUNK is the note's merge of HH_HEALTH, HH_SEND_OK and
//! HH_SEND_HTTP_OK ("sends the chunk pointed to by a pointer and dies");
//! monitor-net and health mode take precedence over the PROXY header and the
//! data layer, as the note says, so a matching check connection runs only
//! that handler. TCP_RULES_CONN evaluates rules on the real peer address
//! before the PROXY header (HAProxy's `tcp-request connection`); TCP_RULES is
//! the note's HH_TCP_RULES, on the address the PROXY header carried. The
//! order is discussed in docs/design.md, "The handshake handlers".

use std::fmt;

/// One handshake handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Handler {
    /// HH_MONITOR_IN: matches the source against monitor-net and swaps the
    /// rest of the pipeline for HH_SEND_LAST_CHUNK.
    MonitorIn = 0,
    /// HH_SEND_LAST_CHUNK (HEALTH / SEND_OK / SEND_HTTP_OK): sends a fixed
    /// reply, then the connection drains its input and closes.
    SendLastChunk = 1,
    /// Connection rules on the real peer address.
    TcpRulesConn = 2,
    /// HH_ACCEPT_PROXY: waits for the PROXY header and parses it.
    AcceptProxy = 3,
    /// HH_TCP_RULES: rules on the forwarded source address.
    TcpRules = 4,
    /// HH_SSL_HS: the data layer's handshake (TLS accept or connect).
    SslHs = 5,
    /// HH_ACCEPT_SESSION: instantiates the session.
    AcceptSession = 6,
    /// HH_SEND_PROXY: builds and sends the PROXY header.
    SendProxy = 7,
}

impl Handler {
    /// Incoming order.
    pub const INCOMING: [Handler; 7] = [
        Handler::MonitorIn,
        Handler::SendLastChunk,
        Handler::TcpRulesConn,
        Handler::AcceptProxy,
        Handler::TcpRules,
        Handler::SslHs,
        Handler::AcceptSession,
    ];

    /// Outgoing order: the PROXY header goes first, in clear, before any TLS.
    pub const OUTGOING: [Handler; 2] = [Handler::SendProxy, Handler::SslHs];

    /// The note's name.
    pub const fn name(self) -> &'static str {
        match self {
            Handler::MonitorIn => "HH_MONITOR_IN",
            Handler::SendLastChunk => "HH_SEND_LAST_CHUNK",
            Handler::TcpRulesConn => "HH_TCP_RULES_CONN",
            Handler::AcceptProxy => "HH_ACCEPT_PROXY",
            Handler::TcpRules => "HH_TCP_RULES",
            Handler::SslHs => "HH_SSL_HS",
            Handler::AcceptSession => "HH_ACCEPT_SESSION",
            Handler::SendProxy => "HH_SEND_PROXY",
        }
    }
}

impl fmt::Display for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of handlers still subscribed on a connection.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct HandlerSet(u8);

impl HandlerSet {
    /// No handler.
    pub const EMPTY: HandlerSet = HandlerSet(0);

    /// Whether `h` is subscribed.
    pub const fn has(self, h: Handler) -> bool {
        self.0 & (1 << h as u8) != 0
    }

    /// Subscribes `h`.
    pub fn add(&mut self, h: Handler) {
        self.0 |= 1 << h as u8;
    }

    /// Unsubscribes `h` (its work succeeded).
    pub fn remove(&mut self, h: Handler) {
        self.0 &= !(1 << h as u8);
    }

    /// Whether no handler is left.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of handlers left (the model's progress measure).
    pub const fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// The first subscribed handler in `order`.
    pub fn first(self, order: &[Handler]) -> Option<Handler> {
        order.iter().copied().find(|&h| self.has(h))
    }

    /// Raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }
}

impl fmt::Debug for HandlerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_set();
        for h in Handler::INCOMING.iter().chain(&[Handler::SendProxy]) {
            if self.has(*h) {
                l.entry(&format_args!("{}", h.name()));
            }
        }
        l.finish()
    }
}

/// The fixed reply of HH_SEND_LAST_CHUNK.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reply {
    /// `mode health`: exactly `OK\n`.
    Health,
    /// monitor-net: exactly `HTTP/1.0 200 OK\r\n\r\n`.
    Monitor,
}

impl Reply {
    /// The bytes, as HAProxy sends them.
    pub const fn bytes(self) -> &'static [u8] {
        match self {
            Reply::Health => b"OK\n",
            Reply::Monitor => b"HTTP/1.0 200 OK\r\n\r\n",
        }
    }
}

/// Which rule set a TCP_RULES handler evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleStage {
    /// On the real peer address, before any PROXY header.
    Connection,
    /// On the source address the PROXY header carried.
    Source,
}
