//! The handshake layer's settings: connection rules on addresses (CIDR
//! blocks, first match wins), the PROXY header to send, and TLS on either
//! side. Values only: the runtime evaluates the rules, builds the headers and
//! loads the certificates.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// An address block: `10.0.0.0/8`, `2001:db8::/32`, or one address (`/32`
/// or `/128` implied). An IPv4 block also matches the IPv4-mapped IPv6
/// form of its addresses (`::ffff:10.1.2.3`), which is how a dual-stack
/// socket reports an IPv4 peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a CIDR block does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The address part is not an IP address.
    #[error("\"{0}\" is not an IP address")]
    Address(String),
    /// The prefix length is not a number, or too long for the family.
    #[error("prefix length \"{0}\" must be 0 to {1}")]
    Prefix(String, u8),
    /// Bits are set past the prefix (`10.1.2.3/8`): probably a typo.
    #[error("{0} has bits set past its prefix length (did you mean {1}?)")]
    HostBits(String, String),
}

impl Cidr {
    /// The block's first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in this block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask32(u32::from(ip), self.prefix) == mask32(u32::from(net), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask128(u128::from(ip), self.prefix) == mask128(u128::from(net), self.prefix)
            }
            _ => false,
        }
    }
}

fn mask32(v: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        v & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask128(v: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        v & (u128::MAX << (128 - u32::from(prefix)))
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| CidrError::Address(addr_text.to_owned()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => return Err(CidrError::Prefix(p.to_owned(), max)),
            },
        };
        let masked = match addr {
            IpAddr::V4(a) => IpAddr::V4(mask32(u32::from(a), prefix).into()),
            IpAddr::V6(a) => IpAddr::V6(mask128(u128::from(a), prefix).into()),
        };
        if masked != addr {
            return Err(CidrError::HostBits(s.to_owned(), format!("{masked}/{prefix}")));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// What a rule does with a matching address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Let the connection through.
    Allow,
    /// Reset it (and count it).
    Deny,
}

/// One rule: a verdict for a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Allow or deny.
    pub verdict: Verdict,
    /// The addresses it matches.
    pub net: Cidr,
}

/// Rules in order: the first that matches decides; no match allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules(pub Vec<Rule>);

impl Rules {
    /// No rule: everything is allowed and the core skips the handler.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The verdict for `ip`.
    pub fn verdict(&self, ip: IpAddr) -> Verdict {
        self.0.iter().find(|r| r.net.contains(ip)).map_or(Verdict::Allow, |r| r.verdict)
    }
}

/// The PROXY protocol version to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyVersion {
    /// Text header (`send-proxy`).
    V1,
    /// Binary header (`send-proxy-v2`).
    V2,
}

/// The TLVs a v2 header carries (`--send-proxy-tlv alpn,authority,ssl,unique-id,crc32c`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProxyTlvs {
    /// The ALPN protocol negotiated with the client.
    pub alpn: bool,
    /// The SNI the client asked for.
    pub authority: bool,
    /// Whether the client used TLS, with its version and certificate CN.
    pub ssl: bool,
    /// A unique id of the session.
    pub unique_id: bool,
    /// A CRC32C of the header.
    pub crc32c: bool,
}

/// The names `--send-proxy-tlv` and `send-proxy-tlv` accept.
pub const TLV_NAMES: [&str; 5] = ["alpn", "authority", "ssl", "unique-id", "crc32c"];

impl ProxyTlvs {
    /// Adds the TLV named `name` (one of [`TLV_NAMES`]); false if unknown.
    pub fn insert(&mut self, name: &str) -> bool {
        match name {
            "alpn" => self.alpn = true,
            "authority" => self.authority = true,
            "ssl" => self.ssl = true,
            "unique-id" => self.unique_id = true,
            "crc32c" => self.crc32c = true,
            _ => return false,
        }
        true
    }
}

/// The PROXY header a backend sends first on every server connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SendProxy {
    /// v1 or v2.
    pub version: ProxyVersion,
    /// v2 only: the TLVs to add.
    pub tlvs: ProxyTlvs,
}

/// TLS termination on a listener (HAProxy's `bind ... ssl crt`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontTls {
    /// Certificate chain and private key files, PEM; the certificate is
    /// chosen by the client's SNI, the first pair when none matches.
    pub certs: Vec<(PathBuf, PathBuf)>,
    /// ALPN protocols offered, in preference order.
    pub alpn: Vec<String>,
}

/// How the server's certificate is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerVerify {
    /// Against the CA certificates of this PEM file.
    Ca(PathBuf),
    /// Not at all (tests and trusted networks only).
    Insecure,
}

/// TLS towards the servers (HAProxy's `server ... ssl`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackTls {
    /// How the server's certificate is checked.
    pub verify: ServerVerify,
    /// The SNI to send; without it, none is sent and the certificate is
    /// checked against the server's IP address.
    pub sni: Option<String>,
    /// ALPN protocols offered to the server.
    pub alpn: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn blocks_match_their_addresses_and_v4_blocks_match_mapped_v6_peers() {
        let net = cidr("10.0.0.0/8");
        assert!(net.contains("10.255.1.2".parse().expect("ip")));
        assert!(!net.contains("11.0.0.1".parse().expect("ip")));
        assert!(net.contains("::ffff:10.1.2.3".parse().expect("ip")));
        assert!(cidr("0.0.0.0/0").contains("192.0.2.1".parse().expect("ip")));
        assert!(!cidr("0.0.0.0/0").contains("2001:db8::1".parse().expect("ip")));
        assert!(cidr("2001:db8::/32").contains("2001:db8:ffff::1".parse().expect("ip")));
        assert!(cidr("::/0").contains("::1".parse().expect("ip")));
        assert_eq!(cidr("127.0.0.1"), cidr("127.0.0.1/32"));
        assert!(cidr("127.0.0.1").contains("127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn malformed_blocks_say_what_is_wrong() {
        assert_eq!("10.0.0/8".parse::<Cidr>(), Err(CidrError::Address("10.0.0".into())));
        assert_eq!("10.0.0.0/33".parse::<Cidr>(), Err(CidrError::Prefix("33".into(), 32)));
        assert_eq!("::/129".parse::<Cidr>(), Err(CidrError::Prefix("129".into(), 128)));
        assert_eq!("10.0.0.0/+8".parse::<Cidr>(), Err(CidrError::Prefix("+8".into(), 32)));
        assert_eq!("10.1.2.3/8".parse::<Cidr>(), Err(CidrError::HostBits("10.1.2.3/8".into(), "10.0.0.0/8".into())));
    }

    #[test]
    fn the_first_matching_rule_wins_and_no_match_allows() {
        let rules = Rules(vec![
            Rule { verdict: Verdict::Allow, net: cidr("10.1.0.0/16") },
            Rule { verdict: Verdict::Deny, net: cidr("10.0.0.0/8") },
        ]);
        assert_eq!(rules.verdict("10.1.2.3".parse().expect("ip")), Verdict::Allow);
        assert_eq!(rules.verdict("10.2.2.3".parse().expect("ip")), Verdict::Deny);
        assert_eq!(rules.verdict("192.0.2.1".parse().expect("ip")), Verdict::Allow);
    }
}
