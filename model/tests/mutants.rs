//! Every `always` and `eventually` property can fail: for each, a mutant of
//! the core that the checker refutes, with the counterexample printed.

use connseq_model::check::runner::{mutant_cases, mutant_config, refute};
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
    let opts = CheckOptions { threads: 2, shorten: true, shorten_budget: Duration::from_secs(10), ..CheckOptions::default() };
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
