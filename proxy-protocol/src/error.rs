//! Why a header was rejected, or could not be built.

use std::fmt;

/// A header the peer sent violates the protocol (or, for [`ParseError::V2TooLong`], exceeds
/// this receiver's cap). The connection must be dropped (PROXY spec 2.1: "any sequence which
/// does not exactly match the protocol must be discarded and cause the receiver to abort the
/// connection").
///
/// The side at fault is the peer that sent the header (the client connection of a listener with
/// `accept-proxy`), except [`ParseError::V2TooLong`], which is a local limit: see
/// [`ParseError::is_local_limit`]. [`ParseError::reason`] is a short, stable kebab-case code for
/// logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The first byte is neither `P` (v1) nor `0x0D` (v2): this is not a PROXY header.
    #[error("not a PROXY header: first byte {first:#04x} is neither 'P' (v1) nor 0x0d (v2)")]
    BadSignature {
        /// The offending first byte.
        first: u8,
    },

    /// v1: the line does not start with `PROXY` and one space.
    #[error("v1: the line does not start with \"PROXY \"")]
    V1BadSignature,
    /// v1: the protocol is not `TCP4`, `TCP6` or `UNKNOWN`.
    #[error("v1: the protocol is not TCP4, TCP6 or UNKNOWN")]
    V1BadProtocol,
    /// v1: two spaces in a row where exactly one separates the fields.
    #[error("v1: more than one space between fields")]
    V1ExtraSpace,
    /// v1: the line ends before all four address fields.
    #[error("v1: the line ends before the {field}")]
    V1MissingField {
        /// The first field that is missing.
        field: V1Field,
    },
    /// v1: something follows the destination port before the CRLF.
    #[error("v1: data after the destination port")]
    V1TrailingData,
    /// v1 `TCP4`: an address is not four decimal octets in 0..=255.
    #[error("v1: the {field} is not an IPv4 address")]
    V1BadIpv4 {
        /// The offending field.
        field: V1Field,
    },
    /// v1 `TCP6`: an address is not an IPv6 address in the usual text form.
    #[error("v1: the {field} is not an IPv6 address")]
    V1BadIpv6 {
        /// The offending field.
        field: V1Field,
    },
    /// v1: an address of the other family than the declared `TCP4`/`TCP6`.
    #[error("v1: the {field} is not of the family the protocol declares")]
    V1FamilyMismatch {
        /// The offending field.
        field: V1Field,
    },
    /// v1: a leading zero in an IPv4 octet or a port, forbidden to avoid octal confusion.
    #[error("v1: a leading zero in the {field}")]
    V1LeadingZero {
        /// The offending field.
        field: V1Field,
    },
    /// v1: a port is not a decimal number.
    #[error("v1: the {field} is not a decimal number")]
    V1BadPort {
        /// The offending field.
        field: V1Field,
    },
    /// v1: a port is above 65535.
    #[error("v1: the {field} is above 65535")]
    V1PortOutOfRange {
        /// The offending field.
        field: V1Field,
    },
    /// v1: a CR not followed by LF.
    #[error("v1: a CR not followed by LF")]
    V1LoneCr,
    /// v1: an LF not preceded by CR.
    #[error("v1: an LF not preceded by CR")]
    V1LoneLf,
    /// v1: no CRLF within the first 107 bytes.
    #[error("v1: no CRLF within the first 107 bytes")]
    V1NoCrlf,

    /// v2: the 12-byte signature diverges.
    #[error("v2: bad signature")]
    V2BadSignature,
    /// v2: the version nibble is not 2.
    #[error("v2: version {version:#x}, expected 2")]
    V2BadVersion {
        /// The version nibble received.
        version: u8,
    },
    /// v2: the command nibble is neither LOCAL (0) nor PROXY (1).
    #[error("v2: command {command:#x} is neither LOCAL nor PROXY")]
    V2BadCommand {
        /// The command nibble received.
        command: u8,
    },
    /// v2: the address family nibble is above 3 (UNIX).
    #[error("v2: address family {family:#x} is not UNSPEC, INET, INET6 or UNIX")]
    V2BadFamily {
        /// The family nibble received.
        family: u8,
    },
    /// v2: the transport nibble is above 2 (DGRAM).
    #[error("v2: transport {transport:#x} is not UNSPEC, STREAM or DGRAM")]
    V2BadTransport {
        /// The transport nibble received.
        transport: u8,
    },
    /// v2: the header is longer than this receiver accepts (a local limit, not a protocol rule).
    #[error("v2: header of {len} bytes exceeds the limit of {max}")]
    V2TooLong {
        /// The header's total length, fixed part included.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// v2 PROXY: the length is shorter than the declared family's address block.
    #[error("v2: length {len} is shorter than the {needed}-byte address block")]
    V2ShortAddressBlock {
        /// The length field.
        len: u16,
        /// The address block of the declared family.
        needed: usize,
    },
    /// v2: a TLV's type and length, or its value, runs past the end of the header.
    #[error("v2: the TLV at offset {offset} runs past the end of the header")]
    V2TlvOverrun {
        /// The TLV's offset from the start of the header.
        offset: usize,
    },
    /// v2: a single-valued TLV (ALPN, AUTHORITY, CRC32C, UNIQUE_ID, SSL, NETNS) appears twice.
    #[error("v2: TLV type {kind:#04x} appears twice")]
    V2DuplicateTlv {
        /// The repeated type.
        kind: u8,
    },
    /// v2: the CRC32C TLV value is not 4 bytes.
    #[error("v2: CRC32C TLV of {len} bytes, expected 4")]
    V2CrcBadLength {
        /// The value length received.
        len: usize,
    },
    /// v2: the CRC32C TLV does not match the header.
    #[error("v2: CRC32C {received:#010x} does not match the header's {computed:#010x}")]
    V2CrcMismatch {
        /// The checksum the header carries.
        received: u32,
        /// The checksum of the header as received, with the CRC32C field zeroed.
        computed: u32,
    },
    /// v2: the AUTHORITY TLV is longer than 255 bytes.
    #[error("v2: AUTHORITY of {len} bytes exceeds 255")]
    V2AuthorityTooLong {
        /// The value length received.
        len: usize,
    },
    /// v2: the AUTHORITY TLV is not UTF-8.
    #[error("v2: AUTHORITY is not UTF-8")]
    V2AuthorityNotUtf8,
    /// v2: the UNIQUE_ID TLV is longer than 128 bytes.
    #[error("v2: UNIQUE_ID of {len} bytes exceeds 128")]
    V2UniqueIdTooLong {
        /// The value length received.
        len: usize,
    },
    /// v2: the SSL TLV is shorter than its 5-byte client and verify fields.
    #[error("v2: SSL TLV of {len} bytes, shorter than its client and verify fields")]
    V2SslTooShort {
        /// The value length received.
        len: usize,
    },
    /// v2: an SSL sub-TLV runs past the end of the SSL TLV.
    #[error("v2: an SSL sub-TLV runs past the end of the SSL TLV")]
    V2SslSubTlvOverrun,
    /// v2: an SSL sub-TLV (VERSION, CN, CIPHER, SIG_ALG, KEY_ALG) appears twice.
    #[error("v2: SSL sub-TLV type {kind:#04x} appears twice")]
    V2SslDuplicateSubTlv {
        /// The repeated sub-type.
        kind: u8,
    },
    /// v2: an SSL sub-TLV string (VERSION, CN, CIPHER, SIG_ALG, KEY_ALG) is not UTF-8.
    #[error("v2: SSL sub-TLV type {kind:#04x} is not UTF-8")]
    V2SslNotUtf8 {
        /// The sub-type.
        kind: u8,
    },
}

impl ParseError {
    /// A short, stable kebab-case code for logs and metrics, e.g. `v2-crc-mismatch`.
    pub const fn reason(&self) -> &'static str {
        match self {
            ParseError::BadSignature { .. } => "bad-signature",
            ParseError::V1BadSignature => "v1-bad-signature",
            ParseError::V1BadProtocol => "v1-bad-protocol",
            ParseError::V1ExtraSpace => "v1-extra-space",
            ParseError::V1MissingField { .. } => "v1-missing-field",
            ParseError::V1TrailingData => "v1-trailing-data",
            ParseError::V1BadIpv4 { .. } => "v1-bad-ipv4",
            ParseError::V1BadIpv6 { .. } => "v1-bad-ipv6",
            ParseError::V1FamilyMismatch { .. } => "v1-family-mismatch",
            ParseError::V1LeadingZero { .. } => "v1-leading-zero",
            ParseError::V1BadPort { .. } => "v1-bad-port",
            ParseError::V1PortOutOfRange { .. } => "v1-port-out-of-range",
            ParseError::V1LoneCr => "v1-lone-cr",
            ParseError::V1LoneLf => "v1-lone-lf",
            ParseError::V1NoCrlf => "v1-no-crlf",
            ParseError::V2BadSignature => "v2-bad-signature",
            ParseError::V2BadVersion { .. } => "v2-bad-version",
            ParseError::V2BadCommand { .. } => "v2-bad-command",
            ParseError::V2BadFamily { .. } => "v2-bad-family",
            ParseError::V2BadTransport { .. } => "v2-bad-transport",
            ParseError::V2TooLong { .. } => "v2-too-long",
            ParseError::V2ShortAddressBlock { .. } => "v2-short-address-block",
            ParseError::V2TlvOverrun { .. } => "v2-tlv-overrun",
            ParseError::V2DuplicateTlv { .. } => "v2-duplicate-tlv",
            ParseError::V2CrcBadLength { .. } => "v2-crc-bad-length",
            ParseError::V2CrcMismatch { .. } => "v2-crc-mismatch",
            ParseError::V2AuthorityTooLong { .. } => "v2-authority-too-long",
            ParseError::V2AuthorityNotUtf8 => "v2-authority-not-utf8",
            ParseError::V2UniqueIdTooLong { .. } => "v2-unique-id-too-long",
            ParseError::V2SslTooShort { .. } => "v2-ssl-too-short",
            ParseError::V2SslSubTlvOverrun => "v2-ssl-sub-tlv-overrun",
            ParseError::V2SslDuplicateSubTlv { .. } => "v2-ssl-duplicate-sub-tlv",
            ParseError::V2SslNotUtf8 { .. } => "v2-ssl-not-utf8",
        }
    }

    /// True when the header exceeds this receiver's limit rather than the protocol: the fault
    /// is a local resource limit, not the peer's violation.
    pub const fn is_local_limit(&self) -> bool {
        matches!(self, ParseError::V2TooLong { .. })
    }
}

/// A v1 field, to say which one an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum V1Field {
    /// The layer 3 source address.
    SourceAddress,
    /// The layer 3 destination address.
    DestinationAddress,
    /// The TCP source port.
    SourcePort,
    /// The TCP destination port.
    DestinationPort,
}

impl fmt::Display for V1Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            V1Field::SourceAddress => "source address",
            V1Field::DestinationAddress => "destination address",
            V1Field::SourcePort => "source port",
            V1Field::DestinationPort => "destination port",
        })
    }
}

/// A header could not be built from what the caller asked for: a local mistake (configuration
/// or caller), never the peer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The output slice is shorter than the header.
    #[error("the header needs {needed} bytes, the buffer has {available}")]
    BufferTooSmall {
        /// The header's length.
        needed: usize,
        /// The room in the buffer.
        available: usize,
    },
    /// The AUTHORITY value is longer than 255 bytes.
    #[error("AUTHORITY of {len} bytes exceeds 255")]
    AuthorityTooLong {
        /// The value's length.
        len: usize,
    },
    /// The UNIQUE_ID value is longer than 128 bytes.
    #[error("UNIQUE_ID of {len} bytes exceeds 128")]
    UniqueIdTooLong {
        /// The value's length.
        len: usize,
    },
    /// A UNIX path is longer than the 108-byte `sun_path`.
    #[error("UNIX path of {len} bytes exceeds 108")]
    UnixPathTooLong {
        /// The path's length.
        len: usize,
    },
    /// A UNIX path the receiver would not read back as written: a pathname holding a NUL, or
    /// an abstract name (leading NUL) that is empty or ends with a NUL, which the NUL padding
    /// hides.
    #[error("UNIX path has a NUL that the padding would hide")]
    UnixPathNotRepresentable,
    /// A TLV value is longer than its 16-bit length field can say.
    #[error("TLV type {kind:#04x} of {len} bytes exceeds 65535")]
    TlvTooLong {
        /// The type.
        kind: u8,
        /// The value's length.
        len: usize,
    },
    /// An extra TLV uses a type the builder writes itself from its typed setter (ALPN,
    /// AUTHORITY, CRC32C, UNIQUE_ID, SSL, NETNS), which would duplicate it.
    #[error("TLV type {kind:#04x} must be set through its own builder method")]
    ReservedTlvType {
        /// The type.
        kind: u8,
    },
    /// The header would exceed the 65535 bytes the v2 length field can say.
    #[error("the header's {len} bytes after the fixed part exceed 65535")]
    HeaderTooLong {
        /// The length after the fixed 16 bytes.
        len: usize,
    },
}

impl BuildError {
    /// A short, stable kebab-case code for logs, e.g. `authority-too-long`.
    pub const fn reason(&self) -> &'static str {
        match self {
            BuildError::BufferTooSmall { .. } => "buffer-too-small",
            BuildError::AuthorityTooLong { .. } => "authority-too-long",
            BuildError::UniqueIdTooLong { .. } => "unique-id-too-long",
            BuildError::UnixPathTooLong { .. } => "unix-path-too-long",
            BuildError::UnixPathNotRepresentable => "unix-path-not-representable",
            BuildError::TlvTooLong { .. } => "tlv-too-long",
            BuildError::ReservedTlvType { .. } => "reserved-tlv-type",
            BuildError::HeaderTooLong { .. } => "header-too-long",
        }
    }
}
