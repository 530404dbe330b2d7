//! The `csv` format: Python's `csv.writer` as crash configures it (`quotechar="'"`,
//! `escapechar="\\"`, `doublequote=False`, minimal quoting, `\r\n` line ends), plus the
//! final newline crash's output writer adds.

use serde_json::Value;

use super::ResultSet;
use super::pyjson::{Dumps, number_repr};

/// One field as Python's csv module writes it.
fn field(s: &str, out: &mut String) {
    let mut quoted = false;
    let mut buf = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\'' | '\\' => buf.push('\\'),
            ',' | '\r' | '\n' => quoted = true,
            _ => {}
        }
        buf.push(c);
    }
    if quoted {
        out.push('\'');
        out.push_str(&buf);
        out.push('\'');
    } else {
        out.push_str(&buf);
    }
}

/// crash's cell conversion for csv: objects and arrays as sorted JSON, `None` empty,
/// booleans as Python prints them.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => number_repr(n),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => Dumps::SORTED.dumps(v),
    }
}

fn record(fields: &[String], out: &mut String) {
    if fields.len() == 1 && fields[0].is_empty() {
        // Python quotes a record made of a single empty field.
        out.push_str("''");
    } else {
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            field(f, out);
        }
    }
    out.push_str("\r\n");
}

/// crash's `csv` format.
pub fn csv(rs: &ResultSet) -> String {
    let mut out = String::new();
    record(rs.cols, &mut out);
    for row in rs.rows {
        let fields: Vec<String> = row.iter().map(cell).collect();
        record(&fields, &mut out);
    }
    out.push('\n');
    out
}
