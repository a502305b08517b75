//! Every safety, liveness and internal property can fail: for each, a mutant
//! of the core that the checker refutes, with the counterexample printed;
//! and every mutant is also refuted by a property that judges what peers or
//! the kernel observe, so none rests on the core's bookkeeping alone.

use connseq_model::check::properties::{MutantDef, MUTANTS};
use connseq_model::check::runner::{refute, refute_any, refute_path};
use connseq_model::check::ConnseqModel;
use connseq_model::check::{check, CheckOptions, Kind, ModelConfig, Preset, Verdict, PROPERTIES};
use connseq_model::core::Mutant;
use std::time::Duration;

fn opts() -> CheckOptions {
    CheckOptions { threads: 2, shorten: true, shorten_budget: Duration::from_secs(10), ..CheckOptions::default() }
}

fn base() -> ModelConfig {
    ModelConfig::preset(Preset::Small)
}

#[test]
fn every_property_but_the_witnesses_has_a_mutant() {
    for p in PROPERTIES {
        if p.kind != Kind::Sometimes {
            assert!(MUTANTS.iter().any(|d| d.refutes == p.name), "property \"{}\" has no mutant", p.name);
        }
    }
    for m in Mutant::ALL {
        assert!(MUTANTS.iter().any(|d| d.mutant == *m), "mutant {m} is in no catalogue entry");
    }
    for d in MUTANTS {
        assert_ne!(d.property().kind, Kind::Sometimes, "mutant {} names a witness", d.mutant);
    }
}

#[test]
fn every_mutant_is_refuted_by_its_property_with_a_counterexample() {
    let mut missed = Vec::new();
    for d in MUTANTS {
        let def = d.property();
        match refute(d.config(base()), def, opts()) {
            Some((init, steps)) => {
                println!("mutant {}: \"{}\" refuted in {} steps", d.mutant, def.name, steps.len());
                println!("   0. {init}");
                for (i, s) in steps.iter().enumerate() {
                    println!("  {:>2}. {}", i + 1, s.what);
                }
                assert!(!steps.is_empty(), "mutant {}: empty counterexample", d.mutant);
            }
            None => missed.push(format!("{} (\"{}\")", d.mutant, def.name)),
        }
    }
    assert!(missed.is_empty(), "mutants not refuted: {missed:?}");
}

/// No mutant is refuted by an internal-consistency check alone: each also
/// breaks a property that judges what a peer reads or the kernel holds.
#[test]
fn no_mutant_is_refuted_by_internal_checks_only() {
    let observable: Vec<_> = PROPERTIES.iter().filter(|p| p.kind.observable()).collect();
    let mut hidden = Vec::new();
    let mut seen = Vec::new();
    for d in MUTANTS {
        if seen.contains(&d.mutant) {
            continue;
        }
        seen.push(d.mutant);
        let cfg = MUTANTS.iter().filter(|e| e.mutant == d.mutant).fold(base(), |c, e: &MutantDef| e.config(c));
        match refute_any(cfg, &observable, opts()) {
            Some((name, steps)) => println!("mutant {}: observably refuted by \"{name}\" in {} steps", d.mutant, steps),
            None => hidden.push(d.mutant.name()),
        }
    }
    assert!(hidden.is_empty(), "mutants no observable property refutes: {hidden:?}");
}

#[test]
fn counterexamples_stop_at_the_first_violating_state() {
    let opts = CheckOptions { threads: 2, shorten: false, ..CheckOptions::default() };
    for d in MUTANTS {
        let def = d.property();
        let model = ConnseqModel::new(d.config(base()));
        let path = refute_path(&model, def, opts).unwrap_or_else(|| panic!("mutant {} not refuted", d.mutant));
        let (last, rest) = path.split_last().expect("a path has a state");
        assert!(!(def.check)(&model, &last.0), "mutant {}: the last state does not violate \"{}\"", d.mutant, def.name);
        for (s, a) in rest {
            assert!((def.check)(&model, s), "mutant {}: the trace runs past the first violation", d.mutant);
            assert!(a.is_some());
        }
        assert!(last.1.is_none());
    }
}

/// A mutant no property refutes is a verdict too: the search goes through
/// the whole space (it stops only at a real violation), nothing is left
/// unchecked, and the check passes. Without retries the retry budget is
/// never read, so `retry-without-budget` survives there.
#[test]
fn a_surviving_mutant_searches_the_whole_space_and_passes() {
    let cfg = base().with_mutant(Mutant::RetryWithoutBudget);
    let opts = CheckOptions { stop_at_first_failure: true, ..opts() };
    let r = check(cfg, opts, &mut |_| {});
    assert!(!r.stopped_early);
    assert!(r.properties.iter().all(|p| p.verdict != Verdict::Unchecked && p.verdict != Verdict::Violated));
    assert!(r.passed());
    let correct = check(base(), CheckOptions::default(), &mut |_| {});
    assert_eq!(r.unique_states, correct.unique_states, "the same space as the correct core's");
}
