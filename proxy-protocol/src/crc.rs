//! The CRC32C TLV's checksum (PROXY spec 2.2.3): RFC 4960 appendix B CRC32c of the whole
//! header, computed with the four bytes of the CRC32C value taken as zeros.

use crate::consts::CRC32C_LEN;

/// The CRC32c of `header` with the `CRC32C_LEN` bytes at `value_at` replaced by zeros, without
/// copying the header. Bytes of the field past the end of `header` count as absent.
pub(crate) fn header_crc32c(header: &[u8], value_at: usize) -> u32 {
    let before = header.get(..value_at).unwrap_or(header);
    let after = header.get(value_at + CRC32C_LEN..).unwrap_or(&[]);
    let crc = crc32c::crc32c(before);
    let crc = crc32c::crc32c_append(crc, &[0; CRC32C_LEN]);
    crc32c::crc32c_append(crc, after)
}

#[cfg(test)]
mod tests {
    use super::header_crc32c;

    #[test]
    fn crc32c_matches_the_rfc_3720_check_value() {
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(crc32c::crc32c(&[0; 32]), 0x8A91_36AA);
    }

    #[test]
    fn the_value_field_counts_as_zeros() {
        let mut header = *b"abcdefgh";
        let expected = {
            let mut zeroed = header;
            zeroed[2..6].copy_from_slice(&[0; 4]);
            crc32c::crc32c(&zeroed)
        };
        header[2..6].copy_from_slice(&[0xFF; 4]);
        assert_eq!(header_crc32c(&header, 2), expected);
    }
}
