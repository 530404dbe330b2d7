//! The JSON formats: `json` (a pretty list of objects), `json_row` (one object per line)
//! and `raw` (the response as crash's cursor sees it, duration in seconds).

use serde_json::{Map, Number, Value};

use super::ResultSet;
use super::pyjson::{Dumps, float_repr};

/// Python's `dict(zip(cols, row))`: stops at the shorter list; a repeated column name
/// keeps its first position and takes the last value.
fn zip_dict(cols: &[String], row: &[Value]) -> Value {
    let mut map = Map::new();
    for (c, v) in cols.iter().zip(row) {
        map.insert(c.clone(), v.clone());
    }
    Value::Object(map)
}

/// crash's `json` format.
pub fn json(rs: &ResultSet) -> String {
    let list = Value::Array(rs.rows.iter().map(|r| zip_dict(rs.cols, r)).collect());
    Dumps::PRETTY.dumps(&list) + "\n"
}

/// crash's `json_row` format.
pub fn json_row(rs: &ResultSet) -> String {
    let mut out = String::new();
    for row in rs.rows {
        out.push_str(&Dumps::DEFAULT.dumps(&zip_dict(rs.cols, row)));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// crash's `raw` format: `{"rows", "cols", "rowcount", "duration"}` with the duration in
/// seconds (`duration > -1 and duration / 1000.0 or duration`, Python truthiness included).
pub fn raw(rs: &ResultSet) -> String {
    let duration = match rs.duration {
        None => "-1".to_string(),
        Some(n) => {
            let ms = n.as_f64().unwrap_or(-1.0);
            if ms > -1.0 && ms / 1000.0 != 0.0 {
                float_repr(ms / 1000.0)
            } else {
                super::pyjson::number_repr(n)
            }
        }
    };
    // Build the object by hand so `duration` keeps Python's float text.
    let pretty = |v: &Value| -> String {
        let text = Dumps::PRETTY.dumps(v);
        text.replace('\n', "\n  ")
    };
    let rows = Value::Array(rs.rows.iter().map(|r| Value::Array(r.clone())).collect());
    let cols = Value::Array(rs.cols.iter().map(|c| Value::String(c.clone())).collect());
    let rowcount = Value::Number(Number::from(rs.rowcount));
    format!(
        "{{\n  \"rows\": {},\n  \"cols\": {},\n  \"rowcount\": {},\n  \"duration\": {}\n}}\n",
        pretty(&rows),
        pretty(&cols),
        pretty(&rowcount),
        duration
    )
}
