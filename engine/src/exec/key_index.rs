//! The build side of a hash join: its rows' positions indexed by their key
//! values, laid out so that a probe touches little memory.
//!
//! A probe of a large join is bound by cache misses, not by arithmetic: a
//! map from owned keys to lists of rows costs a miss for the table, one for
//! the key's heap and one for the list's. Here the table holds only each
//! key's first row position (4 bytes a slot, its hash's top bits in
//! hashbrown's control bytes), the keys lie in one flat array by row
//! position, and rows sharing a key are chained through a second array.
//! Keys whose parts are all integers (integer, timestamp and similar
//! columns: nearly every join key) are stored as `i64`s, without a
//! [`Value`]'s tag or heap.
//!
//! Equality is [`Value`]'s, as `=` has it, and a NULL part matches nothing:
//! an integer key part equals a float probe part when `Value::total_cmp`
//! says so, and hashes alike because both hash as `f64` bits, as
//! [`Value`]'s own `Hash` does.

use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use crate::breaker::{HeapSize, LocalReservation};
use crate::error::{Error, Result};
use crate::expr::{EvalCtx, Expr};
use crate::types::{Row, Value};

/// The end of a chain of rows with one key.
const END: u32 = u32::MAX;

/// A join's build side, by key (see the module notes).
pub(super) struct KeyIndex {
    /// Each distinct key's first row position.
    table: HashTable<u32>,
    /// Per row position, the next row with its key, or [`END`].
    next: Vec<u32>,
    keys: KeyStore,
    width: usize,
    hasher: FixedState,
}

/// The build rows' keys, `width` parts per row position (a row with a
/// NULL part has placeholder parts and is in no chain).
enum KeyStore {
    Ints(Vec<i64>),
    Values(Vec<Value>),
}

impl KeyIndex {
    /// Indexes `rows` by the key `exprs` give for each, accounting what it
    /// holds on `memory`.
    pub(super) fn build(
        rows: &[Row],
        exprs: &[Expr],
        ctx: &EvalCtx,
        memory: &mut LocalReservation,
    ) -> Result<KeyIndex> {
        let width = exprs.len();
        if rows.len() >= END as usize {
            return Err(Error::Unsupported(format!(
                "a hash join's build side of {} rows",
                rows.len()
            )));
        }
        let mut values = Vec::with_capacity(rows.len() * width);
        let mut present = Vec::with_capacity(rows.len());
        let (mut all_ints, mut held) = (true, 0);
        for row in rows {
            let start = values.len();
            key_or_nulls(exprs, row, ctx, &mut values)?;
            let key = &values[start..];
            let has_key = !key.iter().any(Value::is_null);
            all_ints &= !has_key || key.iter().all(|v| matches!(v, Value::Int(_)));
            present.push(has_key);
            let bytes = key.heap_size() - size_of::<Vec<Value>>();
            memory.add(bytes)?;
            held += bytes;
        }
        let keys = if all_ints {
            let ints: Vec<i64> = values.iter().map(|v| v.as_int().unwrap_or(0)).collect();
            drop(values);
            memory.sub(held - ints.len() * size_of::<i64>());
            KeyStore::Ints(ints)
        } else {
            KeyStore::Values(values)
        };
        let hasher = FixedState::default();
        let mut table = HashTable::new();
        let mut next = vec![END; rows.len()];
        memory.add(rows.len() * (size_of::<u32>() * 2 + 1))?;
        // Inserted last to first, each at its chain's head: a chain then
        // lists its rows in their order.
        for at in (0..rows.len()).rev().filter(|&at| present[at]) {
            let hash = index_hash(&keys, &hasher, at * width, width);
            let entry = table.entry(
                hash,
                |&other: &u32| keys.same(other as usize * width, at * width, width),
                |&other: &u32| index_hash(&keys, &hasher, other as usize * width, width),
            );
            match entry {
                Entry::Occupied(mut e) => {
                    next[at] = *e.get();
                    *e.get_mut() = at as u32;
                }
                Entry::Vacant(e) => {
                    e.insert(at as u32);
                }
            }
        }
        Ok(KeyIndex {
            table,
            next,
            keys,
            width,
            hasher,
        })
    }

    /// For each of a batch of probe keys (`keys` flat, a key's parts
    /// together), the head of its chain of matches, for [`KeyIndex::chain`].
    ///
    /// Looking up a batch in a loop of its own lets the processor overlap
    /// the lookups' cache misses, which one lookup per probe row, between
    /// evaluating its key and joining its matches, does not.
    pub(super) fn heads(&self, keys: &[Value], out: &mut Vec<u32>) {
        out.clear();
        out.extend(
            keys.chunks_exact(self.width.max(1))
                .map(|key| self.find(key).unwrap_or(END)),
        );
    }

    /// The build rows from a chain's head on, by position.
    pub(super) fn chain(&self, head: u32) -> Chain<'_> {
        Chain {
            next: &self.next,
            at: head,
        }
    }

    fn find(&self, key: &[Value]) -> Option<u32> {
        let width = self.width;
        // NULL equals nothing (though `total_cmp` orders it equal to itself).
        if key.iter().any(Value::is_null) {
            return None;
        }
        match &self.keys {
            KeyStore::Ints(ints) => {
                let mut h = self.hasher.build_hasher();
                for v in key {
                    match v {
                        Value::Int(i) => h.write_u64(int_bits(*i)),
                        Value::Float(f) => h.write_u64(float_bits(*f)),
                        // No other type equals an integer.
                        _ => return None,
                    }
                }
                let hash = h.finish();
                self.table
                    .find(hash, |&at| {
                        let stored = &ints[at as usize * width..][..width];
                        stored.iter().zip(key).all(|(i, v)| match v {
                            Value::Int(j) => i == j,
                            other => Value::Int(*i) == *other,
                        })
                    })
                    .copied()
            }
            KeyStore::Values(values) => {
                let hash = hash_values(&self.hasher, key);
                self.table
                    .find(hash, |&at| &values[at as usize * width..][..width] == key)
                    .copied()
            }
        }
    }
}

/// The hash of the key stored from `start`: as [`KeyIndex::find`] hashes
/// a probe's.
fn index_hash(keys: &KeyStore, hasher: &FixedState, start: usize, width: usize) -> u64 {
    match keys {
        KeyStore::Ints(ints) => {
            let mut h = hasher.build_hasher();
            ints[start..start + width]
                .iter()
                .for_each(|i| h.write_u64(int_bits(*i)));
            h.finish()
        }
        KeyStore::Values(values) => hash_values(hasher, &values[start..start + width]),
    }
}

/// The hash of a key of any values.
fn hash_values(hasher: &FixedState, key: &[Value]) -> u64 {
    let mut h = hasher.build_hasher();
    key.iter().for_each(|v| v.hash(&mut h));
    h.finish()
}

/// An integer's bits as [`Value`]'s `Hash` takes them: as the float it
/// equals, so that `1` and `1.0` meet.
fn int_bits(i: i64) -> u64 {
    (i as f64).to_bits()
}

/// A float's bits as [`Value`]'s `Hash` takes them (`-0.0` as `0.0`).
fn float_bits(f: f64) -> u64 {
    if f == 0.0 { 0.0f64 } else { f }.to_bits()
}

impl KeyStore {
    fn same(&self, a: usize, b: usize, width: usize) -> bool {
        match self {
            KeyStore::Ints(ints) => ints[a..a + width] == ints[b..b + width],
            KeyStore::Values(values) => values[a..a + width] == values[b..b + width],
        }
    }
}

/// The build rows with one key, by position.
pub(super) struct Chain<'a> {
    next: &'a [u32],
    at: u32,
}

impl Iterator for Chain<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.at == END {
            return None;
        }
        let at = self.at as usize;
        self.at = self.next[at];
        Some(at)
    }
}

/// A side's key for a row, `None` when a part is NULL (it matches nothing).
pub(super) fn key_of(exprs: &[Expr], row: &[Value], ctx: &EvalCtx) -> Result<Option<Vec<Value>>> {
    let mut key = Vec::with_capacity(exprs.len());
    Ok(key_into(exprs, row, ctx, &mut key)?.then_some(key))
}

/// Appends a row's key to `out`, all NULLs when a part is NULL (it matches
/// nothing, and keys in a batch keep their width).
pub(super) fn key_or_nulls(
    exprs: &[Expr],
    row: &[Value],
    ctx: &EvalCtx,
    out: &mut Vec<Value>,
) -> Result<()> {
    let start = out.len();
    if !key_into(exprs, row, ctx, out)? {
        out.truncate(start);
        out.resize(start + exprs.len(), Value::Null);
    }
    Ok(())
}

/// Appends a row's key to `out`; `false` (with `out` partly written) when a
/// part is NULL, which matches nothing.
fn key_into(exprs: &[Expr], row: &[Value], ctx: &EvalCtx, out: &mut Vec<Value>) -> Result<bool> {
    for e in exprs {
        let v = e.eval(row, ctx)?;
        if v.is_null() {
            return Ok(false);
        }
        out.push(v);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::DataType;

    fn index(rows: &[Row]) -> KeyIndex {
        let ctx = EvalCtx::new(vec![]);
        let mut memory = LocalReservation::new(&ctx.memory, "test");
        let key = Expr::Column(0, DataType::Undefined);
        KeyIndex::build(rows, &[key], &ctx, &mut memory).expect("build")
    }

    fn found(index: &KeyIndex, key: Value) -> Vec<usize> {
        let mut heads = Vec::new();
        index.heads(&[Value::Int(1), key, Value::Null], &mut heads);
        assert_eq!(heads[2], END, "a NULL key matches nothing");
        index.chain(heads[1]).collect()
    }

    #[test]
    fn integer_keys_chain_duplicates_in_order_and_match_equal_floats() {
        let rows: Vec<Row> = [1, 2, 1, 3, 1]
            .into_iter()
            .map(|i| vec![Value::Int(i)])
            .chain([vec![Value::Null]])
            .collect();
        let index = index(&rows);
        assert!(matches!(index.keys, KeyStore::Ints(_)));
        assert_eq!(found(&index, Value::Int(1)), [0, 2, 4]);
        assert_eq!(found(&index, Value::Float(1.0)), [0, 2, 4]);
        assert_eq!(found(&index, Value::Float(1.5)), Vec::<usize>::new());
        assert_eq!(found(&index, Value::Int(4)), Vec::<usize>::new());
        assert_eq!(found(&index, Value::Text("1".into())), Vec::<usize>::new());
    }

    #[test]
    fn mixed_keys_compare_as_values() {
        let rows: Vec<Row> = vec![
            vec![Value::Text("a".into())],
            vec![Value::Int(2)],
            vec![Value::Text("a".into())],
            vec![Value::Float(2.0)],
        ];
        let index = index(&rows);
        assert!(matches!(index.keys, KeyStore::Values(_)));
        assert_eq!(found(&index, Value::Text("a".into())), [0, 2]);
        assert_eq!(found(&index, Value::Int(2)), [1, 3]);
        assert_eq!(found(&index, Value::Float(2.0)), [1, 3]);
        assert_eq!(found(&index, Value::Text("b".into())), Vec::<usize>::new());
    }
}
