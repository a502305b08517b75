//! `report`: the black-box suite over a list of targets (a TOML file, see
//! the library's `targets` module), written as one Markdown report and one
//! JSON file side by side: for each proxy, the traces played, those that
//! agree, and each departure class with an example trace (written as an ITF
//! file) and the command that replays it.
//!
//! The exit status is 0 when every target was played (departures are the
//! report's content, not a failure), 2 when a target could not be started
//! or the harness failed.

use super::CliResult;
use clap::Args;
use connseq_conformance::blackbox::{self, Blackbox, ClassTally, Report, Settle};
use connseq_conformance::pace::{duration_text, Pace};
use connseq_conformance::sources::{bfs_traces, random_walks, DEFAULT_WALK_LEN};
use connseq_conformance::targets::{Suite, Target, TargetsFile};
use connseq_conformance::trace::{Trace, TraceModel};
use connseq_conformance::{format_action, itf};
use connseq_model::check::{Feature, ModelConfig, Preset, System};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The targets file (e.g. conformance/targets/debian.toml).
    #[arg(long, value_name = "FILE")]
    pub targets: PathBuf,
    /// Where the report goes: NAME.md, NAME.json and the example traces
    /// under NAME-traces/ (NAME: --name).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Only the targets with these slugs (repeatable).
    #[arg(long, value_name = "SLUG")]
    pub only: Vec<String>,
    /// Play this ITF trace file only (a report's example), instant, slow
    /// variant and timer run alike.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// The connseq binary, for `{connseq}` in commands.
    #[arg(long, value_name = "PATH", default_value = "target/release/connseq")]
    pub connseq: PathBuf,
    /// Override the targets file's [suite]: BFS depth (0: none).
    #[arg(long, value_name = "D")]
    pub depth: Option<usize>,
    /// Override the targets file's [suite]: random walks besides.
    #[arg(long, value_name = "N")]
    pub walks: Option<usize>,
    /// Override the targets file's [suite]: the walks' seed.
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,
    /// Override the targets file's [suite]: a bigger world
    /// (`client=2,server=2,wire=2,buf=2,pipe=1`).
    #[arg(long, value_name = "SIZES")]
    pub sizes: Option<String>,
    /// The report's file names: NAME.md, NAME.json, NAME-traces/.
    #[arg(long, value_name = "NAME", default_value = "conformance-report")]
    pub name: String,
    /// Targets played at once (each has its own ports and process).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub jobs: usize,
}

/// One target's outcome.
struct TargetOutcome {
    target: Target,
    version: String,
    /// The traces it played, said in words.
    origin: String,
    result: Result<Report, String>,
}

/// What decides a target's traces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct WorldSpec {
    /// The model's features (the target's handshake layers).
    features: Vec<Feature>,
    /// Depth of the breadth-first traces.
    depth: usize,
    /// Random walks besides.
    walks: usize,
}

/// The model and the traces a target plays.
struct World {
    spec: WorldSpec,
    sys: System,
    traces: Vec<Trace>,
    origin: String,
}

impl World {
    /// The small preset with `spec`'s features (and the suite's sizes), its
    /// breadth-first traces and walks; or the one trace of `trace`.
    fn make(spec: WorldSpec, suite: &Suite, trace: Option<&Path>) -> Result<World, Box<dyn std::error::Error>> {
        if let Some(f) = trace {
            let t = itf::read_file(f)?;
            return Ok(World {
                spec,
                sys: t.model.system(),
                traces: vec![t],
                origin: format!("the trace {}", f.display()),
            });
        }
        let config = spec.features.iter().fold(ModelConfig::preset(Preset::Small), |c, &f| c.with(f));
        let mut model = TraceModel::of(&config);
        if let Some(sizes) = &suite.sizes {
            model.sizes = sizes.parse()?;
        }
        let sys = model.system();
        let mut traces = if spec.depth > 0 { bfs_traces(&sys, spec.depth) } else { Vec::new() };
        traces.extend(random_walks(&sys, spec.walks, DEFAULT_WALK_LEN, suite.seed));
        traces.retain(|t| blackbox::fits_layers(&sys, t));
        let mut origin = format!("the small preset ({})", model.sizes);
        if !spec.features.is_empty() {
            let names: Vec<&str> = spec.features.iter().map(|f| f.name()).collect();
            origin.push_str(&format!(" with {}", names.join(", ")));
        }
        if spec.depth > 0 {
            origin.push_str(&format!(": breadth-first traces to depth {}", spec.depth));
        }
        if spec.walks > 0 {
            origin.push_str(&format!(
                "{} {} random walks (seed {})",
                if spec.depth > 0 { ", and" } else { ":" },
                spec.walks,
                suite.seed
            ));
        }
        Ok(World { spec, sys, traces, origin })
    }
}

pub fn run(a: &ReportArgs) -> CliResult {
    let mut file = TargetsFile::read(&a.targets)?;
    let suite = &mut file.suite;
    suite.depth = a.depth.unwrap_or(suite.depth);
    suite.walks = a.walks.unwrap_or(suite.walks);
    suite.seed = a.seed.unwrap_or(suite.seed);
    if a.sizes.is_some() {
        suite.sizes.clone_from(&a.sizes);
    }
    let targets: Vec<Target> =
        file.targets.iter().filter(|t| a.only.is_empty() || a.only.contains(&t.slug)).cloned().collect();
    if targets.is_empty() {
        return Err(format!("no target in {} matches --only {:?}", a.targets.display(), a.only).into());
    }
    // Each target plays the world of its features (and its own depth and
    // walks, where it sets them; the command line's override both).
    let mut worlds: Vec<World> = Vec::new();
    let mut world_of = Vec::with_capacity(targets.len());
    for t in &targets {
        let spec = match &a.trace {
            Some(_) => WorldSpec::default(),
            None => WorldSpec {
                features: t.model_features()?,
                depth: a.depth.or(t.depth).unwrap_or(file.suite.depth),
                walks: a.walks.or(t.walks).unwrap_or(file.suite.walks),
            },
        };
        let i = match worlds.iter().position(|w| w.spec == spec) {
            Some(i) => i,
            None => {
                worlds.push(World::make(spec, &file.suite, a.trace.as_deref())?);
                worlds.len() - 1
            }
        };
        world_of.push(i);
    }
    let origin = worlds[world_of[0]].origin.clone();
    let connseq = std::fs::canonicalize(&a.connseq).unwrap_or_else(|_| a.connseq.clone());
    let scratch = std::env::temp_dir().join(format!("connseq-report-{}", std::process::id()));
    let start = Instant::now();
    println!("report: {} targets", targets.len());
    for w in &worlds {
        println!("  {} traces ({})", w.traces.len(), w.origin);
    }
    let targets: Vec<(Target, usize)> = targets.into_iter().zip(world_of).collect();
    let queue = Mutex::new(targets.into_iter().enumerate().collect::<Vec<_>>());
    let done = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..a.jobs.max(1) {
            s.spawn(|| loop {
                let next = queue.lock().expect("the queue").pop();
                let Some((i, (t, w))) = next else { break };
                let dir = scratch.join(&t.slug);
                let o = play(&t, &file, &worlds[w], &connseq, &dir);
                match &o.result {
                    Ok(r) => println!(
                        "  {}: {} played, {} agree, {:.0} s",
                        t.name,
                        r.played(),
                        r.agree,
                        r.wall.as_secs_f64()
                    ),
                    Err(e) => println!("  {}: {e}", t.name),
                }
                done.lock().expect("the results").push((i, o));
            });
        }
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let mut outcomes = done.into_inner().expect("the results");
    outcomes.sort_by_key(|(i, _)| *i);
    let outcomes: Vec<TargetOutcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    std::fs::create_dir_all(&a.out)?;
    let traces_dir = a.out.join(format!("{}-traces", a.name));
    let examples = write_examples(&traces_dir, &outcomes)?;
    let invocation = Invocation { targets: &a.targets, connseq: &a.connseq, origin: &origin };
    let md = markdown(&outcomes, &examples, &invocation, start.elapsed());
    let js = to_json(&outcomes, &examples, &invocation);
    let md_path = a.out.join(format!("{}.md", a.name));
    let js_path = a.out.join(format!("{}.json", a.name));
    std::fs::write(&md_path, md)?;
    std::fs::write(&js_path, serde_json::to_string_pretty(&js)? + "\n")?;
    println!("written: {}, {}, {}", md_path.display(), js_path.display(), traces_dir.display());
    let failed = outcomes.iter().any(|o| o.result.as_ref().map_or(true, |r| !r.errors.is_empty()));
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// `template` with `{dir}` and `{connseq}` replaced.
fn fill(template: &str, dir: &Path, connseq: &Path) -> String {
    template.replace("{dir}", &dir.display().to_string()).replace("{connseq}", &connseq.display().to_string())
}

/// The first line a shell command prints, or why there is none.
fn version(cmd: &str) -> String {
    match Command::new("sh").arg("-c").arg(cmd).output() {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or("").trim().to_owned()
        }
        Err(e) => format!("(`{cmd}`: {e})"),
    }
}

/// Plays the suite against one target.
fn play(t: &Target, file: &TargetsFile, world: &World, connseq: &Path, dir: &Path) -> TargetOutcome {
    let version = t.version.as_deref().map(|v| version(&fill(v, dir, connseq))).unwrap_or_default();
    let (sys, traces) = (&world.sys, &world.traces[..]);
    let result = (|| -> Result<Report, String> {
        let timeouts = t.declared_timeouts().map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut bb = Blackbox::bind("127.0.0.1:0".parse().expect("an address"), None, Settle::default())
            .map_err(|e| e.to_string())?;
        let pace = Pace::new(
            timeouts,
            t.slow_runs.unwrap_or(file.suite.slow_runs),
            t.timer_runs.unwrap_or(file.suite.timer_runs),
        );
        bb.set_pace(pace);
        bb.set_proxy_version(t.proxy_version);
        if !t.features.is_empty() {
            bb.write_pki(dir).map_err(|e| e.to_string())?;
        }
        let cmd = bb.substitute(&fill(&t.cmd, dir, connseq)).map_err(|e| e.to_string())?;
        bb.launch(&cmd, Duration::from_secs(10)).map_err(|e| e.to_string())?;
        let report = bb.campaign(sys, traces, |_, _, _| {});
        if let Some(why) = bb.exited() {
            return Err(why);
        }
        Ok(report)
    })();
    TargetOutcome { target: t.clone(), version, origin: world.origin.clone(), result }
}

/// A departure class's example, as written.
struct Example {
    slug: String,
    class: String,
    slow: bool,
    file: PathBuf,
}

fn class_slug(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
}

/// Every class's example trace, as an ITF file under `dir`.
fn write_examples(dir: &Path, outcomes: &[TargetOutcome]) -> Result<Vec<Example>, Box<dyn std::error::Error>> {
    let mut v = Vec::new();
    for o in outcomes {
        let Ok(r) = &o.result else { continue };
        for (slow, classes) in [(false, &r.classes), (true, &r.slow_classes)] {
            for (c, tally) in classes {
                std::fs::create_dir_all(dir)?;
                let suffix = if slow { "-slow" } else { "" };
                let file = dir.join(format!("{}-{}{suffix}.itf.json", o.target.slug, class_slug(c.name())));
                itf::write_file(&file, &tally.example)?;
                v.push(Example { slug: o.target.slug.clone(), class: c.name().into(), slow, file });
            }
        }
    }
    Ok(v)
}

/// What the report says about how it was made.
struct Invocation<'a> {
    targets: &'a Path,
    connseq: &'a Path,
    origin: &'a str,
}

impl Invocation<'_> {
    fn replay(&self, slug: &str, file: &Path) -> String {
        format!(
            "connseq-conformance report --targets {} --connseq {} --only {slug} --trace {} --out /tmp/replay",
            self.targets.display(),
            self.connseq.display(),
            file.display()
        )
    }
}

fn example_of<'a>(examples: &'a [Example], slug: &str, class: &str, slow: bool) -> Option<&'a Example> {
    examples.iter().find(|e| e.slug == slug && e.class == class && e.slow == slow)
}

fn class_label(class: &str, slow: bool) -> String {
    if slow {
        format!("{class} (slow variant)")
    } else {
        class.to_owned()
    }
}

fn departures(r: &Report) -> Vec<(bool, &ClassTally, &'static str, bool)> {
    let mut v = Vec::new();
    for (slow, classes) in [(false, &r.classes), (true, &r.slow_classes)] {
        for (c, t) in classes {
            v.push((slow, t, c.name(), c.explained()));
        }
    }
    v
}

fn markdown(outcomes: &[TargetOutcome], examples: &[Example], inv: &Invocation<'_>, wall: Duration) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Conformance report: proxies held to the model in black-box mode\n");
    let _ = writeln!(
        s,
        "Generated by `connseq-conformance {}` (`scripts/conformance-report.sh`), over {}, \
         in {:.0} s. Each proxy is started by the command in the targets file and played as the model's client and \
         server on loopback sockets (docs/conformance.md, \"Holding another proxy to the suite\"): *played* counts \
         the traces the harness can play (one run per eager schedule), *agree* those whose run agreed on every read. \
         Timer runs wait past the declared timeout that fires; slow variants pause a peer well below every \
         timeout, which must change nothing.\n",
        std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        inv.origin,
        wall.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "| proxy | version | played (runs) | agree (runs) | departures, runs | timer runs played (of playable) | slow variants agree |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---|---:|---:|");
    for o in outcomes {
        match &o.result {
            Ok(r) => {
                let deps: Vec<String> = departures(r)
                    .iter()
                    .map(|(slow, t, c, _)| format!("{}: {}", class_label(c, *slow), t.runs))
                    .collect();
                let mut deps = if deps.is_empty() { "none".to_owned() } else { deps.join("; ") };
                if r.unconfirmed > 0 {
                    deps.push_str(&format!(" ({} traces departed once, not again: timing)", r.unconfirmed));
                }
                let _ = writeln!(
                    s,
                    "| {} | {} | {} ({}) | {} ({}) | {deps} | {} (of {}) | {} of {} |",
                    o.target.name,
                    o.version,
                    r.played(),
                    r.runs,
                    r.agree,
                    r.agree_runs,
                    r.timer_runs,
                    r.timer_runs_total,
                    r.slow_agree,
                    r.slow_runs
                );
            }
            Err(e) => {
                let _ =
                    writeln!(s, "| {} | {} | not played: {} | | | | |", o.target.name, o.version, e.replace('\n', " "));
            }
        }
    }
    for o in outcomes {
        let _ = writeln!(s, "\n## {}\n", o.target.name);
        if !o.version.is_empty() {
            let _ = writeln!(s, "Version: `{}`. ", o.version);
        }
        if !o.target.features.is_empty() {
            let _ = writeln!(
                s,
                "Features: `{}` (the client's PROXY header: {}). Traces: {}. ",
                o.target.features.join(", "),
                o.target.proxy_version,
                o.origin
            );
        }
        let _ = writeln!(
            s,
            "Declared timeouts: `{}`. Command (`{}` in the targets file):\n",
            o.target.timeouts, o.target.slug
        );
        let _ = writeln!(s, "```sh\n{}\n```\n", o.target.cmd.trim());
        let r = match &o.result {
            Ok(r) => r,
            Err(e) => {
                let _ = writeln!(s, "Not played: {e}");
                continue;
            }
        };
        let unsupported: usize = r.unsupported.values().sum();
        let _ = writeln!(
            s,
            "{} traces given: {} played in {} runs, {} agree ({} runs); {} unsupported; {} timer traces beyond the \
             timer-run bound. Timer traces playable with these timeouts: {} in {} runs, {} played ({}). Slow variants \
             (pause {} before at most {} actions): {} played of {} shapes, {} agree. Reads compared: {}. \
             Traces whose run departed once and not when run again with a quiet period twice as long \
             (timing, not counted as departures): {}. Harness errors: {}. Wall time {:.0} s.\n",
            r.traces,
            r.played(),
            r.runs,
            r.agree,
            r.agree_runs,
            unsupported,
            r.timer_deferred,
            r.timer_traces,
            r.timer_runs_total,
            r.timer_runs,
            r.timers_played_text(),
            duration_text(r.pace.pause),
            r.pace.max_pauses(),
            r.slow_runs,
            r.slow_shapes,
            r.slow_agree,
            r.compared,
            r.unconfirmed,
            r.errors.values().sum::<usize>(),
            r.wall.as_secs_f64()
        );
        let deps = departures(r);
        if deps.is_empty() {
            let _ = writeln!(s, "No departure.");
        }
        for (slow, t, class, explained) in deps {
            let label = class_label(class, slow);
            let note = if explained { " (explained by the model)" } else { "" };
            let _ = writeln!(s, "### {label}{note}: {} runs ({} traces)\n", t.runs, t.traces);
            let _ = writeln!(s, "- example: `{}` (initial state {})", t.example.source, t.example.init);
            let actions: Vec<String> = t.example.actions.iter().map(|&a| format_action(a)).collect();
            let _ = writeln!(s, "- trace: `{}`", actions.join(", "));
            if slow {
                let _ = writeln!(
                    s,
                    "- played with a pause of {} before the last peer actions",
                    duration_text(r.pace.pause)
                );
            }
            let _ = writeln!(s, "- {}", t.departure);
            if let Some(e) = example_of(examples, &o.target.slug, class, slow) {
                let _ = writeln!(s, "- replay: `{}`", inv.replay(&o.target.slug, &e.file));
            }
            let key = class_label(class, slow);
            if let Some(repro) = o.target.repro.get(&key) {
                let _ = writeln!(s, "- standalone reproduction: [`{repro}`](../{repro})");
            }
            s.push('\n');
        }
        if !r.unsupported.is_empty() {
            let _ = writeln!(s, "\nUnsupported traces, by reason:\n");
            for (why, n) in &r.unsupported {
                let _ = writeln!(s, "- {n}: {why}");
            }
        }
        if !r.errors.is_empty() {
            let _ = writeln!(s, "\nHarness errors:\n");
            for (e, n) in &r.errors {
                let _ = writeln!(s, "- {n}: {e}");
            }
        }
    }
    s
}

fn to_json(outcomes: &[TargetOutcome], examples: &[Example], inv: &Invocation<'_>) -> Value {
    let targets: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let mut v = json!({
                "name": o.target.name,
                "slug": o.target.slug,
                "version": o.version,
                "cmd": o.target.cmd,
                "timeouts": o.target.timeouts,
                "features": o.target.features,
                "traces": o.origin,
            });
            match &o.result {
                Ok(r) => {
                    let mut rj = r.to_json();
                    if let Some(classes) = rj["classes"].as_array_mut() {
                        for c in classes {
                            let slow = c["slow_variant"].as_bool().unwrap_or(false);
                            let name = c["class"].as_str().unwrap_or("").to_owned();
                            if let Some(e) = example_of(examples, &o.target.slug, &name, slow) {
                                c["example"]["file"] = json!(e.file.display().to_string());
                                c["example"]["replay"] = json!(inv.replay(&o.target.slug, &e.file));
                            }
                            if let Some(repro) = o.target.repro.get(&class_label(&name, slow)) {
                                c["repro"] = json!(repro);
                            }
                        }
                    }
                    v["report"] = rj;
                }
                Err(e) => v["error"] = json!(e),
            }
            v
        })
        .collect();
    json!({ "targets_file": inv.targets.display().to_string(), "traces": inv.origin, "targets": targets })
}
