//! The proxy's log lines in a test binary. The log subscriber is process-wide: [`capture`]
//! installs it once, writing into one buffer, and a test picks its own lines by what they
//! contain (a backend's name, a client's address).

use std::io::{self, Write};
use std::sync::{Mutex, Once, PoisonError};

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        LOGS.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends this process's log lines to the buffer (once; later calls do nothing).
pub fn capture() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| tracing_subscriber::fmt().with_writer(|| Sink).with_ansi(false).init());
}

/// The lines logged so far that contain `needle`.
pub fn lines_with(needle: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(PoisonError::into_inner)).into_owned();
    text.lines().filter(|l| l.contains(needle)).map(str::to_owned).collect()
}
