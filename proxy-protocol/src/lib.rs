//! The PROXY protocol, versions 1 and 2 (HAProxy's `doc/proxy-protocol.txt`): a strict parser
//! for headers that arrive in pieces, and a builder.
//!
//! # Receiving: [`parse`]
//!
//! ```text
//! parse(&buf) -> Ok(Parsed::Complete(header, len))   the header is exactly buf[..len]
//!              | Ok(Parsed::Incomplete(needed))       a valid prefix; at least needed.min() more bytes
//!              | Err(ParseError)                      never a header, whatever follows: drop the connection
//! ```
//!
//! The parser is a pure function of the bytes received so far. It keeps no state between
//! calls: the runtime peeks the socket (`recv` with `MSG_PEEK`) and hands over everything that
//! is queued, from the first byte, every time more arrives. So:
//!
//! - **Split reads parse identically.** A header cut across any number of reads gives the same
//!   [`Header`] and length as the header in one read (the spec asks senders for one write but
//!   lets nothing on the path keep it whole; HAProxy 2.6 fails such headers, this parser does
//!   not).
//! - **It never reads past the header.** The v1 scan stops at the CRLF, the v2 walk at byte
//!   16 + `len`. The runtime then consumes exactly `len` bytes with a plain `recv`, and the
//!   payload (a TLS ClientHello, an SMTP command) stays in the kernel queue for the next layer.
//!   The spec's "must not start processing the connection before it receives a complete and
//!   valid PROXY protocol header" holds by construction.
//! - **It rejects as soon as it can.** A prefix that no continuation can make valid is an error
//!   at once (PROXY spec 2.1: "abort the connection as soon as possible"): a first byte other
//!   than `P` or `0x0D`, a line that stops spelling `PROXY `, an address field that cannot be
//!   an address any more, a v2 version, command, family or transport out of range, a v2 length
//!   over the cap or below the address block. The verdict is stable: once a prefix is an error,
//!   every longer input gives the same error (same [`ParseError::reason`]); once complete,
//!   always the same header.
//! - **It does not allocate.** [`Header`] borrows from the input. The TLVs are checked once,
//!   while parsing; [`Tlvs`] keeps the borrowed TLV area and where each registered TLV is, and
//!   [`Tlvs::iter`] walks them all.
//!
//! A runtime loop, with `peek` and `consume` standing for `recv(MSG_PEEK)` and `recv(0)`:
//!
//! ```
//! use connseq_proxy_protocol::{parse, Addresses, Parsed, MAX_V2_LEN};
//!
//! # let queue: Vec<u8> = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n".to_vec();
//! # let peek = |buf: &mut [u8]| {
//! #     let n = queue.len().min(buf.len());
//! #     buf[..n].copy_from_slice(&queue[..n]);
//! #     n
//! # };
//! // Room for any header the parser accepts: with it, `Incomplete` means "wait", never "stuck".
//! let mut buf = [0u8; MAX_V2_LEN];
//! let n = peek(&mut buf); // on each readable event; 0 is a peer that closed first
//! let (client, len) = match parse(&buf[..n]) {
//!     Ok(Parsed::Complete(header, len)) => (header.addresses.source(), len),
//!     Ok(Parsed::Incomplete(_)) => return Ok(()), // wait for more bytes, under a timeout of 3 s or more
//!     Err(error) => return Err(error.into()),      // drop the connection, log error.reason()
//! };
//! // consume(&mut buf[..len]): exactly the header; the payload stays queued.
//! assert_eq!((client, len), (Some("192.168.0.1:56324".parse()?), 47));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The header borrows `buf`: copy what is kept (addresses are `Copy`, AUTHORITY and the like
//! `to_owned`) before reusing the buffer for the consuming `recv`.
//!
//! # The v2 length cap
//!
//! The v2 length field allows headers of up to 65551 bytes. [`parse`] accepts up to
//! [`MAX_V2_LEN`] (4096) and rejects a longer one as soon as its length field is visible
//! ([`ParseError::V2TooLong`], a local limit: [`ParseError::is_local_limit`]). A receiver that
//! peeks must hold the whole header in its peek buffer, and the kernel must queue it unread; a
//! header larger than either would never become visible and the connection would only end at
//! its timeout. HAProxy caps it at its buffer size for the same reason. 4096 is eight times the
//! 536 bytes senders aim for and holds every registered TLV at its largest. [`parse_with_limit`]
//! takes another cap; the peek buffer must be at least that large.
//!
//! # Strictness
//!
//! Every violation has its own [`ParseError`] variant and a stable kebab-case
//! [`reason`](ParseError::reason) for the log. Beyond the letter of the spec:
//!
//! - v1: exactly one space between fields; no leading zero in IPv4 octets or ports; addresses
//!   of the declared family; IPv6 in the usual text form (embedded IPv4 included, zone ids
//!   not); the long `UNKNOWN` form is accepted and its rest ignored; a lone CR or LF anywhere
//!   is an error.
//! - v2: the family and transport nibbles are checked for LOCAL too (the spec: values out of
//!   range "must be rejected as invalid by receivers"), but LOCAL skips its `len` bytes
//!   unread, address block and TLVs alike ("discard the protocol block"); PROXY with AF_UNSPEC
//!   has no address block, and its TLVs are read. A single-valued TLV (ALPN, AUTHORITY, CRC32C,
//!   UNIQUE_ID, SSL, NETNS) or SSL sub-TLV seen twice is an error: the receiver would have to
//!   guess which one counts. AUTHORITY and the SSL strings must be UTF-8. NOOP, custom,
//!   experimental and unregistered types are skipped but listed by [`Tlvs::iter`].
//!
//! # Sending: [`V1Builder`], [`V2Builder`]
//!
//! - v1: `TCP4` when both addresses are IPv4, `TCP6` when both are IPv6, otherwise
//!   `PROXY UNKNOWN\r\n` (also [`V1Builder::unknown`]).
//! - v2: PROXY over AF_INET when both are IPv4, AF_INET6 otherwise with an IPv4 side
//!   IPv4-mapped (as HAProxy does); LOCAL with family 0 and length 0 for the proxy's own
//!   connections; optional ALPN, AUTHORITY, UNIQUE_ID, SSL, NETNS, extra TLVs and a CRC32C
//!   computed last over the whole header.
//!
//! Both write into the caller's memory only, a slice (`[u8; N]`) or the end of a `Vec<u8>`, and
//! return the length. The header goes first on the server connection, before any TLS
//! ClientHello, in one write.
//!
//! # Facts (PROXY spec 2.1, 2.2)
//!
//! | | v1 | v2 |
//! |---|---|---|
//! | starts with | `PROXY ` | [`V2_SIGNATURE`] then `0x2X` (version 2, command X) |
//! | length | up to CRLF, at most [`MAX_V1_LEN`] (107): TCP4 56, TCP6 104, `UNKNOWN` 15 | 16 + the big-endian `u16` at bytes 15-16 |
//! | addresses | `TCP4`/`TCP6` text, `UNKNOWN` | AF_INET 12 bytes, AF_INET6 36, AF_UNIX 216 (two 108-byte paths), AF_UNSPEC 0 |
//! | commands | PROXY only | LOCAL (0), PROXY (1) |
//! | extensions | none | TLVs: type (1), length (2, big-endian), value; `PP2_TYPE_*` |
//!
//! Test vector (spec's regression test): `0d0a0d0a000d0a515549540a 21 11 0014 7f000001 7f000001
//! 002a 0539 02 0005 3132333435`, PROXY TCP4 127.0.0.1:42 → 127.0.0.1:1337 with AUTHORITY
//! `12345`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod build;
mod consts;
mod crc;
mod error;
mod header;
mod parse;
mod tlv;

pub use build::{SslParams, V1Builder, V2Builder};
pub use consts::{
    CRC32C_LEN, INET6_BLOCK_LEN, INET_BLOCK_LEN, MAX_AUTHORITY_LEN, MAX_UNIQUE_ID_LEN, MAX_V1_LEN, MAX_V2_LEN,
    MIN_V1_LEN, RECOMMENDED_MAX_LEN, SSL_FIXED_LEN, TLV_HEADER_LEN, UNIX_BLOCK_LEN, UNIX_PATH_LEN, V1_PREFIX,
    V2_FIXED_LEN, V2_FORMAT_MAX_LEN, V2_SIGNATURE,
};
pub use error::{BuildError, ParseError, V1Field};
pub use header::{Addresses, Command, Header, Transport, Version};
pub use parse::{parse, parse_with_limit, Needed, Parsed};
pub use tlv::{
    Ssl, SslClientFlags, Tlv, TlvIter, Tlvs, PP2_SUBTYPE_SSL_CIPHER, PP2_SUBTYPE_SSL_CN, PP2_SUBTYPE_SSL_KEY_ALG,
    PP2_SUBTYPE_SSL_SIG_ALG, PP2_SUBTYPE_SSL_VERSION, PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_CRC32C,
    PP2_TYPE_MAX_CUSTOM, PP2_TYPE_MAX_EXPERIMENT, PP2_TYPE_MAX_FUTURE, PP2_TYPE_MIN_CUSTOM, PP2_TYPE_MIN_EXPERIMENT,
    PP2_TYPE_MIN_FUTURE, PP2_TYPE_NETNS, PP2_TYPE_NOOP, PP2_TYPE_SSL, PP2_TYPE_UNIQUE_ID,
};
