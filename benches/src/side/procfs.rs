//! What the bench reads about a proxy process from `/proc`: its CPU time
//! (every thread's user and system time, `/proc/PID/stat` fields 14 and 15)
//! and its resident memory (`VmRSS` of `/proc/PID/status`).

use std::io;
use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat` (`sysconf(_SC_CLK_TCK)`, 100
/// on every Linux this runs on).
const TICKS_PER_SEC: u64 = 100;

/// A process the bench watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc(pub u32);

impl Proc {
    /// User plus system CPU time of every thread of the process, to 10 ms.
    pub fn cpu(self) -> io::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0))?;
        // The command name (field 2) is in parentheses and may hold spaces:
        // the fields are counted after its closing parenthesis.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| bad("stat without a command name"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state): utime is field 14, stime 15.
        let tick = |i: usize| -> io::Result<u64> {
            fields.get(i - 3).and_then(|f| f.parse().ok()).ok_or_else(|| bad("stat field missing"))
        };
        let ticks = tick(14)? + tick(15)?;
        Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SEC))
    }

    /// Resident memory in KiB.
    pub fn rss_kib(self) -> io::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| bad("no VmRSS line"))
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_cpu_time_grows_while_it_spins_and_it_has_memory() {
        let me = Proc(std::process::id());
        let before = me.cpu().expect("stat");
        // Spin until the kernel has counted at least one more tick of this
        // process (bounded: a stat that never moves fails the test).
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while me.cpu().expect("stat") <= before {
            assert!(start.elapsed() < Duration::from_secs(30), "CPU time never grew");
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        assert!(me.rss_kib().expect("status") > 0);
    }
}
