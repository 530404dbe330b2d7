//! CrateDB's built-in token filters, configured from
//! `TOKEN_FILTERS (name [WITH (...)], ...)`.
//!
//! Filters that drop tokens keep the dropped positions as gaps, as Lucene's
//! filtering filters do (`stop`, `length`, `keep`), except `unique` and
//! `limit`, whose Lucene versions lose them. Approximations: the `lowercase`
//! filter's `greek`/`irish`/`turkish` variants implement the case rules but
//! not every Lucene detail; `classic` recognises acronyms and possessives by
//! their shape, as there are no token types.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use regex::Regex;
use serde_json::Value;
use tantivy::tokenizer::{AsciiFoldingFilter, RawTokenizer, TextAnalyzer, Token, TokenStream};

use super::chars::{
    greek_lowercase, java_whitespace, lowercase, turkish_lowercase, uppercase, utf16_len,
    utf16_prefix,
};
use super::params::Params;
use super::regex_java;
use super::stemmers::{Stemmer, german_normalize};
use super::stopwords::StopWords;
use super::stream_filters::{self, Ngrams, Shingles};
use super::tokenizers::check_gram_sizes;
use super::tokens::{remove_closing_gaps, retain_keeping_gaps};
use crate::error::{Error, Result};

/// The token filter names CrateDB offers and Shoal supports.
pub(crate) const NAMES: &[&str] = &[
    "apostrophe",
    "asciifolding",
    "classic",
    "decimal_digit",
    "dutch_stem",
    "edge_ngram",
    "elision",
    "fingerprint",
    "flatten_graph",
    "french_stem",
    "german_normalization",
    "german_stem",
    "keep",
    "kstem",
    "length",
    "limit",
    "lowercase",
    "ngram",
    "pattern_replace",
    "porter_stem",
    "remove_duplicates",
    "reverse",
    "russian_stem",
    "shingle",
    "snowball",
    "standard",
    "stemmer",
    "stop",
    "trim",
    "truncate",
    "unique",
    "uppercase",
];

/// CrateDB's token filters Shoal does not have.
pub(crate) const UNSUPPORTED: &[&str] = &[
    "arabic_normalization",
    "arabic_stem",
    "bengali_normalization",
    "brazilian_stem",
    "cjk_bigram",
    "cjk_width",
    "common_grams",
    "condition",
    "czech_stem",
    "delimited_payload",
    "delimited_payload_filter",
    "dictionary_decompounder",
    "hindi_normalization",
    "hunspell",
    "hyphenation_decompounder",
    "indic_normalization",
    "keep_types",
    "keyword_marker",
    "keyword_repeat",
    "min_hash",
    "multiplexer",
    "pattern_capture",
    "persian_normalization",
    "predicate_token_filter",
    "scandinavian_folding",
    "scandinavian_normalization",
    "serbian_normalization",
    "sorani_normalization",
    "stemmer_override",
    "synonym",
    "synonym_graph",
    "type_as_payload",
    "word_delimiter",
    "word_delimiter_graph",
];

/// Old camel-case spellings Elasticsearch still accepts.
pub(crate) fn canonical(name: &str) -> &str {
    match name {
        "nGram" => "ngram",
        "edgeNGram" => "edge_ngram",
        other => other,
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Case {
    Lower,
    Greek,
    Irish,
    Turkish,
    Upper,
}

#[derive(Clone)]
pub(crate) enum TokenFilter {
    Case(Case),
    AsciiFolding {
        folder: TextAnalyzer,
        preserve_original: bool,
    },
    Length {
        min: usize,
        max: usize,
    },
    Trim,
    Truncate(usize),
    Unique {
        only_on_same_position: bool,
    },
    RemoveDuplicates,
    Reverse,
    Stop(StopWords),
    Stem {
        stemmer: Stemmer,
        exclusions: Arc<HashSet<String>>,
    },
    GermanNormalization,
    Possessive,
    Ngrams(Ngrams),
    Shingles(Arc<Shingles>),
    Elision {
        articles: Arc<HashSet<String>>,
        ignore_case: bool,
    },
    Apostrophe,
    Keep {
        words: Arc<HashSet<String>>,
        ignore_case: bool,
    },
    Limit(usize),
    PatternReplace {
        regex: Regex,
        replacement: String,
        all: bool,
    },
    Fingerprint {
        separator: String,
        max_output_size: usize,
    },
    Classic,
    DecimalDigit,
    Nothing,
}

/// Lucene's default French articles for the `elision` filter.
pub(crate) const FRENCH_ARTICLES: &[&str] = &[
    "l", "m", "t", "qu", "n", "s", "j", "d", "c", "jusqu", "quoiqu", "lorsqu", "puisqu",
];

impl TokenFilter {
    pub(crate) fn new(kind: &str, params: &[(String, Value)]) -> Result<TokenFilter> {
        let p = Params(params);
        Ok(match canonical(kind) {
            "lowercase" => match p
                .string("language")?
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None => TokenFilter::Case(Case::Lower),
                Some("greek") => TokenFilter::Case(Case::Greek),
                Some("irish") => TokenFilter::Case(Case::Irish),
                Some("turkish") => TokenFilter::Case(Case::Turkish),
                Some(other) => {
                    return Err(Error::InvalidArgument(format!(
                        "language [{other}] not supported for lower case"
                    )));
                }
            },
            "uppercase" => TokenFilter::Case(Case::Upper),
            "asciifolding" => TokenFilter::AsciiFolding {
                folder: TextAnalyzer::builder(RawTokenizer::default())
                    .filter(AsciiFoldingFilter)
                    .build(),
                preserve_original: p.bool_or("preserve_original", false)?,
            },
            "length" => {
                let min = p.usize_in("min", 0, 0, i32::MAX as usize)?;
                let max = p.usize_in("max", i32::MAX as usize, 0, i32::MAX as usize)?;
                if min > max {
                    return Err(Error::InvalidArgument(
                        "maximum length must not be greater than minimum length".into(),
                    ));
                }
                TokenFilter::Length { min, max }
            }
            "trim" => TokenFilter::Trim,
            "truncate" => TokenFilter::Truncate(p.usize_in("length", 10, 1, i32::MAX as usize)?),
            "unique" => TokenFilter::Unique {
                only_on_same_position: p.bool_or("only_on_same_position", false)?,
            },
            "remove_duplicates" => TokenFilter::RemoveDuplicates,
            "reverse" => TokenFilter::Reverse,
            "stop" => {
                let english = StopWords::language(tantivy::tokenizer::Language::English)?;
                p.bool_or("remove_trailing", true)?;
                TokenFilter::Stop(StopWords::from_params(p, english)?)
            }
            "stemmer" => {
                let language = match p.string("language")? {
                    Some(l) => l,
                    None => p.string_or("name", "porter")?,
                };
                TokenFilter::stem(Stemmer::for_stemmer_filter(&language)?)
            }
            "snowball" => {
                TokenFilter::stem(Stemmer::for_snowball(&p.string_or("language", "English")?)?)
            }
            "porter_stem" => TokenFilter::stem(Stemmer::Porter),
            "kstem" => TokenFilter::stem(Stemmer::KStem),
            "dutch_stem" => TokenFilter::stem(Stemmer::for_snowball("dutch")?),
            "french_stem" => TokenFilter::stem(Stemmer::for_snowball("french")?),
            "german_stem" => TokenFilter::stem(Stemmer::for_snowball("german")?),
            "russian_stem" => TokenFilter::stem(Stemmer::for_snowball("russian")?),
            "german_normalization" => TokenFilter::GermanNormalization,
            "ngram" | "edge_ngram" => {
                let edge = canonical(kind) == "edge_ngram";
                let min = p.int("min_gram")?.unwrap_or(1);
                let max = p.int("max_gram")?.unwrap_or(2);
                check_gram_sizes(min, max)?;
                let back = match p.string("side")?.as_deref() {
                    None | Some("front") => false,
                    Some("back") if edge => true,
                    Some(other) => {
                        return Err(Error::InvalidArgument(format!("Invalid side [{other}]")));
                    }
                };
                TokenFilter::Ngrams(Ngrams {
                    min: min as usize,
                    max: max as usize,
                    edge,
                    back,
                    preserve_original: p.bool_or("preserve_original", false)?,
                })
            }
            "shingle" => TokenFilter::Shingles(Arc::new(shingles(p)?)),
            "elision" => {
                let ignore_case = p.bool_or("articles_case", false)?;
                let articles = match p.list("articles")? {
                    Some(list) => list,
                    None => FRENCH_ARTICLES.iter().map(|a| a.to_string()).collect(),
                };
                TokenFilter::elision(articles, ignore_case || !p.has("articles"))
            }
            "apostrophe" => TokenFilter::Apostrophe,
            "keep" => {
                if p.has("keep_words_path") {
                    return Err(Error::Unsupported(
                        "keep_words_path is not supported, list the words instead".into(),
                    ));
                }
                let words = p.list("keep_words")?.ok_or_else(|| {
                    Error::InvalidArgument(
                        "keep requires `keep_words` or `keep_words_path` to be configured".into(),
                    )
                })?;
                let ignore_case = p.bool_or("keep_words_case", false)?;
                let words = words
                    .iter()
                    .map(|w| if ignore_case { lowercase(w) } else { w.clone() })
                    .collect();
                TokenFilter::Keep {
                    words: Arc::new(words),
                    ignore_case,
                }
            }
            "limit" => {
                p.bool_or("consume_all_tokens", false)?;
                TokenFilter::Limit(p.usize_in("max_token_count", 1, 0, i32::MAX as usize)?)
            }
            "pattern_replace" => {
                let pattern = p.string("pattern")?.ok_or_else(|| {
                    Error::InvalidArgument(
                        "pattern is missing for [pattern_replace] token filter".into(),
                    )
                })?;
                let regex = regex_java::compile(&pattern, &p.string_or("flags", "")?)?;
                let replacement = regex_java::replacement(
                    &p.string_or("replacement", "")?,
                    regex.captures_len() - 1,
                );
                TokenFilter::PatternReplace {
                    regex,
                    replacement,
                    all: p.bool_or("all", true)?,
                }
            }
            "fingerprint" => fingerprint(p)?,
            "classic" => TokenFilter::Classic,
            "decimal_digit" => TokenFilter::DecimalDigit,
            "standard" | "flatten_graph" => TokenFilter::Nothing,
            other if UNSUPPORTED.contains(&other) => {
                return Err(Error::Unsupported(format!(
                    "the {other} token filter is not supported"
                )));
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "Non-existing built-in token-filter type '{other}'"
                )));
            }
        })
    }

    pub(crate) fn stem(stemmer: Stemmer) -> TokenFilter {
        TokenFilter::Stem {
            stemmer,
            exclusions: Arc::default(),
        }
    }

    pub(crate) fn elision(articles: Vec<String>, ignore_case: bool) -> TokenFilter {
        let articles = articles
            .iter()
            .map(|a| if ignore_case { lowercase(a) } else { a.clone() })
            .collect();
        TokenFilter::Elision {
            articles: Arc::new(articles),
            ignore_case,
        }
    }

    pub(crate) fn apply(&self, tokens: &mut Vec<Token>) {
        match self {
            TokenFilter::Case(Case::Lower) => {
                for t in tokens.iter_mut() {
                    if t.text.is_ascii() {
                        t.text.make_ascii_lowercase();
                    } else {
                        t.text = lowercase(&t.text);
                    }
                }
            }
            TokenFilter::Case(case) => {
                let f: fn(&str) -> String = match case {
                    Case::Lower => lowercase,
                    Case::Greek => greek_lowercase,
                    Case::Irish => irish_lowercase,
                    Case::Turkish => turkish_lowercase,
                    Case::Upper => uppercase,
                };
                map(tokens, f);
            }
            TokenFilter::AsciiFolding {
                folder,
                preserve_original,
            } => {
                let mut folder = folder.clone();
                let mut out = Vec::with_capacity(tokens.len());
                for mut t in tokens.drain(..) {
                    if t.text.is_ascii() {
                        out.push(t);
                        continue;
                    }
                    let folded = folder
                        .token_stream(&t.text)
                        .next()
                        .map(|f| f.text.clone())
                        .unwrap_or_default();
                    if *preserve_original && folded != t.text {
                        let original = t.clone();
                        t.text = folded;
                        out.push(t);
                        out.push(original);
                    } else {
                        t.text = folded;
                        out.push(t);
                    }
                }
                *tokens = out;
            }
            TokenFilter::Length { min, max } => retain_keeping_gaps(tokens, |t| {
                let len = utf16_len(&t.text);
                len >= *min && len <= *max
            }),
            TokenFilter::Trim => map(tokens, |s| s.trim_matches(java_whitespace).to_string()),
            TokenFilter::Truncate(length) => {
                for t in tokens.iter_mut() {
                    let cut = utf16_prefix(&t.text, *length).len();
                    t.text.truncate(cut);
                }
            }
            TokenFilter::Unique {
                only_on_same_position,
            } => stream_filters::unique(tokens, *only_on_same_position),
            TokenFilter::RemoveDuplicates => stream_filters::remove_duplicates(tokens),
            TokenFilter::Reverse => map(tokens, |s| s.chars().rev().collect()),
            TokenFilter::Stop(words) => {
                if !words.is_empty() {
                    let mut is_stop = words.matcher();
                    retain_keeping_gaps(tokens, |t| !is_stop(&t.text));
                }
            }
            TokenFilter::Stem {
                stemmer,
                exclusions,
            } => {
                for t in tokens.iter_mut() {
                    if exclusions.is_empty() || !exclusions.contains(&t.text) {
                        t.text = stemmer.stem(&t.text);
                    }
                }
            }
            TokenFilter::GermanNormalization => map(tokens, german_normalize),
            TokenFilter::Possessive => {
                for t in tokens.iter_mut() {
                    let keep = super::stemmers::strip_possessive(&t.text).len();
                    t.text.truncate(keep);
                }
            }
            TokenFilter::Ngrams(cfg) => stream_filters::ngrams(tokens, cfg),
            TokenFilter::Shingles(cfg) => stream_filters::shingles(tokens, cfg),
            TokenFilter::Elision {
                articles,
                ignore_case,
            } => {
                for t in tokens.iter_mut() {
                    if let Some(at) = t.text.find(['\'', '\u{2019}']) {
                        let article = &t.text[..at];
                        let known = if *ignore_case {
                            articles.contains(&lowercase(article))
                        } else {
                            articles.contains(article)
                        };
                        if known {
                            let width = t.text[at..].chars().next().map_or(1, char::len_utf8);
                            t.text.drain(..at + width);
                        }
                    }
                }
            }
            TokenFilter::Apostrophe => {
                for t in tokens.iter_mut() {
                    if let Some(at) = t.text.find(['\'', '\u{2019}']) {
                        t.text.truncate(at);
                    }
                }
            }
            TokenFilter::Keep { words, ignore_case } => retain_keeping_gaps(tokens, |t| {
                if *ignore_case {
                    words.contains(&lowercase(&t.text))
                } else {
                    words.contains(&t.text)
                }
            }),
            TokenFilter::Limit(max) => {
                let mut seen = 0;
                remove_closing_gaps(tokens, |_| {
                    seen += 1;
                    seen <= *max
                });
            }
            TokenFilter::PatternReplace {
                regex,
                replacement,
                all,
            } => {
                for t in tokens.iter_mut() {
                    let replaced = if *all {
                        regex.replace_all(&t.text, replacement.as_str())
                    } else {
                        regex.replace(&t.text, replacement.as_str())
                    };
                    if let std::borrow::Cow::Owned(s) = replaced {
                        t.text = s;
                    }
                }
            }
            TokenFilter::Fingerprint {
                separator,
                max_output_size,
            } => stream_filters::fingerprint(tokens, separator, *max_output_size),
            TokenFilter::Classic => map(tokens, classic),
            TokenFilter::DecimalDigit => map(tokens, |s| s.chars().map(fold_digit).collect()),
            TokenFilter::Nothing => {}
        }
    }
}

fn map(tokens: &mut [Token], f: impl Fn(&str) -> String) {
    for t in tokens.iter_mut() {
        t.text = f(&t.text);
    }
}

fn shingles(p: Params) -> Result<Shingles> {
    let min = p.int("min_shingle_size")?.unwrap_or(2);
    let max = p.int("max_shingle_size")?.unwrap_or(2);
    if max < 2 {
        return Err(Error::InvalidArgument(
            "Max shingle size must be >= 2".into(),
        ));
    }
    if min < 2 {
        return Err(Error::InvalidArgument(
            "Min shingle size must be >= 2".into(),
        ));
    }
    if min > max {
        return Err(Error::InvalidArgument(
            "Min shingle size must be <= max shingle size".into(),
        ));
    }
    Ok(Shingles {
        min: min as usize,
        max: max as usize,
        output_unigrams: p.bool_or("output_unigrams", true)?,
        output_unigrams_if_no_shingles: p.bool_or("output_unigrams_if_no_shingles", false)?,
        separator: p.string_or("token_separator", " ")?,
        filler: p.string_or("filler_token", "_")?,
    })
}

pub(crate) fn fingerprint(p: Params) -> Result<TokenFilter> {
    Ok(TokenFilter::Fingerprint {
        separator: p.string_or("separator", " ")?,
        max_output_size: p.usize_in("max_output_size", 255, 0, i32::MAX as usize)?,
    })
}

/// Lucene's `IrishLowerCaseFilter`: `nAthair` → `n-athair`.
fn irish_lowercase(s: &str) -> String {
    let mut chars = s.chars();
    if let (Some(first @ ('n' | 't')), Some(second)) = (chars.next(), chars.next())
        && "AEIOUÁÉÍÓÚ".contains(second)
    {
        return format!("{first}-{}", lowercase(&s[first.len_utf8()..]));
    }
    lowercase(s)
}

/// Lucene's `ClassicFilter`, by token shape: `'s` off possessives, dots out
/// of acronyms (`I.B.M.` → `IBM`).
fn classic(s: &str) -> String {
    static ACRONYM: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(?:\p{L}\.)+\p{L}?\.?$").expect("static regex"));
    if let Some(stem) = s.strip_suffix("'s").or_else(|| s.strip_suffix("'S")) {
        return stem.to_string();
    }
    if ACRONYM.is_match(s) {
        return s.replace('.', "");
    }
    s.to_string()
}

/// Lucene's `DecimalDigitFilter`: any decimal digit (category Nd) to 0-9.
fn fold_digit(c: char) -> char {
    const ZEROS: &[u32] = &[
        0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
        0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0,
        0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0,
        0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0,
        0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0,
        0x16A60, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950,
        0x1FBF0,
    ];
    if c.is_ascii() || !c.is_numeric() {
        return c;
    }
    let code = c as u32;
    ZEROS
        .iter()
        .find(|&&zero| (zero..zero + 10).contains(&code))
        .and_then(|&zero| char::from_digit(code - zero, 10))
        .unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::analysis::tokens::token;

    fn run(kind: &str, params: Value, input: &[(usize, &str)]) -> Vec<(usize, String)> {
        let params: Vec<(String, Value)> = params
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let f = TokenFilter::new(kind, &params).expect("filter builds");
        let mut tokens: Vec<Token> = input.iter().map(|&(p, w)| token(p, 0, 0, w)).collect();
        f.apply(&mut tokens);
        tokens.into_iter().map(|t| (t.position, t.text)).collect()
    }

    fn texts(kind: &str, params: Value, input: &[&str]) -> Vec<String> {
        let input: Vec<(usize, &str)> = input.iter().copied().enumerate().collect();
        run(kind, params, &input)
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    #[test]
    fn per_token_filters() {
        let cases: &[(&str, Value, &[&str], &[&str])] = &[
            (
                "lowercase",
                json!({}),
                &["ΟΔΟΣ", "İstanbul", "ABC"],
                &["οδοσ", "istanbul", "abc"],
            ),
            (
                "lowercase",
                json!({"language": "turkish"}),
                &["ISPARTA", "İstanbul"],
                &["ısparta", "istanbul"],
            ),
            (
                "lowercase",
                json!({"language": "greek"}),
                &["ΆΛΦΑ", "τέλος"],
                &["αλφα", "τελοσ"],
            ),
            (
                "lowercase",
                json!({"language": "irish"}),
                &["nAthair", "Tá"],
                &["n-athair", "tá"],
            ),
            (
                "uppercase",
                json!({}),
                &["straße", "abc"],
                &["STRAßE", "ABC"],
            ),
            (
                "asciifolding",
                json!({}),
                &["açaí", "Ærø", "plain"],
                &["acai", "AEro", "plain"],
            ),
            ("trim", json!({}), &[" a b\t"], &["a b"]),
            (
                "truncate",
                json!({"length": 3}),
                &["abcdef", "ab", "日本語です"],
                &["abc", "ab", "日本語"],
            ),
            ("truncate", json!({}), &["abcdefghijkl"], &["abcdefghij"]),
            ("reverse", json!({}), &["abc", "añb"], &["cba", "bña"]),
            (
                "porter_stem",
                json!({}),
                &["generalizations", "people"],
                &["gener", "peopl"],
            ),
            ("kstem", json!({}), &["running", "ponies"], &["run", "pony"]),
            (
                "stemmer",
                json!({"language": "minimal_english"}),
                &["ponies", "cats"],
                &["pony", "cat"],
            ),
            (
                "stemmer",
                json!({"language": "possessive_english"}),
                &["john's"],
                &["john"],
            ),
            (
                "stemmer",
                json!({"name": "light_german"}),
                &["häuser"],
                &["haus"],
            ),
            ("stemmer", json!({}), &["caresses"], &["caress"]),
            ("snowball", json!({}), &["generously"], &["generous"]),
            (
                "snowball",
                json!({"language": "Porter"}),
                &["generalizations"],
                &["gener"],
            ),
            (
                "snowball",
                json!({"language": "german"}),
                &["katzen"],
                &["katz"],
            ),
            (
                "german_normalization",
                json!({}),
                &["Straße", "haeuser"],
                &["Strasse", "hauser"],
            ),
            (
                "elision",
                json!({}),
                &["l'avion", "L’arbre", "aujourd'hui"],
                &["avion", "arbre", "aujourd'hui"],
            ),
            (
                "elision",
                json!({"articles": ["j"]}),
                &["j'aime", "J'aime", "l'avion"],
                &["aime", "J'aime", "l'avion"],
            ),
            (
                "elision",
                json!({"articles": ["j"], "articles_case": true}),
                &["J'aime"],
                &["aime"],
            ),
            (
                "apostrophe",
                json!({}),
                &["Türkiye'de", "plain"],
                &["Türkiye", "plain"],
            ),
            (
                "pattern_replace",
                json!({"pattern": "a(b)?", "replacement": "[$1]"}),
                &["xabya"],
                &["x[b]y[]"],
            ),
            (
                "pattern_replace",
                json!({"pattern": "a", "replacement": "o", "all": false}),
                &["banana"],
                &["bonana"],
            ),
            (
                "classic",
                json!({}),
                &["I.B.M.", "John's", "U.S.A"],
                &["IBM", "John", "USA"],
            ),
            ("decimal_digit", json!({}), &["٣٤", "१२x"], &["34", "12x"]),
            ("standard", json!({}), &["As", "Is"], &["As", "Is"]),
        ];
        for (kind, params, input, expected) in cases {
            assert_eq!(
                texts(kind, params.clone(), input),
                *expected,
                "{kind} {params}"
            );
        }
    }

    #[test]
    fn removing_filters_keep_gaps() {
        let input = [(0, "the"), (1, "quick"), (2, "a"), (3, "fox")];
        assert_eq!(
            run("stop", json!({}), &input),
            vec![(1, "quick".into()), (3, "fox".into())]
        );
        assert_eq!(
            run("stop", json!({"stopwords": ["quick", "_english_"]}), &input),
            vec![(3, "fox".into())]
        );
        assert_eq!(
            run(
                "stop",
                json!({"stopwords": ["THE"], "ignore_case": true}),
                &input
            )
            .len(),
            3
        );
        assert_eq!(
            run("length", json!({"min": 2, "max": 4}), &input),
            vec![(0, "the".into()), (3, "fox".into())]
        );
        assert_eq!(
            run("keep", json!({"keep_words": ["fox", "a"]}), &input),
            vec![(2, "a".into()), (3, "fox".into())]
        );
        assert_eq!(
            run("limit", json!({"max_token_count": 2}), &input),
            vec![(0, "the".into()), (1, "quick".into())]
        );
        assert_eq!(run("limit", json!({}), &input), vec![(0, "the".into())]);
    }

    #[test]
    fn asciifolding_can_keep_the_original() {
        assert_eq!(
            run(
                "asciifolding",
                json!({"preserve_original": true}),
                &[(0, "café"), (1, "x")]
            ),
            vec![(0, "cafe".into()), (0, "café".into()), (1, "x".into())]
        );
    }

    #[test]
    fn bad_parameters() {
        let bad: &[(&str, Value)] = &[
            ("length", json!({"min": 5, "max": 2})),
            ("length", json!({"min": "five"})),
            ("keep", json!({})),
            ("pattern_replace", json!({})),
            ("pattern_replace", json!({"pattern": "("})),
            ("ngram", json!({"min_gram": 0})),
            ("shingle", json!({"max_shingle_size": 1})),
            (
                "shingle",
                json!({"min_shingle_size": 3, "max_shingle_size": 2}),
            ),
            ("stemmer", json!({"language": "klingon"})),
            ("lowercase", json!({"language": "latin"})),
            ("unique", json!({"only_on_same_position": "maybe"})),
        ];
        for (kind, params) in bad {
            let params: Vec<(String, Value)> = params
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            assert!(
                TokenFilter::new(kind, &params).is_err(),
                "{kind} {params:?}"
            );
        }
        assert!(matches!(
            TokenFilter::new("synonym", &[]),
            Err(Error::Unsupported(_))
        ));
        assert!(
            matches!(TokenFilter::new("nope", &[]), Err(Error::InvalidArgument(m)) if m == "Non-existing built-in token-filter type 'nope'")
        );
    }
}
