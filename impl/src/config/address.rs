//! Socket addresses for listeners and servers. Host names are not resolved:
//! the configuration stays a pure function of its text, and a proxy that
//! resolves once at start-up would hide a DNS change anyway.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Why an address did not parse or cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Nothing was written.
    #[error("empty address")]
    Empty,
    /// An IP address without `:PORT`.
    #[error("missing port: write IP:PORT (IPv6 in brackets: [::1]:PORT)")]
    MissingPort,
    /// The port is not a number in 0..=65535.
    #[error("invalid port '{0}' (expected 0 to 65535)")]
    InvalidPort(String),
    /// `:PORT` where an IP address is required.
    #[error("missing IP address before the port")]
    MissingIp,
    /// A host name instead of an IP address.
    #[error("'{0}' is not an IP address (host names are not resolved)")]
    HostName(String),
    /// Port 0 on a server: there is nothing to connect to.
    #[error("a server needs a port other than 0")]
    ServerPortZero,
    /// The unspecified address (`0.0.0.0`, `::`) on a server.
    #[error("a server needs a specific IP address, not {0}")]
    ServerUnspecified(IpAddr),
}

/// Parses a listening address: `IP:PORT`, `[IPv6]:PORT`, or `:PORT` /
/// `*:PORT` for every IPv4 address (`0.0.0.0:PORT`, as HAProxy's
/// `bind :80`). Port 0 asks the kernel for a free port.
pub fn parse_listen_addr(text: &str) -> Result<SocketAddr, AddressError> {
    let text = text.trim();
    if let Some(port) = text.strip_prefix("*:").or_else(|| text.strip_prefix(':').filter(|p| !p.contains(':'))) {
        let port = parse_port(port)?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    parse_socket_addr(text)
}

/// Parses a server address: `IP:PORT` or `[IPv6]:PORT`, with a port other
/// than 0 and a specific (not unspecified) IP address.
pub fn parse_server_addr(text: &str) -> Result<SocketAddr, AddressError> {
    let addr = parse_socket_addr(text.trim())?;
    if addr.port() == 0 {
        Err(AddressError::ServerPortZero)
    } else if addr.ip().is_unspecified() {
        Err(AddressError::ServerUnspecified(addr.ip()))
    } else {
        Ok(addr)
    }
}

fn parse_socket_addr(text: &str) -> Result<SocketAddr, AddressError> {
    if text.is_empty() {
        return Err(AddressError::Empty);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if text.parse::<IpAddr>().is_ok() || text.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok() {
        return Err(AddressError::MissingPort);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(AddressError::MissingPort);
    };
    parse_port(port)?;
    match host {
        "" | "*" => Err(AddressError::MissingIp),
        _ => Err(AddressError::HostName(host.to_owned())),
    }
}

fn parse_port(text: &str) -> Result<u16, AddressError> {
    text.parse().map_err(|_| AddressError::InvalidPort(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn listeners_take_ip_and_port_including_port_zero() {
        assert_eq!(parse_listen_addr("127.0.0.1:8080"), Ok(addr("127.0.0.1:8080")));
        assert_eq!(parse_listen_addr("127.0.0.1:0"), Ok(addr("127.0.0.1:0")));
        assert_eq!(parse_listen_addr("[::1]:443"), Ok(addr("[::1]:443")));
    }

    #[test]
    fn a_listener_without_ip_listens_on_every_ipv4_address() {
        assert_eq!(parse_listen_addr(":80"), Ok(addr("0.0.0.0:80")));
        assert_eq!(parse_listen_addr("*:80"), Ok(addr("0.0.0.0:80")));
    }

    #[test]
    fn servers_need_a_port_and_a_specific_ip() {
        assert_eq!(parse_server_addr("10.0.0.1:9000"), Ok(addr("10.0.0.1:9000")));
        assert_eq!(parse_server_addr("10.0.0.1:0"), Err(AddressError::ServerPortZero));
        assert_eq!(parse_server_addr("0.0.0.0:80"), Err(AddressError::ServerUnspecified(addr("0.0.0.0:80").ip())));
        assert_eq!(parse_server_addr(":80"), Err(AddressError::MissingIp));
        assert_eq!(parse_server_addr("*:80"), Err(AddressError::MissingIp));
    }

    #[test]
    fn malformed_addresses_say_what_is_missing() {
        assert_eq!(parse_listen_addr(""), Err(AddressError::Empty));
        assert_eq!(parse_listen_addr("127.0.0.1"), Err(AddressError::MissingPort));
        assert_eq!(parse_listen_addr("::1"), Err(AddressError::MissingPort));
        assert_eq!(parse_listen_addr("[::1]"), Err(AddressError::MissingPort));
        assert_eq!(parse_listen_addr("localhost"), Err(AddressError::MissingPort));
        assert_eq!(parse_listen_addr("127.0.0.1:99999"), Err(AddressError::InvalidPort("99999".into())));
        assert_eq!(parse_listen_addr("127.0.0.1:http"), Err(AddressError::InvalidPort("http".into())));
        assert_eq!(parse_server_addr("localhost:80"), Err(AddressError::HostName("localhost".into())));
    }
}
