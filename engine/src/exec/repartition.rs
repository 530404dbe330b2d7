//! Repartitioned hash joins (CrateDB's distributed hash join): an
//! equi-join of two tables, neither small enough to broadcast, split among
//! the cluster's nodes by the join key.
//!
//! The handler sends every node a [`JoinPart`] naming one bucket of the
//! key's hash. The node collects from every shard of both tables only the
//! rows of its bucket, joins them with the handler's hash join, and
//! applies the query's filter and its aggregation or top-N to the joined
//! rows; the handler merges the parts' partial
//! results as it merges shards'. Rows with equal keys share a bucket, so
//! the parts pair exactly the rows one join would, while each node holds
//! only its share of either side, on its own breaker.
//!
//! Each part pulls its bucket from every shard, but a shard is read once
//! per statement: the first request splits its rows into every bucket and
//! the others wait on that node for their parts (`node/buckets.rs`), which
//! all read the same copy of the shard (the handler pins one per shard).
//! Pulling keeps a part a plain request that fails, or is run again on
//! the handler, on its own.

use super::join::{Inputs, TableInput, split, table_input};
use super::{Cluster, CopyRole, Executor, OFFLOAD_ROWS, query};
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::planner::{JoinKind, JoinPlan};
use crate::request::{Bucket, CollectMode, CollectSpec, JoinPart, JoinSide, Partial};
use crate::types::Row;

impl<C: Cluster> Executor<'_, C> {
    /// Runs a join of two tables by equal keys as one part per node.
    /// Answers `None` when the join does not qualify and runs on the
    /// handler: a single node, a cross join or one without an equality
    /// between the sides, a side that is not a table's rows, or one whose
    /// filter names rows by key (a real-time lookup).
    pub(super) async fn repartition_join(
        &self,
        join: &JoinPlan,
        spec: &CollectSpec,
    ) -> Result<Option<Vec<Partial>>> {
        if join.kind == JoinKind::Cross {
            return Ok(None);
        }
        let keys = split(join.condition.as_ref(), join.left.names().len());
        if keys.left.is_empty() {
            return Ok(None);
        }
        let (Some(left), Some(right)) = (table_input(&join.left), table_input(&join.right)) else {
            return Ok(None);
        };
        // The nodes that hold the tables know them and share the work.
        let nodes = self
            .cluster
            .nodes_holding(&[&left.table.uuid, &right.table.uuid]);
        if nodes.len() < 2 {
            return Ok(None);
        }
        for side in [&left, &right] {
            if query::key_lookups(side.table, side.scan, side.filter, &self.ctx)?.is_some() {
                return Ok(None);
            }
        }
        let (left, right) = (
            self.join_side(&left, &keys.left),
            self.join_side(&right, &keys.right),
        );
        let buckets = nodes.len() as u32;
        let started = crate::runtime::instant();
        let parts = nodes.iter().enumerate().map(|(bucket, node)| {
            let part = JoinPart {
                kind: join.kind,
                left: left.clone(),
                right: right.clone(),
                condition: join.condition.clone(),
                bucket: bucket as u32,
                buckets,
                spec: CollectSpec {
                    scan: Vec::new(),
                    ..spec.clone()
                },
                ctx: self.ctx.clone(),
            };
            self.run_part(node, part)
        });
        let partials = futures::future::try_join_all(parts).await?;
        self.record(
            || {
                format!(
                    "{} join repartitioned to {} nodes",
                    join.kind.name(),
                    nodes.len()
                )
            },
            None,
            started,
            partials.iter().map(Partial::len).sum(),
        );
        Ok(Some(partials))
    }

    /// Runs a part on `node`; a node that cannot be reached (it left, or
    /// is cut off) has its bucket joined on this node instead.
    async fn run_part(&self, node: &str, part: JoinPart) -> Result<Partial> {
        let bucket = part.bucket;
        match self.cluster.run_join_part(node, part.clone()).await {
            Err(Error::ShardsUnavailable(e) | Error::NodeUnreachable(e) | Error::Io(e)) => {
                tracing::debug!(node, bucket, error = %e, "join part unreachable, joining here");
                self.join_part(part).await
            }
            answer => answer,
        }
    }

    /// This node's part of a repartitioned join: its bucket of both sides,
    /// joined, then the query's collect phase over the joined rows.
    pub async fn join_part(&self, part: JoinPart) -> Result<Partial> {
        let mut pinned = std::collections::HashMap::new();
        for side in [&part.left, &part.right] {
            for (shard, node) in &side.copies {
                let id = crate::request::ShardId {
                    table: side.table.clone(),
                    uuid: side.uuid.clone(),
                    shard: *shard,
                };
                pinned.insert(id, node.clone());
            }
        }
        let pinned = Executor {
            cluster: self.cluster,
            ctx: self.ctx.clone(),
            profile: None,
            pinned,
        };
        pinned.join_bucket(part).await
    }

    async fn join_bucket(&self, part: JoinPart) -> Result<Partial> {
        let index = part.bucket;
        let count = part.buckets;
        let (left, right) = futures::future::join(
            self.bucket_rows(&part.left, 0, index, count),
            self.bucket_rows(&part.right, 1, index, count),
        )
        .await;
        let (left, right) = (left?, right?);
        let inputs = Inputs {
            kind: part.kind,
            left_width: part.left.outputs.len(),
            right_width: part.right.outputs.len(),
            condition: part.condition,
        };
        let started = crate::runtime::instant();
        let spec = part.spec;
        let ctx = self.ctx.clone();
        let small = left.len().saturating_mul(right.len().max(1)) <= OFFLOAD_ROWS;
        // The pairs go straight into the query's collect phase: a part
        // holds its inputs and its partial result, never the joined rows.
        let collect = move || inputs.collect(&left, &right, &spec, &ctx);
        let partial = if small {
            collect()?
        } else {
            crate::runtime::run_blocking(collect).await?
        };
        self.record(
            || format!("{} join of bucket {index}", part.kind.name()),
            None,
            started,
            partial.len(),
        );
        Ok(partial)
    }

    /// One bucket of a join side's rows, from every shard of its table.
    async fn bucket_rows(
        &self,
        side: &JoinSide,
        which: u8,
        index: u32,
        count: u32,
    ) -> Result<Vec<Row>> {
        let catalog = self.cluster.catalog();
        let table = catalog
            .table(&side.table)
            .filter(|t| t.uuid == side.uuid)
            .ok_or_else(|| Error::RelationUnknown(side.table.to_string()))?;
        let spec = CollectSpec {
            scan: side.scan.clone(),
            filter: side.filter.clone(),
            mode: CollectMode::Rows {
                outputs: side.outputs.clone(),
                order_by: Vec::new(),
                limit: None,
                partition_by: Vec::new(),
            },
            join: None,
            bucket: Some(Bucket {
                keys: side.keys.clone(),
                index,
                count,
                side: which,
            }),
        };
        let mut rows = Vec::new();
        for partial in self.collect_table(table, &spec).await? {
            match partial {
                Partial::Rows(r) => rows.extend(r),
                Partial::Groups(_) => return Err(Error::internal("a join side gave groups")),
            }
        }
        // The side stays held while the join runs: accounted on the part's
        // statement where it was collected, taken or received.
        Ok(rows)
    }
}

impl<C: Cluster> Executor<'_, C> {
    /// A join input as a part sends it, with the copy of each shard every
    /// part reads: the shard's started copies taken in turn, which spreads
    /// the reads over them.
    fn join_side(&self, input: &TableInput, keys: &[Expr]) -> JoinSide {
        let mut copies = Vec::with_capacity(input.table.num_shards as usize);
        for shard in 0..input.table.num_shards {
            // A shard without a copy now is left to the parts' reads,
            // which fail only if they need it.
            let id = super::shard_id(input.table, shard);
            let Ok(mut nodes) = self.cluster.locate(&id, CopyRole::Any) else {
                continue;
            };
            nodes.sort();
            if let Some(node) = nodes.get(shard as usize % nodes.len()) {
                copies.push((shard, node.clone()));
            }
        }
        side_of(input, keys, copies)
    }
}

/// A join input as a part sends it.
fn side_of(input: &TableInput, keys: &[Expr], copies: Vec<(u32, String)>) -> JoinSide {
    let outputs: Vec<Expr> = match input.outputs {
        Some(outputs) => outputs.to_vec(),
        None => input
            .scan
            .iter()
            .enumerate()
            .map(|(i, c)| Expr::Column(i, c.data_type()))
            .collect(),
    };
    JoinSide {
        table: input.table.ident.clone(),
        uuid: input.table.uuid.clone(),
        scan: input.scan.to_vec(),
        filter: input.filter.cloned(),
        outputs,
        keys: keys.to_vec(),
        copies,
    }
}
