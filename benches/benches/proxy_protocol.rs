//! PROXY protocol parse and build, connseq's `connseq-proxy-protocol` beside the `ppp` crate on
//! the same bytes. Each group is one input; its two functions, `connseq` and `ppp`, sit side by
//! side in the report.
//!
//! What each side does per iteration:
//! - parse: connseq's `parse` detects the version, validates the whole header, every TLV
//!   included, and extracts the registered TLVs; `ppp::HeaderResult::parse` detects the version
//!   and decodes the fixed part and addresses, and walks its TLVs lazily, so the bench walks
//!   them to the end. `parse/v2_tlvs_crc` also verifies a CRC32C, which `ppp` does not do; it
//!   has no `ppp` side.
//! - build: connseq writes into a stack buffer (v2) or a reused `Vec` (v1); `ppp` writes v1 into
//!   a reused `Vec` through `Display` and builds v2 into a fresh `Vec`, its API's only way. The
//!   `ppp` SSL TLV value is prepared outside the loop (`ppp` has no SSL builder), which favours
//!   `ppp`.
//!
//! Run: `cargo bench -p connseq-benches --bench proxy_protocol -- --quick`.

use std::hint::black_box;
use std::io::Write as _;
use std::net::SocketAddr;

use connseq_proxy_protocol::{parse, Parsed, SslClientFlags, SslParams, V1Builder, V2Builder};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const SRC4: &str = "192.168.0.1:56324";
const DST4: &str = "192.168.0.11:443";
const SRC6: &str = "[2001:db8:85a3::8a2e:370:7334]:56324";
const DST6: &str = "[2001:db8::1]:443";

const ALPN: &[u8] = b"h2";
const AUTHORITY: &str = "www.example.com";
const UNIQUE_ID: &[u8] = b"0123456789abcdef0123456789abcdef";
const TLS_VERSION: &str = "TLSv1.3";
const CN: &str = "client.example.com";

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a bench address")
}

fn ssl() -> SslParams<'static> {
    SslParams {
        client: SslClientFlags::SSL,
        verify: 0,
        version: Some(TLS_VERSION),
        cn: Some(CN),
        ..SslParams::default()
    }
}

/// The v2 header with ALPN, AUTHORITY, UNIQUE_ID and SSL (VERSION, CN), as connseq builds it.
fn connseq_v2_tlvs(builder: V2Builder<'_>) -> V2Builder<'_> {
    builder.alpn(ALPN).authority(AUTHORITY).unique_id(UNIQUE_ID).ssl(ssl())
}

/// The SSL TLV value (client, verify, VERSION and CN sub-TLVs) for `ppp`, which takes raw bytes.
fn ppp_ssl_value() -> Vec<u8> {
    let mut value = vec![SslClientFlags::SSL.0, 0, 0, 0, 0];
    for (kind, text) in [(0x21u8, TLS_VERSION), (0x22, CN)] {
        value.push(kind);
        value.extend_from_slice(&u16::try_from(text.len()).expect("short").to_be_bytes());
        value.extend_from_slice(text.as_bytes());
    }
    value
}

fn ppp_v2(src: SocketAddr, dst: SocketAddr, ssl_value: Option<&[u8]>) -> Vec<u8> {
    use ppp::v2::{Builder, Command, Protocol, Type, Version};
    let builder = Builder::with_addresses(Version::Two | Command::Proxy, Protocol::Stream, (src, dst));
    let built = match ssl_value {
        None => builder.build(),
        Some(ssl_value) => builder
            .write_tlv(Type::ALPN, ALPN)
            .and_then(|b| b.write_tlv(Type::Authority, AUTHORITY.as_bytes()))
            .and_then(|b| b.write_tlv(Type::UniqueId, UNIQUE_ID))
            .and_then(|b| b.write_tlv(Type::SSL, ssl_value))
            .and_then(Builder::build),
    };
    built.expect("ppp builds the bench header")
}

fn connseq_bytes(builder: V2Builder<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    builder.append_to(&mut out).expect("connseq builds the bench header");
    out
}

fn v1_bytes(src: &str, dst: &str) -> Vec<u8> {
    let mut out = Vec::new();
    V1Builder::new(addr(src), addr(dst)).append_to(&mut out);
    out
}

/// Parses with connseq; returns something that depends on the whole header.
fn connseq_parse(input: &[u8]) -> usize {
    match parse(input) {
        Ok(Parsed::Complete(header, len)) => len + usize::from(header.authority().is_some()),
        other => panic!("connseq rejected a bench header: {other:?}"),
    }
}

/// Parses with ppp and walks the TLVs; returns something that depends on the whole header.
fn ppp_parse(input: &[u8]) -> usize {
    match ppp::HeaderResult::parse(input) {
        ppp::HeaderResult::V1(Ok(header)) => header.header.len(),
        ppp::HeaderResult::V2(Ok(header)) => {
            let tlvs = header.tlvs().map(|tlv| tlv.expect("a valid TLV").value.len()).sum::<usize>();
            header.len() + tlvs
        }
        other => panic!("ppp rejected a bench header: {other:?}"),
    }
}

fn parse_benches(c: &mut Criterion) {
    let (src4, dst4, src6, dst6) = (addr(SRC4), addr(DST4), addr(SRC6), addr(DST6));
    let v2_tlvs = connseq_bytes(connseq_v2_tlvs(V2Builder::proxy(src6, dst6)));
    assert_eq!(v2_tlvs, ppp_v2(src6, dst6, Some(&ppp_ssl_value())), "both sides parse the same bytes");
    let inputs = [
        ("v1_tcp4", v1_bytes(SRC4, DST4)),
        ("v1_tcp6", v1_bytes(SRC6, DST6)),
        ("v2_inet", connseq_bytes(V2Builder::proxy(src4, dst4))),
        ("v2_inet6", connseq_bytes(V2Builder::proxy(src6, dst6))),
        ("v2_tlvs", v2_tlvs),
    ];
    for (name, input) in &inputs {
        let mut group = c.benchmark_group(format!("parse/{name}"));
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter("connseq"), input, |b, input| {
            b.iter(|| connseq_parse(black_box(input)))
        });
        group.bench_with_input(BenchmarkId::from_parameter("ppp"), input, |b, input| {
            b.iter(|| ppp_parse(black_box(input)))
        });
        group.finish();
    }
    let with_crc = connseq_bytes(connseq_v2_tlvs(V2Builder::proxy(src6, dst6)).crc32c());
    let mut group = c.benchmark_group("parse/v2_tlvs_crc");
    group.throughput(Throughput::Bytes(with_crc.len() as u64));
    group.bench_with_input(BenchmarkId::from_parameter("connseq"), &with_crc, |b, input| {
        b.iter(|| connseq_parse(black_box(input)))
    });
    group.finish();
}

fn build_benches(c: &mut Criterion) {
    let (src4, dst4, src6, dst6) = (addr(SRC4), addr(DST4), addr(SRC6), addr(DST6));

    for (name, src, dst) in [("v1_tcp4", src4, dst4), ("v1_tcp6", src6, dst6)] {
        let mut group = c.benchmark_group(format!("build/{name}"));
        let mut out = Vec::with_capacity(128);
        group.bench_function("connseq", |b| {
            b.iter(|| {
                out.clear();
                V1Builder::new(black_box(src), black_box(dst)).append_to(&mut out)
            })
        });
        group.bench_function("ppp", |b| {
            b.iter(|| {
                out.clear();
                let addresses = ppp::v1::Addresses::from((black_box(src), black_box(dst)));
                write!(out, "{addresses}").expect("a Vec takes any write");
                out.len()
            })
        });
        group.finish();
    }

    for (name, src, dst) in [("v2_inet", src4, dst4), ("v2_inet6", src6, dst6)] {
        let mut group = c.benchmark_group(format!("build/{name}"));
        group.bench_function("connseq", |b| {
            let mut buf = [0u8; 536];
            b.iter(|| V2Builder::proxy(black_box(src), black_box(dst)).write_to(&mut buf).expect("fits"))
        });
        group.bench_function("ppp", |b| b.iter(|| ppp_v2(black_box(src), black_box(dst), None)));
        group.finish();
    }

    let ssl_value = ppp_ssl_value();
    let mut group = c.benchmark_group("build/v2_tlvs");
    group.bench_function("connseq", |b| {
        let mut buf = [0u8; 536];
        b.iter(|| connseq_v2_tlvs(V2Builder::proxy(black_box(src6), black_box(dst6))).write_to(&mut buf).expect("fits"))
    });
    group.bench_function("ppp", |b| b.iter(|| ppp_v2(black_box(src6), black_box(dst6), Some(&ssl_value))));
    group.finish();

    let mut group = c.benchmark_group("build/v2_tlvs_crc");
    group.bench_function("connseq", |b| {
        let mut buf = [0u8; 536];
        b.iter(|| {
            connseq_v2_tlvs(V2Builder::proxy(black_box(src6), black_box(dst6)))
                .crc32c()
                .write_to(&mut buf)
                .expect("fits")
        })
    });
    group.finish();
}

criterion_group!(benches, parse_benches, build_benches);
criterion_main!(benches);
