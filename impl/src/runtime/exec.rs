//! The executor: performs one [`Action`] of the core with real syscalls and
//! says what happened as an [`Outcome`], mirroring the model's abstract
//! kernel (`connseq_model::check::system`, `execute`). It decides nothing:
//! every sequencing choice is the core's.
//!
//! This slice runs raw TCP on buffers only: TLS, PROXY headers, rules and
//! splice are not offered by the listener configuration the worker builds,
//! so the core never asks for them; if it did, that is an internal error,
//! logged, and answered with an outcome that closes the connection.

use super::backend::BackendState;
use super::session::Slot;
use crate::pool::BufPool;
use crate::sys::socket;
use connseq_model::core::{Action, Millis, Outcome, Pick, SessionConfig, Side, Sink, Source};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io;

/// What an action may touch besides its session.
#[derive(Debug)]
pub(crate) struct Exec<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) pool: &'a mut BufPool,
    pub(crate) backend: &'a mut BackendState,
    pub(crate) cfg: &'a SessionConfig,
    pub(crate) now: Millis,
    /// This session's slot index and generation (its place in a queue).
    pub(crate) waiter: (usize, u32),
    pub(crate) back_token: Token,
    /// Servers whose slot this session gave back: the worker offers them to
    /// the backend's queue.
    pub(crate) released: &'a mut Vec<u8>,
}

fn is_resource_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

fn internal(slot: &Slot, action: Action, outcome: Outcome) -> Outcome {
    eprintln!("connseq: internal error: {}: unsupported action {action:?} in this runtime; closing", slot.client);
    outcome
}

impl Exec<'_> {
    /// Performs `action` on `slot`'s sockets and buffers.
    pub(crate) fn run(&mut self, slot: &mut Slot, action: Action) -> Outcome {
        match action {
            Action::Recv { side, into: Sink::Buffer } => self.recv(slot, side),
            Action::Recv { side, into: Sink::Discard } => Self::drain(slot, side),
            Action::Send { side, from: Source::Buffer, more } => self.send(slot, side, more),
            Action::Discard(dir) => {
                let (_, buf) = slot.io(dir.producer(), dir);
                buf.clear(self.pool);
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
                let pick = self.backend.pick(avoid, self.cfg.queue, self.waiter);
                if let Pick::Assigned(_) = pick {
                    slot.times.assigned = Some(self.now);
                }
                Outcome::Pick(pick)
            }
            Action::Connect { server } => self.connect(slot, server),
            Action::FinishConnect => self.finish_connect(slot),
            Action::ReleaseServer { server } => {
                self.backend.release(server);
                self.released.push(server);
                Outcome::Done
            }
            Action::Recv { into: Sink::Pipe, .. } | Action::Send { from: Source::Pipe, .. } => {
                internal(slot, action, Outcome::Reset)
            }
            Action::Send { from: Source::Reply | Source::ProxyHeader, .. }
            | Action::DataShutw(_)
            | Action::TlsHandshake(_) => internal(slot, action, Outcome::Reset),
            Action::RecvProxyHeader => internal(slot, action, Outcome::Invalid),
            Action::EvalRules(_) => internal(slot, action, Outcome::Verdict(false)),
        }
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
        let Some(addr) = self.backend.addr(server) else {
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
