//! The builder: the header a sender writes first on a server connection.
//!
//! Both builders write into the caller's memory only: [`write_to`](V2Builder::write_to) into a
//! slice (a `[u8; N]` on the stack does), [`append_to`](V2Builder::append_to) at the end of a
//! `Vec<u8>`, growing it only if its capacity is short. Each returns the header's length.

mod v1;
mod v2;

pub use v1::V1Builder;
pub use v2::{SslParams, V2Builder};

use crate::error::BuildError;

/// A cursor over the caller's output slice; running out of room is an error, never a panic.
struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut [u8]) -> Self {
        Writer { out, pos: 0 }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        let available = self.out.len();
        let end = self.pos + bytes.len();
        let room = self.out.get_mut(self.pos..end).ok_or(BuildError::BufferTooSmall { needed: end, available })?;
        room.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    fn put_u8(&mut self, byte: u8) -> Result<(), BuildError> {
        self.put(&[byte])
    }

    fn put_u16(&mut self, value: u16) -> Result<(), BuildError> {
        self.put(&value.to_be_bytes())
    }
}

/// Appends `len` bytes to `out` and fills them with `write`; on error `out` is left as it was.
fn append_with(
    out: &mut Vec<u8>,
    len: usize,
    write: impl FnOnce(&mut [u8]) -> Result<usize, BuildError>,
) -> Result<usize, BuildError> {
    let start = out.len();
    out.resize(start + len, 0);
    match write(&mut out[start..]) {
        Ok(written) => {
            out.truncate(start + written);
            Ok(written)
        }
        Err(error) => {
            out.truncate(start);
            Err(error)
        }
    }
}
