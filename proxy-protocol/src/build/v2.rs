//! The v2 binary header (PROXY spec 2.2) with its TLVs.

use std::net::{SocketAddr, SocketAddrV6};

use super::{append_with, Writer};
use crate::consts::{
    CRC32C_LEN, MAX_AUTHORITY_LEN, MAX_UNIQUE_ID_LEN, SSL_FIXED_LEN, TLV_HEADER_LEN, UNIX_PATH_LEN, V2_FIXED_LEN,
    V2_SIGNATURE,
};
use crate::crc::header_crc32c;
use crate::error::BuildError;
use crate::header::{Addresses, Command, Transport};
use crate::tlv::{
    SslClientFlags, Tlv, PP2_SUBTYPE_SSL_CIPHER, PP2_SUBTYPE_SSL_CN, PP2_SUBTYPE_SSL_KEY_ALG, PP2_SUBTYPE_SSL_SIG_ALG,
    PP2_SUBTYPE_SSL_VERSION, PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_CRC32C, PP2_TYPE_NETNS, PP2_TYPE_SSL,
    PP2_TYPE_UNIQUE_ID,
};

/// Builds a v2 header.
///
/// - [`V2Builder::proxy`]: PROXY over TCP with the client's and the listener's addresses.
///   Both IPv4: AF_INET. Otherwise AF_INET6, an IPv4 side written as its IPv4-mapped IPv6
///   address (`::ffff:a.b.c.d`), as HAProxy does: the receiver still learns both endpoints,
///   which LOCAL or AF_UNSPEC would throw away.
/// - [`V2Builder::local`]: LOCAL, family and transport UNSPEC, no address block: the proxy's own
///   connections (health checks). Its length is 0 unless TLVs are added.
/// - [`V2Builder::with_addresses`]: PROXY with any [`Addresses`], AF_UNIX and AF_UNSPEC
///   included.
///
/// The TLVs are written in this order: CRC32C, ALPN, AUTHORITY, UNIQUE_ID, SSL, NETNS, then the
/// extra ones; the CRC32C is computed last, over the whole header.
///
/// Size: the fixed part and an AF_INET6 block take 52 bytes; with a CRC32C, an ALPN, an SSL TLV
/// with version and a usual CN, a host name and a unique id, a header stays well within the 536
/// bytes senders aim for ([`RECOMMENDED_MAX_LEN`](crate::RECOMMENDED_MAX_LEN)). Only values near
/// their maxima (a 255-byte AUTHORITY with a 128-byte UNIQUE_ID and long SSL strings) or large
/// extra TLVs go past it; the builder then still writes the header (up to the 65535 bytes the
/// format allows), and [`V2Builder::encoded_len`] tells the caller beforehand. Receivers cap the
/// header too: this crate's parser at [`MAX_V2_LEN`](crate::MAX_V2_LEN).
///
/// ```
/// use connseq_proxy_protocol::{parse, Parsed, V2Builder};
///
/// let mut buf = [0u8; 536];
/// let len = V2Builder::proxy("127.0.0.1:42".parse()?, "127.0.0.1:1337".parse()?)
///     .authority("example.com")
///     .crc32c()
///     .write_to(&mut buf)?;
/// let Ok(Parsed::Complete(header, consumed)) = parse(&buf[..len]) else { panic!() };
/// assert_eq!((header.authority(), consumed), (Some("example.com"), len));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V2Builder<'a> {
    command: Command,
    transport: Transport,
    addresses: Addresses<'a>,
    crc32c: bool,
    alpn: Option<&'a [u8]>,
    authority: Option<&'a str>,
    unique_id: Option<&'a [u8]>,
    ssl: Option<SslParams<'a>>,
    netns: Option<&'a [u8]>,
    extra: &'a [Tlv<'a>],
}

/// What the SSL TLV says about the client's TLS connection (PROXY spec 2.2.6). Each string set
/// becomes its sub-TLV.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SslParams<'a> {
    /// The `client` bit field.
    pub client: SslClientFlags,
    /// Zero when the client presented a certificate and it verified.
    pub verify: u32,
    /// `PP2_SUBTYPE_SSL_VERSION`, e.g. `TLSv1.3`.
    pub version: Option<&'a str>,
    /// `PP2_SUBTYPE_SSL_CN`: the client certificate's Common Name.
    pub cn: Option<&'a str>,
    /// `PP2_SUBTYPE_SSL_CIPHER`.
    pub cipher: Option<&'a str>,
    /// `PP2_SUBTYPE_SSL_SIG_ALG`.
    pub sig_alg: Option<&'a str>,
    /// `PP2_SUBTYPE_SSL_KEY_ALG`.
    pub key_alg: Option<&'a str>,
}

impl SslParams<'_> {
    fn sub_tlvs(&self) -> [(u8, Option<&str>); 5] {
        [
            (PP2_SUBTYPE_SSL_VERSION, self.version),
            (PP2_SUBTYPE_SSL_CN, self.cn),
            (PP2_SUBTYPE_SSL_CIPHER, self.cipher),
            (PP2_SUBTYPE_SSL_SIG_ALG, self.sig_alg),
            (PP2_SUBTYPE_SSL_KEY_ALG, self.key_alg),
        ]
    }

    /// The SSL TLV value's length.
    fn value_len(&self) -> usize {
        let sub_tlvs: usize = self.sub_tlvs().iter().filter_map(|(_, s)| s.map(|s| TLV_HEADER_LEN + s.len())).sum();
        SSL_FIXED_LEN + sub_tlvs
    }
}

impl<'a> V2Builder<'a> {
    /// PROXY, STREAM, with the client's address `src` and the address it connected to `dst`.
    pub fn proxy(src: SocketAddr, dst: SocketAddr) -> Self {
        let addresses = match (src, dst) {
            (SocketAddr::V4(src), SocketAddr::V4(dst)) => Addresses::Inet { src, dst },
            (src, dst) => Addresses::Inet6 { src: ipv6(src), dst: ipv6(dst) },
        };
        Self::with_addresses(addresses)
    }

    /// LOCAL, family and transport UNSPEC, length 0: the receiver uses the connection's real
    /// endpoints. TLVs added to it are written (HAProxy sends its CRC32C or UNIQUE_ID on health
    /// checks too), though a receiver such as this crate's parser discards them with the rest
    /// of the protocol block.
    pub fn local() -> Self {
        V2Builder { command: Command::Local, ..Self::with_addresses(Addresses::None) }
    }

    /// PROXY with these addresses; the transport is STREAM, UNSPEC for [`Addresses::None`].
    pub fn with_addresses(addresses: Addresses<'a>) -> Self {
        let transport = match addresses {
            Addresses::None => Transport::Unspec,
            Addresses::Inet { .. } | Addresses::Inet6 { .. } | Addresses::Unix { .. } => Transport::Stream,
        };
        V2Builder {
            command: Command::Proxy,
            transport,
            addresses,
            crc32c: false,
            alpn: None,
            authority: None,
            unique_id: None,
            ssl: None,
            netns: None,
            extra: &[],
        }
    }

    /// Sets the transport nibble (DGRAM for UDP).
    #[must_use]
    pub fn transport(self, transport: Transport) -> Self {
        V2Builder { transport, ..self }
    }

    /// Adds a CRC32C TLV, computed over the whole header once everything else is written.
    #[must_use]
    pub fn crc32c(self) -> Self {
        V2Builder { crc32c: true, ..self }
    }

    /// Adds an ALPN TLV.
    #[must_use]
    pub fn alpn(self, alpn: &'a [u8]) -> Self {
        V2Builder { alpn: Some(alpn), ..self }
    }

    /// Adds an AUTHORITY TLV (at most 255 bytes, else [`BuildError::AuthorityTooLong`]).
    #[must_use]
    pub fn authority(self, authority: &'a str) -> Self {
        V2Builder { authority: Some(authority), ..self }
    }

    /// Adds a UNIQUE_ID TLV (at most 128 bytes, else [`BuildError::UniqueIdTooLong`]).
    #[must_use]
    pub fn unique_id(self, unique_id: &'a [u8]) -> Self {
        V2Builder { unique_id: Some(unique_id), ..self }
    }

    /// Adds an SSL TLV.
    #[must_use]
    pub fn ssl(self, ssl: SslParams<'a>) -> Self {
        V2Builder { ssl: Some(ssl), ..self }
    }

    /// Adds a NETNS TLV.
    #[must_use]
    pub fn netns(self, netns: &'a [u8]) -> Self {
        V2Builder { netns: Some(netns), ..self }
    }

    /// Adds these TLVs after the others, as they are: NOOP padding, custom types. A type that
    /// has its own method is refused ([`BuildError::ReservedTlvType`]).
    #[must_use]
    pub fn tlvs(self, extra: &'a [Tlv<'a>]) -> Self {
        V2Builder { extra, ..self }
    }

    /// The header's length, fixed part included, after checking every limit.
    pub fn encoded_len(&self) -> Result<usize, BuildError> {
        let mut len = V2_FIXED_LEN + self.block_len()?;
        if self.crc32c {
            len += TLV_HEADER_LEN + CRC32C_LEN;
        }
        if let Some(alpn) = self.alpn {
            len += tlv_len(PP2_TYPE_ALPN, alpn.len())?;
        }
        if let Some(authority) = self.authority {
            if authority.len() > MAX_AUTHORITY_LEN {
                return Err(BuildError::AuthorityTooLong { len: authority.len() });
            }
            len += tlv_len(PP2_TYPE_AUTHORITY, authority.len())?;
        }
        if let Some(unique_id) = self.unique_id {
            if unique_id.len() > MAX_UNIQUE_ID_LEN {
                return Err(BuildError::UniqueIdTooLong { len: unique_id.len() });
            }
            len += tlv_len(PP2_TYPE_UNIQUE_ID, unique_id.len())?;
        }
        if let Some(ssl) = &self.ssl {
            for (kind, value) in ssl.sub_tlvs() {
                if let Some(value) = value {
                    tlv_len(kind, value.len())?;
                }
            }
            len += tlv_len(PP2_TYPE_SSL, ssl.value_len())?;
        }
        if let Some(netns) = self.netns {
            len += tlv_len(PP2_TYPE_NETNS, netns.len())?;
        }
        for tlv in self.extra {
            if matches!(
                tlv.kind,
                PP2_TYPE_ALPN
                    | PP2_TYPE_AUTHORITY
                    | PP2_TYPE_CRC32C
                    | PP2_TYPE_UNIQUE_ID
                    | PP2_TYPE_SSL
                    | PP2_TYPE_NETNS
            ) {
                return Err(BuildError::ReservedTlvType { kind: tlv.kind });
            }
            len += tlv_len(tlv.kind, tlv.value.len())?;
        }
        if len - V2_FIXED_LEN > usize::from(u16::MAX) {
            return Err(BuildError::HeaderTooLong { len: len - V2_FIXED_LEN });
        }
        Ok(len)
    }

    /// Writes the header at the start of `out`; returns its length.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let len = self.encoded_len()?;
        let available = out.len();
        let header = out.get_mut(..len).ok_or(BuildError::BufferTooSmall { needed: len, available })?;
        let crc_at = self.write_unchecked(header, len)?;
        if let Some(value_at) = crc_at {
            let crc = header_crc32c(header, value_at);
            let mut writer = Writer { out: header, pos: value_at };
            writer.put(&crc.to_be_bytes())?;
        }
        Ok(len)
    }

    /// Appends the header to `out`; returns its length. On error `out` is unchanged.
    pub fn append_to(&self, out: &mut Vec<u8>) -> Result<usize, BuildError> {
        let len = self.encoded_len()?;
        append_with(out, len, |room| self.write_to(room))
    }

    /// Writes every field into `header` (exactly `len` bytes, limits already checked), the
    /// CRC32C value as zeros; returns where that value is.
    fn write_unchecked(&self, header: &mut [u8], len: usize) -> Result<Option<usize>, BuildError> {
        let mut w = Writer::new(header);
        w.put(&V2_SIGNATURE)?;
        w.put_u8(0x20 | self.command.nibble())?;
        w.put_u8(family_nibble(&self.addresses) << 4 | self.transport.nibble())?;
        w.put_u16(u16_len(len - V2_FIXED_LEN)?)?;
        match self.addresses {
            Addresses::None => {}
            Addresses::Inet { src, dst } => {
                w.put(&src.ip().octets())?;
                w.put(&dst.ip().octets())?;
                w.put_u16(src.port())?;
                w.put_u16(dst.port())?;
            }
            Addresses::Inet6 { src, dst } => {
                w.put(&src.ip().octets())?;
                w.put(&dst.ip().octets())?;
                w.put_u16(src.port())?;
                w.put_u16(dst.port())?;
            }
            Addresses::Unix { src, dst } => {
                for path in [src, dst] {
                    w.put(path)?;
                    w.put(&[0; UNIX_PATH_LEN][path.len()..])?;
                }
            }
        }
        let mut crc_at = None;
        if self.crc32c {
            put_tlv_header(&mut w, PP2_TYPE_CRC32C, CRC32C_LEN)?;
            crc_at = Some(w.pos);
            w.put(&[0; CRC32C_LEN])?;
        }
        if let Some(alpn) = self.alpn {
            put_tlv(&mut w, PP2_TYPE_ALPN, alpn)?;
        }
        if let Some(authority) = self.authority {
            put_tlv(&mut w, PP2_TYPE_AUTHORITY, authority.as_bytes())?;
        }
        if let Some(unique_id) = self.unique_id {
            put_tlv(&mut w, PP2_TYPE_UNIQUE_ID, unique_id)?;
        }
        if let Some(ssl) = &self.ssl {
            put_tlv_header(&mut w, PP2_TYPE_SSL, ssl.value_len())?;
            w.put_u8(ssl.client.0)?;
            w.put(&ssl.verify.to_be_bytes())?;
            for (kind, value) in ssl.sub_tlvs() {
                if let Some(value) = value {
                    put_tlv(&mut w, kind, value.as_bytes())?;
                }
            }
        }
        if let Some(netns) = self.netns {
            put_tlv(&mut w, PP2_TYPE_NETNS, netns)?;
        }
        for tlv in self.extra {
            put_tlv(&mut w, tlv.kind, tlv.value)?;
        }
        Ok(crc_at)
    }

    /// The address block's length, after checking the UNIX paths.
    fn block_len(&self) -> Result<usize, BuildError> {
        Ok(match self.addresses {
            Addresses::None => 0,
            Addresses::Inet { .. } => crate::consts::INET_BLOCK_LEN,
            Addresses::Inet6 { .. } => crate::consts::INET6_BLOCK_LEN,
            Addresses::Unix { src, dst } => {
                for path in [src, dst] {
                    check_unix_path(path)?;
                }
                crate::consts::UNIX_BLOCK_LEN
            }
        })
    }
}

/// An IPv6 socket address; an IPv4 one becomes IPv4-mapped (`::ffff:a.b.c.d`).
fn ipv6(addr: SocketAddr) -> SocketAddrV6 {
    match addr {
        SocketAddr::V4(v4) => SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0),
        SocketAddr::V6(v6) => v6,
    }
}

/// The family nibble of the 14th byte.
fn family_nibble(addresses: &Addresses<'_>) -> u8 {
    match addresses {
        Addresses::None => 0x0,
        Addresses::Inet { .. } => 0x1,
        Addresses::Inet6 { .. } => 0x2,
        Addresses::Unix { .. } => 0x3,
    }
}

/// A path the receiver reads back unchanged from its 108 NUL-padded bytes: no longer than
/// 108 bytes, and no NUL that the padding rules would cut at (see [`Addresses::Unix`]).
fn check_unix_path(path: &[u8]) -> Result<(), BuildError> {
    if path.len() > UNIX_PATH_LEN {
        return Err(BuildError::UnixPathTooLong { len: path.len() });
    }
    let representable = match path.split_first() {
        None => true,
        // An abstract name: something after the leading NUL, and no trailing NUL.
        Some((0, name)) => name.last().is_some_and(|&last| last != 0),
        Some(_) => !path.contains(&0),
    };
    if !representable {
        return Err(BuildError::UnixPathNotRepresentable);
    }
    Ok(())
}

/// A TLV's length on the wire, type and length fields included.
fn tlv_len(kind: u8, value_len: usize) -> Result<usize, BuildError> {
    if value_len > usize::from(u16::MAX) {
        return Err(BuildError::TlvTooLong { kind, len: value_len });
    }
    Ok(TLV_HEADER_LEN + value_len)
}

fn u16_len(len: usize) -> Result<u16, BuildError> {
    u16::try_from(len).map_err(|_| BuildError::HeaderTooLong { len })
}

fn put_tlv_header(w: &mut Writer<'_>, kind: u8, value_len: usize) -> Result<(), BuildError> {
    w.put_u8(kind)?;
    w.put_u16(u16::try_from(value_len).map_err(|_| BuildError::TlvTooLong { kind, len: value_len })?)
}

fn put_tlv(w: &mut Writer<'_>, kind: u8, value: &[u8]) -> Result<(), BuildError> {
    put_tlv_header(w, kind, value.len())?;
    w.put(value)
}
