//! Allocation: which node holds which shard copy. These are the master's
//! decisions, written as pure functions of the cluster state that run as
//! part of applying every committed entry, so every node computes the same
//! routing table from the same log.
//!
//! The rules, after Elasticsearch's:
//!
//! * a copy on a node that left becomes unassigned; a replica's copy also
//!   leaves the in-sync set (the primary writes on without it), and waits
//!   for its node to come back for the table's
//!   `unassigned.node_left.delayed_timeout` (the master ends the wait with
//!   [`Command::EndDelay`]), so a restart does not copy every shard anew;
//! * a primary without a node is replaced by an in-sync started replica,
//!   under the next primary term; with no such replica it waits for the
//!   node that has its data;
//! * a new shard's primary goes to the node with the fewest copies, and is
//!   started at once (it is empty);
//! * a replica goes only where no copy of its shard is, once its primary
//!   is started, preferring the node that last held it and then the node
//!   with the fewest copies; it initializes (recovers from the primary)
//!   until a [`Command::ShardStarted`] marks it started and in sync. A node
//!   recovers at most [`CONCURRENT_RECOVERIES`] copies at once;
//! * no new copy goes to a node being drained (`ALTER CLUSTER
//!   DECOMMISSION`);
//! * a replica whose allocation failed `allocation.max_retries` times in a
//!   row (default 5) is not allocated again until `ALTER CLUSTER REROUTE
//!   RETRY FAILED` ([`Command::RetryFailed`]);
//! * `cluster.routing.allocation.enable` limits what is placed: `all`,
//!   `primaries` (no replicas, no moves), `new_primaries` (only primaries
//!   of new shards), `none`;
//! * once every copy is assigned and none recovers, copies move off
//!   draining nodes and between nodes for balance (`rebalance.rs`).
//!
//! [`Command::ShardStarted`]: super::Command::ShardStarted
//! [`Command::EndDelay`]: super::Command::EndDelay
//! [`Command::RetryFailed`]: super::Command::RetryFailed

use std::collections::{BTreeMap, BTreeSet};

use super::rebalance::{cancel_relocation, finish_relocation, rebalance, relocations};
use super::settings::AllocationEnable;
use super::state::{ClusterState, CopyState, MemberId, ShardCopies, ShardCopy};
use crate::planted::{Bug, planted};

/// Copies a node recovers at once (Elasticsearch's
/// `cluster.routing.allocation.node_concurrent_recoveries`).
pub const CONCURRENT_RECOVERIES: usize = 2;

impl ClusterState {
    /// Brings the routing table in line with the catalog and the members
    /// (see the module notes).
    pub fn allocate(&mut self) {
        let members: BTreeSet<MemberId> = self.members.keys().copied().collect();
        self.follow_catalog(members.len().max(1));
        // New copies go to nodes that are not being drained (to any, when
        // every node is).
        let mut targets: BTreeSet<MemberId> = members
            .iter()
            .copied()
            .filter(|m| !self.draining.contains(m))
            .collect();
        if targets.is_empty() {
            targets = members.clone();
        }
        let delays: BTreeMap<String, bool> = self
            .catalog
            .tables()
            .map(|t| (t.uuid.clone(), !t.delayed_timeout().is_zero()))
            .collect();
        for (uuid, shards) in self.routing.tables.iter_mut() {
            let delay = delays.get(uuid).copied().unwrap_or(false);
            for shard in shards {
                release_departed(shard, &members, delay);
                promote(shard, delay);
            }
        }
        let mut load = Load::of(self.routing.tables.values().flatten(), &targets);
        let mut next = self.routing.next_allocation;
        let mut allocation_id = || {
            next += 1;
            format!("a{next}")
        };
        // `cluster.routing.allocation.enable` limits what may be placed.
        let enable = self.settings.allocation_enable();
        let retries: BTreeMap<String, u32> = self
            .catalog
            .tables()
            .map(|t| (t.uuid.clone(), t.max_retries()))
            .collect();
        for (uuid, shards) in self.routing.tables.iter_mut() {
            let max_retries = retries.get(uuid).copied().unwrap_or(u32::MAX);
            for shard in shards {
                let new = shard.primary().is_some_and(|p| p.allocation_id.is_none());
                if enable.allows(true, new) {
                    place_primary(shard, &members, max_retries, &mut load, &mut allocation_id);
                }
            }
        }
        if enable == AllocationEnable::All {
            for (uuid, shards) in self.routing.tables.iter_mut() {
                let max_retries = retries.get(uuid).copied().unwrap_or(u32::MAX);
                for shard in shards {
                    place_replicas(shard, &members, max_retries, &mut load, &mut allocation_id);
                }
            }
            rebalance(self, &members, &mut allocation_id);
        }
        self.routing.next_allocation = next;
    }

    /// New tables get their shards, dropped tables lose them, and each
    /// shard gets as many copies as its table wants with `nodes` nodes.
    fn follow_catalog(&mut self, nodes: usize) {
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
                    in_sync: BTreeSet::new(),
                });
            }
            let wanted = 1 + table.replicas_wanted(nodes) as usize;
            for shard in shards.iter_mut() {
                if shard.copies.len() > wanted + relocations(shard) {
                    // Fewer copies wanted: relocations are called off first.
                    while let Some(i) = shard
                        .copies
                        .iter()
                        .position(ShardCopy::is_relocation_target)
                    {
                        cancel_relocation(shard, i);
                    }
                }
                while shard.copies.len() > wanted + relocations(shard) {
                    drop_least_useful_replica(shard);
                }
                while shard.copies.len() < wanted {
                    shard.copies.push(unassigned(false));
                }
            }
        }
    }

    /// Marks an initializing copy started and in sync, unless it recovered
    /// under another primary term than the shard's.
    pub(super) fn start_copy(
        &mut self,
        uuid: &str,
        shard: u32,
        allocation_id: &str,
        primary_term: Option<u64>,
    ) -> bool {
        let Some(shard) = self.shard_mut(uuid, shard) else {
            return false;
        };
        if primary_term.is_some_and(|t| t != shard.primary_term) {
            return false;
        }
        let Some(i) = shard.copies.iter().position(|c| {
            c.allocation_id.as_deref() == Some(allocation_id) && c.state == CopyState::Initializing
        }) else {
            return false;
        };
        shard.copies[i].state = CopyState::Started;
        shard.copies[i].failures = 0;
        // It recovered from this term's primary: its history is that one's.
        shard.copies[i].history_term = Some(shard.primary_term);
        // A relocation is done: the old copy goes.
        if let Some(source) = shard.copies[i].relocating_node.take() {
            finish_relocation(shard, i, source);
        }
        shard.in_sync.insert(allocation_id.to_string());
        true
    }

    /// Takes a failed copy off its node. A failed primary keeps its claim
    /// to its node (it is allocated there again unless a replica takes
    /// over); a failed replica leaves the in-sync set and starts afresh.
    /// A failure out of the copy's reach (its recovery source, or the
    /// network to its node) does not count against
    /// `allocation.max_retries`.
    pub(super) fn fail_copy(
        &mut self,
        uuid: &str,
        shard: u32,
        allocation_id: &str,
        primary_term: Option<u64>,
        diverged: bool,
        out_of_reach: bool,
    ) -> bool {
        let Some(shard) = self.shard_mut(uuid, shard) else {
            return false;
        };
        if primary_term.is_some_and(|t| t != shard.primary_term) {
            return false;
        }
        let Some(copy) = shard
            .copies
            .iter_mut()
            .find(|c| c.allocation_id.as_deref() == Some(allocation_id) && c.node.is_some())
        else {
            return false;
        };
        if copy.is_relocation_target() {
            if let Some(i) = shard
                .copies
                .iter()
                .position(|c| c.allocation_id.as_deref() == Some(allocation_id))
            {
                cancel_relocation(shard, i);
            }
            return true;
        }
        let failures = match out_of_reach {
            true => copy.failures,
            false => copy.failures.saturating_add(1),
        };
        if copy.primary {
            copy.last_node = copy.node.take();
            copy.state = CopyState::Unassigned;
            copy.failures = failures;
        } else {
            // Placed again (maybe on the same node, which still has its
            // data), it may catch up by operations only if its history is
            // this term's.
            *copy = ShardCopy {
                failures,
                left_term: (!diverged).then_some(shard.primary_term),
                ..unassigned(false)
            };
            shard.in_sync.remove(allocation_id);
        }
        true
    }

    /// Records that the primary of `primary_term` resynced these copies
    /// (see [`ShardCopy::history_term`]); nothing if the term has moved on
    /// or a copy is no longer a started replica in sync.
    pub(super) fn resynced_copies(
        &mut self,
        uuid: &str,
        shard: u32,
        primary_term: u64,
        allocation_ids: &[String],
    ) -> bool {
        let Some(shard) = self.shard_mut(uuid, shard) else {
            return false;
        };
        if shard.primary_term != primary_term {
            return false;
        }
        let mut changed = false;
        for copy in &mut shard.copies {
            let named = copy
                .allocation_id
                .as_ref()
                .is_some_and(|id| allocation_ids.contains(id) && shard.in_sync.contains(id));
            let started = matches!(copy.state, CopyState::Started | CopyState::Relocating);
            if named && started && !copy.primary && copy.history_term != Some(primary_term) {
                copy.history_term = Some(primary_term);
                changed = true;
            }
        }
        changed
    }

    /// Forgets the failures of the unassigned copies that failed: they are
    /// allocated again. Answers how many copies that concerns.
    pub fn retry_failed(&mut self) -> usize {
        let mut n = 0;
        for copy in self
            .routing
            .tables
            .values_mut()
            .flatten()
            .flat_map(|s| &mut s.copies)
        {
            if copy.failures > 0 && copy.node.is_none() {
                copy.failures = 0;
                n += 1;
            }
        }
        n
    }

    /// Lets the delayed replicas of a shard whose `node` left go elsewhere.
    pub(super) fn end_delay(&mut self, uuid: &str, shard: u32, node: MemberId) -> bool {
        let Some(shard) = self.shard_mut(uuid, shard) else {
            return false;
        };
        let mut changed = false;
        for c in &mut shard.copies {
            if c.delayed && c.last_node == Some(node) && c.node.is_none() {
                c.delayed = false;
                changed = true;
            }
        }
        changed
    }

    /// The delayed replicas: (table uuid, shard, the node they wait for).
    pub fn delayed_copies(&self) -> Vec<(String, u32, MemberId)> {
        let mut out = Vec::new();
        for (uuid, shards) in &self.routing.tables {
            for (i, shard) in shards.iter().enumerate() {
                for c in &shard.copies {
                    if let (true, None, Some(last)) = (c.delayed, c.node, c.last_node) {
                        out.push((uuid.clone(), i as u32, last));
                    }
                }
            }
        }
        out
    }

    fn shard_mut(&mut self, uuid: &str, shard: u32) -> Option<&mut ShardCopies> {
        self.routing.tables.get_mut(uuid)?.get_mut(shard as usize)
    }
}

/// Copies and recoveries per member.
struct Load(BTreeMap<MemberId, (usize, usize)>);

impl Load {
    fn of<'a>(shards: impl Iterator<Item = &'a ShardCopies>, members: &BTreeSet<MemberId>) -> Load {
        let mut load: BTreeMap<MemberId, (usize, usize)> =
            members.iter().map(|m| (*m, (0, 0))).collect();
        for c in shards.flat_map(|s| &s.copies) {
            if let Some(l) = c.node.and_then(|n| load.get_mut(&n)) {
                l.0 += 1;
                l.1 += usize::from(c.state == CopyState::Initializing);
            }
        }
        Load(load)
    }

    /// The member with the fewest copies among those `eligible` allows.
    fn least_loaded(&self, eligible: impl Fn(MemberId, usize) -> bool) -> Option<MemberId> {
        self.0
            .iter()
            .filter(|(id, (_, recovering))| eligible(**id, *recovering))
            .min_by_key(|(id, (copies, _))| (*copies, **id))
            .map(|(id, _)| *id)
    }

    fn add(&mut self, node: MemberId, recovering: bool) {
        let l = self.0.entry(node).or_default();
        l.0 += 1;
        l.1 += usize::from(recovering);
    }
}

/// Copies on nodes that left become unassigned; replicas wait for their
/// node when the table `delay`s allocation. A relocation with an end on a
/// node that left is settled first: without its target it is called off;
/// without its source the target stays, as an ordinary recovering replica.
fn release_departed(shard: &mut ShardCopies, members: &BTreeSet<MemberId>, delay: bool) {
    while let Some(i) = shard
        .copies
        .iter()
        .position(|c| c.is_relocation_target() && c.node.is_some_and(|n| !members.contains(&n)))
    {
        cancel_relocation(shard, i);
    }
    while let Some(i) = shard.copies.iter().position(|c| {
        c.state == CopyState::Relocating && c.node.is_some_and(|n| !members.contains(&n))
    }) {
        let source = shard.copies.remove(i);
        if let Some(id) = source.allocation_id {
            shard.in_sync.remove(&id);
        }
        for c in &mut shard.copies {
            if c.is_relocation_target() && c.relocating_node == source.node {
                c.relocating_node = None;
            }
        }
    }
    for copy in &mut shard.copies {
        let Some(node) = copy.node.filter(|n| !members.contains(n)) else {
            continue;
        };
        if copy.primary {
            copy.node = None;
            copy.last_node = Some(node);
            copy.state = CopyState::Unassigned;
        } else {
            if let Some(id) = &copy.allocation_id {
                shard.in_sync.remove(id);
            }
            // A started copy holds a prefix of the history of the term it
            // is known to follow, and may catch up by operations if it
            // returns under that term — only if that is the shard's term
            // now: a replica promoted while this copy was unreachable has
            // not resynced it, and the old primary may have sent it
            // operations the new one never had (the property test found
            // such a copy caught up by operations, two documents at one
            // `_seq_no`). One still recovering holds whatever its node had
            // before (a demoted primary's operations the new primary never
            // saw, say): it keeps what it was recovering towards.
            let left_term = match copy.state {
                CopyState::Started | CopyState::Relocating => {
                    copy.history_term.filter(|t| *t == shard.primary_term)
                }
                CopyState::Initializing | CopyState::Unassigned => copy.left_term,
            };
            *copy = ShardCopy {
                last_node: Some(node),
                delayed: delay,
                left_term,
                ..unassigned(false)
            };
        }
    }
}

/// Replaces a primary without a node by an in-sync started replica, under
/// the next primary term. The old primary becomes an unassigned replica
/// (waiting for its node when the table `delay`s allocation).
fn promote(shard: &mut ShardCopies, delay: bool) {
    let Some(p) = shard.copies.iter().position(|c| c.primary) else {
        return;
    };
    if shard.copies[p].node.is_some() {
        return;
    }
    let in_sync = &shard.in_sync;
    let out_of_sync = planted(Bug::PromoteOutOfSync);
    let Some(r) = shard.copies.iter().position(|c| {
        !c.primary
            && c.node.is_some()
            && (out_of_sync
                || c.state == CopyState::Started
                    && c.allocation_id
                        .as_ref()
                        .is_some_and(|a| in_sync.contains(a)))
    }) else {
        return;
    };
    if let Some(old) = shard.copies[p].allocation_id.take() {
        shard.in_sync.remove(&old);
    }
    shard.copies[p].primary = false;
    shard.copies[p].delayed = delay;
    // It may hold operations the new primary never saw: no catching up by
    // operations for it.
    shard.copies[p].left_term = None;
    shard.copies[r].primary = true;
    shard.primary_term += 1;
    // The primary is listed first.
    shard.copies.sort_by_key(|c| !c.primary);
}

/// Gives an unassigned primary a node: the one with its data, or for a new
/// shard the least loaded.
fn place_primary(
    shard: &mut ShardCopies,
    members: &BTreeSet<MemberId>,
    max_retries: u32,
    load: &mut Load,
    allocation_id: &mut impl FnMut() -> String,
) {
    let Some(primary) = shard.copies.iter_mut().find(|c| c.primary) else {
        return;
    };
    // One that failed too often on its node waits for RETRY FAILED.
    if primary.node.is_some() || primary.failures >= max_retries {
        return;
    }
    let node = match primary.last_node {
        // Its data is on the node that had it: wait for that node.
        Some(last) if members.contains(&last) => last,
        Some(_) => return,
        None => match load.least_loaded(|_, _| true) {
            Some(node) => node,
            None => return,
        },
    };
    if primary.allocation_id.is_some() {
        // The same data under a new term: its node may have missed nothing,
        // but a primary that comes back is a new primary.
        shard.primary_term += 1;
    } else {
        let id = allocation_id();
        shard.in_sync.insert(id.clone());
        primary.allocation_id = Some(id);
    }
    primary.node = Some(node);
    primary.last_node = None;
    primary.state = CopyState::Started;
    load.add(node, false);
}

/// Gives unassigned replicas of a shard with a started primary a node that
/// holds no copy of the shard and is not recovering too many already.
fn place_replicas(
    shard: &mut ShardCopies,
    members: &BTreeSet<MemberId>,
    max_retries: u32,
    load: &mut Load,
    allocation_id: &mut impl FnMut() -> String,
) {
    if !shard
        .primary()
        .is_some_and(|p| p.state == CopyState::Started)
    {
        return;
    }
    for i in 0..shard.copies.len() {
        if shard.copies[i].node.is_some() || shard.copies[i].failures >= max_retries {
            continue;
        }
        let taken: BTreeSet<MemberId> = shard.copies.iter().filter_map(|c| c.node).collect();
        let eligible = |node: MemberId, recovering: usize| {
            !taken.contains(&node) && recovering < CONCURRENT_RECOVERIES
        };
        let recovering_on = |n: MemberId| load.0.get(&n).map_or(usize::MAX, |l| l.1);
        // What the copy's data was judged when it left or failed (a new
        // copy has none to judge).
        let left_term = shard.copies[i].left_term;
        let node = match shard.copies[i].last_node {
            Some(last) if members.contains(&last) && eligible(last, recovering_on(last)) => {
                Some(last)
            }
            // Waiting for its node to come back.
            _ if shard.copies[i].delayed => None,
            _ => load.least_loaded(eligible),
        };
        let Some(node) = node else { continue };
        shard.copies[i] = ShardCopy {
            primary: false,
            node: Some(node),
            state: CopyState::Initializing,
            allocation_id: Some(allocation_id()),
            last_node: None,
            delayed: false,
            relocating_node: None,
            left_term,
            history_term: None,
            failures: shard.copies[i].failures,
        };
        load.add(node, true);
    }
}

/// Drops the replica whose loss costs least: unassigned before
/// initializing before started.
fn drop_least_useful_replica(shard: &mut ShardCopies) {
    let rank = |c: &ShardCopy| match c.state {
        CopyState::Unassigned => 0,
        CopyState::Initializing => 1,
        CopyState::Started | CopyState::Relocating => 2,
    };
    let Some(i) = shard
        .copies
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.primary)
        .min_by_key(|(i, c)| (rank(c), std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
    else {
        return;
    };
    let copy = shard.copies.remove(i);
    if let Some(id) = copy.allocation_id {
        shard.in_sync.remove(&id);
    }
}

pub(super) fn unassigned(primary: bool) -> ShardCopy {
    ShardCopy {
        primary,
        node: None,
        state: CopyState::Unassigned,
        allocation_id: None,
        last_node: None,
        delayed: false,
        relocating_node: None,
        left_term: None,
        history_term: None,
        failures: 0,
    }
}
