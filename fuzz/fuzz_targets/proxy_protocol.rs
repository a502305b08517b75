//! The PROXY v1/v2 parser (`connseq_proxy_protocol::parse`) on arbitrary bytes.
//!
//! Checked on every input, besides "no panic":
//! - **split at every offset**: each prefix of the input parses to "incomplete" (a valid
//!   prefix, with an honest count of the bytes still missing), to the very error the whole
//!   input gives, or to the very header and length the whole input gives (the crate's stable
//!   verdict, which the runtime's peek-and-parse loop relies on);
//! - **whole headers with TLVs**: a complete header never claims more bytes than the input;
//!   every TLV the accessors return is one [`Tlvs::iter`] lists;
//! - **round trip**: a complete header rebuilt with [`V1Builder`] / [`V2Builder`] from what was
//!   parsed (addresses, command, transport, ALPN, AUTHORITY, UNIQUE_ID, SSL, NETNS, CRC32C,
//!   the other TLVs) parses back to the same values.

#![no_main]

use connseq_proxy_protocol::{
    parse, Command, Header, Needed, ParseError, Parsed, SslParams, Tlv, V1Builder, V2Builder, Version, PP2_TYPE_ALPN,
    PP2_TYPE_AUTHORITY, PP2_TYPE_CRC32C, PP2_TYPE_NETNS, PP2_TYPE_SSL, PP2_TYPE_UNIQUE_ID,
};
use libfuzzer_sys::fuzz_target;

/// Prefixes checked one by one for inputs up to this length; longer ones are sampled.
const ALL_PREFIXES_UP_TO: usize = 300;

fuzz_target!(|data: &[u8]| {
    let whole = parse(data);
    if let Ok(Parsed::Complete(_, len)) = &whole {
        assert!(*len <= data.len(), "a header of {len} bytes in {} bytes of input", data.len());
    }
    for end in prefix_ends(data.len(), &whole) {
        check_prefix(data, end, &whole);
    }
    if let Ok(Parsed::Complete(header, len)) = whole {
        check_tlv_accessors(&header);
        round_trip(&header, &data[..len]);
    }
});

/// The prefix lengths to check: all of them for short inputs, else every 1/64th of the input
/// plus the neighbourhood of the header's end.
fn prefix_ends(len: usize, whole: &Result<Parsed<'_>, ParseError>) -> Vec<usize> {
    if len <= ALL_PREFIXES_UP_TO {
        return (0..len).collect();
    }
    let mut ends: Vec<usize> = (0..len).step_by(len / 64).collect();
    ends.extend(0..ALL_PREFIXES_UP_TO.min(len));
    if let Ok(Parsed::Complete(_, hlen)) = whole {
        ends.extend(hlen.saturating_sub(3)..(hlen + 3).min(len));
    }
    ends.sort_unstable();
    ends.dedup();
    ends
}

/// `data[..end]` agrees with the whole input, as the crate promises.
fn check_prefix(data: &[u8], end: usize, whole: &Result<Parsed<'_>, ParseError>) {
    let part = parse(&data[..end]);
    match (&part, whole) {
        (Ok(Parsed::Incomplete(needed)), Ok(Parsed::Complete(_, hlen))) => {
            assert!(end < *hlen, "incomplete at {end} though the header ends at {hlen}");
            assert!(end + needed.min() <= *hlen, "{needed:?} at {end} overshoots a header of {hlen}");
            if let Needed::Exactly(n) = needed {
                assert_eq!(end + n.get(), *hlen, "an exact count that is wrong");
            }
        }
        // A valid prefix of an input that is itself still a valid prefix, or that turns out
        // invalid later: both are allowed (rejection comes as soon as the bytes show it).
        (Ok(Parsed::Incomplete(_)), Ok(Parsed::Incomplete(_)) | Err(_)) => {}
        (Ok(Parsed::Complete(h, l)), Ok(Parsed::Complete(wh, wl))) => {
            assert_eq!((h, l), (wh, wl), "a prefix of {end} bytes parses to another header");
        }
        (Err(e), Err(we)) => {
            assert_eq!(e.reason(), we.reason(), "a prefix of {end} bytes fails for another reason");
        }
        (Ok(Parsed::Complete(..)), _) => panic!("a prefix of {end} bytes is complete but the whole is {whole:?}"),
        (Err(e), _) => panic!("a prefix of {end} bytes fails ({e}) but the whole input gives {whole:?}"),
    }
}

/// Every accessor's TLV is one the iterator lists.
fn check_tlv_accessors(header: &Header<'_>) {
    let listed: Vec<Tlv<'_>> = header.tlvs.iter().collect();
    let has = |kind: u8, value: &[u8]| listed.iter().any(|t| t.kind == kind && t.value == value);
    if let Some(v) = header.alpn() {
        assert!(has(PP2_TYPE_ALPN, v));
    }
    if let Some(v) = header.authority() {
        assert!(has(PP2_TYPE_AUTHORITY, v.as_bytes()));
    }
    if let Some(v) = header.unique_id() {
        assert!(has(PP2_TYPE_UNIQUE_ID, v));
    }
    if let Some(v) = header.netns() {
        assert!(has(PP2_TYPE_NETNS, v));
    }
    if header.version == Version::V1 || header.command == Command::Local {
        assert!(header.tlvs.is_empty(), "TLVs on a v1 or LOCAL header");
    }
}

/// Rebuilds `header` and parses it back.
fn round_trip(header: &Header<'_>, bytes: &[u8]) {
    let mut out = Vec::new();
    match header.version {
        Version::V1 => {
            let builder = match (header.addresses.source(), header.addresses.destination()) {
                (Some(src), Some(dst)) => V1Builder::new(src, dst),
                _ => V1Builder::unknown(),
            };
            builder.append_to(&mut out);
            let again = complete(&out);
            assert_eq!(again.addresses, header.addresses, "v1 round trip of {bytes:02x?}");
        }
        Version::V2 if header.command == Command::Local => {
            V2Builder::local().append_to(&mut out).expect("a LOCAL header always builds");
            assert_eq!(complete(&out).command, Command::Local);
        }
        Version::V2 => round_trip_v2(header, bytes, &mut out),
    }
}

fn round_trip_v2(header: &Header<'_>, bytes: &[u8], out: &mut Vec<u8>) {
    let own_setter =
        [PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_CRC32C, PP2_TYPE_UNIQUE_ID, PP2_TYPE_SSL, PP2_TYPE_NETNS];
    let extra: Vec<Tlv<'_>> = header.tlvs.iter().filter(|t| !own_setter.contains(&t.kind)).collect();
    let mut b = V2Builder::with_addresses(header.addresses).transport(header.transport).tlvs(&extra);
    if header.tlvs.crc32c().is_some() {
        b = b.crc32c();
    }
    if let Some(v) = header.alpn() {
        b = b.alpn(v);
    }
    if let Some(v) = header.authority() {
        b = b.authority(v);
    }
    if let Some(v) = header.unique_id() {
        b = b.unique_id(v);
    }
    if let Some(v) = header.netns() {
        b = b.netns(v);
    }
    if let Some(ssl) = header.ssl() {
        b = b.ssl(SslParams {
            client: ssl.client_flags(),
            verify: ssl.verify(),
            version: ssl.version(),
            cn: ssl.cn(),
            cipher: ssl.cipher(),
            sig_alg: ssl.sig_alg(),
            key_alg: ssl.key_alg(),
        });
    }
    // The rebuilt header drops the SSL TLV's unknown sub-TLVs, so it may be shorter, never
    // longer than what the parser took.
    b.append_to(out).unwrap_or_else(|e| panic!("what parsed does not build again ({e}): {bytes:02x?}"));
    let again = complete(out);
    assert_eq!(again.addresses, header.addresses, "addresses of {bytes:02x?}");
    assert_eq!((again.command, again.transport), (header.command, header.transport));
    assert_eq!(again.alpn(), header.alpn());
    assert_eq!(again.authority(), header.authority());
    assert_eq!(again.unique_id(), header.unique_id());
    assert_eq!(again.netns(), header.netns());
    assert_eq!(again.tlvs.crc32c().is_some(), header.tlvs.crc32c().is_some());
    let ssl = |h: &Header<'_>| {
        h.ssl().map(|s| {
            let text = |v: Option<&str>| v.map(str::to_owned);
            (
                s.client_flags(),
                s.verify(),
                text(s.version()),
                text(s.cn()),
                text(s.cipher()),
                text(s.sig_alg()),
                text(s.key_alg()),
            )
        })
    };
    assert_eq!(ssl(&again), ssl(header));
    let others = |h: &Header<'_>| -> Vec<(u8, Vec<u8>)> {
        h.tlvs.iter().filter(|t| !own_setter.contains(&t.kind)).map(|t| (t.kind, t.value.to_vec())).collect()
    };
    assert_eq!(others(&again), others(header), "the other TLVs, in order");
}

fn complete(bytes: &[u8]) -> Header<'_> {
    match parse(bytes) {
        Ok(Parsed::Complete(h, len)) if len == bytes.len() => h,
        other => panic!("the builder's header does not parse back whole: {other:?} for {bytes:02x?}"),
    }
}
