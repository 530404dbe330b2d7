//! The bound MATCH predicate: what to search (full-text indexes or plain
//! columns, with boosts), for what (the query text) and how (the match type
//! and its options). It is only ever answered from an index, on a shard
//! ([`crate::exec::search`]); evaluated on a row outside a table scan it is
//! an error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Expr;
use crate::analysis::AnalyzerDef;
use crate::error::{Error, Result};
use crate::types::Value;

/// A MATCH predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchPredicate {
    pub targets: Vec<MatchTarget>,
    /// The query text: a literal or a parameter.
    pub query: Box<Expr>,
    pub match_type: MatchType,
    pub options: MatchOptions,
    /// The custom query analyzer (`WITH (analyzer = ...)`) and those it
    /// extends, when the table does not have it.
    pub analyzers: BTreeMap<String, AnalyzerDef>,
}

/// One column or index MATCH searches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchTarget {
    pub kind: TargetKind,
    /// The column's weight (`MATCH((a 1.5, b), ...)`), 1 when not given.
    pub boost: f32,
}

/// What a target is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TargetKind {
    /// A full-text index (a named one or a column's own).
    Index(String),
    /// A column indexed as a whole (the plain index): MATCH on it is an
    /// exact match of the whole query text, as `=`.
    Column { column: String, path: Vec<String> },
}

impl TargetKind {
    /// The target as SQL names it.
    pub fn display(&self) -> String {
        match self {
            TargetKind::Index(name) => name.clone(),
            TargetKind::Column { column, path } => {
                let mut s = column.clone();
                for p in path {
                    s.push_str(&format!("['{p}']"));
                }
                s
            }
        }
    }
}

/// How the query text is applied to the targets (Elasticsearch's
/// `multi_match` types, as CrateDB exposes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchType {
    BestFields,
    MostFields,
    CrossFields,
    Phrase,
    PhrasePrefix,
}

impl MatchType {
    /// The type named `name`.
    pub fn parse(name: &str) -> Result<MatchType> {
        Ok(match name {
            "best_fields" => MatchType::BestFields,
            "most_fields" => MatchType::MostFields,
            "cross_fields" => MatchType::CrossFields,
            "phrase" => MatchType::Phrase,
            "phrase_prefix" => MatchType::PhrasePrefix,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "invalid MATCH type '{other}' for type 'text'"
                )));
            }
        })
    }

    /// The type's SQL name.
    pub fn name(self) -> &'static str {
        match self {
            MatchType::BestFields => "best_fields",
            MatchType::MostFields => "most_fields",
            MatchType::CrossFields => "cross_fields",
            MatchType::Phrase => "phrase",
            MatchType::PhrasePrefix => "phrase_prefix",
        }
    }
}

/// Fuzzy matching of query terms: a fixed edit distance or Elasticsearch's
/// `AUTO` (0 for terms of up to 2 characters, 1 up to 5, else 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fuzziness {
    Distance(u8),
    Auto { low: u32, high: u32 },
}

impl Fuzziness {
    /// The edit distance allowed for `term`.
    pub fn distance(self, term: &str) -> u8 {
        match self {
            Fuzziness::Distance(d) => d,
            Fuzziness::Auto { low, high } => {
                let n = term.chars().count() as u32;
                if n < low {
                    0
                } else if n < high {
                    1
                } else {
                    2
                }
            }
        }
    }
}

/// The WITH options of a MATCH predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchOptions {
    /// `operator = 'and'`: every query term must match.
    pub and: bool,
    /// How many of the optional terms must match: a count or a percentage
    /// (`'2'`, `'-1'`, `'75%'`, `'-25%'`), as Elasticsearch reads it.
    pub minimum_should_match: Option<String>,
    pub fuzziness: Option<Fuzziness>,
    pub prefix_length: u32,
    pub max_expansions: u32,
    pub slop: u32,
    pub tie_breaker: f32,
    pub boost: f32,
    /// The analyzer for the query text, instead of each target's own.
    pub analyzer: Option<String>,
    /// `zero_terms_query = 'all'`: a query text that analyzes to nothing
    /// matches every row instead of none.
    pub zero_terms_all: bool,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            and: false,
            minimum_should_match: None,
            fuzziness: None,
            prefix_length: 0,
            max_expansions: 50,
            slop: 0,
            tie_breaker: 0.0,
            boost: 1.0,
            analyzer: None,
            zero_terms_all: false,
        }
    }
}

/// The options CrateDB accepts that change nothing here: `rewrite` and
/// `fuzzy_rewrite` choose how Lucene scores expanded terms, and
/// `cutoff_frequency` is deprecated in Elasticsearch (ignored since 7.3).
const ACCEPTED_WITHOUT_EFFECT: &[&str] = &["rewrite", "fuzzy_rewrite", "cutoff_frequency"];

impl MatchOptions {
    /// Sets option `name` to `value` (a constant).
    pub fn set(&mut self, name: &str, value: &Value) -> Result<()> {
        let bad = || {
            Error::InvalidArgument(format!(
                "invalid value for option '{name}': {}",
                crate::types::json::to_json(value)
            ))
        };
        let text = || match value {
            Value::Text(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            _ => None,
        };
        let number = || match value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Text(s) => s.trim().parse().ok(),
            _ => None,
        };
        // A weight must stay finite as a single-precision float: scores are.
        let weight = || {
            number()
                .map(|n| n as f32)
                .filter(|w| w.is_finite() && *w >= 0.0)
        };
        let count = || {
            number()
                .filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n <= u32::MAX as f64)
                .map(|n| n as u32)
        };
        match name {
            "operator" => match text().map(|s| s.to_lowercase()).as_deref() {
                Some("and") => self.and = true,
                Some("or") => self.and = false,
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "value {} is not a valid operator",
                        crate::types::json::to_json(value)
                    )));
                }
            },
            "minimum_should_match" => {
                let s = text().ok_or_else(bad)?;
                minimum_should_match(&s, 1).ok_or_else(bad)?;
                self.minimum_should_match = Some(s);
            }
            "fuzziness" => {
                let s = text().ok_or_else(bad)?;
                self.fuzziness = Some(parse_fuzziness(&s).ok_or_else(bad)?);
            }
            "prefix_length" => self.prefix_length = count().ok_or_else(bad)?,
            "max_expansions" => self.max_expansions = count().ok_or_else(bad)?,
            "slop" => self.slop = count().ok_or_else(bad)?,
            "tie_breaker" => self.tie_breaker = weight().ok_or_else(bad)?,
            "boost" => self.boost = weight().ok_or_else(bad)?,
            "analyzer" => self.analyzer = Some(text().ok_or_else(bad)?),
            "zero_terms_query" => match text().map(|s| s.to_lowercase()).as_deref() {
                Some("all") => self.zero_terms_all = true,
                Some("none") => self.zero_terms_all = false,
                _ => return Err(bad()),
            },
            n if ACCEPTED_WITHOUT_EFFECT.contains(&n) => {}
            other => {
                return Err(Error::InvalidArgument(format!(
                    "match predicate does not support option '{other}'"
                )));
            }
        }
        Ok(())
    }
}

/// `0`, `1`, `2`, `AUTO` or `AUTO:low,high`.
fn parse_fuzziness(s: &str) -> Option<Fuzziness> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix("AUTO").or_else(|| s.strip_prefix("auto")) {
        if rest.is_empty() {
            return Some(Fuzziness::Auto { low: 3, high: 6 });
        }
        let (low, high) = rest.strip_prefix(':')?.split_once(',')?;
        return Some(Fuzziness::Auto {
            low: low.trim().parse().ok()?,
            high: high.trim().parse().ok()?,
        });
    }
    // Lucene allows at most 2 edits; a fractional value rounds as in Elasticsearch.
    let d: f64 = s.parse().ok()?;
    (0.0..=2.0)
        .contains(&d)
        .then(|| Fuzziness::Distance(d.round() as u8))
}

/// How many of `optional` terms must match under `spec` (Elasticsearch's
/// `minimum_should_match`): `n`, `-n` (all but n), `p%`, `-p%`; at least 1
/// when there are terms; None when `spec` is not one of those forms.
pub fn minimum_should_match(spec: &str, optional: usize) -> Option<usize> {
    let s = spec.trim();
    let n = optional as i64;
    let wanted = if let Some(p) = s.strip_suffix('%') {
        let p: f64 = p.trim().parse().ok()?;
        let part = ((n as f64) * p.abs() / 100.0).floor() as i64;
        if p < 0.0 { n - part } else { part }
    } else {
        let v: i64 = s.parse().ok()?;
        if v < 0 { n + v } else { v }
    };
    Some(wanted.clamp(if optional > 0 { 1 } else { 0 }, n) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_should_match_reads_elasticsearch_forms() {
        assert_eq!(minimum_should_match("2", 3), Some(2));
        assert_eq!(minimum_should_match("-1", 3), Some(2));
        assert_eq!(minimum_should_match("75%", 4), Some(3));
        assert_eq!(minimum_should_match("-25%", 4), Some(3));
        assert_eq!(minimum_should_match("9", 3), Some(3));
        assert_eq!(minimum_should_match("0", 3), Some(1));
        assert_eq!(minimum_should_match("x", 3), None);
    }

    #[test]
    fn fuzziness_auto_depends_on_term_length() {
        let auto = parse_fuzziness("AUTO").unwrap();
        assert_eq!(auto.distance("ab"), 0);
        assert_eq!(auto.distance("abcd"), 1);
        assert_eq!(auto.distance("abcdef"), 2);
        assert_eq!(parse_fuzziness("1"), Some(Fuzziness::Distance(1)));
        assert_eq!(parse_fuzziness("3"), None);
    }
}
