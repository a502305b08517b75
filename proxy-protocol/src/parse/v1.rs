//! The v1 text line (PROXY spec 2.1), validated byte by byte as it arrives.
//!
//! ```text
//! "PROXY" SP ( "TCP4" SP ipv4 SP ipv4 SP port SP port
//!            | "TCP6" SP ipv6 SP ipv6 SP port SP port
//!            | "UNKNOWN" [ SP <any bytes but CR and LF> ] ) CRLF      at most 107 bytes
//! ```
//!
//! The spec asks the receiver to wait for the CRLF before decoding the addresses, and to abort
//! "as soon as possible" on anything that does not match. Both hold here: the line is scanned
//! from its first byte on every call, a byte that no continuation can make valid is rejected at
//! once, and the addresses are only produced once the whole line, CRLF included, is there.

use std::net::{SocketAddrV4, SocketAddrV6};

use super::v1_fields::{self, FieldCheck};
use super::{Needed, Parsed};
use crate::consts::{MAX_V1_LEN, MIN_V1_LEN, V1_PREFIX};
use crate::error::{ParseError, V1Field};
use crate::header::{Addresses, Command, Header, Transport, Version};
use crate::tlv::Tlvs;

const SP: u8 = b' ';
const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// The protocol names (PROXY spec 2.1).
const TCP4: &[u8] = b"TCP4";
const TCP6: &[u8] = b"TCP6";
const UNKNOWN: &[u8] = b"UNKNOWN";

/// Parses a v1 line; `buf` starts with `P`.
pub(super) fn parse(buf: &[u8]) -> Result<Parsed<'_>, ParseError> {
    let mut line = Line::new(buf);
    match line.header() {
        Ok(header) => Ok(Parsed::Complete(header, line.pos)),
        Err(Stop::Incomplete) => Ok(Parsed::Incomplete(Needed::at_least(MIN_V1_LEN.saturating_sub(buf.len())))),
        Err(Stop::Invalid(error)) => Err(error),
    }
}

/// Why the scan stopped before a whole line.
enum Stop {
    /// The bytes so far are a valid prefix.
    Incomplete,
    /// The bytes so far can never become a valid line.
    Invalid(ParseError),
}

impl From<ParseError> for Stop {
    fn from(error: ParseError) -> Self {
        Stop::Invalid(error)
    }
}

/// A cursor over the first 107 bytes of the input.
struct Line<'a> {
    /// At most [`MAX_V1_LEN`] bytes: the line must end within them.
    bytes: &'a [u8],
    /// True when the input has [`MAX_V1_LEN`] bytes or more, so running out of `bytes` means
    /// there is no CRLF within the limit rather than that more bytes may come.
    at_limit: bool,
    pos: usize,
}

impl<'a> Line<'a> {
    fn new(buf: &'a [u8]) -> Self {
        let len = buf.len().min(MAX_V1_LEN);
        Line { bytes: &buf[..len], at_limit: buf.len() >= MAX_V1_LEN, pos: 0 }
    }

    fn header(&mut self) -> Result<Header<'static>, Stop> {
        self.prefix()?;
        let protocol = self.protocol()?;
        let (transport, addresses) = match protocol {
            Protocol::Tcp4 => {
                let (src, dst, sport, dport) = self.tcp_fields(v1_fields::ipv4)?;
                (
                    Transport::Stream,
                    Addresses::Inet { src: SocketAddrV4::new(src, sport), dst: SocketAddrV4::new(dst, dport) },
                )
            }
            Protocol::Tcp6 => {
                let (src, dst, sport, dport) = self.tcp_fields(v1_fields::ipv6)?;
                let src = SocketAddrV6::new(src, sport, 0, 0);
                let dst = SocketAddrV6::new(dst, dport, 0, 0);
                (Transport::Stream, Addresses::Inet6 { src, dst })
            }
            Protocol::Unknown => {
                self.unknown_rest()?;
                (Transport::Unspec, Addresses::None)
            }
        };
        Ok(Header { version: Version::V1, command: Command::Proxy, transport, addresses, tlvs: Tlvs::EMPTY })
    }

    /// `PROXY` and one space.
    fn prefix(&mut self) -> Result<(), Stop> {
        for &expected in V1_PREFIX {
            let byte = self.next()?;
            if byte != expected {
                return Err(ParseError::V1BadSignature.into());
            }
        }
        Ok(())
    }

    /// `TCP4`, `TCP6` or `UNKNOWN`, checked letter by letter.
    fn protocol(&mut self) -> Result<Protocol, Stop> {
        let (name, complete) = self.field();
        if name.is_empty() {
            return Err(match self.peek()? {
                SP => ParseError::V1ExtraSpace,
                _ => ParseError::V1BadProtocol,
            }
            .into());
        }
        if !complete {
            let viable = [TCP4, TCP6, UNKNOWN].iter().any(|known| known.starts_with(name));
            return Err(if viable { self.more() } else { ParseError::V1BadProtocol.into() });
        }
        match name {
            TCP4 => Ok(Protocol::Tcp4),
            TCP6 => Ok(Protocol::Tcp6),
            UNKNOWN => Ok(Protocol::Unknown),
            _ => Err(ParseError::V1BadProtocol.into()),
        }
    }

    /// SP src SP dst SP sport SP dport CRLF, for `TCP4` and `TCP6`.
    fn tcp_fields<A>(&mut self, address: FieldCheck<A>) -> Result<(A, A, u16, u16), Stop> {
        self.separator(V1Field::SourceAddress)?;
        let src = self.value(V1Field::SourceAddress, address)?;
        self.separator(V1Field::DestinationAddress)?;
        let dst = self.value(V1Field::DestinationAddress, address)?;
        self.separator(V1Field::SourcePort)?;
        let sport = self.value(V1Field::SourcePort, v1_fields::port)?;
        self.separator(V1Field::DestinationPort)?;
        let dport = self.value(V1Field::DestinationPort, v1_fields::port)?;
        match self.peek()? {
            SP => Err(ParseError::V1TrailingData.into()),
            _ => self.crlf().map(|()| (src, dst, sport, dport)),
        }
    }

    /// After `UNKNOWN`: CRLF, or one space and anything up to CRLF, which the receiver ignores.
    fn unknown_rest(&mut self) -> Result<(), Stop> {
        if self.peek()? == SP {
            self.pos += 1;
            while !matches!(self.peek()?, CR | LF) {
                self.pos += 1;
            }
        }
        self.crlf()
    }

    /// Exactly one space before `next`. A CR there means the line ends early; an LF there is
    /// never valid.
    fn separator(&mut self, next: V1Field) -> Result<(), Stop> {
        match self.next()? {
            SP => {}
            CR => return Err(ParseError::V1MissingField { field: next }.into()),
            LF => return Err(ParseError::V1LoneLf.into()),
            // A field only ends at SP, CR or LF.
            _ => return Err(ParseError::V1TrailingData.into()),
        }
        match self.peek() {
            Ok(SP) => Err(ParseError::V1ExtraSpace.into()),
            Ok(CR) => Err(ParseError::V1MissingField { field: next }.into()),
            Ok(LF) => Err(ParseError::V1LoneLf.into()),
            Ok(_) | Err(Stop::Incomplete) => Ok(()),
            Err(stop @ Stop::Invalid(_)) => Err(stop),
        }
    }

    /// One address or port, checked as far as it goes.
    fn value<T>(&mut self, field: V1Field, check: FieldCheck<T>) -> Result<T, Stop> {
        let (bytes, complete) = self.field();
        match check(bytes, complete, field)? {
            Some(value) => Ok(value),
            None => Err(self.more()),
        }
    }

    /// CRLF: a CR must be followed by LF, an LF must follow a CR.
    fn crlf(&mut self) -> Result<(), Stop> {
        match self.next()? {
            CR => {}
            LF => return Err(ParseError::V1LoneLf.into()),
            _ => return Err(ParseError::V1TrailingData.into()),
        }
        match self.next()? {
            LF => Ok(()),
            _ => Err(ParseError::V1LoneCr.into()),
        }
    }

    /// The bytes up to the next SP, CR or LF, and whether one was found (the field is complete)
    /// rather than the end of the input.
    fn field(&mut self) -> (&'a [u8], bool) {
        let rest = &self.bytes[self.pos..];
        let len = rest.iter().position(|&b| matches!(b, SP | CR | LF)).unwrap_or(rest.len());
        self.pos += len;
        (&rest[..len], len < rest.len())
    }

    fn peek(&self) -> Result<u8, Stop> {
        match self.bytes.get(self.pos) {
            Some(&byte) => Ok(byte),
            None => Err(self.more()),
        }
    }

    fn next(&mut self) -> Result<u8, Stop> {
        let byte = self.peek()?;
        self.pos += 1;
        Ok(byte)
    }

    /// The line needs a byte past the end of the input: wait for it, unless the 107-byte limit
    /// is reached.
    fn more(&self) -> Stop {
        if self.at_limit {
            Stop::Invalid(ParseError::V1NoCrlf)
        } else {
            Stop::Incomplete
        }
    }
}

/// The v1 protocol names.
#[derive(Clone, Copy)]
enum Protocol {
    Tcp4,
    Tcp6,
    Unknown,
}
