//! The socket calls of the data path and of teardown, on anything that lends
//! a socket fd (`mio::net::TcpStream`, `std::net::TcpStream`, `BorrowedFd`):
//! haproxy-semantics.md "Data path" and tcp-close-semantics.md.
//!
//! socket2 does the calls it offers safely; `recv` is the one libc call.
//! Every call passes `MSG_DONTWAIT`, so none of them blocks even on a
//! blocking socket, and `send` passes `MSG_NOSIGNAL`, so a reset peer gives
//! `EPIPE`/`ECONNRESET` and never a `SIGPIPE`.
//!
//! TLS sessions move their records through these same calls: [`TlsSocketIo`]
//! is the `connseq-tls` seam ([`connseq_tls::SocketIo`]) filled with them, so
//! that injected faults (`super::fault`) strike TLS sessions as they strike raw ones.

use super::{cvt_size, fault_point, retry_eintr, Call};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

/// A non-blocking listening socket on `addr` with `SO_REUSEADDR` (a restart
/// binds while old connections linger in TIME-WAIT) and, with `reuse_port`,
/// `SO_REUSEPORT`, so that each event-loop thread binds its own socket on
/// the same address and the kernel spreads new connections among them.
/// `backlog` is capped by the kernel's `somaxconn`.
pub fn listen(addr: SocketAddr, reuse_port: bool, backlog: i32) -> io::Result<std::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if reuse_port {
        sock.set_reuse_port(true)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    Ok(sock.into())
}

/// `accept` on a non-blocking listening socket (mio's, which makes the new socket
/// non-blocking and close-on-exec). `WouldBlock` when the backlog is empty.
pub fn accept(listener: &mio::net::TcpListener) -> io::Result<(mio::net::TcpStream, SocketAddr)> {
    fault_point(Call::Accept, 0, false)?;
    listener.accept()
}

/// A non-blocking socket connecting to `addr` (mio's `connect`: the connect is in progress
/// when this returns; the socket's writability says when it ended).
pub fn connect(addr: SocketAddr) -> io::Result<mio::net::TcpStream> {
    fault_point(Call::Connect, 0, false)?;
    mio::net::TcpStream::connect(addr)
}

/// `send(MSG_DONTWAIT | MSG_NOSIGNAL [| MSG_MORE])`, retrying `EINTR`.
///
/// `more`: more data (or a shutw) is known to follow, so the kernel may hold
/// a partial segment back (`MSG_MORE`); the next send without it pushes
/// everything out. `EAGAIN` comes back as `WouldBlock`.
pub fn send<S: AsFd>(sock: &S, buf: &[u8], more: bool) -> io::Result<usize> {
    let buf = &buf[..fault_point(Call::Send, buf.len(), false)?];
    let mut flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    if more {
        flags |= libc::MSG_MORE;
    }
    let sock = SockRef::from(sock);
    retry_eintr(|| sock.send_with_flags(buf, flags))
}

/// `sendmsg(MSG_DONTWAIT | MSG_NOSIGNAL)` of `bufs`, in order, as one write, retrying
/// `EINTR`: the TLS records queued one after another. Its fault point is `call`'s, on the
/// whole length: an injected short write sends only the first bytes of `bufs`.
fn send_vectored<S: AsFd>(call: Call, sock: &S, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    let cap = fault_point(call, total, false)?;
    let mut cut = Vec::new();
    let bufs = if cap < total {
        let mut left = cap;
        for b in bufs {
            if left == 0 {
                break;
            }
            let n = b.len().min(left);
            cut.push(io::IoSlice::new(&b[..n]));
            left -= n;
        }
        &cut[..]
    } else {
        bufs
    };
    let sock = SockRef::from(sock);
    retry_eintr(|| sock.send_vectored_with_flags(bufs, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL))
}

/// The calls of this room as `connseq-tls`'s socket seam ([`connseq_tls::SocketIo`]): a TLS
/// session's records are read by [`recv`]'s call and written by `sendmsg`, each with a fault
/// point of its own (`Call::TlsRecv`, `Call::TlsSend`), so that a test can strike the TLS
/// layer's calls alone. For non-blocking sockets in the poller only (every call passes
/// `MSG_DONTWAIT`): the health checks' blocking handshakes keep `connseq-tls`'s plain calls.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsSocketIo;

impl connseq_tls::SocketIo for TlsSocketIo {
    fn recv(&self, sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        let len = fault_point(Call::TlsRecv, buf.len(), false)?;
        recv_raw(sock, &mut buf[..len], 0)
    }

    fn send(&self, sock: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
        note_tls_send(send_vectored(Call::TlsSend, &sock, &[io::IoSlice::new(buf)]))
    }

    fn send_vectored(&self, sock: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        note_tls_send(send_vectored(Call::TlsSend, &sock, bufs))
    }
}

thread_local! {
    /// The errno of this thread's last TLS record send that failed: the TLS
    /// layer reports a failed write as a reset, and the runtime needs to
    /// tell `EPIPE` (the RST came after the peer's FIN) from `ECONNRESET`.
    static TLS_SEND_ERRNO: std::cell::Cell<Option<i32>> = const { std::cell::Cell::new(None) };
}

fn note_tls_send(r: io::Result<usize>) -> io::Result<usize> {
    if let Err(e) = &r {
        if e.kind() != io::ErrorKind::WouldBlock {
            TLS_SEND_ERRNO.with(|c| c.set(e.raw_os_error()));
        }
    }
    r
}

/// Takes the errno of this thread's last failed TLS record send (see [`TlsSocketIo`]).
pub fn take_tls_send_errno() -> Option<i32> {
    TLS_SEND_ERRNO.with(|c| c.take())
}

/// `recv(MSG_DONTWAIT)` into `buf`, retrying `EINTR`.
///
/// `Ok(0)` with a non-empty `buf` is the peer's FIN (read0). A short read is
/// not EOF. `EAGAIN` comes back as `WouldBlock`; an incoming RST as
/// `ConnectionReset`.
pub fn recv<S: AsFd>(sock: &S, buf: &mut [u8]) -> io::Result<usize> {
    let len = fault_point(Call::Recv, buf.len(), false)?;
    recv_raw(sock.as_fd(), &mut buf[..len], 0)
}

/// `recv(MSG_PEEK | MSG_DONTWAIT)`: copies what is queued into `buf`
/// without consuming it (the PROXY header receiver reads exactly the
/// header later). `Ok(0)` with a non-empty `buf` is the peer's FIN with
/// nothing queued before it.
pub fn peek<S: AsFd>(sock: &S, buf: &mut [u8]) -> io::Result<usize> {
    let len = fault_point(Call::Peek, buf.len(), false)?;
    recv_raw(sock.as_fd(), &mut buf[..len], libc::MSG_PEEK)
}

/// `recv(MSG_DONTWAIT | flags)` into `buf`, retrying `EINTR`; no fault point (its callers
/// have theirs).
fn recv_raw(fd: BorrowedFd<'_>, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    retry_eintr(|| {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole
        // call and recv(2) writes at most that many; `fd` is borrowed, hence
        // open.
        cvt_size(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags | libc::MSG_DONTWAIT) })
    })
}

/// `shutdown(SHUT_WR)`: queue a FIN behind the unsent data. Does not block;
/// the read side stays open. `ENOTCONN` (the peer already tore the
/// connection down, or it never connected) is harmless during teardown and
/// ignored.
pub fn shutdown_write<S: AsFd>(sock: &S) -> io::Result<()> {
    match SockRef::from(sock).shutdown(Shutdown::Write) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(()),
        other => other,
    }
}

/// `SO_LINGER {on, 0}`: the next `close()` is abortive: it sends RST,
/// discards the send queue and skips TIME-WAIT. Only where the peer already
/// closed or misbehaved, or a timeout fired (tcp-close-semantics.md).
pub fn set_linger_zero<S: AsFd>(sock: &S) -> io::Result<()> {
    SockRef::from(sock).set_linger(Some(Duration::ZERO))
}

/// Sends at once what earlier `MSG_MORE` sends held back: setting
/// `TCP_NODELAY` forces out pending output (tcp(7)).
pub fn push<S: AsFd>(sock: &S) -> io::Result<()> {
    SockRef::from(sock).set_tcp_nodelay(true)
}

/// Reads and clears `SO_ERROR`: after a non-blocking connect became
/// writable, `None` is success and `Some(e)` its failure (ECONNREFUSED,
/// ETIMEDOUT); after a RST, `Some(ECONNRESET)`.
pub fn take_error<S: AsFd>(sock: &S) -> io::Result<Option<io::Error>> {
    SockRef::from(sock).take_error()
}

/// Bytes queued for reading on `sock` and not read yet (`FIONREAD`, the
/// socket's `SIOCINQ`): tells "the socket is empty" from "the pipe has no
/// free slot" when a splice into a pipe that holds bytes would block.
pub fn queued_input<S: AsFd>(sock: &S) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points to
    // `n`, alive and writable for the whole call; the descriptor is borrowed,
    // hence open for the call.
    super::cvt(unsafe { libc::ioctl(sock.as_fd().as_raw_fd(), libc::FIONREAD, &mut n as *mut libc::c_int) })?;
    usize::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Bytes written to `sock` that its peer has not acknowledged yet, sent or
/// not (`SIOCOUTQ`, tcp(7); the ioctl is `TIOCOUTQ` by number): 0 once the
/// peer's kernel has received every byte written so far, which an RST then
/// no longer destroys (kernel axiom: what a receiver had received survives
/// the RST). The core's `CheckSendQueue` asks for it before an RST that
/// propagates a peer's abort.
pub fn unacked_output<S: AsFd>(sock: &S) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int through the pointer, which points to
    // `n`, alive and writable for the whole call; the descriptor is borrowed,
    // hence open for the call.
    super::cvt(unsafe { libc::ioctl(sock.as_fd().as_raw_fd(), libc::TIOCOUTQ, &mut n as *mut libc::c_int) })?;
    usize::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Every IP address assigned to an interface of this host (`getifaddrs`).
pub fn local_ips() -> io::Result<Vec<std::net::IpAddr>> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
    Ok(addrs
        .filter_map(|ifa| {
            let a = ifa.address?;
            a.as_sockaddr_in()
                .map(|v4| std::net::IpAddr::V4(v4.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| std::net::IpAddr::V6(v6.ip())))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{is_os_error, loopback_pair, pattern_byte, wait, Ready, SigpipeBlocked};
    use super::*;
    use std::io::{Read, Write};
    use std::thread;

    /// Sends all of `data` on a socket that may be non-blocking.
    fn send_all<S: AsFd>(sock: &S, mut data: &[u8]) {
        while !data.is_empty() {
            match send(sock, data, false) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(sock, Ready::Write),
                Err(e) => panic!("send: {e}"),
            }
        }
    }

    /// Receives until EOF on a socket that may be non-blocking.
    fn recv_to_eof<S: AsFd>(sock: &S) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match recv(sock, &mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(sock, Ready::Read),
                Err(e) => panic!("recv: {e}"),
            }
        }
    }

    #[test]
    fn recv_on_an_empty_socket_would_block_even_if_the_socket_blocks() {
        let (ours, _peer) = loopback_pair();
        let mut buf = [0u8; 16];
        let err = recv(&ours, &mut buf).expect_err("nothing to read");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn queued_input_counts_what_arrived_and_was_not_read() {
        let (ours, mut peer) = loopback_pair();
        ours.set_nonblocking(true).expect("O_NONBLOCK");
        assert_eq!(queued_input(&ours).expect("FIONREAD"), 0);
        peer.write_all(b"0123456789").expect("peer write");
        wait(&ours, Ready::Read);
        assert_eq!(queued_input(&ours).expect("FIONREAD"), 10);
        let mut buf = [0u8; 4];
        assert_eq!(recv(&ours, &mut buf).expect("recv"), 4);
        assert_eq!(queued_input(&ours).expect("FIONREAD"), 6);
    }

    #[test]
    fn recv_on_a_mio_stream_reads_the_data_then_zero_at_eof() {
        let (ours, mut peer) = loopback_pair();
        ours.set_nonblocking(true).expect("O_NONBLOCK");
        let ours = mio::net::TcpStream::from_std(ours);
        peer.write_all(b"abc").expect("peer write");
        drop(peer);
        assert_eq!(recv_to_eof(&ours), b"abc");
        let mut buf = [0u8; 16];
        assert_eq!(recv(&ours, &mut buf).expect("EOF is sticky"), 0);
    }

    #[test]
    fn send_with_more_then_a_plain_send_delivers_everything() {
        let (ours, mut peer) = loopback_pair();
        assert_eq!(send(&ours, b"hello, ", true).expect("send MSG_MORE"), 7);
        assert_eq!(send(&ours, b"world", false).expect("send"), 5);
        let mut got = [0u8; 12];
        peer.read_exact(&mut got).expect("peer reads both sends");
        assert_eq!(&got, b"hello, world");
    }

    #[test]
    fn shutdown_write_makes_the_peer_read_zero_after_all_data_and_keeps_the_read_side() {
        const LEN: usize = 300_000;
        let (ours, mut peer) = loopback_pair();
        ours.set_nonblocking(true).expect("O_NONBLOCK");
        let ours = mio::net::TcpStream::from_std(ours);
        let data: Vec<u8> = (0..LEN).map(pattern_byte).collect();
        let peer_side = thread::spawn(move || {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).expect("peer reads to the FIN");
            // The other direction is still open after our shutw.
            peer.write_all(b"still open").expect("peer writes after our FIN");
            got
        });
        send_all(&ours, &data);
        shutdown_write(&ours).expect("shutdown(SHUT_WR)");
        // A second shutw is harmless.
        shutdown_write(&ours).expect("shutdown(SHUT_WR) again");
        let got = peer_side.join().expect("peer thread");
        assert_eq!(got.len(), LEN);
        assert!(got == data, "the peer read every byte, in order, before EOF");
        assert_eq!(recv_to_eof(&ours), b"still open");
    }

    #[test]
    fn shutdown_write_on_an_unconnected_socket_ignores_enotconn() {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        assert!(sock.shutdown(Shutdown::Write).is_err(), "the raw call fails with ENOTCONN");
        shutdown_write(&sock).expect("ENOTCONN is ignored");
    }

    #[test]
    fn set_linger_zero_then_close_makes_the_peer_read_fail_with_connection_reset() {
        let (ours, mut peer) = loopback_pair();
        set_linger_zero(&ours).expect("SO_LINGER {1, 0}");
        assert_eq!(SockRef::from(&ours).linger().expect("SO_LINGER"), Some(Duration::ZERO));
        drop(ours);
        let mut buf = [0u8; 16];
        let err = peer.read(&mut buf).expect_err("RST, not FIN");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn send_after_the_peer_reset_fails_and_raises_no_sigpipe() {
        let sigpipe = SigpipeBlocked::new();
        let (ours, peer) = loopback_pair();
        set_linger_zero(&peer).expect("SO_LINGER {1, 0}");
        drop(peer);
        // The RST makes our socket readable (POLLIN | POLLERR | POLLHUP).
        wait(&ours, Ready::Read);
        let first = send(&ours, b"late", false);
        assert!(is_os_error(&first, &[libc::EPIPE, libc::ECONNRESET]), "first send: {first:?}");
        let second = send(&ours, b"later", true);
        assert!(is_os_error(&second, &[libc::EPIPE, libc::ECONNRESET]), "second send: {second:?}");
        assert!(!sigpipe.take_pending(), "MSG_NOSIGNAL: no SIGPIPE was raised");
    }

    #[test]
    fn take_error_reports_the_reset_once() {
        let (ours, peer) = loopback_pair();
        set_linger_zero(&peer).expect("SO_LINGER {1, 0}");
        drop(peer);
        wait(&ours, Ready::Read);
        let err = take_error(&ours).expect("getsockopt(SO_ERROR)").expect("a pending error");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        assert!(take_error(&ours).expect("getsockopt(SO_ERROR)").is_none(), "SO_ERROR is cleared");
    }

    #[test]
    fn take_error_after_a_refused_nonblocking_connect_is_connection_refused() {
        // A bound port nobody listens on refuses; holding it keeps it ours.
        let holder = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("literal address");
        holder.bind(&any.into()).expect("bind");
        let addr = holder.local_addr().expect("local addr").as_socket().expect("an IP address");
        match mio::net::TcpStream::connect(addr) {
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            Ok(stream) => {
                wait(&stream, Ready::Write);
                let err = take_error(&stream).expect("getsockopt(SO_ERROR)").expect("connect failed");
                assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
            }
        }
    }

    #[test]
    fn the_tls_seam_sends_a_single_buffer_and_keeps_the_errno_of_a_failed_send() {
        // rustls writes records with `send_vectored`; `send` is the seam's
        // other entry, which a caller may use for one buffer.
        use connseq_tls::SocketIo;
        let (ours, mut peer) = loopback_pair();
        let _ = take_tls_send_errno();
        assert_eq!(TlsSocketIo.send(ours.as_fd(), b"record").expect("send"), 6);
        let mut got = [0u8; 6];
        peer.read_exact(&mut got).expect("the peer reads it");
        assert_eq!(&got, b"record");
        assert_eq!(take_tls_send_errno(), None, "nothing failed");
        socket2::SockRef::from(&peer).set_linger(Some(std::time::Duration::ZERO)).expect("SO_LINGER 0");
        drop(peer);
        wait(&ours, Ready::Read);
        let _sigpipe = SigpipeBlocked::new();
        assert!(TlsSocketIo.send(ours.as_fd(), b"more").is_err(), "the peer reset");
        assert!(matches!(take_tls_send_errno(), Some(libc::ECONNRESET | libc::EPIPE)));
    }

    #[test]
    fn local_ips_has_loopback_and_no_wildcard() {
        let ips = local_ips().expect("getifaddrs");
        assert!(ips.contains(&std::net::IpAddr::from([127, 0, 0, 1])), "{ips:?}");
        assert!(ips.iter().all(|ip| !ip.is_unspecified()), "{ips:?}");
    }
}
