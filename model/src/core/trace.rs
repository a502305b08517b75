//! Every stream-interface move goes through one setter, which reports it
//! here. Recording is off unless a thread asks for it (the model checker and
//! the `diagram` command do; the runtime does not), so the runtime pays one
//! thread-local read per move.
//!
//! Separately, every move of a stream interface, a connection state or an FD
//! state is emitted as a `tracing` event at TRACE level, target
//! `connseq::core` (`SI front: INI -> EST`, `conn back: CONNECTING ->
//! ESTABLISHED`, `FD back: READY -> ERROR`); the proxy shows them with
//! `CONNSEQ_LOG=info,connseq::core=trace`. The core knows no session
//! identity, so the events carry none. With no subscriber at TRACE level an
//! event costs one level check.

use super::side::Side;
use super::SiState;
use std::cell::RefCell;

/// A recorded move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SiMove {
    /// Which interface.
    pub side: Side,
    /// From.
    pub from: SiState,
    /// To.
    pub to: SiState,
}

thread_local! {
    static MOVES: RefCell<Option<Vec<SiMove>>> = const { RefCell::new(None) };
}

/// Starts recording on this thread (clearing what was recorded).
pub fn start() {
    MOVES.with(|m| *m.borrow_mut() = Some(Vec::with_capacity(16)));
}

/// Stops recording on this thread.
pub fn stop() {
    MOVES.with(|m| *m.borrow_mut() = None);
}

/// Takes what was recorded since the last call, keeping recording on.
pub fn drain(into: &mut Vec<SiMove>) {
    MOVES.with(|m| {
        if let Some(v) = m.borrow_mut().as_mut() {
            into.append(v);
        }
    });
}

/// Discards what was recorded, keeping recording on.
pub fn clear() {
    MOVES.with(|m| {
        if let Some(v) = m.borrow_mut().as_mut() {
            v.clear();
        }
    });
}

pub(crate) fn record(side: Side, from: SiState, to: SiState) {
    MOVES.with(|m| {
        if let Some(v) = m.borrow_mut().as_mut() {
            v.push(SiMove { side, from, to });
        }
    });
}
