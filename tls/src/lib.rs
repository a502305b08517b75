//! TLS as the note's data layer, on rustls.
#![forbid(unsafe_code)]
