//! The environment: what the peers and the server's kernel may do, and what
//! a peer observes when it reads. Peers are free: any of these actions may
//! happen when enabled, and a peer may also stop acting for ever (the model
//! assumes no fairness for them, docs/model.md "Fairness").

use super::config::Feature;
use super::kernel::Chunk;
use super::state::*;
use super::system::{Observer, System};
use crate::core::Side;

impl System {
    /// Appends the actions session `i`'s peers (and its server's kernel) may take.
    pub(super) fn peer_actions(&self, i: u8, x: &Sess, out: &mut Vec<SysAction>) {
        let c = &self.cfg;
        let cap = c.wire_cap;
        for who in [Who::Client, Who::Server] {
            let p = x.peer(who);
            let connected = who == Who::Client || x.env.accepted;
            if !connected || p.closed {
                continue;
            }
            let down = x.down(who);
            // Reading: anything left to learn.
            if down.readable() && !(p.got_rst && down.q.is_empty()) && !(p.got_fin && down.q.is_empty() && !down.rst) {
                out.push(SysAction::PeerReads(i, who));
            }
            let up = x.up(who);
            let room = !up.full(cap);
            let can_write = !p.shut_wr && !p.got_rst;
            if can_write {
                let client = who == Who::Client;
                if client && c.has(Feature::ProxyIn) && !p.hdr_sent {
                    if p.hdr_head {
                        if room {
                            out.push(SysAction::ClientSendsHeader(i, Piece::Tail));
                        }
                    } else if room {
                        out.push(SysAction::ClientSendsHeader(i, Piece::Whole));
                        if c.split {
                            out.push(SysAction::ClientSendsHeader(i, Piece::Head));
                        }
                        if c.has(Feature::Garbage) {
                            out.push(SysAction::ClientSendsGarbage(i));
                        }
                    }
                } else if client && x.tls_peer(who) && !p.hello_sent {
                    if p.hello_head {
                        if room {
                            out.push(SysAction::ClientSendsHello(i, Piece::Tail));
                        }
                    } else if room {
                        out.push(SysAction::ClientSendsHello(i, Piece::Whole));
                        if c.split {
                            out.push(SysAction::ClientSendsHello(i, Piece::Head));
                        }
                        if c.has(Feature::Garbage) && !c.has(Feature::ProxyIn) {
                            out.push(SysAction::ClientSendsGarbage(i));
                        }
                    }
                } else {
                    let limit = match who {
                        _ if i > 0 => c.second_chunks,
                        Who::Client => c.client_chunks,
                        Who::Server => c.server_chunks,
                    };
                    let tls_needed = x.tls_peer(who);
                    if p.sent < limit && (!tls_needed || p.tls_up) && !p.garbage && room {
                        out.push(SysAction::PeerSends(i, who));
                    }
                }
                // Contention peers never half-close; a TLS peer's close_notify needs room.
                if !(c.contention() || x.tls_peer(who) && p.tls_up && !room) {
                    out.push(SysAction::PeerShutsWrite(i, who));
                }
            }
            out.push(SysAction::PeerCloses(i, who));
            if !c.contention() {
                out.push(SysAction::PeerAborts(i, who));
            }
        }
        if x.env.syn && !x.env.accepted && !x.env.refused {
            out.push(SysAction::ServerAccepts(i));
            if !c.contention() {
                out.push(SysAction::ServerRefuses(i));
            }
        }
    }

    /// Applies an environment action of one session.
    pub(super) fn env_action(&self, n: &mut SysState, a: SysAction, obs: &mut Observer) {
        let Some(i) = a.session() else { return };
        let i = i as usize;
        let before = n.sess[i];
        match a {
            SysAction::PeerSends(_, who) => {
                let id = n.sess[i].peer(who).sent;
                n.sess[i].peer_mut(who).sent += 1;
                self.peer_push(n, i, who, Chunk::data(id));
            }
            SysAction::ClientSendsHeader(_, piece) => {
                let c = &mut n.sess[i].client;
                let chunk = match piece {
                    Piece::Whole => {
                        c.hdr_sent = true;
                        Chunk::HDR
                    }
                    Piece::Head => {
                        c.hdr_head = true;
                        Chunk::HDR_HEAD
                    }
                    Piece::Tail => {
                        c.hdr_sent = true;
                        Chunk::HDR_TAIL
                    }
                };
                self.peer_push(n, i, Who::Client, chunk);
            }
            SysAction::ClientSendsHello(_, piece) => {
                let c = &mut n.sess[i].client;
                let chunk = match piece {
                    Piece::Whole => {
                        c.hello_sent = true;
                        Chunk::HELLO
                    }
                    Piece::Head => {
                        c.hello_head = true;
                        Chunk::HELLO_HEAD
                    }
                    Piece::Tail => {
                        c.hello_sent = true;
                        Chunk::HELLO_TAIL
                    }
                };
                self.peer_push(n, i, Who::Client, chunk);
            }
            SysAction::ClientSendsGarbage(_) => {
                let c = &mut n.sess[i].client;
                c.hdr_sent = true;
                c.hello_sent = true;
                c.garbage = true;
                self.peer_push(n, i, Who::Client, Chunk::GARBAGE);
            }
            SysAction::PeerReads(_, who) => self.peer_read(n, i, who),
            SysAction::PeerShutsWrite(_, who) => {
                let x = &mut n.sess[i];
                if x.tls_peer(who) && x.peer(who).tls_up {
                    self.peer_push(n, i, who, Chunk::CLOSE_NOTIFY);
                }
                let x = &mut n.sess[i];
                let tls = x.tls_peer(who);
                let p = x.peer_mut(who);
                p.shut_wr = true;
                // A FIN ends a raw stream cleanly; a TLS stream needs its
                // close_notify, which a peer sends once the handshake is up.
                p.clean_end = !p.garbage && (!tls || p.tls_up);
                if !x.peer(who).got_rst {
                    x.up_mut(who).fin = true;
                }
                self.notify(&mut n.sess[i], who.side(), true, false);
            }
            SysAction::PeerCloses(_, who) => {
                let x = &n.sess[i];
                let unread = !x.down(who).q.is_empty() && !x.down(who).rst;
                self.peer_close(n, i, who, unread);
            }
            SysAction::PeerAborts(_, who) => self.peer_close(n, i, who, true),
            SysAction::ServerAccepts(_) => {
                let x = &mut n.sess[i];
                x.env.accepted = true;
                self.notify(x, Side::Back, false, true);
            }
            SysAction::ServerRefuses(_) => {
                self.excuse_attempt_failed(n, i);
                let x = &mut n.sess[i];
                x.env.refused = true;
                self.notify(x, Side::Back, true, true);
            }
            SysAction::ProxyRuns(_) | SysAction::SlotFrees(_) | SysAction::TimerFires(..) => return,
        }
        self.check_core_step(n, i, &before, obs);
    }

    /// `who` writes `c`: it lands on its wire to the proxy, and the proxy's
    /// poller reports the socket readable; unless the proxy closed that
    /// socket, in which case its kernel answers with an RST.
    fn peer_push(&self, n: &mut SysState, i: usize, who: Who, c: Chunk) {
        let side = who.side();
        let x = &n.sess[i];
        if !x.held.fd_open[side as usize] && super::system::core_closed(x, side) && super::system::side_existed(x, side)
        {
            // The proxy already closed this socket: its kernel resets.
            self.rst_destroys(n, i, who);
            return;
        }
        let x = &mut n.sess[i];
        x.up_mut(who).q.push(c);
        self.notify(x, side, true, false);
    }

    /// `who` reads one thing: the RST if it was reset, else the oldest
    /// chunk, else the FIN. What it reads is judged here.
    fn peer_read(&self, n: &mut SysState, i: usize, who: Who) {
        let x = &mut n.sess[i];
        if x.down(who).rst {
            x.down_mut(who).q.clear();
            x.peer_mut(who).got_rst = true;
            return;
        }
        let proxied = x.is_proxied();
        let check = x.is_check();
        if let Some(c) = x.down_mut(who).q.pop() {
            let p = x.peer_mut(who);
            p.got_any = true;
            match c.data_id() {
                Some(id) => {
                    if id != p.got {
                        n.violate(Violation::ChunkOrder);
                    } else {
                        n.sess[i].peer_mut(who).got += 1;
                    }
                    if who == Who::Client && !proxied {
                        n.violate(if check { Violation::CheckLeaked } else { Violation::RejectLeaked });
                    }
                }
                None => match c {
                    Chunk::REPLY => {
                        p.got_reply = true;
                        if x.env.reject != 0 {
                            n.violate(Violation::RejectLeaked);
                        }
                    }
                    Chunk::FINISHED => {
                        // The client answers the server's flight with its
                        // Finished, and may send data at once; one that shut
                        // its write side can answer nothing.
                        p.tls_up = true;
                        if !p.shut_wr {
                            self.peer_push(n, i, who, Chunk::CLIENT_FINISHED);
                        }
                    }
                    Chunk::HELLO => {
                        // The server answers the hello with its flight, and
                        // may send data right after it (TLS 1.3 "half-RTT"
                        // data, before the client's Finished).
                        p.hello_sent = true;
                        if !p.shut_wr && !x.up(who).full(self.cfg.wire_cap) {
                            x.peer_mut(who).tls_up = true;
                            self.peer_push(n, i, who, Chunk::FINISHED);
                        }
                    }
                    Chunk::CLOSE_NOTIFY => {
                        p.got_cn = true;
                        if self.forged_clean_end(&n.sess[i], who) {
                            n.violate(Violation::TlsForgedCleanEnd);
                        }
                    }
                    Chunk::CLIENT_FINISHED => p.got_finished = true,
                    Chunk::PROXY_OUT => p.got_hdr = true,
                    _ => {}
                },
            }
            let x = &mut n.sess[i];
            self.notify(x, who.side(), false, true);
            return;
        }
        if x.down(who).fin && !x.peer(who).got_fin {
            x.peer_mut(who).got_fin = true;
            let x = &n.sess[i];
            let dir = who.other().sends_on();
            let other = *x.peer(who.other());
            let me = *x.peer(who);
            // The FIN comes after every chunk the other peer sent before its
            // own FIN, unless an event excuses the loss of a tail.
            let stream = who == Who::Server || x.env.accepted;
            let mut bad = Vec::new();
            if proxied && stream {
                let short = me.got < x.owed(dir);
                let invented = x.end_owed(dir) && !other.shut_wr;
                if short || invented {
                    bad.push(Violation::FinEarly);
                }
                // On TLS, a clean end is told with a close_notify first.
                if x.tls_peer(who) && other.clean_end && x.end_owed(dir) && !me.got_cn {
                    bad.push(Violation::TlsTruncatedCleanEnd);
                }
            }
            if check && who == Who::Client && !me.got_reply && x.end_owed(dir) {
                bad.push(Violation::CheckLeaked);
            }
            // After the other peer's RST ended its stream, an RST is owed, not a FIN.
            if x.rst_owed(who) {
                bad.push(Violation::AbortAsFin);
            }
            for v in bad {
                n.violate(v);
            }
        }
    }

    /// Whether an RST of `who` now ends a stream the proxy carries: the
    /// server connection is up (its connect succeeded), both handshakes are done, `who` has not ended its stream with a FIN, the
    /// proxy's sockets towards both peers are open, the proxy has ended
    /// neither (no FIN queued to the other peer, no RST to either), and the
    /// other peer is still there. Read from the peers, the wires and the
    /// runtime's sockets.
    fn stream_live(&self, x: &Sess, who: Who) -> bool {
        let other = who.other();
        x.is_proxied()
            && x.held.connected
            && self.handshake_done(x, Side::Front)
            && self.handshake_done(x, Side::Back)
            && !x.peer(who).shut_wr
            && x.held.fd_open == [true, true]
            && !x.held.fin_out[other.side() as usize]
            && !x.down(who).rst
            && !x.down(other).rst
            && !x.peer(other).closed
    }

    /// A close_notify reaching `who` claims the other peer ended its stream
    /// cleanly; it is forged if that stream was cut, or never existed.
    fn forged_clean_end(&self, x: &Sess, who: Who) -> bool {
        x.is_proxied() && !x.peer(who.other()).clean_end
    }

    /// `who` closes its socket: with an RST when `rst` (SO_LINGER 0, or
    /// input left unread), else with a FIN.
    fn peer_close(&self, n: &mut SysState, i: usize, who: Who, rst: bool) {
        let side = who.side();
        if rst && self.cfg.has(Feature::PropagateAbort) {
            let live = self.stream_live(&n.sess[i], who);
            n.sess[i].peer_mut(who).rst_live = live;
        }
        self.excuse_peer_close(n, i, who, rst);
        let x = &mut n.sess[i];
        let tls = x.tls_peer(who);
        let p = x.peer_mut(who);
        p.closed = true;
        if !p.shut_wr {
            // A TLS peer that closes without close_notify truncates its stream.
            p.clean_end = !rst && !p.garbage && !tls;
        }
        let p = x.peer_mut(who);
        p.shut_wr = true;
        if rst {
            p.reset_sent = true;
            // An RST ends its stream uncleanly, unless the FIN came before
            // it (then the proxy reads that end still).
            let up = x.up(who);
            if x.held.end[side as usize] != END_CLEAN && (!up.fin || up.rst) {
                x.peer_mut(who).clean_end = false;
            }
            x.up_mut(who).reset_at_proxy();
        } else {
            x.up_mut(who).fin = true;
        }
        if who == Who::Server && !x.client.shut_wr {
            n.witness(Witness::ServerClosedEarly);
        }
        let x = &mut n.sess[i];
        // Its own receive queue is gone with it.
        x.down_mut(who).q.clear();
        x.down_mut(who).fin = false;
        self.notify(x, side, true, true);
    }
}
