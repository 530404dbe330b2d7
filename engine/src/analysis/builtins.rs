//! CrateDB's built-in analyzers: the fixed chains behind `standard`,
//! `english`, `snowball` and the rest, configured by the `WITH (...)` of an
//! analyzer that `EXTENDS` them.
//!
//! `standard`, `simple`, `whitespace`, `stop`, `keyword`, `pattern`,
//! `fingerprint`, `snowball` and `english` are Lucene's chains exactly.
//! `german` is Lucene's chain too (normalization + light stemmer). The other
//! language analyzers approximate Lucene's: standard tokenizer, lower case,
//! the language's stop words and its Snowball stemmer, where Lucene may use
//! a light stemmer (French, Italian, Portuguese, Spanish) or add
//! normalization (Arabic, Greek); Romanian, Turkish, Arabic and Greek have no
//! stop word list here (tantivy has none), so they keep stop words unless
//! `stopwords` lists them. The analyzers of CrateDB's other languages (CJK,
//! Thai, Persian, …) are refused as unsupported.

use tantivy::tokenizer::Language;

use super::params::Params;
use super::pipeline::Pipeline;
use super::regex_java;
use super::stemmers::Stemmer;
use super::stopwords::StopWords;
use super::token_filters::{self, Case, FRENCH_ARTICLES, TokenFilter};
use super::tokenizers::TokenizerKind;
use crate::error::{Error, Result};

/// The built-in analyzer names CrateDB offers and Shoal supports.
pub(crate) const NAMES: &[&str] = &[
    "arabic",
    "danish",
    "default",
    "dutch",
    "english",
    "fingerprint",
    "finnish",
    "french",
    "german",
    "greek",
    "hungarian",
    "italian",
    "keyword",
    "norwegian",
    "pattern",
    "portuguese",
    "romanian",
    "russian",
    "simple",
    "snowball",
    "spanish",
    "standard",
    "stop",
    "swedish",
    "turkish",
    "whitespace",
];

/// CrateDB's built-in analyzers Shoal does not have.
pub(crate) const UNSUPPORTED: &[&str] = &[
    "armenian",
    "basque",
    "bengali",
    "brazilian",
    "bulgarian",
    "catalan",
    "chinese",
    "cjk",
    "czech",
    "estonian",
    "galician",
    "hindi",
    "indonesian",
    "irish",
    "latvian",
    "lithuanian",
    "persian",
    "sorani",
    "thai",
];

const ITALIAN_ARTICLES: &[&str] = &[
    "c", "l", "all", "dall", "dell", "nell", "sull", "coll", "pell", "gl", "agl", "dagl", "degl",
    "negl", "sugl", "un", "m", "t", "s", "v", "d",
];

/// Is `name` a built-in analyzer (supported or not)?
pub(crate) fn is_builtin(name: &str) -> bool {
    NAMES.contains(&name) || UNSUPPORTED.contains(&name)
}

/// The built-in analyzer `name` configured with `params`; `None` when no
/// built-in has that name. `plain` is CrateDB's alias of `keyword`.
pub(crate) fn analyzer(
    name: &str,
    params: &[(String, serde_json::Value)],
) -> Result<Option<Pipeline>> {
    let p = Params(params);
    let stop = |default: StopWords| -> Result<TokenFilter> {
        Ok(TokenFilter::Stop(StopWords::from_params(p, default)?))
    };
    let lower = TokenFilter::Case(Case::Lower);
    Ok(Some(match name {
        "standard" | "default" => Pipeline::new(TokenizerKind::new("standard", params)?)
            .filter(lower)
            .filter(stop(StopWords::none())?),
        "simple" => Pipeline::new(TokenizerKind::new("lowercase", &[])?),
        "whitespace" => Pipeline::new(TokenizerKind::new("whitespace", &[])?),
        "stop" => Pipeline::new(TokenizerKind::new("lowercase", &[])?).filter(stop(english()?)?),
        "keyword" | "plain" => Pipeline::new(TokenizerKind::Keyword),
        "pattern" => {
            let regex =
                regex_java::compile(&p.string_or("pattern", r"\W+")?, &p.string_or("flags", "")?)?;
            let mut pipeline = Pipeline::new(TokenizerKind::Pattern { regex, group: -1 });
            if p.bool_or("lowercase", true)? {
                pipeline = pipeline.filter(lower);
            }
            pipeline.filter(stop(StopWords::none())?)
        }
        "snowball" => {
            let language = match p.string("language")? {
                Some(l) => l,
                None => p.string_or("name", "English")?,
            };
            let key = language.trim().to_ascii_lowercase();
            let default_stop = match key.as_str() {
                "english" => english()?,
                "dutch" => StopWords::language(Language::Dutch)?,
                "german" | "german2" => StopWords::language(Language::German)?,
                _ => StopWords::none(),
            };
            let case = if key == "turkish" {
                Case::Turkish
            } else {
                Case::Lower
            };
            Pipeline::new(TokenizerKind::new("standard", &[])?)
                .filter(TokenFilter::Case(case))
                .filter(stop(default_stop)?)
                .filter(TokenFilter::stem(Stemmer::for_snowball(&language)?))
        }
        "fingerprint" => Pipeline::new(TokenizerKind::new("standard", &[])?)
            .filter(lower)
            .filter(TokenFilter::new("asciifolding", &[])?)
            .filter(stop(StopWords::none())?)
            .filter(token_filters::fingerprint(p)?),
        other => match language(other, p)? {
            Some(pipeline) => pipeline,
            None if UNSUPPORTED.contains(&other) => {
                return Err(Error::Unsupported(format!(
                    "the {other} analyzer is not supported"
                )));
            }
            None => return Ok(None),
        },
    }))
}

fn english() -> Result<StopWords> {
    StopWords::language(Language::English)
}

/// A language analyzer: tokenizer, pre-stemming filters, stop words, stemmer.
fn language(name: &str, p: Params) -> Result<Option<Pipeline>> {
    let tantivy_stop = |l: Language| StopWords::language(l);
    let (pre, default_stop, stemmer): (Vec<TokenFilter>, StopWords, Stemmer) = match name {
        "english" => (
            vec![TokenFilter::Possessive, TokenFilter::Case(Case::Lower)],
            english()?,
            Stemmer::Porter,
        ),
        "german" => (
            vec![TokenFilter::Case(Case::Lower)],
            tantivy_stop(Language::German)?,
            Stemmer::LightGerman,
        ),
        "french" => (
            vec![
                TokenFilter::elision(
                    FRENCH_ARTICLES.iter().map(|a| a.to_string()).collect(),
                    true,
                ),
                TokenFilter::Case(Case::Lower),
            ],
            tantivy_stop(Language::French)?,
            snowball("french")?,
        ),
        "italian" => (
            vec![
                TokenFilter::elision(
                    ITALIAN_ARTICLES.iter().map(|a| a.to_string()).collect(),
                    true,
                ),
                TokenFilter::Case(Case::Lower),
            ],
            tantivy_stop(Language::Italian)?,
            snowball("italian")?,
        ),
        "turkish" => (
            vec![TokenFilter::Apostrophe, TokenFilter::Case(Case::Turkish)],
            StopWords::none(),
            snowball("turkish")?,
        ),
        "greek" => (
            vec![TokenFilter::Case(Case::Greek)],
            StopWords::none(),
            snowball("greek")?,
        ),
        "arabic" => (
            vec![TokenFilter::Case(Case::Lower), TokenFilter::DecimalDigit],
            StopWords::none(),
            snowball("arabic")?,
        ),
        "romanian" => (
            vec![TokenFilter::Case(Case::Lower)],
            StopWords::none(),
            snowball("romanian")?,
        ),
        other => {
            let stop = match other {
                "danish" => Language::Danish,
                "dutch" => Language::Dutch,
                "finnish" => Language::Finnish,
                "hungarian" => Language::Hungarian,
                "norwegian" => Language::Norwegian,
                "portuguese" => Language::Portuguese,
                "russian" => Language::Russian,
                "spanish" => Language::Spanish,
                "swedish" => Language::Swedish,
                _ => return Ok(None),
            };
            (
                vec![TokenFilter::Case(Case::Lower)],
                tantivy_stop(stop)?,
                snowball(other)?,
            )
        }
    };
    let mut pipeline = Pipeline::new(TokenizerKind::new("standard", &[])?);
    for f in pre {
        pipeline = pipeline.filter(f);
    }
    pipeline = pipeline.filter(TokenFilter::Stop(StopWords::from_params(p, default_stop)?));
    if name == "german" {
        pipeline = pipeline.filter(TokenFilter::GermanNormalization);
    }
    let exclusions = p.list("stem_exclusion")?.unwrap_or_default();
    Ok(Some(pipeline.filter(TokenFilter::Stem {
        stemmer,
        exclusions: std::sync::Arc::new(exclusions.into_iter().collect()),
    })))
}

fn snowball(language: &str) -> Result<Stemmer> {
    Stemmer::for_snowball(language)
}
