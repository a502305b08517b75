//! The black-box harness's PROXY protocol peers: the client's header, written
//! to a proxy configured to accept one, and the server's check of the header
//! a proxy configured to send one writes first.
//!
//! Written from the spec (haproxy's `doc/proxy-protocol.txt`), not with
//! connseq's own parser: the harness judges other proxies and connseq alike,
//! and a shared parser would agree with connseq's mistakes.

use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The source the client's header gives (TEST-NET-1, RFC 5737), which a
/// proxy that accepts the header must pass on to the server.
pub const CLIENT_SOURCE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 1000);
/// The destination the client's header gives.
pub const CLIENT_DESTINATION: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 80);

/// PROXY spec 2.2: the v2 signature.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// PROXY spec 2.1: a v1 line is at most 107 bytes, CRLF included.
const V1_MAX: usize = 107;

/// Which version of the header the client sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyVersion {
    /// The text line (PROXY spec 2.1).
    #[default]
    V1,
    /// The binary header (PROXY spec 2.2).
    V2,
}

impl FromStr for ProxyVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<ProxyVersion, String> {
        match s {
            "v1" | "1" => Ok(ProxyVersion::V1),
            "v2" | "2" => Ok(ProxyVersion::V2),
            _ => Err(format!("unknown PROXY protocol version `{s}` (v1 or v2)")),
        }
    }
}

impl fmt::Display for ProxyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProxyVersion::V1 => "v1",
            ProxyVersion::V2 => "v2",
        })
    }
}

/// The client's header: a TCP over IPv4 connection from [`CLIENT_SOURCE`]
/// to [`CLIENT_DESTINATION`].
pub fn client_header(v: ProxyVersion) -> Vec<u8> {
    let (src, dst) = (CLIENT_SOURCE, CLIENT_DESTINATION);
    match v {
        ProxyVersion::V1 => {
            format!("PROXY TCP4 {} {} {} {}\r\n", src.ip(), dst.ip(), src.port(), dst.port()).into_bytes()
        }
        ProxyVersion::V2 => {
            let mut h = V2_SIGNATURE.to_vec();
            // Version 2, command PROXY; AF_INET, STREAM; 12 bytes of addresses.
            h.extend_from_slice(&[0x21, 0x11, 0, 12]);
            for ip in [src.ip(), dst.ip()] {
                if let IpAddr::V4(a) = ip {
                    h.extend_from_slice(&a.octets());
                }
            }
            h.extend_from_slice(&src.port().to_be_bytes());
            h.extend_from_slice(&dst.port().to_be_bytes());
            h
        }
    }
}

/// What the server found where a header should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderRead {
    /// A well-formed header: its version and the source it gives (`None`:
    /// `UNKNOWN` or `LOCAL`, no address).
    Header {
        /// The version.
        version: ProxyVersion,
        /// The source address it gives.
        source: Option<SocketAddr>,
    },
    /// Bytes that are no header, or a header cut short or malformed (what
    /// was read, for the report).
    NotHeader(Vec<u8>),
    /// Nothing has arrived.
    Nothing,
    /// TCP's end before any byte.
    Fin,
    /// A reset before any byte.
    Rst,
}

/// Reads one header off `sock` (non-blocking), exactly its bytes and none of
/// what follows (a TLS hello may come right behind it). `wait` bounds the
/// time the rest of a header that began to arrive may take.
pub fn read_header(sock: &mut TcpStream, wait: Duration) -> io::Result<HeaderRead> {
    let deadline = Instant::now() + wait;
    let mut first = [0u8; 1];
    match sock.read(&mut first) {
        Ok(0) => return Ok(HeaderRead::Fin),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(HeaderRead::Nothing),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(HeaderRead::Rst),
        Err(e) => return Err(e),
    }
    let mut got = first.to_vec();
    if first[0] == V2_SIGNATURE[0] {
        // PROXY spec 2.2: signature, version and command, family, length.
        if !read_exact_by(sock, &mut got, 16, deadline)? || got[..12] != V2_SIGNATURE {
            return Ok(HeaderRead::NotHeader(got));
        }
        let len = usize::from(u16::from_be_bytes([got[14], got[15]]));
        if !read_exact_by(sock, &mut got, 16 + len, deadline)? {
            return Ok(HeaderRead::NotHeader(got));
        }
        Ok(parse_v2(&got).unwrap_or(HeaderRead::NotHeader(got)))
    } else {
        // PROXY spec 2.1: one line, at most 107 bytes, byte by byte so that
        // nothing behind it is taken.
        while got.last() != Some(&b'\n') && got.len() < V1_MAX {
            let want = got.len() + 1;
            if !read_exact_by(sock, &mut got, want, deadline)? {
                break;
            }
        }
        Ok(parse_v1(&got).unwrap_or(HeaderRead::NotHeader(got)))
    }
}

/// Reads until `buf` holds `len` bytes: false when the stream ended, was
/// reset or stalled past `deadline` first.
fn read_exact_by(sock: &mut TcpStream, buf: &mut Vec<u8>, len: usize, deadline: Instant) -> io::Result<bool> {
    let mut byte = [0u8; 64];
    while buf.len() < len {
        let want = (len - buf.len()).min(byte.len());
        match sock.read(&mut byte[..want]) {
            Ok(0) => return Ok(false),
            Ok(n) => buf.extend_from_slice(&byte[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(100));
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionReset) => {
                return Ok(false)
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// PROXY spec 2.1: `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n`, or `PROXY UNKNOWN ...\r\n`.
fn parse_v1(line: &[u8]) -> Option<HeaderRead> {
    let text = std::str::from_utf8(line.strip_suffix(b"\r\n")?).ok()?;
    let mut f = text.split(' ');
    if f.next()? != "PROXY" {
        return None;
    }
    let family = f.next()?;
    if family == "UNKNOWN" {
        return Some(HeaderRead::Header { version: ProxyVersion::V1, source: None });
    }
    let (src, _dst, sport, _dport) = (f.next()?, f.next()?, f.next()?, f.next()?);
    if f.next().is_some() {
        return None;
    }
    let ip: IpAddr = src.parse().ok()?;
    let ok_family = matches!((family, ip), ("TCP4", IpAddr::V4(_)) | ("TCP6", IpAddr::V6(_)));
    let port: u16 = sport.parse().ok()?;
    ok_family.then_some(HeaderRead::Header { version: ProxyVersion::V1, source: Some(SocketAddr::new(ip, port)) })
}

/// PROXY spec 2.2: the addresses of a `PROXY` command over TCP, or none for `LOCAL`.
fn parse_v2(h: &[u8]) -> Option<HeaderRead> {
    let (ver_cmd, family, block) = (*h.get(12)?, *h.get(13)?, h.get(16..)?);
    if ver_cmd >> 4 != 2 {
        return None;
    }
    let none = HeaderRead::Header { version: ProxyVersion::V2, source: None };
    match (ver_cmd & 0xf, family) {
        (0, _) => Some(none),
        (1, 0x11) => {
            let a: [u8; 4] = block.get(..4)?.try_into().ok()?;
            let port = u16::from_be_bytes(block.get(8..10)?.try_into().ok()?);
            Some(HeaderRead::Header { version: ProxyVersion::V2, source: Some(SocketAddr::from((a, port))) })
        }
        (1, 0x21) => {
            let a: [u8; 16] = block.get(..16)?.try_into().ok()?;
            let port = u16::from_be_bytes(block.get(32..34)?.try_into().ok()?);
            Some(HeaderRead::Header { version: ProxyVersion::V2, source: Some(SocketAddr::from((a, port))) })
        }
        (1, 0x00) => Some(none),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn through_a_socket(bytes: &[u8]) -> (HeaderRead, Vec<u8>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let mut c = TcpStream::connect(l.local_addr().expect("bound")).expect("connected");
        let (mut s, _) = l.accept().expect("accepted");
        c.write_all(bytes).expect("written");
        c.write_all(b"rest").expect("written");
        std::thread::sleep(Duration::from_millis(20));
        s.set_nonblocking(true).expect("non-blocking");
        let h = read_header(&mut s, Duration::from_millis(200)).expect("read");
        let mut rest = [0u8; 4];
        s.read_exact(&mut rest).expect("what follows");
        (h, rest.to_vec())
    }

    #[test]
    fn the_clients_headers_read_back_with_their_source_and_nothing_more() {
        for v in [ProxyVersion::V1, ProxyVersion::V2] {
            let (h, rest) = through_a_socket(&client_header(v));
            assert_eq!(h, HeaderRead::Header { version: v, source: Some(CLIENT_SOURCE) });
            assert_eq!(rest, b"rest");
        }
    }

    #[test]
    fn data_where_a_header_should_be_is_no_header() {
        let (h, _) = through_a_socket(b"c\x00------\n");
        assert!(matches!(h, HeaderRead::NotHeader(_)), "{h:?}");
    }
}
