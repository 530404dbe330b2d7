//! Row routing: a row's `_id` and the shard it lives in.
//!
//! A row's `_id` is its primary key (or a random id when the table has
//! none). Its shard comes from CrateDB's routing function over the routing
//! value, which is the CLUSTERED BY column, else the `_id`. The function is
//! fixed per table ([`RoutingHash`]), apart from the primary-key index's
//! hash, so that neither can move rows by changing the other.

use base64::Engine;
use std::borrow::Cow;

use crate::catalog::{RoutingHash, TableInfo};
use crate::error::{Error, Result};
use crate::types::cast::text_of;
use crate::types::{Object, Value};

/// A random 20-character URL-safe id (seeded by the simulator in simulation).
pub fn random_id() -> String {
    let mut bytes = [0u8; 15];
    bytes[..8].copy_from_slice(&crate::runtime::random_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&crate::runtime::random_u64().to_le_bytes()[..7]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The `_id` of a row: the primary key's value(s), or a fresh random id.
pub fn doc_id(table: &TableInfo, row: &Object) -> Result<String> {
    match table.primary_key.as_slice() {
        [] => Ok(random_id()),
        [pk] => match row.get(pk.as_str()) {
            None | Some(Value::Null) => {
                Err(Error::Parse("Primary key value must not be NULL".into()))
            }
            Some(v) => Ok(text_of(v)),
        },
        pks => {
            // A composite key's id is the JSON array of its values, e.g.
            // `[42,1735689600000]`, written exactly as serde_json writes it.
            let mut id = String::with_capacity(8 + 16 * pks.len());
            id.push('[');
            for (i, pk) in pks.iter().enumerate() {
                if i > 0 {
                    id.push(',');
                }
                match row.get(pk.as_str()) {
                    None | Some(Value::Null) => {
                        return Err(Error::Parse("Primary key value must not be NULL".into()));
                    }
                    // Integer keys (and timestamps) are the common case.
                    Some(Value::Int(n)) => id.push_str(itoa::Buffer::new().format(*n)),
                    Some(v) => id.push_str(&serde_json::to_string(v).map_err(Error::internal)?),
                }
            }
            id.push(']');
            Ok(id)
        }
    }
}

/// The routing value of a row.
pub fn routing_value<'a>(table: &TableInfo, row: &Object, id: &'a str) -> Result<Cow<'a, str>> {
    match &table.clustered_by {
        Some(col) if !table.primary_key.iter().any(|p| p == col) || table.primary_key.len() > 1 => {
            match row.get(col.as_str()) {
                None | Some(Value::Null) => {
                    Err(Error::Parse("Clustered by value must not be NULL".into()))
                }
                Some(v) => Ok(Cow::Owned(text_of(v))),
            }
        }
        _ => Ok(Cow::Borrowed(id)),
    }
}

/// The shard of `table` a routing value maps to.
pub fn shard_for(table: &TableInfo, routing: &str) -> u32 {
    let shards = table.num_shards.max(1);
    match table.routing_hash {
        RoutingHash::Fnv => (crate::storage::pk::id_hash(routing) % shards as u64) as u32,
        RoutingHash::Murmur3 => {
            // Elasticsearch 7's routing (CrateDB's): the hash picks one of
            // `number_of_routing_shards` slots, and consecutive slots share a
            // shard, so that a shard can later be split in two.
            let slots = routing_num_shards(shards);
            (murmur3_routing(routing).rem_euclid(slots as i32) as u32) / (slots / shards)
        }
    }
}

/// CrateDB's default `number_of_routing_shards` for a table of `shards`
/// shards: the shard count doubled until splitting could reach 1,024 shards
/// (at least once).
fn routing_num_shards(shards: u32) -> u32 {
    let log2 = 32 - (shards - 1).leading_zeros();
    shards << 10u32.saturating_sub(log2).max(1)
}

/// CrateDB's routing hash (Elasticsearch's `Murmur3HashFunction.hash(String)`):
/// Murmur3 x86 32-bit, seed 0, over the UTF-16LE code units of the value,
/// read as a signed int.
fn murmur3_routing(routing: &str) -> i32 {
    // Routing values are short: encode on the stack, without allocating.
    let mut stack = [0u8; 128];
    let mut heap = Vec::new();
    let bytes: &mut [u8] = if routing.len() * 2 <= stack.len() {
        &mut stack
    } else {
        heap.resize(routing.len() * 2, 0);
        &mut heap
    };
    let mut len = 0;
    for unit in routing.encode_utf16() {
        bytes[len..len + 2].copy_from_slice(&unit.to_le_bytes());
        len += 2;
    }
    murmurhash32::murmurhash3_with_seed::<0>(&bytes[..len]) as i32
}

/// The state of a shard copy.
#[cfg(test)]
mod tests {
    use super::*;

    const PINNED_SHARDS: [u32; 6] = [0, 0, 0, 1, 1, 3];
    const PINNED_FNV_SHARDS: [u32; 6] = [0, 1, 0, 3, 0, 0];

    #[test]
    fn routing_uses_cratedbs_murmur3() {
        // Elasticsearch's Murmur3HashFunctionTests.testKnownValues.
        let known = [
            (0x5a0cb7c3_u32, "hell"),
            (0xd7c31989, "hello"),
            (0x22ab2984, "hello w"),
            (0xdf0ca123, "hello wo"),
            (0xe7744d61, "hello wor"),
            (0xe07db09c, "The quick brown fox jumps over the lazy dog"),
            (0x4e63d2ad, "The quick brown fox jumps over the lazy cog"),
        ];
        for (hash, value) in known {
            assert_eq!(murmur3_routing(value), hash as i32, "{value}");
        }
        assert_eq!(
            [1, 2, 3, 4, 5, 1000].map(routing_num_shards),
            [1024, 1024, 768, 1024, 640, 2000]
        );
        // CrateDB's documentation shows rows 1, 2 and 16 of a 2-shard table in
        // insert order: they share shard 0.
        let two = TableInfo::for_tests(&["id"], 2);
        assert_eq!(["1", "2", "16"].map(|id| shard_for(&two, id)), [0, 0, 0]);
        // The shard is the floor modulo (hashes are signed): pinned, since
        // changing it would move every row of every table.
        let table = TableInfo::for_tests(&["id"], 4);
        let shards: Vec<u32> = ["1", "2", "3", "42", "hello", "ü"]
            .iter()
            .map(|id| shard_for(&table, id))
            .collect();
        assert_eq!(shards, PINNED_SHARDS);
        let old = TableInfo {
            routing_hash: RoutingHash::Fnv,
            ..table
        };
        let shards: Vec<u32> = ["1", "2", "3", "42", "hello", "ü"]
            .iter()
            .map(|id| shard_for(&old, id))
            .collect();
        assert_eq!(shards, PINNED_FNV_SHARDS);
    }

    #[test]
    fn a_composite_id_is_the_json_array_of_its_key_values() {
        let table = TableInfo::for_tests(&["a", "b", "c"], 4);
        let values = [
            (
                Value::Int(-42),
                Value::Text("x\"y".into()),
                Value::Float(1.5),
            ),
            (Value::Int(i64::MAX), Value::Bool(true), Value::Int(0)),
        ];
        for (a, b, c) in values {
            let row: Object = [("a", a), ("b", b), ("c", c)]
                .into_iter()
                .map(|(k, v)| (k.into(), v))
                .collect();
            let expected = serde_json::to_string(&row.values().collect::<Vec<_>>()).unwrap();
            assert_eq!(doc_id(&table, &row).unwrap(), expected);
        }
        let mut row: Object = Object::default();
        row.insert("a".into(), Value::Int(1));
        assert!(doc_id(&table, &row).is_err());
    }
}
