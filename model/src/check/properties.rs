//! The properties, named as plain sentences and typed on purpose.
//!
//! - `always`: a safety property, true in every reachable state. Most read a
//!   violation bit that [`super::system`] sets when a step breaks the rule,
//!   because the rule is about a step (an operation moving backwards, an RST
//!   that destroyed data), not about one state.
//! - `eventually`: a liveness property, stated over a stable predicate as
//!   "every terminal state satisfies it". The model is acyclic (a progress
//!   measure grows strictly on every step, checked as the property "every
//!   step makes progress") and finite, so every path ends in a terminal state,
//!   and checking terminal states is sound. stateright's own `eventually` is
//!   not used: its documentation warns of false negatives on cycles, and its
//!   search does not keep the pending-eventually bits in the fingerprint, so
//!   a state reached by two paths can hide a violation.
//! - `sometimes`: a reachability witness, so that no property holds only
//!   because the interesting path was never taken.
//!
//! Each `always` and `eventually` property names the mutant of the core that
//! the checker refutes (docs/model.md lists them with the sentence of the
//! note or spec each property comes from).

use super::config::Feature;
use super::system::{SysState, Violation, Witness, TLS_UP};
use super::ConnseqModel;
use crate::core::{Cause, DataLayer, FdState, Mutant, Op};

/// The kind of a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// True in every reachable state.
    Always,
    /// True in every terminal state.
    Eventually,
    /// True in some reachable state.
    Sometimes,
}

impl Kind {
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Always => "always",
            Kind::Eventually => "eventually",
            Kind::Sometimes => "sometimes",
        }
    }
}

/// One property.
#[derive(Clone, Copy, Debug)]
pub struct PropDef {
    /// A short English sentence.
    pub name: &'static str,
    /// Always, eventually or sometimes.
    pub kind: Kind,
    /// The predicate. For `eventually`, already in its terminal-state form.
    pub check: fn(&ConnseqModel, &SysState) -> bool,
    /// Features without which the property is not checked (sometimes only).
    pub needs: &'static [Feature],
    /// The mutant the checker must refute it with.
    pub mutant: Option<Mutant>,
    /// Features the mutant needs to show.
    pub mutant_needs: &'static [Feature],
    /// Where it comes from.
    pub source: &'static str,
}

const NONE: &[Feature] = &[];

fn ok(s: &SysState, v: Violation) -> bool {
    !s.violated(v)
}

/// Every property, in report order.
pub const PROPERTIES: &[PropDef] = &[
    PropDef {
        name: "layers close top-down",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::LayerOrder),
        needs: NONE,
        mutant: Some(Mutant::CloseFdBeforeData),
        mutant_needs: NONE,
        source: "note: close(conn) = conn.data.close(); conn.ctrl.close(); conn.fd.close()",
    },
    PropDef {
        name: "no I/O on a closed FD",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::IoOnClosedFd),
        needs: NONE,
        mutant: Some(Mutant::RecvAfterClose),
        mutant_needs: NONE,
        source: "tcp-close-semantics: close() is never retried; the fd number may belong to someone else",
    },
    PropDef {
        name: "an operation status only moves forward",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::OpBackwards),
        needs: NONE,
        mutant: Some(Mutant::AbortClearsShutw),
        mutant_needs: &[Feature::TlsFront],
        source: "note: 00 not desired, 10 desired, 11 started, 01 completed",
    },
    PropDef {
        name: "no chunk is lost, duplicated or reordered on its way",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::ChunkOrder),
        needs: NONE,
        mutant: Some(Mutant::SpliceWhileBuffered),
        mutant_needs: &[Feature::Splice],
        source: "haproxy-semantics: the buffer must be empty before switching to the pipe",
    },
    PropDef {
        name: "a FIN is forwarded only after every chunk before it",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::FinEarly),
        needs: NONE,
        mutant: Some(Mutant::FinBeforeFlush),
        mutant_needs: NONE,
        source: "DESIGN: half-close propagation (a FIN goes out only after every byte before it)",
    },
    PropDef {
        name: "the proxy's RST never destroys data a peer has not read",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::RstDestroyedData),
        needs: NONE,
        mutant: Some(Mutant::CloseWithoutDrain),
        mutant_needs: NONE,
        source: "note: drain input, wait for read0 or ack(shutw), then close(); RFC 9112 9.6",
    },
    PropDef {
        name: "no payload crosses before every handshake handler finished",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::PayloadBeforeHandshake),
        needs: NONE,
        mutant: Some(Mutant::ForwardBeforeHandshake),
        mutant_needs: &[Feature::ProxyIn],
        source: "proxy-protocol 2: MUST NOT process any payload before a complete, valid header",
    },
    PropDef {
        name: "the PROXY header is the first thing on the server connection",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::ProxyHeaderNotFirst),
        needs: NONE,
        mutant: Some(Mutant::ProxyHeaderAfterTls),
        mutant_needs: &[Feature::ProxyOut, Feature::TlsBack],
        source: "proxy-protocol: the header is the first bytes, before any TLS ClientHello",
    },
    PropDef {
        name: "a stream interface moves only along the note's transitions",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::IllegalSiMove),
        needs: NONE,
        mutant: Some(Mutant::RetryFromCer),
        mutant_needs: &[Feature::Retries],
        source: "haproxy-semantics: stream-interface transition table",
    },
    PropDef {
        name: "no more connect attempts than the retry budget",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::TooManyAttempts),
        needs: NONE,
        mutant: Some(Mutant::RetryWithoutBudget),
        mutant_needs: &[Feature::Retries],
        source: "haproxy-semantics: CER -> CLO when retries are exhausted",
    },
    PropDef {
        name: "a health or monitor check gets its reply and never reaches a server",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::CheckLeaked),
        needs: NONE,
        mutant: Some(Mutant::ReplyThenSession),
        mutant_needs: &[Feature::Health],
        source: "note: HH_HEALTH tries to send OK and dies; monitor-net has precedence",
    },
    PropDef {
        name: "a rejected connection reaches no server and gets no reply",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::RejectLeaked),
        needs: NONE,
        mutant: Some(Mutant::RulesIgnored),
        mutant_needs: &[Feature::Rules],
        source: "note: HH_TCP_RULES processes TCP rules; haproxy-semantics: reject resets",
    },
    PropDef {
        name: "every step makes progress and the proxy reaches quiescence",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::NoProgress),
        needs: NONE,
        mutant: Some(Mutant::RetryWouldBlock),
        mutant_needs: NONE,
        source: "mio: read until WouldBlock, then wait for the poller",
    },
    PropDef {
        name: "a half-closed connection that waits is bounded by a timer",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::HalfClosedUnbounded),
        needs: NONE,
        mutant: Some(Mutant::NoFinTimer),
        mutant_needs: NONE,
        source: "tcp-close-semantics: a half-closed state must be bounded by a timer",
    },
    PropDef {
        name: "a TLS connection never splices",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::TlsSpliced),
        needs: NONE,
        mutant: Some(Mutant::SpliceOverTls),
        mutant_needs: &[Feature::TlsFront, Feature::Splice],
        source: "note: ssl_sock_to_pipe => NULL, ssl_sock_from_pipe => NULL",
    },
    PropDef {
        name: "the core's fill levels match the data the runtime holds",
        kind: Kind::Always,
        check: |_, s| ok(s, Violation::FillMismatch),
        needs: NONE,
        mutant: Some(Mutant::IgnoreFullBuffer),
        mutant_needs: NONE,
        source: "note: a channel is composed of flags and stats, and may store data in a buffer or a pipe",
    },
    PropDef {
        name: "every session ends with both stream interfaces in CLO",
        kind: Kind::Eventually,
        check: |_, s| !s.terminal || s.core.is_closed(),
        needs: NONE,
        mutant: Some(Mutant::NoDisToClo),
        mutant_needs: NONE,
        source: "haproxy-semantics: EST -> DIS -> CLO",
    },
    PropDef {
        name: "every socket is closed and nothing is leaked",
        kind: Kind::Eventually,
        check: |_, s| {
            !s.terminal
                || (s.exec.fd_open == [false, false]
                    && s.core.front.fd == FdState::Closed
                    && s.core.back.fd == FdState::Closed
                    && s.exec.buf.iter().chain(&s.exec.pipe).all(|f| f.is_empty())
                    && s.env.slot.is_none()
                    && s.core.server.is_none()
                    && !s.core.timers.any_armed())
        },
        needs: NONE,
        mutant: Some(Mutant::LeakServerSlot),
        mutant_needs: &[Feature::Retries],
        source: "DESIGN: no FD leaks; buffers held only while data is in flight",
    },
    PropDef {
        name: "every desired shutdown completes",
        kind: Kind::Eventually,
        check: |_, s| !s.terminal || (!s.core.front.ops.any_pending() && !s.core.back.ops.any_pending()),
        needs: NONE,
        mutant: Some(Mutant::AbortKeepsShutwPending),
        mutant_needs: NONE,
        source: "note: each step may fail, the step must be retained and postponed in an asynchronous task",
    },
    PropDef {
        name: "every chunk reaches the other peer unless a peer aborted or a timer fired",
        kind: Kind::Eventually,
        check: |_, s| {
            !s.terminal
                || !s.is_proxied()
                || s.env.disturbed
                || (s.server.got == s.client.sent && s.client.got == s.server.sent)
        },
        needs: NONE,
        mutant: Some(Mutant::DropTailOnShutr),
        mutant_needs: NONE,
        source: "DESIGN: no byte lost where no peer aborted",
    },
    // ---------------------------------------------------------------- witnesses
    PropDef {
        name: "a session ends cleanly with data both ways",
        kind: Kind::Sometimes,
        check: |_, s| {
            s.core.is_closed()
                && s.core.term.cause == Cause::Normal
                && s.client.got > 0
                && s.server.got > 0
                && s.client.got_fin
                && s.server.got_fin
        },
        needs: NONE,
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "the server closes while the client still sends, and the client reads the whole response",
        kind: Kind::Sometimes,
        check: |_, s| {
            s.witnessed(Witness::ServerClosedEarly)
                && s.server.sent > 0
                && s.client.got == s.server.sent
                && s.client.got_fin
                && !s.client.got_rst
                && s.core.is_closed()
        },
        needs: NONE,
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "the proxy drains input before it closes",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::Drained) && s.core.is_closed(),
        needs: NONE,
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "a client abort ends the session",
        kind: Kind::Sometimes,
        check: |_, s| s.client.reset_sent && s.core.is_closed() && s.core.started(),
        needs: NONE,
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "a half-closed side ends at its fin timeout",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::FinTimeout),
        needs: NONE,
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "a connect times out",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::ConnectTimeout),
        needs: NONE,
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "a refused connect ends the session cleanly",
        kind: Kind::Sometimes,
        check: |_, s| s.env.refused && s.core.is_closed() && !s.client.got_rst,
        needs: NONE,
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "a connect is retried after a failure",
        kind: Kind::Sometimes,
        check: |_, s| s.core.retries_used > 0 && s.env.attempts > 1,
        needs: &[Feature::Retries],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "a retry is redispatched to another server",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::Redispatched),
        needs: &[Feature::Retries],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "a session waits in the queue, then gets a server",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::Queued) && s.env.accepted,
        needs: &[Feature::Queue],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "a health check is answered",
        kind: Kind::Sometimes,
        check: |_, s| s.env.health && s.client.got_reply && s.client.got_fin && s.core.is_closed(),
        needs: &[Feature::Health],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "a monitor check is answered",
        kind: Kind::Sometimes,
        check: |_, s| s.env.monitor_match && s.client.got_reply && s.client.got_fin && s.core.is_closed(),
        needs: &[Feature::Monitor],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "a PROXY header is parsed and data follows it",
        kind: Kind::Sometimes,
        check: |_, s| s.exec.hdr_ok && s.server.got > 0,
        needs: &[Feature::ProxyIn],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "the server receives a PROXY header, then data",
        kind: Kind::Sometimes,
        check: |_, s| s.server.got_hdr && s.server.got > 0,
        needs: &[Feature::ProxyOut],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "a connection is rejected by a rule",
        kind: Kind::Sometimes,
        check: |_, s| s.core.rejected && s.core.is_closed(),
        needs: &[Feature::Rules],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "garbage instead of a handshake is refused",
        kind: Kind::Sometimes,
        check: |_, s| s.client.garbage && s.core.is_closed() && s.env.attempts == 0,
        needs: &[Feature::Garbage, Feature::ProxyIn],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "data crosses through a pipe",
        kind: Kind::Sometimes,
        check: |_, s| s.witnessed(Witness::Spliced) && s.server.got + s.client.got > 0,
        needs: &[Feature::Splice],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "TLS completes on both sides and data crosses",
        kind: Kind::Sometimes,
        check: |_, s| {
            s.exec.tls == [TLS_UP, TLS_UP]
                && s.core.front.data == DataLayer::Tls
                && s.server.got > 0
                && s.client.got > 0
        },
        needs: &[Feature::TlsFront, Feature::TlsBack],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "a close_notify is postponed, then completes",
        kind: Kind::Sometimes,
        check: |_, s| {
            s.witnessed(Witness::PostponedShutw)
                && (s.core.front.ops.done(Op::CtrlShutw) || s.core.back.ops.done(Op::CtrlShutw))
                && !s.env.timer_fired
        },
        needs: &[Feature::TlsFront],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
    PropDef {
        name: "the handshake timeout closes a slow client",
        kind: Kind::Sometimes,
        check: |_, s| s.core.term.cause == Cause::ClientTimeout && !s.core.started() && s.core.is_closed(),
        needs: &[Feature::ProxyIn],
        mutant: None,
        mutant_needs: NONE,
        source: "",
    },
];

/// The properties checked under `features`.
pub fn applicable(model: &ConnseqModel) -> Vec<&'static PropDef> {
    PROPERTIES.iter().filter(|p| p.needs.iter().all(|&f| model.sys.cfg.has(f))).collect()
}

/// Looks a property up by name.
pub fn by_name(name: &str) -> Option<&'static PropDef> {
    PROPERTIES.iter().find(|p| p.name == name)
}
