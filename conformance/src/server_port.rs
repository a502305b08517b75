//! A model server's port on loopback, shared by the replay and the black-box
//! harness: listening (the next connect is accepted by the kernel) or bound
//! without listening (the kernel refuses it, as at a closed port), switched
//! as the trace's next server answer says.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

/// The server's port: listening, or bound without listening (the kernel
/// refuses a connect there, as at a closed port).
#[derive(Debug)]
pub struct ServerPort {
    /// Where it is bound.
    pub addr: SocketAddr,
    listener: Option<TcpListener>,
    refuser: Option<socket2::Socket>,
}

impl ServerPort {
    /// A listening port at `addr` (port 0: a free one).
    pub fn bind(addr: SocketAddr) -> io::Result<ServerPort> {
        let l = Self::listen(addr)?;
        Ok(ServerPort { addr: l.local_addr()?, listener: Some(l), refuser: None })
    }

    fn socket(addr: SocketAddr) -> io::Result<socket2::Socket> {
        let s = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
        s.set_reuse_address(true)?;
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
            self.refuser = None;
            self.listener = Some(Self::listen(self.addr)?);
        } else if !accept && self.refuser.is_none() {
            self.listener = None;
            self.refuser = Some(Self::socket(self.addr)?);
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
