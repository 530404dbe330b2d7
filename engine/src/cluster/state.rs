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
    /// A copy finished recovering from its primary: it is started and in
    /// sync. Names the copy by allocation id, so a report about a copy that
    /// has since been replaced changes nothing.
    ShardStarted {
        uuid: String,
        shard: u32,
        allocation_id: String,
        /// The primary term the copy recovered under: a copy that recovered
        /// from a primary since replaced is not started (the new primary
        /// may have operations the old one never sent), it fails and
        /// recovers again. (Absent in log entries written before it.)
        #[serde(default)]
        primary_term: Option<u64>,
    },
    /// A copy failed (a write could not reach it, or its recovery failed):
    /// it leaves the in-sync set and is allocated again.
    ShardFailed {
        uuid: String,
        shard: u32,
        allocation_id: String,
        reason: String,
        /// The term of the primary that fails the copy: a primary replaced
        /// since (whose request arrives late, after a partition) fails
        /// nothing — the copy may be the new primary. (None: the copy's own
        /// node reports it; absent in log entries written before it.)
        #[serde(default)]
        primary_term: Option<u64>,
        /// The copy's history may hold operations the primary never had
        /// (a resync found it): its data is not reused.
        #[serde(default)]
        diverged: bool,
        /// The failure was out of the copy's reach, not its own (its
        /// recovery source could not be reached or could not serve it, or
        /// its primary could not reach its node): it does not count against `allocation.max_retries`,
        /// which stops copies that fail on their node (a one-way cut from a
        /// copy's node to its primary failed five recoveries in a row and
        /// left the cluster YELLOW for good).
        #[serde(default)]
        out_of_reach: bool,
    },
    /// The delayed replicas of a shard whose node left have waited long
    /// enough: they may go to another node.
    EndDelay {
        uuid: String,
        shard: u32,
        node: MemberId,
    },
    /// `ALTER CLUSTER DECOMMISSION`: every copy moves off the node, and no
    /// new one goes to it.
    Decommission {
        node: MemberId,
    },
    /// `ALTER CLUSTER REROUTE RETRY FAILED`: copies that failed too often
    /// are allocated again.
    RetryFailed,
    /// A voter stopped answering, and removing it would leave fewer voters
    /// than the cluster keeps: it stays a voter (so the others keep their
    /// quorum when another fails, as Elasticsearch keeps at least three in
    /// its voting configuration) but leaves the members, and its copies
    /// are allocated as for any node that left.
    NodeLeft {
        node: MemberId,
    },
    /// A voter that left answers again: it is a member once more.
    NodeBack {
        node: MemberId,
    },
    /// The primary of `primary_term` resynced these copies (allocation
    /// ids): their history is now that primary's, so, should they leave,
    /// they may catch up by operations under that term.
    ShardResynced {
        uuid: String,
        shard: u32,
        primary_term: u64,
        allocation_ids: Vec<String>,
    },
}

/// What applying one log entry did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// Applied: the state is now at `version`.
    Applied { version: u64 },
    /// Refused: decided on an older state than `version`.
    Stale { version: u64 },
    /// Changed nothing: the copy it names is no longer in that state.
    Ignored { version: u64 },
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
    /// A replica of a node that left, waiting for it to come back
    /// (`unassigned.node_left.delayed_timeout`) before it is allocated
    /// elsewhere.
    #[serde(default)]
    pub delayed: bool,
    /// A relocation's other end: on the copy being moved away (RELOCATING)
    /// the node it moves to, on the new copy (INITIALIZING) the node it
    /// comes from.
    #[serde(default)]
    pub relocating_node: Option<MemberId>,
    /// A replica of a node that left: the primary term then, if its
    /// history was known to be that term's primary's (`history_term`).
    /// Allocated back to that node under the same term, the copy's history
    /// is the primary's, so it may catch up by operations alone.
    #[serde(default)]
    pub left_term: Option<u64>,
    /// A started replica: the primary term whose primary's history it is
    /// known to hold (the term it started under, or a later one whose
    /// primary resynced it). A promotion does not change it: until the new
    /// primary's resync reaches the copy, it may hold operations of the old
    /// term that the new primary never had.
    #[serde(default)]
    pub history_term: Option<u64>,
    /// Failed allocations in a row; at the table's `allocation.max_retries`
    /// the copy is no longer allocated until `ALTER CLUSTER REROUTE RETRY
    /// FAILED`.
    #[serde(default)]
    pub failures: u32,
}

impl ShardCopy {
    /// Whether this is the new copy of a relocation, not yet started.
    pub fn is_relocation_target(&self) -> bool {
        self.state == CopyState::Initializing && self.relocating_node.is_some()
    }
}

/// The copies of one shard, the primary first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCopies {
    /// Bumped whenever another copy becomes primary: a copy refuses
    /// operations from a primary of an older term.
    pub primary_term: u64,
    pub copies: Vec<ShardCopy>,
    /// The allocation ids of the copies that hold every acknowledged
    /// operation: only these may become primary.
    pub in_sync: BTreeSet<String>,
}

impl ShardCopies {
    /// The primary copy.
    pub fn primary(&self) -> Option<&ShardCopy> {
        self.copies.iter().find(|c| c.primary)
    }

    /// Whether the primary is assigned to `node`.
    pub fn primary_on(&self, node: MemberId) -> bool {
        self.primary().is_some_and(|p| p.node == Some(node))
    }

    /// The copy with this allocation id.
    pub fn copy(&self, allocation_id: &str) -> Option<&ShardCopy> {
        self.copies
            .iter()
            .find(|c| c.allocation_id.as_deref() == Some(allocation_id))
    }

    /// The copy `node` holds, if any.
    pub fn on_node(&self, node: MemberId) -> Option<&ShardCopy> {
        self.copies.iter().find(|c| c.node == Some(node))
    }
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
    /// Every member, voters and learners: the nodes in the cluster.
    pub members: BTreeMap<MemberId, Member>,
    pub voters: BTreeSet<MemberId>,
    pub routing: Routing,
    /// Nodes being drained (`ALTER CLUSTER DECOMMISSION`).
    #[serde(default)]
    pub draining: BTreeSet<MemberId>,
    /// Voters that left but keep their vote ([`Command::NodeLeft`]): not
    /// members until they answer again.
    #[serde(default)]
    pub departed: BTreeMap<MemberId, Member>,
}

impl ClusterState {
    /// Applies a command; a stale one, or one about a copy that is gone,
    /// changes nothing.
    pub fn apply(&mut self, command: Command) -> CommandResult {
        let version = self.version;
        let applied = match command {
            Command::PutCatalog { base, .. } | Command::PutSettings { base, .. }
                if base != version =>
            {
                return CommandResult::Stale { version };
            }
            Command::PutCatalog { catalog, .. } => {
                self.catalog = catalog;
                true
            }
            Command::PutSettings { settings, .. } => {
                self.settings = settings;
                true
            }
            Command::ShardStarted {
                uuid,
                shard,
                allocation_id,
                primary_term,
            } => self.start_copy(&uuid, shard, &allocation_id, primary_term),
            Command::ShardFailed {
                uuid,
                shard,
                allocation_id,
                reason,
                primary_term,
                diverged,
                out_of_reach,
            } => {
                let failed = self.fail_copy(
                    &uuid,
                    shard,
                    &allocation_id,
                    primary_term,
                    diverged,
                    out_of_reach,
                );
                if failed {
                    tracing::debug!(allocation_id, reason, "shard copy failed");
                }
                failed
            }
            Command::EndDelay { uuid, shard, node } => self.end_delay(&uuid, shard, node),
            Command::Decommission { node } => {
                self.members.contains_key(&node) && self.draining.insert(node)
            }
            Command::RetryFailed => self.retry_failed() > 0,
            Command::NodeLeft { node } => match self.members.remove(&node) {
                Some(member) => {
                    self.departed.insert(node, member);
                    self.draining.remove(&node);
                    true
                }
                None => false,
            },
            Command::ShardResynced {
                uuid,
                shard,
                primary_term,
                allocation_ids,
            } => self.resynced_copies(&uuid, shard, primary_term, &allocation_ids),
            Command::NodeBack { node } => match self.departed.remove(&node) {
                Some(member) => {
                    self.members.insert(node, member);
                    true
                }
                None => false,
            },
        };
        if !applied {
            return CommandResult::Ignored { version };
        }
        self.version += 1;
        self.allocate();
        CommandResult::Applied {
            version: self.version,
        }
    }

    /// Takes a committed membership: who is in the cluster and who votes.
    /// A departed voter stays out of the members while it is in the
    /// membership; one the membership dropped is forgotten.
    pub fn set_members(
        &mut self,
        mut members: BTreeMap<MemberId, Member>,
        voters: BTreeSet<MemberId>,
    ) {
        self.departed.retain(|id, _| members.contains_key(id));
        for (id, member) in self.departed.iter_mut() {
            if let Some(m) = members.remove(id) {
                *member = m;
            }
        }
        self.members = members;
        self.voters = voters;
        // A drained node that left comes back as a new one.
        let members = &self.members;
        self.draining.retain(|m| members.contains_key(m));
        self.allocate();
    }

    /// The routing of a table's shard, if allocated.
    pub fn shard(&self, uuid: &str, shard: u32) -> Option<&ShardCopies> {
        self.routing.tables.get(uuid)?.get(shard as usize)
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
        with_replicas(s, name, shards, "0")
    }

    fn with_replicas(s: &mut ClusterState, name: &str, shards: u32, replicas: &str) -> String {
        let mut catalog = s.catalog.clone();
        let mut t = TableInfo::for_tests(&[], shards);
        t.number_of_replicas = crate::catalog::ReplicaSetting(replicas.into());
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

    /// Reports every initializing copy started, as their nodes would once
    /// recovered, until none is left.
    fn start_all(s: &mut ClusterState) {
        loop {
            let initializing: Vec<(String, u32, String)> = s
                .routing
                .tables
                .iter()
                .flat_map(|(uuid, shards)| {
                    shards.iter().enumerate().flat_map(move |(i, sh)| {
                        sh.copies
                            .iter()
                            .filter(|c| c.state == CopyState::Initializing)
                            .filter_map(move |c| {
                                Some((uuid.clone(), i as u32, c.allocation_id.clone()?))
                            })
                    })
                })
                .collect();
            if initializing.is_empty() {
                return;
            }
            for (uuid, shard, allocation_id) in initializing {
                let r = s.apply(Command::ShardStarted {
                    uuid,
                    shard,
                    allocation_id,
                    primary_term: None,
                });
                assert!(matches!(r, CommandResult::Applied { .. }), "{r:?}");
            }
        }
    }

    fn remove_member(s: &mut ClusterState, id: MemberId) -> Member {
        let mut members = s.members.clone();
        let gone = members.remove(&id).unwrap();
        let voters = s.voters.iter().copied().filter(|v| *v != id).collect();
        s.set_members(members, voters);
        gone
    }

    /// A voter that leaves but keeps its vote is out of the members, so its
    /// copies are allocated as for any node that left; back, it is a member
    /// again, and a membership that keeps it does not bring it back.
    #[test]
    fn a_departed_voter_keeps_its_vote_but_not_its_copies() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 6, "1");
        start_all(&mut s);
        let r = s.apply(Command::NodeLeft { node: 2 });
        assert!(matches!(r, CommandResult::Applied { .. }));
        assert!(!s.members.contains_key(&2) && s.departed.contains_key(&2));
        assert!(s.voters.contains(&2));
        // Its primaries were promoted on the others.
        for shard in &s.routing.tables[&uuid] {
            assert!(
                shard
                    .primary()
                    .is_some_and(|p| p.node.is_some() && p.node != Some(2))
            );
        }
        // The same membership committed again (a learner joining) keeps it out.
        let mut members = s.members.clone();
        members.insert(2, s.departed[&2].clone());
        let voters = s.voters.clone();
        s.set_members(members, voters);
        assert!(!s.members.contains_key(&2));
        assert!(matches!(
            s.apply(Command::NodeLeft { node: 2 }),
            CommandResult::Ignored { .. }
        ));
        let r = s.apply(Command::NodeBack { node: 2 });
        assert!(matches!(r, CommandResult::Applied { .. }));
        assert!(s.members.contains_key(&2) && s.departed.is_empty());
        // Removed from the membership for good, a departed voter is forgotten.
        s.apply(Command::NodeLeft { node: 3 });
        remove_member_everywhere(&mut s, 3);
        assert!(s.departed.is_empty() && !s.members.contains_key(&3));
    }

    fn remove_member_everywhere(s: &mut ClusterState, id: MemberId) {
        let members = s.members.clone();
        let voters = s.voters.iter().copied().filter(|v| *v != id).collect();
        s.set_members(members, voters);
    }

    #[test]
    fn replicas_never_share_a_node_with_their_primary_and_spread_evenly() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 6, "1");
        start_all(&mut s);
        assert_eq!(per_node(&s), BTreeMap::from([(1, 4), (2, 4), (3, 4)]));
        for shard in &s.routing.tables[&uuid] {
            let nodes: BTreeSet<_> = shard.copies.iter().filter_map(|c| c.node).collect();
            assert_eq!(nodes.len(), 2, "{shard:?}");
            assert_eq!(shard.in_sync.len(), 2);
            assert!(shard.copies[0].primary);
        }
    }

    #[test]
    fn a_node_recovers_at_most_two_copies_at_once() {
        let mut s = three();
        with_replicas(&mut s, "t", 12, "1");
        let mut recovering = BTreeMap::<MemberId, usize>::new();
        for c in s.routing.tables.values().flatten().flat_map(|c| &c.copies) {
            if c.state == CopyState::Initializing {
                *recovering.entry(c.node.unwrap()).or_default() += 1;
            }
        }
        assert!(recovering.values().all(|n| *n <= 2), "{recovering:?}");
        start_all(&mut s);
        assert_eq!(per_node(&s).values().sum::<usize>(), 24);
    }

    #[test]
    fn losing_a_node_promotes_in_sync_replicas_and_allocates_new_ones() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 6, "1");
        start_all(&mut s);
        let before = s.routing.tables[&uuid].clone();
        remove_member(&mut s, 1);
        for (old, new) in before.iter().zip(&s.routing.tables[&uuid]) {
            let primary = new.primary().unwrap();
            assert_eq!(primary.state, CopyState::Started);
            assert_ne!(primary.node, Some(1));
            if old.primary().unwrap().node == Some(1) {
                assert_eq!(new.primary_term, old.primary_term + 1);
                assert_eq!(primary.allocation_id, old.copies[1].allocation_id);
            } else {
                assert_eq!(new.primary_term, old.primary_term);
            }
            assert!(new.copies.iter().all(|c| c.node != Some(1)));
        }
        // The replicas wait for the node that left until the master ends
        // the delay; then they are re-created on the others.
        start_all(&mut s);
        assert_eq!(per_node(&s), BTreeMap::from([(2, 4), (3, 4)]));
        let delayed = s.delayed_copies();
        assert_eq!(delayed.len(), 4);
        for (uuid, shard, node) in delayed {
            s.apply(Command::EndDelay { uuid, shard, node });
        }
        start_all(&mut s);
        assert_eq!(per_node(&s), BTreeMap::from([(2, 6), (3, 6)]));
    }

    #[test]
    fn a_node_back_within_the_delay_gets_its_replicas_again() {
        let mut s = three();
        with_replicas(&mut s, "t", 6, "1");
        start_all(&mut s);
        let gone = remove_member(&mut s, 3);
        assert_eq!(s.delayed_copies().len(), 4);
        let mut members = s.members.clone();
        members.insert(3, gone);
        s.set_members(members, [1, 2, 3].into());
        start_all(&mut s);
        assert!(s.delayed_copies().is_empty());
        assert_eq!(per_node(&s), BTreeMap::from([(1, 4), (2, 4), (3, 4)]));
    }

    #[test]
    fn a_zero_delay_re_creates_replicas_at_once() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 6, "1");
        let mut catalog = s.catalog.clone();
        let mut t = (**catalog.tables().next().unwrap()).clone();
        t.settings.insert(
            crate::catalog::DELAYED_TIMEOUT.into(),
            serde_json::json!("0"),
        );
        catalog.put_table(t);
        s.apply(Command::PutCatalog {
            base: s.version,
            catalog,
        });
        start_all(&mut s);
        remove_member(&mut s, 2);
        assert!(s.delayed_copies().is_empty());
        start_all(&mut s);
        assert_eq!(per_node(&s), BTreeMap::from([(1, 6), (3, 6)]));
        assert!(
            s.routing.tables[&uuid]
                .iter()
                .all(|sh| sh.in_sync.len() == 2)
        );
    }

    #[test]
    fn a_failed_replica_leaves_the_in_sync_set_and_is_allocated_again() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 1, "1");
        start_all(&mut s);
        let replica = s.routing.tables[&uuid][0].copies[1].clone();
        let id = replica.allocation_id.clone().unwrap();
        let r = s.apply(Command::ShardFailed {
            uuid: uuid.clone(),
            shard: 0,
            allocation_id: id.clone(),
            reason: "test".into(),
            primary_term: None,
            diverged: false,
            out_of_reach: false,
        });
        assert!(matches!(r, CommandResult::Applied { .. }));
        let shard = &s.routing.tables[&uuid][0];
        assert!(!shard.in_sync.contains(&id));
        let again = &shard.copies[1];
        assert_eq!(again.state, CopyState::Initializing);
        assert_ne!(again.allocation_id.as_deref(), Some(id.as_str()));
        // A report about the replaced copy changes nothing.
        let r = s.apply(Command::ShardStarted {
            uuid,
            shard: 0,
            allocation_id: id,
            primary_term: None,
        });
        assert!(matches!(r, CommandResult::Ignored { .. }));
    }

    /// The node of the shard's first replica that is not its primary.
    fn replica_node(s: &ClusterState, uuid: &str) -> MemberId {
        let shard = &s.routing.tables[uuid][0];
        let replica = shard.copies.iter().find(|c| !c.primary && c.node.is_some());
        replica.and_then(|c| c.node).expect("an assigned replica")
    }

    /// The primary term a replica of the node that left may catch up by
    /// operations under.
    fn left_term_of(s: &ClusterState, uuid: &str, node: MemberId) -> Option<u64> {
        let shard = &s.routing.tables[uuid][0];
        let copy = shard.copies.iter().find(|c| c.last_node == Some(node));
        copy.expect("a copy waiting for the node").left_term
    }

    #[test]
    fn a_replica_leaving_under_its_own_term_may_catch_up_by_operations() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 1, "2");
        start_all(&mut s);
        let node = replica_node(&s, &uuid);
        remove_member(&mut s, node);
        assert_eq!(left_term_of(&s, &uuid, node), Some(1));
    }

    /// A replica promoted while another was unreachable has not resynced
    /// it: that copy may hold the old primary's last operations, which the
    /// new primary never had, so it must not catch up by operations.
    #[test]
    fn a_replica_leaving_before_the_new_primary_resynced_it_recovers_by_files() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 1, "2");
        start_all(&mut s);
        let primary = s.routing.tables[&uuid][0].primary().unwrap().node.unwrap();
        remove_member(&mut s, primary);
        assert_eq!(s.routing.tables[&uuid][0].primary_term, 2);
        let node = replica_node(&s, &uuid);
        remove_member(&mut s, node);
        assert_eq!(left_term_of(&s, &uuid, node), None);
    }

    #[test]
    fn a_replica_the_new_primary_resynced_may_catch_up_by_operations() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 1, "2");
        start_all(&mut s);
        let primary = s.routing.tables[&uuid][0].primary().unwrap().node.unwrap();
        remove_member(&mut s, primary);
        let node = replica_node(&s, &uuid);
        let shard = &s.routing.tables[&uuid][0];
        let id = shard.on_node(node).and_then(|c| c.allocation_id.clone());
        let resynced = |term| Command::ShardResynced {
            uuid: uuid.clone(),
            shard: 0,
            primary_term: term,
            allocation_ids: id.iter().cloned().collect(),
        };
        // A report of an older term changes nothing.
        let r = s.apply(resynced(1));
        assert!(matches!(r, CommandResult::Ignored { .. }), "{r:?}");
        let r = s.apply(resynced(2));
        assert!(matches!(r, CommandResult::Applied { .. }), "{r:?}");
        remove_member(&mut s, node);
        assert_eq!(left_term_of(&s, &uuid, node), Some(2));
    }

    #[test]
    fn fewer_nodes_than_replicas_leave_replicas_unassigned() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 2, "3");
        start_all(&mut s);
        for shard in &s.routing.tables[&uuid] {
            let unassigned = shard
                .copies
                .iter()
                .filter(|c| c.state == CopyState::Unassigned)
                .count();
            assert_eq!((shard.copies.len(), unassigned), (4, 1));
        }
    }

    #[test]
    fn a_node_that_joins_receives_replicas_until_balanced() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 6, "1");
        start_all(&mut s);
        let primaries: Vec<_> = s.routing.tables[&uuid]
            .iter()
            .map(|sh| sh.primary().unwrap().node)
            .collect();
        let mut members = s.members.clone();
        members.insert(4, member("n4"));
        s.set_members(members, [1, 2, 3].into());
        // At most two relocations at once, each a RELOCATING copy and its
        // INITIALIZING target on the new node.
        let relocating = s.routing.tables[&uuid]
            .iter()
            .flat_map(|sh| &sh.copies)
            .filter(|c| c.state == CopyState::Relocating)
            .count();
        assert_eq!(relocating, 2);
        start_all(&mut s);
        assert_eq!(
            per_node(&s),
            BTreeMap::from([(1, 3), (2, 3), (3, 3), (4, 3)])
        );
        for (shard, primary) in s.routing.tables[&uuid].iter().zip(primaries) {
            assert_eq!(shard.primary().unwrap().node, primary, "primaries stay");
            assert_eq!(shard.copies.len(), 2);
            assert_eq!(shard.in_sync.len(), 2);
            let nodes: BTreeSet<_> = shard.copies.iter().filter_map(|c| c.node).collect();
            assert_eq!(nodes.len(), 2);
        }
    }

    #[test]
    fn two_nodes_that_join_receive_primaries_and_replicas_until_balanced() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 6, "1");
        start_all(&mut s);
        let mut members = s.members.clone();
        members.insert(4, member("n4"));
        members.insert(5, member("n5"));
        s.set_members(members, [1, 2, 3].into());
        start_all(&mut s);
        let loads = per_node(&s);
        assert_eq!(loads.values().sum::<usize>(), 12);
        assert!(loads.values().all(|n| (2..=3).contains(n)), "{loads:?}");
        let mut primaries = BTreeMap::<MemberId, usize>::new();
        for shard in &s.routing.tables[&uuid] {
            let p = shard.primary().unwrap();
            *primaries.entry(p.node.unwrap()).or_default() += 1;
            assert_eq!(shard.copies.len(), 2);
            assert_eq!(shard.in_sync.len(), 2);
            // A primary that moved did so under the next term.
            assert!(shard.primary_term >= 1);
        }
        assert!(primaries.values().all(|n| *n <= 2), "{primaries:?}");
    }

    #[test]
    fn a_decommissioned_node_is_drained_of_every_copy() {
        let mut s = three();
        let mut members = s.members.clone();
        members.insert(4, member("n4"));
        s.set_members(members, [1, 2, 3].into());
        let uuid = with_replicas(&mut s, "t", 6, "1");
        start_all(&mut s);
        assert!(per_node(&s).get(&2).is_some_and(|n| *n > 0));
        let r = s.apply(Command::Decommission { node: 2 });
        assert!(matches!(r, CommandResult::Applied { .. }));
        start_all(&mut s);
        let loads = per_node(&s);
        assert_eq!(loads.get(&2), None, "{loads:?}");
        assert_eq!(loads.values().sum::<usize>(), 12);
        for shard in &s.routing.tables[&uuid] {
            assert!(shard.copies.iter().all(|c| c.state == CopyState::Started));
        }
        // Nothing new goes there either.
        with_replicas(&mut s, "u", 3, "1");
        start_all(&mut s);
        assert_eq!(per_node(&s).get(&2), None);
    }

    #[test]
    fn a_relocation_whose_target_leaves_is_called_off() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 6, "1");
        start_all(&mut s);
        let mut members = s.members.clone();
        members.insert(4, member("n4"));
        s.set_members(members, [1, 2, 3].into());
        remove_member(&mut s, 4);
        for shard in &s.routing.tables[&uuid] {
            assert_eq!(shard.copies.len(), 2);
            assert!(shard.copies.iter().all(|c| c.state == CopyState::Started));
            assert!(shard.copies.iter().all(|c| c.relocating_node.is_none()));
        }
    }

    fn set_enable(s: &mut ClusterState, value: &str) {
        let mut settings = s.settings.clone();
        settings
            .set(
                super::super::settings::ALLOCATION_ENABLE,
                serde_json::json!(value),
                true,
            )
            .unwrap();
        let r = s.apply(Command::PutSettings {
            base: s.version,
            settings,
        });
        assert!(matches!(r, CommandResult::Applied { .. }));
    }

    #[test]
    fn allocation_enable_limits_what_is_placed() {
        let mut s = three();
        set_enable(&mut s, "none");
        let uuid = with_replicas(&mut s, "t", 2, "1");
        assert_eq!(per_node(&s).values().sum::<usize>(), 0, "nothing placed");
        set_enable(&mut s, "new_primaries");
        assert_eq!(
            per_node(&s).values().sum::<usize>(),
            2,
            "new primaries only"
        );
        set_enable(&mut s, "primaries");
        start_all(&mut s);
        assert_eq!(per_node(&s).values().sum::<usize>(), 2, "no replicas");
        set_enable(&mut s, "all");
        start_all(&mut s);
        assert_eq!(per_node(&s).values().sum::<usize>(), 4);
        assert!(
            s.routing.tables[&uuid]
                .iter()
                .all(|sh| sh.in_sync.len() == 2)
        );
        let mut settings = s.settings.clone();
        assert!(
            settings
                .set(
                    super::super::settings::ALLOCATION_ENABLE,
                    serde_json::json!("sometimes"),
                    true
                )
                .is_err()
        );
    }

    /// Fails shard 0's replica `times` times, each time where it was
    /// placed again.
    fn fail_replica(s: &mut ClusterState, uuid: &str, times: u32, out_of_reach: bool) {
        for round in 0..times {
            let id = s.routing.tables[uuid][0].copies[1]
                .allocation_id
                .clone()
                .unwrap_or_else(|| panic!("round {round}: the replica is not allocated"));
            s.apply(Command::ShardFailed {
                uuid: uuid.to_string(),
                shard: 0,
                allocation_id: id,
                reason: "test".into(),
                primary_term: None,
                diverged: false,
                out_of_reach,
            });
        }
    }

    #[test]
    fn a_replica_failing_too_often_waits_for_a_retry() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 1, "1");
        start_all(&mut s);
        fail_replica(&mut s, &uuid, crate::catalog::DEFAULT_MAX_RETRIES, false);
        let replica = &s.routing.tables[&uuid][0].copies[1];
        assert_eq!((replica.node, replica.failures), (None, 5));
        let r = s.apply(Command::RetryFailed);
        assert!(matches!(r, CommandResult::Applied { .. }));
        start_all(&mut s);
        let replica = &s.routing.tables[&uuid][0].copies[1];
        assert_eq!((replica.state, replica.failures), (CopyState::Started, 0));
        // Nothing left to retry.
        assert!(matches!(
            s.apply(Command::RetryFailed),
            CommandResult::Ignored { .. }
        ));
    }

    /// Failures that are not the copy's own (its source or its node out of
    /// reach) place it again however many there are.
    #[test]
    fn failures_out_of_reach_do_not_use_up_the_retries() {
        let mut s = three();
        let uuid = with_replicas(&mut s, "t", 1, "1");
        start_all(&mut s);
        fail_replica(&mut s, &uuid, 2 * crate::catalog::DEFAULT_MAX_RETRIES, true);
        let replica = &s.routing.tables[&uuid][0].copies[1];
        assert!(replica.node.is_some());
        assert_eq!(replica.failures, 0);
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
