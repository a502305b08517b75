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
//! Splice (`Recv { into: Pipe }`, `Send { from: Pipe }`): a channel takes a
//! pipe from the [`PipePool`] on its first splice and gives it back as soon
//! as it is empty. `splice_in` failing with `WouldBlock` is ambiguous (the
//! socket is empty, or the pipe has no free slot): with bytes in the pipe
//! and bytes still queued on the socket it is reported as
//! `Data { full: true }`, so the core flushes the pipe and reads again
//! without waiting for an edge that may never come; otherwise it is the
//! socket's `WouldBlock`. A pipe is full at its fill limit (`pipe-size`).

use super::backend::Waiter;
use super::handshake;
use super::limits::Admit;
use super::session::Slot;
use super::shared::Shared;
use super::worker::ListenerCfg;
use super::Breakage;
use crate::config::{ProxyVersion, Verdict};
use crate::pool::{BufPool, NoPipe, PipePool};
use crate::sys::{pipe, socket};
use connseq_model::core::{backend, Action, Millis, Outcome, Pick, RuleStage, Side, Sink, Source};
use connseq_proxy_protocol as pp;
use connseq_tls::{Flush, Read as TlsRead, Step, TlsConn, Write as TlsWrite};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io;
use std::sync::atomic::Ordering;
use tracing::{debug, error, warn};

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
    /// This session's thread, slot index and generation (its place in a queue).
    pub(crate) waiter: Waiter,
    pub(crate) back_token: Token,
    /// Slots this session gave back that the backend handed to a waiting
    /// session: the worker delivers them.
    pub(crate) handoffs: &'a mut Vec<(Waiter, u8)>,
    /// The errno of the last send that failed (`run` reads it: `EPIPE` as
    /// a socket's first error is an RST that came after the peer's FIN).
    pub(crate) send_errno: Option<i32>,
}

use super::handshake::{eof_or_reset, tls_reason};

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
fn internal(slot: &Slot, action: Action, outcome: Outcome) -> Outcome {
    error!(target: "connseq::runtime", "internal error: {}: unsupported action {action:?} in this runtime; closing", slot.client);
    if cfg!(debug_assertions) {
        panic!("{}: the core asked for {action:?}, which this session cannot perform", slot.client);
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

    /// Performs `action` on `slot`'s sockets and buffers.
    pub(crate) fn run(&mut self, slot: &mut Slot, action: Action) -> Outcome {
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
        // every call (the model's sticky `Wire::rst`; Linux reports it once).
        let writes = !matches!(action, Action::Recv { .. } | Action::RecvProxyHeader);
        // The sends the core tells apart (`Outcome::PeerClosed`): a TLS
        // handshake that fails is a failed handshake either way.
        let sends = matches!(action, Action::Send { .. } | Action::DataShutw(_) | Action::CheckSendQueue(_));
        let refused = if sends { Outcome::PeerClosed } else { Outcome::Reset };
        if let Some(side) = io_side {
            let sock = slot.sock(side);
            let after_fin = !sock.reset && sock.error == Some(libc::EPIPE);
            if after_fin && writes {
                return refused;
            }
            if sock.reset || (!after_fin && sock.error.is_some_and(is_reset)) {
                sock.reset = true;
                return Outcome::Reset;
            }
        }
        self.send_errno = None;
        let _ = socket::take_tls_send_errno();
        let mut outcome = self.perform(slot, action);
        if outcome == Outcome::Reset && self.send_errno.is_none() {
            self.send_errno = socket::take_tls_send_errno();
        }
        if let (Action::Send { side: Side::Front, .. }, Outcome::WouldBlock) = (action, outcome) {
            if self.shared.broken(Breakage::WritableNotRearmed) {
                // The bug: writable interest is dropped while the client is
                // slow, to spare wake-ups, and never armed again.
                if let Some(s) = slot.front.stream.as_mut() {
                    let _ = self.registry.reregister(s, Token(self.back_token.0 - 1), Interest::READABLE);
                }
                slot.front.read_only = true;
            }
        }
        if let (Some(side), Outcome::Reset) = (io_side, outcome) {
            let sock = slot.sock(side);
            let after_fin = !sock.reset && sock.error == Some(libc::EPIPE);
            if !sock.reset && sock.error.is_none() && writes && self.send_errno == Some(libc::EPIPE) {
                // This send met the RST first, as EPIPE: it came after the
                // peer's FIN.
                sock.error = Some(libc::EPIPE);
                outcome = refused;
            } else if after_fin && writes {
                outcome = refused;
            } else {
                sock.reset = true;
            }
        }
        if crate::sys::take_spurious_eagain() {
            // An injected EAGAIN (tests only): no edge will follow it.
            let side = match action {
                Action::Send { side, .. } | Action::Recv { side, .. } => Some(side),
                _ => io_side,
            };
            if let Some(side) = side {
                slot.sock(side).rearm = true;
            }
        }
        outcome
    }

    fn perform(&mut self, slot: &mut Slot, action: Action) -> Outcome {
        match action {
            Action::Recv { side, into: Sink::Buffer } if slot.tls[side as usize].is_some() => self.tls_recv(slot, side),
            Action::Send { side, from: Source::Buffer, .. } if slot.tls[side as usize].is_some() => {
                self.tls_send(slot, side)
            }
            Action::Recv { side, into: Sink::Buffer } if self.shared.broken(Breakage::EofAsReset) => {
                match self.recv(slot, side) {
                    Outcome::Eof => Outcome::Reset,
                    o => o,
                }
            }
            Action::Recv { side, into: Sink::Buffer } => self.recv(slot, side),
            Action::Recv { into: Sink::Discard, .. } if self.shared.broken(Breakage::CloseWithoutDrain) => Outcome::Eof,
            Action::Recv { side, into: Sink::Discard } => Self::drain(slot, side),
            Action::Send { side, from: Source::Buffer, more } => self.send(slot, side, more),
            Action::Recv { side, into: Sink::Pipe } => self.recv_pipe(slot, side),
            Action::Send { side, from: Source::Pipe, more } => self.send_pipe(slot, side, more),
            Action::Discard(dir) => {
                let (_, buf) = slot.io(dir.producer(), dir);
                buf.clear_all(self.pool, self.pipes);
                Outcome::Done
            }
            Action::CtrlShutw(_) if self.shared.broken(Breakage::SkipShutdown) => Outcome::Done,
            Action::CtrlShutw(side) => {
                if let Some(s) = slot.sock(side).stream.as_ref() {
                    // The core counts shutdown(SHUT_WR) as done whatever
                    // happens: ENOTCONN is ignored below, and any other error
                    // shows up on the next recv or send.
                    let _ = socket::shutdown_write(s);
                }
                Outcome::Done
            }
            // DCLO: the TLS state goes (a raw data layer holds none).
            Action::DataClose(side) => {
                slot.tls[side as usize] = None;
                Outcome::Done
            }
            Action::DataShutw(side) => self.tls_close_notify(slot, side),
            Action::TlsHandshake(side) => self.tls_handshake(slot, side),
            Action::CtrlClose(side) => {
                slot.sock(side).deregister(self.registry);
                Outcome::Done
            }
            Action::SockClose { side, abortive } => {
                let sock = slot.sock(side);
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
                slot.times.pick.get_or_insert(self.now);
                let pick = backend::take(&slot.cfg, &mut *self.shared.backend(self.backend), avoid, self.waiter);
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
                self.count_failure(slot, outcome)
            }
            Action::FinishConnect => {
                let outcome = self.finish_connect(slot);
                self.count_failure(slot, outcome)
            }
            Action::ReleaseServer { .. }
                if self.shared.broken(Breakage::SlotKeptAfterFailedConnect) && slot.times.established.is_none() =>
            {
                // The bug: "it never connected, so it holds nothing".
                Outcome::Done
            }
            Action::ReleaseServer { server } => {
                let handed = backend::release(&slot.cfg, &mut *self.shared.backend(self.backend), server);
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
            Action::Send { side, from: Source::Reply, .. } => self.send_reply(slot, side),
            Action::CheckSendQueue(side) => Self::check_send_queue(slot, side),
            Action::EvalRules(stage) => {
                let (rules, ip) = match stage {
                    RuleStage::Connection => (&self.listener.options.conn_rules, slot.client.ip()),
                    RuleStage::Source => (&self.listener.options.src_rules, slot.source().ip()),
                };
                let allowed = rules.verdict(ip) == Verdict::Allow;
                Outcome::Verdict(allowed && (stage == RuleStage::Source || self.admit_source(slot)))
            }
            Action::Send { side: Side::Back, from: Source::ProxyHeader, more } => self.send_proxy_header(slot, more),
            Action::RecvProxyHeader => Self::recv_proxy_header(slot),
            Action::Send { from: Source::ProxyHeader, .. } => internal(slot, action, Outcome::Reset),
        }
    }

    /// Before an RST that propagates the other peer's abort: whether `side`'s
    /// peer acknowledged every byte written to it (TLS records the data
    /// layer still holds are flushed first). `WouldBlock` when some are not:
    /// Linux sends no writable edge when acknowledgements empty a send queue
    /// that never filled, so the worker reports the socket writable again
    /// after [`super::session::ACK_POLL`] (`Slot::ack_poll`).
    fn check_send_queue(slot: &mut Slot, side: Side) -> Outcome {
        let (sock, tls, _) = slot.tls_io(side, side.output());
        let Some(sock) = sock else { return Outcome::Reset };
        if let Some(tls) = tls.filter(|t| t.has_pending_output()) {
            match tls.flush(sock) {
                Flush::Done => {}
                Flush::WouldBlock => return Outcome::WouldBlock,
                Flush::Reset => return Outcome::Reset,
            }
        }
        match socket::unacked_output(sock) {
            Ok(0) => Outcome::Done,
            Ok(_) => Outcome::WouldBlock,
            // The ioctl cannot fail on an open TCP socket but for a kernel
            // bug; then the RST goes now rather than never.
            Err(_) => Outcome::Done,
        }
    }

    /// The health or monitor reply, whole: a few bytes into a fresh socket,
    /// so a short write means the peer is already gone. Never through TLS:
    /// the core runs this handler before the TLS handshake.
    fn send_reply(&self, slot: &mut Slot, side: Side) -> Outcome {
        let Some(reply) = slot.core.reply() else {
            return internal(slot, Action::Send { side, from: Source::Reply, more: false }, Outcome::Reset);
        };
        let Some(sock) = slot.sock(side).stream.as_ref() else { return Outcome::Reset };
        if !self.room_for_message(side) {
            return Outcome::WouldBlock;
        }
        let bytes = reply.bytes();
        match socket::send(sock, bytes, false) {
            Ok(n) if n == bytes.len() => {
                self.sent_message(side);
                slot.sent[1] += n as u64;
                Outcome::Sent { drained: true }
            }
            Ok(_) => Outcome::Reset,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
            Err(_) => Outcome::Reset,
        }
    }

    /// HH_ACCEPT_PROXY on the client's socket ([`handshake::recv_proxy_header`]).
    fn recv_proxy_header(slot: &mut Slot) -> Outcome {
        let Some(sock) = slot.front.stream.as_ref() else { return Outcome::Reset };
        let step = handshake::recv_proxy_header(sock);
        if let Some(fwd) = step.forwarded {
            slot.forwarded = Some(fwd);
        }
        if let Some(reason) = step.reason {
            slot.reason = Some(reason);
            debug!(target: "connseq::runtime", "{}: invalid PROXY header: {reason}", slot.client);
        }
        step.outcome
    }

    /// HH_SEND_PROXY: the PROXY header, first on the server connection,
    /// built again on every call (it is the same bytes) and sent from where
    /// the last call stopped. The addresses are the client's as the proxy
    /// knows them: a received header's, else the real peer and the address
    /// it connected to.
    fn send_proxy_header(&mut self, slot: &mut Slot, more: bool) -> Outcome {
        let Some(send) = self.listener.send_proxy else {
            return internal(slot, Action::Send { side: Side::Back, from: Source::ProxyHeader, more }, Outcome::Reset);
        };
        let dst = match slot.forwarded {
            Some((_, dst)) => dst,
            None => match slot.front.stream.as_ref().map(|s| s.local_addr()) {
                Some(Ok(a)) => a,
                _ => return Outcome::Reset,
            },
        };
        let src = slot.source();
        let mut buf = [0u8; pp::MAX_V2_LEN];
        let mut id = [0u8; 32];
        // What the client's TLS layer learnt: ALPN, SNI, version, cipher, the
        // certificate's CN (each TLV only when asked for and known).
        let front = slot.tls[Side::Front as usize].as_deref();
        let cn = front.filter(|_| send.tlvs.ssl).and_then(TlsConn::peer_cn);
        let built = match send.version {
            ProxyVersion::V1 => pp::V1Builder::new(src, dst).write_to(&mut buf),
            ProxyVersion::V2 => {
                let mut b = pp::V2Builder::proxy(src, dst);
                if send.tlvs.unique_id {
                    b = b.unique_id(slot.unique_id(&mut id));
                }
                if let Some(tls) = front {
                    if let Some(alpn) = tls.alpn().filter(|_| send.tlvs.alpn) {
                        b = b.alpn(alpn);
                    }
                    if let Some(sni) = tls.sni().filter(|_| send.tlvs.authority) {
                        b = b.authority(sni);
                    }
                    if send.tlvs.ssl {
                        let mut client = pp::SslClientFlags::SSL;
                        if cn.is_some() {
                            client = client.union(pp::SslClientFlags::CERT_CONN);
                        }
                        b = b.ssl(pp::SslParams {
                            client,
                            verify: 0,
                            version: tls.version(),
                            cn: cn.as_deref(),
                            cipher: tls.cipher(),
                            sig_alg: None,
                            key_alg: None,
                        });
                    }
                }
                if send.tlvs.crc32c {
                    b = b.crc32c();
                }
                b.write_to(&mut buf)
            }
        };
        let len = match built {
            Ok(len) => len,
            Err(e) => {
                error!(target: "connseq::runtime", "{}: cannot build the PROXY header: {e}", slot.client);
                return Outcome::Reset;
            }
        };
        let Some(sock) = slot.back.stream.as_ref() else { return Outcome::Reset };
        if !self.room_for_message(Side::Back) {
            return Outcome::WouldBlock;
        }
        let from = slot.header_sent.min(len);
        let more = self.cork(Side::Back, more);
        match socket::send(sock, &buf[from..len], more) {
            Ok(n) => {
                slot.header_sent = from + n;
                if slot.header_sent == len {
                    self.sent_message(Side::Back);
                }
                Outcome::Sent { drained: slot.header_sent == len }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
            Err(_) => Outcome::Reset,
        }
    }

    /// HH_SSL_HS: one step of the TLS handshake on `side`; its TLS layer is
    /// made at the first step (a server's for the client side, a client's
    /// for the server side).
    fn tls_handshake(&mut self, slot: &mut Slot, side: Side) -> Outcome {
        if slot.tls[side as usize].is_none() {
            let made = match side {
                Side::Front => self.listener.front_tls.as_ref().map(TlsConn::server),
                Side::Back => {
                    let ip = slot.server.map(|a| a.ip());
                    self.listener.back_tls.as_ref().zip(ip).map(|(c, ip)| TlsConn::client(c, ip))
                }
            };
            match made {
                // Its records go through the `sys` room's calls (and their fault points).
                Some(Ok(conn)) => slot.tls[side as usize] = Some(Box::new(conn.with_socket_io(&socket::TlsSocketIo))),
                Some(Err(e)) => {
                    error!(target: "connseq::runtime", "{}: cannot start TLS on the {side} side: {e}", slot.client);
                    return Outcome::Reset;
                }
                None => return internal(slot, Action::TlsHandshake(side), Outcome::Reset),
            }
        }
        let (sock, tls, _) = slot.tls_io(side, side.input());
        let (Some(sock), Some(tls)) = (sock, tls) else { return Outcome::Reset };
        // What this step writes, for the shim (`Options::send_window`): on
        // the client side the hello (queued when the layer is made) and the
        // Finished; on the server side the flight, written once the hello
        // is read (the session tickets after the client's Finished are no
        // message of the model's).
        let hello_queued = side == Side::Back && tls.has_pending_output();
        let version_known = tls.version().is_some();
        if hello_queued && !self.room_for_message(side) {
            Self::refused(sock);
            return Outcome::WantWrite;
        }
        let step = tls.handshake(sock);
        if step != Step::WantWrite {
            let flight = side == Side::Front && !version_known && tls.version().is_some();
            let finished = side == Side::Back && step == Step::Done;
            for _ in 0..(usize::from(hello_queued) + usize::from(flight) + usize::from(finished)) {
                self.sent_message(side);
            }
        }
        let (outcome, reason) = handshake::tls_outcome(step, sock);
        if let Some(reason) = reason {
            debug!(target: "connseq::runtime", "{}: TLS handshake on the {side} side failed: {reason}", slot.client);
            slot.reason.get_or_insert(reason);
        }
        outcome
    }

    /// Reads plaintext from `side`'s TLS layer into its input channel.
    fn tls_recv(&mut self, slot: &mut Slot, side: Side) -> Outcome {
        let (sock, tls, buf) = slot.tls_io(side, side.input());
        let (Some(sock), Some(tls)) = (sock, tls) else { return Outcome::Reset };
        let outcome = match tls.read(sock, buf.space(self.pool)) {
            TlsRead::Data(n) => {
                buf.commit(n);
                return Outcome::Data { full: buf.is_full() };
            }
            TlsRead::WouldBlock => Outcome::WouldBlock,
            // TCP's end with no close_notify before it: the stream was cut
            // (a truncation), which the core passes on as one. As on a raw
            // socket, a reset that came after the FIN is a reset.
            TlsRead::Eof { clean: false } => match eof_or_reset(sock) {
                Outcome::Eof => Outcome::Truncated,
                other => other,
            },
            TlsRead::Eof { clean: true } => Outcome::Eof,
            TlsRead::Reset => Outcome::Reset,
            TlsRead::Invalid(e) => {
                let reason = tls_reason(&e);
                slot.reason.get_or_insert(reason);
                Outcome::Reset
            }
        };
        let (_, _, buf) = slot.tls_io(side, side.input());
        buf.release_if_empty(self.pool);
        outcome
    }

    /// Encrypts the output channel's bytes to `side`; with nothing left in
    /// the buffer, flushes the records rustls still holds. The channel is
    /// drained only when both are empty.
    fn tls_send(&mut self, slot: &mut Slot, side: Side) -> Outcome {
        let dir = side.output();
        let (sock, tls, buf) = slot.tls_io(side, dir);
        let (Some(sock), Some(tls)) = (sock, tls) else { return Outcome::Reset };
        if buf.is_empty() {
            return match tls.flush(sock) {
                Flush::Done => Outcome::Sent { drained: true },
                Flush::WouldBlock => Outcome::WouldBlock,
                Flush::Reset => Outcome::Reset,
            };
        }
        let allowed = self.room(side, buf.pending().len());
        if allowed == 0 {
            return Outcome::WouldBlock;
        }
        match tls.write(sock, &buf.pending()[..allowed]) {
            TlsWrite::Sent { consumed: 0, .. } | TlsWrite::WouldBlock => Outcome::WouldBlock,
            TlsWrite::Sent { consumed, pending } => {
                self.sent_bytes(side, consumed);
                buf.consume(consumed, self.pool);
                let drained = buf.is_empty() && !pending;
                slot.sent[dir as usize] += consumed as u64;
                Outcome::Sent { drained }
            }
            TlsWrite::Reset => Outcome::Reset,
        }
    }

    /// DSHW on TLS: close_notify, queued once and flushed; a socket that is
    /// full answers `WouldBlock` and the core retries when it is writable.
    fn tls_close_notify(&self, slot: &mut Slot, side: Side) -> Outcome {
        let (sock, tls, _) = slot.tls_io(side, side.output());
        let would_block =
            if self.shared.broken(Breakage::DropPostponedCloseNotify) { Outcome::Done } else { Outcome::WouldBlock };
        match (sock, tls) {
            (Some(_), Some(_)) if !self.room_for_message(side) => would_block,
            (Some(sock), Some(tls)) => match tls.close_notify(sock) {
                Flush::Done => {
                    self.sent_message(side);
                    Outcome::Done
                }
                Flush::WouldBlock => would_block,
                Flush::Reset => Outcome::Reset,
            },
            // No TLS state (the handshake never started): nothing to notify.
            (Some(_), None) => Outcome::Done,
            _ => Outcome::Reset,
        }
    }

    /// The backend's per-source limits (`src-conn-limit`, `src-conn-rate`), after the listener's
    /// connection rules let the peer through: false when one refuses it (the core then
    /// rejects the connection as for a deny rule; the reason goes to the log line).
    fn admit_source(&self, slot: &mut Slot) -> bool {
        let Some(table) = self.shared.sources.get(self.backend).and_then(Option::as_ref) else { return true };
        let admit = table.admit(slot.client.ip(), self.now);
        slot.source_counted = admit == Admit::Yes;
        if let Some(reason) = admit.reason() {
            slot.reason = Some(reason);
            self.shared.counters.throttled.fetch_add(1, Ordering::Relaxed);
        }
        admit == Admit::Yes
    }

    fn count_failure(&self, slot: &Slot, outcome: Outcome) -> Outcome {
        if matches!(outcome, Outcome::Refused | Outcome::NoResource) {
            self.shared.counters.connect_failures.fetch_add(1, Ordering::Relaxed);
            if let Some(server) = slot.server_idx {
                self.shared.ops.tally.connect_failed(self.backend, server);
                if connseq_model::core::health::observed(outcome) == Some(false) {
                    // Passive observation, as the core reads the outcome.
                    super::health::report(self.shared, self.backend, server, Err("L4CON-SESSION"));
                }
            }
        }
        outcome
    }

    fn recv(&mut self, slot: &mut Slot, side: Side) -> Outcome {
        if self.shared.broken(Breakage::EdgeNotDrained) && !std::mem::take(&mut slot.sock(side).edge) {
            // The bug: one recv per readable edge, as if the poller were
            // level-triggered; bytes left behind by the last one wait for an
            // edge that never comes.
            return Outcome::WouldBlock;
        }
        let (sock, buf) = slot.io(side, side.input());
        let Some(sock) = sock else { return Outcome::Reset };
        let got = socket::recv(sock, buf.space(self.pool));
        let outcome = match got {
            Ok(0) => eof_or_reset(sock),
            Ok(n) => {
                buf.commit(n);
                return Outcome::Data { full: buf.is_full() };
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
            Err(_) => Outcome::Reset,
        };
        if self.shared.broken(Breakage::BufferReturnedInUse) && outcome == Outcome::Eof {
            // The bug: the end of stream is taken for "this buffer is done"
            // and it goes back to the pool with what it still holds.
            buf.clear(self.pool);
        }
        if !self.shared.broken(Breakage::KeepIdleBuffer) {
            buf.release_if_empty(self.pool);
        }
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
        if pipe.is_full() {
            // The core reads into a pipe it believes has room; it is told.
            return Outcome::Data { full: true };
        }
        let got = pipe.splice_in(sock, pipe.room());
        let (empty, full) = (pipe.is_empty(), pipe.is_full());
        let outcome = match got {
            Ok(0) if self.shared.broken(Breakage::SpliceZeroAsEagain) => Outcome::WouldBlock,
            Ok(0) => eof_or_reset(sock),
            Ok(_) => Outcome::Data { full },
            // Empty pipe: the socket has nothing. Bytes in the pipe: the
            // socket is empty, or the pipe is out of slots while the socket
            // still holds data; then "full" makes the core flush before it
            // reads again. The socket's queue tells which.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if empty || socket::queued_input(sock).is_ok_and(|n| n == 0) {
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
    /// Nothing is read (reading into the buffer would put bytes where the
    /// core does not believe they are): the action is answered with
    /// `NoResource`, which is what happened, and the core switches this
    /// channel to the buffer (`Channel::no_pipe`) and reads again at once,
    /// as the socket is still readable. The pool stops handing out pipes
    /// after `ENOSYS`, so new sessions start with `SpliceMode::Never`.
    /// Tested with splice's `EINVAL` and a pipe that cannot be made injected
    /// (`impl/tests/faults.rs`); the loopback kernel itself supports splice.
    fn splice_fallback(&mut self, slot: &mut Slot, side: Side, why: NoPipe) -> Outcome {
        match why {
            NoPipe::Limit => {}
            NoPipe::Unsupported => {}
            NoPipe::Os(e) if pipe::is_unsupported(&e) => {
                warn!(target: "connseq::runtime", "{}: splice not supported ({e}); using buffers", slot.client);
            }
            NoPipe::Os(e) => {
                warn!(target: "connseq::runtime", "{}: no pipe ({e}) on the {side} side; using buffers", slot.client)
            }
        }
        Outcome::NoResource
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
        let allowed = self.room(side, pipe.len());
        if allowed == 0 {
            Self::refused(sock);
            return Outcome::WouldBlock;
        }
        match pipe.splice_out(sock, allowed) {
            Ok(0) => Outcome::WouldBlock,
            Ok(n) => {
                self.sent_bytes(side, n);
                self.shared.counters.spliced.fetch_add(n as u64, Ordering::Relaxed);
                let drained = pipe.is_empty();
                chan.release_pipe_if_empty(self.pipes);
                slot.sent[dir as usize] += n as u64;
                Outcome::Sent { drained }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
            Err(e) => {
                self.send_errno = e.raw_os_error();
                Outcome::Reset
            }
        }
    }

    /// The drain of an active shutr: read and throw away.
    fn drain(slot: &mut Slot, side: Side) -> Outcome {
        let Some(sock) = slot.sock(side).stream.as_ref() else { return Outcome::Reset };
        let mut scratch = [0u8; 4096];
        match socket::recv(sock, &mut scratch) {
            Ok(0) => eof_or_reset(sock),
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
        let allowed = self.room(side, buf.pending().len());
        if allowed == 0 {
            Self::refused(sock);
            return Outcome::WouldBlock;
        }
        let more = self.cork(side, more);
        match socket::send(sock, &buf.pending()[..allowed], more) {
            Ok(0) => Outcome::WouldBlock,
            Ok(n) => {
                self.sent_bytes(side, n);
                buf.consume(n, self.pool);
                if self.shared.broken(Breakage::ShortWriteComplete) {
                    let rest = buf.pending().len();
                    buf.consume(rest, self.pool);
                }
                let drained = buf.is_empty();
                slot.sent[dir as usize] += n as u64;
                Outcome::Sent { drained }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::WouldBlock,
            Err(e) => {
                self.send_errno = e.raw_os_error();
                Outcome::Reset
            }
        }
    }

    fn connect(&mut self, slot: &mut Slot, server: u8) -> Outcome {
        let Some(addr) = self.shared.backend(self.backend).addr(server) else {
            return internal(slot, Action::Connect { server }, Outcome::Refused);
        };
        slot.server = Some(addr);
        self.shared.ops.tally.attempt(self.backend, server, slot.server_idx);
        slot.server_idx = Some(server);
        slot.times.connect = Some(self.now);
        slot.times.established = None;
        slot.header_sent = 0;
        slot.tls[Side::Back as usize] = None;
        slot.connect_released = false;
        slot.held_readable = false;
        // The previous attempt's socket, if any, was closed by its SockClose.
        slot.back.close(self.registry);
        let mut stream = match socket::connect(addr) {
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
        slot.back = super::session::Sock { stream: Some(stream), registered: true, ..Default::default() };
        Outcome::InProgress
    }

    fn finish_connect(&mut self, slot: &mut Slot) -> Outcome {
        if self.shared.holds_connects() && !slot.connect_released {
            // The conformance harness's shim (`Options::hold_connects`): the
            // attempt stays in progress until the model's server answers.
            return Outcome::WouldBlock;
        }
        let Some(s) = slot.back.stream.as_ref() else { return Outcome::Refused };
        let error = match slot.back.error.take() {
            Some(e) => Some(e),
            None => match socket::take_error(s) {
                Ok(e) => e.map(|e| e.raw_os_error().unwrap_or(libc::EIO)),
                Err(_) => return Outcome::Refused,
            },
        };
        match error {
            None => {}
            // Established, then reset by the server: the connect succeeded,
            // and the reset shows on the first recv or send.
            Some(e) if is_reset(e) => {
                if e == libc::EPIPE {
                    // After the server's FIN: what came before it is read.
                    slot.back.error = Some(e);
                } else {
                    slot.back.reset = true;
                }
                slot.times.established = Some(self.now);
                return Outcome::Done;
            }
            Some(_) => return Outcome::Refused,
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
