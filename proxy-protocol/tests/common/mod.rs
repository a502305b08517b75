//! Helpers shared by the integration tests. Each test file uses a subset of them.
#![allow(dead_code)]

use connseq_proxy_protocol::{parse, Header, ParseError, Parsed};

/// Bytes from hex digits; spaces are ignored.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("hex digits are ASCII");
            u8::from_str_radix(pair, 16).expect("valid hex digits")
        })
        .collect()
}

/// The header at the start of `buf`, which must be complete and valid.
pub fn complete(buf: &[u8]) -> (Header<'_>, usize) {
    match parse(buf) {
        Ok(Parsed::Complete(header, len)) => (header, len),
        other => panic!("expected a complete header, got {other:?} for {buf:02x?}"),
    }
}

/// The error for `buf`, which must be invalid.
pub fn rejected(buf: &[u8]) -> ParseError {
    match parse(buf) {
        Err(error) => error,
        other => panic!("expected an error, got {other:?} for {buf:02x?}"),
    }
}

/// A v2 header from its parts: fixed part with the given version/command and family/transport
/// bytes, then `body` (address block and TLVs); the length field is computed.
pub fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut out = hex("0d0a0d0a000d0a515549540a");
    out.push(ver_cmd);
    out.push(fam);
    out.extend_from_slice(&u16::try_from(body.len()).expect("a short test body").to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A TLV: type, big-endian length, value.
pub fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&u16::try_from(value.len()).expect("a short test value").to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// The AF_INET block of 127.0.0.1:42 -> 127.0.0.1:1337 (the spec's test vector).
pub const INET_BLOCK: [u8; 12] = [127, 0, 0, 1, 127, 0, 0, 1, 0x00, 0x2a, 0x05, 0x39];

/// Patches a correct CRC32C into a header whose CRC32C value (zeros) starts at `value_at`.
pub fn fix_crc(header: &mut [u8], value_at: usize) {
    header[value_at..value_at + 4].copy_from_slice(&[0; 4]);
    let crc = crc32c::crc32c(header);
    header[value_at..value_at + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Valid headers, generated: what to build, how to build it, and what parsing it must give.
pub mod arb {
    use std::net::{IpAddr, SocketAddr, SocketAddrV6};

    use connseq_proxy_protocol::{
        Addresses, Command, Header, SslClientFlags, SslParams, Tlv, Transport, V1Builder, V2Builder, PP2_TYPE_ALPN,
        PP2_TYPE_AUTHORITY, PP2_TYPE_CRC32C, PP2_TYPE_NETNS, PP2_TYPE_NOOP, PP2_TYPE_SSL, PP2_TYPE_UNIQUE_ID,
    };
    use proptest::prelude::*;

    /// A socket address as the wire carries it: no IPv6 flow label or scope id.
    pub fn socket_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            any::<(std::net::Ipv4Addr, u16)>().prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(ip), port)),
            any::<(std::net::Ipv6Addr, u16)>().prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(ip), port)),
        ]
    }

    /// A v1 line: addresses for [`V1Builder::new`], or `UNKNOWN` with or without a rest.
    #[derive(Clone, Debug)]
    pub enum V1Spec {
        Addresses(SocketAddr, SocketAddr),
        UnknownShort,
        /// The long `UNKNOWN` form; the rest has no CR or LF.
        UnknownLong(String),
    }

    impl V1Spec {
        pub fn bytes(&self) -> Vec<u8> {
            match self {
                V1Spec::Addresses(src, dst) => {
                    let mut out = Vec::new();
                    V1Builder::new(*src, *dst).append_to(&mut out);
                    out
                }
                V1Spec::UnknownShort => b"PROXY UNKNOWN\r\n".to_vec(),
                V1Spec::UnknownLong(rest) => format!("PROXY UNKNOWN {rest}\r\n").into_bytes(),
            }
        }

        /// The addresses the receiver must read back.
        pub fn expected_addresses(&self) -> Addresses<'static> {
            match self {
                V1Spec::Addresses(SocketAddr::V4(src), SocketAddr::V4(dst)) => Addresses::Inet { src: *src, dst: *dst },
                V1Spec::Addresses(SocketAddr::V6(src), SocketAddr::V6(dst)) => {
                    Addresses::Inet6 { src: *src, dst: *dst }
                }
                V1Spec::Addresses(..) | V1Spec::UnknownShort | V1Spec::UnknownLong(_) => Addresses::None,
            }
        }
    }

    pub fn v1_spec() -> impl Strategy<Value = V1Spec> {
        prop_oneof![
            8 => (socket_addr(), socket_addr()).prop_map(|(src, dst)| V1Spec::Addresses(src, dst)),
            1 => Just(V1Spec::UnknownShort),
            // 107 - "PROXY UNKNOWN " - CRLF leaves 91 bytes.
            1 => "[ -~]{0,91}".prop_map(V1Spec::UnknownLong),
        ]
    }

    /// The SSL TLV, owned.
    #[derive(Clone, Debug)]
    pub struct SslSpec {
        pub client: u8,
        pub verify: u32,
        pub version: Option<String>,
        pub cn: Option<String>,
        pub cipher: Option<String>,
    }

    /// Who the v2 header is about.
    #[derive(Clone, Debug)]
    pub enum V2Addresses {
        Local,
        Proxy(SocketAddr, SocketAddr),
        Unix(Vec<u8>, Vec<u8>),
        Unspec,
    }

    /// A v2 header, owned, with every optional TLV.
    #[derive(Clone, Debug)]
    pub struct V2Spec {
        pub addresses: V2Addresses,
        pub dgram: bool,
        pub crc: bool,
        pub alpn: Option<Vec<u8>>,
        pub authority: Option<String>,
        pub unique_id: Option<Vec<u8>>,
        pub ssl: Option<SslSpec>,
        pub netns: Option<Vec<u8>>,
        pub extra: Vec<(u8, Vec<u8>)>,
    }

    impl V2Spec {
        /// Calls `f` with a builder set up from this spec.
        pub fn with_builder<R>(&self, f: impl FnOnce(V2Builder<'_>) -> R) -> R {
            let extra: Vec<Tlv<'_>> = self.extra.iter().map(|(kind, value)| Tlv { kind: *kind, value }).collect();
            let mut builder = match &self.addresses {
                V2Addresses::Local => V2Builder::local(),
                V2Addresses::Proxy(src, dst) => V2Builder::proxy(*src, *dst),
                V2Addresses::Unix(src, dst) => V2Builder::with_addresses(Addresses::Unix { src, dst }),
                V2Addresses::Unspec => V2Builder::with_addresses(Addresses::None),
            };
            if self.dgram {
                builder = builder.transport(Transport::Dgram);
            }
            if self.crc {
                builder = builder.crc32c();
            }
            if let Some(alpn) = &self.alpn {
                builder = builder.alpn(alpn);
            }
            if let Some(authority) = &self.authority {
                builder = builder.authority(authority);
            }
            if let Some(unique_id) = &self.unique_id {
                builder = builder.unique_id(unique_id);
            }
            if let Some(ssl) = &self.ssl {
                builder = builder.ssl(SslParams {
                    client: SslClientFlags(ssl.client),
                    verify: ssl.verify,
                    version: ssl.version.as_deref(),
                    cn: ssl.cn.as_deref(),
                    cipher: ssl.cipher.as_deref(),
                    sig_alg: None,
                    key_alg: None,
                });
            }
            if let Some(netns) = &self.netns {
                builder = builder.netns(netns);
            }
            f(builder.tlvs(&extra))
        }

        /// The header, appended to an empty `Vec`.
        pub fn bytes(&self) -> Vec<u8> {
            self.with_builder(|builder| {
                let mut out = Vec::new();
                let len = builder.append_to(&mut out).expect("a generated header is within every limit");
                assert_eq!(len, out.len());
                assert_eq!(builder.encoded_len(), Ok(len));
                out
            })
        }

        /// Checks that `header` says what this spec built.
        pub fn check(&self, header: &Header<'_>) -> Result<(), TestCaseError> {
            let transport = match (&self.addresses, self.dgram) {
                (_, true) => Transport::Dgram,
                (V2Addresses::Local | V2Addresses::Unspec, false) => Transport::Unspec,
                (V2Addresses::Proxy(..) | V2Addresses::Unix(..), false) => Transport::Stream,
            };
            prop_assert_eq!(header.transport, transport);
            let expected = match &self.addresses {
                V2Addresses::Local => {
                    prop_assert_eq!(header.command, Command::Local);
                    prop_assert_eq!(header.addresses, Addresses::None);
                    // LOCAL discards the whole protocol block, TLVs included.
                    prop_assert!(header.tlvs.is_empty());
                    return Ok(());
                }
                V2Addresses::Proxy(SocketAddr::V4(src), SocketAddr::V4(dst)) => {
                    Addresses::Inet { src: *src, dst: *dst }
                }
                V2Addresses::Proxy(src, dst) => Addresses::Inet6 { src: mapped(*src), dst: mapped(*dst) },
                V2Addresses::Unix(src, dst) => Addresses::Unix { src, dst },
                V2Addresses::Unspec => Addresses::None,
            };
            prop_assert_eq!(header.command, Command::Proxy);
            prop_assert_eq!(header.addresses, expected);
            prop_assert_eq!(header.alpn(), self.alpn.as_deref());
            prop_assert_eq!(header.authority(), self.authority.as_deref());
            prop_assert_eq!(header.unique_id(), self.unique_id.as_deref());
            prop_assert_eq!(header.netns(), self.netns.as_deref());
            prop_assert_eq!(header.tlvs.crc32c().is_some(), self.crc);
            match (&self.ssl, header.ssl()) {
                (None, None) => {}
                (Some(want), Some(got)) => {
                    prop_assert_eq!(got.client_flags(), SslClientFlags(want.client));
                    prop_assert_eq!(got.verify(), want.verify);
                    prop_assert_eq!(got.version(), want.version.as_deref());
                    prop_assert_eq!(got.cn(), want.cn.as_deref());
                    prop_assert_eq!(got.cipher(), want.cipher.as_deref());
                }
                (want, got) => prop_assert!(false, "SSL TLV: built {want:?}, parsed {got:?}"),
            }
            let extra: Vec<(u8, Vec<u8>)> = header
                .tlvs
                .iter()
                .filter(|tlv| !is_typed(tlv.kind))
                .map(|tlv| (tlv.kind, tlv.value.to_vec()))
                .collect();
            prop_assert_eq!(&extra, &self.extra);
            Ok(())
        }
    }

    /// The builder's mapping of an IPv4 side into an AF_INET6 header.
    fn mapped(addr: SocketAddr) -> SocketAddrV6 {
        match addr {
            SocketAddr::V4(v4) => SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0),
            SocketAddr::V6(v6) => v6,
        }
    }

    /// The types the builder writes from its own methods.
    fn is_typed(kind: u8) -> bool {
        matches!(
            kind,
            PP2_TYPE_ALPN | PP2_TYPE_AUTHORITY | PP2_TYPE_CRC32C | PP2_TYPE_UNIQUE_ID | PP2_TYPE_SSL | PP2_TYPE_NETNS
        )
    }

    /// A pathname (no NUL), or an abstract name (leading NUL, no trailing NUL), or nothing.
    fn unix_path() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(Vec::new()),
            prop::collection::vec(1u8..=255, 1..=108),
            prop::collection::vec(any::<u8>(), 0..=106).prop_map(|mut name| {
                name.insert(0, 0);
                name.push(b'x');
                name
            }),
        ]
    }

    fn v2_addresses() -> impl Strategy<Value = V2Addresses> {
        prop_oneof![
            1 => Just(V2Addresses::Local),
            6 => (socket_addr(), socket_addr()).prop_map(|(src, dst)| V2Addresses::Proxy(src, dst)),
            1 => (unix_path(), unix_path()).prop_map(|(src, dst)| V2Addresses::Unix(src, dst)),
            1 => Just(V2Addresses::Unspec),
        ]
    }

    fn short_text() -> impl Strategy<Value = Option<String>> {
        prop::option::of("\\PC{0,20}")
    }

    fn ssl_spec() -> impl Strategy<Value = SslSpec> {
        (any::<u8>(), prop_oneof![Just(0u32), any::<u32>()], short_text(), short_text(), short_text())
            .prop_map(|(client, verify, version, cn, cipher)| SslSpec { client, verify, version, cn, cipher })
    }

    /// An extra TLV: NOOP, custom, experimental or unregistered, never a type with a setter.
    fn extra_tlv() -> impl Strategy<Value = (u8, Vec<u8>)> {
        let kind = prop_oneof![Just(PP2_TYPE_NOOP), 0xE0u8..=0xEF, any::<u8>()].prop_filter("typed", |k| !is_typed(*k));
        (kind, prop::collection::vec(any::<u8>(), 0..64))
    }

    pub fn v2_spec() -> impl Strategy<Value = V2Spec> {
        (
            v2_addresses(),
            any::<bool>(),
            any::<bool>(),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..32)),
            // At most 60 characters of at most 4 bytes: within the 255-byte AUTHORITY limit.
            prop::option::of("\\PC{0,60}"),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..=128)),
            prop::option::of(ssl_spec()),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
            prop::collection::vec(extra_tlv(), 0..4),
        )
            .prop_map(|(addresses, dgram, crc, alpn, authority, unique_id, ssl, netns, extra)| V2Spec {
                addresses,
                dgram,
                crc,
                alpn,
                authority,
                unique_id,
                ssl,
                netns,
                extra,
            })
    }
}
