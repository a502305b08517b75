//! Splice (`Recv { into: Pipe }`, `Send { from: Pipe }`): a channel takes a
//! pipe from the [`PipePool`](crate::pool::PipePool) on its first splice and gives it back as soon
//! as it is empty. `splice_in` failing with `WouldBlock` is ambiguous (the
//! socket is empty, or the pipe has no free slot): with bytes in the pipe
//! and bytes still queued on the socket it is reported as
//! `Data { full: true }`, so the core flushes the pipe and reads again
//! without waiting for an edge that may never come; otherwise it is the
//! socket's `WouldBlock`. A pipe is full at its fill limit (`pipe-size`).

use super::Exec;
use crate::pool::NoPipe;
use crate::runtime::flow::Flow;
use crate::runtime::handshake::eof_or_reset;
use crate::runtime::Breakage;
use crate::sys::{pipe, socket};
use connseq_model::core::{Action, Outcome, Side, Source};
use std::io;
use std::sync::atomic::Ordering;
use tracing::{error, warn};

impl Exec<'_> {
    /// Splices from `side`'s socket into its input channel's pipe.
    pub(super) fn recv_pipe(&mut self, flow: &mut Flow, side: Side) -> Outcome {
        let dir = side.input();
        let (sock, chan) = flow.io(side, dir);
        let Some(sock) = sock else { return Outcome::Reset };
        let pipe = match chan.pipe.as_mut() {
            Some(p) => p,
            None => match self.pipes.get() {
                Ok(p) => chan.pipe.insert(p),
                Err(why) => return self.splice_fallback(flow, side, why),
            },
        };
        if pipe.is_full() {
            // The core reads into a pipe it believes has room; it is told.
            return Outcome::Data { full: true };
        }
        let got = pipe.splice_in(sock, pipe.room());
        let (empty, full) = (pipe.is_empty(), pipe.is_full());
        let outcome = match got {
            Ok(0) if self.shared.broken(Breakage::SpliceZeroAsEagain) => Outcome::WouldBlock,
            Ok(0) => eof_or_reset(sock),
            Ok(_) => Outcome::Data { full },
            // Empty pipe: the socket has nothing. Bytes in the pipe: the
            // socket is empty, or the pipe is out of slots while the socket
            // still holds data; then "full" makes the core flush before it
            // reads again. The socket's queue tells which.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if empty || socket::queued_input(sock).is_ok_and(|n| n == 0) {
                    Outcome::WouldBlock
                } else {
                    Outcome::Data { full: true }
                }
            }
            Err(e) if empty && self.pipes.note_splice_error(&e) => {
                chan.drop_pipe(self.pipes);
                return self.splice_fallback(flow, side, NoPipe::Os(e));
            }
            Err(_) => Outcome::Reset,
        };
        chan.release_pipe_if_empty(self.pipes);
        outcome
    }

    /// No pipe for this `Recv { into: Pipe }`: the pool is at its limit or
    /// out of descriptors, or splice is not supported here (`ENOSYS`, or
    /// `EINVAL` for this socket, on a splice into an empty pipe).
    ///
    /// Nothing is read (reading into the buffer would put bytes where the
    /// core does not believe they are): the action is answered with
    /// `NoResource`, which is what happened, and the core switches this
    /// channel to the buffer (`Channel::no_pipe`) and reads again at once,
    /// as the socket is still readable. The pool stops handing out pipes
    /// after `ENOSYS`, so new sessions start with `SpliceMode::Never`.
    /// Tested with splice's `EINVAL` and a pipe that cannot be made injected
    /// (`impl/tests/faults.rs`); the loopback kernel itself supports splice.
    pub(super) fn splice_fallback(&mut self, flow: &mut Flow, side: Side, why: NoPipe) -> Outcome {
        match why {
            NoPipe::Limit => {}
            NoPipe::Unsupported => {}
            NoPipe::Os(e) if pipe::is_unsupported(&e) => {
                warn!(target: "connseq::runtime", "{}: splice not supported ({e}); using buffers", flow.client);
            }
            NoPipe::Os(e) => {
                warn!(target: "connseq::runtime", "{}: no pipe ({e}) on the {side} side; using buffers", flow.client)
            }
        }
        Outcome::NoResource
    }

    /// Splices the output channel's pipe into `side`'s socket.
    pub(super) fn send_pipe(&mut self, flow: &mut Flow, side: Side, more: bool) -> Outcome {
        let dir = side.output();
        let client = flow.client;
        let (sock, chan) = flow.io(side, dir);
        let Some(sock) = sock else { return Outcome::Reset };
        let Some(pipe) = chan.pipe.as_mut().filter(|p| !p.is_empty()) else {
            let action = Action::Send { side, from: Source::Pipe, more };
            error!(target: "connseq::runtime", "internal error: {client}: {action:?} with an empty pipe");
            return Outcome::Sent { drained: true };
        };
        let allowed = self.room(side, pipe.len());
        if allowed == 0 {
            Self::refused(sock);
            return Outcome::WouldBlock;
        }
        match pipe.splice_out(sock, allowed) {
            Ok(0) => Outcome::WouldBlock,
            Ok(n) => {
                self.sent_bytes(side, n);
                self.shared.counters.spliced.fetch_add(n as u64, Ordering::Relaxed);
                let drained = pipe.is_empty();
                chan.release_pipe_if_empty(self.pipes);
                flow.sent[dir as usize] += n as u64;
                Outcome::Sent { drained }
            }
            Err(e) => self.send_failed(&e),
        }
    }
}
