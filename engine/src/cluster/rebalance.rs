//! Relocation: moving started copies between nodes, for balance and to
//! drain decommissioned nodes. Pure functions of the cluster state, like
//! the rest of allocation.
//!
//! A relocation is two copies for a while: the old one RELOCATING (with
//! `relocating_node`, the target) and the new one INITIALIZING on the
//! target (with `relocating_node`, the source), which recovers from the
//! primary like any replica. When the new copy starts, the old one goes;
//! for a primary, the new copy becomes primary under the next term (the old
//! primary hands off with its writes held, see `node/recovery.rs`).
//!
//! Moves happen once every copy is assigned and none recovers, at most
//! [`CONCURRENT_RELOCATIONS`] at once: first every copy on a draining node
//! (`ALTER CLUSTER DECOMMISSION`) goes to the least loaded other node;
//! then, while the node with the most copies has two more than the one
//! with the fewest, a copy moves from one to the other, replicas before
//! primaries.

use std::collections::{BTreeMap, BTreeSet};

use super::state::{ClusterState, CopyState, MemberId, ShardCopies, ShardCopy};

/// Relocations the cluster runs at once (Elasticsearch's
/// `cluster.routing.allocation.cluster_concurrent_rebalance`).
pub const CONCURRENT_RELOCATIONS: usize = 2;

/// The relocations under way in a shard (each adds a copy for a while).
pub(super) fn relocations(shard: &ShardCopies) -> usize {
    shard
        .copies
        .iter()
        .filter(|c| c.is_relocation_target())
        .count()
}

/// Calls off the relocation whose new copy is `target`: it goes, and the
/// old copy is started again.
pub(super) fn cancel_relocation(shard: &mut ShardCopies, target: usize) {
    let copy = shard.copies.remove(target);
    if let Some(id) = &copy.allocation_id {
        shard.in_sync.remove(id);
    }
    for c in &mut shard.copies {
        if c.state == CopyState::Relocating && c.node == copy.relocating_node {
            c.state = CopyState::Started;
            c.relocating_node = None;
        }
    }
}

/// Completes a relocation whose new copy (at `target`) started: the old
/// copy goes, and if it was the primary the new copy takes over under the
/// next primary term.
pub(super) fn finish_relocation(shard: &mut ShardCopies, target: usize, source: MemberId) {
    let Some(i) = shard
        .copies
        .iter()
        .position(|c| c.node == Some(source) && c.state == CopyState::Relocating)
    else {
        return;
    };
    let old = shard.copies.remove(i);
    let target = if i < target { target - 1 } else { target };
    if let Some(id) = old.allocation_id {
        shard.in_sync.remove(&id);
    }
    if old.primary {
        shard.copies[target].primary = true;
        shard.primary_term += 1;
        shard.copies.sort_by_key(|c| !c.primary);
    }
}

/// Starts relocations (see the module notes).
pub(super) fn rebalance(
    state: &mut ClusterState,
    members: &BTreeSet<MemberId>,
    allocation_id: &mut impl FnMut() -> String,
) {
    let copies = || {
        state
            .routing
            .tables
            .values()
            .flatten()
            .flat_map(|s| &s.copies)
    };
    // Only a cluster whose copies are all assigned and recovered moves any.
    let busy = copies().any(|c| {
        c.node.is_none() || (c.state == CopyState::Initializing && !c.is_relocation_target())
    });
    if busy {
        return;
    }
    let mut relocating = copies()
        .filter(|c| c.state == CopyState::Relocating)
        .count();
    while relocating < CONCURRENT_RELOCATIONS {
        let Some(m) = next_move(state, members) else {
            return;
        };
        let Some(shard) = state
            .routing
            .tables
            .get_mut(&m.uuid)
            .and_then(|s| s.get_mut(m.shard))
        else {
            return;
        };
        shard.copies[m.copy].state = CopyState::Relocating;
        shard.copies[m.copy].relocating_node = Some(m.to);
        shard.copies.push(ShardCopy {
            primary: false,
            node: Some(m.to),
            state: CopyState::Initializing,
            allocation_id: Some(allocation_id()),
            last_node: None,
            delayed: false,
            relocating_node: Some(m.from),
            left_term: None,
            history_term: None,
            failures: 0,
        });
        relocating += 1;
    }
}

/// One relocation to start.
struct Move {
    uuid: String,
    shard: usize,
    copy: usize,
    from: MemberId,
    to: MemberId,
}

/// The next relocation: a copy off a draining node, else one for balance.
/// Relocations under way count as done.
fn next_move(state: &ClusterState, members: &BTreeSet<MemberId>) -> Option<Move> {
    let draining = &state.draining;
    let mut load: BTreeMap<MemberId, usize> = members
        .iter()
        .filter(|m| !draining.contains(m))
        .map(|m| (*m, 0))
        .collect();
    for c in state
        .routing
        .tables
        .values()
        .flatten()
        .flat_map(|s| &s.copies)
    {
        if c.state == CopyState::Relocating {
            continue;
        }
        if let Some(l) = c.node.and_then(|n| load.get_mut(&n)) {
            *l += 1;
        }
    }
    let mut by_load: Vec<(usize, MemberId)> = load.iter().map(|(n, l)| (*l, *n)).collect();
    by_load.sort();
    // Off draining nodes first, to the least loaded node without a copy.
    let drain = first_move(state, |shard, primaries| {
        let copy = shard.copies.iter().position(|c| {
            c.primary == primaries
                && c.state == CopyState::Started
                && c.node.is_some_and(|n| draining.contains(&n))
        })?;
        let to = by_load
            .iter()
            .map(|(_, m)| *m)
            .find(|m| shard.copies.iter().all(|c| c.node != Some(*m)))?;
        Some((copy, shard.copies[copy].node?, to))
    });
    if drain.is_some() {
        return drain;
    }
    let &(low, to) = by_load.first()?;
    for &(high, from) in by_load.iter().rev() {
        if high <= low + 1 {
            return None;
        }
        let balance = first_move(state, |shard, primaries| {
            if shard.copies.iter().any(|c| c.node == Some(to)) {
                return None;
            }
            let copy = shard.copies.iter().position(|c| {
                c.primary == primaries && c.node == Some(from) && c.state == CopyState::Started
            })?;
            Some((copy, from, to))
        });
        if balance.is_some() {
            return balance;
        }
    }
    None
}

/// The first move `pick` chooses, trying every shard's replicas before any
/// primary: given a shard and whether primaries are wanted, `pick` answers
/// (copy index, from, to).
fn first_move(
    state: &ClusterState,
    mut pick: impl FnMut(&ShardCopies, bool) -> Option<(usize, MemberId, MemberId)>,
) -> Option<Move> {
    for primaries in [false, true] {
        for (uuid, shards) in &state.routing.tables {
            for (n, shard) in shards.iter().enumerate() {
                if let Some((copy, from, to)) = pick(shard, primaries) {
                    return Some(Move {
                        uuid: uuid.clone(),
                        shard: n,
                        copy,
                        from,
                        to,
                    });
                }
            }
        }
    }
    None
}
