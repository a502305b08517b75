//! The v2 binary header (PROXY spec 2.2).
//!
//! ```text
//! offset  0..12  signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
//!        12      version (high nibble, 2) | command (low nibble: 0 LOCAL, 1 PROXY)
//!        13      family (high nibble: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX)
//!                | transport (low nibble: 0 UNSPEC, 1 STREAM, 2 DGRAM)
//!        14..16  len, big-endian: the header is exactly 16 + len bytes
//!        16..    address block of the family (0, 12, 36 or 216 bytes), then TLVs up to 16 + len
//! ```
//!
//! The fixed 16 bytes are checked one by one as they arrive, so a wrong signature, version,
//! command, family or transport, a length above the cap or below the family's address block is
//! rejected without waiting. The address block and the TLVs are only decoded once the whole
//! header is there (the spec: "the receiver must not start to parse an address before the whole
//! address block is received"); their size is bounded by the cap.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::{tlvs, Needed, Parsed};
use crate::consts::{INET6_BLOCK_LEN, INET_BLOCK_LEN, UNIX_BLOCK_LEN, UNIX_PATH_LEN, V2_FIXED_LEN, V2_SIGNATURE};
use crate::error::ParseError;
use crate::header::{Addresses, Command, Header, Transport, Version};
use crate::tlv::Tlvs;

/// Offsets in the fixed part.
const VER_CMD: usize = 12;
const FAM: usize = 13;

/// Parses a v2 header; `buf` starts with `0x0D`.
pub(super) fn parse(buf: &[u8], max_len: usize) -> Result<Parsed<'_>, ParseError> {
    let signature_ok = match buf.split_first_chunk::<12>() {
        Some((signature, _)) => *signature == V2_SIGNATURE,
        None => V2_SIGNATURE.starts_with(buf),
    };
    if !signature_ok {
        return Err(ParseError::V2BadSignature);
    }
    let Some(&ver_cmd) = buf.get(VER_CMD) else {
        return Ok(fixed_part_incomplete(buf));
    };
    let command = command(ver_cmd)?;
    let Some(&fam) = buf.get(FAM) else {
        return Ok(fixed_part_incomplete(buf));
    };
    let family = Family::from_nibble(fam >> 4)?;
    let transport = transport(fam & 0x0F)?;
    let Some((fixed, _)) = buf.split_first_chunk::<V2_FIXED_LEN>() else {
        return Ok(fixed_part_incomplete(buf));
    };
    let len = u16::from_be_bytes([fixed[14], fixed[15]]);
    let total = V2_FIXED_LEN + usize::from(len);
    if total > max_len {
        return Err(ParseError::V2TooLong { len: total, max: max_len });
    }
    // LOCAL ignores the family, its address block included, so only PROXY needs room for it.
    if command == Command::Proxy && usize::from(len) < family.block_len() {
        return Err(ParseError::V2ShortAddressBlock { len, needed: family.block_len() });
    }
    let Some(header) = buf.get(..total) else {
        return Ok(Parsed::Incomplete(Needed::exactly(total - buf.len())));
    };
    let header = match command {
        // PROXY spec 2.2: for LOCAL the receiver "must use the real connection endpoints and
        // discard the protocol block including the family", skipping `len` bytes.
        Command::Local => {
            Header { version: Version::V2, command, transport, addresses: Addresses::None, tlvs: Tlvs::EMPTY }
        }
        Command::Proxy => {
            // The TLVs first: the addresses are then decoded straight into the header.
            let tlvs = tlvs::validate(header, V2_FIXED_LEN + family.block_len())?;
            let addresses = family.addresses(header, len)?;
            Header { version: Version::V2, command, transport, addresses, tlvs }
        }
    };
    Ok(Parsed::Complete(header, total))
}

/// Before the length field, the header needs at least the rest of the fixed part.
fn fixed_part_incomplete(buf: &[u8]) -> Parsed<'static> {
    Parsed::Incomplete(Needed::at_least(V2_FIXED_LEN - buf.len()))
}

/// The 13th byte: version 2 and a LOCAL or PROXY command; anything else is dropped.
fn command(ver_cmd: u8) -> Result<Command, ParseError> {
    match (ver_cmd >> 4, ver_cmd & 0x0F) {
        (2, 0x0) => Ok(Command::Local),
        (2, 0x1) => Ok(Command::Proxy),
        (2, command) => Err(ParseError::V2BadCommand { command }),
        (version, _) => Err(ParseError::V2BadVersion { version }),
    }
}

/// The low nibble of the 14th byte.
fn transport(nibble: u8) -> Result<Transport, ParseError> {
    match nibble {
        0x0 => Ok(Transport::Unspec),
        0x1 => Ok(Transport::Stream),
        0x2 => Ok(Transport::Dgram),
        transport => Err(ParseError::V2BadTransport { transport }),
    }
}

/// The high nibble of the 14th byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Unspec,
    Inet,
    Inet6,
    Unix,
}

impl Family {
    fn from_nibble(nibble: u8) -> Result<Family, ParseError> {
        match nibble {
            0x0 => Ok(Family::Unspec),
            0x1 => Ok(Family::Inet),
            0x2 => Ok(Family::Inet6),
            0x3 => Ok(Family::Unix),
            family => Err(ParseError::V2BadFamily { family }),
        }
    }

    fn block_len(self) -> usize {
        match self {
            Family::Unspec => 0,
            Family::Inet => INET_BLOCK_LEN,
            Family::Inet6 => INET6_BLOCK_LEN,
            Family::Unix => UNIX_BLOCK_LEN,
        }
    }

    /// Decodes the address block that follows the fixed part of a whole header. AF_UNSPEC has
    /// no block (its TLVs start right after the fixed part): the receiver keeps the real
    /// endpoints.
    #[inline(always)]
    fn addresses(self, header: &[u8], len: u16) -> Result<Addresses<'_>, ParseError> {
        let short = ParseError::V2ShortAddressBlock { len, needed: self.block_len() };
        let block = header.get(V2_FIXED_LEN..).ok_or(short)?;
        let addresses = match self {
            Family::Unspec => Addresses::None,
            Family::Inet => {
                let (&[s0, s1, s2, s3, d0, d1, d2, d3, sp0, sp1, dp0, dp1], _) =
                    block.split_first_chunk::<INET_BLOCK_LEN>().ok_or(short)?;
                Addresses::Inet {
                    src: SocketAddrV4::new(Ipv4Addr::new(s0, s1, s2, s3), u16::from_be_bytes([sp0, sp1])),
                    dst: SocketAddrV4::new(Ipv4Addr::new(d0, d1, d2, d3), u16::from_be_bytes([dp0, dp1])),
                }
            }
            Family::Inet6 => {
                let (src, rest) = block.split_first_chunk::<16>().ok_or(short)?;
                let (dst, rest) = rest.split_first_chunk::<16>().ok_or(short)?;
                let (&[sp0, sp1, dp0, dp1], _) = rest.split_first_chunk::<4>().ok_or(short)?;
                Addresses::Inet6 {
                    src: SocketAddrV6::new(Ipv6Addr::from(*src), u16::from_be_bytes([sp0, sp1]), 0, 0),
                    dst: SocketAddrV6::new(Ipv6Addr::from(*dst), u16::from_be_bytes([dp0, dp1]), 0, 0),
                }
            }
            Family::Unix => {
                let (src, rest) = block.split_first_chunk::<UNIX_PATH_LEN>().ok_or(short)?;
                let (dst, _) = rest.split_first_chunk::<UNIX_PATH_LEN>().ok_or(short)?;
                Addresses::Unix { src: unix_path(src), dst: unix_path(dst) }
            }
        };
        Ok(addresses)
    }
}

/// A `sun_path` without its NUL padding. All NULs: no path (an unnamed socket). A leading NUL
/// followed by a name: a Linux abstract name, kept with its leading NUL, trailing NULs dropped.
/// Otherwise a pathname, which ends at its first NUL.
pub(crate) fn unix_path(raw: &[u8]) -> &[u8] {
    match raw.split_first() {
        Some((0, name)) => match name.iter().rposition(|&b| b != 0) {
            Some(last) => &raw[..last + 2],
            None => &[],
        },
        _ => &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())],
    }
}

#[cfg(test)]
mod tests {
    use super::unix_path;

    #[test]
    fn unix_pathname_ends_at_its_first_nul() {
        assert_eq!(unix_path(b"/run/app.sock\0\0\0"), b"/run/app.sock");
        assert_eq!(unix_path(b"/a\0junk\0"), b"/a");
    }

    #[test]
    fn unix_abstract_name_keeps_its_leading_nul() {
        assert_eq!(unix_path(b"\0app\0\0"), b"\0app");
    }

    #[test]
    fn unix_all_nul_is_no_path() {
        assert_eq!(unix_path(&[0; 108]), b"");
    }

    #[test]
    fn unix_path_without_padding_is_whole() {
        assert_eq!(unix_path(&[b'x'; 108]), &[b'x'; 108][..]);
    }
}
