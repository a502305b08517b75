//! The progress measure: it grows strictly on every step of a correct
//! model, which makes the reachable graph acyclic (checked on every step as
//! [`Violation::NoProgress`](super::state::Violation::NoProgress)). Finite
//! and acyclic, every behaviour is finite, so a fair behaviour ends in a
//! state where the proxy sleeps with no timer armed, where liveness is
//! judged (docs/model.md, "Fairness").
//!
//! Monotone counters of the environment weigh more than the flags a proxy
//! step may set, because an environment event (a chunk arriving) can clear
//! one such flag (EMPTY_IN) while adding its own counter; a new connect
//! attempt weighs more than everything a connection can do, because it
//! starts a fresh connection whose statuses are back at zero.

use super::state::{Peer, Sess, SysState};
use crate::core::{ChanFlags, ConnState, Connection, Dir, FdState, Side};

/// The measure of a whole state.
pub fn measure(s: &SysState) -> u32 {
    let freed = s.backend.ghosts.iter().filter(|&&b| !b).count() as u32;
    s.seen.count_ones() + 16 * freed + s.sessions().map(session).sum::<u32>()
}

fn peer(p: &Peer) -> u32 {
    u32::from(p.sent)
        + u32::from(p.got)
        + [
            p.hdr_sent,
            p.hdr_head,
            p.hello_sent,
            p.hello_head,
            p.tls_up,
            p.garbage,
            p.shut_wr,
            p.clean_end,
            p.closed,
            p.reset_sent,
            p.got_fin,
            p.got_rst,
            p.got_reply,
            p.got_cn,
            p.got_finished,
            p.got_hdr,
            p.got_any,
            p.hs_broken,
        ]
        .iter()
        .filter(|&&b| b)
        .count() as u32
}

fn conn(x: &Connection) -> u32 {
    x.ops.rank_sum()
        + u32::from(x.data_hs.rank())
        + (8 - x.hs.len())
        + u32::from(x.error)
        + u32::from(x.abortive)
        // A look at the send queue moves SCHEDULED to AWAITING_ACK; the way
        // back is a writable edge, which only a peer's read (a peer counter)
        // brings.
        + u32::from(x.rst.rank())
        + match x.state {
            ConnState::Closed => 0,
            ConnState::Accepted | ConnState::Connecting => 1,
            ConnState::Established => 2,
            ConnState::Error => 3,
        }
        + match x.fd {
            FdState::Closed => 0,
            FdState::Ready | FdState::Listen => 1,
            FdState::Error => 2,
        }
}

fn session(x: &Sess) -> u32 {
    let wires = [x.front_up, x.front_down, x.back_up, x.back_down];
    let wire_flags: u32 = wires.iter().map(|w| u32::from(w.rst) + u32::from(w.rst_after_fin)).sum();
    let env = u32::from(x.env.accepted) + u32::from(x.env.refused);
    let e = &x.held;
    let exec = u32::from(e.taken[0])
        + u32::from(e.taken[1])
        + u32::from(e.dropped)
        + u32::from(e.released)
        + 2 * (u32::from(e.tls[0]) + u32::from(e.tls[1]))
        + u32::from(e.hello_head)
        + u32::from(e.hdr_ok)
        + u32::from(e.hdr_bytes)
        + e.rules_ok.count_ones()
        + u32::from(e.sent_back)
        + u32::from(e.end[0])
        + u32::from(e.end[1])
        + u32::from(e.queue_moves)
        + u32::from(e.pushed);
    let c = &x.core;
    let flags = |d: Dir| -> u32 {
        let ch = c.chan(d);
        let f = ch.flags;
        u32::from(f.has(ChanFlags::EMPTY_IN))
            + u32::from(f.has(ChanFlags::FULL_OUT))
            + 2 * (u32::from(f.has(ChanFlags::SHUT_IN))
                + u32::from(f.has(ChanFlags::SHUT_OUT))
                + u32::from(f.has(ChanFlags::ERR_IN))
                + u32::from(f.has(ChanFlags::ERR_OUT)))
            + u32::from(ch.seen_data)
    };
    let core = conn(c.conn(Side::Front))
        + if c.attempts() == 0 { conn(c.conn(Side::Back)) } else { 0 }
        + u32::from(c.si(Side::Front).rank())
        + u32::from(c.si(Side::Back).rank())
        + 2 * (flags(Dir::Req) + flags(Dir::Res))
        + u32::from(c.rejected());
    let back_epoch =
        u32::from(c.attempts()) * 4096 + u32::from(c.retries_used()) * 1024 + u32::from(x.env.attempts) * 4096;
    let back_now = if c.attempts() > 0 { conn(c.conn(Side::Back)) } else { 0 };
    16 * (peer(&x.client) + peer(&x.server) + wire_flags + env + exec) + 2 * core + back_epoch + 2 * back_now
}
