//! v2 TLVs (PROXY spec 2.2 to 2.2.8): type codes, the validated TLV area and the SSL TLV.

use std::fmt;

use crate::consts::{SSL_FIXED_LEN, TLV_HEADER_LEN};

/// PROXY spec 2.2.1: the application protocol (e.g. the TLS ALPN).
pub const PP2_TYPE_ALPN: u8 = 0x01;
/// PROXY spec 2.2.2: the host name (e.g. the TLS SNI), UTF-8, at most 255 bytes.
pub const PP2_TYPE_AUTHORITY: u8 = 0x02;
/// PROXY spec 2.2.3: the CRC32c of the whole header, computed with this value zeroed.
pub const PP2_TYPE_CRC32C: u8 = 0x03;
/// PROXY spec 2.2.4: padding, ignored.
pub const PP2_TYPE_NOOP: u8 = 0x04;
/// PROXY spec 2.2.5: an opaque connection id, at most 128 bytes.
pub const PP2_TYPE_UNIQUE_ID: u8 = 0x05;
/// PROXY spec 2.2.6: the client's TLS details, with sub-TLVs.
pub const PP2_TYPE_SSL: u8 = 0x20;
/// PROXY spec 2.2.6, SSL sub-TLV: the TLS version, US-ASCII (e.g. `TLSv1.3`).
pub const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
/// PROXY spec 2.2.6, SSL sub-TLV: the client certificate's Common Name, UTF-8.
pub const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
/// PROXY spec 2.2.6, SSL sub-TLV: the cipher name, US-ASCII.
pub const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;
/// PROXY spec 2.2.6, SSL sub-TLV: the frontend certificate's signature algorithm, US-ASCII.
pub const PP2_SUBTYPE_SSL_SIG_ALG: u8 = 0x24;
/// PROXY spec 2.2.6, SSL sub-TLV: the frontend certificate's key algorithm, US-ASCII.
pub const PP2_SUBTYPE_SSL_KEY_ALG: u8 = 0x25;
/// PROXY spec 2.2.7: the network namespace name, US-ASCII.
pub const PP2_TYPE_NETNS: u8 = 0x30;
/// PROXY spec 2.2.8: first type reserved for application-specific data.
pub const PP2_TYPE_MIN_CUSTOM: u8 = 0xE0;
/// PROXY spec 2.2.8: last type reserved for application-specific data.
pub const PP2_TYPE_MAX_CUSTOM: u8 = 0xEF;
/// PROXY spec 2.2.8: first type reserved for experiments.
pub const PP2_TYPE_MIN_EXPERIMENT: u8 = 0xF0;
/// PROXY spec 2.2.8: last type reserved for experiments.
pub const PP2_TYPE_MAX_EXPERIMENT: u8 = 0xF7;
/// PROXY spec 2.2.8: first type reserved for future multi-byte types.
pub const PP2_TYPE_MIN_FUTURE: u8 = 0xF8;
/// PROXY spec 2.2.8: last type reserved for future multi-byte types.
pub const PP2_TYPE_MAX_FUTURE: u8 = 0xFF;

/// One TLV: its type code and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tlv<'a> {
    /// The type code (`PP2_TYPE_*`, or an application's custom type).
    pub kind: u8,
    /// The value, without the type and length fields.
    pub value: &'a [u8],
}

/// The TLVs of a v2 header, validated by the parser.
///
/// The parser records where each registered single-valued TLV is while it validates the
/// header, so the accessors go straight to it; [`Tlvs::iter`] walks every TLV in wire order,
/// NOOP, custom and unknown types included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tlvs<'a> {
    area: &'a [u8],
    /// Where each registered TLV starts in `area`, plus one, by [`Registered`] slot; 0 when
    /// absent.
    at: [u16; Registered::COUNT],
}

/// The registered single-valued TLV types, as slots of [`Tlvs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Registered {
    Alpn,
    Authority,
    Crc32c,
    UniqueId,
    Ssl,
    Netns,
}

impl Registered {
    pub(crate) const COUNT: usize = 6;

    /// The slot of a TLV type, for the registered single-valued ones.
    pub(crate) fn of(kind: u8) -> Option<Registered> {
        match kind {
            PP2_TYPE_ALPN => Some(Registered::Alpn),
            PP2_TYPE_AUTHORITY => Some(Registered::Authority),
            PP2_TYPE_CRC32C => Some(Registered::Crc32c),
            PP2_TYPE_UNIQUE_ID => Some(Registered::UniqueId),
            PP2_TYPE_SSL => Some(Registered::Ssl),
            PP2_TYPE_NETNS => Some(Registered::Netns),
            _ => None,
        }
    }
}

impl<'a> Tlvs<'a> {
    /// No TLVs.
    pub const EMPTY: Tlvs<'static> = Tlvs { area: &[], at: [0; Registered::COUNT] };

    /// The raw TLV area, as it was on the wire.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.area
    }

    /// True when the header carries no TLV at all.
    pub fn is_empty(&self) -> bool {
        self.area.is_empty()
    }

    /// Every TLV in wire order.
    pub fn iter(&self) -> TlvIter<'a> {
        TlvIter::new(self.area)
    }

    /// The ALPN value (PROXY spec 2.2.1).
    pub fn alpn(&self) -> Option<&'a [u8]> {
        self.value(Registered::Alpn)
    }

    /// The AUTHORITY value (PROXY spec 2.2.2), validated as UTF-8 of at most 255 bytes.
    pub fn authority(&self) -> Option<&'a str> {
        std::str::from_utf8(self.value(Registered::Authority)?).ok()
    }

    /// The CRC32C value, already verified against the header (PROXY spec 2.2.3).
    pub fn crc32c(&self) -> Option<u32> {
        let value: [u8; 4] = self.value(Registered::Crc32c)?.try_into().ok()?;
        Some(u32::from_be_bytes(value))
    }

    /// The UNIQUE_ID value (PROXY spec 2.2.5), at most 128 bytes.
    pub fn unique_id(&self) -> Option<&'a [u8]> {
        self.value(Registered::UniqueId)
    }

    /// The SSL TLV (PROXY spec 2.2.6).
    pub fn ssl(&self) -> Option<Ssl<'a>> {
        self.value(Registered::Ssl).map(|value| Ssl { value })
    }

    /// The NETNS value (PROXY spec 2.2.7).
    pub fn netns(&self) -> Option<&'a [u8]> {
        self.value(Registered::Netns)
    }

    /// A validated area and where its registered TLVs start, from the parser's walk.
    pub(crate) fn new(area: &'a [u8], at: [u16; Registered::COUNT]) -> Self {
        Tlvs { area, at }
    }

    fn value(&self, slot: Registered) -> Option<&'a [u8]> {
        let offset = usize::from(self.at[slot as usize].checked_sub(1)?);
        split_tlv(self.area.get(offset..)?).map(|(tlv, _)| tlv.value)
    }
}

impl<'a> IntoIterator for Tlvs<'a> {
    type Item = Tlv<'a>;
    type IntoIter = TlvIter<'a>;

    fn into_iter(self) -> TlvIter<'a> {
        self.iter()
    }
}

/// Walks a TLV sequence in wire order (see [`Tlvs::iter`] and [`Ssl::sub_tlvs`]).
///
/// The sequence was validated by the parser; the iterator still stops, rather than panics, at
/// bytes that do not form a whole TLV.
#[derive(Clone, Debug)]
pub struct TlvIter<'a> {
    rest: &'a [u8],
}

impl<'a> TlvIter<'a> {
    pub(crate) fn new(area: &'a [u8]) -> Self {
        TlvIter { rest: area }
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        let (tlv, rest) = split_tlv(self.rest)?;
        self.rest = rest;
        Some(tlv)
    }
}

/// Splits the first TLV off `bytes`; `None` when `bytes` does not start with a whole TLV.
pub(crate) fn split_tlv(bytes: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&[kind, hi, lo], after_header) = bytes.split_first_chunk::<TLV_HEADER_LEN>()?;
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if after_header.len() < len {
        return None;
    }
    let (value, rest) = after_header.split_at(len);
    Some((Tlv { kind, value }, rest))
}

/// The SSL TLV (PROXY spec 2.2.6): how the client reached the upstream proxy.
///
/// A view of the TLV value the parser validated: the 5 fixed bytes are there, the sub-TLVs end
/// within it, and VERSION, CN, CIPHER, SIG_ALG and KEY_ALG appear at most once each, as UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ssl<'a> {
    value: &'a [u8],
}

impl<'a> Ssl<'a> {
    /// The `client` bit field: TLS used, certificate on this connection or on the session.
    pub fn client_flags(&self) -> SslClientFlags {
        SslClientFlags(self.value.first().copied().unwrap_or(0))
    }

    /// The `verify` field: zero when the client presented a certificate that verified.
    pub fn verify(&self) -> u32 {
        match self.value.get(1..SSL_FIXED_LEN) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            // The parser guarantees the fixed part; a missing one would read as "not verified".
            _ => u32::MAX,
        }
    }

    /// True when the client presented a certificate and it verified (`verify == 0`).
    pub fn is_verified(&self) -> bool {
        self.verify() == 0
    }

    /// The TLS version (`PP2_SUBTYPE_SSL_VERSION`), e.g. `TLSv1.3`.
    pub fn version(&self) -> Option<&'a str> {
        self.text(PP2_SUBTYPE_SSL_VERSION)
    }

    /// The client certificate's Common Name (`PP2_SUBTYPE_SSL_CN`).
    pub fn cn(&self) -> Option<&'a str> {
        self.text(PP2_SUBTYPE_SSL_CN)
    }

    /// The cipher (`PP2_SUBTYPE_SSL_CIPHER`), e.g. `ECDHE-RSA-AES128-GCM-SHA256`.
    pub fn cipher(&self) -> Option<&'a str> {
        self.text(PP2_SUBTYPE_SSL_CIPHER)
    }

    /// The frontend certificate's signature algorithm (`PP2_SUBTYPE_SSL_SIG_ALG`).
    pub fn sig_alg(&self) -> Option<&'a str> {
        self.text(PP2_SUBTYPE_SSL_SIG_ALG)
    }

    /// The frontend certificate's key algorithm (`PP2_SUBTYPE_SSL_KEY_ALG`).
    pub fn key_alg(&self) -> Option<&'a str> {
        self.text(PP2_SUBTYPE_SSL_KEY_ALG)
    }

    /// Every sub-TLV in wire order, unknown ones included.
    pub fn sub_tlvs(&self) -> TlvIter<'a> {
        TlvIter::new(self.value.get(SSL_FIXED_LEN..).unwrap_or(&[]))
    }

    fn text(&self, kind: u8) -> Option<&'a str> {
        let sub = self.sub_tlvs().find(|sub| sub.kind == kind)?;
        std::str::from_utf8(sub.value).ok()
    }
}

/// The SSL TLV's `client` bit field (PROXY spec 2.2.6). Unassigned bits are kept as received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SslClientFlags(pub u8);

impl SslClientFlags {
    /// `PP2_CLIENT_SSL`: the client connected over TLS.
    pub const SSL: SslClientFlags = SslClientFlags(0x01);
    /// `PP2_CLIENT_CERT_CONN`: the client presented a certificate on this connection.
    pub const CERT_CONN: SslClientFlags = SslClientFlags(0x02);
    /// `PP2_CLIENT_CERT_SESS`: the client presented a certificate at least once in this TLS
    /// session.
    pub const CERT_SESS: SslClientFlags = SslClientFlags(0x04);

    /// True when every bit of `other` is set.
    pub const fn contains(self, other: SslClientFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of both sets of bits.
    #[must_use]
    pub const fn union(self, other: SslClientFlags) -> SslClientFlags {
        SslClientFlags(self.0 | other.0)
    }
}

impl std::ops::BitOr for SslClientFlags {
    type Output = SslClientFlags;

    fn bitor(self, other: SslClientFlags) -> SslClientFlags {
        self.union(other)
    }
}

impl fmt::Display for SslClientFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#04x}", self.0)
    }
}
