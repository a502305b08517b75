//! The incoming side before the session exists: the handshake handlers
//! (note: "Proposal for incoming connection sequence"), the health and
//! monitor replies, and the handshake timeout. Grouped by state: a front
//! stream interface in INI with handlers subscribed, then the check
//! connections, then the timeout.

mod common;

use common::{accepted, config, random_walks, Driver};
use connseq_model::core::{
    Action, ChanFlags, ConnState, DataLayer, Dir, FdState, Handler, Op, OpStatus, Outcome, Pick, Reply, RuleStage,
    SessionConfig, SiState, Side, Sink, Source, TimerKind,
};

fn full_pipeline() -> SessionConfig {
    SessionConfig { conn_rules: true, accept_proxy: true, src_rules: true, tls_front: true, ..config() }
}

fn health() -> SessionConfig {
    SessionConfig { health: true, ..config() }
}

fn monitor() -> SessionConfig {
    SessionConfig { monitor: true, accept_proxy: true, tls_front: true, ..config() }
}

/// The reply HH_SEND_LAST_CHUNK sends on the front socket.
const REPLY: Action = Action::Send { side: Side::Front, from: Source::Reply, more: false };

// ----------------------------------------------------------------------
// INI, no handler: the session starts at accept.
// ----------------------------------------------------------------------

#[test]
fn accept_without_handlers_starts_the_session_and_asks_for_a_server() {
    let d = Driver::accept(config());
    assert!(d.s.started());
    assert_eq!((d.s.si(Side::Front), d.s.si(Side::Back)), (SiState::Est, SiState::Req));
    assert_eq!(d.s.conn(Side::Front).state, ConnState::Established);
    assert!(d.s.conn(Side::Front).hs.is_empty());
    d.expect(Action::PickServer { avoid: None });
    // No handshake is pending, so no handshake timer; the client idles under `timeout client`.
    assert_eq!(d.armed(), [TimerKind::Client]);
    assert_eq!(d.deadline(TimerKind::Client), Some(30_000));
}

// ----------------------------------------------------------------------
// INI with handlers: the incoming pipeline, in order.
// ----------------------------------------------------------------------

#[test]
fn incoming_handlers_run_rules_then_proxy_header_then_source_rules_then_tls_then_session() {
    let mut d = accepted(full_pipeline());
    for h in [Handler::TcpRulesConn, Handler::AcceptProxy, Handler::TcpRules, Handler::SslHs, Handler::AcceptSession] {
        assert!(d.s.conn(Side::Front).hs.has(h), "{h} should be subscribed at accept");
    }
    assert_eq!(d.s.conn(Side::Front).data, DataLayer::Tls);
    assert_eq!(d.s.conn(Side::Front).data_hs, OpStatus::Desired);

    // Connection rules run on the real peer address, without waiting for bytes.
    d.perform(Action::EvalRules(RuleStage::Connection), Outcome::Verdict(true));
    assert!(!d.s.conn(Side::Front).hs.has(Handler::TcpRulesConn));
    // The PROXY header needs bytes: nothing until the poller says readable.
    d.expect_idle();
    d.readable(Side::Front);
    d.perform(Action::RecvProxyHeader, Outcome::Done);
    assert!(!d.s.conn(Side::Front).hs.has(Handler::AcceptProxy));
    d.perform(Action::EvalRules(RuleStage::Source), Outcome::Verdict(true));
    assert!(!d.s.started(), "the session must wait for the TLS handshake");
    d.perform(Action::TlsHandshake(Side::Front), Outcome::Done);
    assert_eq!(d.s.conn(Side::Front).data_hs, OpStatus::Done);

    // HH_ACCEPT_SESSION runs without I/O as soon as it is first.
    assert!(d.s.started());
    assert_eq!((d.s.si(Side::Front), d.s.si(Side::Back)), (SiState::Est, SiState::Req));
    assert!(d.s.conn(Side::Front).hs.is_empty());
    assert!(!d.s.timer_armed(TimerKind::Handshake));
    d.expect(Action::PickServer { avoid: None });
}

#[test]
fn proxy_header_that_would_block_waits_for_the_poller() {
    let mut d = accepted(SessionConfig { accept_proxy: true, ..config() });
    d.expect_idle();
    d.readable(Side::Front);
    d.perform(Action::RecvProxyHeader, Outcome::WouldBlock);
    assert!(d.flag(Dir::Req, ChanFlags::EMPTY_IN));
    assert!(d.s.conn(Side::Front).hs.has(Handler::AcceptProxy), "a handler that waits stays subscribed");
    d.expect_idle();
    d.readable(Side::Front);
    d.perform(Action::RecvProxyHeader, Outcome::Done);
    assert!(d.s.started());
}

#[test]
fn payload_is_never_read_before_the_proxy_header_is_parsed() {
    let mut d = accepted(SessionConfig { accept_proxy: true, ..config() });
    d.readable(Side::Front);
    // Readable, but the only read allowed is the header parser's.
    d.expect(Action::RecvProxyHeader);
    d.perform(Action::RecvProxyHeader, Outcome::Done);
    // Now the session exists; payload reads come after the server is chosen.
    d.expect(Action::PickServer { avoid: None });
    d.perform(Action::PickServer { avoid: None }, Outcome::Pick(Pick::Assigned(0)));
    d.perform(Action::Connect { server: 0 }, Outcome::InProgress);
    d.expect(Action::Recv { side: Side::Front, into: Sink::Buffer });
}

#[test]
fn connection_rules_reject_resets_the_client_with_a_proxy_code() {
    let mut d = accepted(full_pipeline());
    d.perform(Action::EvalRules(RuleStage::Connection), Outcome::Verdict(false));
    assert!(d.s.rejected());
    assert!(d.s.conn(Side::Front).abortive);
    // No other handler runs: the close sequence comes first, then nothing.
    d.close(Side::Front, true);
    assert_eq!(d.op(Side::Front, Op::DataClose), OpStatus::Done, "TLS state is freed before CCLO");
    assert!(d.s.is_closed());
    assert_eq!(d.code(), "PR");
    assert!(!d.s.started());
    assert!(d.armed().is_empty());
    d.expect_idle();
}

#[test]
fn source_rules_reject_after_the_proxy_header_resets_the_client() {
    let mut d = accepted(SessionConfig { accept_proxy: true, src_rules: true, ..config() });
    d.readable(Side::Front);
    d.perform(Action::RecvProxyHeader, Outcome::Done);
    d.perform(Action::EvalRules(RuleStage::Source), Outcome::Verdict(false));
    d.close(Side::Front, true);
    assert!(d.s.is_closed());
    assert_eq!((d.s.si(Side::Front), d.s.si(Side::Back)), (SiState::Clo, SiState::Clo));
    assert_eq!(d.code(), "PR");
    assert_eq!(d.count(Action::PickServer { avoid: None }), 0, "a rejected connection reaches no server");
}

#[test]
fn invalid_proxy_header_closes_abortively_with_a_client_request_code() {
    let mut d = accepted(SessionConfig { accept_proxy: true, ..config() });
    d.readable(Side::Front);
    d.perform(Action::RecvProxyHeader, Outcome::Invalid);
    assert_eq!(d.code(), "CR");
    d.close(Side::Front, true);
    assert!(d.s.is_closed());
    assert!(!d.s.started());
}

#[test]
fn bare_health_check_eof_empty_closes_quietly() {
    let mut d = accepted(SessionConfig { accept_proxy: true, ..config() });
    d.readable(Side::Front);
    d.perform(Action::RecvProxyHeader, Outcome::EofEmpty);
    // The peer is gone: no drain, no RST, and nothing recorded against anyone.
    assert_eq!(d.s.conn(Side::Front).state, ConnState::Error);
    assert!(!d.s.conn(Side::Front).draining());
    d.close(Side::Front, false);
    assert!(d.s.is_closed());
    assert_eq!(d.code(), "--");
    assert!(!d.s.rejected());
    assert!(d.armed().is_empty());
}

#[test]
fn client_closing_inside_the_proxy_header_is_a_client_abort() {
    let mut d = accepted(SessionConfig { accept_proxy: true, ..config() });
    d.readable(Side::Front);
    d.perform(Action::RecvProxyHeader, Outcome::Eof);
    // The peer already closed: a plain close, no RST needed.
    d.close(Side::Front, false);
    assert_eq!(d.code(), "CR");
    assert!(d.s.is_closed());
}

#[test]
fn tls_handshake_waits_for_the_client_hello_then_for_room_to_answer() {
    let mut d = accepted(SessionConfig { tls_front: true, ..config() });
    // The server side of TLS starts by reading.
    d.expect_idle();
    d.writable(Side::Front);
    d.expect_idle();
    d.readable(Side::Front);
    d.perform(Action::TlsHandshake(Side::Front), Outcome::WouldBlock);
    assert_eq!(d.s.conn(Side::Front).data_hs, OpStatus::Started);
    d.expect_idle();
    d.readable(Side::Front);
    d.perform(Action::TlsHandshake(Side::Front), Outcome::WantWrite);
    assert!(d.s.conn(Side::Front).hs_wants_write);
    assert!(d.flag(Dir::Res, ChanFlags::FULL_OUT));
    // It wants to write: readability alone does not wake it.
    d.readable(Side::Front);
    d.expect_idle();
    d.writable(Side::Front);
    d.perform(Action::TlsHandshake(Side::Front), Outcome::Done);
    assert_eq!(d.s.conn(Side::Front).data_hs, OpStatus::Done);
    assert!(d.s.started());
}

#[test]
fn tls_handshake_violation_resets_the_client_with_a_client_request_code() {
    let mut d = accepted(SessionConfig { tls_front: true, ..config() });
    d.readable(Side::Front);
    d.perform(Action::TlsHandshake(Side::Front), Outcome::Invalid);
    assert_eq!(d.code(), "CR");
    d.close(Side::Front, true);
    assert!(d.s.is_closed());
    assert!(!d.s.started());
}

// ----------------------------------------------------------------------
// INI, check connections: health mode and monitor-net.
// ----------------------------------------------------------------------

#[test]
fn health_mode_subscribes_only_the_reply_handler() {
    let d = accepted(SessionConfig { accept_proxy: true, tls_front: true, conn_rules: true, ..health() });
    assert_eq!(d.s.reply(), Some(Reply::Health));
    assert_eq!(Reply::Health.bytes(), b"OK\n");
    assert!(d.s.conn(Side::Front).hs.has(Handler::SendLastChunk));
    assert_eq!(d.s.conn(Side::Front).hs.len(), 1, "health mode has precedence over rules, PROXY and TLS");
    assert_eq!(d.s.conn(Side::Front).data, DataLayer::Raw, "the reply is never encrypted");
    d.expect(REPLY);
}

#[test]
fn health_reply_is_sent_then_the_write_side_shut_then_input_drained_until_the_fin() {
    let mut d = accepted(health());
    d.perform(REPLY, Outcome::Sent { drained: true });
    assert!(d.s.conn(Side::Front).hs.is_empty());
    assert!(d.s.conn(Side::Front).draining(), "the reply must not be destroyed by an RST: drain first");
    assert_eq!(d.op(Side::Front, Op::DataShutw), OpStatus::Done, "raw DSHW completes at once");
    d.perform(Action::CtrlShutw(Side::Front), Outcome::Done);
    assert!(d.s.conn(Side::Front).shw());
    // Half-closed: bounded by client-fin, not the handshake timer.
    assert_eq!(d.armed(), [TimerKind::ClientFin]);
    d.expect_idle();
    d.readable(Side::Front);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Discard }, Outcome::Data { full: false });
    d.perform(Action::Recv { side: Side::Front, into: Sink::Discard }, Outcome::Eof);
    // read0: only now the lingering close.
    d.close(Side::Front, false);
    assert!(d.s.is_closed());
    assert!(!d.s.started());
    assert_eq!(d.code(), "--");
    assert!(d.armed().is_empty());
}

#[test]
fn health_reply_that_would_block_waits_for_writable() {
    let mut d = accepted(health());
    d.perform(REPLY, Outcome::WouldBlock);
    assert!(d.flag(Dir::Res, ChanFlags::FULL_OUT));
    assert!(d.s.conn(Side::Front).hs.has(Handler::SendLastChunk));
    assert!(d.s.timer_armed(TimerKind::Handshake));
    d.expect_idle();
    d.writable(Side::Front);
    d.perform(REPLY, Outcome::Sent { drained: true });
    assert!(!d.s.timer_armed(TimerKind::Handshake));
}

#[test]
fn monitor_match_replies_http_ok_and_skips_the_proxy_header_and_tls() {
    let d = Driver::accept_at(monitor(), 0, true);
    assert_eq!(d.s.reply(), Some(Reply::Monitor));
    assert_eq!(Reply::Monitor.bytes(), b"HTTP/1.0 200 OK\r\n\r\n");
    assert!(d.s.conn(Side::Front).hs.has(Handler::SendLastChunk));
    assert_eq!(d.s.conn(Side::Front).hs.len(), 1);
    assert_eq!(d.s.conn(Side::Front).data, DataLayer::Raw);
    assert_eq!(d.s.conn(Side::Front).data_hs, OpStatus::NotDesired);
    // No bytes need to arrive first: the reply goes as soon as the socket is writable.
    d.expect(REPLY);
}

#[test]
fn monitor_check_never_reaches_a_server() {
    let mut d = Driver::accept_at(monitor(), 0, true);
    d.perform(REPLY, Outcome::Sent { drained: true });
    d.perform(Action::CtrlShutw(Side::Front), Outcome::Done);
    d.readable(Side::Front);
    d.perform(Action::Recv { side: Side::Front, into: Sink::Discard }, Outcome::Eof);
    d.close(Side::Front, false);
    assert!(d.s.is_closed());
    assert!(!d.s.started());
    assert!(d.log.iter().all(|a| !matches!(a, Action::PickServer { .. } | Action::Connect { .. })));
}

#[test]
fn monitor_without_a_match_goes_on_to_the_proxy_header() {
    let mut d = Driver::accept_at(monitor(), 0, false);
    assert_eq!(d.s.reply(), None);
    assert!(!d.s.conn(Side::Front).hs.has(Handler::MonitorIn), "HH_MONITOR_IN ran and removed itself");
    assert!(d.s.conn(Side::Front).hs.has(Handler::AcceptProxy) && d.s.conn(Side::Front).hs.has(Handler::SslHs));
    d.expect_idle();
    d.readable(Side::Front);
    d.expect(Action::RecvProxyHeader);
}

#[test]
fn health_check_that_never_sends_its_fin_is_cut_by_client_fin() {
    let mut d = accepted(health());
    d.perform(REPLY, Outcome::Sent { drained: true });
    d.perform(Action::CtrlShutw(Side::Front), Outcome::Done);
    assert_eq!(d.deadline(TimerKind::ClientFin), Some(5_000));
    d.advance(4_999);
    d.expect_idle();
    d.advance(1);
    d.close(Side::Front, true);
    assert!(d.s.is_closed());
    assert_eq!(d.code(), "cL");
}

// ----------------------------------------------------------------------
// INI, handshake timer.
// ----------------------------------------------------------------------

#[test]
fn handshake_timer_is_armed_at_accept_for_the_handshake_timeout() {
    let d = Driver::accept_at(SessionConfig { accept_proxy: true, ..config() }, 1_000, false);
    assert_eq!(d.armed(), [TimerKind::Handshake]);
    assert_eq!(d.s.next_deadline(), Some(6_000));
}

#[test]
fn handshake_timeout_resets_a_slow_client_with_a_client_timeout_code() {
    let mut d = accepted(SessionConfig { accept_proxy: true, ..config() });
    d.advance(4_999);
    d.expect_idle();
    assert!(d.s.conn(Side::Front).is_open());
    d.advance(1);
    assert!(!d.s.timer_armed(TimerKind::Handshake));
    d.close(Side::Front, true);
    assert!(d.s.is_closed());
    assert_eq!(d.code(), "cR");
    assert_eq!(d.s.conn(Side::Front).fd, FdState::Closed);
}

#[test]
fn handshake_timer_is_not_pushed_back_by_a_partial_handshake() {
    let mut d = accepted(SessionConfig { tls_front: true, ..config() });
    d.now = 3_000;
    d.readable(Side::Front);
    d.perform(Action::TlsHandshake(Side::Front), Outcome::WouldBlock);
    assert_eq!(d.deadline(TimerKind::Handshake), Some(5_000), "the handshake is bounded as a whole");
}

// ----------------------------------------------------------------------
// Any path: check and rejected connections never reach a server.
// ----------------------------------------------------------------------

#[test]
fn check_and_rejected_connections_never_reach_a_server_on_any_path() {
    for cfg in [health(), SessionConfig { conn_rules: true, src_rules: true, ..monitor() }] {
        let (mut checks, mut rejects) = (0, 0);
        random_walks(cfg, 5, 400, 30, &mut |before, step, after| {
            let is_check = cfg.health || before.monitor_match();
            if let Some((a, _)) = step {
                if is_check || before.rejected() {
                    assert!(
                        !matches!(
                            a,
                            Action::PickServer { .. }
                                | Action::Connect { .. }
                                | Action::Recv { into: Sink::Buffer | Sink::Pipe, .. }
                        ),
                        "a check or rejected connection asked for {a:?}: {before:#?}"
                    );
                }
                if let Action::Send { from: Source::Reply, .. } = a {
                    assert!(is_check, "only a check gets a reply");
                    checks += 1;
                }
            }
            if after.rejected() && !before.rejected() {
                rejects += 1;
                assert!(after.conn(Side::Front).abortive, "a rejected connection is reset");
            }
        });
        assert!(checks > 50, "the walks should answer checks ({checks})");
        assert!(cfg.health || rejects > 10, "the walks should reject connections ({rejects})");
    }
}
