//! The parser: one stateless call over every byte received so far.

mod tlvs;
mod v1;
mod v1_fields;
mod v2;

use std::num::NonZeroUsize;

use crate::consts::{MAX_V2_LEN, MIN_V1_LEN, V1_PREFIX, V2_SIGNATURE};
use crate::error::ParseError;
use crate::header::Header;

/// The answer of [`parse`] when the bytes so far are not (yet) wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole, valid header occupies exactly the first `len` bytes of the input; whatever
    /// follows is payload and was not looked at.
    Complete(Header<'a>, usize),
    /// Every byte so far is a valid prefix of a header; more are needed.
    Incomplete(Needed),
}

/// How many more bytes an incomplete header needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Needed {
    /// At least this many; the exact count is not known yet (v1, or v2 before its length field).
    AtLeast(NonZeroUsize),
    /// Exactly this many: a v2 header whose length field has been read.
    Exactly(NonZeroUsize),
}

impl Needed {
    /// The lower bound, whichever variant.
    pub const fn min(self) -> usize {
        match self {
            Needed::AtLeast(n) | Needed::Exactly(n) => n.get(),
        }
    }

    pub(crate) fn at_least(n: usize) -> Needed {
        Needed::AtLeast(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN))
    }

    pub(crate) fn exactly(n: usize) -> Needed {
        Needed::Exactly(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN))
    }
}

/// Parses a PROXY header, v1 or v2, at the start of `buf`, with the default v2 cap
/// [`MAX_V2_LEN`].
///
/// `buf` is every byte received so far (typically the result of `recv(MSG_PEEK)`); the call
/// keeps no state, so the runtime calls it again with the longer prefix after every read. The
/// answer does not depend on how the bytes were split across reads, and an invalid prefix is
/// rejected as soon as it can no longer become a valid header. See the crate documentation.
pub fn parse(buf: &[u8]) -> Result<Parsed<'_>, ParseError> {
    parse_with_limit(buf, MAX_V2_LEN)
}

/// [`parse`] with another cap on the v2 header length (fixed part included). A v2 header longer
/// than `max_v2_len` is rejected with [`ParseError::V2TooLong`] as soon as its length field is
/// visible. The v1 limit (107 bytes) is the protocol's and does not change.
pub fn parse_with_limit(buf: &[u8], max_v2_len: usize) -> Result<Parsed<'_>, ParseError> {
    // PROXY spec 2.2, detection: the first byte already tells the versions apart, so a wrong
    // first byte is rejected at once rather than after the 8 or 16 bytes the spec's sample waits
    // for.
    match buf.first() {
        None => Ok(Parsed::Incomplete(Needed::at_least(MIN_V1_LEN))),
        Some(&first) if first == V1_PREFIX[0] => v1::parse(buf),
        Some(&first) if first == V2_SIGNATURE[0] => v2::parse(buf, max_v2_len),
        Some(&first) => Err(ParseError::BadSignature { first }),
    }
}
