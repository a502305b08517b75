//! The parsed header: version, command, transport, addresses and TLVs.

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::tlv::{Ssl, Tlvs};

/// A valid PROXY header, borrowing from the bytes it was parsed from.
///
/// What the receiver does with it (PROXY spec 2.1, 2.2):
/// - [`Command::Local`], or [`Addresses::None`]: keep the connection's real endpoints.
/// - [`Command::Proxy`] with addresses: the connection is on behalf of `addresses`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The wire format the header came in.
    pub version: Version,
    /// LOCAL (the proxy's own connection, e.g. a health check) or PROXY (relayed).
    pub command: Command,
    /// The relayed connection's socket type; [`Transport::Unspec`] for v1 `UNKNOWN`.
    pub transport: Transport,
    /// The relayed connection's endpoints, when the header carries them.
    pub addresses: Addresses<'a>,
    /// The v2 TLVs, validated; always empty for v1 and for LOCAL.
    pub tlvs: Tlvs<'a>,
}

impl<'a> Header<'a> {
    /// The ALPN TLV: the protocol negotiated on the client connection (PROXY spec 2.2.1).
    pub fn alpn(&self) -> Option<&'a [u8]> {
        self.tlvs.alpn()
    }

    /// The AUTHORITY TLV: the host name the client asked for, usually its TLS SNI (PROXY spec
    /// 2.2.2). Validated as UTF-8 of at most 255 bytes.
    pub fn authority(&self) -> Option<&'a str> {
        self.tlvs.authority()
    }

    /// The UNIQUE_ID TLV: the upstream proxy's opaque connection id, at most 128 bytes (PROXY
    /// spec 2.2.5).
    pub fn unique_id(&self) -> Option<&'a [u8]> {
        self.tlvs.unique_id()
    }

    /// The SSL TLV: how the client connected to the upstream proxy (PROXY spec 2.2.6).
    pub fn ssl(&self) -> Option<Ssl<'a>> {
        self.tlvs.ssl()
    }

    /// The NETNS TLV: the network namespace name (PROXY spec 2.2.7).
    pub fn netns(&self) -> Option<&'a [u8]> {
        self.tlvs.netns()
    }
}

/// The wire format of a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// The text line (PROXY spec 2.1).
    V1,
    /// The binary format (PROXY spec 2.2).
    V2,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        })
    }
}

/// The v2 command (the low nibble of the 13th byte, PROXY spec 2.2). A v1 header is always
/// [`Command::Proxy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// 0x0: the proxy opened this connection itself (health checks); use the real endpoints.
    Local,
    /// 0x1: the connection is relayed on behalf of the addresses in the header.
    Proxy,
}

impl Command {
    /// The command nibble on the wire.
    pub const fn nibble(self) -> u8 {
        match self {
            Command::Local => 0x0,
            Command::Proxy => 0x1,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Command::Local => "LOCAL",
            Command::Proxy => "PROXY",
        })
    }
}

/// The relayed connection's socket type (the low nibble of the 14th byte, PROXY spec 2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// 0x0: unknown or unsupported; also v1 `UNKNOWN`.
    Unspec,
    /// 0x1: `SOCK_STREAM` (TCP, UNIX stream); also v1 `TCP4` and `TCP6`.
    Stream,
    /// 0x2: `SOCK_DGRAM` (UDP, UNIX datagram).
    Dgram,
}

impl Transport {
    /// The transport nibble on the wire.
    pub const fn nibble(self) -> u8 {
        match self {
            Transport::Unspec => 0x0,
            Transport::Stream => 0x1,
            Transport::Dgram => 0x2,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Unspec => "UNSPEC",
            Transport::Stream => "STREAM",
            Transport::Dgram => "DGRAM",
        })
    }
}

/// The relayed connection's endpoints, by address family (the high nibble of the 14th byte,
/// PROXY spec 2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Addresses<'a> {
    /// No addresses: v1 `UNKNOWN`, v2 AF_UNSPEC, or a LOCAL command. The receiver keeps the
    /// connection's real endpoints.
    None,
    /// AF_INET (v1 `TCP4`): IPv4 addresses and ports.
    Inet {
        /// The client side.
        src: SocketAddrV4,
        /// The side the client connected to.
        dst: SocketAddrV4,
    },
    /// AF_INET6 (v1 `TCP6`): IPv6 addresses and ports.
    Inet6 {
        /// The client side.
        src: SocketAddrV6,
        /// The side the client connected to.
        dst: SocketAddrV6,
    },
    /// AF_UNIX: socket paths (v2 only). Each is the 108-byte `sun_path` without its NUL
    /// padding: a pathname ends at its first NUL; an abstract name (leading NUL, Linux) keeps
    /// its leading NUL and loses only the trailing NULs.
    Unix {
        /// The client side.
        src: &'a [u8],
        /// The side the client connected to.
        dst: &'a [u8],
    },
}

impl Addresses<'_> {
    /// The client address, for the IP families.
    pub fn source(&self) -> Option<SocketAddr> {
        match self {
            Addresses::Inet { src, .. } => Some(SocketAddr::V4(*src)),
            Addresses::Inet6 { src, .. } => Some(SocketAddr::V6(*src)),
            Addresses::None | Addresses::Unix { .. } => None,
        }
    }

    /// The address the client connected to, for the IP families.
    pub fn destination(&self) -> Option<SocketAddr> {
        match self {
            Addresses::Inet { dst, .. } => Some(SocketAddr::V4(*dst)),
            Addresses::Inet6 { dst, .. } => Some(SocketAddr::V6(*dst)),
            Addresses::None | Addresses::Unix { .. } => None,
        }
    }
}
