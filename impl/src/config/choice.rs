//! The words a few keys take: `balance` and `splice`, spelled as in HAProxy
//! (`balance roundrobin`, `option splice-auto`), and the PROXY header's
//! version and TLVs (`send-proxy`, `send-proxy-tlv`).

use super::error::Problem;
use super::handshake::{ProxyTlvs, ProxyVersion};
use connseq_model::core::{Balance, SpliceMode};

/// The `balance` words, in the order help and errors list them.
pub const BALANCE_NAMES: [&str; 2] = ["roundrobin", "leastconn"];

/// The `splice` words, in the order help and errors list them.
pub const SPLICE_NAMES: [&str; 3] = ["auto", "always", "never"];

/// Parses a `balance` word: `roundrobin` or `leastconn`.
pub fn parse_balance(text: &str) -> Result<Balance, Problem> {
    match text {
        "roundrobin" => Ok(Balance::RoundRobin),
        "leastconn" => Ok(Balance::LeastConn),
        _ => Err(Problem::Choice { value: text.to_owned(), expected: "roundrobin or leastconn" }),
    }
}

/// The word for `balance`.
pub const fn balance_name(b: Balance) -> &'static str {
    match b {
        Balance::RoundRobin => "roundrobin",
        Balance::LeastConn => "leastconn",
    }
}

/// Parses a `splice` word: `auto` (splice once data has crossed through the
/// buffer, HAProxy's `splice-auto`), `always` or `never`.
pub fn parse_splice(text: &str) -> Result<SpliceMode, Problem> {
    match text {
        "auto" => Ok(SpliceMode::Auto),
        "always" => Ok(SpliceMode::Always),
        "never" => Ok(SpliceMode::Never),
        _ => Err(Problem::Choice { value: text.to_owned(), expected: "auto, always or never" }),
    }
}

/// The word for `splice`.
pub const fn splice_name(s: SpliceMode) -> &'static str {
    match s {
        SpliceMode::Auto => "auto",
        SpliceMode::Always => "always",
        SpliceMode::Never => "never",
    }
}

/// The `send-proxy` words, in the order help and errors list them.
pub const PROXY_VERSION_NAMES: [&str; 2] = ["v1", "v2"];

/// Parses a `send-proxy` word: `v1` (text header) or `v2` (binary header).
pub fn parse_proxy_version(text: &str) -> Result<ProxyVersion, Problem> {
    match text {
        "v1" => Ok(ProxyVersion::V1),
        "v2" => Ok(ProxyVersion::V2),
        _ => Err(Problem::Choice { value: text.to_owned(), expected: "v1 or v2" }),
    }
}

/// The word for `send-proxy`.
pub const fn proxy_version_name(v: ProxyVersion) -> &'static str {
    match v {
        ProxyVersion::V1 => "v1",
        ProxyVersion::V2 => "v2",
    }
}

/// Adds the TLV named `text` (one of [`TLV_NAMES`](super::TLV_NAMES)) to `tlvs`.
pub(crate) fn add_tlv(tlvs: &mut ProxyTlvs, text: &str) -> Result<(), Problem> {
    if tlvs.insert(text) {
        Ok(())
    } else {
        Err(Problem::Choice { value: text.to_owned(), expected: "alpn, authority, ssl, unique-id or crc32c" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_to_itself() {
        for w in BALANCE_NAMES {
            assert_eq!(parse_balance(w).map(balance_name), Ok(w));
        }
        for w in SPLICE_NAMES {
            assert_eq!(parse_splice(w).map(splice_name), Ok(w));
        }
        for w in PROXY_VERSION_NAMES {
            assert_eq!(parse_proxy_version(w).map(proxy_version_name), Ok(w));
        }
    }

    #[test]
    fn unknown_words_list_the_accepted_ones() {
        let e = parse_balance("random").expect_err("not a balance");
        assert_eq!(e.to_string(), "unknown value \"random\" (expected roundrobin or leastconn)");
        let e = parse_splice("sometimes").expect_err("not a splice mode");
        assert_eq!(e.to_string(), "unknown value \"sometimes\" (expected auto, always or never)");
        let e = parse_proxy_version("v3").expect_err("not a version");
        assert_eq!(e.to_string(), "unknown value \"v3\" (expected v1 or v2)");
        let e = add_tlv(&mut ProxyTlvs::default(), "sni").expect_err("not a TLV");
        assert_eq!(e.to_string(), "unknown value \"sni\" (expected alpn, authority, ssl, unique-id or crc32c)");
    }

    #[test]
    fn every_tlv_name_is_accepted_and_sets_its_own_field() {
        let mut all = ProxyTlvs::default();
        for name in super::super::TLV_NAMES {
            let mut one = ProxyTlvs::default();
            assert_eq!(add_tlv(&mut one, name), Ok(()));
            assert_ne!(one, ProxyTlvs::default(), "{name}");
            assert_eq!(add_tlv(&mut all, name), Ok(()));
        }
        let want = ProxyTlvs { alpn: true, authority: true, ssl: true, unique_id: true, crc32c: true };
        assert_eq!(all, want);
    }
}
