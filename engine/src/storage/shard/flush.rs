//! Flush: persists the shard so a restart need not replay its translog.
//! New segments and changed alive sets are written, then a commit point
//! naming them, and the translog generations it covers are dropped. A flush
//! runs when the translog grows or writes stop ([`Shard::needs_flush`]),
//! in the background ([`Shard::start_flush`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::state::Shard;
use crate::error::{Error, Result};
use crate::storage::maintenance::Maintenance;

/// Translog size after which a shard flushes (CrateDB's default is 512 MB;
/// smaller keeps restart replay short).
pub const FLUSH_THRESHOLD_BYTES: u64 = 128 * 1024 * 1024;
/// A shard without writes for this long flushes, so a restart after a bulk
/// load opens its segments instead of replaying the load from the translog.
/// (Elasticsearch flushes inactive shards after 5 minutes; a restart within
/// those minutes would replay everything.)
pub const FLUSH_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CommitPoint {
    pub(super) segments: Vec<CommitSegment>,
    pub(super) next_seq_no: u64,
    pub(super) primary_term: u64,
    pub(super) translog_generation: u64,
    pub(super) next_segment_id: u32,
    /// Every operation below this sequence number is in the segments: the
    /// copy's local checkpoint when the translog rolled, plus one. Recovery
    /// starts its processed set here and replays the translog on top, so a
    /// copy with gaps (a replica) keeps them and learns what it lacks.
    /// Absent in commits written before it existed.
    #[serde(default)]
    pub(super) processed_below: Option<u64>,
    /// The global checkpoint the copy knew, in a replicated shard.
    #[serde(default)]
    pub(super) global_checkpoint: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CommitSegment {
    pub(super) id: u32,
    pub(super) files: Vec<String>,
    pub(super) has_deletes: bool,
}

impl Shard {
    /// Whether the translog has grown enough to flush, or writes have
    /// stopped for [`FLUSH_IDLE`] with some not yet flushed.
    pub fn needs_flush(&self) -> bool {
        let st = self.lock();
        st.translog.size() > FLUSH_THRESHOLD_BYTES
            || (st.uncommitted_ops > 0
                && crate::runtime::instant().duration_since(st.last_write) >= FLUSH_IDLE)
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
        let (generation, committing, processed_below) = {
            let mut st = self.lock();
            let closed = st.translog.generation();
            st.translog.roll()?;
            st.note_roll(closed);
            let processed_below = st.processed.checkpoint().map_or(0, |c| c + 1);
            (
                st.translog.generation(),
                st.uncommitted_ops,
                processed_below,
            )
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
            let global = st.global.tracked.then_some(st.global.known).flatten();
            let commit = (
                st.next_seq_no,
                st.primary_term,
                st.next_segment_id,
                segments,
                global,
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
        let (next_seq_no, primary_term, next_segment_id, segments, global_checkpoint) = commit;
        let mut point = CommitPoint {
            segments: Vec::with_capacity(segments.len()),
            next_seq_no,
            primary_term,
            translog_generation: generation,
            next_segment_id,
            processed_below: Some(processed_below),
            global_checkpoint,
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
        let keep_from = Shard::retained_from(&st, generation);
        st.translog.trim(keep_from)?;
        st.note_trim(keep_from);
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
}
