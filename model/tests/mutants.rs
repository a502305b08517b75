//! Every `always` and `eventually` property can fail: for each, a mutant of
//! the core that the checker refutes, with the counterexample printed.

use connseq_model::check::runner::{mutant_cases, mutant_config, refute, refute_path};
use connseq_model::check::ConnseqModel;
use connseq_model::check::{CheckOptions, Kind, ModelConfig, Preset, PROPERTIES};
use std::time::Duration;

#[test]
fn every_always_and_eventually_property_has_a_mutant() {
    for p in PROPERTIES {
        if p.kind != Kind::Sometimes {
            assert!(p.mutant.is_some(), "property \"{}\" has no mutant", p.name);
        }
    }
}

#[test]
fn every_mutant_is_refuted_with_a_counterexample() {
    let opts =
        CheckOptions { threads: 2, shorten: true, shorten_budget: Duration::from_secs(10), ..CheckOptions::default() };
    let mut missed = Vec::new();
    for (m, def) in mutant_cases() {
        let cfg = mutant_config(ModelConfig::preset(Preset::Small), m);
        match refute(cfg, def, opts) {
            Some((init, steps)) => {
                println!("mutant {m}: \"{}\" refuted in {} steps", def.name, steps.len());
                println!("   0. {init}");
                for (i, s) in steps.iter().enumerate() {
                    println!("  {:>2}. {}", i + 1, s.what);
                }
                assert!(!steps.is_empty() || def.kind == Kind::Eventually, "mutant {m}: empty counterexample");
            }
            None => missed.push(format!("{m} (\"{}\")", def.name)),
        }
    }
    assert!(missed.is_empty(), "mutants not refuted: {missed:?}");
}

#[test]
fn counterexamples_stop_at_the_first_violating_state() {
    let opts = CheckOptions { threads: 2, shorten: false, ..CheckOptions::default() };
    for (m, def) in mutant_cases() {
        let model = ConnseqModel::new(mutant_config(ModelConfig::preset(Preset::Small), m));
        let path = refute_path(&model, def, opts).unwrap_or_else(|| panic!("mutant {m} not refuted"));
        let (last, rest) = path.split_last().expect("a path has a state");
        assert!(!(def.check)(&model, &last.0), "mutant {m}: the last state does not violate \"{}\"", def.name);
        for (s, a) in rest {
            assert!((def.check)(&model, s), "mutant {m}: the trace runs past the first violation");
            assert!(a.is_some());
        }
        assert!(last.1.is_none());
    }
}
