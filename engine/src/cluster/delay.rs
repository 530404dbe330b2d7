//! Delayed allocation, the master's clock: replicas of a node that left
//! wait for it (`unassigned.node_left.delayed_timeout`), and the master
//! ends their wait once the timeout has passed since it first saw them
//! waiting. Time stays out of the cluster state: the state only records
//! that a replica waits, and the master proposes [`Command::EndDelay`].

use std::collections::BTreeMap;

use super::state::{ClusterState, Command, MemberId};

/// When the master first saw each delayed replica waiting: (table uuid,
/// shard, the node it waits for) → then. A new master starts the clocks
/// again, so a replica waits at least its timeout, sometimes longer.
#[derive(Debug, Default)]
pub(super) struct DelayTimers(BTreeMap<(String, u32, MemberId), tokio::time::Instant>);

impl DelayTimers {
    /// The commands that end the waits whose time is up at `now`.
    pub(super) fn expired(
        &mut self,
        state: &ClusterState,
        now: tokio::time::Instant,
    ) -> Vec<Command> {
        let delayed = state.delayed_copies();
        self.0.retain(|k, _| delayed.contains(k));
        let mut commands = Vec::new();
        for (uuid, shard, node) in delayed {
            let since = *self.0.entry((uuid.clone(), shard, node)).or_insert(now);
            let timeout = state
                .catalog
                .tables()
                .find(|t| t.uuid == uuid)
                .map(|t| t.delayed_timeout())
                .unwrap_or_default();
            if now.duration_since(since) >= timeout {
                tracing::info!(table_uuid = %uuid, shard, node, "delayed allocation timed out");
                commands.push(Command::EndDelay { uuid, shard, node });
            }
        }
        commands
    }

    /// Forgets every clock (this node is no longer master).
    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}
