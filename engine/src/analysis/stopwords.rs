//! Stop word sets as Elasticsearch's `stopwords` setting gives them: a list
//! of words that may name predefined sets (`_english_`, `_german_`, …), or
//! `_none_`.
//!
//! The predefined lists are tantivy's (the Snowball lists Lucene ships too,
//! and for English exactly Lucene's 33 words). tantivy keeps them private, so
//! membership is asked of a one-word tantivy analyzer with its
//! `StopWordFilter`. Languages without a tantivy list are refused.

// Membership only, per token: a fast hasher (the order never shows).
use foldhash::HashSet;
use std::sync::Arc;

use tantivy::tokenizer::{Language, RawTokenizer, StopWordFilter, TextAnalyzer, TokenStream};

use super::chars::lowercase;
use super::params::Params;
use crate::error::{Error, Result};

/// Lucene's `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET` (tantivy's English list).
const ENGLISH: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

#[derive(Clone, Default)]
pub(crate) struct StopWords {
    words: Arc<HashSet<String>>,
    languages: Vec<TextAnalyzer>,
    ignore_case: bool,
}

impl StopWords {
    pub(crate) fn none() -> StopWords {
        StopWords::default()
    }

    pub(crate) fn language(language: Language) -> Result<StopWords> {
        // English, the common case, is a plain set: asking a tantivy
        // analyzer per token costs more than the rest of the analysis.
        if language == Language::English {
            return Ok(StopWords {
                words: Arc::new(ENGLISH.iter().map(|w| w.to_string()).collect()),
                ..StopWords::default()
            });
        }
        Ok(StopWords {
            languages: vec![probe(language)?],
            ..StopWords::default()
        })
    }

    /// Reads `stopwords` (and `ignore_case`) from `p`, or `default` when absent.
    pub(crate) fn from_params(p: Params, default: StopWords) -> Result<StopWords> {
        if p.has("stopwords_path") {
            return Err(Error::Unsupported(
                "stopwords_path is not supported, list the stop words instead".into(),
            ));
        }
        let ignore_case = p.bool_or("ignore_case", false)?;
        let Some(entries) = p.list("stopwords")? else {
            return Ok(StopWords {
                ignore_case,
                ..default
            });
        };
        if entries.len() == 1 && entries[0] == "_none_" {
            return Ok(StopWords::none());
        }
        let mut words = HashSet::default();
        let mut languages = Vec::new();
        for entry in entries {
            match named_list(&entry)? {
                Some(language) => languages.push(probe(language)?),
                None if ignore_case => {
                    words.insert(lowercase(&entry));
                }
                None => {
                    words.insert(entry);
                }
            }
        }
        Ok(StopWords {
            words: Arc::new(words),
            languages,
            ignore_case,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.words.is_empty() && self.languages.is_empty()
    }

    /// A predicate for one token stream (the probes need their own state).
    pub(crate) fn matcher(&self) -> impl FnMut(&str) -> bool + use<> {
        let words = self.words.clone();
        let mut languages = self.languages.clone();
        let ignore_case = self.ignore_case;
        move |token: &str| {
            let lowered;
            let token = if ignore_case {
                lowered = lowercase(token);
                lowered.as_str()
            } else {
                token
            };
            words.contains(token)
                || languages
                    .iter_mut()
                    .any(|a| !a.token_stream(token).advance())
        }
    }
}

/// A predefined list name: `Some` language, `None` for an ordinary word.
fn named_list(entry: &str) -> Result<Option<Language>> {
    let Some(name) = entry.strip_prefix('_').and_then(|e| e.strip_suffix('_')) else {
        return Ok(None);
    };
    Ok(Some(match name {
        "danish" => Language::Danish,
        "dutch" => Language::Dutch,
        "english" => Language::English,
        "finnish" => Language::Finnish,
        "french" => Language::French,
        "german" => Language::German,
        "hungarian" => Language::Hungarian,
        "italian" => Language::Italian,
        "norwegian" => Language::Norwegian,
        "portuguese" => Language::Portuguese,
        "russian" => Language::Russian,
        "spanish" => Language::Spanish,
        "swedish" => Language::Swedish,
        "arabic" | "armenian" | "basque" | "bengali" | "brazilian" | "bulgarian" | "catalan"
        | "cjk" | "czech" | "estonian" | "galician" | "greek" | "hindi" | "indonesian"
        | "irish" | "latvian" | "lithuanian" | "persian" | "romanian" | "sorani" | "thai"
        | "turkish" => {
            return Err(Error::Unsupported(format!(
                "the stop word list '{entry}' is not supported"
            )));
        }
        _ => return Ok(None),
    }))
}

/// A one-token analyzer whose stream is empty exactly for a stop word.
fn probe(language: Language) -> Result<TextAnalyzer> {
    let filter = StopWordFilter::new(language)
        .ok_or_else(|| Error::Unsupported(format!("no stop word list for {language:?}")))?;
    Ok(TextAnalyzer::builder(RawTokenizer::default())
        .filter(filter)
        .build())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn set(params: Value, default: StopWords) -> StopWords {
        let params: Vec<(String, Value)> = params
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        StopWords::from_params(Params(&params), default).expect("stop words parse")
    }

    #[test]
    fn english_is_lucenes_list() {
        let mut is_stop = StopWords::language(Language::English)
            .expect("english")
            .matcher();
        let lucene = "a an and are as at be but by for if in into is it no not of on or such that the their then \
                      there these they this to was will with";
        for w in lucene.split_whitespace() {
            assert!(is_stop(w), "{w}");
        }
        for w in ["i", "me", "you", "The", "galaxy", "", "its"] {
            assert!(!is_stop(w), "{w}");
        }
    }

    #[test]
    fn lists_mix_names_and_words() {
        let mut is_stop =
            set(json!({"stopwords": ["_german_", "Foo"]}), StopWords::none()).matcher();
        assert!(is_stop("der") && is_stop("Foo") && !is_stop("foo") && !is_stop("the"));
        let mut is_stop = set(
            json!({"stopwords": ["Foo"], "ignore_case": true}),
            StopWords::none(),
        )
        .matcher();
        assert!(is_stop("FOO"));
        let mut is_stop = set(
            json!({"stopwords": "_none_"}),
            StopWords::language(Language::English).expect("en"),
        )
        .matcher();
        assert!(!is_stop("the"));
        let mut is_stop = set(
            json!({}),
            StopWords::language(Language::English).expect("en"),
        )
        .matcher();
        assert!(is_stop("the"));
        assert!(
            StopWords::from_params(
                Params(&[("stopwords".into(), json!("_thai_"))]),
                StopWords::none()
            )
            .is_err()
        );
    }
}
