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
//! [`ReplayVerdict::Unsupported`] with the reason, not a divergence: a timer the
//! model fires while an earlier deadline is armed (the model fires any armed
//! timer; a clock fires the earliest first). Where Linux is kinder than the
//! model's kernel, or the real proxy sends what the model has no message for
//! (TLS session tickets), the trace is [`ReplayVerdict::Explained`].

mod config;
mod harness;
mod lockstep;
mod observe;

use config::trace_timeouts;
use connseq::runtime::Breakage;
use connseq_model::check::{Piece, SysAction, SysState, System, Who};
use connseq_model::core::NoBugs;
use harness::Harness;
use lockstep::{run, Stop};
use std::fmt;
/// Every reason a trace is [`ReplayVerdict::Unsupported`], by name, with the
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

/// A chunk's bytes on the wire, as both harnesses write them: the sender's
/// tag (`c` or `s`), the chunk's number (per direction), padding.
pub(crate) fn chunk(sender: Who, n: u8) -> [u8; CHUNK] {
    let tag = match sender {
        Who::Client => b'c',
        Who::Server => b's',
    };
    [tag, n, b'-', b'-', b'-', b'-', b'-', b'\n']
}
/// What a divergence says when the proxy's event loop did not finish a turn.
pub const TURN_LOST: &str = "the proxy's turn did not end (its event loop hangs or has died)";

/// How the replay of one trace ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayVerdict {
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
/// Replays `actions` from `init` in the model and on real sockets, and
/// compares them.
pub fn replay(sys: &System, init: &SysState, actions: &[SysAction]) -> ReplayVerdict {
    replay_with(sys, init, actions, Breakage::None)
}

/// [`replay`] against a deliberately broken runtime (`breakage`): the test
/// that shows the comparison catches a runtime that misbehaves.
pub fn replay_with(sys: &System, init: &SysState, actions: &[SysAction], breakage: Breakage) -> ReplayVerdict {
    if let Some(a) = actions.iter().find(|a| a.session().is_some_and(|s| s != 0)) {
        return ReplayVerdict::Unsupported(format!("{a}: the harness plays one session"));
    }
    let split = |a: &&SysAction| matches!(a, SysAction::ClientSendsHeader(_, p) | SysAction::ClientSendsHello(_, p) if *p != Piece::Whole);
    if let Some(a) = actions.iter().find(split) {
        return ReplayVerdict::Unsupported(format!("{a}: the harness writes handshake messages whole"));
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
        Err(e) => return ReplayVerdict::HarnessError(format!("the harness could not start: {e}")),
    };
    match run(sys, init, actions, &mut h) {
        Ok(compared) => ReplayVerdict::Agrees { compared },
        Err(Stop::Diverged(d)) => ReplayVerdict::Diverges(d),
        Err(Stop::Unsupported(why)) => ReplayVerdict::Unsupported(why),
        Err(Stop::Explained(why)) => ReplayVerdict::Explained(why),
        Err(Stop::Io(e)) => ReplayVerdict::HarnessError(format!("harness I/O error: {e}")),
    }
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
