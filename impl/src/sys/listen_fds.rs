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

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables are process-wide: one test goes through every case, and none of them
    /// takes a descriptor (a wrong one closed here would be another test's).
    #[test]
    fn only_an_announcement_for_this_process_is_read_and_the_variables_go() {
        let ours = std::process::id();
        // Another process's announcement is not read, not even its count.
        std::env::set_var("LISTEN_PID", (ours + 1).to_string());
        std::env::set_var("LISTEN_FDS", "not a count");
        assert!(take().expect("another process's announcement").is_empty());
        assert!(std::env::var_os("LISTEN_PID").is_none() && std::env::var_os("LISTEN_FDS").is_none());
        // No announcement.
        assert!(take().expect("none").is_empty());
        // Ours: the count is read; one that is not a number is named.
        std::env::set_var("LISTEN_PID", ours.to_string());
        std::env::set_var("LISTEN_FDS", "two");
        let err = take().expect_err("not a number");
        assert!(err.to_string().contains("LISTEN_FDS=two"), "{err}");
        std::env::set_var("LISTEN_PID", format!(" {ours}\n"));
        std::env::set_var("LISTEN_FDS", "0");
        assert!(take().expect("ours, none passed").is_empty());
    }
}
