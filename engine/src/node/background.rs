//! The node's housekeeping loop: periodic refresh (per table's
//! `refresh_interval`), segment merges after refreshes, flushes once a
//! translog grows past its threshold or its shard has been idle for a
//! while, the primaries' global checkpoints shipped to their copies, and
//! every `stats.service.interval` the tables' statistics collected again.
//!
//! Each shard's work runs in a `shard` span (node, table, shard), so a
//! failure is logged with where it happened, and counted on the shard
//! ([`crate::storage::MaintenanceFailures`], shown in `sys.shards`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tracing::Instrument;

use super::Node;

/// How often the loop wakes up.
const TICK: Duration = Duration::from_millis(50);

/// How often primaries ship a global checkpoint that moved to their copies.
const CHECKPOINT_SYNC: Duration = Duration::from_secs(1);

pub(super) fn start(node: Weak<Node>) {
    crate::runtime::spawn(async move {
        let mut last_refresh: BTreeMap<String, tokio::time::Instant> = BTreeMap::new();
        let mut last_checkpoint_sync = crate::runtime::instant();
        let mut last_stats = crate::runtime::instant();
        let collecting = Arc::new(AtomicBool::new(false));
        loop {
            crate::runtime::sleep(TICK).await;
            let Some(node) = node.upgrade() else { return };
            node.buckets.expire();
            // Statistics are collected apart, one collection at a time:
            // reading every table must not hold up refreshes and flushes.
            if let Some(every) = node.cluster_settings().stats_interval()
                && crate::runtime::instant().duration_since(last_stats) >= every
                && !collecting.swap(true, Ordering::AcqRel)
            {
                last_stats = crate::runtime::instant();
                let (node, collecting) = (node.clone(), collecting.clone());
                crate::runtime::spawn(async move {
                    node.collect_stats().await;
                    collecting.store(false, Ordering::Release);
                });
            }
            if crate::runtime::instant().duration_since(last_checkpoint_sync) >= CHECKPOINT_SYNC {
                last_checkpoint_sync = crate::runtime::instant();
                node.sync_global_checkpoints().await;
            }
            let catalog = node.catalog();
            let now = crate::runtime::instant();
            for table in catalog.tables() {
                let interval = table.refresh_interval_ms;
                let due = interval > 0
                    && last_refresh
                        .get(&table.uuid)
                        .is_none_or(|t| now.duration_since(*t) >= Duration::from_millis(interval));
                if due {
                    last_refresh.insert(table.uuid.clone(), now);
                }
                for s in node.shards_of(&table.uuid) {
                    let span = tracing::info_span!(
                        "shard",
                        node = %node.config.node_name,
                        table = %table.ident,
                        shard = s.shard_id
                    );
                    if s.needs_flush() {
                        span.in_scope(|| s.start_flush());
                    }
                    if (due && s.needs_refresh()) || s.needs_merge() {
                        // One shard at a time, like Elasticsearch's single merge
                        // thread on small machines: housekeeping uses one core and
                        // leaves the other to the writers. While merges run,
                        // refreshes wait, so the next segment is bigger and fewer
                        // merges are needed. A failure is counted and logged
                        // where it happens, and retried on the next tick (the
                        // data stays buffered).
                        let _ = s.maintain(due).instrument(span).await;
                    }
                }
            }
            last_refresh.retain(|uuid, _| catalog.tables().any(|t| &t.uuid == uuid));
        }
    });
}
