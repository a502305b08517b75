//! Every stream-interface move goes through one setter, which reports it
//! here. Recording is off unless a thread asks for it (the model checker and
//! the `diagram` command do; the runtime does not, and logs one line per
//! session), so the runtime pays one thread-local read per move.

use super::session::Side;
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
