//! Which traces a black-box harness plays, and how: the eager schedule of a
//! trace ([`plan()`]) as the steps the harness takes on real sockets, each read
//! with the eager model's prediction; the layers the peers speak; the waits
//! for timers and the slow variants.

use super::seen::{Expect, Seen};
use crate::pace::{Pace, Timeouts};
use crate::trace::Trace;
use connseq_model::check::{Feature, Piece, SysAction, SysState, System, Who};
use connseq_model::core::{Dir, SiState, Side, TimerKind};
use std::time::Duration;

/// Where a read falls in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// A `PeerReads` of the trace.
    Trace,
    /// After the trace: what the model still delivers to a peer that keeps reading.
    Epilogue,
    /// The last read, where the model has nothing left to deliver.
    End,
}

/// One thing the harness does to the real sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlanStep {
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
        stage: Stage,
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

impl PlanStep {
    /// A peer's own action (not a read, not time passing).
    fn acts(self) -> bool {
        matches!(
            self,
            PlanStep::Send(_)
                | PlanStep::SendHeader
                | PlanStep::SendHello
                | PlanStep::ShutWrite(_)
                | PlanStep::Close(_)
                | PlanStep::Abort(_)
                | PlanStep::Accept
        )
    }
}

/// A step and the index of the trace action it comes from (`None` after the trace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    /// Index in the trace's actions.
    pub at: Option<usize>,
    /// The step.
    pub step: PlanStep,
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
    /// The step at which the client aborts while the eager model's proxy
    /// cannot read the RST: its request buffer is full (the model's one
    /// chunk), so the RST waits on the wire. A real proxy with room reads it
    /// at once and answers the client's abort then (the note's `CON -> DIS`
    /// while its server connection is not carrying data); what the server
    /// sees after it may end earlier than in the model ([`Class::AbortReadEarly`]).
    ///
    /// [`Class::AbortReadEarly`]: super::judge::Class::AbortReadEarly
    pub abort_behind_full_buffer: Option<usize>,
}

impl Plan {
    /// What makes two runs the same: the port's answer, the layers and the steps.
    pub(super) fn key(&self) -> (bool, Layers, Vec<PlanStep>) {
        (self.refuse, self.layers, self.steps.iter().map(|p| p.step).collect())
    }

    /// The run's shape: the port's answer, the layers and the steps other than reads.
    pub(super) fn shape(&self) -> (bool, Layers, Vec<PlanStep>) {
        let acts = self.steps.iter().map(|p| p.step).filter(|s| !matches!(s, PlanStep::Read { .. }));
        (self.refuse, self.layers, acts.collect())
    }

    /// The time the run waits for timers (zero: the trace fires none).
    pub fn timer_wait(&self) -> Duration {
        self.steps
            .iter()
            .map(|p| match p.step {
                PlanStep::Wait { time, timer: Some(_) } => time,
                _ => Duration::ZERO,
            })
            .sum()
    }

    /// The timers the trace fires, in order.
    pub fn timers(&self) -> Vec<TimerKind> {
        self.steps
            .iter()
            .filter_map(|p| match p.step {
                PlanStep::Wait { timer, .. } => timer,
                _ => None,
            })
            .collect()
    }

    /// Whether a peer reads after the first timer fired: only then does the
    /// run compare what the timer did (a trace that ends at the timer, or
    /// whose peers only close after it, checks nothing of it).
    pub fn reads_after_timer(&self) -> bool {
        self.steps
            .iter()
            .skip_while(|p| !matches!(p.step, PlanStep::Wait { timer: Some(_), .. }))
            .any(|p| matches!(p.step, PlanStep::Read { .. }))
    }

    /// Whether the trace fires a timer.
    pub fn fires_timer(&self) -> bool {
        self.steps.iter().any(|p| matches!(p.step, PlanStep::Wait { timer: Some(_), .. }))
    }

    /// How much the run tests a half-closed connection held open, for
    /// choosing slow variants (lower first): 0 when a peer sends after the
    /// other shut its write side or closed (a response to a finished
    /// request), 1 when it acts otherwise, 2 when it does not.
    pub(super) fn half_close_rank(&self) -> u8 {
        let mut shut: Option<Who> = None;
        let mut rank = 2;
        for p in &self.steps {
            match p.step {
                PlanStep::Send(w) if shut == Some(w.other()) => return 0,
                PlanStep::Send(w) | PlanStep::ShutWrite(w) | PlanStep::Close(w) | PlanStep::Abort(w)
                    if shut == Some(w.other()) =>
                {
                    rank = 1
                }
                _ => {}
            }
            if let PlanStep::ShutWrite(w) | PlanStep::Close(w) = p.step {
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
                steps.push(Planned { at: p.at, step: PlanStep::Wait { time: pace.pause, timer: None } });
            }
            steps.push(*p);
        }
        // The abort's step moves by the pauses inserted before it.
        let abort_behind_full_buffer =
            self.abort_behind_full_buffer.map(|k| k + paused.iter().filter(|&&i| i <= k).count());
        Some(Plan { refuse: self.refuse, layers: self.layers, steps, skipped: self.skipped, abort_behind_full_buffer })
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

/// The eager schedule of `trace` (see [`crate::blackbox`]), or why a
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
    let mut abort_behind_full_buffer = None;
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
                steps.push(Planned { at, step: PlanStep::Accept });
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
                    steps.push(Planned { at, step: PlanStep::Read { who, expect, stage: Stage::Trace } });
                }
                continue;
            }
            SysAction::PeerReads(0, who) => {
                let n = sys.step(&s, a, None);
                let step = PlanStep::Read { who, expect: expect(&s, &n, who), stage: Stage::Trace };
                s = n;
                step
            }
            SysAction::PeerSends(0, who) => PlanStep::Send(who),
            SysAction::ClientSendsHeader(0, Piece::Whole) => PlanStep::SendHeader,
            SysAction::ClientSendsHello(0, Piece::Whole) => PlanStep::SendHello,
            SysAction::PeerShutsWrite(0, who) => PlanStep::ShutWrite(who),
            SysAction::PeerCloses(0, Who::Client) if layers.tls_front => {
                // Tickets the client's TLS layer has not taken would make
                // its close a reset: taken first where nothing the model
                // sends waits for it.
                let w = s.sess[0].down(Who::Client);
                if w.q.is_empty() && !w.fin && !w.rst {
                    steps.push(Planned { at, step: PlanStep::Tickets });
                }
                PlanStep::Close(Who::Client)
            }
            SysAction::PeerCloses(0, who) => PlanStep::Close(who),
            SysAction::PeerAborts(0, who) => PlanStep::Abort(who),
            SysAction::TimerFires(0, k) => {
                let time = timer_wait(&s, k, timeouts, elapsed)?;
                elapsed += time;
                PlanStep::Wait { time, timer: Some(k) }
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
        if !matches!(step, PlanStep::Read { .. }) {
            if !enabled(sys, &s, a) {
                skipped += 1;
                continue;
            }
            s = sys.step(&s, a, None);
        }
        eager(sys, &mut s, refuse)?;
        if step == PlanStep::Abort(Who::Client) && rst_behind_full_buffer(sys, &s) {
            abort_behind_full_buffer.get_or_insert(steps.len());
        }
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
                    step: PlanStep::Read { who, expect: expect(&s, &n, who), stage: Stage::Epilogue },
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
            steps.push(Planned { at: None, step: PlanStep::Read { who, expect, stage: Stage::End } });
        }
    }
    Ok(Plan { refuse, layers, steps, skipped, abort_behind_full_buffer })
}

/// After the eager model ran: the client's RST waits on the proxy's wire
/// because the request buffer has no room for a read, while the server
/// connection does not carry data yet (the core abandons such an attempt
/// on a client abort it reads; once the server connection is established
/// it delivers what it holds either way).
fn rst_behind_full_buffer(sys: &System, s: &SysState) -> bool {
    let x = &s.sess[0];
    let not_carrying =
        matches!(x.core.si(Side::Back), SiState::Req | SiState::Que | SiState::Tar | SiState::Ass | SiState::Con);
    x.up(Who::Client).rst && x.held.buf[Dir::Req as usize].len() >= sys.cfg.buf_cap && not_carrying
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources;
    use connseq_model::check::{ModelConfig, Preset};

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
        let pauses = best.steps.iter().filter(|p| matches!(p.step, PlanStep::Wait { timer: None, .. })).count();
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
                PlanStep::Read { expect, .. } => Some(expect.seen),
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
    fn a_client_abort_behind_the_models_full_buffer_is_marked_only_before_the_server_carries_data() {
        let cfg = ModelConfig::preset(Preset::Small);
        let sys = System::new(cfg.with(Feature::TlsFront).with(Feature::TlsBack));
        let traces: Vec<Trace> = sources::bfs_traces(&sys, 10).into_iter().filter(|t| fits_layers(&sys, t)).collect();
        let plans: Vec<Plan> = traces.iter().filter_map(|t| plan(&sys, t, &Timeouts::default()).ok()).collect();
        let aborts = plans.iter().filter(|p| p.steps.iter().any(|s| s.step == PlanStep::Abort(Who::Client))).count();
        let marked: Vec<&Plan> = plans.iter().filter(|p| p.abort_behind_full_buffer.is_some()).collect();
        assert!(!marked.is_empty(), "no abort of {aborts} waits behind the full buffer");
        assert!(marked.len() < aborts, "{} of {aborts} aborts marked", marked.len());
        for p in &marked {
            let k = p.abort_behind_full_buffer.expect("marked");
            assert_eq!(p.steps[k].step, PlanStep::Abort(Who::Client));
            // The request the buffer holds was sent before.
            assert!(p.steps[..k].iter().any(|s| s.step == PlanStep::Send(Who::Client)));
        }
        // A slow variant moves the mark with the step.
        let pace = Pace::new(Timeouts::default(), 8, 0);
        for p in marked.iter().filter_map(|p| p.slowed(&pace)) {
            let k = p.abort_behind_full_buffer.expect("kept");
            assert_eq!(p.steps[k].step, PlanStep::Abort(Who::Client));
        }
        eprintln!("{} plans, {aborts} with a client abort, {} marked", plans.len(), marked.len());
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
