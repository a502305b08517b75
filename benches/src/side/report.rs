//! From samples to results: per-round ratios of connseq to HAProxy, their
//! median and spread, set against the goals, as Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::cases::{Case, Measure, Sample};
use super::targets::Kind;

/// A median and the spread around it, over rounds.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Spread {
    /// Over `values` (none: `None`; NaNs are left out).
    pub fn of(mut values: Vec<f64>) -> Option<Spread> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
        Some(Spread { median, min: values[0], max: values[n - 1] })
    }

    fn ratio_text(&self) -> String {
        if self.min == self.max {
            format!("**{:.2}**", self.median)
        } else {
            format!("**{:.2}** ({:.2}–{:.2})", self.median, self.min, self.max)
        }
    }
}

/// A goal on a ratio connseq / HAProxy.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// The ratio is at most this.
    AtMost(f64),
    /// The ratio is at least this.
    AtLeast(f64),
}

impl Goal {
    fn text(self) -> String {
        match self {
            Goal::AtMost(v) => format!("≤ {v}"),
            Goal::AtLeast(v) => format!("≥ {v}"),
        }
    }

    /// Whether the median meets it.
    pub fn met(self, s: Spread) -> bool {
        match self {
            Goal::AtMost(v) => s.median <= v,
            Goal::AtLeast(v) => s.median >= v,
        }
    }

    /// The goal's value.
    pub fn value(self) -> f64 {
        match self {
            Goal::AtMost(v) | Goal::AtLeast(v) => v,
        }
    }
}

/// The goal for the CPU cost of `case`.
pub fn cpu_goal(case: &Case) -> Option<Goal> {
    match case.id {
        "copy-1" | "copy-8" | "splice-1" | "splice-8" | "conn" => Some(Goal::AtMost(0.8)),
        _ => None,
    }
}

/// The goal for the throughput or rate of `case`.
pub fn value_goal(case: &Case) -> Option<Goal> {
    match case.id {
        "copy-1" | "copy-8" => Some(Goal::AtLeast(1.2)),
        "splice-1" | "splice-8" => Some(Goal::AtLeast(1.1)),
        "conn" => Some(Goal::AtLeast(1.2)),
        "conn-tls-full" => Some(Goal::AtLeast(1.5)),
        "tls-term-1" | "tls-term-8" | "tls-orig-1" | "tls-orig-8" => Some(Goal::AtLeast(1.2)),
        _ => None,
    }
}

/// The goal on the added p99 latency.
pub const LATENCY_GOAL: Goal = Goal::AtMost(0.7);

/// Idle memory per connection must stay below this many bytes.
pub const IDLE_GOAL: f64 = 1024.0;

/// The samples of one run, indexed.
#[derive(Debug)]
pub struct Results<'a> {
    by: BTreeMap<(usize, &'a str, Kind, usize), &'a Sample>,
    /// Thread counts run, in order.
    pub threads: Vec<usize>,
    rounds: usize,
}

impl<'a> Results<'a> {
    /// Indexes `samples`.
    pub fn new(samples: &'a [Sample]) -> Results<'a> {
        let mut by = BTreeMap::new();
        let mut threads = Vec::new();
        let mut rounds = 0;
        for s in samples {
            by.insert((s.threads, s.case.as_str(), s.target, s.round), s);
            if !s.case.starts_with("idle") && !threads.contains(&s.threads) {
                threads.push(s.threads);
            }
            rounds = rounds.max(s.round + 1);
        }
        Results { by, threads, rounds }
    }

    fn get(&self, threads: usize, case: &str, target: Kind, round: usize) -> Option<&'a Sample> {
        self.by.get(&(threads, case, target, round)).copied()
    }

    /// `f` of each round's sample of `target`.
    fn each(&self, threads: usize, case: &str, target: Kind, f: impl Fn(&Sample) -> Option<f64>) -> Vec<f64> {
        (0..self.rounds).filter_map(|r| self.get(threads, case, target, r).and_then(&f)).collect()
    }

    /// The spread of `f` of `target`'s samples.
    pub fn spread(
        &self,
        threads: usize,
        case: &str,
        target: Kind,
        f: impl Fn(&Sample) -> Option<f64>,
    ) -> Option<Spread> {
        Spread::of(self.each(threads, case, target, f))
    }

    /// The spread of the per-round ratio connseq / HAProxy of `f`.
    pub fn ratio(&self, threads: usize, case: &str, f: impl Fn(&Sample) -> Option<f64>) -> Option<Spread> {
        Spread::of(
            (0..self.rounds)
                .filter_map(|r| {
                    let c = f(self.get(threads, case, Kind::Connseq, r)?)?;
                    let h = f(self.get(threads, case, Kind::Haproxy, r)?)?;
                    Some(c / h)
                })
                .collect(),
        )
    }

    /// Latency percentile `i` (0: p50, 1: p99, 2: p99.9) added over the
    /// direct path in the same round, for `target`.
    fn added(&self, threads: usize, target: Kind, i: usize, r: usize) -> Option<f64> {
        let t = self.get(threads, "latency", target, r)?.latency?[i];
        let d = self.get(threads, "latency", Kind::Direct, r)?.latency?[i];
        Some(t - d)
    }

    /// The spread of the added latency of `target`.
    pub fn added_spread(&self, threads: usize, target: Kind, i: usize) -> Option<Spread> {
        Spread::of((0..self.rounds).filter_map(|r| self.added(threads, target, i, r)).collect())
    }

    /// The spread of the ratio of added latencies connseq / HAProxy.
    pub fn added_ratio(&self, threads: usize, i: usize) -> Option<Spread> {
        Spread::of(
            (0..self.rounds)
                .filter_map(|r| {
                    Some(self.added(threads, Kind::Connseq, i, r)? / self.added(threads, Kind::Haproxy, i, r)?)
                })
                .collect(),
        )
    }

    /// The spread of (value with `n` threads / value with 1 thread) of
    /// `target`, round by round.
    pub fn scaling(&self, case: &str, target: Kind, n: usize) -> Option<Spread> {
        Spread::of(
            (0..self.rounds)
                .filter_map(|r| Some(self.get(n, case, target, r)?.value / self.get(1, case, target, r)?.value))
                .collect(),
        )
    }
}

fn unit(case: &Case) -> (&'static str, &'static str) {
    match case.measure {
        Measure::Bulk { .. } => ("Gbit/s", "CPU s/GiB"),
        Measure::Conns => ("conn/s", "CPU s/1000 conn"),
        Measure::Latency => ("µs", ""),
    }
}

fn num(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn cell(s: Option<Spread>, unit: &str) -> String {
    s.map_or("–".to_owned(), |s| format!("{} {unit}", num(s.median)))
}

fn ratio_cell(s: Option<Spread>) -> String {
    s.map_or("–".to_owned(), |s| s.ratio_text())
}

fn verdict(goal: Option<Goal>, s: Option<Spread>) -> (String, &'static str) {
    match (goal, s) {
        (Some(g), Some(s)) => (g.text(), if g.met(s) { "yes" } else { "**no**" }),
        (Some(g), None) => (g.text(), "–"),
        (None, _) => ("–".to_owned(), ""),
    }
}

/// The whole results page: per thread count, the CPU cost first, then
/// throughput and rates, latency; then scaling and idle memory.
pub fn markdown(samples: &[Sample], cases: &[Case], idle_count: usize) -> String {
    let r = Results::new(samples);
    let mut md = String::new();
    let rounds = r.rounds;
    let _ = writeln!(
        md,
        "Medians over {rounds} round(s); a ratio is connseq / HAProxy taken round by round, shown as its median \
         (smallest–largest). Direct: the client talks to the server itself.\n"
    );
    for &t in &r.threads {
        let _ = writeln!(md, "### {t} proxy thread{}\n", if t == 1 { "" } else { "s" });
        let _ = writeln!(md, "CPU cost: the proxy process's own CPU seconds (user + system) per unit of work.\n");
        let _ =
            writeln!(md, "| case | connseq | HAProxy | connseq / HAProxy | goal | met |\n|---|---|---|---|---|---|");
        for c in cases.iter().filter(|c| c.measure != Measure::Latency) {
            let (_, u) = unit(c);
            let cpu = |s: &Sample| s.cpu;
            let (g, met) = verdict(cpu_goal(c), r.ratio(t, c.id, cpu));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {g} | {met} |",
                c.label,
                cell(r.spread(t, c.id, Kind::Connseq, cpu), u),
                cell(r.spread(t, c.id, Kind::Haproxy, cpu), u),
                ratio_cell(r.ratio(t, c.id, cpu))
            );
        }
        let _ = writeln!(
            md,
            "\nThroughput and rates.\n\n| case | direct | connseq | HAProxy | connseq / HAProxy | goal | met |\n\
             |---|---|---|---|---|---|---|"
        );
        for c in cases.iter().filter(|c| c.measure != Measure::Latency) {
            let (u, _) = unit(c);
            let v = |s: &Sample| Some(s.value);
            let (g, met) = verdict(value_goal(c), r.ratio(t, c.id, v));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {g} | {met} |",
                c.label,
                cell(r.spread(t, c.id, Kind::Direct, v), u),
                cell(r.spread(t, c.id, Kind::Connseq, v), u),
                cell(r.spread(t, c.id, Kind::Haproxy, v), u),
                ratio_cell(r.ratio(t, c.id, v))
            );
        }
        if cases.iter().any(|c| c.measure == Measure::Latency) {
            let _ = writeln!(
                md,
                "\nLatency of a 64 B round trip on one connection, and what each proxy adds to the direct path's.\n\n\
                 | percentile | direct | connseq adds | HAProxy adds | connseq / HAProxy | goal | met |\n\
                 |---|---|---|---|---|---|---|"
            );
            for (i, p) in ["p50", "p99", "p99.9"].iter().enumerate() {
                let direct = r.spread(t, "latency", Kind::Direct, |s| s.latency.map(|l| l[i]));
                let ratio = r.added_ratio(t, i);
                let goal = (i == 1).then_some(LATENCY_GOAL);
                let (g, met) = verdict(goal, ratio);
                let _ = writeln!(
                    md,
                    "| {p} | {} | {} | {} | {} | {g} | {met} |",
                    cell(direct, "µs"),
                    cell(r.added_spread(t, Kind::Connseq, i), "µs"),
                    cell(r.added_spread(t, Kind::Haproxy, i), "µs"),
                    ratio_cell(ratio)
                );
            }
        }
        md.push('\n');
    }
    if let Some(&n) = r.threads.iter().find(|&&t| t > 1) {
        if r.threads.contains(&1) {
            let _ = writeln!(
                md,
                "### Scaling from 1 to {n} threads\n\nThroughput or rate with {n} threads divided by the same with 1, \
                 round by round; the goal is that connseq scales at least as well as HAProxy.\n\n\
                 | case | connseq | HAProxy | met |\n|---|---|---|---|"
            );
            for c in cases.iter().filter(|c| c.measure != Measure::Latency) {
                let cs = r.scaling(c.id, Kind::Connseq, n);
                let hs = r.scaling(c.id, Kind::Haproxy, n);
                let met = match (cs, hs) {
                    (Some(a), Some(b)) if a.median >= b.median => "yes",
                    (Some(_), Some(_)) => "**no**",
                    _ => "–",
                };
                let _ = writeln!(md, "| {} | {} | {} | {met} |", c.label, ratio_cell(cs), ratio_cell(hs));
            }
            md.push('\n');
        }
    }
    let idle: Vec<&Sample> = samples.iter().filter(|s| s.case.starts_with("idle")).collect();
    if let Some(first) = idle.first() {
        let _ = writeln!(
            md,
            "### Idle memory\n\nResident memory each proxy gains per idle proxied connection, {} connections \
             held open through a fresh proxy of {} thread; goal: connseq below {IDLE_GOAL} bytes (plain).\n\n\
             | connection | connseq | HAProxy | connseq / HAProxy | met |\n|---|---|---|---|---|",
            idle_count, first.threads
        );
        for (case, label) in [("idle-plain", "plain"), ("idle-tls", "TLS (terminated)")] {
            let t = first.threads;
            let v = |s: &Sample| Some(s.value);
            let c = r.spread(t, case, Kind::Connseq, v);
            let met = match (case, c) {
                ("idle-plain", Some(c)) if c.median < IDLE_GOAL => "yes",
                ("idle-plain", Some(_)) => "**no**",
                _ => "",
            };
            let _ = writeln!(
                md,
                "| {label} | {} | {} | {} | {met} |",
                cell(c, "B"),
                cell(r.spread(t, case, Kind::Haproxy, v), "B"),
                ratio_cell(r.ratio(t, case, v))
            );
        }
        md.push('\n');
    }
    let errors: u64 = samples.iter().map(|s| s.errors).sum();
    if errors > 0 {
        let _ = writeln!(md, "Failed connections or transfers during the run: {errors} (see samples.json).\n");
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_is_the_median_and_the_extremes_without_nans() {
        let s = Spread::of(vec![3.0, f64::NAN, 1.0, 2.0, 10.0]).expect("values");
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        let s = Spread::of(vec![0.9, 0.7, 0.8]).expect("values");
        assert_eq!(s.median, 0.8);
        assert!(Goal::AtMost(0.8).met(s) && !Goal::AtLeast(1.2).met(s));
        assert!(Spread::of(vec![f64::NAN]).is_none());
    }
}
