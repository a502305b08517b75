//! The replay's step loop: each action of the trace taken in the model and
//! on the real sockets, and after each "proxy runs" and "peer reads" the
//! comparison; where it stops, why.

use super::chunk;
use super::config::{GARBAGE, HEADER};
use super::harness::Harness;
use super::observe::{peer_obs, projection, ReadObs};
use super::Divergence;
use crate::tls_peer::TlsPeer;
use connseq::runtime::Held;
use connseq_model::check::system::TLS_UP;
use connseq_model::check::{Piece, SysAction, SysState, System, Who};
use connseq_model::core::{Channel, Dir, Fill, Op, SiState, Side, TimerKind};
use std::io::{self, Write};
use std::time::Duration;
pub(super) enum Stop {
    Diverged(Divergence),
    Unsupported(String),
    Explained(String),
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Io(e)
    }
}

pub(super) fn run(sys: &System, init: &SysState, actions: &[SysAction], h: &mut Harness) -> Result<usize, Stop> {
    let mut model = *init;
    let mut compared = 0;
    // Set where the model's kernel is more pessimistic than Linux: the model
    // delivers an RST that Linux drops (the peer sent its FIN, the proxy had
    // sent its own, then the peer closed or aborted: on Linux both FINs ended
    // the connection and the RST finds no socket), or it destroys data and a
    // FIN that Linux keeps (an RST provoked by sending to a peer that closed
    // with a FIN); or the proxy's TLS session tickets, which the model does
    // not have, reach a client that had closed, whose kernel answers with an
    // RST. A later difference is explained, not a divergence: the step and
    // the reason.
    let mut rst_dropped: Option<(usize, &str)> = None;
    const KEPT: &str = "the model's kernel resets what Linux keeps (an RST after both FINs, or provoked by data sent \
                        to a peer that closed with a FIN)";
    const TICKETS: &str = "the proxy's TLS 1.3 session tickets, which the model does not send, reached a client that \
                           had closed, and its kernel answered with an RST";
    // A timer fired since the proxy's last turn: the model handles a firing
    // at once, the runtime at its next turn.
    // The timers fired since the proxy's last turn: the model handles a
    // firing at once, the runtime at its next turn, in deadline order.
    let mut fired_since_turn: Vec<TimerKind> = Vec::new();
    // A slot freed since the proxy's last turn: the runtime hands it over
    // and runs the waiting session at once, when it reads the message.
    let mut slot_freed_since_turn = false;
    // The client's RST came since the proxy's last turn: the runtime reads
    // its inputs in the order they came, so the waiting session reads the
    // RST (and leaves the queue, `CQ`) before the ghost that freed a slot
    // after it ends; the model hands the slot over at once, before the proxy
    // reads (`CC`). A FIN or a close reads the same either way.
    let mut client_ended_since_turn: Option<SysAction> = None;
    h.connect_client()?;
    let mut log = Vec::new();
    for (i, &a) in actions.iter().enumerate() {
        log.clear();
        let next = sys.step(&model, a, Some(&mut log));
        if a == SysAction::ProxyRuns(0) && rst_dropped.is_none() {
            for who in [Who::Client, Who::Server] {
                // The proxy sent to a peer that had closed with a FIN: the
                // model resets the proxy's incoming wire (data and FIN gone);
                // Linux keeps both and reports EPIPE (kernel_axioms.rs:
                // data_for_a_closed_socket_after_its_fin_arrived_is_answered_with_rst_seen_as_epipe).
                let p = model.sess[0].peer(who);
                if p.closed && !p.reset_sent && !model.sess[0].up(who).rst && next.sess[0].up(who).rst {
                    rst_dropped = Some((i, KEPT));
                }
            }
            // The real proxy's front handshake ends by sending tickets.
            let c = model.sess[0].peer(Who::Client);
            if model.sess[0].held.tls[0] < TLS_UP && next.sess[0].held.tls[0] == TLS_UP && c.closed && !c.reset_sent {
                rst_dropped = Some((i, TICKETS));
            }
        }
        if let SysAction::PeerAborts(0, Who::Client) = a {
            client_ended_since_turn.get_or_insert(a);
        }
        if let SysAction::PeerCloses(0, who) | SysAction::PeerAborts(0, who) = a {
            let proxy_fin = model.sess[0].core.conn(who.side()).ops.done(Op::CtrlShutw);
            if model.sess[0].peer(who).shut_wr && proxy_fin && rst_dropped.is_none() {
                rst_dropped = Some((i, KEPT));
            }
        }
        let diverge = |what: &str, expected: String, actual: String| match rst_dropped {
            Some((at, why)) => Stop::Explained(format!("step {i}: after step {at} {why}")),
            None => Stop::Diverged(Divergence { step: i, action: a.to_string(), what: what.into(), expected, actual }),
        };
        match a {
            SysAction::ProxyRuns(0) => {
                // A connect the proxy starts now meets the answer the trace
                // gives it later.
                let accept = actions[i + 1..]
                    .iter()
                    .find_map(|x| match x {
                        SysAction::ServerAccepts(0) => Some(true),
                        SysAction::ServerRefuses(0) => Some(false),
                        _ => None,
                    })
                    .unwrap_or(true);
                for s in &mut h.servers {
                    s.answer(accept)?;
                }
                // What each peer's wire can still take in the model: the
                // real proxy's writes are held to it (the send-window shim).
                // A peer that closed takes no data: the model's kernel answers
                // what the proxy sends it with an RST, and no wire fills, so
                // the real kernel decides, one chunk per send as the model.
                for who in [Who::Client, Who::Server] {
                    let x = &model.sess[0];
                    if x.peer(who).closed {
                        h.proxy.set_send_window_closed(who.side());
                    } else {
                        let room = sys.cfg.wire_cap.saturating_sub(x.down(who).q.len());
                        h.proxy.set_send_window(who.side(), usize::from(room));
                    }
                }
                let closed = [Who::Client, Who::Server].map(|who| model.sess[0].peer(who).closed);
                if let Err(e) = h.run_proxy_towards(closed) {
                    // A runtime that hangs or whose loop died departs from
                    // the model as surely as a wrong state.
                    return Err(Stop::Diverged(Divergence {
                        step: i,
                        action: a.to_string(),
                        what: "the proxy's turn".into(),
                        expected: "a turn that ends".into(),
                        actual: e.to_string(),
                    }));
                }
                fired_since_turn.clear();
                slot_freed_since_turn = false;
                client_ended_since_turn = None;
                let real = h.proxy.cores_on(0);
                match (next.sess[0].core.is_closed(), real.first()) {
                    (false, Some(core)) => {
                        let (e, r) = (projection(&next.sess[0].core), projection(core));
                        if e != r {
                            return Err(diverge("the core's state", e, r));
                        }
                    }
                    (true, None) => {
                        let recs = h.take_records();
                        let code = recs.first().map(|r| r.termination.to_string()).unwrap_or_default();
                        if code != next.sess[0].core.termination().to_string() {
                            return Err(diverge(
                                "the termination code",
                                next.sess[0].core.termination().to_string(),
                                code,
                            ));
                        }
                        // The log's connect count is the attempts the
                        // model's server saw.
                        let connects = recs.first().map_or(0, |r| r.connects);
                        if connects != u32::from(next.sess[0].env.attempts) {
                            return Err(diverge(
                                "the connect attempts in the log",
                                next.sess[0].env.attempts.to_string(),
                                connects.to_string(),
                            ));
                        }
                    }
                    (false, None) => {
                        // Before the proxy accepted there is no real core: the
                        // model's initial state is an accepted connection.
                        if h.accepted() {
                            return Err(diverge("the session", "alive".into(), "ended".into()));
                        }
                    }
                    (true, Some(core)) => {
                        return Err(diverge("the session", "ended".into(), projection(core)));
                    }
                }
                // Each server counts the slots the model's backend counts
                // (the replayed session's and the ghosts'): a slot kept or
                // given back twice shows here before any client waits.
                let servers = usize::from(sys.cfg.servers());
                let expected: Vec<u32> = next.backend.servers[..servers].iter().map(|s| s.active).collect();
                let real = h.proxy.server_slots(0);
                if real != expected {
                    return Err(diverge("the server slots taken", format!("{expected:?}"), format!("{real:?}")));
                }
                // A channel holds a buffer or a pipe only while the model
                // says data is in flight in it: an idle connection holds
                // none, and an ended session has given everything back.
                let alive = !next.sess[0].core.is_closed();
                let count = |f: fn(&Channel) -> Fill| {
                    [next.sess[0].core.chan(Dir::Req), next.sess[0].core.chan(Dir::Res)]
                        .into_iter()
                        .filter(|c| alive && f(c) != Fill::Empty)
                        .count()
                };
                let expected = Held { buffers: count(|c| c.buf), pipes: count(|c| c.pipe) };
                let held = h.proxy.held();
                if held != expected {
                    return Err(diverge("the buffers and pipes held", format!("{expected:?}"), format!("{held:?}")));
                }
                compared += 1;
                // The session tickets a TLS 1.3 server sends after its
                // handshake are no model message: while the model says
                // nothing waits for the client, its TLS layer takes them.
                let w = next.sess[0].down(Who::Client);
                if let (true, false, false, Some(sock), Some(tls)) =
                    (w.q.is_empty(), w.fin, w.rst, h.client.as_mut(), h.tls[Who::Client as usize].as_mut())
                {
                    tls.read_through_tickets(sock)?;
                }
            }
            SysAction::PeerSends(0, who) => {
                let n = h.sent[who as usize];
                h.sent[who as usize] += 1;
                let bytes = chunk(who, n);
                // A peer whose connection was reset may fail to send: the
                // model's wire then drops the chunk too.
                let (sock, tls) = match who {
                    Who::Client => (h.client.as_mut(), &mut h.tls[0]),
                    Who::Server => (h.server.as_mut(), &mut h.tls[1]),
                };
                match (sock, tls.as_mut()) {
                    (Some(s), Some(tls)) => {
                        let _ = tls.send(s, &bytes);
                    }
                    (Some(s), None) => {
                        let _ = s.write_all(&bytes);
                    }
                    (None, _) => {}
                }
            }
            SysAction::PeerReads(0, who) => {
                let expected = peer_obs(&model, &next, who);
                let real = h.read_next(who, expected, !model.sess[0].peer(who).shut_wr)?;
                if expected == ReadObs::Rst && !matches!(real, ReadObs::Nothing | ReadObs::Rst | ReadObs::Alert) {
                    // The model's RST destroys everything its wire held; on
                    // Linux a receiver still reads what had arrived before
                    // the RST (kernel_axioms.rs:
                    // rst_loses_what_the_receiver_had_not_received_not_what_it_had_not_read).
                    return Err(Stop::Explained(format!(
                        "step {i} ({a}): the model's RST destroyed a {} Linux had already delivered",
                        match real {
                            ReadObs::Fin => "FIN",
                            ReadObs::Data => "chunk",
                            _ => "handshake message",
                        }
                    )));
                }
                if real != expected {
                    return Err(diverge(&format!("what the {who} read"), format!("{expected:?}"), format!("{real:?}")));
                }
                compared += 1;
            }
            SysAction::PeerShutsWrite(0, who) => {
                // A TLS peer that finished its handshake says close_notify
                // first, as the model's does.
                let tls_up = model.sess[0].peer(who).tls_up;
                let (sock, tls) = match who {
                    Who::Client => (h.client.as_mut(), &mut h.tls[0]),
                    Who::Server => (h.server.as_mut(), &mut h.tls[1]),
                };
                if let Some(s) = sock {
                    if let (true, Some(tls)) = (tls_up, tls.as_mut()) {
                        let _ = tls.close_notify(s);
                    }
                    let _ = s.shutdown(std::net::Shutdown::Write);
                }
            }
            SysAction::PeerCloses(0, who) => {
                h.tls[who as usize] = None;
                match who {
                    Who::Client => h.client = None,
                    Who::Server => h.server = None,
                }
            }
            SysAction::PeerAborts(0, who) => {
                h.tls[who as usize] = None;
                let s = match who {
                    Who::Client => h.client.take(),
                    Who::Server => h.server.take(),
                };
                if let Some(s) = s {
                    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
                }
            }
            SysAction::ServerAccepts(0) => {
                // Earlier attempts the proxy abandoned (a connect timeout)
                // may still wait in the backlog, completed by the kernel:
                // the newest connection is the current attempt.
                let mut s = h.accept_server()?;
                while let Some(newer) = h.accept_pending() {
                    s = newer;
                }
                h.server = Some(s);
                h.tls[Who::Server as usize] = match (h.tls_back, h.pki) {
                    (true, Some(pki)) => Some(TlsPeer::server(pki)?),
                    _ => None,
                };
                h.proxy.release_connects();
            }
            SysAction::ServerRefuses(0) => {
                // The port was bound without listening when the proxy
                // connected: the kernel refused; the proxy learns it now.
                h.proxy.release_connects();
            }
            SysAction::TimerFires(0, kind) => {
                if !h.accepted() {
                    return Err(Stop::Unsupported(
                        "a timer fires before the proxy's first turn (the runtime runs a session as it accepts it)"
                            .into(),
                    ));
                }
                let Some(core) = h.proxy.cores_on(0).first().copied() else {
                    return Err(diverge("the session", format!("alive with timer {kind} armed"), "ended".into()));
                };
                let Some(deadline) = core.timers().deadline(kind) else {
                    if !fired_since_turn.is_empty() {
                        return Err(Stop::Unsupported(format!(
                            "timer {kind} was armed by a timer that fired since the proxy's last turn (the model \
                             handles a firing at once, the runtime at its next turn)"
                        )));
                    }
                    return Err(diverge(&format!("timer {kind}"), "armed".into(), "not armed".into()));
                };
                if fired_since_turn.contains(&kind) {
                    return Err(Stop::Unsupported(format!(
                        "timer {kind} fires twice between two turns of the proxy (re-armed by its own firing, which \
                         the runtime handles at its next turn)"
                    )));
                }
                if slot_freed_since_turn {
                    return Err(Stop::Unsupported(format!(
                        "timer {kind} fires after a slot freed since the proxy's last turn (the runtime runs the \
                         session it hands the slot to at once, before the timer)"
                    )));
                }
                // A clock fires every timer due when it moves: the fired one
                // must be due strictly before every other armed timer; those
                // that fired since the last turn are due already and go first,
                // in the order they fired.
                let other = TimerKind::ALL
                    .into_iter()
                    .filter(|&k| k != kind && !fired_since_turn.contains(&k))
                    .filter_map(|k| core.timers().deadline(k))
                    .min();
                if other.is_some_and(|d| d <= deadline) {
                    return Err(Stop::Unsupported(format!(
                        "the model fires {kind} while another timer is due first or at the same time (a clock fires \
                         the earliest first)"
                    )));
                }
                fired_since_turn.push(kind);
                let by = deadline.saturating_sub(h.clock);
                h.clock += by;
                h.proxy.advance(Duration::from_millis(by));
            }
            SysAction::ClientSendsHeader(0, Piece::Whole) | SysAction::ClientSendsGarbage(0) => {
                let bytes = if a == SysAction::ClientSendsHeader(0, Piece::Whole) { HEADER } else { GARBAGE };
                if let Some(s) = h.sock(Who::Client) {
                    let _ = s.write_all(bytes);
                }
            }
            SysAction::SlotFrees(server) => {
                if !fired_since_turn.is_empty() {
                    return Err(Stop::Unsupported(format!(
                        "{a} after a timer fired since the proxy's last turn (the model handles the firing at once, \
                         the runtime at its next turn, after it hands over the slot)"
                    )));
                }
                let waiting = model.sess[0].core.si(Side::Back) == SiState::Que;
                if let (true, Some(end)) = (waiting, client_ended_since_turn) {
                    return Err(Stop::Unsupported(format!(
                        "{a} while the waiting session's client RST ({end}) is unread: the runtime reads inputs in \
                         the order they came, the model hands the slot over before the proxy reads"
                    )));
                }
                slot_freed_since_turn |= waiting;
                if !h.end_ghost(usize::from(server))? {
                    return Err(Stop::Io(io::Error::other(format!("{a}: no ghost session holds that slot"))));
                }
            }
            SysAction::ClientSendsHello(0, Piece::Whole) => {
                let Some(pki) = h.pki else {
                    return Err(Stop::Unsupported(format!("{a}: the listener has no TLS")));
                };
                let mut tls = TlsPeer::client(pki)?;
                if let Some(s) = h.client.as_mut() {
                    let _ = tls.flush(s);
                }
                h.tls[Who::Client as usize] = Some(tls);
            }
            // Refused up front by `replay_with`: another session, or a
            // handshake message in pieces.
            _ => return Err(Stop::Unsupported(format!("{a}: not played by this harness"))),
        }
        model = next;
    }
    Ok(compared)
}
