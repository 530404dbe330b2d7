//! CrateDB's char filters: rewrite the text before the tokenizer sees it.
//!
//! `mapping` replaces the longest matching key at each position (Lucene's
//! `MappingCharFilter`); `pattern_replace` is a Java `replaceAll`;
//! `html_strip` lives in [`super::html_strip`]. Token offsets then refer to
//! the filtered text, not the original (Lucene corrects them; Shoal does not
//! use offsets).

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

use super::html_strip;
use super::params::Params;
use super::regex_java;
use crate::error::{Error, Result};

/// The char filter names CrateDB offers and Shoal supports.
pub(crate) const NAMES: &[&str] = &["html_strip", "mapping", "pattern_replace"];

#[derive(Clone)]
pub(crate) enum CharFilter {
    HtmlStrip { escaped_tags: Arc<Vec<String>> },
    Mapping(Arc<Mapping>),
    PatternReplace { regex: Regex, replacement: String },
}

pub(crate) struct Mapping {
    /// Replacement by key; keys are tried longest first.
    rules: HashMap<String, String>,
    longest: usize,
    first_chars: Vec<char>,
}

impl CharFilter {
    pub(crate) fn new(kind: &str, params: &[(String, Value)]) -> Result<CharFilter> {
        let p = Params(params);
        Ok(match kind {
            "html_strip" | "htmlStrip" => CharFilter::HtmlStrip {
                escaped_tags: Arc::new(
                    p.list("escaped_tags")?
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| t.to_ascii_lowercase())
                        .collect(),
                ),
            },
            "mapping" => {
                let rules = p.list("mappings")?.ok_or_else(|| {
                    Error::InvalidArgument(
                        "mapping requires either `mappings` or `mappings_path` to be configured"
                            .into(),
                    )
                })?;
                CharFilter::Mapping(Arc::new(Mapping::parse(&rules)?))
            }
            "pattern_replace" => {
                let pattern = p.string("pattern")?.ok_or_else(|| {
                    Error::InvalidArgument(
                        "pattern is missing for [pattern_replace] char filter".into(),
                    )
                })?;
                let regex = regex_java::compile(&pattern, &p.string_or("flags", "")?)?;
                let replacement = regex_java::replacement(
                    &p.string_or("replacement", "")?,
                    regex.captures_len() - 1,
                );
                CharFilter::PatternReplace { regex, replacement }
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "Non-existing built-in char-filter type '{other}'"
                )));
            }
        })
    }

    pub(crate) fn apply(&self, text: &str) -> String {
        match self {
            CharFilter::HtmlStrip { escaped_tags } => html_strip::strip(text, escaped_tags),
            CharFilter::Mapping(m) => m.apply(text),
            CharFilter::PatternReplace { regex, replacement } => {
                regex.replace_all(text, replacement.as_str()).into_owned()
            }
        }
    }
}

impl Mapping {
    /// Parses Elasticsearch mapping rules: `key => value`, with `\n`, `\t`,
    /// `\uXXXX` and friends escaped on either side.
    pub(crate) fn parse(rules: &[String]) -> Result<Mapping> {
        let mut map = HashMap::new();
        for rule in rules {
            let (key, value) = rule.split_once("=>").ok_or_else(|| {
                Error::InvalidArgument(format!("Invalid Mapping Rule : [{rule}]"))
            })?;
            let key = unescape(key.trim(), rule)?;
            let value = unescape(value.trim(), rule)?;
            if key.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "Invalid Mapping Rule : [{rule}]"
                )));
            }
            if map.insert(key.clone(), value).is_some() {
                return Err(Error::InvalidArgument(format!(
                    "match \"{key}\" was already added"
                )));
            }
        }
        let longest = map.keys().map(|k| k.chars().count()).max().unwrap_or(0);
        let mut first_chars: Vec<char> = map.keys().filter_map(|k| k.chars().next()).collect();
        first_chars.sort_unstable();
        first_chars.dedup();
        Ok(Mapping {
            rules: map,
            longest,
            first_chars,
        })
    }

    fn apply(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'outer: while let Some(c) = rest.chars().next() {
            if self.first_chars.binary_search(&c).is_ok() {
                // Longest key first: the end offsets of 1..=longest chars.
                let ends: Vec<usize> = rest
                    .char_indices()
                    .skip(1)
                    .map(|(i, _)| i)
                    .chain([rest.len()])
                    .take(self.longest)
                    .collect();
                for &end in ends.iter().rev() {
                    if let Some(value) = self.rules.get(&rest[..end]) {
                        out.push_str(value);
                        rest = &rest[end..];
                        continue 'outer;
                    }
                }
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

/// Elasticsearch's escapes in mapping rules (`Analysis.parseString`).
fn unescape(s: &str, rule: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{08}'),
            Some('f') => out.push('\u{0C}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let c = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .filter(|_| hex.len() == 4)
                    .ok_or_else(|| {
                        Error::InvalidArgument(format!("Invalid escaped char in [{rule}]"))
                    })?;
                out.push(c);
            }
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "Invalid escaped char in [{rule}]"
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn filter(kind: &str, params: Value) -> CharFilter {
        let params: Vec<(String, Value)> = params
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        CharFilter::new(kind, &params).expect("char filter builds")
    }

    #[test]
    fn mapping_takes_the_longest_key() {
        let f = filter(
            "mapping",
            json!({"mappings": ["ph=>f", "qu=>q", "foo=>bar", "a => b", "ab=>X", "٠ => 0", "\\u0041=>\\n", "x=>"]}),
        );
        assert_eq!(f.apply("phone quick food"), "fone qick bard");
        assert_eq!(f.apply("abc aac ٠A x!"), "Xc bbc 0\n !");
    }

    #[test]
    fn mapping_rejects_bad_rules() {
        for rules in [
            json!(["nope"]),
            json!(["=>x"]),
            json!(["a=>b", "a=>c"]),
            json!(["\\q=>x"]),
        ] {
            assert!(
                CharFilter::new("mapping", &[("mappings".into(), rules.clone())]).is_err(),
                "{rules}"
            );
        }
        assert!(CharFilter::new("mapping", &[]).is_err());
    }

    #[test]
    fn pattern_replace() {
        // Look-ahead is Java-only: refused rather than misread.
        assert!(CharFilter::new("pattern_replace", &[("pattern".into(), json!("(?=x)"))]).is_err());
        let f = filter(
            "pattern_replace",
            json!({"pattern": "(\\d+)-(\\d+)", "replacement": "$1_$2"}),
        );
        assert_eq!(
            f.apply("My credit card is 123-456-789"),
            "My credit card is 123_456-789"
        );
        let f = filter("pattern_replace", json!({"pattern": "[aeiou]"}));
        assert_eq!(f.apply("banana"), "bnn");
    }
}
