//! The bounded campaign `cargo test` runs: every BFS trace of the small
//! preset up to the depth that covers every action kind and every
//! (state class, action) edge, plus seeded random walks, replayed against
//! the real runtime on real sockets; and the same campaign against
//! deliberately broken runtimes, which it must catch.

use connseq::runtime::Breakage;
use connseq_conformance::coverage::{self, Coverage, Gap};
use connseq_conformance::replay::{self, replay_with, ReplayVerdict};
use connseq_conformance::sources;
use connseq_conformance::trace::Trace;
use connseq_model::check::{ModelConfig, Preset, System};

fn small() -> System {
    System::new(ModelConfig::preset(Preset::Small))
}

#[derive(Debug, Default)]
struct Tally {
    agree: usize,
    agreeing: Vec<Trace>,
    compared: usize,
    unsupported: std::collections::BTreeMap<String, usize>,
    explained: Vec<String>,
    errors: Vec<String>,
    diverged: Vec<(Trace, String)>,
}

/// Whether a campaign stops at its first divergence (`CONNSEQ_REPLAY_FAIL_FAST`,
/// set by scripts/mutants.sh: a mutant is caught by one divergence, and the
/// rest of the campaign would only cost time).
fn fail_fast() -> bool {
    std::env::var_os("CONNSEQ_REPLAY_FAIL_FAST").is_some()
}

/// Whether this run tests a mutant of the runtime (`CONNSEQ_MUTANTS`, set by
/// scripts/mutants.sh). The model is never mutated, so what the model alone
/// decides, that the traces given take every action kind its reachable space
/// has (a search of the whole space, 20 to 40 s of CPU for each larger
/// feature campaign), cannot change from one mutant to the next: that half
/// of [`assert_kinds_replayed`] is left out, and a plain `cargo test` makes
/// it. The half a runtime can fail, that what the traces take is replayed,
/// stays.
fn mutants_run() -> bool {
    std::env::var_os("CONNSEQ_MUTANTS").is_some()
}

/// Every action kind the reachable space of `sys` has is replayed whole by
/// some trace that agreed: the traces given take each (the model's part),
/// and none of the kinds they take is lost to a skip or a divergence (the
/// runtime's part). Returns the replayed coverage and what it lacks against
/// the space, for the report (empty in a mutants run, which skips the space).
fn assert_kinds_replayed(sys: &System, traces: &[Trace], t: &Tally, what: &str) -> (Coverage, Gap) {
    let replayed = Coverage::of_traces(&t.agreeing);
    let given = Coverage::of_traces(traces);
    let lost = replayed.missing(&given);
    assert!(
        lost.kinds.is_empty(),
        "{what}: an action kind the traces take is not replayed: {:?}: {}",
        lost.kinds,
        show(t)
    );
    if mutants_run() {
        return (replayed, Gap::default());
    }
    let gap = replayed.missing(&coverage::space_coverage(sys));
    assert!(gap.kinds.is_empty(), "{what}: an action kind of the reachable space is not replayed: {:?}", gap.kinds);
    (replayed, gap)
}

fn campaign(sys: &System, traces: &[Trace], breakage: Breakage) -> Tally {
    let inits = sys.init_states();
    let fail_fast = fail_fast();
    let mut t = Tally::default();
    for trace in traces {
        match replay_with(sys, &inits[trace.init], &trace.actions, breakage) {
            ReplayVerdict::Agrees { compared } => {
                t.agree += 1;
                t.compared += compared;
                t.agreeing.push(trace.clone());
            }
            ReplayVerdict::Unsupported(why) => {
                // Only a named reason may skip a trace.
                assert!(replay::unsupported_class(&why).is_some(), "an unnamed reason to skip a trace: {why}");
                *t.unsupported.entry(why).or_default() += 1
            }
            ReplayVerdict::Explained(why) => t.explained.push(why),
            // On the correct runtime a harness error fails the test that met
            // it; a broken runtime may leave the harness waiting for what
            // never comes, which is counted, not hidden.
            ReplayVerdict::HarnessError(e) if breakage == Breakage::None => {
                let actions: Vec<String> = trace.actions.iter().map(|a| a.to_string()).collect();
                panic!("harness error: {e}\n  trace: {}", actions.join(" ; "))
            }
            ReplayVerdict::HarnessError(e) => t.errors.push(e),
            ReplayVerdict::Diverges(d) => {
                let lost = d.actual == replay::TURN_LOST;
                t.diverged.push((trace.clone(), d.to_string()));
                if lost || fail_fast {
                    // A lost turn: every later trace would wait out the same
                    // hang. Failing fast: one divergence is enough.
                    break;
                }
            }
        }
    }
    t
}

/// The comparison a divergence failed (`what the client read`, `the
/// session`, ...), from its description.
fn class(d: &str) -> String {
    let key = d.split(": the model predicts").next().unwrap_or("").to_string();
    key.split_once("): ").map_or(key.clone(), |(_, k)| k.to_string())
}

/// The campaign over `traces` against the runtime broken by `breakage`
/// finds divergences, each in one of the comparisons `expected` (the ones the
/// breakage must upset: a hung loop or a flaky read is not a catch), and the
/// traces that diverged agree on the unbroken runtime. An expected entry is a
/// comparison (`the session`), or a comparison with what it must find
/// (`what the client read: the model predicts Fin, the real run gave Rst`).
fn assert_caught(sys: &System, traces: &[Trace], breakage: Breakage, expected: &[&str]) {
    let t = campaign(sys, traces, breakage);
    eprintln!("{}", show(&t));
    assert!(!t.diverged.is_empty(), "the broken runtime went unnoticed: {}", show(&t));
    for (trace, d) in &t.diverged {
        let found = d.split_once("): ").map_or(d.as_str(), |(_, f)| f);
        assert!(
            expected.iter().any(|e| class(d) == *e || e.contains(": the model predicts") && found == *e),
            "{breakage:?} caused an unexpected divergence: {d}\n  trace: {trace:?}"
        );
    }
    let diverging: Vec<Trace> = t.diverged.iter().map(|(trace, _)| trace.clone()).collect();
    let again = campaign(sys, &diverging, Breakage::None);
    assert!(again.diverged.is_empty(), "the same traces diverge on the unbroken runtime: {}", show(&again));
    // Unbroken, a trace may stop later at a step the harness cannot play
    // (counted by name), never at a divergence or a harness error.
    let unsupported: usize = again.unsupported.values().sum();
    // Failing fast (mutation testing), the one trace that diverged may be
    // one the unbroken run explains by a kernel-axiom difference at a later
    // step: its steps up to there were compared and agreed.
    let not_vacuous = if fail_fast() { again.agree + again.explained.len() } else { again.agree };
    assert!(
        again.agree + again.explained.len() + unsupported == diverging.len() && not_vacuous > 0,
        "the same traces agree unbroken: {}",
        show(&again)
    );
}

fn show(t: &Tally) -> String {
    let mut s = format!(
        "{} agree ({} comparisons), {} explained by a known kernel-axiom difference, {} diverge\n",
        t.agree,
        t.compared,
        t.explained.len(),
        t.diverged.len()
    );
    for (why, n) in &t.unsupported {
        s.push_str(&format!("  unsupported x{n}: {why}\n"));
    }
    for e in &t.errors {
        s.push_str(&format!("  harness error: {e}\n"));
    }
    let mut classes: std::collections::BTreeMap<String, usize> = Default::default();
    for (_, d) in &t.diverged {
        *classes.entry(class(d)).or_default() += 1;
    }
    for (k, n) in &classes {
        s.push_str(&format!("  class x{n}: {k}\n"));
    }
    for (trace, d) in t.diverged.iter().take(12) {
        let actions: Vec<String> = trace.actions.iter().map(|a| a.to_string()).collect();
        s.push_str(&format!("  DIVERGES: {d}\n    trace: {}\n", actions.join(" ; ")));
    }
    s
}

#[test]
fn every_bfs_trace_and_seeded_walk_of_the_small_preset_agrees_with_the_real_runtime() {
    let sys = small();
    let mut traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
    traces.extend(sources::random_walks(&sys, 100, 24, 1));
    let t = campaign(&sys, &traces, Breakage::None);
    eprintln!("{}", show(&t));
    assert!(t.diverged.is_empty(), "{}", show(&t));
    assert!(t.agree > traces.len() / 2, "most traces are replayed: {}", show(&t));
    // What the traces that were replayed whole exercised, against the whole
    // reachable space of the small preset.
    let (replayed, gap) = assert_kinds_replayed(&sys, &traces, &t, "the small preset");
    eprintln!(
        "replayed traces cover {} action kinds, {} actions, {} (state class, action kind) edges; missing edges: {:?}",
        replayed.kinds.len(),
        replayed.actions.len(),
        replayed.edges.len(),
        gap.edges
    );
}

#[test]
fn a_runtime_that_does_not_send_the_forwarded_fin_is_caught() {
    let sys = small();
    let traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
    // The FIN never arrives: a peer's read differs.
    assert_caught(&sys, &traces, Breakage::SkipShutdown, &["what the client read", "what the server read"]);
}

#[test]
fn a_runtime_that_closes_without_the_drain_is_caught() {
    let sys = small();
    let mut traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
    traces.extend(sources::random_walks(&sys, 300, 24, 2));
    // The socket closes with unread input: the session ends where the model's
    // still drains, or, where the model's close comes in the same turn (the
    // peer's FIN was on its way), the peer reads the RST that close sends
    // where the model's reads a FIN.
    assert_caught(
        &sys,
        &traces,
        Breakage::CloseWithoutDrain,
        &[
            "the session",
            "what the client read: the model predicts Fin, the real run gave Rst",
            "what the server read: the model predicts Fin, the real run gave Rst",
        ],
    );
}

#[test]
fn a_runtime_that_drops_a_postponed_close_notify_is_caught() {
    use connseq_model::check::Feature;
    let base = ModelConfig::preset(Preset::Small);
    let cfg = ModelConfig { client_chunks: 2, server_chunks: 2, buf_cap: 2, ..base };
    let sys = System::new(cfg.with(Feature::TlsFront).with(Feature::TlsBack));
    let traces = sources::random_walks(&sys, 400, 32, 3);
    // The dropped step shows in the core's operation table, or the session
    // ends a step early.
    assert_caught(&sys, &traces, Breakage::DropPostponedCloseNotify, &["the core's state", "the session"]);
}

#[test]
fn a_runtime_that_reports_an_eof_as_a_reset_is_caught() {
    let sys = small();
    let traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
    // The session ends as an abort: the core's operations, its end and its
    // termination code differ from the orderly close the model predicts.
    assert_caught(&sys, &traces, Breakage::EofAsReset, &["the core's state", "the session", "the termination code"]);
}

#[test]
fn a_runtime_that_closes_every_socket_with_linger_zero_is_caught() {
    let sys = small();
    let traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
    // A peer reads an RST where the model says FIN.
    assert_caught(&sys, &traces, Breakage::LingerZero, &["what the server read", "what the client read"]);
}

#[test]
fn a_runtime_that_takes_a_short_write_as_complete_is_caught() {
    let base = ModelConfig::preset(Preset::Small);
    // Two chunks in a buffer, one on the wire: a send takes part of what it is given.
    let sys = System::new(ModelConfig { client_chunks: 2, server_chunks: 2, buf_cap: 2, ..base });
    let traces = sources::random_walks(&sys, 300, 32, 4);
    // The real buffer empties while the model's still holds the rest; a peer
    // would read less.
    assert_caught(
        &sys,
        &traces,
        Breakage::ShortWriteComplete,
        &["the core's state", "what the client read", "what the server read"],
    );
}

#[test]
fn a_runtime_that_never_arms_the_timers_the_core_asks_for_is_caught() {
    let sys = small();
    let traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
    // A timer the model fires never fires: the session stays as it was.
    assert_caught(&sys, &traces, Breakage::TimerNotArmed, &["the core's state", "the session", "the termination code"]);
}

#[test]
fn a_runtime_that_takes_a_splice_of_zero_for_eagain_is_caught() {
    use connseq_model::check::Feature;
    let base = ModelConfig::preset(Preset::Small);
    // Two chunks each way: the second crosses through the pipe, and the FIN after it is read by
    // a splice.
    let cfg = ModelConfig { client_chunks: 2, server_chunks: 2, buf_cap: 2, pipe_cap: 2, ..base };
    let sys = System::new(cfg.with(Feature::Splice));
    let traces = sources::random_walks(&sys, 300, 32, 5);
    // The read0 the model sees never comes: the core's shutr steps differ, or
    // the session ends where the model's goes on.
    assert_caught(&sys, &traces, Breakage::SpliceZeroAsEagain, &["the core's state", "the session"]);
}

#[test]
fn a_runtime_that_keeps_a_buffer_on_an_idle_connection_is_caught() {
    let sys = small();
    let traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
    // Only the pools check sees it.
    assert_caught(&sys, &traces, Breakage::KeepIdleBuffer, &["the buffers and pipes held"]);
}

/// Every breadth-first trace of the small preset with `features` agrees,
/// and the traces replayed whole take every action kind the configuration
/// can take (the queue's "a slot frees", the header's, garbage's, the TLS
/// hello).
fn feature_campaign(features: &[connseq_model::check::Feature]) {
    let base = ModelConfig::preset(Preset::Small);
    let set = features.iter().fold(base.features, |f, &x| f.with(x));
    let sys = System::new(ModelConfig { features: set, ..base });
    let traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
    let t = campaign(&sys, &traces, Breakage::None);
    let report = format!("small + {features:?}: {}", show(&t));
    eprintln!("{report}");
    assert!(t.diverged.is_empty(), "{report}");
    assert!(t.agree > 0, "nothing replayed: {report}");
    let (replayed, _) = assert_kinds_replayed(&sys, &traces, &t, &report);
    eprintln!("  covers {} action kinds, {} edges", replayed.kinds.len(), replayed.edges.len());
}

/// One test per configuration, so that the campaigns run side by side.
/// Garbage is sent instead of a PROXY header or a TLS hello: alone it adds
/// nothing to the small preset, so it goes with proxy-in or TLS.
macro_rules! feature_campaigns {
    ($($name:ident: [$($f:ident),+];)+) => {$(
        #[test]
        fn $name() {
            use connseq_model::check::Feature;
            feature_campaign(&[$(Feature::$f),+]);
        }
    )+};
}

feature_campaigns! {
    small_with_the_proxy_header_in_agrees: [ProxyIn];
    small_with_garbage_for_the_proxy_header_agrees: [ProxyIn, Garbage];
    small_with_the_proxy_header_out_agrees: [ProxyOut];
    small_with_the_proxy_header_both_ways_agrees: [ProxyIn, ProxyOut];
    small_with_source_rules_agrees: [ProxyIn, Rules];
    small_with_health_replies_agrees: [Health];
    small_with_monitor_replies_agrees: [Monitor];
    small_with_connection_rules_agrees: [Rules];
    small_with_retries_agrees: [Retries];
    small_with_the_queue_agrees: [Queue];
    small_with_splice_agrees: [Splice];
    small_with_tls_to_the_client_agrees: [TlsFront];
    small_with_tls_to_the_server_agrees: [TlsBack];
    small_with_tls_both_ways_agrees: [TlsFront, TlsBack];
    small_with_garbage_for_the_tls_hello_agrees: [TlsFront, Garbage];
    small_with_every_handshake_both_ways_agrees: [ProxyIn, TlsFront, ProxyOut, TlsBack];
}

/// Two chunks each way into two-chunk buffers: buffers that fill over
/// several receives, are sent from their middle and compact (the small
/// preset's one-chunk buffers are either empty or full). Seeded walks: the
/// breadth-first traces to depth 6 rarely hold two chunks at once.
#[test]
fn walks_with_two_chunk_buffers_agree_with_the_real_runtime() {
    two_chunk_walks(&[]);
}

/// The same with splice: two chunks each way put the model in `splice-auto`
/// (the first chunk crosses through the buffer, the next ones through the
/// pipe), and two-chunk pipes fill over several splices, as the runtime's
/// pipes do up to their fill limit.
#[test]
fn walks_with_splice_auto_and_two_chunk_pipes_agree_with_the_real_runtime() {
    two_chunk_walks(&[connseq_model::check::Feature::Splice]);
}

/// The same with TLS both ways: records of one or two chunks, and
/// close_notify postponed behind data the peer has not read.
#[test]
fn walks_with_tls_both_ways_and_two_chunk_buffers_agree_with_the_real_runtime() {
    use connseq_model::check::Feature;
    two_chunk_walks(&[Feature::TlsFront, Feature::TlsBack]);
}

fn two_chunk_walks(features: &[connseq_model::check::Feature]) {
    let base = ModelConfig::preset(Preset::Small);
    let mut cfg = ModelConfig { client_chunks: 2, server_chunks: 2, buf_cap: 2, pipe_cap: 2, ..base };
    for &f in features {
        cfg = cfg.with(f);
    }
    let sys = System::new(cfg);
    let traces = sources::random_walks(&sys, 400, 32, 3);
    let t = campaign(&sys, &traces, Breakage::None);
    eprintln!("two-chunk buffers {features:?}: {}", show(&t));
    assert!(t.diverged.is_empty(), "{}", show(&t));
    assert!(t.agree > traces.len() / 4, "most traces are replayed: {}", show(&t));
    // The postponed steps the send-window shim puts where the model has
    // them were replayed: a send and, with TLS, a close_notify that met a
    // full wire and were retried.
    let (sends, close_notifies) = postponed(&sys, &t.agreeing);
    eprintln!("  replayed whole: {sends} traces with a postponed send, {close_notifies} with a postponed close_notify");
    assert!(sends > 0, "no replayed trace has a send that waits");
    if features.contains(&connseq_model::check::Feature::TlsFront) {
        assert!(close_notifies > 0, "no replayed trace has a close_notify that waits");
    }
}

/// How many of `traces` have a send, and a close_notify, that the model's
/// full wire postponed.
fn postponed(sys: &System, traces: &[Trace]) -> (usize, usize) {
    use connseq_model::core::{Action, Outcome as Out};
    let inits = sys.init_states();
    let (mut sends, mut cns) = (0, 0);
    for trace in traces {
        let (mut s, mut log) = (inits[trace.init], Vec::new());
        for &a in &trace.actions {
            s = sys.step(&s, a, Some(&mut log));
        }
        sends += usize::from(log.iter().any(|(a, o)| matches!(a, Action::Send { .. }) && *o == Out::WouldBlock));
        cns += usize::from(log.iter().any(|(a, o)| matches!(a, Action::DataShutw(_)) && *o == Out::WouldBlock));
    }
    (sends, cns)
}

#[test]
fn a_runtime_that_never_rearms_writable_interest_on_the_client_is_caught() {
    let base = ModelConfig::preset(Preset::Small);
    // Two chunks towards a client whose wire takes one: the second send meets
    // EAGAIN and waits for the client to read.
    let sys = System::new(ModelConfig { client_chunks: 2, server_chunks: 2, buf_cap: 2, ..base });
    let traces = sources::random_walks(&sys, 300, 32, 6);
    // The client reads and the socket drains, but no writable event comes:
    // the response stays in the proxy's buffer (the core keeps FULL_OUT) and
    // the client reads nothing more.
    assert_caught(&sys, &traces, Breakage::WritableNotRearmed, &["the core's state", "what the client read"]);
}

#[test]
fn a_runtime_that_reads_once_per_edge_is_caught() {
    let base = ModelConfig::preset(Preset::Small);
    // Two chunks on a wire, a buffer of one: a recv leaves the second chunk
    // in the socket, and no new edge announces it.
    let sys = System::new(ModelConfig { client_chunks: 2, server_chunks: 2, wire_cap: 2, ..base });
    let traces = sources::random_walks(&sys, 300, 32, 7);
    // The real core believes the socket empty (EMPTY_IN) where the model's
    // reads the chunk; the other peer never reads it, and the session ends
    // otherwise (a timeout where the model's peers close).
    assert_caught(
        &sys,
        &traces,
        Breakage::EdgeNotDrained,
        &[
            "the core's state",
            "what the client read",
            "what the server read",
            "the buffers and pipes held",
            "the session",
            "the termination code",
        ],
    );
}

#[test]
fn a_runtime_that_returns_a_buffer_still_in_use_is_caught() {
    let base = ModelConfig::preset(Preset::Small);
    // Two chunks into a two-chunk buffer: the FIN can come while a chunk
    // waits for room on the other wire.
    let sys = System::new(ModelConfig { client_chunks: 2, server_chunks: 2, buf_cap: 2, ..base });
    let traces = sources::random_walks(&sys, 300, 32, 8);
    // The chunk before the FIN is lost: the other peer reads the FIN where
    // the model's reads the chunk, and the pools hold less.
    assert_caught(
        &sys,
        &traces,
        Breakage::BufferReturnedInUse,
        &["what the client read", "what the server read", "the buffers and pipes held", "the core's state"],
    );
}

#[test]
fn a_runtime_that_keeps_the_slot_of_a_failed_connect_is_caught() {
    use connseq_model::check::Feature;
    let sys = System::new(ModelConfig::preset(Preset::Small).with(Feature::Retries));
    let traces = sources::bfs_traces(&sys, sources::DEFAULT_DEPTH);
    // After a refusal the model's server counts no slot; the real one still
    // counts the failed attempt's.
    assert_caught(&sys, &traces, Breakage::SlotKeptAfterFailedConnect, &["the server slots taken"]);
}
