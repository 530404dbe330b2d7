//! A small SQL tokenizer for the line editor: syntax highlighting, keyword
//! auto-capitalization and completion context need to know whether the cursor is in a
//! word, a string, a quoted identifier or a comment. (Statement splitting has its own
//! incremental scanner in `split.rs`.)

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A bare word: keyword or identifier.
    Word,
    /// `"quoted identifier"`.
    Quoted,
    /// `'string'`, `E'string'` or `$$string$$` (possibly unterminated).
    Str,
    /// A numeric literal.
    Number,
    /// `-- ...` or `/* ... */` (possibly unterminated).
    Comment,
    /// Whitespace.
    Space,
    /// Anything else: operators, punctuation.
    Other,
}

/// A token: its kind and byte range in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: Kind,
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `text` into tokens covering all of it.
pub fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let next = chars.get(i + 1).map(|(_, c)| *c);
        let (kind, j) = if c.is_whitespace() {
            let mut j = i + 1;
            while j < chars.len() && chars[j].1.is_whitespace() {
                j += 1;
            }
            (Kind::Space, j)
        } else if c == '-' && next == Some('-') {
            let mut j = i + 2;
            while j < chars.len() && chars[j].1 != '\n' {
                j += 1;
            }
            (Kind::Comment, j)
        } else if c == '/' && next == Some('*') {
            let mut j = i + 2;
            while j < chars.len()
                && !(chars[j].1 == '*' && chars.get(j + 1).map(|x| x.1) == Some('/'))
            {
                j += 1;
            }
            (Kind::Comment, (j + 2).min(chars.len()))
        } else if c == '\'' || ((c == 'E' || c == 'e') && next == Some('\'')) {
            let escapes = c != '\'';
            let mut j = if escapes { i + 2 } else { i + 1 };
            while j < chars.len() {
                match chars[j].1 {
                    '\\' if escapes => j += 2,
                    '\'' if chars.get(j + 1).map(|x| x.1) == Some('\'') => j += 2,
                    '\'' => {
                        j += 1;
                        break;
                    }
                    _ => j += 1,
                }
            }
            (Kind::Str, j.min(chars.len()))
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() {
                if chars[j].1 == '"' {
                    if chars.get(j + 1).map(|x| x.1) == Some('"') {
                        j += 2;
                        continue;
                    }
                    j += 1;
                    break;
                }
                j += 1;
            }
            (Kind::Quoted, j.min(chars.len()))
        } else if c == '$' && next == Some('$') {
            let mut j = i + 2;
            while j < chars.len()
                && !(chars[j].1 == '$' && chars.get(j + 1).map(|x| x.1) == Some('$'))
            {
                j += 1;
            }
            (Kind::Str, (j + 2).min(chars.len()))
        } else if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            let mut j = i + 1;
            while j < chars.len() {
                let d = chars[j].1;
                let prev = chars[j - 1].1;
                if d.is_ascii_digit()
                    || d == '.'
                    || d == 'e'
                    || d == 'E'
                    || ((d == '+' || d == '-') && (prev == 'e' || prev == 'E'))
                {
                    j += 1;
                } else {
                    break;
                }
            }
            (Kind::Number, j)
        } else if is_word_char(c) {
            let mut j = i + 1;
            while j < chars.len() && is_word_char(chars[j].1) {
                j += 1;
            }
            (Kind::Word, j)
        } else {
            (Kind::Other, i + 1)
        };
        out.push(Token {
            kind,
            start,
            end: end_of(j),
        });
        i = j;
    }
    out
}

/// The token containing the byte just before `pos` (the one being typed), if any.
pub fn token_before(text: &str, pos: usize) -> Option<Token> {
    tokens(text)
        .into_iter()
        .find(|t| t.start < pos && pos <= t.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        tokens(text)
            .into_iter()
            .map(|t| (t.kind, &text[t.start..t.end]))
            .collect()
    }

    #[test]
    fn tokenizes_sql() {
        assert_eq!(
            kinds("select 'a''b', \"x\" -- c"),
            vec![
                (Kind::Word, "select"),
                (Kind::Space, " "),
                (Kind::Str, "'a''b'"),
                (Kind::Other, ","),
                (Kind::Space, " "),
                (Kind::Quoted, "\"x\""),
                (Kind::Space, " "),
                (Kind::Comment, "-- c"),
            ]
        );
        assert_eq!(
            kinds("1.5e-3/*x*/é"),
            vec![
                (Kind::Number, "1.5e-3"),
                (Kind::Comment, "/*x*/"),
                (Kind::Word, "é")
            ]
        );
        assert_eq!(kinds("'open"), vec![(Kind::Str, "'open")]);
        assert_eq!(kinds("E'a\\'b'"), vec![(Kind::Str, "E'a\\'b'")]);
    }
}
