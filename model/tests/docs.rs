//! docs/model.md moves with the code: every property and every mutant the
//! model has is documented there.

use connseq_model::check::PROPERTIES;
use connseq_model::core::Mutant;

fn model_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/model.md");
    std::fs::read_to_string(path).expect("docs/model.md exists")
}

#[test]
fn every_property_is_documented() {
    let doc = model_md();
    for p in PROPERTIES {
        let short: String = p.name.chars().take(40).collect();
        assert!(doc.contains(&short), "docs/model.md does not mention the property \"{}\"", p.name);
    }
}

#[test]
fn every_mutant_is_documented() {
    let doc = model_md();
    for m in Mutant::ALL {
        assert!(doc.contains(&format!("`{}`", m.name())), "docs/model.md does not mention the mutant `{m}`");
    }
}
