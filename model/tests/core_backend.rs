//! The back stream interface from REQ to EST: server choice, the queue,
//! connect attempts, CER and its retry decision, the server slot, and the
//! connect and queue timeouts (spec/haproxy-semantics.md, the stream-interface
//! table). Grouped by the back interface's state.

mod common;

use common::{assigned, config, connecting, established, queued, random_walks, requesting, Driver};
use connseq_model::core::trace;
use connseq_model::core::{
    Action, ChanFlags, ConnState, Dir, FdState, Handler, OpStatus, Outcome, Pick, SessionConfig, SiState, Side, Sink,
    Source, TimerKind,
};

fn retrying(retries: u8) -> SessionConfig {
    SessionConfig { retries, ..config() }
}

/// Lets the failed back socket go through its close sequence (CCLO, FCLO).
#[track_caller]
fn close_failed_socket(d: &mut Driver) {
    assert_eq!(d.s.si(Side::Back), SiState::Cer);
    assert_eq!(d.s.conn(Side::Back).state, ConnState::Error);
    d.close(Side::Back, false);
}

/// After giving up on the server: the client side ends gracefully (FIN, then
/// drain until the client's FIN, then close).
#[track_caller]
fn client_ends_gracefully(d: &mut Driver) {
    d.perform(Action::CtrlShutw(Side::Front), Outcome::Done);
    assert!(d.s.conn(Side::Front).draining());
    d.readable(Side::Front);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Discard }, Outcome::Eof);
    d.close(Side::Front, false);
    assert!(d.s.is_closed());
    d.expect_idle();
}

// ----------------------------------------------------------------------
// REQ
// ----------------------------------------------------------------------

#[test]
fn req_with_a_server_assigned_moves_to_ass_and_connects_to_that_server() {
    let mut d = requesting(config());
    d.perform(Action::PickServer { avoid: None }, Outcome::Pick(Pick::Assigned(1)));
    assert_eq!(d.s.si(Side::Back), SiState::Ass);
    assert_eq!(d.s.server(), Some(1));
    d.expect(Action::Connect { server: 1 });
}

#[test]
fn req_with_every_server_full_waits_in_the_queue_under_the_queue_timer() {
    let mut d = requesting(SessionConfig { queue: true, ..config() });
    d.now = 100;
    d.perform(Action::PickServer { avoid: None }, Outcome::Pick(Pick::Queue));
    assert_eq!(d.s.si(Side::Back), SiState::Que);
    assert_eq!(d.s.server(), None);
    assert_eq!(d.deadline(TimerKind::Queue), Some(5_100));
    assert_eq!(d.s.phase().letter(), 'Q');
    d.expect_idle();
}

#[test]
fn req_with_no_server_closes_the_back_and_ends_the_client_gracefully_with_pc() {
    let mut d = requesting(config());
    d.perform(Action::PickServer { avoid: None }, Outcome::Pick(Pick::NoServer));
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    assert_eq!(d.code(), "PC");
    // Nothing was held, so nothing is released; the client gets a FIN, not an RST.
    assert!(d.flag(Dir::Res, ChanFlags::SHUT_IN));
    client_ends_gracefully(&mut d);
    assert_eq!(d.log.iter().filter(|a| matches!(a, Action::ReleaseServer { .. })).count(), 0);
    assert_eq!(d.code(), "PC");
}

#[test]
fn req_told_to_queue_without_a_queue_gives_up() {
    let mut d = requesting(SessionConfig { queue: false, ..config() });
    d.perform(Action::PickServer { avoid: None }, Outcome::Pick(Pick::Queue));
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    assert_eq!(d.code(), "PC");
}

#[test]
fn request_bytes_wait_in_the_buffer_until_the_server_is_established() {
    let mut d = connecting(config());
    d.client_sends(Sink::Buffer, false);
    // Not sent to a socket that is still connecting.
    d.perform(Action::Recv { side: Side::Front, into: Sink::Buffer }, Outcome::WouldBlock);
    d.expect_idle();
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Done);
    d.expect(Action::Send { side: Side::Back, from: Source::Buffer, more: false });
}

// ----------------------------------------------------------------------
// QUE
// ----------------------------------------------------------------------

#[test]
fn queued_session_dequeued_with_a_server_connects_to_it() {
    let mut d = queued(config());
    d.dequeue(1);
    assert_eq!(d.s.si(Side::Back), SiState::Ass);
    assert_eq!(d.s.server(), Some(1));
    assert!(!d.s.timer_armed(TimerKind::Queue));
    d.expect(Action::Connect { server: 1 });
}

#[test]
fn queue_timeout_closes_the_back_with_sq_and_releases_nothing() {
    let mut d = queued(config());
    d.advance(5_000);
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    assert_eq!(d.code(), "sQ");
    d.perform(Action::LeaveQueue, Outcome::Done);
    client_ends_gracefully(&mut d);
    assert!(!d.log.iter().any(|a| matches!(a, Action::ReleaseServer { .. })));
}

/// A hand-off that crossed the timeout (the backend gave the slot before it
/// saw the session leave): the session owns the slot and gives it back.
#[test]
fn a_slot_handed_over_after_the_queue_timeout_is_given_back() {
    let mut d = queued(config());
    d.fire(TimerKind::Queue);
    d.dequeue(0);
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    assert_eq!(d.s.server(), Some(0));
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert_eq!(d.s.server(), None);
    client_ends_gracefully(&mut d);
}

#[test]
fn client_reset_while_queued_leaves_the_queue_with_cq() {
    let mut d = queued(config());
    d.readable(Side::Front);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Buffer }, Outcome::Reset);
    assert_eq!(d.code(), "CQ");
    d.perform(Action::LeaveQueue, Outcome::Done);
    d.close(Side::Front, false);
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    assert!(d.s.is_closed());
    d.expect_idle();
}

// ----------------------------------------------------------------------
// ASS and CON
// ----------------------------------------------------------------------

#[test]
fn connect_in_progress_waits_for_writable_under_the_connect_timer() {
    let mut d = assigned(config());
    d.now = 200;
    d.perform(Action::Connect { server: 0 }, Outcome::InProgress);
    assert_eq!(d.s.si(Side::Back), SiState::Con);
    assert_eq!(d.s.conn(Side::Back).state, ConnState::Connecting);
    assert_eq!(d.s.conn(Side::Back).fd, FdState::Ready);
    assert_eq!(d.s.attempts(), 1);
    assert_eq!(d.deadline(TimerKind::Connect), Some(5_200));
    d.expect_idle();
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::WouldBlock);
    assert_eq!(d.s.si(Side::Back), SiState::Con, "EAGAIN on SO_ERROR: still connecting");
    d.expect_idle();
}

#[test]
fn finished_connect_establishes_and_swaps_the_connect_timer_for_the_server_timer() {
    let mut d = connecting(config());
    d.now = 300;
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Done);
    assert_eq!(d.s.si(Side::Back), SiState::Est);
    assert_eq!(d.s.conn(Side::Back).state, ConnState::Established);
    assert!(!d.s.timer_armed(TimerKind::Connect));
    assert_eq!(d.deadline(TimerKind::Server), Some(30_300));
    assert_eq!(d.s.phase().letter(), 'D');
}

#[test]
fn outgoing_proxy_header_goes_before_the_tls_client_hello_and_before_payload() {
    let mut d = connecting(SessionConfig { send_proxy: true, tls_back: true, ..config() });
    d.client_sends(Sink::Buffer, false);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Buffer }, Outcome::WouldBlock);
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Done);
    assert!(d.s.conn(Side::Back).hs.has(Handler::SendProxy) && d.s.conn(Side::Back).hs.has(Handler::SslHs));
    assert!(!d.s.conn(Side::Back).carries_data());
    d.perform(
        Action::Send { side: Side::Back, from: Source::ProxyHeader, more: true },
        Outcome::Sent { drained: true },
    );
    // The client side of TLS starts by writing its hello.
    d.perform(Action::TlsHandshake(Side::Back), Outcome::WouldBlock);
    assert_eq!(d.s.conn(Side::Back).data_hs, OpStatus::Started);
    d.expect_idle();
    d.readable(Side::Back);
    d.perform(Action::TlsHandshake(Side::Back), Outcome::Done);
    d.expect(Action::Send { side: Side::Back, from: Source::Buffer, more: false });
}

#[test]
fn client_reset_while_connecting_aborts_the_connect_and_releases_the_slot() {
    let mut d = connecting(config());
    d.readable(Side::Front);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Buffer }, Outcome::Reset);
    assert_eq!(d.code(), "CC");
    d.close(Side::Front, false);
    // The attempt is abandoned with a plain close: nothing of it needs an RST.
    d.close(Side::Back, false);
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert!(d.s.is_closed());
    assert_eq!(d.s.server(), None);
    d.expect_idle();
}

// ----------------------------------------------------------------------
// CER: the retry decision, taken once the failed socket is closed.
// ----------------------------------------------------------------------

#[test]
fn refused_connect_without_retries_gives_up_with_sc_and_releases_the_slot_once() {
    let mut d = connecting(config());
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Refused);
    assert_eq!(d.s.si(Side::Back), SiState::Cer);
    assert!(!d.s.timer_armed(TimerKind::Connect));
    close_failed_socket(&mut d);
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    assert_eq!(d.code(), "SC");
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    client_ends_gracefully(&mut d);
    assert_eq!(d.count(Action::ReleaseServer { server: 0 }), 1);
    assert_eq!(d.s.attempts(), 1);
}

#[test]
fn refused_connect_with_a_retry_tries_the_same_server_again_after_closing_the_socket() {
    let mut d = connecting(retrying(1));
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Refused);
    // The retry decision waits for the failed socket to be closed.
    assert_eq!(d.s.retries_used(), 0);
    close_failed_socket(&mut d);
    assert_eq!(d.s.si(Side::Back), SiState::Ass);
    assert_eq!(d.s.retries_used(), 1);
    assert_eq!(d.s.server(), Some(0), "a retry on the same server keeps its slot");
    d.perform(Action::Connect { server: 0 }, Outcome::InProgress);
    assert_eq!(d.s.attempts(), 2);
    // The new socket starts from scratch.
    assert_eq!(d.s.conn(Side::Back).state, ConnState::Connecting);
    assert!(!d.s.conn(Side::Back).closing());
    assert!(!d.log.iter().any(|a| matches!(a, Action::ReleaseServer { .. })));
}

#[test]
fn a_failed_attempt_keeps_the_request_for_the_next_one() {
    let mut d = connecting(retrying(1));
    d.client_sends(Sink::Buffer, false);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Buffer }, Outcome::WouldBlock);
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Refused);
    close_failed_socket(&mut d);
    assert!(!d.log.iter().any(|a| matches!(a, Action::Discard(_))), "the request must survive the failure");
    assert_eq!(d.s.chan(Dir::Req).buf, connseq_model::core::Fill::Some);
    d.perform(Action::Connect { server: 0 }, Outcome::InProgress);
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Done);
    d.expect(Action::Send { side: Side::Back, from: Source::Buffer, more: false });
}

#[test]
fn refused_connect_with_turn_around_waits_in_tar_before_retrying() {
    let mut d = connecting(SessionConfig { turn_around: true, ..retrying(2) });
    d.now = 1_000;
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Refused);
    close_failed_socket(&mut d);
    assert_eq!(d.s.si(Side::Back), SiState::Tar);
    assert_eq!(d.deadline(TimerKind::TurnAround), Some(2_000));
    d.expect_idle();
    d.advance_to(2_000);
    assert_eq!(d.s.si(Side::Back), SiState::Ass);
    d.expect(Action::Connect { server: 0 });
}

#[test]
fn last_retry_redispatches_giving_the_failed_slot_back_before_choosing_again() {
    let mut d = connecting(SessionConfig { redispatch: true, ..retrying(1) });
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Refused);
    close_failed_socket(&mut d);
    assert_eq!(d.s.si(Side::Back), SiState::Req);
    assert_eq!(d.s.failed_server(), Some(0));
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    d.perform(Action::PickServer { avoid: Some(0) }, Outcome::Pick(Pick::Assigned(1)));
    d.perform(Action::Connect { server: 1 }, Outcome::InProgress);
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Done);
    assert_eq!(d.s.si(Side::Back), SiState::Est);
    assert_eq!(d.count(Action::ReleaseServer { server: 0 }), 1);
}

#[test]
fn retry_budget_is_spent_then_the_session_gives_up_after_one_plus_retries_attempts() {
    let mut d = connecting(retrying(2));
    for attempt in 1..=3u8 {
        assert_eq!(d.s.attempts(), attempt);
        d.writable(Side::Back);
        d.perform(Action::FinishConnect, Outcome::Refused);
        close_failed_socket(&mut d);
        if attempt < 3 {
            d.perform(Action::Connect { server: 0 }, Outcome::InProgress);
        }
    }
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    assert_eq!(d.s.retries_used(), 2);
    assert_eq!(d.code(), "SC");
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert_eq!(d.count(Action::Connect { server: 0 }), 3);
}

#[test]
fn connect_timeout_abandons_the_attempt_with_sc() {
    let mut d = connecting(config());
    d.advance(4_999);
    assert_eq!(d.s.si(Side::Back), SiState::Con);
    d.advance(1);
    assert_eq!(d.s.si(Side::Back), SiState::Cer);
    close_failed_socket(&mut d);
    assert_eq!(d.code(), "sC");
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    client_ends_gracefully(&mut d);
}

#[test]
fn connect_timeout_then_a_successful_retry_ends_normally() {
    let mut d = connecting(retrying(1));
    d.fire(TimerKind::Connect);
    close_failed_socket(&mut d);
    d.perform(Action::Connect { server: 0 }, Outcome::InProgress);
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Done);
    assert_eq!(d.s.si(Side::Back), SiState::Est);
    assert_eq!(d.code(), "--", "a failure that a retry repaired is not the session's end");
}

#[test]
fn no_socket_available_for_the_connect_closes_with_rc() {
    let mut d = assigned(retrying(3));
    d.perform(Action::Connect { server: 0 }, Outcome::NoResource);
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    assert_eq!(d.code(), "RC");
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    client_ends_gracefully(&mut d);
}

#[test]
fn connect_refused_at_once_gives_up_with_sc() {
    let mut d = assigned(config());
    d.perform(Action::Connect { server: 0 }, Outcome::Refused);
    // The socket exists: it goes through the ordinary close sequence first.
    close_failed_socket(&mut d);
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    assert_eq!(d.s.attempts(), 1);
    assert_eq!(d.code(), "SC");
}

#[test]
fn connect_refused_at_once_passes_through_a_legal_transition() {
    trace::start();
    let mut d = assigned(retrying(1));
    d.perform(Action::Connect { server: 0 }, Outcome::Refused);
    close_failed_socket(&mut d);
    let mut moves = Vec::new();
    trace::drain(&mut moves);
    trace::stop();
    assert_eq!(d.s.si(Side::Back), SiState::Ass, "the retry goes to the same server");
    for m in &moves {
        assert!(m.from.may_move_to(m.to), "illegal move {} => {}", m.from, m.to);
    }
}

#[test]
fn server_breaking_the_tls_handshake_is_a_failed_connect() {
    let mut d = connecting(SessionConfig { tls_back: true, ..config() });
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Done);
    assert_eq!(d.s.si(Side::Back), SiState::Con, "CON lasts until the outgoing handshake is done");
    assert!(d.s.timer_armed(TimerKind::Connect), "the connect timer bounds the TLS handshake");
    d.perform(Action::TlsHandshake(Side::Back), Outcome::Invalid);
    close_failed_socket(&mut d);
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    assert_eq!(d.code(), "SC");
}

#[test]
fn back_interface_moves_only_along_the_notes_transitions_through_a_retry() {
    trace::start();
    let mut d = connecting(SessionConfig { redispatch: true, turn_around: true, ..retrying(2) });
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Refused);
    close_failed_socket(&mut d);
    d.fire(TimerKind::TurnAround);
    d.perform(Action::Connect { server: 0 }, Outcome::InProgress);
    d.fire(TimerKind::Connect);
    close_failed_socket(&mut d);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    d.perform(Action::PickServer { avoid: Some(0) }, Outcome::Pick(Pick::Assigned(1)));
    d.perform(Action::Connect { server: 1 }, Outcome::InProgress);
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Done);
    let mut moves = Vec::new();
    trace::drain(&mut moves);
    trace::stop();
    let back: Vec<_> = moves.iter().filter(|m| m.side == Side::Back).map(|m| m.to).collect();
    use SiState::*;
    assert_eq!(back, [Req, Ass, Con, Cer, Tar, Ass, Con, Cer, Req, Ass, Con, Est]);
    for m in &moves {
        assert!(m.from.may_move_to(m.to), "illegal move {} => {}", m.from, m.to);
    }
}

// ----------------------------------------------------------------------
// EST -> CLO: the slot goes back exactly once when the session ends.
// ----------------------------------------------------------------------

#[test]
fn server_slot_is_released_exactly_once_when_an_established_session_ends() {
    let mut d = established(config());
    d.readable(Side::Front);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Buffer }, Outcome::Eof);
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Done);
    d.readable(Side::Back);
    d.perform(Action::Recv { side: Side::Back, into: Sink::Buffer }, Outcome::Eof);
    // Both sides are shut both ways (the client's close stands for its
    // shutw: its FIN was read); the server's slot goes back once its socket
    // is closed.
    d.close(Side::Front, false);
    d.close(Side::Back, false);
    assert_eq!(d.s.si(Side::Back), SiState::Clo);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert_eq!(d.count(Action::ReleaseServer { server: 0 }), 1);
    assert!(d.s.is_closed());
    d.expect_idle();
    assert_eq!(d.code(), "--");
}

// ----------------------------------------------------------------------
// Any state: the slot and the stream-interface table on random paths.
// ----------------------------------------------------------------------

#[test]
fn a_server_slot_is_held_at_most_once_and_given_back_exactly_once_on_every_path() {
    let cfg = SessionConfig { retries: 2, redispatch: true, turn_around: true, queue: true, ..config() };
    let mut held = 0i32;
    let mut taken = 0usize;
    let report = random_walks(cfg, 2_024, 500, 40, &mut |before, step, after| {
        match step {
            Some((Action::PickServer { .. }, Outcome::Pick(Pick::Assigned(_)))) => held += 1,
            Some((Action::ReleaseServer { server }, _)) => {
                assert_eq!(before.server(), Some(server), "released a slot it did not hold");
                held -= 1;
            }
            None if before.si(Side::Back) == SiState::Que && after.si(Side::Back) == SiState::Ass => held += 1,
            _ => {}
        }
        taken += usize::from(held == 1);
        assert!((0..=1).contains(&held), "{held} slots held after {step:?}: {after:#?}");
        assert_eq!(held == 1, after.server().is_some(), "the session's slot and the balancer disagree");
        if after.is_closed() && after.poll_action(&cfg).is_none() {
            assert_eq!(held, 0, "a closed session kept its slot");
        }
    });
    assert!(taken > 1_000, "the walks should hold slots");
    assert!(report.moves.iter().any(|m| m.to == SiState::Tar), "the walks should turn around");
    assert!(report.moves.iter().any(|m| m.from == SiState::Cer && m.to == SiState::Req), "and redispatch");
    // Every move is legal, a connect() that fails at once included
    // (`connect_refused_at_once_passes_through_a_legal_transition`).
    for m in &report.moves {
        assert!(m.from.may_move_to(m.to), "illegal move {} => {} on the {} side", m.from, m.to, m.side);
    }
}

#[test]
fn connect_attempts_never_exceed_one_plus_the_retries() {
    for retries in 0..3u8 {
        let cfg = SessionConfig { retries, redispatch: retries > 0, ..config() };
        random_walks_checking_attempts(cfg, retries);
    }
}

fn random_walks_checking_attempts(cfg: SessionConfig, retries: u8) {
    let mut max = 0;
    random_walks(cfg, 77 + u64::from(retries), 300, 40, &mut |_, _, s| {
        assert!(s.attempts() <= 1 + retries, "{} attempts with {retries} retries", s.attempts());
        max = max.max(s.attempts());
    });
    assert_eq!(max, 1 + retries, "the walks should spend the whole budget");
}

#[test]
fn the_proxy_header_carries_msg_more_only_when_request_bytes_follow() {
    // A server that speaks first (SMTP) must get the header at once: with
    // MSG_MORE and nothing after it, the kernel would hold it back.
    let mut d = connecting(SessionConfig { send_proxy: true, ..config() });
    d.writable(Side::Back);
    d.perform(Action::FinishConnect, Outcome::Done);
    d.expect(Action::Send { side: Side::Back, from: Source::ProxyHeader, more: false });
}
