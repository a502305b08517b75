//! The TOML configuration (`ProxyConfig::from_toml_str`) on arbitrary text.
//!
//! Checked on every input, besides "no panic": an error names the file and, when it gives a
//! line, one that exists in the text (docs/operations.md, "Errors"); a configuration that loads
//! keeps the promises the runtime relies on (at least one listener, each with an address and a
//! server, unique names, threads within 1 to 1024).
//!
//! Paths named in the text (certificates, keys, CA files) are resolved against the directory
//! of `FILE`, which does not exist, so no input reads the machine's files.

#![no_main]

use connseq::config::{ProxyConfig, MAX_THREADS};
use libfuzzer_sys::fuzz_target;

const FILE: &str = "/nonexistent-connseq-fuzz/proxy.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match ProxyConfig::from_toml_str(text, FILE) {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(FILE), "an error that does not name the file: {msg:?}");
            if let Some(line) = e.line() {
                let lines = text.lines().count().max(1);
                assert!((1..=lines + 1).contains(&line), "line {line} of a {lines}-line text: {msg:?}");
            }
            assert!(!msg.contains('\n'), "an error on more than one line: {msg:?}");
        }
        Ok(config) => {
            assert!(!config.listeners.is_empty(), "a configuration with no listener");
            assert!((1..=MAX_THREADS).contains(&config.global.threads));
            for (i, l) in config.listeners.iter().enumerate() {
                assert!(!l.addrs.is_empty(), "listener '{}' has no address", l.name);
                assert!(!l.backend.servers.is_empty(), "listener '{}' has no server", l.name);
                assert!(config.listeners[..i].iter().all(|o| o.name != l.name), "two listeners '{}'", l.name);
            }
        }
    }
});
