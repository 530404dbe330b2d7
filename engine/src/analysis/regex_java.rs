//! Java regular expressions, as CrateDB's pattern tokenizer, analyzer and
//! filters take them, run on Rust's `regex`.
//!
//! Two Java habits are translated: without the `UNICODE_CHARACTER_CLASS`
//! flag Java's `\w \d \s` (and their negations) are ASCII-only, so the
//! pattern analyzer's default `\W+` splits on every non-ASCII letter; and
//! replacement strings use `$1` and `\$`. Java-only syntax (look-around,
//! back-references, possessive quantifiers) is refused as an invalid pattern.

use regex::{Regex, RegexBuilder};

use crate::error::{Error, Result};

/// Compiles a Java pattern with pipe-separated Java flags
/// (`CASE_INSENSITIVE|COMMENTS`).
pub(crate) fn compile(pattern: &str, flags: &str) -> Result<Regex> {
    let mut unicode_classes = false;
    let mut literal = false;
    let mut builder_flags = (false, false, false, false); // i, m, s, x
    for flag in flags.split('|').map(str::trim).filter(|f| !f.is_empty()) {
        match flag {
            "CASE_INSENSITIVE" => builder_flags.0 = true,
            "MULTILINE" => builder_flags.1 = true,
            "DOTALL" => builder_flags.2 = true,
            "COMMENTS" => builder_flags.3 = true,
            "UNICODE_CHARACTER_CLASS" => unicode_classes = true,
            "LITERAL" => literal = true,
            "UNICODE_CASE" | "CANON_EQ" | "UNIX_LINES" => {}
            other => {
                return Err(Error::InvalidArgument(format!(
                    "Unknown regex flag [{other}]"
                )));
            }
        }
    }
    let source = if literal {
        regex::escape(pattern)
    } else if unicode_classes {
        pattern.to_string()
    } else {
        ascii_classes(pattern)
    };
    RegexBuilder::new(&source)
        .case_insensitive(builder_flags.0)
        .multi_line(builder_flags.1)
        .dot_matches_new_line(builder_flags.2)
        .ignore_whitespace(builder_flags.3)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| {
            let detail = e.to_string();
            let reason = detail
                .lines()
                .last()
                .unwrap_or("")
                .trim_start_matches("error: ");
            Error::InvalidArgument(format!("Invalid regex pattern [{pattern}]: {reason}"))
        })
}

/// Rewrites `\w \W \d \D \s \S` to Java's ASCII meaning, inside and outside
/// character classes.
fn ascii_classes(pattern: &str) -> String {
    const WORD: &str = "0-9A-Za-z_";
    const DIGIT: &str = "0-9";
    const SPACE: &str = r" \t\n\x0B\x0C\r";
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut depth = 0usize;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let class = match next.to_ascii_lowercase() {
                    'w' if next.is_ascii_alphabetic() => Some(WORD),
                    'd' if next.is_ascii_alphabetic() => Some(DIGIT),
                    's' if next.is_ascii_alphabetic() => Some(SPACE),
                    _ => None,
                };
                match class {
                    Some(set) => {
                        let negated = next.is_ascii_uppercase();
                        match (depth > 0, negated) {
                            (true, false) => out.push_str(set),
                            (_, true) => {
                                out.push_str("[^");
                                out.push_str(set);
                                out.push(']');
                            }
                            (false, false) => {
                                out.push('[');
                                out.push_str(set);
                                out.push(']');
                            }
                        }
                    }
                    None => {
                        out.push('\\');
                        out.push(next);
                    }
                }
            }
            '[' => {
                depth += 1;
                out.push(c);
            }
            ']' if depth > 0 => {
                depth -= 1;
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Converts a Java replacement string (`$1`, `${name}`, `\$`) to the
/// syntax of [`Regex::replace_all`]. Java reads as many digits after `$` as
/// still name an existing group; Rust would read them all.
pub(crate) fn replacement(java: &str, group_count: usize) -> String {
    let mut out = String::with_capacity(java.len() + 4);
    let chars: Vec<char> = java.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                push_literal(&mut out, chars[i + 1]);
                i += 2;
            }
            '$' if i + 1 < chars.len() && chars[i + 1] == '{' => {
                let close = chars[i + 2..].iter().position(|&c| c == '}');
                match close {
                    Some(len) => {
                        let name: String = chars[i + 2..i + 2 + len].iter().collect();
                        out.push_str("${");
                        out.push_str(&name);
                        out.push('}');
                        i += 3 + len;
                    }
                    None => {
                        out.push_str("$$");
                        i += 1;
                    }
                }
            }
            '$' if i + 1 < chars.len() && chars[i + 1].is_ascii_digit() => {
                let mut group = chars[i + 1].to_digit(10).unwrap_or(0) as usize;
                let mut j = i + 2;
                while let Some(d) = chars.get(j).and_then(|c| c.to_digit(10)) {
                    let longer = group * 10 + d as usize;
                    if longer > group_count {
                        break;
                    }
                    group = longer;
                    j += 1;
                }
                out.push_str(&format!("${{{group}}}"));
                i = j;
            }
            c => {
                push_literal(&mut out, c);
                i += 1;
            }
        }
    }
    out
}

fn push_literal(out: &mut String, c: char) {
    if c == '$' {
        out.push_str("$$");
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_classes_are_ascii_unless_asked() {
        let re = compile(r"\W+", "").expect("compiles");
        let parts: Vec<&str> = re.split("café au-lait").collect();
        assert_eq!(parts, vec!["caf", "au", "lait"]);
        let re = compile(r"\W+", "UNICODE_CHARACTER_CLASS").expect("compiles");
        let parts: Vec<&str> = re.split("café au-lait").collect();
        assert_eq!(parts, vec!["café", "au", "lait"]);
        let re = compile(r"[\w.]+|[^\S\n]", "").expect("compiles");
        assert!(re.is_match("a.b"));
        assert!(!compile(r"[\d]", "").expect("compiles").is_match("٣"));
    }

    #[test]
    fn flags() {
        let re = compile("abc", "CASE_INSENSITIVE|COMMENTS").expect("compiles");
        assert!(re.is_match("ABC"));
        assert!(
            matches!(compile("a", "BOGUS"), Err(Error::InvalidArgument(m)) if m == "Unknown regex flag [BOGUS]")
        );
        assert!(
            matches!(compile("(a", ""), Err(Error::InvalidArgument(m)) if m.starts_with("Invalid regex pattern [(a]"))
        );
        assert!(compile("(?<=a)b", "").is_err());
    }

    #[test]
    fn java_replacements() {
        assert_eq!(replacement("$1a", 1), "${1}a");
        assert_eq!(replacement("$12", 12), "${12}");
        assert_eq!(replacement("$12", 2), "${1}2");
        assert_eq!(replacement(r"\$1 costs \\", 1), "$$1 costs \\");
        assert_eq!(replacement("${word}_", 1), "${word}_");
        assert_eq!(replacement("a$", 0), "a$$");
    }
}
