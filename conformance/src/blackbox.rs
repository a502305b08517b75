//! Black-box conformance: any TCP proxy held to the model on what its peers
//! see.
//!
//! [`crate::replay`] runs connseq's own runtime in-process, stepped, and
//! compares its core after every turn. An external proxy (HAProxy, a build
//! of connseq started by command, anything that forwards TCP) offers none of
//! that: it is a process that listens on one address and connects to
//! another. This harness plays the client and the server on real loopback
//! sockets around it and compares the one thing every proxy shares with the
//! model: what each peer reads, in order: a data chunk, the FIN, the RST, or
//! nothing.
//!
//! # Why the proxy is not stepped
//!
//! The model's proxy acts only at `ProxyRuns`: the environment may act
//! several times in a row while the proxy's work waits. An external process
//! runs whenever the kernel wakes it; its turn can be neither withheld nor
//! granted, only waited for. So the harness *settles* instead: after every
//! action it polls the peers' sockets (non-destructive `MSG_PEEK` reads) and
//! the server's listener until nothing new has shown for a quiet period
//! ([`Settle::quiet`], 20 ms by default), within a bound ([`Settle::bound`],
//! 2 s). This is timing-based: a proxy that takes longer than the quiet
//! period to react (a loaded machine, a proxy that delays on purpose) looks
//! like one that did not react, and what is reported is then a timing
//! artefact. A longer quiet period trades speed for certainty; and a run
//! that departs is run again with a quiet period twice as long, the
//! departure counting only when it shows again ([`Report::unconfirmed`]
//! counts the others).
//!
//! Because the real proxy takes its turn after every environment action, the
//! prediction it is held to is the model's *eager schedule* ([`plan`]): the
//! trace's environment actions in order, each followed by `ProxyRuns` for as
//! long as the model's proxy has work, so a trace's own `ProxyRuns` steps
//! add nothing. The server's kernel is eager too: a listening port completes
//! the handshake at the SYN, so the model's server answers a connect as soon
//! as the proxy starts it, with the answer the trace gives later (accept,
//! or refuse). The trace's `ServerAccepts` is then the server application's
//! `accept()`, which no proxy can see. Traces that differ only in where the
//! proxy's turns fall share one eager schedule and are run once
//! ([`Blackbox::campaign`] groups them).
//!
//! | model action | black-box action |
//! |---|---|
//! | proxy runs | nothing more: the harness settled after the action before |
//! | peer sends a chunk | `write` of the chunk's 8 bytes (as in [`crate::replay`]), then settle |
//! | peer reads | one read of at most one chunk, compared with the eager model's read |
//! | peer shuts its write side | `shutdown(SHUT_WR)`, then settle |
//! | peer closes | `close()` (an RST if input is unread), then settle |
//! | peer aborts | `SO_LINGER {1, 0}` then `close()`: an RST; then settle |
//! | server accepts | the connection the proxy made, which the harness took off the listener as it came |
//! | server refuses | before the client connects, the server's port is bound without listening, so the kernel refuses the proxy's connect at once |
//! | timer `k` fires | wait `k`'s declared timeout and a margin ([`crate::pace`]), then settle |
//! | (slow variant) | before a peer's action, a pause well below every timeout, which must change nothing |
//! | client sends its PROXY header | `write` of a v1 or v2 header ([`crate::proxy_peer`]) giving 192.0.2.1:1000 |
//! | client sends its TLS hello | a rustls client's ClientHello (the harness's CA, name `localhost`) |
//! | server reads the PROXY header | the header read whole, and nothing behind it; it must give the client's header's source (or, without one, the client's own address) |
//! | a TLS peer reads | records until one has an effect the model names: the hello (the server answers with its flight), the flight (the client answers with its Finished), the Finished, at most one chunk of plaintext, a close_notify; records with none (session tickets) are read through |
//! | a TLS peer sends a chunk | one record of the chunk's 8 bytes |
//! | a TLS peer shuts its write side | close_notify, then `shutdown(SHUT_WR)`, once its handshake is up (the model's clean end) |
//! | a TLS peer closes | `close()` with no close_notify (the model's truncation); the client's TLS layer first takes the session tickets waiting, where the model has nothing for it |
//! | a TLS peer aborts | `SO_LINGER {1, 0}` then `close()`: an RST |
//!
//! # Handshake layers
//!
//! A target configured for the PROXY protocol or TLS declares it as the
//! model's features (`proxy-in`, `proxy-out`, `tls-front`, `tls-back`), and
//! the traces of the model with those features are played: the harness's
//! client sends the header and speaks TLS, its server checks the header and
//! terminates TLS. With `tls-front` (`tls-back`) the model also has initial
//! states with a plain listener (server), which such a target does not
//! have: [`fits_layers`] keeps the others. What the model judges is what
//! the peers read, and so what is compared: a TLS peer's reads are the
//! model's TLS messages, a chunk inside TLS is one record's plaintext, and
//! a close_notify is a read of its own before the FIN. Closes follow the
//! model's peers: a clean end is a shut (close_notify, then the FIN), a
//! close without a shut truncates the stream (no close_notify), an abort
//! is an RST. Four classes belong to the layers: the server's header is
//! missing or wrong ([`Class::ProxyHeaderWrong`]), a handshake message
//! where the model has another read ([`Class::TlsHandshake`]), an end
//! without the close_notify the model delivers ([`Class::CloseNotifyMissing`]),
//! a close_notify for a stream the model says was cut ([`Class::CloseNotifyForged`]).
//!
//! # Real time
//!
//! The proxy's clock runs; the model has none. The harness is told the
//! target's timeouts ([`Timeouts`]) and lets time pass two ways
//! ([`crate::pace`]). A trace that fires a timer is played by waiting past
//! the declared timeout, where every other timer the model has armed is
//! declared longer than the time the run has let pass (so the real proxy
//! fires the same one first); such runs take seconds, so a campaign plays
//! at most [`Pace::timer_runs`] of them, the shortest waits first, taking
//! turns among the timers fired. And a
//! *slow variant* of an instant run has a peer pause before its last
//! actions (at most [`Pace::max_pauses`]): the model lets no timer fire,
//! so the peers must see exactly what they saw without the pauses. A
//! campaign plays at most [`Pace::slow_runs`] slow variants, one per shape
//! (the run's steps other than reads), shapes where a peer acts after the
//! other's half-close first: that is where a proxy's own unmodelled timers
//! (socat's `-t 0.5`) show.
//!
//! After the trace's last action, each open peer reads what the eager model
//! still delivers to it (the epilogue: what a peer that keeps reading sees
//! in the end, without timers), and then once more where the model has
//! nothing left, which catches what the proxy sent that the model did not.
//!
//! A run stops at its first departure, which gets one [`Class`]. The model
//! is more pessimistic than Linux about an RST: it destroys everything on
//! its wire, while a Linux receiver still reads what had arrived before it
//! (`kernel_axioms.rs`:
//! `rst_loses_what_the_receiver_had_not_received_not_what_it_had_not_read`).
//! A departure of that shape is [`Class::RstAfterDelivery`], which the model
//! explains ([`Class::explained`]); the others are findings about the proxy
//! (its own choices, such as resetting both sides when one aborts, among
//! them).

use crate::pace::{duration_text, Pace, Timeouts};
use crate::proxy_peer::{self, HeaderRead, ProxyVersion};
use crate::replay::CHUNK;
use crate::server_port::ServerPort;
use crate::tls_peer::{Pki, PkiFiles, TlsPeer, Unit};
use crate::trace::Trace;
use connseq_model::check::{Feature, Piece, SysAction, SysState, System, Who};
use connseq_model::core::TimerKind;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// How long the harness waits for the external proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settle {
    /// The proxy has settled when the peers' sockets showed nothing new for this long.
    pub quiet: Duration,
    /// The longest a settle lasts (a proxy that never quiets down).
    pub bound: Duration,
    /// The interval between two looks at the sockets.
    pub poll: Duration,
}

impl Default for Settle {
    fn default() -> Self {
        Settle { quiet: Duration::from_millis(20), bound: Duration::from_secs(2), poll: Duration::from_millis(1) }
    }
}

/// What a peer read in one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seen {
    /// Nothing to read (EAGAIN).
    Nothing,
    /// A data chunk.
    Data,
    /// The FIN (recv returned 0).
    Fin,
    /// An RST (ECONNRESET).
    Rst,
    /// The server read a PROXY header giving the source it must give.
    Header,
    /// The server read no PROXY header where one should be, a malformed
    /// one, or one giving another source (the bytes say what it read).
    HeaderWrong,
    /// The server read the client's TLS hello (and answered with its flight).
    Hello,
    /// The client read the server's TLS flight (and answered with its Finished).
    Flight,
    /// The server read the client's TLS Finished.
    Finished,
    /// A TLS close_notify.
    CloseNotify,
    /// A TLS alert, a record the peer's TLS refused, or bytes that are no
    /// TLS record.
    Alert,
}

impl Seen {
    /// A TLS handshake message.
    const fn handshake(self) -> bool {
        matches!(self, Seen::Hello | Seen::Flight | Seen::Finished)
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Seen::Nothing => "nothing",
            Seen::Data => "data",
            Seen::Fin => "FIN",
            Seen::Rst => "RST",
            Seen::Header => "the PROXY header",
            Seen::HeaderWrong => "no PROXY header (or a wrong one)",
            Seen::Hello => "the TLS hello",
            Seen::Flight => "the server's TLS flight",
            Seen::Finished => "the client's TLS Finished",
            Seen::CloseNotify => "close_notify",
            Seen::Alert => "a TLS alert",
        })
    }
}

/// What the eager model predicts a read gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Expect {
    /// The kind of thing read.
    pub seen: Seen,
    /// For data, the chunk's number (per direction).
    pub chunk: Option<u8>,
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.chunk {
            Some(n) => write!(f, "data (chunk #{n})"),
            None => write!(f, "{}", self.seen),
        }
    }
}

/// Where a read falls in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// A `PeerReads` of the trace.
    Trace,
    /// After the trace: what the model still delivers to a peer that keeps reading.
    Epilogue,
    /// The last read, where the model has nothing left to deliver.
    End,
}

/// One thing the harness does to the real sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// The peer writes its next chunk (a TLS peer: one record of it).
    Send(Who),
    /// The client writes its PROXY header.
    SendHeader,
    /// The client writes its TLS hello.
    SendHello,
    /// The client's TLS layer takes the records the proxy sent that are no
    /// model message (TLS 1.3 session tickets), where the model says nothing
    /// waits for it: before a close, so that they do not make it a reset.
    Tickets,
    /// The peer reads once; the eager model predicts `expect`.
    Read {
        /// The peer.
        who: Who,
        /// The model's prediction.
        expect: Expect,
        /// Where the read falls.
        phase: Phase,
    },
    /// `shutdown(SHUT_WR)`; a TLS peer whose handshake is up sends its
    /// close_notify first.
    ShutWrite(Who),
    /// `close()`.
    Close(Who),
    /// `SO_LINGER {1, 0}`, `close()`.
    Abort(Who),
    /// The server application takes the proxy's connection.
    Accept,
    /// Real time passes: a pause (no timer), or the wait for timer `timer`.
    Wait {
        /// How long.
        time: Duration,
        /// The timer the trace fires, or `None` for a pause.
        timer: Option<TimerKind>,
    },
}

impl Step {
    /// A peer's own action (not a read, not time passing).
    fn acts(self) -> bool {
        matches!(
            self,
            Step::Send(_)
                | Step::SendHeader
                | Step::SendHello
                | Step::ShutWrite(_)
                | Step::Close(_)
                | Step::Abort(_)
                | Step::Accept
        )
    }
}

/// A step and the index of the trace action it comes from (`None` after the trace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    /// Index in the trace's actions.
    pub at: Option<usize>,
    /// The step.
    pub step: Step,
}

/// The handshake layers of a run: what the harness's peers speak besides
/// TCP (the model's features, and its initial state's listener).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Layers {
    /// The client sends a PROXY header first (the target accepts one).
    pub proxy_in: bool,
    /// The server expects a PROXY header first (the target sends one).
    pub proxy_out: bool,
    /// The client speaks TLS (the target terminates it).
    pub tls_front: bool,
    /// The server speaks TLS (the target originates it).
    pub tls_back: bool,
}

impl Layers {
    /// The layers of the model's session `x` under `cfg`.
    fn of(sys: &System, x: &connseq_model::check::Sess) -> Layers {
        Layers {
            proxy_in: sys.cfg.has(Feature::ProxyIn),
            proxy_out: sys.cfg.has(Feature::ProxyOut),
            tls_front: x.tls_peer(Who::Client),
            tls_back: x.tls_peer(Who::Server),
        }
    }
}

/// What the harness does for one trace, with the eager model's predictions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The server's port refuses the proxy's connect.
    pub refuse: bool,
    /// What the peers speak besides TCP.
    pub layers: Layers,
    /// The steps, in order.
    pub steps: Vec<Planned>,
    /// Trace actions the eager model does not take (a send or a close
    /// after an RST it already read, say): left out of the run.
    pub skipped: usize,
}

impl Plan {
    /// What makes two runs the same: the port's answer, the layers and the steps.
    fn key(&self) -> (bool, Layers, Vec<Step>) {
        (self.refuse, self.layers, self.steps.iter().map(|p| p.step).collect())
    }

    /// The run's shape: the port's answer, the layers and the steps other than reads.
    fn shape(&self) -> (bool, Layers, Vec<Step>) {
        let acts = self.steps.iter().map(|p| p.step).filter(|s| !matches!(s, Step::Read { .. }));
        (self.refuse, self.layers, acts.collect())
    }

    /// The time the run waits for timers (zero: the trace fires none).
    pub fn timer_wait(&self) -> Duration {
        self.steps
            .iter()
            .map(|p| match p.step {
                Step::Wait { time, timer: Some(_) } => time,
                _ => Duration::ZERO,
            })
            .sum()
    }

    /// The timers the trace fires, in order.
    pub fn timers(&self) -> Vec<TimerKind> {
        self.steps
            .iter()
            .filter_map(|p| match p.step {
                Step::Wait { timer, .. } => timer,
                _ => None,
            })
            .collect()
    }

    /// Whether the trace fires a timer.
    pub fn fires_timer(&self) -> bool {
        self.steps.iter().any(|p| matches!(p.step, Step::Wait { timer: Some(_), .. }))
    }

    /// How much the run tests a half-closed connection held open, for
    /// choosing slow variants (lower first): 0 when a peer sends after the
    /// other shut its write side or closed (a response to a finished
    /// request), 1 when it acts otherwise, 2 when it does not.
    fn half_close_rank(&self) -> u8 {
        let mut shut: Option<Who> = None;
        let mut rank = 2;
        for p in &self.steps {
            match p.step {
                Step::Send(w) if shut == Some(w.other()) => return 0,
                Step::Send(w) | Step::ShutWrite(w) | Step::Close(w) | Step::Abort(w) if shut == Some(w.other()) => {
                    rank = 1
                }
                _ => {}
            }
            if let Step::ShutWrite(w) | Step::Close(w) = p.step {
                shut.get_or_insert(w);
            }
        }
        rank
    }

    /// The slow variant: a pause of `pace.pause` before each of the last
    /// [`Pace::max_pauses`] peer actions of the trace. `None` when the plan
    /// fires a timer or has no action to pause before.
    pub fn slowed(&self, pace: &Pace) -> Option<Plan> {
        if self.fires_timer() {
            return None;
        }
        let acts: Vec<usize> = (0..self.steps.len()).filter(|&i| self.steps[i].step.acts()).collect();
        let from = acts.len().saturating_sub(pace.max_pauses());
        let paused = &acts[from..];
        if paused.is_empty() {
            return None;
        }
        let mut steps = Vec::with_capacity(self.steps.len() + paused.len());
        for (i, p) in self.steps.iter().enumerate() {
            if paused.contains(&i) {
                steps.push(Planned { at: p.at, step: Step::Wait { time: pace.pause, timer: None } });
            }
            steps.push(*p);
        }
        Some(Plan { refuse: self.refuse, layers: self.layers, steps, skipped: self.skipped })
    }
}

/// Slack for the settles between a run's steps, in the check that no other
/// timer fires before the one a trace fires.
const SETTLE_SLACK: Duration = Duration::from_millis(500);

/// Why a model configuration cannot be played by a black-box harness.
fn unsupported_model(sys: &System) -> Option<String> {
    // The harness's peers speak PROXY and TLS (the target is configured
    // for them); health checks, monitor replies, connection rules and
    // garbage are choices of connseq's configuration no other proxy shares.
    let handshake = [Feature::Health, Feature::Monitor, Feature::Rules, Feature::Garbage];
    if let Some(f) = handshake.into_iter().find(|&f| sys.cfg.has(f)) {
        return Some(format!("the model has the {} feature: no black-box target is configured for it", f.name()));
    }
    if sys.cfg.has(Feature::Queue) || sys.cfg.has(Feature::Retries) {
        return Some("the model has two servers (queue, retries): the harness has one".into());
    }
    None
}

fn enabled(sys: &System, s: &SysState, a: SysAction) -> bool {
    sys.enabled(s).contains(&a)
}

/// The eager schedule after an environment action: the server's kernel
/// answers a pending connect at once, and the proxy runs while it has work.
fn eager(sys: &System, s: &mut SysState, refuse: bool) -> Result<(), String> {
    for _ in 0..32 {
        let e = s.sess[0].env;
        if e.syn && !e.accepted && !e.refused {
            let answer = if refuse { SysAction::ServerRefuses(0) } else { SysAction::ServerAccepts(0) };
            *s = sys.step(s, answer, None);
        } else if enabled(sys, s, SysAction::ProxyRuns(0)) {
            *s = sys.step(s, SysAction::ProxyRuns(0), None);
        } else {
            return Ok(());
        }
    }
    Err("the model's proxy does not settle".into())
}

/// What `who` read between `before` and `after` in the model.
fn expect(before: &SysState, after: &SysState, who: Who) -> Expect {
    let (b, a) = (before.sess[0].peer(who), after.sess[0].peer(who));
    let seen = |seen| Expect { seen, chunk: None };
    if a.got_hdr && !b.got_hdr {
        seen(Seen::Header)
    } else if a.got > b.got {
        let chunk = before.sess[0].down(who).q.peek().and_then(|c| c.data_id());
        Expect { seen: Seen::Data, chunk }
    } else if who == Who::Server && a.hello_sent && !b.hello_sent {
        seen(Seen::Hello)
    } else if who == Who::Client && a.tls_up && !b.tls_up {
        seen(Seen::Flight)
    } else if a.got_finished && !b.got_finished {
        seen(Seen::Finished)
    } else if a.got_cn && !b.got_cn {
        seen(Seen::CloseNotify)
    } else if a.got_rst && !b.got_rst {
        Expect { seen: Seen::Rst, chunk: None }
    } else if a.got_fin && !b.got_fin {
        Expect { seen: Seen::Fin, chunk: None }
    } else {
        Expect { seen: Seen::Nothing, chunk: None }
    }
}

/// The wait for timer `k` of session 0 in the eager state `s`, after the
/// run has let `elapsed` pass; or why the real proxy may fire another first.
fn timer_wait(s: &SysState, k: TimerKind, timeouts: &Timeouts, elapsed: Duration) -> Result<Duration, String> {
    if k == TimerKind::Connect {
        return Err("a connect timer fires: the harness's server answers a connect at once".into());
    }
    let Some(wait) = timeouts.wait(k) else {
        return Err(format!("the {k} timer fires: not in a black-box world"));
    };
    if !s.sess[0].core.timer_armed(k) {
        return Err(format!("the {k} timer fires where the eager model has not armed it"));
    }
    for j in TimerKind::ALL.into_iter().filter(|&j| j != k && s.sess[0].core.timer_armed(j)) {
        let other = timeouts.get(j).unwrap_or(Duration::ZERO);
        if other <= elapsed + wait + SETTLE_SLACK {
            return Err(format!("the {k} timer fires while the {j} timer, not declared longer, is armed"));
        }
    }
    Ok(wait)
}

/// Whether `trace` starts where the target's listener and server are what
/// the model's features make them: with `tls-front` (`tls-back`) the model
/// has initial states with a plain listener (server) too, which a target
/// configured for TLS does not have. Campaigns are given the others only.
pub fn fits_layers(sys: &System, trace: &Trace) -> bool {
    sys.init_states().get(trace.init).is_some_and(|s| {
        let l = Layers::of(sys, &s.sess[0]);
        l.tls_front == sys.cfg.has(Feature::TlsFront) && l.tls_back == sys.cfg.has(Feature::TlsBack)
    })
}

/// The eager schedule of `trace` (see the module documentation), or why a
/// black-box harness cannot play it with the target's declared `timeouts`.
pub fn plan(sys: &System, trace: &Trace, timeouts: &Timeouts) -> Result<Plan, String> {
    if let Some(why) = unsupported_model(sys) {
        return Err(why);
    }
    let answers: Vec<SysAction> = trace
        .actions
        .iter()
        .copied()
        .filter(|a| matches!(a, SysAction::ServerAccepts(0) | SysAction::ServerRefuses(0)))
        .collect();
    if answers.len() > 1 {
        return Err("more than one connect attempt: the harness's server answers one".into());
    }
    let refuse = answers.first() == Some(&SysAction::ServerRefuses(0));
    let Some(&s0) = sys.init_states().get(trace.init) else {
        return Err(format!("initial state {} does not exist", trace.init));
    };
    let layers = Layers::of(sys, &s0.sess[0]);
    if sys.cfg.has(Feature::TlsFront) && !layers.tls_front {
        return Err("the model's listener speaks plain TCP here: the target's terminates TLS (tls-front)".into());
    }
    if sys.cfg.has(Feature::TlsBack) && !layers.tls_back {
        return Err("the model's server speaks plain TCP here: the target speaks TLS to it (tls-back)".into());
    }
    let mut s = s0;
    eager(sys, &mut s, refuse)?;
    let mut steps = Vec::new();
    let mut skipped = 0;
    let mut server_open = false;
    let mut elapsed = Duration::ZERO;
    for (i, &a) in trace.actions.iter().enumerate() {
        let at = Some(i);
        let step = match a {
            // The proxy ran after the action before; the port answered at the SYN.
            SysAction::ProxyRuns(0) | SysAction::ServerRefuses(0) => continue,
            SysAction::ServerAccepts(0) => {
                if !s.sess[0].env.accepted {
                    return Err("the eager model's server holds no connection to accept".into());
                }
                server_open = true;
                steps.push(Planned { at, step: Step::Accept });
                continue;
            }
            SysAction::PeerReads(0, who) if !enabled(sys, &s, a) => {
                // The model has nothing for this peer; after a FIN or an RST
                // a real read repeats it, so there is nothing to compare.
                let p = s.sess[0].peer(who);
                if p.got_fin || p.got_rst {
                    skipped += 1;
                } else {
                    let expect = Expect { seen: Seen::Nothing, chunk: None };
                    steps.push(Planned { at, step: Step::Read { who, expect, phase: Phase::Trace } });
                }
                continue;
            }
            SysAction::PeerReads(0, who) => {
                let n = sys.step(&s, a, None);
                let step = Step::Read { who, expect: expect(&s, &n, who), phase: Phase::Trace };
                s = n;
                step
            }
            SysAction::PeerSends(0, who) => Step::Send(who),
            SysAction::ClientSendsHeader(0, Piece::Whole) => Step::SendHeader,
            SysAction::ClientSendsHello(0, Piece::Whole) => Step::SendHello,
            SysAction::PeerShutsWrite(0, who) => Step::ShutWrite(who),
            SysAction::PeerCloses(0, Who::Client) if layers.tls_front => {
                // Tickets the client's TLS layer has not taken would make
                // its close a reset: taken first where nothing the model
                // sends waits for it.
                let w = s.sess[0].down(Who::Client);
                if w.q.is_empty() && !w.fin && !w.rst {
                    steps.push(Planned { at, step: Step::Tickets });
                }
                Step::Close(Who::Client)
            }
            SysAction::PeerCloses(0, who) => Step::Close(who),
            SysAction::PeerAborts(0, who) => Step::Abort(who),
            SysAction::TimerFires(0, k) => {
                let time = timer_wait(&s, k, timeouts, elapsed)?;
                elapsed += time;
                Step::Wait { time, timer: Some(k) }
            }
            SysAction::ClientSendsHeader(0, _) | SysAction::ClientSendsHello(0, _) => {
                return Err(format!("{a}: the harness writes handshake messages whole"))
            }
            SysAction::TimerFires(..)
            | SysAction::ClientSendsHeader(..)
            | SysAction::ClientSendsHello(..)
            | SysAction::ClientSendsGarbage(_)
            | SysAction::SlotFrees(_) => return Err(format!("{a}: not played by the black-box harness")),
            // Every action of another session, and of session 0 in a form
            // the matches above do not take.
            _ => return Err(format!("{a}: not played by the black-box harness (one session only)")),
        };
        if !matches!(step, Step::Read { .. }) {
            if !enabled(sys, &s, a) {
                skipped += 1;
                continue;
            }
            s = sys.step(&s, a, None);
        }
        eager(sys, &mut s, refuse)?;
        steps.push(Planned { at, step });
    }
    let open = |who: Who| who == Who::Client || server_open;
    // The epilogue: each open peer reads what the model still delivers.
    for _ in 0..16 {
        let mut read = false;
        for who in [Who::Client, Who::Server] {
            let a = SysAction::PeerReads(0, who);
            if open(who) && enabled(sys, &s, a) {
                let n = sys.step(&s, a, None);
                steps.push(Planned {
                    at: None,
                    step: Step::Read { who, expect: expect(&s, &n, who), phase: Phase::Epilogue },
                });
                s = n;
                eager(sys, &mut s, refuse)?;
                read = true;
            }
        }
        if !read {
            break;
        }
    }
    // The end: one more read where the model has nothing left.
    for who in [Who::Client, Who::Server] {
        let p = s.sess[0].peer(who);
        if open(who) && !p.closed && !p.got_fin && !p.got_rst {
            let expect = Expect { seen: Seen::Nothing, chunk: None };
            steps.push(Planned { at: None, step: Step::Read { who, expect, phase: Phase::End } });
        }
    }
    Ok(Plan { refuse, layers, steps, skipped })
}

/// The kinds of departure from the model, as a peer sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// The model delivers a chunk; the peer got an RST, a FIN, or nothing
    /// (after the sender's end, or after settling).
    DataLost,
    /// The model delivers a FIN; the peer got an RST.
    RstInsteadOfFin,
    /// The model delivers an RST; the peer got a FIN and no RST after it.
    FinInsteadOfRst,
    /// The model delivers a FIN at a read of the trace; the peer got nothing.
    FinNotForwarded,
    /// The model delivers a FIN or an RST to a peer that keeps reading after
    /// the trace; the peer got nothing: the proxy left the connection open.
    HalfOpenNeverClosed,
    /// The peer got a chunk the model does not deliver (then, or at all).
    ExtraData,
    /// The peer got a FIN or an RST where the model delivers nothing: the
    /// proxy closed a connection the model keeps open.
    ClosedEarly,
    /// The model delivers an RST; the peer first got chunks or a FIN that
    /// had arrived before it, then the RST. The model's RST destroys its
    /// whole wire; Linux keeps what had arrived (explained).
    RstAfterDelivery,
    /// The model delivers the PROXY header first; the server read none, a
    /// malformed one, or one giving another source than the client's (or
    /// the one the client's own header gave).
    ProxyHeaderWrong,
    /// A TLS handshake message where the model has another read, another
    /// read where it has one, or a TLS alert.
    TlsHandshake,
    /// The model delivers a close_notify; the peer got TCP's end (or an
    /// RST) without one: the proxy truncated a stream the other peer ended
    /// cleanly.
    CloseNotifyMissing,
    /// The model delivers TCP's end without close_notify (the other peer
    /// closed without one, or was cut); the peer got a close_notify: the
    /// proxy told a clean end that did not happen.
    CloseNotifyForged,
    /// Anything else: wrong bytes, an RST that never came, no connection to
    /// the server.
    Other,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 13] = [
        Class::DataLost,
        Class::RstInsteadOfFin,
        Class::FinInsteadOfRst,
        Class::FinNotForwarded,
        Class::HalfOpenNeverClosed,
        Class::ExtraData,
        Class::ClosedEarly,
        Class::RstAfterDelivery,
        Class::ProxyHeaderWrong,
        Class::TlsHandshake,
        Class::CloseNotifyMissing,
        Class::CloseNotifyForged,
        Class::Other,
    ];

    /// The class's name in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Class::DataLost => "data lost",
            Class::RstInsteadOfFin => "RST instead of FIN",
            Class::FinInsteadOfRst => "FIN instead of RST",
            Class::FinNotForwarded => "FIN not forwarded",
            Class::HalfOpenNeverClosed => "half-open never closed",
            Class::ExtraData => "extra data",
            Class::ClosedEarly => "closed early",
            Class::RstAfterDelivery => "RST after delivered data (model's pessimistic RST)",
            Class::ProxyHeaderWrong => "PROXY header missing or wrong",
            Class::TlsHandshake => "TLS handshake departs",
            Class::CloseNotifyMissing => "end without close_notify",
            Class::CloseNotifyForged => "close_notify for a truncated stream",
            Class::Other => "other",
        }
    }

    /// The model accounts for the departure: it is no finding about the proxy.
    pub const fn explained(self) -> bool {
        matches!(self, Class::RstAfterDelivery)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where and how a run departed from the eager model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Departure {
    /// The class.
    pub class: Class,
    /// The trace action at which it showed (`None`: after the trace).
    pub at: Option<usize>,
    /// That action, or what the harness did after the trace.
    pub action: String,
    /// The peer that saw it.
    pub who: Who,
    /// The eager model's prediction.
    pub expected: String,
    /// What the peer got.
    pub actual: String,
}

impl fmt::Display for Departure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(i) => write!(f, "step {i} ({})", self.action)?,
            None => write!(f, "after the trace ({})", self.action)?,
        }
        write!(f, ": {}: the {} expects {}, the proxy gave {}", self.class, self.who, self.expected, self.actual)
    }
}

/// How one run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every read agreed with the eager model; `compared` reads.
    Agrees {
        /// Reads compared.
        compared: usize,
    },
    /// The first departure, after `compared` reads that agreed.
    Departs {
        /// Reads that agreed before it.
        compared: usize,
        /// The departure.
        departure: Departure,
    },
    /// The harness itself failed (a socket call, a connect to the proxy).
    HarnessError(String),
}

/// Why the harness could not start or reach the proxy.
#[derive(Debug, Error)]
pub enum BlackboxError {
    /// A socket or process call failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// The proxy's command ended before it listened.
    #[error("the proxy's command exited ({status}) before listening on {addr}{output}")]
    Exited {
        /// Its exit status.
        status: String,
        /// Where it should have listened.
        addr: SocketAddr,
        /// The last lines it wrote, introduced (`; its output: ...`), or empty.
        output: String,
    },
    /// Nothing listened at the proxy's address in time.
    #[error("nothing listens on {addr} after {waited:?}{output}")]
    NotListening {
        /// The address.
        addr: SocketAddr,
        /// How long the harness waited.
        waited: Duration,
        /// The last lines the proxy wrote, introduced, or empty.
        output: String,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> BlackboxError {
    let what = what.into();
    move |source| BlackboxError::Io { what, source }
}

/// One of the harness's sockets to the proxy.
#[derive(Debug)]
struct PeerSock {
    s: TcpStream,
    /// An RST was reported by a peek or a write: Linux reports it once
    /// (`sock_error` clears it), the harness keeps it for the next read.
    rst: bool,
    /// The peer's TLS layer, when it speaks TLS.
    tls: Option<TlsPeer>,
    /// Its TLS handshake is up as the model's is: the client read the
    /// server's flight, the server answered the hello. Its data and its
    /// close_notify may go.
    tls_up: bool,
    /// It shut its write side: it answers no handshake message.
    shut: bool,
}

impl PeerSock {
    fn new(s: TcpStream) -> PeerSock {
        PeerSock { s, rst: false, tls: None, tls_up: false, shut: false }
    }

    /// One read: through the TLS layer when the peer speaks TLS.
    fn read_one(&mut self, wait: Duration) -> (Seen, Vec<u8>) {
        if self.tls.is_some() {
            self.read_tls(wait)
        } else {
            self.read_raw(wait)
        }
    }

    /// Reads TLS records until one has an effect the model names (a
    /// handshake message, at most one chunk of plaintext, a close_notify),
    /// or the socket says TCP's end, a reset or nothing.
    fn read_tls(&mut self, wait: Duration) -> (Seen, Vec<u8>) {
        let Some(tls) = self.tls.as_mut() else { return (Seen::Nothing, Vec::new()) };
        let mut buf = [0u8; CHUNK];
        let mut got = 0;
        let deadline = Instant::now() + wait;
        loop {
            let unit = match tls.read_plain(&mut self.s, &mut buf[got..], !self.shut) {
                Ok((Unit::Data, n)) => {
                    got += n;
                    if got == CHUNK {
                        return (Seen::Data, buf.to_vec());
                    }
                    continue;
                }
                Ok((unit, _)) => unit,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Unit::Rst,
                Err(e) => return (Seen::Alert, format!("no TLS record: {e}").into_bytes()),
            };
            if got > 0 {
                // The rest of a chunk begun.
                if unit == Unit::Nothing && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_micros(100));
                    continue;
                }
                return (Seen::Data, buf[..got].to_vec());
            }
            let seen = match unit {
                Unit::Nothing if self.rst => Seen::Rst,
                Unit::Nothing => Seen::Nothing,
                Unit::Hello => {
                    self.tls_up = !self.shut;
                    Seen::Hello
                }
                Unit::Flight => {
                    self.tls_up = true;
                    Seen::Flight
                }
                Unit::Finished => Seen::Finished,
                Unit::CloseNotify => Seen::CloseNotify,
                Unit::Fin if self.rst => Seen::Rst,
                Unit::Fin => Seen::Fin,
                Unit::Rst => {
                    self.rst = true;
                    Seen::Rst
                }
                Unit::Alert => Seen::Alert,
                Unit::Data => Seen::Data,
            };
            return (seen, Vec::new());
        }
    }

    /// The server's read of the PROXY header, which must give `source`.
    fn read_header(&mut self, wait: Duration, source: SocketAddr) -> (Seen, Vec<u8>) {
        match proxy_peer::read_header(&mut self.s, wait) {
            Ok(HeaderRead::Header { source: Some(got), .. }) if got == source => (Seen::Header, Vec::new()),
            Ok(HeaderRead::Header { version, source: got }) => {
                let got = got.map_or_else(|| "no address".to_owned(), |a| a.to_string());
                (Seen::HeaderWrong, format!("a {version} PROXY header giving {got}, not {source}").into_bytes())
            }
            Ok(HeaderRead::NotHeader(bytes)) => {
                let text = describe(Seen::Data, &bytes);
                (Seen::HeaderWrong, format!("{text} where the PROXY header should be").into_bytes())
            }
            Ok(HeaderRead::Nothing) if self.rst => (Seen::Rst, Vec::new()),
            Ok(HeaderRead::Nothing) => (Seen::Nothing, Vec::new()),
            Ok(HeaderRead::Fin) if self.rst => (Seen::Rst, Vec::new()),
            Ok(HeaderRead::Fin) => (Seen::Fin, Vec::new()),
            Ok(HeaderRead::Rst) | Err(_) => {
                self.rst = true;
                (Seen::Rst, Vec::new())
            }
        }
    }

    /// Writes a chunk, as one TLS record when the peer speaks TLS.
    fn send_chunk(&mut self, bytes: &[u8]) {
        let sent = match self.tls.as_mut() {
            Some(tls) => tls.send(&mut self.s, bytes),
            None => self.s.write_all(bytes),
        };
        self.note_write(sent);
    }

    /// A write's error: a reset (see [`PeerSock::send_raw`]).
    fn note_write(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe) {
                self.rst = true;
            }
        }
    }

    /// `shutdown(SHUT_WR)`, after the close_notify of a TLS peer whose
    /// handshake is up (the model's clean end of a TLS stream).
    fn shut_write(&mut self) {
        if let (true, Some(tls)) = (self.tls_up, self.tls.as_mut()) {
            let r = tls.close_notify(&mut self.s);
            self.note_write(r);
        }
        self.shut = true;
        let _ = self.s.shutdown(Shutdown::Write);
    }

    /// What a read would give, without taking it: the kind and the bytes waiting.
    fn peek(&mut self) -> (Seen, usize) {
        let mut buf = [0u8; 256];
        loop {
            return match self.s.peek(&mut buf) {
                Ok(0) if self.rst => (Seen::Rst, 0),
                Ok(0) => (Seen::Fin, 0),
                Ok(n) => (Seen::Data, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.rst => (Seen::Rst, 0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => (Seen::Nothing, 0),
                Err(_) => {
                    // ECONNRESET, or an error a reset leaves: reported once.
                    self.rst = true;
                    (Seen::Rst, 0)
                }
            };
        }
    }

    /// Reads at most one chunk off the socket (waiting up to `wait` for the
    /// rest of one begun); returns what was read and the bytes.
    fn read_raw(&mut self, wait: Duration) -> (Seen, Vec<u8>) {
        let mut buf = [0u8; CHUNK];
        let mut got = 0;
        let deadline = Instant::now() + wait;
        loop {
            match self.s.read(&mut buf[got..]) {
                Ok(0) if got == 0 && self.rst => return (Seen::Rst, Vec::new()),
                Ok(0) if got == 0 => return (Seen::Fin, Vec::new()),
                Ok(0) => return (Seen::Data, buf[..got].to_vec()),
                Ok(n) => {
                    got += n;
                    if got == CHUNK {
                        return (Seen::Data, buf.to_vec());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && got == 0 => {
                    return (if self.rst { Seen::Rst } else { Seen::Nothing }, Vec::new());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return (Seen::Data, buf[..got].to_vec());
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(_) => {
                    self.rst = true;
                    return if got == 0 { (Seen::Rst, Vec::new()) } else { (Seen::Data, buf[..got].to_vec()) };
                }
            }
        }
    }

    /// Writes a chunk; a reset socket drops it, as the model's wire does.
    /// The write reports the reset (and clears it from `SO_ERROR`):
    /// `ECONNRESET`, or `EPIPE` when the RST came after the proxy's FIN
    /// (Linux `tcp_reset()` in CLOSE_WAIT; a peer never writes after its
    /// own shutdown, so `EPIPE` means nothing else here).
    fn send_raw(&mut self, bytes: &[u8]) {
        let r = self.s.write_all(bytes);
        self.note_write(r);
    }

    /// After a FIN: whether an RST came behind it (Linux reads 0 after a
    /// FIN even then, and keeps the error for `SO_ERROR`: `ECONNRESET`, or
    /// `EPIPE` when the RST found the socket in CLOSE_WAIT, the FIN read and
    /// the harness's side still open; Linux `tcp_reset()`).
    fn reset_behind(&mut self) -> bool {
        self.rst
            || matches!(self.s.take_error(), Ok(Some(e))
                if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe))
    }
}

/// The client, the server, and the connections the proxy made that the
/// server application has not taken yet.
#[derive(Debug, Default)]
struct Peers {
    client: Option<PeerSock>,
    server: Option<PeerSock>,
    pending: VecDeque<PeerSock>,
    sent: [u8; 2],
}

impl Peers {
    fn sock(&mut self, who: Who) -> Option<&mut PeerSock> {
        match who {
            Who::Client => self.client.as_mut(),
            Who::Server => self.server.as_mut(),
        }
    }

    fn take(&mut self, who: Who) -> Option<PeerSock> {
        match who {
            Who::Client => self.client.take(),
            Who::Server => self.server.take(),
        }
    }
}

/// A chunk's bytes, as [`crate::replay`] writes them: the sender's tag, the
/// chunk's number, padding.
fn chunk(sender: Who, n: u8) -> [u8; CHUNK] {
    let tag = match sender {
        Who::Client => b'c',
        Who::Server => b's',
    };
    [tag, n, b'-', b'-', b'-', b'-', b'-', b'\n']
}

fn describe(seen: Seen, bytes: &[u8]) -> String {
    match seen {
        Seen::Data if bytes.len() == CHUNK && (bytes[0] == b'c' || bytes[0] == b's') => {
            format!("data (chunk #{} from the {})", bytes[1], if bytes[0] == b'c' { "client" } else { "server" })
        }
        Seen::Data if bytes.starts_with(b"PROXY ") || bytes.starts_with(b"\r\n\r\n\0\r\nQUIT\n") => {
            format!("a PROXY header ({})", String::from_utf8_lossy(bytes).escape_debug())
        }
        Seen::Data => format!("data {bytes:?}"),
        // The read wrote what it found instead of bytes.
        Seen::HeaderWrong | Seen::Alert if !bytes.is_empty() => String::from_utf8_lossy(bytes).into_owned(),
        other => other.to_string(),
    }
}

/// The external proxy, started by command.
#[derive(Debug)]
struct TargetProcess {
    child: Child,
    output: Arc<Mutex<VecDeque<String>>>,
}

/// Lines of the proxy's output kept for error messages.
const OUTPUT_LINES: usize = 40;

impl TargetProcess {
    /// Runs `cmd` through `sh -c` in a process group of its own (so that
    /// stopping it stops what the shell started), its output collected.
    fn spawn(cmd: &str) -> io::Result<TargetProcess> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let output = Arc::new(Mutex::new(VecDeque::new()));
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for pipe in pipes.into_iter().flatten() {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let Ok(mut out) = output.lock() else { break };
                    if out.len() == OUTPUT_LINES {
                        out.pop_front();
                    }
                    out.push_back(line);
                }
            });
        }
        Ok(TargetProcess { child, output })
    }

    fn output(&self) -> String {
        self.output.lock().map(|o| o.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default()
    }

    /// The output, introduced for an error message, or empty.
    fn output_note(&self) -> String {
        match self.output() {
            o if o.is_empty() => String::new(),
            o => format!("; its output:\n{o}"),
        }
    }

    /// SIGTERM to the group, then SIGKILL if it is still there after a second.
    fn stop(&mut self) {
        let group = self.child.id();
        let signal = |sig: &str| {
            let _ = Command::new("sh").arg("-c").arg(format!("kill -{sig} -{group} 2>/dev/null")).status();
        };
        if matches!(self.child.try_wait(), Ok(None)) {
            signal("TERM");
            let deadline = Instant::now() + Duration::from_secs(1);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // What the shell started may outlive the shell.
        signal("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TargetProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether something listens on `addr`, from `/proc/net/tcp` or `tcp6`
/// (`None` when neither can be read). An entry bound to the unspecified
/// address of the family, on the same port, counts.
fn listening(addr: SocketAddr) -> Option<bool> {
    let file = if addr.is_ipv4() { "/proc/net/tcp" } else { "/proc/net/tcp6" };
    let text = std::fs::read_to_string(file).ok()?;
    const LISTEN: &str = "0A";
    Some(text.lines().skip(1).any(|line| {
        let mut f = line.split_whitespace();
        let (Some(_), Some(local), Some(_), Some(state)) = (f.next(), f.next(), f.next(), f.next()) else {
            return false;
        };
        state == LISTEN
            && parse_proc_addr(local)
                .is_some_and(|(ip, port)| port == addr.port() && (ip == addr.ip() || ip.is_unspecified()))
    }))
}

/// Reads `0100007F:1F90` (the address as the kernel's `u32` words in host
/// order, then the port) into an address.
fn parse_proc_addr(s: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<[u8; 4]> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok().map(u32::to_ne_bytes))
        .collect::<Option<_>>()?;
    let ip = match words.as_slice() {
        [a] => IpAddr::V4(Ipv4Addr::from(*a)),
        [a, b, c, d] => {
            let mut o = [0u8; 16];
            for (i, w) in [a, b, c, d].into_iter().enumerate() {
                o[i * 4..i * 4 + 4].copy_from_slice(w);
            }
            IpAddr::V6(Ipv6Addr::from(o))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// A free port on `ip`, as the kernel picks one (it stays free until
/// someone binds it: good enough to hand to a proxy's command line).
pub fn free_port(ip: IpAddr) -> io::Result<SocketAddr> {
    TcpListener::bind(SocketAddr::new(ip, 0))?.local_addr()
}

/// The harness: the server's port, the proxy's address, and the proxy's
/// process when the harness started it.
#[derive(Debug)]
pub struct Blackbox {
    port: ServerPort,
    target: SocketAddr,
    settle: Settle,
    pace: Pace,
    process: Option<TargetProcess>,
    settle_timeouts: usize,
    /// The version of the PROXY header the client sends.
    proxy_version: ProxyVersion,
    /// Where the target's certificate files are (`{cert}` and the others).
    pki_files: Option<PkiFiles>,
}

impl Blackbox {
    /// Binds the server's listener at `server` (port 0: any free port) and
    /// records where the proxy listens: `target`, or a free port on the
    /// loopback address when `None` (for a proxy started by [`Blackbox::launch`]).
    pub fn bind(server: SocketAddr, target: Option<SocketAddr>, settle: Settle) -> Result<Blackbox, BlackboxError> {
        let port = ServerPort::bind(server).map_err(io_err(format!("binding the server's listener at {server}")))?;
        let target = match target {
            Some(t) => t,
            None => free_port(IpAddr::V4(Ipv4Addr::LOCALHOST)).map_err(io_err("picking a port for the proxy"))?,
        };
        Ok(Blackbox {
            port,
            target,
            settle,
            pace: Pace::default(),
            process: None,
            settle_timeouts: 0,
            proxy_version: ProxyVersion::V1,
            pki_files: None,
        })
    }

    /// The version of the PROXY header the client sends where the model's
    /// client sends one (by default v1).
    pub fn set_proxy_version(&mut self, v: ProxyVersion) {
        self.proxy_version = v;
    }

    /// Writes the harness's certificate files (the leaf for `localhost` and
    /// 127.0.0.1, its key, the CA, the leaf and key in one file) into `dir`,
    /// for `{cert}`, `{key}`, `{ca}` and `{cert_pem_bundle}` in the target's
    /// command. Without it, those name the files where the harness made them.
    pub fn write_pki(&mut self, dir: &std::path::Path) -> Result<PkiFiles, BlackboxError> {
        let pki = Pki::get().map_err(io_err("making the harness's certificates"))?;
        let files = pki.write_into(dir).map_err(io_err(format!("writing the certificates into {}", dir.display())))?;
        self.pki_files = Some(files.clone());
        Ok(files)
    }

    /// How campaigns let real time pass: the target's declared timeouts and
    /// how many slow and timer runs to play (by default, none).
    pub fn set_pace(&mut self, pace: Pace) {
        self.pace = pace;
    }

    /// The server's address (what the proxy must connect to).
    pub fn server_addr(&self) -> SocketAddr {
        self.port.addr
    }

    /// Where the proxy listens.
    pub fn target_addr(&self) -> SocketAddr {
        self.target
    }

    /// `template` with `{server}` and `{listen}` replaced by the two
    /// addresses, and `{server_host}`, `{server_port}`, `{listen_host}`,
    /// `{listen_port}` by their parts (for proxies such as socat that take
    /// them apart); `{cert}`, `{key}`, `{ca}`, `{cert_pem_bundle}` by the
    /// certificate files ([`Blackbox::write_pki`]).
    pub fn substitute(&self, template: &str) -> Result<String, BlackboxError> {
        let mut template = template.to_owned();
        if ["{cert}", "{key}", "{ca}", "{cert_pem_bundle}"].iter().any(|p| template.contains(p)) {
            let files = match &self.pki_files {
                Some(f) => f.clone(),
                None => Pki::get().map_err(io_err("making the harness's certificates"))?.files(),
            };
            template = files.substitute(&template);
        }
        let (server, listen) = (self.server_addr(), self.target);
        Ok(template
            .replace("{server}", &server.to_string())
            .replace("{listen}", &listen.to_string())
            .replace("{server_host}", &server.ip().to_string())
            .replace("{server_port}", &server.port().to_string())
            .replace("{listen_host}", &listen.ip().to_string())
            .replace("{listen_port}", &listen.port().to_string()))
    }

    /// Starts the proxy with `sh -c cmd` (placeholders already substituted)
    /// and waits until it listens, at most `timeout`.
    pub fn launch(&mut self, cmd: &str, timeout: Duration) -> Result<(), BlackboxError> {
        let p = TargetProcess::spawn(cmd).map_err(io_err(format!("starting `{cmd}`")))?;
        self.process = Some(p);
        self.wait_listening(timeout)
    }

    /// The last lines the proxy wrote (empty when not started by the harness).
    pub fn target_output(&self) -> String {
        self.process.as_ref().map(TargetProcess::output).unwrap_or_default()
    }

    /// Waits until something listens on the proxy's address: read from
    /// `/proc/net/tcp`, so that waiting opens no session; where `/proc` is
    /// not readable, by connecting (the proxy's session to the server is
    /// then taken off the listener and closed).
    pub fn wait_listening(&mut self, timeout: Duration) -> Result<(), BlackboxError> {
        let start = Instant::now();
        loop {
            if let Some(p) = &mut self.process {
                if let Ok(Some(status)) = p.child.try_wait() {
                    std::thread::sleep(Duration::from_millis(50)); // let the readers collect the last lines
                    return Err(BlackboxError::Exited {
                        status: status.to_string(),
                        addr: self.target,
                        output: p.output_note(),
                    });
                }
            }
            let up = match listening(self.target) {
                Some(up) => up,
                None => match TcpStream::connect_timeout(&self.target, Duration::from_millis(100)) {
                    Ok(probe) => {
                        drop(probe);
                        let mut none = Peers::default();
                        self.settle_peers(&mut none);
                        true
                    }
                    Err(_) => false,
                },
            };
            if up {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(BlackboxError::NotListening {
                    addr: self.target,
                    waited: start.elapsed(),
                    output: self.process.as_ref().map(TargetProcess::output_note).unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Settles that ended at the bound, not after a quiet period.
    pub fn settle_timeouts(&self) -> usize {
        self.settle_timeouts
    }

    /// How the proxy's process ended, if the harness started it and it did.
    pub fn exited(&mut self) -> Option<String> {
        let p = self.process.as_mut()?;
        let status = p.child.try_wait().ok()??;
        Some(format!("the proxy's process exited ({status}){}", p.output_note()))
    }

    /// The state of every socket, for telling when the proxy has settled.
    fn observe(&mut self, p: &mut Peers) -> Vec<(Seen, usize)> {
        while let Some(s) = self.port.try_accept() {
            p.pending.push_back(PeerSock::new(s));
        }
        let mut v = Vec::with_capacity(2 + p.pending.len());
        v.push((Seen::Nothing, p.pending.len()));
        for s in p.client.iter_mut().chain(p.server.iter_mut()).chain(p.pending.iter_mut()) {
            v.push(s.peek());
        }
        v
    }

    /// Waits until the proxy has settled (see the module documentation).
    fn settle_peers(&mut self, p: &mut Peers) {
        let start = Instant::now();
        let mut last = self.observe(p);
        let mut since = start;
        loop {
            std::thread::sleep(self.settle.poll);
            let now = self.observe(p);
            let t = Instant::now();
            if now != last {
                last = now;
                since = t;
            } else if t.duration_since(since) >= self.settle.quiet {
                return;
            }
            if t.duration_since(start) >= self.settle.bound {
                self.settle_timeouts += 1;
                return;
            }
        }
    }

    /// Runs one plan against the proxy.
    pub fn run(&mut self, trace: &Trace, plan: &Plan) -> RunOutcome {
        let mut peers = Peers::default();
        let outcome = match self.run_plan(trace, plan, &mut peers) {
            Ok((compared, None)) => RunOutcome::Agrees { compared },
            Ok((compared, Some(departure))) => RunOutcome::Departs { compared, departure },
            Err(e) => RunOutcome::HarnessError(e.to_string()),
        };
        // Leave nothing behind for the next run: close everything and let
        // the proxy end its sessions.
        drop(peers);
        self.settle_peers(&mut Peers::default());
        outcome
    }

    fn run_plan(&mut self, trace: &Trace, plan: &Plan, p: &mut Peers) -> io::Result<(usize, Option<Departure>)> {
        // Connections of an earlier run that came late.
        while self.port.try_accept().is_some() {}
        self.port.answer(!plan.refuse)?;
        let c = TcpStream::connect_timeout(&self.target, self.settle.bound)?;
        c.set_nodelay(true)?;
        c.set_nonblocking(true)?;
        // The source a PROXY header to the server must give: the one the
        // client's header gave, or the client's own address.
        let source = if plan.layers.proxy_in { proxy_peer::CLIENT_SOURCE } else { c.local_addr()? };
        let pki = if plan.layers.tls_front || plan.layers.tls_back { Some(Pki::get()?) } else { None };
        p.client = Some(PeerSock::new(c));
        self.settle_peers(p);
        let mut compared = 0;
        for planned in &plan.steps {
            let action = match planned.at.and_then(|i| trace.actions.get(i)) {
                Some(a) => a.to_string(),
                None => String::new(),
            };
            match planned.step {
                Step::Send(who) => {
                    let n = p.sent[who as usize];
                    p.sent[who as usize] += 1;
                    if let Some(s) = p.sock(who) {
                        s.send_chunk(&chunk(who, n));
                    }
                    self.settle_peers(p);
                }
                Step::SendHeader => {
                    let header = proxy_peer::client_header(self.proxy_version);
                    if let Some(s) = p.sock(Who::Client) {
                        s.send_raw(&header);
                    }
                    self.settle_peers(p);
                }
                Step::SendHello => {
                    if let (Some(s), Some(pki)) = (p.client.as_mut(), pki) {
                        let mut tls = TlsPeer::client(pki)?;
                        let r = tls.flush(&mut s.s);
                        s.note_write(r);
                        s.tls = Some(tls);
                    }
                    self.settle_peers(p);
                }
                Step::Tickets => {
                    if let Some(PeerSock { s, tls: Some(tls), .. }) = p.client.as_mut() {
                        tls.read_through_tickets(s)?;
                    }
                }
                Step::Read { who, expect, phase } => {
                    let Some(s) = p.sock(who) else { continue };
                    let (seen, bytes) = if expect.seen == Seen::Header {
                        s.read_header(self.settle.bound, source)
                    } else {
                        s.read_one(self.settle.bound)
                    };
                    let action = if planned.at.is_some() { action } else { format!("the {who} reads") };
                    if let Some(d) = judge(s, who, expect, phase, seen, &bytes, planned.at, action, self.settle.bound) {
                        return Ok((compared, Some(d)));
                    }
                    compared += 1;
                    // A read may let the proxy send more (room on its
                    // wire), and a TLS peer's read may answer (its flight,
                    // its Finished).
                    if seen == Seen::Data || seen.handshake() {
                        self.settle_peers(p);
                    }
                }
                Step::ShutWrite(who) => {
                    if let Some(s) = p.sock(who) {
                        s.shut_write();
                    }
                    self.settle_peers(p);
                }
                Step::Close(who) => {
                    drop(p.take(who));
                    self.settle_peers(p);
                }
                Step::Abort(who) => {
                    if let Some(s) = p.take(who) {
                        socket2::SockRef::from(&s.s).set_linger(Some(Duration::ZERO))?;
                    }
                    self.settle_peers(p);
                }
                Step::Wait { time, .. } => {
                    std::thread::sleep(time);
                    self.settle_peers(p);
                }
                Step::Accept => {
                    let deadline = Instant::now() + self.settle.bound;
                    while p.pending.is_empty() && Instant::now() < deadline {
                        if let Some(s) = self.port.try_accept() {
                            p.pending.push_back(PeerSock::new(s));
                        } else {
                            std::thread::sleep(self.settle.poll);
                        }
                    }
                    match p.pending.pop_front() {
                        Some(mut s) => {
                            if let (true, Some(pki)) = (plan.layers.tls_back, pki) {
                                s.tls = Some(TlsPeer::server(pki)?);
                            }
                            p.server = Some(s);
                        }
                        None => {
                            return Ok((
                                compared,
                                Some(Departure {
                                    class: Class::Other,
                                    at: planned.at,
                                    action,
                                    who: Who::Server,
                                    expected: "a connection from the proxy".into(),
                                    actual: format!("none within {:?}", self.settle.bound),
                                }),
                            ))
                        }
                    }
                }
            }
        }
        Ok((compared, None))
    }

    /// Runs `plan` again with a quiet period twice as long: whether it
    /// departs the same way (a departure that came from a proxy slower than
    /// the quiet period does not).
    fn confirm(&mut self, trace: &Trace, plan: &Plan, departure: &Departure) -> bool {
        let settle = self.settle;
        self.settle.quiet = settle.quiet * 2;
        let again = self.run(trace, plan);
        self.settle = settle;
        matches!(again, RunOutcome::Departs { departure: d, .. } if d.class == departure.class && d.at == departure.at)
    }

    /// Runs every trace (each eager schedule once) and tallies the outcomes:
    /// the instant runs, then at most [`Pace::timer_runs`] runs that fire a
    /// timer (the shortest waits first), then at most [`Pace::slow_runs`]
    /// slow variants (one per shape, half-closes first). A departure counts
    /// once a second run, with a quiet period twice as long, shows it again;
    /// one that does not is counted as unconfirmed. `progress` is called
    /// after each run with the report so far, the runs done and the runs
    /// planned.
    pub fn campaign(
        &mut self,
        sys: &System,
        traces: &[Trace],
        mut progress: impl FnMut(&Report, usize, usize),
    ) -> Report {
        let start = Instant::now();
        let pace = self.pace;
        let mut report = Report { traces: traces.len(), pace, ..Report::default() };
        let mut runs: Vec<(Plan, Vec<usize>)> = Vec::new();
        let mut by_key: HashMap<(bool, Layers, Vec<Step>), usize> = HashMap::new();
        for (i, t) in traces.iter().enumerate() {
            match plan(sys, t, &pace.timeouts) {
                Ok(p) => {
                    report.skipped += p.skipped;
                    report.timer_traces += usize::from(p.fires_timer());
                    match by_key.get(&p.key()) {
                        Some(&r) => runs[r].1.push(i),
                        None => {
                            by_key.insert(p.key(), runs.len());
                            runs.push((p, vec![i]));
                        }
                    }
                }
                Err(why) => *report.unsupported.entry(why).or_default() += 1,
            }
        }
        let (mut timed, instant): (Vec<_>, Vec<_>) = runs.into_iter().partition(|(p, _)| p.fires_timer());
        report.timer_runs_total = timed.len();
        // The shortest waits first, taking turns among the timers fired (so
        // that a few runs cover the client, server and fin timers alike).
        timed.sort_by_key(|(p, m)| (p.timer_wait(), m[0]));
        let mut turns: HashMap<Vec<TimerKind>, usize> = HashMap::new();
        let mut timed: Vec<(usize, usize, (Plan, Vec<usize>))> = timed
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let turn = turns.entry(r.0.timers()).or_default();
                *turn += 1;
                (*turn, i, r)
            })
            .collect();
        timed.sort_by_key(|&(turn, i, _)| (turn, i));
        let mut timed: Vec<(Plan, Vec<usize>)> = timed.into_iter().map(|(_, _, r)| r).collect();
        for (_, m) in timed.iter().skip(pace.timer_runs) {
            report.timer_deferred += m.len();
        }
        timed.truncate(pace.timer_runs);
        report.timer_runs = timed.len();
        // One slow variant per shape, half-closes first.
        let mut shapes = std::collections::HashSet::new();
        let mut slow: Vec<(Plan, Vec<usize>)> = instant
            .iter()
            .filter_map(|(p, m)| p.slowed(&pace).map(|s| (s, m.clone())))
            .filter(|(s, _)| shapes.insert(s.shape()))
            .collect();
        report.slow_shapes = slow.len();
        slow.sort_by_key(|(p, m)| (p.half_close_rank(), m[0]));
        slow.truncate(pace.slow_runs);
        report.slow_runs = slow.len();
        report.runs = instant.len() + timed.len();
        let jobs: Vec<(&Plan, &Vec<usize>, bool)> = instant
            .iter()
            .chain(&timed)
            .map(|(p, m)| (p, m, false))
            .chain(slow.iter().map(|(p, m)| (p, m, true)))
            .collect();
        for (done, &(plan, members, is_slow)) in jobs.iter().enumerate() {
            let first = &traces[members[0]];
            match self.run(first, plan) {
                RunOutcome::Agrees { compared } => {
                    if is_slow {
                        report.slow_agree += 1;
                    } else {
                        report.agree_runs += 1;
                        report.agree += members.len();
                    }
                    report.compared += compared;
                    report.silent_runs += usize::from(compared == 0);
                }
                RunOutcome::Departs { compared, departure } => {
                    report.compared += compared + 1;
                    if !self.confirm(first, plan, &departure) {
                        report.unconfirmed += members.len();
                        report.unconfirmed_example.get_or_insert_with(|| (first.clone(), departure));
                        progress(&report, done + 1, jobs.len());
                        continue;
                    }
                    let classes = if is_slow { &mut report.slow_classes } else { &mut report.classes };
                    let tally = classes.entry(departure.class).or_insert_with(|| ClassTally {
                        runs: 0,
                        traces: 0,
                        example: first.clone(),
                        departure: departure.clone(),
                    });
                    tally.runs += 1;
                    tally.traces += members.len();
                }
                RunOutcome::HarnessError(e) => *report.errors.entry(e).or_default() += members.len(),
            }
            progress(&report, done + 1, jobs.len());
            if let Some(why) = self.exited() {
                let left: usize = jobs[done + 1..].iter().map(|(_, m, _)| m.len()).sum();
                if left > 0 {
                    *report.errors.entry(format!("not played: {why}")).or_default() += left;
                }
                break;
            }
        }
        report.settle_timeouts = self.settle_timeouts;
        report.wall = start.elapsed();
        report
    }
}

/// Compares one read with the eager model's prediction; the departure if
/// they differ. For an expected RST the peer keeps reading, to tell an RST
/// that came behind what Linux delivered (explained) from none at all.
#[allow(clippy::too_many_arguments)] // one read's whole context, used once
fn judge(
    s: &mut PeerSock,
    who: Who,
    expect: Expect,
    phase: Phase,
    seen: Seen,
    bytes: &[u8],
    at: Option<usize>,
    action: String,
    wait: Duration,
) -> Option<Departure> {
    let mut actual = describe(seen, bytes);
    let class = match (expect.seen, seen) {
        (Seen::Data, Seen::Data) => {
            let want = expect.chunk.map(|n| chunk(who.other(), n));
            if want.is_some_and(|w| w[..] != *bytes) {
                Class::Other
            } else {
                return None;
            }
        }
        (e, r) if e == r => return None,
        (Seen::Header, _) | (_, Seen::Header | Seen::HeaderWrong) => Class::ProxyHeaderWrong,
        (e, r) if e.handshake() || r.handshake() || r == Seen::Alert => Class::TlsHandshake,
        (Seen::CloseNotify, Seen::Fin | Seen::Rst) => Class::CloseNotifyMissing,
        (Seen::CloseNotify, Seen::Nothing) if phase != Phase::Trace => Class::HalfOpenNeverClosed,
        (Seen::CloseNotify, Seen::Nothing) => Class::FinNotForwarded,
        (Seen::CloseNotify, Seen::Data) => Class::ExtraData,
        (Seen::Fin, Seen::CloseNotify) => Class::CloseNotifyForged,
        (Seen::Nothing, Seen::CloseNotify) => Class::ClosedEarly,
        (Seen::Nothing, Seen::Data) | (Seen::Fin, Seen::Data) => Class::ExtraData,
        (Seen::Nothing, Seen::Fin | Seen::Rst) => Class::ClosedEarly,
        (Seen::Data, _) => Class::DataLost,
        (Seen::Fin | Seen::Rst, Seen::Nothing) if phase != Phase::Trace => Class::HalfOpenNeverClosed,
        (Seen::Fin, Seen::Nothing) => Class::FinNotForwarded,
        (Seen::Fin, Seen::Rst) => Class::RstInsteadOfFin,
        (Seen::Rst, Seen::Nothing) => Class::Other,
        (Seen::Rst, Seen::Data | Seen::Fin | Seen::CloseNotify) => {
            // What follows: more data, a close_notify, the FIN, and whether an RST came.
            let mut last = seen;
            for _ in 0..8 {
                if !matches!(last, Seen::Data | Seen::CloseNotify) {
                    break;
                }
                let (next, more) = s.read_one(wait);
                actual.push_str(&format!(", then {}", describe(next, &more)));
                last = next;
            }
            let rst = last == Seen::Rst || (last == Seen::Fin && s.reset_behind());
            if rst && last == Seen::Fin {
                actual.push_str(", then RST (SO_ERROR)");
            }
            match (rst, last) {
                (true, _) => Class::RstAfterDelivery,
                (false, Seen::Fin) => Class::FinInsteadOfRst,
                _ => Class::ExtraData,
            }
        }
        // Every pair with equal sides returned above; the handshake's and
        // the PROXY header's went to their classes.
        (Seen::Nothing | Seen::Fin | Seen::Rst, _) => Class::Other,
        (Seen::HeaderWrong | Seen::Hello | Seen::Flight | Seen::Finished | Seen::CloseNotify | Seen::Alert, _) => {
            Class::Other
        }
    };
    Some(Departure { class, at, action, who, expected: expect.to_string(), actual })
}

/// One class's count and its first example.
#[derive(Clone, Debug)]
pub struct ClassTally {
    /// Distinct runs (eager schedules) that departed so.
    pub runs: usize,
    /// Traces whose run departed so.
    pub traces: usize,
    /// The first trace that did.
    pub example: Trace,
    /// Its departure.
    pub departure: Departure,
}

/// The outcome of a black-box campaign.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Traces given.
    pub traces: usize,
    /// Distinct eager schedules run.
    pub runs: usize,
    /// Runs that agreed throughout.
    pub agree_runs: usize,
    /// Traces whose run agreed throughout.
    pub agree: usize,
    /// Reads compared, over all runs.
    pub compared: usize,
    /// Runs that agreed with no read to compare (a client that closed
    /// before anything reached it, say).
    pub silent_runs: usize,
    /// Trace actions the eager model does not take, over all traces.
    pub skipped: usize,
    /// Traces the harness cannot play, by reason.
    pub unsupported: BTreeMap<String, usize>,
    /// Departures by class.
    pub classes: BTreeMap<Class, ClassTally>,
    /// Traces whose run departed once but not when run again with a longer
    /// quiet period (timing: the proxy was slower than the quiet period).
    pub unconfirmed: usize,
    /// The first of them, and how it departed the first time.
    pub unconfirmed_example: Option<(Trace, Departure)>,
    /// Harness failures, by message (traces).
    pub errors: BTreeMap<String, usize>,
    /// Settles that ended at the bound.
    pub settle_timeouts: usize,
    /// Wall time.
    pub wall: Duration,
    /// The declared timeouts and the bounds on slow and timer runs.
    pub pace: Pace,
    /// Playable traces that fire a timer.
    pub timer_traces: usize,
    /// Their distinct eager schedules.
    pub timer_runs_total: usize,
    /// Of those, the runs played ([`Pace::timer_runs`], the shortest waits first).
    pub timer_runs: usize,
    /// Traces that fire a timer whose run was not played (beyond [`Pace::timer_runs`]).
    pub timer_deferred: usize,
    /// Distinct shapes of slow variant.
    pub slow_shapes: usize,
    /// Slow variants played ([`Pace::slow_runs`]).
    pub slow_runs: usize,
    /// Slow variants that agreed throughout.
    pub slow_agree: usize,
    /// Departures of slow variants, by class (their traces agree or
    /// depart on their own in [`Report::classes`]).
    pub slow_classes: BTreeMap<Class, ClassTally>,
}

impl Report {
    /// Runs (slow variants among them) that departed in a class the model
    /// does not explain.
    pub fn unexplained_runs(&self) -> usize {
        self.classes.iter().chain(&self.slow_classes).filter(|(c, _)| !c.explained()).map(|(_, t)| t.runs).sum()
    }

    /// The classes observed, slow variants' among them, in report order.
    pub fn observed(&self) -> Vec<Class> {
        let mut v: Vec<Class> = self.classes.keys().chain(self.slow_classes.keys()).copied().collect();
        v.sort();
        v.dedup();
        v
    }

    /// Traces played: given, less the unsupported and the deferred timer traces.
    pub fn played(&self) -> usize {
        self.traces - self.unsupported.values().sum::<usize>() - self.timer_deferred
    }

    /// The line on real time: the declared timeouts, the timer runs and the slow variants.
    pub fn time_line(&self) -> String {
        format!(
            "timeouts {}; timer traces playable {} in {} runs, played {} runs (shortest waits first, taking turns among the timers), {} traces deferred; \
             slow variants (pause {} before at most {} actions) played {} of {} shapes, {} agree",
            self.pace.timeouts,
            self.timer_traces,
            self.timer_runs_total,
            self.timer_runs,
            self.timer_deferred,
            duration_text(self.pace.pause),
            self.pace.max_pauses(),
            self.slow_runs,
            self.slow_shapes,
            self.slow_agree,
        )
    }

    /// The summary as a text table, then one example per class.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let unsupported: usize = self.unsupported.values().sum();
        let errors: usize = self.errors.values().sum();
        s.push_str(&format!("{:<52} {:>7} {:>7}\n", "", "traces", "runs"));
        s.push_str(&format!("{:<52} {:>7} {:>7}\n", "played", self.played(), self.runs));
        s.push_str(&format!("{:<52} {:>7} {:>7}\n", "agree", self.agree, self.agree_runs));
        for c in Class::ALL {
            if let Some(t) = self.classes.get(&c) {
                let name = if c.explained() { format!("{c} [explained]") } else { c.to_string() };
                s.push_str(&format!("{name:<52} {:>7} {:>7}\n", t.traces, t.runs));
            }
        }
        for c in Class::ALL {
            if let Some(t) = self.slow_classes.get(&c) {
                s.push_str(&format!("{:<52} {:>7} {:>7}\n", format!("{c} [slow variant]"), t.traces, t.runs));
            }
        }
        if self.unconfirmed > 0 {
            s.push_str(&format!("{:<52} {:>7}\n", "departed once, not again (timing)", self.unconfirmed));
        }
        if errors > 0 {
            s.push_str(&format!("{:<52} {:>7}\n", "harness errors", errors));
        }
        s.push_str(&format!("{:<52} {:>7}\n", "unsupported", unsupported));
        for (why, n) in &self.unsupported {
            s.push_str(&format!("  {n:>6}  {why}\n"));
        }
        for (e, n) in &self.errors {
            s.push_str(&format!("  error x{n}: {e}\n"));
        }
        s.push_str(&format!(
            "reads compared {} (runs with none: {}), trace actions the eager model skips {}, settles cut at the bound {}, wall time {:.1} s\n",
            self.compared,
            self.silent_runs,
            self.skipped,
            self.settle_timeouts,
            self.wall.as_secs_f64()
        ));
        s.push_str(&self.time_line());
        s.push('\n');
        let slow = self.slow_classes.iter().map(|(c, t)| (format!("{c} [slow variant]"), &t.example, &t.departure));
        let examples = self.classes.iter().map(|(c, t)| (c.to_string(), &t.example, &t.departure)).chain(slow);
        let unconfirmed = self.unconfirmed_example.iter().map(|(t, d)| ("departed once, not again".into(), t, d));
        for (name, t, d) in examples.chain(unconfirmed) {
            s.push_str(&format!("\n{name}: e.g. {} (initial state {})\n", t.source, t.init));
            s.push_str(&format!("  trace: {}\n", t.actions_text()));
            s.push_str(&format!("  {d}\n"));
        }
        s
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let classes: Vec<Value> = self
            .classes
            .iter()
            .map(|(c, t)| (false, c, t))
            .chain(self.slow_classes.iter().map(|(c, t)| (true, c, t)))
            .map(|(slow, c, t)| {
                json!({
                    "class": c.name(),
                    "slow_variant": slow,
                    "explained": c.explained(),
                    "runs": t.runs,
                    "traces": t.traces,
                    "example": {
                        "source": t.example.source.to_string(),
                        "init": t.example.init,
                        "actions": t.example.actions.iter().map(|&a| crate::format_action(a)).collect::<Vec<_>>(),
                        "at": t.departure.at,
                        "action": t.departure.action,
                        "peer": t.departure.who.to_string(),
                        "expected": t.departure.expected,
                        "actual": t.departure.actual,
                    },
                })
            })
            .collect();
        json!({
            "traces": self.traces,
            "runs": self.runs,
            "agree": self.agree,
            "agree_runs": self.agree_runs,
            "compared": self.compared,
            "silent_runs": self.silent_runs,
            "skipped_actions": self.skipped,
            "unsupported": self.unsupported,
            "classes": classes,
            "unexplained_runs": self.unexplained_runs(),
            "unconfirmed": self.unconfirmed,
            "errors": self.errors,
            "settle_timeouts": self.settle_timeouts,
            "wall_ms": u64::try_from(self.wall.as_millis()).unwrap_or(u64::MAX),
            "played": self.played(),
            "time": {
                "timeouts": self.pace.timeouts.to_string(),
                "pause_ms": u64::try_from(self.pace.pause.as_millis()).unwrap_or(u64::MAX),
                "max_pauses": self.pace.max_pauses(),
                "timer_traces": self.timer_traces,
                "timer_runs_total": self.timer_runs_total,
                "timer_runs": self.timer_runs,
                "timer_deferred": self.timer_deferred,
                "slow_shapes": self.slow_shapes,
                "slow_runs": self.slow_runs,
                "slow_agree": self.slow_agree,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources;
    use connseq_model::check::{ModelConfig, Preset};

    #[test]
    fn proc_net_tcp_addresses_read_back() {
        assert_eq!(parse_proc_addr("0100007F:1F90"), Some((IpAddr::V4(Ipv4Addr::LOCALHOST), 8080)));
        assert_eq!(
            parse_proc_addr("00000000000000000000000001000000:0050"),
            Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 80))
        );
        assert_eq!(parse_proc_addr("0100007F"), None);
    }

    #[test]
    fn a_listener_shows_in_proc_net_tcp() {
        let l = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = l.local_addr().expect("bound");
        assert_eq!(listening(addr), Some(true));
        drop(l);
        assert_eq!(listening(addr), Some(false));
    }

    #[test]
    fn eager_schedules_merge_traces_that_differ_in_the_proxys_turns() {
        let sys = System::new(ModelConfig::preset(Preset::Small));
        let traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
        let plans: Vec<Plan> = traces.iter().filter_map(|t| plan(&sys, t, &Timeouts::default()).ok()).collect();
        let distinct: std::collections::HashSet<_> = plans.iter().map(Plan::key).collect();
        assert!(!plans.is_empty());
        assert!(distinct.len() < plans.len(), "{} schedules for {} traces", distinct.len(), plans.len());
        eprintln!("{} traces, {} playable, {} distinct schedules", traces.len(), plans.len(), distinct.len());
    }

    #[test]
    fn slow_variants_come_first_where_a_response_follows_a_half_close() {
        let sys = System::new(ModelConfig::preset(Preset::Small));
        let traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
        let pace = Pace::new(Timeouts::default(), 8, 0);
        let slowed: Vec<Plan> =
            traces.iter().filter_map(|t| plan(&sys, t, &pace.timeouts).ok()).filter_map(|p| p.slowed(&pace)).collect();
        let best = slowed.iter().min_by_key(|p| p.half_close_rank()).expect("slow variants");
        assert_eq!(best.half_close_rank(), 0);
        let pauses = best.steps.iter().filter(|p| matches!(p.step, Step::Wait { timer: None, .. })).count();
        assert!((1..=pace.max_pauses()).contains(&pauses), "{pauses} pauses");
    }

    #[test]
    fn handshake_messages_and_the_proxy_header_are_reads_of_their_own() {
        let cfg = ModelConfig::preset(Preset::Small);
        let sys = System::new(cfg.with(Feature::TlsFront).with(Feature::TlsBack).with(Feature::ProxyOut));
        let traces: Vec<Trace> = sources::bfs_traces(&sys, 10).into_iter().filter(|t| fits_layers(&sys, t)).collect();
        let seen: std::collections::HashSet<Seen> = traces
            .iter()
            .filter_map(|t| plan(&sys, t, &Timeouts::default()).ok())
            .flat_map(|p| p.steps)
            .filter_map(|p| match p.step {
                Step::Read { expect, .. } => Some(expect.seen),
                _ => None,
            })
            .collect();
        for s in [Seen::Header, Seen::Hello, Seen::Flight, Seen::Finished, Seen::CloseNotify, Seen::Data, Seen::Fin] {
            assert!(seen.contains(&s), "no read expects {s}");
        }
        // Every trace kept starts with a TLS listener and a TLS server.
        assert!(traces.iter().all(|t| sys.init_states()[t.init].sess[0].env.tls_front));
    }

    #[test]
    fn a_timer_is_played_only_where_it_is_the_one_that_fires_first() {
        let sys = System::new(ModelConfig::preset(Preset::Small));
        let traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
        let count =
            |t: &Timeouts| traces.iter().filter_map(|x| plan(&sys, x, t).ok()).filter(Plan::fires_timer).count();
        let equal = count(&Timeouts::default());
        let distinct =
            count(&Timeouts::parse("client=2s,server=4s,connect=1s,client-fin=1s,server-fin=1s").expect("valid"));
        assert!(distinct > equal, "{distinct} timer traces with distinct timeouts, {equal} with equal ones");
    }
}
