//! Refresh: makes the writes so far searchable. The open indexing buffer
//! is frozen (under the state lock, briefly), built into a segment (off the
//! lock, so writers go on) and installed, and a new [`Snapshot`] is
//! published. A failed build puts the frozen documents back. Background
//! housekeeping ([`Shard::maintain`]) refreshes when due and then merges.

use std::sync::{Arc, MutexGuard};

use super::merge_policy::pick_merge;
use super::snapshot::{SegmentView, Snapshot};
use super::state::{SegmentSlot, Shard, State};
use crate::catalog::TableInfo;
use crate::error::Result;
use crate::storage::document::{BufferedDoc, RowDoc, shard_schema};
use crate::storage::fulltext;
use crate::storage::maintenance::Maintenance;
use crate::storage::pk::{Entry, Place};
use crate::storage::segment::{AliveSet, Segment};

/// A buffer frozen for a refresh: `docs[i]` becomes document `i` of segment
/// `seg_id`, dead if `i` is in `dead` (in no particular order).
pub(super) struct Frozen {
    seg_id: u32,
    docs: Arc<Vec<BufferedDoc>>,
    pub(super) dead: Vec<u32>,
}

impl State {
    /// The first step of a refresh: pending kills take effect, and the open
    /// buffer is frozen, to become the next segment. `None` when the buffer
    /// is empty.
    pub(super) fn freeze(&mut self) -> Option<Frozen> {
        self.apply_pending_kills();
        if self.buffers.open.is_empty() {
            return None;
        }
        let seg_id = self.buffers.open_seg;
        let dead = std::mem::take(&mut self.buffers.open_dead);
        let docs = Arc::new(self.open_buffer());
        self.buffers.frozen = Some((seg_id, docs.clone()));
        Some(Frozen { seg_id, docs, dead })
    }

    /// At a freeze: the pending kills of segment documents take effect in
    /// the working alive sets, to be published with the frozen buffer.
    fn apply_pending_kills(&mut self) {
        let pending = std::mem::take(&mut self.pending_kills);
        for place in pending {
            if let Some(slot) = self.segments.get_mut(&place.seg) {
                if slot.alive.kill(place.doc) {
                    slot.dirty = true;
                    slot.alive_version += 1;
                }
            } else if self.buffers.is_frozen(place.seg) {
                // Kills in a frozen buffer wait for its install.
                self.pending_kills.push(place)
            }
        }
    }

    /// After a failed build: the frozen buffer's documents that are still
    /// current go back into a new open buffer, ahead of the open buffer's,
    /// so nothing is lost and the next refresh tries again.
    pub(super) fn unfreeze(&mut self) {
        let Some((frozen_seg, frozen)) = self.buffers.frozen.take() else {
            return;
        };
        let open_seg = self.buffers.open_seg;
        let open = self.open_buffer();
        self.pending_kills
            .retain(|p| p.seg != frozen_seg && p.seg != open_seg);
        for d in frozen.iter().chain(open.iter()) {
            // Sequence numbers are unique within a shard: an entry with this
            // document's is this document.
            let current = |e: &Entry, _: &str| e.seq_no == d.seq_no;
            if self.pk.get(&d.id, current).is_none() {
                continue;
            }
            let place = Place {
                seg: self.buffers.open_seg,
                doc: self.buffers.open.len() as u32,
            };
            self.buffers.open.push(d.clone());
            let entry = Entry {
                seq_no: d.seq_no,
                place,
            };
            self.pk.put(&d.id, entry, current);
        }
        self.unrefreshed = true;
    }

    pub(super) fn publish(&mut self) -> Snapshot {
        let mut segments = Vec::with_capacity(self.segments.len());
        for slot in self.segments.values_mut() {
            if slot.dirty {
                slot.published = Arc::new(slot.alive.clone());
                slot.dirty = false;
            }
            if slot.published.num_alive() > 0 {
                segments.push(SegmentView {
                    segment: slot.segment.clone(),
                    alive: slot.published.clone(),
                });
            }
        }
        Snapshot { segments }
    }
}

impl Shard {
    /// Whether there are writes a refresh would make searchable.
    pub fn needs_refresh(&self) -> bool {
        self.lock().unrefreshed
    }

    /// Makes all writes so far searchable. Returns whether anything changed.
    pub async fn refresh(&self) -> Result<bool> {
        let _r = self.refresh_lock.lock().await;
        self.refresh_inner().await
    }

    /// Background housekeeping: refresh (when due) and merge (when segments
    /// pile up). Work already running on this shard is not waited for: the
    /// next tick tries again.
    pub async fn maintain(&self, refresh_due: bool) -> Result<()> {
        if let Ok(_r) = self.refresh_lock.try_lock()
            && refresh_due
            && self.needs_refresh()
            && let Err(e) = self.refresh_inner().await
        {
            self.failures.record(Maintenance::Refresh, &e);
            return Err(e);
        }
        if let Ok(_m) = self.merge_lock.try_lock()
            && let Err(e) = self.merge_inner(pick_merge).await
        {
            self.failures.record(Maintenance::Merge, &e);
            return Err(e);
        }
        Ok(())
    }

    pub(super) async fn refresh_inner(&self) -> Result<bool> {
        // Phase 1: freeze the buffer (short, under the state lock).
        let (frozen, table) = {
            let mut st = self.lock();
            if !st.unrefreshed {
                return Ok(false);
            }
            st.unrefreshed = false;
            let Some(frozen) = st.freeze() else {
                self.publish(st);
                return Ok(true);
            };
            (frozen, st.table.clone())
        };
        // Phase 2: build the segment without blocking writers.
        let built = {
            let (seg_id, docs) = (frozen.seg_id, frozen.docs.clone());
            crate::runtime::run_blocking(move || build_segment(seg_id, &table, &docs)).await
        };
        // Phase 3: install it.
        let mut st = self.lock();
        let segment = match built {
            Ok(s) => s,
            Err(e) => {
                st.unfreeze();
                return Err(e);
            }
        };
        self.install(&mut st, segment, &frozen);
        self.publish(st);
        Ok(true)
    }

    /// Publishes a new snapshot for searches, releasing the state lock first.
    pub(super) fn publish(&self, mut st: MutexGuard<'_, State>) {
        let snap = st.publish();
        drop(st);
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(snap);
    }

    /// The last step of a refresh: the built segment joins the shard. Its
    /// documents keep the places the pk index has for them; kills pending on
    /// the frozen buffer now apply to the segment, at the next freeze.
    fn install(&self, st: &mut State, segment: Segment, frozen: &Frozen) {
        let mut alive = AliveSet::all(segment.max_doc());
        for doc in &frozen.dead {
            alive.kill(*doc);
        }
        st.buffers.frozen = None;
        // Its dead documents are deletes a flush must write.
        let deletes = u64::from(alive.len() - alive.num_alive());
        if alive.num_alive() > 0 {
            st.segments.insert(
                frozen.seg_id,
                SegmentSlot {
                    segment: Arc::new(segment),
                    published: Arc::new(alive.clone()),
                    alive,
                    dirty: false,
                    persisted: false,
                    alive_version: deletes,
                    persisted_alive_version: 0,
                },
            );
        }
    }

    /// Synchronous refresh for use while holding the maintenance lock (flush, recovery).
    pub(super) fn refresh_locked(&self) -> Result<()> {
        let mut st = self.lock();
        if let Some(frozen) = st.freeze() {
            let segment = match build_segment(frozen.seg_id, &st.table, &frozen.docs) {
                Ok(s) => s,
                Err(e) => {
                    st.unfreeze();
                    return Err(e);
                }
            };
            self.install(&mut st, segment, &frozen);
        }
        st.unrefreshed = false;
        self.publish(st);
        Ok(())
    }
}

/// Builds segment `id` from a frozen buffer, every document in buffer
/// order (dead ones too: their places are their doc ids).
pub(super) fn build_segment(
    id: u32,
    table: &Arc<TableInfo>,
    docs: &Arc<Vec<BufferedDoc>>,
) -> Result<Segment> {
    let fulltext = fulltext::fields(table)?;
    let shared = (!fulltext.is_empty()).then(|| fulltext.sources());
    let tdocs = (0..docs.len()).map(|i| {
        RowDoc::new(
            shard_schema(),
            table.clone(),
            shared.clone(),
            docs.clone(),
            i,
        )
    });
    Segment::build(id, &fulltext, tdocs)
}
