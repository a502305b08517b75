//! Descriptors passed between processes over a Unix stream socket
//! (`SCM_RIGHTS`, unix(7)), for the takeover of listening sockets.
//!
//! One message: a 4-byte count (little endian) and that many descriptors
//! as ancillary data; a count of 0 with none ends a transfer. nix makes the
//! calls; turning the received numbers into owned descriptors is the one
//! unsafe step.

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// The most descriptors one message may carry (the kernel's SCM_MAX_FD).
pub const MAX_FDS: usize = 253;

/// Sends `fds` (at most [`MAX_FDS`]) in one message.
pub fn send_fds(sock: &UnixStream, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors for one message"));
    }
    let count = u32::try_from(fds.len()).unwrap_or(0).to_le_bytes();
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let iov = [IoSlice::new(&count)];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &cmsg };
    let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None).map_err(io::Error::from)?;
    if sent != count.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short send of a descriptor message"));
    }
    Ok(())
}

/// Receives one message; an empty vector is the end of a transfer.
pub fn recv_fds(sock: &UnixStream) -> io::Result<Vec<OwnedFd>> {
    let mut count = [0u8; 4];
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let mut iov = [IoSliceMut::new(&mut count)];
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(io::Error::from)?;
    let mut fds = Vec::new();
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            for fd in raw {
                // SAFETY: the kernel installed `fd` in this process's table
                // as it delivered the message; nothing else knows it yet,
                // so this is its one owner.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    let truncated = msg.flags.contains(MsgFlags::MSG_CTRUNC);
    let bytes = msg.bytes;
    if bytes == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the other process closed the connection"));
    }
    let want = u32::from_le_bytes(count) as usize;
    if truncated || bytes != count.len() || want != fds.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("descriptor message announced {want} descriptors, {} arrived", fds.len()),
        ));
    }
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn a_message_of_the_most_descriptors_arrives_whole_and_one_more_is_refused_before_the_kernel() {
        let (a, b) = UnixStream::pair().expect("a socket pair");
        let one = a.as_fd();
        send_fds(&a, &vec![one; MAX_FDS]).expect("the most descriptors one message may carry");
        assert_eq!(recv_fds(&b).expect("the message").len(), MAX_FDS);
        let e = send_fds(&a, &vec![one; MAX_FDS + 1]).expect_err("one too many");
        assert_eq!(
            (e.kind(), e.to_string().as_str()),
            (io::ErrorKind::InvalidInput, "too many descriptors for one message")
        );
        // Nothing went: the next message is the end of the transfer.
        send_fds(&a, &[]).expect("the end");
        assert!(recv_fds(&b).expect("the end message").is_empty());
        drop(a);
        assert_eq!(recv_fds(&b).expect_err("closed").kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_message_cut_short_or_short_of_descriptors_is_invalid_not_the_end_of_the_transfer() {
        // Two bytes of a zero count: not a whole count, though no descriptor is missing.
        let (mut a, b) = UnixStream::pair().expect("a socket pair");
        a.write_all(&[0, 0]).expect("half a count");
        drop(a);
        assert_eq!(recv_fds(&b).expect_err("cut short").kind(), io::ErrorKind::InvalidData);
        // A count of 2 with one descriptor.
        let (a, b) = UnixStream::pair().expect("a socket pair");
        let raw = [a.as_raw_fd()];
        let count = 2u32.to_le_bytes();
        sendmsg::<()>(
            a.as_raw_fd(),
            &[IoSlice::new(&count)],
            &[ControlMessage::ScmRights(&raw)],
            MsgFlags::empty(),
            None,
        )
        .expect("send");
        let e = recv_fds(&b).expect_err("one descriptor short");
        assert_eq!(
            (e.kind(), e.to_string().as_str()),
            (io::ErrorKind::InvalidData, "descriptor message announced 2 descriptors, 1 arrived")
        );
    }
}
