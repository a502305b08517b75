//! The v1 address and port fields (PROXY spec 2.1), checked as they arrive.
//!
//! Each function takes a field's bytes so far and whether the field is complete (a separator
//! follows it). A partial field is checked for being a prefix of some valid field, so garbage
//! is rejected without waiting for the CRLF; a complete field is parsed. The checks on partial
//! fields only reject what no further byte can repair, so a prefix of a valid field is never
//! rejected: the answer never depends on how the line was split across reads.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{ParseError, V1Field};

/// The longest IPv6 text form: six hex groups and an embedded IPv4 address,
/// `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
const MAX_IPV6_TEXT_LEN: usize = 45;

/// An IPv6 address is eight 16-bit groups; an embedded IPv4 address counts for two.
const MAX_IPV6_GROUPS: usize = 8;

/// The shape of the field checks: the bytes so far, whether a separator follows them, and the
/// field they are, to name it in an error. `Ok(None)`: a valid prefix of an incomplete field.
pub(super) type FieldCheck<T> = fn(&[u8], bool, V1Field) -> Result<Option<T>, ParseError>;

/// An IPv4 address: exactly four decimal octets in 0..=255, one dot between each, no leading
/// zero ("to avoid any possible confusion with octal numbers").
pub(super) fn ipv4(field_bytes: &[u8], complete: bool, field: V1Field) -> Result<Option<Ipv4Addr>, ParseError> {
    let bad = ParseError::V1BadIpv4 { field };
    let mut octets = [0u8; 4];
    let mut index = 0;
    let mut digits = 0;
    let mut value: u16 = 0;
    for &byte in field_bytes {
        match byte {
            b'0'..=b'9' => {
                if digits == 1 && value == 0 {
                    return Err(ParseError::V1LeadingZero { field });
                }
                value = value * 10 + u16::from(byte - b'0');
                digits += 1;
                if value > 255 {
                    return Err(bad);
                }
            }
            b'.' => {
                if digits == 0 || index == 3 {
                    return Err(bad);
                }
                octets[index] = u8::try_from(value).map_err(|_| bad)?;
                index += 1;
                digits = 0;
                value = 0;
            }
            // A colon only ever appears in IPv6 text.
            b':' => return Err(ParseError::V1FamilyMismatch { field }),
            _ => return Err(bad),
        }
    }
    if !complete {
        return Ok(None);
    }
    if index != 3 || digits == 0 {
        return Err(bad);
    }
    octets[3] = u8::try_from(value).map_err(|_| bad)?;
    Ok(Some(Ipv4Addr::from(octets)))
}

/// An IPv6 address in the usual text form: up to eight groups of up to four hex digits, at
/// most one `::`, optionally an embedded dotted IPv4 address at the end.
///
/// The bytes are checked in order and the first one that no continuation can repair decides
/// the error, so a longer prefix of the same bytes fails the same way.
pub(super) fn ipv6(field_bytes: &[u8], complete: bool, field: V1Field) -> Result<Option<Ipv6Addr>, ParseError> {
    let bad = ParseError::V1BadIpv6 { field };
    // Groups written so far; `::` stands for at least one more.
    let mut groups = 0;
    let mut elided = false;
    let mut group_start = 0;
    for (i, &byte) in field_bytes.iter().enumerate() {
        if i >= MAX_IPV6_TEXT_LEN {
            return Err(bad);
        }
        // A colon at the start is the first half of a leading `::`.
        if i == 1 && field_bytes[0] == b':' && byte != b':' {
            return Err(bad);
        }
        match byte {
            b':' => {
                let completes_elision = i > 0 && field_bytes[i - 1] == b':';
                if completes_elision {
                    // A second `::`, or `:::`.
                    if elided {
                        return Err(bad);
                    }
                    elided = true;
                }
                // A colon that does not close a `::` promises one more group (or the `::`).
                if groups + usize::from(elided) + usize::from(!completes_elision) > MAX_IPV6_GROUPS {
                    return Err(bad);
                }
                group_start = i + 1;
            }
            // IPv4 text has no colon; IPv6 text has one before an embedded IPv4 address.
            b'.' if group_start == 0 => return Err(ParseError::V1FamilyMismatch { field }),
            // The embedded IPv4 address runs from the current group to the end and takes the
            // room of two groups.
            b'.' => {
                groups += 1;
                if field_bytes.len() > MAX_IPV6_TEXT_LEN || groups + usize::from(elided) > MAX_IPV6_GROUPS {
                    return Err(bad);
                }
                ipv4(&field_bytes[group_start..], complete, field).map_err(|_| bad)?;
                break;
            }
            _ if byte.is_ascii_hexdigit() => {
                if i == group_start {
                    groups += 1;
                }
                if i - group_start >= 4 {
                    return Err(bad);
                }
            }
            _ => return Err(bad),
        }
        if groups + usize::from(elided) > MAX_IPV6_GROUPS {
            return Err(bad);
        }
    }
    if !complete {
        return Ok(None);
    }
    let text = std::str::from_utf8(field_bytes).map_err(|_| bad)?;
    text.parse::<Ipv6Addr>().map(Some).map_err(|_| bad)
}

/// A port: decimal in 0..=65535, no leading zero.
pub(super) fn port(field_bytes: &[u8], complete: bool, field: V1Field) -> Result<Option<u16>, ParseError> {
    let mut value: u32 = 0;
    for (i, &byte) in field_bytes.iter().enumerate() {
        if !byte.is_ascii_digit() {
            return Err(ParseError::V1BadPort { field });
        }
        if i == 1 && value == 0 {
            return Err(ParseError::V1LeadingZero { field });
        }
        value = value * 10 + u32::from(byte - b'0');
        if value > u32::from(u16::MAX) {
            return Err(ParseError::V1PortOutOfRange { field });
        }
    }
    if !complete {
        return Ok(None);
    }
    // The line grammar never hands over an empty complete field.
    u16::try_from(value).map(Some).map_err(|_| ParseError::V1PortOutOfRange { field })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::{ipv4, ipv6, port};
    use crate::error::{ParseError, V1Field};

    const FIELD: V1Field = V1Field::SourceAddress;

    /// One textual form of `segments`: padded or not, upper or lower case, one run of zero
    /// groups elided or none, the last 32 bits as dotted IPv4 or not.
    fn ipv6_text(segments: [u16; 8], pad: bool, upper: bool, elide: prop::sample::Index, dotted: bool) -> String {
        let mut groups: Vec<String> = segments
            .iter()
            .map(|s| match (pad, upper) {
                (true, true) => format!("{s:04X}"),
                (true, false) => format!("{s:04x}"),
                (false, true) => format!("{s:X}"),
                (false, false) => format!("{s:x}"),
            })
            .collect();
        let hex_groups = if dotted { 6 } else { 8 };
        if dotted {
            let [a, b] = segments[6].to_be_bytes();
            let [c, d] = segments[7].to_be_bytes();
            groups.truncate(6);
            groups.push(format!("{a}.{b}.{c}.{d}"));
        }
        // Every run of zero groups among the hex groups, any of which `::` may replace.
        let mut runs = Vec::new();
        for start in 0..hex_groups {
            for end in start + 1..=hex_groups {
                if segments[start..end].iter().all(|&s| s == 0) {
                    runs.push((start, end));
                }
            }
        }
        if runs.is_empty() || elide.index(2) == 0 {
            return groups.join(":");
        }
        let (start, end) = *elide.get(&runs);
        format!("{}::{}", groups[..start].join(":"), groups[end..].join(":"))
    }

    fn segment() -> impl Strategy<Value = u16> {
        prop_oneof![Just(0u16), Just(0xffff), any::<u16>()]
    }

    proptest! {
        #[test]
        fn every_prefix_of_an_ipv6_text_form_is_accepted(
            segments in prop::array::uniform8(segment()),
            pad: bool,
            upper: bool,
            elide: prop::sample::Index,
            dotted: bool,
        ) {
            let text = ipv6_text(segments, pad, upper, elide, dotted);
            let expected = Ipv6Addr::from(segments);
            prop_assert_eq!(text.parse::<Ipv6Addr>().ok(), Some(expected), "the generator made {}", text);
            for end in 0..text.len() {
                prop_assert_eq!(ipv6(&text.as_bytes()[..end], false, FIELD), Ok(None), "prefix of {}", text);
            }
            prop_assert_eq!(ipv6(text.as_bytes(), true, FIELD), Ok(Some(expected)));
        }

        #[test]
        fn every_prefix_of_an_ipv4_address_is_accepted(octets: [u8; 4]) {
            let addr = Ipv4Addr::from(octets);
            let text = addr.to_string();
            for end in 0..text.len() {
                prop_assert_eq!(ipv4(&text.as_bytes()[..end], false, FIELD), Ok(None));
            }
            prop_assert_eq!(ipv4(text.as_bytes(), true, FIELD), Ok(Some(addr)));
        }

        #[test]
        fn every_port_is_read_back(value: u16) {
            let text = value.to_string();
            prop_assert_eq!(port(text.as_bytes(), true, V1Field::SourcePort), Ok(Some(value)));
        }

        #[test]
        fn ipv6_agrees_with_std_on_any_complete_text(text in "[0-9a-fA-F:.]{0,46}") {
            let ours = ipv6(text.as_bytes(), true, FIELD).ok().flatten();
            prop_assert_eq!(ours, text.parse::<Ipv6Addr>().ok(), "{}", text);
        }
    }

    #[test]
    fn ipv4_rejects_leading_zeros_and_large_octets() {
        assert_eq!(ipv4(b"1.2.3.04", true, FIELD), Err(ParseError::V1LeadingZero { field: FIELD }));
        assert_eq!(ipv4(b"1.2.3.0", true, FIELD), Ok(Some(Ipv4Addr::new(1, 2, 3, 0))));
        assert_eq!(ipv4(b"1.2.3.1000", false, FIELD), Err(ParseError::V1BadIpv4 { field: FIELD }));
        assert_eq!(ipv4(b"1.2.3.", true, FIELD), Err(ParseError::V1BadIpv4 { field: FIELD }));
    }

    #[test]
    fn ipv6_group_count_is_enforced_before_the_text_ends() {
        assert_eq!(ipv6(b"1:2:3:4:5:6:7:8:", false, FIELD), Err(ParseError::V1BadIpv6 { field: FIELD }));
        assert_eq!(ipv6(b"1:2:3:4:5:6:7:8::", false, FIELD), Err(ParseError::V1BadIpv6 { field: FIELD }));
        assert_eq!(ipv6(b"1:2:3:4:5:6:7:1.", false, FIELD), Err(ParseError::V1BadIpv6 { field: FIELD }));
        assert_eq!(ipv6(b"1:2:3:4:5:6:7::", true, FIELD), Ok(Some(Ipv6Addr::new(1, 2, 3, 4, 5, 6, 7, 0))));
        assert_eq!(ipv6(b"::2:3:4:5:6:7:8", true, FIELD), Ok(Some(Ipv6Addr::new(0, 2, 3, 4, 5, 6, 7, 8))));
    }

    #[test]
    fn ports_reject_leading_zeros_and_overflow() {
        let field = V1Field::DestinationPort;
        assert_eq!(port(b"0", true, field), Ok(Some(0)));
        assert_eq!(port(b"00", true, field), Err(ParseError::V1LeadingZero { field }));
        assert_eq!(port(b"65535", true, field), Ok(Some(65535)));
        assert_eq!(port(b"65536", false, field), Err(ParseError::V1PortOutOfRange { field }));
        assert_eq!(port(b"6x", false, field), Err(ParseError::V1BadPort { field }));
    }
}
