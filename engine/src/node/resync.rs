//! Primary-replica resync, the node's part: a copy that became primary
//! under a new term (promoted, or handed a relocated primary) brings the
//! shard's other in-sync copies to its own history before it writes under
//! that term ([`crate::storage::Shard::resync_batch`] explains what is
//! compared). It runs once the routing table makes this node the primary,
//! and the first write of the new term waits for it; the shard's write gate
//! is held throughout, so no write of the new term overtakes it. A copy
//! that diverged, or cannot be reached, is failed through the master and
//! recovers anew.

use std::sync::Arc;

use super::Node;
use super::replication::{CopyFailure, check_term};
use crate::cluster::Command;
use crate::error::{Error, Result};
use crate::request::{ShardId, ShardRequest, ShardResponse};
use crate::storage::{ResyncBatch, ResyncLimit, Resynced, SyncInFlight};

/// Past this many documents and deletes above the global checkpoint, or
/// this many bytes of them, the other copies are recovered from files
/// instead: one message holds the whole resync, well under the transport's
/// frame limit.
const RESYNC_LIMIT: ResyncLimit = ResyncLimit {
    ops: 50_000,
    bytes: 64 << 20,
};

impl Node {
    /// Whether the routing table this node follows puts the shard's primary here.
    fn primary_here(&self, shard: &ShardId) -> bool {
        let Some(me) = self.coordinator().map(|c| c.id) else {
            return false;
        };
        let followed = self.followed();
        let copies = followed.state.shard(&shard.uuid, shard.shard);
        copies.is_some_and(|c| c.primary_on(me))
    }

    /// Resyncs the shard's other copies if this node is its primary and
    /// has not resynced them for its term yet.
    pub(super) async fn resync_if_due(&self, shard: &ShardId) -> Result<()> {
        let Ok(copy) = self.copy_of(shard) else {
            return Ok(());
        };
        if copy.resync_due().is_none() || !self.primary_here(shard) {
            return Ok(());
        }
        let gate = self.write_gates.of(shard);
        let _held = gate.write().await;
        let Some(term) = copy.resync_due() else {
            return Ok(());
        };
        if !self.primary_here(shard) {
            return Ok(());
        }
        let coordinator = self.coordinator().ok_or_else(crate::cluster::no_master)?;
        let (targets, in_sync) = self.replication_targets(shard);
        let targets: Vec<_> = targets
            .into_iter()
            .filter(|(id, _)| in_sync.contains(id))
            .collect();
        let building = copy.clone();
        let (batch, sync) =
            crate::runtime::run_blocking(move || building.resync_batch(RESYNC_LIMIT)).await?;
        SyncInFlight::wait_for(sync).await?;
        let Some(batch) = batch else {
            for (allocation_id, node) in &targets {
                let reason = "too much above the global checkpoint to resync".into();
                let failure = CopyFailure::diverged(reason);
                self.fail_copy(shard, term, allocation_id, node, failure)
                    .await?;
            }
            copy.resynced(term);
            return Ok(());
        };
        let sends = targets.iter().map(|(allocation_id, node)| {
            let request = ShardRequest::Resync {
                shard: shard.clone(),
                batch: batch.clone(),
            };
            let coordinator = coordinator.clone();
            async move {
                (
                    allocation_id,
                    node,
                    coordinator.send_shard(node, request).await,
                )
            }
        });
        let mut resynced = Vec::new();
        for (allocation_id, node, result) in futures::future::join_all(sends).await {
            let reason = match result {
                Ok(ShardResponse::Resynced {
                    local_checkpoint,
                    diverged: None,
                }) => {
                    copy.record_peer_checkpoint(allocation_id, local_checkpoint);
                    resynced.push(allocation_id.clone());
                    continue;
                }
                Ok(ShardResponse::Resynced {
                    diverged: Some(what),
                    ..
                }) => format!("holds {what}, which the new primary never received"),
                Ok(other) => format!("answered a resync with {}", other.kind()),
                Err(e @ Error::StalePrimary(_)) => return Err(e),
                Err(e) => e.to_string(),
            };
            let failure = CopyFailure::diverged(reason);
            self.fail_copy(shard, term, allocation_id, node, failure)
                .await?;
        }
        copy.resynced(term);
        let (_, in_sync) = self.replication_targets(shard);
        copy.advance_global_checkpoint(&in_sync);
        tracing::info!(%shard, term, copies = targets.len(), "resynced the shard's copies");
        self.report_resynced(shard, term, resynced);
        Ok(())
    }

    /// Tells the master which copies now hold this term's history, so that
    /// one that leaves may catch up by operations when it returns. In the
    /// background: the writes the resync held need not wait for it, and a
    /// report that does not arrive only costs such a copy a recovery by
    /// files.
    fn report_resynced(&self, shard: &ShardId, term: u64, allocation_ids: Vec<String>) {
        let Some(coordinator) = self.coordinator().cloned() else {
            return;
        };
        if allocation_ids.is_empty() {
            return;
        }
        let resynced = Command::ShardResynced {
            uuid: shard.uuid.clone(),
            shard: shard.shard,
            primary_term: term,
            allocation_ids,
        };
        let shard = shard.clone();
        crate::runtime::spawn(async move {
            if let Err(e) = coordinator.propose(resynced).await {
                tracing::warn!(%shard, term, error = %e, "cannot report the resynced copies");
            }
        });
    }

    /// Starts the resync of each local primary that needs one.
    pub(super) fn start_due_resyncs(self: &Arc<Self>, shards: Vec<ShardId>) {
        for shard in shards {
            let node = self.clone();
            crate::runtime::spawn(async move {
                if let Err(e) = node.resync_if_due(&shard).await {
                    tracing::warn!(%shard, error = %e, "resync failed; the next write retries it");
                }
            });
        }
    }

    /// A copy takes its new primary's resync.
    pub(super) async fn serve_resync(
        &self,
        shard: &ShardId,
        batch: ResyncBatch,
    ) -> Result<ShardResponse> {
        let copy = self.copy_of(shard)?;
        check_term(shard, &copy, batch.primary_term)?;
        let applying = copy.clone();
        let resynced = crate::runtime::run_blocking(move || applying.apply_resync(batch)).await?;
        let diverged = match resynced {
            Resynced::Applied(sync) => {
                SyncInFlight::wait_for(sync).await?;
                None
            }
            Resynced::Diverged(what) => {
                tracing::warn!(%shard, %what, "this copy diverged from its new primary");
                Some(what)
            }
        };
        Ok(ShardResponse::Resynced {
            local_checkpoint: copy.local_checkpoint(),
            diverged,
        })
    }
}
