//! The properties, named as plain sentences and typed on purpose.
//!
//! - `always`: a safety property, true in every reachable state. Each judges
//!   what a peer reads (bytes, FIN, RST, close_notify, a reply) or what the
//!   kernel holds or is asked (sockets, wires, syscalls), read from the peers,
//!   the wires and the abstract runtime, never from the core's own
//!   bookkeeping. Most read a violation bit that the system sets when a step
//!   breaks the rule, because the rule is about a step (an RST that destroyed
//!   data), not about one state.
//! - `eventually`: a liveness property, under the only fairness the model
//!   assumes (the proxy's steps and armed timers are weakly fair; peers are
//!   not): it must hold in every state where a fair behaviour may end, where
//!   the proxy sleeps with no timer armed ([`SysState::stop`]). The model is
//!   finite and acyclic (a progress measure grows on every step), so every
//!   behaviour ends in such a state; checking them is checking "eventually,
//!   for ever" on every fair behaviour (docs/model.md, "Fairness").
//! - `internal`: the core's consistency with itself and with the runtime
//!   (operation statuses, stream-interface moves, fill levels, readiness
//!   flags). Kept as checks of the core, but no mutant is refuted by one
//!   alone: a test asserts each of their mutants also breaks an observable
//!   property.
//! - `sometimes`: a reachability witness, so that no property holds only
//!   because the interesting path was never taken.

use super::config::Feature;
use super::config::ModelConfig;
use super::state::{Sess, SysState, Violation, Witness, SESSIONS, TLS_UP};
use super::ConnseqModel;
use crate::core::{Cause, DataLayer, Dir, FdState, Mutant, SiState, Side};

/// The kind of a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Observable safety: true in every reachable state.
    Always,
    /// Observable liveness: true wherever a fair behaviour may end.
    Eventually,
    /// The core's internal consistency (always, or where a behaviour may end).
    Internal,
    /// True in some reachable state.
    Sometimes,
}

impl Kind {
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Always => "always",
            Kind::Eventually => "eventually",
            Kind::Internal => "internal",
            Kind::Sometimes => "sometimes",
        }
    }

    /// Whether a property of this kind judges what peers or the kernel observe.
    pub const fn observable(self) -> bool {
        matches!(self, Kind::Always | Kind::Eventually)
    }
}

/// One property.
#[derive(Clone, Copy, Debug)]
pub struct PropDef {
    /// A short English sentence.
    pub name: &'static str,
    /// Always, eventually, internal or sometimes.
    pub kind: Kind,
    /// The predicate, true when the property holds in the state.
    pub check: fn(&ConnseqModel, &SysState) -> bool,
    /// Features without which the property is not checked (sometimes only).
    pub needs: &'static [Feature],
    /// What it judges: the observation (or, for internal checks, the bookkeeping).
    pub observes: &'static str,
    /// Where it comes from.
    pub source: &'static str,
}

const NONE: &[Feature] = &[];

fn ok(s: &SysState, v: Violation) -> bool {
    !s.violated(v)
}

/// At a state where a fair behaviour may end, every session satisfies `p`.
/// Besides the states where the proxy sleeps with no timer armed, a state
/// from which a step made no progress is one: the model would have a cycle
/// there, a behaviour that runs for ever.
fn at_stop(s: &SysState, p: impl Fn(&Sess) -> bool) -> bool {
    !(s.stop || s.violated(Violation::NoProgress)) || s.sessions().all(p)
}

/// Nothing of the session is left: the kernel holds none of its sockets, the
/// runtime none of its buffers, pipes or server slots.
pub fn session_released(x: &Sess) -> bool {
    x.held.fd_open == [false, false]
        && x.held.buf.iter().chain(&x.held.pipe).all(|f| f.is_empty())
        && x.env.slot.is_none()
}

/// Every chunk owed in each direction reached the receiver's kernel.
pub fn delivered_all(x: &Sess) -> bool {
    !x.is_proxied() || Dir::BOTH.iter().all(|&d| x.delivered(d) >= x.owed(d))
}

/// Every clean end of stream reached the other peer, unless excused.
pub fn ends_passed_on(x: &Sess) -> bool {
    if !x.is_proxied() {
        return true;
    }
    Dir::BOTH.iter().all(|&d| {
        let from = super::state::sender(d);
        let to = super::state::receiver(d);
        let owed = x.peer(from).clean_end && x.end_owed(d) && !x.peer(to).closed;
        let stream = to == super::state::Who::Client || x.env.accepted;
        !owed || !stream || x.down(to).fin || x.peer(to).got_fin
    })
}

/// `propagate-abort`: every peer owed an RST (the other peer's RST ended its
/// stream) has it on its wire or read it, or left; never a FIN.
pub fn abort_passed_on(x: &Sess) -> bool {
    [super::state::Who::Client, super::state::Who::Server].iter().all(|&who| {
        let p = x.peer(who);
        !x.rst_owed(who) || (!p.got_fin && (x.down(who).rst || p.got_rst || p.closed))
    })
}

/// Every property, in report order.
pub const PROPERTIES: &[PropDef] = &[
    // ------------------------------------------------------------ safety
    PropDef {
        name: "no I/O on a closed FD, no write after shutdown",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::IoOnClosedFd),
        needs: NONE,
        observes: "the syscalls the kernel is asked: recv, send, shutdown, epoll_ctl on a descriptor already closed; a send after shutdown(SHUT_WR)",
        source: "tcp-close-semantics: close() is never retried; the fd number may belong to someone else",
    },
    PropDef {
        name: "no chunk is lost, duplicated or reordered on its way",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::ChunkOrder),
        needs: NONE,
        observes: "the data chunks each peer reads, in order",
        source: "haproxy-semantics: the buffer must be empty before switching to the pipe",
    },
    PropDef {
        name: "a FIN is forwarded only after every chunk before it",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::FinEarly),
        needs: NONE,
        observes: "the FIN a peer reads, against the chunks it read and the other peer's own FIN",
        source: "DESIGN: half-close propagation (a FIN goes out only after every byte before it)",
    },
    PropDef {
        name: "the proxy's RST never destroys data a peer has not read",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::RstDestroyedData),
        needs: NONE,
        observes: "the chunks an RST of the proxy removes from a peer's receive queue",
        source: "note: drain input, wait for read0 or ack(shutw), then close(); RFC 9112 9.6",
    },
    PropDef {
        name: "an abort reaches the other peer as an RST, never before the data that preceded it",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::AbortAsFin) && ok(s, Violation::AbortBeforeData),
        needs: NONE,
        observes: "with propagate-abort, after one peer's RST ended its stream and the proxy read it: the FIN the other peer reads, and the chunks the proxy's RST removes from its receive queue",
        source: "issue 16 item 4: a truncated response must be told from a complete one; kernel axiom: what a receiver had received survives an RST",
    },
    PropDef {
        name: "no payload crosses before every handshake handler finished",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::PayloadBeforeHandshake),
        needs: NONE,
        observes: "payload the proxy takes from or writes to a socket, against the handshake bytes it took from it",
        source: "proxy-protocol 2: MUST NOT process any payload before a complete, valid header",
    },
    PropDef {
        name: "the PROXY header is the first thing on the server connection",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::ProxyHeaderNotFirst),
        needs: NONE,
        observes: "the first bytes on the wire to the server",
        source: "proxy-protocol: the header is the first bytes, before any TLS ClientHello",
    },
    PropDef {
        name: "no more connect attempts than the retry budget",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::TooManyAttempts),
        needs: NONE,
        observes: "the SYNs the servers see",
        source: "haproxy-semantics: CER -> CLO when retries are exhausted",
    },
    PropDef {
        name: "a refused server is tried again only after the turn-around delay",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::RetryTooSoon),
        needs: NONE,
        observes: "a server's second SYN after it refused the first, against the time passed",
        source: "haproxy-semantics: CER -> TAR, a delay then retry",
    },
    PropDef {
        name: "a health or monitor check gets its reply and never reaches a server",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::CheckLeaked),
        needs: NONE,
        observes: "what the checking client reads, and the SYNs the servers see",
        source: "note: HH_HEALTH tries to send OK and dies; monitor-net has precedence",
    },
    PropDef {
        name: "a rejected connection reaches no server and gets no reply",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::RejectLeaked),
        needs: NONE,
        observes: "what the rejected client reads, and the SYNs the servers see",
        source: "note: HH_TCP_RULES processes TCP rules; haproxy-semantics: reject resets",
    },
    PropDef {
        name: "the proxy reaches quiescence",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::BusyLoop),
        needs: NONE,
        observes: "the syscalls of one event-loop turn: a turn that never ends is a busy loop",
        source: "mio: read until WouldBlock, then wait for the poller",
    },
    PropDef {
        name: "a TLS connection never splices",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::TlsSpliced),
        needs: NONE,
        observes: "splice(2) on a socket that carries TLS",
        source: "note: ssl_sock_to_pipe => NULL, ssl_sock_from_pipe => NULL",
    },
    PropDef {
        name: "a TLS peer reads a close_notify before the FIN of a clean end",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::TlsTruncatedCleanEnd),
        needs: NONE,
        observes: "the close_notify and FIN a TLS peer reads, against how the other peer ended",
        source: "tcp-close-semantics: a TCP EOF without close_notify is a truncation the application must tell from a clean end",
    },
    PropDef {
        name: "a TLS peer never reads a close_notify for a stream that was cut",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::TlsForgedCleanEnd),
        needs: NONE,
        observes: "the close_notify a TLS peer reads, against how the other peer ended",
        source: "RFC 8446 6.1: a truncation must be told from a clean end",
    },
    PropDef {
        name: "the proxy never sleeps while it could move data or an end of stream",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::Stalled),
        needs: NONE,
        observes: "while the proxy sleeps: data it holds towards a socket with room, data on a socket with room to take it, an end of stream it read and did not pass on",
        source: "mio: read until WouldBlock; an edge that was consumed does not come back",
    },
    PropDef {
        name: "a freed server slot goes to the session that waited longest",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::QueueOrder),
        needs: NONE,
        observes: "the order the clients were told to wait, against the order their sessions got a server",
        source: "haproxy-semantics: QUE -> ASS, dequeued in order; issue: a freed slot goes to the oldest waiter",
    },
    PropDef {
        name: "no client waits for a server while a server slot is free",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::Starved),
        needs: NONE,
        observes: "while the proxy sleeps: the clients told to wait, against the servers' free slots",
        source: "haproxy-semantics: QUE -> ASS when a slot frees",
    },
    PropDef {
        name: "no server holds more connections than its maxconn",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::MaxconnExceeded),
        needs: NONE,
        observes: "the connections each server holds (the proxy's and the other sessions')",
        source: "haproxy-semantics: a server's maxconn; a queue timeout frees nothing it does not hold",
    },
    PropDef {
        name: "the proxy never sleeps with a connection open and no timer armed",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::SleepsWithoutTimer),
        needs: NONE,
        observes: "the proxy's sockets while it sleeps, against the timeout it gives the poller",
        source: "tcp-close-semantics: peers may never act again; HAProxy: timeout client / server",
    },
    // ------------------------------------------------------------ liveness
    PropDef {
        name: "every session ends and leaves no socket, buffer, pipe or server slot",
        kind: Kind::Eventually,
        check: |_, s| at_stop(s, session_released),
        needs: NONE,
        observes: "the sockets the kernel holds, the buffers, pipes and server slots the runtime holds",
        source: "DESIGN: no FD leaks; buffers held only while data is in flight; server slots given back",
    },
    PropDef {
        name: "every chunk reaches the other peer unless an event excuses its loss",
        kind: Kind::Eventually,
        check: |_, s| at_stop(s, delivered_all),
        needs: NONE,
        observes: "the chunks each peer read or has in its receive queue, against those the other sent",
        source: "DESIGN: no byte lost where no peer aborted; excuses: docs/model.md",
    },
    PropDef {
        name: "an abort is propagated to the other peer",
        kind: Kind::Eventually,
        check: |_, s| at_stop(s, abort_passed_on),
        needs: NONE,
        observes: "with propagate-abort, after one peer's RST ended its stream and the proxy read it: the RST the other peer read or holds",
        source: "issue 16 item 4: abort propagation, beyond HAProxy",
    },
    PropDef {
        name: "every clean end of stream reaches the other peer unless an event excuses it",
        kind: Kind::Eventually,
        check: |_, s| at_stop(s, ends_passed_on),
        needs: NONE,
        observes: "the FIN each peer read or has in its receive queue, against the other peer's own",
        source: "note: each step may fail, and is retained and postponed in an asynchronous task",
    },
    // ------------------------------------------------------------ internal
    PropDef {
        name: "layers close top-down",
        kind: Kind::Internal,
        check: |_, s| ok(s, Violation::LayerOrder),
        needs: NONE,
        observes: "the core's operation table (DCLO before CCLO before FCLO) and the poller registration at close",
        source: "note: close(conn) = conn.data.close(); conn.ctrl.close(); conn.fd.close()",
    },
    PropDef {
        name: "an operation status only moves forward",
        kind: Kind::Internal,
        check: |_, s| ok(s, Violation::OpBackwards),
        needs: NONE,
        observes: "the core's 2-bit operation statuses",
        source: "note: 00 not desired, 10 desired, 11 started, 01 completed",
    },
    PropDef {
        name: "a stream interface moves only along the note's transitions",
        kind: Kind::Internal,
        check: |_, s| ok(s, Violation::IllegalSiMove),
        needs: NONE,
        observes: "the core's stream-interface states",
        source: "haproxy-semantics: stream-interface transition table",
    },
    PropDef {
        name: "the core's fill levels match the data the runtime holds",
        kind: Kind::Internal,
        check: |_, s| ok(s, Violation::FillMismatch),
        needs: NONE,
        observes: "the core's fill levels against the runtime's buffers and pipes",
        source: "note: a channel is composed of flags and stats, and may store data in a buffer or a pipe",
    },
    PropDef {
        name: "every step makes progress",
        kind: Kind::Internal,
        check: |_, s| ok(s, Violation::NoProgress),
        needs: NONE,
        observes: "the progress measure: the model stays acyclic, so every behaviour ends",
        source: "docs/model.md: liveness is checked where behaviours end",
    },
    PropDef {
        name: "EMPTY_IN only when the socket holds nothing to read",
        kind: Kind::Internal,
        check: |_, s| ok(s, Violation::StaleEmptyIn),
        needs: NONE,
        observes: "the core's EMPTY_IN against the wire, while the proxy sleeps",
        source: "note: EMPTY_IN; mio: an edge that was consumed does not come back",
    },
    PropDef {
        name: "FULL_OUT only when the socket is full",
        kind: Kind::Internal,
        check: |_, s| ok(s, Violation::StaleFullOut),
        needs: NONE,
        observes: "the core's FULL_OUT against the wire, while the proxy sleeps",
        source: "note: FULL_OUT; mio: recompute interest after every event",
    },
    PropDef {
        name: "no shutdown or close step waits that could run now",
        kind: Kind::Internal,
        check: |_, s| ok(s, Violation::PendingStepIdle),
        needs: NONE,
        observes: "the core's pending operations against the socket's readiness, while the proxy sleeps",
        source: "note: each step may fail ... postponed in an asynchronous task",
    },
    PropDef {
        name: "a half-closed connection that waits is bounded by a timer",
        kind: Kind::Internal,
        check: |_, s| ok(s, Violation::HalfClosedUnbounded),
        needs: NONE,
        observes: "the core's armed timers on a half-closed or draining connection",
        source: "tcp-close-semantics: a half-closed state must be bounded by a timer",
    },
    PropDef {
        name: "every session ends with both stream interfaces in CLO",
        kind: Kind::Internal,
        check: |_, s| at_stop(s, |x| x.core.is_closed()),
        needs: NONE,
        observes: "the core's stream interfaces where a behaviour may end",
        source: "haproxy-semantics: EST -> DIS -> CLO",
    },
    PropDef {
        name: "every desired shutdown completes",
        kind: Kind::Internal,
        check: |_, s| {
            at_stop(s, |x| {
                !x.core.conn(Side::Front).ops.any_pending()
                    && !x.core.conn(Side::Back).ops.any_pending()
                    && x.core.conn(Side::Front).fd == FdState::Closed
                    && x.core.conn(Side::Back).fd == FdState::Closed
            })
        },
        needs: NONE,
        observes: "the core's operation table where a behaviour may end",
        source: "note: each step may fail, the step must be retained and postponed in an asynchronous task",
    },
    // ---------------------------------------------------------------- witnesses
    PropDef {
        name: "a session ends cleanly with data both ways",
        kind: Kind::Sometimes,
        check: |_, s| {
            let x = s.first();
            x.core.is_closed()
                && x.core.termination().cause == Cause::Normal
                && x.client.got > 0
                && x.server.got > 0
                && x.client.got_fin
                && x.server.got_fin
        },
        needs: NONE,
        observes: "",
        source: "",
    },
    PropDef {
        name: "a session ends while its client never closes",
        kind: Kind::Sometimes,
        check: |_, s| s.stop && s.first().core.is_closed() && !s.first().client.closed && s.first().core.started(),
        needs: NONE,
        observes: "",
        source: "",
    },
    PropDef {
        name: "an idle session ends at its inactivity timeout",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::IdleTimeout) && s.first().core.is_closed(),
        needs: NONE,
        observes: "",
        source: "",
    },
    PropDef {
        name: "the server closes while the client still sends, and the client reads the whole response",
        kind: Kind::Sometimes,
        check: |_, s| {
            let x = s.first();
            s.witnessed(Witness::ServerClosedEarly)
                && x.server.sent > 0
                && x.client.got == x.server.sent
                && x.client.got_fin
                && !x.client.got_rst
                && x.core.is_closed()
        },
        needs: NONE,
        observes: "",
        source: "",
    },
    PropDef {
        name: "the proxy drains input before it closes",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::Drained) && s.first().core.is_closed(),
        needs: NONE,
        observes: "",
        source: "",
    },
    PropDef {
        name: "a client abort ends the session",
        kind: Kind::Sometimes,
        check: |_, s| s.first().client.reset_sent && s.first().core.is_closed() && s.first().core.started(),
        needs: NONE,
        observes: "",
        source: "",
    },
    PropDef {
        name: "a half-closed side ends at its fin timeout",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::FinTimeout),
        needs: NONE,
        observes: "",
        source: "",
    },
    PropDef {
        name: "a connect times out",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::ConnectTimeout),
        needs: NONE,
        observes: "",
        source: "",
    },
    PropDef {
        name: "a refused connect ends the session cleanly",
        kind: Kind::Sometimes,
        check: |_, s| s.first().env.refused && s.first().core.is_closed() && !s.first().client.got_rst,
        needs: NONE,
        observes: "",
        source: "",
    },
    PropDef {
        name: "a recv takes part of what the socket holds, and the rest follows",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::PartialRead) && s.first().core.is_closed() && delivered_all(s.first()),
        needs: NONE,
        observes: "",
        source: "",
    },
    PropDef {
        name: "a send takes part of what the buffer holds, and the rest follows",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::PartialWrite) && s.first().core.is_closed() && delivered_all(s.first()),
        needs: NONE,
        observes: "",
        source: "",
    },
    PropDef {
        name: "a connect is retried after a failure",
        kind: Kind::Sometimes,
        check: |_, s| s.first().core.retries_used() > 0 && s.first().env.attempts > 1,
        needs: &[Feature::Retries],
        observes: "",
        source: "",
    },
    PropDef {
        name: "a retry is redispatched to another server",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::Redispatched),
        needs: &[Feature::Retries],
        observes: "",
        source: "",
    },
    PropDef {
        name: "a session waits in the queue, then gets a server",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::Queued) && s.sessions().any(|x| x.env.accepted),
        needs: &[Feature::Queue],
        observes: "",
        source: "",
    },
    PropDef {
        name: "two sessions wait, and a freed slot goes to one while the other still waits",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::HandedOver),
        needs: &[Feature::Queue],
        observes: "",
        source: "",
    },
    PropDef {
        name: "a health check is answered",
        kind: Kind::Sometimes,
        check: |_, s| {
            let x = s.first();
            x.env.health && x.client.got_reply && x.client.got_fin && x.core.is_closed()
        },
        needs: &[Feature::Health],
        observes: "",
        source: "",
    },
    PropDef {
        name: "a monitor check is answered",
        kind: Kind::Sometimes,
        check: |_, s| {
            let x = s.first();
            x.env.monitor_match && x.client.got_reply && x.client.got_fin && x.core.is_closed()
        },
        needs: &[Feature::Monitor],
        observes: "",
        source: "",
    },
    PropDef {
        name: "a PROXY header is parsed and data follows it",
        kind: Kind::Sometimes,
        check: |_, s| s.first().held.hdr_ok && s.first().server.got > 0,
        needs: &[Feature::ProxyIn],
        observes: "",
        source: "",
    },
    PropDef {
        name: "the server receives a PROXY header, then data",
        kind: Kind::Sometimes,
        check: |_, s| s.first().server.got_hdr && s.first().server.got > 0,
        needs: &[Feature::ProxyOut],
        observes: "",
        source: "",
    },
    PropDef {
        name: "a connection is rejected by a rule",
        kind: Kind::Sometimes,
        check: |_, s| s.first().core.rejected() && s.first().core.is_closed(),
        needs: &[Feature::Rules],
        observes: "",
        source: "",
    },
    PropDef {
        name: "garbage instead of a handshake is refused",
        kind: Kind::Sometimes,
        check: |_, s| s.first().client.garbage && s.first().core.is_closed() && s.first().env.attempts == 0,
        needs: &[Feature::Garbage, Feature::ProxyIn],
        observes: "",
        source: "",
    },
    PropDef {
        name: "data crosses through a pipe",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::Spliced) && s.first().server.got + s.first().client.got > 0,
        needs: &[Feature::Splice],
        observes: "",
        source: "",
    },
    PropDef {
        name: "TLS completes on both sides and data crosses",
        kind: Kind::Sometimes,
        check: |_, s| {
            let x = s.first();
            x.held.tls == [TLS_UP, TLS_UP] && x.core.conn(Side::Front).data == DataLayer::Tls && x.server.got > 0 && x.client.got > 0
        },
        needs: &[Feature::TlsFront, Feature::TlsBack],
        observes: "",
        source: "",
    },
    PropDef {
        name: "a server's reset reaches the client as an RST after the response before it",
        kind: Kind::Sometimes,
        check: |_, s| {
            let x = s.first();
            x.server.rst_live && x.held.rst_seen[1] && x.client.got > 0 && x.client.got_rst
        },
        needs: &[Feature::PropagateAbort],
        observes: "",
        source: "",
    },
    PropDef {
        name: "a client's reset reaches the server as an RST after the request before it",
        kind: Kind::Sometimes,
        check: |_, s| {
            let x = s.first();
            x.client.rst_live && x.held.rst_seen[0] && x.server.got > 0 && x.server.got_rst
        },
        needs: &[Feature::PropagateAbort],
        observes: "",
        source: "",
    },
    PropDef {
        name: "a close_notify is postponed, then reaches the peer",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::PostponedShutw) && s.sessions().any(|x| x.client.got_cn || x.server.got_cn),
        needs: &[Feature::TlsFront],
        observes: "",
        source: "",
    },
    PropDef {
        name: "a truncated TLS stream reaches the other peer as a truncation",
        kind: Kind::Sometimes,
        check: |_, s| {
            let x = s.first();
            s.witnessed(Witness::Truncation) && x.env.tls_front && x.server.got_fin && !x.client.clean_end
        },
        needs: &[Feature::TlsFront],
        observes: "",
        source: "",
    },
    PropDef {
        name: "the handshake timeout closes a slow client",
        kind: Kind::Sometimes,
        check: |_, s| {
            let x = s.first();
            x.core.termination().cause == Cause::ClientTimeout && !x.core.started() && x.core.is_closed()
        },
        needs: &[Feature::ProxyIn],
        observes: "",
        source: "",
    },
    PropDef {
        name: "a PROXY header in two pieces, with data behind it, is parsed",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::SplitHeader) && s.first().server.got > 0,
        needs: &[Feature::ProxyIn],
        observes: "",
        source: "",
    },
    PropDef {
        name: "a TLS hello in two pieces completes the handshake",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::SplitHello) && s.first().held.tls[0] == TLS_UP,
        needs: &[Feature::TlsFront],
        observes: "",
        source: "",
    },
];

/// The properties checked under `model`'s features (witnesses whose
/// features are off, or that need pieces the configuration does not split,
/// are left out).
pub fn applicable(model: &ConnseqModel) -> Vec<&'static PropDef> {
    let cfg = &model.sys.cfg;
    PROPERTIES
        .iter()
        .filter(|p| p.needs.iter().all(|&f| cfg.has(f)))
        .filter(|p| cfg.split || !p.name.contains("in two pieces"))
        .filter(|p| {
            !(p.kind == Kind::Sometimes && needs_data(p.name)) || cfg.client_chunks > 0 && cfg.server_chunks > 0
        })
        .filter(|p| !(p.kind == Kind::Sometimes && needs_abort(p.name) && cfg.contention()))
        .filter(|p| !p.name.starts_with("two sessions wait") || cfg.sessions >= 2)
        .filter(|p| {
            let partial = p.name.starts_with("a recv takes part") || p.name.starts_with("a send takes part");
            !partial || (cfg.wire_cap >= 2 && cfg.buf_cap >= 2)
        })
        .collect()
}

/// Witnesses of data crossing, unreachable where peers send none.
fn needs_data(name: &str) -> bool {
    [
        "a session ends cleanly with data both ways",
        "the server closes while the client still sends",
        "the proxy drains input before it closes",
    ]
    .iter()
    .any(|w| name.starts_with(w))
}

/// Witnesses of an abort or a refusal, which contention peers never do.
fn needs_abort(name: &str) -> bool {
    name == "a client abort ends the session" || name == "a refused connect ends the session cleanly"
}

/// Looks a property up by name.
pub fn by_name(name: &str) -> Option<&'static PropDef> {
    PROPERTIES.iter().find(|p| p.name == name)
}

/// Session `i` of a state (for tests and reports).
pub fn session(s: &SysState, i: usize) -> Option<&Sess> {
    (i < SESSIONS).then(|| &s.sess[i]).filter(|x| x.env.active)
}

/// Whether a state's first session ended (for reports).
pub fn first_closed(s: &SysState) -> bool {
    s.first().core.si(Side::Front) == SiState::Clo && s.first().core.si(Side::Back) == SiState::Clo
}

/// A deliberate bug of the core, the property it must break, and what it
/// needs to show.
#[derive(Clone, Copy, Debug)]
pub struct MutantDef {
    /// The bug.
    pub mutant: Mutant,
    /// The property (by name) it was written to break.
    pub refutes: &'static str,
    /// Features it needs.
    pub needs: &'static [Feature],
    /// Sizes it needs: chunks each way, wire, buffer (at least these,
    /// `buf_cap` exactly when `exact_buf`).
    pub chunks: u8,
    /// Sessions it needs (2 where sessions contend for a server).
    pub sessions: u8,
    /// Chunks a wire holds.
    pub wire_cap: u8,
    /// Chunks a buffer holds.
    pub buf_cap: u8,
    /// `buf_cap` is exact (a smaller buffer than the default shows the bug).
    pub exact_buf: bool,
}

const fn m(mutant: Mutant, refutes: &'static str, needs: &'static [Feature]) -> MutantDef {
    MutantDef { mutant, refutes, needs, chunks: 2, sessions: 1, wire_cap: 1, buf_cap: 2, exact_buf: false }
}

/// Every mutant. Each is refuted in `cargo test` by the property it names
/// and by at least one observable property (model/tests/mutants.rs).
pub const MUTANTS: &[MutantDef] = &[
    m(Mutant::CloseFdBeforeData, "layers close top-down", NONE),
    m(Mutant::RecvAfterClose, "no I/O on a closed FD, no write after shutdown", NONE),
    m(Mutant::ShutwRepeated, "an operation status only moves forward", &[Feature::TlsFront]),
    m(Mutant::SpliceWhileBuffered, "no chunk is lost, duplicated or reordered on its way", &[Feature::Splice]),
    m(Mutant::FinBeforeFlush, "a FIN is forwarded only after every chunk before it", NONE),
    m(Mutant::CloseWithoutDrain, "the proxy's RST never destroys data a peer has not read", NONE),
    m(Mutant::CloseForShutwEarly, "the proxy's RST never destroys data a peer has not read", NONE),
    m(
        Mutant::ForwardBeforeHandshake,
        "no payload crosses before every handshake handler finished",
        &[Feature::ProxyIn],
    ),
    m(
        Mutant::ProxyHeaderAfterTls,
        "the PROXY header is the first thing on the server connection",
        &[Feature::ProxyOut, Feature::TlsBack],
    ),
    m(Mutant::RetryFromCer, "a refused server is tried again only after the turn-around delay", &[Feature::Retries]),
    m(Mutant::RetryWithoutBudget, "no more connect attempts than the retry budget", &[Feature::Retries]),
    m(
        Mutant::ReplyThenSession,
        "a health or monitor check gets its reply and never reaches a server",
        &[Feature::Health],
    ),
    m(Mutant::RulesIgnored, "a rejected connection reaches no server and gets no reply", &[Feature::Rules]),
    m(Mutant::RetryWouldBlock, "the proxy reaches quiescence", NONE),
    m(Mutant::NoFinTimer, "a half-closed connection that waits is bounded by a timer", NONE),
    m(Mutant::SpliceOverTls, "a TLS connection never splices", &[Feature::TlsFront, Feature::Splice]),
    m(Mutant::NoDisToClo, "every session ends with both stream interfaces in CLO", NONE),
    m(
        Mutant::LeakServerSlot,
        "every session ends and leaves no socket, buffer, pipe or server slot",
        &[Feature::Retries],
    ),
    MutantDef {
        wire_cap: 2,
        buf_cap: 1,
        exact_buf: true,
        ..m(Mutant::IgnoreFullBuffer, "the core's fill levels match the data the runtime holds", NONE)
    },
    m(Mutant::DropTailOnShutr, "every chunk reaches the other peer unless an event excuses its loss", NONE),
    m(Mutant::NoIdleTimer, "the proxy never sleeps with a connection open and no timer armed", NONE),
    MutantDef {
        wire_cap: 2,
        ..m(Mutant::LostWakeup, "the proxy never sleeps while it could move data or an end of stream", NONE)
    },
    m(Mutant::LostWriteWakeup, "FULL_OUT only when the socket is full", NONE),
    m(
        Mutant::CloseNotifyNeverRetried,
        "every clean end of stream reaches the other peer unless an event excuses it",
        &[Feature::TlsFront],
    ),
    m(Mutant::ShortWriteComplete, "every chunk reaches the other peer unless an event excuses its loss", NONE),
    m(Mutant::SendResetEndsInput, "every chunk reaches the other peer unless an event excuses its loss", NONE),
    m(Mutant::LingerSkippedAfterRetry, "the proxy's RST never destroys data a peer has not read", &[Feature::Retries]),
    MutantDef {
        chunks: 1,
        ..m(
            Mutant::LingerSkippedAfterRedispatch,
            "the proxy's RST never destroys data a peer has not read",
            &[Feature::Retries, Feature::TlsFront],
        )
    },
    m(
        Mutant::TruncationAsClose,
        "a TLS peer never reads a close_notify for a stream that was cut",
        &[Feature::TlsFront, Feature::TlsBack],
    ),
    m(
        Mutant::FinWithoutCloseNotify,
        "a TLS peer reads a close_notify before the FIN of a clean end",
        &[Feature::TlsFront],
    ),
    m(Mutant::HandshakeTimerRearms, "every step makes progress", &[Feature::ProxyIn]),
    m(
        Mutant::RstBeforeAck,
        "an abort reaches the other peer as an RST, never before the data that preceded it",
        &[Feature::PropagateAbort],
    ),
    m(
        Mutant::AbortAsFin,
        "an abort reaches the other peer as an RST, never before the data that preceded it",
        &[Feature::PropagateAbort],
    ),
    m(Mutant::AbortAsFin, "an abort is propagated to the other peer", &[Feature::PropagateAbort]),
    MutantDef { wire_cap: 2, ..m(Mutant::LostWakeup, "EMPTY_IN only when the socket holds nothing to read", NONE) },
    m(Mutant::CloseNotifyNeverRetried, "no shutdown or close step waits that could run now", &[Feature::TlsFront]),
    m(Mutant::RetryFromCer, "a stream interface moves only along the note's transitions", &[Feature::Retries]),
    m(Mutant::CloseWithoutDrain, "every desired shutdown completes", NONE),
    MutantDef {
        chunks: 0,
        sessions: 2,
        ..m(Mutant::QueueSkipsOldest, "a freed server slot goes to the session that waited longest", &[Feature::Queue])
    },
    MutantDef {
        chunks: 0,
        sessions: 2,
        ..m(Mutant::ReleaseForgetsQueue, "no client waits for a server while a server slot is free", &[Feature::Queue])
    },
    MutantDef {
        chunks: 0,
        sessions: 2,
        ..m(Mutant::QueueTimeoutReleases, "no server holds more connections than its maxconn", &[Feature::Queue])
    },
];

impl MutantDef {
    /// The property it names.
    pub fn property(&self) -> &'static PropDef {
        by_name(self.refutes).unwrap_or_else(|| panic!("mutant {} names no property: {}", self.mutant, self.refutes))
    }

    /// The configuration it is shown on: `base` with its features and sizes.
    pub fn config(&self, base: ModelConfig) -> ModelConfig {
        let mut cfg = base.with_mutant(self.mutant);
        for &f in self.needs {
            cfg = cfg.with(f);
        }
        if self.sessions >= 2 {
            // Contention: the queue preset's peers (see `ModelConfig::contention`).
            cfg.client_chunks = self.chunks;
            cfg.server_chunks = self.chunks;
        } else {
            cfg.client_chunks = cfg.client_chunks.max(self.chunks);
            cfg.server_chunks = cfg.server_chunks.max(self.chunks);
        }
        cfg.sessions = cfg.sessions.max(self.sessions);
        cfg.wire_cap = cfg.wire_cap.max(self.wire_cap);
        cfg.buf_cap = if self.exact_buf { self.buf_cap } else { cfg.buf_cap.max(self.buf_cap) };
        cfg
    }
}

/// The catalogue entries of mutant `mutant` (one per property it is written against).
pub fn mutant_defs(mutant: Mutant) -> impl Iterator<Item = &'static MutantDef> {
    MUTANTS.iter().filter(move |d| d.mutant == mutant)
}
