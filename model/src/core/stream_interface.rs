//! Stream-interface states (the note's third table), with HAProxy's meaning
//! of each one (spec/haproxy-semantics.md).
//!
//! ```text
//!   INI --> REQ --> ASS --> CON --> EST --> DIS --> CLO
//!    |       |  \    ^ ^     |  \                    ^
//!    |       |   v   | |     |   v                   |
//!    |       |   QUE-+ |     |   CER --(retry)--> ASS, TAR, REQ
//!    |       |    |    |     |    |
//!    |       |    v    |     |    +--(no retry left)--> CLO
//!    |       +-> CLO   TAR --+ (turn-around delay expired)
//!    +--> CLO (aborted before any connection was wanted)
//! ```
//!
//! The front stream interface of a session goes `INI -> EST` when the session
//! is instantiated (its connection already exists), then `EST -> DIS -> CLO`.
//! Allowed moves are listed once, in [`SiState::may_move_to`]. The moves the
//! checker reached are drawn in docs/model.md, "Stream interface".

use std::fmt;

/// Stream-interface state, in HAProxy's order (it uses range tests on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum SiState {
    /// Not solicited yet.
    #[default]
    Ini,
    /// A connection is wanted (transient).
    Req,
    /// Waiting in a server's queue.
    Que,
    /// Turn-around delay after a failed attempt.
    Tar,
    /// A server is assigned.
    Ass,
    /// Connect in progress.
    Con,
    /// The attempt failed (transient).
    Cer,
    /// Established.
    Est,
    /// Both directions shut; resources being released (transient).
    Dis,
    /// Closed.
    Clo,
}

impl SiState {
    /// Every state, in order.
    pub const ALL: [SiState; 10] = [
        SiState::Ini,
        SiState::Req,
        SiState::Que,
        SiState::Tar,
        SiState::Ass,
        SiState::Con,
        SiState::Cer,
        SiState::Est,
        SiState::Dis,
        SiState::Clo,
    ];

    /// The transitions of spec/haproxy-semantics.md; the model checks that the
    /// core takes no other ("a stream interface only moves along the note's
    /// transitions").
    pub const fn may_move_to(self, to: SiState) -> bool {
        use SiState::*;
        matches!(
            (self, to),
            (Ini, Req | Est | Clo)
                | (Req, Ass | Que | Clo)
                | (Que, Ass | Req | Clo)
                | (Tar, Ass | Req | Clo)
                | (Ass, Con | Clo)
                | (Con, Est | Cer | Dis | Clo)
                | (Cer, Clo | Req | Ass | Tar)
                | (Est, Dis | Clo)
                | (Dis, Clo)
        )
    }

    /// Position in HAProxy's order.
    pub const fn rank(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for SiState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SiState::Ini => "INI",
            SiState::Req => "REQ",
            SiState::Que => "QUE",
            SiState::Tar => "TAR",
            SiState::Ass => "ASS",
            SiState::Con => "CON",
            SiState::Cer => "CER",
            SiState::Est => "EST",
            SiState::Dis => "DIS",
            SiState::Clo => "CLO",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::SiState::*;
    use super::*;

    #[test]
    fn clo_is_final() {
        for s in SiState::ALL {
            assert!(!Clo.may_move_to(s));
        }
    }

    #[test]
    fn every_state_but_clo_can_reach_clo() {
        for s in SiState::ALL {
            if s == Clo {
                continue;
            }
            let mut seen = vec![s];
            let mut i = 0;
            while i < seen.len() {
                for t in SiState::ALL {
                    if seen[i].may_move_to(t) && !seen.contains(&t) {
                        seen.push(t);
                    }
                }
                i += 1;
            }
            assert!(seen.contains(&Clo), "{s} cannot reach CLO");
        }
    }

    #[test]
    fn a_failed_attempt_may_retry_three_ways() {
        assert!(Cer.may_move_to(Ass) && Cer.may_move_to(Tar) && Cer.may_move_to(Req));
        assert!(!Cer.may_move_to(Est));
    }
}
