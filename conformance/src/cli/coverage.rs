//! `coverage`: which action kinds, actions and (state class, action kind)
//! edges the breadth-first traces exercise, against what the search
//! expanded and, with `--space`, against the whole reachable space.
//!
//! The state class is the pair (front, back) of stream-interface states:
//! see the library's `coverage` module for the choice.

use super::model_args::ModelArgs;
use super::CliResult;
use clap::Args;
use connseq_conformance::action::ActionKind;
use connseq_conformance::coverage::{space_coverage, Coverage};
use connseq_conformance::itf::features_text;
use connseq_conformance::sources::{bfs, random_walks, DEFAULT_DEPTH, DEFAULT_WALK_LEN};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CoverageArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Depth bound of the breadth-first traces.
    #[arg(long, default_value_t = DEFAULT_DEPTH)]
    pub depth: usize,
    /// Also report this many seeded random walks.
    #[arg(long, default_value_t = 0)]
    pub walks: usize,
    /// Seed of the walks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Length bound of a walk.
    #[arg(long, default_value_t = DEFAULT_WALK_LEN)]
    pub max_len: usize,
    /// Compare with every edge of the reachable space (explores all of it:
    /// well under a second for the small preset, minutes for the default one).
    #[arg(long)]
    pub space: bool,
    /// Exit with status 1 when the traces miss an edge of the comparison.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(a: &CoverageArgs) -> CliResult {
    let sys = a.model.system();
    println!(
        "model: preset {} features [{}] mutant {}",
        sys.cfg.preset,
        features_text(sys.cfg.features),
        sys.cfg.mutant
    );
    let mut bfs_cov = Coverage::default();
    let mut traces = 0usize;
    let stats = bfs(&sys, a.depth, |t| {
        traces += 1;
        bfs_cov.add_trace(&t);
    });
    println!(
        "bfs depth {}: {traces} traces, {} steps; distinct states per depth {:?}; {} tree edges, {} merged; \
         {} traces extended past a merged leaf, {} traces for edges only merged paths take",
        a.depth,
        bfs_cov.steps,
        stats.states_per_depth,
        stats.tree_edges,
        stats.merged_edges,
        stats.extended,
        stats.edge_traces
    );
    let space = a.space.then(|| space_coverage(&sys));
    let (universe, what) = match &space {
        Some(s) => (s, "the reachable space".to_owned()),
        None => (&stats.explored, format!("the search to depth {}", a.depth)),
    };
    let mut complete = report("bfs traces", &bfs_cov, universe, &what);
    if a.walks > 0 {
        let walks = random_walks(&sys, a.walks, a.max_len, a.seed);
        let cov = Coverage::of_traces(&walks);
        println!();
        println!("random walks: {} walks (seed {}, max-len {}), {} steps", walks.len(), a.seed, a.max_len, cov.steps);
        complete &= report("random walks", &cov, universe, &what);
    }
    Ok(if complete || !a.strict { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Prints a coverage against a universe; true when nothing is missing.
fn report(name: &str, c: &Coverage, universe: &Coverage, what: &str) -> bool {
    let gap = c.missing(universe);
    println!();
    let kinds = share(c.kinds.keys(), |k| universe.kinds.contains_key(k));
    println!(
        "{name}: {} of the {} action kinds {what} takes{} (the model names {})",
        kinds.0,
        universe.kinds.len(),
        beyond(kinds.1),
        ActionKind::ALL.len()
    );
    for (k, n) in &c.kinds {
        println!("  {:<20} {n:>9}", k.name());
    }
    let actions = share(c.actions.keys(), |k| universe.actions.contains_key(k));
    println!("{name}: {} of the {} actions {what} takes{}", actions.0, universe.actions.len(), beyond(actions.1));
    for (k, n) in &c.actions {
        println!("  {k:<24} {n:>9}");
    }
    let edges = share(c.edges.keys(), |k| universe.edges.contains_key(k));
    println!(
        "{name}: {} of the {} (state class, action kind) edges {what} takes{} (state class = SI front/back)",
        edges.0,
        universe.edges.len(),
        beyond(edges.1)
    );
    for ((class, kind), n) in &c.edges {
        println!("  {:<9} {:<20} {n:>9}", class.to_string(), kind.name());
    }
    let classes = share(c.classes.keys(), |k| universe.classes.contains_key(k));
    println!(
        "{name}: {} of the {} state classes {what} reaches{}",
        classes.0,
        universe.classes.len(),
        beyond(classes.1)
    );
    if gap.is_empty() {
        println!("{name}: nothing missing");
    } else {
        let kinds: Vec<_> = gap.kinds.iter().map(|k| k.name()).collect();
        let edges: Vec<_> = gap.edges.iter().map(|(c, k)| format!("{c} {k}")).collect();
        let classes: Vec<_> = gap.classes.iter().map(|c| c.to_string()).collect();
        println!("{name}: missing kinds [{}]", kinds.join(", "));
        println!("{name}: missing actions [{}]", gap.actions.join(", "));
        println!("{name}: missing edges [{}]", edges.join(", "));
        println!("{name}: missing classes [{}]", classes.join(", "));
    }
    gap.is_empty()
}

/// How many of `items` are in the universe, and how many are not.
fn share<'a, T: 'a>(items: impl Iterator<Item = &'a T>, inside: impl Fn(&T) -> bool) -> (usize, usize) {
    items.fold((0, 0), |(i, o), x| if inside(x) { (i + 1, o) } else { (i, o + 1) })
}

fn beyond(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", and {n} beyond it")
    }
}
