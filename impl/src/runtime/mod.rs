//! The mio runtime: executes the core's actions on real sockets.
//!
//! The core (`connseq_model::core::Session`) makes every sequencing decision;
//! this room only performs the actions it asks for and reports what the
//! kernel said. Rooms, one job each:
//! - `worker`: the single-threaded event loop (listeners, session slab,
//!   timers, signals, stop);
//! - `exec`: one action -> syscalls -> one outcome;
//! - `session`, `buffer`: what a session holds (sockets, pooled buffers and
//!   pipes, counters) and its log line;
//! - `backend`: per-backend server counts and queue;
//! - `timers`: the loop's clock and deadline heap.
//!
//! This slice: raw TCP on buffers and splice pipes (as the `splice` mode
//! says), one event-loop thread. Not yet: TLS, PROXY headers, rules,
//! several threads (`threads` is ignored), per-listener maxconn (only the
//! global one applies).

mod backend;
mod buffer;
mod exec;
mod session;
mod timers;
mod worker;

use crate::config::ProxyConfig;
use crate::sys::signal::{self, Signals};
use mio::Waker;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use worker::Worker;

/// Runs the proxy on the calling thread until SIGINT, SIGTERM or SIGUSR1,
/// then lets sessions finish for the grace period.
pub fn run(config: &ProxyConfig) -> io::Result<()> {
    signal::ignore_sigpipe()?;
    // Block the signals before anything else so no thread gets them.
    let signals = Signals::new()?;
    if config.global.threads > 1 {
        eprintln!("connseq: note: this version runs one event-loop thread ({} requested)", config.global.threads);
    }
    let mut worker = Worker::bind(config)?;
    worker.watch_signals(signals)?;
    worker.run()
}

/// Starts the proxy's event loop on a new thread. The listeners are bound
/// before this returns, so their addresses are known (port 0 is resolved).
pub fn spawn(config: &ProxyConfig) -> io::Result<RunningProxy> {
    signal::ignore_sigpipe()?;
    let mut worker = Worker::bind(config)?;
    let addrs = worker.addrs().to_vec();
    let (waker, stop) = worker.stop_handle()?;
    let live = worker.live_handle();
    let thread = std::thread::Builder::new().name("connseq-worker".into()).spawn(move || worker.run())?;
    Ok(RunningProxy { addrs, waker, stop, live, thread: Some(thread) })
}

/// A proxy running on its own thread; dropping it stops it.
#[derive(Debug)]
pub struct RunningProxy {
    addrs: Vec<SocketAddr>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    live: Arc<AtomicUsize>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl RunningProxy {
    /// Every bound listener address, in configuration order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Sessions open right now (accepted and not yet ended). A session
    /// leaves this count only after both of its sockets are closed.
    pub fn live_sessions(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Stops accepting, waits until the sessions ended (at most the grace
    /// period) and returns the loop's result.
    pub fn stop(mut self) -> io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> io::Result<()> {
        let Some(thread) = self.thread.take() else { return Ok(()) };
        self.stop.store(true, Ordering::Release);
        self.waker.wake()?;
        thread.join().map_err(|_| io::Error::other("the proxy's event loop panicked"))?
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}
