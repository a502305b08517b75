//! The trace sources and their file format: ITF round trips, every trace
//! legal, the default depth's coverage, reproducible walks, shrinking.

use connseq_conformance::action::{format_action, ActionKind};
use connseq_conformance::coverage::{action_kinds_covered, space_coverage, Coverage};
use connseq_conformance::itf;
use connseq_conformance::sources::{
    bfs, bfs_traces, count_paths, random_walks, seeded_runner, walk, walk_config, walk_strategy, DEFAULT_DEPTH,
};
use connseq_conformance::store::{read_dir, TraceWriter};
use connseq_conformance::trace::{Trace, TraceError, TraceModel, TraceSource};
use connseq_model::check::{Feature, Features, ModelConfig, Preset, SysAction, SysState, System, Who};
use proptest::prelude::*;
use proptest::test_runner::TestError;
use std::collections::{BTreeSet, HashSet};

fn small() -> System {
    System::new(ModelConfig::preset(Preset::Small))
}

/// The small preset with every feature: every action kind, chunk name and
/// initial-state choice of the model occurs in its walks.
fn small_with_everything() -> System {
    let mut cfg = ModelConfig::preset(Preset::Small);
    cfg.features = Features::all();
    System::new(cfg)
}

fn assert_round_trips(t: &Trace) {
    let text = itf::to_string(t);
    let back = itf::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", t.source));
    assert_eq!(&back, t, "{} does not round-trip", t.source);
}

// ----------------------------------------------------------------------
// ITF.
// ----------------------------------------------------------------------

#[test]
fn itf_round_trips_every_bfs_trace_and_walk() {
    let sys = small();
    for t in bfs_traces(&sys, 4) {
        assert_round_trips(&t);
    }
    let rich = small_with_everything();
    let walks = random_walks(&rich, 200, 40, 11);
    for t in &walks {
        assert_round_trips(t);
        t.verify(&rich).unwrap_or_else(|e| panic!("{}: {e}", t.source));
    }
    // The walks of the rich model reach the records only features produce.
    let names: BTreeSet<String> = walks
        .iter()
        .flat_map(|t| t.observations.iter().flat_map(|o| o.wires.front_up.chunks.iter().map(|&c| itf::chunk_name(c))))
        .collect();
    assert!(names.contains("HDR") || names.contains("HELLO"), "{names:?}");
}

#[test]
fn itf_file_follows_the_format() {
    let sys = small();
    let t = walk(&sys, 0, &[0, 0, 0], TraceSource::Manual).expect("the small preset has an initial state");
    let v: serde_json::Value = serde_json::from_str(&itf::to_string(&t)).expect("ITF is JSON");
    assert_eq!(v["#meta"]["format"], "ITF");
    assert_eq!(v["#meta"]["preset"], "small");
    assert_eq!(v["#meta"]["init"], "0");
    assert_eq!(v["#meta"]["origin"], "manual");
    // Every #meta field is a string, as the itf crate expects.
    assert!(v["#meta"].as_object().into_iter().flatten().all(|(_, x)| x.is_string()));
    let states = v["states"].as_array().expect("states is a list");
    assert_eq!(states.len(), t.len() + 1);
    for (i, s) in states.iter().enumerate() {
        assert_eq!(s["#meta"]["index"], i);
        for var in itf::VARS {
            assert!(s.get(var).is_some(), "state {i} lacks {var}");
        }
    }
    assert_eq!(states[0]["action"], "init");
    assert_eq!(states[1]["action"], format_action(t.actions[0]));
    assert!(states[0]["timers"]["#set"].is_array());
}

#[test]
fn itf_import_accepts_bigints_and_sets_in_any_order() {
    let sys = small();
    let t =
        bfs_traces(&sys, 6).into_iter().max_by_key(|t| t.observations.iter().map(|o| o.timers.len()).sum::<usize>());
    let t = t.expect("depth 6 has traces");
    let mut v = itf::to_value(&t);
    for s in v["states"].as_array_mut().expect("states is a list") {
        let n = s["connects"].as_u64().expect("connects is a number");
        s["connects"] = serde_json::json!({ "#bigint": n.to_string() });
        if let Some(items) = s["timers"]["#set"].as_array_mut() {
            items.reverse();
        }
        if let Some(items) = s["req"]["flags"]["#set"].as_array_mut() {
            items.reverse();
        }
    }
    assert_eq!(itf::from_value(&v).expect("still a trace"), t);
}

#[test]
fn a_trace_of_other_sizes_than_its_presets_records_them_and_round_trips() {
    let base = ModelConfig::preset(Preset::Small);
    let sys = System::new(ModelConfig { client_chunks: 2, server_chunks: 2, buf_cap: 2, ..base });
    let walks = connseq_conformance::sources::random_walks(&sys, 20, 24, 5);
    assert_eq!(walks.len(), 20, "a configuration off the presets still gives walks");
    for t in &walks {
        assert_round_trips(t);
        assert_eq!(itf::to_value(t)["#meta"]["sizes"], "client=2,server=2,wire=1,buf=2,pipe=1");
        assert_eq!(t.model.system().cfg, sys.cfg);
    }
    // A trace written without sizes is the preset's.
    let t = walk(&small(), 0, &[0, 1, 2], TraceSource::Manual).expect("a walk");
    let mut v = itf::to_value(&t);
    v["#meta"].as_object_mut().expect("meta").remove("sizes");
    assert_eq!(itf::from_value(&v).expect("a trace without sizes"), t);
}

/// A change to a trace's JSON.
type Mutation = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn itf_import_rejects_what_is_not_a_trace() {
    let sys = small();
    let t = walk(&sys, 0, &[0, 1, 2, 3], TraceSource::Manual).expect("a walk");
    let good = itf::to_value(&t);
    let mutations: Vec<(&str, Mutation)> = vec![
        ("unknown action", Box::new(|v| v["states"][1]["action"] = "ProxySleeps".into())),
        ("state 0 not init", Box::new(|v| v["states"][0]["action"] = "ProxyRuns".into())),
        ("unknown preset", Box::new(|v| v["#meta"]["preset"] = "huge".into())),
        ("unknown schema", Box::new(|v| v["#meta"]["schema"] = "other/9".into())),
        ("missing var", Box::new(|v| v["vars"] = serde_json::json!(["action"]))),
        ("bad op status", Box::new(|v| v["states"][1]["front"]["ops"]["FCLO"] = "02".into())),
        ("bad chunk", Box::new(|v| v["states"][1]["wires"]["front_up"]["chunks"] = serde_json::json!(["#99"]))),
        ("bad index", Box::new(|v| v["states"][1]["#meta"]["index"] = 7.into())),
        ("no states", Box::new(|v| v["states"] = serde_json::json!([]))),
        ("sizes missing one", Box::new(|v| v["#meta"]["sizes"] = "client=1,server=1,wire=1,buf=1".into())),
        ("size twice", Box::new(|v| v["#meta"]["sizes"] = "client=1,server=1,wire=1,buf=1,pipe=1,buf=2".into())),
        ("size zero", Box::new(|v| v["#meta"]["sizes"] = "client=1,server=1,wire=1,buf=0,pipe=1".into())),
        ("unknown size", Box::new(|v| v["#meta"]["sizes"] = "client=1,server=1,wire=1,buf=1,pipe=1,disk=2".into())),
    ];
    for (what, mutate) in mutations {
        let mut v = good.clone();
        mutate(&mut v);
        assert!(itf::from_value(&v).is_err(), "{what} was accepted");
    }
    assert!(itf::from_str("not json").is_err());
}

#[test]
fn an_imported_trace_is_checked_against_the_model() {
    let sys = small();
    let t = walk(&sys, 0, &[0, 0, 0, 0, 0], TraceSource::Manual).expect("a walk");
    t.verify(&sys).expect("a walk agrees with the model");

    let mut wrong = t.clone();
    wrong.observations[2].connects += 1;
    assert_eq!(wrong.verify(&sys), Err(TraceError::ObservationMismatch { step: 2 }));

    let mut illegal = t.clone();
    illegal.actions.insert(0, SysAction::PeerReads(0, Who::Server));
    assert!(matches!(illegal.check_legal(&sys), Err(TraceError::Disabled { step: 1, .. })));
    assert_eq!(illegal.replay_in_model(&sys).len(), 1, "the replay stops before the disabled action");

    let mut other = t.clone();
    other.model.features.add(Feature::TlsFront);
    assert!(matches!(other.check_legal(&sys), Err(TraceError::ConfigMismatch { .. })));

    let mut nowhere = t;
    nowhere.init = 5;
    assert!(matches!(nowhere.check_legal(&sys), Err(TraceError::NoSuchInit { index: 5, count: 1 })));
    assert!(nowhere.replay_in_model(&sys).is_empty());
}

#[test]
fn a_directory_of_traces_reads_back_in_order() {
    let sys = small();
    let traces = bfs_traces(&sys, 3);
    let dir = std::env::temp_dir().join(format!("connseq-conformance-store-{}", std::process::id()));
    let mut w = TraceWriter::create(&dir, "bfs-d3", TraceModel::of(&sys.cfg)).expect("a writable temp dir");
    for t in &traces {
        w.add(t).expect("trace written");
    }
    w.finish("bfs depth=3", serde_json::json!({})).expect("index written");
    let back = read_dir(&dir).expect("directory read");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(back, traces);
}

// ----------------------------------------------------------------------
// Breadth-first paths.
// ----------------------------------------------------------------------

#[test]
fn every_bfs_trace_is_legal_maximal_and_distinct() {
    let sys = small();
    let traces = bfs_traces(&sys, DEFAULT_DEPTH);
    let mut seen = HashSet::new();
    for t in &traces {
        t.check_legal(&sys).unwrap_or_else(|e| panic!("{}: {e}", t.source));
        let states = t.replay_in_model(&sys);
        assert_eq!(states.len(), t.len() + 1);
        let last = states.last().expect("a trace has a state");
        assert!(t.len() == DEFAULT_DEPTH || sys.enabled(last).is_empty(), "{} is not maximal", t.source);
        assert!(seen.insert(t.actions.clone()), "{} repeats a path", t.source);
        assert!(states.iter().all(|s| s.violations == 0), "{} violates a property", t.source);
    }
}

#[test]
fn bfs_traces_visit_every_state_at_every_depth() {
    let sys = small();
    let depth = 5;
    let mut on_traces: HashSet<(usize, SysState)> = HashSet::new();
    let stats = bfs(&sys, depth, |t| {
        for (d, s) in t.replay_in_model(&sys).into_iter().enumerate() {
            on_traces.insert((d, s));
        }
    });
    // Every (depth, state) the search kept lies on a trace, and traces go
    // through no other (they extend through merged states, which are kept).
    assert_eq!(on_traces.len(), stats.states_per_depth.iter().sum::<usize>());
}

/// The figures of the small preset; update with the module documentation of
/// `sources` when the model changes.
#[test]
fn bfs_figures_of_the_small_preset_are_pinned() {
    let sys = small();
    let counts = count_paths(&sys, 6);
    let per_depth: Vec<usize> = (1..=6).map(|d| bfs(&sys, d, |_| {}).traces).collect();
    let stats = bfs(&sys, DEFAULT_DEPTH, |_| {});
    let figures = (counts.exact, counts.maximal, per_depth, stats.states_per_depth, stats.edge_traces);
    let pinned = (
        vec![1, 5, 17, 69, 318, 1283, 4616],
        4_744,
        vec![5, 17, 60, 197, 627, 1839],
        vec![1, 5, 17, 55, 187, 600, 1718],
        0,
    );
    assert_eq!(figures, pinned);
}

#[test]
fn the_default_depth_covers_everything_the_small_preset_does() {
    let sys = small();
    let space = space_coverage(&sys);
    let traces = bfs_traces(&sys, DEFAULT_DEPTH);
    let kinds = action_kinds_covered(&traces);
    let all_kinds: BTreeSet<ActionKind> = space.kinds.keys().copied().collect();
    assert_eq!(kinds, all_kinds, "action kinds");
    assert_eq!(kinds.len(), 9, "the small preset takes nine kinds of action");
    let gap = Coverage::of_traces(&traces).missing(&space);
    assert!(gap.is_empty(), "the default depth misses {gap:?}");
    // And it is the smallest depth that does.
    let shallower = Coverage::of_traces(&bfs_traces(&sys, DEFAULT_DEPTH - 1)).missing(&space);
    assert!(!shallower.edges.is_empty());
}

// ----------------------------------------------------------------------
// Random walks.
// ----------------------------------------------------------------------

#[test]
fn every_random_walk_is_legal() {
    for sys in [small(), small_with_everything()] {
        for t in random_walks(&sys, 300, 64, 3) {
            t.check_legal(&sys).unwrap_or_else(|e| panic!("{}: {e}", t.source));
            let states = t.replay_in_model(&sys);
            assert!(
                t.len() == 64 || states.last().is_some_and(|s| sys.enabled(s).is_empty()),
                "{} stopped early",
                t.source
            );
        }
    }
}

#[test]
fn random_walks_with_a_seed_are_reproducible() {
    let sys = small_with_everything();
    let a = random_walks(&sys, 50, 30, 42);
    let b = random_walks(&sys, 50, 30, 42);
    assert_eq!(a, b);
    assert_eq!(a.len(), 50);
    assert_eq!(a[7].source, TraceSource::Walk { seed: 42, index: 7, max_len: 30 });
    let c = random_walks(&sys, 50, 30, 43);
    assert_ne!(a.iter().map(|t| &t.actions).collect::<Vec<_>>(), c.iter().map(|t| &t.actions).collect::<Vec<_>>());
    // The walks start from several of the model's initial states.
    let inits: BTreeSet<usize> = a.iter().map(|t| t.init).collect();
    assert!(inits.len() > 1, "{inits:?}");
}

proptest! {
    #![proptest_config(walk_config(64))]

    /// The strategy's traces are legal, and agree with the model.
    #[test]
    fn walk_strategy_generates_legal_traces(t in walk_strategy(&small_with_everything(), 0..=48usize)) {
        let sys = small_with_everything();
        prop_assert!(t.check_legal(&sys).is_ok());
        prop_assert_eq!(t.verify(&sys), Ok(()));
    }
}

/// Whether the server read a data chunk: the toy property shrinking is tested on.
fn server_got_data(t: &Trace) -> bool {
    t.observations.iter().any(|o| o.server.data() > 0)
}

/// The fewest actions after which the server has read a data chunk, by
/// breadth-first search.
fn shortest_to_server_data(sys: &System) -> usize {
    let mut level: HashSet<SysState> = sys.init_states().into_iter().collect();
    for d in 0.. {
        if level.iter().any(|s| s.first().server.got > 0) {
            return d;
        }
        level = level.iter().flat_map(|s| sys.enabled(s).into_iter().map(move |a| sys.step(s, a, None))).collect();
        assert!(!level.is_empty(), "the server never reads data");
    }
    unreachable!()
}

#[test]
fn shrinking_a_failing_walk_yields_a_minimal_trace() {
    for seed in [5, 7, 11] {
        shrinks_to_a_minimal_trace(seed);
    }
}

fn shrinks_to_a_minimal_trace(seed: u64) {
    let sys = small();
    let strategy = walk_strategy(&sys, 0..=40usize);
    let mut runner = seeded_runner(walk_config(512), seed);
    let result = runner.run(&strategy, |t| {
        prop_assert!(!server_got_data(&t), "the server read data");
        Ok(())
    });
    let minimal = match result {
        Err(TestError::Fail(_, t)) => t,
        other => panic!("seed {seed}: no walk made the server read data: {other:?}"),
    };
    // As short as any trace can be ...
    assert_eq!(minimal.len(), shortest_to_server_data(&sys), "{}", minimal.actions_text());
    assert_eq!(minimal.actions.last(), Some(&SysAction::PeerReads(0, Who::Server)), "{}", minimal.actions_text());
    // ... and no action can be left out: without any one of them the trace
    // is illegal or the server reads nothing.
    for i in 0..minimal.len() {
        let mut fewer = minimal.actions.clone();
        fewer.remove(i);
        if let Ok(t) = Trace::record(&sys, minimal.init, &fewer, TraceSource::Manual) {
            assert!(!server_got_data(&t), "{} still fails without step {}", minimal.actions_text(), i + 1);
        }
    }
}
