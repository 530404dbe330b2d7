//! From a name to a running analyzer: built-ins, custom definitions and the
//! `EXTENDS` chains between them, plus the checks `CREATE ANALYZER` makes.
//!
//! EXTENDS follows CrateDB: extending a built-in analyzer (directly or
//! through custom ones) configures that built-in with the merged `WITH`
//! parameters, later ones winning, and ignores any tokenizer or filters
//! given; extending a custom analyzer inherits its tokenizer, token filters
//! and char filters, each replaced when the new definition gives its own.
//! Error messages are CrateDB's.

use std::collections::BTreeMap;

use serde_json::Value;
use tantivy::tokenizer::TextAnalyzer;

use super::builtins;
use super::char_filters::{self, CharFilter};
use super::def::{AnalyzerDef, Component};
use super::pipeline::Pipeline;
use super::token_filters::{self, TokenFilter};
use super::tokenizers::{self, TokenizerKind};
use crate::error::{Error, Result};

/// How long an EXTENDS chain may be before it is taken for a cycle.
const MAX_EXTENDS_DEPTH: usize = 32;

/// The analyzer named `name`: a built-in or one of `custom`.
///
/// An unknown name fails with CrateDB's MATCH message `No analyzer found for
/// [name]`; a caller resolving a column's analyzer may prefer its own.
pub fn build(name: &str, custom: &BTreeMap<String, AnalyzerDef>) -> Result<TextAnalyzer> {
    Ok(TextAnalyzer::from(pipeline(name, custom)?))
}

pub(crate) fn pipeline(name: &str, custom: &BTreeMap<String, AnalyzerDef>) -> Result<Pipeline> {
    if let Some(def) = custom.get(name) {
        return resolve(def, custom)?.into_pipeline();
    }
    builtins::analyzer(name, &[])?
        .ok_or_else(|| Error::InvalidArgument(format!("No analyzer found for [{name}]")))
}

/// Checks a `CREATE ANALYZER` definition against the built-ins and the
/// existing custom analyzers, as CrateDB does before storing it, and builds
/// it once so that bad parameters fail now rather than at indexing.
pub fn validate(def: &AnalyzerDef, custom: &BTreeMap<String, AnalyzerDef>) -> Result<()> {
    if def.name.eq_ignore_ascii_case("default") {
        return Err(Error::InvalidArgument(
            "Overriding the default analyzer is forbidden".into(),
        ));
    }
    if builtins::is_builtin(&def.name) {
        return Err(Error::InvalidArgument(format!(
            "Cannot override builtin analyzer '{}'",
            def.name
        )));
    }
    if let Some(parent) = &def.extends {
        if builtins::UNSUPPORTED.contains(&parent.as_str()) {
            return Err(Error::Unsupported(format!(
                "the {parent} analyzer is not supported"
            )));
        }
        let exists = builtins::NAMES.contains(&parent.as_str())
            || (custom.contains_key(parent) && *parent != def.name);
        if !exists {
            return Err(Error::InvalidArgument(format!(
                "Extended Analyzer '{parent}' does not exist"
            )));
        }
    }
    if let Some(t) = &def.tokenizer {
        check_tokenizer(t)?;
    }
    for f in &def.token_filters {
        check_token_filter(f)?;
    }
    for c in &def.char_filters {
        check_char_filter(c)?;
    }
    if def.tokenizer.is_none() && def.extends.is_none() {
        return Err(Error::Unsupported(
            "Tokenizer missing from non-extended analyzer".into(),
        ));
    }
    let mut with_def = custom.clone();
    with_def.insert(def.name.clone(), def.clone());
    resolve(def, &with_def)?.into_pipeline().map(|_| ())
}

fn check_tokenizer(t: &Component) -> Result<()> {
    let builtin = tokenizers::NAMES.contains(&tokenizers::canonical(&t.name))
        || tokenizers::UNSUPPORTED.contains(&t.name.as_str());
    if t.parameters.is_empty() {
        if !builtin {
            return Err(Error::InvalidArgument(format!(
                "Non-existing tokenizer '{}'",
                t.name
            )));
        }
        return Ok(());
    }
    if builtin {
        return Err(Error::InvalidArgument(format!(
            "tokenizer name '{}' is reserved",
            t.name
        )));
    }
    let kind = t
        .type_param()
        .ok_or_else(|| Error::InvalidArgument("'type' property missing".into()))?;
    let known = tokenizers::NAMES.contains(&tokenizers::canonical(&kind))
        || tokenizers::UNSUPPORTED.contains(&kind.as_str());
    if !known {
        return Err(Error::InvalidArgument(format!(
            "Non-existing built-in tokenizer type '{kind}'"
        )));
    }
    Ok(())
}

fn is_builtin_token_filter(name: &str) -> bool {
    token_filters::NAMES.contains(&token_filters::canonical(name))
        || token_filters::UNSUPPORTED.contains(&name)
}

fn check_token_filter(f: &Component) -> Result<()> {
    let builtin = is_builtin_token_filter(&f.name);
    if f.parameters.is_empty() {
        if !builtin {
            return Err(Error::InvalidArgument(format!(
                "Non-existing built-in token-filter '{}'",
                f.name
            )));
        }
        return Ok(());
    }
    if builtin {
        if f.type_param().is_some() {
            return Err(Error::InvalidArgument(format!(
                "token-filter name '{}' is reserved, 'type' property forbidden here",
                f.name
            )));
        }
        return Ok(());
    }
    let kind = f
        .type_param()
        .ok_or_else(|| Error::InvalidArgument("'type' property missing".into()))?;
    if !is_builtin_token_filter(&kind) {
        return Err(Error::InvalidArgument(format!(
            "Non-existing built-in token-filter type '{kind}'"
        )));
    }
    Ok(())
}

fn check_char_filter(c: &Component) -> Result<()> {
    if c.parameters.is_empty() {
        if !char_filters::NAMES.contains(&c.name.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "Non-existing built-in char-filter '{}'",
                c.name
            )));
        }
        if c.name != "html_strip" {
            return Err(Error::InvalidArgument(format!(
                "CHAR_FILTER of type '{}' needs additional parameters",
                c.name
            )));
        }
        return Ok(());
    }
    let kind = c
        .type_param()
        .ok_or_else(|| Error::InvalidArgument("'type' property missing".into()))?;
    if !char_filters::NAMES.contains(&kind.as_str()) {
        return Err(Error::InvalidArgument(format!(
            "Non-existing built-in char-filter type '{kind}'"
        )));
    }
    Ok(())
}

/// A definition with its EXTENDS chain flattened.
enum Resolved {
    Builtin {
        name: String,
        parameters: Vec<(String, Value)>,
    },
    Custom {
        tokenizer: Component,
        token_filters: Vec<Component>,
        char_filters: Vec<Component>,
    },
}

fn resolve(def: &AnalyzerDef, custom: &BTreeMap<String, AnalyzerDef>) -> Result<Resolved> {
    resolve_at(def, custom, 0)
}

fn resolve_at(
    def: &AnalyzerDef,
    custom: &BTreeMap<String, AnalyzerDef>,
    depth: usize,
) -> Result<Resolved> {
    if depth > MAX_EXTENDS_DEPTH {
        return Err(Error::InvalidArgument(format!(
            "Analyzer '{}' extends itself (directly or through other analyzers)",
            def.name
        )));
    }
    let Some(parent) = &def.extends else {
        let tokenizer = def.tokenizer.clone().ok_or_else(|| {
            Error::Unsupported("Tokenizer missing from non-extended analyzer".into())
        })?;
        return Ok(Resolved::Custom {
            tokenizer,
            token_filters: def.token_filters.clone(),
            char_filters: def.char_filters.clone(),
        });
    };
    match custom.get(parent) {
        Some(parent_def) => Ok(match resolve_at(parent_def, custom, depth + 1)? {
            Resolved::Builtin {
                name,
                mut parameters,
            } => {
                parameters.extend(def.parameters.iter().cloned());
                Resolved::Builtin { name, parameters }
            }
            Resolved::Custom {
                tokenizer,
                token_filters,
                char_filters,
            } => Resolved::Custom {
                tokenizer: def.tokenizer.clone().unwrap_or(tokenizer),
                token_filters: if def.token_filters.is_empty() {
                    token_filters
                } else {
                    def.token_filters.clone()
                },
                char_filters: if def.char_filters.is_empty() {
                    char_filters
                } else {
                    def.char_filters.clone()
                },
            },
        }),
        None if builtins::is_builtin(parent) => Ok(Resolved::Builtin {
            name: parent.clone(),
            parameters: def.parameters.clone(),
        }),
        None => Err(Error::InvalidArgument(format!(
            "Extended Analyzer '{parent}' does not exist"
        ))),
    }
}

impl Resolved {
    fn into_pipeline(self) -> Result<Pipeline> {
        match self {
            Resolved::Builtin { name, parameters } => builtins::analyzer(&name, &parameters)?
                .ok_or_else(|| {
                    Error::InvalidArgument(format!("Extended Analyzer '{name}' does not exist"))
                }),
            Resolved::Custom {
                tokenizer,
                token_filters,
                char_filters,
            } => {
                let (kind, params) = tokenizer.kind();
                let mut pipeline = Pipeline::new(TokenizerKind::new(kind, &params)?);
                for c in &char_filters {
                    let (kind, params) = c.kind();
                    pipeline.char_filters.push(CharFilter::new(kind, &params)?);
                }
                for f in &token_filters {
                    let (kind, params) = f.kind();
                    pipeline = pipeline.filter(TokenFilter::new(kind, &params)?);
                }
                Ok(pipeline)
            }
        }
    }
}
