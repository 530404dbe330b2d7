//! One node's part of a repartitioned hash join (CrateDB's distributed hash
//! join).
//!
//! When neither side of an equi-join is small enough to be sent to the
//! other side's shards, the handling node splits the work by the join key:
//! every node runs one [`JoinPart`], which collects from every shard of
//! both tables only the rows whose key falls into its
//! [`Bucket`](super::Bucket), joins
//! them, and applies the query's filter and its aggregation or top-N to
//! the joined rows. Rows with equal keys share a bucket, so the parts
//! together pair exactly the rows one join would, while no node holds more
//! than its share of either side. The handler merges the parts' partial
//! results as it merges shards'.

use serde::{Deserialize, Serialize};

use super::read::CollectSpec;
use crate::catalog::TableIdent;
use crate::expr::{EvalCtx, Expr};
use crate::planner::{JoinKind, ScanColumn};

/// One side of a repartitioned join: a table's rows, filtered, as the
/// join input's columns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinSide {
    pub table: TableIdent,
    /// The table the statement was planned on (not one created again
    /// under the same name since).
    pub uuid: String,
    pub scan: Vec<ScanColumn>,
    pub filter: Option<Expr>,
    /// The input's columns, over the scan row.
    pub outputs: Vec<Expr>,
    /// The join key, over the input's columns.
    pub keys: Vec<Expr>,
    /// The node to read each shard from (by shard number): every part
    /// reads the same copy, so no row is missed or seen twice between
    /// buckets read from copies refreshed at different times.
    pub copies: Vec<(u32, String)>,
}

/// What one node does for a repartitioned join: collect `bucket` of both
/// sides, join them, and collect the joined rows with `spec` (whose
/// filter and mode are the query's, over the joined row).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinPart {
    pub kind: JoinKind,
    pub left: JoinSide,
    pub right: JoinSide,
    /// The join condition, over the joined row.
    pub condition: Option<Expr>,
    pub bucket: u32,
    pub buckets: u32,
    pub spec: CollectSpec,
    /// Parameters, clock and job of the statement.
    pub ctx: EvalCtx,
}
