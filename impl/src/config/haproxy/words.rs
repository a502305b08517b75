//! An HAProxy configuration's lines as words (configuration.txt 2.1, 2.2):
//! words are separated by spaces or tabs; `#` starts a comment outside
//! quotes; double and single quotes group words, a backslash escapes the
//! next character (outside single quotes). Environment variables
//! (`"${NAME}"`) are not expanded: a `$` in double quotes is refused
//! rather than taken literally. A control character in a word (a tab
//! between words separates them; the CR of a CRLF line end is no part of the
//! line) is refused too: no directive or value has one, and an error quoting
//! it would not stay on one line.

/// One non-empty line: its 1-based number and its words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) number: usize,
    pub(crate) words: Vec<String>,
}

/// Splits `text` into lines of words; an unterminated quote, a `$` in
/// double quotes, a control character in a word or an empty first word is
/// an error naming the line.
pub(crate) fn lines(text: &str) -> Result<Vec<Line>, (usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let words = split(raw).map_err(|e| (number, e))?;
        // The first word names the directive (or section) the errors quote.
        if words.first().is_some_and(String::is_empty) {
            return Err((number, "an empty word (\"\" or '') where a keyword belongs".into()));
        }
        if !words.is_empty() {
            out.push(Line { number, words });
        }
    }
    Ok(out)
}

fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' => break,
            '\\' => {
                let escaped = chars.next().ok_or("a backslash ends the line (line continuation is not supported)")?;
                word.push(escaped);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a single quote is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => word.push(chars.next().ok_or("a double quote is not closed")?),
                        Some('$') => {
                            return Err("environment variables (\"${NAME}\") are not expanded by connseq".into())
                        }
                        Some(c) => word.push(c),
                        None => return Err("a double quote is not closed".into()),
                    }
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if let Some(c) = words.iter().flat_map(|w| w.chars()).find(|c| c.is_control()) {
        return Err(format!("a control character ({}) in a word", c.escape_debug()));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_comments_quotes_and_escapes() {
        assert_eq!(split("  server s1 127.0.0.1:80   # the first").expect("ok"), ["server", "s1", "127.0.0.1:80"]);
        assert_eq!(
            split("acl a src \"10.0.0.0/8\" 'x y' a\\ b").expect("ok"),
            ["acl", "a", "src", "10.0.0.0/8", "x y", "a b"]
        );
        assert_eq!(split("# only a comment").expect("ok"), Vec::<String>::new());
        assert!(split("bind \"${ADDR}\"").is_err());
        assert!(split("bind \"open").is_err());
    }

    #[test]
    fn a_control_character_in_a_word_is_refused_but_not_in_a_comment_or_a_crlf_end() {
        assert!(split("frontend4\0\0as").is_err());
        assert!(split("bind \"a\u{b}b\"").is_err());
        assert!(split("bind 'a\tb'").is_err());
        assert!(split("bind a\\\u{7f}").is_err());
        assert_eq!(split("\tmaxconn\t10 # a \u{7} bell").expect("ok"), ["maxconn", "10"]);
        assert_eq!(lines("global\r\n  maxconn 10\r").expect("ok")[1].words, ["maxconn", "10"]);
    }

    #[test]
    fn an_empty_keyword_is_refused_but_an_empty_value_is_a_word() {
        assert_eq!(lines("global\n  \"\" 10\n").expect_err("no keyword").0, 2);
        assert_eq!(lines("  '' # nothing else\n").expect_err("no keyword").0, 1);
        assert_eq!(lines("bind ''\n").expect("ok")[0].words, ["bind", ""]);
    }

    #[test]
    fn lines_keep_their_numbers_and_skip_blank_ones() {
        let got = lines("global\n\n  maxconn 10\n").expect("ok");
        assert_eq!(got.iter().map(|l| l.number).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(lines("a\nb \"c\n").expect_err("unclosed").0, 2);
    }
}
