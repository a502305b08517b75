//! A model server's port on loopback, shared by the replay and the black-box
//! harness: listening (the next connect is accepted by the kernel) or bound
//! without listening (the kernel refuses it, as at a closed port), switched
//! as the trace's next server answer says.
//!
//! The port is held for the whole trace by a placeholder socket that never
//! listens; the listener is a second socket on the same port, made and
//! dropped to switch. Both set `SO_REUSEPORT`, which lets them share the port
//! and keeps everyone else off it: a `bind` to port 0 never picks a port a
//! reuseport group holds, and a `bind` to it without the option fails (the
//! holder does not set `SO_REUSEADDR`, which would let any socket setting it
//! share the port while nobody listens). So the
//! port cannot change hands between a refusal and the next accept. (A port
//! that was let go in between was found taken by another test running at the
//! same time: its listener accepted the proxy's connect the trace said was
//! refused, and the replay diverged.)

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

/// The server's port: listening, or bound without listening (the kernel
/// refuses a connect there, as at a closed port).
#[derive(Debug)]
pub struct ServerPort {
    /// Where it is bound.
    pub addr: SocketAddr,
    /// Holds the port; never listens, so connects go to `listener` or are
    /// refused.
    _holder: socket2::Socket,
    listener: Option<TcpListener>,
}

impl ServerPort {
    /// A listening port at `addr` (port 0: a free one).
    pub fn bind(addr: SocketAddr) -> io::Result<ServerPort> {
        // The holder does not set SO_REUSEADDR: with it, any other socket
        // setting it could bind the port while neither listens.
        let holder = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
        holder.set_reuse_port(true)?;
        holder.bind(&addr.into())?;
        let addr = holder.local_addr()?.as_socket().ok_or_else(|| io::Error::other("not an IP address"))?;
        let listener = Self::listen(addr)?;
        Ok(ServerPort { addr, _holder: holder, listener: Some(listener) })
    }

    /// The listener's socket: `SO_REUSEADDR` too, so that it binds while
    /// connections of an earlier listener linger on the port.
    fn socket(addr: SocketAddr) -> io::Result<socket2::Socket> {
        let s = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
        s.set_reuse_address(true)?;
        s.set_reuse_port(true)?;
        s.bind(&addr.into())?;
        Ok(s)
    }

    fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
        let s = Self::socket(addr)?;
        s.listen(64)?;
        let l: TcpListener = s.into();
        l.set_nonblocking(true)?;
        Ok(l)
    }

    /// Makes the port accept (`true`) or refuse the next connects.
    pub fn answer(&mut self, accept: bool) -> io::Result<()> {
        if accept && self.listener.is_none() {
            self.listener = Some(Self::listen(self.addr)?);
        } else if !accept {
            self.listener = None;
        }
        Ok(())
    }

    /// A connection the kernel completed, if any.
    pub fn try_accept(&self) -> Option<TcpStream> {
        let (s, _) = self.listener.as_ref()?.accept().ok()?;
        s.set_nonblocking(true).ok()?;
        s.set_nodelay(true).ok()?;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(addr: SocketAddr) -> io::ErrorKind {
        match TcpStream::connect(addr) {
            Ok(_) => io::ErrorKind::Other,
            Err(e) => e.kind(),
        }
    }

    #[test]
    fn a_port_switches_between_accepting_and_refusing_and_nobody_else_can_take_it() {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut port = ServerPort::bind(any).expect("bind");
        assert!(TcpStream::connect(port.addr).is_ok(), "listening");
        port.answer(false).expect("refuse");
        assert_eq!(connect(port.addr), io::ErrorKind::ConnectionRefused);
        // While it refuses, the port is still ours: another socket cannot
        // bind it (without SO_REUSEPORT, or with it: then it would share the
        // group, which only this harness does, with the same address).
        let other = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        other.set_reuse_address(true).expect("SO_REUSEADDR");
        assert!(other.bind(&port.addr.into()).is_err(), "the port is held");
        // And a port-0 bind never lands on it.
        for _ in 0..200 {
            let fresh = ServerPort::bind(any).expect("bind");
            assert_ne!(fresh.addr, port.addr);
        }
        port.answer(true).expect("accept");
        assert!(TcpStream::connect(port.addr).is_ok(), "listening again");
    }
}
