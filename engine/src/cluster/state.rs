//! The cluster state: what consensus keeps — the members, the catalog, the
//! cluster settings and the routing table (which node holds which shard
//! copy). It changes only by applying committed [`Command`]s and
//! membership changes, in log order, on every node alike, so [`apply`] and
//! [`allocate`] are pure: the same log gives every node the same state.
//!
//! [`apply`]: ClusterState::apply

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::settings::ClusterSettings;
use crate::catalog::Catalog;

/// The raft id of a node (openraft's `NodeId`).
pub type MemberId = u64;

/// A node as the cluster knows it: its names and addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    /// The node's id (`sys.nodes.id`).
    pub node_id: String,
    /// Where other nodes reach it (`HOST:PORT`).
    pub transport: String,
    /// Its HTTP address, shown in `sys.nodes`.
    pub http: Option<String>,
}

/// A change to the cluster state, proposed by any node and applied in log
/// order. Each names the state version it was decided on: a decision made
/// on a state that has moved on since is refused as stale, and its
/// proposer decides again on the newer state (nothing is silently merged).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    PutCatalog {
        base: u64,
        catalog: Catalog,
    },
    PutSettings {
        base: u64,
        settings: ClusterSettings,
    },
}

/// What applying one log entry did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// Applied: the state is now at `version`.
    Applied { version: u64 },
    /// Refused: decided on an older state than `version`.
    Stale { version: u64 },
}

/// The state of one shard copy, in CrateDB's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CopyState {
    Unassigned,
    Initializing,
    Started,
    Relocating,
}

/// One copy of a shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCopy {
    pub primary: bool,
    pub node: Option<MemberId>,
    pub state: CopyState,
    /// Names this copy's data, so a node can tell its copy from an older one.
    pub allocation_id: Option<String>,
    /// The node that held this copy before it left: an unassigned primary
    /// waits for it, since no other node has its data.
    pub last_node: Option<MemberId>,
}

/// The copies of one shard, the primary first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCopies {
    pub primary_term: u64,
    pub copies: Vec<ShardCopy>,
}

/// The routing table as data: for each table (by uuid), its shards' copies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    pub tables: BTreeMap<String, Vec<ShardCopies>>,
    /// Allocation ids are numbered in log order, so every node names a copy alike.
    pub next_allocation: u64,
}

/// Everything consensus keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Bumped by every applied command.
    pub version: u64,
    pub catalog: Catalog,
    pub settings: ClusterSettings,
    /// Every member, voters and learners.
    pub members: BTreeMap<MemberId, Member>,
    pub voters: BTreeSet<MemberId>,
    pub routing: Routing,
}

impl ClusterState {
    /// Applies a command; a stale one changes nothing.
    pub fn apply(&mut self, command: Command) -> CommandResult {
        let base = match &command {
            Command::PutCatalog { base, .. } | Command::PutSettings { base, .. } => *base,
        };
        if base != self.version {
            return CommandResult::Stale {
                version: self.version,
            };
        }
        match command {
            Command::PutCatalog { catalog, .. } => self.catalog = catalog,
            Command::PutSettings { settings, .. } => self.settings = settings,
        }
        self.version += 1;
        self.allocate();
        CommandResult::Applied {
            version: self.version,
        }
    }

    /// Takes a committed membership: who is in the cluster and who votes.
    pub fn set_members(&mut self, members: BTreeMap<MemberId, Member>, voters: BTreeSet<MemberId>) {
        self.members = members;
        self.voters = voters;
        self.allocate();
    }

    /// The routing of a table's shard, if allocated.
    pub fn shard(&self, uuid: &str, shard: u32) -> Option<&ShardCopies> {
        self.routing.tables.get(uuid)?.get(shard as usize)
    }

    /// Brings the routing table in line with the catalog and the members:
    /// new tables get their copies, copies of dropped tables go, copies on
    /// nodes that left become unassigned, and unassigned primaries go to
    /// the node that has their data, or, for a new shard, to the node with
    /// the fewest copies.
    ///
    /// Only primaries are placed so far: replicas are listed, unassigned,
    /// until replication exists.
    pub fn allocate(&mut self) {
        let members: BTreeSet<MemberId> = self.members.keys().copied().collect();
        let node_count = members.len().max(1);
        let tables: BTreeMap<&str, _> = self
            .catalog
            .tables()
            .map(|t| (t.uuid.as_str(), t))
            .collect();
        self.routing
            .tables
            .retain(|uuid, _| tables.contains_key(uuid.as_str()));
        for (uuid, table) in &tables {
            let shards = self.routing.tables.entry(uuid.to_string()).or_default();
            shards.truncate(table.num_shards as usize);
            while shards.len() < table.num_shards as usize {
                shards.push(ShardCopies {
                    primary_term: 1,
                    copies: vec![unassigned(true)],
                });
            }
            let replicas = table.replicas_wanted(node_count) as usize;
            for shard in shards.iter_mut() {
                for copy in &mut shard.copies {
                    if copy.node.is_some_and(|n| !members.contains(&n)) {
                        copy.last_node = copy.node.take();
                        copy.state = CopyState::Unassigned;
                    }
                }
                // The primary is the first copy; the replicas follow it.
                let wanted = 1 + replicas;
                shard.copies.truncate(wanted);
                while shard.copies.len() < wanted {
                    shard.copies.push(unassigned(false));
                }
            }
        }
        let mut load: BTreeMap<MemberId, usize> = members.iter().map(|m| (*m, 0)).collect();
        for copies in self.routing.tables.values().flatten() {
            for c in &copies.copies {
                if let Some(n) = c.node {
                    *load.entry(n).or_default() += 1;
                }
            }
        }
        let mut next_allocation = self.routing.next_allocation;
        for shards in self.routing.tables.values_mut() {
            for shard in shards.iter_mut() {
                let Some(primary) = shard.copies.iter_mut().find(|c| c.primary) else {
                    continue;
                };
                if primary.node.is_some() {
                    continue;
                }
                let target = match primary.last_node {
                    // Its data is on the node that had it: wait for that node.
                    Some(last) => members.contains(&last).then_some(last),
                    None => load
                        .iter()
                        .min_by_key(|(id, n)| (**n, **id))
                        .map(|(id, _)| *id),
                };
                if let Some(node) = target {
                    primary.node = Some(node);
                    primary.state = CopyState::Started;
                    if primary.allocation_id.is_none() {
                        next_allocation += 1;
                        primary.allocation_id = Some(format!("a{next_allocation}"));
                    }
                    *load.entry(node).or_default() += 1;
                }
            }
        }
        self.routing.next_allocation = next_allocation;
    }
}

fn unassigned(primary: bool) -> ShardCopy {
    ShardCopy {
        primary,
        node: None,
        state: CopyState::Unassigned,
        allocation_id: None,
        last_node: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{TableIdent, TableInfo};

    fn member(name: &str) -> Member {
        Member {
            name: name.into(),
            node_id: format!("id-{name}"),
            transport: format!("{name}:4300"),
            http: None,
        }
    }

    fn three() -> ClusterState {
        let mut s = ClusterState::default();
        let members: BTreeMap<_, _> = (1..=3).map(|i| (i, member(&format!("n{i}")))).collect();
        let voters = members.keys().copied().collect();
        s.set_members(members, voters);
        s
    }

    fn with_table(s: &mut ClusterState, name: &str, shards: u32) -> String {
        let mut catalog = s.catalog.clone();
        let mut t = TableInfo::for_tests(&[], shards);
        t.ident = TableIdent::new("doc", name);
        t.uuid = format!("uuid-{name}");
        let uuid = t.uuid.clone();
        catalog.put_table(t);
        let version = s.version;
        let result = s.apply(Command::PutCatalog {
            base: version,
            catalog,
        });
        assert_eq!(
            result,
            CommandResult::Applied {
                version: version + 1
            }
        );
        uuid
    }

    fn per_node(s: &ClusterState) -> BTreeMap<MemberId, usize> {
        let mut n = BTreeMap::new();
        for c in s.routing.tables.values().flatten().flat_map(|c| &c.copies) {
            if let Some(node) = c.node {
                *n.entry(node).or_default() += 1;
            }
        }
        n
    }

    #[test]
    fn primaries_spread_evenly_and_allocation_is_deterministic() {
        let mut a = three();
        with_table(&mut a, "t", 6);
        assert_eq!(per_node(&a), BTreeMap::from([(1, 2), (2, 2), (3, 2)]));
        let b = a.clone();
        let mut a2 = a.clone();
        a2.allocate();
        assert_eq!(a2, b, "allocating again changes nothing");
    }

    #[test]
    fn a_stale_command_changes_nothing() {
        let mut s = three();
        with_table(&mut s, "t", 2);
        let before = s.clone();
        let result = s.apply(Command::PutCatalog {
            base: 0,
            catalog: Catalog::default(),
        });
        assert_eq!(result, CommandResult::Stale { version: 1 });
        assert_eq!(s, before);
    }

    #[test]
    fn a_primary_whose_node_left_waits_for_it_and_returns_with_it() {
        let mut s = three();
        let uuid = with_table(&mut s, "t", 3);
        let on_3 = s.routing.tables[&uuid]
            .iter()
            .position(|c| c.copies[0].node == Some(3))
            .expect("a primary on n3");
        let mut members = s.members.clone();
        let gone = members.remove(&3).unwrap();
        s.set_members(members.clone(), [1, 2].into());
        let copy = &s.routing.tables[&uuid][on_3].copies[0];
        assert_eq!((copy.node, copy.state), (None, CopyState::Unassigned));
        assert_eq!(copy.last_node, Some(3));
        members.insert(3, gone);
        s.set_members(members, [1, 2, 3].into());
        let copy = &s.routing.tables[&uuid][on_3].copies[0];
        assert_eq!((copy.node, copy.state), (Some(3), CopyState::Started));
    }

    #[test]
    fn dropped_tables_leave_the_routing_table() {
        let mut s = three();
        let uuid = with_table(&mut s, "t", 2);
        let mut catalog = s.catalog.clone();
        catalog.remove_table(&TableIdent::new("doc", "t"));
        s.apply(Command::PutCatalog {
            base: s.version,
            catalog,
        });
        assert!(!s.routing.tables.contains_key(&uuid));
    }

    #[test]
    fn the_state_survives_the_codec() {
        let mut s = three();
        with_table(&mut s, "t", 4);
        let bytes = crate::request::codec::encode(&s).unwrap();
        let back: ClusterState = crate::request::codec::decode(&bytes).unwrap();
        assert_eq!(back, s);
    }
}
