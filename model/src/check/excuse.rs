//! Excuses: which losses an event explains (docs/model.md, "Excuses").
//!
//! TCP loses only tails, so an excuse is a horizon per direction: the data
//! chunks numbered below it must reach the receiver's kernel, those at or
//! above it may be lost (their end of stream with them). An event lowers the
//! horizon of the directions it touched to the chunks that were past its
//! reach when it happened, and no further:
//!
//! | event | direction towards the peer | direction from the peer |
//! |---|---|---|
//! | a peer aborts (RST), or closes on unread input | what it had read | nothing (the proxy reads what came before the RST) |
//! | the proxy meets a peer's RST on a send, a handshake step or the PROXY header's read (no FIN before it) | — | what the proxy had taken off its wire |
//! | a peer closes cleanly | what it had read | nothing |
//! | the proxy writes to a peer that closed (its kernel resets) | — | what the proxy had taken off its wire |
//! | a peer breaks its handshake | what it had read | what it had delivered |
//! | the server refuses, or the connect timer fires | this attempt: what it had read | this attempt: what it had delivered |
//! | a timer cuts a side, if nothing of that direction was moving | what the peer had read | what the proxy had taken |
//!
//! A client abort while the server connection is not yet carrying data also
//! abandons the attempt and any retry: the request the proxy holds for it is
//! excused for the session (the note's CON -> DIS on a client abort). Events of the client side lower the
//! session's horizons; events of the server side lower only the current
//! attempt's, which the next attempt starts without.

use super::state::*;
use super::system::System;
use crate::core::{Dir, Side, TimerKind};

/// Lowers `h` to `to`.
fn lower(h: &mut u8, to: u8) {
    *h = (*h).min(to);
}

impl System {
    /// Lowers the horizon of `dir` for the session (`client_side`) or the
    /// current attempt.
    fn excuse(x: &mut Sess, client_side: bool, dir: Dir, to: u8) {
        let h = if client_side { &mut x.excuse.session[dir as usize] } else { &mut x.excuse.attempt[dir as usize] };
        lower(h, to);
    }

    /// `who` closes its socket, with an RST when `rst`.
    pub(super) fn excuse_peer_close(&self, n: &mut SysState, i: usize, who: Who, rst: bool) {
        let x = &mut n.sess[i];
        let client_side = who == Who::Client;
        let towards = who.other().sends_on();
        let got = x.read_pos(towards);
        Self::excuse(x, client_side, towards, got);
        if rst {
            // What it sent and the proxy had not taken is still read (the
            // RST comes behind it on the wire): nothing is excused for it
            // here. Only where the proxy meets the RST before it read that
            // (a send, a handshake step: `excuse_rst_met`) is it lost.
            // The server connection carries data only once the proxy took
            // it as established (a SYN-ACK that comes after the connect
            // timer gave the attempt up carries nothing).
            let back_carries = x.env.accepted
                && x.core.si(Side::Back) == crate::core::SiState::Est
                && self.handshake_done(x, Side::Back);
            if who == Who::Client && !back_carries {
                // The attempt in progress, and any retry the proxy starts
                // before it reads the RST, is abandoned with the client: the
                // session's horizon, not the attempt's (a retry would reset
                // that one and owe a request no server connection carried).
                let delivered = x.delivered_pos(Dir::Req);
                Self::excuse(x, true, Dir::Req, delivered);
            }
        }
    }

    /// The proxy met `who`'s RST (no FIN before it: ECONNRESET) on a send,
    /// a handshake step or the PROXY header's read: it gives that
    /// connection up and reads it no further (as HAProxy does), so what
    /// `who` sent and the proxy had not taken is lost with the reset. After
    /// a FIN the RST fails the sends only (EPIPE), and everything is read.
    pub(super) fn excuse_rst_met(&self, n: &mut SysState, i: usize, who: Who) {
        let x = &mut n.sess[i];
        if !x.up(who).rst {
            return;
        }
        let from = who.sends_on();
        let taken = x.taken_pos(from);
        Self::excuse(x, who == Who::Client, from, taken);
    }

    /// The proxy wrote to `who` after it closed: its kernel's RST destroys
    /// what the proxy had not yet read from it.
    pub(super) fn excuse_rst_from_closed_peer(&self, n: &mut SysState, i: usize, who: Who) {
        let x = &mut n.sess[i];
        let from = who.sends_on();
        let taken = x.taken_pos(from);
        Self::excuse(x, who == Who::Client, from, taken);
    }

    /// The server reset after its FIN while the proxy's handshake towards
    /// it (PROXY header, TLS) was not done: the attempt fails, and what
    /// that server sent before its FIN, though still readable, is given up
    /// with it. (An RST with no FIN before it destroyed that already.)
    pub(super) fn excuse_reset_in_handshake(&self, n: &mut SysState, i: usize, side: Side) {
        let x = &n.sess[i];
        if side == Side::Back && x.back_up.rst_after_fin && !self.handshake_done(x, Side::Back) {
            self.excuse_attempt_failed(n, i);
        }
    }

    /// `who` broke its handshake (garbage, a close in the middle).
    pub(super) fn excuse_broken_handshake(&self, n: &mut SysState, i: usize, who: Who) {
        let x = &mut n.sess[i];
        for dir in Dir::BOTH {
            let d = x.delivered_pos(dir);
            Self::excuse(x, who == Who::Client, dir, d);
        }
    }

    /// The current connect attempt failed (refused, or timed out).
    pub(super) fn excuse_attempt_failed(&self, n: &mut SysState, i: usize) {
        let x = &mut n.sess[i];
        for dir in Dir::BOTH {
            let d = x.delivered_pos(dir);
            Self::excuse(x, false, dir, d);
        }
    }

    /// Timer `k` of session `i` fires. It excuses, on each direction the
    /// abort it causes touches, the chunks not yet past that abort, unless
    /// that direction was still moving (a stall is not excused by the timer
    /// that ends it).
    pub(super) fn excuse_timer(&self, n: &mut SysState, i: usize, k: TimerKind) {
        let x = n.sess[i];
        let cut: &[Side] = match k {
            TimerKind::Handshake | TimerKind::ClientFin => &[Side::Front],
            TimerKind::ServerFin => &[Side::Back],
            TimerKind::Client | TimerKind::Server => &[Side::Front, Side::Back],
            TimerKind::Connect => {
                self.excuse_attempt_failed(n, i);
                return;
            }
            TimerKind::Queue => {
                // No server will ever take the request.
                let x = &mut n.sess[i];
                for dir in Dir::BOTH {
                    let d = x.delivered_pos(dir);
                    Self::excuse(x, true, dir, d);
                }
                return;
            }
            TimerKind::TurnAround => return,
        };
        for dir in Dir::BOTH {
            if x.is_proxied() && self.moving(&x, dir) {
                continue;
            }
            let towards_cut = cut.contains(&receiver(dir).side());
            let from_cut = cut.contains(&sender(dir).side());
            let to = if towards_cut {
                // A timeout may reset the cut side: what its peer had not
                // read yet is excused (tcp-close-semantics: a deliberate RST
                // is acceptable where a timeout fired).
                x.read_pos(dir)
            } else if from_cut {
                x.taken_pos(dir)
            } else {
                continue;
            };
            let client_side = cut.contains(&Side::Front);
            Self::excuse(&mut n.sess[i], client_side, dir, to);
        }
    }
}
