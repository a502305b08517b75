//! The server connection: the connect (a new socket, registered), its
//! completion as the kernel reports it, and the failures the counters and
//! the passive health checks see.

use super::{internal, is_reset, is_resource_error, Exec};
use crate::runtime::flow::{Flow, Sock};
use crate::sys::socket;
use connseq_model::core::{Action, Outcome, Side};
use mio::Interest;
use std::sync::atomic::Ordering;

impl Exec<'_> {
    pub(super) fn connect(&mut self, flow: &mut Flow, server: u8) -> Outcome {
        let Some(addr) = self.shared.backend(self.backend).addr(server) else {
            return internal(flow, Action::Connect { server }, Outcome::Refused);
        };
        flow.server = Some(addr);
        self.shared.ops.tally.attempt(self.backend, server, flow.server_idx);
        flow.server_idx = Some(server);
        flow.times.connect = Some(self.now);
        flow.times.established = None;
        flow.header_rest = None;
        flow.tls[Side::Back as usize] = None;
        flow.connect_released = false;
        flow.held_readable = false;
        // The previous attempt's socket, if any, was closed by its SockClose.
        flow.back.close(self.registry);
        let mut stream = match socket::connect(addr) {
            Ok(s) => s,
            Err(e) if is_resource_error(&e) => return Outcome::NoResource,
            Err(_) => return Outcome::Refused,
        };
        // Latency matters more than segment count for a proxy; MSG_MORE
        // still coalesces where the core knows more follows.
        let _ = stream.set_nodelay(true);
        if let Err(e) = self.registry.register(&mut stream, self.back_token, Interest::READABLE | Interest::WRITABLE) {
            return if is_resource_error(&e) { Outcome::NoResource } else { Outcome::Refused };
        }
        flow.back = Sock { stream: Some(stream), registered: true, ..Default::default() };
        Outcome::InProgress
    }

    pub(super) fn finish_connect(&mut self, flow: &mut Flow) -> Outcome {
        if self.shared.holds_connects() && !flow.connect_released {
            // The conformance harness's shim (`Options::hold_connects`): the
            // attempt stays in progress until the model's server answers.
            return Outcome::WouldBlock;
        }
        let Some(s) = flow.back.stream.as_ref() else { return Outcome::Refused };
        let error = match flow.back.error.take() {
            Some(e) => Some(e),
            None => match socket::take_error(s) {
                Ok(e) => e.map(|e| e.raw_os_error().unwrap_or(libc::EIO)),
                Err(_) => return Outcome::Refused,
            },
        };
        match error {
            None => {}
            // Established, then reset by the server: the connect succeeded,
            // and the reset shows on the first recv or send.
            Some(e) if is_reset(e) => {
                // What the server sent before its RST is read first (after
                // its FIN too: EPIPE).
                flow.back.error = Some(e);
                flow.times.established = Some(self.now);
                return Outcome::Done;
            }
            Some(_) => return Outcome::Refused,
        }
        // No error and a peer: connected. No error and no peer: the event
        // was not the connect's completion (still in progress).
        match s.peer_addr() {
            Ok(_) => {
                flow.times.established = Some(self.now);
                Outcome::Done
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Outcome::WouldBlock,
            Err(_) => Outcome::Refused,
        }
    }

    pub(super) fn count_failure(&self, flow: &Flow, outcome: Outcome) -> Outcome {
        if matches!(outcome, Outcome::Refused | Outcome::NoResource) {
            self.shared.counters.connect_failures.fetch_add(1, Ordering::Relaxed);
            if let Some(server) = flow.server_idx {
                self.shared.ops.tally.connect_failed(self.backend, server);
                if connseq_model::core::health::observed(outcome) == Some(false) {
                    // Passive observation, as the core reads the outcome.
                    crate::runtime::health::report(self.shared, self.backend, server, Err("L4CON-SESSION"));
                }
            }
        }
        outcome
    }
}
