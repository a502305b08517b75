//! Random walks of the small preset, drawn by proptest with a pinned seed,
//! replayed against the real runtime: a walk that diverges shrinks to a
//! minimal trace (the walk strategy's own shrinker: prefixes, one action
//! fewer, earlier alternatives, earlier initial states), printed with its
//! ITF form so that `connseq-conformance replay --trace FILE` replays it.
//!
//! `Agrees`, `Unsupported` and `Explained` pass; a divergence or a harness error fails.

use connseq::runtime::Breakage;
use connseq_conformance::itf;
use connseq_conformance::replay::{replay_with, ReplayVerdict};
use connseq_conformance::sources::{seeded_runner, walk_config, walk_strategy};
use connseq_conformance::trace::Trace;
use connseq_model::check::{ModelConfig, Preset, System};
use proptest::test_runner::{TestCaseError, TestError};
use std::cell::Cell;

/// The seed of every walk here: the same seed draws the same walks (for a
/// given Cargo.lock, which pins proptest's generator).
const SEED: u64 = 0x0063_6f6e_6e73_6571; // "connseq" in ASCII

/// Walks of up to this many choices: longer than the small preset's longest
/// path (20 actions), so most walks end in a terminal state.
const WALK_LEN: usize = 24;

/// Cases per property: each replay takes milliseconds, the shrinking of a
/// failure a few hundred replays more.
const CASES: u32 = 64;

fn small() -> System {
    System::new(ModelConfig::preset(Preset::Small))
}

/// Runs the property "every walk replays without divergence" against the
/// runtime broken by `breakage`; returns the minimal failing trace and its
/// divergence, if any, and counts the cases tried.
fn walks_agree(sys: &System, breakage: Breakage, cases: &Cell<u32>) -> Result<(), Box<(Trace, String)>> {
    let mut runner = seeded_runner(walk_config(CASES), SEED);
    let inits = sys.init_states();
    let result = runner.run(&walk_strategy(sys, 1..=WALK_LEN), |t| {
        cases.set(cases.get() + 1);
        match replay_with(sys, &inits[t.init], &t.actions, breakage) {
            ReplayVerdict::Diverges(d) => Err(TestCaseError::fail(d.to_string())),
            ReplayVerdict::HarnessError(e) => Err(TestCaseError::fail(format!("harness error: {e}"))),
            ReplayVerdict::Agrees { .. } | ReplayVerdict::Unsupported(_) | ReplayVerdict::Explained(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(why, t)) => Err(Box::new((t, why.to_string()))),
        // The walk strategy rejects no case, so this is a broken runner.
        Err(TestError::Abort(why)) => panic!("proptest aborted: {why}"),
    }
}

fn show(t: &Trace, why: &str) -> String {
    format!(
        "minimal diverging walk ({} actions, initial state {}): {}\n{why}\nITF (save as FILE, then `connseq-conformance replay --trace FILE`):\n{}",
        t.len(),
        t.init,
        t.actions_text(),
        itf::to_string(t)
    )
}

#[test]
fn seeded_random_walks_replay_without_divergence() {
    let sys = small();
    let cases = Cell::new(0);
    if let Err(failed) = walks_agree(&sys, Breakage::None, &cases) {
        let (t, why) = *failed;
        panic!("{}", show(&t, &why));
    }
    assert!(cases.get() >= CASES, "{} cases ran", cases.get());
}

/// The property catches a runtime that does not send the FIN it forwards,
/// and shrinks the walk to a short trace that still diverges.
#[test]
fn a_walk_through_a_runtime_that_drops_the_forwarded_fin_shrinks_to_a_minimal_divergence() {
    let sys = small();
    let cases = Cell::new(0);
    let Err(failed) = walks_agree(&sys, Breakage::SkipShutdown, &cases) else {
        panic!("the broken runtime went unnoticed over {} walks", cases.get());
    };
    let (t, why) = *failed;
    eprintln!("{}", show(&t, &why));
    // The shrunk trace still diverges, and is short: with this seed, 7
    // actions (the client sends and shuts its side, the proxy connects, the
    // server accepts, the proxy forwards, the server reads the chunk, then
    // the FIN that never came).
    let inits = sys.init_states();
    assert!(
        matches!(replay_with(&sys, &inits[t.init], &t.actions, Breakage::SkipShutdown), ReplayVerdict::Diverges(_)),
        "{}",
        show(&t, &why)
    );
    assert!(t.len() <= 8, "shrinking left {} actions: {}", t.len(), show(&t, &why));
    // The ITF form reads back to the same trace.
    assert_eq!(itf::from_str(&itf::to_string(&t)).expect("an ITF trace"), t);
}
