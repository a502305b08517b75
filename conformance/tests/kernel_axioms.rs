//! The kernel axioms: every assumption the model's abstract kernel
//! (`model/src/check/kernel.rs`, executed by `model/src/check/system.rs`)
//! makes about Linux TCP sockets, checked on real loopback sockets.
//! Sources: `spec/tcp-close-semantics.md`, docs/model.md ("The abstract
//! kernel"), RFC 9293 3.6.1 and 3.10.7.4, RFC 1122 4.2.2.13, Linux
//! `net/ipv4/tcp.c` and `tcp_input.c`.
//!
//! Where the runtime has a wrapper for a call (`connseq::sys::socket::{send,
//! recv, peek, shutdown_write, set_linger_zero, take_error}`,
//! `connseq::sys::pipe::Pipe`), the test makes the call through it, so that
//! what is checked is what the runtime does. The side called `ours` plays
//! the proxy; `peer` plays a client or a server.
//!
//! Each test's doc comment quotes the model's assumption and names the
//! model action or outcome that relies on it. Where Linux does not do what
//! the model assumes, the doc comment says so under "Linux differs", and
//! the test pins what Linux does.
//!
//! | docs/model.md kernel-axiom row | tests |
//! |---|---|
//! | `close()` with unread input sends RST, not FIN | [`close_with_unread_input_sends_rst`], [`close_with_only_the_peers_fin_unread_sends_no_rst`], [`close_after_shutdown_write_and_reading_the_peers_fin_sends_no_rst`] |
//! | a peer that receives RST loses what it had not read | [`rst_loses_what_the_receiver_had_not_received_not_what_it_had_not_read`], [`rst_received_while_data_is_queued_for_sending_discards_the_send_queue`] |
//! | `close()` with `SO_LINGER {1,0}` sends RST | [`linger_zero_close_sends_rst_discards_the_send_queue_and_leaves_no_time_wait`], [`ordinary_close_by_the_active_closer_leaves_time_wait`] |
//! | `close()` / `shutdown(SHUT_WR)` queue a FIN behind the data | [`shutdown_write_queues_fin_behind_unsent_data`], [`close_queues_fin_behind_unsent_data_and_the_orphan_keeps_sending`], [`a_half_closed_socket_still_receives`] |
//! | data for a closed socket is answered with RST | [`data_for_a_closed_socket_is_answered_with_rst_and_the_unsent_tail_is_lost`], [`data_for_a_closed_socket_after_its_fin_arrived_is_answered_with_rst_seen_as_epipe`] |
//! | send on a full buffer is EAGAIN | [`send_on_a_full_buffer_would_block_until_the_peer_reads`], [`recv_on_an_empty_socket_would_block`] |
//! | send after an RST is EPIPE / ECONNRESET; recv after an RST is ECONNRESET | [`send_after_the_peers_rst_fails_with_econnreset_then_epipe`], [`recv_after_the_peers_rst_fails_with_econnreset_then_reads_zero`], [`the_rst_error_is_reported_once_to_whichever_call_comes_first`], [`shutdown_write_after_the_peers_rst_fails_with_enotconn`] |
//! | a refused connect reports an error on the socket | [`nonblocking_connect_to_a_bound_port_without_listener_is_refused`] |
//! | readiness is edge-triggered; a peer's write or FIN makes the socket readable | [`each_peer_write_is_a_new_readable_edge`], [`peer_fin_shows_as_read_closed_and_reads_return_zero_after_the_data`], [`peer_rst_shows_as_error_readable_and_writable`], [`epoll_reports_a_closed_fd_while_a_duplicate_keeps_its_socket_open`] |
//! | splice (the `splice` feature: `Sink::Pipe`, `Source::Pipe`) | [`splice_moves_a_4_mib_stream_in_order_and_reports_eof_as_zero`], [`splice_in_after_an_rst_reads_the_queued_data_then_fails_with_econnreset`], [`splice_out_after_an_rst_fails_with_econnreset_then_epipe`], [`a_pipe_is_full_by_slots_and_the_socket_queue_tells_a_full_pipe_from_an_empty_socket`] |
//! | the model's kernel corks nothing (the replay's send-window shim) | [`bytes_corked_by_msg_more_wait_until_tcp_nodelay_pushes_them`] |
//!
//! Facts of `spec/tcp-close-semantics.md` with no test here, and why:
//! - "`close()` is never retried after an error": a rule for the runtime,
//!   not a kernel behaviour; Linux releases the fd in every case, and a
//!   second close of the number is exactly what must not be done (it may
//!   already belong to another socket), so it cannot be exercised safely.
//! - "A half-closed state must be bounded by a timer": a rule for the
//!   runtime (the model's fin timers), not a kernel behaviour.
//! - `shutdown(SHUT_RD)`: the model never uses it.
//! - The TLS data layer (close_notify, `read_tls` returning 0): rustls, not
//!   the kernel; `tls/tests/close.rs` covers it.
//! - No SIGPIPE with `MSG_NOSIGNAL`: this process ignores SIGPIPE (Rust's
//!   runtime sets it to "ignore" before `main`), so a raised SIGPIPE is
//!   discarded and cannot be observed without blocking the signal, which
//!   needs `unsafe`; `impl/src/sys/socket.rs`
//!   (`send_after_the_peer_reset_fails_and_raises_no_sigpipe`) checks it
//!   with the signal blocked.

#[path = "kernel_axioms/fixture.rs"]
mod fixture;
#[path = "kernel_axioms/socket_table.rs"]
mod socket_table;

use connseq::sys::pipe::Pipe;
use connseq::sys::signal;
use connseq::sys::socket;
use fixture::{
    fill, is_pattern_prefix, kind, pattern, pattern_byte, read_once, read_to_eof, read_until_error, write_all, Buffers,
    Pair, Watch,
};
use mio::{Interest, Token};
use socket2::SockRef;
use socket_table::{row, TcpState};
use std::io::ErrorKind::{BrokenPipe, ConnectionRefused, ConnectionReset, NotConnected, WouldBlock};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::Instant;

const OURS: Token = Token(0);
const PEER: Token = Token(1);

/// Takes everything `ours` has queued with the runtime's `recv`, which
/// never blocks, until `EAGAIN` or EOF; returns the bytes and whether EOF
/// was reached. Errors fail the test.
fn recv_available(ours: &TcpStream) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match socket::recv(ours, &mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (out, false),
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// Makes `peer` reset its connection with `ours` (`SO_LINGER {1, 0}` and
/// close) and waits until the RST has reached `ours` (`EPOLLERR`).
fn reset_by_peer(ours: &TcpStream, peer: TcpStream) {
    let mut watch = Watch::epoll();
    watch.add(ours, OURS, Interest::READABLE);
    socket::set_linger_zero(&peer).expect("SO_LINGER {1, 0}");
    drop(peer);
    watch.wait(OURS, |r| r.error);
}

// ---------------------------------------------------------------------
// close() and RST
// ---------------------------------------------------------------------

/// Model: "`close()` with unread input sends RST, not FIN"
/// (`kernel.rs`; docs/model.md). `System::proxy_close` (the core's
/// `Action::SockClose { abortive: false }`) and `SysAction::PeerCloses`
/// compute `unread` (the closer's incoming wire still holds chunks) and
/// then call `Wire::reset` on the other direction instead of setting its
/// `fin`; the property "the proxy's
/// RST never destroys data a peer has not read" and the `close-without-drain`
/// mutant rest on it.
///
/// Linux (`__tcp_close`, `TCPAbortOnClose`): the closer sends RST even
/// though its own data went out before; it leaves no TIME-WAIT. The peer
/// first reads the data it had already received, then gets `ECONNRESET`
/// once, then 0.
#[test]
fn close_with_unread_input_sends_rst() {
    let mut p = Pair::loopback();
    let (ours_port, peer_port) = p.ports();

    // Our response reaches the peer, which does not read it yet.
    assert_eq!(socket::send(&p.ours, b"response", false).expect("send"), 8);
    let mut head = [0u8; 8];
    assert_eq!(p.peer.peek(&mut head).expect("peer peeks the response"), 8);
    // The peer's request reaches us; we do not read it.
    write_all(&mut p.peer, b"request");
    assert_eq!(p.ours.peek(&mut head).expect("we peek the request"), 7);
    let before = row(ours_port, peer_port).expect("our socket is in the table");
    assert_eq!((before.state, before.rx_queue), (TcpState::Established, 7), "7 unread bytes");

    let mut watch = Watch::epoll();
    watch.add(&p.peer, PEER, Interest::READABLE);
    drop(p.ours);
    let seen = watch.wait(PEER, |r| r.error);
    assert!(seen.readable && seen.read_closed, "an RST is readable and read-closed: {seen:?}");

    assert_eq!(read_once(&mut p.peer).expect("data received before the RST"), b"response");
    assert_eq!(kind(&read_once(&mut p.peer)), Some(ConnectionReset), "then the RST");
    assert_eq!(read_once(&mut p.peer).expect("then EOF"), b"");
    assert_eq!(row(ours_port, peer_port), None, "the closer left no TIME-WAIT");
    assert_eq!(row(peer_port, ours_port), None, "the peer's socket is closed by the RST");
}

/// Model: "a peer that receives an RST loses what it had received and not
/// yet read" (`kernel.rs`); `Wire::reset` "clears the queue": everything
/// sent and not read, wherever it is. `System::peer_read` then reads the
/// RST at once; the property "the proxy's RST never destroys data a peer
/// has not read" counts every cleared chunk as destroyed. The proxy is not
/// such a peer: an RST that reaches it (`Wire::reset_at_proxy`) leaves the
/// chunks on its wire, which its recv returns first, then `Outcome::Reset`.
///
/// Linux: what the receiver had *received* survives the RST. Its reads
/// return every byte that reached its receive queue, then fail once with
/// `ECONNRESET`, then return 0 (`tcp_reset` purges the write queue, not the
/// receive queue; `tcp_recvmsg` takes queued data before it looks at
/// `sk_err`). What is lost is what had not reached it: the closer's unsent
/// (or unacknowledged) queue. For the peers, the model's loss is a superset
/// of Linux's: it flags every RST that Linux makes lose data, and some that
/// Linux does not. For the proxy, the model's wire holds what its socket
/// received (on loopback a peer's write is in the proxy's socket when it
/// returns), and it reads all of it, as Linux lets it: a
/// runtime that took the poller's error flag for the end of what it can
/// read dropped the chunks (the replay diverges at the proxy's recv, and
/// `impl/tests/proxy_abort.rs` shows a client losing a whole response).
#[test]
fn rst_loses_what_the_receiver_had_not_received_not_what_it_had_not_read() {
    let mut p = Pair::loopback_with(Buffers::SMALL, Buffers::SMALL);
    let (ours_port, peer_port) = p.ports();
    // Unread input at our side, so that our close() is an RST.
    write_all(&mut p.peer, b"?");
    assert_eq!(p.ours.peek(&mut [0u8; 1]).expect("we peek the request"), 1);
    // More than both buffers hold: part sits in the peer's receive queue,
    // part in our send queue.
    let sent = fill(&p.ours, 0);
    let ours_row = row(ours_port, peer_port).expect("our socket");
    let peer_row = row(peer_port, ours_port).expect("the peer's socket");
    assert!(ours_row.tx_queue > 0, "our send queue holds data: {ours_row:?}");
    assert!(peer_row.rx_queue > 0, "the peer received data it did not read: {peer_row:?}");

    let mut watch = Watch::epoll();
    watch.add(&p.peer, PEER, Interest::READABLE);
    drop(p.ours);
    watch.wait(PEER, |r| r.error);

    let (got, err) = read_until_error(&mut p.peer);
    assert_eq!(err.kind(), ConnectionReset);
    assert!(is_pattern_prefix(&got), "what survives is a clean prefix");
    assert!(
        got.len() >= peer_row.rx_queue as usize,
        "every byte received before the RST is read after it: {} < {}",
        got.len(),
        peer_row.rx_queue
    );
    assert!(got.len() < sent, "the unsent tail is lost: {} of {sent}", got.len());
    assert_eq!(read_once(&mut p.peer).expect("EOF after the error"), b"");
}

/// Model: "`close()` with `SO_LINGER {1, 0}` sends RST and discards the
/// send queue" (`kernel.rs`). The core's `Action::SockClose { abortive:
/// true }` and `SysAction::PeerAborts` reset the other direction whatever
/// is queued.
///
/// Linux: the close sends RST at once, discards the send queue (the peer
/// reads a strict prefix of what was written, then `ECONNRESET`), and the
/// socket goes to CLOSE without TIME-WAIT: the kernel's socket table
/// (`NETLINK_SOCK_DIAG`, as ss(8) reads it) no longer has the 4-tuple.
/// Compare [`ordinary_close_by_the_active_closer_leaves_time_wait`].
#[test]
fn linger_zero_close_sends_rst_discards_the_send_queue_and_leaves_no_time_wait() {
    let mut p = Pair::loopback_with(Buffers::SMALL, Buffers::SMALL);
    let (ours_port, peer_port) = p.ports();
    let sent = fill(&p.ours, 0);
    assert!(row(ours_port, peer_port).expect("our socket").tx_queue > 0, "our send queue holds data");

    let mut watch = Watch::epoll();
    watch.add(&p.peer, PEER, Interest::READABLE);
    socket::set_linger_zero(&p.ours).expect("SO_LINGER {1, 0}");
    drop(p.ours);
    watch.wait(PEER, |r| r.error);

    assert_eq!(row(ours_port, peer_port), None, "no TIME-WAIT (nor any state) for the closer");
    let (got, err) = read_until_error(&mut p.peer);
    assert_eq!(err.kind(), ConnectionReset);
    assert!(is_pattern_prefix(&got));
    assert!(got.len() < sent, "the send queue was discarded: {} of {sent} arrived", got.len());
    assert_eq!(row(peer_port, ours_port), None, "the peer's socket is closed by the RST");
}

/// The contrast to the abortive close (model: `proxy_close` without unread
/// input sets `fin`): an ordinary `close()` by the side that sends the
/// first FIN leaves the 4-tuple in TIME-WAIT in the kernel's socket table
/// once the peer closes too (RFC 9293 3.6).
#[test]
fn ordinary_close_by_the_active_closer_leaves_time_wait() {
    let mut p = Pair::loopback();
    let (ours_port, peer_port) = p.ports();
    drop(p.ours);
    assert_eq!(read_once(&mut p.peer).expect("the peer reads our FIN"), b"");
    drop(p.peer);
    let r = fixture::eventually("TIME-WAIT for the active closer", || {
        row(ours_port, peer_port).filter(|r| r.state == TcpState::TimeWait)
    });
    assert_eq!((r.tx_queue, r.rx_queue), (0, 0));
}

/// Model: `proxy_close` counts as "unread input" only data chunks
/// (`unread = !up.q.is_empty()`), not a FIN that was not read yet: such a
/// close sets `fin`, no RST.
///
/// Linux agrees: `__tcp_close` counts unread bytes without the FIN flag, so
/// closing with only the peer's FIN pending sends a FIN; the peer reads 0,
/// not `ECONNRESET`, and no error is pending on it.
#[test]
fn close_with_only_the_peers_fin_unread_sends_no_rst() {
    let mut p = Pair::loopback();
    let (ours_port, peer_port) = p.ports();
    let mut watch = Watch::epoll();
    watch.add(&p.ours, OURS, Interest::READABLE);
    p.peer.shutdown(Shutdown::Write).expect("peer FIN");
    watch.wait(OURS, |r| r.read_closed);
    let r = row(ours_port, peer_port).expect("our socket");
    // rx_queue counts sequence numbers: the FIN's one, and no data byte.
    assert_eq!((r.state, r.rx_queue), (TcpState::CloseWait, 1), "the FIN is there, unread, alone");

    drop(p.ours);
    assert_eq!(read_once(&mut p.peer).expect("a FIN, not an RST"), b"");
    assert!(socket::take_error(&p.peer).expect("SO_ERROR").is_none(), "no reset is pending");
}

/// Model: the lingering close the core performs (docs/model.md: "active
/// shutr: ... shutw, drain until read0 (or the fin timer), close") relies on
/// `proxy_close` sending no RST once the input is drained: `unread` is
/// false, so the wire gets no `reset` and the property "the proxy's RST
/// never destroys data a peer has not read" holds; the witness "the proxy
/// drains input before it closes" takes this path.
///
/// Linux agrees (RFC 9112 9.6): after `shutdown(SHUT_WR)`, reading the
/// peer's data and FIN, `close()` sends no RST: the peer reads 0 again and
/// has no error pending; our side, the first to send a FIN, ends in
/// TIME-WAIT.
#[test]
fn close_after_shutdown_write_and_reading_the_peers_fin_sends_no_rst() {
    let mut p = Pair::loopback();
    let (ours_port, peer_port) = p.ports();
    assert_eq!(socket::send(&p.ours, b"response", false).expect("send"), 8);
    socket::shutdown_write(&p.ours).expect("shutdown(SHUT_WR)");
    assert_eq!(read_to_eof(&mut p.peer), b"response");

    let mut watch = Watch::epoll();
    watch.add(&p.ours, OURS, Interest::READABLE);
    write_all(&mut p.peer, b"tail");
    p.peer.shutdown(Shutdown::Write).expect("peer FIN");
    let mut drained = Vec::new();
    loop {
        let (got, eof) = recv_available(&p.ours);
        drained.extend_from_slice(&got);
        if eof {
            break;
        }
        watch.wait(OURS, |r| r.readable);
    }
    assert_eq!(drained, b"tail", "we drained the peer's data up to its FIN");

    drop(p.ours);
    assert_eq!(read_once(&mut p.peer).expect("no RST: EOF again"), b"");
    assert!(socket::take_error(&p.peer).expect("SO_ERROR").is_none(), "no reset is pending");
    fixture::eventually("TIME-WAIT after the lingering close", || {
        row(ours_port, peer_port).filter(|r| r.state == TcpState::TimeWait)
    });
}

// ---------------------------------------------------------------------
// FIN
// ---------------------------------------------------------------------

/// Model: "`close()` and `shutdown(SHUT_WR)` queue a FIN behind the data"
/// (`kernel.rs`): the core's `Action::CtrlShutw` and `SysAction::PeerShutsWrite`
/// set the wire's `fin`, which a reader sees only once the queue is empty
/// (`recv`: `None if fin => Outcome::Eof`; `peer_read` reads the FIN after
/// every chunk). The property "a FIN is forwarded only after every chunk
/// before it" rests on it, and the half-closed connection keeps reading
/// (docs/model.md, note paragraph 23).
///
/// Linux agrees: `shutdown(SHUT_WR)` does not block and moves the socket to
/// FIN-WAIT-1 with data still unsent; the peer reads every byte, in order,
/// then 0; the other direction stays open both ways.
#[test]
fn shutdown_write_queues_fin_behind_unsent_data() {
    let mut p = Pair::loopback_with(Buffers::SMALL, Buffers::SMALL);
    let (ours_port, peer_port) = p.ports();
    let sent = fill(&p.ours, 0);
    let before = row(ours_port, peer_port).expect("our socket");
    assert!(before.tx_queue > 0, "data is still unsent: {before:?}");

    socket::shutdown_write(&p.ours).expect("shutdown(SHUT_WR) does not block");
    assert_eq!(row(ours_port, peer_port).expect("our socket").state, TcpState::FinWait1);

    let got = read_to_eof(&mut p.peer);
    assert_eq!(got.len(), sent, "every byte before the FIN");
    assert!(is_pattern_prefix(&got), "in order");

    // The other direction is still open.
    let mut watch = Watch::epoll();
    watch.add(&p.ours, OURS, Interest::READABLE);
    write_all(&mut p.peer, b"still open");
    watch.wait(OURS, |r| r.readable);
    assert_eq!(recv_available(&p.ours), (b"still open".to_vec(), false));
    p.peer.shutdown(Shutdown::Write).expect("peer FIN");
    watch.wait(OURS, |r| r.read_closed);
    assert_eq!(recv_available(&p.ours), (Vec::new(), true));
}

/// Model: "otherwise `close()` ... queue[s] a FIN behind the data"
/// (`kernel.rs`): `proxy_close` without unread input sets `fin` behind the
/// queued chunks, so the peer still reads every chunk the proxy had sent
/// (`peer_read`), even though the proxy's socket is closed.
///
/// Linux agrees: the closed socket becomes an orphan in FIN-WAIT-1 that
/// keeps its send queue and keeps sending it; the peer reads every byte,
/// then 0.
#[test]
fn close_queues_fin_behind_unsent_data_and_the_orphan_keeps_sending() {
    let mut p = Pair::loopback_with(Buffers::SMALL, Buffers::SMALL);
    let (ours_port, peer_port) = p.ports();
    let sent = fill(&p.ours, 0);
    drop(p.ours);
    let orphan = row(ours_port, peer_port).expect("the orphan is still in the table");
    assert_eq!(orphan.state, TcpState::FinWait1);
    assert!(orphan.tx_queue > 0, "the orphan still holds unsent data: {orphan:?}");

    let got = read_to_eof(&mut p.peer);
    assert_eq!(got.len(), sent, "every byte, then the FIN");
    assert!(is_pattern_prefix(&got));
}

/// Model: after `SysAction::PeerShutsWrite` the peer can still read
/// (`peer_read` has no condition on `shut_wr`), so the proxy keeps sending
/// to a half-closed peer (the witness "the server closes while the client
/// still sends, and the client reads the whole response" rests on it, from
/// the other side).
///
/// Linux agrees: after its `shutdown(SHUT_WR)` the peer receives a stream
/// of any length until our FIN.
#[test]
fn a_half_closed_socket_still_receives() {
    const LEN: usize = 512 * 1024;
    let mut p = Pair::loopback();
    p.peer.shutdown(Shutdown::Write).expect("peer FIN");
    assert_eq!(read_once(&mut p.ours).expect("we read the peer's FIN"), b"");

    let mut ours = p.ours;
    let writer = thread::spawn(move || {
        ours.write_all(&pattern(0, LEN)).expect("we write to the half-closed peer");
        socket::shutdown_write(&ours).expect("our FIN");
        ours
    });
    let got = read_to_eof(&mut p.peer);
    drop(writer.join().expect("writer thread"));
    assert_eq!(got.len(), LEN);
    assert!(is_pattern_prefix(&got));
}

// ---------------------------------------------------------------------
// Data for a closed socket
// ---------------------------------------------------------------------

/// Model: "data arriving for a closed socket is answered with RST"
/// (`kernel.rs`): `System::peer_push` into a socket the proxy closed resets
/// the peer's incoming wire, destroying the chunks the proxy had sent and
/// the peer had not read; the property "the proxy's RST never destroys
/// data a peer has not read" counts them (tcp-close-semantics: "this is how
/// a proxy that closes too early loses the tail of a response").
///
/// Linux: the orphan (FIN-WAIT-1, read side shut) answers the peer's data
/// with RST (`TCPAbortOnData`) and is destroyed with its unsent queue. The
/// peer, still ESTABLISHED (our FIN was behind the lost data), reads what
/// it had received, then `ECONNRESET`. Linux differs from the model as in
/// [`rst_loses_what_the_receiver_had_not_received_not_what_it_had_not_read`]:
/// the lost part is the unsent tail, not the received-and-unread part.
#[test]
fn data_for_a_closed_socket_is_answered_with_rst_and_the_unsent_tail_is_lost() {
    let mut p = Pair::loopback_with(Buffers::SMALL, Buffers::SMALL);
    let (ours_port, peer_port) = p.ports();
    let sent = fill(&p.ours, 0);
    drop(p.ours);
    let orphan = row(ours_port, peer_port).expect("the orphan");
    assert!(orphan.state == TcpState::FinWait1 && orphan.tx_queue > 0, "an orphan with a tail: {orphan:?}");

    let mut watch = Watch::epoll();
    watch.add(&p.peer, PEER, Interest::READABLE);
    write_all(&mut p.peer, b"late request");
    watch.wait(PEER, |r| r.error);

    assert_eq!(row(ours_port, peer_port), None, "the orphan is gone, and its queue with it");
    let (got, err) = read_until_error(&mut p.peer);
    assert_eq!(err.kind(), ConnectionReset);
    assert!(is_pattern_prefix(&got));
    assert!(got.len() < sent, "the tail is lost: {} of {sent}", got.len());
}

/// Model: `System::proxy_push` to a peer that closed: "Data for a closed
/// socket: RST back", by `Wire::reset_at_proxy` on the proxy's incoming
/// wire. When the peer's FIN is on that wire (it came before the RST), the
/// queued chunks and the FIN stay (`Wire::rst_after_fin`): recv returns
/// them, then `Outcome::Eof`, and only sends (and a TLS handshake step) are
/// `Outcome::Reset`; the send that provoked the RST itself succeeds
/// (`Outcome::Sent`) and the socket is reported readable and writable.
/// Without a FIN before it, the proxy's recv returns what the wire holds,
/// then `Outcome::Reset`, and every send is `Outcome::Reset`. The runtime
/// follows: `EPIPE` as a socket's first error fails the writes only
/// (`runtime::exec`), and a read of 0 with `EPIPE` pending is the end of
/// stream (`runtime::handshake::eof_or_reset`); an `ECONNRESET` fails the
/// writes at once and the reads once the socket gave what it held.
///
/// Linux: the send that provokes the RST succeeds, and the RST comes as an
/// event (`EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP`). Our
/// socket had the peer's FIN already (CLOSE-WAIT), so the RST sets `EPIPE`,
/// not `ECONNRESET`, and reads do not fail: recv returns the data still
/// queued, then 0 (EOF), and never `ECONNRESET`; the pending error is
/// `EPIPE` (`SO_ERROR`), and sends fail with `EPIPE`.
#[test]
fn data_for_a_closed_socket_after_its_fin_arrived_is_answered_with_rst_seen_as_epipe() {
    let mut p = Pair::loopback();
    let mut watch = Watch::epoll();
    watch.add(&p.ours, OURS, Interest::READABLE | Interest::WRITABLE);
    // The server answers and closes; we read nothing yet.
    write_all(&mut p.peer, b"response");
    drop(p.peer);
    watch.wait(OURS, |r| r.read_closed);

    assert_eq!(socket::send(&p.ours, b"late", false).expect("the send that provokes the RST succeeds"), 4);
    let seen = watch.wait(OURS, |r| r.error);
    assert!(
        seen.readable && seen.writable && seen.read_closed && seen.write_closed,
        "RST: readable, writable, error, read- and write-closed: {seen:?}"
    );

    assert_eq!(recv_available(&p.ours), (b"response".to_vec(), true), "the data, then EOF");
    assert_eq!(recv_available(&p.ours), (Vec::new(), true), "EOF again, not ECONNRESET");
    let pending = socket::take_error(&p.ours).expect("SO_ERROR").expect("the RST left an error");
    assert_eq!(pending.kind(), BrokenPipe, "an RST in CLOSE-WAIT is EPIPE");
    assert_eq!(kind(&socket::send(&p.ours, b"x", false)), Some(BrokenPipe));
}

// ---------------------------------------------------------------------
// Errors after an RST
// ---------------------------------------------------------------------

/// Model: "send after an RST is EPIPE/ECONNRESET" (`kernel.rs`): the
/// proxy's `send` on a wire whose `rst` is set returns `Outcome::Reset`,
/// every time.
///
/// Linux: the first send after the RST fails with `ECONNRESET` (it takes the
/// pending error), every later one with `EPIPE`. `sys::socket::send` passes
/// `MSG_NOSIGNAL`, so the failure is an error and not a signal (see the
/// module doc for why the absence of SIGPIPE is checked in `impl/`).
#[test]
fn send_after_the_peers_rst_fails_with_econnreset_then_epipe() {
    let p = Pair::loopback();
    reset_by_peer(&p.ours, p.peer);
    assert_eq!(kind(&socket::send(&p.ours, b"late", false)), Some(ConnectionReset), "first send");
    assert_eq!(kind(&socket::send(&p.ours, b"later", false)), Some(BrokenPipe), "second send");
    assert_eq!(kind(&socket::send(&p.ours, b"again", true)), Some(BrokenPipe), "third send");
}

/// Model: "recv returns data, then 0 at the FIN, or ECONNRESET after an RST"
/// (`kernel.rs`): the proxy's `recv` (and `RecvProxyHeader`, the TLS
/// handshake) on a wire whose `rst` is set returns `Outcome::Reset`, every
/// time.
///
/// Linux differs after the first call: the first recv after the RST fails
/// with `ECONNRESET`; the error is then consumed, and every later recv
/// returns 0, as at a FIN (the runtime then sees `Outcome::Eof`, not
/// `Outcome::Reset`). Sends then fail with `EPIPE`.
#[test]
fn recv_after_the_peers_rst_fails_with_econnreset_then_reads_zero() {
    let p = Pair::loopback();
    reset_by_peer(&p.ours, p.peer);
    let mut buf = [0u8; 64];
    assert_eq!(kind(&socket::recv(&p.ours, &mut buf)), Some(ConnectionReset), "first recv");
    assert_eq!(socket::recv(&p.ours, &mut buf).expect("second recv"), 0);
    assert_eq!(socket::recv(&p.ours, &mut buf).expect("third recv"), 0);
    assert_eq!(kind(&socket::send(&p.ours, b"x", false)), Some(BrokenPipe));
}

/// Model: `Wire::rst` is sticky: "its next recv or send fails", and so does
/// every one after it (`Outcome::Reset` from `recv`, `send`,
/// `RecvProxyHeader`, `DataShutw`).
///
/// Linux differs: the RST leaves one pending error (`sk_err`), reported
/// once, to whichever call comes first: recv, send, peek (the runtime's
/// PROXY-header read) or `SO_ERROR` (`take_error`, the runtime's
/// `FinishConnect`). After that, recv returns 0 (EOF) and send fails with
/// `EPIPE`. So a recv after a failed send sees EOF, not a reset: the
/// runtime must treat EPIPE from send as the reset.
#[test]
fn the_rst_error_is_reported_once_to_whichever_call_comes_first() {
    type First = fn(&TcpStream) -> Option<ErrorKind>;
    let firsts: [(&str, First); 4] = [
        ("recv", |s| kind(&socket::recv(s, &mut [0u8; 16]))),
        ("send", |s| kind(&socket::send(s, b"x", false))),
        ("peek", |s| kind(&socket::peek(s, &mut [0u8; 16]))),
        ("SO_ERROR", |s| socket::take_error(s).expect("getsockopt").map(|e| e.kind())),
    ];
    for (name, first) in firsts {
        let p = Pair::loopback();
        reset_by_peer(&p.ours, p.peer);
        assert_eq!(first(&p.ours), Some(ConnectionReset), "{name} takes the reset");
        assert!(socket::take_error(&p.ours).expect("SO_ERROR").is_none(), "after {name}: nothing pending");
        assert_eq!(socket::recv(&p.ours, &mut [0u8; 16]).expect("recv after the error"), 0, "after {name}");
        assert_eq!(socket::peek(&p.ours, &mut [0u8; 16]).expect("peek after the error"), 0, "after {name}");
        assert_eq!(kind(&socket::send(&p.ours, b"x", false)), Some(BrokenPipe), "after {name}");
    }
}

/// Model: an RST destroys what the reset side had queued for sending:
/// `SysAction::PeerAborts` (and `PeerCloses` with unread input) clears the
/// wire towards the closing peer, and the proxy's later `send` is
/// `Outcome::Reset`.
///
/// Linux agrees: the RST purges our send queue (`tcp_write_queue_purge`)
/// and closes our socket: it leaves the socket table at once, so nothing
/// of the queue is ever sent; the first send fails with `ECONNRESET`.
#[test]
fn rst_received_while_data_is_queued_for_sending_discards_the_send_queue() {
    let p = Pair::loopback_with(Buffers::SMALL, Buffers::SMALL);
    let (ours_port, peer_port) = p.ports();
    fill(&p.ours, 0);
    assert!(row(ours_port, peer_port).expect("our socket").tx_queue > 0, "our send queue holds data");

    // The peer closes with our data unread: an RST.
    let mut watch = Watch::epoll();
    watch.add(&p.ours, OURS, Interest::WRITABLE);
    drop(p.peer);
    let seen = watch.wait(OURS, |r| r.error);
    assert!(seen.writable && seen.write_closed, "the RST wakes a writer too: {seen:?}");

    assert_eq!(row(ours_port, peer_port), None, "our socket and its send queue are gone");
    assert_eq!(kind(&socket::send(&p.ours, b"x", false)), Some(ConnectionReset));
}

/// Model: `Action::CtrlShutw` on a side whose peer reset returns
/// `Outcome::Done` without a FIN (`if !down.rst { fin = true }`): the
/// shutdown sequence goes on (tcp-close-semantics: "ENOTCONN from
/// shutdown() during teardown is harmless; ignore it").
///
/// Linux: `shutdown(SHUT_WR)` on a reset socket fails with `ENOTCONN`
/// (the socket is in CLOSE) and leaves the pending `ECONNRESET` in place;
/// the runtime's `shutdown_write` ignores `ENOTCONN` and returns `Ok`.
#[test]
fn shutdown_write_after_the_peers_rst_fails_with_enotconn() {
    let p = Pair::loopback();
    reset_by_peer(&p.ours, p.peer);
    assert_eq!(kind(&SockRef::from(&p.ours).shutdown(Shutdown::Write)), Some(NotConnected));
    socket::shutdown_write(&p.ours).expect("the runtime's shutdown_write ignores ENOTCONN");
    let pending = socket::take_error(&p.ours).expect("SO_ERROR").expect("still pending");
    assert_eq!(pending.kind(), ConnectionReset, "shutdown did not take the error");
}

// ---------------------------------------------------------------------
// EAGAIN and readiness
// ---------------------------------------------------------------------

/// Model: `recv` on an empty wire without FIN is `Outcome::WouldBlock`, and
/// the core waits for the next readiness (`handle_ready`) before it reads
/// again (property "every step makes progress", mutant `retry-wouldblock`).
///
/// Linux agrees: recv (and splice into a pipe) on an empty socket fails
/// with `EAGAIN` (`WouldBlock`), even on a blocking socket, since the
/// runtime passes `MSG_DONTWAIT`; the peer's next write is a readable edge.
#[test]
fn recv_on_an_empty_socket_would_block() {
    let mut p = Pair::loopback();
    let mut buf = [0u8; 16];
    let err = socket::recv(&p.ours, &mut buf).expect_err("nothing to read");
    assert_eq!(err.kind(), WouldBlock);
    p.ours.set_nonblocking(true).expect("O_NONBLOCK for splice");
    let mut pipe = Pipe::new().expect("pipe2");
    assert_eq!(kind(&pipe.splice_in(&p.ours, 1024)), Some(WouldBlock), "splice_in too");

    let mut watch = Watch::epoll();
    watch.add(&p.ours, OURS, Interest::READABLE);
    write_all(&mut p.peer, b"now");
    watch.wait(OURS, |r| r.readable);
    assert_eq!(recv_available(&p.ours), (b"now".to_vec(), false));
}

/// Model: "send on a full wire is EAGAIN" (`kernel.rs`): the proxy's `send`
/// on a wire holding `wire_cap` chunks returns `Outcome::WouldBlock`
/// (`Wire::full`), the core records `FULL_OUT` and sends again when the
/// peer's read makes the socket writable (`peer_read` notifies writable);
/// property "the core's fill levels match the data the runtime holds".
///
/// Linux agrees: with the peer not reading, send fails with `EAGAIN` and
/// keeps failing; once the peer reads, the edge-triggered poller reports
/// the socket writable and send succeeds again.
#[test]
fn send_on_a_full_buffer_would_block_until_the_peer_reads() {
    let p = Pair::loopback_with(Buffers::SMALL, Buffers::SMALL);
    let mut watch = Watch::epoll();
    watch.add(&p.ours, OURS, Interest::WRITABLE);
    // Fill until EAGAIN with no writable edge pending: a segment still in
    // flight when the first EAGAIN came may free room and raise an edge.
    let deadline = Instant::now() + fixture::HANG_GUARD;
    let mut sent = fill(&p.ours, 0);
    while watch.pending().iter().any(|(t, r)| *t == OURS && r.writable) {
        assert!(Instant::now() < deadline, "the send buffer never stayed full");
        sent += fill(&p.ours, sent);
    }
    assert!(sent > 0);
    let again = socket::send(&p.ours, &pattern(sent, 1), false);
    assert_eq!(kind(&again), Some(WouldBlock), "still full while the peer does not read");

    // The peer reads (without blocking) whenever it is readable, until we
    // are told we may write again.
    p.peer.set_nonblocking(true).expect("O_NONBLOCK");
    watch.add(&p.peer, PEER, Interest::READABLE);
    let mut read = Vec::new();
    loop {
        let events = watch.poll(fixture::HANG_GUARD);
        assert!(!events.is_empty(), "no event within {:?}: the test is stuck", fixture::HANG_GUARD);
        if events.iter().any(|(t, r)| *t == OURS && r.writable) {
            break;
        }
        if events.iter().any(|(t, r)| *t == PEER && r.readable) {
            read.extend_from_slice(&recv_available(&p.peer).0);
        }
    }
    assert!(!read.is_empty() && is_pattern_prefix(&read), "the peer read a clean prefix");
    let n = socket::send(&p.ours, &pattern(sent, 1024), false).expect("send succeeds after the peer read");
    assert!(n > 0);
}

/// Model: "a refused connect reports an error on the socket" (docs/model.md):
/// the core's `Action::Connect` is `Outcome::InProgress`; `SysAction::ServerRefuses`
/// makes the back socket readable and writable (`notify(Back, true, true)`),
/// and the core's `Action::FinishConnect` then gets `Outcome::Refused` (the
/// runtime reads `SO_ERROR` with `take_error`).
///
/// Linux on loopback: a non-blocking `connect()` to a bound port nobody
/// listens on returns `EINPROGRESS`, never `ECONNREFUSED` at once
/// (`connect()` holds the socket lock while the SYN goes out, so the RST
/// that answers it waits in the socket's backlog until the call returns); the
/// socket then becomes readable, writable, in error and closed both ways,
/// and `SO_ERROR` is `ECONNREFUSED`, once. A blocking connect fails with
/// `ECONNREFUSED` directly.
#[test]
fn nonblocking_connect_to_a_bound_port_without_listener_is_refused() {
    // A bound port nobody listens on; holding it keeps it ours.
    let holder = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("a literal address");
    holder.bind(&any.into()).expect("bind");
    let addr = holder.local_addr().expect("local address").as_socket().expect("an IP address");

    let stream = mio::net::TcpStream::connect(addr).expect("EINPROGRESS, not an immediate ECONNREFUSED");
    let mut watch = Watch::epoll();
    watch.add(&stream, OURS, Interest::READABLE | Interest::WRITABLE);
    let seen = watch.wait(OURS, |r| r.writable);
    assert!(
        seen.readable && seen.error && seen.read_closed && seen.write_closed,
        "a refused connect: readable, writable, error, closed both ways: {seen:?}"
    );
    let err = socket::take_error(&stream).expect("getsockopt(SO_ERROR)").expect("the connect failed");
    assert_eq!(err.kind(), ConnectionRefused);
    assert!(socket::take_error(&stream).expect("getsockopt(SO_ERROR)").is_none(), "reported once");

    let blocking = TcpStream::connect(addr);
    assert_eq!(kind(&blocking), Some(ConnectionRefused), "a blocking connect fails at once");
}

/// Model: "readiness is edge-triggered; a peer's write or FIN makes the
/// socket readable" (docs/model.md): every `SysAction::PeerSends` calls
/// `Session::handle_ready(readable)`, whether or not earlier data is still
/// unread, and the core reads until `WouldBlock`.
///
/// Linux agrees (epoll(7), `EPOLLET` as mio registers): each arrival of
/// data is a new edge even while earlier data is unread, and no event
/// repeats without a new arrival.
#[test]
fn each_peer_write_is_a_new_readable_edge() {
    let mut p = Pair::loopback();
    let mut watch = Watch::epoll();
    watch.add(&p.ours, OURS, Interest::READABLE);
    assert!(watch.pending().is_empty(), "nothing to read, no event");

    write_all(&mut p.peer, b"a");
    let first = watch.wait(OURS, |r| r.readable);
    assert!(!first.read_closed, "data is not a FIN: {first:?}");
    assert!(watch.pending().is_empty(), "edge-triggered: unread data raises no second event");

    write_all(&mut p.peer, b"b");
    watch.wait(OURS, |r| r.readable);
    assert_eq!(recv_available(&p.ours), (b"ab".to_vec(), false));
    assert!(watch.pending().is_empty());
}

/// Model: the peer's FIN makes the socket readable (`SysAction::PeerShutsWrite`
/// calls `handle_ready(readable)`), and `recv` returns every queued chunk
/// before `Outcome::Eof` (`None if fin`); `RecvProxyHeader` with nothing
/// queued returns `Outcome::EofEmpty`, which the runtime gets from `peek`
/// returning 0. tcp-close-semantics: "EPOLLRDHUP (mio `is_read_closed`)
/// signals the peer's FIN".
///
/// Linux agrees: the FIN is an edge with `EPOLLIN | EPOLLRDHUP`; peek shows
/// the queued data without taking it; recv returns the data, then 0, and 0
/// again; a peek past the FIN returns 0.
#[test]
fn peer_fin_shows_as_read_closed_and_reads_return_zero_after_the_data() {
    let mut p = Pair::loopback();
    let mut watch = Watch::epoll();
    watch.add(&p.ours, OURS, Interest::READABLE);
    write_all(&mut p.peer, b"tail");
    p.peer.shutdown(Shutdown::Write).expect("peer FIN");
    let seen = watch.wait(OURS, |r| r.read_closed);
    assert!(seen.readable && !seen.error && !seen.write_closed, "a FIN: readable, read-closed: {seen:?}");

    let mut buf = [0u8; 16];
    assert_eq!(socket::peek(&p.ours, &mut buf).expect("peek"), 4, "peek shows the data");
    assert_eq!(&buf[..4], b"tail");
    assert_eq!(recv_available(&p.ours), (b"tail".to_vec(), true), "the data, then 0");
    assert_eq!(socket::recv(&p.ours, &mut buf).expect("EOF is sticky"), 0);
    assert_eq!(socket::peek(&p.ours, &mut buf).expect("peek at EOF"), 0);
}

/// Model: an RST reaching the proxy makes its socket readable and writable
/// (`proxy_push` into a closed peer: `ev.set(side, true, true)`;
/// `peer_close`: `notify(side, true, true)`), so the core's next recv or
/// send learns of it.
///
/// Linux agrees: the RST is one edge with readable, writable, error
/// (`EPOLLERR`) and closed both ways (`EPOLLHUP | EPOLLRDHUP`).
#[test]
fn peer_rst_shows_as_error_readable_and_writable() {
    let p = Pair::loopback();
    let mut watch = Watch::epoll();
    watch.add(&p.ours, OURS, Interest::READABLE | Interest::WRITABLE);
    watch.wait(OURS, |r| r.writable);
    socket::set_linger_zero(&p.peer).expect("SO_LINGER {1, 0}");
    drop(p.peer);
    let seen = watch.wait(OURS, |r| r.error);
    assert!(
        seen.readable && seen.writable && seen.read_closed && seen.write_closed,
        "an RST: readable, writable, error, closed both ways: {seen:?}"
    );
}

/// Model: the core closes a connection's layers in order, `DCLO -> CCLO
/// (deregister) -> FCLO (close(2))` (property "layers close top-down",
/// mutant `close-fd-before-data`), following tcp-close-semantics:
/// "Deregister from epoll before close (epoll tracks the open file
/// description, not the fd number)".
///
/// Linux agrees: closing a registered fd while a duplicate keeps its socket
/// open does not remove the registration; events keep coming under the
/// closed fd's token, for a number that may already name another file.
#[test]
fn epoll_reports_a_closed_fd_while_a_duplicate_keeps_its_socket_open() {
    let mut p = Pair::loopback();
    let duplicate = p.ours.try_clone().expect("dup");
    let mut watch = Watch::epoll();
    watch.add(&p.ours, OURS, Interest::READABLE);
    drop(p.ours);
    write_all(&mut p.peer, b"x");
    let seen = watch.wait(OURS, |r| r.readable);
    assert!(seen.readable, "an event for a closed fd's token");
    assert_eq!(recv_available(&duplicate), (b"x".to_vec(), false));
}

// ---------------------------------------------------------------------
// splice
// ---------------------------------------------------------------------

/// Model: with the `splice` feature, `recv(.., Sink::Pipe)` and
/// `send(Source::Pipe)` move chunks over the same wires with the same
/// outcomes as the buffer (`Outcome::Data`, `Outcome::Eof` at the FIN);
/// the property "no chunk is lost, duplicated or reordered on its way"
/// covers both.
///
/// Linux agrees: `splice` socket -> pipe -> socket moves a 4 MiB patterned
/// stream unchanged, and `splice_in` returns 0 at the client's FIN, and
/// again after it.
#[test]
fn splice_moves_a_4_mib_stream_in_order_and_reports_eof_as_zero() {
    const TOTAL: usize = 4 * 1024 * 1024;
    // client -> [front | pipe | back] -> server
    let front = Pair::loopback();
    let back = Pair::loopback();
    let (front_sock, mut client) = (front.ours, front.peer);
    let (back_sock, mut server) = (back.ours, back.peer);
    front_sock.set_nonblocking(true).expect("O_NONBLOCK");
    back_sock.set_nonblocking(true).expect("O_NONBLOCK");

    let writer = thread::spawn(move || {
        let mut sent = 0;
        while sent < TOTAL {
            let n = 10_007.min(TOTAL - sent);
            client.write_all(&pattern(sent, n)).expect("client write");
            sent += n;
        }
        client.shutdown(Shutdown::Write).expect("client FIN");
        client
    });
    let reader = thread::spawn(move || {
        let mut chunk = [0u8; 7_919];
        let mut seen = 0;
        loop {
            let n = server.read(&mut chunk).expect("server read");
            if n == 0 {
                return seen;
            }
            for (i, &b) in chunk[..n].iter().enumerate() {
                assert_eq!(b, pattern_byte(seen + i), "byte {} out of order", seen + i);
            }
            seen += n;
        }
    });

    let mut readable = Watch::epoll();
    readable.add(&front_sock, OURS, Interest::READABLE);
    let mut writable = Watch::epoll();
    writable.add(&back_sock, OURS, Interest::WRITABLE);
    let mut pipe = Pipe::new().expect("pipe2");
    let (mut spliced_in, mut spliced_out, mut eof) = (0, 0, false);
    while !(eof && pipe.is_empty()) {
        let mut in_blocked = true;
        if !eof {
            match pipe.splice_in(&front_sock, pipe.capacity()) {
                Ok(0) => eof = true,
                Ok(n) => {
                    spliced_in += n;
                    in_blocked = false;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("splice in: {e}"),
            }
        }
        let out_blocked = match pipe.splice_out(&back_sock, usize::MAX) {
            Ok(n) => {
                spliced_out += n;
                false
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
            Err(e) => panic!("splice out: {e}"),
        };
        // Wait only right after a WouldBlock, so that the next edge is ours.
        if out_blocked {
            writable.wait(OURS, |r| r.writable);
        } else if in_blocked && !eof && pipe.is_empty() {
            readable.wait(OURS, |r| r.readable);
        }
    }
    assert_eq!((spliced_in, spliced_out), (TOTAL, TOTAL));
    assert_eq!(pipe.splice_in(&front_sock, 1024).expect("EOF again"), 0, "EOF is sticky");
    socket::shutdown_write(&back_sock).expect("back FIN");
    assert_eq!(reader.join().expect("reader thread"), TOTAL, "the server read every byte, in order");
    drop(writer.join().expect("writer thread"));
}

/// Model: `recv(.., Sink::Pipe)` on a reset wire takes what the wire holds,
/// then is `Outcome::Reset`, as for the buffer.
///
/// Linux, as recv does (see
/// [`rst_loses_what_the_receiver_had_not_received_not_what_it_had_not_read`]):
/// `splice_in` first moves the data queued before the RST, then fails once
/// with `ECONNRESET`, then returns 0.
#[test]
fn splice_in_after_an_rst_reads_the_queued_data_then_fails_with_econnreset() {
    let mut p = Pair::loopback();
    p.ours.set_nonblocking(true).expect("O_NONBLOCK");
    write_all(&mut p.peer, b"queued");
    assert_eq!(p.ours.peek(&mut [0u8; 6]).expect("the data arrived"), 6);
    reset_by_peer(&p.ours, p.peer);

    let mut pipe = Pipe::new().expect("pipe2");
    assert_eq!(pipe.splice_in(&p.ours, 1024).expect("the queued data"), 6);
    assert_eq!(kind(&pipe.splice_in(&p.ours, 1024)), Some(ConnectionReset));
    assert_eq!(pipe.splice_in(&p.ours, 1024).expect("then EOF"), 0);
    assert_eq!(pipe.len(), 6);
}

/// Model: `send(Source::Pipe)` on a reset wire is `Outcome::Reset`, as for
/// the buffer.
///
/// Linux: `splice_out` to a reset socket fails with `ECONNRESET` first, then
/// `EPIPE`, and moves nothing out of the pipe. splice(2) cannot pass
/// `MSG_NOSIGNAL`, so the kernel raises SIGPIPE with the `EPIPE`: the
/// process must ignore SIGPIPE, as Rust's runtime and the proxy
/// (`sys::signal::ignore_sigpipe`) make it.
#[test]
fn splice_out_after_an_rst_fails_with_econnreset_then_epipe() {
    assert!(signal::sigpipe_is_ignored().expect("sigaction"), "the premise: SIGPIPE is ignored");
    let mut src = Pair::loopback();
    src.ours.set_nonblocking(true).expect("O_NONBLOCK");
    write_all(&mut src.peer, b"orphan");
    assert_eq!(src.ours.peek(&mut [0u8; 6]).expect("the data arrived"), 6);
    let mut pipe = Pipe::new().expect("pipe2");
    assert_eq!(pipe.splice_in(&src.ours, 64).expect("splice in"), 6);

    let dst = Pair::loopback();
    dst.ours.set_nonblocking(true).expect("O_NONBLOCK");
    reset_by_peer(&dst.ours, dst.peer);
    assert_eq!(kind(&pipe.splice_out(&dst.ours, 64)), Some(ConnectionReset), "first splice");
    assert_eq!(kind(&pipe.splice_out(&dst.ours, 64)), Some(BrokenPipe), "second splice");
    assert_eq!(pipe.len(), 6, "nothing left the pipe");
}

/// Runtime (`pipe-size`, `exec::splice`, `recv_pipe`): a pipe is full by slots, not
/// by bytes, so the runtime never shrinks a pipe below the kernel's size
/// and bounds the bytes in it with a fill limit instead; and a splice that
/// would block into a pipe holding bytes means "out of slots" only while
/// the socket still has bytes queued (`FIONREAD`).
///
/// Linux: a pipe of one page (one slot) that holds one 8-byte segment
/// refuses a second 8-byte segment with `EAGAIN` while the socket holds it;
/// a pipe of the default size takes it.
#[test]
fn a_pipe_is_full_by_slots_and_the_socket_queue_tells_a_full_pipe_from_an_empty_socket() {
    let mut p = Pair::loopback();
    p.ours.set_nonblocking(true).expect("O_NONBLOCK");
    p.peer.set_nodelay(true).expect("TCP_NODELAY");
    let mut one_slot = Pipe::new().expect("pipe2");
    assert_eq!(one_slot.set_capacity(4096).expect("F_SETPIPE_SZ"), 4096);
    for (i, segment) in [b"segment0", b"segment1"].iter().enumerate() {
        write_all(&mut p.peer, &segment[..]);
        fixture::eventually("the segment arrives", || {
            (socket::queued_input(&p.ours).expect("FIONREAD") == 8).then_some(())
        });
        if i == 0 {
            assert_eq!(one_slot.splice_in(&p.ours, 1024).expect("the first segment"), 8);
            assert_eq!(socket::queued_input(&p.ours).expect("FIONREAD"), 0);
            // The socket is empty: EAGAIN means just that.
            assert_eq!(kind(&one_slot.splice_in(&p.ours, 1024)), Some(WouldBlock));
        }
    }
    assert_eq!(kind(&one_slot.splice_in(&p.ours, 1024)), Some(WouldBlock), "one slot, taken");
    assert_eq!(one_slot.len(), 8, "8 bytes in a 4096-byte pipe, and it is full");
    assert_eq!(socket::queued_input(&p.ours).expect("FIONREAD"), 8, "the socket still holds the second segment");
    let mut default = Pipe::new().expect("pipe2");
    assert_eq!(default.splice_in(&p.ours, 1024).expect("a pipe of 16 slots takes it"), 8);
}

/// Runtime (the send-window shim, `exec::refused`): the core's `MSG_MORE`
/// promises more bytes at once; where the shim refuses them, what was
/// corked must go out, since a socket that is really full holds nothing
/// back, and the model's kernel corks nothing.
///
/// Linux: bytes sent with `MSG_MORE` stay in the send queue; setting
/// `TCP_NODELAY` (already set) pushes them (tcp(7)). If the wait below is
/// stretched past the kernel's own corking limit (200 ms) by a loaded
/// machine, the first half of the check says nothing and is skipped.
#[test]
fn bytes_corked_by_msg_more_wait_until_tcp_nodelay_pushes_them() {
    let p = Pair::loopback();
    p.ours.set_nodelay(true).expect("TCP_NODELAY");
    p.peer.set_nonblocking(true).expect("O_NONBLOCK");
    let sent = std::time::Instant::now();
    assert_eq!(socket::send(&p.ours, b"PROXY TCP4 header\r\n", true).expect("send with MSG_MORE"), 19);
    thread::sleep(std::time::Duration::from_millis(20));
    let arrived = socket::queued_input(&p.peer).expect("FIONREAD");
    if sent.elapsed() < std::time::Duration::from_millis(150) {
        assert_eq!(arrived, 0, "corked bytes went out without a push");
    }
    socket::push(&p.ours).expect("TCP_NODELAY");
    fixture::eventually("the pushed bytes arrive", || (socket::queued_input(&p.peer).ok()? == 19).then_some(()));
}
