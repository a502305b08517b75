//! The load generators: each runs against one address (a proxy's listener
//! or the server itself) and measures a window of steady state, reading
//! the proxy's CPU time at the window's two ends.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use super::procfs::Proc;
use super::servers::{wait_until, Hold, Sink, MESSAGE};
use super::stream::Stream;

/// How long a measure runs.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Load before the window opens (connections set up, queues filled).
    pub warmup: Duration,
    /// The window measured.
    pub measure: Duration,
}

/// What one window counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counted {
    /// Bytes or connections completed in the window.
    pub work: f64,
    /// The window's length in seconds.
    pub secs: f64,
    /// The proxy's CPU seconds in the window (0 for the direct path).
    pub cpu: f64,
    /// Failed connections or transfers during the run.
    pub errors: u64,
}

/// The proxy's CPU time now, or zero without a proxy.
fn cpu(proxy: Option<Proc>) -> f64 {
    proxy.and_then(|p| p.cpu().ok()).map_or(0.0, |d| d.as_secs_f64())
}

/// Reads the start and the end of the window while the load runs.
fn window(w: Window, proxy: Option<Proc>, count: impl Fn() -> f64) -> Counted {
    thread::sleep(w.warmup);
    let (c0, n0, t0) = (cpu(proxy), count(), Instant::now());
    thread::sleep(w.measure);
    let (c1, n1, secs) = (cpu(proxy), count(), t0.elapsed().as_secs_f64());
    Counted { work: n1 - n0, secs, cpu: c1 - c0, errors: 0 }
}

/// `streams` connections each sending as fast as they can into `sink`
/// (through `addr`); counts the bytes the sink read.
pub fn bulk(
    addr: SocketAddr,
    tls: Option<&Arc<ClientConfig>>,
    streams: usize,
    sink: &Sink,
    w: Window,
    proxy: Option<Proc>,
) -> Counted {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..streams)
        .map(|_| {
            let (stop, errors, tls) = (stop.clone(), errors.clone(), tls.cloned());
            thread::spawn(move || {
                let chunk = vec![0x5au8; 64 * 1024];
                let run = || -> io::Result<()> {
                    let mut s = Stream::connect(addr, tls.as_ref())?;
                    while !stop.load(Ordering::Relaxed) {
                        s.write_all(&chunk)?;
                    }
                    s.close();
                    Ok(())
                };
                if run().is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut counted = window(w, proxy, || sink.bytes() as f64);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    sink.wait_idle(Duration::from_secs(10));
    counted.errors = errors.load(Ordering::Relaxed);
    counted
}

/// `clients` threads, each in a loop: connect (and with `tls` a handshake),
/// send 64 bytes, read 64 bytes, close. Counts completed connections.
pub fn conns(
    addr: SocketAddr,
    tls: Option<&Arc<ClientConfig>>,
    clients: usize,
    w: Window,
    proxy: Option<Proc>,
) -> Counted {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (stop, done, errors, tls) = (stop.clone(), done.clone(), errors.clone(), tls.cloned());
            thread::spawn(move || {
                let msg = [0x61u8; MESSAGE];
                let mut reply = [0u8; MESSAGE];
                while !stop.load(Ordering::Relaxed) {
                    let mut once = || -> io::Result<()> {
                        let mut s = Stream::connect(addr, tls.as_ref())?;
                        s.write_all(&msg)?;
                        s.flush()?;
                        s.read_exact(&mut reply)?;
                        s.close();
                        Ok(())
                    };
                    match once() {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let mut counted = window(w, proxy, || done.load(Ordering::Relaxed) as f64);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    counted.errors = errors.load(Ordering::Relaxed);
    counted
}

/// Round trips of 64 bytes on one connection for `measure` (after
/// `warmup`): each one's time in nanoseconds.
pub fn latency(addr: SocketAddr, w: Window) -> io::Result<Vec<u64>> {
    let mut s = Stream::connect(addr, None)?;
    let msg = [0x62u8; MESSAGE];
    let mut reply = [0u8; MESSAGE];
    let start = Instant::now();
    let mut times = Vec::with_capacity(100_000);
    while start.elapsed() < w.warmup + w.measure {
        let t = Instant::now();
        s.write_all(&msg)?;
        s.read_exact(&mut reply)?;
        if start.elapsed() >= w.warmup {
            times.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
    }
    s.close();
    Ok(times)
}

/// Percentile `p` (0 to 100) of sorted `v`, nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // The small margin keeps 99.9 % of 1000 at rank 999 despite rounding.
    let rank = ((p / 100.0) * sorted.len() as f64 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// Opens `n` connections through the proxy at `addr` to `hold` (with
/// `tls`, each completes its handshake with the proxy), leaves them idle,
/// and returns the proxy's resident memory growth per connection in bytes.
pub fn idle_memory(
    addr: SocketAddr,
    tls: Option<&Arc<ClientConfig>>,
    n: usize,
    hold: &Hold,
    proxy: Proc,
) -> io::Result<f64> {
    let settle = Duration::from_millis(300);
    thread::sleep(settle);
    let before = proxy.rss_kib()?;
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(Stream::connect(addr, tls)?);
    }
    if !wait_until(Duration::from_secs(30), || hold.count() >= n) {
        return Err(io::Error::other(format!("only {} of {n} connections reached the server", hold.count())));
    }
    thread::sleep(settle);
    let after = proxy.rss_kib()?;
    drop(clients);
    hold.release();
    Ok((after.saturating_sub(before) as f64) * 1024.0 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_ranks() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 50.0), 500.0);
        assert_eq!(percentile(&v, 99.0), 990.0);
        assert_eq!(percentile(&v, 99.9), 999.0);
        assert_eq!(percentile(&v[..1], 99.9), 1.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
