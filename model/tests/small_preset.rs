//! The `small` preset, checked exhaustively on every `cargo test`, with its
//! state count pinned: a change to the core or the model that changes the
//! explored space shows up here and is updated on purpose (docs/model.md
//! records the figures).

use connseq_model::check::{check, CheckOptions, Feature, ModelConfig, Preset, Report};

/// Distinct states of the small preset. Update together with docs/model.md.
const SMALL_UNIQUE_STATES: usize = 246_938;

fn run(cfg: ModelConfig) -> Report {
    check(cfg, CheckOptions { threads: 2, ..CheckOptions::default() }, &mut |_| {})
}

fn assert_passes(r: &Report) {
    let failing: Vec<_> = r
        .properties
        .iter()
        .filter(|p| !p.verdict.passes())
        .map(|p| format!("{} ({})", p.def.name, p.verdict.name()))
        .collect();
    assert!(failing.is_empty(), "{:?} {:?}: failing properties {failing:?}", r.cfg.preset, r.cfg.features);
}

#[test]
fn small_preset_holds_every_property_and_its_state_count_is_pinned() {
    let r = run(ModelConfig::preset(Preset::Small));
    assert_passes(&r);
    assert_eq!(r.unique_states, SMALL_UNIQUE_STATES, "the small preset's state space changed");
    assert!(r.max_depth > 10);
}

#[test]
fn small_preset_with_each_feature_holds_every_property() {
    for f in Feature::ALL {
        if f == Feature::Garbage {
            // Garbage replaces a PROXY header or a TLS hello: shown with them.
            let r = run(ModelConfig::preset(Preset::Small).with(f).with(Feature::ProxyIn).with(Feature::TlsFront));
            assert_passes(&r);
            continue;
        }
        let r = run(ModelConfig::preset(Preset::Small).with(f));
        assert_passes(&r);
    }
}
