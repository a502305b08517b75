//! The note's 2-bit operation status, and the per-layer, per-direction table of
//! shutdown and close operations a connection carries.
//!
//! From the note: "For multi-step operations, use 2 bits":
//!
//! ```text
//!   00 = operation not desired, not performed
//!   10 = operation desired, not started
//!   11 = operation desired, started but not completed
//!   01 = operation desired, started and completed
//!
//!   NotDesired --desire--> Desired --start--> Started --complete--> Done
//!        \                    \______________complete_____________/^
//!         \_____________________________________________________/  (a step that
//!                      completes at once skips Started)
//! ```
//!
//! An operation never moves backwards; [`OpStatus::rank`] gives the order the
//! model checks ("an operation status only moves forward", docs/model.md).

use std::fmt;

/// One multi-step operation, encoded exactly as the note's two bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum OpStatus {
    /// `00`: not desired, not performed.
    #[default]
    NotDesired = 0b00,
    /// `10`: desired, not started.
    Desired = 0b10,
    /// `11`: desired, started but not completed (the step failed and is
    /// retried by the asynchronous task).
    Started = 0b11,
    /// `01`: desired, started and completed.
    Done = 0b01,
}

impl OpStatus {
    /// Decodes the note's two bits.
    pub const fn from_bits(bits: u8) -> OpStatus {
        match bits & 0b11 {
            0b00 => OpStatus::NotDesired,
            0b10 => OpStatus::Desired,
            0b11 => OpStatus::Started,
            _ => OpStatus::Done,
        }
    }

    /// The note's two bits.
    pub const fn bits(self) -> u8 {
        self as u8
    }

    /// `X != 00`: the operation is desired (or was).
    pub const fn is_desired(self) -> bool {
        self.bits() != 0
    }

    /// `X & 01`: the operation was at least started.
    pub const fn is_started(self) -> bool {
        self.bits() & 0b01 != 0
    }

    /// `X & 10`: the operation is desired and not completed.
    pub const fn is_pending(self) -> bool {
        self.bits() & 0b10 != 0
    }

    /// Completed.
    pub const fn is_done(self) -> bool {
        matches!(self, OpStatus::Done)
    }

    /// Position along the only allowed direction of travel.
    pub const fn rank(self) -> u8 {
        match self {
            OpStatus::NotDesired => 0,
            OpStatus::Desired => 1,
            OpStatus::Started => 2,
            OpStatus::Done => 3,
        }
    }
}

impl fmt::Display for OpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpStatus::NotDesired => "00",
            OpStatus::Desired => "10",
            OpStatus::Started => "11",
            OpStatus::Done => "01",
        })
    }
}

/// The layers of a connection, top-down (the note: "DATA, CTRL, SOCK").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    /// The data layer: raw or TLS (`data.shut()`, `data.close()`).
    Data,
    /// The control layer: the transport (`shutdown(2)`, poller registration).
    Ctrl,
    /// The socket: the file descriptor (`close(2)`).
    Sock,
}

/// Every shutdown and close operation of one connection. The note asks for
/// "the desired close operations: DSHR, DSHW, CSHR, CSHW" and "the completed
/// close operations"; one [`OpStatus`] per operation carries both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// DSHR: the data layer stops reading (read0 or TLS close_notify seen, or an active shutr).
    DataShutr = 0,
    /// DSHW: the data layer's shutw (TLS: send close_notify and flush it).
    DataShutw = 1,
    /// CSHR: the control layer stops reading (never `shutdown(SHUT_RD)`: it stops polling).
    CtrlShutr = 2,
    /// CSHW: `shutdown(SHUT_WR)`, queuing a FIN behind unsent data.
    CtrlShutw = 3,
    /// Data layer close (TLS state freed).
    DataClose = 4,
    /// Control layer close (deregistered from the poller).
    CtrlClose = 5,
    /// Socket close: `close(2)`; never retried.
    SockClose = 6,
}

impl Op {
    /// Every operation, in the top-down order of each sequence.
    pub const ALL: [Op; 7] =
        [Op::DataShutr, Op::DataShutw, Op::CtrlShutr, Op::CtrlShutw, Op::DataClose, Op::CtrlClose, Op::SockClose];

    /// The layer the operation acts on.
    pub const fn layer(self) -> Layer {
        match self {
            Op::DataShutr | Op::DataShutw | Op::DataClose => Layer::Data,
            Op::CtrlShutr | Op::CtrlShutw | Op::CtrlClose => Layer::Ctrl,
            Op::SockClose => Layer::Sock,
        }
    }

    /// The note's short name.
    pub const fn name(self) -> &'static str {
        match self {
            Op::DataShutr => "DSHR",
            Op::DataShutw => "DSHW",
            Op::CtrlShutr => "CSHR",
            Op::CtrlShutw => "CSHW",
            Op::DataClose => "DCLO",
            Op::CtrlClose => "CCLO",
            Op::SockClose => "FCLO",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The seven operation statuses of a connection, packed two bits each.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OpTable(u16);

impl OpTable {
    /// Status of one operation.
    pub const fn get(self, op: Op) -> OpStatus {
        OpStatus::from_bits((self.0 >> (2 * op as u16)) as u8)
    }

    /// Overwrites one status. Callers go through [`OpTable::advance`]; this
    /// exists for the mutants and for tests that build a state directly.
    pub fn set(&mut self, op: Op, status: OpStatus) {
        let shift = 2 * op as u16;
        self.0 = (self.0 & !(0b11 << shift)) | (u16::from(status.bits()) << shift);
    }

    /// Moves an operation forward to `status`; a request to move backwards is
    /// ignored (an operation status only moves forward).
    pub fn advance(&mut self, op: Op, status: OpStatus) {
        if status.rank() > self.get(op).rank() {
            self.set(op, status);
        }
    }

    /// Marks an operation desired if it was not.
    pub fn desire(&mut self, op: Op) {
        self.advance(op, OpStatus::Desired);
    }

    /// Whether an operation completed.
    pub const fn done(self, op: Op) -> bool {
        self.get(op).is_done()
    }

    /// Whether an operation is desired and not completed.
    pub const fn pending(self, op: Op) -> bool {
        self.get(op).is_pending()
    }

    /// Sum of ranks, for the model's progress measure.
    pub fn rank_sum(self) -> u32 {
        Op::ALL.iter().map(|&op| u32::from(self.get(op).rank())).sum()
    }

    /// Whether any operation is desired and not yet completed.
    pub fn any_pending(self) -> bool {
        Op::ALL.iter().any(|&op| self.pending(op))
    }

    /// The raw 14 bits, for compact export.
    pub const fn raw(self) -> u16 {
        self.0
    }
}

impl fmt::Debug for OpTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for op in Op::ALL {
            let st = self.get(op);
            if st != OpStatus::NotDesired {
                if !first {
                    f.write_str(" ")?;
                }
                first = false;
                write!(f, "{op}={st}")?;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_the_notes_encoding() {
        assert_eq!(OpStatus::NotDesired.bits(), 0b00);
        assert_eq!(OpStatus::Desired.bits(), 0b10);
        assert_eq!(OpStatus::Started.bits(), 0b11);
        assert_eq!(OpStatus::Done.bits(), 0b01);
        for st in [OpStatus::NotDesired, OpStatus::Desired, OpStatus::Started, OpStatus::Done] {
            assert_eq!(OpStatus::from_bits(st.bits()), st);
        }
    }

    #[test]
    fn the_notes_bit_tests_hold() {
        // X != 00 ==> desired; X & 01 ==> at least started; X & 10 ==> not completed
        assert!(!OpStatus::NotDesired.is_desired());
        assert!(OpStatus::Desired.is_desired() && !OpStatus::Desired.is_started());
        assert!(OpStatus::Started.is_started() && OpStatus::Started.is_pending());
        assert!(OpStatus::Done.is_started() && !OpStatus::Done.is_pending());
    }

    #[test]
    fn advance_never_moves_backwards() {
        let mut t = OpTable::default();
        t.advance(Op::DataShutw, OpStatus::Done);
        t.advance(Op::DataShutw, OpStatus::Desired);
        assert_eq!(t.get(Op::DataShutw), OpStatus::Done);
        t.desire(Op::SockClose);
        assert_eq!(t.get(Op::SockClose), OpStatus::Desired);
        assert_eq!(t.get(Op::CtrlClose), OpStatus::NotDesired);
    }
}
