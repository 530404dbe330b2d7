//! The read requests' parts: a collect phase and the partial result it
//! gives back.
//!
//! A [`CollectSpec`] says which columns to read, which rows to keep and what
//! to produce: projected rows (with a local top-N when the query has ORDER
//! BY and LIMIT) or partial aggregation states per group. The handler merges
//! the [`Partial`]s of every shard.

use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::expr::{AggCall, AggState, EvalCtx, Expr};
use crate::planner::{ScanColumn, SortKey};
use crate::types::{Row, Value};

/// What to produce from the collected rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CollectMode {
    /// Projected rows; sorted and cut to `limit` per shard when ordered.
    Rows {
        outputs: Vec<Expr>,
        order_by: Vec<SortKey>,
        limit: Option<usize>,
        /// When not empty, `order_by` and `limit` apply within each group
        /// of rows with equal outputs at these positions (the first rows of
        /// each window partition).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        partition_by: Vec<usize>,
    },
    /// Partial aggregation: one state vector per group key.
    Groups { keys: Vec<Expr>, aggs: Vec<AggCall> },
}

/// A collect phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectSpec {
    pub scan: Vec<ScanColumn>,
    pub filter: Option<Expr>,
    pub mode: CollectMode,
    /// A join with a small relation sent along (a broadcast join): each
    /// scanned row is joined with it before `mode` sees the joined row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<Box<ShardJoin>>,
    /// Only the rows of one bucket of a repartitioned join (projected
    /// rows whose key falls into it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<Bucket>,
}

/// One of `count` buckets of a repartitioned join's rows, by the hash of
/// their key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bucket {
    /// The key, over the projected row.
    pub keys: Vec<Expr>,
    pub index: u32,
    pub count: u32,
    /// The join's side the rows are for (0 left, 1 right): the two sides
    /// of a self-join read the same rows, each its own split of them.
    #[serde(default)]
    pub side: u8,
}

/// The seed of [`Bucket::of`]'s hash.
const BUCKET_SEED: u64 = 0x5348_4f41_4c42_4b54;

impl Bucket {
    /// The bucket a row belongs to. A key with a NULL part matches nothing
    /// but must still be seen exactly once (the preserved side of an outer
    /// join keeps it): it belongs to bucket 0.
    pub fn of(&self, row: &[Value], ctx: &EvalCtx) -> Result<u32> {
        use std::hash::BuildHasher;
        // A fixed seed: every node computes the same bucket for the same
        // key. Its own seed: a part's key index hashes the same keys, and
        // its table should not see hashes that all share this remainder.
        let mut hasher = foldhash::fast::FixedState::with_seed(BUCKET_SEED).build_hasher();
        for k in &self.keys {
            // A key that is a column is hashed where it lies.
            let evaluated;
            let v = match k {
                Expr::Column(i, _) => row.get(*i).unwrap_or(&Value::Null),
                _ => {
                    evaluated = k.eval(row, ctx)?;
                    &evaluated
                }
            };
            if v.is_null() {
                return Ok(0);
            }
            v.hash(&mut hasher);
        }
        Ok((hasher.finish() % u64::from(self.count.max(1))) as u32)
    }

    /// Whether the row belongs to this bucket.
    pub fn holds(&self, row: &[Value], ctx: &EvalCtx) -> Result<bool> {
        Ok(self.of(row, ctx)? == self.index)
    }
}

/// The small side of a join, sent to every shard of the large side
/// (CrateDB's and Elasticsearch's broadcast of a small relation): the
/// shard joins its rows with it and aggregates or projects the joined rows
/// itself, so only partial results travel back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardJoin {
    /// Whether the shard's rows are the left side of the joined row.
    pub probe_left: bool,
    /// Whether a shard row without a partner is kept, with NULLs (the
    /// preserved side of an outer join).
    pub keep_unmatched: bool,
    /// The shard's side of the joined row, from its scan row, when it is
    /// not the scan row as it is (a join input reading only some of the
    /// columns its filter needed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probe_outputs: Vec<Expr>,
    /// The key of a shard's row (over its side of the joined row).
    pub probe_keys: Vec<Expr>,
    /// The small side's rows, grouped by their key.
    pub build: Vec<(Vec<Value>, Vec<Row>)>,
    /// How many columns the small side's rows have.
    pub build_width: usize,
    /// The rest of the join condition, over the joined row.
    pub residual: Option<Expr>,
    /// The query's conditions above the join, over the joined row.
    pub filter: Option<Expr>,
}

/// A shard's (or source's) partial result.
#[derive(Debug, Serialize, Deserialize)]
pub enum Partial {
    Rows(Vec<Row>),
    Groups(Groups),
}

impl Partial {
    /// Rows or groups held.
    pub fn len(&self) -> usize {
        match self {
            Partial::Rows(r) => r.len(),
            Partial::Groups(g) => g.len(),
        }
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Partial aggregation results, flat: `width` key values and `naggs` states
/// per group (no allocation per group, which matters with many groups).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Groups {
    pub width: usize,
    pub naggs: usize,
    pub keys: Vec<Value>,
    pub states: Vec<AggState>,
    count: usize,
}

impl Groups {
    /// An empty set of groups.
    pub fn new(width: usize, naggs: usize) -> Groups {
        Groups {
            width,
            naggs,
            keys: Vec::new(),
            states: Vec::new(),
            count: 0,
        }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds a group.
    #[inline]
    pub fn push(
        &mut self,
        key: impl IntoIterator<Item = Value>,
        states: impl IntoIterator<Item = AggState>,
    ) {
        self.keys.extend(key);
        self.states.extend(states);
        self.count += 1;
    }
}
