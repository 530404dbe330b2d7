//! Running a merge: the segments the policy picks ([`super::merge_policy`])
//! are combined into one off the state lock, beside writes and refreshes;
//! the merged segment then takes their place, with the deletes and pk-index
//! entries that changed meanwhile carried over. `OPTIMIZE` is a forced merge.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::merge_policy::{pick_merge, pick_smallest, pick_with_deletes};
use super::refresh::build_segment;
use super::state::{SegmentSlot, Shard};
use crate::catalog::TableInfo;
use crate::error::Result;
use crate::storage::pk::Place;
use crate::storage::segment::{AliveSet, Segment};

/// Merges segments built with different schemas (a full-text index was
/// added in between) by indexing their live documents again, in segment
/// order as a merge keeps them, under the table's current schema. Only the
/// first merge after such an ALTER TABLE takes this path.
fn rebuild(id: u32, parts: &[(&Segment, &AliveSet)], table: &Arc<TableInfo>) -> Result<Segment> {
    let mut docs = Vec::new();
    for (segment, alive) in parts {
        for doc in alive.iter() {
            docs.push(segment.buffered_doc(doc)?);
        }
    }
    build_segment(id, table, &Arc::new(docs))
}

impl Shard {
    /// Whether the merge policy would merge something now.
    pub fn needs_merge(&self) -> bool {
        pick_merge(&self.lock().segments).is_some()
    }

    /// Merges small segments if there are too many. Returns whether it merged.
    pub async fn maybe_merge(&self) -> Result<bool> {
        let _m = self.merge_lock.lock().await;
        self.merge_inner(pick_merge).await
    }

    /// `OPTIMIZE`: merges until at most `max_segments` segments remain (when
    /// given), then rewrites the segments that still hold deleted documents
    /// (with `only_expunge_deletes`, only that). Returns the number of merges.
    pub async fn force_merge(
        &self,
        max_segments: Option<usize>,
        only_expunge_deletes: bool,
    ) -> Result<usize> {
        let _m = self.merge_lock.lock().await;
        let mut merges = 0;
        if let Some(max) = max_segments.filter(|_| !only_expunge_deletes) {
            // One merge of the smallest segments reaches the target at once,
            // instead of rewriting the biggest segment again and again.
            merges += usize::from(self.merge_inner(|segs| pick_smallest(segs, max)).await?);
        }
        // Single merges, not loops: writes arriving meanwhile must not keep
        // an OPTIMIZE running forever.
        if only_expunge_deletes || max_segments.is_some() {
            merges += usize::from(self.merge_inner(pick_with_deletes).await?);
        } else {
            while self.merge_inner(pick_merge).await? {
                merges += 1;
            }
        }
        Ok(merges)
    }

    pub(super) async fn merge_inner(
        &self,
        pick: impl FnOnce(&BTreeMap<u32, SegmentSlot>) -> Option<Vec<u32>>,
    ) -> Result<bool> {
        let (parts, new_id) = {
            let mut st = self.lock();
            let Some(ids) = pick(&st.segments) else {
                return Ok(false);
            };
            let parts: Vec<(Arc<Segment>, AliveSet)> = ids
                .iter()
                .filter_map(|id| {
                    st.segments
                        .get(id)
                        .map(|s| (s.segment.clone(), s.alive.clone()))
                })
                .collect();
            let new_id = st.next_segment_id;
            st.next_segment_id += 1;
            (parts, new_id)
        };
        let table = self.table();
        let merged = {
            let parts = parts.clone();
            crate::runtime::run_blocking(move || {
                let refs: Vec<(&Segment, &AliveSet)> =
                    parts.iter().map(|(s, a)| (s.as_ref(), a)).collect();
                let schema = refs.first().map(|(s, _)| s.index.schema());
                if refs.iter().all(|(s, _)| Some(s.index.schema()) == schema) {
                    Segment::merge(new_id, &refs)
                } else {
                    rebuild(new_id, &refs, &table)
                }
            })
            .await?
        };
        let merged_ids: Vec<u32> = parts.iter().map(|(s, _)| s.id).collect();
        // No refresh may be between its freeze and its install while the
        // merged segment is published: its kills would show without their
        // replacements.
        let _refresh = self.refresh_lock.lock().await;
        let mut st = self.lock();
        // Kills still pending on the merged parts move to the merged
        // segment; they are matched by version (id hash, seq_no).
        let mut pending_versions = HashSet::new();
        let mut pending = std::mem::take(&mut st.pending_kills);
        pending.retain(|place| match place {
            Place { seg, doc } if merged_ids.contains(seg) => {
                if let Some((part, _)) = parts.iter().find(|(s, _)| s.id == *seg)
                    && let Some(version) = part.entry(*doc)
                {
                    pending_versions.insert(version);
                }
                false
            }
            _ => true,
        });
        st.pending_kills = pending;
        let mut alive = AliveSet::all(merged.max_doc());
        let mut relocations = Vec::new();
        merged.for_each_entry(|doc, hash, seq_no| relocations.push((doc, hash, seq_no)))?;
        for (doc, hash, seq_no) in relocations {
            let moved = st.pk.relocate_hashed(
                hash,
                seq_no,
                |p| merged_ids.contains(&p.seg),
                Place { seg: new_id, doc },
                || merged.id_of(doc),
            );
            if !moved {
                if pending_versions.contains(&(hash, seq_no)) {
                    st.pending_kills.push(Place { seg: new_id, doc });
                } else {
                    alive.kill(doc);
                }
            }
        }
        for id in &merged_ids {
            st.segments.remove(id);
        }
        if alive.num_alive() > 0 {
            st.segments.insert(
                new_id,
                SegmentSlot {
                    segment: Arc::new(merged),
                    published: Arc::new(alive.clone()),
                    alive,
                    dirty: false,
                    persisted: false,
                    alive_version: 0,
                    persisted_alive_version: 0,
                },
            );
        }
        self.publish(st);
        Ok(true)
    }
}
