//! The targets file of `connseq-conformance report`: the proxies to hold to
//! the model in black-box mode ([`crate::blackbox`]), each with the command
//! that starts it and the timeouts it is configured with
//! (`conformance/targets/debian.toml` is one).
//!
//! ```toml
//! [suite]
//! depth = 6          # breadth-first traces of the small preset
//! timer_runs = 8     # per target: runs whose trace fires a timer
//! slow_runs = 16     # per target: slow variants
//! walks = 0          # seeded random walks besides (seed = 0)
//! sizes = "client=2,server=2,wire=2,buf=2,pipe=1"   # optional: a bigger world
//!
//! [[target]]
//! name = "socat -t 30"
//! slug = "socat-t30"                      # file names, --only
//! version = "socat -V | grep 'socat version'"   # optional, through sh -c
//! timeouts = "client=30s,server=30s,connect=5s"
//! timer_runs = 0                          # optional, overrides the suite's
//! cmd = "exec socat -t 30 TCP-LISTEN:{listen_port},bind={listen_host},reuseaddr,fork TCP:{server}"
//! features = ["proxy-in", "tls-front"]   # optional: handshake layers (none: plain TCP)
//! proxy_version = "v2"                    # optional: the client's PROXY header (v1 by default)
//! depth = 8                               # optional: overrides the suite's depth (and walks = N)
//! repro = { "data lost" = "conformance/repro/x.py" }   # optional: standalone reproductions by class
//! ```

use crate::pace::Timeouts;
use crate::proxy_peer::ProxyVersion;
use connseq_model::check::Feature;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

/// A targets file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    /// What every target plays.
    #[serde(default)]
    pub suite: Suite,
    /// The targets, in report order.
    #[serde(rename = "target")]
    pub targets: Vec<Target>,
}

/// What every target plays.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Suite {
    /// Depth of the small preset's breadth-first traces.
    pub depth: usize,
    /// Runs whose trace fires a timer, per target.
    pub timer_runs: usize,
    /// Slow variants, per target.
    pub slow_runs: usize,
    /// Seeded random walks played besides the breadth-first traces.
    pub walks: usize,
    /// Their seed.
    pub seed: u64,
    /// A bigger world than the small preset's (`client=2,server=2,wire=2,buf=2,pipe=1`).
    pub sizes: Option<String>,
}

impl Default for Suite {
    fn default() -> Self {
        Suite { depth: crate::DEFAULT_DEPTH, timer_runs: 8, slow_runs: 16, walks: 0, seed: 0, sizes: None }
    }
}

/// One proxy to hold to the model.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Its name in the report.
    pub name: String,
    /// A short name for files and `--only`.
    pub slug: String,
    /// A shell command printing its version (optional).
    #[serde(default)]
    pub version: Option<String>,
    /// The command that starts it (`sh -c`, in the foreground), with placeholders.
    pub cmd: String,
    /// The timeouts it is configured with (`client=..,server=..,connect=..`).
    #[serde(default = "default_timeouts")]
    pub timeouts: String,
    /// Overrides the suite's timer runs.
    #[serde(default)]
    pub timer_runs: Option<usize>,
    /// Overrides the suite's slow variants.
    #[serde(default)]
    pub slow_runs: Option<usize>,
    /// The handshake layers the target is configured for, as model
    /// features (`proxy-in`, `proxy-out`, `tls-front`, `tls-back`; none:
    /// plain TCP): the harness's peers speak them, and the target plays the
    /// small preset with them.
    #[serde(default)]
    pub features: Vec<String>,
    /// The PROXY header the client sends (`v1` or `v2`), with `proxy-in`.
    #[serde(default)]
    pub proxy_version: ProxyVersion,
    /// Overrides the suite's breadth-first depth (a handshake takes steps).
    #[serde(default)]
    pub depth: Option<usize>,
    /// Overrides the suite's random walks.
    #[serde(default)]
    pub walks: Option<usize>,
    /// Standalone reproductions, by departure class name.
    #[serde(default)]
    pub repro: BTreeMap<String, String>,
}

fn default_timeouts() -> String {
    Timeouts::default().to_string()
}

/// The features a black-box target may declare: the handshake layers the
/// harness's peers speak.
pub const BLACKBOX_FEATURES: [Feature; 4] = [Feature::ProxyIn, Feature::ProxyOut, Feature::TlsFront, Feature::TlsBack];

impl Target {
    /// The declared features, as the model's.
    pub fn model_features(&self) -> Result<Vec<Feature>, TargetsError> {
        let invalid = |why: String| TargetsError::Invalid { target: self.name.clone(), why };
        let mut v = Vec::new();
        for name in &self.features {
            let f: Feature = name.parse().map_err(|e: String| invalid(format!("features: {e}")))?;
            if !BLACKBOX_FEATURES.contains(&f) {
                return Err(invalid(format!(
                    "features: `{name}` is not a handshake layer the harness's peers speak (proxy-in, proxy-out, tls-front, tls-back)"
                )));
            }
            if !v.contains(&f) {
                v.push(f);
            }
        }
        v.sort_by_key(|&f| f as u8);
        Ok(v)
    }

    /// The declared timeouts.
    pub fn declared_timeouts(&self) -> Result<Timeouts, TargetsError> {
        Timeouts::parse(&self.timeouts)
            .map_err(|why| TargetsError::Invalid { target: self.name.clone(), why: format!("timeouts: {why}") })
    }
}

/// Why a targets file cannot be used.
#[derive(Debug, Error)]
pub enum TargetsError {
    /// It could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// It is not valid TOML for a targets file.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The error.
        source: toml::de::Error,
    },
    /// A target's settings are wrong.
    #[error("target `{target}`: {why}")]
    Invalid {
        /// The target's name.
        target: String,
        /// What is wrong.
        why: String,
    },
}

impl TargetsFile {
    /// Reads and checks a targets file.
    pub fn read(path: &Path) -> Result<TargetsFile, TargetsError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| TargetsError::Read { path: shown.clone(), source })?;
        TargetsFile::parse(&text).map_err(|e| match e {
            TargetsError::Parse { source, .. } => TargetsError::Parse { path: shown, source },
            other => other,
        })
    }

    /// Parses and checks the text of a targets file.
    pub fn parse(text: &str) -> Result<TargetsFile, TargetsError> {
        let file: TargetsFile =
            toml::from_str(text).map_err(|source| TargetsError::Parse { path: String::new(), source })?;
        if let Some(sizes) = &file.suite.sizes {
            sizes.parse::<crate::Sizes>().map_err(|why| TargetsError::Invalid { target: "[suite]".into(), why })?;
        }
        let mut slugs = std::collections::HashSet::new();
        for t in &file.targets {
            t.declared_timeouts()?;
            let invalid = |why: &str| TargetsError::Invalid { target: t.name.clone(), why: why.into() };
            if t.slug.is_empty() || !t.slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(invalid("slug: letters, digits, - and _ only"));
            }
            if !slugs.insert(t.slug.clone()) {
                return Err(invalid("slug used twice"));
            }
            t.model_features()?;
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_targets_file_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("targets/debian.toml");
        let file = TargetsFile::read(&path).expect("a valid targets file");
        let slugs: Vec<&str> = file.targets.iter().map(|t| t.slug.as_str()).collect();
        assert_eq!(
            slugs,
            [
                "haproxy",
                "haproxy-proxy",
                "haproxy-tls",
                "haproxy-tls-back",
                "nginx-half-close-off",
                "nginx-half-close-on",
                "nginx-tls",
                "nginx-tls-back",
                "socat",
                "socat-t30",
                "connseq",
                "connseq-proxy",
                "connseq-tls"
            ]
        );
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for t in &file.targets {
            t.model_features().expect("handshake layers only");
            // A departure's reproduction is a script the report links to.
            for (class, script) in &t.repro {
                assert!(root.join(script).is_file(), "{}: {class}: {script} is missing", t.slug);
            }
        }
    }

    #[test]
    fn a_target_with_bad_timeouts_is_refused() {
        let text = "[[target]]\nname = \"x\"\nslug = \"x\"\ncmd = \"true\"\ntimeouts = \"client=3\"\n";
        assert!(TargetsFile::parse(text).is_ok());
        let bad = text.replace("client=3", "idle=3s");
        assert!(matches!(TargetsFile::parse(&bad), Err(TargetsError::Invalid { .. })));
    }
}
