//! LIKE / ILIKE patterns and regular expressions, compiled once and cached.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;

use crate::error::{Error, Result};

thread_local! {
    static CACHE: RefCell<HashMap<(String, bool, bool), Regex>> = RefCell::new(HashMap::new());
}

/// Translates a LIKE pattern into an anchored regular expression.
/// `escape` defaults to backslash; an empty escape disables escaping.
pub fn like_to_regex(pattern: &str, escape: Option<&str>) -> Result<String> {
    let esc: Option<char> = match escape {
        None => Some('\\'),
        Some("") => None,
        Some(e) => {
            let mut chars = e.chars();
            let c = chars.next();
            if chars.next().is_some() {
                return Err(Error::InvalidArgument(format!(
                    "ESCAPE must be a single character, got '{e}'"
                )));
            }
            c
        }
    };
    let mut re = String::with_capacity(pattern.len() + 8);
    re.push('^');
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == esc {
            match chars.next() {
                Some(n) => re.push_str(&regex::escape(&n.to_string())),
                None => {
                    return Err(Error::InvalidArgument(
                        "pattern '".to_string() + pattern + "' must not end with escape character",
                    ));
                }
            }
        } else if c == '%' {
            re.push_str(".*");
        } else if c == '_' {
            re.push('.');
        } else {
            re.push_str(&regex::escape(&c.to_string()));
        }
    }
    re.push('$');
    Ok(re)
}

/// Compiles (or fetches from the per-thread cache) a regular expression.
/// `anchored_like` marks patterns produced by [`like_to_regex`] (dot matches newline).
pub fn regex_cached(pattern: &str, case_insensitive: bool, anchored_like: bool) -> Result<Regex> {
    let key = (pattern.to_string(), case_insensitive, anchored_like);
    if let Some(r) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(r);
    }
    let mut flags = String::new();
    if case_insensitive {
        flags.push('i');
    }
    if anchored_like {
        flags.push('s');
    }
    let full = if flags.is_empty() {
        pattern.to_string()
    } else {
        format!("(?{flags}){pattern}")
    };
    let re = regex::RegexBuilder::new(&full)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("invalid regular expression: {e}")))?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 256 {
            c.clear();
        }
        c.insert(key, re.clone());
    });
    Ok(re)
}

/// Whether `value` matches the LIKE `pattern`.
pub fn like_matches(
    value: &str,
    pattern: &str,
    case_insensitive: bool,
    escape: Option<&str>,
) -> Result<bool> {
    let re = like_to_regex(pattern, escape)?;
    Ok(regex_cached(&re, case_insensitive, true)?.is_match(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_follow_sql() {
        assert!(like_matches("Argabuthon", "Ar%", false, None).unwrap());
        assert!(like_matches("Argabuthon", "_r%a%", false, None).unwrap());
        assert!(!like_matches("argabuthon", "Ar%", false, None).unwrap());
        assert!(like_matches("argabuthon", "Ar%", true, None).unwrap());
        assert!(like_matches("The end.%", "%\\%", false, None).unwrap());
        assert!(!like_matches("test", "te%", false, Some("e")).unwrap());
        assert!(like_matches("a.b", "a.b", false, None).unwrap());
        assert!(!like_matches("axb", "a.b", false, None).unwrap());
    }
}
