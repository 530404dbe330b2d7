//! CrateDB's built-in tokenizers, configured from `TOKENIZER name WITH (...)`.
//!
//! Each splits the (char-filtered) text into tokens with positions 0, 1, 2…
//! except `keyword` (one token) and `path_hierarchy` (every prefix at
//! position 0), as in Lucene. tantivy's own tokenizers are close but not the
//! same (ASCII-only whitespace, n-grams all at position 0, no token length
//! cap), so these follow Lucene's rules directly.
//!
//! Approximations: `classic` tokenizes like `standard` (Lucene's classic
//! grammar for acronyms, company names and hosts is not reproduced);
//! `simple_pattern` and `simple_pattern_split` take Rust regex syntax for
//! Lucene's regexp syntax (they coincide for the common subset).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;
use tantivy::tokenizer::Token;

use super::chars::{java_whitespace, lowercase};
use super::params::Params;
use super::regex_java;
use super::standard::{self, DEFAULT_MAX_TOKEN_LENGTH, MAX_TOKEN_LENGTH_LIMIT};
use super::tokens::token;
use crate::error::{Error, Result};

/// The tokenizer names CrateDB offers and Shoal supports.
pub(crate) const NAMES: &[&str] = &[
    "char_group",
    "classic",
    "edge_ngram",
    "keyword",
    "letter",
    "lowercase",
    "ngram",
    "path_hierarchy",
    "pattern",
    "simple_pattern",
    "simple_pattern_split",
    "standard",
    "uax_url_email",
    "whitespace",
];

/// CrateDB's tokenizers Shoal does not have.
pub(crate) const UNSUPPORTED: &[&str] = &["thai"];

/// Old camel-case spellings Elasticsearch still accepts.
pub(crate) fn canonical(name: &str) -> &str {
    match name {
        "nGram" => "ngram",
        "edgeNGram" => "edge_ngram",
        "PathHierarchy" => "path_hierarchy",
        other => other,
    }
}

#[derive(Clone)]
pub(crate) enum TokenizerKind {
    Standard {
        max: usize,
    },
    UaxUrlEmail {
        max: usize,
    },
    /// Lucene's `LetterTokenizer`, or `LowerCaseTokenizer` when `lowercase`.
    Letter {
        lowercase: bool,
    },
    Whitespace {
        max: usize,
    },
    Keyword,
    Ngram(Ngram),
    /// Split on the pattern (`group` < 0) or emit a capture group of each match.
    Pattern {
        regex: Regex,
        group: i64,
    },
    SimplePattern {
        regex: Regex,
        split: bool,
    },
    PathHierarchy(PathHierarchy),
    CharGroup {
        split_on: CharGroup,
        max: usize,
    },
}

#[derive(Clone)]
pub(crate) struct Ngram {
    min: usize,
    max: usize,
    edge: bool,
    /// Runs of token characters; `None` keeps every character.
    token_chars: Option<Regex>,
}

#[derive(Clone)]
pub(crate) struct PathHierarchy {
    delimiter: char,
    replacement: char,
    skip: usize,
    reverse: bool,
}

#[derive(Clone)]
pub(crate) struct CharGroup {
    chars: Vec<char>,
    classes: Option<Regex>,
}

impl TokenizerKind {
    /// The tokenizer of built-in type `kind` with `params`.
    pub(crate) fn new(kind: &str, params: &[(String, Value)]) -> Result<TokenizerKind> {
        let p = Params(params);
        Ok(match canonical(kind) {
            "standard" | "classic" => TokenizerKind::Standard {
                max: max_token_length(p)?,
            },
            "uax_url_email" => TokenizerKind::UaxUrlEmail {
                max: max_token_length(p)?,
            },
            "letter" => TokenizerKind::Letter { lowercase: false },
            "lowercase" => TokenizerKind::Letter { lowercase: true },
            "whitespace" => TokenizerKind::Whitespace {
                max: max_token_length(p)?,
            },
            "keyword" => {
                p.usize_in("buffer_size", 256, 1, usize::MAX >> 1)?;
                TokenizerKind::Keyword
            }
            "ngram" => TokenizerKind::Ngram(Ngram::new(p, false)?),
            "edge_ngram" => TokenizerKind::Ngram(Ngram::new(p, true)?),
            "pattern" => {
                let regex = regex_java::compile(
                    &p.string_or("pattern", r"\W+")?,
                    &p.string_or("flags", "")?,
                )?;
                let group = p.int("group")?.unwrap_or(-1);
                if group >= regex.captures_len() as i64 {
                    return Err(Error::InvalidArgument(format!("No group {group}")));
                }
                TokenizerKind::Pattern { regex, group }
            }
            "simple_pattern" | "simple_pattern_split" => TokenizerKind::SimplePattern {
                regex: regex_java::compile(
                    &p.string_or("pattern", "")?,
                    "UNICODE_CHARACTER_CLASS",
                )?,
                split: kind == "simple_pattern_split",
            },
            "path_hierarchy" => TokenizerKind::PathHierarchy(PathHierarchy::new(p)?),
            "char_group" => TokenizerKind::CharGroup {
                split_on: CharGroup::new(p)?,
                max: max_token_length(p)?,
            },
            "thai" => {
                return Err(Error::Unsupported(
                    "the thai tokenizer is not supported".into(),
                ));
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "Non-existing built-in tokenizer type '{other}'"
                )));
            }
        })
    }

    pub(crate) fn tokenize(&self, text: &str) -> Vec<Token> {
        match self {
            TokenizerKind::Standard { max } => standard::standard(text, *max),
            TokenizerKind::UaxUrlEmail { max } => standard::uax_url_email(text, *max),
            TokenizerKind::Letter { lowercase: lower } => {
                let mut tokens = letter_runs(text);
                if *lower {
                    for t in &mut tokens {
                        t.text = lowercase(&t.text);
                    }
                }
                tokens
            }
            TokenizerKind::Whitespace { max } => runs(text, |c| !java_whitespace(c), *max),
            TokenizerKind::Keyword => vec![token(0, 0, text.len(), text)],
            TokenizerKind::Ngram(n) => n.tokenize(text),
            TokenizerKind::Pattern { regex, group } => pattern(regex, *group, text),
            TokenizerKind::SimplePattern {
                regex,
                split: false,
            } => pattern(regex, 0, text),
            TokenizerKind::SimplePattern { regex, split: true } => pattern(regex, -1, text),
            TokenizerKind::PathHierarchy(p) => p.tokenize(text),
            TokenizerKind::CharGroup { split_on, max } => runs(text, |c| !split_on.splits(c), *max),
        }
    }
}

fn max_token_length(p: Params) -> Result<usize> {
    match p.int("max_token_length")? {
        None => Ok(DEFAULT_MAX_TOKEN_LENGTH),
        Some(n) if n < 1 => Err(Error::InvalidArgument(format!(
            "maxTokenLength must be greater than zero, got [{n}]"
        ))),
        Some(n) if n as usize > MAX_TOKEN_LENGTH_LIMIT => Err(Error::InvalidArgument(format!(
            "maxTokenLength may not exceed {MAX_TOKEN_LENGTH_LIMIT}"
        ))),
        Some(n) => Ok(n as usize),
    }
}

/// Lucene's `CharTokenizer`: maximal runs of token characters, a run longer
/// than `max` UTF-16 units continuing as a new token.
fn runs(text: &str, is_token_char: impl Fn(char) -> bool, max: usize) -> Vec<Token> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut units = 0;
    for (i, c) in text.char_indices() {
        if is_token_char(c) {
            let width = c.len_utf16();
            match start {
                Some(s) if units + width > max => {
                    out.push(token(out.len(), s, i, &text[s..i]));
                    start = Some(i);
                    units = width;
                }
                Some(_) => units += width,
                None => {
                    start = Some(i);
                    units = width;
                }
            }
        } else if let Some(s) = start.take() {
            out.push(token(out.len(), s, i, &text[s..i]));
        }
    }
    if let Some(s) = start {
        out.push(token(out.len(), s, text.len(), &text[s..]));
    }
    out
}

/// Lucene's `LetterTokenizer`: runs of `Character.isLetter` (category L),
/// cut at 255 UTF-16 units.
fn letter_runs(text: &str) -> Vec<Token> {
    static LETTERS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\p{L}+").expect("static regex"));
    let mut out = Vec::new();
    for m in LETTERS.find_iter(text) {
        for mut t in runs(m.as_str(), |_| true, DEFAULT_MAX_TOKEN_LENGTH) {
            t.position = out.len();
            t.offset_from += m.start();
            t.offset_to += m.start();
            out.push(t);
        }
    }
    out
}

/// Lucene's `PatternTokenizer`: with a negative group the pattern splits the
/// text and only non-empty pieces are tokens (so `.*` yields nothing on one
/// line); otherwise each match's group is a token when non-empty.
fn pattern(regex: &Regex, group: i64, text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    if group >= 0 {
        for caps in regex.captures_iter(text) {
            if let Some(m) = caps.get(group as usize)
                && !m.is_empty()
            {
                out.push(token(out.len(), m.start(), m.end(), m.as_str()));
            }
        }
        return out;
    }
    let mut index = 0;
    for m in regex.find_iter(text) {
        if m.start() > index {
            out.push(token(out.len(), index, m.start(), &text[index..m.start()]));
        }
        index = index.max(m.end());
    }
    if index < text.len() {
        out.push(token(out.len(), index, text.len(), &text[index..]));
    }
    out
}

impl Ngram {
    fn new(p: Params, edge: bool) -> Result<Ngram> {
        let min = p.int("min_gram")?.unwrap_or(1);
        let max = p.int("max_gram")?.unwrap_or(2);
        check_gram_sizes(min, max)?;
        let token_chars = match p.list("token_chars")? {
            None => None,
            Some(classes) if classes.is_empty() => None,
            Some(classes) => {
                let custom = p.string("custom_token_chars")?.unwrap_or_default();
                Some(char_class_regex(&classes, &custom, "token type")?)
            }
        };
        Ok(Ngram {
            min: min as usize,
            max: max as usize,
            edge,
            token_chars,
        })
    }

    fn tokenize(&self, text: &str) -> Vec<Token> {
        let mut out = Vec::new();
        match &self.token_chars {
            None => self.grams(text, 0, &mut out),
            Some(re) => {
                for m in re.find_iter(text) {
                    self.grams(m.as_str(), m.start(), &mut out);
                }
            }
        }
        out
    }

    fn grams(&self, word: &str, offset: usize, out: &mut Vec<Token>) {
        let bounds: Vec<usize> = word
            .char_indices()
            .map(|(i, _)| i)
            .chain([word.len()])
            .collect();
        let chars = bounds.len() - 1;
        let starts = if self.edge { chars.min(1) } else { chars };
        for start in 0..starts {
            for size in self.min..=self.max {
                let end = start + size;
                if end > chars {
                    break;
                }
                let (from, to) = (bounds[start], bounds[end]);
                out.push(token(
                    out.len(),
                    offset + from,
                    offset + to,
                    &word[from..to],
                ));
            }
        }
    }
}

/// Lucene's n-gram size rules, shared by the n-gram tokenizers and filters.
pub(crate) fn check_gram_sizes(min: i64, max: i64) -> Result<()> {
    if min < 1 {
        return Err(Error::InvalidArgument(
            "minGram must be greater than zero".into(),
        ));
    }
    if min > max {
        return Err(Error::InvalidArgument(
            "minGram must not be greater than maxGram".into(),
        ));
    }
    if max > 1 << 16 {
        return Err(Error::InvalidArgument(format!(
            "[max_gram] must be at most {}",
            1 << 16
        )));
    }
    Ok(())
}

/// A regex matching runs of characters of the given classes (Java's
/// `Character` categories: letter = L, digit = Nd, punctuation = P,
/// symbol = S, whitespace = Java whitespace) plus `custom` characters.
fn char_class_regex(classes: &[String], custom: &str, what: &str) -> Result<Regex> {
    let mut set = String::new();
    for class in classes {
        match class.trim() {
            "letter" => set.push_str(r"\p{L}"),
            "digit" => set.push_str(r"\p{Nd}"),
            "whitespace" => set
                .push_str(r"[[\t\n\x0B\x0C\r\x1C-\x1F\p{Zs}\p{Zl}\p{Zp}]--[\xA0\x{2007}\x{202F}]]"),
            "punctuation" => set.push_str(r"\p{P}"),
            "symbol" => set.push_str(r"\p{S}"),
            "custom" => {
                if custom.is_empty() {
                    return Err(Error::InvalidArgument(
                        "Token type: [custom] requires setting `custom_token_chars`".into(),
                    ));
                }
                for c in custom.chars() {
                    set.push_str(&regex::escape(&c.to_string()));
                }
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "Unknown {what}: '{other}', must be one of [letter, digit, whitespace, punctuation, symbol, custom]"
                )));
            }
        }
    }
    Regex::new(&format!("[{set}]+")).map_err(|e| Error::internal(format!("token_chars regex: {e}")))
}

impl PathHierarchy {
    fn new(p: Params) -> Result<PathHierarchy> {
        let one_char = |key: &str, default: Option<char>| -> Result<Option<char>> {
            match p.string(key)? {
                None => Ok(default),
                Some(s) => {
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => Ok(Some(c)),
                        _ => Err(Error::InvalidArgument(format!(
                            "{key} must be a one char value"
                        ))),
                    }
                }
            }
        };
        let delimiter = one_char("delimiter", Some('/'))?.unwrap_or('/');
        let replacement = one_char("replacement", None)?.unwrap_or(delimiter);
        p.usize_in("buffer_size", 1024, 1, usize::MAX >> 1)?;
        Ok(PathHierarchy {
            delimiter,
            replacement,
            skip: p.usize_in("skip", 0, 0, usize::MAX >> 1)?,
            reverse: p.bool_or("reverse", false)?,
        })
    }

    /// Every path prefix (or suffix when reversed), all at position 0.
    fn tokenize(&self, text: &str) -> Vec<Token> {
        let delims: Vec<usize> = text.match_indices(self.delimiter).map(|(i, _)| i).collect();
        let d = self.delimiter.len_utf8();
        let mut spans = Vec::new();
        if self.reverse {
            // Suffixes starting at the text and after each delimiter, the
            // last `skip` components dropped.
            let end = if self.skip == 0 {
                text.len()
            } else {
                let inner: Vec<usize> = delims
                    .iter()
                    .copied()
                    .filter(|&i| i + d < text.len())
                    .collect();
                match inner
                    .len()
                    .checked_sub(self.skip - 1)
                    .and_then(|k| k.checked_sub(1))
                {
                    Some(k) => inner[k],
                    None => return Vec::new(),
                }
            };
            let mut starts = vec![0];
            starts.extend(delims.iter().map(|&i| i + d).filter(|&s| s < end));
            for s in starts {
                if s < end {
                    spans.push((s, end));
                }
            }
        } else {
            // Prefixes ending before each delimiter and at the end, the first
            // `skip` components dropped.
            let components: Vec<usize> = delims.iter().copied().filter(|&i| i > 0).collect();
            let start = match self.skip {
                0 => 0,
                n => match components.get(n - 1) {
                    Some(&i) => i,
                    None => return Vec::new(),
                },
            };
            for &i in &delims {
                if i > start {
                    spans.push((start, i));
                }
            }
            if text.len() > start {
                spans.push((start, text.len()));
            }
        }
        spans
            .into_iter()
            .map(|(from, to)| {
                let piece = &text[from..to];
                let piece = if self.replacement == self.delimiter {
                    piece.to_string()
                } else {
                    piece.replace(self.delimiter, &self.replacement.to_string())
                };
                token(0, from, to, piece)
            })
            .collect()
    }
}

impl CharGroup {
    fn new(p: Params) -> Result<CharGroup> {
        let mut chars = Vec::new();
        let mut classes = Vec::new();
        for entry in p.list("tokenize_on_chars")?.unwrap_or_default() {
            match entry.as_str() {
                "letter" | "digit" | "whitespace" | "punctuation" | "symbol" => classes.push(entry),
                "\\n" => chars.push('\n'),
                "\\r" => chars.push('\r'),
                "\\t" => chars.push('\t'),
                "\\f" => chars.push('\u{0C}'),
                "\\v" => chars.push('\u{0B}'),
                s if s.starts_with("\\u") && s.len() == 6 => {
                    let c = u32::from_str_radix(&s[2..], 16)
                        .ok()
                        .and_then(char::from_u32);
                    chars.push(c.ok_or_else(|| bad_char_group(s))?);
                }
                s => {
                    let mut it = s.chars();
                    match (it.next(), it.next()) {
                        (Some(c), None) => chars.push(c),
                        _ => return Err(bad_char_group(s)),
                    }
                }
            }
        }
        let classes = if classes.is_empty() {
            None
        } else {
            Some(char_class_regex(&classes, "", "character class")?)
        };
        Ok(CharGroup { chars, classes })
    }

    fn splits(&self, c: char) -> bool {
        if self.chars.contains(&c) {
            return true;
        }
        let mut buf = [0u8; 4];
        self.classes
            .as_ref()
            .is_some_and(|re| re.is_match(c.encode_utf8(&mut buf)))
    }
}

fn bad_char_group(s: &str) -> Error {
    Error::InvalidArgument(format!(
        "[{s}] as a tokenize_on_chars value must either be a single character, an escaped \
         single character, or one of [letter, digit, whitespace, punctuation, symbol]"
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(kind: &str, params: &[(&str, Value)], text: &str) -> Vec<(usize, String)> {
        let params: Vec<(String, Value)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let t = TokenizerKind::new(kind, &params).expect("tokenizer builds");
        t.tokenize(text)
            .into_iter()
            .map(|t| (t.position, t.text))
            .collect()
    }

    fn texts(kind: &str, params: &[(&str, Value)], text: &str) -> Vec<String> {
        run(kind, params, text)
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    #[test]
    fn character_tokenizers() {
        assert_eq!(
            texts("letter", &[], "Hello, wörld! 42abc"),
            vec!["Hello", "wörld", "abc"]
        );
        assert_eq!(
            texts("lowercase", &[], "Hello, WÖRLD!"),
            vec!["hello", "wörld"]
        );
        assert_eq!(
            texts("whitespace", &[], "Hello,  World!\u{2003}x\u{A0}y"),
            vec!["Hello,", "World!", "x\u{A0}y"]
        );
        assert_eq!(
            texts(
                "whitespace",
                &[("max_token_length", json!(3))],
                "abcdefg hi"
            ),
            vec!["abc", "def", "g", "hi"]
        );
        assert_eq!(texts("keyword", &[], "New York, NY"), vec!["New York, NY"]);
        assert_eq!(texts("keyword", &[], ""), vec![""]);
        assert_eq!(texts("letter", &[], &"x".repeat(300)).len(), 2);
    }

    #[test]
    fn ngrams() {
        assert_eq!(
            run("ngram", &[], "abc"),
            vec![
                (0, "a".into()),
                (1, "ab".into()),
                (2, "b".into()),
                (3, "bc".into()),
                (4, "c".into())
            ]
        );
        assert_eq!(
            texts(
                "edge_ngram",
                &[("min_gram", json!(2)), ("max_gram", json!("4"))],
                "Quick Fox"
            ),
            vec!["Qu", "Qui", "Quic"]
        );
        assert_eq!(
            texts(
                "edge_ngram",
                &[
                    ("max_gram", json!(3)),
                    ("token_chars", json!(["letter", "digit"]))
                ],
                "Quick Fox 1"
            ),
            vec!["Q", "Qu", "Qui", "F", "Fo", "Fox", "1"]
        );
        assert_eq!(
            texts(
                "ngram",
                &[
                    ("min_gram", json!(3)),
                    ("max_gram", json!(3)),
                    ("token_chars", json!(["letter"]))
                ],
                "ab cdé"
            ),
            vec!["cdé"]
        );
        assert_eq!(
            texts("ngram", &[("token_chars", json!(["whitespace"]))], "a  b"),
            vec![" ", "  ", " "]
        );
        assert!(TokenizerKind::new("ngram", &[("min_gram".into(), json!(3))]).is_err());
        assert!(TokenizerKind::new("ngram", &[("token_chars".into(), json!(["vowels"]))]).is_err());
    }

    #[test]
    fn patterns() {
        assert_eq!(
            texts("pattern", &[], "foo,bar  baz_1 café"),
            vec!["foo", "bar", "baz_1", "caf"]
        );
        assert_eq!(
            texts("pattern", &[("pattern", json!(".*"))], "foo bar"),
            Vec::<String>::new()
        );
        assert_eq!(
            texts("pattern", &[("pattern", json!(".*"))], "a\nb"),
            vec!["\n"]
        );
        assert_eq!(
            texts("pattern", &[("pattern", json!(","))], "a,,b,"),
            vec!["a", "b"]
        );
        assert_eq!(
            texts(
                "pattern",
                &[
                    ("pattern", json!("\"((?:\\\\\"|[^\"])+)\"")),
                    ("group", json!(1))
                ],
                r#"x "ab" "c\"d""#
            ),
            vec!["ab", r#"c\"d"#]
        );
        assert_eq!(
            texts(
                "pattern",
                &[("pattern", json!("([a-z]+)")), ("group", json!(0))],
                "ab1cd"
            ),
            vec!["ab", "cd"]
        );
        assert!(TokenizerKind::new("pattern", &[("group".into(), json!(2))]).is_err());
        assert_eq!(
            texts(
                "simple_pattern",
                &[("pattern", json!("[0-9]{3}"))],
                "fd-786-335-514-x"
            ),
            vec!["786", "335", "514"]
        );
        assert_eq!(
            texts(
                "simple_pattern_split",
                &[("pattern", json!("_"))],
                "an_underscored_phrase"
            ),
            vec!["an", "underscored", "phrase"]
        );
    }

    #[test]
    fn path_hierarchy() {
        assert_eq!(
            run("path_hierarchy", &[], "/something/something/else"),
            vec![
                (0, "/something".into()),
                (0, "/something/something".into()),
                (0, "/something/something/else".into())
            ]
        );
        assert_eq!(
            texts("path_hierarchy", &[], "a/b/"),
            vec!["a", "a/b", "a/b/"]
        );
        assert_eq!(
            texts(
                "path_hierarchy",
                &[
                    ("delimiter", json!("-")),
                    ("replacement", json!("/")),
                    ("skip", json!(1))
                ],
                "one-two-three"
            ),
            vec!["/two", "/two/three"]
        );
        assert_eq!(
            texts(
                "path_hierarchy",
                &[("delimiter", json!(".")), ("reverse", json!(true))],
                "www.site.co.uk"
            ),
            vec!["www.site.co.uk", "site.co.uk", "co.uk", "uk"]
        );
        assert!(
            TokenizerKind::new("path_hierarchy", &[("delimiter".into(), json!("ab"))]).is_err()
        );
    }

    #[test]
    fn char_group() {
        assert_eq!(
            texts(
                "char_group",
                &[("tokenize_on_chars", json!(["whitespace", "-", "\\n"]))],
                "The QUICK brown-fox\nx"
            ),
            vec!["The", "QUICK", "brown", "fox", "x"]
        );
        assert!(
            TokenizerKind::new("char_group", &[("tokenize_on_chars".into(), json!(["ab"]))])
                .is_err()
        );
    }

    #[test]
    fn unknown_and_unsupported() {
        assert!(
            matches!(TokenizerKind::new("foo", &[]), Err(Error::InvalidArgument(m)) if m == "Non-existing built-in tokenizer type 'foo'")
        );
        assert!(matches!(
            TokenizerKind::new("thai", &[]),
            Err(Error::Unsupported(_))
        ));
        assert!(TokenizerKind::new("standard", &[("max_token_length".into(), json!(0))]).is_err());
    }
}
