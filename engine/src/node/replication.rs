//! Replication and peer recovery, the node's part.
//!
//! A write runs on the primary's node ([`Node::serve_local`]), which then
//! sends the operations it sequenced to the shard's other copies: the
//! started ones in the in-sync set, and the recovering ones that have asked
//! for operations. The write is acknowledged once every one of them applied
//! the operations durably, or was failed through the master (it leaves the
//! in-sync set, so it can never become primary with operations missing).
//!
//! A copy the routing table assigns to this node as INITIALIZING is
//! recovered here from its primary: the segments first, then the
//! operations since (`storage/shard/recovery.rs`); then the node reports it
//! started through the master.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::Node;
use crate::catalog::TableInfo;
use crate::cluster::{ClusterState, Command, CopyState, MemberId};
use crate::error::{Error, Result};
use crate::exec::{Cluster, CopyRole};
use crate::request::{ShardId, ShardRequest, ShardResponse};
use crate::storage::{Op, Shard, SyncInFlight, TranslogSync};

/// How long a failed recovery waits before giving its copy back to the
/// master (which allocates it again), so a failing source is not hammered.
const RECOVERY_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The replication bookkeeping of a node.
#[derive(Debug, Default)]
pub(super) struct Replication {
    /// For each shard this node is primary of: the recovering copies
    /// (allocation ids) that receive new writes.
    tracking: std::sync::Mutex<HashMap<(String, u32), BTreeSet<String>>>,
    /// The copies (allocation ids) this node recovers, or recovered and
    /// reported started.
    recovering: std::sync::Mutex<BTreeSet<String>>,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Node {
    /// Whether a write to `shard` must keep its operations for replicas:
    /// in a cluster, the shard has a replica assigned. Refuses a write
    /// when the routing table this node follows does not make it the
    /// primary.
    pub(super) fn has_replicas(&self, shard: &ShardId) -> Result<bool> {
        let Some(me) = self.coordinator().map(|c| c.id) else {
            return Ok(false);
        };
        let followed = self.followed();
        let copies = followed.state.shard(&shard.uuid, shard.shard);
        let Some(copies) = copies.filter(|c| c.primary().is_some_and(|p| p.node == Some(me)))
        else {
            return Err(Error::ShardsUnavailable(format!(
                "{shard}: this node does not hold its primary"
            )));
        };
        Ok(copies.copies.iter().any(|c| !c.primary && c.node.is_some()))
    }

    /// The copies a primary's operations go to: (allocation id, node id).
    fn replication_targets(&self, shard: &ShardId) -> Vec<(String, String)> {
        let followed = self.followed();
        let state = &followed.state;
        let Some(copies) = state.shard(&shard.uuid, shard.shard) else {
            return Vec::new();
        };
        let tracking = lock(&self.replication.tracking);
        let tracked = tracking.get(&(shard.uuid.clone(), shard.shard));
        copies
            .copies
            .iter()
            .filter(|c| !c.primary)
            .filter_map(|c| {
                let id = c.allocation_id.as_ref()?;
                let member = state.members.get(&c.node?)?;
                let wanted = match c.state {
                    CopyState::Started | CopyState::Relocating => copies.in_sync.contains(id),
                    CopyState::Initializing => tracked.is_some_and(|t| t.contains(id)),
                    CopyState::Unassigned => false,
                };
                wanted.then(|| (id.clone(), member.node_id.clone()))
            })
            .collect()
    }

    /// Sends a primary's operations to the shard's other copies and waits
    /// for each; a copy that fails is failed through the master.
    pub(super) async fn replicate(
        &self,
        shard: &ShardId,
        primary_term: u64,
        ops: Vec<Op>,
    ) -> Result<()> {
        let Some(coordinator) = self.coordinator() else {
            return Ok(());
        };
        let targets = self.replication_targets(shard);
        if targets.is_empty() || ops.is_empty() {
            return Ok(());
        }
        let request = ShardRequest::Replicate {
            shard: shard.clone(),
            primary_term,
            ops,
        };
        let sends = targets.into_iter().map(|(allocation_id, node)| {
            let request = request.clone();
            async move {
                let result = coordinator.send_shard(&node, request).await;
                (allocation_id, node, result)
            }
        });
        let mut stale = None;
        for (allocation_id, node, result) in futures::future::join_all(sends).await {
            match result {
                Ok(ShardResponse::Replicated) => {}
                // Not the copy's fault: this node is no longer the primary,
                // and the write is not acknowledged.
                Err(e @ Error::StalePrimary(_)) => stale = Some(e),
                Ok(other) => {
                    let reason = format!("answered replication with {}", other.kind());
                    self.fail_copy(shard, &allocation_id, &node, reason).await?;
                }
                Err(e) => {
                    self.fail_copy(shard, &allocation_id, &node, e.to_string())
                        .await?
                }
            }
        }
        stale.map_or(Ok(()), Err)
    }

    /// Takes a copy that missed operations out of the in-sync set, through
    /// the master; the write waits for that (it cannot be acknowledged
    /// while a copy without it could become primary).
    async fn fail_copy(
        &self,
        shard: &ShardId,
        allocation_id: &str,
        node: &str,
        reason: String,
    ) -> Result<()> {
        tracing::warn!(%shard, allocation_id, node, %reason, "failing a shard copy");
        let coordinator = self.coordinator().ok_or_else(crate::cluster::no_master)?;
        let (index, _) = coordinator
            .propose(Command::ShardFailed {
                uuid: shard.uuid.clone(),
                shard: shard.shard,
                allocation_id: allocation_id.to_string(),
                reason,
            })
            .await?;
        coordinator
            .wait_followed(index, Duration::from_secs(10))
            .await
    }

    /// A replica applies operations from its primary.
    pub(super) async fn apply_from_primary(
        &self,
        shard: &ShardId,
        primary_term: u64,
        ops: Vec<Op>,
    ) -> Result<ShardResponse> {
        let copy = self.copy_of(shard)?;
        let known = copy.primary_term();
        if primary_term < known {
            return Err(Error::StalePrimary(format!(
                "{shard}: operations from a primary of term {primary_term}, but this copy \
                 knows term {known}"
            )));
        }
        copy.raise_primary_term(primary_term);
        let sync = if ops.len() > crate::exec::OFFLOAD_ROWS {
            crate::runtime::run_blocking(move || copy.apply_replicated(ops)).await?
        } else {
            copy.apply_replicated(ops)?
        };
        wait_durable(sync).await?;
        Ok(ShardResponse::Replicated)
    }

    /// The primary's first recovery step: the segments.
    pub(super) async fn serve_recovery_files(
        &self,
        shard: &ShardId,
        allocation_id: &str,
    ) -> Result<ShardResponse> {
        self.check_recovering_copy(shard, allocation_id)?;
        let copy = self.copy_of(shard)?;
        let files = copy.recovery_files(allocation_id).await?;
        Ok(ShardResponse::RecoveryFiles(files))
    }

    /// The primary's second recovery step: new writes go to the copy from
    /// now on, and the operations since the segments are answered.
    pub(super) async fn serve_recovery_ops(
        &self,
        shard: &ShardId,
        allocation_id: &str,
    ) -> Result<ShardResponse> {
        self.check_recovering_copy(shard, allocation_id)?;
        let copy = self.copy_of(shard)?;
        lock(&self.replication.tracking)
            .entry((shard.uuid.clone(), shard.shard))
            .or_default()
            .insert(allocation_id.to_string());
        let id = allocation_id.to_string();
        let ops = crate::runtime::run_blocking(move || copy.recovery_ops(&id)).await;
        if ops.is_err()
            && let Some(t) =
                lock(&self.replication.tracking).get_mut(&(shard.uuid.clone(), shard.shard))
        {
            t.remove(allocation_id);
        }
        Ok(ShardResponse::RecoveryOps(ops?))
    }

    /// Refuses recovery requests for a copy the routing table does not
    /// list as recovering.
    fn check_recovering_copy(&self, shard: &ShardId, allocation_id: &str) -> Result<()> {
        let followed = self.followed();
        let copy = followed
            .state
            .shard(&shard.uuid, shard.shard)
            .and_then(|c| c.copy(allocation_id));
        match copy {
            Some(c) if c.state == CopyState::Initializing => Ok(()),
            _ => Err(Error::ShardsUnavailable(format!(
                "{shard}: no copy {allocation_id} is recovering"
            ))),
        }
    }

    /// This node's open copy of a shard.
    fn copy_of(&self, shard: &ShardId) -> Result<Arc<Shard>> {
        self.shard(&shard.uuid, shard.shard)
            .ok_or_else(|| Error::ShardsUnavailable(format!("{shard} is not available")))
    }

    /// Follows the routing table's replication side: recoveries start for
    /// copies newly assigned here, copies learn their primary term, and
    /// bookkeeping for copies that are gone is dropped.
    pub(super) fn follow_replication(self: &Arc<Self>, state: &ClusterState, me: MemberId) {
        let mut initializing_here = BTreeSet::new();
        let mut initializing_anywhere = BTreeSet::new();
        for table in state.catalog.tables() {
            let Some(shards) = state.routing.tables.get(&table.uuid) else {
                continue;
            };
            for (n, copies) in shards.iter().enumerate() {
                let n = n as u32;
                let recovering: BTreeSet<&str> = copies
                    .copies
                    .iter()
                    .filter(|c| c.state == CopyState::Initializing)
                    .filter_map(|c| c.allocation_id.as_deref())
                    .collect();
                initializing_anywhere.extend(recovering.iter().map(|s| s.to_string()));
                let local = self.shard(&table.uuid, n);
                if let Some(local) = &local {
                    local.raise_primary_term(copies.primary_term);
                    local.retain_only(|id| recovering.contains(id));
                }
                let Some(mine) = copies.on_node(me) else {
                    continue;
                };
                let Some(id) = mine
                    .allocation_id
                    .clone()
                    .filter(|_| mine.state == CopyState::Initializing)
                else {
                    continue;
                };
                initializing_here.insert(id.clone());
                if lock(&self.replication.recovering).insert(id.clone()) {
                    // Whatever this node held of the shard before is stale.
                    if local.is_some() {
                        self.close_shard(&table.uuid, n);
                    }
                    let node = self.clone();
                    let table = table.clone();
                    crate::runtime::spawn(async move { node.recover(table, n, id).await });
                }
            }
        }
        lock(&self.replication.recovering).retain(|id| initializing_here.contains(id));
        for tracked in lock(&self.replication.tracking).values_mut() {
            tracked.retain(|id| initializing_anywhere.contains(id));
        }
    }

    /// Recovers a copy assigned here from its primary and reports it
    /// started; on failure gives it back to the master.
    async fn recover(self: Arc<Self>, table: Arc<TableInfo>, shard: u32, allocation_id: String) {
        let id = ShardId {
            table: table.ident.clone(),
            uuid: table.uuid.clone(),
            shard,
        };
        let Err(e) = self.recover_from_primary(&table, &id, &allocation_id).await else {
            return;
        };
        tracing::warn!(shard = %id, allocation_id, error = %e, "recovery failed");
        crate::runtime::sleep(RECOVERY_RETRY_DELAY).await;
        lock(&self.replication.recovering).remove(&allocation_id);
        let Some(coordinator) = self.coordinator() else {
            return;
        };
        let failed = Command::ShardFailed {
            uuid: id.uuid.clone(),
            shard,
            allocation_id,
            reason: format!("recovery failed: {e}"),
        };
        if let Err(e) = coordinator.propose(failed).await {
            tracing::warn!(shard = %id, error = %e, "cannot report a failed recovery");
        }
    }

    async fn recover_from_primary(
        &self,
        table: &Arc<TableInfo>,
        id: &ShardId,
        allocation_id: &str,
    ) -> Result<()> {
        let coordinator = self.coordinator().ok_or_else(crate::cluster::no_master)?;
        let primary = self
            .locate(id, CopyRole::Primary)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::ShardsUnavailable(format!("{id} has no primary")))?;
        let files = match coordinator
            .send_shard(
                &primary,
                ShardRequest::RecoverFiles {
                    shard: id.clone(),
                    allocation_id: allocation_id.to_string(),
                },
            )
            .await?
        {
            ShardResponse::RecoveryFiles(f) => f,
            other => return Err(unexpected(&other)),
        };
        let (segments, bytes) = (files.segments.len(), files.size());
        let disk = self.disk.clone();
        let durable = self.config.durable;
        let (t, n) = (table.clone(), id.shard);
        let copy = Arc::new(
            crate::runtime::run_blocking(move || Shard::open_recovered(t, n, disk, durable, files))
                .await?,
        );
        if let Some(current) = self
            .catalog()
            .table(&id.table)
            .filter(|t| t.uuid == id.uuid)
        {
            copy.set_table(current.clone());
        }
        self.install_shard(&id.uuid, id.shard, copy.clone());
        let ops = match coordinator
            .send_shard(
                &primary,
                ShardRequest::RecoverOps {
                    shard: id.clone(),
                    allocation_id: allocation_id.to_string(),
                },
            )
            .await?
        {
            ShardResponse::RecoveryOps(ops) => ops,
            other => return Err(unexpected(&other)),
        };
        let replayed = ops.len();
        let applied = copy.clone();
        let sync = crate::runtime::run_blocking(move || applied.apply_replicated(ops)).await?;
        wait_durable(sync).await?;
        coordinator
            .propose(Command::ShardStarted {
                uuid: id.uuid.clone(),
                shard: id.shard,
                allocation_id: allocation_id.to_string(),
            })
            .await?;
        tracing::info!(
            shard = %id, allocation_id, segments, bytes, operations = replayed,
            "recovered from the primary"
        );
        Ok(())
    }
}

async fn wait_durable(sync: Option<TranslogSync>) -> Result<()> {
    match sync {
        Some(sync) => SyncInFlight::wait_all(vec![sync.start()]).await,
        None => Ok(()),
    }
}

fn unexpected(response: &ShardResponse) -> Error {
    Error::internal(format!("unexpected shard response: {}", response.kind()))
}
