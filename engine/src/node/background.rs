//! The node's housekeeping loop: periodic refresh (per table's
//! `refresh_interval`), segment merges after refreshes, and flushes once a
//! translog grows past its threshold or its shard has been idle for a while.
//!
//! Each shard's work runs in a `shard` span (node, table, shard), so a
//! failure is logged with where it happened, and counted on the shard
//! ([`crate::storage::MaintenanceFailures`], shown in `sys.shards`).

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use tracing::Instrument;

use super::Node;

/// How often the loop wakes up.
const TICK: Duration = Duration::from_millis(50);

pub(super) fn start(node: Weak<Node>) {
    crate::runtime::spawn(async move {
        let mut last_refresh: HashMap<String, tokio::time::Instant> = HashMap::new();
        loop {
            crate::runtime::sleep(TICK).await;
            let Some(node) = node.upgrade() else { return };
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
