//! TEMPORARY stand-in for the analysis module (replaced by the real one).

use std::collections::BTreeMap;

use tantivy::tokenizer::{
    Language, LowerCaser, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Component {
    pub name: String,
    pub parameters: Vec<(String, serde_json::Value)>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnalyzerDef {
    pub name: String,
    pub extends: Option<String>,
    pub tokenizer: Option<Component>,
    pub token_filters: Vec<Component>,
    pub char_filters: Vec<Component>,
    pub parameters: Vec<(String, serde_json::Value)>,
}

pub fn build(name: &str, _custom: &BTreeMap<String, AnalyzerDef>) -> Result<TextAnalyzer> {
    Ok(match name {
        "standard" | "default" => TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .build(),
        "english" => TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .filter(StopWordFilter::remove(
                [
                    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in",
                    "into", "is", "it", "no", "not", "of", "on", "or", "such", "that", "the",
                    "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
                ]
                .map(String::from),
            ))
            .filter(Stemmer::new(Language::English))
            .build(),
        other => {
            return Err(Error::InvalidArgument(format!(
                "Analyzer [{other}] not found"
            )));
        }
    })
}

pub fn validate(_def: &AnalyzerDef, _custom: &BTreeMap<String, AnalyzerDef>) -> Result<()> {
    Ok(())
}

pub fn builtin_analyzers() -> &'static [&'static str] {
    &["standard", "default", "english"]
}

/// Token texts with positions.
pub fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(t) = stream.next() {
        out.push((t.position, t.text.clone()));
    }
    out
}
