//! A shard copy's storage: the write path, refresh, merge, flush and recovery.
//!
//! Writes go to the translog and the indexing buffer and update the
//! primary-key index, so they are immediately visible to gets by id.
//! Searches see a [`Snapshot`]: the segments and alive sets as of the last
//! refresh. A refresh freezes the buffer, builds a segment from it (off the
//! state lock) and publishes a new snapshot. Merges combine segments the same
//! way. A flush persists segments and alive sets, writes a commit point and
//! starts a new translog generation; recovery loads the last commit and
//! replays the translog on top of it.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tantivy::TantivyDocument;

use super::document::{BufferedDoc, MetaColumn, RowDoc, StoredDoc, shard_schema};
use super::maintenance::{Maintenance, MaintenanceFailures};
use super::pk::{Entry, PkIndex, Place};
use super::segment::{AliveSet, Segment};
use super::seqno::{LocalCheckpoint, Tombstones};
use super::source::{parse_source, write_source};
use super::translog::{Op, Translog, TranslogSync, read_ops};
use crate::catalog::TableInfo;
use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::types::Object;

/// Translog size after which a shard flushes (CrateDB's default is 512 MB;
/// smaller keeps restart replay short).
pub const FLUSH_THRESHOLD_BYTES: u64 = 128 * 1024 * 1024;
/// A shard without writes for this long flushes, so a restart after a bulk
/// load opens its segments instead of replaying the load from the translog.
/// (Elasticsearch flushes inactive shards after 5 minutes; a restart within
/// those minutes would replay everything.)
pub const FLUSH_IDLE: std::time::Duration = std::time::Duration::from_secs(30);
/// Segments of one size tier merged together (Lucene's TieredMergePolicy uses 10).
const MERGE_FACTOR: usize = 10;

/// What a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Expect {
    /// Anything: create or overwrite.
    Any,
    /// No live document with this id (INSERT).
    Absent,
    /// The live document has exactly this `_seq_no` and `_primary_term` (optimistic concurrency).
    Version { seq_no: u64, primary_term: u64 },
}

/// A searchable view of one segment.
#[derive(Debug, Clone)]
pub struct SegmentView {
    pub segment: Arc<Segment>,
    pub alive: Arc<AliveSet>,
}

/// What searches see: the shard as of its last refresh.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub segments: Vec<SegmentView>,
}

impl Snapshot {
    /// Live documents in the snapshot.
    pub fn num_docs(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.alive.num_alive() as u64)
            .sum()
    }
}

#[derive(Debug)]
struct SegmentSlot {
    segment: Arc<Segment>,
    alive: AliveSet,
    published: Arc<AliveSet>,
    dirty: bool,
    persisted: bool,
    /// Bumped on every delete; compared with what the last flush wrote.
    alive_version: u64,
    persisted_alive_version: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct CommitPoint {
    segments: Vec<CommitSegment>,
    next_seq_no: u64,
    primary_term: u64,
    translog_generation: u64,
    next_segment_id: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct CommitSegment {
    id: u32,
    files: Vec<String>,
    has_deletes: bool,
}

/// The indexing buffers: the open one, which takes writes, and the frozen
/// one a refresh is building a segment from. Each already has the id of the
/// segment it becomes, and its documents keep their positions in it, so the
/// pk index's places need no update when the segment is installed.
#[derive(Debug, Default)]
struct Buffers {
    open: Vec<BufferedDoc>,
    /// The segment id of the open buffer.
    open_seg: u32,
    /// Positions in the open buffer of documents replaced or deleted since:
    /// their segment gets them, dead (as Lucene's flushed segments do).
    open_dead: Vec<u32>,
    /// The frozen buffer and its segment id.
    frozen: Option<(u32, Arc<Vec<BufferedDoc>>)>,
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
    fn is_frozen(&self, seg: u32) -> bool {
        matches!(&self.frozen, Some((s, _)) if *s == seg)
    }
}

#[derive(Debug)]
struct State {
    table: Arc<TableInfo>,
    primary_term: u64,
    next_seq_no: u64,
    pk: PkIndex,
    /// The operations processed, so that one applied twice is skipped.
    processed: LocalCheckpoint,
    /// Deletes an older operation for the same id must not undo.
    tombstones: Tombstones,
    buffers: Buffers,
    segments: BTreeMap<u32, SegmentSlot>,
    next_segment_id: u32,
    translog: Translog,
    /// Writes since the last refresh (buffered docs or deletes).
    unrefreshed: bool,
    /// Segment (and frozen-buffer) documents that writes since the last
    /// freeze replaced or deleted. They stay alive, to searches and to
    /// merges, until the refresh that makes their replacements searchable:
    /// the next freeze applies them, so a row never vanishes in between.
    pending_kills: Vec<Place>,
    /// Operations in the translog that no flush has committed yet
    /// (replayed ones included).
    uncommitted_ops: u64,
    last_write: tokio::time::Instant,
}

/// A buffer frozen for a refresh: `docs[i]` becomes document `i` of segment
/// `seg_id`, dead if `i` is in `dead` (in no particular order).
struct Frozen {
    seg_id: u32,
    docs: Arc<Vec<BufferedDoc>>,
    dead: Vec<u32>,
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
    /// Looks an id up unless the caller already knows it is absent.
    fn lookup_unless(&self, known_absent: bool, id: &str) -> Option<Entry> {
        if known_absent { None } else { self.lookup(id) }
    }

    fn lookup(&self, id: &str) -> Option<Entry> {
        self.pk.get(id, is_id(&self.buffers, &self.segments))
    }

    fn load(&self, entry: Entry) -> Result<Option<StoredDoc>> {
        if let Some(d) = self.buffers.get(entry.place) {
            return Ok(Some(d.to_stored()));
        }
        match self.segments.get(&entry.place.seg) {
            Some(slot) => read_stored(&slot.segment, entry.place.doc).map(Some),
            None => Ok(None),
        }
    }

    /// The `_version` of a live document (without loading its source).
    fn version_of(&self, entry: Entry) -> u64 {
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
    fn open_buffer(&mut self) -> Vec<BufferedDoc> {
        self.buffers.open_seg = self.next_segment_id;
        self.next_segment_id += 1;
        self.buffers.open_dead.clear();
        std::mem::take(&mut self.buffers.open)
    }

    /// The first step of a refresh: pending kills take effect, and the open
    /// buffer is frozen, to become the next segment. `None` when the buffer
    /// is empty.
    fn freeze(&mut self) -> Option<Frozen> {
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
    fn unfreeze(&mut self) {
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

    /// Applies an operation with an already assigned sequence number.
    fn apply(&mut self, op: Op) -> Result<()> {
        self.apply_parsed(op, None, false)
    }

    /// Applies an operation; `parsed` is the source already as a row, when
    /// the caller has it (saves parsing the bytes back).
    /// `known_absent`: the id has no live document (saves a pk lookup).
    ///
    /// Applying is idempotent and ordered by `_seq_no` ([`super::seqno`]):
    /// an operation already processed is skipped, and one older than the
    /// document or delete the copy holds for its id changes nothing. So a
    /// copy that receives the same operations in any order, some twice,
    /// ends in the same state.
    fn apply_parsed(&mut self, op: Op, parsed: Option<Object>, known_absent: bool) -> Result<()> {
        let seq_no = op.seq_no();
        if self.processed.contains(seq_no) {
            return Ok(());
        }
        self.processed.mark(seq_no);
        self.next_seq_no = self.next_seq_no.max(seq_no + 1);
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
                    // still arrive: not on a primary, whose operations come
                    // in order.
                    if self.processed.checkpoint().is_none_or(|c| seq_no > c) {
                        self.tombstones.insert(&id, seq_no);
                    }
                }
            }
            self.unrefreshed = true;
        }
        if !self.tombstones.is_empty() {
            self.tombstones.prune(self.processed.checkpoint());
        }
        Ok(())
    }

    /// Writes the staged translog records of `written` applied operations
    /// out; the sync to wait for before acknowledging them.
    fn append_staged(&mut self, written: u64) -> Result<TranslogSync> {
        let sync = self.translog.append_staged()?;
        self.uncommitted_ops += written;
        self.last_write = crate::runtime::instant();
        Ok(sync)
    }

    fn publish(&mut self) -> Snapshot {
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

/// Reads a stored document from a segment.
fn read_stored(segment: &Segment, doc: u32) -> Result<StoredDoc> {
    let store = segment.reader.get_store_reader(1)?;
    let stored: TantivyDocument = store.get(doc)?;
    let schema = shard_schema();
    let meta =
        |column: tantivy::Result<MetaColumn>| column.ok().and_then(|c| c.get(doc)).unwrap_or(0);
    Ok(StoredDoc {
        id: schema.stored_id(&stored).unwrap_or_default(),
        seq_no: meta(MetaColumn::seq_no(&segment.reader)),
        version: meta(MetaColumn::version(&segment.reader)),
        primary_term: meta(MetaColumn::primary_term(&segment.reader)),
        source: Arc::new(parse_source(schema.stored_source(&stored))),
    })
}

/// A staged write inside [`Shard::write`].
#[derive(Debug)]
enum Staged {
    /// `absent`: the id was known not to exist when staged (a plain
    /// insert); `version`: the document's `_version` once written.
    Put {
        id: String,
        source: Object,
        absent: bool,
        version: u64,
    },
    Delete {
        id: String,
    },
}

impl Staged {
    fn id(&self) -> &str {
        match self {
            Staged::Put { id, .. } | Staged::Delete { id } => id,
        }
    }
}

/// The view a write closure gets: real-time reads plus staged writes that
/// are applied together if the closure succeeds, and dropped if it fails.
pub struct WriteBatch<'a> {
    state: &'a State,
    staged: Vec<Staged>,
    /// Id hash -> the latest staged operation with that hash; earlier ones
    /// with the same hash are chained through `chain`.
    latest: super::pk::HashedMap<usize>,
    chain: Vec<Option<usize>>,
}

impl WriteBatch<'_> {
    /// The current version of a document, including writes staged in this batch.
    fn staged_index(&self, id: &str) -> Option<usize> {
        let mut next = self.latest.get(&super::pk::id_hash(id)).copied();
        while let Some(i) = next {
            if self.staged[i].id() == id {
                return Some(i);
            }
            next = self.chain[i];
        }
        None
    }

    fn stage(&mut self, op: Staged) {
        let h = super::pk::id_hash(op.id());
        let previous = self.latest.insert(h, self.staged.len());
        self.chain.push(previous);
        self.staged.push(op);
    }

    pub fn get(&self, id: &str) -> Result<Option<StoredDoc>> {
        if let Some(i) = self.staged_index(id) {
            return Ok(match &self.staged[i] {
                Staged::Put {
                    id,
                    source,
                    version,
                    ..
                } => Some(StoredDoc {
                    id: id.clone(),
                    seq_no: u64::MAX,
                    version: *version,
                    primary_term: self.state.primary_term,
                    source: Arc::new(source.clone()),
                }),
                Staged::Delete { .. } => None,
            });
        }
        match self.state.lookup(id) {
            Some(e) => self.state.load(e),
            None => Ok(None),
        }
    }

    fn check(&self, id: &str, expect: Expect) -> Result<bool> {
        match expect {
            Expect::Any => Ok(true),
            Expect::Absent => Ok(self.get(id)?.is_none()),
            Expect::Version {
                seq_no,
                primary_term,
            } => Ok(self
                .get(id)?
                .is_some_and(|d| d.seq_no == seq_no && d.primary_term == primary_term)),
        }
    }

    /// Makes room for `n` more operations.
    pub fn reserve(&mut self, n: usize) {
        self.staged.reserve(n);
        self.chain.reserve(n);
        self.latest.reserve(n);
    }

    /// Stages an index operation. Fails with `DuplicateKey` if `expect` is
    /// `Absent` and the id exists; returns false if a version check fails.
    pub fn put(&mut self, id: impl Into<String>, source: Object, expect: Expect) -> Result<bool> {
        let id = id.into();
        if !self.check(&id, expect)? {
            if expect == Expect::Absent {
                return Err(Error::DuplicateKey);
            }
            return Ok(false);
        }
        let staged = self.staged_index(&id);
        let absent = expect == Expect::Absent && staged.is_none();
        // One more than the version it replaces (staged in this batch, or
        // live in the shard); 1 for a new document.
        let version = match staged.map(|i| &self.staged[i]) {
            Some(Staged::Put { version, .. }) => version + 1,
            Some(Staged::Delete { .. }) => 1,
            None => match self.state.lookup_unless(absent, &id) {
                Some(e) => self.state.version_of(e) + 1,
                None => 1,
            },
        };
        self.stage(Staged::Put {
            id,
            source,
            absent,
            version,
        });
        Ok(true)
    }

    /// Stages a delete; returns whether a live document (matching `expect`) existed.
    pub fn delete(&mut self, id: &str, expect: Expect) -> Result<bool> {
        if self.get(id)?.is_none() || !self.check(id, expect)? {
            return Ok(false);
        }
        self.stage(Staged::Delete { id: id.to_string() });
        Ok(true)
    }
}

/// One segment, for `sys.segments`.
#[derive(Debug, Clone)]
pub struct SegmentInfo {
    pub id: u32,
    pub num_docs: u32,
    pub deleted_docs: u32,
    pub size_bytes: u64,
    /// Persisted by a flush.
    pub committed: bool,
    /// Part of the searchable snapshot.
    pub search: bool,
}

/// Statistics for `sys.shards`.
#[derive(Debug, Clone, Default)]
pub struct ShardStats {
    pub num_docs: u64,
    pub size_bytes: u64,
    pub segments: usize,
    pub max_seq_no: i64,
    pub translog_bytes: u64,
    pub uncommitted_ops: u64,
}

/// One shard copy's storage.
pub struct Shard {
    pub table_uuid: String,
    pub shard_id: u32,
    disk: Arc<dyn Disk>,
    dir: String,
    /// Fsync the translog before acknowledging writes.
    durable: bool,
    state: Mutex<State>,
    snapshot: Mutex<Arc<Snapshot>>,
    /// Serialises refreshes and flushes (a flush refreshes, then persists).
    refresh_lock: tokio::sync::Mutex<()>,
    /// Serialises merges, which run beside refreshes.
    merge_lock: tokio::sync::Mutex<()>,
    /// A background flush is running ([`Shard::start_flush`]).
    flushing: AtomicBool,
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
        let (ops, last_gen) = read_ops(disk.as_ref(), &dir, from_gen)?;
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
        // ordered apply skips.
        let first = ops.first().map_or(next_seq_no, Op::seq_no);
        state.processed = LocalCheckpoint::starting_at(first.min(next_seq_no));
        let replayed = ops.len() as u64;
        for op in ops {
            state.apply(op)?;
        }
        // Whatever is below the highest sequence number now is in the
        // segments or was replayed: this copy has all it will get.
        state.processed = LocalCheckpoint::starting_at(state.next_seq_no);
        state.tombstones = Tombstones::default();
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

    fn lock(&self) -> MutexGuard<'_, State> {
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

    /// Real-time get by id.
    pub fn get(&self, id: &str) -> Result<Option<StoredDoc>> {
        let st = self.lock();
        match st.lookup(id) {
            Some(e) => st.load(e),
            None => Ok(None),
        }
    }

    /// Runs `f` against a write batch. If `f` succeeds, its staged writes get
    /// sequence numbers, go to the translog (fsynced in durable mode) and
    /// become visible to gets; if it fails, nothing changes.
    pub fn write<R>(&self, f: impl FnOnce(&mut WriteBatch) -> Result<R>) -> Result<R> {
        let (result, sync) = self.write_deferred(f)?;
        if let Some(sync) = sync {
            sync.wait()?;
        }
        Ok(result)
    }

    /// [`Shard::write`] without waiting for the translog sync: the caller
    /// waits for the returned sync (in durable mode) before acknowledging,
    /// so that a request writing to several shards syncs them concurrently,
    /// and the shard is not locked while the disk works. Gets see the writes
    /// at once, as in CrateDB, where a real-time get can read an operation
    /// whose translog sync is still running.
    pub fn write_deferred<R>(
        &self,
        f: impl FnOnce(&mut WriteBatch) -> Result<R>,
    ) -> Result<(R, Option<TranslogSync>)> {
        let mut st = self.lock();
        let (result, staged) = {
            let mut batch = WriteBatch {
                state: &st,
                staged: Vec::new(),
                latest: Default::default(),
                chain: Vec::new(),
            };
            let r = f(&mut batch)?;
            (r, batch.staged)
        };
        if staged.is_empty() {
            return Ok((result, None));
        }
        // The operations reach the translog before the shard applies them:
        // a write the translog refused changes nothing.
        let written = staged.len() as u64;
        let mut scratch = Vec::new();
        let mut ops = Vec::with_capacity(staged.len());
        for (seq_no, s) in (st.next_seq_no..).zip(staged) {
            debug_assert!(!st.processed.contains(seq_no));
            let primary_term = st.primary_term;
            let (op, parsed, absent) = match s {
                Staged::Put {
                    id,
                    source,
                    absent,
                    version,
                } => {
                    scratch.clear();
                    write_source(&mut scratch, &source);
                    (
                        Op::Index {
                            id,
                            seq_no,
                            version,
                            primary_term,
                            source: Arc::from(&scratch[..]),
                        },
                        Some(source),
                        absent,
                    )
                }
                Staged::Delete { id } => (
                    Op::Delete {
                        id,
                        seq_no,
                        primary_term,
                    },
                    None,
                    false,
                ),
            };
            st.translog.stage(&op);
            ops.push((op, parsed, absent));
        }
        let sync = st.append_staged(written)?;
        for (op, parsed, absent) in ops {
            st.apply_parsed(op, parsed, absent)?;
        }
        Ok((result, self.durable.then_some(sync)))
    }

    /// Applies operations that a primary sequenced (a replica's write
    /// path): each goes to the translog and is applied by the `_seq_no`
    /// rules, so any order and repeats leave the same state. The caller
    /// waits for the returned sync (in durable mode) before acknowledging.
    pub fn apply_replicated(&self, ops: Vec<Op>) -> Result<Option<TranslogSync>> {
        if ops.is_empty() {
            return Ok(None);
        }
        let mut st = self.lock();
        let written = ops.len() as u64;
        for op in &ops {
            st.translog.stage(op);
        }
        let sync = st.append_staged(written)?;
        for op in ops {
            st.apply(op)?;
        }
        Ok(self.durable.then_some(sync))
    }

    /// Whether there are writes a refresh would make searchable.
    pub fn needs_refresh(&self) -> bool {
        self.lock().unrefreshed
    }

    /// Whether the translog has grown enough to flush, or writes have
    /// stopped for [`FLUSH_IDLE`] with some not yet flushed.
    pub fn needs_flush(&self) -> bool {
        let st = self.lock();
        st.translog.size() > FLUSH_THRESHOLD_BYTES
            || (st.uncommitted_ops > 0
                && crate::runtime::instant().duration_since(st.last_write) >= FLUSH_IDLE)
    }

    /// Whether the merge policy would merge something now.
    pub fn needs_merge(&self) -> bool {
        pick_merge(&self.lock().segments).is_some()
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

    async fn refresh_inner(&self) -> Result<bool> {
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
    fn publish(&self, mut st: MutexGuard<'_, State>) {
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
    fn refresh_locked(&self) -> Result<()> {
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

    async fn merge_inner(
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
        let merged = {
            let parts = parts.clone();
            crate::runtime::run_blocking(move || {
                let refs: Vec<(&Segment, &AliveSet)> =
                    parts.iter().map(|(s, a)| (s.as_ref(), a)).collect();
                Segment::merge(new_id, &refs)
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

    /// Starts a flush in the background unless one is running. A flush
    /// mostly writes files, so housekeeping does not wait for it: the next
    /// shard's refresh goes on building while the disk works. A failed flush
    /// is retried when housekeeping next finds [`Shard::needs_flush`].
    pub fn start_flush(self: &Arc<Self>) {
        if self.flushing.swap(true, Ordering::AcqRel) {
            return;
        }
        let shard = self.clone();
        let flush = async move {
            if let Err(e) = shard.flush().await {
                shard.failures.record(Maintenance::Flush, &e);
            }
            shard.flushing.store(false, Ordering::Release);
        };
        crate::runtime::spawn(tracing::Instrument::in_current_span(flush));
    }

    /// Persists everything: refresh, write new segments and alive sets, write
    /// a commit point, drop the translog generations it covers.
    pub async fn flush(&self) -> Result<()> {
        let _r = self.refresh_lock.lock().await;
        self.flush_inner().await
    }

    async fn flush_inner(&self) -> Result<()> {
        // 1. Later writes go to a new translog generation...
        let (generation, committing) = {
            let mut st = self.lock();
            st.translog.roll()?;
            (st.translog.generation(), st.uncommitted_ops)
        };
        // 2. ...and everything before it goes into segments.
        self.refresh_inner().await?;
        // 3. Capture what needs writing. Alive sets may already include deletes
        //    logged in the new generation: replaying those is idempotent. They
        //    are synced first so a persisted delete is never ahead of its log.
        let (commit, work) = {
            let mut st = self.lock();
            st.translog.sync()?;
            let mut work = Vec::new();
            let mut segments = Vec::with_capacity(st.segments.len());
            for (id, slot) in st.segments.iter() {
                let has_deletes = !slot.alive.all_alive();
                let stale = slot.alive_version != slot.persisted_alive_version;
                let alive =
                    (has_deletes && stale).then(|| (slot.alive.clone(), slot.alive_version));
                work.push((*id, (!slot.persisted).then(|| slot.segment.clone()), alive));
                segments.push((*id, slot.segment.clone(), has_deletes));
            }
            let commit = (
                st.next_seq_no,
                st.primary_term,
                st.next_segment_id,
                segments,
            );
            (commit, work)
        };
        // 4. Write segment files and alive sets without holding the state lock.
        let disk = self.disk.clone();
        let dir = self.dir.clone();
        let written = crate::runtime::run_blocking(move || -> Result<Vec<(u32, Option<u64>)>> {
            let mut done = Vec::new();
            for (id, segment, alive) in work {
                if let Some(seg) = segment {
                    for (name, bytes) in seg.files()? {
                        disk.write_atomic(&format!("{dir}/seg-{id}/{name}"), &bytes)?;
                    }
                }
                let version = match alive {
                    Some((a, v)) => {
                        disk.write_atomic(&format!("{dir}/seg-{id}.alive"), &a.to_bytes())?;
                        Some(v)
                    }
                    None => None,
                };
                done.push((id, version));
            }
            Ok(done)
        })
        .await?;
        // 5. The commit point, then cleanup.
        let (next_seq_no, primary_term, next_segment_id, segments) = commit;
        let mut point = CommitPoint {
            segments: Vec::with_capacity(segments.len()),
            next_seq_no,
            primary_term,
            translog_generation: generation,
            next_segment_id,
        };
        for (id, segment, has_deletes) in &segments {
            let files = segment.file_names()?;
            point.segments.push(CommitSegment {
                id: *id,
                files,
                has_deletes: *has_deletes,
            });
        }
        let bytes = serde_json::to_vec_pretty(&point).map_err(Error::internal)?;
        self.disk
            .write_atomic(&format!("{}/commit.json", self.dir), &bytes)?;
        let mut st = self.lock();
        for (id, alive_version) in written {
            if let Some(slot) = st.segments.get_mut(&id) {
                slot.persisted = true;
                if let Some(v) = alive_version {
                    slot.persisted_alive_version = v;
                }
            }
        }
        st.translog.trim(generation)?;
        st.uncommitted_ops -= committing;
        drop(st);
        // Files of segments the commit point no longer references (merged away).
        let referenced: Vec<String> = segments
            .iter()
            .map(|(id, _, _)| format!("seg-{id}"))
            .collect();
        for name in self.disk.list(&self.dir)? {
            let base = name.strip_suffix(".alive").unwrap_or(&name);
            if base.starts_with("seg-") && !referenced.iter().any(|l| l == base) {
                if name.ends_with(".alive") {
                    self.disk.remove(&format!("{}/{name}", self.dir))?;
                } else {
                    self.disk.remove_dir(&format!("{}/{name}", self.dir))?;
                }
            }
        }
        Ok(())
    }

    /// The shard's segments, for `sys.segments`.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let snap = self.snapshot();
        let st = self.lock();
        st.segments
            .iter()
            .map(|(id, slot)| SegmentInfo {
                id: *id,
                num_docs: slot.alive.num_alive(),
                deleted_docs: slot.alive.len() - slot.alive.num_alive(),
                size_bytes: slot.segment.size_bytes(),
                committed: slot.persisted,
                search: snap.segments.iter().any(|v| v.segment.id == *id),
            })
            .collect()
    }

    /// Statistics for `sys.shards`.
    pub fn stats(&self) -> ShardStats {
        let snap = self.snapshot();
        let st = self.lock();
        ShardStats {
            num_docs: snap.num_docs(),
            size_bytes: snap
                .segments
                .iter()
                .map(|s| s.segment.size_bytes())
                .sum::<u64>()
                + st.translog.size(),
            segments: snap.segments.len(),
            max_seq_no: st.next_seq_no as i64 - 1,
            translog_bytes: st.translog.size(),
            uncommitted_ops: st.uncommitted_ops,
        }
    }

    /// Deletes the shard's files.
    pub fn destroy(&self) -> Result<()> {
        self.disk.remove_dir(&self.dir)?;
        Ok(())
    }
}

/// Builds segment `id` from a frozen buffer, every document in buffer
/// order (dead ones too: their places are their doc ids).
fn build_segment(id: u32, table: &Arc<TableInfo>, docs: &Arc<Vec<BufferedDoc>>) -> Result<Segment> {
    let schema = shard_schema();
    let tdocs = (0..docs.len()).map(|i| RowDoc::new(schema, table.clone(), docs.clone(), i));
    Segment::build(id, schema, tdocs)
}

/// The smallest segments, enough of them that merging them into one leaves
/// `max` segments.
fn pick_smallest(segments: &BTreeMap<u32, SegmentSlot>, max: usize) -> Option<Vec<u32>> {
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
fn pick_with_deletes(segments: &BTreeMap<u32, SegmentSlot>) -> Option<Vec<u32>> {
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
fn pick_merge(segments: &BTreeMap<u32, SegmentSlot>) -> Option<Vec<u32>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MemDisk;
    use crate::storage::tests::{put, table};
    use crate::types::Value;

    /// A refresh whose build fails puts its frozen documents back: nothing
    /// is lost, documents replaced meanwhile stay replaced, and the next
    /// refresh makes exactly the current versions searchable.
    #[tokio::test]
    async fn a_failed_build_loses_nothing() {
        let shard = Shard::open(table(), 0, Arc::new(MemDisk::new()), false).unwrap();
        for id in 0..10 {
            put(&shard, id, 0);
        }
        put(&shard, 1, 1); // replaced within the buffer
        let frozen = shard.lock().freeze().unwrap();
        assert_eq!(frozen.dead, vec![1]);
        // Writes while the segment "builds": a replacement, a delete, a new row.
        put(&shard, 2, 2);
        shard.write(|b| b.delete("3", Expect::Any)).unwrap();
        put(&shard, 10, 0);
        shard.lock().unfreeze();
        for (id, n) in [(0, 0), (1, 1), (2, 2), (9, 0), (10, 0)] {
            let doc = shard.get(&id.to_string()).unwrap().unwrap();
            assert_eq!(doc.source["n"], Value::Int(n), "row {id}");
        }
        assert!(shard.get("3").unwrap().is_none());
        assert!(shard.refresh().await.unwrap());
        assert_eq!(shard.snapshot().num_docs(), 10);
        assert_eq!(shard.segments().len(), 1);
        // The rebuilt buffer holds only current versions: no dead documents.
        assert_eq!(shard.segments()[0].deleted_docs, 0);
        assert_eq!(shard.get("2").unwrap().unwrap().source["n"], Value::Int(2));
    }
}
