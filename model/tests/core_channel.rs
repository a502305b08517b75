//! Forwarding in an established session: the channel between two
//! connections (note: "connection <-> channel <-> connection"), its buffer
//! and pipe, its six flags, and the FIN that follows the data. Grouped by the
//! channel's state: empty, holding data, full, spliced, shut.

mod common;

use common::{config, established, never_buffer_and_pipe, random_walks, Driver};
use connseq_model::core::{
    Action, ChanFlags, DataLayer, Dir, Fill, Op, OpStatus, Outcome, SessionConfig, Side, Sink, Source, SpliceMode,
    TimerKind,
};

const RECV_CLIENT: Action = Action::Recv { side: Side::Front, into: Sink::Buffer };
const RECV_CLIENT_PIPE: Action = Action::Recv { side: Side::Front, into: Sink::Pipe };
const SEND_SERVER: Action = Action::Send { side: Side::Back, from: Source::Buffer, more: false };
const SEND_SERVER_MORE: Action = Action::Send { side: Side::Back, from: Source::Buffer, more: true };
const SEND_SERVER_PIPE: Action = Action::Send { side: Side::Back, from: Source::Pipe, more: false };

fn splice(mode: SpliceMode) -> SessionConfig {
    SessionConfig { splice: mode, ..config() }
}

/// The server socket stops taking data: the next send says EAGAIN.
#[track_caller]
fn server_blocks(d: &mut Driver, action: Action) {
    d.perform(action, Outcome::WouldBlock);
    assert!(d.flag(Dir::Req, ChanFlags::FULL_OUT));
}

// ----------------------------------------------------------------------
// Empty channel
// ----------------------------------------------------------------------

#[test]
fn empty_channel_waits_for_the_poller() {
    let d = established(config());
    assert!(d.s.chan(Dir::Req).is_empty() && d.s.chan(Dir::Res).is_empty());
    assert!(d.flag(Dir::Req, ChanFlags::EMPTY_IN) && d.flag(Dir::Res, ChanFlags::EMPTY_IN));
    d.expect_idle();
}

#[test]
fn readable_client_is_received_into_the_request_buffer() {
    let mut d = established(config());
    d.readable(Side::Front);
    assert!(!d.flag(Dir::Req, ChanFlags::EMPTY_IN));
    d.perform(RECV_CLIENT, Outcome::Data { full: false });
    assert_eq!(d.s.chan(Dir::Req).buf, Fill::Some);
    assert_eq!(d.s.chan(Dir::Req).pipe, Fill::Empty);
}

#[test]
fn recv_that_would_block_marks_the_input_empty_and_waits() {
    let mut d = established(config());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::WouldBlock);
    assert!(d.flag(Dir::Req, ChanFlags::EMPTY_IN));
    assert!(d.s.chan(Dir::Req).is_empty());
    d.expect_idle();
}

#[test]
fn readable_server_is_received_into_the_response_buffer_and_sent_to_the_client() {
    let mut d = established(config());
    d.server_sends(Sink::Buffer, false);
    assert_eq!(d.s.chan(Dir::Res).buf, Fill::Some);
    d.perform(Action::Send { side: Side::Front, from: Source::Buffer, more: false }, Outcome::Sent { drained: true });
    assert!(d.s.chan(Dir::Res).is_empty());
    assert!(d.s.chan(Dir::Res).seen_data);
}

// ----------------------------------------------------------------------
// Channel holding data
// ----------------------------------------------------------------------

#[test]
fn buffered_data_is_sent_before_more_is_read() {
    let mut d = established(config());
    d.client_sends(Sink::Buffer, false);
    d.expect(SEND_SERVER);
}

#[test]
fn send_that_drains_the_buffer_empties_the_channel_and_reading_resumes() {
    let mut d = established(config());
    d.client_sends(Sink::Buffer, false);
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
    assert!(d.s.chan(Dir::Req).is_empty());
    assert!(d.s.chan(Dir::Req).seen_data);
    d.expect(RECV_CLIENT);
}

#[test]
fn send_that_would_block_marks_the_output_full_and_waits_for_writable() {
    let mut d = established(config());
    d.client_sends(Sink::Buffer, false);
    server_blocks(&mut d, SEND_SERVER);
    assert_eq!(d.s.chan(Dir::Req).buf, Fill::Some, "nothing left the buffer");
    // Room in the buffer: the client is still read meanwhile.
    d.perform(RECV_CLIENT, Outcome::WouldBlock);
    d.expect_idle();
    d.writable(Side::Back);
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
}

#[test]
fn partial_send_keeps_the_rest_buffered() {
    let mut d = established(config());
    d.client_sends(Sink::Buffer, false);
    d.perform(SEND_SERVER, Outcome::Sent { drained: false });
    assert_eq!(d.s.chan(Dir::Req).buf, Fill::Some);
    d.expect(SEND_SERVER);
}

#[test]
fn traffic_pushes_back_the_idle_timers() {
    let mut d = established(config());
    assert_eq!(d.deadline(TimerKind::Client), Some(30_000));
    assert_eq!(d.deadline(TimerKind::Server), Some(30_000));
    d.now = 10_000;
    d.client_sends(Sink::Buffer, false);
    assert_eq!(d.deadline(TimerKind::Client), Some(40_000));
    assert_eq!(d.deadline(TimerKind::Server), Some(30_000));
    d.now = 12_000;
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
    assert_eq!(d.deadline(TimerKind::Server), Some(42_000));
}

// ----------------------------------------------------------------------
// Full channel
// ----------------------------------------------------------------------

#[test]
fn full_buffer_stops_reading_until_it_drains() {
    let mut d = established(config());
    d.client_sends(Sink::Buffer, true);
    assert_eq!(d.s.chan(Dir::Req).buf, Fill::Full);
    server_blocks(&mut d, SEND_SERVER);
    // Readable client, full buffer, blocked server: nothing to do.
    assert!(!d.flag(Dir::Req, ChanFlags::EMPTY_IN));
    d.expect_idle();
    d.writable(Side::Back);
    d.perform(SEND_SERVER, Outcome::Sent { drained: false });
    assert_eq!(d.s.chan(Dir::Req).buf, Fill::Some);
    server_blocks(&mut d, SEND_SERVER);
    // Room again: reading resumes although the client was never re-armed.
    d.expect(RECV_CLIENT);
}

#[test]
fn a_full_buffer_is_sent_without_msg_more() {
    // A full buffer does not promise more data: the producer may have sent
    // exactly one buffer's worth, and corked bytes would wait for a later
    // send that never comes.
    let mut d = established(config());
    d.client_sends(Sink::Buffer, true);
    d.expect(SEND_SERVER);
    d.perform(SEND_SERVER, Outcome::Sent { drained: false });
    d.expect(SEND_SERVER);
}

#[test]
fn last_send_before_a_pending_fin_carries_msg_more() {
    let mut d = established(config());
    d.client_sends(Sink::Buffer, false);
    server_blocks(&mut d, SEND_SERVER);
    d.perform(RECV_CLIENT, Outcome::Eof);
    d.writable(Side::Back);
    // A shutw follows this send: MSG_MORE lets the kernel merge the FIN with the data.
    d.expect(SEND_SERVER_MORE);
}

// ----------------------------------------------------------------------
// Splicing
// ----------------------------------------------------------------------

#[test]
fn splice_never_keeps_to_the_buffer() {
    let mut d = established(splice(SpliceMode::Never));
    d.client_sends(Sink::Buffer, false);
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
    d.expect(RECV_CLIENT);
}

#[test]
fn splice_always_uses_the_pipe_from_the_first_byte() {
    let mut d = established(splice(SpliceMode::Always));
    d.client_sends(Sink::Pipe, false);
    assert_eq!((d.s.chan(Dir::Req).buf, d.s.chan(Dir::Req).pipe), (Fill::Empty, Fill::Some));
    // The pipe drains first, and a pipe never asks for MSG_MORE.
    d.perform(SEND_SERVER_PIPE, Outcome::Sent { drained: true });
    assert!(d.s.chan(Dir::Req).is_empty());
}

#[test]
fn splice_auto_uses_the_buffer_first_then_the_pipe() {
    let mut d = established(splice(SpliceMode::Auto));
    d.client_sends(Sink::Buffer, false);
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
    assert!(d.s.chan(Dir::Req).seen_data);
    d.perform(RECV_CLIENT_PIPE, Outcome::Data { full: false });
    assert_eq!((d.s.chan(Dir::Req).buf, d.s.chan(Dir::Req).pipe), (Fill::Empty, Fill::Some));
}

#[test]
fn splice_auto_switches_to_the_pipe_only_once_the_buffer_is_empty() {
    let mut d = established(splice(SpliceMode::Auto));
    d.client_sends(Sink::Buffer, false);
    d.perform(SEND_SERVER, Outcome::Sent { drained: false });
    assert!(d.s.chan(Dir::Req).seen_data);
    server_blocks(&mut d, SEND_SERVER);
    // Data has crossed, but the buffer still holds older bytes: keep using it.
    d.perform(RECV_CLIENT, Outcome::Data { full: false });
    assert_eq!(d.s.chan(Dir::Req).pipe, Fill::Empty);
    d.writable(Side::Back);
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
    d.expect(RECV_CLIENT_PIPE);
}

#[test]
fn a_channel_without_a_pipe_reads_into_the_buffer_at_once_and_for_good() {
    let mut d = established(splice(SpliceMode::Always));
    d.readable(Side::Front);
    // The runtime could not have a pipe: nothing was read, the socket is
    // still readable, so the core reads again, into the buffer.
    d.perform(RECV_CLIENT_PIPE, Outcome::NoResource);
    assert!(d.s.chan(Dir::Req).no_pipe);
    assert!(!d.s.conn(Side::Front).error, "no pipe is no fault of the client's");
    d.perform(RECV_CLIENT, Outcome::Data { full: false });
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
    d.perform(RECV_CLIENT, Outcome::WouldBlock);
    d.client_sends(Sink::Buffer, false);
    assert_eq!(d.s.chan(Dir::Req).pipe, Fill::Empty);
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
    d.perform(RECV_CLIENT, Outcome::WouldBlock);
    // The other channel still splices.
    d.readable(Side::Back);
    d.expect(Action::Recv { side: Side::Back, into: Sink::Pipe });
}

#[test]
fn pipe_is_flushed_before_the_buffer_is_used_again() {
    let mut d = established(splice(SpliceMode::Always));
    d.client_sends(Sink::Pipe, true);
    assert_eq!(d.s.chan(Dir::Req).pipe, Fill::Full);
    server_blocks(&mut d, SEND_SERVER_PIPE);
    // Full pipe: neither the pipe nor the buffer may take the client's next bytes.
    d.expect_idle();
    d.writable(Side::Back);
    d.perform(SEND_SERVER_PIPE, Outcome::Sent { drained: false });
    d.perform(SEND_SERVER_PIPE, Outcome::WouldBlock);
    d.expect(RECV_CLIENT_PIPE);
    assert_eq!(d.s.chan(Dir::Req).buf, Fill::Empty);
}

#[test]
fn tls_client_never_splices_even_when_splicing_is_forced() {
    let mut d = established(SessionConfig { tls_front: true, ..splice(SpliceMode::Always) });
    assert_eq!(d.s.conn(Side::Front).data, DataLayer::Tls);
    d.client_sends(Sink::Buffer, false);
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
    d.perform(RECV_CLIENT, Outcome::Data { full: false });
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
    d.perform(RECV_CLIENT, Outcome::WouldBlock);
    d.server_sends(Sink::Buffer, false);
}

#[test]
fn tls_server_never_splices_in_either_direction() {
    let mut d = established(SessionConfig { tls_back: true, ..splice(SpliceMode::Always) });
    d.client_sends(Sink::Buffer, false);
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
    d.perform(RECV_CLIENT, Outcome::Data { full: false });
    d.perform(SEND_SERVER, Outcome::Sent { drained: true });
    d.perform(RECV_CLIENT, Outcome::WouldBlock);
    d.server_sends(Sink::Buffer, false);
    d.perform(Action::Send { side: Side::Front, from: Source::Buffer, more: false }, Outcome::Sent { drained: true });
    d.expect(Action::Recv { side: Side::Back, into: Sink::Buffer });
}

#[test]
fn a_channel_never_holds_data_in_the_buffer_and_the_pipe_at_once() {
    for mode in [SpliceMode::Auto, SpliceMode::Always] {
        let cfg = SessionConfig { retries: 1, ..splice(mode) };
        let (mut buffered, mut piped) = (0, 0);
        let report = random_walks(cfg, 7 + mode as u64, 400, 40, &mut |_, _, s| {
            assert!(never_buffer_and_pipe(s), "buffer and pipe both hold data: {s:#?}");
            buffered += usize::from(s.chan(Dir::Req).buf != Fill::Empty || s.chan(Dir::Res).buf != Fill::Empty);
            piped += usize::from(s.chan(Dir::Req).pipe != Fill::Empty || s.chan(Dir::Res).pipe != Fill::Empty);
        });
        assert_eq!(report.closed, 400);
        // Not vacuous: both places held data in many of the states seen.
        assert!(buffered > 100 || mode == SpliceMode::Always, "{mode:?}: {buffered} buffered states");
        assert!(piped > 100, "{mode:?}: {piped} piped states");
    }
}

#[test]
fn every_splice_recv_has_an_empty_buffer_and_every_buffer_recv_an_empty_pipe() {
    let cfg = SessionConfig { retries: 1, ..splice(SpliceMode::Auto) };
    let mut spliced = 0;
    random_walks(cfg, 99, 400, 40, &mut |before, step, _| {
        if let Some((Action::Recv { side, into }, _)) = step {
            let ch = before.chan(side.input());
            match into {
                Sink::Pipe => {
                    spliced += 1;
                    assert_eq!(ch.buf, Fill::Empty, "spliced while the buffer held data: {before:#?}");
                }
                Sink::Buffer => assert_eq!(ch.pipe, Fill::Empty, "buffered while the pipe held data"),
                Sink::Discard => {}
            }
        }
    });
    assert!(spliced > 0, "the walks should splice");
}

// ----------------------------------------------------------------------
// Shut channel: the FIN follows the data.
// ----------------------------------------------------------------------

#[test]
fn client_fin_on_an_empty_channel_is_forwarded_to_the_server_at_once() {
    let mut d = established(config());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Eof);
    assert!(d.flag(Dir::Req, ChanFlags::SHUT_IN));
    assert_eq!(d.op(Side::Front, Op::DataShutr), OpStatus::Done);
    assert_eq!(d.op(Side::Front, Op::CtrlShutr), OpStatus::Done);
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Done);
    assert!(d.flag(Dir::Req, ChanFlags::SHUT_OUT));
    assert!(d.s.conn(Side::Back).shw());
}

#[test]
fn client_fin_behind_buffered_data_waits_until_the_channel_is_empty() {
    let mut d = established(config());
    d.client_sends(Sink::Buffer, false);
    server_blocks(&mut d, SEND_SERVER);
    d.perform(RECV_CLIENT, Outcome::Eof);
    assert!(d.flag(Dir::Req, ChanFlags::SHUT_IN));
    // The FIN must not overtake the data.
    assert_eq!(d.op(Side::Back, Op::DataShutw), OpStatus::NotDesired);
    assert_eq!(d.op(Side::Back, Op::CtrlShutw), OpStatus::NotDesired);
    assert_eq!(d.s.chan(Dir::Req).buf, Fill::Some, "read0 keeps the tail");
    d.expect_idle();
    d.writable(Side::Back);
    // The FIN follows this data: MSG_MORE lets the kernel merge them.
    let last = Action::Send { side: Side::Back, from: Source::Buffer, more: true };
    d.perform(last, Outcome::Sent { drained: false });
    assert_eq!(d.op(Side::Back, Op::CtrlShutw), OpStatus::NotDesired);
    d.perform(last, Outcome::Sent { drained: true });
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Done);
}

#[test]
fn server_fin_behind_spliced_data_waits_until_the_pipe_is_flushed() {
    let mut d = established(splice(SpliceMode::Always));
    d.server_sends(Sink::Pipe, false);
    let to_client = Action::Send { side: Side::Front, from: Source::Pipe, more: false };
    d.perform(to_client, Outcome::WouldBlock);
    d.perform(Action::Recv { side: Side::Back, into: Sink::Pipe }, Outcome::Eof);
    assert_eq!(d.op(Side::Front, Op::CtrlShutw), OpStatus::NotDesired);
    d.expect_idle();
    d.writable(Side::Front);
    let last = Action::Send { side: Side::Front, from: Source::Pipe, more: true };
    d.perform(last, Outcome::Sent { drained: true });
    d.perform(Action::CtrlShutw(Side::Front), Outcome::Done);
    assert!(d.s.conn(Side::Front).shw());
}

#[test]
fn nothing_is_read_from_a_side_after_its_fin() {
    let mut d = established(config());
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Eof);
    d.perform(Action::CtrlShutw(Side::Back), Outcome::Done);
    d.readable(Side::Front);
    d.expect_idle();
}

#[test]
fn nothing_is_sent_to_a_side_once_its_shutw_is_desired() {
    let mut d = established(SessionConfig { tls_back: true, ..config() });
    d.readable(Side::Front);
    d.perform(RECV_CLIENT, Outcome::Eof);
    assert_eq!(d.op(Side::Back, Op::DataShutw), OpStatus::Desired);
    d.perform(Action::DataShutw(Side::Back), Outcome::WouldBlock);
    d.writable(Side::Back);
    // The close_notify is the only thing that goes out now.
    d.expect(Action::DataShutw(Side::Back));
}

#[test]
fn recv_and_send_respect_fill_levels_layers_and_handshakes_on_every_path() {
    let configs = [
        SessionConfig { retries: 1, ..splice(SpliceMode::Auto) },
        SessionConfig { tls_front: true, send_proxy: true, ..splice(SpliceMode::Always) },
        SessionConfig { tls_back: true, accept_proxy: true, ..splice(SpliceMode::Auto) },
    ];
    for (i, cfg) in configs.into_iter().enumerate() {
        let mut payload = 0;
        random_walks(cfg, 300 + i as u64, 600, 60, &mut |s, step, _| {
            let Some((action, _)) = step else { return };
            match action {
                Action::Recv { side, into } => {
                    let c = s.conn(side);
                    let ch = s.chan(side.input());
                    assert!(c.is_open() && !c.closing() && !c.shr(), "recv on a shut or closed side: {s:#?}");
                    match into {
                        Sink::Buffer => assert!(ch.buf != Fill::Full && ch.pipe == Fill::Empty, "{s:#?}"),
                        Sink::Pipe => {
                            assert!(ch.pipe != Fill::Full && ch.buf == Fill::Empty, "{s:#?}");
                            assert!(
                                s.conn(Side::Front).data == DataLayer::Raw && s.conn(Side::Back).data == DataLayer::Raw,
                                "TLS spliced"
                            );
                        }
                        Sink::Discard => assert!(c.draining(), "discarding input without an active shutr"),
                    }
                    if into != Sink::Discard {
                        payload += 1;
                        assert!(s.started() && c.hs.is_empty(), "payload read before the handshake: {s:#?}");
                    }
                }
                Action::Send { side, from: from @ (Source::Buffer | Source::Pipe), .. } => {
                    let c = s.conn(side);
                    assert!(c.carries_data(), "payload sent before the handshake or after the close: {s:#?}");
                    assert_eq!(s.chan(side.output()).source(), Some(from), "pipe first, never an empty source");
                    assert!(!s.chan(side.output()).has(ChanFlags::FULL_OUT));
                    if from == Source::Pipe {
                        assert!(
                            s.conn(Side::Front).data == DataLayer::Raw && s.conn(Side::Back).data == DataLayer::Raw,
                            "TLS spliced"
                        );
                    }
                }
                _ => {}
            }
        });
        assert!(payload > 300, "config {i}: the walks should move payload ({payload})");
    }
}
