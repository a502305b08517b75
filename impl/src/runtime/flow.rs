//! A flow: what the runtime holds for one session besides the core's state
//! (the two sockets, the two channels' buffers and pipes, the TLS layers,
//! and what the log line reports). The worker keeps its flows in a slab,
//! and an action runs on one flow. ("Slot" is kept for a server's
//! connection slot, which the backend counts.)

use super::buffer::ChanBuf;
use connseq_model::core::{Dir, Millis, PendingRst, Session, SessionConfig, Side};
use connseq_tls::TlsConn;
use mio::net::TcpStream;
use mio::Registry;
use std::fmt;
use std::net::SocketAddr;

/// One socket of a session and whether the poller knows it.
#[derive(Debug, Default)]
pub(crate) struct Sock {
    pub(crate) stream: Option<TcpStream>,
    pub(crate) registered: bool,
    /// The error the poller's ERR flag (`SO_ERROR`, reported once) or the connect met; after
    /// an RST, reads still take what reached the socket before it.
    pub(crate) error: Option<i32>,
    /// A read met the peer's reset: every later recv or send on it fails,
    /// as the model's kernel says (Linux reports the reset once, then EOF
    /// or EPIPE).
    pub(crate) reset: bool,
    /// A call on it was answered with an injected `EAGAIN` (`sys::fault`, tests only): the
    /// worker re-arms it in the poller, which reports what the kernel really says.
    pub(crate) rearm: bool,
    /// Registered for readable events only (the `WritableNotRearmed`
    /// breakage, tests only): the poller never reports it writable.
    pub(crate) read_only: bool,
    /// The poller reported it readable since the last recv (kept for the
    /// `EdgeNotDrained` breakage, tests only).
    pub(crate) edge: bool,
}

impl Sock {
    /// Removes the socket from the poller (CCLO); a second call does nothing.
    pub(crate) fn deregister(&mut self, registry: &Registry) {
        if let (Some(s), true) = (self.stream.as_mut(), self.registered) {
            // The socket is open and registered, so this cannot fail but for
            // a kernel bug; the close that follows drops it from epoll anyway.
            let _ = registry.deregister(s);
        }
        self.registered = false;
    }

    /// Deregisters if needed, then closes the socket (FCLO), exactly once.
    pub(crate) fn close(&mut self, registry: &Registry) {
        self.deregister(registry);
        self.stream = None;
    }
}

/// Milestones of a session, in the loop's milliseconds, for the log line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Times {
    pub(crate) accept: Millis,
    pub(crate) pick: Option<Millis>,
    pub(crate) assigned: Option<Millis>,
    pub(crate) connect: Option<Millis>,
    pub(crate) established: Option<Millis>,
}

/// How often a session whose core waits for a peer's acknowledgement before
/// an RST (`PendingRst::AwaitingAck`) looks at the send queue again, in
/// milliseconds: Linux reports no writable edge when acknowledgements empty
/// a send queue that never filled, so the worker reports one itself.
pub(crate) const ACK_POLL: Millis = 10;

/// A live session's flow.
#[derive(Debug)]
pub(crate) struct Flow {
    pub(crate) core: Session,
    /// The configuration the core runs with, fixed at accept: the
    /// listener's, with splice off (`SpliceMode::Never`) when this kernel
    /// cannot splice at all (a pipe that cannot be had later is an outcome
    /// the core answers: `Exec::splice_fallback`).
    pub(crate) cfg: SessionConfig,
    /// Index of the listener configuration.
    pub(crate) listener: usize,
    /// The entry of the configurations its backend comes from: the
    /// listener's own, or one of its `use-backend` routes.
    pub(crate) route: usize,
    pub(crate) front: Sock,
    pub(crate) back: Sock,
    /// The data layer of each side when it is TLS (`[front, back]`),
    /// created at its handshake, dropped by its DataClose.
    pub(crate) tls: [Option<Box<TlsConn>>; 2],
    pub(crate) req: ChanBuf,
    pub(crate) res: ChanBuf,
    pub(crate) client: SocketAddr,
    /// The source and destination a PROXY header gave (PROXY command with
    /// an address family the proxy knows); `None` otherwise.
    pub(crate) forwarded: Option<(SocketAddr, SocketAddr)>,
    pub(crate) server: Option<SocketAddr>,
    /// The index of that server in the backend.
    pub(crate) server_idx: Option<u8>,
    /// Bytes sent to the server (`[0]`) and to the client (`[1]`).
    pub(crate) sent: [u64; 2],
    pub(crate) times: Times,
    /// Connection attempts to a server (1 + retries used).
    pub(crate) connects: u32,
    /// Why the proxy ended the session, when a peer broke a protocol.
    pub(crate) reason: Option<&'static str>,
    /// What a partial send left of the outgoing PROXY header (this
    /// attempt): the header is built once, at its first send, and only
    /// the rest is kept, for the next. `None` before the first send and
    /// once it all went.
    pub(crate) header_rest: Option<Box<[u8]>>,
    /// The session's number in the process (the `accepted` counter).
    pub(crate) id: u64,
    /// With `Options::hold_connects`: the harness released this attempt.
    pub(crate) connect_released: bool,
    /// An input of the current batch touched it: it runs after the batch.
    pub(crate) ready: bool,
    /// `Options::hold_connects`: the back socket was readable while held.
    pub(crate) held_readable: bool,
    /// The deadline of this flow's live entry in the timer heap.
    pub(crate) timer_queued: Option<Millis>,
    /// When the worker reports the socket of an RST owed behind the data
    /// writable again ([`ACK_POLL`]); `None` while no RST waits.
    pub(crate) ack_poll: Option<Millis>,
    /// The backend's per-source limits counted this session among its client's open
    /// connections: released when it ends.
    pub(crate) source_counted: bool,
}

impl Flow {
    /// A session for an accepted socket.
    pub(crate) fn new(
        core: Session,
        cfg: SessionConfig,
        listener: usize,
        stream: TcpStream,
        client: SocketAddr,
        now: Millis,
    ) -> Flow {
        Flow {
            core,
            cfg,
            listener,
            route: listener,
            front: Sock { stream: Some(stream), ..Sock::default() },
            back: Sock::default(),
            tls: [None, None],
            req: ChanBuf::default(),
            res: ChanBuf::default(),
            client,
            forwarded: None,
            server: None,
            server_idx: None,
            sent: [0; 2],
            times: Times { accept: now, ..Times::default() },
            connects: 0,
            reason: None,
            header_rest: None,
            id: 0,
            connect_released: false,
            ready: false,
            held_readable: false,
            timer_queued: None,
            ack_poll: None,
            source_counted: false,
        }
    }

    /// Arms or clears [`Flow::ack_poll`] after the core ran: armed while a
    /// side waits for its peer's acknowledgement before an RST.
    pub(crate) fn update_ack_poll(&mut self, now: Millis) {
        if Side::BOTH.iter().any(|&s| self.core.conn(s).rst == PendingRst::AwaitingAck) {
            self.ack_poll.get_or_insert(now + ACK_POLL);
        } else {
            self.ack_poll = None;
        }
    }

    /// The ack poll is due: each side waiting for an acknowledgement is
    /// reported writable, so the core looks at its send queue again.
    /// Returns whether it was due.
    pub(crate) fn poll_acks(&mut self, now: Millis) -> bool {
        if self.ack_poll.map_or(true, |d| d > now) {
            return false;
        }
        self.ack_poll = None;
        let cfg = self.cfg;
        for side in Side::BOTH {
            if self.core.conn(side).rst == PendingRst::AwaitingAck {
                self.core.handle_ready(&cfg, side, false, true, now);
            }
        }
        true
    }

    /// The earliest time the worker must run this session without an
    /// event: the core's next deadline or the ack poll.
    pub(crate) fn next_wake(&self) -> Option<Millis> {
        match (self.core.next_deadline(), self.ack_poll) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The client's address as the rules and the PROXY header we send see
    /// it: the one a received PROXY header gave, else the peer's.
    pub(crate) fn source(&self) -> SocketAddr {
        self.forwarded.map_or(self.client, |(src, _)| src)
    }

    /// The session's unique id (the PROXY v2 UNIQUE_ID): the process id and
    /// the session's number, in hex, written into `buf`.
    pub(crate) fn unique_id<'b>(&self, buf: &'b mut [u8; 32]) -> &'b [u8] {
        use std::io::Write;
        let mut cur = std::io::Cursor::new(&mut buf[..]);
        // 8 + 1 + 16 hex digits fit in 32 bytes.
        let _ = write!(cur, "{:08X}-{:016X}", std::process::id(), self.id);
        let n = usize::try_from(cur.position()).unwrap_or(0);
        &buf[..n]
    }

    /// A socket by side.
    pub(crate) fn sock(&mut self, side: Side) -> &mut Sock {
        match side {
            Side::Front => &mut self.front,
            Side::Back => &mut self.back,
        }
    }

    /// The socket of `side`, its TLS layer and the buffer of channel `dir`,
    /// borrowed together.
    pub(crate) fn tls_io(&mut self, side: Side, dir: Dir) -> (Option<&TcpStream>, Option<&mut TlsConn>, &mut ChanBuf) {
        let (sock, tls) = match side {
            Side::Front => (self.front.stream.as_ref(), self.tls[0].as_deref_mut()),
            Side::Back => (self.back.stream.as_ref(), self.tls[1].as_deref_mut()),
        };
        let buf = match dir {
            Dir::Req => &mut self.req,
            Dir::Res => &mut self.res,
        };
        (sock, tls, buf)
    }

    /// The socket of `side` and the buffer of channel `dir`, borrowed together.
    pub(crate) fn io(&mut self, side: Side, dir: Dir) -> (Option<&TcpStream>, &mut ChanBuf) {
        let sock = match side {
            Side::Front => self.front.stream.as_ref(),
            Side::Back => self.back.stream.as_ref(),
        };
        let buf = match dir {
            Dir::Req => &mut self.req,
            Dir::Res => &mut self.res,
        };
        (sock, buf)
    }

    /// Not a session worth a log line at `info`: a health or monitor reply,
    /// a bare TCP check (connect and close before any byte of a PROXY
    /// header), or a connection a rule rejected.
    pub(crate) fn is_quiet(&self) -> bool {
        use connseq_model::core::Cause;
        let c = &self.core;
        c.reply().is_some() || c.rejected() || (!c.started() && c.termination().cause == Cause::Normal)
    }

    /// The log line, HAProxy tcplog-like: client, listener, backend and
    /// server names, times `Tw/Tc/Tt` in ms (queue, connect, total; -1 when
    /// the step did not happen), bytes to the server / to the client,
    /// termination code, then the reason and the real peer when there are.
    pub(crate) fn log_line<'a>(&'a self, names: Names<'a>, now: Millis) -> LogLine<'a> {
        LogLine { flow: self, names, now }
    }
}

/// The names a session's log line shows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Names<'a> {
    pub(crate) listener: &'a str,
    pub(crate) backend: &'a str,
    /// The backend's server names, by index.
    pub(crate) servers: &'a [String],
}

impl Names<'_> {
    /// The name of server `i`, `<NOSRV>` (HAProxy's word) for none.
    pub(crate) fn server(&self, i: Option<u8>) -> &str {
        i.and_then(|i| self.servers.get(usize::from(i))).map_or("<NOSRV>", String::as_str)
    }
}

/// See [`Slot::log_line`].
#[derive(Debug)]
pub(crate) struct LogLine<'a> {
    flow: &'a Flow,
    names: Names<'a>,
    now: Millis,
}

fn span(from: Option<Millis>, to: Option<Millis>) -> i64 {
    match (from, to) {
        (Some(a), Some(b)) => i64::try_from(b.saturating_sub(a)).unwrap_or(i64::MAX),
        _ => -1,
    }
}

impl fmt::Display for LogLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.flow;
        let t = &s.times;
        // As HAProxy: the client a PROXY header names, else the real peer.
        let n = &self.names;
        write!(f, "{} [{}] {}/{}", s.source(), n.listener, n.backend, n.server(s.server_idx))?;
        write!(
            f,
            " {}/{}/{} {}/{} {}",
            span(t.pick, t.assigned),
            span(t.connect, t.established),
            self.now.saturating_sub(t.accept),
            s.sent[0],
            s.sent[1],
            s.core.termination()
        )?;
        if let Some(reason) = s.reason {
            write!(f, " {reason}")?;
        }
        if s.forwarded.is_some() {
            // The source came from a PROXY header: the real peer is the
            // proxy that sent it, which the operator may need to find.
            write!(f, " peer={}", s.client)?;
        }
        Ok(())
    }
}
