//! The kinds of session in the soak's mix, the header a client sends first so the server
//! knows its part, and what each kind must end with.
//!
//! Every byte a client sends is its header then a position-dependent pattern, so a lost,
//! duplicated or reordered byte shows at the first wrong position, on whichever side reads it.

use std::io;

/// What one session does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 64 bytes each way.
    Short,
    /// 256 KiB each way at once.
    Bulk,
    /// The client sends everything and its FIN; the server answers only after that FIN.
    HalfClosed,
    /// The client resets after reading a little of the echo.
    ClientAbort,
    /// The server resets after echoing part of the stream.
    ServerAbort,
    /// 1 MiB back to a client that reads 16 KiB per millisecond: the proxy's buffers fill.
    SlowReader,
    /// Short, over TLS to the proxy's TLS listener.
    Tls,
    /// Short, with a PROXY v1 header in front; the proxy sends a v2 header to the server.
    Proxy,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Short,
        Kind::Bulk,
        Kind::HalfClosed,
        Kind::ClientAbort,
        Kind::ServerAbort,
        Kind::SlowReader,
        Kind::Tls,
        Kind::Proxy,
    ];

    /// The mix, per thousand sessions.
    const WEIGHTS: [u64; 8] = [600, 80, 100, 50, 50, 10, 70, 40];

    /// The kind of session number `i` (a fixed mix, spread evenly).
    pub fn of(i: u64) -> Kind {
        let mut roll = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        roll %= 1000;
        for (k, w) in Kind::ALL.iter().zip(Kind::WEIGHTS) {
            if roll < w {
                return *k;
            }
            roll -= w;
        }
        Kind::Short
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Short => "short",
            Kind::Bulk => "bulk",
            Kind::HalfClosed => "half-closed",
            Kind::ClientAbort => "client-abort",
            Kind::ServerAbort => "server-abort",
            Kind::SlowReader => "slow-reader",
            Kind::Tls => "tls",
            Kind::Proxy => "proxy",
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(c: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(c)).copied()
    }

    /// Bytes of pattern the client sends after its header.
    pub fn len(self) -> u32 {
        match self {
            Kind::Short | Kind::Tls | Kind::Proxy => 64,
            Kind::Bulk => 256 * 1024,
            Kind::HalfClosed => 8 * 1024,
            Kind::ClientAbort => 64 * 1024,
            Kind::ServerAbort => 64 * 1024,
            Kind::SlowReader => 1024 * 1024,
        }
    }

    /// The termination code's first letter the proxy must log.
    pub fn expected_cause(self) -> char {
        match self {
            Kind::ClientAbort => 'C',
            Kind::ServerAbort => 'S',
            _ => '-',
        }
    }
}

/// The header a client sends first: `SK`, the kind, the session number, the length.
pub const HEADER_LEN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub id: u64,
    pub len: u32,
}

impl Header {
    pub fn bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..2].copy_from_slice(b"SK");
        b[2] = self.kind.code();
        b[4..12].copy_from_slice(&self.id.to_be_bytes());
        b[12..16].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    pub fn parse(b: &[u8; HEADER_LEN]) -> io::Result<Header> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("not a soak header: {b:02x?}"));
        if &b[0..2] != b"SK" {
            return Err(bad());
        }
        let kind = Kind::from_code(b[2]).ok_or_else(bad)?;
        let id = u64::from_be_bytes(b[4..12].try_into().map_err(|_| bad())?);
        let len = u32::from_be_bytes(b[12..16].try_into().map_err(|_| bad())?);
        Ok(Header { kind, id, len })
    }
}

/// Byte `i` of session `id`'s stream.
pub fn pattern(id: u64, i: u64) -> u8 {
    ((i ^ id.rotate_left(23)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Fills `buf` with the stream of `id` from offset `from`.
pub fn fill(id: u64, from: u64, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern(id, from + k as u64);
    }
}

/// Checks `buf` against the stream of `id` from offset `from`.
pub fn check(id: u64, from: u64, buf: &[u8]) -> io::Result<()> {
    match buf.iter().enumerate().find(|&(k, &b)| b != pattern(id, from + k as u64)) {
        None => Ok(()),
        Some((k, _)) => {
            Err(io::Error::new(io::ErrorKind::InvalidData, format!("session {id}: byte {} is wrong", from + k as u64)))
        }
    }
}

/// Where the server resets a server-abort session: after echoing this many bytes.
pub fn abort_after(h: &Header) -> u64 {
    u64::from(h.len) / 3
}
