//! Peer recovery, both ends: a new copy of a shard gets its primary's
//! segment files, then the operations the primary wrote since.
//!
//! The source (the primary) rolls its translog and keeps every generation
//! from there on for the recovering copy (a *retention*), refreshes, and
//! hands over its segments with their alive sets: they hold every operation
//! below the roll point and maybe some after. The target writes them as its
//! own commit point and opens the shard from them. Then the source starts
//! sending new writes to the target, and reads the retained translog back:
//! every operation since the roll point reaches the target at least once,
//! by one way or the other, and applying by `_seq_no` makes repeats and any
//! order harmless ([`crate::storage::seqno`]).
//!
//! A copy that already holds most of the shard (its node left and came
//! back) may instead catch up by operations alone: when the source's
//! translog still holds every operation above the copy's local checkpoint,
//! no segment is sent ([`RecoveryFiles::ops_based`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::flush::{CommitPoint, CommitSegment};
use super::history::{CatchUp, logged_terms, verify_held};
use super::open::shard_dir;
use super::state::{SentGeneration, Shard};
use crate::breaker::{Breaker, MemoryAccount};
use crate::catalog::TableInfo;
use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::storage::translog::{Op, oldest_generation, read_generation};

/// What a primary hands a recovering copy first: the list of its
/// segments' files, which the copy then fetches in chunks
/// ([`Shard::recovery_chunk`]): no message is larger than a chunk, the
/// copy holds one file in memory at a time, and the recovery's progress
/// shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryFiles {
    pub segments: Vec<SegmentToCopy>,
    /// Every operation below this is in the segments.
    pub next_seq_no: u64,
    pub primary_term: u64,
    pub next_segment_id: u32,
    /// The first translog generation the source keeps for this recovery.
    pub translog_generation: u64,
    /// No segments: the target keeps its own copy and catches up by the
    /// operations above its local checkpoint.
    #[serde(default)]
    pub ops_based: bool,
    /// The global checkpoint the source knows.
    #[serde(default)]
    pub global_checkpoint: Option<u64>,
}

/// The bytes of a segment file a recovery chunk carries at most. Small in
/// the simulator, so that its small shards' files travel in many chunks.
pub const RECOVERY_CHUNK_BYTES: usize = if cfg!(madsim) { 4 << 10 } else { 4 << 20 };

/// The bytes of operations (their sources) a page of a recovery's
/// operations phase carries, about.
pub const RECOVERY_OPS_PAGE_BYTES: usize = if cfg!(madsim) { 4 << 10 } else { 8 << 20 };

/// Where a recovery's operations phase is: the translog generation, the
/// operations of it already sent, and the last generation to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpsCursor {
    pub generation: u64,
    pub skip: usize,
    pub last: u64,
}

/// A page of a recovery's operations, and where the next one starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpsPage {
    pub ops: Vec<Op>,
    pub next: Option<OpsCursor>,
}

/// A segment a recovering copy is to fetch: its files (name, length) and,
/// when some of its documents are dead, its alive set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentToCopy {
    pub id: u32,
    pub files: Vec<(String, u64)>,
    #[serde(with = "serde_bytes")]
    pub alive: Option<Vec<u8>>,
}

impl SegmentToCopy {
    /// The bytes its files and alive set take.
    pub fn bytes(&self) -> u64 {
        let files: u64 = self.files.iter().map(|(_, len)| len).sum();
        files + self.alive.as_ref().map_or(0, |a| a.len() as u64)
    }
}

impl RecoveryFiles {
    /// The bytes the segments take.
    pub fn size(&self) -> u64 {
        self.segments.iter().map(SegmentToCopy::bytes).sum()
    }

    /// How many files the segments have (alive sets included).
    pub fn file_count(&self) -> u64 {
        let files = self
            .segments
            .iter()
            .map(|s| s.files.len() + s.alive.is_some() as usize);
        files.sum::<usize>() as u64
    }
}

impl Shard {
    /// The source's first step: keeps the translog from here on for
    /// `allocation_id` and answers the segments (see the module notes).
    /// With `catch_up`, the target may catch up by operations alone if
    /// the translog still has the rest and agrees with what it holds.
    pub async fn recovery_files(
        &self,
        allocation_id: &str,
        catch_up: Option<CatchUp<'_>>,
    ) -> Result<RecoveryFiles> {
        if let Some(catch_up) = catch_up
            && let Some(plan) = self.ops_recovery(allocation_id, catch_up)?
        {
            return Ok(plan);
        }
        let _m = self.merge_lock.lock().await;
        let _r = self.refresh_lock.lock().await;
        let (translog_generation, next_seq_no) = {
            let mut st = self.lock();
            let closed = st.translog.generation();
            st.translog.roll()?;
            st.note_roll(closed);
            let generation = st.translog.generation();
            st.retained.insert(allocation_id.to_string(), generation);
            // What the segments will hold for sure: what this copy had
            // processed without a gap when the translog rolled.
            (generation, st.processed.checkpoint().map_or(0, |c| c + 1))
        };
        let captured = match self.refresh_inner().await {
            Ok(_) => {
                let st = self.lock();
                let segments: Vec<_> = st
                    .segments
                    .iter()
                    .map(|(id, slot)| (*id, slot.segment.clone(), slot.published.clone()))
                    .collect();
                let global = st.global.tracked.then_some(st.global.known).flatten();
                Ok((segments, st.primary_term, st.next_segment_id, global))
            }
            Err(e) => Err(e),
        };
        let (segments, primary_term, next_segment_id, global_checkpoint) = match captured {
            Ok(c) => c,
            Err(e) => {
                self.release_retention(allocation_id);
                return Err(e);
            }
        };
        let segments: Vec<_> = segments
            .into_iter()
            .filter(|(_, _, alive)| alive.num_alive() > 0)
            .collect();
        let mut out = Vec::with_capacity(segments.len());
        for (id, segment, alive) in &segments {
            out.push(SegmentToCopy {
                id: *id,
                files: segment.file_lengths()?,
                alive: (!alive.all_alive()).then(|| alive.to_bytes()),
            });
        }
        // Kept until the recovery ends, for the copy to fetch.
        self.lock()
            .sending
            .entry(allocation_id.to_string())
            .or_default()
            .segments = segments;
        Ok(RecoveryFiles {
            segments: out,
            next_seq_no,
            primary_term,
            next_segment_id,
            translog_generation,
            ops_based: false,
            global_checkpoint,
        })
    }

    /// Plans a recovery by operations alone, keeping the whole translog
    /// for it, if the translog holds every operation from where the target
    /// starts up to this copy's local checkpoint, and (when the target
    /// listed them) every operation the target holds from there on;
    /// `None` (and nothing kept) otherwise.
    fn ops_recovery(
        &self,
        allocation_id: &str,
        catch_up: CatchUp<'_>,
    ) -> Result<Option<RecoveryFiles>> {
        let (from, held) = match catch_up {
            CatchUp::Below(from) => (from, &[][..]),
            CatchUp::Held(above) => (above.from, &above.ops[..]),
        };
        let (generation, upto, primary_term) = {
            let mut st = self.lock();
            st.translog.sync()?;
            // Under the state lock, so no flush trims the log in between.
            let Some(oldest) = oldest_generation(self.disk.as_ref(), &self.dir)? else {
                return Ok(None);
            };
            st.retained.insert(allocation_id.to_string(), oldest);
            (oldest, st.processed.checkpoint(), st.primary_term)
        };
        let lacking = upto.is_some_and(|upto| upto >= from);
        let agreed = if lacking || !held.is_empty() {
            // One pass: the sequence numbers logged from `from` on, with
            // their terms, answer both checks.
            let logged = logged_terms(self.disk.as_ref(), &self.dir, generation, from)?;
            let covered = upto.is_none_or(|upto| {
                upto < from || logged.range(from..=upto).count() as u64 == upto - from + 1
            });
            covered && verify_held(&logged, held)
        } else {
            true
        };
        if !agreed {
            self.release_retention(allocation_id);
            return Ok(None);
        }
        Ok(Some(RecoveryFiles {
            segments: Vec::new(),
            next_seq_no: from,
            primary_term,
            next_segment_id: 0,
            translog_generation: generation,
            ops_based: true,
            global_checkpoint: None,
        }))
    }

    /// A chunk of one file of the segments a recovery listed: at most
    /// [`RECOVERY_CHUNK_BYTES`] from `offset`.
    pub fn recovery_chunk(
        &self,
        allocation_id: &str,
        segment: u32,
        file: &str,
        offset: u64,
    ) -> Result<Vec<u8>> {
        let found = {
            let st = self.lock();
            let listed = st.sending.get(allocation_id).map(|s| &s.segments);
            listed.and_then(|s| s.iter().find(|(id, _, _)| *id == segment).cloned())
        };
        let Some((_, segment, _)) = found else {
            return Err(Error::internal(format!(
                "no recovery of {allocation_id} is sending segment {segment} from {}",
                self.dir
            )));
        };
        segment.read_file_range(file, offset, RECOVERY_CHUNK_BYTES)
    }

    /// The source's second step, once new writes also go to the target:
    /// the operations logged since the first step, a page at a time (at
    /// most [`RECOVERY_OPS_PAGE_BYTES`] of sources). `cursor` is `None` for
    /// the first page, then the page's `next`; the last page (no `next`)
    /// ends the retention. The generation being sent is kept in memory,
    /// accounted on `breaker`.
    pub fn recovery_ops_page(
        &self,
        allocation_id: &str,
        cursor: Option<OpsCursor>,
        breaker: &Arc<Breaker>,
    ) -> Result<OpsPage> {
        let cursor = match cursor {
            Some(c) => c,
            None => {
                let mut st = self.lock();
                // Operations written before new writes went to the target
                // are all in the log once it is synced; later ones reach the
                // target directly, so the generation current now is the last
                // one to read.
                st.translog.sync()?;
                let Some(from) = st.retained.get(allocation_id).copied() else {
                    return Err(Error::internal(format!(
                        "no recovery of {allocation_id} is in progress on {}",
                        self.dir
                    )));
                };
                OpsCursor {
                    generation: from,
                    skip: 0,
                    last: st.translog.generation(),
                }
            }
        };
        // One generation is read once and kept while its pages are sent.
        let cached = {
            let st = self.lock();
            let generation = st
                .sending
                .get(allocation_id)
                .and_then(|s| s.generation.as_ref());
            generation
                .filter(|g| g.number == cursor.generation)
                .map(|g| g.ops.clone())
        };
        let ops = match cached {
            Some(ops) => ops,
            None => {
                // The previous generation is given back before the next is read.
                if let Some(s) = self.lock().sending.get_mut(allocation_id) {
                    s.generation = None;
                }
                let ops = Arc::new(read_generation(
                    self.disk.as_ref(),
                    &self.dir,
                    cursor.generation,
                )?);
                let memory = MemoryAccount::new(breaker.clone());
                let held: usize = ops.iter().map(op_bytes).sum();
                memory.reserve(held as u64, "recovery source operations")?;
                self.lock()
                    .sending
                    .entry(allocation_id.to_string())
                    .or_default()
                    .generation = Some(SentGeneration {
                    number: cursor.generation,
                    ops: ops.clone(),
                    _memory: memory,
                });
                ops
            }
        };
        let mut page = Vec::new();
        let mut bytes = 0usize;
        for op in ops.iter().skip(cursor.skip) {
            if !page.is_empty() && bytes >= RECOVERY_OPS_PAGE_BYTES {
                break;
            }
            bytes += op_bytes(op);
            page.push(op.clone());
        }
        let skip = cursor.skip + page.len();
        let next = if skip < ops.len() {
            Some(OpsCursor { skip, ..cursor })
        } else if cursor.generation < cursor.last {
            Some(OpsCursor {
                generation: cursor.generation + 1,
                skip: 0,
                last: cursor.last,
            })
        } else {
            self.release_retention(allocation_id);
            None
        };
        Ok(OpsPage { ops: page, next })
    }

    /// Keeps the translog, from its oldest generation on, under `key` (a
    /// primary whose replica's node left keeps the operations that replica
    /// will need to catch up when it comes back). Nothing when already kept.
    pub fn retain_history(&self, key: &str) -> Result<()> {
        let mut st = self.lock();
        if st.retained.contains_key(key) {
            return Ok(());
        }
        if let Some(oldest) = oldest_generation(self.disk.as_ref(), &self.dir)? {
            st.retained.insert(key.to_string(), oldest);
        }
        Ok(())
    }

    /// Stops keeping the translog and segments for a recovery (done, or
    /// abandoned).
    pub fn release_retention(&self, allocation_id: &str) {
        let mut st = self.lock();
        st.retained.remove(allocation_id);
        st.sending.remove(allocation_id);
    }

    /// Stops keeping the translog and segments for recoveries `keep` no
    /// longer names.
    pub fn retain_only(&self, keep: impl Fn(&str) -> bool) {
        let mut st = self.lock();
        st.retained.retain(|id, _| keep(id));
        st.sending.retain(|id, _| keep(id));
    }

    /// The first translog generation a flush must keep: the committed one,
    /// or an older one a recovery or the global checkpoint still needs.
    pub(super) fn retained_from(st: &super::state::State, committed: u64) -> u64 {
        st.retained
            .values()
            .copied()
            .chain(st.global.first_needed_generation())
            .min()
            .unwrap_or(committed)
            .min(committed)
    }

    /// The target's first step: clears whatever the shard's directory
    /// holds, for the source's segments.
    pub fn clear_for_recovery(disk: &dyn Disk, table_uuid: &str, shard_id: u32) -> Result<()> {
        disk.remove_dir(&shard_dir(table_uuid, shard_id))?;
        Ok(())
    }

    /// The target writes one file of a segment it fetched.
    pub fn write_recovered_file(
        disk: &dyn Disk,
        table_uuid: &str,
        shard_id: u32,
        segment: u32,
        name: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let dir = shard_dir(table_uuid, shard_id);
        if name.contains('/') || name.starts_with('.') || name.is_empty() {
            return Err(Error::Io(format!(
                "recovery of {dir} sent a file named {name:?}"
            )));
        }
        disk.write_atomic(&format!("{dir}/seg-{segment}/{name}"), bytes)?;
        Ok(())
    }

    /// The target writes the alive set of a segment it fetched.
    pub fn write_recovered_alive(
        disk: &dyn Disk,
        table_uuid: &str,
        shard_id: u32,
        segment: u32,
        alive: &[u8],
    ) -> Result<()> {
        let dir = shard_dir(table_uuid, shard_id);
        disk.write_atomic(&format!("{dir}/seg-{segment}.alive"), alive)?;
        Ok(())
    }

    /// The target's last file step: once every listed segment is written,
    /// records them as its commit point and opens the shard from them.
    pub fn open_recovered(
        table: Arc<TableInfo>,
        shard_id: u32,
        disk: Arc<dyn Disk>,
        durable: bool,
        files: RecoveryFiles,
    ) -> Result<Shard> {
        let dir = shard_dir(&table.uuid, shard_id);
        let point = CommitPoint {
            segments: files
                .segments
                .into_iter()
                .map(|s| CommitSegment {
                    id: s.id,
                    files: s.files.into_iter().map(|(name, _)| name).collect(),
                    has_deletes: s.alive.is_some(),
                })
                .collect(),
            next_seq_no: files.next_seq_no,
            primary_term: files.primary_term,
            translog_generation: 1,
            next_segment_id: files.next_segment_id,
            processed_below: Some(files.next_seq_no),
            global_checkpoint: files.global_checkpoint,
        };
        let bytes = serde_json::to_vec_pretty(&point).map_err(Error::internal)?;
        disk.write_atomic(&format!("{dir}/commit.json"), &bytes)?;
        Shard::open(table, shard_id, disk, durable)
    }
}

/// What an operation weighs in memory and in a page: its id and source,
/// and a little for the rest.
fn op_bytes(op: &Op) -> usize {
    32 + match op {
        Op::Index { source, id, .. } => source.len() + id.len(),
        Op::Delete { id, .. } => id.len(),
        Op::NoOp { .. } => 0,
    }
}
