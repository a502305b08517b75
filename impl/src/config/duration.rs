//! Durations as HAProxy writes them: a whole number and a unit, `250ms`,
//! `5s`, `2m`. A bare number is milliseconds, as in HAProxy (`timeout client
//! 30000`). Fractions are refused rather than rounded, so `1.5s` is an error
//! that says to write `1500ms`.

use std::fmt;
use std::time::Duration;

/// The units, in the order the error message lists them.
const UNITS: &str = "us, ms, s, m, h or d";

/// Why a duration did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing (or only spaces) was written.
    #[error("empty value")]
    Empty,
    /// The text does not start with a digit (`ms`, `-5s`, `five`).
    #[error("expected a whole number first, such as 5s")]
    MissingNumber,
    /// A decimal point (`1.5s`).
    #[error("fractions are not supported: use a smaller unit (1500ms, not 1.5s)")]
    Fraction,
    /// A unit that is not one of [`UNITS`].
    #[error("unknown unit '{0}' (use {UNITS})")]
    UnknownUnit(String),
    /// The number does not fit in 64 bits (in its unit, or in seconds).
    #[error("too large")]
    Overflow,
}

/// Parses a duration: a whole number, optional spaces, and a unit among
/// `us`, `ms`, `s`, `m`, `h`, `d` (lower case). A bare number is
/// milliseconds, as in HAProxy. Leading and trailing spaces are ignored.
///
/// ```
/// # use connseq::config::parse_duration;
/// # use std::time::Duration;
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert_eq!(parse_duration("1500"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("1.5s").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(DurationError::MissingNumber);
    }
    let (number, rest) = text.split_at(digits);
    if rest.starts_with('.') || rest.starts_with(',') {
        return Err(DurationError::Fraction);
    }
    let n: u64 = number.parse().map_err(|_| DurationError::Overflow)?;
    let secs = |per: u64| n.checked_mul(per).map(Duration::from_secs).ok_or(DurationError::Overflow);
    match rest.trim_start() {
        "" | "ms" => Ok(Duration::from_millis(n)),
        "us" => Ok(Duration::from_micros(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3_600),
        "d" => secs(86_400),
        unit => Err(DurationError::UnknownUnit(unit.to_owned())),
    }
}

/// Writes `d` with the largest unit that represents it exactly (`90s`,
/// `2m`, `1500us`), so that [`parse_duration`] reads it back unchanged.
/// Below a microsecond, the nanoseconds are dropped.
pub fn format_duration(d: Duration) -> String {
    DisplayDuration(d).to_string()
}

/// A [`Duration`] shown as in a configuration file (see [`format_duration`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisplayDuration(pub Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0.as_micros();
        if us == 0 {
            return f.write_str("0s");
        }
        const UNITS: [(u128, &str); 6] = [
            (86_400_000_000, "d"),
            (3_600_000_000, "h"),
            (60_000_000, "m"),
            (1_000_000, "s"),
            (1_000, "ms"),
            (1, "us"),
        ];
        let (per, unit) = UNITS.into_iter().find(|&(per, _)| us % per == 0).unwrap_or((1, "us"));
        write!(f, "{}{unit}", us / per)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        match parse_duration(text) {
            Ok(d) => d,
            Err(e) => panic!("{text:?} should parse: {e}"),
        }
    }

    #[test]
    fn every_unit_is_understood() {
        assert_eq!(ok("1500us"), Duration::from_micros(1500));
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("5s"), Duration::from_secs(5));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("1h"), Duration::from_secs(3_600));
        assert_eq!(ok("1d"), Duration::from_secs(86_400));
    }

    #[test]
    fn a_bare_number_is_milliseconds_as_in_haproxy() {
        assert_eq!(ok("30000"), Duration::from_secs(30));
        assert_eq!(ok("0"), Duration::ZERO);
    }

    #[test]
    fn spaces_around_and_between_are_ignored() {
        assert_eq!(ok("  5s "), Duration::from_secs(5));
        assert_eq!(ok("30 s"), Duration::from_secs(30));
    }

    #[test]
    fn an_empty_value_is_refused() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("   "), Err(DurationError::Empty));
    }

    #[test]
    fn a_unit_without_a_number_is_refused() {
        assert_eq!(parse_duration("ms"), Err(DurationError::MissingNumber));
        assert_eq!(parse_duration("-5s"), Err(DurationError::MissingNumber));
        assert_eq!(parse_duration("five seconds"), Err(DurationError::MissingNumber));
    }

    #[test]
    fn an_unknown_unit_is_named_in_the_error() {
        assert_eq!(parse_duration("30 parsecs"), Err(DurationError::UnknownUnit("parsecs".into())));
        assert_eq!(parse_duration("5S"), Err(DurationError::UnknownUnit("S".into())));
        assert_eq!(parse_duration("5sec"), Err(DurationError::UnknownUnit("sec".into())));
        let msg = DurationError::UnknownUnit("parsecs".into()).to_string();
        assert_eq!(msg, "unknown unit 'parsecs' (use us, ms, s, m, h or d)");
    }

    #[test]
    fn fractions_are_refused_with_a_hint() {
        assert_eq!(parse_duration("1.5s"), Err(DurationError::Fraction));
        assert!(DurationError::Fraction.to_string().contains("1500ms"));
    }

    #[test]
    fn numbers_beyond_64_bits_overflow() {
        assert_eq!(parse_duration("18446744073709551616ms"), Err(DurationError::Overflow));
        assert_eq!(parse_duration("18446744073709551615d"), Err(DurationError::Overflow));
        assert_eq!(ok("18446744073709551615ms"), Duration::from_millis(u64::MAX));
    }

    #[test]
    fn formatting_picks_the_largest_exact_unit_and_reads_back() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_micros(1500), "1500us"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(7_200), "2h"),
            (Duration::from_secs(86_400), "1d"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(ok(text), d);
        }
    }
}
