//! Size probe: `cargo run -p connseq-model --example probe -- PRESET [SECONDS]` prints the
//! search's progress every five seconds and stops after SECONDS.
use connseq_model::check::config::{ModelConfig, Preset};
use connseq_model::check::runner::{check, CheckOptions};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let preset: Preset = args.get(1).map_or("queue", String::as_str).parse().expect("preset");
    let limit = Duration::from_secs(args.get(2).map_or(120, |s| s.parse().expect("seconds")));
    let mut cfg = ModelConfig::preset(preset);
    if let Ok(c) = std::env::var("CHUNKS") {
        let c: u8 = c.parse().expect("chunks");
        cfg.client_chunks = c;
        cfg.server_chunks = c;
    }
    if let Ok(n) = std::env::var("SESSIONS") {
        cfg.sessions = n.parse().expect("sessions");
    }
    if let Ok(b) = std::env::var("BUF") {
        cfg.buf_cap = b.parse().expect("buffer");
    }
    for f in std::env::var("FEATURES").unwrap_or_default().split(',').filter(|f| !f.is_empty()) {
        cfg = cfg.with(f.parse().expect("feature"));
    }
    let mut last = 0;
    let r = check(cfg, CheckOptions::default(), &mut |p| {
        let s = p.elapsed.as_secs();
        if s / 5 != last {
            last = s / 5;
            eprintln!("{s:>4} s  {} unique  {} generated  depth {}", p.unique, p.states, p.depth);
        }
        if p.elapsed > limit {
            eprintln!("stopped after {limit:?}");
            std::process::exit(2);
        }
    });
    for p in r.properties.iter().filter(|p| !p.verdict.passes()) {
        eprintln!("{:?}: {}", p.verdict, p.def.name);
        if let Some(i) = &p.init {
            eprintln!("   0. {i}");
        }
        for (k, st) in p.trace.iter().flatten().enumerate() {
            eprintln!("  {:>2}. {}\n      {}", k + 1, st.what, st.after);
        }
    }
    eprintln!("{} unique states", r.unique_states);
}
