//! The `mixed` format (one `column | value` line per column, rows separated by a line of
//! dashes as wide as the terminal) and the `dynamic` choice between tabular and mixed.

use serde_json::Value;

use super::pyjson::{Dumps, number_repr};
use super::{ResultSet, Target};

const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// crash's `_mixed_format`: the value text, objects and arrays pretty-printed and
/// continued under a `|` gutter.
fn value(v: &Value, padding: usize) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => number_repr(n),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => {
            let text = Dumps {
                sort_keys: true,
                indent: Some(2),
                ensure_ascii: true,
            }
            .dumps(v);
            let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
            if let Some(last) = lines.last_mut() {
                *last = format!(" {last}");
            }
            let gutter = format!("{} |", " ".repeat(padding));
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    if i == 0 {
                        l.clone()
                    } else {
                        format!("{gutter}{l}")
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

/// crash's `mixed` format.
pub fn mixed(rs: &ResultSet, target: Target) -> String {
    let padding = rs.cols.iter().map(|c| c.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for row in rs.rows {
        for (i, c) in rs.cols.iter().enumerate() {
            let name = format!("{c}{}", " ".repeat(padding - c.chars().count()));
            let name = if target.color {
                format!("{YELLOW}{c}{RESET}{}", &name[c.len()..])
            } else {
                name
            };
            let v = row
                .get(i)
                .map_or_else(|| "NULL".to_string(), |v| value(v, padding));
            out.push_str(&format!("{name} | {v}\n"));
        }
        out.push_str(&"-".repeat(target.width));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// crash's `_val_len`: Python truthiness first (`0`, `""`, `[]` count as `NULL`'s 4).
fn val_len(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(false) => 4,
        Value::Bool(true) => 4,
        Value::Number(n) if n.as_f64() == Some(0.0) => 4,
        Value::Number(n) => number_repr(n).chars().count(),
        Value::String(s) if s.is_empty() => 4,
        Value::String(s) => s.chars().count(),
        Value::Array(a) if a.is_empty() => 4,
        Value::Object(o) if o.is_empty() => 4,
        Value::Array(_) | Value::Object(_) => Dumps::DEFAULT.dumps(v).chars().count(),
    }
}

/// crash's `dynamic` rule: mixed when the widest row (or the header) needs more columns
/// than the terminal has.
pub fn needs_mixed(rs: &ResultSet, width: usize) -> bool {
    let header: usize = rs.cols.iter().map(|c| c.chars().count() + 4).sum::<usize>() + 1;
    let widest = rs
        .rows
        .iter()
        .map(|r| r.iter().map(|v| val_len(v) + 4).sum::<usize>() + 1)
        .fold(header, usize::max);
    widest > width
}
