//! `connseq diagram`: Graphviz files of the stream-interface, connection,
//! FD and operation-status machines, drawn from the transitions the model
//! reached (see `connseq_model::check::diagram`).

use clap::Args;
use connseq_model::check::diagram::{self, Diagrams, Machine};
use connseq_model::check::{Feature, ModelConfig, Preset};
use std::io::{ErrorKind, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

#[derive(Debug, Args)]
#[command(after_help = "Without --preset and --feature, the diagrams are the union of the small preset (one chunk \
each way) alone and with each feature alone (garbage with proxy-in and tls-front): about 1.7 million states, about 4 \
s on one core. Measured before propagate-abort, that reached every edge (and every cause) that every pair of features and the small preset with \
all eleven features then reach (52.7 million states, minutes, and it misses two edges: with handshake handlers always \
present, accept() never establishes the front connection at once and the back never waits in REQ); the default \
preset adds none. No feature is dropped. With --preset or --feature, exactly that one configuration is explored \
(the small preset when only --feature is given).")]
pub struct DiagramArgs {
    /// Preset to explore: small, default or full (default: the small preset
    /// alone and with each feature alone, merged; see below).
    #[arg(long)]
    preset: Option<Preset>,
    /// Switch a feature on (repeatable): tls-front, tls-back, proxy-in,
    /// proxy-out, splice, health, monitor, rules, retries, queue, garbage, propagate-abort.
    #[arg(long = "feature", value_name = "FEATURE")]
    features: Vec<Feature>,
    /// Directory the .dot (and .svg) files are written to.
    #[arg(long, default_value = "docs/diagrams")]
    out: PathBuf,
    /// Also render every diagram to SVG with Graphviz's `dot`.
    #[arg(long)]
    svg: bool,
}

/// The configurations the arguments select.
fn configs(a: &DiagramArgs) -> Vec<ModelConfig> {
    if a.preset.is_none() && a.features.is_empty() {
        return diagram::coverage_configs();
    }
    let base = ModelConfig::preset(a.preset.unwrap_or(Preset::Small));
    vec![a.features.iter().fold(base, |c, &f| c.with(f))]
}

pub fn run(a: DiagramArgs) -> Result<ExitCode, String> {
    // Fail before a long search, not after it.
    if a.svg {
        dot_available()?;
    }
    let cfgs = configs(&a);
    let live = std::io::stderr().is_terminal();
    let start = Instant::now();
    let d = Diagrams::explore_all(&cfgs, &mut |n| {
        if live {
            let secs = start.elapsed().as_secs_f64().max(0.001);
            eprint!("\r\x1b[2Kexploring: {n} states, {:.0} states/s", n as f64 / secs);
            let _ = std::io::stderr().flush();
        }
    });
    if live {
        eprint!("\r\x1b[2K");
    }
    let secs = start.elapsed().as_secs_f64();
    std::fs::create_dir_all(&a.out).map_err(|e| format!("cannot create {}: {e}", a.out.display()))?;
    for m in Machine::ALL {
        let dot = a.out.join(format!("{}.dot", m.name()));
        std::fs::write(&dot, d.to_dot(m)).map_err(|e| format!("cannot write {}: {e}", dot.display()))?;
        if a.svg {
            render_svg(&dot, &a.out.join(format!("{}.svg", m.name())))?;
        }
    }
    let edges: Vec<String> = Machine::ALL.iter().map(|&m| format!("{m} {}", d.edge_count(m))).collect();
    println!(
        "{}: {} states, {} transitions explored in {secs:.1} s; edges: {}; written to {}{}",
        d.describe_config(),
        d.states,
        d.transitions,
        edges.join(", "),
        a.out.display(),
        if a.svg { " (.dot and .svg)" } else { " (.dot)" }
    );
    Ok(ExitCode::SUCCESS)
}

/// Whether Graphviz's `dot` can be run.
fn dot_available() -> Result<(), String> {
    match Command::new("dot").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!("`dot -V` failed ({}): {}", o.status, String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Err("--svg needs Graphviz's `dot` program, which is not on PATH (install graphviz, e.g. \
             `apt-get install graphviz`, or run without --svg and render the .dot files elsewhere)"
                .into())
        }
        Err(e) => Err(format!("cannot run `dot`: {e}")),
    }
}

/// Renders `dot` to `svg` with `dot -Tsvg`.
fn render_svg(dot: &Path, svg: &Path) -> Result<(), String> {
    let out = Command::new("dot")
        .arg("-Tsvg")
        .arg(dot)
        .arg("-o")
        .arg(svg)
        .output()
        .map_err(|e| format!("cannot run `dot` on {}: {e}", dot.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`dot -Tsvg {}` failed ({}): {}",
            dot.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}
