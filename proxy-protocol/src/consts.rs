//! Wire constants: signatures, lengths and limits (PROXY spec 2.1 and 2.2).

/// PROXY spec 2.1: every v1 header starts with `PROXY` and exactly one space.
pub const V1_PREFIX: &[u8; 6] = b"PROXY ";

/// PROXY spec 2.1: the longest v1 line a receiver must support, CRLF included (the "worst case"
/// `UNKNOWN` line). A line without CRLF in its first 107 bytes is invalid.
pub const MAX_V1_LEN: usize = 107;

/// PROXY spec 2.1: the shortest v1 line, `PROXY UNKNOWN\r\n`.
pub const MIN_V1_LEN: usize = 15;

/// PROXY spec 2.2: the 12-byte signature that opens every v2 header.
pub const V2_SIGNATURE: [u8; 12] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

/// PROXY spec 2.2: the fixed part of a v2 header (signature, version and command, family and
/// transport, big-endian length). The length field counts the bytes after these 16.
pub const V2_FIXED_LEN: usize = 16;

/// PROXY spec 2.2: the AF_INET address block (two IPv4 addresses, two ports).
pub const INET_BLOCK_LEN: usize = 12;

/// PROXY spec 2.2: the AF_INET6 address block (two IPv6 addresses, two ports).
pub const INET6_BLOCK_LEN: usize = 36;

/// PROXY spec 2.2: the AF_UNIX address block (two NUL-padded paths).
pub const UNIX_BLOCK_LEN: usize = 2 * UNIX_PATH_LEN;

/// PROXY spec 2.2: one AF_UNIX path in the address block, NUL-padded (`sun_path`).
pub const UNIX_PATH_LEN: usize = 108;

/// PROXY spec 2: the smallest TCP segment every host accepts (576 - 40). A sender keeps its
/// header within this size so it arrives in one segment.
pub const RECOMMENDED_MAX_LEN: usize = 536;

/// The largest v2 header the format can express: the fixed part plus a `u16` length.
pub const V2_FORMAT_MAX_LEN: usize = V2_FIXED_LEN + u16::MAX as usize;

/// The largest v2 header [`parse`](crate::parse) accepts, fixed part included.
///
/// The format allows up to [`V2_FORMAT_MAX_LEN`] (65551) bytes, but a receiver that peeks the
/// socket must hold the whole header in its peek buffer, and the kernel must be able to queue it
/// unread: a header larger than the socket receive buffer would never become visible and the
/// connection would stall until its timeout. HAProxy caps the header at its buffer size for the
/// same reason. 4096 bytes is eight times the size senders aim for ([`RECOMMENDED_MAX_LEN`]),
/// room for every registered TLV at its largest (UNIX addresses, a 255-byte AUTHORITY, a 128-byte
/// UNIQUE_ID, an SSL TLV with a long CN and cipher name) plus cloud providers' custom TLVs, and
/// far below any socket receive buffer. A longer header is rejected as soon as its length field
/// is visible ([`ParseError::V2TooLong`](crate::ParseError::V2TooLong)), so the runtime never
/// waits for it. [`parse_with_limit`](crate::parse_with_limit) takes another cap.
pub const MAX_V2_LEN: usize = 4096;

/// The longest AUTHORITY TLV value (a host name, PROXY spec 2.2.2).
pub const MAX_AUTHORITY_LEN: usize = 255;

/// The longest UNIQUE_ID TLV value (PROXY spec 2.2.5).
pub const MAX_UNIQUE_ID_LEN: usize = 128;

/// The length of a TLV's type and length fields, before its value (PROXY spec 2.2).
pub const TLV_HEADER_LEN: usize = 3;

/// The fixed part of the SSL TLV value: client flags (1 byte) and verify (4 bytes), before the
/// sub-TLVs (PROXY spec 2.2.6).
pub const SSL_FIXED_LEN: usize = 5;

/// The length of the CRC32C TLV value (PROXY spec 2.2.3).
pub const CRC32C_LEN: usize = 4;
