//! Opening a shard copy, and recovery: the last commit point's segments
//! and alive sets are loaded, the pk index is rebuilt from them, and the
//! translog is replayed on top (operations the segments already hold are
//! skipped). Also where a shard lives on disk, and deleting it.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use super::flush::CommitPoint;
use super::state::{Buffers, SegmentSlot, Shard, State};
use crate::catalog::TableInfo;
use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::storage::maintenance::MaintenanceFailures;
use crate::storage::pk::{Entry, PkIndex, Place};
use crate::storage::segment::{AliveSet, Segment};
use crate::storage::seqno::{GlobalCheckpoint, LocalCheckpoint, Tombstones};
use crate::storage::translog::{Translog, for_each_op, newest_generation, oldest_generation};

/// The directory of a shard on disk.
pub fn shard_dir(table_uuid: &str, shard: u32) -> String {
    format!("indices/{table_uuid}/{shard}")
}

impl Shard {
    /// Opens a shard copy: recovers from disk if it has data, else starts empty.
    pub fn open(
        table: Arc<TableInfo>,
        shard_id: u32,
        disk: Arc<dyn Disk>,
        durable: bool,
    ) -> Result<Shard> {
        let dir = shard_dir(&table.uuid, shard_id);
        let commit: Option<CommitPoint> = match disk.read(&format!("{dir}/commit.json")) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Io(format!("corrupt commit point in {dir}: {e}")))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let mut segments = BTreeMap::new();
        let (mut next_seq_no, primary_term, from_gen, next_segment_id) = match &commit {
            Some(c) => (
                c.next_seq_no,
                c.primary_term,
                c.translog_generation,
                c.next_segment_id,
            ),
            None => (0, 1, 1, 1),
        };
        if let Some(c) = &commit {
            for cs in &c.segments {
                let mut files = Vec::with_capacity(cs.files.len());
                for f in &cs.files {
                    files.push((f.clone(), disk.read(&format!("{dir}/seg-{}/{f}", cs.id))?));
                }
                let segment = Arc::new(Segment::load(cs.id, files)?);
                let alive = if cs.has_deletes {
                    AliveSet::from_bytes(&disk.read(&format!("{dir}/seg-{}.alive", cs.id))?)?
                } else {
                    AliveSet::all(segment.max_doc())
                };
                segments.insert(
                    cs.id,
                    SegmentSlot {
                        segment,
                        published: Arc::new(alive.clone()),
                        alive,
                        dirty: false,
                        persisted: true,
                        alive_version: 0,
                        persisted_alive_version: 0,
                    },
                );
            }
        }
        // A commit that knows what was processed below it is replayed from
        // the oldest generation kept, not only from its own: the segments it
        // wrote may already hold operations above that point that only an
        // older generation logs (a replica's delete above a gap, applied to
        // an alive set), and the copy must know it processed them — or a
        // resync, or a recovery by operations, could never learn that it
        // holds them. The ordered apply skips everything below the point.
        let replay_from = match commit.as_ref().and_then(|c| c.processed_below) {
            Some(_) => {
                oldest_generation(disk.as_ref(), &dir)?.map_or(from_gen, |g| g.min(from_gen))
            }
            None => from_gen,
        };
        let last_gen = newest_generation(disk.as_ref(), &dir)?
            .filter(|g| *g >= replay_from)
            .unwrap_or(replay_from);
        let translog = Translog::open(disk.clone(), &dir, last_gen.max(from_gen) + 1)?;
        let mut state = State {
            table,
            primary_term,
            next_seq_no,
            pk: PkIndex::default(),
            processed: LocalCheckpoint::default(),
            tombstones: Tombstones::default(),
            buffers: Buffers::default(),
            segments,
            next_segment_id,
            translog,
            unrefreshed: false,
            pending_kills: Vec::new(),
            uncommitted_ops: 0,
            last_write: crate::runtime::instant(),
            retained: BTreeMap::new(),
            sending: BTreeMap::new(),
            global: GlobalCheckpoint {
                known: commit.as_ref().and_then(|c| c.global_checkpoint),
                tracked: commit
                    .as_ref()
                    .is_some_and(|c| c.global_checkpoint.is_some()),
                ..Default::default()
            },
            resynced_term: primary_term,
        };
        state.open_buffer();
        // Rebuild the pk index from the live documents of the segments.
        let total: usize = state
            .segments
            .values()
            .map(|s| s.alive.num_alive() as usize)
            .sum();
        state.pk.reserve(total);
        let mut entries: Vec<(u32, u64, Entry)> = Vec::new();
        for (seg_id, slot) in &state.segments {
            slot.segment.for_each_entry(|doc, hash, seq_no| {
                if slot.alive.is_alive(doc) {
                    let place = Place { seg: *seg_id, doc };
                    entries.push((*seg_id, hash, Entry { seq_no, place }));
                }
            })?;
        }
        for (seg_id, hash, e) in entries {
            next_seq_no = next_seq_no.max(e.seq_no + 1);
            let segment = state.segments.get(&seg_id).map(|s| s.segment.clone());
            let doc = e.place.doc;
            state
                .pk
                .put_recovered(hash, e, || segment.and_then(|s| s.id_of(doc)));
        }
        state.next_seq_no = next_seq_no;
        // The translog holds the operations from the commit's generation
        // on; some may be in the committed segments already, which the
        // ordered apply skips. It is read one generation at a time: the
        // kept generations may hold more documents than memory.
        let precise = match &commit {
            None => Some(0),
            Some(c) => c.processed_below,
        };
        state.processed = LocalCheckpoint::starting_at(precise.unwrap_or(next_seq_no));
        let (mut replayed, mut first) = (0u64, true);
        for_each_op(disk.as_ref(), &dir, replay_from, |op| {
            // An older version's commit does not say what it processed:
            // the log is taken as holding everything from its first
            // operation on.
            if std::mem::take(&mut first) && precise.is_none() {
                state.processed = LocalCheckpoint::starting_at(op.seq_no().min(next_seq_no));
            }
            if !state.processed.contains(op.seq_no()) {
                replayed += 1;
            }
            state.apply(op)
        })?;
        match precise {
            // The processed set is what the segments and the translog hold:
            // a replica's gaps stay gaps, for a recovery to fill.
            Some(_) => state.prune_tombstones(),
            // A commit of an older version: whatever is below the highest
            // sequence number is taken as held.
            None => {
                state.processed = LocalCheckpoint::starting_at(state.next_seq_no);
                state.tombstones = Tombstones::default();
            }
        }
        // The generations on disk hold only operations below the next
        // sequence number: kept while the global checkpoint is below it.
        if let Some(oldest) = oldest_generation(disk.as_ref(), &dir)?
            && oldest < state.translog.generation()
        {
            state.note_roll(oldest);
        }
        // Replayed operations stay uncommitted until a flush (the idle flush
        // at the latest) persists them, so the next open need not replay them.
        state.uncommitted_ops = replayed;
        let snapshot = state.publish();
        let shard = Shard {
            table_uuid: state.table.uuid.clone(),
            shard_id,
            disk,
            dir,
            durable,
            state: Mutex::new(state),
            snapshot: Mutex::new(Arc::new(snapshot)),
            refresh_lock: tokio::sync::Mutex::new(()),
            merge_lock: tokio::sync::Mutex::new(()),
            flushing: AtomicBool::new(false),
            failures: MaintenanceFailures::default(),
        };
        if replayed > 0 {
            shard.refresh_locked()?;
        }
        Ok(shard)
    }

    /// Deletes the shard's files.
    pub fn destroy(&self) -> Result<()> {
        self.disk.remove_dir(&self.dir)?;
        Ok(())
    }
}
