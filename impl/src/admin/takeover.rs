//! Seamless reload: a new process takes the listening sockets over from the
//! running one through its runtime API socket, as HAProxy's `-x`.
//!
//! ```text
//! new process                         old process (runtime API)
//! connect(PATH)
//! "_getsocks\n"              ───────▶
//!                            ◀─────── [count=n][n fds, SCM_RIGHTS] ... [count=0]
//! binds what it did not get, starts its event loops
//! "ready\n"                  ───────▶ soft stop: closes its listening
//!                                     sockets, finishes its sessions
//! ```
//!
//! Both processes hold the same listening sockets (the same kernel
//! queues) from the moment the descriptors arrive, so no connection is
//! refused or reset in between: a connection the old process does not
//! accept any more waits in the queue for the new one. If the new process
//! fails before `ready` (the connection ends), the old one goes on as if
//! nothing happened.

use crate::runtime::Control;
use crate::sys::fdpass;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use tracing::info;

/// The command that asks for the listening sockets (HAProxy's name).
pub(crate) const GETSOCKS: &str = "_getsocks";

/// The most descriptors in one message (below the kernel's SCM_MAX_FD, 253).
const BATCH: usize = 200;

/// How long the old process waits for the new one to say it runs.
const READY_GUARD: Duration = Duration::from_secs(120);

/// The old process's side: sends duplicates of every listening socket,
/// then waits for `ready` and stops softly.
pub(crate) fn lend(lines: &mut BufReader<UnixStream>, control: &Control) -> io::Result<()> {
    let socks = control.listening_sockets();
    let stream = lines.get_ref();
    for batch in socks.chunks(BATCH) {
        let fds: Vec<_> = batch.iter().map(AsFd::as_fd).collect();
        fdpass::send_fds(stream, &fds)?;
    }
    fdpass::send_fds(stream, &[])?;
    drop(socks);
    info!(target: "connseq::runtime", "runtime API: listening sockets lent to a new process");
    lines.get_ref().set_read_timeout(Some(READY_GUARD))?;
    let mut line = String::new();
    lines.read_line(&mut line)?;
    if line.trim() == "ready" {
        info!(target: "connseq::runtime", "the new process runs; stopping softly");
        control.soft_stop();
        let _ = lines.get_mut().write_all(b"stopping\n");
    }
    Ok(())
}

/// A takeover in progress on the new process's side: the sockets it got
/// and the connection to tell the old process when it runs.
#[derive(Debug)]
pub struct Takeover {
    stream: UnixStream,
    /// The listening sockets of the old process (every thread's).
    pub sockets: Vec<OwnedFd>,
}

impl Takeover {
    /// Asks the process serving the runtime API at `path` for its
    /// listening sockets.
    pub fn request(path: &Path) -> io::Result<Takeover> {
        let named = |e: io::Error| io::Error::new(e.kind(), format!("takeover from {}: {e}", path.display()));
        let mut stream = UnixStream::connect(path).map_err(named)?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(named)?;
        stream.write_all(format!("{GETSOCKS}\n").as_bytes()).map_err(named)?;
        let mut sockets = Vec::new();
        loop {
            let got = fdpass::recv_fds(&stream).map_err(named)?;
            if got.is_empty() {
                break;
            }
            sockets.extend(got);
        }
        Ok(Takeover { stream, sockets })
    }

    /// Tells the old process that this one runs: it stops accepting and
    /// finishes its sessions.
    pub fn finish(mut self) -> io::Result<()> {
        self.stream.write_all(b"ready\n")?;
        let mut ack = String::new();
        let _ = BufReader::new(&self.stream).read_line(&mut ack);
        Ok(())
    }
}
