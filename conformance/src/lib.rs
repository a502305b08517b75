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
//! # What the replay has to resolve
//!
//! The model abstracts the kernel and the peers; a replay on real sockets
//! has to make these choices itself:
//!
//! - **Chunks are not bytes.** A data chunk is a fixed, distinct byte
//!   pattern per direction and number; one `PeerReads` takes exactly one
//!   chunk, or the FIN, or the RST, whereas one real `recv` may return part
//!   of a chunk or several. The replay peer reads exactly one chunk's bytes.
//! - **Wires hold one chunk.** The small preset's wire holds a single chunk,
//!   so a second send waits (`PeerSends` is disabled, the proxy's send gets
//!   EAGAIN and sets `FULL_OUT`); real socket buffers hold megabytes. The
//!   replay needs small `SO_SNDBUF`/`SO_RCVBUF` and chunks larger than them,
//!   or a fault-injecting shim, for the model's EAGAIN to happen for real.
//! - **Delivery is instantaneous in the model.** A peer's send is on the
//!   proxy's side of the wire at once; on loopback it is there after a
//!   short delay. Before a `ProxyRuns` step the replay waits until the
//!   kernel has delivered what the model says is in flight (`wires`).
//! - **One `ProxyRuns` is a turn to quiescence.** The model notifies the
//!   core of readiness when the environment acts, and `ProxyRuns` runs the
//!   core until it has nothing to do. The real runtime learns readiness
//!   from the poller, maybe over several turns: the replay drives it until
//!   it is quiescent, and never between two environment actions.
//! - **Timers fire in any order.** Any armed timer may fire at any step,
//!   with no clock; the runtime's deadlines differ (`client` 30 s,
//!   `client-fin` 5 s). Advancing a clock cannot make `client` fire while
//!   `client-fin` is armed; the replay fires the named timer through the
//!   core (`Session::fire_timer`) with a manual clock.
//! - **The server's accept is a separate event.** `ServerAccepts` /
//!   `ServerRefuses` decide a pending connect; a real listening socket
//!   completes the handshake in the kernel before `accept(2)`. Holding a
//!   connect pending needs a listener that does not answer SYNs yet (a full
//!   backlog, a filter) and a refusal needs a closed port.
//! - **TLS is two chunks.** `HELLO` and `FINISHED` stand for the whole
//!   handshake, and the server answers within its own `PeerReads`; a real
//!   handshake takes several flights, which the replay runs as one step.
//! - **The server peer is per connection.** At each connect the model's
//!   server starts afresh (`Observation::server` is emptied,
//!   `Observation::connects` counts the attempts): the replay maps them to
//!   the n-th accepted connection.
//! - **A peer's close sends an RST** when data is unread in its receive
//!   queue, as Linux does; the replay must let that data arrive first.
//! - **Other sessions are part of the environment.** `SlotFrees(i)` (the
//!   queue feature) means another session left server `i`; the replay plays
//!   that session too, or sets the server's occupancy directly.

#![forbid(unsafe_code)]

pub mod action;
pub mod blackbox;
pub mod coverage;
pub mod itf;
pub mod replay;
pub mod server_port;
pub mod sources;
pub mod store;
pub mod tls_peer;
pub mod trace;

pub use action::{format_action, parse_action, ActionKind};
pub use coverage::{action_kinds_covered, Coverage, StateClass};
pub use sources::{bfs_traces, random_walks, walk_strategy, DEFAULT_DEPTH};
pub use trace::{Observation, Sizes, Trace, TraceError, TraceModel, TraceSource};
