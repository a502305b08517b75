//! The words a few keys take: `balance` and `splice`, spelled as in HAProxy
//! (`balance roundrobin`, `option splice-auto`).

use super::error::Problem;
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
    }

    #[test]
    fn unknown_words_list_the_accepted_ones() {
        let e = parse_balance("random").expect_err("not a balance");
        assert_eq!(e.to_string(), "unknown value \"random\" (expected roundrobin or leastconn)");
        let e = parse_splice("sometimes").expect_err("not a splice mode");
        assert_eq!(e.to_string(), "unknown value \"sometimes\" (expected auto, always or never)");
    }
}
