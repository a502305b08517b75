//! The v2 TLV walk (PROXY spec 2.2 to 2.2.8), over a whole header.
//!
//! Every TLV must end within the header; the registered single-valued types are checked, their
//! places recorded for the accessors of [`Tlvs`], and may appear at most once (two AUTHORITY values, say, would leave the receiver to
//! guess which one counts), and the CRC32C, when present, is verified last over the whole
//! header. NOOP, custom, experimental, future and unknown types are skipped.

use crate::consts::{CRC32C_LEN, MAX_AUTHORITY_LEN, MAX_UNIQUE_ID_LEN, SSL_FIXED_LEN, TLV_HEADER_LEN};
use crate::crc::header_crc32c;
use crate::error::ParseError;
use crate::tlv::{
    split_tlv, Registered, Tlvs, PP2_SUBTYPE_SSL_KEY_ALG, PP2_SUBTYPE_SSL_VERSION, PP2_TYPE_AUTHORITY, PP2_TYPE_CRC32C,
    PP2_TYPE_SSL, PP2_TYPE_UNIQUE_ID,
};

/// Validates the TLVs from offset `start` to the end of `header`, the whole v2 header.
#[inline]
pub(super) fn validate(header: &[u8], start: usize) -> Result<Tlvs<'_>, ParseError> {
    let area = header.get(start..).unwrap_or(&[]);
    // Where each registered TLV starts in `area`, plus one; 0 when absent.
    let mut at = [0; Registered::COUNT];
    // The CRC32C received, and where its value is in the header.
    let mut crc = None;
    let mut offset = 0;
    let mut rest = area;
    while !rest.is_empty() {
        let Some((tlv, after)) = split_tlv(rest) else {
            return Err(ParseError::V2TlvOverrun { offset: start + offset });
        };
        let kind = tlv.kind;
        match kind {
            PP2_TYPE_AUTHORITY => {
                if tlv.value.len() > MAX_AUTHORITY_LEN {
                    return Err(ParseError::V2AuthorityTooLong { len: tlv.value.len() });
                }
                std::str::from_utf8(tlv.value).map_err(|_| ParseError::V2AuthorityNotUtf8)?;
            }
            PP2_TYPE_CRC32C => {
                let Ok(&value) = <&[u8; CRC32C_LEN]>::try_from(tlv.value) else {
                    return Err(ParseError::V2CrcBadLength { len: tlv.value.len() });
                };
                crc = Some((u32::from_be_bytes(value), start + offset + TLV_HEADER_LEN));
            }
            PP2_TYPE_UNIQUE_ID if tlv.value.len() > MAX_UNIQUE_ID_LEN => {
                return Err(ParseError::V2UniqueIdTooLong { len: tlv.value.len() });
            }
            PP2_TYPE_SSL => ssl(tlv.value)?,
            // ALPN, NETNS and a UNIQUE_ID within its limit are opaque. NOOP (2.2.4), custom and reserved ranges (2.2.8),
            // unregistered types: "a receiver may choose to skip over and ignore the TLVs it is
            // not interested in".
            _ => {}
        }
        if let Some(slot) = Registered::of(kind) {
            // The length field bounds the header to 16 + 65535 bytes, so a TLV that starts in
            // the area starts at most at 65532 of it.
            let here = u16::try_from(offset + 1).map_err(|_| ParseError::V2TlvOverrun { offset: start + offset })?;
            if std::mem::replace(&mut at[slot as usize], here) != 0 {
                return Err(ParseError::V2DuplicateTlv { kind });
            }
        }
        offset += TLV_HEADER_LEN + tlv.value.len();
        rest = after;
    }
    if let Some((received, value_at)) = crc {
        let computed = header_crc32c(header, value_at);
        if computed != received {
            return Err(ParseError::V2CrcMismatch { received, computed });
        }
    }
    Ok(Tlvs::new(area, at))
}

/// Checks the SSL TLV value: client flags, verify, then sub-TLVs bounded by the SSL TLV, the
/// registered ones UTF-8 and at most once each (2.2.6).
#[inline(never)]
fn ssl(value: &[u8]) -> Result<(), ParseError> {
    let Some((_, mut rest)) = value.split_first_chunk::<SSL_FIXED_LEN>() else {
        return Err(ParseError::V2SslTooShort { len: value.len() });
    };
    // The registered sub-types seen, by `kind - PP2_SUBTYPE_SSL_VERSION`.
    let mut seen = [false; 5];
    while !rest.is_empty() {
        let Some((sub, after)) = split_tlv(rest) else {
            return Err(ParseError::V2SslSubTlvOverrun);
        };
        if (PP2_SUBTYPE_SSL_VERSION..=PP2_SUBTYPE_SSL_KEY_ALG).contains(&sub.kind) {
            std::str::from_utf8(sub.value).map_err(|_| ParseError::V2SslNotUtf8 { kind: sub.kind })?;
            let index = usize::from(sub.kind - PP2_SUBTYPE_SSL_VERSION);
            if std::mem::replace(&mut seen[index], true) {
                return Err(ParseError::V2SslDuplicateSubTlv { kind: sub.kind });
            }
        }
        // Unregistered sub-types are skipped like unknown TLVs.
        rest = after;
    }
    Ok(())
}
