//! Whatever the builder writes, the parser reads back as it was meant, and the builder refuses
//! what the protocol cannot carry.

mod common;

use std::net::SocketAddr;

use common::arb::{socket_addr, v1_spec, v2_spec};
use common::complete;
use connseq_proxy_protocol::{
    Addresses, BuildError, Command, SslClientFlags, SslParams, Tlv, Transport, V1Builder, V2Builder, Version,
    PP2_TYPE_AUTHORITY, PP2_TYPE_NOOP, RECOMMENDED_MAX_LEN,
};
use proptest::prelude::*;

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a test address")
}

proptest! {
    #[test]
    fn v1_lines_round_trip(spec in v1_spec()) {
        let bytes = spec.bytes();
        prop_assert!(bytes.len() <= 107);
        let (header, len) = complete(&bytes);
        prop_assert_eq!(len, bytes.len());
        prop_assert_eq!(header.version, Version::V1);
        prop_assert_eq!(header.addresses, spec.expected_addresses());
    }

    #[test]
    fn v2_headers_round_trip(spec in v2_spec()) {
        let bytes = spec.bytes();
        let (header, len) = complete(&bytes);
        prop_assert_eq!(len, bytes.len());
        prop_assert_eq!(header.version, Version::V2);
        spec.check(&header)?;
    }

    #[test]
    fn write_to_a_fixed_buffer_and_append_to_a_vec_agree(spec in v2_spec(), src in socket_addr(), dst in socket_addr()) {
        let mut fixed = [0u8; 4096];
        let len = spec.with_builder(|builder| builder.write_to(&mut fixed)).expect("fits");
        prop_assert_eq!(&fixed[..len], &spec.bytes()[..]);

        let line = V1Builder::new(src, dst);
        let len = line.write_to(&mut fixed).expect("a v1 line fits");
        let mut appended = Vec::new();
        prop_assert_eq!(line.append_to(&mut appended), len);
        prop_assert_eq!(line.encoded_len(), len);
        prop_assert_eq!(&fixed[..len], &appended[..]);
    }
}

#[test]
fn v1_builder_picks_the_protocol_from_the_families() {
    let mut out = Vec::new();
    V1Builder::new(addr("10.0.0.1:1000"), addr("10.0.0.2:80")).append_to(&mut out);
    assert_eq!(out, b"PROXY TCP4 10.0.0.1 10.0.0.2 1000 80\r\n");
    out.clear();
    V1Builder::new(addr("[2001:db8::1]:1000"), addr("[::1]:80")).append_to(&mut out);
    assert_eq!(out, b"PROXY TCP6 2001:db8::1 ::1 1000 80\r\n");
    out.clear();
    V1Builder::new(addr("10.0.0.1:1000"), addr("[::1]:80")).append_to(&mut out);
    assert_eq!(out, b"PROXY UNKNOWN\r\n");
    out.clear();
    V1Builder::unknown().append_to(&mut out);
    assert_eq!(out, b"PROXY UNKNOWN\r\n");
}

#[test]
fn v1_builder_reports_a_short_buffer() {
    let mut small = [0u8; 20];
    let line = V1Builder::new(addr("10.0.0.1:1000"), addr("10.0.0.2:80"));
    assert_eq!(line.write_to(&mut small), Err(BuildError::BufferTooSmall { needed: 38, available: 20 }));
}

#[test]
fn v2_builder_reproduces_the_spec_test_vector() {
    let mut buf = [0u8; 64];
    let len = V2Builder::proxy(addr("127.0.0.1:42"), addr("127.0.0.1:1337"))
        .authority("12345")
        .write_to(&mut buf)
        .expect("fits");
    assert_eq!(
        &buf[..len],
        common::hex("0d0a0d0a000d0a515549540a 21 11 0014 7f000001 7f000001 002a 0539 02 0005 3132333435")
    );
}

#[test]
fn v2_local_has_family_zero_and_length_zero() {
    let mut out = Vec::new();
    assert_eq!(V2Builder::local().append_to(&mut out), Ok(16));
    assert_eq!(out, common::hex("0d0a0d0a000d0a515549540a 20 00 0000"));
    let (header, _) = complete(&out);
    assert_eq!(
        (header.command, header.transport, header.addresses),
        (Command::Local, Transport::Unspec, Addresses::None)
    );
}

#[test]
fn v2_mixed_families_become_ipv4_mapped_ipv6() {
    let mut out = Vec::new();
    V2Builder::proxy(addr("192.0.2.1:5000"), addr("[2001:db8::1]:443")).append_to(&mut out).expect("fits");
    assert_eq!(out[13], 0x21, "AF_INET6 over STREAM");
    let (header, _) = complete(&out);
    assert_eq!(header.addresses.source(), Some(addr("[::ffff:192.0.2.1]:5000")));
    assert_eq!(header.addresses.destination(), Some(addr("[2001:db8::1]:443")));
}

#[test]
fn v2_crc32c_is_computed_over_the_whole_header() {
    let mut out = Vec::new();
    let ssl =
        SslParams { client: SslClientFlags::SSL, version: Some("TLSv1.3"), cn: Some("client"), ..SslParams::default() };
    V2Builder::proxy(addr("127.0.0.1:42"), addr("127.0.0.1:1337"))
        .crc32c()
        .alpn(b"h2")
        .authority("example.com")
        .unique_id(b"id-1")
        .ssl(ssl)
        .append_to(&mut out)
        .expect("fits");
    let (header, _) = complete(&out);
    let crc = header.tlvs.crc32c().expect("a CRC32C TLV");
    let mut zeroed = out.clone();
    zeroed[31..35].copy_from_slice(&[0; 4]);
    assert_eq!(crc, crc32c::crc32c(&zeroed));
    // One bit anywhere else breaks it.
    let mut corrupted = out.clone();
    *corrupted.last_mut().expect("not empty") ^= 1;
    assert_eq!(common::rejected(&corrupted).reason(), "v2-crc-mismatch");
}

#[test]
fn v2_typical_header_fits_the_recommended_size() {
    let ssl = SslParams {
        client: SslClientFlags::SSL | SslClientFlags::CERT_CONN,
        version: Some("TLSv1.3"),
        cn: Some("client.internal.example.com"),
        cipher: Some("TLS_AES_256_GCM_SHA384"),
        ..SslParams::default()
    };
    let builder = V2Builder::proxy(addr("[2001:db8::1]:50000"), addr("[2001:db8::2]:443"))
        .crc32c()
        .alpn(b"http/1.1")
        .authority("www.example.com")
        .unique_id(&[0xAB; 32])
        .ssl(ssl);
    assert!(builder.encoded_len().expect("within limits") <= RECOMMENDED_MAX_LEN);
}

#[test]
fn v2_builder_refuses_what_the_protocol_cannot_carry() {
    let base = V2Builder::proxy(addr("127.0.0.1:1"), addr("127.0.0.1:2"));
    let long_authority = "a".repeat(256);
    assert_eq!(base.authority(&long_authority).encoded_len(), Err(BuildError::AuthorityTooLong { len: 256 }));
    assert_eq!(base.authority(&long_authority[..255]).encoded_len(), Ok(16 + 12 + 3 + 255));
    assert_eq!(base.unique_id(&[0; 129]).encoded_len(), Err(BuildError::UniqueIdTooLong { len: 129 }));
    let authority_tlv = [Tlv { kind: PP2_TYPE_AUTHORITY, value: b"x" }];
    assert_eq!(base.tlvs(&authority_tlv).encoded_len(), Err(BuildError::ReservedTlvType { kind: PP2_TYPE_AUTHORITY }));
    let huge = vec![0u8; 70_000];
    let huge_tlv = [Tlv { kind: 0xE0, value: &huge }];
    assert_eq!(base.tlvs(&huge_tlv).encoded_len(), Err(BuildError::TlvTooLong { kind: 0xE0, len: 70_000 }));
    let big = vec![0u8; 40_000];
    let two_big = [Tlv { kind: 0xE0, value: &big }, Tlv { kind: 0xE1, value: &big }];
    assert_eq!(base.tlvs(&two_big).encoded_len(), Err(BuildError::HeaderTooLong { len: 12 + 2 * 40_003 }));
    let long_path = [b'p'; 109];
    let unix = |src: &'static [u8]| V2Builder::with_addresses(Addresses::Unix { src, dst: b"/ok" }).encoded_len();
    assert_eq!(
        V2Builder::with_addresses(Addresses::Unix { src: &long_path, dst: b"" }).encoded_len(),
        Err(BuildError::UnixPathTooLong { len: 109 })
    );
    assert_eq!(unix(b"/a\0b"), Err(BuildError::UnixPathNotRepresentable));
    assert_eq!(unix(b"\0"), Err(BuildError::UnixPathNotRepresentable));
    assert_eq!(unix(b"\0abstract\0"), Err(BuildError::UnixPathNotRepresentable));
    assert_eq!(unix(b"\0abstract"), Ok(16 + 216));
}

#[test]
fn v2_builder_errors_leave_the_output_untouched() {
    let mut out = b"kept".to_vec();
    let too_long = "a".repeat(300);
    let result = V2Builder::local().authority(&too_long).append_to(&mut out);
    assert_eq!(result, Err(BuildError::AuthorityTooLong { len: 300 }));
    assert_eq!(out, b"kept");
    let mut small = [0u8; 27];
    let result = V2Builder::proxy(addr("127.0.0.1:1"), addr("127.0.0.1:2")).write_to(&mut small);
    assert_eq!(result, Err(BuildError::BufferTooSmall { needed: 28, available: 27 }));
    assert_eq!(small, [0; 27]);
}

#[test]
fn v2_builder_appends_after_existing_bytes() {
    let mut out = b"before".to_vec();
    let noop = [Tlv { kind: PP2_TYPE_NOOP, value: &[0; 5] }];
    let len = V2Builder::local().tlvs(&noop).append_to(&mut out).expect("fits");
    assert_eq!(len, 24);
    assert_eq!(&out[..6], b"before");
    assert_eq!(complete(&out[6..]).1, 24);
}
