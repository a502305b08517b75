//! What a peer reads in one step ([`Seen`]), what the eager model predicts
//! it reads ([`Expect`]), and a data chunk's bytes, written and described.

use crate::replay::CHUNK;
use std::fmt;

/// What a peer read in one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seen {
    /// Nothing to read (EAGAIN).
    Nothing,
    /// A data chunk.
    Data,
    /// The FIN (recv returned 0).
    Fin,
    /// An RST (ECONNRESET).
    Rst,
    /// The server read a PROXY header giving the source it must give.
    Header,
    /// The server read no PROXY header where one should be, a malformed
    /// one, or one giving another source (the bytes say what it read).
    HeaderWrong,
    /// The server read the client's TLS hello (and answered with its flight).
    Hello,
    /// The client read the server's TLS flight (and answered with its Finished).
    Flight,
    /// The server read the client's TLS Finished.
    Finished,
    /// A TLS close_notify.
    CloseNotify,
    /// A TLS alert, a record the peer's TLS refused, or bytes that are no
    /// TLS record.
    Alert,
}

impl Seen {
    /// A TLS handshake message.
    pub(super) const fn handshake(self) -> bool {
        matches!(self, Seen::Hello | Seen::Flight | Seen::Finished)
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Seen::Nothing => "nothing",
            Seen::Data => "data",
            Seen::Fin => "FIN",
            Seen::Rst => "RST",
            Seen::Header => "the PROXY header",
            Seen::HeaderWrong => "no PROXY header (or a wrong one)",
            Seen::Hello => "the TLS hello",
            Seen::Flight => "the server's TLS flight",
            Seen::Finished => "the client's TLS Finished",
            Seen::CloseNotify => "close_notify",
            Seen::Alert => "a TLS alert",
        })
    }
}

/// What the eager model predicts a read gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Expect {
    /// The kind of thing read.
    pub seen: Seen,
    /// For data, the chunk's number (per direction).
    pub chunk: Option<u8>,
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.chunk {
            Some(n) => write!(f, "data (chunk #{n})"),
            None => write!(f, "{}", self.seen),
        }
    }
}
pub(super) fn describe(seen: Seen, bytes: &[u8]) -> String {
    match seen {
        Seen::Data if bytes.len() == CHUNK && (bytes[0] == b'c' || bytes[0] == b's') => {
            format!("data (chunk #{} from the {})", bytes[1], if bytes[0] == b'c' { "client" } else { "server" })
        }
        Seen::Data if bytes.starts_with(b"PROXY ") || bytes.starts_with(b"\r\n\r\n\0\r\nQUIT\n") => {
            format!("a PROXY header ({})", String::from_utf8_lossy(bytes).escape_debug())
        }
        Seen::Data => format!("data {bytes:?}"),
        // The read wrote what it found instead of bytes.
        Seen::HeaderWrong | Seen::Alert if !bytes.is_empty() => String::from_utf8_lossy(bytes).into_owned(),
        other => other.to_string(),
    }
}
