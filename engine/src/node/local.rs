//! The node as execution's [`Cluster`]: every shard copy is local, and
//! requests run on this node's shards.

use std::sync::Arc;

use super::Node;
use crate::catalog::{Catalog, TableInfo};
use crate::error::{Error, Result};
use crate::exec::{Cluster, CopyRole, OFFLOAD_ROWS, serve};
use crate::planner::SystemTable;
use crate::request::{SchemaChange, ShardId, ShardRequest, ShardResponse, codec};
use crate::storage::{Shard, SyncInFlight, TranslogSync};
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
            .shards_of(&id.uuid)
            .get(id.shard as usize)
            .cloned()
            .ok_or_else(|| Error::ShardsUnavailable(format!("{id} is not available")))?;
        Ok((shard, table))
    }
}

impl Cluster for Node {
    fn catalog(&self) -> Arc<Catalog> {
        Node::catalog(self)
    }

    fn locate(&self, shard: &ShardId, _role: CopyRole) -> Result<String> {
        // Shards are keyed by table uuid: a copy here is a copy of this table.
        let here = self
            .shards
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&shard.uuid)
            .is_some_and(|copies| (shard.shard as usize) < copies.len());
        match here {
            true => Ok(self.id.clone()),
            false => Err(Error::ShardsUnavailable(format!(
                "{shard} is not available"
            ))),
        }
    }

    async fn run(&self, node: &str, request: ShardRequest) -> Result<ShardResponse> {
        if node != self.id {
            return Err(Error::ShardsUnavailable(format!(
                "{} is on node {node}, which is not part of this cluster",
                request.shard()
            )));
        }
        let request = match self.config.wire_check {
            true => over_the_wire_request(request)?,
            false => request,
        };
        let (shard, table) = self.local_shard(request.shard())?;
        // Collects always leave the async workers, and so do big writes.
        let offload = match &request {
            ShardRequest::Collect { .. } => true,
            ShardRequest::Write(w) => w.ops.len() > OFFLOAD_ROWS,
            ShardRequest::Get { .. } | ShardRequest::Targets { .. } => false,
        };
        let (response, sync) = if offload {
            crate::runtime::run_blocking(move || serve(&shard, &table, request)).await?
        } else {
            serve(&shard, &table, request)?
        };
        if let Some(sync) = sync {
            SyncInFlight::wait_all(vec![TranslogSync::start(sync)]).await?;
        }
        match self.config.wire_check {
            true => codec::decode(&codec::encode(&response)?),
            false => Ok(response),
        }
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

    fn system_rows(&self, table: SystemTable, schema: &str) -> Vec<Row> {
        Node::system_rows(self, table, schema)
    }
}

/// A request encoded and decoded again, as a remote node would receive it.
/// The statement's memory account does not travel: it is attached again,
/// as a remote node would attach an account on its own breaker.
fn over_the_wire_request(mut request: ShardRequest) -> Result<ShardRequest> {
    let memory = request.ctx_mut().map(|ctx| ctx.memory.clone());
    let mut decoded: ShardRequest = codec::decode(&codec::encode(&request)?)?;
    if let (Some(memory), Some(ctx)) = (memory, decoded.ctx_mut()) {
        ctx.memory = memory;
    }
    Ok(decoded)
}
