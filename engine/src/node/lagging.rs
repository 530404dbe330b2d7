//! In-sync copies that fell behind for good. A write whose operations did
//! not reach a copy fails the copy through the master before it is
//! acknowledged; when that fails too (the master was on the copy's node,
//! down with it) the write is refused, but the operations stay on the
//! primary and the other copies, and nothing sends them to the copy again
//! once its node is back — more so if the primary restarted meanwhile and
//! forgot. The copy then lags for good: its local checkpoint stays below
//! the primary's, and so does the global checkpoint (the property soak
//! found one whose gap never filled).
//!
//! The primary's periodic global checkpoint sync notices: an in-sync copy
//! whose reported local checkpoint is below the primary's and has not
//! moved since the previous round is checked once more with the shard's
//! writes held (none in flight can explain the lag), and failed through
//! the master if it still lags; it recovers (by operations, its history
//! being the primary's) and is in sync again.

use std::collections::BTreeMap;

use super::Node;
use super::replication::CopyFailure;
use crate::request::ShardId;
use crate::storage::Shard;

/// A shard's in-sync copies that lagged: allocation id → the local
/// checkpoint they reported.
type Lags = BTreeMap<String, Option<u64>>;

/// The in-sync copies that lagged at the last sync, per shard.
#[derive(Debug, Default)]
pub(super) struct Lagging(std::sync::Mutex<BTreeMap<(String, u32), Lags>>);

impl Lagging {
    /// Records the copies lagging now; answers those that lagged at the
    /// same local checkpoint at the previous round too.
    fn stalled(&self, shard: &ShardId, now: Vec<(String, Option<u64>)>) -> Vec<String> {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (shard.uuid.clone(), shard.shard);
        let before = all.remove(&key).unwrap_or_default();
        let stalled = now
            .iter()
            .filter(|(id, local)| before.get(id) == Some(local))
            .map(|(id, _)| id.clone())
            .collect();
        if !now.is_empty() {
            all.insert(key, now.into_iter().collect());
        }
        stalled
    }
}

impl Node {
    /// After a global checkpoint sync of a local primary: fails the in-sync
    /// copies that lag for good (see the module notes).
    pub(super) async fn fail_lagging_copies(&self, id: &ShardId, copy: &Shard) {
        let (_, in_sync) = self.replication_targets(id);
        let stalled = self.lagging.stalled(id, copy.lagging_copies(&in_sync));
        if stalled.is_empty() {
            return;
        }
        let gate = self.write_gates.of(id);
        let _held = gate.write().await;
        let term = copy.primary_term();
        if let Err(e) = self.send_to_copies(id, term, Vec::new()).await {
            tracing::debug!(shard = %id, error = %e, "global checkpoint not shipped");
            return;
        }
        let (targets, in_sync) = self.replication_targets(id);
        for (allocation_id, local) in copy.lagging_copies(&in_sync) {
            if !stalled.contains(&allocation_id) {
                continue;
            }
            let Some((_, node)) = targets.iter().find(|(a, _)| *a == allocation_id) else {
                continue;
            };
            let reason = format!(
                "it lags for good: local checkpoint {local:?}, the primary's {:?}",
                copy.local_checkpoint()
            );
            let failure = CopyFailure::same_history(reason);
            if let Err(e) = self
                .fail_copy(id, term, &allocation_id, node, failure)
                .await
            {
                tracing::warn!(shard = %id, allocation_id, error = %e, "cannot fail a lagging copy yet");
            }
        }
    }
}
