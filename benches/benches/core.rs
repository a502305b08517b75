//! The core's hot paths and the runtime's timer heap, with criterion.
//!
//! - `core/ready_mid_transfer`: one readiness event of an established
//!   session through `handle_ready`, then `poll_action` / `handle_outcome`
//!   until the core waits: Recv (16 KiB in), Send (all out), Recv
//!   (WouldBlock). Three actions, four `update` fixpoints.
//! - `core/close_sequence`: from an established session, the client's FIN
//!   and the server's, through every shutdown and close step to the end.
//! - `core/update_fixpoint`: one `handle_ready` that changes nothing, then
//!   `poll_action`: one `update` pass (the session copied before it and
//!   compared after) and the choice of no action.
//! - `timers/*`: the runtime's timer heap (`impl/src/runtime/timer_heap.rs`,
//!   compiled in here as it is) under 100,000 sessions: scheduling, the
//!   inactivity refresh of every session, and popping what is due.
//!
//! Run: `cargo bench -p connseq-benches --bench core` (add `-- --quick` for
//! a short run). The PROXY v2 parse and build are in the `proxy_protocol`
//! bench.

use std::hint::black_box;

use connseq_model::core::{Action, Outcome, Pick, Session, SessionConfig, SiState, Side};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

// The runtime's timer heap is crate-private; the bench compiles the same file.
#[allow(dead_code, unreachable_pub, unused_imports)] // its own tests are not run here
#[path = "../../impl/src/runtime/timer_heap.rs"]
mod timer_heap;

/// A session of the default configuration, connected and established, with
/// nothing in flight and nothing readable.
fn established(cfg: &SessionConfig) -> Session {
    let mut s = Session::accept(cfg, 0, false);
    while let Some(action) = s.poll_action(cfg) {
        let outcome = match action {
            Action::PickServer { .. } => Outcome::Pick(Pick::Assigned(0)),
            Action::Connect { .. } => Outcome::InProgress,
            Action::FinishConnect => Outcome::Done,
            other => panic!("unexpected action on the way to established: {other:?}"),
        };
        s.handle_outcome(cfg, action, outcome, 0);
        if action == (Action::Connect { server: 0 }) {
            s.handle_ready(cfg, Side::Back, false, true, 0);
        }
    }
    assert_eq!(s.si(Side::Back), SiState::Est, "the session is established");
    s
}

/// Runs the core until it waits, answering each action with `answer`;
/// returns the number of actions.
fn drive(s: &mut Session, cfg: &SessionConfig, now: u64, mut answer: impl FnMut(Action) -> Outcome) -> usize {
    let mut n = 0;
    while let Some(action) = s.poll_action(cfg) {
        let outcome = answer(action);
        s.handle_outcome(cfg, action, outcome, now);
        n += 1;
    }
    n
}

fn core(c: &mut Criterion) {
    let cfg = SessionConfig::default();
    let base = established(&cfg);
    let mut g = c.benchmark_group("core");
    g.bench_function("ready_mid_transfer", |b| {
        let mut s = base;
        let mut now = 1;
        b.iter(|| {
            now += 1;
            s.handle_ready(&cfg, Side::Front, true, true, now);
            let mut reads = 0;
            let n = drive(&mut s, &cfg, now, |a| match a {
                Action::Recv { .. } => {
                    reads += 1;
                    if reads == 1 {
                        Outcome::Data { full: false }
                    } else {
                        Outcome::WouldBlock
                    }
                }
                Action::Send { .. } => Outcome::Sent { drained: true },
                other => panic!("unexpected action mid-transfer: {other:?}"),
            });
            black_box(n)
        });
    });
    g.bench_function("update_fixpoint", |b| {
        let mut s = base;
        b.iter(|| {
            s.handle_ready(&cfg, Side::Back, false, true, 5);
            black_box(s.poll_action(&cfg))
        });
    });
    g.bench_function("close_sequence", |b| {
        b.iter_batched(
            || base,
            |mut s| {
                let answer = |a| match a {
                    Action::Recv { .. } => Outcome::Eof,
                    Action::Send { .. } => Outcome::Sent { drained: true },
                    _ => Outcome::Done,
                };
                s.handle_ready(&cfg, Side::Front, true, false, 7);
                let mut n = drive(&mut s, &cfg, 7, answer);
                s.handle_ready(&cfg, Side::Back, true, false, 8);
                n += drive(&mut s, &cfg, 8, answer);
                assert!(s.is_closed(), "the session ended");
                black_box(n)
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

const SESSIONS: usize = 100_000;

/// A heap with every session scheduled once, deadlines spread over 30 s.
fn loaded() -> (timer_heap::TimerHeap, Vec<Option<u64>>) {
    let mut heap = timer_heap::TimerHeap::default();
    let mut queued = vec![None; SESSIONS];
    for (i, q) in queued.iter_mut().enumerate() {
        heap.schedule(30_000 + (i as u64 * 7919) % 30_000, i, 0, q);
    }
    (heap, queued)
}

fn timer_heap(c: &mut Criterion) {
    let mut g = c.benchmark_group("timers");
    g.sample_size(20);
    g.bench_function("schedule_100k", |b| b.iter(|| black_box(loaded().0.timeout(0))));
    g.bench_function("refresh_100k", |b| {
        // Every session had traffic: its inactivity deadline moved later,
        // which the heap keeps as the entry it has (no push).
        let (mut heap, mut queued) = loaded();
        let mut now = 0;
        b.iter(|| {
            now += 1;
            for (i, q) in queued.iter_mut().enumerate() {
                heap.schedule(now + 30_000 + (i as u64 % 1000), i, 0, q);
            }
            black_box(heap.timeout(now))
        });
    });
    g.bench_function("pop_due_100k", |b| {
        b.iter_batched(
            loaded,
            |(mut heap, _)| {
                let mut n = 0;
                while heap.pop_due(60_000).is_some() {
                    n += 1;
                }
                black_box(n)
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(benches, core, timer_heap);
criterion_main!(benches);
