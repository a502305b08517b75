//! The runtime API: HAProxy's stats socket for connseq. A Unix stream
//! socket (`--stats-socket PATH`, `[global] stats-socket`) that takes one
//! line of commands per connection, separated by `;`, and answers each
//! (`commands` lists them, with HAProxy's names and answers), so that
//! `echo "show stat" | socat stdio /run/connseq.sock` works as it does
//! with HAProxy. `prompt` keeps the connection for more lines (interactive
//! mode); `quit` ends it.
//!
//! The same socket lends the listening sockets to a new process (`connseq
//! proxy -x PATH`, see `takeover`).
//!
//! The socket file is created with mode 0600 (only the proxy's user may
//! steer it); a socket file left at the path by an earlier process is
//! replaced, and the file is left in place at exit (a process that took
//! over may be serving at the same path by then).

mod commands;
mod stat_csv;
pub mod takeover;

use crate::runtime::Control;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{info, warn};

/// How long a connection may stay silent before it is closed.
const IDLE: Duration = Duration::from_secs(60);

/// How often the accepting thread looks whether it must stop.
const STOP_POLL: Duration = Duration::from_millis(100);

/// The runtime API's socket and the thread serving it; dropping it stops
/// serving.
#[derive(Debug)]
pub struct AdminServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AdminServer {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Binds the runtime API at `path` (replacing a socket file left there)
/// and serves it on a thread of its own.
pub fn serve(path: &Path, control: Control) -> io::Result<AdminServer> {
    bind(path)?.serve(control)
}

/// The runtime API's socket, bound and not served yet: a client that
/// connects now waits in its backlog until [`AdminSocket::serve`]. A
/// process binds it before it announces that it listens, so that a script
/// (or a new process taking the sockets over, `-x`) that reads the
/// announcement finds the socket there.
///
/// A socket file that was at the path (an older process's, during a
/// takeover) is kept aside under a second name until then: dropped without
/// being served (the process failed to start), this puts that file back, so
/// that the older process, which keeps running, is still reached at the
/// path; HAProxy does the same with its Unix listeners.
#[derive(Debug)]
pub struct AdminSocket {
    path: PathBuf,
    listener: Option<UnixListener>,
    backup: Option<PathBuf>,
}

/// Binds the runtime API at `path`, replacing a socket file left there.
///
/// The socket is bound under a temporary name beside `path` and renamed
/// over it, so that a client finds the old socket or the new one at the
/// path, never none.
pub fn bind(path: &Path) -> io::Result<AdminSocket> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("stats socket {}: {e}", path.display()));
    let beside = |tag: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{}.{tag}", std::process::id()));
        PathBuf::from(name)
    };
    let (temp, backup) = (beside("tmp"), beside("bak"));
    let backup = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            let _ = std::fs::remove_file(&backup);
            // Without a link (a file system that has none), the old file is
            // only replaced, as it would be without this.
            std::fs::hard_link(path, &backup).ok().map(|()| backup)
        }
        Ok(_) => return Err(named(io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a socket"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(named(e)),
    };
    let _ = std::fs::remove_file(&temp);
    let bound = UnixListener::bind(&temp).and_then(|listener| {
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        std::fs::rename(&temp, path)?;
        Ok(listener)
    });
    match bound {
        Ok(listener) => Ok(AdminSocket { path: path.to_owned(), listener: Some(listener), backup }),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            if let Some(b) = backup {
                let _ = std::fs::remove_file(b);
            }
            Err(named(e))
        }
    }
}

impl AdminSocket {
    /// Serves the socket on a thread of its own.
    pub fn serve(mut self, control: Control) -> io::Result<AdminServer> {
        let listener = self.listener.take().expect("an AdminSocket is served once");
        if let Some(b) = self.backup.take() {
            let _ = std::fs::remove_file(b);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("connseq-admin".into())
            .spawn(move || accept_loop(listener, control, flag))?;
        Ok(AdminServer { path: self.path.clone(), stop, thread: Some(thread) })
    }
}

impl Drop for AdminSocket {
    /// Not served: the process did not start. The socket file it put at the
    /// path gives way to the one that was there, or to none.
    fn drop(&mut self) {
        if self.listener.is_none() {
            return;
        }
        match self.backup.take() {
            Some(b) => {
                let _ = std::fs::rename(b, &self.path);
            }
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

fn accept_loop(listener: UnixListener, control: Control, stop: Arc<AtomicBool>) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let timeout = PollTimeout::try_from(STOP_POLL).unwrap_or(PollTimeout::MAX);
    while !stop.load(Ordering::Acquire) {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, timeout).is_err() {
            continue;
        }
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    let control = control.clone();
                    let spawned = std::thread::Builder::new().name("connseq-admin-conn".into()).spawn(move || {
                        if let Err(e) = serve_connection(stream, &control) {
                            info!(target: "connseq::runtime", "runtime API: connection ended: {e}");
                        }
                    });
                    if let Err(e) = spawned {
                        warn!(target: "connseq::runtime", "runtime API: cannot serve a connection: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    warn!(target: "connseq::runtime", "runtime API: accept: {e}");
                    break;
                }
            }
        }
    }
}

/// One connection: a line of `;`-separated commands, each answered and
/// followed by an empty line; more lines in interactive mode.
fn serve_connection(stream: UnixStream, control: &Control) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IDLE))?;
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    let mut prompt = false;
    let mut line = String::new();
    loop {
        if prompt {
            out.write_all(b"> ")?;
        }
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        for cmd in line.split(';').map(str::trim) {
            match cmd {
                "prompt" => prompt = !prompt,
                "quit" => return Ok(()),
                takeover::GETSOCKS => return takeover::lend(&mut lines, control),
                _ => {
                    let mut answer = commands::run(control, cmd);
                    answer.push('\n');
                    out.write_all(answer.as_bytes())?;
                }
            }
        }
        if !prompt {
            return Ok(());
        }
    }
}
