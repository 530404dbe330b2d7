//! Statement execution: queries (collect on shards, merge on the handler)
//! and writes (normalise, route, write per shard).

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
