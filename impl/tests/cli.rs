//! The `connseq check` command as a user runs it.

use std::process::Command;

fn connseq(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_connseq")).args(args).output().expect("the connseq binary runs")
}

#[test]
fn check_small_prints_one_json_object_and_exits_zero() {
    let out = connseq(&["check", "--preset", "small", "--json"]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert_eq!(v["preset"], "small");
    assert!(v["unique_states"].as_u64().unwrap_or(0) > 1000);
    assert!(v["states"].as_u64() >= v["unique_states"].as_u64());
    assert!(v["max_depth"].as_u64().unwrap_or(0) > 0);
    assert!(v["seconds"].is_number());
    let props = v["properties"].as_array().expect("properties is an array");
    assert!(props.len() >= 15);
    for p in props {
        let kind = p["kind"].as_str().unwrap_or("");
        let result = p["result"].as_str().unwrap_or("");
        assert!(["always", "eventually", "internal", "sometimes"].contains(&kind), "{p}");
        match kind {
            "sometimes" => assert_eq!(result, "witnessed", "{p}"),
            _ => assert_eq!(result, "holds", "{p}"),
        }
        assert!(p.get("trace_len").is_some());
    }
    assert_eq!(v["passed"], true);
    assert_eq!(v["stopped_early"], false);
    let delivery = &v["obligations"]["delivery"];
    assert!(delivery["applies"].as_u64().unwrap_or(0) > 0, "{delivery}");
    assert!(delivery["with_data"].as_u64() >= delivery["applies"].as_u64(), "{delivery}");
}

#[test]
fn list_mutants_prints_one_mutant_per_line_with_a_description() {
    let out = connseq(&["check", "--list-mutants"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), connseq_model::core::Mutant::ALL.len());
    for (line, m) in lines.iter().zip(connseq_model::core::Mutant::ALL) {
        let mut parts = line.splitn(2, ' ');
        assert_eq!(parts.next(), Some(m.name()));
        assert!(parts.next().is_some_and(|d| !d.trim().is_empty()));
    }
}

#[test]
fn a_mutant_fails_the_check_with_a_numbered_counterexample() {
    // --exhaustive: without it the search stops at the first violation,
    // which, with two threads, need not be the same property every run.
    let out = connseq(&["check", "--preset", "small", "--mutant", "close-without-drain", "--exhaustive"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("counterexample for \"the proxy's RST never destroys data a peer has not read\""), "{text}");
    assert!(text.contains("   1. "), "{text}");
    assert!(text.contains("violated"));
}

#[test]
fn unknown_preset_feature_or_mutant_is_a_usage_error() {
    for args in
        [&["check", "--preset", "huge"][..], &["check", "--feature", "quic"][..], &["check", "--mutant", "nope"][..]]
    {
        let out = connseq(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn a_mutant_stops_at_the_first_violation_and_marks_the_rest_unchecked() {
    let out = connseq(&["check", "--preset", "small", "--mutant", "no-fin-timer", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert_eq!(v["mutant"], "no-fin-timer");
    let results: Vec<&str> =
        v["properties"].as_array().into_iter().flatten().filter_map(|p| p["result"].as_str()).collect();
    assert!(results.contains(&"violated"), "{results:?}");
    assert!(results.iter().all(|r| ["violated", "witnessed", "unchecked"].contains(r)), "{results:?}");
}

#[test]
fn check_health_checks_the_health_model_and_exits_with_its_verdict() {
    let out = connseq(&["check", "--health"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("3000 unique states") && text.contains("all properties pass"), "{text}");
    assert_eq!(text.matches("witnessed").count(), 3, "{text}");
    let json = connseq(&["check", "--health", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert_eq!(v["passed"], true);
    assert_eq!(v["properties"].as_array().map(Vec::len), Some(11));
}
