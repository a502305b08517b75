//! Traces in the Informal Trace Format (ITF), the JSON trace format of
//! Apalache and Quint (Apalache ADR-015), so that the traces can be read by
//! the ITF tools (the `itf` crate, the Quint trace viewer) and by the replay
//! harness alike.
//!
//! # Layout
//!
//! One trace per file, `*.itf.json`. State `i` is the state after `i`
//! actions; its variable `action` names the action that led to it (`"init"`
//! for state 0). Every state carries every variable of [`VARS`]:
//!
//! | variable | ITF value | meaning |
//! | --- | --- | --- |
//! | `action` | string | `"init"`, or the action's textual form ([`crate::action`]) |
//! | `client`, `server` | record `{received: [chunk...], fin: bool, rst: bool}` | what the peer read, in order (chunks `"#0"`, `"#1"`, ... and `"FINISHED"`, `"CLIENT_FINISHED"`, `"CLOSE_NOTIFY"`, `"REPLY"`, `"PROXY_OUT"`) |
//! | `connects` | int | SYNs the servers saw |
//! | `si_front`, `si_back` | string | `"INI"` ... `"CLO"` |
//! | `front`, `back` | record `{fd, state, ops: {DSHR..FCLO: "00"/"10"/"11"/"01"}, error, abortive}` | the connections |
//! | `req`, `res` | record `{flags: #set, buf, pipe}` | the channels; fills are `"EMPTY"`, `"SOME"`, `"FULL"` |
//! | `timers` | `#set` of strings | armed timers (`"client-fin"`, ...) |
//! | `termination` | variant `{tag: "Some", value: "CD"}` or `{tag: "None", value: {}}` | the termination code once closed |
//! | `wires` | record of four `{chunks: [...], fin, rst}` | in flight: `front_up`, `front_down`, `back_up`, `back_down` |
//!
//! Integers are written as plain JSON numbers (ITF allows it below 2^53) and
//! read in either form, plain or `{"#bigint": "..."}`. Set elements are
//! written in a fixed order and read in any order.
//!
//! The trace's `#meta` holds, besides ITF's `format`, `format-description`,
//! `source` and `description`, the fields that name the model and the
//! trace's origin. They are all strings, which is what the `itf` crate reads
//! in `#meta`: `schema` ([`SCHEMA`]), `preset`, `features` (comma-separated
//! names, empty for none), `mutant`, `sizes` (`client=1,server=1,wire=1,buf=1,pipe=1`:
//! chunks each peer sends and what a wire, a buffer and a pipe hold; absent
//! means the preset's), `init` (the index of the initial state
//! in `System::init_states`) and `origin` (`bfs depth=12 path=37`,
//! `walk seed=7 walk=3 max-len=64`, `proptest` or `manual`).
//!
//! The path `ProxyRuns, PeerSends(Client)` of the small preset (state 1
//! elided; records are unordered, and serde_json writes their keys in
//! alphabetical order):
//!
//! ```json
//! {"#meta":{"description":"connseq model trace (bfs depth=2 path=0), 2 actions","features":"",
//!   "format":"ITF","format-description":"https://apalache-mc.org/docs/adr/015adr-trace.html",
//!   "init":"0","mutant":"none","origin":"bfs depth=2 path=0","preset":"small",
//!   "schema":"connseq-trace/1","source":"connseq-model"},
//!  "vars":["action","client","server","connects","si_front","si_back","front","back","req","res",
//!          "timers","termination","wires"],
//!  "states":[
//!   {"#meta":{"index":0},"action":"init", ...},
//!   {"#meta":{"index":1},"action":"ProxyRuns", ...},
//!   {"#meta":{"index":2},"action":"PeerSends(Client)",
//!    "back":{"abortive":false,"error":false,"fd":"READY","ops":{"CCLO":"00","CSHR":"00","CSHW":"00",
//!      "DCLO":"00","DSHR":"00","DSHW":"00","FCLO":"00"},"state":"CONNECTING"},
//!    "client":{"fin":false,"received":[],"rst":false},"connects":1,
//!    "front":{"abortive":false,"error":false,"fd":"READY","ops":{"CCLO":"00","CSHR":"00","CSHW":"00",
//!      "DCLO":"00","DSHR":"00","DSHW":"00","FCLO":"00"},"state":"ESTABLISHED"},
//!    "req":{"buf":"EMPTY","flags":{"#set":["FULL_OUT"]},"pipe":"EMPTY"},
//!    "res":{"buf":"EMPTY","flags":{"#set":["EMPTY_IN"]},"pipe":"EMPTY"},
//!    "server":{"fin":false,"received":[],"rst":false},"si_back":"CON","si_front":"EST",
//!    "termination":{"tag":"None","value":{}},"timers":{"#set":["connect","client"]},
//!    "wires":{"back_down":{"chunks":[],"fin":false,"rst":false},
//!             "back_up":{"chunks":[],"fin":false,"rst":false},
//!             "front_down":{"chunks":[],"fin":false,"rst":false},
//!             "front_up":{"chunks":["#0"],"fin":false,"rst":false}}}
//!  ]}
//! ```
//!
//! [`to_string`] writes one state per line; [`from_str`] reads any JSON
//! layout. Import is exact: `from_str(&to_string(&t)) == Ok(t)`.

use crate::action::{format_action, parse_action};
use crate::trace::{ChanObs, ConnObs, Observation, PeerObs, Sizes, Trace, TraceModel, TraceSource, WireObs, WiresObs};
use connseq_model::check::kernel::Chunk;
use connseq_model::check::{Feature, Features, Preset};
use connseq_model::core::{
    Cause, ChanFlags, ConnState, FdState, Fill, Mutant, Op, OpStatus, OpTable, Phase, SiState, Termination, TimerKind,
};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The variables of every state, in order.
pub const VARS: [&str; 13] = [
    "action",
    "client",
    "server",
    "connects",
    "si_front",
    "si_back",
    "front",
    "back",
    "req",
    "res",
    "timers",
    "termination",
    "wires",
];

/// The version of this mapping, recorded in `#meta.schema`.
pub const SCHEMA: &str = "connseq-trace/1";

/// Where the ITF is described.
pub const FORMAT_DESCRIPTION: &str = "https://apalache-mc.org/docs/adr/015adr-trace.html";

/// The `action` of state 0.
pub const INIT_ACTION: &str = "init";

/// Why an ITF document is not a connseq trace.
#[derive(Debug, Error)]
pub enum ItfError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not what the mapping says at `at`.
    #[error("{at}: {msg}")]
    Invalid {
        /// Where: `#meta.preset`, `states[3].front.ops.DSHR`, ...
        at: String,
        /// What is wrong.
        msg: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn invalid(at: &str, msg: impl Into<String>) -> ItfError {
    ItfError::Invalid { at: at.to_owned(), msg: msg.into() }
}

// ----------------------------------------------------------------------
// Export.
// ----------------------------------------------------------------------

/// The trace's `#meta` object.
pub fn meta(t: &Trace) -> Value {
    json!({
        "format": "ITF",
        "format-description": FORMAT_DESCRIPTION,
        "source": "connseq-model",
        "description": format!("connseq model trace ({}), {} actions", t.source, t.len()),
        "schema": SCHEMA,
        "preset": t.model.preset.name(),
        "features": features_text(t.model.features),
        "mutant": t.model.mutant.name(),
        "sizes": t.model.sizes.to_string(),
        "init": t.init.to_string(),
        "origin": t.source.to_string(),
    })
}

/// The features as comma-separated names (empty for none).
pub fn features_text(f: Features) -> String {
    f.iter().map(|x| x.name()).collect::<Vec<_>>().join(",")
}

/// State `index` of the trace (0: the initial state) as an ITF state object.
/// `None` when the trace has no such observation.
pub fn state(t: &Trace, index: usize) -> Option<Value> {
    let o = t.observations.get(index)?;
    let action = match index {
        0 => INIT_ACTION.to_owned(),
        i => format_action(*t.actions.get(i - 1)?),
    };
    let mut m = Map::new();
    m.insert("#meta".into(), json!({ "index": index }));
    m.insert("action".into(), Value::String(action));
    m.insert("client".into(), peer(&o.client));
    m.insert("server".into(), peer(&o.server));
    m.insert("connects".into(), json!(o.connects));
    m.insert("si_front".into(), Value::String(o.si_front.to_string()));
    m.insert("si_back".into(), Value::String(o.si_back.to_string()));
    m.insert("front".into(), conn(&o.front));
    m.insert("back".into(), conn(&o.back));
    m.insert("req".into(), chan(&o.req));
    m.insert("res".into(), chan(&o.res));
    m.insert("timers".into(), set(o.timers.iter().map(|k| k.name())));
    m.insert(
        "termination".into(),
        match o.termination {
            Some(t) => json!({ "tag": "Some", "value": t.to_string() }),
            None => json!({ "tag": "None", "value": {} }),
        },
    );
    m.insert(
        "wires".into(),
        json!({
            "front_up": wire(&o.wires.front_up),
            "front_down": wire(&o.wires.front_down),
            "back_up": wire(&o.wires.back_up),
            "back_down": wire(&o.wires.back_down),
        }),
    );
    Some(Value::Object(m))
}

/// The whole trace as one JSON value.
pub fn to_value(t: &Trace) -> Value {
    let states: Vec<Value> = (0..t.observations.len()).filter_map(|i| state(t, i)).collect();
    json!({ "#meta": meta(t), "vars": VARS, "states": states })
}

/// The trace as ITF text: the header on the first line, then one state per
/// line (compact, and a diff shows which step changed).
pub fn to_string(t: &Trace) -> String {
    let mut out = String::with_capacity(1024 * (t.observations.len() + 1));
    out.push_str("{\"#meta\":");
    out.push_str(&meta(t).to_string());
    out.push_str(",\"vars\":");
    out.push_str(&json!(VARS).to_string());
    out.push_str(",\"states\":[");
    for i in 0..t.observations.len() {
        if let Some(s) = state(t, i) {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            out.push_str(&s.to_string());
        }
    }
    out.push_str("\n]}\n");
    out
}

fn peer(p: &PeerObs) -> Value {
    json!({
        "received": p.received.iter().map(|&c| chunk_name(c)).collect::<Vec<_>>(),
        "fin": p.fin,
        "rst": p.rst,
    })
}

fn conn(c: &ConnObs) -> Value {
    let mut ops = Map::new();
    for op in Op::ALL {
        ops.insert(op.name().into(), Value::String(c.ops.get(op).to_string()));
    }
    json!({
        "fd": c.fd.to_string(),
        "state": c.state.to_string(),
        "ops": ops,
        "error": c.error,
        "abortive": c.abortive,
    })
}

fn chan(c: &ChanObs) -> Value {
    json!({
        "flags": set(CHAN_FLAGS.iter().filter(|(bit, _)| c.flags.has(*bit)).map(|(_, n)| *n)),
        "buf": fill_name(c.buf),
        "pipe": fill_name(c.pipe),
    })
}

fn wire(w: &WireObs) -> Value {
    json!({
        "chunks": w.chunks.iter().map(|&c| chunk_name(c)).collect::<Vec<_>>(),
        "fin": w.fin,
        "rst": w.rst,
    })
}

fn set<'a>(items: impl Iterator<Item = &'a str>) -> Value {
    json!({ "#set": items.collect::<Vec<_>>() })
}

/// The note's channel flags and their names.
const CHAN_FLAGS: [(u8, &str); 6] = [
    (ChanFlags::ERR_IN, "ERR_IN"),
    (ChanFlags::ERR_OUT, "ERR_OUT"),
    (ChanFlags::SHUT_IN, "SHUT_IN"),
    (ChanFlags::SHUT_OUT, "SHUT_OUT"),
    (ChanFlags::EMPTY_IN, "EMPTY_IN"),
    (ChanFlags::FULL_OUT, "FULL_OUT"),
];

/// A chunk's name: its `Debug` form in the model (`#0`, `HELLO`, ...).
pub fn chunk_name(c: Chunk) -> String {
    format!("{c:?}")
}

/// Reads a chunk's name.
pub fn parse_chunk(s: &str) -> Option<Chunk> {
    if let Some(n) = s.strip_prefix('#') {
        let n: u8 = n.parse().ok()?;
        let c = Chunk::data(n);
        // Only the numbers below the first named chunk are data.
        return (c.data_id() == Some(n) && chunk_name(c) == s).then_some(c);
    }
    Chunk::NAMED.into_iter().find(|&c| chunk_name(c) == s)
}

const fn fill_name(f: Fill) -> &'static str {
    match f {
        Fill::Empty => "EMPTY",
        Fill::Some => "SOME",
        Fill::Full => "FULL",
    }
}

// ----------------------------------------------------------------------
// Import.
// ----------------------------------------------------------------------

/// Reads a trace from ITF text.
pub fn from_str(s: &str) -> Result<Trace, ItfError> {
    from_value(&serde_json::from_str(s)?)
}

/// Reads a trace from an ITF value.
pub fn from_value(v: &Value) -> Result<Trace, ItfError> {
    let top = object(v, "trace")?;
    let meta = object(field(top, "#meta", "trace")?, "#meta")?;
    let meta_str = |key: &str| -> Result<&str, ItfError> {
        let at = format!("#meta.{key}");
        field(meta, key, "#meta")?.as_str().ok_or_else(|| invalid(&at, "not a string"))
    };
    let schema = meta_str("schema")?;
    if schema != SCHEMA {
        return Err(invalid("#meta.schema", format!("`{schema}` is not {SCHEMA}")));
    }
    let preset: Preset = meta_str("preset")?.parse().map_err(|e: String| invalid("#meta.preset", e))?;
    let mut features = Features::default();
    for name in meta_str("features")?.split(',').filter(|s| !s.is_empty()) {
        let f: Feature = name.trim().parse().map_err(|e: String| invalid("#meta.features", e))?;
        features.add(f);
    }
    let mutant: Mutant = meta_str("mutant")?.parse().map_err(|e: String| invalid("#meta.mutant", e))?;
    // Absent in traces written before sizes were recorded: the preset's.
    let sizes: Sizes = match meta.get("sizes") {
        None => Sizes::of(&connseq_model::check::ModelConfig::preset(preset)),
        Some(_) => meta_str("sizes")?.parse().map_err(|e: String| invalid("#meta.sizes", e))?,
    };
    let init: usize = meta_str("init")?.parse().map_err(|e| invalid("#meta.init", format!("{e}")))?;
    let source: TraceSource = meta_str("origin")?.parse().map_err(|e: String| invalid("#meta.origin", e))?;

    let vars = field(top, "vars", "trace")?.as_array().ok_or_else(|| invalid("vars", "not an array"))?;
    for var in VARS {
        if !vars.iter().any(|v| v.as_str() == Some(var)) {
            return Err(invalid("vars", format!("`{var}` is missing")));
        }
    }
    let states = field(top, "states", "trace")?.as_array().ok_or_else(|| invalid("states", "not an array"))?;
    if states.is_empty() {
        return Err(invalid("states", "no state: a trace has at least its initial state"));
    }
    let mut actions = Vec::with_capacity(states.len() - 1);
    let mut observations = Vec::with_capacity(states.len());
    for (i, s) in states.iter().enumerate() {
        let at = format!("states[{i}]");
        let st = object(s, &at)?;
        if let Some(m) = st.get("#meta") {
            let index = m.get("index").map(|x| int(x, &format!("{at}.#meta.index"))).transpose()?;
            if index.is_some_and(|x| x != i as u64) {
                return Err(invalid(&format!("{at}.#meta.index"), format!("is not {i}")));
            }
        }
        let action = text(field(st, "action", &at)?, &format!("{at}.action"))?;
        match (i, action) {
            (0, INIT_ACTION) => {}
            (0, other) => return Err(invalid(&format!("{at}.action"), format!("`{other}`: state 0 is `init`"))),
            (_, a) => actions.push(
                parse_action(a).ok_or_else(|| invalid(&format!("{at}.action"), format!("`{a}` is not an action")))?,
            ),
        }
        observations.push(observation(st, &at)?);
    }
    Ok(Trace { model: TraceModel { preset, features, mutant, sizes }, init, actions, observations, source })
}

/// Writes `t` to `path` in ITF.
pub fn write_file(path: &Path, t: &Trace) -> Result<(), ItfError> {
    std::fs::write(path, to_string(t)).map_err(|source| ItfError::Io { path: path.to_owned(), source })
}

/// Reads a trace from an ITF file.
pub fn read_file(path: &Path) -> Result<Trace, ItfError> {
    let s = std::fs::read_to_string(path).map_err(|source| ItfError::Io { path: path.to_owned(), source })?;
    from_str(&s)
}

fn observation(st: &Map<String, Value>, at: &str) -> Result<Observation, ItfError> {
    let sub = |name: &str| format!("{at}.{name}");
    let get = |name: &str| field(st, name, at);
    let termination = {
        let a = sub("termination");
        let v = object(get("termination")?, &a)?;
        match text(field(v, "tag", &a)?, &format!("{a}.tag"))? {
            "None" => None,
            "Some" => Some(termination(text(field(v, "value", &a)?, &format!("{a}.value"))?, &a)?),
            other => return Err(invalid(&format!("{a}.tag"), format!("`{other}` is neither Some nor None"))),
        }
    };
    let wires = {
        let a = sub("wires");
        let v = object(get("wires")?, &a)?;
        let w = |name: &str| wire_obs(field(v, name, &a)?, &format!("{a}.{name}"));
        WiresObs {
            front_up: w("front_up")?,
            front_down: w("front_down")?,
            back_up: w("back_up")?,
            back_down: w("back_down")?,
        }
    };
    Ok(Observation {
        client: peer_obs(get("client")?, &sub("client"))?,
        server: peer_obs(get("server")?, &sub("server"))?,
        connects: small_int(get("connects")?, &sub("connects"))?,
        si_front: si_state(get("si_front")?, &sub("si_front"))?,
        si_back: si_state(get("si_back")?, &sub("si_back"))?,
        front: conn_obs(get("front")?, &sub("front"))?,
        back: conn_obs(get("back")?, &sub("back"))?,
        req: chan_obs(get("req")?, &sub("req"))?,
        res: chan_obs(get("res")?, &sub("res"))?,
        timers: {
            let names = set_items(get("timers")?, &sub("timers"))?;
            let mut kinds = Vec::new();
            for n in &names {
                let k = TimerKind::ALL
                    .into_iter()
                    .find(|k| k.name() == n.as_str())
                    .ok_or_else(|| invalid(&sub("timers"), format!("`{n}` is not a timer")))?;
                kinds.push(k);
            }
            // Sets have no order: keep the model's.
            TimerKind::ALL.into_iter().filter(|k| kinds.contains(k)).collect()
        },
        termination,
        wires,
    })
}

fn peer_obs(v: &Value, at: &str) -> Result<PeerObs, ItfError> {
    let o = object(v, at)?;
    Ok(PeerObs {
        received: chunks(field(o, "received", at)?, &format!("{at}.received"))?,
        fin: boolean(field(o, "fin", at)?, &format!("{at}.fin"))?,
        rst: boolean(field(o, "rst", at)?, &format!("{at}.rst"))?,
    })
}

fn wire_obs(v: &Value, at: &str) -> Result<WireObs, ItfError> {
    let o = object(v, at)?;
    Ok(WireObs {
        chunks: chunks(field(o, "chunks", at)?, &format!("{at}.chunks"))?,
        fin: boolean(field(o, "fin", at)?, &format!("{at}.fin"))?,
        rst: boolean(field(o, "rst", at)?, &format!("{at}.rst"))?,
    })
}

fn conn_obs(v: &Value, at: &str) -> Result<ConnObs, ItfError> {
    let o = object(v, at)?;
    let fd_at = format!("{at}.fd");
    let fd = text(field(o, "fd", at)?, &fd_at)?;
    let fd = [FdState::Closed, FdState::Ready, FdState::Error, FdState::Listen]
        .into_iter()
        .find(|x| x.to_string() == fd)
        .ok_or_else(|| invalid(&fd_at, format!("`{fd}` is not an FD state")))?;
    let st_at = format!("{at}.state");
    let st = text(field(o, "state", at)?, &st_at)?;
    let state =
        [ConnState::Closed, ConnState::Accepted, ConnState::Connecting, ConnState::Established, ConnState::Error]
            .into_iter()
            .find(|x| x.to_string() == st)
            .ok_or_else(|| invalid(&st_at, format!("`{st}` is not a connection state")))?;
    let ops_at = format!("{at}.ops");
    let ops_v = object(field(o, "ops", at)?, &ops_at)?;
    let mut ops = OpTable::default();
    for op in Op::ALL {
        let a = format!("{ops_at}.{}", op.name());
        let s = text(field(ops_v, op.name(), &ops_at)?, &a)?;
        let status = [OpStatus::NotDesired, OpStatus::Desired, OpStatus::Started, OpStatus::Done]
            .into_iter()
            .find(|x| x.to_string() == s)
            .ok_or_else(|| invalid(&a, format!("`{s}` is not an operation status (00, 10, 11, 01)")))?;
        ops.set(op, status);
    }
    Ok(ConnObs {
        fd,
        state,
        ops,
        error: boolean(field(o, "error", at)?, &format!("{at}.error"))?,
        abortive: boolean(field(o, "abortive", at)?, &format!("{at}.abortive"))?,
    })
}

fn chan_obs(v: &Value, at: &str) -> Result<ChanObs, ItfError> {
    let o = object(v, at)?;
    let flags_at = format!("{at}.flags");
    let mut flags = ChanFlags::default();
    for n in set_items(field(o, "flags", at)?, &flags_at)? {
        let (bit, _) = CHAN_FLAGS
            .iter()
            .find(|(_, name)| *name == n)
            .ok_or_else(|| invalid(&flags_at, format!("`{n}` is not a channel flag")))?;
        flags.set(*bit);
    }
    let fill = |name: &str| -> Result<Fill, ItfError> {
        let a = format!("{at}.{name}");
        let s = text(field(o, name, at)?, &a)?;
        [Fill::Empty, Fill::Some, Fill::Full]
            .into_iter()
            .find(|&f| fill_name(f) == s)
            .ok_or_else(|| invalid(&a, format!("`{s}` is not a fill level")))
    };
    Ok(ChanObs { flags, buf: fill("buf")?, pipe: fill("pipe")? })
}

fn si_state(v: &Value, at: &str) -> Result<SiState, ItfError> {
    let s = text(v, at)?;
    SiState::ALL
        .into_iter()
        .find(|x| x.to_string() == s)
        .ok_or_else(|| invalid(at, format!("`{s}` is not a stream-interface state")))
}

/// Reads a two-letter termination code.
pub fn parse_termination(s: &str) -> Option<Termination> {
    let mut letters = s.chars();
    let (a, b) = (letters.next()?, letters.next()?);
    if letters.next().is_some() {
        return None;
    }
    let cause = [
        Cause::Normal,
        Cause::Client,
        Cause::Server,
        Cause::Proxy,
        Cause::ClientTimeout,
        Cause::ServerTimeout,
        Cause::Resource,
        Cause::Killed,
    ]
    .into_iter()
    .find(|c| c.letter() == a)?;
    let phase = [Phase::None, Phase::Request, Phase::Queue, Phase::Connect, Phase::Data, Phase::Close]
        .into_iter()
        .find(|p| p.letter() == b)?;
    Some(Termination { cause, phase })
}

fn termination(s: &str, at: &str) -> Result<Termination, ItfError> {
    parse_termination(s).ok_or_else(|| invalid(at, format!("`{s}` is not a termination code")))
}

fn chunks(v: &Value, at: &str) -> Result<Vec<Chunk>, ItfError> {
    let items = v.as_array().ok_or_else(|| invalid(at, "not a list"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let a = format!("{at}[{i}]");
            let s = text(x, &a)?;
            parse_chunk(s).ok_or_else(|| invalid(&a, format!("`{s}` is not a chunk")))
        })
        .collect()
}

fn set_items(v: &Value, at: &str) -> Result<Vec<String>, ItfError> {
    let o = object(v, at)?;
    let items = field(o, "#set", at)?.as_array().ok_or_else(|| invalid(at, "#set is not an array"))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, x) in items.iter().enumerate() {
        out.push(text(x, &format!("{at}[{i}]"))?.to_owned());
    }
    Ok(out)
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, ItfError> {
    v.as_object().ok_or_else(|| invalid(at, "not an object"))
}

fn field<'a>(o: &'a Map<String, Value>, name: &str, at: &str) -> Result<&'a Value, ItfError> {
    o.get(name).ok_or_else(|| invalid(at, format!("`{name}` is missing")))
}

fn text<'a>(v: &'a Value, at: &str) -> Result<&'a str, ItfError> {
    v.as_str().ok_or_else(|| invalid(at, "not a string"))
}

fn boolean(v: &Value, at: &str) -> Result<bool, ItfError> {
    v.as_bool().ok_or_else(|| invalid(at, "not a boolean"))
}

/// An ITF integer: a JSON number or `{"#bigint": "..."}`.
fn int(v: &Value, at: &str) -> Result<u64, ItfError> {
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    let s = v
        .as_object()
        .and_then(|o| o.get("#bigint"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(at, "not a non-negative integer"))?;
    s.parse().map_err(|e| invalid(at, format!("#bigint `{s}`: {e}")))
}

fn small_int(v: &Value, at: &str) -> Result<u8, ItfError> {
    u8::try_from(int(v, at)?).map_err(|e| invalid(at, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_name_reads_back() {
        for n in 0..16 {
            assert_eq!(parse_chunk(&chunk_name(Chunk::data(n))), Some(Chunk::data(n)));
        }
        for c in Chunk::NAMED {
            assert_eq!(parse_chunk(&chunk_name(c)), Some(c));
        }
        for bad in ["#16", "#-1", "#", "#01", "hello", ""] {
            assert_eq!(parse_chunk(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_termination_code_reads_back() {
        let causes = [
            Cause::Normal,
            Cause::Client,
            Cause::Server,
            Cause::Proxy,
            Cause::ClientTimeout,
            Cause::ServerTimeout,
            Cause::Resource,
            Cause::Killed,
        ];
        let phases = [Phase::None, Phase::Request, Phase::Queue, Phase::Connect, Phase::Data, Phase::Close];
        for cause in causes {
            for phase in phases {
                let t = Termination { cause, phase };
                assert_eq!(parse_termination(&t.to_string()), Some(t));
            }
        }
        for bad in ["", "C", "CDX", "ZZ"] {
            assert_eq!(parse_termination(bad), None, "{bad:?}");
        }
    }
}
