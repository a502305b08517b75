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
