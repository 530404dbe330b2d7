//! Fulltext analysis: CrateDB's built-in and `CREATE ANALYZER` analyzers as tantivy `TextAnalyzer`s.

mod builtins;
mod char_filters;
mod chars;
mod def;
mod html_strip;
mod params;
mod pipeline;
mod porter;
mod regex_java;
mod resolve;
mod standard;
mod stemmers;
mod stopwords;
mod stream_filters;
mod token_filters;
mod tokenizers;
mod tokens;

#[cfg(test)]
mod tests;

pub use def::{AnalyzerDef, Component};
pub use pipeline::{analyze, analyze_with_positions};
pub use resolve::{build, validate};

/// The built-in analyzers, as `information_schema.routines` lists them
/// (`routine_type = 'ANALYZER'`).
pub fn builtin_analyzers() -> &'static [&'static str] {
    builtins::NAMES
}

/// The built-in tokenizers (`routine_type = 'TOKENIZER'`).
pub fn builtin_tokenizers() -> &'static [&'static str] {
    tokenizers::NAMES
}

/// The built-in token filters (`routine_type = 'TOKEN_FILTER'`).
pub fn builtin_token_filters() -> &'static [&'static str] {
    token_filters::NAMES
}

/// The built-in char filters (`routine_type = 'CHAR_FILTER'`).
pub fn builtin_char_filters() -> &'static [&'static str] {
    char_filters::NAMES
}
