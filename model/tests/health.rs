//! The servers' health model (`check::health`): every property holds for
//! the core's health counter and balancer, exhaustively, and each mutant is
//! refuted by the property written against its bug.

use connseq_model::check::health::{HealthModel, HealthMutant};
use stateright::{Checker, Model};

fn check(mutant: HealthMutant) -> (Vec<&'static str>, Vec<&'static str>, usize) {
    let model = HealthModel::new(mutant);
    let names: Vec<&'static str> = model.properties().iter().map(|p| p.name).collect();
    let checker = model.clone().checker().spawn_bfs().join();
    let (mut violated, mut witnessed) = (Vec::new(), Vec::new());
    for p in model.properties() {
        match (p.expectation, checker.discovery(p.name)) {
            (stateright::Expectation::Always, Some(_)) => violated.push(p.name),
            (stateright::Expectation::Sometimes, Some(_)) => witnessed.push(p.name),
            _ => {}
        }
    }
    assert!(!names.is_empty());
    (violated, witnessed, checker.unique_state_count())
}

#[test]
fn every_health_property_holds_and_every_witness_is_reached() {
    let (violated, witnessed, states) = check(HealthMutant::None);
    eprintln!("health model: {states} states");
    assert!(violated.is_empty(), "violated: {violated:?}");
    assert_eq!(witnessed.len(), 3, "witnesses: {witnessed:?}");
    assert!(states > 100, "the space is explored: {states} states");
}

#[test]
fn every_health_mutant_is_refuted_by_the_property_against_its_bug() {
    let expect = |m: HealthMutant| match m {
        HealthMutant::UpOnFirstPass => "a DOWN server stays DOWN until `rise` passed checks in a row",
        HealthMutant::DownOnFirstFailure => {
            "a server that passed a check while UP stays UP until `fall` failed checks in a row"
        }
        HealthMutant::FailuresIgnored => "a server is DOWN after `fall` failed checks in a row",
        HealthMutant::DrainStillPicked => "a server that is not UP and ready gets no new session",
        HealthMutant::DrainCutsSessions => "a session on a drained, DOWN or maintained server ends only by its own end",
        HealthMutant::BackupAlwaysInService => {
            "a backup server gets no new session while an active server can be chosen"
        }
        HealthMutant::BackupNeverServes => "a session gets a server while one can be chosen",
        HealthMutant::None => unreachable!(),
    };
    for m in HealthMutant::ALL {
        let (violated, _, _) = check(m);
        eprintln!("{m:?}: refuted by {violated:?}");
        assert!(violated.contains(&expect(m)), "{m:?} is refuted by {violated:?}");
    }
}
