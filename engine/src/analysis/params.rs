//! Typed reads of a component's `WITH (...)` parameters.
//!
//! CrateDB hands analysis parameters to Elasticsearch's settings, which read
//! every value leniently: `min_gram = 2` and `min_gram = '2'` mean the same,
//! and a single string stands for a one-element list. These readers do the
//! same, and name the setting in their errors as Elasticsearch does.

use serde_json::Value;

use crate::error::{Error, Result};

/// The parameters of one component (or of an extended built-in analyzer).
#[derive(Clone, Copy)]
pub(crate) struct Params<'a>(pub &'a [(String, Value)]);

impl<'a> Params<'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        // A later WITH entry overrides an earlier one (EXTENDS merges that way).
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(v) => Err(bad_value(key, v)),
        }
    }

    pub(crate) fn string_or(&self, key: &str, default: &str) -> Result<String> {
        Ok(self.string(key)?.unwrap_or_else(|| default.to_string()))
    }

    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| bad_value(key, &Value::Number(n.clone()))),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| bad_value(key, &Value::String(s.clone()))),
            Some(v) => Err(bad_value(key, v)),
        }
    }

    /// A count or size: an integer in `min..=max`.
    pub(crate) fn usize_in(
        &self,
        key: &str,
        default: usize,
        min: usize,
        max: usize,
    ) -> Result<usize> {
        match self.int(key)? {
            None => Ok(default),
            Some(n) if n >= min as i64 && n <= max as i64 => Ok(n as usize),
            Some(n) => Err(Error::InvalidArgument(format!(
                "[{key}] must be between {min} and {max}, got [{n}]"
            ))),
        }
    }

    pub(crate) fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => match s.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(Error::InvalidArgument(format!(
                    "Failed to parse value [{s}] as only [true] or [false] are allowed for setting [{key}]"
                ))),
            },
            Some(v) => Err(bad_value(key, v)),
        }
    }

    /// A list of strings; a lone string is a one-element list.
    pub(crate) fn list(&self, key: &str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(_) | Value::Bool(_) => Ok(v.to_string()),
                    other => Err(bad_value(key, other)),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(vec![v.to_string()])),
            Some(v) => Err(bad_value(key, v)),
        }
    }
}

fn bad_value(key: &str, value: &Value) -> Error {
    let shown = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Error::InvalidArgument(format!(
        "Failed to parse value [{shown}] for setting [{key}]"
    ))
}
