//! `connseq proxy --haproxy-cfg FILE`: the tcp-mode subset of an HAProxy
//! 2.x configuration, read as connseq's own configuration. Every directive
//! outside the subset is an error naming the file, the line and the
//! directive (`--lenient`: a warning, and the directive is left out);
//! nothing is ignored silently. docs/operations.md maps each directive.
//!
//! The subset:
//! - `global`: `maxconn`, `nbthread`, `tune.bufsize`, `tune.pipesize`,
//!   `stats socket PATH [level admin] [mode 600]`, `crt-base`, `ca-base`,
//!   `log stdout|stderr ...`;
//! - `defaults` (the unnamed one before a proxy) and proxies: `mode tcp`,
//!   `timeout client|server|connect|queue|client-fin|server-fin`,
//!   `maxconn`, `retries`, `[no] option redispatch`, `[no] option
//!   splice-auto`, `option tcplog`, `option tcp-check` (no rule), `log global`, `balance
//!   roundrobin|leastconn`, `default-server OPTIONS`;
//! - `frontend` and `listen`: `bind ADDR[,ADDR...] [ssl crt FILE...]
//!   [alpn LIST] [accept-proxy]`, `default_backend`, `acl NAME src
//!   BLOCK...`, `tcp-request connection accept|reject [if|unless COND]`
//!   (COND: `{ src BLOCK... }` or one ACL on `src`, maybe `!`),
//!   `monitor-net` (HAProxy before 2.4);
//! - `backend` and `listen`: `server NAME ADDR [maxconn N] [check] [inter
//!   T] [rise N] [fall N] [backup|no-backup] [send-proxy|send-proxy-v2]
//!   [ssl [verify none|required] [ca-file FILE] [sni str(NAME)] [alpn
//!   LIST]]` (`check` is a TCP connect check).
//!
//! Relative file names start at the configuration file's directory (then
//! `crt-base` or `ca-base`).

mod build;
mod parse;
mod words;

use super::error::{ConfigError, Problem};
use super::loaded::Loaded;
use std::path::Path;

/// Reads the HAProxy configuration at `path`.
pub(crate) fn load(path: &Path, lenient: bool) -> Result<Loaded, ConfigError> {
    let file = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable { file: file.clone(), source })?;
    parse_text(&text, &file, lenient)
}

/// Reads HAProxy configuration `text`; errors name it `file`, and relative
/// file names start at `file`'s directory.
pub(crate) fn parse_text(text: &str, file: &str, lenient: bool) -> Result<Loaded, ConfigError> {
    let mut diag = parse::Diag { file, lenient, warnings: Vec::new() };
    let lines = words::lines(text).map_err(|(line, why)| diag.error(line, "(quoting)", Problem::Syntax(why)))?;
    let dir = Path::new(file).parent().unwrap_or(Path::new("")).to_owned();
    let sections = parse::sections(&lines, &dir, &mut diag)?;
    let config = build::build(sections, &mut diag)?;
    Ok(Loaded { config, warnings: diag.warnings })
}
