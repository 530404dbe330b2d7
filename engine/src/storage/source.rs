//! The stored form of a row, its `_source`: a compact binary encoding.
//!
//! Every written row is encoded once, and the same bytes go into the
//! translog record and the segment's document store. Encoding used to be
//! JSON, and serialising it (mostly scanning strings for characters to
//! escape) was 4% of the server's CPU during a bulk load; this encoding
//! copies strings as they are, is smaller, so the store compresses less,
//! and keeps every float (JSON has no NaN or infinity).
//!
//! Layout: a version byte `0xB1`, then the row as an object body.
//!
//! | value  | encoding                                              |
//! |--------|-------------------------------------------------------|
//! | null   | `0`                                                   |
//! | false / true | `1` / `2`                                       |
//! | int    | `3`, zigzag LEB128                                    |
//! | float  | `4`, 8 bytes little-endian                            |
//! | text   | `5`, LEB128 length, UTF-8 bytes                       |
//! | array  | `6`, LEB128 count, values                             |
//! | object | `7`, object body: LEB128 count, then per entry a LEB128 key length, the key, the value |
//!
//! Rows written before this encoding existed are JSON objects, which always
//! start with `{`: [`parse_source`] reads both, so older data directories and
//! translogs still open.

use crate::types::{Key, Object, Value};

const VERSION_1: u8 = 0xB1;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const FLOAT: u8 = 4;
const TEXT: u8 = 5;
const ARRAY: u8 = 6;
const OBJECT: u8 = 7;

/// Nesting deeper than this is treated as corruption: encoded rows come from
/// parsed JSON, whose parser stops far earlier.
const MAX_DEPTH: usize = 512;

/// Encodes a row.
pub fn source_bytes(row: &Object) -> Vec<u8> {
    let mut out = Vec::new();
    write_source(&mut out, row);
    out
}

/// Appends a row's encoding to `out` (a buffer reused across rows saves
/// the reallocations of growing a fresh one per row).
pub fn write_source(out: &mut Vec<u8>, row: &Object) {
    out.push(VERSION_1);
    write_object(out, row);
}

/// Decodes a stored row, binary or (written by older versions) JSON. A
/// corrupt encoding reads as an empty row rather than failing the read.
pub fn parse_source(bytes: &[u8]) -> Object {
    match bytes.split_first() {
        Some((&VERSION_1, body)) => {
            let mut reader = Reader { bytes: body };
            reader.object(0).unwrap_or_default()
        }
        _ => serde_json::from_slice::<Object>(bytes).unwrap_or_default(),
    }
}

/// A stored row as compact JSON text (`_raw`).
pub fn source_json(row: &Object) -> String {
    // Serialising a map of plain values to a String cannot fail.
    serde_json::to_string(row).unwrap_or_default()
}

fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    write_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn write_object(out: &mut Vec<u8>, object: &Object) {
    write_varint(out, object.len() as u64);
    for (key, value) in object {
        write_str(out, key);
        write_value(out, value);
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Int(i) => {
            out.push(INT);
            write_varint(out, ((i << 1) ^ (i >> 63)) as u64);
        }
        Value::Float(f) => {
            out.push(FLOAT);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Text(s) => {
            out.push(TEXT);
            write_str(out, s);
        }
        Value::Array(items) => {
            out.push(ARRAY);
            write_varint(out, items.len() as u64);
            for item in items {
                write_value(out, item);
            }
        }
        Value::Object(object) => {
            out.push(OBJECT);
            write_object(out, object);
        }
    }
}

/// Reads an encoding front to back; every method returns `None` on
/// truncated or malformed input.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(n);
            }
        }
        None
    }

    /// A count of items that each take at least one byte, so a corrupt
    /// count cannot make a huge allocation.
    fn count(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?)
            .ok()
            .filter(|&n| n <= self.bytes.len())
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.varint()?).ok()?;
        if len > self.bytes.len() {
            return None;
        }
        let (s, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        std::str::from_utf8(s).ok()
    }

    fn object(&mut self, depth: usize) -> Option<Object> {
        let n = self.count()?;
        let mut object = Object::with_capacity_and_hasher(n, Default::default());
        for _ in 0..n {
            let key = Key::new(self.str()?);
            let value = self.value(depth)?;
            object.insert(key, value);
        }
        Some(object)
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        Some(match self.byte()? {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT => {
                let z = self.varint()?;
                Value::Int(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            FLOAT => {
                let (f, rest) = self.bytes.split_first_chunk::<8>()?;
                self.bytes = rest;
                Value::Float(f64::from_le_bytes(*f))
            }
            TEXT => Value::Text(self.str()?.to_string()),
            ARRAY => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            OBJECT => Value::Object(Box::new(self.object(depth + 1)?)),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            ".{0,20}".prop_map(Value::Text),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("[a-z_]{1,30}", inner), 0..6).prop_map(|entries| {
                    Value::Object(Box::new(
                        entries
                            .into_iter()
                            .map(|(k, v)| (Key::from(k), v))
                            .collect(),
                    ))
                }),
            ]
        })
    }

    fn row() -> impl Strategy<Value = Object> {
        proptest::collection::vec(("[a-z_]{1,30}", value()), 0..8).prop_map(|entries| {
            entries
                .into_iter()
                .map(|(k, v)| (Key::from(k), v))
                .collect()
        })
    }

    /// Equality that treats NaN as equal to itself, as the encoding does.
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
            }
            (Value::Object(x), Value::Object(y)) => same_row(x, y),
            _ => a == b,
        }
    }

    fn same_row(a: &Object, b: &Object) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
    }

    proptest! {
        #[test]
        fn rows_round_trip(row in row()) {
            let bytes = source_bytes(&row);
            prop_assert!(same_row(&parse_source(&bytes), &row));
        }

        #[test]
        fn truncated_or_corrupt_rows_never_panic(row in row(), cut in any::<prop::sample::Index>(), flip in any::<u8>()) {
            let mut bytes = source_bytes(&row);
            let at = cut.index(bytes.len());
            let _ = parse_source(&bytes[..at]);
            bytes[at] ^= flip;
            let _ = parse_source(&bytes);
        }
    }

    #[test]
    fn json_rows_of_older_versions_still_read() {
        let row = parse_source(br#"{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}"#);
        let mut bytes = Vec::new();
        write_source(&mut bytes, &row);
        assert_eq!(
            source_json(&parse_source(&bytes)),
            r#"{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}"#
        );
    }

    #[test]
    fn the_encoding_is_smaller_than_json() {
        let row = parse_source(
            br#"{"user_id":4583,"ts":1735689600000,"steps":2937,"device":"fitbit","note":"to known and the and be games problem"}"#,
        );
        let json = source_json(&row).len();
        let binary = source_bytes(&row).len();
        assert!(binary * 100 < json * 85, "{binary} bytes against {json}");
    }
}
