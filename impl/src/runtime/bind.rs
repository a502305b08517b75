//! The listening sockets: bound for each thread (`SO_REUSEPORT` when
//! several threads listen on one address), or inherited from systemd or
//! from the process this one takes over from.

use crate::config::ProxyConfig;
use mio::net::TcpListener;
use std::io;
use std::net::SocketAddr;

/// A bound listening socket and the index of its listener configuration.
pub(crate) type Bound = (TcpListener, usize);

/// Listening sockets this process was given rather than bound: by systemd
/// (`LISTEN_FDS`) or by the process it takes over from (`-x`), each with
/// its bound address.
#[derive(Debug, Default)]
pub(crate) struct Inherited(Vec<(SocketAddr, std::net::TcpListener)>);

impl Inherited {
    /// Keeps each of `fds` that is a listening TCP socket; an inherited
    /// descriptor that is anything else is refused (a configuration error
    /// of the service manager).
    pub(crate) fn new(fds: Vec<std::os::fd::OwnedFd>) -> io::Result<Inherited> {
        let mut socks = Vec::new();
        for fd in fds {
            let sock = std::net::TcpListener::from(fd);
            let listening = nix::sys::socket::getsockopt(&sock, nix::sys::socket::sockopt::AcceptConn).unwrap_or(false);
            let addr = sock.local_addr();
            match (listening, addr) {
                (true, Ok(addr)) => {
                    sock.set_nonblocking(true)?;
                    socks.push((addr, sock));
                }
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "an inherited descriptor is not a listening TCP socket",
                    ))
                }
            }
        }
        Ok(Inherited(socks))
    }

    /// Takes every inherited socket bound to `addr` (none for port 0: each
    /// bind of port 0 is a new port).
    fn take(&mut self, addr: SocketAddr) -> Vec<std::net::TcpListener> {
        if addr.port() == 0 {
            return Vec::new();
        }
        let (mine, rest) = std::mem::take(&mut self.0).into_iter().partition(|(a, _)| *a == addr);
        self.0 = rest;
        mine.into_iter().map(|(_, s)| s).collect()
    }

    /// The addresses of the inherited sockets no listener took.
    pub(crate) fn leftover(&self) -> Vec<SocketAddr> {
        self.0.iter().map(|(a, _)| *a).collect()
    }
}

/// Every thread's listening sockets: for each address of every listener,
/// the inherited sockets bound to it, shared out among the threads (a
/// thread may get several; a thread that gets none watches a duplicate of
/// one), or else one new socket per thread, `SO_REUSEPORT` when several
/// threads bind the same address. Prints each address once on stderr.
/// Returns the sockets by thread and the addresses in configuration order
/// (port 0 resolved).
pub(crate) fn bind_all(
    config: &ProxyConfig,
    threads: usize,
    inherited: &mut Inherited,
) -> io::Result<(Vec<Vec<Bound>>, Vec<SocketAddr>)> {
    let reuse_port = config.global.threads > 1;
    let backlog = i32::try_from(config.global.maxconn).unwrap_or(i32::MAX).clamp(128, 65_535);
    let mut by_thread: Vec<Vec<Bound>> = (0..threads).map(|_| Vec::new()).collect();
    let mut addrs = Vec::new();
    for (li, l) in config.listeners.iter().enumerate() {
        for &want in &l.addrs {
            let given = inherited.take(want);
            if let Some(first) = given.first() {
                let local = first.local_addr()?;
                eprintln!("connseq: listening on {local} (inherited)");
                addrs.push(local);
                for socks in by_thread.iter_mut().skip(given.len()) {
                    socks.push((TcpListener::from_std(first.try_clone()?), li));
                }
                for (k, sock) in given.into_iter().enumerate() {
                    by_thread[k % threads].push((TcpListener::from_std(sock), li));
                }
                continue;
            }
            let mut addr = want;
            for (t, socks) in by_thread.iter_mut().enumerate() {
                let sock = crate::sys::socket::listen(addr, reuse_port, backlog)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
                if t == 0 {
                    addr = sock.local_addr()?;
                }
                socks.push((TcpListener::from_std(sock), li));
            }
            // Once every thread's socket listens: a script that reads this
            // line may count on all of them.
            eprintln!("connseq: listening on {addr}");
            addrs.push(addr);
        }
    }
    Ok((by_thread, addrs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BackendConfig, GlobalConfig, ListenerConfig, ServerConfig};
    use std::os::fd::{AsRawFd, OwnedFd, RawFd};

    fn config(addrs: Vec<SocketAddr>, threads: usize) -> ProxyConfig {
        let server = ServerConfig { addr: SocketAddr::from(([127, 0, 0, 1], 9)), maxconn: 0 };
        let listener = ListenerConfig {
            name: "l".into(),
            addrs,
            backend: BackendConfig::new("b", vec![server]),
            timeouts: Default::default(),
            maxconn: 0,
            options: Default::default(),
        };
        ProxyConfig { listeners: vec![listener], global: GlobalConfig { threads, ..GlobalConfig::default() } }
    }

    /// Listening sockets on one new port, `SO_REUSEPORT`, and their descriptors.
    fn reuseport_sockets(n: usize) -> (SocketAddr, Vec<OwnedFd>, Vec<RawFd>) {
        let first = crate::sys::socket::listen(SocketAddr::from(([127, 0, 0, 1], 0)), true, 128).expect("listen");
        let addr = first.local_addr().expect("address");
        let mut socks = vec![first];
        while socks.len() < n {
            socks.push(crate::sys::socket::listen(addr, true, 128).expect("listen on the same port"));
        }
        let raw = socks.iter().map(AsRawFd::as_raw_fd).collect();
        (addr, socks.into_iter().map(OwnedFd::from).collect(), raw)
    }

    fn fds(by_thread: &[Vec<Bound>]) -> Vec<Vec<RawFd>> {
        by_thread.iter().map(|socks| socks.iter().map(|(s, _)| s.as_raw_fd()).collect()).collect()
    }

    #[test]
    fn inherited_sockets_are_shared_out_among_the_threads_one_each() {
        let (addr, given, raw) = reuseport_sockets(2);
        let mut inherited = Inherited::new(given).expect("listening sockets");
        let (by_thread, addrs) = bind_all(&config(vec![addr], 2), 2, &mut inherited).expect("bind");
        assert_eq!(addrs, [addr]);
        assert_eq!(fds(&by_thread), [[raw[0]], [raw[1]]], "each thread its own inherited socket");
        assert!(inherited.leftover().is_empty());
    }

    #[test]
    fn more_inherited_sockets_than_threads_go_round_and_fewer_leave_duplicates() {
        let (addr, given, raw) = reuseport_sockets(3);
        let mut inherited = Inherited::new(given).expect("listening sockets");
        let (by_thread, _) = bind_all(&config(vec![addr], 2), 2, &mut inherited).expect("bind");
        assert_eq!(fds(&by_thread), [vec![raw[0], raw[2]], vec![raw[1]]]);

        let (addr, given, raw) = reuseport_sockets(1);
        let mut inherited = Inherited::new(given).expect("listening sockets");
        let (by_thread, _) = bind_all(&config(vec![addr], 3), 3, &mut inherited).expect("bind");
        let got = fds(&by_thread);
        assert_eq!(got[0], [raw[0]]);
        for dup in &got[1..] {
            assert_eq!(dup.len(), 1);
            assert_ne!(dup[0], raw[0], "a duplicate descriptor of the same socket");
        }
    }

    #[test]
    fn an_inherited_socket_no_listener_takes_is_left_over() {
        let (taken, mut given, _) = reuseport_sockets(1);
        let (stray, more, _) = reuseport_sockets(1);
        given.extend(more);
        let mut inherited = Inherited::new(given).expect("listening sockets");
        bind_all(&config(vec![taken], 1), 1, &mut inherited).expect("bind");
        assert_eq!(inherited.leftover(), [stray]);
    }
}
