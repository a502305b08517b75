//! From byte offsets in a configuration file to what an error shows: the
//! 1-based line and the key there.

use super::error::{ConfigError, Problem};
use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// A configuration file's name and text, to place errors in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Source<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
}

impl Source<'_> {
    /// The 1-based line of byte `offset` (clamped to the text).
    pub(crate) fn line(&self, offset: usize) -> usize {
        let end = floor_char_boundary(self.text, offset);
        self.text[..end].bytes().filter(|&b| b == b'\n').count() + 1
    }

    /// An error about `key`, at the line where `span` starts.
    pub(crate) fn error(&self, span: &Range<usize>, key: &str, problem: Problem) -> ConfigError {
        ConfigError::File {
            file: self.file.to_owned(),
            line: self.line(span.start),
            key: Some(key.to_owned()),
            problem: Box::new(problem),
        }
    }

    /// Translates a TOML parse or shape error: toml gives the span of the
    /// offending key or value, and the key is read from the text around it.
    pub(crate) fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        ConfigError::File {
            file: self.file.to_owned(),
            line: self.line(span.start),
            key: self.key_at(e.message(), &span).map(|k| one_line(&k)),
            problem: Box::new(Problem::Toml(e.message().to_owned())),
        }
    }

    /// The key an error with `message` at `span` is about:
    /// - a missing or unknown field is named by the message;
    /// - an error on a `[table]` header line is about that table;
    /// - otherwise the document's own tree (parsed again, recovering from
    ///   syntax errors) says which key the span is, or which key's value holds
    ///   it (the innermost: `maxconn` inside `servers = [{ ... }]`);
    /// - otherwise the error's line says, with `key =` or a bare key.
    fn key_at(&self, message: &str, span: &Range<usize>) -> Option<String> {
        let named = ["missing field `", "unknown field `"].iter().find_map(|p| message.strip_prefix(p));
        if let Some(field) = named.and_then(|m| m.split('`').next()) {
            return Some(field.to_owned());
        }
        if let Some(header) = self.header_at(span.start) {
            return Some(header);
        }
        let (doc, _) = DeTable::parse_recoverable(self.text);
        let mut innermost = None;
        if let Some(key) = find_in_table(doc.get_ref(), span.start, &mut innermost) {
            return Some(key);
        }
        innermost.map(|(_, key)| key).or_else(|| self.key_on_line(span.start))
    }

    /// The line holding `offset`, without its end of line, and where it starts.
    fn line_at(&self, offset: usize) -> (&str, usize) {
        let text = self.text;
        let at = floor_char_boundary(text, offset);
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        (&text[start..end], start)
    }

    /// The table a `[table]` or `[[table]]` header line holding `offset` names.
    fn header_at(&self, offset: usize) -> Option<String> {
        let (line, _) = self.line_at(offset);
        let header = line.trim().strip_prefix('[')?;
        let name = unquote(header.trim_start_matches('[').split(']').next().unwrap_or(header));
        (!name.is_empty()).then_some(name)
    }

    /// The key before the last `=` before `offset` on its line, or the line's
    /// text when it has no `=` (a key without a value).
    fn key_on_line(&self, offset: usize) -> Option<String> {
        let (line, start) = self.line_at(offset);
        let before = &line[..floor_char_boundary(self.text, offset) - start];
        let key = match before.rfind('=') {
            Some(eq) => before[..eq].rsplit(['{', ',', '[']).next().unwrap_or(""),
            None => line.split('=').next().unwrap_or(""),
        };
        let key = unquote(key);
        (!key.is_empty()).then_some(key)
    }
}

/// Looks for `at` among the keys and values of `table`, recursively: returns
/// the key whose own span holds `at`; records in `innermost` the key of the
/// smallest value that holds it.
fn find_in_table(table: &DeTable<'_>, at: usize, innermost: &mut Option<(usize, String)>) -> Option<String> {
    for (key, value) in table.iter() {
        if key.span().contains(&at) {
            return Some(key.get_ref().to_string());
        }
        let span = value.span();
        if span.contains(&at) && innermost.as_ref().map_or(true, |(len, _)| span.len() < *len) {
            *innermost = Some((span.len(), key.get_ref().to_string()));
        }
        if let Some(found) = find_in_value(value.get_ref(), at, innermost) {
            return Some(found);
        }
    }
    None
}

fn find_in_value(value: &DeValue<'_>, at: usize, innermost: &mut Option<(usize, String)>) -> Option<String> {
    match value {
        DeValue::Table(t) => find_in_table(t, at, innermost),
        DeValue::Array(a) => a.iter().find_map(|v| find_in_value(v.get_ref(), at, innermost)),
        _ => None,
    }
}

/// The longest key an error quotes whole.
const MAX_KEY_CHARS: usize = 64;

/// A key as an error quotes it, on one line: a broken file can make the parser take a
/// multi-line string, or a long stretch of garbage, for a key (found by the `config_toml` fuzz
/// target), and the error must stay one line. Control characters are escaped and a long key is
/// cut, with `...`.
fn one_line(key: &str) -> String {
    let escaped: String =
        key.chars().flat_map(|c| if c.is_control() { c.escape_debug().collect() } else { vec![c] }).collect();
    match escaped.char_indices().nth(MAX_KEY_CHARS) {
        Some((cut, _)) => format!("{}...", &escaped[..cut]),
        None => escaped,
    }
}

/// `"timeout-client"` or `'x'` without quotes, and trimmed.
fn unquote(key: &str) -> String {
    key.trim().trim_matches(['"', '\'']).trim().to_owned()
}

/// The largest char boundary at or below `i` (clamped to the text).
fn floor_char_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source<'_> {
        Source { file: "t.toml", text }
    }

    fn at(text: &str, needle: &str) -> Range<usize> {
        let i = text.find(needle).expect("needle in text");
        i..i + needle.len()
    }

    #[test]
    fn a_long_or_multi_line_key_is_quoted_on_one_line_and_cut() {
        let long = "k".repeat(200);
        assert_eq!(one_line(&long).chars().count(), MAX_KEY_CHARS + 3);
        assert_eq!(one_line("a\nb\u{e}"), "a\\nb\\u{e}");
        assert_eq!(one_line("timeout-client"), "timeout-client");
    }

    #[test]
    fn lines_count_from_one_and_clamp_to_the_end() {
        let s = src("a = 1\nb = 2\n");
        assert_eq!(s.line(0), 1);
        assert_eq!(s.line(6), 2);
        assert_eq!(s.line(1000), 3);
    }

    #[test]
    fn a_value_span_finds_its_key() {
        let t = "[global]\nthreads = \"x\"\n";
        assert_eq!(src(t).key_at("invalid type", &at(t, "\"x\"")), Some("threads".into()));
        let t = "servers = [ { addr = \"a\", maxconn = \"y\" } ]\n";
        assert_eq!(src(t).key_at("invalid type", &at(t, "\"y\"")), Some("maxconn".into()));
        let t = "listen = [\n  \"a\",\n  3,\n]\n";
        assert_eq!(src(t).key_at("invalid type", &at(t, "3")), Some("listen".into()));
        let t = "\"timeout-client\" = 3\n";
        assert_eq!(src(t).key_at("invalid type", &at(t, "3")), Some("timeout-client".into()));
    }

    #[test]
    fn a_key_span_is_the_key() {
        let t = "[global]\nbogus = 1\n";
        assert_eq!(src(t).key_at("unknown field `bogus`", &at(t, "bogus")), Some("bogus".into()));
    }

    #[test]
    fn a_missing_field_is_named_by_the_message() {
        let t = "[[listener]]\n";
        assert_eq!(src(t).key_at("missing field `name`", &at(t, "[[listener]]")), Some("name".into()));
    }

    #[test]
    fn an_unknown_table_is_named_by_the_message() {
        let t = "[[listeners]]\n";
        assert_eq!(src(t).key_at("unknown field `listeners`, expected", &at(t, "listeners")), Some("listeners".into()));
    }

    #[test]
    fn a_table_header_span_is_the_table() {
        let t = "[backend.app]\n";
        assert_eq!(src(t).key_at("invalid type", &at(t, "[backend.app]")), Some("backend.app".into()));
    }

    #[test]
    fn an_array_value_is_not_a_header() {
        let t = "name = [\"a\"]\n";
        assert_eq!(src(t).key_at("invalid type", &at(t, "[\"a\"]")), Some("name".into()));
    }

    #[test]
    fn a_duplicate_table_is_named_by_its_header() {
        let t = "[global]\nthreads = 1\n[global]\n";
        let span = t.rfind("global").expect("second header");
        assert_eq!(src(t).key_at("duplicate key", &(span..span + 6)), Some("global".into()));
    }

    #[test]
    fn a_line_without_equals_is_its_own_key() {
        let t = "a = 1\nhello world\n";
        assert_eq!(src(t).key_at("key with no value, expected `=`", &(17..17)), Some("hello world".into()));
    }

    #[test]
    fn an_empty_line_has_no_key() {
        let t = "a = 1\n\n";
        assert_eq!(src(t).key_at("something", &(6..6)), None);
    }
}
