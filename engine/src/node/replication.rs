//! Replication, the node's part: a write runs on the primary's node
//! ([`Node::serve_local`]), which then sends the operations it sequenced to
//! the shard's other copies: the started ones in the in-sync set, and the
//! recovering ones that have asked for operations. The write is
//! acknowledged once every one of them applied the operations durably, or
//! was failed through the master (it leaves the in-sync set, so it can
//! never become primary with operations missing). A copy that refuses the
//! operations because it knows a newer primary term fails the write, not
//! itself: the sender is no longer the primary.
//!
//! Each shard's writes on its primary pass a [`WriteGates`] gate (shared);
//! a primary handing off to its relocated copy closes it (exclusive), so no
//! write is in flight while the other copy becomes primary. A write that
//! reaches a node that is no longer the primary is sent on, once, to the
//! one the routing table names.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::Node;
use crate::cluster::{Command, CopyState};
use crate::error::{Error, Result};
use crate::planted::{Bug, planted};
use crate::request::{ShardId, ShardRequest, ShardResponse};
use crate::storage::{Op, Shard, SyncInFlight};

/// One shard's gate: writes hold it shared, a hand-off exclusively.
type Gate = Arc<tokio::sync::RwLock<()>>;

/// A gate per shard that its primary's writes pass (see the module notes).
#[derive(Debug, Default)]
pub(super) struct WriteGates(std::sync::Mutex<BTreeMap<(String, u32), Gate>>);

impl WriteGates {
    /// The gate of a shard.
    pub(super) fn of(&self, shard: &ShardId) -> Gate {
        let mut gates = self.0.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .entry((shard.uuid.clone(), shard.shard))
            .or_default()
            .clone()
    }

    /// Forgets the gates of shards `keep` does not name.
    pub(super) fn retain(&self, keep: impl Fn(&str, u32) -> bool) {
        let mut gates = self.0.lock().unwrap_or_else(|p| p.into_inner());
        gates.retain(|(uuid, shard), _| keep(uuid, *shard));
    }
}

impl Node {
    /// The node holding the started primary of `shard`, when the routing
    /// table this node follows puts it on another node (in a cluster).
    pub(super) fn primary_elsewhere(&self, shard: &ShardId) -> Option<String> {
        let me = self.coordinator()?.id;
        let followed = self.followed();
        let state = &followed.state;
        let primary = state.shard(&shard.uuid, shard.shard)?.primary()?;
        let node = primary.node.filter(|n| *n != me)?;
        matches!(primary.state, CopyState::Started | CopyState::Relocating)
            .then(|| state.members.get(&node).map(|m| m.node_id.clone()))
            .flatten()
    }

    /// Sends a write on to the shard's primary on another node, once.
    pub(super) async fn forward_write(
        &self,
        mut write: crate::request::ShardWrite,
        node: &str,
    ) -> Result<ShardResponse> {
        if write.forwarded {
            return Err(Error::ShardsUnavailable(format!(
                "{}: its primary moved while the write was on its way; try again",
                write.shard
            )));
        }
        let coordinator = self.coordinator().ok_or_else(crate::cluster::no_master)?;
        write.forwarded = true;
        coordinator
            .send_shard(node, ShardRequest::Write(write))
            .await
    }

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
        let Some(copies) = copies.filter(|c| c.primary_on(me)) else {
            return Err(Error::ShardsUnavailable(format!(
                "{shard}: this node does not hold its primary"
            )));
        };
        Ok(copies.copies.iter().any(|c| !c.primary && c.node.is_some()))
    }

    /// The copies a primary's operations go to: (allocation id, node id),
    /// and the allocation ids of the in-sync ones.
    pub(super) fn replication_targets(
        &self,
        shard: &ShardId,
    ) -> (Vec<(String, String)>, Vec<String>) {
        let followed = self.followed();
        let state = &followed.state;
        let Some(copies) = state.shard(&shard.uuid, shard.shard) else {
            return Default::default();
        };
        let tracked = self.tracked_copies(shard);
        let mut in_sync = Vec::new();
        let targets = copies
            .copies
            .iter()
            .filter(|c| !c.primary)
            .filter_map(|c| {
                let id = c.allocation_id.as_ref()?;
                let member = state.members.get(&c.node?)?;
                let wanted = match c.state {
                    CopyState::Started | CopyState::Relocating => copies.in_sync.contains(id),
                    CopyState::Initializing => tracked.contains(id),
                    CopyState::Unassigned => false,
                };
                if wanted && copies.in_sync.contains(id) {
                    in_sync.push(id.clone());
                }
                wanted.then(|| (id.clone(), member.node_id.clone()))
            })
            .collect();
        (targets, in_sync)
    }

    /// Sends a primary's operations to the shard's other copies and waits
    /// for each; a copy that fails is failed through the master. The
    /// answers move the global checkpoint. Nothing to send (a read) sends
    /// nothing.
    pub(super) async fn replicate(
        &self,
        shard: &ShardId,
        primary_term: u64,
        ops: Vec<Op>,
    ) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.send_to_copies(shard, primary_term, ops).await?;
        crate::audit::primary_acknowledged(shard, primary_term, &self.config.node_name);
        Ok(())
    }

    /// [`Node::replicate`]'s work; with no operations, it only ships the
    /// global checkpoint.
    pub(super) async fn send_to_copies(
        &self,
        shard: &ShardId,
        primary_term: u64,
        ops: Vec<Op>,
    ) -> Result<()> {
        let Some(coordinator) = self.coordinator() else {
            return Ok(());
        };
        let copy = self.copy_of(shard)?;
        let (targets, in_sync) = self.replication_targets(shard);
        if targets.is_empty() {
            copy.advance_global_checkpoint(&in_sync);
            return Ok(());
        }
        let has_ops = !ops.is_empty();
        let request = ShardRequest::Replicate {
            shard: shard.clone(),
            primary_term,
            global_checkpoint: copy.shipped_global_checkpoint(),
            ops,
        };
        if planted(Bug::AckBeforeReplicas) && has_ops {
            let coordinator = coordinator.clone();
            tokio::spawn(async move {
                for (_, node) in targets {
                    let _ = coordinator.send_shard(&node, request.clone()).await;
                }
            });
            return Ok(());
        }
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
                Ok(ShardResponse::Replicated { local_checkpoint }) => {
                    copy.record_peer_checkpoint(&allocation_id, local_checkpoint);
                }
                // Not the copy's fault: this node is no longer the primary,
                // and the write is not acknowledged.
                Err(e @ Error::StalePrimary(_)) => stale = Some(e),
                Ok(other) => {
                    let reason = format!("answered replication with {}", other.kind());
                    let failure = CopyFailure::same_history(reason);
                    self.fail_copy(shard, primary_term, &allocation_id, &node, failure)
                        .await?;
                }
                Err(e) => {
                    let failure = CopyFailure::unreachable(&e);
                    self.fail_copy(shard, primary_term, &allocation_id, &node, failure)
                        .await?
                }
            }
        }
        if let Some(stale) = stale {
            return Err(stale);
        }
        // Failed copies left the in-sync set meanwhile.
        let (_, in_sync) = self.replication_targets(shard);
        copy.advance_global_checkpoint(&in_sync);
        Ok(())
    }

    /// Ships each local primary's global checkpoint to its copies when it
    /// moved since it was last shipped, or lags the primary's own local
    /// checkpoint (writes ship it too, one step behind; this lets the
    /// copies of a shard that went quiet catch up, and copies that just
    /// started report their local checkpoints).
    pub(super) async fn sync_global_checkpoints(&self) {
        let Some(coordinator) = self.coordinator() else {
            return;
        };
        let me = coordinator.id;
        let followed = self.followed();
        for table in followed.state.catalog.tables() {
            let Some(shards) = followed.state.routing.tables.get(&table.uuid) else {
                continue;
            };
            let primaries = shards.iter().enumerate().filter(|(_, c)| c.primary_on(me));
            for (n, _) in primaries {
                let id = ShardId {
                    table: table.ident.clone(),
                    uuid: table.uuid.clone(),
                    shard: n as u32,
                };
                let Ok(copy) = self.copy_of(&id) else {
                    continue;
                };
                let (_, in_sync) = self.replication_targets(&id);
                if !copy.global_checkpoint_sync_due(&in_sync) || copy.resync_due().is_some() {
                    continue;
                }
                {
                    let gate = self.write_gates.of(&id);
                    let _gate = gate.read().await;
                    let term = copy.primary_term();
                    if let Err(e) = self.send_to_copies(&id, term, Vec::new()).await {
                        tracing::debug!(shard = %id, error = %e, "global checkpoint not shipped");
                        continue;
                    }
                }
                self.fail_lagging_copies(&id, &copy).await;
            }
        }
    }

    /// Takes a copy that missed operations out of the in-sync set, through
    /// the master; the write waits for that (it cannot be acknowledged
    /// while a copy without it could become primary).
    pub(super) async fn fail_copy(
        &self,
        shard: &ShardId,
        primary_term: u64,
        allocation_id: &str,
        node: &str,
        failure: CopyFailure,
    ) -> Result<()> {
        let CopyFailure {
            reason,
            diverged,
            unreachable,
        } = failure;
        tracing::warn!(%shard, allocation_id, node, %reason, "failing a shard copy");
        let coordinator = self.coordinator().ok_or_else(crate::cluster::no_master)?;
        let (index, _) = coordinator
            .propose(Command::ShardFailed {
                uuid: shard.uuid.clone(),
                shard: shard.shard,
                allocation_id: allocation_id.to_string(),
                reason,
                primary_term: Some(primary_term),
                diverged,
                out_of_reach: unreachable,
            })
            .await?;
        coordinator
            .wait_followed(index, Duration::from_secs(10))
            .await?;
        // The master ignores a primary of an older term (the copy may be
        // the new primary): this one must not acknowledge the write.
        let state = self.followed().state;
        let term = state
            .shard(&shard.uuid, shard.shard)
            .map(|c| c.primary_term);
        if term != Some(primary_term) {
            return Err(Error::StalePrimary(format!(
                "{shard}: primary term {primary_term} was replaced; the copy was not failed"
            )));
        }
        Ok(())
    }

    /// A replica applies operations from its primary, and learns the
    /// global checkpoint the primary knows.
    pub(super) async fn apply_from_primary(
        &self,
        shard: &ShardId,
        primary_term: u64,
        global_checkpoint: Option<u64>,
        ops: Vec<Op>,
    ) -> Result<ShardResponse> {
        let copy = self.copy_of(shard)?;
        check_term(shard, &copy, primary_term)?;
        copy.raise_primary_term(primary_term);
        copy.learn_global_checkpoint(global_checkpoint);
        let applying = copy.clone();
        let sync = if ops.len() > crate::exec::OFFLOAD_ROWS {
            crate::runtime::run_blocking(move || applying.apply_replicated(ops)).await?
        } else {
            applying.apply_replicated(ops)?
        };
        SyncInFlight::wait_for(sync).await?;
        Ok(ShardResponse::Replicated {
            local_checkpoint: copy.local_checkpoint(),
        })
    }

    /// This node's open copy of a shard.
    pub(super) fn copy_of(&self, shard: &ShardId) -> Result<Arc<Shard>> {
        self.shard(&shard.uuid, shard.shard)
            .ok_or_else(|| Error::ShardsUnavailable(format!("{shard} is not available")))
    }
}

/// Refuses a primary's request of an older term than the copy knows.
pub(super) fn check_term(shard: &ShardId, copy: &Shard, primary_term: u64) -> Result<()> {
    let known = copy.primary_term();
    if primary_term < known {
        return Err(Error::StalePrimary(format!(
            "{shard}: a request from a primary of term {primary_term}, but this copy knows \
             term {known}"
        )));
    }
    Ok(())
}

/// Why a primary fails a copy, and whether the copy's history may hold
/// operations the primary never had (found by a resync after a promotion):
/// such a copy's data is not reused to catch up by operations.
pub(super) struct CopyFailure {
    pub reason: String,
    pub diverged: bool,
    /// The copy's node could not be reached: not the copy's own failure,
    /// so it does not count against `allocation.max_retries` (under packet
    /// loss a primary's connection to a node back from a restart failed
    /// new copies there five times within a second: YELLOW for good).
    pub unreachable: bool,
}

impl CopyFailure {
    /// A copy of this term's history that could not take a write.
    pub fn same_history(reason: String) -> CopyFailure {
        CopyFailure {
            reason,
            diverged: false,
            unreachable: false,
        }
    }

    /// A copy whose history may hold operations this primary never had:
    /// its data is not reused.
    pub fn diverged(reason: String) -> CopyFailure {
        CopyFailure {
            diverged: true,
            ..CopyFailure::same_history(reason)
        }
    }

    /// A copy of this term's history whose node the write did not reach.
    pub fn unreachable(error: &Error) -> CopyFailure {
        CopyFailure {
            unreachable: matches!(error, Error::NodeUnreachable(_) | Error::Io(_)),
            ..CopyFailure::same_history(error.to_string())
        }
    }
}
