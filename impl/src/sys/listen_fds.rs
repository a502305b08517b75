//! systemd socket activation (sd_listen_fds(3)): the listening sockets a
//! service manager passes from descriptor 3 on, announced by `LISTEN_PID`
//! (this process) and `LISTEN_FDS` (how many).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The first descriptor passed (`SD_LISTEN_FDS_START`).
const START: RawFd = 3;

/// The descriptors passed to this process, if `LISTEN_PID` names it; the
/// variables are removed so that no child takes them for its own.
pub fn take() -> io::Result<Vec<OwnedFd>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let count = std::env::var("LISTEN_FDS").ok();
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let (Some(pid), Some(count)) = (pid, count) else { return Ok(Vec::new()) };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(Vec::new());
    }
    let n: RawFd = count
        .trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("LISTEN_FDS={count}: not a number")))?;
    let mut fds = Vec::new();
    for fd in START..START.saturating_add(n) {
        // fcntl(F_GETFD) fails with EBADF for a number that is not open:
        // the count was wrong, and the number is not taken.
        // SAFETY: F_GETFD only reads the descriptor's flags; on a number
        // that is not open it fails with EBADF and changes nothing.
        super::cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })
            .map_err(|e| io::Error::new(e.kind(), format!("LISTEN_FDS: descriptor {fd} is not open")))?;
        // SAFETY: the service manager opened `fd` for this process (LISTEN_PID
        // is ours), it is open (checked above), and nothing else in the
        // process claims the numbers from 3 on before this runs at start.
        fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    Ok(fds)
}
