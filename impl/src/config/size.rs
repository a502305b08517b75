//! Byte sizes: a whole number and an optional binary multiple, `16384`,
//! `16k`, `64KiB`, `1m`. Every multiple is a power of 1024 (as HAProxy reads
//! `k`, `m`, `g`); `kB`, `KiB` and `k` mean the same, case does not matter.

/// Why a size did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Nothing (or only spaces) was written.
    #[error("empty value")]
    Empty,
    /// The text does not start with a digit.
    #[error("expected a whole number first, such as 16k")]
    MissingNumber,
    /// A decimal point (`1.5k`).
    #[error("fractions are not supported: use a smaller unit (1536, not 1.5k)")]
    Fraction,
    /// A suffix that is not a known multiple.
    #[error("unknown unit '{0}' (use b, k, m or g; KiB, kB and k all mean 1024 bytes)")]
    UnknownUnit(String),
    /// The size does not fit in this machine's `usize`.
    #[error("too large")]
    Overflow,
}

/// Parses a byte size: a whole number, optional spaces, and an optional
/// multiple among `b`, `k`/`kb`/`kib`, `m`/`mb`/`mib`, `g`/`gb`/`gib`
/// (any case; all powers of 1024).
///
/// ```
/// # use connseq::config::parse_size;
/// assert_eq!(parse_size("16k"), Ok(16 * 1024));
/// assert_eq!(parse_size("64KiB"), Ok(64 * 1024));
/// assert_eq!(parse_size("16384"), Ok(16384));
/// ```
pub fn parse_size(text: &str) -> Result<usize, SizeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SizeError::Empty);
    }
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(SizeError::MissingNumber);
    }
    let (number, rest) = text.split_at(digits);
    if rest.starts_with('.') || rest.starts_with(',') {
        return Err(SizeError::Fraction);
    }
    let n: usize = number.parse().map_err(|_| SizeError::Overflow)?;
    let unit = rest.trim_start();
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(SizeError::UnknownUnit(unit.to_owned())),
    };
    n.checked_mul(1usize << shift).ok_or(SizeError::Overflow)
}

/// Writes `bytes` with the largest binary multiple that represents it
/// exactly (`16k`, `1m`, `1500`), so that [`parse_size`] reads it back.
pub fn format_size(bytes: usize) -> String {
    for (shift, unit) in [(30, "g"), (20, "m"), (10, "k")] {
        if bytes != 0 && bytes % (1usize << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bytes_and_every_multiple_are_understood() {
        assert_eq!(parse_size("16384"), Ok(16384));
        assert_eq!(parse_size("512b"), Ok(512));
        assert_eq!(parse_size("16k"), Ok(16 << 10));
        assert_eq!(parse_size("16K"), Ok(16 << 10));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("64kB"), Ok(64 << 10));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size(" 16 k "), Ok(16 << 10));
    }

    #[test]
    fn malformed_sizes_are_refused() {
        assert_eq!(parse_size(""), Err(SizeError::Empty));
        assert_eq!(parse_size("k"), Err(SizeError::MissingNumber));
        assert_eq!(parse_size("-1k"), Err(SizeError::MissingNumber));
        assert_eq!(parse_size("1.5k"), Err(SizeError::Fraction));
        assert_eq!(parse_size("16 parsecs"), Err(SizeError::UnknownUnit("parsecs".into())));
        assert_eq!(parse_size("16kibi"), Err(SizeError::UnknownUnit("kibi".into())));
    }

    #[test]
    fn sizes_beyond_usize_overflow() {
        assert_eq!(parse_size("99999999999999999999999"), Err(SizeError::Overflow));
        assert_eq!(parse_size(&format!("{}g", usize::MAX)), Err(SizeError::Overflow));
    }

    #[test]
    fn formatting_picks_the_largest_exact_multiple_and_reads_back() {
        for (n, text) in [(0, "0"), (1500, "1500"), (16 << 10, "16k"), (1 << 20, "1m"), (3 << 30, "3g")] {
            assert_eq!(format_size(n), text);
            assert_eq!(parse_size(text), Ok(n));
        }
    }
}
