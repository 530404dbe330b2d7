//! Statement execution: queries (collect on shards, merge on the handler)
//! and writes (normalise, route, write per shard).
//!
//! Work over many rows leaves the async workers ([`OFFLOAD_ROWS`]): shard
//! collects always do, and so do the handler's merging, sorting and
//! projecting, non-table sources, normalising and writing when they hold
//! more rows than that. A statement that computes for seconds then holds a
//! blocking thread, the operating system shares the cores among
//! statements, and short statements are answered meanwhile; short
//! statements themselves stay on the worker, without a thread hop.

mod collect;
mod columnar;
mod normalize;
mod pushdown;
mod query;
mod rows;
mod write;

pub use collect::{CollectMode, CollectSpec, Partial};

use crate::error::Result;
use crate::expr::EvalCtx;
use crate::node::{Node, QueryResult};
use crate::planner::QueryPlan;

/// Rows past which work moves off the async workers (see the module notes).
pub const OFFLOAD_ROWS: usize = 65_536;

/// Executes plans on a node for one statement.
pub struct Executor<'n> {
    pub node: &'n Node,
    pub ctx: EvalCtx,
}

impl<'n> Executor<'n> {
    /// An executor for one statement.
    pub fn new(node: &'n Node, ctx: EvalCtx) -> Executor<'n> {
        Executor { node, ctx }
    }

    /// Runs a query and packages its result.
    pub async fn query(&self, plan: &QueryPlan) -> Result<QueryResult> {
        let rows = self.run(plan).await?;
        Ok(QueryResult {
            cols: plan.names(),
            types: plan.types(),
            rowcount: rows.len() as i64,
            rows,
        })
    }
}
