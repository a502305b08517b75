//! An HAProxy configuration's lines as words (configuration.txt 2.1, 2.2):
//! words are separated by spaces or tabs; `#` starts a comment outside
//! quotes; double and single quotes group words, a backslash escapes the
//! next character (outside single quotes). Environment variables
//! (`"${NAME}"`) are not expanded: a `$` in double quotes is refused
//! rather than taken literally.

/// One non-empty line: its 1-based number and its words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) number: usize,
    pub(crate) words: Vec<String>,
}

/// Splits `text` into lines of words; an unterminated quote or a `$` in
/// double quotes is an error naming the line.
pub(crate) fn lines(text: &str) -> Result<Vec<Line>, (usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let words = split(raw).map_err(|e| (number, e))?;
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
    fn lines_keep_their_numbers_and_skip_blank_ones() {
        let got = lines("global\n\n  maxconn 10\n").expect("ok");
        assert_eq!(got.iter().map(|l| l.number).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(lines("a\nb \"c\n").expect_err("unclosed").0, 2);
    }
}
