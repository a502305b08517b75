//! TLS as the note's data layer, on rustls.
//!
//! The design note (HAProxy `entities-v2.txt`, 2012) stacks a connection in
//! layers: the socket is the *control* layer (`ctrl_shutw` is
//! `shutdown(SHUT_WR)`, `ctrl_close` deregisters it) and TLS is the *data*
//! layer above it (`data_shutw` is close_notify, `data_close` frees the TLS
//! state). Each step of either layer "may fail, in which case the step must
//! be retained and the operations postponed". This crate is the data layer:
//! every operation of a [`TlsConn`] is one such step on a borrowed
//! non-blocking socket, never blocks, and says exactly what the socket said,
//! so the runtime can hand the answer to the core as an `Outcome`.
//!
//! # Mapping to the core's actions
//!
//! | core `Action`           | call                                | answer → `Outcome` |
//! |-------------------------|-------------------------------------|--------------------|
//! | `TlsHandshake(side)`    | [`TlsConn::handshake`]              | [`Step::Done`] → `Done`, [`Step::WantRead`] → `WouldBlock`, [`Step::WantWrite`] → `WantWrite`, [`Step::Eof`] → `Eof`, [`Step::Reset`] → `Reset`, [`Step::Invalid`] → `Invalid`, [`Step::Rejected`] (our verifier refused the certificate) → `Invalid` until the core has an outcome for it |
//! | `Recv { side, .. }`     | [`TlsConn::read`]                   | [`Read::Data`] → `Data { full }`, [`Read::WouldBlock`] → `WouldBlock`, [`Read::Eof`] → `Eof`, [`Read::Reset`] → `Reset`, [`Read::Invalid`] → `Invalid` |
//! | `Send { side, .. }`     | [`TlsConn::write`]                  | [`Write::Sent`] → `Sent { drained }` (see below), [`Write::WouldBlock`] → `WouldBlock`, [`Write::Reset`] → `Reset` |
//! | `DataShutw(side)`       | [`TlsConn::close_notify`]           | [`Flush::Done`] → `Done`, [`Flush::WouldBlock`] → `WouldBlock` (retry when writable), [`Flush::Reset`] → `Reset` |
//! | `CtrlShutw(side)`       | none here: the runtime's `shutdown(SHUT_WR)`, after `DataShutw` is `Done` | |
//! | `DataClose(side)`       | drop the [`TlsConn`]                | `Done` |
//!
//! `Write::Sent { consumed, pending }`: the runtime drops `consumed` bytes
//! from its buffer. The source is drained only when the buffer is empty
//! *and* `!pending`; with `pending`, TLS records still sit inside rustls and
//! the next `Send` (even with an empty buffer) or a [`TlsConn::flush`]
//! pushes them out when the socket is writable.
//!
//! # Edge-triggered readiness
//!
//! rustls decrypts whole records, so plaintext can wait inside it after the
//! socket has been drained. [`TlsConn::read`] hands that out before touching
//! the socket and answers `WouldBlock` only when both are empty, which is
//! the condition under which an edge-triggered poller will wake the caller
//! again. After [`Step::Done`], call `read` before waiting for readability:
//! the peer's first records may have come with its last handshake flight.
//!
//! # Socket calls
//!
//! A [`TlsConn`] reads and writes its socket only through a [`SocketIo`]:
//! [`PlainSocketIo`] (socket2's `recv` and `send`) unless the caller gives
//! its own with [`TlsConn::with_socket_io`]. connseq's runtime gives the
//! calls of its `sys` room, so that the faults its tests inject there
//! (EAGAIN, short reads and writes, ENOBUFS, ECONNRESET) strike TLS
//! sessions too.
//!
//! # Configuration
//!
//! [`ServerTls::from_pem_files`] and [`ClientTls::new`] are built once at
//! startup; their [`TlsConfigError`]s name the file at fault. Cryptography
//! is rustls's *ring* provider, TLS 1.2 and 1.3.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod conn;
mod error;
mod names;
mod pem;
mod server;
mod sock;

pub use client::ClientTls;
pub use conn::{Flush, Read, Step, TlsConn, Write};
pub use error::{TlsConfigError, TlsError};
pub use server::ServerTls;
pub use sock::{PlainSocketIo, SocketIo};

/// The rustls version this crate is built on, re-exported so that callers
/// can inspect a [`TlsError`]'s cause ([`TlsError::as_rustls`]) without
/// naming the dependency themselves.
pub use rustls;
