//! connseq-conformance: holds the proxy to its model. This part of the
//! suite produces the model's traces and their file format; the replay
//! harness plays them on real sockets and compares, step by step, what it
//! observes with what the trace predicts.
//!
//! # The method
//!
//! The model (`connseq_model::check`) is a closed system: client, kernel
//! wires, the proxy's core, kernel wires, server, timers. Its environment is
//! chosen once, by picking an initial state (TLS or not per listener,
//! health mode, monitor match, rule verdict, server occupancy), and from then
//! on every step is a function of (state, action). A [`trace::Trace`] is
//! therefore `(model configuration, initial state index, actions)`, plus the
//! observation the model predicts after every step ([`trace::Observation`]:
//! what each peer read in order, FIN, RST; the core's stream interfaces,
//! connections, operation statuses, channel flags and timers; the
//! termination code once closed; what is in flight on the wires).
//!
//! Traces come from two sources ([`sources`]):
//! - **breadth-first paths**: every path to a depth, with paths that reach
//!   the same state at the same depth merged, plus one path for each
//!   `(state class, action kind)` edge only merged paths take. For the small
//!   preset, depth [`sources::DEFAULT_DEPTH`] (6) gives 2,022 traces that
//!   exercise every action and every edge of the whole state space;
//! - **random walks**: a proptest strategy of choice lists, each choice an
//!   index into the enabled actions, so every generated trace is legal and
//!   shrinking gives shorter traces with earlier choices; and a seeded
//!   generator of walks built on it.
//!
//! [`coverage`] says which action kinds and which `(state class, action
//! kind)` edges a set of traces exercises, the state class being the pair of
//! stream-interface states (front, back).
//!
//! # Files
//!
//! A trace is written in the Informal Trace Format of Apalache and Quint
//! ([`itf`]): one JSON file per trace, state `i` being the state after `i`
//! actions, with the action that led to it in the variable `action` and the
//! observation in the others. A directory of traces has an `index.json`
//! ([`store`]). Import is exact (`itf::from_str(&itf::to_string(&t)) ==
//! Ok(t)`), and [`trace::Trace::verify`] checks an imported trace against
//! the model. One state, after `ProxyRuns, PeerSends(Client), ProxyRuns,
//! ServerAccepts, ProxyRuns` on the small preset (the proxy has forwarded
//! chunk `#0`, which waits on the wire to the server):
//!
//! ```json
//! {"#meta": {"index": 5}, "action": "ProxyRuns",
//!  "client": {"received": [], "fin": false, "rst": false},
//!  "server": {"received": [], "fin": false, "rst": false},
//!  "connects": 1, "si_front": "EST", "si_back": "EST",
//!  "front": {"fd": "READY", "state": "ESTABLISHED", "error": false, "abortive": false,
//!            "ops": {"DSHR": "00", "DSHW": "00", "CSHR": "00", "CSHW": "00",
//!                    "DCLO": "00", "CCLO": "00", "FCLO": "00"}},
//!  "back":  {"fd": "READY", "state": "ESTABLISHED", "error": false, "abortive": false,
//!            "ops": {"DSHR": "00", "DSHW": "00", "CSHR": "00", "CSHW": "00",
//!                    "DCLO": "00", "CCLO": "00", "FCLO": "00"}},
//!  "req": {"flags": {"#set": ["EMPTY_IN"]}, "buf": "EMPTY", "pipe": "EMPTY"},
//!  "res": {"flags": {"#set": ["EMPTY_IN"]}, "buf": "EMPTY", "pipe": "EMPTY"},
//!  "timers": {"#set": ["client", "server"]},
//!  "termination": {"tag": "None", "value": {}},
//!  "wires": {"front_up":   {"chunks": [],     "fin": false, "rst": false},
//!            "front_down": {"chunks": [],     "fin": false, "rst": false},
//!            "back_up":    {"chunks": [],     "fin": false, "rst": false},
//!            "back_down":  {"chunks": ["#0"], "fin": false, "rst": false}}}
//! ```
//!
//! The binary `connseq-conformance` writes such directories (`export`,
//! `walks`) and prints coverage (`coverage`).
//!
//! # What the replay has to resolve, and how it does
//!
//! The model abstracts the kernel and the peers; a replay on real sockets
//! makes these choices itself ([`replay`], docs/conformance.md):
//!
//! - **Chunks are not bytes.** A data chunk is a fixed, distinct byte
//!   pattern per direction and number (8 bytes); one `PeerReads` takes
//!   exactly one chunk, or the FIN, or the RST, however the kernel splits
//!   or joins the bytes.
//! - **Wires hold one chunk.** The small preset's wire holds a single chunk,
//!   so the proxy's second send gets EAGAIN and sets `FULL_OUT`; a real
//!   socket holds hundreds of kilobytes and cannot be filled from outside.
//!   The runtime's send-window shim (`Options::send_window`) holds the
//!   proxy's writes to the model's room on each wire before every turn.
//! - **One `ProxyRuns` is a turn to quiescence.** The runtime runs stepped
//!   (`Options::stepped`): a granted turn runs until a poll finds nothing,
//!   with the whole batch's readiness in the cores first.
//! - **Timers fire in any order in the model**; a clock fires the earliest
//!   first. The manual clock moves to the fired timer's deadline; a trace
//!   that fires a timer while another is due first is unsupported.
//! - **The server's accept is a separate event.** A real listener completes
//!   the handshake in the kernel: the connect shim (`Options::hold_connects`)
//!   holds the attempt until the trace's answer, and a refusal is a port
//!   bound without listening, so the kernel really refuses.
//! - **TLS is three messages** (`HELLO`, the server's `FINISHED` flight, the
//!   client's `CLIENT_FINISHED`), played by rustls peers one record at a
//!   time ([`tls_peer`]); what the real proxy sends that the model has no
//!   message for (session tickets, an alert after garbage) is read through.
//! - **The server peer is per connection.** At each connect the model's
//!   server starts afresh: the replay accepts the newest connection.
//! - **Other sessions are real.** The model's other sessions (a busy
//!   server slot in the initial state) are real sessions through a second
//!   listener that shares the backend; `SlotFrees(i)` (the queue feature)
//!   aborts the one on server `i`, so the proxy's own release and dequeue
//!   hand the slot over. Traces where two modelled sessions act are
//!   unsupported: the harness plays one session's peers.
//! - **Linux is sometimes kinder than the model's kernel** (an RST does not
//!   destroy what the receiver already received, an RST after both FINs
//!   finds no socket): such traces are [`replay::ReplayVerdict::Explained`], each
//!   by a kernel-axiom test.

#![forbid(unsafe_code)]

pub mod action;
pub mod blackbox;
pub mod coverage;
pub mod itf;
pub mod pace;
pub mod proxy_peer;
pub mod replay;
pub mod server_port;
pub mod sources;
pub mod store;
pub mod targets;
pub mod tls_peer;
pub mod trace;

pub use action::{format_action, parse_action, ActionKind};
pub use coverage::{action_kinds_covered, Coverage, StateClass};
pub use sources::{bfs_traces, random_walks, walk_strategy, DEFAULT_DEPTH};
pub use trace::{Observation, Sizes, Trace, TraceError, TraceModel, TraceSource};
