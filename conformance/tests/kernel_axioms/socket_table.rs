//! The kernel's TCP socket table, asked about one loopback 4-tuple at a
//! time through `NETLINK_SOCK_DIAG` (inet_diag, what ss(8) uses). It shows
//! what a process can no longer ask its own fd: whether a closed socket
//! lingers as an orphan or in TIME-WAIT, and how much it still holds.
//!
//! A request without `NLM_F_DUMP` is an exact lookup of one socket
//! (`inet_diag_find_one_icsk`), atomic with respect to other sockets coming
//! and going. Reading `/proc/net/tcp` is not: it is read a page at a time,
//! so while parallel tests open and close sockets a row may show twice or
//! not at all.
//!
//! The messages are built by hand (`linux/netlink.h`, `linux/sock_diag.h`,
//! `linux/inet_diag.h`): socket2 opens the netlink socket, and no `unsafe`
//! is needed.

use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Read};
use std::sync::atomic::{AtomicU32, Ordering};

const AF_NETLINK: i32 = 16;
const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const AF_INET: u8 = 2;
const IPPROTO_TCP: u8 = 6;
const ENOENT: i32 = 2;
/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDRLEN: usize = 16;
/// Offsets in `struct inet_diag_msg`: family, state, timer, retrans, then
/// the 48-byte `inet_diag_sockid`, then expires, rqueue, wqueue.
const MSG_STATE: usize = 1;
const MSG_SPORT: usize = 4;
const MSG_DPORT: usize = 6;
const MSG_RQUEUE: usize = 56;
const MSG_WQUEUE: usize = 60;
const MSG_LEN: usize = 72;

/// A TCP state as the kernel numbers it (`include/net/tcp_states.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
    NewSynRecv,
    Unknown(u8),
}

impl TcpState {
    fn from_code(code: u8) -> TcpState {
        match code {
            1 => TcpState::Established,
            2 => TcpState::SynSent,
            3 => TcpState::SynRecv,
            4 => TcpState::FinWait1,
            5 => TcpState::FinWait2,
            6 => TcpState::TimeWait,
            7 => TcpState::Close,
            8 => TcpState::CloseWait,
            9 => TcpState::LastAck,
            10 => TcpState::Listen,
            11 => TcpState::Closing,
            12 => TcpState::NewSynRecv,
            other => TcpState::Unknown(other),
        }
    }
}

/// What the kernel reports about one socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRow {
    pub state: TcpState,
    /// Sequence numbers written and not yet acknowledged by the peer
    /// (`write_seq - snd_una`): bytes unsent or in flight, plus one for a
    /// queued FIN.
    pub tx_queue: u32,
    /// Sequence numbers received and not yet read by the application
    /// (`rcv_nxt - copied_seq`): the unread bytes, plus one for a FIN.
    pub rx_queue: u32,
}

/// The socket `127.0.0.1:local_port -> 127.0.0.1:remote_port`, if the kernel
/// still tracks it (connected, orphaned, or in TIME-WAIT). A socket the
/// kernel has released (closed by an RST, or by an abortive close) has
/// none.
pub fn row(local_port: u16, remote_port: u16) -> Option<TcpRow> {
    let diag = Socket::new(Domain::from(AF_NETLINK), Type::DGRAM, Some(Protocol::from(NETLINK_SOCK_DIAG)))
        .expect("netlink socket (NETLINK_SOCK_DIAG)");
    let seq = next_seq();
    let sent = diag.send(&request(seq, local_port, remote_port)).expect("send the inet_diag request");
    assert_eq!(sent, NLMSG_HDRLEN + 56, "the request went out whole");
    let mut reply = vec![0u8; 8192];
    let n = (&diag).read(&mut reply).expect("receive the inet_diag reply");
    parse_reply(&reply[..n], seq, local_port, remote_port).expect("a well-formed inet_diag reply")
}

fn next_seq() -> u32 {
    static SEQ: AtomicU32 = AtomicU32::new(1);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// `nlmsghdr` + `inet_diag_req_v2` for one IPv4 TCP 4-tuple, any state.
fn request(seq: u32, local_port: u16, remote_port: u16) -> Vec<u8> {
    let loopback = [127u8, 0, 0, 1];
    let mut req = Vec::with_capacity(NLMSG_HDRLEN + 56);
    // struct nlmsghdr
    req.extend_from_slice(&((NLMSG_HDRLEN + 56) as u32).to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel
                                                // struct inet_diag_req_v2
    req.extend_from_slice(&[AF_INET, IPPROTO_TCP, 0, 0]); // family, protocol, ext, pad
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // states: all
                                                    // struct inet_diag_sockid: ports and addresses in network order
    req.extend_from_slice(&local_port.to_be_bytes());
    req.extend_from_slice(&remote_port.to_be_bytes());
    req.extend_from_slice(&loopback);
    req.extend_from_slice(&[0u8; 12]);
    req.extend_from_slice(&loopback);
    req.extend_from_slice(&[0u8; 12]);
    req.extend_from_slice(&0u32.to_ne_bytes()); // interface: any
    req.extend_from_slice(&[0xFF; 8]); // cookie: INET_DIAG_NOCOOKIE
    req
}

/// `Ok(None)` for "no such socket": `ENOENT`, or the listener the lookup
/// falls back to when the connected socket on a listener's port is gone.
fn parse_reply(reply: &[u8], seq: u32, local_port: u16, remote_port: u16) -> io::Result<Option<TcpRow>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let u16_at = |at: usize| reply.get(at..at + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let u32_at = |at: usize| reply.get(at..at + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    let ty = u16_at(4).ok_or_else(|| bad("short netlink header"))?;
    if u32_at(8) != Some(seq) {
        return Err(bad("reply to another request"));
    }
    let msg = NLMSG_HDRLEN;
    if ty == NLMSG_ERROR {
        let code = u32_at(msg).ok_or_else(|| bad("short nlmsgerr"))? as i32;
        return match -code {
            ENOENT => Ok(None),
            errno => Err(io::Error::from_raw_os_error(errno)),
        };
    }
    if ty != SOCK_DIAG_BY_FAMILY || reply.len() < msg + MSG_LEN {
        return Err(bad("not an inet_diag_msg"));
    }
    let port_at = |at: usize| u16::from_be_bytes([reply[msg + at], reply[msg + at + 1]]);
    let state = TcpState::from_code(reply[msg + MSG_STATE]);
    if state == TcpState::Listen || (port_at(MSG_SPORT), port_at(MSG_DPORT)) != (local_port, remote_port) {
        return Ok(None);
    }
    let field = |at: usize| u32_at(msg + at).ok_or_else(|| bad("short inet_diag_msg"));
    Ok(Some(TcpRow { state, tx_queue: field(MSG_WQUEUE)?, rx_queue: field(MSG_RQUEUE)? }))
}
