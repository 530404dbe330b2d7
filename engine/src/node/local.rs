//! The node as execution's [`Cluster`]: every shard copy is local, and
//! requests run on this node's shards.

use std::sync::Arc;

use super::Node;
use crate::breaker::HeapSize;
use crate::catalog::{Catalog, TableInfo};
use crate::error::{Error, Result};
use crate::exec::{Cluster, CopyRole, OFFLOAD_ROWS, serve};
use crate::planner::SystemTable;
use crate::request::{
    JoinPart, Partial, SchemaChange, ShardId, ShardRequest, ShardResponse, codec,
};
use crate::storage::{Shard, SyncInFlight};
use crate::types::Row;

impl Node {
    /// The local copy of a shard, with its table as the catalog has it now.
    fn local_shard(&self, id: &ShardId) -> Result<(Arc<Shard>, Arc<TableInfo>)> {
        let table = self
            .catalog()
            .table(&id.table)
            .filter(|t| t.uuid == id.uuid)
            .cloned()
            .ok_or_else(|| Error::RelationUnknown(id.table.to_string()))?;
        let shard = self
            .shard(&id.uuid, id.shard)
            .ok_or_else(|| Error::ShardsUnavailable(format!("{id} is not available")))?;
        Ok((shard, table))
    }

    /// Runs a request on this node's copy of its shard; a write is
    /// answered once its operations are durable.
    pub(super) async fn serve_local(&self, request: ShardRequest) -> Result<ShardResponse> {
        let request = match self.config.wire_check {
            true => over_the_wire(request, ShardRequest::ctx_mut)?,
            false => request,
        };
        let response = self.serve_request(request).await?;
        match self.config.wire_check {
            true => codec::decode(&codec::encode(&response)?),
            false => Ok(response),
        }
    }
}

impl Node {
    pub(super) async fn serve_request(&self, request: ShardRequest) -> Result<ShardResponse> {
        if let ShardRequest::Collect { shard, spec, ctx } = &request
            && let Some(answer) = self.serve_bucket(shard, spec, ctx).await
        {
            return answer;
        }
        match request {
            ShardRequest::Replicate {
                shard,
                primary_term,
                global_checkpoint,
                ops,
            } => {
                return self
                    .apply_from_primary(&shard, primary_term, global_checkpoint, ops)
                    .await;
            }
            ShardRequest::Resync { shard, batch } => return self.serve_resync(&shard, batch).await,
            ShardRequest::RecoverFiles {
                shard,
                allocation_id,
                held,
            } => {
                return self
                    .serve_recovery_files(&shard, &allocation_id, held)
                    .await;
            }
            ShardRequest::RecoverChunk {
                shard,
                allocation_id,
                segment,
                file,
                offset,
            } => {
                return self
                    .serve_recovery_chunk(&shard, &allocation_id, segment, file, offset)
                    .await;
            }
            ShardRequest::RecoverOps {
                shard,
                allocation_id,
                cursor,
            } => {
                return self
                    .serve_recovery_ops(&shard, &allocation_id, cursor)
                    .await;
            }
            ShardRequest::HandOff {
                shard,
                allocation_id,
            } => return self.serve_hand_off(&shard, &allocation_id).await,
            _ => {}
        }
        // A primary's writes pass its shard's gate, which a hand-off closes;
        // past it, a write that finds the primary elsewhere is sent on. A
        // primary's first write under a new term waits for its resync.
        let gate = match &request {
            ShardRequest::Write(w) if self.coordinator().is_some() => {
                self.resync_if_due(&w.shard).await?;
                Some(self.write_gates.of(&w.shard).read_owned().await)
            }
            _ => None,
        };
        let request = match request {
            ShardRequest::Write(w) => match self.primary_elsewhere(&w.shard) {
                Some(node) => {
                    drop(gate);
                    return self.forward_write(w, &node).await;
                }
                None => ShardRequest::Write(w),
            },
            other => other,
        };
        let (shard, table) = self.local_shard(request.shard())?;
        match request {
            ShardRequest::Refresh { .. } => {
                shard.refresh().await?;
                return Ok(ShardResponse::Refreshed);
            }
            ShardRequest::Optimize {
                max_num_segments,
                only_expunge_deletes,
                flush,
                ..
            } => {
                shard.refresh().await?;
                shard
                    .force_merge(max_num_segments, only_expunge_deletes)
                    .await?;
                if flush {
                    shard.flush().await?;
                }
                return Ok(ShardResponse::Optimized);
            }
            _ => {}
        }
        let replicated = match &request {
            ShardRequest::Write(w) => self.has_replicas(&w.shard)?,
            _ => false,
        };
        let shard_id = request.shard().clone();
        // Collects always leave the async workers, and so do big writes.
        let offload = match &request {
            ShardRequest::Collect { .. } => true,
            ShardRequest::Write(w) => w.ops.len() > OFFLOAD_ROWS,
            _ => false,
        };
        let served = if offload {
            let shard = shard.clone();
            crate::runtime::run_blocking(move || serve(&shard, &table, request, replicated)).await?
        } else {
            serve(&shard, &table, request, replicated)?
        };
        // The primary's own sync and the replicas' run side by side.
        let durable = SyncInFlight::wait_for(served.sync);
        let replicas = self.replicate(&shard_id, shard.primary_term(), served.ops);
        let (durable, replicas) = futures::future::join(durable, replicas).await;
        drop(gate);
        durable?;
        replicas?;
        Ok(served.response)
    }
}

impl Cluster for Node {
    fn catalog(&self) -> Arc<Catalog> {
        Node::catalog(self)
    }

    fn locate(&self, shard: &ShardId, role: CopyRole) -> Result<Vec<String>> {
        if let Some(c) = self.coordinator() {
            return self.locate_in_cluster(shard, role, c.id);
        }
        match self.shard(&shard.uuid, shard.shard) {
            Some(_) => Ok(vec![self.id.clone()]),
            None => Err(Error::ShardsUnavailable(format!(
                "{shard} is not available"
            ))),
        }
    }

    async fn run(&self, node: &str, mut request: ShardRequest) -> Result<ShardResponse> {
        if node == self.id {
            return self.serve_local(request).await;
        }
        let Some(c) = self.coordinator() else {
            return Err(Error::ShardsUnavailable(format!(
                "{} is on node {node}, which is not part of this cluster",
                request.shard()
            )));
        };
        let memory = request.ctx_mut().map(|ctx| ctx.memory.clone());
        let response = c.send_shard(node, request).await?;
        if let (Some(memory), ShardResponse::Partial(partial)) = (memory, &response) {
            keep_received(&memory, partial)?;
        }
        Ok(response)
    }

    async fn reach(&self, node: &str) -> Result<()> {
        if node == self.id {
            return Ok(());
        }
        match self.coordinator() {
            Some(c) => c.reach(node).await,
            None => Err(Error::ShardsUnavailable(format!(
                "node {node} is not part of this cluster"
            ))),
        }
    }

    fn nodes_holding(&self, tables: &[&str]) -> Vec<String> {
        match self.coordinator() {
            Some(c) => self.members_holding(tables, c.id),
            None => vec![self.id.clone()],
        }
    }

    async fn run_join_part(&self, node: &str, part: JoinPart) -> Result<Partial> {
        if node == self.id {
            let part = match self.config.wire_check {
                true => over_the_wire(part, |p| Some(&mut p.ctx))?,
                false => part,
            };
            let ctx = part.ctx.clone();
            return crate::exec::Executor::new(self, ctx).join_part(part).await;
        }
        let Some(c) = self.coordinator() else {
            return Err(Error::NodeUnreachable(format!(
                "node {node} is not part of this cluster"
            )));
        };
        let memory = part.ctx.memory.clone();
        let partial = c.send_join_part(node, part).await?;
        keep_received(&memory, &partial)?;
        Ok(partial)
    }

    fn join_broadcast_rows(&self) -> usize {
        self.cluster_settings().join_broadcast_rows() as usize
    }

    async fn change_schema(&self, change: SchemaChange) -> Result<Arc<TableInfo>> {
        match change {
            SchemaChange::AddColumns {
                table,
                uuid,
                columns,
            } => {
                let updated = self
                    .replace_table(|t| super::add_dynamic_columns(t, &columns), &table)
                    .await?;
                if updated.uuid != uuid {
                    return Err(Error::RelationUnknown(table.to_string()));
                }
                Ok(updated)
            }
        }
    }

    async fn system_rows(&self, table: SystemTable, schema: &str) -> Result<Vec<Row>> {
        self.gathered_rows(table, schema).await
    }
}

/// Accounts rows another node sent on the statement's memory, as a local
/// collect keeps what it collects: they stay held until the statement ends
/// (the merge of aggregation states accounts its own result).
fn keep_received(memory: &crate::breaker::MemoryAccount, partial: &Partial) -> Result<()> {
    if let Partial::Rows(rows) = partial {
        let bytes: usize = rows.iter().map(|r| r.heap_size()).sum();
        memory.reserve(bytes as u64, "collect")?;
    }
    Ok(())
}

/// A request encoded and decoded again, as a remote node would receive it.
/// The statement's memory account (in the context `ctx` finds) does not
/// travel: it is attached again, as a remote node would attach an account
/// on its own breaker.
fn over_the_wire<T: serde::Serialize + serde::de::DeserializeOwned>(
    mut request: T,
    ctx: fn(&mut T) -> Option<&mut crate::expr::EvalCtx>,
) -> Result<T> {
    let memory = ctx(&mut request).map(|ctx| ctx.memory.clone());
    let mut decoded: T = codec::decode(&codec::encode(&request)?)?;
    if let (Some(memory), Some(ctx)) = (memory, ctx(&mut decoded)) {
        ctx.memory = memory;
    }
    Ok(decoded)
}
