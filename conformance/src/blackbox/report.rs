//! A campaign's outcome: the tallies, and the text table and JSON written
//! from them.

use super::judge::{Class, Departure};
use crate::pace::{duration_text, Pace};
use crate::trace::Trace;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// One class's count and its first example.
#[derive(Clone, Debug)]
pub struct ClassTally {
    /// Distinct runs (eager schedules) that departed so.
    pub runs: usize,
    /// Traces whose run departed so.
    pub traces: usize,
    /// The first trace that did.
    pub example: Trace,
    /// Its departure.
    pub departure: Departure,
}

/// The outcome of a black-box campaign.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Traces given.
    pub traces: usize,
    /// Distinct eager schedules run.
    pub runs: usize,
    /// Runs that agreed throughout.
    pub agree_runs: usize,
    /// Traces whose run agreed throughout.
    pub agree: usize,
    /// Reads compared, over all runs.
    pub compared: usize,
    /// Runs that agreed with no read to compare (a client that closed
    /// before anything reached it, say).
    pub silent_runs: usize,
    /// Trace actions the eager model does not take, over all traces.
    pub skipped: usize,
    /// Traces the harness cannot play, by reason.
    pub unsupported: BTreeMap<String, usize>,
    /// Departures by class.
    pub classes: BTreeMap<Class, ClassTally>,
    /// Traces whose run departed once but not when run again with a longer
    /// quiet period (timing: the proxy was slower than the quiet period).
    pub unconfirmed: usize,
    /// The first of them, and how it departed the first time.
    pub unconfirmed_example: Option<(Trace, Departure)>,
    /// Harness failures, by message (traces).
    pub errors: BTreeMap<String, usize>,
    /// Settles that ended at the bound.
    pub settle_timeouts: usize,
    /// Wall time.
    pub wall: Duration,
    /// The declared timeouts and the bounds on slow and timer runs.
    pub pace: Pace,
    /// Playable traces that fire a timer.
    pub timer_traces: usize,
    /// Their distinct eager schedules.
    pub timer_runs_total: usize,
    /// Of those, the runs played ([`Pace::timer_runs`]: those that read after the timer, then the shortest waits, first).
    pub timer_runs: usize,
    /// Traces that fire a timer whose run was not played (beyond [`Pace::timer_runs`]).
    pub timer_deferred: usize,
    /// The timer runs played, by the first timer each fires (`client`,
    /// `handshake`, ...).
    pub timers_played: BTreeMap<String, usize>,
    /// Distinct shapes of slow variant.
    pub slow_shapes: usize,
    /// Slow variants played ([`Pace::slow_runs`]).
    pub slow_runs: usize,
    /// Slow variants that agreed throughout.
    pub slow_agree: usize,
    /// Departures of slow variants, by class (their traces agree or
    /// depart on their own in [`Report::classes`]).
    pub slow_classes: BTreeMap<Class, ClassTally>,
}

impl Report {
    /// Runs (slow variants among them) that departed in a class the model
    /// does not explain.
    pub fn unexplained_runs(&self) -> usize {
        self.classes.iter().chain(&self.slow_classes).filter(|(c, _)| !c.explained()).map(|(_, t)| t.runs).sum()
    }

    /// The classes observed, slow variants' among them, in report order.
    pub fn observed(&self) -> Vec<Class> {
        let mut v: Vec<Class> = self.classes.keys().chain(self.slow_classes.keys()).copied().collect();
        v.sort();
        v.dedup();
        v
    }

    /// Traces played: given, less the unsupported and the deferred timer traces.
    pub fn played(&self) -> usize {
        self.traces - self.unsupported.values().sum::<usize>() - self.timer_deferred
    }

    /// The timer runs played by timer: `client 2, handshake 1`, or `none`.
    pub fn timers_played_text(&self) -> String {
        if self.timers_played.is_empty() {
            return "none".into();
        }
        self.timers_played.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
    }

    /// The line on real time: the declared timeouts, the timer runs and the slow variants.
    pub fn time_line(&self) -> String {
        format!(
            "timeouts {}; timer traces playable {} in {} runs, played {} runs ({}; runs that read after the timer, then the shortest waits, first, taking turns among the timers), {} traces deferred; \
             slow variants (pause {} before at most {} actions) played {} of {} shapes, {} agree",
            self.pace.timeouts,
            self.timer_traces,
            self.timer_runs_total,
            self.timer_runs,
            self.timers_played_text(),
            self.timer_deferred,
            duration_text(self.pace.pause),
            self.pace.max_pauses(),
            self.slow_runs,
            self.slow_shapes,
            self.slow_agree,
        )
    }

    /// The summary as a text table, then one example per class.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let unsupported: usize = self.unsupported.values().sum();
        let errors: usize = self.errors.values().sum();
        s.push_str(&format!("{:<52} {:>7} {:>7}\n", "", "traces", "runs"));
        s.push_str(&format!("{:<52} {:>7} {:>7}\n", "played", self.played(), self.runs));
        s.push_str(&format!("{:<52} {:>7} {:>7}\n", "agree", self.agree, self.agree_runs));
        for c in Class::ALL {
            if let Some(t) = self.classes.get(&c) {
                let name = if c.explained() { format!("{c} [explained]") } else { c.to_string() };
                s.push_str(&format!("{name:<52} {:>7} {:>7}\n", t.traces, t.runs));
            }
        }
        for c in Class::ALL {
            if let Some(t) = self.slow_classes.get(&c) {
                s.push_str(&format!("{:<52} {:>7} {:>7}\n", format!("{c} [slow variant]"), t.traces, t.runs));
            }
        }
        if self.unconfirmed > 0 {
            s.push_str(&format!("{:<52} {:>7}\n", "departed once, not again (timing)", self.unconfirmed));
        }
        if errors > 0 {
            s.push_str(&format!("{:<52} {:>7}\n", "harness errors", errors));
        }
        s.push_str(&format!("{:<52} {:>7}\n", "unsupported", unsupported));
        for (why, n) in &self.unsupported {
            s.push_str(&format!("  {n:>6}  {why}\n"));
        }
        for (e, n) in &self.errors {
            s.push_str(&format!("  error x{n}: {e}\n"));
        }
        s.push_str(&format!(
            "reads compared {} (runs with none: {}), trace actions the eager model skips {}, settles cut at the bound {}, wall time {:.1} s\n",
            self.compared,
            self.silent_runs,
            self.skipped,
            self.settle_timeouts,
            self.wall.as_secs_f64()
        ));
        s.push_str(&self.time_line());
        s.push('\n');
        let slow = self.slow_classes.iter().map(|(c, t)| (format!("{c} [slow variant]"), &t.example, &t.departure));
        let examples = self.classes.iter().map(|(c, t)| (c.to_string(), &t.example, &t.departure)).chain(slow);
        let unconfirmed = self.unconfirmed_example.iter().map(|(t, d)| ("departed once, not again".into(), t, d));
        for (name, t, d) in examples.chain(unconfirmed) {
            s.push_str(&format!("\n{name}: e.g. {} (initial state {})\n", t.source, t.init));
            s.push_str(&format!("  trace: {}\n", t.actions_text()));
            s.push_str(&format!("  {d}\n"));
        }
        s
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let classes: Vec<Value> = self
            .classes
            .iter()
            .map(|(c, t)| (false, c, t))
            .chain(self.slow_classes.iter().map(|(c, t)| (true, c, t)))
            .map(|(slow, c, t)| {
                json!({
                    "class": c.name(),
                    "slow_variant": slow,
                    "explained": c.explained(),
                    "runs": t.runs,
                    "traces": t.traces,
                    "example": {
                        "source": t.example.source.to_string(),
                        "init": t.example.init,
                        "actions": t.example.actions.iter().map(|&a| crate::format_action(a)).collect::<Vec<_>>(),
                        "at": t.departure.at,
                        "action": t.departure.action,
                        "peer": t.departure.who.to_string(),
                        "expected": t.departure.expected,
                        "actual": t.departure.actual,
                    },
                })
            })
            .collect();
        json!({
            "traces": self.traces,
            "runs": self.runs,
            "agree": self.agree,
            "agree_runs": self.agree_runs,
            "compared": self.compared,
            "silent_runs": self.silent_runs,
            "skipped_actions": self.skipped,
            "unsupported": self.unsupported,
            "classes": classes,
            "unexplained_runs": self.unexplained_runs(),
            "unconfirmed": self.unconfirmed,
            "errors": self.errors,
            "settle_timeouts": self.settle_timeouts,
            "wall_ms": u64::try_from(self.wall.as_millis()).unwrap_or(u64::MAX),
            "played": self.played(),
            "time": {
                "timeouts": self.pace.timeouts.to_string(),
                "pause_ms": u64::try_from(self.pace.pause.as_millis()).unwrap_or(u64::MAX),
                "max_pauses": self.pace.max_pauses(),
                "timer_traces": self.timer_traces,
                "timer_runs_total": self.timer_runs_total,
                "timer_runs": self.timer_runs,
                "timers_played": self.timers_played,
                "timer_deferred": self.timer_deferred,
                "slow_shapes": self.slow_shapes,
                "slow_runs": self.slow_runs,
                "slow_agree": self.slow_agree,
            },
        })
    }
}
