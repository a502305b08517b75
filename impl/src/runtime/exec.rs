//! The executor: performs one [`Action`] of the core with real syscalls and
//! says what happened as an [`Outcome`], mirroring the model's abstract
//! kernel (`connseq_model::check::system`, `execute`). It decides nothing:
//! every sequencing choice is the core's.
//!
//! This slice runs raw TCP on buffers and splice pipes: TLS, PROXY headers
//! and rules are not offered by the listener configuration the worker
//! builds, so the core never asks for them; if it did, that is an internal
//! error, logged, and answered with an outcome that closes the connection.
//!
//! Splice (`Recv { into: Pipe }`, `Send { from: Pipe }`): a channel takes a
//! pipe from the [`PipePool`] on its first splice and gives it back as soon
//! as it is empty. `splice_in` failing with `WouldBlock` is ambiguous (the
//! socket is empty, or the pipe has no free slot): with bytes in the pipe it
//! is reported as `Data { full: true }`, so the core flushes the pipe and
//! reads again without waiting for an edge that may never come; only with an
//! empty pipe is it the socket's `WouldBlock`.

use super::backend::Waiter;
use super::session::Slot;
use super::shared::Shared;
use crate::pool::{BufPool, NoPipe, PipePool};
use crate::sys::{pipe, socket};
use connseq_model::core::{Action, Millis, Outcome, Pick, Side, Sink, Source, SpliceMode};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io;
use std::sync::atomic::Ordering;
use tracing::{error, warn};

/// What an action may touch besides its session.
#[derive(Debug)]
pub(crate) struct Exec<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) pool: &'a mut BufPool,
    pub(crate) pipes: &'a mut PipePool,
    /// The threads' shared state: the backends' balancer state (locked for
    /// a pick or a release) and the counters.
    pub(crate) shared: &'a Shared,
    /// This session's backend.
    pub(crate) backend: usize,
    pub(crate) now: Millis,
    /// This session's thread, slot index and generation (its place in a queue).
    pub(crate) waiter: Waiter,
    pub(crate) back_token: Token,
    /// Servers whose slot this session gave back: the worker offers them to
    /// the backend's queue.
    pub(crate) released: &'a mut Vec<u8>,
}

fn is_resource_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

fn internal(slot: &Slot, action: Action, outcome: Outcome) -> Outcome {
    error!(target: "connseq::runtime", "internal error: {}: unsupported action {action:?} in this runtime; closing", slot.client);
    outcome
}

impl Exec<'_> {
    /// Performs `action` on `slot`'s sockets and buffers.
    pub(crate) fn run(&mut self, slot: &mut Slot, action: Action) -> Outcome {
        match action {
            Action::Recv { side, into: Sink::Buffer } => self.recv(slot, side),
            Action::Recv { side, into: Sink::Discard } => Self::drain(slot, side),
            Action::Send { side, from: Source::Buffer, more } => self.send(slot, side, more),
            Action::Recv { side, into: Sink::Pipe } => self.recv_pipe(slot, side),
            Action::Send { side, from: Source::Pipe, more } => self.send_pipe(slot, side, more),
            Action::Discard(dir) => {
                let (_, buf) = slot.io(dir.producer(), dir);
                buf.clear_all(self.pool, self.pipes);
                Outcome::Done
            }
            Action::CtrlShutw(side) => {
                if let Some(s) = slot.sock(side).stream.as_ref() {
                    // The core counts shutdown(SHUT_WR) as done whatever
                    // happens: ENOTCONN is ignored below, and any other error
                    // shows up on the next recv or send.
                    let _ = socket::shutdown_write(s);
                }
                Outcome::Done
            }
            // A raw data layer holds no state to free.
            Action::DataClose(_) => Outcome::Done,
            Action::CtrlClose(side) => {
                slot.sock(side).deregister(self.registry);
                Outcome::Done
            }
            Action::SockClose { side, abortive } => {
                let sock = slot.sock(side);
                if abortive {
                    if let Some(s) = sock.stream.as_ref() {
                        // If SO_LINGER cannot be set the close is a FIN: the
                        // peer sees an orderly end instead of a reset.
                        let _ = socket::set_linger_zero(s);
                    }
                }
                sock.close(self.registry);
                Outcome::Done
            }
            Action::PickServer { avoid } => {
                slot.times.pick.get_or_insert(self.now);
                let pick = self.shared.backend(self.backend).pick(avoid, slot.cfg.queue, self.waiter);
                match pick {
                    Pick::Assigned(_) => slot.times.assigned = Some(self.now),
                    Pick::Queue => {
                        self.shared.counters.queued.fetch_add(1, Ordering::Relaxed);
                    }
                    Pick::NoServer => {}
                }
                Outcome::Pick(pick)
            }
            Action::Connect { server } => {
                self.shared.counters.connects.fetch_add(1, Ordering::Relaxed);
                slot.connects += 1;
                let outcome = self.connect(slot, server);
                self.count_failure(outcome)
            }
            Action::FinishConnect => {
                let outcome = self.finish_connect(slot);
                self.count_failure(outcome)
            }
            Action::ReleaseServer { server } => {
                self.shared.backend(self.backend).release(server);
                self.released.push(server);
                Outcome::Done
            }
            Action::Send { from: Source::Reply | Source::ProxyHeader, .. }
            | Action::DataShutw(_)
            | Action::TlsHandshake(_) => internal(slot, action, Outcome::Reset),
            Action::RecvProxyHeader => internal(slot, action, Outcome::Invalid),
            Action::EvalRules(_) => internal(slot, action, Outcome::Verdict(false)),
        }
    }

    fn count_failure(&self, outcome: Outcome) -> Outcome {
        if matches!(outcome, Outcome::Refused | Outcome::NoResource) {
            self.shared.counters.connect_failures.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    fn recv(&mut self, slot: &mut Slot, side: Side) -> Outcome {
        let (sock, buf) = slot.io(side, side.input());
        let Some(sock) = sock else { return Outcome::Reset };
        let got = socket::recv(sock, buf.space(self.pool));
        let outcome = match got {
            Ok(0) => Outcome::Eof,
            Ok(n) => {
                buf.commit(n);
                return Outcome::Data { full: buf.is_full() };
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
            Err(_) => Outcome::Reset,
        };
        buf.release_if_empty(self.pool);
        outcome
    }

    /// Splices from `side`'s socket into its input channel's pipe.
    fn recv_pipe(&mut self, slot: &mut Slot, side: Side) -> Outcome {
        let dir = side.input();
        let (sock, chan) = slot.io(side, dir);
        let Some(sock) = sock else { return Outcome::Reset };
        let pipe = match chan.pipe.as_mut() {
            Some(p) => p,
            None => match self.pipes.get() {
                Ok(p) => chan.pipe.insert(p),
                Err(why) => return self.splice_fallback(slot, side, why),
            },
        };
        let got = pipe.splice_in(sock, pipe.capacity());
        let (empty, full) = (pipe.is_empty(), pipe.len() >= pipe.capacity());
        let outcome = match got {
            Ok(0) => Outcome::Eof,
            Ok(_) => Outcome::Data { full },
            // Empty pipe: the socket has nothing. Bytes in the pipe: maybe
            // the pipe is out of slots while the socket still holds data;
            // "full" makes the core flush before it reads again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if empty {
                    Outcome::WouldBlock
                } else {
                    Outcome::Data { full: true }
                }
            }
            Err(e) if empty && self.pipes.note_splice_error(&e) => {
                chan.drop_pipe(self.pipes);
                return self.splice_fallback(slot, side, NoPipe::Os(e));
            }
            Err(_) => Outcome::Reset,
        };
        chan.release_pipe_if_empty(self.pipes);
        outcome
    }

    /// No pipe for this `Recv { into: Pipe }`: the pool is at its limit or
    /// out of descriptors, or splice is not supported here (`ENOSYS`, or
    /// `EINVAL` for this socket, on a splice into an empty pipe).
    ///
    /// The core's decision cannot be changed, and its fill levels must match
    /// the runtime's: reading into the buffer now would leave the bytes where
    /// the core does not believe they are, and `Data` would claim bytes that
    /// are not there. So nothing is read: the session's configuration
    /// becomes `SpliceMode::Never` for good, the action is answered with
    /// `WouldBlock` (true: nothing moved, the pipe is empty as the core
    /// believes), and `rearm_read` makes the worker report the side readable
    /// again at once, so the socket's data is read, now into the buffer,
    /// without waiting for an edge that already happened. The pool stops
    /// handing out pipes after `ENOSYS`, so new sessions start with `Never`.
    /// The loopback kernel of the tests supports splice: the unsupported
    /// path is not exercised by them.
    fn splice_fallback(&mut self, slot: &mut Slot, side: Side, why: NoPipe) -> Outcome {
        match why {
            NoPipe::Limit => {}
            NoPipe::Unsupported => {}
            NoPipe::Os(e) if pipe::is_unsupported(&e) => {
                warn!(target: "connseq::runtime", "{}: splice not supported ({e}); using buffers", slot.client);
            }
            NoPipe::Os(e) => warn!(target: "connseq::runtime", "{}: no pipe ({e}); using buffers", slot.client),
        }
        slot.cfg.splice = SpliceMode::Never;
        slot.rearm_read = Some(side);
        Outcome::WouldBlock
    }

    /// Splices the output channel's pipe into `side`'s socket.
    fn send_pipe(&mut self, slot: &mut Slot, side: Side, more: bool) -> Outcome {
        let dir = side.output();
        let client = slot.client;
        let (sock, chan) = slot.io(side, dir);
        let Some(sock) = sock else { return Outcome::Reset };
        let Some(pipe) = chan.pipe.as_mut().filter(|p| !p.is_empty()) else {
            let action = Action::Send { side, from: Source::Pipe, more };
            error!(target: "connseq::runtime", "internal error: {client}: {action:?} with an empty pipe");
            return Outcome::Sent { drained: true };
        };
        match pipe.splice_out(sock, usize::MAX) {
            Ok(0) => Outcome::WouldBlock,
            Ok(n) => {
                let drained = pipe.is_empty();
                chan.release_pipe_if_empty(self.pipes);
                slot.sent[dir as usize] += n as u64;
                Outcome::Sent { drained }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
            Err(_) => Outcome::Reset,
        }
    }

    /// The drain of an active shutr: read and throw away.
    fn drain(slot: &mut Slot, side: Side) -> Outcome {
        let Some(sock) = slot.sock(side).stream.as_ref() else { return Outcome::Reset };
        let mut scratch = [0u8; 4096];
        match socket::recv(sock, &mut scratch) {
            Ok(0) => Outcome::Eof,
            Ok(_) => Outcome::Data { full: false },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
            Err(_) => Outcome::Reset,
        }
    }

    fn send(&mut self, slot: &mut Slot, side: Side, more: bool) -> Outcome {
        let dir = side.output();
        let (sock, buf) = slot.io(side, dir);
        let Some(sock) = sock else { return Outcome::Reset };
        if buf.is_empty() {
            return internal(slot, Action::Send { side, from: Source::Buffer, more }, Outcome::Sent { drained: true });
        }
        match socket::send(sock, buf.pending(), more) {
            Ok(0) => Outcome::WouldBlock,
            Ok(n) => {
                buf.consume(n, self.pool);
                let drained = buf.is_empty();
                slot.sent[dir as usize] += n as u64;
                Outcome::Sent { drained }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
            Err(_) => Outcome::Reset,
        }
    }

    fn connect(&mut self, slot: &mut Slot, server: u8) -> Outcome {
        let Some(addr) = self.shared.backend(self.backend).addr(server) else {
            return internal(slot, Action::Connect { server }, Outcome::Refused);
        };
        slot.server = Some(addr);
        slot.times.connect = Some(self.now);
        slot.times.established = None;
        // The previous attempt's socket, if any, was closed by its SockClose.
        slot.back.close(self.registry);
        let mut stream = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) if is_resource_error(&e) => return Outcome::NoResource,
            Err(_) => return Outcome::Refused,
        };
        // Latency matters more than segment count for a proxy; MSG_MORE
        // still coalesces where the core knows more follows.
        let _ = stream.set_nodelay(true);
        if let Err(e) = self.registry.register(&mut stream, self.back_token, Interest::READABLE | Interest::WRITABLE) {
            return if is_resource_error(&e) { Outcome::NoResource } else { Outcome::Refused };
        }
        slot.back = super::session::Sock { stream: Some(stream), registered: true };
        Outcome::InProgress
    }

    fn finish_connect(&mut self, slot: &mut Slot) -> Outcome {
        let Some(s) = slot.back.stream.as_ref() else { return Outcome::Refused };
        match socket::take_error(s) {
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => return Outcome::Refused,
        }
        // No error and a peer: connected. No error and no peer: the event
        // was not the connect's completion (still in progress).
        match s.peer_addr() {
            Ok(_) => {
                slot.times.established = Some(self.now);
                Outcome::Done
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Outcome::WouldBlock,
            Err(_) => Outcome::Refused,
        }
    }
}
