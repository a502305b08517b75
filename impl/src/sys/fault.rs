//! Fault injection into the system calls of this room, for tests only: compiled with the
//! `fault-injection` cargo feature, which the release binary never has (`.ci/run` checks).
//!
//! A [`Plan`] lists [`Rule`]s: on which call ([`Call`]) a fault may strike, which fault
//! ([`Fault`]: an errno, or a short read or write), and how often (per mille, from a seeded
//! generator, so a run can be repeated with the same seed). [`install`] makes a plan the
//! process's until its [`Installed`] guard is dropped; the calls of this room ask [`check`]
//! before they reach the kernel. Peers in tests use the standard library's sockets, never
//! this room, so only the proxy meets the faults.
//!
//! An injected `EAGAIN` is a lie the kernel never tells: the socket is ready, so no readiness
//! edge will follow. The caller is told ([`take_spurious`]) and re-arms the socket in the
//! poller, which then reports whatever the kernel really says: what a real `EAGAIN` is
//! followed by once the peer sends or reads.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

pub use super::Call;

/// What an injected fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with this errno (`libc::EAGAIN`, `libc::ENOBUFS`, ...), moving nothing.
    Errno(i32),
    /// A read or write of at most this many bytes (a random size from 1 to it, less than the
    /// caller asked for): the call is made, on a shorter buffer.
    Short(usize),
    /// `EINVAL` from a splice into an empty pipe (the first splice of a channel), as a kernel
    /// or socket that cannot splice answers: the runtime falls back to its buffers.
    SpliceUnsupported,
}

/// One fault, where and how often.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub call: Call,
    pub fault: Fault,
    /// Chance per call, in thousandths (1000: every call).
    pub per_mille: u32,
    /// Strike at most this many times (`None`: no limit).
    pub limit: Option<u64>,
}

impl Rule {
    /// `fault` on `call` with a chance of `per_mille` thousandths, without limit.
    pub fn new(call: Call, fault: Fault, per_mille: u32) -> Rule {
        Rule { call, fault, per_mille, limit: None }
    }

    /// The same, striking at most `n` times.
    pub fn at_most(self, n: u64) -> Rule {
        Rule { limit: Some(n), ..self }
    }
}

/// The faults of a run and the seed of their random points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub seed: u64,
    pub rules: Vec<Rule>,
}

/// What [`check`] decided for one call.
#[derive(Debug)]
pub enum Injected {
    /// Fail with this error; do not make the call.
    Fail(io::Error),
    /// Make the call on at most this many bytes.
    Cap(usize),
}

#[derive(Debug)]
struct Active {
    plan: Plan,
    rng: fastrand::Rng,
    struck: Vec<u64>,
}

static ACTIVE: AtomicBool = AtomicBool::new(false);
static STATE: Mutex<Option<Active>> = Mutex::new(None);
static STRUCK_TOTAL: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SPURIOUS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn state() -> MutexGuard<'static, Option<Active>> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The plan in force while the returned guard lives; its counts stay readable through it.
#[must_use = "the plan is uninstalled when the guard is dropped"]
#[derive(Debug)]
pub struct Installed(());

impl Installed {
    /// How many times each rule struck, in the plan's order.
    pub fn struck(&self) -> Vec<u64> {
        state().as_ref().map(|a| a.struck.clone()).unwrap_or_default()
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        ACTIVE.store(false, Ordering::Release);
        *state() = None;
    }
}

/// Makes `plan` the process's until the guard is dropped. One plan at a time: tests that
/// install one must not run in parallel with each other.
pub fn install(plan: Plan) -> Installed {
    let struck = vec![0; plan.rules.len()];
    let rng = fastrand::Rng::with_seed(plan.seed);
    *state() = Some(Active { plan, rng, struck });
    ACTIVE.store(true, Ordering::Release);
    Installed(())
}

/// Faults injected since the process started, over every plan.
pub fn struck_total() -> u64 {
    STRUCK_TOTAL.load(Ordering::Acquire)
}

/// Whether a fault strikes `call` now, asking to move `len` bytes (0 for calls that move
/// none). `pipe_empty`: for a splice into a pipe, whether the pipe holds nothing.
pub(crate) fn check(call: Call, len: usize, pipe_empty: bool) -> Option<Injected> {
    if !ACTIVE.load(Ordering::Acquire) {
        return None;
    }
    let mut guard = state();
    let active = guard.as_mut()?;
    for i in 0..active.plan.rules.len() {
        let rule = active.plan.rules[i];
        if rule.call != call || rule.limit.is_some_and(|n| active.struck[i] >= n) {
            continue;
        }
        let applies = match rule.fault {
            Fault::Short(max) => len > 1 && max > 0,
            Fault::SpliceUnsupported => pipe_empty,
            Fault::Errno(_) => true,
        };
        if !applies || active.rng.u32(0..1000) >= rule.per_mille {
            continue;
        }
        active.struck[i] += 1;
        STRUCK_TOTAL.fetch_add(1, Ordering::AcqRel);
        return Some(match rule.fault {
            Fault::Errno(errno) => {
                if errno == libc::EAGAIN {
                    SPURIOUS.with(|s| s.set(true));
                }
                Injected::Fail(io::Error::from_raw_os_error(errno))
            }
            Fault::Short(max) => Injected::Cap(active.rng.usize(1..len.min(max + 1).max(2))),
            Fault::SpliceUnsupported => Injected::Fail(io::Error::from_raw_os_error(libc::EINVAL)),
        });
    }
    None
}

/// Whether an `EAGAIN` was injected on this thread since the last call: the caller re-arms
/// the socket in the poller, since the kernel will send no edge for a lie.
pub fn take_spurious() -> bool {
    SPURIOUS.with(|s| s.replace(false))
}
