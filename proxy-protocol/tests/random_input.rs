//! Whatever the peer sends, the parser answers without panicking, and its answers over the
//! growing input are consistent: incomplete, then one verdict that more bytes never change.

mod common;

use common::arb::{v1_spec, v2_spec};
use connseq_proxy_protocol::{parse, ParseError, Parsed};
use proptest::prelude::*;

/// The verdict on each prefix of `input`, checked for consistency: a run of `Incomplete`, then
/// either `Complete` with the same header and length for every longer prefix, or an error with
/// the same reason for every longer prefix.
fn check_verdicts(input: &[u8]) -> Result<(), TestCaseError> {
    let mut settled: Option<Result<Parsed<'_>, ParseError>> = None;
    for end in 0..=input.len() {
        let verdict = parse(&input[..end]);
        match (&settled, verdict) {
            (None, Ok(Parsed::Incomplete(_))) => {}
            (None, decided) => settled = Some(decided),
            (Some(before), now) => prop_assert_eq!(before, &now, "at {} bytes of {:02x?}", end, input),
        }
    }
    Ok(())
}

/// Flips, inserts or removes bytes of `bytes` at the given places.
fn mutate(mut bytes: Vec<u8>, edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    for (at, kind, value) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = at.index(bytes.len());
        match kind % 3 {
            0 => bytes[at] ^= value | 1,
            1 => bytes.insert(at, *value),
            _ => {
                bytes.remove(at);
            }
        }
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8)>> {
    prop::collection::vec(any::<(prop::sample::Index, u8, u8)>(), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes_never_panic_and_settle_once(input in prop::collection::vec(any::<u8>(), 0..300)) {
        check_verdicts(&input)?;
    }

    #[test]
    fn random_bytes_after_a_signature_settle_once(
        v2 in any::<bool>(),
        rest in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let signature: &[u8] = if v2 { b"\r\n\r\n\0\r\nQUIT\n" } else { b"PROXY " };
        check_verdicts(&[signature, &rest].concat())?;
    }

    #[test]
    fn mutated_v1_lines_settle_once(spec in v1_spec(), edits in edits(), tail in prop::collection::vec(any::<u8>(), 0..8)) {
        check_verdicts(&[mutate(spec.bytes(), &edits), tail].concat())?;
    }

    #[test]
    fn mutated_v2_headers_settle_once(spec in v2_spec(), edits in edits(), tail in prop::collection::vec(any::<u8>(), 0..8)) {
        check_verdicts(&[mutate(spec.bytes(), &edits), tail].concat())?;
    }
}
