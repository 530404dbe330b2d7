//! System tables across the cluster. `sys.nodes`, `sys.shards`,
//! `sys.segments`, `sys.jobs` and `sys.jobs_log` hold what each node knows
//! of itself (its resources, its shard copies' statistics, the statements
//! it handles), so a statement gathers every member's own
//! rows (`Rpc::NodeRows`), in member order, and adds the unassigned shard
//! copies: every node answers them alike. The other system tables come
//! from the cluster state, which every node follows.

use super::{Node, RoutingTable};
use crate::catalog::DEFAULT_SCHEMA;
use crate::error::Result;
use crate::planner::SystemTable;
use crate::types::Row;

impl Node {
    /// The rows of a system table, for a statement on this node.
    pub(super) async fn gathered_rows(&self, st: SystemTable, schema: &str) -> Result<Vec<Row>> {
        let Some(coordinator) = self.coordinator().filter(|_| per_node(st)) else {
            return Ok(self.system_rows(st, schema));
        };
        let mut by_member = coordinator.gather_rows(st).await;
        // One routing table for this node's rows and the unassigned copies.
        let routing = self.routing_table();
        let nodes = routing.nodes;
        let (mine, unassigned): (Vec<_>, Vec<_>) = routing
            .copies
            .into_iter()
            .filter(|c| c.node.is_none() || c.node.as_deref() == Some(self.id.as_str()))
            .partition(|c| c.node.is_some());
        let mine = RoutingTable {
            copies: mine,
            nodes,
        };
        by_member.push((
            coordinator.id,
            self.system_rows_with(st, DEFAULT_SCHEMA, &mine),
        ));
        by_member.sort_by_key(|(id, _)| *id);
        let mut rows: Vec<Row> = by_member.into_iter().flat_map(|(_, r)| r).collect();
        if st == SystemTable::SysShards {
            let unassigned = RoutingTable {
                copies: unassigned,
                nodes,
            };
            rows.extend(self.system_rows_with(st, schema, &unassigned));
        }
        Ok(rows)
    }

    /// This node's own rows of a per-node system table: itself, or the
    /// shard copies it holds.
    pub(super) fn own_rows(&self, st: SystemTable) -> Vec<Row> {
        let mut routing = self.routing_table();
        routing
            .copies
            .retain(|c| c.node.as_deref() == Some(self.id.as_str()));
        self.system_rows_with(st, DEFAULT_SCHEMA, &routing)
    }
}

/// Whether each node contributes its own rows to the table.
fn per_node(st: SystemTable) -> bool {
    matches!(
        st,
        SystemTable::SysNodes
            | SystemTable::SysShards
            | SystemTable::SysSegments
            | SystemTable::SysJobs
            | SystemTable::SysJobsLog
    )
}
