//! PROXY protocol v1 and v2 (HAProxy's `doc/proxy-protocol.txt`).
#![forbid(unsafe_code)]
