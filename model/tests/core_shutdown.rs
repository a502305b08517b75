//! Shutdown and close: the note's si_shutw()/si_shutr() sequences, the
//! asynchronous retry of a step that failed, the active shutr and its drain,
//! the lingering close, abortive closes on timeouts, and the termination
//! codes. Grouped by state: established, half-closed by the client,
//! half-closed by the server, draining after a peer's abort, and closed.

mod common;

use common::{
    client_half_closed, config, established, plausible_outcome, random_walks, random_walks_with, server_half_closed,
    Driver, Rng,
};
use connseq_model::core::trace;
use connseq_model::core::{
    Action, Cause, ChanFlags, ConnState, DataLayer, Dir, FdState, Op, OpStatus, Outcome, Phase, SessionConfig, SiState,
    Side, Sink, Source, TimerKind,
};

const RECV_CLIENT: Action = Action::Recv { side: Side::Front, into: Sink::Buffer };
const RECV_SERVER: Action = Action::Recv { side: Side::Back, into: Sink::Buffer };
const SEND_SERVER: Action = Action::Send { side: Side::Back, from: Source::Buffer, more: false };
const SEND_CLIENT: Action = Action::Send { side: Side::Front, from: Source::Buffer, more: false };

fn tls_both() -> SessionConfig {
    SessionConfig { tls_front: true, tls_back: true, ..config() }
}

fn tls_back() -> SessionConfig {
    SessionConfig { tls_back: true, ..config() }
}

/// Request bytes wait in the buffer: the server socket is full and the
/// client has nothing more to read.
#[track_caller]
fn request_stuck_in_buffer(d: &mut Driver) {
    d.client_sends(Sink::Buffer, false);
    d.perform(SEND_SERVER, Outcome::WouldBlock);
    d.perform(RECV_CLIENT, Outcome::WouldBlock);
    assert_eq!(d.s.chan(Dir::Req).buf, connseq_model::core::Fill::Some);
}

/// Response bytes wait in the buffer: the client socket is full and the
/// server has nothing more to read.
#[track_caller]
fn response_stuck_in_buffer(d: &mut Driver) {
    d.server_sends(Sink::Buffer, false);
    d.perform(SEND_CLIENT, Outcome::WouldBlock);
    d.perform(RECV_SERVER, Outcome::WouldBlock);
}

// ----------------------------------------------------------------------
// Established: the shutw sequence (DSHW -> CSHW).
// ----------------------------------------------------------------------

/// The note's `if (shutr)`: a FIN owed to a peer whose own FIN was already read is sent by
/// the close, with no shutdown(SHUT_WR) first; a FIN owed to a peer that may still send is a
/// shutdown, never a close (the mutant `close-for-shutw-early` closes then).
#[test]
fn the_close_stands_for_the_shutw_only_once_the_peers_fin_was_read() {
    // The server's FIN reached the client as a shutdown: the client may still send.
    let mut d = server_half_closed(config());
    assert_eq!(d.count(Action::CtrlShutw(Side::Front)), 1);
    assert!(!d.s.conn(Side::Front).closing() && !d.s.conn(Side::Back).closing());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Eof);
    // The client's FIN is owed to the server, whose own FIN was read: the close is the shutw.
    assert_eq!(d.op(Side::Back, Op::CtrlShutw), OpStatus::Done);
    assert!(d.s.conn(Side::Back).closing() && !d.s.conn(Side::Back).abortive);
    assert!(d.flag(Dir::Req, ChanFlags::SHUT_OUT));
    d.close(Side::Front, false);
    d.close(Side::Back, false);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert!(d.s.is_closed());
    assert_eq!(d.count(Action::CtrlShutw(Side::Back)), 0, "no shutdown before the close");
    assert_eq!(d.code(), "--");
}

#[test]
fn raw_shutw_completes_dshw_at_once_and_asks_for_cshw() {
    let mut d = established(config());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Eof);
    assert_eq!(d.op(Side::Back, Op::DataShutw), OpStatus::Done);
    assert_eq!(d.op(Side::Back, Op::CtrlShutw), OpStatus::Desired);
    assert!(!d.flag(Dir::Req, ChanFlags::SHUT_OUT), "SHUT_OUT only once the FIN is queued");
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Done);
    assert_eq!(d.op(Side::Back, Op::CtrlShutw), OpStatus::Done);
    assert!(d.flag(Dir::Req, ChanFlags::SHUT_OUT));
    // Half-closed is not closed: nothing else is desired on the server side.
    for op in [Op::DataClose, Op::CtrlClose, Op::SockClose, Op::DataShutr, Op::CtrlShutr] {
        assert_eq!(d.op(Side::Back, op), OpStatus::NotDesired, "{op}");
    }
}

#[test]
fn tls_shutw_sends_close_notify_before_shutdown_wr() {
    let mut d = established(tls_back());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Eof);
    // Both steps are recorded desired before the first runs (the note's async task knows what follows).
    assert_eq!(d.op(Side::Back, Op::DataShutw), OpStatus::Desired);
    assert_eq!(d.op(Side::Back, Op::CtrlShutw), OpStatus::Desired);
    d.perform(Action::DataShutw(Side::Back), Outcome::Done);
    assert_eq!(d.op(Side::Back, Op::DataShutw), OpStatus::Done);
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Done);
    assert!(d.s.conn(Side::Back).shw());
}

#[test]
fn shutw_with_pending_tls_record_waits_for_flush() {
    let mut d = established(tls_back());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Eof);
    d.perform(Action::DataShutw(Side::Back), Outcome::WouldBlock);
    // Retained as started-not-completed (the note's 11), and CSHW still waits behind it.
    assert_eq!(d.op(Side::Back, Op::DataShutw), OpStatus::Started);
    assert_eq!(d.op(Side::Back, Op::DataShutw).bits(), 0b11);
    assert_eq!(d.op(Side::Back, Op::CtrlShutw), OpStatus::Desired);
    assert!(d.flag(Dir::Req, ChanFlags::FULL_OUT));
    d.expect_idle();
    d.writable(Side::Back);
    d.perform(Action::DataShutw(Side::Back), Outcome::Done);
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Done);
    d.expect_idle();
}

#[test]
fn server_still_read_while_its_close_notify_waits() {
    let mut d = established(tls_back());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Eof);
    d.perform(Action::DataShutw(Side::Back), Outcome::WouldBlock);
    // ctrl and data states are per direction: reading goes on while the shutw is postponed.
    d.server_sends(Sink::Buffer, false);
    d.expect(SEND_CLIENT);
}

#[test]
fn reset_while_sending_close_notify_is_a_server_fault_only_if_no_fin_came_before_it() {
    // An RST that comes after the server's FIN fails the sends only (Linux's
    // CLOSE-WAIT): the core reads on, and the recv tells which it was.
    for (read, code) in [(Outcome::Reset, "SL"), (Outcome::Eof, "--")] {
        let mut d = established(tls_back());
        d.readable(Side::Front);
        d.perform(RECV_CLIENT, Outcome::Eof);
        d.perform(Action::DataShutw(Side::Back), Outcome::PeerClosed);
        assert_eq!(d.code(), "--", "nothing was lost on the close_notify");
        assert_eq!(d.op(Side::Back, Op::CtrlShutw), OpStatus::Done, "no FIN after an RST");
        assert!(d.flag(Dir::Req, ChanFlags::SHUT_OUT | ChanFlags::ERR_OUT));
        d.readable(Side::Back);
        d.perform(RECV_SERVER, read);
        assert_eq!(d.code(), code, "after {read:?}");
        // No drain, no RST of our own: the server is gone either way. (The client's close
        // comes first: its FIN was read, so its close stands for its shutw.)
        d.close(Side::Front, false);
        d.close(Side::Back, false);
    }
}

#[test]
fn a_failed_send_keeps_what_the_peer_sent_before_its_fin() {
    // The server answered and closed; our request then met its RST. Its
    // answer is still read and forwarded, then its FIN.
    let mut d = established(config());
    d.client_sends(Sink::Buffer, false);
    d.perform(Action::Send { side: Side::Back, from: Source::Buffer, more: false }, Outcome::PeerClosed);
    assert_eq!(d.code(), "SD", "the request was lost: the server's fault");
    assert!(d.flag(Dir::Req, ChanFlags::ERR_OUT));
    assert_eq!(d.s.conn(Side::Back).state, ConnState::Established, "its input is still to be read");
    // The request can go nowhere: it is dropped, as after any server fault.
    d.perform(Action::Discard(Dir::Req), Outcome::Done);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Discard }, Outcome::WouldBlock);
    d.server_sends(Sink::Buffer, false);
    d.expect(SEND_CLIENT);
}

#[test]
fn a_send_that_meets_an_rst_with_no_fin_before_it_ends_both_directions() {
    // ECONNRESET: nothing the server sent is left to read, and with
    // propagate-abort the client is owed the server's abort.
    let cfg = SessionConfig { propagate_abort: true, ..config() };
    let mut d = established(cfg);
    d.client_sends(Sink::Buffer, false);
    d.perform(Action::Send { side: Side::Back, from: Source::Buffer, more: false }, Outcome::Reset);
    assert_eq!(d.code(), "SD");
    assert_eq!(d.s.conn(Side::Back).state, ConnState::Error, "the server's connection is gone both ways");
    assert!(d.s.chan(Dir::Res).aborted, "the abort is owed to the client");
}

// ----------------------------------------------------------------------
// The close sequence: DCLO -> CCLO -> FCLO, once SHR and SHW.
// ----------------------------------------------------------------------

#[test]
fn clean_tls_session_closes_each_side_data_then_ctrl_then_socket() {
    let mut d = established(tls_both());
    d.log.clear();
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Eof);
    d.perform(Action::DataShutw(Side::Back), Outcome::Done);
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Done);
    d.readable(Side::Back);
    d.perform(RECV_SERVER, Outcome::Eof);
    // The server side is shut both ways: it closes first, its slot goes back, then the
    // client's close_notify, and its close, which stands for its shutw (its FIN was read).
    let rest = [
        Action::DataClose(Side::Back),
        Action::CtrlClose(Side::Back),
        Action::SockClose { side: Side::Back, abortive: false },
        Action::ReleaseServer { server: 0 },
        Action::DataShutw(Side::Front),
        Action::DataClose(Side::Front),
        Action::CtrlClose(Side::Front),
        Action::SockClose { side: Side::Front, abortive: false },
    ];
    for a in rest {
        d.perform(a, Outcome::Done);
    }
    assert!(d.s.is_closed());
    d.expect_idle();
    assert_eq!(d.code(), "--");
    for side in Side::BOTH {
        for op in Op::ALL {
            assert_eq!(d.op(side, op), OpStatus::Done, "{side} {op}");
        }
        assert_eq!(d.s.conn(side).fd, FdState::Closed);
        assert_eq!(d.s.conn(side).state, ConnState::Closed);
    }
}

#[test]
fn raw_data_layer_close_completes_without_an_action() {
    let mut d = client_half_closed(config());
    d.readable(Side::Back);
    d.perform(RECV_SERVER, Outcome::Eof);
    assert_eq!(d.op(Side::Back, Op::DataClose), OpStatus::Done);
    assert_eq!(d.op(Side::Back, Op::CtrlClose), OpStatus::Desired);
    assert_eq!(d.op(Side::Back, Op::SockClose), OpStatus::Desired);
    // (The client's close comes first: its FIN was read, so its close stands for its shutw.)
    d.close(Side::Front, false);
    d.expect(Action::CtrlClose(Side::Back));
}

#[test]
fn stream_interfaces_go_est_dis_clo_when_both_directions_are_shut() {
    trace::start();
    let mut d = client_half_closed(config());
    d.readable(Side::Back);
    d.perform(RECV_SERVER, Outcome::Eof);
    assert_eq!(d.s.si(Side::Back), SiState::Dis, "DIS while the socket is being closed");
    assert_eq!(d.s.si(Side::Front), SiState::Dis, "the client's close stands for its shutw");
    d.close(Side::Front, false);
    d.close(Side::Back, false);
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    let mut moves = Vec::new();
    trace::drain(&mut moves);
    trace::stop();
    let tail: Vec<_> = moves.iter().map(|m| (m.side, m.from, m.to)).rev().take(4).collect();
    use SiState::*;
    assert_eq!(
        tail,
        [(Side::Back, Dis, Clo), (Side::Front, Dis, Clo), (Side::Back, Est, Dis), (Side::Front, Est, Dis)]
    );
}

// ----------------------------------------------------------------------
// Half-closed by the client: lingering on the server side.
// ----------------------------------------------------------------------

#[test]
fn fin_timers_are_armed_while_half_closed_and_idle_timers_otherwise() {
    let d = established(config());
    assert_eq!(d.armed(), [TimerKind::Client, TimerKind::Server]);
    let mut d = client_half_closed(config());
    // The client's FIN was forwarded: the server side waits for the server's
    // FIN (server-fin); the client, half-closed, still receives (client).
    assert_eq!(d.armed(), [TimerKind::Client, TimerKind::ServerFin]);
    assert_eq!(d.deadline(TimerKind::ServerFin), Some(5_000));
    // Fully closed sockets arm nothing.
    d.readable(Side::Back);
    d.perform(RECV_SERVER, Outcome::Eof);
    d.close(Side::Front, false);
    d.close(Side::Back, false);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert!(d.armed().is_empty());
    assert_eq!(d.s.next_deadline(), None);
}

#[test]
fn server_side_is_not_closed_before_its_fin_arrives() {
    let mut d = client_half_closed(config());
    // SHW without SHR: a close now would turn unread input into an RST.
    assert_eq!(d.op(Side::Back, Op::SockClose), OpStatus::NotDesired);
    d.server_sends(Sink::Buffer, false);
    d.perform(SEND_CLIENT, Outcome::Sent { drained: true });
    assert_eq!(d.op(Side::Back, Op::SockClose), OpStatus::NotDesired);
    d.perform(RECV_SERVER, Outcome::Eof);
    assert_eq!(d.op(Side::Back, Op::SockClose), OpStatus::Desired);
}

#[test]
fn server_fin_timeout_resets_a_server_that_never_closes() {
    // The client side's own fin timer is configured later, out of the way.
    let mut cfg = config();
    cfg.timeouts.client_fin = 8_000;
    let mut d = client_half_closed(cfg);
    assert_eq!(d.deadline(TimerKind::ServerFin), Some(5_000));
    d.advance(4_999);
    assert!(!d.s.conn(Side::Back).closing());
    d.advance(1);
    assert_eq!(d.code(), "sL");
    d.close(Side::Front, false);
    d.close(Side::Back, true);
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
}

// ----------------------------------------------------------------------
// Half-closed by the server: the client may still send.
// ----------------------------------------------------------------------

#[test]
fn server_closes_while_client_still_sends_and_the_client_data_still_reaches_it() {
    let mut d = server_half_closed(config());
    assert!(!d.s.conn(Side::Front).draining(), "the server can still read: no reason to drain the client");
    d.client_sends(Sink::Buffer, false);
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
    d.perform(RECV_CLIENT, Outcome::Eof);
    // The client is shut both ways: it closes (a FIN, no RST); then the server's socket
    // closes, its close standing for the shutw that passes the client's FIN on.
    d.close(Side::Front, false);
    d.close(Side::Back, false);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert!(d.s.is_closed());
    assert_eq!(d.code(), "--");
}

#[test]
fn lingering_close_happens_only_after_the_clients_read0() {
    let mut d = server_half_closed(config());
    assert!(d.s.conn(Side::Front).shw() && !d.s.conn(Side::Front).shr());
    assert!(!d.s.conn(Side::Front).closing());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::WouldBlock);
    assert!(!d.s.conn(Side::Front).closing());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Eof);
    assert!(d.s.conn(Side::Front).closing());
    assert!(!d.s.conn(Side::Front).abortive);
}

#[test]
fn client_fin_timeout_resets_a_client_that_never_closes() {
    let mut cfg = config();
    cfg.timeouts.server_fin = 8_000;
    let mut d = server_half_closed(cfg);
    assert_eq!(d.deadline(TimerKind::ClientFin), Some(5_000));
    d.advance(4_999);
    assert!(!d.s.conn(Side::Front).closing());
    d.advance(1);
    assert_eq!(d.code(), "cL");
    d.close(Side::Front, true);
    // The server already sent its FIN and the request channel is empty: it ends gracefully,
    // its close standing for its shutw.
    d.close(Side::Back, false);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert!(d.s.is_closed());
}

#[test]
fn half_closed_client_still_receiving_the_response_is_not_cut_while_data_flows() {
    let mut d = client_half_closed(config());
    for t in [2_000, 4_000, 6_000, 8_000] {
        d.now = t;
        d.server_sends(Sink::Buffer, false);
        d.perform(SEND_CLIENT, Outcome::Sent { drained: true });
        d.perform(RECV_SERVER, Outcome::WouldBlock);
        d.s.handle_timeout(&d.cfg, t);
        assert!(!d.s.conn(Side::Front).closing(), "the response was cut at t={t} with {}", d.code());
    }
}

// ----------------------------------------------------------------------
// A peer aborted: the other side drains (active shutr) and lingers.
// ----------------------------------------------------------------------

#[test]
fn active_shutr_drains_the_client_after_the_server_resets() {
    let mut d = established(config());
    request_stuck_in_buffer(&mut d);
    d.readable(Side::Back);
    d.perform(RECV_SERVER, Outcome::Reset);
    assert_eq!(d.code(), "SD");
    assert!(d.flag(Dir::Res, ChanFlags::ERR_IN) && d.flag(Dir::Req, ChanFlags::ERR_OUT));
    assert!(d.s.conn(Side::Front).draining(), "read_abort_pending on the client");
    // The server is gone: a plain close, the slot back, the request it will never read dropped.
    d.close(Side::Back, false);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    d.perform(Action::Discard(Dir::Req), Outcome::Done);
    assert!(d.s.chan(Dir::Req).is_empty());
    // Then the client: FIN first, and no close before its FIN.
    d.perform(Action::CtrlShutw(Side::Front), Outcome::Done);
    d.expect_idle();
    assert_eq!(d.armed(), [TimerKind::ClientFin]);
    d.readable(Side::Front);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Discard }, Outcome::Data { full: false });
    assert!(d.s.chan(Dir::Req).is_empty(), "drained bytes go nowhere");
    assert!(!d.s.conn(Side::Front).closing());
    d.perform(Action::Recv { side: Side::Front, into: Sink::Discard }, Outcome::Eof);
    d.close(Side::Front, false);
    assert!(d.s.is_closed());
    assert_eq!(d.code(), "SD");
}

#[test]
fn response_already_received_is_still_delivered_after_the_server_resets() {
    let mut d = established(config());
    response_stuck_in_buffer(&mut d);
    d.readable(Side::Back);
    d.perform(RECV_SERVER, Outcome::Reset);
    d.close(Side::Back, false);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert_eq!(d.op(Side::Front, Op::CtrlShutw), OpStatus::NotDesired, "the FIN waits behind the tail");
    d.writable(Side::Front);
    // The FIN follows this tail: sent with MSG_MORE.
    d.perform(Action::Send { side: Side::Front, from: Source::Buffer, more: true }, Outcome::Sent { drained: true });
    d.perform(Action::CtrlShutw(Side::Front), Outcome::Done);
}

#[test]
fn client_reset_mid_transfer_closes_the_client_and_ends_the_server_side_gracefully() {
    let mut d = established(config());
    response_stuck_in_buffer(&mut d);
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Reset);
    assert_eq!(d.code(), "CD");
    d.close(Side::Front, false);
    assert_eq!(d.s.si(Side::Front), SiState::Clo);
    // The client will never read the response: drop it, FIN the server, drain it until its FIN.
    d.perform(Action::Discard(Dir::Res), Outcome::Done);
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Done);
    assert!(d.s.conn(Side::Back).draining());
    assert_eq!(d.armed(), [TimerKind::ServerFin]);
    d.expect_idle();
    d.readable(Side::Back);
    d.perform(Action::Recv { side: Side::Back, into: Sink::Discard }, Outcome::Eof);
    d.close(Side::Back, false);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert!(d.s.is_closed());
    assert_eq!(d.code(), "CD");
}

#[test]
fn server_that_never_closes_after_a_client_reset_is_reset_at_server_fin_and_the_first_cause_stays() {
    let mut d = established(config());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Reset);
    d.close(Side::Front, false);
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Done);
    d.advance(5_000);
    d.close(Side::Back, true);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert!(d.s.is_closed());
    assert_eq!(d.code(), "CD", "the first cause recorded wins");
}

// ----------------------------------------------------------------------
// Established: an idle timeout cuts the idle side; the other side ends
// gracefully, so nothing its peer already received is destroyed.
// ----------------------------------------------------------------------

#[test]
fn client_timeout_resets_the_client_and_ends_the_server_side_with_a_fin() {
    let mut d = established(config());
    d.advance(29_999);
    d.expect_idle();
    d.advance(1);
    assert_eq!(d.code(), "cD");
    assert!(d.s.conn(Side::Front).abortive && !d.s.conn(Side::Back).abortive);
    d.close(Side::Front, true);
    // The request's input was cut: the server gets a FIN, then the server
    // side drains until the server's own FIN, bounded by server-fin.
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Done);
    d.expect_idle();
    assert_eq!(d.armed(), [TimerKind::ServerFin]);
    d.advance(5_000);
    d.close(Side::Back, true);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert!(d.s.is_closed());
    assert_eq!(d.code(), "cD", "the first cause recorded wins");
}

#[test]
fn server_timeout_resets_the_server_and_flushes_what_the_client_is_owed() {
    let mut d = established(config());
    d.now = 20_000;
    d.client_sends(Sink::Buffer, false);
    d.perform(SEND_SERVER, Outcome::WouldBlock);
    d.perform(RECV_CLIENT, Outcome::WouldBlock);
    // The client was active at 20 s; the server has taken nothing since 0.
    d.advance_to(30_000);
    assert_eq!(d.code(), "sD");
    assert!(d.s.conn(Side::Back).abortive && !d.s.conn(Side::Front).abortive);
    d.close(Side::Back, true);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    // What the server never took is dropped, not kept.
    d.perform(Action::Discard(Dir::Req), Outcome::Done);
    assert!(d.s.chan(Dir::Req).is_empty());
    // The client gets a FIN after everything it was sent, and its side is
    // drained until its own FIN, bounded by client-fin.
    d.perform(Action::CtrlShutw(Side::Front), Outcome::Done);
    d.expect_idle();
    assert_eq!(d.armed(), [TimerKind::ClientFin]);
    d.readable(Side::Front);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Discard }, Outcome::Eof);
    d.close(Side::Front, false);
    assert!(d.s.is_closed());
    d.expect_idle();
}

#[test]
fn a_session_is_reported_closed_only_once_it_asks_for_nothing_more() {
    let mut d = established(config());
    request_stuck_in_buffer(&mut d);
    d.fire(TimerKind::Server);
    d.close(Side::Back, true);
    assert_eq!(d.next(), Some(Action::ReleaseServer { server: 0 }));
    assert!(!d.s.is_closed(), "closed while the server slot is still held");
}

#[test]
fn abortive_close_completes_the_pending_shutw_steps_it_supersedes() {
    let mut d = established(tls_back());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Eof);
    d.perform(Action::DataShutw(Side::Back), Outcome::WouldBlock);
    assert_eq!(d.op(Side::Back, Op::DataShutw), OpStatus::Started);
    // While the close_notify waits, the server side is not yet half-closed: `timeout server` bounds it.
    assert!(d.s.timer_armed(TimerKind::Server) && !d.s.timer_armed(TimerKind::ServerFin));
    d.fire(TimerKind::Server);
    assert_eq!(d.code(), "sL");
    // The RST is the shutdown: the retained steps complete, they are not forgotten.
    assert_eq!(d.op(Side::Back, Op::DataShutw), OpStatus::Done);
    assert_eq!(d.op(Side::Back, Op::CtrlShutw), OpStatus::Done);
    // The client's FIN was read: its close stands for its shutw, and comes first.
    d.close(Side::Front, false);
    d.perform(Action::DataClose(Side::Back), Outcome::Done);
    d.perform(Action::CtrlClose(Side::Back), Outcome::Done);
    d.perform(Action::SockClose { side: Side::Back, abortive: true }, Outcome::Done);
    assert!(!d.s.conn(Side::Back).ops.any_pending());
}

/// shutdown(SHUT_WR) is answered `Done` whatever happens (`Action::may_give`): any other
/// answer is a runtime bug, which fails loudly in a debug build; a release build takes it as
/// done.
#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "which it cannot give"))]
fn shutdown_wr_errors_count_as_done() {
    let mut d = established(config());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Eof);
    // ENOTCONN (the peer is already gone) is harmless during teardown.
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Reset);
    assert_eq!(d.op(Side::Back, Op::CtrlShutw), OpStatus::Done);
    assert!(d.flag(Dir::Req, ChanFlags::SHUT_OUT));
    assert_eq!(d.code(), "--");
    d.expect_idle();
}

/// close(2) is answered `Done` whatever happens (`Action::may_give`): any other answer is a
/// runtime bug, which fails loudly in a debug build; a release build takes it as done, and
/// never tries again.
#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "which it cannot give"))]
fn a_failed_close_is_never_retried() {
    let mut d = client_half_closed(config());
    d.readable(Side::Back);
    d.perform(RECV_SERVER, Outcome::Eof);
    d.close(Side::Front, false);
    d.perform(Action::CtrlClose(Side::Back), Outcome::Done);
    // close(2) failed (EINTR, EIO): the fd number may already be someone else's.
    d.perform(Action::SockClose { side: Side::Back, abortive: false }, Outcome::Reset);
    assert_eq!(d.op(Side::Back, Op::SockClose), OpStatus::Done);
    assert_eq!(d.s.conn(Side::Back).fd, FdState::Closed);
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    assert!(!matches!(d.next(), Some(Action::SockClose { .. } | Action::CtrlClose(_))));
}

// ----------------------------------------------------------------------
// Any state: operation statuses only move forward.
// ----------------------------------------------------------------------

#[test]
fn an_operation_status_never_moves_backwards() {
    let configs = [
        config(),
        tls_both(),
        SessionConfig { retries: 2, redispatch: true, turn_around: true, queue: true, ..tls_back() },
        SessionConfig { health: true, ..config() },
        SessionConfig { monitor: true, accept_proxy: true, conn_rules: true, src_rules: true, ..tls_both() },
    ];
    for (i, cfg) in configs.into_iter().enumerate() {
        let mut moved = 0usize;
        random_walks(cfg, 1_000 + i as u64, 300, 40, &mut |before, step, after| {
            for side in Side::BOTH {
                // A new connect attempt is a new connection with a fresh table.
                if side == Side::Back && matches!(step, Some((Action::Connect { .. }, _))) {
                    continue;
                }
                for op in Op::ALL {
                    let (b, a) = (before.conn(side).ops.get(op), after.conn(side).ops.get(op));
                    assert!(a.rank() >= b.rank(), "{side} {op} moved back {b} -> {a} on {step:?}");
                    moved += usize::from(a != b);
                }
                assert!(after.conn(side).data_hs.rank() >= before.conn(side).data_hs.rank() || step.is_none());
            }
        });
        assert!(moved > 300, "config {i}: the walks should shut and close connections ({moved} moves)");
    }
}

#[test]
fn closed_sessions_hold_no_timer_no_socket_and_no_data() {
    let cfg = SessionConfig { retries: 1, queue: true, ..tls_both() };
    let mut seen = 0;
    random_walks(cfg, 42, 300, 40, &mut |_, _, s| {
        if s.is_closed() && s.poll_action(&cfg).is_none() {
            seen += 1;
            assert!(!s.timers().any_armed(), "timers armed on a closed session: {:?}", s.timers());
            assert!(!s.conn(Side::Front).is_open() && !s.conn(Side::Back).is_open());
            assert!(s.chan(Dir::Req).is_empty() && s.chan(Dir::Res).is_empty(), "data left in a closed session");
            assert_eq!(s.server(), None, "a closed session holds no server slot");
        }
    });
    assert!(seen >= 300);
}

#[test]
fn tls_layers_are_recorded_at_accept_and_connect() {
    let d = established(tls_both());
    assert_eq!(d.s.conn(Side::Front).data, DataLayer::Tls);
    assert_eq!(d.s.conn(Side::Back).data, DataLayer::Tls);
    assert_eq!((d.s.conn(Side::Front).data_hs, d.s.conn(Side::Back).data_hs), (OpStatus::Done, OpStatus::Done));
}

#[test]
fn shutdown_and_close_steps_keep_the_notes_order_on_every_path() {
    let configs = [
        config(),
        tls_both(),
        SessionConfig { retries: 2, redispatch: true, queue: true, ..tls_back() },
        SessionConfig { health: true, ..config() },
    ];
    for (i, cfg) in configs.into_iter().enumerate() {
        let (mut lingering, mut resets) = (0, 0);
        random_walks(cfg, 500 + i as u64, 600, 60, &mut |s, step, _| {
            let Some((action, _)) = step else { return };
            match action {
                Action::CtrlShutw(side) => {
                    let c = s.conn(side);
                    assert!(c.ops.done(Op::DataShutw), "CSHW before DSHW: {s:#?}");
                    assert!(s.chan(side.output()).is_empty(), "FIN before the data: {s:#?}");
                }
                Action::DataShutw(side) => {
                    assert_eq!(s.conn(side).data, DataLayer::Tls);
                    assert!(s.chan(side.output()).is_empty(), "close_notify before the data: {s:#?}");
                }
                Action::DataClose(side) => {
                    assert!(s.conn(side).closing() && s.conn(side).data == DataLayer::Tls);
                }
                Action::CtrlClose(side) => assert!(s.conn(side).ops.done(Op::DataClose), "CCLO before DCLO"),
                Action::SockClose { side, abortive } => {
                    let c = s.conn(side);
                    assert!(c.ops.done(Op::CtrlClose), "FCLO before CCLO");
                    let left: Vec<_> =
                        Op::ALL.into_iter().filter(|&op| op != Op::SockClose && c.ops.pending(op)).collect();
                    assert!(left.is_empty(), "a socket closed with {left:?} still pending: {:?}", c.ops);
                    if abortive {
                        resets += 1;
                    } else {
                        // A graceful close never meets unread input: the peer's FIN was read, or it is gone.
                        assert!(c.shr() || c.state == ConnState::Error, "close before read0: {s:#?}");
                        lingering += usize::from(c.shr() && c.state != ConnState::Error);
                    }
                }
                _ => {}
            }
        });
        assert!(lingering > 40 && resets > 40, "config {i}: {lingering} lingering closes, {resets} resets");
    }
}

#[test]
fn every_reset_the_proxy_sends_is_explained_by_a_termination_cause() {
    // Every outcome the runtime may report, a connect() refused at once
    // included (`SC`: core_backend, connect_refused_at_once_gives_up_with_sc).
    let outcome = |rng: &mut Rng, a: Action| plausible_outcome(rng, a);
    let configs = [
        SessionConfig { retries: 1, queue: true, ..tls_both() },
        SessionConfig { accept_proxy: true, conn_rules: true, send_proxy: true, ..config() },
    ];
    for (i, cfg) in configs.into_iter().enumerate() {
        let (mut clean, mut explained) = (0, 0);
        random_walks_with(cfg, 900 + i as u64, 600, 60, &outcome, &mut |_, step, s| {
            let t = s.termination();
            assert_eq!(t.cause == Cause::Normal, t.phase == Phase::None, "half a termination code: {t}");
            if let Some((Action::SockClose { abortive: true, .. }, _)) = step {
                assert_ne!(t.cause, Cause::Normal, "an RST with no cause recorded: {s:#?}");
                explained += 1;
            }
            if s.is_closed() && s.poll_action(&cfg).is_none() && t.cause == Cause::Normal {
                clean += 1;
            }
        });
        assert!(explained > 100 && clean > 3, "config {i}: {explained} resets, {clean} clean ends");
    }
}

// ----------------------------------------------------------------------
// Killed at the end of a stop's grace period.
// ----------------------------------------------------------------------

#[test]
fn a_kill_closes_both_sides_abortively_in_order_and_logs_k() {
    let mut d = established(config());
    d.s.handle_kill(&d.cfg, d.now);
    assert_eq!(d.code(), "KD");
    d.close(Side::Front, true);
    d.close(Side::Back, true);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert!(d.s.is_closed(), "{:#?}", d.s);
}

#[test]
fn a_kill_while_half_closed_supersedes_the_pending_shutdown_and_logs_kl() {
    let mut d = client_half_closed(config());
    d.s.handle_kill(&d.cfg, d.now);
    assert_eq!(d.code(), "KL");
    while let Some(a) = d.next() {
        d.perform(a, Outcome::Done);
    }
    assert!(d.s.is_closed(), "{:#?}", d.s);
    assert_eq!(d.op(Side::Back, Op::CtrlShutw), OpStatus::Done, "the pending step completed with the close");
}
