//! Casting values between types (`CAST(x AS t)`, `x::t`, and the implicit
//! conversions applied when a value is stored into a typed column).

use super::json::{from_json, to_json};
use super::time::{format_timestamp, parse_timestamp};
use super::value::format_f64;
use super::{DataType, Value};
use crate::error::{Error, Result};

/// Renders a value as a SQL literal for error messages.
pub fn literal(v: &Value) -> String {
    match v {
        Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Null => "NULL".into(),
        other => text_of(other),
    }
}

fn cannot(v: &Value, to: &DataType) -> Error {
    match v {
        Value::Object(_) | Value::Array(_) => Error::Cast(format!(
            "Cannot cast value `{}` to type `{}`",
            text_of(v),
            to.name()
        )),
        _ => Error::Cast(format!(
            "Cannot cast `{}` of type `{}` to type `{}`",
            literal(v),
            v.kind(),
            to.name()
        )),
    }
}

/// The text form of a value, as `CAST(v AS TEXT)` renders it.
pub fn text_of(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => {
            if *b {
                "t".into()
            } else {
                "f".into()
            }
        }
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_f64(*f),
        Value::Text(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => to_json(v).to_string(),
    }
}

fn int_in_range(i: i64, v: &Value, to: &DataType) -> Result<Value> {
    let ok = match to {
        DataType::SmallInt => i16::try_from(i).is_ok(),
        DataType::Integer => i32::try_from(i).is_ok(),
        _ => true,
    };
    if ok {
        Ok(Value::Int(i))
    } else {
        Err(cannot(v, to))
    }
}

fn float_to_int(f: f64, v: &Value, to: &DataType) -> Result<Value> {
    if !f.is_finite() || f.abs() >= 9.2e18 {
        return Err(cannot(v, to));
    }
    int_in_range(f.round() as i64, v, to)
}

/// Whether [`cast`] would return `v` unchanged: callers with a value in hand
/// can skip the cast and whatever they prepare for its error.
pub fn is_unchanged_by_cast(v: &Value, to: &DataType) -> bool {
    match (v, to) {
        (Value::Int(i), DataType::SmallInt) => i16::try_from(*i).is_ok(),
        (Value::Int(i), DataType::Integer) => i32::try_from(*i).is_ok(),
        (Value::Int(_), DataType::BigInt | DataType::Timestamp { .. })
        | (Value::Float(_), DataType::Double)
        | (Value::Text(_), DataType::Text)
        | (Value::Bool(_), DataType::Boolean) => true,
        _ => false,
    }
}

/// Casts `v` to `to`, failing with CrateDB's message when the value does not fit.
pub fn cast(v: Value, to: &DataType) -> Result<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    match to {
        DataType::Undefined => Ok(v),
        DataType::Boolean => match &v {
            Value::Bool(_) => Ok(v),
            Value::Int(i) => Ok(Value::Bool(*i != 0)),
            Value::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "t" | "true" | "yes" | "y" | "on" | "1" => Ok(Value::Bool(true)),
                "f" | "false" | "no" | "n" | "off" | "0" => Ok(Value::Bool(false)),
                _ => Err(cannot(&v, to)),
            },
            _ => Err(cannot(&v, to)),
        },
        DataType::SmallInt | DataType::Integer | DataType::BigInt => match &v {
            Value::Int(i) => int_in_range(*i, &v, to),
            Value::Float(f) => float_to_int(*f, &v, to),
            Value::Bool(b) => Ok(Value::Int(*b as i64)),
            Value::Text(s) => {
                let t = s.trim();
                match t.parse::<i64>() {
                    Ok(i) => int_in_range(i, &v, to),
                    Err(_) => match t.parse::<f64>() {
                        Ok(f) if f.fract() == 0.0 => float_to_int(f, &v, to),
                        _ => Err(cannot(&v, to)),
                    },
                }
            }
            _ => Err(cannot(&v, to)),
        },
        DataType::Real | DataType::Double => match &v {
            Value::Float(f) if *to == DataType::Real => {
                if f.is_finite() && f.abs() > f32::MAX as f64 {
                    Err(cannot(&v, to))
                } else {
                    Ok(Value::Float(*f as f32 as f64))
                }
            }
            Value::Float(_) => Ok(v),
            Value::Int(i) => Ok(Value::Float(*i as f64)),
            Value::Bool(b) => Ok(Value::Float(*b as i64 as f64)),
            Value::Text(s) => match s.trim().parse::<f64>() {
                Ok(f) => cast(Value::Float(f), to),
                Err(_) => Err(cannot(&v, to)),
            },
            _ => Err(cannot(&v, to)),
        },
        DataType::Text => match &v {
            Value::Text(_) => Ok(v),
            Value::Array(_)
            | Value::Object(_)
            | Value::Bool(_)
            | Value::Int(_)
            | Value::Float(_) => Ok(Value::Text(text_of(&v))),
            Value::Null => Ok(Value::Null),
        },
        DataType::Timestamp { tz } => match &v {
            Value::Int(_) => Ok(v),
            Value::Float(f) if f.is_finite() => Ok(Value::Int(f.round() as i64)),
            Value::Text(s) => parse_timestamp(s, !tz)
                .map(Value::Int)
                .ok_or_else(|| cannot(&v, to)),
            _ => Err(cannot(&v, to)),
        },
        DataType::Object(_) => match v {
            Value::Object(_) => Ok(v),
            Value::Text(ref s) => match serde_json::from_str::<serde_json::Value>(s) {
                Ok(j @ serde_json::Value::Object(_)) => Ok(from_json(&j)),
                _ => Err(cannot(&v, to)),
            },
            _ => Err(cannot(&v, to)),
        },
        DataType::GeoPoint => geo_point(v, to),
        DataType::GeoShape => super::geo::to_shape(v),
        DataType::Array(inner) => match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(cast(item, inner)?);
                }
                Ok(Value::Array(out))
            }
            Value::Text(ref s) => match serde_json::from_str::<serde_json::Value>(s) {
                Ok(j @ serde_json::Value::Array(_)) => cast(from_json(&j), to),
                _ => Err(cannot(&v, to)),
            },
            _ => Err(cannot(&v, to)),
        },
    }
}

/// A point from `[lon, lat]` or WKT `POINT (lon lat)`.
fn geo_point(v: Value, to: &DataType) -> Result<Value> {
    let pair = |a: f64, b: f64| -> Result<Value> {
        if (-180.0..=180.0).contains(&a) && (-90.0..=90.0).contains(&b) {
            Ok(Value::Array(vec![Value::Float(a), Value::Float(b)]))
        } else {
            Err(Error::Cast(format!(
                "Cannot convert [{a}, {b}] to geo_point: coordinates out of range"
            )))
        }
    };
    match &v {
        Value::Array(items) if items.len() == 2 => match (items[0].as_f64(), items[1].as_f64()) {
            (Some(a), Some(b)) => pair(a, b),
            _ => Err(cannot(&v, to)),
        },
        Value::Text(s) => {
            let t = s.trim();
            let inner = t
                .get(..5)
                .filter(|p| p.eq_ignore_ascii_case("point"))
                .and_then(|_| t[5..].trim().strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'));
            let nums: Vec<f64> = inner
                .map(|r| {
                    r.split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            match nums.as_slice() {
                [a, b] => pair(*a, *b),
                _ => Err(cannot(&v, to)),
            }
        }
        _ => Err(cannot(&v, to)),
    }
}

/// Formats a typed value as text for display in messages and text casts of timestamps.
pub fn display_typed(v: &Value, ty: &DataType) -> String {
    match (v, ty) {
        (Value::Int(ms), DataType::Timestamp { tz }) => format_timestamp(*ms, *tz),
        _ => text_of(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_skip_the_cast_are_those_it_would_return_unchanged() {
        let values = [
            Value::Int(7),
            Value::Int(70_000),
            Value::Int(5_000_000_000),
            Value::Int(-1),
            Value::Float(1.5),
            Value::Text("x".into()),
            Value::Text("7".into()),
            Value::Bool(true),
        ];
        let types = [
            DataType::SmallInt,
            DataType::Integer,
            DataType::BigInt,
            DataType::Real,
            DataType::Double,
            DataType::Text,
            DataType::Boolean,
            DataType::Timestamp { tz: false },
            DataType::Timestamp { tz: true },
        ];
        let mut skipped = 0;
        for v in &values {
            for ty in &types {
                if is_unchanged_by_cast(v, ty) {
                    skipped += 1;
                    assert_eq!(cast(v.clone(), ty).as_ref(), Ok(v), "{v:?} as {ty:?}");
                }
            }
        }
        assert_eq!(skipped, 21);
    }

    #[test]
    fn casts_between_scalars() {
        assert_eq!(
            cast(Value::from("42"), &DataType::Integer).unwrap(),
            Value::Int(42)
        );
        assert_eq!(
            cast(Value::Float(1.5), &DataType::Integer).unwrap(),
            Value::Int(2)
        );
        assert_eq!(
            cast(Value::Int(1), &DataType::Text).unwrap(),
            Value::from("1")
        );
        assert_eq!(
            cast(Value::from("yes"), &DataType::Boolean).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            cast(Value::from("1970-01-02"), &DataType::Timestamp { tz: true }).unwrap(),
            Value::Int(86_400_000)
        );
    }

    #[test]
    fn refuses_values_that_do_not_fit() {
        let e = cast(Value::from("abc"), &DataType::Integer).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SQLParseException[Cannot cast `'abc'` of type `text` to type `integer`]"
        );
        assert!(cast(Value::Int(1 << 40), &DataType::Integer).is_err());
        assert!(cast(Value::Int(70000), &DataType::SmallInt).is_err());
    }
}
