//! Known headers, each parsed to what it says: the spec's examples, curl's line, every v2
//! family and command, and every kind of TLV.

mod common;

use std::net::{Ipv6Addr, SocketAddrV4, SocketAddrV6};

use common::{complete, fix_crc, hex, tlv, v2, INET_BLOCK};
use connseq_proxy_protocol::{
    parse, Addresses, Command, Needed, Parsed, SslClientFlags, Tlv, Transport, Version, PP2_SUBTYPE_SSL_CIPHER,
    PP2_SUBTYPE_SSL_CN, PP2_SUBTYPE_SSL_VERSION, PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_CRC32C, PP2_TYPE_NETNS,
    PP2_TYPE_NOOP, PP2_TYPE_SSL, PP2_TYPE_UNIQUE_ID,
};

fn v4(text: &str) -> SocketAddrV4 {
    text.parse().expect("a test address")
}

fn v6(text: &str) -> SocketAddrV6 {
    text.parse().expect("a test address")
}

mod v1 {
    use super::*;

    #[test]
    fn spec_example_parses_and_leaves_the_http_request() {
        let input = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";
        let (header, len) = complete(input);
        assert_eq!(len, 47);
        assert_eq!(&input[len..], b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n");
        assert_eq!(header.version, Version::V1);
        assert_eq!(header.command, Command::Proxy);
        assert_eq!(header.transport, Transport::Stream);
        assert_eq!(header.addresses, Addresses::Inet { src: v4("192.168.0.1:56324"), dst: v4("192.168.0.11:443") });
        assert!(header.tlvs.is_empty());
    }

    #[test]
    fn curl_haproxy_protocol_line_parses() {
        let (header, len) = complete(b"PROXY TCP4 127.0.0.1 127.0.0.1 59846 5501\r\n");
        assert_eq!(len, 43);
        assert_eq!(header.addresses, Addresses::Inet { src: v4("127.0.0.1:59846"), dst: v4("127.0.0.1:5501") });
    }

    #[test]
    fn tcp6_parses_compressed_and_full_forms() {
        let (header, _) = complete(b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
        assert_eq!(header.addresses, Addresses::Inet6 { src: v6("[2001:db8::1]:1"), dst: v6("[::1]:65535") });
        let line = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF 65535 65535\r\n";
        assert_eq!(line.len(), 104);
        let (header, len) = complete(line);
        assert_eq!(len, 104);
        let all_ones = SocketAddrV6::new(Ipv6Addr::from(u128::MAX), 65535, 0, 0);
        assert_eq!(header.addresses, Addresses::Inet6 { src: all_ones, dst: all_ones });
    }

    #[test]
    fn tcp6_accepts_an_embedded_ipv4_address() {
        let (header, _) = complete(b"PROXY TCP6 ::ffff:192.0.2.1 ::1 80 81\r\n");
        assert_eq!(header.addresses.source(), Some("[::ffff:192.0.2.1]:80".parse().expect("an address")));
    }

    #[test]
    fn longest_tcp4_line_is_56_bytes() {
        let line = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
        assert_eq!(complete(line).1, 56);
    }

    #[test]
    fn port_zero_and_address_zero_are_valid() {
        let (header, _) = complete(b"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n");
        assert_eq!(header.addresses, Addresses::Inet { src: v4("0.0.0.0:0"), dst: v4("0.0.0.0:0") });
    }

    #[test]
    fn unknown_short_form_keeps_the_real_endpoints() {
        let (header, len) = complete(b"PROXY UNKNOWN\r\npayload");
        assert_eq!(len, 15);
        assert_eq!(header.addresses, Addresses::None);
        assert_eq!(header.transport, Transport::Unspec);
    }

    #[test]
    fn unknown_long_form_ignores_everything_up_to_crlf() {
        let line = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
        let (header, len) = complete(line);
        assert_eq!((header.addresses, len), (Addresses::None, line.len()));
        // The spec's worst case: exactly 107 bytes.
        let mut worst = b"PROXY UNKNOWN ".to_vec();
        worst.resize(105, b'x');
        worst.extend_from_slice(b"\r\n");
        assert_eq!(complete(&worst).1, 107);
    }

    #[test]
    fn trailing_payload_is_not_consumed_even_if_it_looks_like_a_header() {
        let input = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nPROXY TCP4 9.9.9.9 9.9.9.9 9 9\r\n";
        assert_eq!(complete(input).1, 32);
    }

    #[test]
    fn incomplete_line_asks_for_more() {
        assert_eq!(parse(b""), Ok(Parsed::Incomplete(Needed::AtLeast(15.try_into().expect("non-zero")))));
        assert!(matches!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"), Ok(Parsed::Incomplete(_))));
    }
}

mod v2 {
    use super::*;

    /// The spec's test vector: PROXY, TCP4, 127.0.0.1:42 -> 127.0.0.1:1337, AUTHORITY "12345".
    const SPEC_VECTOR: &str = "0d0a0d0a000d0a515549540a 21 11 0014 7f000001 7f000001 002a 0539 02 0005 3132333435";

    #[test]
    fn spec_test_vector_parses() {
        let input = hex(SPEC_VECTOR);
        let (header, len) = complete(&input);
        assert_eq!(len, 36);
        assert_eq!(header.version, Version::V2);
        assert_eq!(header.command, Command::Proxy);
        assert_eq!(header.transport, Transport::Stream);
        assert_eq!(header.addresses, Addresses::Inet { src: v4("127.0.0.1:42"), dst: v4("127.0.0.1:1337") });
        assert_eq!(header.authority(), Some("12345"));
        assert_eq!(header.tlvs.iter().collect::<Vec<_>>(), [Tlv { kind: PP2_TYPE_AUTHORITY, value: b"12345" }]);
    }

    #[test]
    fn spec_test_vector_knows_its_length_after_16_bytes() {
        let input = hex(SPEC_VECTOR);
        assert_eq!(parse(&input[..15]), Ok(Parsed::Incomplete(Needed::AtLeast(1.try_into().expect("non-zero")))));
        assert_eq!(parse(&input[..16]), Ok(Parsed::Incomplete(Needed::Exactly(20.try_into().expect("non-zero")))));
        assert_eq!(parse(&input[..35]), Ok(Parsed::Incomplete(Needed::Exactly(1.try_into().expect("non-zero")))));
    }

    #[test]
    fn payload_after_the_header_is_not_consumed() {
        let mut input = hex(SPEC_VECTOR);
        input.extend_from_slice(b"\x16\x03\x01 a TLS ClientHello");
        assert_eq!(complete(&input).1, 36);
    }

    #[test]
    fn local_uses_the_real_endpoints_and_skips_len_bytes() {
        let input = v2(0x20, 0x00, b"");
        let (header, len) = complete(&input);
        assert_eq!((header.command, header.addresses, len), (Command::Local, Addresses::None, 16));
        // "Receivers MUST always consider this field to skip the appropriate number of bytes":
        // a LOCAL with an address block and TLVs ignores them all, even an AF_INET family whose
        // block does not fit.
        let mut body = INET_BLOCK.to_vec();
        body.extend(tlv(PP2_TYPE_AUTHORITY, b"ignored"));
        let input = v2(0x20, 0x11, &body);
        let (header, len) = complete(&input);
        assert_eq!((header.addresses, header.tlvs.is_empty(), len), (Addresses::None, true, 16 + body.len()));
        let input = v2(0x20, 0x21, b"short");
        let (header, len) = complete(&input);
        assert_eq!((header.command, len), (Command::Local, 21));
    }

    #[test]
    fn proxy_unspec_keeps_the_real_endpoints_and_reads_tlvs() {
        let body = tlv(PP2_TYPE_ALPN, b"h2");
        let input = v2(0x21, 0x00, &body);
        let (header, len) = complete(&input);
        assert_eq!((header.addresses, header.transport, len), (Addresses::None, Transport::Unspec, 16 + body.len()));
        assert_eq!(header.alpn(), Some(&b"h2"[..]));
    }

    #[test]
    fn udp_over_ipv6_parses() {
        let mut body = Vec::new();
        body.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        body.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().expect("an address").octets());
        body.extend_from_slice(&[0x00, 0x35, 0x12, 0x34]);
        let input = v2(0x21, 0x22, &body);
        let (header, _) = complete(&input);
        assert_eq!(header.transport, Transport::Dgram);
        assert_eq!(header.addresses, Addresses::Inet6 { src: v6("[::1]:53"), dst: v6("[2001:db8::2]:4660") });
    }

    #[test]
    fn unix_paths_lose_their_nul_padding() {
        let mut body = vec![0u8; 216];
        body[..13].copy_from_slice(b"/run/app.sock");
        body[108..112].copy_from_slice(b"\0abs");
        let input = v2(0x21, 0x31, &body);
        let (header, len) = complete(&input);
        assert_eq!(len, 232);
        assert_eq!(header.addresses, Addresses::Unix { src: b"/run/app.sock", dst: b"\0abs" });
        assert_eq!((header.addresses.source(), header.addresses.destination()), (None, None));
    }

    #[test]
    fn unknown_custom_and_noop_tlvs_are_skipped_but_listed() {
        let mut body = INET_BLOCK.to_vec();
        body.extend(tlv(PP2_TYPE_NOOP, b""));
        body.extend(tlv(0xE0, b"custom"));
        body.extend(tlv(0x7F, b"unregistered"));
        body.extend(tlv(PP2_TYPE_NOOP, &[0; 9]));
        body.extend(tlv(0xE0, b"custom types may repeat"));
        let input = v2(0x21, 0x11, &body);
        let (header, _) = complete(&input);
        assert_eq!((header.alpn(), header.authority(), header.ssl()), (None, None, None));
        let kinds: Vec<u8> = header.tlvs.iter().map(|tlv| tlv.kind).collect();
        assert_eq!(kinds, [PP2_TYPE_NOOP, 0xE0, 0x7F, PP2_TYPE_NOOP, 0xE0]);
        assert_eq!(header.tlvs.as_bytes(), &input[28..]);
    }

    #[test]
    fn registered_tlvs_are_extracted() {
        let mut body = INET_BLOCK.to_vec();
        body.extend(tlv(PP2_TYPE_ALPN, b"http/1.1"));
        body.extend(tlv(PP2_TYPE_AUTHORITY, "bücher.example".as_bytes()));
        body.extend(tlv(PP2_TYPE_UNIQUE_ID, &[7; 128]));
        body.extend(tlv(PP2_TYPE_NETNS, b"blue"));
        let input = v2(0x21, 0x11, &body);
        let (header, _) = complete(&input);
        assert_eq!(header.alpn(), Some(&b"http/1.1"[..]));
        assert_eq!(header.authority(), Some("bücher.example"));
        assert_eq!(header.unique_id(), Some(&[7; 128][..]));
        assert_eq!(header.netns(), Some(&b"blue"[..]));
        assert_eq!(header.tlvs.crc32c(), None);
    }

    #[test]
    fn authority_of_255_bytes_is_accepted() {
        let mut body = INET_BLOCK.to_vec();
        body.extend(tlv(PP2_TYPE_AUTHORITY, &[b'a'; 255]));
        let input = v2(0x21, 0x11, &body);
        assert_eq!(complete(&input).0.authority().map(str::len), Some(255));
    }

    #[test]
    fn ssl_tlv_and_its_sub_tlvs_are_read() {
        let mut ssl = vec![0x07, 0, 0, 0, 0];
        ssl.extend(tlv(PP2_SUBTYPE_SSL_VERSION, b"TLSv1.3"));
        ssl.extend(tlv(PP2_SUBTYPE_SSL_CN, "Zoë".as_bytes()));
        ssl.extend(tlv(PP2_SUBTYPE_SSL_CIPHER, b"TLS_AES_128_GCM_SHA256"));
        ssl.extend(tlv(0x2F, b"an unregistered sub-type"));
        let mut body = INET_BLOCK.to_vec();
        body.extend(tlv(PP2_TYPE_SSL, &ssl));
        let input = v2(0x21, 0x11, &body);
        let (header, _) = complete(&input);
        let ssl = header.ssl().expect("an SSL TLV");
        assert!(ssl
            .client_flags()
            .contains(SslClientFlags::SSL | SslClientFlags::CERT_CONN | SslClientFlags::CERT_SESS));
        assert!(ssl.is_verified());
        assert_eq!(ssl.version(), Some("TLSv1.3"));
        assert_eq!(ssl.cn(), Some("Zoë"));
        assert_eq!(ssl.cipher(), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!((ssl.sig_alg(), ssl.key_alg()), (None, None));
        assert_eq!(ssl.sub_tlvs().count(), 4);
    }

    #[test]
    fn ssl_tlv_without_sub_tlvs_says_verify_failed() {
        let mut body = INET_BLOCK.to_vec();
        body.extend(tlv(PP2_TYPE_SSL, &[0x01, 0, 0, 0, 1]));
        let input = v2(0x21, 0x11, &body);
        let ssl = complete(&input).0.ssl().expect("an SSL TLV");
        assert_eq!((ssl.verify(), ssl.is_verified(), ssl.version()), (1, false, None));
        assert_eq!(ssl.client_flags(), SslClientFlags::SSL);
    }

    #[test]
    fn crc32c_that_matches_is_accepted() {
        let mut body = INET_BLOCK.to_vec();
        body.extend(tlv(PP2_TYPE_CRC32C, &[0; 4]));
        body.extend(tlv(PP2_TYPE_AUTHORITY, b"example.com"));
        let mut input = v2(0x21, 0x11, &body);
        fix_crc(&mut input, 16 + 12 + 3);
        let (header, _) = complete(&input);
        let expected = u32::from_be_bytes(input[31..35].try_into().expect("four bytes"));
        assert_eq!(header.tlvs.crc32c(), Some(expected));
    }

    #[test]
    fn crc32c_covers_the_payload_of_no_one_but_the_header() {
        // The checksum is over the header only: payload bytes after it do not count.
        let mut body = INET_BLOCK.to_vec();
        body.extend(tlv(PP2_TYPE_CRC32C, &[0; 4]));
        let mut input = v2(0x21, 0x11, &body);
        fix_crc(&mut input, 31);
        input.extend_from_slice(b"payload");
        assert_eq!(complete(&input).1, 35);
    }
}
