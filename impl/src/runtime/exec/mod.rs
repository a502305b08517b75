//! The executor: performs one [`Action`] of the core with real syscalls and
//! says what happened as an [`Outcome`], mirroring the model's abstract
//! kernel (`connseq_model::check::system`, `execute`). It decides nothing:
//! every sequencing choice is the core's.
//!
//! It runs raw TCP on buffers and splice pipes, TLS through `connseq-tls`,
//! PROXY headers through `connseq-proxy-protocol`, and the rules of the
//! session's listener. An action the listener's configuration cannot have
//! asked for (a reply with none configured, a header nobody sends) is an
//! internal error: logged, and answered with an outcome that closes the
//! connection.
//!
//! Rooms, one per kind of work:
//! - `plain`: recv and send on a socket and a channel's buffer, the drain of
//!   an active shutr, the check of the send queue before an RST;
//! - `splice`: the same through a channel's pipe;
//! - `tls`: the TLS handshake step, and recv, send and close_notify
//!   through a TLS layer;
//! - `handlers`: the other handshake handlers (PROXY header received and
//!   sent, health and monitor replies) and the connection rules;
//! - `connect`: the connect to a server and its completion.

mod connect;
mod handlers;
mod plain;
mod splice;
mod tls;

use super::backend_state::Waiter;
use super::flow::Flow;
use super::listener::ListenerCfg;
use super::shared::Shared;
use super::Breakage;
use crate::pool::{BufPool, PipePool};
use crate::sys::socket;
use connseq_model::core::{backend, Action, Millis, Outcome, Pick, Side, Sink, Source};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io;
use std::sync::atomic::Ordering;
use tracing::error;

/// What an action may touch besides its session.
#[derive(Debug)]
pub(crate) struct Exec<'a> {
    pub(crate) registry: &'a Registry,
    /// The session's listener: rules, PROXY and TLS settings.
    pub(crate) listener: &'a ListenerCfg,
    pub(crate) pool: &'a mut BufPool,
    pub(crate) pipes: &'a mut PipePool,
    /// The threads' shared state: the backends' balancer state (locked for
    /// a pick or a release) and the counters.
    pub(crate) shared: &'a Shared,
    /// This session's backend.
    pub(crate) backend: usize,
    pub(crate) now: Millis,
    /// This session's thread, flow index and generation (its place in a queue).
    pub(crate) waiter: Waiter,
    pub(crate) back_token: Token,
    /// Slots this session gave back that the backend handed to a waiting
    /// session: the worker delivers them.
    pub(crate) handoffs: &'a mut Vec<(Waiter, u8)>,
    /// The errno of the last send that failed (`run` reads it: `EPIPE` as
    /// a socket's first error is an RST that came after the peer's FIN).
    pub(crate) send_errno: Option<i32>,
}

/// An errno that says the peer reset the connection.
fn is_reset(errno: i32) -> bool {
    matches!(errno, libc::ECONNRESET | libc::EPIPE)
}

fn is_resource_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

/// The core asked for an action this session cannot perform (a reply it
/// has none of, a PROXY header its listener does not send, a send from an
/// empty buffer): the core and the runtime disagree, which is a bug. Debug
/// builds and tests stop on it; a release build logs it and answers with
/// the outcome that closes the session.
fn internal(flow: &Flow, action: Action, outcome: Outcome) -> Outcome {
    error!(target: "connseq::runtime", "internal error: {}: unsupported action {action:?} in this runtime; closing", flow.client);
    if cfg!(debug_assertions) {
        panic!("{}: the core asked for {action:?}, which this session cannot perform", flow.client);
    }
    outcome
}

impl Exec<'_> {
    /// How many of `want` bytes may go to `side`'s peer: all of them, but
    /// with the conformance harness's shim (`Options::send_window`).
    fn room(&self, side: Side, want: usize) -> usize {
        self.shared.window().map_or(want, |w| w.bytes(side, want))
    }

    /// Whether one message (a reply, a PROXY header, a TLS flight or
    /// close_notify) may go to `side`'s peer: yes, but with the shim.
    fn room_for_message(&self, side: Side) -> bool {
        self.shared.window().map_or(true, |w| w.message(side))
    }

    /// Whether a send may cork (`MSG_MORE`): as the core says, except
    /// towards a peer the harness's shim knows closed, since the model's
    /// kernel corks nothing and answers each chunk with the RST at once.
    fn cork(&self, side: Side, more: bool) -> bool {
        more && !self.shared.window().is_some_and(|w| w.is_closed(side))
    }

    /// The shim refused a write: a socket that is really full holds nothing
    /// back, so what an earlier `MSG_MORE` send corked goes out now (the
    /// model's kernel corks nothing).
    fn refused(sock: &TcpStream) {
        let _ = socket::push(sock);
    }

    /// `n` bytes went to `side`'s peer (counted by the shim only).
    fn sent_bytes(&self, side: Side, n: usize) {
        if let Some(w) = self.shared.window() {
            w.sent_bytes(side, n);
        }
    }

    /// A message went to `side`'s peer (counted by the shim only).
    fn sent_message(&self, side: Side) {
        if let Some(w) = self.shared.window() {
            w.sent_message(side);
        }
    }

    /// A failed send as the core hears it: EAGAIN is `WouldBlock`; any other error is
    /// `Reset`, its errno kept so that [`Exec::run`] can tell an RST that came after the
    /// peer's FIN (`EPIPE`) from one that did not.
    pub(super) fn send_failed(&mut self, e: &io::Error) -> Outcome {
        if e.kind() == io::ErrorKind::WouldBlock {
            return Outcome::WouldBlock;
        }
        self.send_errno = e.raw_os_error();
        Outcome::Reset
    }

    /// Performs `action` on `flow`'s sockets and buffers.
    pub(crate) fn run(&mut self, flow: &mut Flow, action: Action) -> Outcome {
        let io_side = match action {
            Action::Recv { side, .. }
            | Action::Send { side, .. }
            | Action::TlsHandshake(side)
            | Action::DataShutw(side)
            | Action::CheckSendQueue(side) => Some(side),
            Action::RecvProxyHeader => Some(Side::Front),
            _ => None,
        };
        // An RST that came after the peer's FIN (the socket was in
        // CLOSE-WAIT) shows as EPIPE, and Linux still reads what came before
        // the FIN, then 0: it fails the writes only. Any other reset fails
        // the writes at once, and the reads once they took what reached the
        // socket before it (the model's `Wire::rst` behind the wire's
        // chunks; Linux reports the reset once, so it is kept in `Sock`).
        let writes = !matches!(action, Action::Recv { .. } | Action::RecvProxyHeader);
        // The sends the core tells apart (`Outcome::PeerClosed`): a TLS
        // handshake that fails is a failed handshake either way.
        let sends = matches!(action, Action::Send { .. } | Action::DataShutw(_) | Action::CheckSendQueue(_));
        let refused = if sends { Outcome::PeerClosed } else { Outcome::Reset };
        let mut read_before_reset = false;
        if let Some(side) = io_side {
            let sock = flow.sock(side);
            let after_fin = !sock.reset && sock.error == Some(libc::EPIPE);
            if after_fin && writes {
                return refused;
            }
            let noted = !after_fin && sock.error.is_some_and(is_reset);
            if sock.reset || (noted && !matches!(action, Action::Recv { .. })) {
                // A write, or a handshake step, fails at once; the core gives
                // the connection up and reads it no further.
                sock.reset = true;
                return Outcome::Reset;
            }
            read_before_reset = noted;
        }
        self.send_errno = None;
        let _ = socket::take_tls_send_errno();
        let mut outcome = self.perform(flow, action);
        if outcome == Outcome::Reset && self.send_errno.is_none() {
            self.send_errno = socket::take_tls_send_errno();
        }
        if let (Action::Send { side: Side::Front, .. }, Outcome::WouldBlock) = (action, outcome) {
            if self.shared.broken(Breakage::WritableNotRearmed) {
                // The bug: writable interest is dropped while the client is
                // slow, to spare wake-ups, and never armed again.
                if let Some(s) = flow.front.stream.as_mut() {
                    let _ = self.registry.reregister(s, Token(self.back_token.0 - 1), Interest::READABLE);
                }
                flow.front.read_only = true;
            }
        }
        // An injected EAGAIN (tests only): no edge will follow it; see below.
        let spurious = crate::sys::take_spurious_eagain();
        if let (true, Some(side)) = (read_before_reset, io_side) {
            // A read after a reset the poller (or the connect) saw: data is what
            // reached the socket before the RST; the end of what it holds is
            // the reset (the socket's EOF, a TLS stream cut there). A TLS
            // close_notify or an invalid record it held are read as such,
            // and an injected EAGAIN is one (the socket is re-armed below).
            let tls = flow.tls[side as usize].is_some();
            let drained = (outcome == Outcome::WouldBlock && !spurious) || outcome == Outcome::Truncated;
            if drained || (outcome == Outcome::Eof && !tls) {
                outcome = Outcome::Reset;
            }
        }
        if let (Some(side), Outcome::Reset) = (io_side, outcome) {
            let sock = flow.sock(side);
            // (A write after an RST that came after the FIN returned above.)
            if !sock.reset && sock.error.is_none() && writes && self.send_errno == Some(libc::EPIPE) {
                // This send met the RST first, as EPIPE: it came after the
                // peer's FIN.
                sock.error = Some(libc::EPIPE);
                outcome = refused;
            } else {
                // Any other reset: writes fail at once, and reads once they
                // took what reached the socket before it.
                sock.reset = true;
            }
        }
        if spurious {
            // An injected EAGAIN (tests only): no edge will follow it. The
            // socket it struck is the one this action reads or writes
            // (`io_side`); the poller re-reports it as the kernel sees it.
            // The other actions make no read or write an EAGAIN could
            // strike.
            if let Some(side) = io_side {
                flow.sock(side).rearm = true;
            }
        }
        outcome
    }

    fn perform(&mut self, flow: &mut Flow, action: Action) -> Outcome {
        match action {
            Action::Recv { side, into: Sink::Buffer } if flow.tls[side as usize].is_some() => self.tls_recv(flow, side),
            Action::Send { side, from: Source::Buffer, .. } if flow.tls[side as usize].is_some() => {
                self.tls_send(flow, side)
            }
            Action::Recv { side, into: Sink::Buffer } if self.shared.broken(Breakage::EofAsReset) => {
                match self.recv(flow, side) {
                    Outcome::Eof => Outcome::Reset,
                    o => o,
                }
            }
            Action::Recv { side, into: Sink::Buffer } => self.recv(flow, side),
            Action::Recv { into: Sink::Discard, .. } if self.shared.broken(Breakage::CloseWithoutDrain) => Outcome::Eof,
            Action::Recv { side, into: Sink::Discard } => Self::drain(flow, side),
            Action::Send { side, from: Source::Buffer, more } => self.send(flow, side, more),
            Action::Recv { side, into: Sink::Pipe } => self.recv_pipe(flow, side),
            Action::Send { side, from: Source::Pipe, more } => self.send_pipe(flow, side, more),
            Action::Discard(dir) => {
                let (_, buf) = flow.io(dir.producer(), dir);
                buf.clear_all(self.pool, self.pipes);
                Outcome::Done
            }
            Action::CtrlShutw(_) if self.shared.broken(Breakage::SkipShutdown) => Outcome::Done,
            Action::CtrlShutw(side) => {
                if let Some(s) = flow.sock(side).stream.as_ref() {
                    // The core counts shutdown(SHUT_WR) as done whatever
                    // happens: ENOTCONN is ignored below, and any other error
                    // shows up on the next recv or send.
                    let _ = socket::shutdown_write(s);
                }
                Outcome::Done
            }
            // DCLO: the TLS state goes (a raw data layer holds none).
            Action::DataClose(side) => {
                flow.tls[side as usize] = None;
                Outcome::Done
            }
            Action::DataShutw(side) => self.tls_close_notify(flow, side),
            Action::TlsHandshake(side) => self.tls_handshake(flow, side),
            Action::CtrlClose(side) => {
                flow.sock(side).deregister(self.registry);
                Outcome::Done
            }
            Action::SockClose { side, abortive } => {
                let sock = flow.sock(side);
                if abortive || self.shared.broken(Breakage::LingerZero) {
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
                flow.times.pick.get_or_insert(self.now);
                let pick = backend::take(&flow.cfg, &mut *self.shared.backend(self.backend), avoid, self.waiter);
                match pick {
                    Pick::Assigned(_) => flow.times.assigned = Some(self.now),
                    Pick::Queue => {
                        self.shared.counters.queued.fetch_add(1, Ordering::Relaxed);
                    }
                    Pick::NoServer => {}
                }
                Outcome::Pick(pick)
            }
            Action::Connect { server } => {
                self.shared.counters.connects.fetch_add(1, Ordering::Relaxed);
                flow.connects += 1;
                let outcome = self.connect(flow, server);
                self.count_failure(flow, outcome)
            }
            Action::FinishConnect => {
                let outcome = self.finish_connect(flow);
                self.count_failure(flow, outcome)
            }
            Action::ReleaseServer { .. }
                if self.shared.broken(Breakage::SlotKeptAfterFailedConnect) && flow.times.established.is_none() =>
            {
                // The bug: "it never connected, so it holds nothing".
                Outcome::Done
            }
            Action::ReleaseServer { server } => {
                let handed = backend::release(&flow.cfg, &mut *self.shared.backend(self.backend), server);
                if let Some(w) = handed {
                    self.handoffs.push((w, server));
                }
                Outcome::Done
            }
            Action::LeaveQueue => {
                // Not found: a slot was handed to this session meanwhile; it
                // arrives (by message) and the core gives it back.
                backend::leave(&mut *self.shared.backend(self.backend), self.waiter);
                Outcome::Done
            }
            Action::Send { side, from: Source::Reply, .. } => self.send_reply(flow, side),
            Action::CheckSendQueue(side) => Self::check_send_queue(flow, side),
            Action::EvalRules(stage) => self.eval_rules(flow, stage),
            Action::Send { side: Side::Back, from: Source::ProxyHeader, more } => self.send_proxy_header(flow, more),
            Action::RecvProxyHeader => Self::recv_proxy_header(flow),
            Action::Send { from: Source::ProxyHeader, .. } => internal(flow, action, Outcome::Reset),
        }
    }
}

#[cfg(test)]
mod tests;
