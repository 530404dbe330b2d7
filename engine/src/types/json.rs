//! Conversions between [`Value`] and JSON: request arguments in, result rows
//! out, and the stored `_source` of each row.

use serde_json::{Map, Number, Value as Json};

use super::{DataType, Object, Value, value::format_f32};

/// Converts a JSON value (request argument, stored source) into a [`Value`].
pub fn from_json(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => match n.as_u64() {
                Some(u) => Value::Float(u as f64),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
        },
        Json::String(s) => Value::Text(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(from_json).collect()),
        Json::Object(o) => Value::Object(Box::new(
            o.iter().map(|(k, v)| (k.into(), from_json(v))).collect(),
        )),
    }
}

/// Converts a value into JSON without type information.
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::Number((*i).into()),
        Value::Float(f) => float_json(*f),
        Value::Text(s) => Json::String(s.clone()),
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        Value::Object(o) => Json::Object(object_json(o, None)),
    }
}

fn object_json(o: &Object, ty: Option<&super::ObjectType>) -> Map<String, Json> {
    o.iter()
        .map(|(k, v)| {
            let j = match ty.and_then(|t| t.field(k)) {
                Some(ft) => to_json_typed(v, ft),
                None => to_json(v),
            };
            (k.to_string(), j)
        })
        .collect()
}

fn float_json(f: f64) -> Json {
    match Number::from_f64(f) {
        Some(n) => Json::Number(n),
        // CrateDB renders non-finite doubles as strings in JSON.
        None => Json::String(super::value::format_f64(f)),
    }
}

/// Converts a value of a declared type into JSON the way CrateDB serialises it:
/// `real` with float precision, timestamps as epoch milliseconds.
pub fn to_json_typed(v: &Value, ty: &DataType) -> Json {
    match (v, ty) {
        (Value::Float(f), DataType::Real) => {
            match format_f32(*f)
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
            {
                Some(n) => Json::Number(n),
                None => float_json(*f),
            }
        }
        (Value::Int(i), DataType::Real | DataType::Double) => float_json(*i as f64),
        (Value::Array(a), DataType::Array(inner)) => {
            Json::Array(a.iter().map(|x| to_json_typed(x, inner)).collect())
        }
        (Value::Object(o), DataType::Object(t)) => Json::Object(object_json(o, Some(t))),
        _ => to_json(v),
    }
}

/// The type a dynamically added column gets from its first value.
pub fn infer_type(v: &Value) -> DataType {
    match v {
        Value::Null => DataType::Undefined,
        Value::Bool(_) => DataType::Boolean,
        Value::Int(_) => DataType::BigInt,
        Value::Float(_) => DataType::Double,
        Value::Text(_) => DataType::Text,
        Value::Array(a) => DataType::Array(Box::new(
            a.iter()
                .map(infer_type)
                .find(|t| *t != DataType::Undefined)
                .unwrap_or(DataType::Undefined),
        )),
        Value::Object(_) => DataType::object(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_json() {
        let j = json!({"a": 1, "b": [1.5, "x", null], "c": {"d": true}});
        assert_eq!(to_json(&from_json(&j)), j);
    }

    #[test]
    fn real_values_keep_float_precision() {
        assert_eq!(
            to_json_typed(&Value::Float(1.1f32 as f64), &DataType::Real),
            json!(1.1)
        );
    }
}

/// Serialises a value straight to JSON (no intermediate `serde_json::Value`).
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            // JSON has no NaN or infinity; a binary encoding keeps them.
            Value::Float(f) if f.is_finite() || !s.is_human_readable() => s.serialize_f64(*f),
            Value::Float(f) => s.serialize_str(&super::value::format_f64(*f)),
            Value::Text(t) => s.serialize_str(t),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o.iter() {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Parses JSON straight into a value (no intermediate `serde_json::Value`).
impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                serde::Deserialize::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
                Ok(Value::Int(i))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
                Ok(match i64::try_from(u) {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::Float(u as f64),
                })
            }
            fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
                Ok(Value::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::Text(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Value, E> {
                Ok(Value::Text(s))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Value::Array(out))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Value, A::Error> {
                let mut out = Object::with_capacity_and_hasher(
                    map.size_hint().unwrap_or(0).min(4096),
                    Default::default(),
                );
                while let Some((k, v)) = map.next_entry::<super::Key, Value>()? {
                    out.insert(k, v);
                }
                Ok(Value::Object(Box::new(out)))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod serde_tests {
    use super::*;

    #[test]
    fn direct_serde_matches_the_tree_conversion() {
        let text = r#"{"a":1,"b":[1.5,"x",null,true],"c":{"d":-7},"e":18446744073709551615}"#;
        let direct: Value = serde_json::from_str(text).unwrap();
        let tree = from_json(&serde_json::from_str(text).unwrap());
        assert_eq!(direct, tree);
        assert_eq!(
            serde_json::to_string(&direct).unwrap(),
            to_json(&direct).to_string()
        );
    }
}
