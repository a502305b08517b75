//! The HAProxy configuration import (`ProxyConfig::from_haproxy_str`, `--haproxy-cfg`) on
//! arbitrary text, read both ways: strictly and with `--lenient`.
//!
//! Checked on every input, besides "no panic":
//! - an error names the file, a line that exists in the text and the directive at fault, on
//!   one line with no control character (docs/operations.md, "Errors");
//! - a lenient load's warnings do the same, one per directive left out;
//! - a configuration that loads keeps the promises the runtime relies on (at least one
//!   listener, each with an address and a server, unique names, threads within 1 to 1024);
//! - the two readings agree: what loads strictly loads leniently, the same, with no warning;
//!   what loads leniently with no warning loads strictly, the same; and a file refused strictly
//!   but loaded leniently has at least one warning (nothing is left out silently).
//!
//! Paths named in the text are resolved against the directory of `FILE`, which does not exist,
//! so no relative name reads the machine's files.

#![no_main]

use connseq::config::{ConfigError, Loaded, ProxyConfig, MAX_THREADS};
use libfuzzer_sys::fuzz_target;

const FILE: &str = "/nonexistent-connseq-fuzz/haproxy.cfg";

/// A message that names `FILE` and a line of `text`, on one line with no control character.
fn check_message(msg: &str, line: usize, text: &str) {
    let lines = text.lines().count().max(1);
    assert!(msg.starts_with(&format!("{FILE}:{line}: directive '")), "not FILE:LINE: directive: {msg:?}");
    assert!((1..=lines).contains(&line), "line {line} of a {lines}-line text: {msg:?}");
    assert!(!msg.chars().any(char::is_control), "a control character in {msg:?}");
}

fn check_error(e: &ConfigError, text: &str) {
    let msg = e.to_string();
    let line = e.line().unwrap_or_else(|| panic!("an error with no line: {msg:?}"));
    let key = e.key().unwrap_or_else(|| panic!("an error with no directive: {msg:?}"));
    assert!(!key.is_empty(), "an error with an empty directive: {msg:?}");
    check_message(&msg, line, text);
}

fn check_loaded(loaded: &Loaded, text: &str) {
    let config = &loaded.config;
    assert!(!config.listeners.is_empty(), "a configuration with no listener");
    assert!((1..=MAX_THREADS).contains(&config.global.threads));
    for (i, l) in config.listeners.iter().enumerate() {
        assert!(!l.addrs.is_empty(), "listener '{}' has no address", l.name);
        assert!(!l.backend.servers.is_empty(), "listener '{}' has no server", l.name);
        assert!(config.listeners[..i].iter().all(|o| o.name != l.name), "two listeners '{}'", l.name);
    }
    for w in &loaded.warnings {
        let line = w
            .strip_prefix(FILE)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a warning that does not name FILE:LINE: {w:?}"));
        check_message(w, line, text);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let strict = ProxyConfig::from_haproxy_str(text, FILE, false);
    let lenient = ProxyConfig::from_haproxy_str(text, FILE, true);
    for result in [&strict, &lenient] {
        match result {
            Err(e) => check_error(e, text),
            Ok(loaded) => check_loaded(loaded, text),
        }
    }
    match (&strict, &lenient) {
        (Ok(s), Ok(l)) => {
            assert!(s.warnings.is_empty(), "a strict load with warnings: {:?}", s.warnings);
            assert!(l.warnings.is_empty(), "lenient warnings on a file that loads strictly: {:?}", l.warnings);
            assert!(s.config == l.config, "the two readings of one file differ");
        }
        (Ok(_), Err(e)) => panic!("loads strictly, refused leniently: {e}"),
        (Err(e), Ok(l)) => assert!(!l.warnings.is_empty(), "refused strictly ({e}), loaded leniently with no warning"),
        (Err(_), Err(_)) => {}
    }
});
