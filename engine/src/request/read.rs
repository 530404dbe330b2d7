//! The read requests' parts: a collect phase and the partial result it
//! gives back.
//!
//! A [`CollectSpec`] says which columns to read, which rows to keep and what
//! to produce: projected rows (with a local top-N when the query has ORDER
//! BY and LIMIT) or partial aggregation states per group. The handler merges
//! the [`Partial`]s of every shard.

use serde::{Deserialize, Serialize};

use crate::expr::{AggCall, AggState, Expr};
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
