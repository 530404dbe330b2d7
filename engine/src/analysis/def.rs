//! The stored form of a custom analyzer: what `CREATE ANALYZER` said, kept
//! verbatim in the replicated cluster state so that every node builds the
//! same token stream from it (and `information_schema.routines` can show it).
//!
//! Components keep CrateDB's naming rule: a bare name (`lowercase`) is the
//! built-in of that name; a name with parameters is either a built-in given
//! parameters or a custom name whose `type` parameter says which built-in it is.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `CREATE ANALYZER` definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyzerDef {
    pub name: String,
    /// `EXTENDS <analyzer>`: a built-in or another custom analyzer.
    #[serde(default)]
    pub extends: Option<String>,
    #[serde(default)]
    pub tokenizer: Option<Component>,
    #[serde(default)]
    pub token_filters: Vec<Component>,
    #[serde(default)]
    pub char_filters: Vec<Component>,
    /// The top-level `WITH (...)` of an analyzer extending a built-in, e.g.
    /// `language = 'german'` for `EXTENDS snowball`.
    #[serde(default)]
    pub parameters: Vec<(String, Value)>,
}

/// A tokenizer, token filter or char filter of a definition:
/// `name [WITH (key = value, ...)]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    #[serde(default)]
    pub parameters: Vec<(String, Value)>,
}

impl AnalyzerDef {
    /// A definition with only a name, for building one up field by field.
    pub fn named(name: impl Into<String>) -> AnalyzerDef {
        AnalyzerDef {
            name: name.into(),
            extends: None,
            tokenizer: None,
            token_filters: Vec::new(),
            char_filters: Vec::new(),
            parameters: Vec::new(),
        }
    }
}

impl Component {
    /// A bare built-in: `lowercase`.
    pub fn named(name: impl Into<String>) -> Component {
        Component {
            name: name.into(),
            parameters: Vec::new(),
        }
    }

    /// A component with parameters: `mymapping WITH (type = 'mapping', ...)`.
    pub fn with(name: impl Into<String>, parameters: Vec<(String, Value)>) -> Component {
        Component {
            name: name.into(),
            parameters,
        }
    }

    /// The built-in type this component instantiates and its parameters
    /// without `type`. A custom name without `type` keeps its own name, so the
    /// caller's lookup fails with the name the user wrote.
    pub(crate) fn kind(&self) -> (&str, Vec<(String, Value)>) {
        let mut kind = self.name.as_str();
        let mut rest = Vec::with_capacity(self.parameters.len());
        for (key, value) in &self.parameters {
            match (key.as_str(), value) {
                ("type", Value::String(t)) => kind = t.as_str(),
                _ => rest.push((key.clone(), value.clone())),
            }
        }
        (kind, rest)
    }

    /// The value of the `type` parameter, if any, as a string.
    pub(crate) fn type_param(&self) -> Option<String> {
        self.parameters
            .iter()
            .find(|(k, _)| k == "type")
            .map(|(_, v)| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
    }
}
