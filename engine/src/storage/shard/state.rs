//! The state behind a shard's lock, and the [`Shard`] that holds it.
//!
//! [`State`] is what every phase works on: the primary-key index, the
//! indexing buffers, the segments with their alive sets, the translog and
//! the sequence-number bookkeeping. Applying an operation (on a primary, a
//! replica or in a translog replay) and real-time lookups by id live here,
//! beside the data they change; the phases in the sibling files (write,
//! refresh, merge, flush, open) add their own `impl Shard` blocks.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use super::snapshot::Snapshot;
use crate::breaker::MemoryAccount;
use crate::catalog::TableInfo;
use crate::disk::Disk;
use crate::error::Result;
use crate::storage::document::{BufferedDoc, MetaColumn, StoredDoc};
use crate::storage::maintenance::MaintenanceFailures;
use crate::storage::pk::{Entry, PkIndex, Place};
use crate::storage::segment::{AliveSet, Segment};
use crate::storage::seqno::{GlobalCheckpoint, LocalCheckpoint, Tombstones};
use crate::storage::source::parse_source;
use crate::storage::translog::{Op, Translog, TranslogSync};
use crate::types::Object;

#[derive(Debug)]
pub(super) struct SegmentSlot {
    pub(super) segment: Arc<Segment>,
    pub(super) alive: AliveSet,
    pub(super) published: Arc<AliveSet>,
    pub(super) dirty: bool,
    pub(super) persisted: bool,
    /// Bumped on every delete; compared with what the last flush wrote.
    pub(super) alive_version: u64,
    pub(super) persisted_alive_version: u64,
}

/// The indexing buffers: the open one, which takes writes, and the frozen
/// one a refresh is building a segment from. Each already has the id of the
/// segment it becomes, and its documents keep their positions in it, so the
/// pk index's places need no update when the segment is installed.
#[derive(Debug, Default)]
pub(super) struct Buffers {
    pub(super) open: Vec<BufferedDoc>,
    /// The segment id of the open buffer.
    pub(super) open_seg: u32,
    /// Positions in the open buffer of documents replaced or deleted since:
    /// their segment gets them, dead (as Lucene's flushed segments do).
    pub(super) open_dead: Vec<u32>,
    /// The frozen buffer and its segment id.
    pub(super) frozen: Option<(u32, Arc<Vec<BufferedDoc>>)>,
}

impl Buffers {
    /// The buffered document at `place`, if its segment is still a buffer.
    fn get(&self, place: Place) -> Option<&BufferedDoc> {
        if place.seg == self.open_seg {
            return self.open.get(place.doc as usize);
        }
        match &self.frozen {
            Some((seg, docs)) if *seg == place.seg => docs.get(place.doc as usize),
            _ => None,
        }
    }

    /// Whether segment `seg` is the frozen buffer's.
    pub(super) fn is_frozen(&self, seg: u32) -> bool {
        matches!(&self.frozen, Some((s, _)) if *s == seg)
    }
}

/// A segment a recovery sends: its id, files and alive set as captured.
pub(super) type SegmentSent = (u32, Arc<Segment>, Arc<AliveSet>);

/// What a recovery from this copy holds until it ends.
#[derive(Debug, Default)]
pub(super) struct Sending {
    /// The segments listed for it, kept until fetched
    /// ([`Shard::recovery_segment`]).
    pub(super) segments: Vec<SegmentSent>,
    /// The translog generation whose operations it is sending, read once
    /// for all its pages.
    pub(super) generation: Option<SentGeneration>,
}

/// A translog generation read for a recovery, accounted on the breaker it
/// was read for while kept.
#[derive(Debug)]
pub(super) struct SentGeneration {
    pub(super) number: u64,
    pub(super) ops: Arc<Vec<Op>>,
    pub(super) _memory: MemoryAccount,
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) table: Arc<TableInfo>,
    pub(super) primary_term: u64,
    pub(super) next_seq_no: u64,
    pub(super) pk: PkIndex,
    /// The operations processed, so that one applied twice is skipped.
    pub(super) processed: LocalCheckpoint,
    /// Deletes an older operation for the same id must not undo.
    pub(super) tombstones: Tombstones,
    pub(super) buffers: Buffers,
    pub(super) segments: BTreeMap<u32, SegmentSlot>,
    pub(super) next_segment_id: u32,
    pub(super) translog: Translog,
    /// Writes since the last refresh (buffered docs or deletes).
    pub(super) unrefreshed: bool,
    /// Segment (and frozen-buffer) documents that writes since the last
    /// freeze replaced or deleted. They stay alive, to searches and to
    /// merges, until the refresh that makes their replacements searchable:
    /// the next freeze applies them, so a row never vanishes in between.
    pub(super) pending_kills: Vec<Place>,
    /// Operations in the translog that no flush has committed yet
    /// (replayed ones included).
    pub(super) uncommitted_ops: u64,
    pub(super) last_write: tokio::time::Instant,
    /// Recoveries in progress from this copy: allocation id → the first
    /// translog generation kept for it ([`Shard::recovery_files`]).
    pub(super) retained: BTreeMap<String, u64>,
    /// Recoveries in progress from this copy: allocation id → what is
    /// kept for it until it ends.
    pub(super) sending: BTreeMap<String, Sending>,
    /// What the copy knows of the shard's global checkpoint.
    pub(super) global: GlobalCheckpoint,
    /// The primary term whose resync this copy, as primary, has done
    /// ([`Shard::resync_batch`]); writes of a newer term wait for it.
    pub(super) resynced_term: u64,
}

/// A pk-index resolver: whether an entry points at the document with `id`.
/// (Which documents are alive is decided by the pk index; this looks up what
/// an entry points at without borrowing the whole state.)
fn is_id<'a>(
    buffers: &'a Buffers,
    segments: &'a BTreeMap<u32, SegmentSlot>,
) -> impl Fn(&Entry, &str) -> bool + 'a {
    move |e: &Entry, id: &str| match buffers.get(e.place) {
        Some(d) => d.id == id,
        None => segments
            .get(&e.place.seg)
            .and_then(|s| s.segment.id_of(e.place.doc))
            .is_some_and(|x| x == id),
    }
}

impl State {
    /// The sequence number up to which the copy's history may be forgotten
    /// (deletes, translog): its local checkpoint, and in a replicated shard
    /// no higher than the global checkpoint. `None`: keep everything.
    pub(super) fn history_floor(&self) -> Option<u64> {
        let local = self.processed.checkpoint();
        if !self.global.tracked {
            return local;
        }
        local.min(self.global.known)
    }

    /// Forgets the deletes at or below the history floor.
    pub(super) fn prune_tombstones(&mut self) {
        if !self.tombstones.is_empty() {
            let floor = self.history_floor();
            self.tombstones.prune(floor);
        }
    }

    /// Looks an id up unless the caller already knows it is absent.
    pub(super) fn lookup_unless(&self, known_absent: bool, id: &str) -> Option<Entry> {
        if known_absent { None } else { self.lookup(id) }
    }

    pub(super) fn lookup(&self, id: &str) -> Option<Entry> {
        self.pk.get(id, is_id(&self.buffers, &self.segments))
    }

    pub(super) fn load(&self, entry: Entry) -> Result<Option<StoredDoc>> {
        if let Some(d) = self.buffers.get(entry.place) {
            return Ok(Some(d.to_stored()));
        }
        match self.segments.get(&entry.place.seg) {
            Some(slot) => slot.segment.stored_doc(entry.place.doc).map(Some),
            None => Ok(None),
        }
    }

    /// The `_version` of a live document (without loading its source).
    pub(super) fn version_of(&self, entry: Entry) -> u64 {
        if let Some(d) = self.buffers.get(entry.place) {
            return d.version;
        }
        self.segments
            .get(&entry.place.seg)
            .and_then(|s| MetaColumn::version(&s.segment.reader).ok())
            .and_then(|c| c.get(entry.place.doc))
            .unwrap_or(0)
    }

    /// Records that the document at `place` was replaced or deleted. A
    /// document of the open buffer was never searchable: its segment gets it
    /// dead. Others stay searchable until the next freeze.
    fn kill(&mut self, place: Place) {
        if place.seg == self.buffers.open_seg {
            self.buffers.open_dead.push(place.doc);
        } else {
            self.pending_kills.push(place);
        }
    }

    /// Opens a new, empty buffer, which becomes the next segment.
    pub(super) fn open_buffer(&mut self) -> Vec<BufferedDoc> {
        self.buffers.open_seg = self.next_segment_id;
        self.next_segment_id += 1;
        self.buffers.open_dead.clear();
        std::mem::take(&mut self.buffers.open)
    }

    /// Applies an operation with an already assigned sequence number.
    pub(super) fn apply(&mut self, op: Op) -> Result<()> {
        self.apply_parsed(op, None, false)
    }

    /// Applies an operation; `parsed` is the source already as a row, when
    /// the caller has it (saves parsing the bytes back).
    /// `known_absent`: the id has no live document (saves a pk lookup).
    ///
    /// Applying is idempotent and ordered by `_seq_no` ([`crate::storage::seqno`]):
    /// an operation already processed is skipped, and one older than the
    /// document or delete the copy holds for its id changes nothing. So a
    /// copy that receives the same operations in any order, some twice,
    /// ends in the same state.
    pub(super) fn apply_parsed(
        &mut self,
        op: Op,
        parsed: Option<Object>,
        known_absent: bool,
    ) -> Result<()> {
        let seq_no = op.seq_no();
        if self.processed.contains(seq_no) {
            return Ok(());
        }
        self.processed.mark(seq_no);
        self.next_seq_no = self.next_seq_no.max(seq_no + 1);
        if let Op::NoOp { .. } = op {
            return Ok(());
        }
        let live = self.lookup_unless(known_absent, op.id());
        let deleted = if self.tombstones.is_empty() {
            None
        } else {
            self.tombstones.get(op.id())
        };
        // Sequence numbers are unique within a shard: a live document with
        // this one is this operation, applied before (a translog replay
        // meets the operations a flush committed while it rolled the log).
        let newer = live.is_some_and(|e| e.seq_no >= seq_no) || deleted.is_some_and(|d| d > seq_no);
        if !newer {
            match op {
                Op::Index {
                    id,
                    seq_no,
                    version,
                    primary_term,
                    source,
                } => {
                    if let Some(prev) = live {
                        self.kill(prev.place);
                    }
                    if deleted.is_some() {
                        self.tombstones.remove(&id);
                    }
                    let place = Place {
                        seg: self.buffers.open_seg,
                        doc: self.buffers.open.len() as u32,
                    };
                    let row = parsed.unwrap_or_else(|| parse_source(&source));
                    let doc = BufferedDoc::new(id, seq_no, version, primary_term, row, source);
                    let State {
                        pk,
                        buffers,
                        segments,
                        ..
                    } = self;
                    buffers.open.push(doc);
                    let id = &buffers.open[place.doc as usize].id;
                    pk.put(id, Entry { seq_no, place }, is_id(buffers, segments));
                    debug_assert_eq!(
                        self.lookup(&self.buffers.open[place.doc as usize].id),
                        Some(Entry { seq_no, place })
                    );
                }
                Op::Delete { id, .. } => {
                    if live.is_some() {
                        let removed = self.pk.remove(&id, is_id(&self.buffers, &self.segments));
                        debug_assert_eq!(removed, live);
                        if let Some(e) = removed {
                            self.kill(e.place);
                        }
                    }
                    // Remembered while an older operation for the id could
                    // still arrive, or a resync may compare it (above the
                    // history floor): not on an unreplicated primary, whose
                    // operations come in order.
                    if self.history_floor().is_none_or(|c| seq_no > c) {
                        self.tombstones.insert(&id, seq_no);
                    }
                }
                Op::NoOp { .. } => {}
            }
            self.unrefreshed = true;
        }
        self.prune_tombstones();
        Ok(())
    }

    /// Logs sequenced operations (a replica's, a resync's) to the translog,
    /// then applies them by the `_seq_no` rules; the sync to wait for.
    pub(super) fn log_and_apply(&mut self, ops: Vec<Op>) -> Result<TranslogSync> {
        for op in &ops {
            self.translog.stage(op);
        }
        let sync = self.append_staged(ops.len() as u64)?;
        for op in ops {
            self.apply(op)?;
        }
        Ok(sync)
    }

    /// Writes the staged translog records of `written` applied operations
    /// out; the sync to wait for before acknowledging them.
    pub(super) fn append_staged(&mut self, written: u64) -> Result<TranslogSync> {
        let sync = self.translog.append_staged()?;
        self.uncommitted_ops += written;
        self.last_write = crate::runtime::instant();
        Ok(sync)
    }
}

/// One shard copy's storage.
pub struct Shard {
    pub table_uuid: String,
    pub shard_id: u32,
    pub(super) disk: Arc<dyn Disk>,
    pub(super) dir: String,
    /// Fsync the translog before acknowledging writes.
    pub(super) durable: bool,
    pub(super) state: Mutex<State>,
    pub(super) snapshot: Mutex<Arc<Snapshot>>,
    /// Serialises refreshes and flushes (a flush refreshes, then persists).
    pub(super) refresh_lock: tokio::sync::Mutex<()>,
    /// Serialises merges, which run beside refreshes.
    pub(super) merge_lock: tokio::sync::Mutex<()>,
    /// A background flush is running ([`Shard::start_flush`]).
    pub(super) flushing: AtomicBool,
    /// Background refreshes, flushes and merges that failed.
    pub failures: MaintenanceFailures,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("table", &self.table_uuid)
            .field("shard", &self.shard_id)
            .finish()
    }
}

impl Shard {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug; keep serving rather than cascade.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Updates the table metadata used to build documents (after schema changes).
    pub fn set_table(&self, table: Arc<TableInfo>) {
        self.lock().table = table;
    }

    /// The table metadata the shard builds documents with.
    pub fn table(&self) -> Arc<TableInfo> {
        self.lock().table.clone()
    }

    /// The current searchable snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every live document, real-time, ordered by id: what the copy holds,
    /// for checkers that compare copies (it loads the whole shard).
    pub fn live_docs(&self) -> Result<Vec<StoredDoc>> {
        let st = self.lock();
        let mut docs = Vec::with_capacity(st.pk.len());
        for e in st.pk.entries() {
            docs.extend(st.load(*e)?);
        }
        docs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(docs)
    }

    /// Real-time get by id.
    pub fn get(&self, id: &str) -> Result<Option<StoredDoc>> {
        let st = self.lock();
        match st.lookup(id) {
            Some(e) => st.load(e),
            None => Ok(None),
        }
    }
}
