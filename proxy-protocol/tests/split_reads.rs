//! A header split across any number of reads parses exactly as when it arrives at once, and
//! the bytes after it are never taken.
//!
//! The runtime peeks the socket and calls `parse` with everything received so far; these tests
//! play that loop with arbitrary cut points.

mod common;

use common::arb::{v1_spec, v2_spec};
use common::hex;
use connseq_proxy_protocol::{parse, Needed, Parsed};
use proptest::prelude::*;

/// Checks every prefix of `header ++ payload`: each shorter than the header is incomplete with
/// an honest count of missing bytes, each at least as long gives the very same header and
/// length.
fn check_every_prefix(header: &[u8], payload: &[u8]) -> Result<(), TestCaseError> {
    let input = [header, payload].concat();
    let (whole, whole_len) = match parse(&input) {
        Ok(Parsed::Complete(parsed, len)) => (parsed, len),
        other => return Err(TestCaseError::fail(format!("whole input: {other:?}"))),
    };
    prop_assert_eq!(whole_len, header.len());
    for end in 0..=input.len() {
        match parse(&input[..end]) {
            Ok(Parsed::Incomplete(needed)) => {
                prop_assert!(end < header.len(), "incomplete at {} of {}", end, header.len());
                prop_assert!(end + needed.min() <= header.len(), "{:?} at {} of {}", needed, end, header.len());
                if let Needed::Exactly(n) = needed {
                    prop_assert_eq!(end + n.get(), header.len());
                }
            }
            Ok(Parsed::Complete(parsed, len)) => {
                prop_assert!(end >= header.len());
                prop_assert_eq!((parsed, len), (whole, whole_len));
            }
            Err(error) => return Err(TestCaseError::fail(format!("prefix of {end} bytes: {error}"))),
        }
    }
    Ok(())
}

/// Plays the runtime's read loop: the bytes arrive in chunks cut at `cuts`; after each chunk the
/// accumulated buffer is parsed. The first complete answer must come with the first chunk that
/// reaches the end of the header, and say what parsing the whole input at once says.
fn check_chunked(header: &[u8], payload: &[u8], cuts: &[prop::sample::Index]) -> Result<(), TestCaseError> {
    let input = [header, payload].concat();
    let mut ends: Vec<usize> = cuts.iter().map(|cut| cut.index(input.len() + 1)).collect();
    ends.push(input.len());
    ends.sort_unstable();
    ends.dedup();
    let at_once = parse(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut received = Vec::new();
    let mut start = 0;
    for end in ends {
        received.extend_from_slice(&input[start..end]);
        start = end;
        match parse(&received) {
            Ok(Parsed::Incomplete(_)) => prop_assert!(received.len() < header.len()),
            Ok(complete @ Parsed::Complete(..)) => {
                prop_assert_eq!(complete, at_once);
                return Ok(());
            }
            Err(error) => return Err(TestCaseError::fail(format!("after {} bytes: {error}", received.len()))),
        }
    }
    Err(TestCaseError::fail("never complete"))
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..64)
}

fn cuts() -> impl Strategy<Value = Vec<prop::sample::Index>> {
    prop::collection::vec(any::<prop::sample::Index>(), 0..12)
}

proptest! {
    #[test]
    fn v1_every_prefix_is_incomplete_until_the_crlf(spec in v1_spec(), payload in payload()) {
        check_every_prefix(&spec.bytes(), &payload)?;
    }

    #[test]
    fn v2_every_prefix_is_incomplete_until_the_last_byte(spec in v2_spec(), payload in payload()) {
        check_every_prefix(&spec.bytes(), &payload)?;
    }

    #[test]
    fn v1_split_across_reads_parses_as_at_once(spec in v1_spec(), payload in payload(), cuts in cuts()) {
        check_chunked(&spec.bytes(), &payload, &cuts)?;
    }

    #[test]
    fn v2_split_across_reads_parses_as_at_once(spec in v2_spec(), payload in payload(), cuts in cuts()) {
        check_chunked(&spec.bytes(), &payload, &cuts)?;
    }
}

#[test]
fn known_headers_split_byte_by_byte() {
    let headers = [
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n".to_vec(),
        b"PROXY TCP4 127.0.0.1 127.0.0.1 59846 5501\r\n".to_vec(),
        b"PROXY TCP6 FFFF:0000:0000:0000:0000:0000:0000:0001 ::ffff:10.0.0.1 1 65535\r\n".to_vec(),
        b"PROXY UNKNOWN\r\n".to_vec(),
        b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n".to_vec(),
        hex("0d0a0d0a000d0a515549540a 21 11 0014 7f000001 7f000001 002a 0539 02 0005 3132333435"),
        hex("0d0a0d0a000d0a515549540a 20 00 0000"),
    ];
    for header in headers {
        check_every_prefix(&header, b"GET / HTTP/1.1\r\n\r\n").expect("every prefix");
    }
}
