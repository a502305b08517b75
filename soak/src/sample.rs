//! What the proxy process holds, read from /proc: descriptors, resident memory, CPU time.

use std::io;
use std::time::Instant;

/// One sample of the proxy process.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Seconds since the soak started.
    pub t: f64,
    /// Sessions the clients finished so far.
    pub sessions: u64,
    /// Open descriptors.
    pub fds: u64,
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// User + system CPU time so far, seconds.
    pub cpu_s: f64,
}

/// Reads the process `pid` now.
pub fn sample(pid: u32, start: Instant, sessions: u64) -> io::Result<Sample> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64;
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm"))?;
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // /proc counts in USER_HZ, 100 per second on Linux.
    let cpu_s = (ticks(11) + ticks(12)) as f64 / 100.0;
    Ok(Sample { t: start.elapsed().as_secs_f64(), sessions, fds, rss_kib: pages * 4, cpu_s })
}

/// The least-squares slope of `y` over `x`; 0 with fewer than two points.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) =
        points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + (x - mx) * (y - my), b + (x - mx) * (x - mx)));
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}
