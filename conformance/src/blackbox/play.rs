//! One run: a plan played step by step on the peers' sockets, each read
//! judged, until the first departure.

use super::judge::{judge, Class, Departure};
use super::peers::{PeerSock, Peers};
use super::plan::{Plan, PlanStep};
use super::seen::Seen;
use super::Blackbox;
use crate::proxy_peer;
use crate::replay::chunk;
use crate::tls_peer::{Pki, TlsPeer};
use crate::trace::Trace;
use connseq_model::check::Who;
use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How one run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every read agreed with the eager model; `compared` reads.
    Agrees {
        /// Reads compared.
        compared: usize,
    },
    /// The first departure, after `compared` reads that agreed.
    Departs {
        /// Reads that agreed before it.
        compared: usize,
        /// The departure.
        departure: Departure,
    },
    /// The harness itself failed (a socket call, a connect to the proxy).
    HarnessError(String),
}
impl Blackbox {
    /// Runs one plan against the proxy.
    pub fn run(&mut self, trace: &Trace, plan: &Plan) -> RunOutcome {
        let mut peers = Peers::default();
        let outcome = match self.run_plan(trace, plan, &mut peers) {
            Ok((compared, None)) => RunOutcome::Agrees { compared },
            Ok((compared, Some(departure))) => RunOutcome::Departs { compared, departure },
            Err(e) => RunOutcome::HarnessError(e.to_string()),
        };
        // Leave nothing behind for the next run: close everything and let
        // the proxy end its sessions.
        drop(peers);
        self.settle_peers(&mut Peers::default());
        outcome
    }

    fn run_plan(&mut self, trace: &Trace, plan: &Plan, p: &mut Peers) -> io::Result<(usize, Option<Departure>)> {
        // Connections of an earlier run that came late.
        while self.port.try_accept().is_some() {}
        self.port.answer(!plan.refuse)?;
        let c = TcpStream::connect_timeout(&self.target, self.settle.bound)?;
        c.set_nodelay(true)?;
        c.set_nonblocking(true)?;
        // The source a PROXY header to the server must give: the one the
        // client's header gave, or the client's own address.
        let source = if plan.layers.proxy_in { proxy_peer::CLIENT_SOURCE } else { c.local_addr()? };
        let pki = if plan.layers.tls_front || plan.layers.tls_back { Some(Pki::get()?) } else { None };
        p.client = Some(PeerSock::new(c));
        self.settle_peers(p);
        let mut compared = 0;
        // A timer fired and no peer has read an end (FIN, RST) since: an end
        // the model delivers and the peer misses is one the proxy did not
        // give at the timeout.
        let mut timer_fired = false;
        for (i, planned) in plan.steps.iter().enumerate() {
            let action = match planned.at.and_then(|i| trace.actions.get(i)) {
                Some(a) => a.to_string(),
                None => String::new(),
            };
            match planned.step {
                PlanStep::Send(who) => {
                    let n = p.sent[who as usize];
                    p.sent[who as usize] += 1;
                    if let Some(s) = p.sock(who) {
                        s.send_chunk(&chunk(who, n));
                    }
                    self.settle_peers(p);
                }
                PlanStep::SendHeader => {
                    let header = proxy_peer::client_header(self.proxy_version);
                    if let Some(s) = p.sock(Who::Client) {
                        s.send_raw(&header);
                    }
                    self.settle_peers(p);
                }
                PlanStep::SendHello => {
                    if let (Some(s), Some(pki)) = (p.client.as_mut(), pki) {
                        let mut tls = TlsPeer::client(pki)?;
                        let r = tls.flush(&mut s.s);
                        s.note_write(r);
                        s.tls = Some(tls);
                    }
                    self.settle_peers(p);
                }
                PlanStep::Tickets => {
                    if let Some(PeerSock { s, tls: Some(tls), .. }) = p.client.as_mut() {
                        tls.read_through_tickets(s)?;
                    }
                }
                PlanStep::Read { who, expect, stage } => {
                    let Some(s) = p.sock(who) else { continue };
                    let (seen, bytes) = if expect.seen == Seen::Header {
                        s.read_header(self.settle.bound, source)
                    } else {
                        s.read_one(self.settle.bound)
                    };
                    let action = if planned.at.is_some() { action } else { format!("the {who} reads") };
                    if let Some(mut d) =
                        judge(s, who, expect, stage, seen, &bytes, planned.at, action, self.settle.bound)
                    {
                        if abort_read_early(plan, i, who, expect.seen, seen, d.class) {
                            d.class = Class::AbortReadEarly;
                        } else if timer_fired && matches!(expect.seen, Seen::Fin | Seen::Rst) && seen == Seen::Nothing {
                            d.class = Class::NotClosedAtTimeout;
                        }
                        return Ok((compared, Some(d)));
                    }
                    compared += 1;
                    if matches!(seen, Seen::Fin | Seen::Rst) {
                        timer_fired = false;
                    }
                    // A read may let the proxy send more (room on its
                    // wire), and a TLS peer's read may answer (its flight,
                    // its Finished).
                    if seen == Seen::Data || seen.handshake() {
                        self.settle_peers(p);
                    }
                }
                PlanStep::ShutWrite(who) => {
                    if let Some(s) = p.sock(who) {
                        s.shut_write();
                    }
                    self.settle_peers(p);
                }
                PlanStep::Close(who) => {
                    drop(p.take(who));
                    self.settle_peers(p);
                }
                PlanStep::Abort(who) => {
                    if let Some(s) = p.take(who) {
                        socket2::SockRef::from(&s.s).set_linger(Some(Duration::ZERO))?;
                    }
                    self.settle_peers(p);
                }
                PlanStep::Wait { time, timer } => {
                    timer_fired |= timer.is_some();
                    std::thread::sleep(time);
                    self.settle_peers(p);
                }
                PlanStep::Accept => {
                    let deadline = Instant::now() + self.settle.bound;
                    while p.pending.is_empty() && Instant::now() < deadline {
                        if let Some(s) = self.port.try_accept() {
                            p.pending.push_back(PeerSock::new(s));
                        } else {
                            std::thread::sleep(self.settle.poll);
                        }
                    }
                    match p.pending.pop_front() {
                        Some(mut s) => {
                            if let (true, Some(pki)) = (plan.layers.tls_back, pki) {
                                s.tls = Some(TlsPeer::server(pki)?);
                            }
                            p.server = Some(s);
                        }
                        None => {
                            return Ok((
                                compared,
                                Some(Departure {
                                    class: Class::Other,
                                    at: planned.at,
                                    action,
                                    who: Who::Server,
                                    expected: "a connection from the proxy".into(),
                                    actual: format!("none within {:?}", self.settle.bound),
                                }),
                            ))
                        }
                    }
                }
            }
        }
        Ok((compared, None))
    }
}

/// Whether a departure the server sees at step `i` is the model's bound on
/// the request buffer ([`Class::AbortReadEarly`]): the client aborted
/// before, while the eager model's proxy could not read the RST, and the
/// server got the end the proxy's earlier answer to that abort gives (its
/// FIN, or a close_notify it read ahead of the RST) where the model still
/// has the request, the handshake or the plain end to deliver. Where the
/// model has the handshake to complete, the server had answered the proxy's
/// hello with its flight: a proxy that abandons the attempt closes with that
/// flight unread, and Linux sends an RST for such a close (the kernel
/// axiom), so the server reads an RST rather than a FIN when its flight
/// arrived first. Only there is an RST the same answer.
fn abort_read_early(plan: &Plan, i: usize, who: Who, expected: Seen, seen: Seen, class: Class) -> bool {
    let end = match class {
        Class::TlsHandshake if expected == Seen::Finished => matches!(seen, Seen::Fin | Seen::CloseNotify | Seen::Rst),
        Class::TlsHandshake => matches!(seen, Seen::Fin | Seen::CloseNotify),
        Class::DataLost | Class::CloseNotifyForged | Class::ClosedEarly => {
            matches!(seen, Seen::Fin | Seen::CloseNotify)
        }
        _ => false,
    };
    plan.abort_behind_full_buffer.is_some_and(|k| k < i) && who == Who::Server && end
}
