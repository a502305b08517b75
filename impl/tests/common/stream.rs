//! Streams for the data-path tests: a position-dependent byte pattern (a
//! lost, duplicated or reordered byte shows), a writer and a checking
//! reader for it, an echo peer, and the test server's socket.

use super::HANG_GUARD;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};

/// One mebibyte.
pub const MIB: usize = 1 << 20;

pub fn server_socket() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind the test server");
    let addr = l.local_addr().expect("local address");
    (l, addr)
}

pub fn accept(l: &TcpListener) -> TcpStream {
    let (s, _) = l.accept().expect("the proxy connects to the server");
    s.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
    s
}

/// Byte `i` of stream `seed`: position-dependent, so a lost, duplicated or
/// reordered byte shows.
pub fn pattern(seed: u64, i: u64) -> u8 {
    ((i ^ seed.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Writes `len` bytes of stream `seed`, in uneven chunks.
pub fn write_pattern(s: &mut TcpStream, seed: u64, len: usize) -> io::Result<()> {
    let mut chunk = vec![0u8; 48 * 1024 + 7];
    let mut off = 0usize;
    while off < len {
        let n = chunk.len().min(len - off);
        for (k, b) in chunk[..n].iter_mut().enumerate() {
            *b = pattern(seed, (off + k) as u64);
        }
        s.write_all(&chunk[..n])?;
        off += n;
    }
    Ok(())
}

/// The SHA-256 of the first `len` bytes of stream `seed`.
pub fn pattern_sha256(seed: u64, len: usize) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut off = 0usize;
    while off < len {
        let n = chunk.len().min(len - off);
        for (k, b) in chunk[..n].iter_mut().enumerate() {
            *b = pattern(seed, (off + k) as u64);
        }
        h.update(&chunk[..n]);
        off += n;
    }
    h.finalize().into()
}

/// Reads until EOF, checking every byte against stream `seed` from offset
/// `from`; returns how many bytes came before EOF.
pub fn read_pattern_to_eof(s: &mut TcpStream, seed: u64, from: u64) -> io::Result<u64> {
    read_pattern_to_eof_sha256(s, seed, from).map(|(n, _)| n)
}

/// [`read_pattern_to_eof`], also returning the SHA-256 of what was read.
pub fn read_pattern_to_eof_sha256(s: &mut TcpStream, seed: u64, from: u64) -> io::Result<(u64, [u8; 32])> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = from;
    let mut h = Sha256::new();
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok((off - from, h.finalize().into()));
        }
        h.update(&buf[..n]);
        for &b in &buf[..n] {
            if b != pattern(seed, off) {
                return Err(io::Error::other(format!("byte {off} of stream {seed} is wrong")));
            }
            off += 1;
        }
    }
}

/// Echoes until EOF, then shuts its write side; returns the bytes echoed or
/// the error that ended it.
pub fn echo(mut s: TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            s.shutdown(Shutdown::Write)?;
            return Ok(total);
        }
        s.write_all(&buf[..n])?;
        total += n as u64;
    }
}

pub fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    thread::spawn(f)
}
