//! Abort propagation (`SessionConfig::propagate_abort`): a peer's reset in
//! the middle of its stream is passed on as an RST of the other connection,
//! scheduled behind every byte already taken (`PendingRst`), never a FIN.
//! Grouped by state: established with the response flushed, established with
//! the response still in the buffer, waiting for the acknowledgement.

mod common;

use common::*;
use connseq_model::core::{Action, Dir, Outcome, PendingRst, SessionConfig, Side, Sink, Source, TimerKind};

fn propagating() -> SessionConfig {
    SessionConfig { propagate_abort: true, ..config() }
}

/// The server's bytes arrive and go out to the client at once.
fn response_flushed(d: &mut Driver) {
    d.server_sends(Sink::Buffer, false);
    d.perform(Action::Send { side: Side::Front, from: Source::Buffer, more: false }, Outcome::Sent { drained: true });
}

/// The server resets: the proxy's recv says so, and the server side closes
/// (no RST of ours: the server is gone) and gives its slot back.
fn server_resets(d: &mut Driver) {
    d.readable(Side::Back);
    d.perform(Action::Recv { side: Side::Back, into: Sink::Buffer }, Outcome::Reset);
    d.close(Side::Back, false);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
}

// ----------------------------------------------------------------------
// Established, the response flushed.
// ----------------------------------------------------------------------

#[test]
fn server_reset_after_a_flushed_response_schedules_an_rst_for_the_client_not_a_fin() {
    let mut d = established(propagating());
    response_flushed(&mut d);
    server_resets(&mut d);
    assert_eq!(d.s.conn(Side::Front).rst, PendingRst::Scheduled);
    d.perform(Action::CheckSendQueue(Side::Front), Outcome::Done);
    d.close(Side::Front, true);
    assert_eq!(d.count(Action::CtrlShutw(Side::Front)), 0, "no FIN reached the client");
    assert!(d.s.is_closed());
    assert_eq!(d.code(), "SD");
}

#[test]
fn without_the_option_a_server_reset_ends_the_client_side_with_a_fin() {
    let mut d = established(config());
    response_flushed(&mut d);
    server_resets(&mut d);
    d.expect(Action::CtrlShutw(Side::Front));
    assert_eq!(d.s.conn(Side::Front).rst, PendingRst::None);
}

#[test]
fn a_client_reset_after_a_forwarded_request_schedules_an_rst_for_the_server() {
    let mut d = established(propagating());
    d.client_sends(Sink::Buffer, false);
    d.perform(Action::Send { side: Side::Back, from: Source::Buffer, more: false }, Outcome::Sent { drained: true });
    d.readable(Side::Front);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Buffer }, Outcome::Reset);
    d.close(Side::Front, false);
    d.perform(Action::CheckSendQueue(Side::Back), Outcome::Done);
    d.close(Side::Back, true);
    d.perform(Action::ReleaseServer { server: 0 }, Outcome::Done);
    assert_eq!(d.count(Action::CtrlShutw(Side::Back)), 0, "no FIN reached the server");
    assert!(d.s.is_closed());
    assert_eq!(d.code(), "CD");
}

// ----------------------------------------------------------------------
// Established, the response still in the buffer.
// ----------------------------------------------------------------------

#[test]
fn the_rst_waits_until_the_buffered_response_went_out() {
    let mut d = established(propagating());
    d.server_sends(Sink::Buffer, false);
    d.perform(Action::Send { side: Side::Front, from: Source::Buffer, more: false }, Outcome::WouldBlock);
    server_resets(&mut d);
    d.expect_idle();
    assert_eq!(d.s.conn(Side::Front).rst, PendingRst::None, "nothing is scheduled while the channel holds data");
    d.writable(Side::Front);
    d.perform(Action::Send { side: Side::Front, from: Source::Buffer, more: true }, Outcome::Sent { drained: true });
    d.expect(Action::CheckSendQueue(Side::Front));
}

// ----------------------------------------------------------------------
// Waiting for the acknowledgement.
// ----------------------------------------------------------------------

#[test]
fn unacknowledged_bytes_make_the_rst_wait_for_a_writable_report() {
    let mut d = established(propagating());
    response_flushed(&mut d);
    server_resets(&mut d);
    d.perform(Action::CheckSendQueue(Side::Front), Outcome::WouldBlock);
    assert_eq!(d.s.conn(Side::Front).rst, PendingRst::AwaitingAck);
    d.expect_idle();
    d.readable(Side::Front);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Discard }, Outcome::WouldBlock);
    d.expect_idle();
    d.writable(Side::Front);
    d.perform(Action::CheckSendQueue(Side::Front), Outcome::Done);
    d.close(Side::Front, true);
}

#[test]
fn a_client_that_never_acknowledges_gets_the_rst_at_its_fin_timeout() {
    let mut d = established(propagating());
    response_flushed(&mut d);
    server_resets(&mut d);
    d.perform(Action::CheckSendQueue(Side::Front), Outcome::WouldBlock);
    assert!(d.armed().contains(&TimerKind::ClientFin), "the wait is bounded: {:?}", d.armed());
    assert!(!d.armed().contains(&TimerKind::Client));
    d.advance(d.cfg.timeouts.client_fin);
    d.close(Side::Front, true);
    assert!(d.s.is_closed());
    assert_eq!(d.code(), "SD", "the first cause stays");
}

#[test]
fn a_client_that_resets_while_the_rst_waits_ends_the_wait() {
    let mut d = established(propagating());
    response_flushed(&mut d);
    server_resets(&mut d);
    d.perform(Action::CheckSendQueue(Side::Front), Outcome::Reset);
    d.close(Side::Front, false);
    assert!(d.s.is_closed());
}

// ----------------------------------------------------------------------
// Half-closed by the client: its stream already ended with a FIN.
// ----------------------------------------------------------------------

/// Found by the checker (small preset with tls-back): a client reset that
/// came after its FIN was propagated, over the close_notify the server was
/// owed for the clean end.
#[test]
fn a_reset_after_the_peers_fin_is_not_propagated() {
    let mut d = client_half_closed(propagating());
    d.server_sends(Sink::Buffer, false);
    d.perform(Action::Send { side: Side::Front, from: Source::Buffer, more: false }, Outcome::Reset);
    assert!(!d.s.chan(Dir::Req).aborted, "the request stream had ended with a FIN");
    assert_eq!(d.s.conn(Side::Back).rst, PendingRst::None);
    assert_eq!(d.count(Action::CheckSendQueue(Side::Back)), 0);
}
