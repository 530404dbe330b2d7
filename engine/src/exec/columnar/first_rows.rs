//! The first rows of each window partition on a shard, chosen by their
//! fast-field columns.
//!
//! A query that keeps each partition's first rows (`WHERE rn <= n` over a
//! `row_number()`, see [`CollectMode::Rows`]'s `partition_by`) needs, of
//! most documents, only the partition and sort columns: only the winners'
//! rows are built. The scan reads those columns, keeps each partition's
//! best `n` document addresses with their sort keys, and hands them back for
//! the row path to fetch. Ties keep the order the documents were read in,
//! as the row path's stable sort does, so both choose the same rows.
//!
//! Taken when the partition key is one integer column, the sort keys are
//! integer, timestamp or floating-point columns and every output is a plain
//! column of the scan, with no join, bucket, MATCH, or filter left over
//! after the index.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use hashbrown::HashMap;
use tantivy::query::Weight;

use super::accs::{ValKind, dense_span, first, scan_column, value_columns};
use crate::breaker::{HeapSize, LocalReservation};
use crate::error::Result;
use crate::exec::pushdown::for_each_doc;
use crate::exec::rows::compare_rows;
use crate::expr::{EvalCtx, Expr};
use crate::planner::SortKey;
use crate::request::{CollectMode, CollectSpec};
use crate::storage::Snapshot;
use crate::types::{DataType, Row, Value};

/// A document that is among its partition's first rows.
#[derive(Debug, Clone, Copy)]
pub struct Winner {
    /// Its segment's position in the snapshot.
    pub segment: usize,
    pub doc: u32,
    pub score: f32,
}

/// Each partition's first documents, in the window's order; `None` when
/// the collect phase does not qualify (see the module notes).
pub fn first_rows(
    snapshot: &Snapshot,
    spec: &CollectSpec,
    weight: Option<&dyn Weight>,
    residual: Option<&Expr>,
    ctx: &EvalCtx,
) -> Result<Option<Vec<Vec<Winner>>>> {
    let CollectMode::Rows {
        outputs,
        order_by,
        limit: Some(limit),
        partition_by,
    } = &spec.mode
    else {
        return Ok(None);
    };
    if residual.is_some() || spec.join.is_some() || spec.bucket.is_some() {
        return Ok(None);
    }
    // Only the winners' outputs are computed: plain columns, so that no
    // row's expression goes unevaluated (its error unseen).
    if !outputs.iter().all(|o| matches!(o, Expr::Column(..))) {
        return Ok(None);
    }
    let column = |output: usize| -> Option<(String, DataType)> {
        match outputs.get(output)? {
            Expr::Column(i, _) => scan_column(*i, &spec.scan),
            _ => None,
        }
    };
    let [partition] = partition_by.as_slice() else {
        return Ok(None);
    };
    let Some((partition, ty)) = column(*partition) else {
        return Ok(None);
    };
    if !ty.is_integral() {
        return Ok(None);
    }
    let mut sort = Vec::with_capacity(order_by.len());
    for k in order_by {
        let Some(read) = column(k.index).and_then(|(path, ty)| Some((path, ValKind::of(&ty)?)))
        else {
            return Ok(None);
        };
        sort.push(Some(read));
    }
    // The row path reads an integer column stored unsigned too; this one
    // does not, so such a shard takes the row path.
    for view in &snapshot.segments {
        let ff = view.segment.reader.fast_fields();
        let ints = sort
            .iter()
            .flatten()
            .filter(|(_, kind)| *kind == ValKind::Int);
        for path in std::iter::once(&partition).chain(ints.map(|(path, _)| path)) {
            if ff.column_opt::<i64>(path)?.is_none() && ff.column_opt::<u64>(path)?.is_some() {
                return Ok(None);
            }
        }
    }
    // The sort keys over the key buffer, which holds the sort columns only.
    let keys: Vec<SortKey> = order_by
        .iter()
        .enumerate()
        .map(|(i, k)| SortKey { index: i, ..*k })
        .collect();
    let mut tops = Tops::new(*limit, &keys, ctx);
    tops.dense_over(snapshot, &partition)?;
    let mut key = Vec::with_capacity(sort.len());
    for (segment, view) in snapshot.segments.iter().enumerate() {
        let ff = view.segment.reader.fast_fields();
        let part = ff.column_opt::<i64>(&partition)?;
        let readers = value_columns(&view.segment, &sort)?;
        for_each_doc(&view.segment, &view.alive, weight, |doc, score| {
            key.clear();
            key.extend(readers.iter().map(|r| r.value(doc)));
            let slot = tops.slot(part.as_ref().and_then(|c| first(c, doc)))?;
            tops.offer(
                slot,
                &key,
                Winner {
                    segment,
                    doc,
                    score,
                },
            )?;
            Ok(true)
        })?;
    }
    Ok(Some(tops.into_winners()))
}

/// The best documents so far, per partition.
struct Tops<'a> {
    limit: usize,
    keys: &'a [SortKey],
    /// Per partition, the worst on top: a candidate replaces it or is
    /// dropped, in O(log n) whatever order the rows come in.
    best: Vec<BinaryHeap<Candidate<'a>>>,
    /// With a limit of 1 (`rn = 1`, the usual case), each partition's
    /// best instead, kept flat.
    single: Option<Single>,
    /// Documents offered so far: a tie goes to the one read first.
    read: u64,
    /// Partition key - min -> slot + 1 (0: none yet), for keys in a small range.
    dense: Option<(i64, Vec<u32>)>,
    sparse: HashMap<i64, usize>,
    null: Option<usize>,
    memory: LocalReservation<'a>,
}

/// A document with its sort key and when it was read, ordered as the
/// window orders rows (ties by reading order).
struct Candidate<'a> {
    key: Row,
    read: u64,
    doc: Winner,
    keys: &'a [SortKey],
}

impl Ord for Candidate<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_rows(&self.key, &other.key, self.keys).then(self.read.cmp(&other.read))
    }
}

impl PartialOrd for Candidate<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate<'_> {}

/// Each partition's one best document and its sort key, the keys in one
/// array of `width` values per partition: a candidate is compared where
/// the key lies and replaces it in place. (A heap per partition cost a
/// cache miss on the heap and one on its key's allocation for every
/// document read, and an allocation for every new best.)
struct Single {
    width: usize,
    keys: Vec<Value>,
    docs: Vec<Option<Winner>>,
}

/// What values hold beyond their inline size (a text's bytes).
fn beyond_inline(values: &[Value]) -> usize {
    values
        .iter()
        .map(|v| v.heap_size() - size_of::<Value>())
        .sum()
}

/// What a partition takes besides its rows.
const PARTITION_OVERHEAD: usize = 64;

impl<'a> Tops<'a> {
    fn new(limit: usize, keys: &'a [SortKey], ctx: &'a EvalCtx) -> Tops<'a> {
        Tops {
            limit,
            keys,
            best: Vec::new(),
            single: (limit == 1).then(|| Single {
                width: keys.len(),
                keys: Vec::new(),
                docs: Vec::new(),
            }),
            read: 0,
            dense: None,
            sparse: HashMap::new(),
            null: None,
            memory: LocalReservation::new(&ctx.memory, "collect"),
        }
    }

    /// Dense slots when every segment's partition keys fall in a small range.
    fn dense_over(&mut self, snapshot: &Snapshot, partition: &str) -> Result<()> {
        let mut ranges = Vec::with_capacity(snapshot.segments.len());
        for view in &snapshot.segments {
            let column = view
                .segment
                .reader
                .fast_fields()
                .column_opt::<i64>(partition)?;
            if let Some(c) = column {
                ranges.push((c.min_value(), c.max_value()));
            }
        }
        if let Some((lo, span)) = dense_span(ranges) {
            self.memory.add(span * size_of::<u32>())?;
            self.dense = Some((lo, vec![0; span]));
        }
        Ok(())
    }

    /// The slot of a partition key, added if new.
    #[inline]
    fn slot(&mut self, key: Option<i64>) -> Result<usize> {
        let next = match &self.single {
            Some(single) => single.docs.len(),
            None => self.best.len(),
        };
        let slot = match key {
            None => *self.null.get_or_insert(next),
            Some(k) => {
                let dense = self.dense.as_mut().and_then(|(lo, slots)| {
                    slots.get_mut(usize::try_from(k.checked_sub(*lo)?).ok()?)
                });
                match dense {
                    Some(at) => {
                        if *at == 0 {
                            *at = next as u32 + 1;
                        }
                        *at as usize - 1
                    }
                    None => *self.sparse.entry(k).or_insert(next),
                }
            }
        };
        if slot == next {
            self.memory.add(PARTITION_OVERHEAD)?;
            match &mut self.single {
                Some(single) => {
                    self.memory.add(single.width * size_of::<Value>())?;
                    let width = single.width;
                    single.keys.resize(single.keys.len() + width, Value::Null);
                    single.docs.push(None);
                }
                None => self.best.push(BinaryHeap::new()),
            }
        }
        Ok(slot)
    }

    /// Keeps `doc` if it is among its partition's first `limit` so far:
    /// it sorts before the worst kept (a tie loses, being read later).
    #[inline]
    fn offer(&mut self, slot: usize, key: &[Value], doc: Winner) -> Result<()> {
        self.read += 1;
        let (limit, keys) = (self.limit, self.keys);
        if let Some(single) = &mut self.single {
            let stored = &mut single.keys[slot * single.width..][..single.width];
            let kept = &mut single.docs[slot];
            if kept.is_some() && !compare_rows(key, stored, keys).is_lt() {
                return Ok(());
            }
            self.memory.add(beyond_inline(key))?;
            self.memory.sub(beyond_inline(stored));
            stored.clone_from_slice(key);
            *kept = Some(doc);
            return Ok(());
        }
        let best = &mut self.best[slot];
        if best.len() == limit {
            match best.peek() {
                Some(worst) if compare_rows(key, &worst.key, keys).is_lt() => {}
                _ => return Ok(()),
            }
            if let Some(dropped) = best.pop() {
                self.memory.sub(dropped.key.as_slice().heap_size());
            }
        }
        let key = key.to_vec();
        self.memory.add(key.as_slice().heap_size())?;
        best.push(Candidate {
            key,
            read: self.read,
            doc,
            keys,
        });
        Ok(())
    }

    /// Each partition's winners, best first.
    fn into_winners(self) -> Vec<Vec<Winner>> {
        if let Some(single) = self.single {
            return single.docs.into_iter().map(Vec::from_iter).collect();
        }
        self.best
            .into_iter()
            .map(|b| b.into_sorted_vec().into_iter().map(|c| c.doc).collect())
            .collect()
    }
}
