//! The bounds every value is held to, shared by the flags and the file, so
//! both refuse the same things with the same words.

use super::duration::format_duration;
use super::error::Problem;
use super::size::format_size;
use std::time::Duration;

/// The shortest timeout: the core counts in milliseconds, and a zero
/// timeout would fire at once.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// The longest timeout or delay: 24 days, just under HAProxy's 2^31 ms
/// ceiling, so that `now + timeout` never nears an overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 86_400);

/// The most event-loop threads.
pub const MAX_THREADS: usize = 1024;

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
}
