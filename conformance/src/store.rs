//! A directory of traces: one ITF file per trace and an `index.json` that
//! lists them in order.
//!
//! ```json
//! {"schema": "connseq-trace-index/1",
//!  "preset": "small", "features": "", "mutant": "none",
//!  "origin": "bfs depth=6", "count": 2022,
//!  "stats": { ... what produced the traces ... },
//!  "traces": [
//!    {"file": "bfs-d6-000000.itf.json", "origin": "bfs depth=6 path=0", "init": 0,
//!     "len": 2, "termination": "CC", "actions": "PeerAborts(Client), ProxyRuns"},
//!    ...]}
//! ```
//!
//! The index is authoritative: files of an earlier export that it does not
//! list are not part of the set. `termination` is the final observation's
//! code, or `null` when the session is still open at the end of the trace.

use crate::itf::{self, features_text, ItfError};
use crate::trace::{Trace, TraceModel};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The version of the index layout.
pub const INDEX_SCHEMA: &str = "connseq-trace-index/1";

/// The index's file name.
pub const INDEX_FILE: &str = "index.json";

/// Writes traces into a directory as they come, then the index.
#[derive(Debug)]
pub struct TraceWriter {
    dir: PathBuf,
    prefix: String,
    model: TraceModel,
    entries: Vec<Value>,
}

impl TraceWriter {
    /// A writer into `dir` (created if needed) for traces of `model`, named
    /// `{prefix}-{index:06}.itf.json`.
    pub fn create(dir: &Path, prefix: &str, model: TraceModel) -> Result<TraceWriter, ItfError> {
        std::fs::create_dir_all(dir).map_err(|source| ItfError::Io { path: dir.to_owned(), source })?;
        Ok(TraceWriter { dir: dir.to_owned(), prefix: prefix.to_owned(), model, entries: Vec::new() })
    }

    /// Writes one trace; returns its file name.
    pub fn add(&mut self, t: &Trace) -> Result<String, ItfError> {
        if t.model != self.model {
            return Err(ItfError::Invalid {
                at: "trace".into(),
                msg: format!("taken from {:?}, the directory holds traces of {:?}", t.model, self.model),
            });
        }
        let file = format!("{}-{:06}.itf.json", self.prefix, self.entries.len());
        itf::write_file(&self.dir.join(&file), t)?;
        self.entries.push(json!({
            "file": file,
            "origin": t.source.to_string(),
            "init": t.init,
            "len": t.len(),
            "termination": t.last().and_then(|o| o.termination).map(|c| c.to_string()),
            "actions": t.actions_text(),
        }));
        Ok(file)
    }

    /// Traces written so far.
    pub fn count(&self) -> usize {
        self.entries.len()
    }

    /// Writes the index, with `origin` (what produced the set, e.g. `bfs
    /// depth=6`) and `stats` (free-form figures about it); returns its path.
    pub fn finish(self, origin: &str, stats: Value) -> Result<PathBuf, ItfError> {
        let index = json!({
            "schema": INDEX_SCHEMA,
            "preset": self.model.preset.name(),
            "features": features_text(self.model.features),
            "mutant": self.model.mutant.name(),
            "origin": origin,
            "count": self.entries.len(),
            "stats": stats,
            "traces": self.entries,
        });
        let path = self.dir.join(INDEX_FILE);
        let text = serde_json::to_string_pretty(&index)?;
        std::fs::write(&path, text + "\n").map_err(|source| ItfError::Io { path: path.clone(), source })?;
        Ok(path)
    }
}

/// The trace files `dir/index.json` lists, in order.
pub fn index_files(dir: &Path) -> Result<Vec<PathBuf>, ItfError> {
    let path = dir.join(INDEX_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| ItfError::Io { path: path.clone(), source })?;
    let index: Value = serde_json::from_str(&text)?;
    let at = path.display().to_string();
    if index.get("schema").and_then(Value::as_str) != Some(INDEX_SCHEMA) {
        return Err(ItfError::Invalid { at, msg: format!("schema is not {INDEX_SCHEMA}") });
    }
    let traces = index
        .get("traces")
        .and_then(Value::as_array)
        .ok_or_else(|| ItfError::Invalid { at: at.clone(), msg: "`traces` is not a list".into() })?;
    traces
        .iter()
        .enumerate()
        .map(|(i, e)| {
            e.get("file").and_then(Value::as_str).map(|f| dir.join(f)).ok_or_else(|| ItfError::Invalid {
                at: format!("{at}: traces[{i}]"),
                msg: "`file` is not a string".into(),
            })
        })
        .collect()
}

/// Every trace of a directory written by [`TraceWriter`], in index order.
pub fn read_dir(dir: &Path) -> Result<Vec<Trace>, ItfError> {
    index_files(dir)?.iter().map(|p| itf::read_file(p)).collect()
}
