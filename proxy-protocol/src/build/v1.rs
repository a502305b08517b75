//! The v1 line (PROXY spec 2.1): `PROXY TCP4|TCP6 src dst sport dport\r\n` or
//! `PROXY UNKNOWN\r\n`.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use super::Writer;
use crate::consts::MAX_V1_LEN;
use crate::error::BuildError;

/// Builds a v1 header.
///
/// ```
/// use connseq_proxy_protocol::V1Builder;
///
/// let mut buf = [0u8; 107];
/// let len = V1Builder::new("192.168.0.1:56324".parse()?, "192.168.0.11:443".parse()?).write_to(&mut buf)?;
/// assert_eq!(&buf[..len], b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V1Builder {
    addresses: Option<(SocketAddr, SocketAddr)>,
}

impl V1Builder {
    /// `TCP4` when both addresses are IPv4, `TCP6` when both are IPv6, otherwise `UNKNOWN`
    /// (PROXY spec 2.1: the family must be the same on both sides, and `UNKNOWN` is what a
    /// sender uses when it cannot fill the line). IPv6 flow labels and scope ids are not carried.
    pub fn new(src: SocketAddr, dst: SocketAddr) -> Self {
        let same_family = src.is_ipv4() == dst.is_ipv4();
        V1Builder { addresses: same_family.then_some((src, dst)) }
    }

    /// `PROXY UNKNOWN\r\n`: the receiver keeps the connection's real endpoints.
    pub fn unknown() -> Self {
        V1Builder { addresses: None }
    }

    /// The line's length, CRLF included (at most 104 bytes).
    pub fn encoded_len(&self) -> usize {
        self.line().len
    }

    /// Writes the line at the start of `out`; returns its length.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let line = self.line();
        let mut writer = Writer::new(out);
        writer.put(line.as_bytes())?;
        Ok(writer.pos)
    }

    /// Appends the line to `out`; returns its length.
    pub fn append_to(&self, out: &mut Vec<u8>) -> usize {
        let line = self.line();
        out.extend_from_slice(line.as_bytes());
        line.len
    }

    fn line(&self) -> Line {
        let mut line = Line { bytes: [0; MAX_V1_LEN], len: 0 };
        let written = match self.addresses {
            Some((src, dst)) => {
                let protocol = match src.ip() {
                    IpAddr::V4(_) => "TCP4",
                    IpAddr::V6(_) => "TCP6",
                };
                // std prints IPv4 without leading zeros and IPv6 in the RFC 5952 form.
                write!(line, "PROXY {protocol} {} {} {} {}\r\n", src.ip(), dst.ip(), src.port(), dst.port())
            }
            None => line.write_str("PROXY UNKNOWN\r\n"),
        };
        // The longest line, TCP6 with two 39-character addresses and two 5-digit ports, is
        // 104 bytes.
        written.expect("a v1 line fits in 107 bytes");
        line
    }
}

/// A v1 line on the stack.
struct Line {
    bytes: [u8; MAX_V1_LEN],
    len: usize,
}

impl Line {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
