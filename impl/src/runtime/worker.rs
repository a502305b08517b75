//! The single-threaded mio event loop: listeners, sessions in a slab, the
//! timer heap, signals and the stop handle.
//!
//! Tokens: `0..L` are the listening sockets, then two per session slot
//! (`L + 2i` the front socket, `L + 2i + 1` the back socket), and two fixed
//! tokens at the top for the waker and the signalfd. Every socket is
//! registered READABLE | WRITABLE, edge-triggered; the core reads and writes
//! until EAGAIN and records it (EMPTY_IN, FULL_OUT), so an edge is never
//! missed. After every input a session is *driven*: `poll_action` ->
//! execute -> `handle_outcome`, until the core waits.

use super::backend::BackendState;
use super::exec::Exec;
use super::session::Slot;
use super::timers::{Clock, TimerHeap};
use crate::config::ProxyConfig;
use crate::pool::{BufPool, PipePool};
use crate::sys::signal::Signals;
use connseq_model::core::{Millis, Session, SessionConfig, SiState, Side, SpliceMode};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The most pipes the loop has open at once, in use and spare together.
const MAX_PIPES: usize = 1024;

pub(crate) const WAKER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// A listening socket.
#[derive(Debug)]
struct Listener {
    sock: Option<TcpListener>,
    /// Index into `Worker::listeners_cfg`.
    cfg: usize,
}

/// What a listener's sessions share.
#[derive(Debug)]
struct ListenerCfg {
    name: String,
    session: SessionConfig,
    backend: usize,
}

/// The event loop and everything it owns.
#[derive(Debug)]
pub(crate) struct Worker {
    poll: Poll,
    listeners: Vec<Listener>,
    listeners_cfg: Vec<ListenerCfg>,
    backends: Vec<BackendState>,
    slots: Vec<Option<Slot>>,
    gens: Vec<u32>,
    free: Vec<usize>,
    live: usize,
    /// A copy of `live` that other threads may read (`RunningProxy::live_sessions`).
    live_shared: Arc<AtomicUsize>,
    timers: TimerHeap,
    clock: Clock,
    pool: BufPool,
    pipes: PipePool,
    max_pipes: usize,
    maxconn: usize,
    paused: bool,
    grace: Millis,
    /// Set once stopping: the time by which the loop exits anyway.
    stop_by: Option<Millis>,
    stop_flag: Arc<AtomicBool>,
    signals: Option<Signals>,
    addrs: Vec<SocketAddr>,
}

impl Worker {
    /// Binds every listener address (reporting each once on stderr) and
    /// prepares the loop. Sessions splice as their listener's configuration
    /// says (`SpliceMode`), while the pipe pool hands out pipes.
    pub(crate) fn bind(config: &ProxyConfig) -> io::Result<Worker> {
        let poll = Poll::new()?;
        let mut backends: Vec<BackendState> = Vec::new();
        let mut backend_names: Vec<&str> = Vec::new();
        let mut listeners = Vec::new();
        let mut listeners_cfg = Vec::new();
        let mut addrs = Vec::new();
        for (li, l) in config.listeners.iter().enumerate() {
            let backend = match backend_names.iter().position(|n| *n == l.backend.name) {
                Some(i) => i,
                None => {
                    backend_names.push(&l.backend.name);
                    backends.push(BackendState::new(&l.backend));
                    backends.len() - 1
                }
            };
            let session = l.session_config();
            listeners_cfg.push(ListenerCfg { name: l.name.clone(), session, backend });
            for addr in &l.addrs {
                let mut sock = TcpListener::bind(*addr)?;
                let local = sock.local_addr()?;
                poll.registry().register(&mut sock, Token(listeners.len()), Interest::READABLE)?;
                eprintln!("connseq: listening on {local}");
                addrs.push(local);
                listeners.push(Listener { sock: Some(sock), cfg: li });
            }
        }
        let g = &config.global;
        let maxconn = usize::try_from(g.maxconn).unwrap_or(usize::MAX);
        // Two pipes per session at most (one per direction), bounded so the
        // descriptors they take stay reasonable; past the bound a session
        // uses buffers (see `Exec::splice_fallback`).
        let max_pipes = if maxconn == 0 { MAX_PIPES } else { maxconn.saturating_mul(2).min(MAX_PIPES) };
        Ok(Worker {
            poll,
            listeners,
            listeners_cfg,
            backends,
            slots: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            live: 0,
            live_shared: Arc::new(AtomicUsize::new(0)),
            timers: TimerHeap::default(),
            clock: Clock::start(),
            pool: BufPool::new(g.buffer_size, 1024),
            pipes: PipePool::new(max_pipes, None),
            max_pipes,
            maxconn,
            paused: false,
            grace: crate::config::millis(g.grace_period),
            stop_by: None,
            stop_flag: Arc::new(AtomicBool::new(false)),
            signals: None,
            addrs,
        })
    }

    /// The bound addresses, in listener order.
    pub(crate) fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// A waker and flag that stop the loop from another thread.
    pub(crate) fn stop_handle(&self) -> io::Result<(Arc<Waker>, Arc<AtomicBool>)> {
        Ok((Arc::new(Waker::new(self.poll.registry(), WAKER)?), self.stop_flag.clone()))
    }

    /// A counter of live sessions that other threads may read; it is
    /// updated after a session's sockets are closed.
    pub(crate) fn live_handle(&self) -> Arc<AtomicUsize> {
        self.live_shared.clone()
    }

    /// Stops on SIGINT, SIGTERM or SIGUSR1 too.
    pub(crate) fn watch_signals(&mut self, mut signals: Signals) -> io::Result<()> {
        self.poll.registry().register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Runs until stopped and every session ended (or the grace period ran out).
    pub(crate) fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = self.clock.now();
            if let Some(by) = self.stop_by {
                if self.live == 0 || now >= by {
                    if self.live > 0 {
                        eprintln!("connseq: grace period over, closing {} sessions", self.live);
                    }
                    self.close_all();
                    return Ok(());
                }
            }
            let mut timeout = self.timers.timeout(now);
            if let Some(by) = self.stop_by {
                let left = Duration::from_millis(by.saturating_sub(now));
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            // Round up: a deadline a fraction of a millisecond away must not
            // turn into a busy loop of zero-timeout polls.
            let timeout = timeout.map(|t| t + Duration::from_millis(1));
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                let now = self.clock.now();
                match ev.token() {
                    WAKER => {
                        if self.stop_flag.load(Ordering::Acquire) {
                            self.begin_stop(now);
                        }
                    }
                    SIGNALS => self.on_signals(now)?,
                    Token(t) if t < self.listeners.len() => self.accept(t),
                    Token(t) => {
                        let rel = t - self.listeners.len();
                        let (idx, side) = (rel / 2, if rel % 2 == 0 { Side::Front } else { Side::Back });
                        let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                        let writable = ev.is_writable() || ev.is_write_closed() || ev.is_error();
                        self.on_ready(idx, side, readable, writable, now);
                    }
                }
            }
            let now = self.clock.now();
            while let Some((deadline, idx, gen)) = self.timers.pop_due(now) {
                self.on_timer(idx, gen, deadline, now);
            }
        }
    }

    fn on_signals(&mut self, now: Millis) -> io::Result<()> {
        let Some(signals) = self.signals.as_mut() else { return Ok(()) };
        let got = signals.read()?;
        if !got.is_empty() {
            let names: Vec<String> = got.iter().map(|s| format!("{s:?}")).collect();
            eprintln!("connseq: signal {} received, stopping", names.join(","));
            self.begin_stop(now);
        }
        Ok(())
    }

    /// Stops accepting; the loop ends when the sessions are done.
    fn begin_stop(&mut self, now: Millis) {
        if self.stop_by.is_some() {
            return;
        }
        self.stop_by = Some(now.saturating_add(self.grace));
        for l in &mut self.listeners {
            if let Some(mut s) = l.sock.take() {
                let _ = self.poll.registry().deregister(&mut s);
            }
        }
    }

    /// Accepts on listener `t` until EAGAIN or the maxconn limit.
    fn accept(&mut self, t: usize) {
        loop {
            if self.paused || self.stop_by.is_some() {
                return;
            }
            let Some(sock) = self.listeners[t].sock.as_ref() else { return };
            let (stream, client) = match sock.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // EMFILE and friends: the connection stays in the backlog
                    // and is accepted when a session ends (resume_accepting).
                    eprintln!("connseq: accept: {e}");
                    self.pause_listeners();
                    return;
                }
            };
            let cfg_idx = self.listeners[t].cfg;
            self.start_session(cfg_idx, stream, client);
            if self.maxconn != 0 && self.live >= self.maxconn {
                self.pause_listeners();
            }
        }
    }

    fn pause_listeners(&mut self) {
        if self.paused {
            return;
        }
        self.paused = true;
        for l in &mut self.listeners {
            if let Some(s) = l.sock.as_mut() {
                let _ = self.poll.registry().deregister(s);
            }
        }
    }

    fn resume_listeners(&mut self) {
        if !self.paused || self.stop_by.is_some() || (self.maxconn != 0 && self.live >= self.maxconn) {
            return;
        }
        self.paused = false;
        for (t, l) in self.listeners.iter_mut().enumerate() {
            if let Some(s) = l.sock.as_mut() {
                let _ = self.poll.registry().register(s, Token(t), Interest::READABLE);
            }
        }
        for t in 0..self.listeners.len() {
            self.accept(t);
        }
    }

    fn front_token(&self, idx: usize) -> Token {
        Token(self.listeners.len() + 2 * idx)
    }

    fn start_session(&mut self, cfg_idx: usize, mut stream: mio::net::TcpStream, client: SocketAddr) {
        let now = self.clock.now();
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.gens.push(0);
                self.slots.len() - 1
            }
        };
        let _ = stream.set_nodelay(true);
        let token = self.front_token(idx);
        if let Err(e) = self.poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE) {
            eprintln!("connseq: {client}: cannot poll the accepted socket: {e}");
            self.free.push(idx);
            return;
        }
        let mut cfg = self.listeners_cfg[cfg_idx].session;
        if !self.pipes.splice_supported() {
            cfg.splice = SpliceMode::Never;
        }
        let core = Session::accept(&cfg, now, false);
        let mut slot = Slot::new(core, cfg, cfg_idx, stream, client, now);
        slot.front.registered = true;
        self.slots[idx] = Some(slot);
        self.live += 1;
        self.live_shared.store(self.live, Ordering::Release);
        self.drive(idx, now);
    }

    fn on_ready(&mut self, idx: usize, side: Side, readable: bool, writable: bool, now: Millis) {
        let Some(Some(slot)) = self.slots.get_mut(idx) else { return };
        let cfg = slot.cfg;
        slot.core.handle_ready(&cfg, side, readable, writable, now);
        self.drive(idx, now);
    }

    fn on_timer(&mut self, idx: usize, gen: u32, deadline: Millis, now: Millis) {
        if self.gens.get(idx) != Some(&gen) {
            return;
        }
        let Some(Some(slot)) = self.slots.get_mut(idx) else { return };
        if slot.timer_queued != Some(deadline) {
            return;
        }
        slot.timer_queued = None;
        let cfg = slot.cfg;
        slot.core.handle_timeout(&cfg, now);
        self.drive(idx, now);
    }

    /// Runs session `idx` until the core waits, then frees it if it is over
    /// or schedules its next deadline; slots it gave back go to waiters.
    fn drive(&mut self, idx: usize, now: Millis) {
        let mut work = vec![idx];
        while let Some(idx) = work.pop() {
            let mut released = Vec::new();
            let back_token = Token(self.listeners.len() + 2 * idx + 1);
            let gen = self.gens[idx];
            let Some(Some(slot)) = self.slots.get_mut(idx) else { continue };
            let backend_idx = self.listeners_cfg[slot.listener].backend;
            let mut exec = Exec {
                registry: self.poll.registry(),
                pool: &mut self.pool,
                pipes: &mut self.pipes,
                backend: &mut self.backends[backend_idx],
                now,
                waiter: (idx, gen),
                back_token,
                released: &mut released,
            };
            loop {
                let cfg = slot.cfg;
                let Some(action) = slot.core.poll_action(&cfg) else { break };
                let outcome = exec.run(slot, action);
                // The executor may have turned splice off for this session.
                let cfg = slot.cfg;
                slot.core.handle_outcome(&cfg, action, outcome, now);
                if let Some(side) = slot.rearm_read.take() {
                    slot.core.handle_ready(&cfg, side, true, false, now);
                }
            }
            if slot.core.is_closed() {
                self.end_session(idx, now);
            } else if let Some(d) = slot.core.next_deadline() {
                self.timers.schedule(d, idx, gen, &mut slot.timer_queued);
            }
            for server in released {
                let slots = &self.slots;
                let gens = &self.gens;
                let waiting = |(i, g): (usize, u32)| {
                    gens.get(i) == Some(&g)
                        && matches!(slots.get(i), Some(Some(s)) if s.core.si(Side::Back) == SiState::Que)
                };
                if let Some((w, _)) = self.backends[backend_idx].dequeue(server, waiting) {
                    if let Some(Some(s)) = self.slots.get_mut(w) {
                        s.times.assigned = Some(now);
                        let cfg = s.cfg;
                        s.core.handle_dequeued(&cfg, server, now);
                        work.push(w);
                    }
                }
            }
        }
        self.resume_listeners();
    }

    fn end_session(&mut self, idx: usize, now: Millis) {
        let Some(mut slot) = self.slots[idx].take() else { return };
        eprintln!("connseq: {}", slot.log_line(&self.listeners_cfg[slot.listener].name, now));
        let registry = self.poll.registry();
        // The core closed both sockets already; this only guards a bug.
        slot.front.close(registry);
        slot.back.close(registry);
        slot.req.clear_all(&mut self.pool, &mut self.pipes);
        slot.res.clear_all(&mut self.pool, &mut self.pipes);
        self.gens[idx] = self.gens[idx].wrapping_add(1);
        self.free.push(idx);
        self.live -= 1;
        self.trim_pipes_if_idle();
        self.live_shared.store(self.live, Ordering::Release);
    }

    /// With no session left, the spare pipes are closed: an idle proxy holds
    /// no pipe descriptor (while sessions run, spares are reused). A pool
    /// that found splice unsupported is kept, so it stays off.
    fn trim_pipes_if_idle(&mut self) {
        if self.live == 0 && self.pipes.spares() > 0 && self.pipes.splice_supported() {
            debug_assert_eq!(self.pipes.in_use(), 0, "a pipe outlived every session");
            self.pipes = PipePool::new(self.max_pipes, None);
        }
    }

    /// The grace period is over: every remaining session is closed (its
    /// sockets dropped, no log line of a normal end).
    fn close_all(&mut self) {
        let now = self.clock.now();
        for idx in 0..self.slots.len() {
            if let Some(slot) = self.slots[idx].as_ref() {
                eprintln!("connseq: {} (closed at stop)", slot.log_line(&self.listeners_cfg[slot.listener].name, now));
                let Some(mut slot) = self.slots[idx].take() else { continue };
                let registry = self.poll.registry();
                slot.front.close(registry);
                slot.back.close(registry);
                slot.req.clear_all(&mut self.pool, &mut self.pipes);
                slot.res.clear_all(&mut self.pool, &mut self.pipes);
                self.live -= 1;
            }
        }
        self.trim_pipes_if_idle();
        self.live_shared.store(self.live, Ordering::Release);
    }
}
