//! Every malformed form the spec names, rejected with its own reason, at the byte where it
//! goes wrong, and for good: more bytes never change the verdict.

mod common;

use std::collections::BTreeSet;

use common::{fix_crc, hex, rejected, tlv, v2, INET_BLOCK};
use connseq_proxy_protocol::{
    parse, parse_with_limit, ParseError, V1Field, PP2_SUBTYPE_SSL_CN, PP2_SUBTYPE_SSL_VERSION, PP2_TYPE_ALPN,
    PP2_TYPE_AUTHORITY, PP2_TYPE_CRC32C, PP2_TYPE_SSL, PP2_TYPE_UNIQUE_ID,
};

/// Every reason `ParseError::reason` can return.
const ALL_REASONS: [&str; 33] = [
    "bad-signature",
    "v1-bad-signature",
    "v1-bad-protocol",
    "v1-extra-space",
    "v1-missing-field",
    "v1-trailing-data",
    "v1-bad-ipv4",
    "v1-bad-ipv6",
    "v1-family-mismatch",
    "v1-leading-zero",
    "v1-bad-port",
    "v1-port-out-of-range",
    "v1-lone-cr",
    "v1-lone-lf",
    "v1-no-crlf",
    "v2-bad-signature",
    "v2-bad-version",
    "v2-bad-command",
    "v2-bad-family",
    "v2-bad-transport",
    "v2-too-long",
    "v2-short-address-block",
    "v2-tlv-overrun",
    "v2-duplicate-tlv",
    "v2-crc-bad-length",
    "v2-crc-mismatch",
    "v2-authority-too-long",
    "v2-authority-not-utf8",
    "v2-unique-id-too-long",
    "v2-ssl-too-short",
    "v2-ssl-sub-tlv-overrun",
    "v2-ssl-duplicate-sub-tlv",
    "v2-ssl-not-utf8",
];

/// The v2 signature and the version/command and family/transport bytes, without a length.
fn v2_prefix(ver_cmd: u8, fam: u8) -> Vec<u8> {
    let mut out = hex("0d0a0d0a000d0a515549540a");
    out.extend_from_slice(&[ver_cmd, fam]);
    out
}

/// A v2 PROXY TCP4 header with the spec vector's addresses and these TLVs.
fn inet_with(tlvs: &[Vec<u8>]) -> Vec<u8> {
    let mut body = INET_BLOCK.to_vec();
    for tlv in tlvs {
        body.extend_from_slice(tlv);
    }
    v2(0x21, 0x11, &body)
}

/// A v2 PROXY TCP4 header with an SSL TLV of this value.
fn inet_with_ssl(value: &[u8]) -> Vec<u8> {
    inet_with(&[tlv(PP2_TYPE_SSL, value)])
}

fn ssl_value(sub_tlvs: &[Vec<u8>]) -> Vec<u8> {
    let mut value = vec![0x01, 0, 0, 0, 0];
    for sub in sub_tlvs {
        value.extend_from_slice(sub);
    }
    value
}

/// A v1 `UNKNOWN` line of `len` bytes without CRLF.
fn unknown_without_crlf(len: usize) -> Vec<u8> {
    let mut line = b"PROXY UNKNOWN ".to_vec();
    line.resize(len, b'x');
    line
}

/// (expected reason, what is wrong, input). Each input ends at or after the byte that makes it
/// invalid; none is a complete valid header.
fn cases() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut crc_mismatch = inet_with(&[tlv(PP2_TYPE_CRC32C, &[0; 4]), tlv(PP2_TYPE_AUTHORITY, b"example.com")]);
    fix_crc(&mut crc_mismatch, 31);
    let last = crc_mismatch.len() - 1;
    crc_mismatch[last] ^= 0x20;
    let mut crc_wrong_value = inet_with(&[tlv(PP2_TYPE_CRC32C, &[0; 4])]);
    fix_crc(&mut crc_wrong_value, 31);
    crc_wrong_value[31] ^= 0x01;

    let mut no_crlf_cr_at_107 = unknown_without_crlf(106);
    no_crlf_cr_at_107.extend_from_slice(b"\r\n");
    let long_tcp6 = b"PROXY TCP6 0000:0000:0000:0000:0000:ffff:255.255.255.255 \
        0000:0000:0000:0000:0000:ffff:255.255.255.255 65535 65535\r\n";

    let mut too_long = v2_prefix(0x21, 0x11);
    too_long.extend_from_slice(&(4096u16 - 16 + 1).to_be_bytes());
    let mut far_too_long = v2_prefix(0x21, 0x11);
    far_too_long.extend_from_slice(&u16::MAX.to_be_bytes());

    let mut partial_tlv_header = INET_BLOCK.to_vec();
    partial_tlv_header.extend_from_slice(&[PP2_TYPE_NOOP_, 0x00]);

    vec![
        ("bad-signature", "an HTTP request", b"GET / HTTP/1.1\r\n".to_vec()),
        ("bad-signature", "a TLS ClientHello", vec![0x16, 0x03, 0x01]),
        ("bad-signature", "lower-case proxy", b"proxy".to_vec()),
        ("v1-bad-signature", "a misspelt PROXY", b"PROXZ".to_vec()),
        ("v1-bad-signature", "no space after PROXY", b"PROXY\r\n".to_vec()),
        ("v1-bad-signature", "a tab after PROXY", b"PROXY\t".to_vec()),
        ("v1-bad-protocol", "TCP5", b"PROXY TCP5".to_vec()),
        ("v1-bad-protocol", "UDP4", b"PROXY U".iter().chain(b"DP4").copied().collect()),
        ("v1-bad-protocol", "lower-case tcp4", b"PROXY t".to_vec()),
        ("v1-bad-protocol", "UNKNOWN with a suffix", b"PROXY UNKNOWNX\r\n".to_vec()),
        ("v1-bad-protocol", "an empty protocol", b"PROXY \r\n".to_vec()),
        ("v1-extra-space", "two spaces after PROXY", b"PROXY  TCP4".to_vec()),
        ("v1-extra-space", "two spaces before the source", b"PROXY TCP4  1.2.3.4".to_vec()),
        ("v1-extra-space", "two spaces before a port", b"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n".to_vec()),
        ("v1-missing-field", "no addresses", b"PROXY TCP4\r\n".to_vec()),
        ("v1-missing-field", "no destination port", b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n".to_vec()),
        ("v1-missing-field", "a space then CRLF", b"PROXY TCP6 ::1 \r\n".to_vec()),
        ("v1-trailing-data", "a fifth field", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n".to_vec()),
        ("v1-trailing-data", "a space before CRLF", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n".to_vec()),
        ("v1-bad-ipv4", "an octet above 255", b"PROXY TCP4 1.2.3.256".to_vec()),
        ("v1-bad-ipv4", "three octets", b"PROXY TCP4 1.2.3 ".to_vec()),
        ("v1-bad-ipv4", "an empty octet", b"PROXY TCP4 1..".to_vec()),
        ("v1-bad-ipv4", "five octets", b"PROXY TCP4 1.2.3.4.".to_vec()),
        ("v1-bad-ipv4", "a host name", b"PROXY TCP4 l".to_vec()),
        ("v1-bad-ipv4", "a bad destination", b"PROXY TCP4 1.2.3.4 1.2.3.4x".to_vec()),
        ("v1-bad-ipv6", "a five-digit group", b"PROXY TCP6 12345".to_vec()),
        ("v1-bad-ipv6", "three colons", b"PROXY TCP6 1:::".to_vec()),
        ("v1-bad-ipv6", "two double colons", b"PROXY TCP6 1::2::".to_vec()),
        ("v1-bad-ipv6", "one leading colon", b"PROXY TCP6 :1".to_vec()),
        ("v1-bad-ipv6", "a non-hex digit", b"PROXY TCP6 g".to_vec()),
        ("v1-bad-ipv6", "nine groups", b"PROXY TCP6 1:2:3:4:5:6:7:8:9".to_vec()),
        ("v1-bad-ipv6", "seven groups", b"PROXY TCP6 1:2:3:4:5:6:7 ".to_vec()),
        ("v1-bad-ipv6", "a zone id", b"PROXY TCP6 fe80::1%".to_vec()),
        ("v1-bad-ipv6", "a bad embedded IPv4", b"PROXY TCP6 ::ffff:1.2.3.256".to_vec()),
        ("v1-family-mismatch", "IPv6 under TCP4", b"PROXY TCP4 ::".to_vec()),
        ("v1-family-mismatch", "IPv4 under TCP6", b"PROXY TCP6 1.".to_vec()),
        ("v1-family-mismatch", "IPv4 destination under TCP6", b"PROXY TCP6 ::1 127.0".to_vec()),
        ("v1-leading-zero", "an octal-looking octet", b"PROXY TCP4 01".to_vec()),
        ("v1-leading-zero", "00 as an octet", b"PROXY TCP4 1.2.00".to_vec()),
        ("v1-leading-zero", "a zero-padded port", b"PROXY TCP4 1.2.3.4 5.6.7.8 08".to_vec()),
        ("v1-bad-port", "a letter in a port", b"PROXY TCP4 1.2.3.4 5.6.7.8 8o".to_vec()),
        ("v1-bad-port", "a negative port", b"PROXY TCP4 1.2.3.4 5.6.7.8 -".to_vec()),
        ("v1-port-out-of-range", "port 65536", b"PROXY TCP4 1.2.3.4 5.6.7.8 65536".to_vec()),
        ("v1-port-out-of-range", "a six-digit port", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 100000".to_vec()),
        ("v1-lone-cr", "CR then a letter after UNKNOWN", b"PROXY UNKNOWN\rX".to_vec()),
        ("v1-lone-cr", "CR CR LF", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n".to_vec()),
        ("v1-lone-cr", "a CR inside the UNKNOWN rest", b"PROXY UNKNOWN a\rb\r\n".to_vec()),
        ("v1-lone-lf", "LF alone after the ports", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n".to_vec()),
        ("v1-lone-lf", "LF alone after UNKNOWN", b"PROXY UNKNOWN\n".to_vec()),
        ("v1-lone-lf", "an LF inside the UNKNOWN rest", b"PROXY UNKNOWN a\nb\r\n".to_vec()),
        ("v1-lone-lf", "LF where a field starts", b"PROXY TCP4 \n".to_vec()),
        ("v1-no-crlf", "107 bytes without CRLF", unknown_without_crlf(107)),
        ("v1-no-crlf", "CRLF at bytes 107 and 108", no_crlf_cr_at_107),
        ("v1-no-crlf", "a TCP6 line of 116 bytes", long_tcp6.to_vec()),
        ("v2-bad-signature", "QUIX instead of QUIT", hex("0d0a0d0a000d0a5155495854")),
        ("v2-bad-signature", "CR CR", b"\r\r".to_vec()),
        ("v2-bad-version", "version 1", v2_prefix(0x11, 0x11)[..13].to_vec()),
        ("v2-bad-version", "version 3", v2_prefix(0x31, 0x11)[..13].to_vec()),
        ("v2-bad-command", "command 2", v2_prefix(0x22, 0x11)[..13].to_vec()),
        ("v2-bad-command", "command 15", v2_prefix(0x2F, 0x11)[..13].to_vec()),
        ("v2-bad-family", "family 4", v2_prefix(0x21, 0x41)),
        ("v2-bad-family", "family 4 on LOCAL", v2_prefix(0x20, 0x41)),
        ("v2-bad-transport", "transport 3", v2_prefix(0x21, 0x13)),
        ("v2-too-long", "one byte over the cap", too_long),
        ("v2-too-long", "the format's maximum", far_too_long),
        ("v2-short-address-block", "INET in 11 bytes", v2(0x21, 0x11, &[0; 11])[..16].to_vec()),
        ("v2-short-address-block", "INET6 in 35 bytes", v2(0x21, 0x21, &[0; 35])[..16].to_vec()),
        ("v2-short-address-block", "UNIX in 215 bytes", v2(0x21, 0x31, &[0; 215])[..16].to_vec()),
        ("v2-short-address-block", "UDP over INET, no block", v2(0x21, 0x12, &[])),
        (
            "v2-tlv-overrun",
            "a value past the end",
            v2(0x21, 0x11, &[&INET_BLOCK[..], &[0xE0, 0x00, 0x05, 1, 2]].concat()),
        ),
        ("v2-tlv-overrun", "two bytes of a TLV header", v2(0x21, 0x11, &partial_tlv_header)),
        ("v2-tlv-overrun", "one byte after the block", v2(0x21, 0x11, &[&INET_BLOCK[..], &[0x04]].concat())),
        ("v2-tlv-overrun", "a TLV after UNSPEC", v2(0x21, 0x00, &[0x01, 0x00])),
        (
            "v2-duplicate-tlv",
            "two AUTHORITY",
            inet_with(&[tlv(PP2_TYPE_AUTHORITY, b"a"), tlv(PP2_TYPE_AUTHORITY, b"b")]),
        ),
        ("v2-duplicate-tlv", "two ALPN", inet_with(&[tlv(PP2_TYPE_ALPN, b"h2"), tlv(PP2_TYPE_ALPN, b"h2")])),
        ("v2-crc-bad-length", "a 3-byte CRC32C", inet_with(&[tlv(PP2_TYPE_CRC32C, &[0; 3])])),
        ("v2-crc-bad-length", "a 5-byte CRC32C", inet_with(&[tlv(PP2_TYPE_CRC32C, &[0; 5])])),
        ("v2-crc-mismatch", "a header changed after its CRC", crc_mismatch),
        ("v2-crc-mismatch", "a CRC changed", crc_wrong_value),
        ("v2-crc-mismatch", "a zero CRC", inet_with(&[tlv(PP2_TYPE_CRC32C, &[0; 4])])),
        ("v2-authority-too-long", "AUTHORITY of 256 bytes", inet_with(&[tlv(PP2_TYPE_AUTHORITY, &[b'a'; 256])])),
        ("v2-authority-not-utf8", "AUTHORITY in Latin-1", inet_with(&[tlv(PP2_TYPE_AUTHORITY, b"b\xfccher")])),
        ("v2-unique-id-too-long", "UNIQUE_ID of 129 bytes", inet_with(&[tlv(PP2_TYPE_UNIQUE_ID, &[1; 129])])),
        ("v2-ssl-too-short", "SSL TLV of 4 bytes", inet_with_ssl(&[0x01, 0, 0, 0])),
        ("v2-ssl-too-short", "empty SSL TLV", inet_with_ssl(&[])),
        (
            "v2-ssl-sub-tlv-overrun",
            "a sub-TLV past the SSL TLV",
            inet_with_ssl(&[0x01, 0, 0, 0, 0, 0x21, 0x00, 0x09, b'T']),
        ),
        ("v2-ssl-sub-tlv-overrun", "one stray byte", inet_with_ssl(&[0x01, 0, 0, 0, 0, 0x21])),
        (
            "v2-ssl-duplicate-sub-tlv",
            "two VERSION",
            inet_with_ssl(&ssl_value(&[
                tlv(PP2_SUBTYPE_SSL_VERSION, b"TLSv1.2"),
                tlv(PP2_SUBTYPE_SSL_VERSION, b"TLSv1.3"),
            ])),
        ),
        (
            "v2-ssl-not-utf8",
            "a CN cut inside a character",
            inet_with_ssl(&ssl_value(&[tlv(PP2_SUBTYPE_SSL_CN, b"Zo\xc3")])),
        ),
    ]
}

/// NOOP, spelt here so the partial-header case reads as "a NOOP type and half a length".
const PP2_TYPE_NOOP_: u8 = 0x04;

#[test]
fn every_malformed_form_is_rejected_with_its_reason() {
    for (reason, what, input) in cases() {
        let error = rejected(&input);
        assert_eq!(error.reason(), reason, "{what}: {error}");
    }
}

#[test]
fn every_reason_has_a_case() {
    let covered: BTreeSet<&str> = cases().iter().map(|(reason, _, _)| *reason).collect();
    let all: BTreeSet<&str> = ALL_REASONS.into_iter().collect();
    assert_eq!(covered, all);
}

#[test]
fn more_bytes_never_change_the_verdict() {
    let suffixes: [&[u8]; 5] = [b"\r\n", b" 1.2.3.4 5.6.7.8 1 2\r\n", b"1", &[0; 300], b"PROXY UNKNOWN\r\n"];
    for (reason, what, input) in cases() {
        for suffix in suffixes {
            let longer = [&input[..], suffix].concat();
            assert_eq!(rejected(&longer).reason(), reason, "{what} followed by {suffix:?}");
        }
    }
}

#[test]
fn invalid_prefixes_are_rejected_without_waiting_for_more_bytes() {
    // Each of these is rejected at its last byte: neither a CRLF nor a whole header is awaited.
    let shortest: [(&[u8], &str); 8] = [
        (b"G", "bad-signature"),
        (b"PROXX", "v1-bad-signature"),
        (b"PROXY TCP6 1:2:3:4:5:6:7:8:", "v1-bad-ipv6"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", "v1-trailing-data"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536", "v1-port-out-of-range"),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x41", "v2-bad-family"),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x10\x00", "v2-too-long"),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0b", "v2-short-address-block"),
    ];
    for (input, reason) in shortest {
        assert_eq!(rejected(input).reason(), reason, "{input:?}");
        assert!(parse(&input[..input.len() - 1]).is_ok(), "{input:?} is rejected one byte too early");
    }
}

#[test]
fn errors_name_the_field_at_fault() {
    assert_eq!(rejected(b"PROXY TCP4 1.2.3.4 5.6.7.800"), ParseError::V1BadIpv4 { field: V1Field::DestinationAddress });
    assert_eq!(
        rejected(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 02"),
        ParseError::V1LeadingZero { field: V1Field::DestinationPort }
    );
    assert_eq!(rejected(b"PROXY TCP6 ::1 ::2 1\r\n"), ParseError::V1MissingField { field: V1Field::DestinationPort });
}

#[test]
fn the_v2_cap_is_a_local_limit_that_the_caller_can_raise() {
    let input = v2(0x21, 0x11, &[&INET_BLOCK[..], &tlv(0xE0, &[0; 5000])].concat());
    let error = rejected(&input);
    assert_eq!(error, ParseError::V2TooLong { len: input.len(), max: 4096 });
    assert!(error.is_local_limit());
    assert!(!ParseError::V2BadSignature.is_local_limit());
    assert!(parse_with_limit(&input, 65_551).is_ok());
    assert_eq!(parse_with_limit(&input[..16], 64).map_err(|e| e.reason()), Err("v2-too-long"));
}
