//! What the process knows about itself: open descriptors, CPU time, and the
//! descriptor limit. For stats and startup, not for the data path (these
//! calls may allocate).

use super::cvt;
use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

/// The number of descriptors open in this process: the entries of
/// `/proc/self/fd`, less the one the count itself opens to list them.
/// Descriptors are process-wide: other threads change the count too.
pub fn open_fd_count() -> io::Result<usize> {
    let mut n: usize = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        entry?;
        n += 1;
    }
    Ok(n.saturating_sub(1))
}

/// User plus system CPU time the whole process has used
/// (`getrusage(RUSAGE_SELF)`).
pub fn cpu_time() -> io::Result<Duration> {
    let mut usage = MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: the pointer is to writable storage for one rusage, which
    // getrusage(2) fills when it returns 0.
    cvt(unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) })?;
    // SAFETY: getrusage returned 0, so `usage` is initialised.
    let usage = unsafe { usage.assume_init() };
    Ok(duration(usage.ru_utime) + duration(usage.ru_stime))
}

fn duration(tv: libc::timeval) -> Duration {
    let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
    let micros = u32::try_from(tv.tv_usec).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (to
/// `/proc/sys/fs/nr_open` when the hard limit is infinite, since the kernel
/// refuses more) and returns the soft limit now in force. A soft limit
/// already at or above the target is left as it is.
pub fn raise_nofile_limit() -> io::Result<libc::rlim_t> {
    let mut limit = nofile_limit()?;
    let target = if limit.rlim_max == libc::RLIM_INFINITY { nr_open()? } else { limit.rlim_max };
    if limit.rlim_cur >= target {
        return Ok(limit.rlim_cur);
    }
    limit.rlim_cur = target;
    // SAFETY: `limit` is a valid rlimit, read for the call only.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) })?;
    Ok(target)
}

/// Sets the soft `RLIMIT_NOFILE` to `soft` (at most the hard limit) and
/// returns the previous soft limit. For tests that make the process run out
/// of descriptors; the proxy itself only raises the limit.
pub fn set_nofile_soft_limit(soft: libc::rlim_t) -> io::Result<libc::rlim_t> {
    let mut limit = nofile_limit()?;
    let before = limit.rlim_cur;
    limit.rlim_cur = soft.min(limit.rlim_max);
    // SAFETY: `limit` is a valid rlimit, read for the call only.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) })?;
    Ok(before)
}

/// The current `RLIMIT_NOFILE` (soft, hard).
fn nofile_limit() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a writable rlimit for the call.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) })?;
    Ok(limit)
}

/// The kernel's ceiling on a process's descriptors.
fn nr_open() -> io::Result<libc::rlim_t> {
    let text = std::fs::read_to_string("/proc/sys/fs/nr_open")?;
    text.trim().parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc/sys/fs/nr_open"))
}

#[cfg(test)]
mod tests {
    use super::super::pipe::Pipe;
    use super::*;
    use std::process::Command;

    const CHILD_ENV: &str = "CONNSEQ_FD_COUNT_CHILD";
    const CHILD_TEST: &str = "sys::process::tests::open_fd_count_in_a_quiet_process";

    /// Runs in a child test process with one test thread (see the parent
    /// below); in the ordinary run it does nothing.
    #[test]
    fn open_fd_count_in_a_quiet_process() {
        if std::env::var_os(CHILD_ENV).is_none() {
            return;
        }
        let before = open_fd_count().expect("count fds");
        let pipe = Pipe::new().expect("pipe2");
        assert_eq!(open_fd_count().expect("count fds"), before + 2, "a pipe is two fds");
        drop(pipe);
        assert_eq!(open_fd_count().expect("count fds"), before, "both closed on drop");
        println!("fd count checked");
    }

    /// Tests in this binary run in parallel and open sockets, so a count in
    /// this process would race them. Re-run this binary with only the test
    /// above and one test thread, where nothing else opens descriptors.
    #[test]
    fn open_fd_count_goes_up_by_two_with_a_pipe_and_back_down_after_drop() {
        let exe = std::env::current_exe().expect("the test binary's path");
        let out = Command::new(exe)
            .args(["--exact", CHILD_TEST, "--test-threads=1", "--nocapture"])
            .env(CHILD_ENV, "1")
            .output()
            .expect("run the child test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains("fd count checked"), "the child ran the check:\n{stdout}\n{stderr}");
    }

    #[test]
    fn cpu_time_increases_after_busy_work() {
        let start = cpu_time().expect("getrusage");
        // Work until the kernel's accounting moves; its granularity may be a
        // scheduler tick. The round cap (seconds of work) only turns a hang
        // into a failure.
        let mut acc: u64 = 1;
        let mut moved = false;
        for _round in 0..20_000 {
            for i in 0..100_000u64 {
                acc = std::hint::black_box(acc.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
            if cpu_time().expect("getrusage") > start {
                moved = true;
                break;
            }
        }
        assert!(moved, "CPU time never moved");
        std::hint::black_box(acc);
    }

    #[test]
    fn raise_nofile_limit_sets_the_soft_limit_to_the_hard_one() {
        let before = nofile_limit().expect("getrlimit");
        let soft = raise_nofile_limit().expect("setrlimit");
        let after = nofile_limit().expect("getrlimit");
        assert_eq!(after.rlim_cur, soft, "the returned limit is the one in force");
        assert!(soft >= before.rlim_cur, "never lowered");
        assert_eq!(after.rlim_max, before.rlim_max, "the hard limit is untouched");
        if before.rlim_max != libc::RLIM_INFINITY {
            assert_eq!(soft, before.rlim_max);
        }
        assert_eq!(raise_nofile_limit().expect("setrlimit again"), soft, "idempotent");
    }

    /// From a soft limit one below the hard one (other tests of this binary
    /// may raise it meanwhile: the limit only goes up, which they never mind).
    #[test]
    fn raise_nofile_limit_raises_a_soft_limit_below_the_hard_one() {
        let hard = nofile_limit().expect("getrlimit").rlim_max;
        if hard == libc::RLIM_INFINITY {
            return;
        }
        set_nofile_soft_limit(hard - 1).expect("setrlimit");
        assert_eq!(raise_nofile_limit().expect("setrlimit"), hard);
        assert_eq!(nofile_limit().expect("getrlimit").rlim_cur, hard);
    }

    #[test]
    fn set_nofile_soft_limit_returns_the_soft_limit_it_replaced() {
        // The same limit again: nothing changes for the other tests.
        let now = nofile_limit().expect("getrlimit");
        assert_eq!(set_nofile_soft_limit(now.rlim_cur).expect("setrlimit"), now.rlim_cur);
        assert_eq!(nofile_limit().expect("getrlimit").rlim_cur, now.rlim_cur);
    }

    #[test]
    fn nr_open_is_at_least_the_hard_limit() {
        // The kernel refuses a hard RLIMIT_NOFILE above fs.nr_open.
        let hard = nofile_limit().expect("getrlimit").rlim_max;
        let nr_open = nr_open().expect("/proc/sys/fs/nr_open");
        assert!(nr_open > 0 && nr_open >= hard, "nr_open {nr_open}, hard limit {hard}");
    }
}
