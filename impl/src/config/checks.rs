//! The bounds every value is held to, shared by the flags and the file, so
//! both refuse the same things with the same words.

use super::duration::format_duration;
use super::error::Problem;
use super::size::format_size;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shortest timeout: the core counts in milliseconds, and a zero
/// timeout would fire at once.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// The longest timeout or delay: 24 days, just under HAProxy's 2^31 ms
/// ceiling, so that `now + timeout` never nears an overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 86_400);

/// The most event-loop threads.
pub const MAX_THREADS: usize = 1024;

/// The most checks in a row a server's `rise` or `fall` may count.
pub const MAX_CHECK_COUNT: u32 = 1000;

/// The smallest channel buffer.
pub const MIN_BUFFER_SIZE: usize = 1024;

/// The largest channel buffer.
pub const MAX_BUFFER_SIZE: usize = 64 << 20;

/// A timeout: at least [`MIN_TIMEOUT`], at most [`MAX_TIMEOUT`].
pub(crate) fn timeout(d: Duration, written: impl FnOnce() -> String) -> Result<Duration, Problem> {
    within_duration(d, MIN_TIMEOUT, written)
}

/// A delay that may be zero (turn-around, grace period): at most [`MAX_TIMEOUT`].
pub(crate) fn delay(d: Duration, written: impl FnOnce() -> String) -> Result<Duration, Problem> {
    within_duration(d, Duration::ZERO, written)
}

fn within_duration(d: Duration, min: Duration, written: impl FnOnce() -> String) -> Result<Duration, Problem> {
    if (min..=MAX_TIMEOUT).contains(&d) {
        Ok(d)
    } else {
        Err(Problem::OutOfRange { value: written(), min: format_duration(min), max: format_duration(MAX_TIMEOUT) })
    }
}

/// An integer within `min..=max`, converted to the type that holds it.
pub(crate) fn int<T: TryFrom<i64>>(value: i64, min: i64, max: i64) -> Result<T, Problem> {
    if (min..=max).contains(&value) {
        if let Ok(v) = T::try_from(value) {
            return Ok(v);
        }
    }
    Err(Problem::OutOfRange { value: value.to_string(), min: min.to_string(), max: max.to_string() })
}

/// A thread count: 1 to [`MAX_THREADS`].
pub(crate) fn threads(n: usize) -> Result<usize, Problem> {
    if (1..=MAX_THREADS).contains(&n) {
        Ok(n)
    } else {
        Err(Problem::OutOfRange { value: n.to_string(), min: "1".into(), max: MAX_THREADS.to_string() })
    }
}

/// A buffer size: [`MIN_BUFFER_SIZE`] to [`MAX_BUFFER_SIZE`].
pub(crate) fn buffer_size(n: usize, written: impl FnOnce() -> String) -> Result<usize, Problem> {
    if (MIN_BUFFER_SIZE..=MAX_BUFFER_SIZE).contains(&n) {
        Ok(n)
    } else {
        Err(Problem::OutOfRange {
            value: written(),
            min: format_size(MIN_BUFFER_SIZE),
            max: format_size(MAX_BUFFER_SIZE),
        })
    }
}

/// A listener's maxconn: 0 (bounded by the global one only) or at most the
/// global maxconn when that is not 0 (unlimited).
pub(crate) fn listener_maxconn(maxconn: u32, global: u32) -> Result<u32, Problem> {
    if global != 0 && maxconn > global {
        Err(Problem::AboveGlobalMaxconn { maxconn, global })
    } else {
        Ok(maxconn)
    }
}

/// A server's `rise` or `fall`: 1 to [`MAX_CHECK_COUNT`].
pub(crate) fn check_count(n: i64) -> Result<u32, Problem> {
    int(n, 1, i64::from(MAX_CHECK_COUNT))
}

/// A listener or backend name: not empty, letters, digits, `-_.:` only
/// (HAProxy's proxy names), so it can stand unquoted in a log line.
pub(crate) fn name(text: &str) -> Result<String, Problem> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
    if !text.is_empty() && text.chars().all(ok) {
        Ok(text.to_owned())
    } else {
        Err(Problem::InvalidName(text.to_owned()))
    }
}

/// A file the runtime will read later (certificate, key, CA): it must be a
/// regular file this process can open now, so that a typo fails at
/// configuration time; what it holds is the TLS loader's to check.
pub(crate) fn readable_file(path: &Path) -> Result<PathBuf, Problem> {
    let unreadable = |reason: String| Problem::UnreadableFile { path: path.to_owned(), reason };
    let file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    match file.metadata() {
        Ok(m) if m.is_file() => Ok(path.to_owned()),
        Ok(m) if m.is_dir() => Err(unreadable("it is a directory".into())),
        Ok(_) => Err(unreadable("it is not a regular file".into())),
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// An ALPN protocol name (RFC 7301 3.1: 1 to 255 bytes), held to visible
/// ASCII so that it can be written in a configuration and a log line.
pub(crate) fn alpn(name: &str) -> Result<String, Problem> {
    if (1..=255).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(name.to_owned())
    } else {
        Err(Problem::InvalidAlpn(name.to_owned()))
    }
}

/// A server name to send as SNI: a DNS name of at most 253 characters,
/// labels of 1 to 63 letters, digits and inner hyphens, no trailing dot
/// and no IP address (RFC 6066 3: "Literal IPv4 and IPv6 addresses are not
/// permitted"). A last label of digits only is refused too: it would be
/// an IPv4 address in some spelling.
pub(crate) fn sni(name: &str) -> Result<String, Problem> {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let numeric_tld = name.rsplit('.').next().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    if name.len() <= 253 && name.parse::<IpAddr>().is_err() && !numeric_tld && name.split('.').all(label_ok) {
        Ok(name.to_owned())
    } else {
        Err(Problem::InvalidSni(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_must_be_between_a_millisecond_and_24_days() {
        let w = || "x".to_owned();
        assert!(timeout(Duration::ZERO, w).is_err());
        assert!(timeout(Duration::from_micros(999), w).is_err());
        assert!(timeout(MIN_TIMEOUT, w).is_ok());
        assert!(timeout(MAX_TIMEOUT, w).is_ok());
        let e = timeout(MAX_TIMEOUT + Duration::from_millis(1), || "25d".into()).expect_err("too long");
        assert_eq!(e.to_string(), "25d is out of range (1ms to 24d)");
    }

    #[test]
    fn delays_may_be_zero() {
        assert_eq!(delay(Duration::ZERO, || "0".into()), Ok(Duration::ZERO));
        assert!(delay(Duration::from_secs(25 * 86_400), || "25d".into()).is_err());
    }

    #[test]
    fn integers_are_held_to_their_range_and_type() {
        assert_eq!(int::<u8>(255, 0, 255), Ok(255u8));
        assert_eq!(int::<u8>(256, 0, 255).map_err(|e| e.to_string()), Err("256 is out of range (0 to 255)".into()));
        assert!(int::<u32>(-1, 0, u32::MAX.into()).is_err());
    }

    #[test]
    fn a_listener_maxconn_fits_under_the_global_one() {
        assert_eq!(listener_maxconn(100, 0), Ok(100));
        assert_eq!(listener_maxconn(0, 10), Ok(0));
        assert_eq!(listener_maxconn(10, 10), Ok(10));
        assert_eq!(listener_maxconn(11, 10), Err(Problem::AboveGlobalMaxconn { maxconn: 11, global: 10 }));
    }

    #[test]
    fn names_are_log_safe_words() {
        assert_eq!(name("web-1.eu:a_b"), Ok("web-1.eu:a_b".to_owned()));
        assert!(name("").is_err());
        assert!(name("two words").is_err());
        assert!(name("quote\"").is_err());
    }

    #[test]
    fn threads_and_buffer_sizes_have_bounds() {
        assert!(threads(0).is_err());
        assert_eq!(threads(MAX_THREADS), Ok(MAX_THREADS));
        assert!(threads(MAX_THREADS + 1).is_err());
        assert!(buffer_size(MIN_BUFFER_SIZE - 1, || "1023".into()).is_err());
        assert_eq!(buffer_size(16 << 10, || "16k".into()), Ok(16 << 10));
        let e = buffer_size(MAX_BUFFER_SIZE + 1, || "huge".into()).expect_err("too big");
        assert_eq!(e.to_string(), "huge is out of range (1k to 64m)");
    }

    #[test]
    fn alpn_names_are_1_to_255_visible_characters() {
        assert_eq!(alpn("h2"), Ok("h2".to_owned()));
        assert_eq!(alpn("http/1.1"), Ok("http/1.1".to_owned()));
        assert_eq!(alpn(&"x".repeat(255)).map(|s| s.len()), Ok(255));
        for bad in ["", "h 2", "caf\u{e9}", &"x".repeat(256)] {
            assert_eq!(alpn(bad), Err(Problem::InvalidAlpn(bad.to_owned())), "{bad:?}");
        }
    }

    #[test]
    fn sni_is_a_dns_name_and_never_an_address() {
        for good in ["example.com", "a", "xn--bcher-kva.example", "api-1.eu.example.com", "EXAMPLE.com"] {
            assert_eq!(sni(good), Ok(good.to_owned()), "{good}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = ["a"; 128].join("."); // 255 characters
        for bad in [
            "",
            "10.0.0.1",
            "::1",
            "1.2.3",
            "example.com.",
            "-a.com",
            "a-.com",
            "a..com",
            "a_b.com",
            "a b",
            &long_label,
            &long_name,
        ] {
            assert_eq!(sni(bad), Err(Problem::InvalidSni(bad.to_owned())), "{bad:?}");
        }
    }

    #[test]
    fn a_file_to_read_later_must_open_now() {
        let dir = std::env::temp_dir();
        let e = readable_file(&dir).expect_err("a directory");
        assert_eq!(e.to_string(), format!("cannot read \"{}\": it is a directory", dir.display()));
        let absent = dir.join(format!("connseq-checks-absent-{}.pem", std::process::id()));
        let e = readable_file(&absent).expect_err("absent");
        assert!(e.to_string().contains("No such file or directory"), "{e}");
        let present = dir.join(format!("connseq-checks-present-{}.pem", std::process::id()));
        std::fs::write(&present, "not PEM: read by the TLS loader, not here").expect("temporary directory");
        assert_eq!(readable_file(&present), Ok(present.clone()));
        let _ = std::fs::remove_file(&present);
    }
}
