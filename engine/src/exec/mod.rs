//! Statement execution: queries (collect on shards, merge on the handler)
//! and writes (normalise, route, write per shard).
//!
//! Execution sees the cluster only through [`Cluster`]: it reads the
//! catalog, locates shard copies and sends them requests
//! ([`crate::request`]); the node answers them with [`serve`].
//!
//! Work over many rows leaves the async workers ([`OFFLOAD_ROWS`]): shard
//! collects always do, and so do the handler's merging, sorting and
//! projecting, non-table sources, normalising and writing when they hold
//! more rows than that. A statement that computes for seconds then holds a
//! blocking thread, the operating system shares the cores among
//! statements, and short statements are answered meanwhile; short
//! statements themselves stay on the worker, without a thread hop.

mod bm25;
mod cluster;
mod collect;
mod columnar;
mod join;
mod key_index;
mod normalize;
mod pushdown;
mod query;
mod repartition;
mod rows;
mod search;
mod shard;
mod subquery;
mod window;
mod write;

pub use cluster::{Cluster, CopyRole};
pub use shard::serve;
pub use subquery::with_subqueries;

use crate::error::{Error, Result};
use crate::expr::EvalCtx;
use crate::planner::QueryPlan;
use crate::request::{QueryResult, ShardId, ShardRequest, ShardResponse};

/// Rows past which work moves off the async workers (see the module notes).
pub const OFFLOAD_ROWS: usize = 65_536;

/// Executes plans for one statement, on a cluster.
pub struct Executor<'c, C> {
    pub cluster: &'c C,
    pub ctx: EvalCtx,
    /// Where `EXPLAIN ANALYZE` collects the phases' timings.
    pub profile: Option<std::sync::Arc<Profile>>,
    /// The copy to read each of these shards from first (a repartitioned
    /// join's parts all read the same copy of a shard, so their buckets
    /// come from one state of it).
    pinned: std::collections::HashMap<ShardId, String>,
}

/// The phases a statement ran, with their timings (`EXPLAIN ANALYZE`).
#[derive(Debug, Default)]
pub struct Profile {
    phases: std::sync::Mutex<Vec<Phase>>,
}

/// One phase: a shard's collect, a join, the handler's merge.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub shard: Option<u32>,
    pub ms: f64,
    pub rows: usize,
}

impl Profile {
    fn record(&self, name: String, shard: Option<u32>, started: tokio::time::Instant, rows: usize) {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let phase = Phase {
            name,
            shard,
            ms,
            rows,
        };
        self.phases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(phase);
    }

    /// The phases recorded so far, in the order they ended.
    pub fn phases(&self) -> Vec<Phase> {
        self.phases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl<'c, C: Cluster> Executor<'c, C> {
    /// An executor for one statement.
    pub fn new(cluster: &'c C, ctx: EvalCtx) -> Executor<'c, C> {
        Executor {
            cluster,
            ctx,
            profile: None,
            pinned: Default::default(),
        }
    }

    /// An executor that records its phases' timings in `profile`.
    pub fn profiled(mut self, profile: std::sync::Arc<Profile>) -> Self {
        self.profile = Some(profile);
        self
    }

    /// Records a phase that started at `started`, when profiling.
    fn record(
        &self,
        name: impl FnOnce() -> String,
        shard: Option<u32>,
        started: tokio::time::Instant,
        rows: usize,
    ) {
        if let Some(p) = &self.profile {
            p.record(name(), shard, started, rows);
        }
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

    /// Sends a request to a copy of its shard in `role`. A read that
    /// cannot reach one copy (its node is gone, or no longer holds it) is
    /// tried on the next; a write goes to the primary only.
    async fn request(&self, request: ShardRequest, role: CopyRole) -> Result<ShardResponse> {
        let mut nodes = self.cluster.locate(request.shard(), role)?;
        if role == CopyRole::Any
            && let Some(pinned) = self.pinned.get(request.shard())
            && let Some(i) = nodes.iter().position(|n| n == pinned)
        {
            let node = nodes.remove(i);
            nodes.insert(0, node);
        }
        let Some((last, others)) = nodes.split_last() else {
            return Err(Error::ShardsUnavailable(format!(
                "{} is not available",
                request.shard()
            )));
        };
        if role == CopyRole::Any {
            for node in others {
                match self.cluster.run(node, request.clone()).await {
                    Err(Error::ShardsUnavailable(e) | Error::NodeUnreachable(e) | Error::Io(e)) => {
                        tracing::debug!(node, error = %e, "shard copy unreachable, trying another");
                    }
                    answer => return answer,
                }
            }
        }
        if role != CopyRole::Primary {
            return self.cluster.run(last, request).await;
        }
        // A primary whose node cannot be reached is about to be replaced
        // (its node left): the write waits for the routing table to name
        // another, as Elasticsearch's replication retries on a new cluster
        // state. The node is reached before the request is handed over, so
        // the request need not be kept for a second try.
        let mut node = last.clone();
        let deadline = crate::runtime::instant() + PRIMARY_WAIT;
        loop {
            match self.cluster.reach(&node).await {
                Err(Error::NodeUnreachable(e)) if crate::runtime::instant() < deadline => {
                    tracing::debug!(node, error = %e, "primary unreachable, waiting for another");
                    crate::runtime::sleep(PRIMARY_POLL).await;
                    if let Some(next) = self.cluster.locate(request.shard(), role)?.pop() {
                        node = next;
                    }
                }
                Err(e) => return Err(e),
                Ok(()) => return self.cluster.run(&node, request).await,
            }
        }
    }
}

/// How long a write waits for an unreachable primary to be replaced
/// (Elasticsearch waits up to a minute).
const PRIMARY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How often it looks for the replacement meanwhile.
const PRIMARY_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// A statement's plan as `EXPLAIN` prints it: a table scan whose filter
/// pins down primary keys shows as the `Get` it runs as.
pub fn explain(
    statement: &Explained,
    subqueries: &[crate::planner::Subquery],
    ctx: &EvalCtx,
    costs: Option<&crate::catalog::Catalog>,
) -> Result<String> {
    use crate::planner::explain;
    let lookups = key_lookups(ctx);
    let cx = explain::Cx {
        lookups: &lookups,
        costs,
        logical_joins: false,
    };
    match statement {
        Explained::Query(plan) => explain::explain_with(plan, subqueries, &cx),
        Explained::Insert(plan) => explain::explain_insert(plan, &cx),
        Explained::Update(plan) => Ok(explain::explain_update(plan, &cx)),
        Explained::Delete(plan) => Ok(explain::explain_delete(plan, &cx)),
    }
}

/// One step of EXPLAIN VERBOSE: a query's plan, its joins `logical`
/// (`Join[...]`) or as they run.
pub fn explain_step(
    plan: &QueryPlan,
    subqueries: &[crate::planner::Subquery],
    ctx: &EvalCtx,
    costs: Option<&crate::catalog::Catalog>,
    logical_joins: bool,
) -> Result<String> {
    let lookups = key_lookups(ctx);
    let cx = crate::planner::explain::Cx {
        lookups: &lookups,
        costs,
        logical_joins,
    };
    crate::planner::explain::explain_with(plan, subqueries, &cx)
}

/// Which `_id`s a table scan looks up, if its filter pins them down.
fn key_lookups(
    ctx: &EvalCtx,
) -> impl Fn(
    &crate::catalog::TableInfo,
    &[crate::planner::ScanColumn],
    Option<&crate::expr::Expr>,
) -> Option<Vec<String>>
+ '_ {
    move |table, scan, filter| {
        query::key_lookups(table, scan, filter, ctx)
            .ok()
            .flatten()
            .map(|keys| keys.into_iter().map(|(id, _)| id).collect())
    }
}

/// A planned statement that `EXPLAIN` can print.
pub enum Explained {
    Query(QueryPlan),
    Insert(crate::planner::dml::InsertPlan),
    Update(crate::planner::dml::UpdatePlan),
    Delete(crate::planner::dml::DeletePlan),
}

/// The documents of a response that should hold documents.
fn docs(response: ShardResponse) -> Result<Vec<crate::storage::StoredDoc>> {
    match response {
        ShardResponse::Docs(d) => Ok(d),
        other => Err(unexpected(&other)),
    }
}

/// The error for a response of the wrong kind.
pub(crate) fn unexpected(response: &ShardResponse) -> Error {
    Error::internal(format!("unexpected shard response: {}", response.kind()))
}

/// The id of shard `shard` of `table`.
fn shard_id(table: &crate::catalog::TableInfo, shard: u32) -> ShardId {
    ShardId {
        table: table.ident.clone(),
        uuid: table.uuid.clone(),
        shard,
    }
}
