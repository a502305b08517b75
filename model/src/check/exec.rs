//! The abstract runtime: the core's actions executed against the abstract
//! kernel, the way `impl/src/runtime` executes them against Linux. What the
//! real runtime holds (bytes in buffers and pipes, open sockets, TLS state)
//! is [`Holdings`]; what the kernel holds is the wires.
//!
//! Granularity: a recv moves one chunk, a send moves one chunk, so with
//! wires and buffers of two chunks a recv takes part of what is there and a
//! send takes part of what is offered, and the core must go on until EAGAIN.
//! A recv into a buffer with no room is what `recv(2)` with a zero length
//! is: it returns 0, which reads as an end of stream.

use super::config::Feature;
use super::kernel::{Chunk, Fifo, Wire};
use super::state::*;
use super::system::{handshake_side, Events, Observer, System};
use crate::core::{backend, Action, DataLayer, Outcome, Pick, RuleStage, Side, Sink, Source};

impl System {
    /// Executes one core action of session `i`; the kernel's side effects on
    /// the proxy's own sockets (an RST provoked by a send) are reported
    /// through `ev`.
    /// Also returns the session the backend handed a freed slot to, if a
    /// release did (it runs next in the same turn).
    pub(super) fn execute(
        &self,
        n: &mut SysState,
        i: usize,
        action: Action,
        ev: &mut Events,
        obs: &mut Observer,
    ) -> (Outcome, Option<usize>) {
        let mut handed = None;
        let outcome = match action {
            Action::ReleaseServer { server } => {
                let x = &mut n.sess[i];
                if x.env.slot.take().is_none() {
                    n.violate(Violation::FillMismatch);
                }
                n.sess[i].held.released += 1;
                let scfg = *self.session_config(&n.sess[i]);
                if let Some(j) = backend::release(&scfg, &mut n.backend, server) {
                    handed = Some(self.hand_slot(n, usize::from(j), server, obs));
                }
                Outcome::Done
            }
            _ => self.execute_inner(n, i, action, ev),
        };
        if let Some(side) = handshake_side(action) {
            if matches!(
                outcome,
                Outcome::Invalid
                    | Outcome::Eof
                    | Outcome::EofEmpty
                    | Outcome::Reset
                    | Outcome::PeerClosed
                    | Outcome::Truncated
            ) {
                let who = peer_of(side);
                n.sess[i].peer_mut(who).hs_broken = true;
                self.excuse_broken_handshake(n, i, who);
            }
        }
        (outcome, handed)
    }

    fn execute_inner(&self, n: &mut SysState, i: usize, action: Action, ev: &mut Events) -> Outcome {
        match action {
            Action::RecvProxyHeader => self.recv_proxy_header(n, i),
            Action::EvalRules(stage) => {
                let x = &mut n.sess[i];
                let (bit, reject) = match stage {
                    RuleStage::Connection => (1, x.env.reject == 1),
                    RuleStage::Source => (2, x.env.reject == 2),
                };
                if !reject {
                    x.held.rules_ok |= bit;
                }
                Outcome::Verdict(!reject)
            }
            Action::TlsHandshake(side) => self.tls_handshake(n, i, side, ev),
            Action::PickServer { avoid } => {
                let scfg = *self.session_config(&n.sess[i]);
                let pick = backend::take(&scfg, &mut n.backend, avoid, i as u8);
                match pick {
                    Pick::Assigned(k) => {
                        if n.sess[i].env.slot.replace(k).is_some() {
                            n.violate(Violation::FillMismatch);
                        }
                        if avoid.is_some() {
                            n.witness(Witness::Redispatched);
                        }
                    }
                    Pick::Queue => {
                        n.backend.told_to_wait(i as u8);
                        n.sess[i].held.queue_moves += 1;
                        n.witness(Witness::Queued);
                    }
                    Pick::NoServer => {}
                }
                Outcome::Pick(pick)
            }
            Action::LeaveQueue => {
                backend::leave(&mut n.backend, i as u8);
                n.backend.stops_waiting(i as u8);
                n.sess[i].held.queue_moves += 1;
                Outcome::Done
            }
            Action::Connect { server } => self.connect(n, i, server),
            Action::FinishConnect => {
                if !self.fd_ok(n, i, Side::Back) {
                    return Outcome::Reset;
                }
                let x = &mut n.sess[i];
                if x.env.accepted {
                    x.held.connected = self.cfg.has(Feature::PropagateAbort);
                    Outcome::Done
                } else if x.env.refused {
                    Outcome::Refused
                } else {
                    Outcome::WouldBlock
                }
            }
            Action::Recv { side, into } => self.recv(n, i, side, into),
            Action::Send { side, from, .. } => self.send(n, i, side, from, ev),
            Action::Discard(dir) => {
                let x = &mut n.sess[i];
                let d = dir as usize;
                x.held.dropped += x.held.buf[d].clear() + x.held.pipe[d].clear();
                Outcome::Done
            }
            Action::DataShutw(side) => {
                if !self.write_ok(n, i, side) {
                    return Outcome::Reset;
                }
                let who = peer_of(side);
                let x = &n.sess[i];
                if x.up(who).refuses_sends() {
                    let outcome = send_refused(x.up(who));
                    self.excuse_rst_met(n, i, who);
                    return outcome;
                }
                if x.down(who).full(self.cfg.wire_cap) {
                    n.witness(Witness::PostponedShutw);
                    return Outcome::WouldBlock;
                }
                self.proxy_push(n, i, side, Chunk::CLOSE_NOTIFY, ev);
                Outcome::Done
            }
            Action::CtrlShutw(side) => {
                if !self.fd_ok(n, i, side) {
                    return Outcome::Reset;
                }
                let who = peer_of(side);
                let x = &mut n.sess[i];
                if !x.down(who).rst {
                    x.down_mut(who).fin = true;
                }
                x.held.fin_out[side as usize] = true;
                x.held.pushed += 1;
                Outcome::Done
            }
            Action::DataClose(_) => Outcome::Done,
            Action::CtrlClose(side) => {
                // epoll_ctl(EPOLL_CTL_DEL) on the descriptor: on a closed one
                // it hits whatever now has that number.
                if !self.fd_ok(n, i, side) {
                    return Outcome::Done;
                }
                n.sess[i].held.polled[side as usize] = false;
                Outcome::Done
            }
            Action::SockClose { side, abortive } => {
                if !self.fd_ok(n, i, side) {
                    return Outcome::Done;
                }
                if n.sess[i].held.polled[side as usize] {
                    // Closed while still registered with the poller.
                    n.violate(Violation::LayerOrder);
                }
                self.proxy_close(n, i, side, abortive);
                Outcome::Done
            }
            // Executed by `execute`, which hands the slot on.
            Action::ReleaseServer { .. } => Outcome::Done,
            Action::CheckSendQueue(side) => {
                if !self.fd_ok(n, i, side) {
                    return Outcome::Reset;
                }
                let who = peer_of(side);
                let x = &n.sess[i];
                if x.up(who).refuses_sends() {
                    let outcome = send_refused(x.up(who));
                    self.excuse_rst_met(n, i, who);
                    return outcome;
                }
                // The wire does not tell the sender's queue from the
                // receiver's: empty means the peer read it all, which is more
                // than Linux's SIOCOUTQ of 0 says (acknowledged), and the
                // same for what an RST destroys (kernel axiom: what the
                // receiver had received survives the RST).
                if x.down(who).q.is_empty() {
                    Outcome::Done
                } else {
                    Outcome::WouldBlock
                }
            }
        }
    }

    fn connect(&self, n: &mut SysState, i: usize, server: u8) -> Outcome {
        if n.sess[i].held.fd_open[Side::Back as usize] {
            // A second socket over the one still open.
            n.violate(Violation::IoOnClosedFd);
        }
        let scfg = *self.session_config(&n.sess[i]);
        let x = &mut n.sess[i];
        let retry_too_soon = x.env.refused && x.env.attempt_server == Some(server) && scfg.turn_around && !x.env.waited;
        x.held.fd_open[Side::Back as usize] = true;
        x.held.polled[Side::Back as usize] = true;
        x.held.tls[Side::Back as usize] = 0;
        x.held.end[Side::Back as usize] = 0;
        x.held.fin_out[Side::Back as usize] = false;
        x.back_up = Wire::default();
        x.back_down = Wire::default();
        x.held.sent_back = false;
        x.held.connected = false;
        x.server = Peer::default();
        x.env.syn = true;
        x.env.accepted = false;
        x.env.refused = false;
        x.env.waited = false;
        x.env.attempt_server = Some(server);
        x.env.attempts += 1;
        // A new attempt: what excused the last one's losses is over.
        x.excuse.attempt = [NONE; 2];
        let (check, rejected, attempts) = (x.is_check(), x.env.reject != 0, x.env.attempts);
        if check {
            n.violate(Violation::CheckLeaked);
        }
        if rejected {
            n.violate(Violation::RejectLeaked);
        }
        if attempts > 1 + scfg.retries {
            n.violate(Violation::TooManyAttempts);
        }
        if retry_too_soon {
            n.violate(Violation::RetryTooSoon);
        }
        Outcome::InProgress
    }

    fn fd_ok(&self, n: &mut SysState, i: usize, side: Side) -> bool {
        if n.sess[i].held.fd_open[side as usize] {
            true
        } else {
            n.violate(Violation::IoOnClosedFd);
            false
        }
    }

    /// A write on `side`: the socket must be open, and its write side not
    /// shut by the proxy (a write after shutdown(SHUT_WR) is EPIPE).
    fn write_ok(&self, n: &mut SysState, i: usize, side: Side) -> bool {
        if !self.fd_ok(n, i, side) {
            return false;
        }
        if n.sess[i].held.fin_out[side as usize] {
            n.violate(Violation::IoOnClosedFd);
            return false;
        }
        true
    }

    /// HH_ACCEPT_PROXY reads with MSG_PEEK and takes the header only once it
    /// is whole, never the payload behind it.
    fn recv_proxy_header(&self, n: &mut SysState, i: usize) -> Outcome {
        if !self.fd_ok(n, i, Side::Front) {
            return Outcome::Reset;
        }
        let x = &mut n.sess[i];
        let w = x.front_up;
        if w.rst {
            // The header's read meets the RST: the connection is given up.
            x.front_up.q.clear();
            self.excuse_rst_met(n, i, Who::Client);
            return Outcome::Reset;
        }
        let mut q = w.q;
        match q.pop() {
            Some(Chunk::HDR) => {
                x.front_up.q.pop();
                x.held.hdr_ok = true;
                x.held.hdr_bytes = true;
                Outcome::Done
            }
            Some(Chunk::HDR_HEAD) => {
                x.held.hdr_bytes = true;
                match q.pop() {
                    Some(Chunk::HDR_TAIL) => {
                        x.front_up.q.pop();
                        x.front_up.q.pop();
                        x.held.hdr_ok = true;
                        n.witness(Witness::SplitHeader);
                        Outcome::Done
                    }
                    Some(_) => Outcome::Invalid,
                    // A truncated header: the peer closed its side.
                    None if w.fin => Outcome::Eof,
                    None => Outcome::WouldBlock,
                }
            }
            Some(_) => {
                x.held.hdr_bytes = true;
                Outcome::Invalid
            }
            None if w.fin && !x.held.hdr_bytes => Outcome::EofEmpty,
            None if w.fin => Outcome::Eof,
            None => Outcome::WouldBlock,
        }
    }

    /// One step of HH_SSL_HS, RFC 8446 2 as three messages. Front (the
    /// proxy is the server): read the hello, queue the flight, read the
    /// client's Finished. Back (the proxy is the client): queue the hello,
    /// read the server's flight, queue the Finished. A step that has to wait
    /// leaves the stage where it was, and the next call resumes there; a
    /// hello that arrives in two pieces is kept by the TLS layer until whole.
    fn tls_handshake(&self, n: &mut SysState, i: usize, side: Side, ev: &mut Events) -> Outcome {
        #[derive(Clone, Copy)]
        enum Msg {
            Read(Chunk),
            Write(Chunk),
        }
        let steps = match side {
            Side::Front => [Msg::Read(Chunk::HELLO), Msg::Write(Chunk::FINISHED), Msg::Read(Chunk::CLIENT_FINISHED)],
            Side::Back => [Msg::Write(Chunk::HELLO), Msg::Read(Chunk::FINISHED), Msg::Write(Chunk::CLIENT_FINISHED)],
        };
        if !self.fd_ok(n, i, side) {
            return Outcome::Reset;
        }
        let who = peer_of(side);
        loop {
            let stage = usize::from(n.sess[i].held.tls[side as usize]);
            let Some(&msg) = steps.get(stage) else { return Outcome::Done };
            let x = &mut n.sess[i];
            if x.up(who).refuses_sends() {
                // A handshake writes as well as reads: an RST after the FIN
                // fails it too.
                self.excuse_rst_met(n, i, who);
                n.sess[i].up_mut(who).q.clear();
                self.excuse_reset_in_handshake(n, i, side);
                return Outcome::Reset;
            }
            match msg {
                Msg::Read(expect) => {
                    let head = x.held.hello_head;
                    match x.up(who).q.peek() {
                        Some(c) if c == expect && !head => {
                            x.up_mut(who).q.pop();
                        }
                        Some(Chunk::HELLO_HEAD) if expect == Chunk::HELLO && !head => {
                            // The first half of a record: the TLS layer keeps
                            // it and wants the rest before it moves on.
                            x.up_mut(who).q.pop();
                            x.held.hello_head = true;
                            continue;
                        }
                        Some(Chunk::HELLO_TAIL) if expect == Chunk::HELLO && head => {
                            x.up_mut(who).q.pop();
                            x.held.hello_head = false;
                            n.witness(Witness::SplitHello);
                        }
                        Some(_) => return Outcome::Invalid,
                        None if x.up(who).fin => return Outcome::Eof,
                        None => return Outcome::WouldBlock,
                    }
                }
                Msg::Write(out) => {
                    if x.down(who).full(self.cfg.wire_cap) {
                        return Outcome::WantWrite;
                    }
                    if side == Side::Back {
                        self.record_server_first(n, i, out);
                    }
                    self.proxy_push(n, i, side, out, ev);
                }
            }
            n.sess[i].held.tls[side as usize] += 1;
        }
    }

    /// Chunks the proxy queues towards the server, in order: the first one
    /// must be the PROXY header when one is configured.
    pub(super) fn record_server_first(&self, n: &mut SysState, i: usize, c: Chunk) {
        let x = &n.sess[i];
        if self.session_config(x).send_proxy && !x.held.sent_back && c != Chunk::PROXY_OUT {
            n.violate(Violation::ProxyHeaderNotFirst);
        }
    }

    fn recv(&self, n: &mut SysState, i: usize, side: Side, into: Sink) -> Outcome {
        if !self.fd_ok(n, i, side) {
            return Outcome::Reset;
        }
        let who = peer_of(side);
        let dir = side.input();
        let d = dir as usize;
        let tls = n.sess[i].core.conn(side).data == DataLayer::Tls;
        let x = &mut n.sess[i];
        // What reached the socket before the RST is read first.
        if x.up(who).rst && x.up(who).q.is_empty() {
            x.held.end[side as usize] = END_CUT;
            if self.cfg.has(Feature::PropagateAbort) {
                x.held.rst_seen[side as usize] = true;
            }
            return Outcome::Reset;
        }
        let more_behind = x.up(who).q.len() > 1;
        if into == Sink::Discard {
            // A drain reads bytes and throws them away, whatever they are.
            if let Some(c) = x.up_mut(who).q.pop() {
                if c.data_id().is_some() {
                    x.held.dropped += 1;
                    x.held.taken[d] += 1;
                }
                n.witness(Witness::Drained);
                return Outcome::Data { full: false };
            }
            if x.up(who).fin {
                x.held.end[side as usize] = END_CLEAN;
                return Outcome::Eof;
            }
            return Outcome::WouldBlock;
        }
        match x.up(who).q.peek() {
            Some(c) if c.data_id().is_some() => {
                if !self.handshake_done(&n.sess[i], side) {
                    n.violate(Violation::PayloadBeforeHandshake);
                }
                let x = &mut n.sess[i];
                let cap = if into == Sink::Pipe { self.cfg.pipe_cap } else { self.cfg.buf_cap };
                let fifo: &mut Fifo = if into == Sink::Pipe { &mut x.held.pipe[d] } else { &mut x.held.buf[d] };
                if fifo.len() >= cap {
                    // recv(2) into no room at all returns 0: read as an end of stream.
                    return Outcome::Eof;
                }
                x.up_mut(who).q.pop();
                let fifo: &mut Fifo = if into == Sink::Pipe { &mut x.held.pipe[d] } else { &mut x.held.buf[d] };
                fifo.push(c);
                let full = fifo.len() >= cap;
                x.held.taken[d] += 1;
                let other_tls = x.core.conn(side.other()).data == DataLayer::Tls;
                if more_behind {
                    n.witness(Witness::PartialRead);
                }
                if into == Sink::Pipe {
                    n.witness(Witness::Spliced);
                    if tls || other_tls {
                        n.violate(Violation::TlsSpliced);
                    }
                }
                Outcome::Data { full }
            }
            Some(Chunk::CLOSE_NOTIFY) if tls => {
                x.up_mut(who).q.pop();
                x.held.end[side as usize] = END_CLEAN;
                Outcome::Eof
            }
            Some(_) => Outcome::Invalid,
            None if x.up(who).fin && tls => {
                // A FIN with no close_notify before it: the stream was cut.
                x.held.end[side as usize] = END_CUT;
                n.witness(Witness::Truncation);
                Outcome::Truncated
            }
            None if x.up(who).fin => {
                x.held.end[side as usize] = END_CLEAN;
                Outcome::Eof
            }
            None => Outcome::WouldBlock,
        }
    }

    fn send(&self, n: &mut SysState, i: usize, side: Side, from: Source, ev: &mut Events) -> Outcome {
        if !self.write_ok(n, i, side) {
            return Outcome::Reset;
        }
        let who = peer_of(side);
        let d = side.output() as usize;
        let x = &mut n.sess[i];
        if x.up(who).refuses_sends() {
            // ECONNRESET: the peer reset this connection; EPIPE: it closed,
            // then reset (what it sent before its FIN is still readable).
            if self.cfg.has(Feature::PropagateAbort) && x.up(who).rst {
                x.held.rst_seen[side as usize] = true;
            }
            let outcome = send_refused(x.up(who));
            self.excuse_rst_met(n, i, who);
            self.excuse_reset_in_handshake(n, i, side);
            return outcome;
        }
        if x.down(who).full(self.cfg.wire_cap) {
            return Outcome::WouldBlock;
        }
        let (chunk, drained) = match from {
            Source::Buffer | Source::Pipe => {
                if !self.handshake_done(x, side) {
                    n.violate(Violation::PayloadBeforeHandshake);
                }
                let x = &mut n.sess[i];
                let fifo = if from == Source::Buffer { &mut x.held.buf[d] } else { &mut x.held.pipe[d] };
                let Some(c) = fifo.pop() else {
                    // A send from nothing: the core and the runtime disagree.
                    n.violate(Violation::FillMismatch);
                    return Outcome::Sent { drained: true };
                };
                let drained = fifo.is_empty();
                if !drained {
                    n.witness(Witness::PartialWrite);
                }
                (c, drained)
            }
            Source::Reply => (Chunk::REPLY, true),
            Source::ProxyHeader => (Chunk::PROXY_OUT, true),
        };
        if side == Side::Back {
            self.record_server_first(n, i, chunk);
        }
        self.proxy_push(n, i, side, chunk, ev);
        Outcome::Sent { drained }
    }

    /// The proxy queues `c` towards the peer of `side`. If that peer closed
    /// its socket, its kernel answers with an RST.
    pub(super) fn proxy_push(&self, n: &mut SysState, i: usize, side: Side, c: Chunk, ev: &mut Events) {
        let who = peer_of(side);
        if n.sess[i].peer(who).closed {
            // Data for a closed socket: RST back. What the proxy had not read
            // from that peer is read still, unless a send meets the RST
            // first (excused with the reset); after that peer's FIN, it is
            // all read, and only sends fail.
            let up = n.sess[i].up(who);
            if !up.fin || up.rst {
                self.excuse_rst_from_closed_peer(n, i, who);
            }
            let x = &mut n.sess[i];
            x.up_mut(who).reset_at_proxy();
            if side == Side::Back {
                // Sent all the same: the kernel took it, the peer's answered.
                x.held.sent_back = true;
            }
            ev.set(side, true, true);
            return;
        }
        let x = &mut n.sess[i];
        x.down_mut(who).q.push(c);
        x.held.pushed += 1;
        if side == Side::Back {
            x.held.sent_back = true;
        }
    }

    /// `close(2)` on the proxy's socket facing `side`: a FIN, or an RST when
    /// abortive or when input is left unread.
    fn proxy_close(&self, n: &mut SysState, i: usize, side: Side, abortive: bool) {
        let who = peer_of(side);
        let x = &mut n.sess[i];
        x.held.fd_open[side as usize] = false;
        if side == Side::Back && !x.env.accepted {
            // A connect abandoned before the server answered.
            x.env.syn = false;
            return;
        }
        let unread = !x.up(who).q.is_empty() && !x.up(who).rst;
        if (abortive || unread) && !x.down(who).rst && !x.peer(who).closed {
            self.rst_destroys(n, i, who);
        } else if !x.down(who).rst {
            x.down_mut(who).fin = true;
        }
        let x = &mut n.sess[i];
        x.held.fin_out[side as usize] = true;
        x.held.pushed += 1;
        // Nothing more is read from this socket.
        x.up_mut(who).q.clear();
        x.up_mut(who).fin = false;
    }

    /// An RST of the proxy reaches `who`: everything it had not read is
    /// destroyed; a data chunk below its direction's horizon is a violation.
    pub(super) fn rst_destroys(&self, n: &mut SysState, i: usize, who: Who) {
        let dir = who.other().sends_on();
        let x = &mut n.sess[i];
        let horizon = x.excuse.horizon(dir);
        let lost = x.down(who).q.iter().filter_map(|c| c.data_id()).any(|id| id < horizon);
        let owed = x.rst_owed(who);
        x.down_mut(who).reset();
        if lost && x.is_proxied() {
            n.violate(Violation::RstDestroyedData);
            if owed {
                n.violate(Violation::AbortBeforeData);
            }
        }
    }
}

/// A send to a peer whose wire refuses it: `Reset` for an RST with no FIN
/// before it (ECONNRESET), `PeerClosed` for one that came after the FIN
/// (Linux's EPIPE in CLOSE-WAIT), whose wire still holds what came before.
fn send_refused(w: &Wire) -> Outcome {
    if w.rst {
        Outcome::Reset
    } else {
        Outcome::PeerClosed
    }
}
