//! Steps of the event loop that no test of a running proxy can order: what
//! happens between two threads, or between the kernel's backlog and a stop.
//! Each test builds the proxy as it starts (real listening sockets, real
//! servers, one worker), does not run its loop, and calls the step it is
//! about directly, where the running loop would call it at a moment no
//! test can choose.

use super::*;
use crate::runtime::backend_state::Waiter;
use crate::runtime::test_support::worker;
use connseq_model::core::backend as balancer;
use connseq_model::core::SessionConfig;
use std::net::{TcpListener as StdListener, TcpStream};

/// A worker with one session, started from a client's connection waiting
/// in the backlog: its core picked server 0 of `servers` (round robin) and
/// connects. The servers' listeners and the client live as long as it.
struct OneSession {
    worker: Worker,
    idx: usize,
    now: Millis,
    _servers: Vec<StdListener>,
    _client: TcpStream,
}

fn one_session(servers: usize) -> OneSession {
    let servers: Vec<_> = (0..servers).map(|_| StdListener::bind("127.0.0.1:0").expect("a server")).collect();
    let addrs: Vec<_> = servers.iter().map(|s| s.local_addr().expect("address")).collect();
    let (mut worker, addr) = worker(&addrs);
    let client = TcpStream::connect(addr).expect("a client");
    let now = worker.now();
    worker.accept(0, now);
    let idx = worker.flows.iter().position(Option::is_some).expect("a session");
    OneSession { worker, idx, now, _servers: servers, _client: client }
}

/// A slot handed to a session that ended, and whose place a new session
/// took, before its thread read the message (`on_dequeued`'s generation
/// check): on running threads, a race of two of them.
#[test]
fn a_slot_handed_to_a_session_that_ended_is_given_back_not_taken_by_its_successor() {
    let OneSession { mut worker, idx, now, _servers, _client } = one_session(2);
    let server = |w: &Worker| w.flows[idx].as_ref().and_then(|f| f.core.server());
    assert_eq!(server(&worker), Some(0));
    // Server 1's slot taken for a waiter that is gone: the session that had
    // this place before, one generation back.
    let gone = Waiter { worker: worker.id, idx, gen: worker.gens[idx].wrapping_sub(1) };
    let cfg: SessionConfig = SessionConfig::default();
    let pick = balancer::take(&cfg, &mut *worker.shared.backend(0), Some(0), gone);
    assert_eq!(pick, balancer::Pick::Assigned(1));
    assert_eq!(worker.shared.backend(0).active(), [1, 1]);

    worker.on_dequeued(0, 1, gone.idx, gone.gen, now);
    assert_eq!(server(&worker), Some(0), "the session in that place keeps its own server");
    assert_eq!(worker.shared.backend(0).active(), [1, 0], "the stale slot is given back");
    assert!(worker.work.is_empty(), "nothing to run for the session in that place");
}

/// A connection the kernel took into the backlog after the loop's last
/// listener event, when a stop comes (`follow_stop`): a soft stop serves
/// it, a hard stop closes the listener on it. On a running loop the
/// connection cannot be placed between that event and the stop.
#[test]
fn a_soft_stop_takes_in_the_backlog_and_a_hard_stop_does_not() {
    let server = StdListener::bind("127.0.0.1:0").expect("a server");
    let server_addr = server.local_addr().expect("address");
    for (mode, served) in [(StopMode::Soft, 1), (StopMode::Hard, 0)] {
        let (mut worker, addr) = worker(&[server_addr]);
        let _client = TcpStream::connect(addr).expect("a client");
        worker.shared.request_stop(mode);
        let now = worker.now();
        worker.follow_stop(now);
        assert_eq!((worker.stop, worker.live), (mode, served), "{mode:?}");
        assert!(worker.listeners.iter().all(|l| l.sock.is_none()), "{mode:?}: the listeners are closed");
    }
}

/// The ack poll (`Flow::poll_acks`) is due at its deadline, not a
/// millisecond after it: a side waiting for its peer's acknowledgement
/// before an RST is looked at again every `ACK_POLL` exactly. On a running
/// loop the clock reaches a deadline exactly only by chance.
#[test]
fn an_ack_poll_is_due_at_its_deadline() {
    let OneSession { mut worker, idx, now, _servers, _client } = one_session(1);
    let flow = worker.flows[idx].as_mut().expect("the session");
    let at = now + crate::runtime::flow::ACK_POLL;
    flow.ack_poll = Some(at);
    assert!(!flow.poll_acks(at - 1), "not due before its deadline");
    assert_eq!(flow.ack_poll, Some(at));
    assert!(flow.poll_acks(at), "due at its deadline");
    assert_eq!(flow.ack_poll, None, "and done");
}

/// An ack poll and a deadline of the core due in the same millisecond
/// (`on_timer`): both are met in that call, the core's timer is not left
/// for a later turn of the loop. On a running loop the two meet only by
/// chance.
#[test]
fn an_ack_poll_and_a_core_deadline_due_together_are_both_met() {
    let OneSession { mut worker, idx, _servers, _client, .. } = one_session(1);
    let gen = worker.gens[idx];
    let flow = worker.flows[idx].as_mut().expect("the session");
    // The connect timeout: the core's next deadline while it connects.
    let due = flow.core.next_deadline().expect("a deadline while connecting");
    flow.ack_poll = Some(due);
    flow.timer_queued = Some(due);
    worker.on_timer(idx, gen, due, due);
    let flow = worker.flows[idx].as_ref().expect("the session");
    assert_eq!(flow.ack_poll, None, "the ack poll was met");
    assert!(flow.core.next_deadline().map_or(true, |d| d > due), "the core's timer due then fired in the same call");
}
