//! Python-compatible text for JSON values.
//!
//! crash prints every value through Python: `str(float)`, `json.dumps(...)` with or
//! without `sort_keys`, `indent=2` and `ensure_ascii`. To print byte-for-byte what crash
//! prints, this module reproduces those functions for `serde_json::Value`s.

use serde_json::{Number, Value};

/// Options of Python's `json.dumps` that crash uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dumps {
    /// `sort_keys=True`: object keys in code-point order.
    pub sort_keys: bool,
    /// `indent=N`: pretty-print with N spaces per level (`None`: one line).
    pub indent: Option<usize>,
    /// `ensure_ascii=True` (Python's default): escape everything outside `' '..='~'`.
    pub ensure_ascii: bool,
}

impl Dumps {
    /// `json.dumps(v)`: one line, ASCII-only, keys in server order.
    pub const DEFAULT: Dumps = Dumps {
        sort_keys: false,
        indent: None,
        ensure_ascii: true,
    };
    /// `json.dumps(v, sort_keys=True)`.
    pub const SORTED: Dumps = Dumps {
        sort_keys: true,
        indent: None,
        ensure_ascii: true,
    };
    /// `json.dumps(v, indent=2)`.
    pub const PRETTY: Dumps = Dumps {
        sort_keys: false,
        indent: Some(2),
        ensure_ascii: true,
    };

    /// Renders `value` as Python's `json.dumps` would.
    pub fn dumps(&self, value: &Value) -> String {
        let mut out = String::new();
        self.write(value, 0, &mut out);
        out
    }

    fn write(&self, value: &Value, level: usize, out: &mut String) {
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Number(n) => out.push_str(&number_repr(n)),
            Value::String(s) => write_json_string(s, self.ensure_ascii, out),
            Value::Array(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    self.separator(i, level + 1, out);
                    self.write(item, level + 1, out);
                }
                self.close(level, out);
                out.push(']');
            }
            Value::Object(map) => {
                if map.is_empty() {
                    out.push_str("{}");
                    return;
                }
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                if self.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    self.separator(i, level + 1, out);
                    write_json_string(k, self.ensure_ascii, out);
                    out.push_str(": ");
                    self.write(v, level + 1, out);
                }
                self.close(level, out);
                out.push('}');
            }
        }
    }

    fn separator(&self, index: usize, level: usize, out: &mut String) {
        match self.indent {
            Some(n) => {
                if index > 0 {
                    out.push(',');
                }
                out.push('\n');
                out.push_str(&" ".repeat(n * level));
            }
            None => {
                if index > 0 {
                    out.push_str(", ");
                }
            }
        }
    }

    fn close(&self, level: usize, out: &mut String) {
        if let Some(n) = self.indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * level));
        }
    }
}

/// Python's `json.dumps` of a string (with the surrounding quotes).
pub fn write_json_string(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ensure_ascii && !(' '..='~').contains(&c) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `str()` / `repr()` of a JSON number: integers as integers, floats like
/// `float.__repr__` (`1.0`, `1e+16`, `1e-05`, `0.0001`).
pub fn number_repr(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    float_repr(n.as_f64().unwrap_or(f64::NAN))
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed notation when the
/// decimal exponent is in `-4..16`, else in scientific notation with a signed, at least
/// two-digit exponent.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's `{:e}` prints the shortest round-trip digits, e.g. `-1.2345e17`.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // value = 0.DIGITS * 10^decpt
    let decpt = exp + 1;
    let mut out = String::from(sign);
    if (-4 < decpt) && (decpt <= 16) {
        if decpt <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-decpt) as usize));
            out.push_str(&digits);
        } else {
            let decpt = decpt as usize;
            if digits.len() <= decpt {
                out.push_str(&digits);
                out.push_str(&"0".repeat(decpt - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..decpt]);
                out.push('.');
                out.push_str(&digits[decpt..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", e.abs()));
    }
    out
}

/// Python's `str.strip()`: removes leading and trailing whitespace as `str.isspace` sees it.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// Python's `str.isspace` for one character.
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `int(s)` succeeds (whitespace, sign, digits with single `_` between them).
pub fn py_isint(s: &str) -> bool {
    let t = py_strip(s);
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    digits_with_underscores(t)
}

fn digits_with_underscores(t: &str) -> bool {
    !t.is_empty()
        && !t.starts_with('_')
        && !t.ends_with('_')
        && !t.contains("__")
        && t.chars().all(|c| c.is_ascii_digit() || c == '_')
}

/// tabulate's `_isnumber(s)`: `float(s)` succeeds, and infinities/NaN only when spelt
/// exactly `inf`, `-inf` or `nan` (any case).
pub fn py_isnumber(s: &str) -> bool {
    let t = py_strip(s);
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let lower = body.to_ascii_lowercase();
    if ["inf", "infinity", "nan"].contains(&lower.as_str()) {
        return ["inf", "-inf", "nan"].contains(&s.to_ascii_lowercase().as_str());
    }
    let (mant, exp) = match lower.find('e') {
        Some(i) => (&lower[..i], Some(&lower[i + 1..])),
        None => (lower.as_str(), None),
    };
    let mant_ok = match mant.split_once('.') {
        Some((a, b)) => {
            (a.is_empty() || digits_with_underscores(a))
                && (b.is_empty() || digits_with_underscores(b))
                && !(a.is_empty() && b.is_empty())
        }
        None => digits_with_underscores(mant),
    };
    let exp_ok = match exp {
        None => true,
        Some(e) => digits_with_underscores(e.strip_prefix(['+', '-']).unwrap_or(e)),
    };
    mant_ok && exp_ok && !matches!(py_float(t), Some(f) if f.is_infinite())
}

fn py_float(s: &str) -> Option<f64> {
    s.replace('_', "").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_python() {
        let cases = [
            (1.0, "1.0"),
            (1.5, "1.5"),
            (100.0, "100.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (-1.25e-5, "-1.25e-05"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.1, "0.1"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.234 / 1000.0, "0.001234"),
            (2.5e-300, "2.5e-300"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want, "{x}");
        }
    }

    #[test]
    fn dumps_matches_python() {
        let v = json!({"z": 1, "a": {"y": [1, 2.0], "b": "é\n\u{1F642}"}});
        assert_eq!(
            Dumps::SORTED.dumps(&v),
            r#"{"a": {"b": "\u00e9\n\ud83d\ude42", "y": [1, 2.0]}, "z": 1}"#
        );
        let loose = Dumps {
            sort_keys: true,
            indent: None,
            ensure_ascii: false,
        };
        assert_eq!(
            loose.dumps(&json!(["é", null, true])),
            r#"["é", null, true]"#
        );
        assert_eq!(
            Dumps::PRETTY.dumps(&json!({"a": [], "b": {}})),
            "{\n  \"a\": [],\n  \"b\": {}\n}"
        );
    }

    #[test]
    fn number_parsing_like_python() {
        for s in ["1", " 12 ", "-3", "+4", "1_000"] {
            assert!(py_isint(s), "{s}");
        }
        for s in ["1.5", "", "abc", "1__0", "_1", "1e5"] {
            assert!(!py_isint(s), "{s}");
        }
        for s in [
            "1.5", ".5", "5.", "1e5", "-1E-5", "inf", "nan", "-inf", "1_0.5",
        ] {
            assert!(py_isnumber(s), "{s}");
        }
        for s in ["Infinity", ".", "e5", "1e", "abc", "1e999", "1,5"] {
            assert!(!py_isnumber(s), "{s}");
        }
    }
}
