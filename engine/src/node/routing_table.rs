//! The routing table: which node holds each shard copy, and in what state.
//!
//! Health and `sys.shards` are computed from it. On one node every primary
//! is local and replicas are unassigned; the cluster replaces this with the
//! routing table its master allocates.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalog::{Catalog, TableInfo};
use crate::cluster::{ClusterState, CopyState, MemberId, ShardCopies, ShardCopy};
use crate::storage::Shard;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardState {
    Unassigned,
    Initializing,
    Started,
    Relocating,
}

impl ShardState {
    /// CrateDB's spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            ShardState::Unassigned => "UNASSIGNED",
            ShardState::Initializing => "INITIALIZING",
            ShardState::Started => "STARTED",
            ShardState::Relocating => "RELOCATING",
        }
    }
}

/// One shard copy in the routing table.
#[derive(Debug, Clone)]
pub struct ShardRouting {
    pub table: Arc<TableInfo>,
    pub shard_id: u32,
    pub primary: bool,
    pub node: Option<String>,
    /// The holder's name (`sys.shards.node['name']`).
    pub node_name: Option<String>,
    pub state: ShardState,
    /// The local copy, when it lives on this node.
    pub local: Option<Arc<Shard>>,
    /// A relocation's other end (CrateDB's `relocating_node`).
    pub relocating_node: Option<String>,
    /// A primary that was never started: its table (or shard) is new, so
    /// while it is not started no data is missing (YELLOW, not RED).
    pub new_primary: bool,
    /// Why an unassigned copy is not allocated (`sys.allocations`).
    pub unassigned_reason: Option<String>,
}

impl ShardRouting {
    /// Whether this is the new copy of a relocation: it does not count
    /// against health until it replaces the old one.
    pub fn is_relocation_target(&self) -> bool {
        self.state == ShardState::Initializing && self.relocating_node.is_some()
    }
}

/// Which node holds which shard copy.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    pub copies: Vec<ShardRouting>,
    pub nodes: usize,
}

impl RoutingTable {
    /// The routing table of a one-node cluster: every primary is local and
    /// started; replicas have nowhere to go and stay unassigned.
    pub fn single_node(
        catalog: &Catalog,
        node_id: &str,
        node_name: &str,
        shards: &BTreeMap<String, BTreeMap<u32, Arc<Shard>>>,
    ) -> RoutingTable {
        let mut copies = Vec::new();
        for table in catalog.tables() {
            let local = shards.get(&table.uuid);
            for s in 0..table.num_shards {
                let shard = local.and_then(|l| l.get(&s)).cloned();
                copies.push(ShardRouting {
                    table: table.clone(),
                    shard_id: s,
                    primary: true,
                    node: shard.as_ref().map(|_| node_id.to_string()),
                    node_name: shard.as_ref().map(|_| node_name.to_string()),
                    state: if shard.is_some() {
                        ShardState::Started
                    } else {
                        ShardState::Unassigned
                    },
                    local: shard,
                    relocating_node: None,
                    new_primary: false,
                    unassigned_reason: None,
                });
                for _ in 0..table.replicas_wanted(1) {
                    copies.push(ShardRouting {
                        table: table.clone(),
                        shard_id: s,
                        primary: false,
                        node: None,
                        node_name: None,
                        state: ShardState::Unassigned,
                        local: None,
                        relocating_node: None,
                        new_primary: false,
                        unassigned_reason: Some(
                            "a copy of this shard is already allocated to this node".into(),
                        ),
                    });
                }
            }
        }
        RoutingTable { copies, nodes: 1 }
    }

    /// The routing table of a cluster, from the committed state: nodes are
    /// named by their node ids, and the copies this node holds carry their
    /// local shard.
    pub fn of_cluster(
        state: &ClusterState,
        me: MemberId,
        shards: &BTreeMap<String, BTreeMap<u32, Arc<Shard>>>,
    ) -> RoutingTable {
        let mut copies = Vec::new();
        for table in state.catalog.tables() {
            let Some(routing) = state.routing.tables.get(&table.uuid) else {
                continue;
            };
            for (s, shard) in routing.iter().enumerate() {
                for c in &shard.copies {
                    let local = match c.node == Some(me) {
                        true => shards
                            .get(&table.uuid)
                            .and_then(|l| l.get(&(s as u32)))
                            .cloned(),
                        false => None,
                    };
                    let node_id = |n: MemberId| state.members.get(&n).map(|m| m.node_id.clone());
                    copies.push(ShardRouting {
                        table: table.clone(),
                        shard_id: s as u32,
                        primary: c.primary,
                        node: c.node.and_then(node_id),
                        node_name: c
                            .node
                            .and_then(|n| state.members.get(&n))
                            .map(|m| m.name.clone()),
                        relocating_node: c.relocating_node.and_then(node_id),
                        state: match c.state {
                            CopyState::Unassigned => ShardState::Unassigned,
                            CopyState::Initializing => ShardState::Initializing,
                            CopyState::Started => ShardState::Started,
                            CopyState::Relocating => ShardState::Relocating,
                        },
                        local,
                        // Never allocated, or initializing for the first
                        // time (a primary allocated again gets a new term).
                        new_primary: c.primary
                            && match c.state {
                                CopyState::Unassigned => c.allocation_id.is_none(),
                                CopyState::Initializing => shard.primary_term == 1,
                                _ => false,
                            },
                        unassigned_reason: unassigned_reason(state, table, shard, c),
                    });
                }
            }
        }
        RoutingTable {
            copies,
            nodes: state.members.len().max(1),
        }
    }

    /// Health per table: (table, health, severity, missing primaries,
    /// underreplicated shards, new primaries not started included).
    pub fn health(&self) -> Vec<(Arc<TableInfo>, &'static str, i16, i32, i32)> {
        let mut by_table: BTreeMap<String, (Arc<TableInfo>, i32, i32)> = BTreeMap::new();
        for c in &self.copies {
            let e = by_table
                .entry(c.table.uuid.clone())
                .or_insert((c.table.clone(), 0, 0));
            let active = matches!(c.state, ShardState::Started | ShardState::Relocating);
            if !active && !c.is_relocation_target() {
                // As Elasticsearch's: a primary missing is RED, unless it
                // is new (no data can be missing yet): then YELLOW.
                if c.primary && !c.new_primary {
                    e.1 += 1;
                } else {
                    e.2 += 1;
                }
            }
        }
        by_table
            .into_values()
            .map(|(t, missing, under)| {
                let (h, sev) = if missing > 0 {
                    ("RED", 3)
                } else if under > 0 {
                    ("YELLOW", 2)
                } else {
                    ("GREEN", 1)
                };
                (t, h, sev, missing, under)
            })
            .collect()
    }
}

/// Why an unassigned copy is not allocated, in Elasticsearch's words
/// where it has them (CrateDB shows those in `sys.allocations`).
fn unassigned_reason(
    state: &ClusterState,
    table: &TableInfo,
    shard: &ShardCopies,
    copy: &ShardCopy,
) -> Option<String> {
    if copy.state != CopyState::Unassigned {
        return None;
    }
    let max_retries = table.max_retries();
    if copy.failures >= max_retries {
        return Some(format!(
            "shard has exceeded the maximum number of retries [{max_retries}] on failed \
             allocation attempts - manually call [ALTER CLUSTER REROUTE RETRY FAILED] to retry \
             (failed {} times in a row)",
            copy.failures
        ));
    }
    if copy.delayed {
        return Some(
            "delaying the allocation of a replica whose node left, until the node returns or \
             [unassigned.node_left.delayed_timeout] passes"
                .into(),
        );
    }
    let enable = state.settings.allocation_enable();
    if !enable.allows(copy.primary, copy.allocation_id.is_none()) {
        return Some(format!(
            "allocation is limited by [cluster.routing.allocation.enable] = [{}]",
            enable.as_str()
        ));
    }
    if copy.primary {
        return Some(match copy.last_node {
            Some(_) => "cannot allocate because a previous copy of the primary shard existed \
                        but can no longer be found on the nodes in the cluster"
                .into(),
            None => {
                "cannot allocate because allocation is not permitted to any of the nodes".into()
            }
        });
    }
    let started_primary = shard
        .primary()
        .is_some_and(|p| matches!(p.state, CopyState::Started | CopyState::Relocating));
    Some(match started_primary {
        false => "primary shard for this replica is not yet active".into(),
        true => "a copy of this shard is already allocated to every node".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ReplicaSetting, TableIdent};
    use crate::cluster::{Command, Member};

    /// Health as CrateDB defines it: a new table's primaries not yet
    /// assigned make it YELLOW (no data can be missing); a primary that
    /// held data and is missing makes it RED.
    #[test]
    fn a_new_primary_not_assigned_is_yellow_and_a_lost_one_red() {
        let mut s = ClusterState::default();
        let mut catalog = s.catalog.clone();
        let mut t = TableInfo::for_tests(&[], 2);
        t.number_of_replicas = ReplicaSetting("0".into());
        t.ident = TableIdent::new("doc", "t");
        catalog.put_table(t);
        let version = s.version;
        s.apply(Command::PutCatalog {
            base: version,
            catalog,
        });
        let health = |s: &ClusterState| {
            let table = RoutingTable::of_cluster(s, 1, &BTreeMap::new());
            let (_, health, severity, missing, under) = table.health().remove(0);
            (health, severity, missing, under)
        };
        // No node to put the primaries on yet.
        assert_eq!(health(&s), ("YELLOW", 2, 0, 2));
        let member = Member {
            name: "n1".into(),
            node_id: "id-n1".into(),
            transport: "n1:4300".into(),
            http: None,
        };
        s.set_members(BTreeMap::from([(1, member)]), [1].into());
        // A new primary starts on its node's empty store at once.
        assert_eq!(health(&s), ("GREEN", 1, 0, 0));
        // The node leaves: its primaries, which held data, are missing.
        s.set_members(BTreeMap::new(), Default::default());
        assert_eq!(health(&s), ("RED", 3, 2, 0));
    }
}
