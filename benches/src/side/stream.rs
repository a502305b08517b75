//! A blocking TCP stream, plain or TLS, as the bench's clients and servers
//! use it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection, StreamOwned};

/// A connected stream of the bench.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS towards a server (the bench as client).
    Client(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// TLS towards a client (the bench as server).
    Server(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    /// Connects to `addr` (TCP_NODELAY) and, with `tls`, completes the
    /// TLS handshake before returning.
    pub fn connect(addr: SocketAddr, tls: Option<&Arc<ClientConfig>>) -> io::Result<Stream> {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        match tls {
            None => Ok(Stream::Plain(sock)),
            Some(config) => {
                let conn =
                    ClientConnection::new(config.clone(), super::tls::server_name()).map_err(io::Error::other)?;
                let mut s = StreamOwned::new(conn, sock);
                while s.conn.is_handshaking() {
                    s.conn.complete_io(&mut s.sock)?;
                }
                Ok(Stream::Client(Box::new(s)))
            }
        }
    }

    /// An accepted socket, with `tls` wrapped in a server connection (the
    /// handshake runs with the first read).
    pub fn accepted(sock: TcpStream, tls: Option<&Arc<ServerConfig>>) -> io::Result<Stream> {
        sock.set_nodelay(true)?;
        match tls {
            None => Ok(Stream::Plain(sock)),
            Some(config) => {
                let conn = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
                Ok(Stream::Server(Box::new(StreamOwned::new(conn, sock))))
            }
        }
    }

    /// Ends the stream: close_notify first on TLS, then the socket closes.
    pub fn close(self) {
        match self {
            Stream::Plain(_) => {}
            Stream::Client(mut s) => {
                s.conn.send_close_notify();
                let _ = s.conn.complete_io(&mut s.sock);
            }
            Stream::Server(mut s) => {
                s.conn.send_close_notify();
                let _ = s.conn.complete_io(&mut s.sock);
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Client(s) => s.read(buf),
            Stream::Server(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Client(s) => s.write(buf),
            Stream::Server(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Client(s) => s.flush(),
            Stream::Server(s) => s.flush(),
        }
    }
}
