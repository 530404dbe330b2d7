//! The merge policy: which segments to merge, as pure functions of the
//! segment map. Kept apart from running a merge ([`super::merge`]), as in
//! Lucene and tantivy, so a policy can change (or be tested) without
//! touching the machinery that rewrites segments.

use std::collections::BTreeMap;

use super::state::SegmentSlot;

/// Segments of one size tier merged together (Lucene's TieredMergePolicy uses 10).
const MERGE_FACTOR: usize = 10;

/// The smallest segments, enough of them that merging them into one leaves
/// `max` segments.
pub(super) fn pick_smallest(segments: &BTreeMap<u32, SegmentSlot>, max: usize) -> Option<Vec<u32>> {
    let max = max.max(1);
    if segments.len() <= max {
        return None;
    }
    let mut by_size: Vec<(u32, u32)> = segments
        .iter()
        .map(|(id, s)| (s.alive.num_alive(), *id))
        .collect();
    by_size.sort_unstable();
    let mut ids: Vec<u32> = by_size[..segments.len() - max + 1]
        .iter()
        .map(|(_, id)| *id)
        .collect();
    ids.sort_unstable();
    Some(ids)
}

/// Every segment that holds deleted documents, to be rewritten without them.
pub(super) fn pick_with_deletes(segments: &BTreeMap<u32, SegmentSlot>) -> Option<Vec<u32>> {
    let ids: Vec<u32> = segments
        .iter()
        .filter(|(_, s)| s.alive.num_alive() < s.alive.len())
        .map(|(id, _)| *id)
        .collect();
    (!ids.is_empty()).then_some(ids)
}

/// Tiered merge policy: merge the smallest segments of the most crowded size
/// tier once a tier holds `MERGE_FACTOR` segments, and drop segments that
/// are mostly deleted.
pub(super) fn pick_merge(segments: &BTreeMap<u32, SegmentSlot>) -> Option<Vec<u32>> {
    if segments.len() < 2 {
        return None;
    }
    let tier = |n: u32| -> u32 { (n.max(1) as f64).log(MERGE_FACTOR as f64).floor() as u32 };
    let mut by_tier: BTreeMap<u32, Vec<(u32, u32)>> = BTreeMap::new();
    for (id, s) in segments {
        by_tier
            .entry(tier(s.alive.num_alive()))
            .or_default()
            .push((s.alive.num_alive(), *id));
    }
    for (_, mut members) in by_tier {
        if members.len() >= MERGE_FACTOR {
            members.sort();
            return Some(
                members
                    .iter()
                    .take(MERGE_FACTOR)
                    .map(|(_, id)| *id)
                    .collect(),
            );
        }
    }
    // Segments with more than half of their documents deleted are worth rewriting.
    let mut sparse: Vec<u32> = segments
        .iter()
        .filter(|(_, s)| s.alive.num_alive() * 2 < s.alive.len())
        .map(|(id, _)| *id)
        .collect();
    if sparse.len() >= 2 || (sparse.len() == 1 && segments.len() > 1) {
        if sparse.len() == 1 {
            // Merge it with its smallest neighbour.
            let other = segments
                .iter()
                .filter(|(id, _)| **id != sparse[0])
                .min_by_key(|(_, s)| s.alive.num_alive())
                .map(|(id, _)| *id)?;
            sparse.push(other);
        }
        sparse.sort_unstable();
        return Some(sparse);
    }
    None
}
