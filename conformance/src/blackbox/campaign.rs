//! A campaign: traces grouped by eager schedule, the timer runs and slow
//! variants chosen, every run played, departures confirmed and tallied.

use super::judge::Departure;
use super::plan::{plan, Layers, Plan, PlanStep};
use super::play::RunOutcome;
use super::report::{ClassTally, Report};
use super::Blackbox;
use crate::trace::Trace;
use connseq_model::check::System;
use connseq_model::core::TimerKind;
use std::collections::HashMap;
use std::time::Instant;

impl Blackbox {
    /// Runs `plan` again with a quiet period twice as long: whether it
    /// departs the same way (a departure that came from a proxy slower than
    /// the quiet period does not).
    fn confirm(&mut self, trace: &Trace, plan: &Plan, departure: &Departure) -> bool {
        let settle = self.settle;
        self.settle.quiet = settle.quiet * 2;
        let again = self.run(trace, plan);
        self.settle = settle;
        matches!(again, RunOutcome::Departs { departure: d, .. } if d.class == departure.class && d.at == departure.at)
    }

    /// Runs every trace (each eager schedule once) and tallies the outcomes:
    /// the instant runs, then at most [`Pace::timer_runs`](crate::pace::Pace::timer_runs) runs that fire a
    /// timer (those where a peer reads after the timer first, then the
    /// shortest waits), then at most [`Pace::slow_runs`](crate::pace::Pace::slow_runs)
    /// slow variants (one per shape, half-closes first). A departure counts
    /// once a second run, with a quiet period twice as long, shows it again;
    /// one that does not is counted as unconfirmed. `progress` is called
    /// after each run with the report so far, the runs done and the runs
    /// planned.
    pub fn campaign(
        &mut self,
        sys: &System,
        traces: &[Trace],
        mut progress: impl FnMut(&Report, usize, usize),
    ) -> Report {
        let start = Instant::now();
        let pace = self.pace;
        let mut report = Report { traces: traces.len(), pace, ..Report::default() };
        let mut runs: Vec<(Plan, Vec<usize>)> = Vec::new();
        let mut by_key: HashMap<(bool, Layers, Vec<PlanStep>), usize> = HashMap::new();
        for (i, t) in traces.iter().enumerate() {
            match plan(sys, t, &pace.timeouts) {
                Ok(p) => {
                    report.skipped += p.skipped;
                    report.timer_traces += usize::from(p.fires_timer());
                    match by_key.get(&p.key()) {
                        Some(&r) => runs[r].1.push(i),
                        None => {
                            by_key.insert(p.key(), runs.len());
                            runs.push((p, vec![i]));
                        }
                    }
                }
                Err(why) => *report.unsupported.entry(why).or_default() += 1,
            }
        }
        let (mut timed, instant): (Vec<_>, Vec<_>) = runs.into_iter().partition(|(p, _)| p.fires_timer());
        report.timer_runs_total = timed.len();
        // The runs where a peer reads after the timer first (the others
        // compare nothing of what it did), the shortest waits first, taking
        // turns among the timers fired (so that a few runs cover the client,
        // server, fin and handshake timers alike).
        timed.sort_by_key(|(p, m)| (!p.reads_after_timer(), p.timer_wait(), m[0]));
        let mut turns: HashMap<Vec<TimerKind>, usize> = HashMap::new();
        let mut timed: Vec<(usize, usize, (Plan, Vec<usize>))> = timed
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let turn = turns.entry(r.0.timers()).or_default();
                *turn += 1;
                (*turn, i, r)
            })
            .collect();
        timed.sort_by_key(|&(turn, i, _)| (turn, i));
        let mut timed: Vec<(Plan, Vec<usize>)> = timed.into_iter().map(|(_, _, r)| r).collect();
        for (_, m) in timed.iter().skip(pace.timer_runs) {
            report.timer_deferred += m.len();
        }
        timed.truncate(pace.timer_runs);
        report.timer_runs = timed.len();
        for (p, _) in &timed {
            if let Some(k) = p.timers().first() {
                *report.timers_played.entry(k.to_string()).or_default() += 1;
            }
        }
        // One slow variant per shape, half-closes first.
        let mut shapes = std::collections::HashSet::new();
        let mut slow: Vec<(Plan, Vec<usize>)> = instant
            .iter()
            .filter_map(|(p, m)| p.slowed(&pace).map(|s| (s, m.clone())))
            .filter(|(s, _)| shapes.insert(s.shape()))
            .collect();
        report.slow_shapes = slow.len();
        slow.sort_by_key(|(p, m)| (p.half_close_rank(), m[0]));
        slow.truncate(pace.slow_runs);
        report.slow_runs = slow.len();
        report.runs = instant.len() + timed.len();
        let jobs: Vec<(&Plan, &Vec<usize>, bool)> = instant
            .iter()
            .chain(&timed)
            .map(|(p, m)| (p, m, false))
            .chain(slow.iter().map(|(p, m)| (p, m, true)))
            .collect();
        for (done, &(plan, members, is_slow)) in jobs.iter().enumerate() {
            let first = &traces[members[0]];
            match self.run(first, plan) {
                RunOutcome::Agrees { compared } => {
                    if is_slow {
                        report.slow_agree += 1;
                    } else {
                        report.agree_runs += 1;
                        report.agree += members.len();
                    }
                    report.compared += compared;
                    report.silent_runs += usize::from(compared == 0);
                }
                RunOutcome::Departs { compared, departure } => {
                    report.compared += compared + 1;
                    if !self.confirm(first, plan, &departure) {
                        report.unconfirmed += members.len();
                        report.unconfirmed_example.get_or_insert_with(|| (first.clone(), departure));
                        progress(&report, done + 1, jobs.len());
                        continue;
                    }
                    let classes = if is_slow { &mut report.slow_classes } else { &mut report.classes };
                    let tally = classes.entry(departure.class).or_insert_with(|| ClassTally {
                        runs: 0,
                        traces: 0,
                        example: first.clone(),
                        departure: departure.clone(),
                    });
                    tally.runs += 1;
                    tally.traces += members.len();
                }
                RunOutcome::HarnessError(e) => *report.errors.entry(e).or_default() += members.len(),
            }
            progress(&report, done + 1, jobs.len());
            if let Some(why) = self.exited() {
                let left: usize = jobs[done + 1..].iter().map(|(_, m, _)| m.len()).sum();
                if left > 0 {
                    *report.errors.entry(format!("not played: {why}")).or_default() += left;
                }
                break;
            }
        }
        report.settle_timeouts = self.settle_timeouts;
        report.wall = start.elapsed();
        report
    }
}
