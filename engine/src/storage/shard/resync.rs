//! Primary-replica resync (Elasticsearch's): when a replica is promoted,
//! the shard's copies may differ above the global checkpoint, since the
//! failed primary's last operations reached some copies and not others.
//! None of those was acknowledged, so the new primary's history wins.
//!
//! The new primary first fills the gaps in its history with no-ops (the
//! operations it never got are gone for good, and its local checkpoint must
//! pass them), then sends every other copy its documents and deletes above
//! the global checkpoint, its highest sequence number and the ones it just
//! filled. A copy whose documents and deletes above the global checkpoint
//! all come from operations the primary processed too applies what it
//! lacks and fills its gaps the same way: it then holds what the primary
//! holds. A copy whose document or delete comes from an operation the
//! primary never received cannot take it back, and answers
//! [`Resynced::Diverged`]: the primary fails it, and it recovers anew.
//!
//! Comparing what the copies hold, rather than their translogs, is why
//! deletes are remembered above the global checkpoint ([`crate::storage::seqno`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::state::Shard;
use crate::error::Result;
use crate::storage::source::write_source;
use crate::storage::translog::{Op, TranslogSync};

/// How much a resync may carry in its one message: past it, the other
/// copies recover from files instead.
#[derive(Debug, Clone, Copy)]
pub struct ResyncLimit {
    /// Documents and deletes above the global checkpoint.
    pub ops: usize,
    /// Bytes of their sources and ids.
    pub bytes: usize,
}

impl ResyncLimit {
    /// No limit (tests).
    pub const NONE: ResyncLimit = ResyncLimit {
        ops: usize::MAX,
        bytes: usize::MAX,
    };
}

/// What a promoted primary sends its other copies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResyncBatch {
    pub primary_term: u64,
    /// The operations up to it are on every copy already.
    pub global_checkpoint: Option<u64>,
    /// The primary's highest sequence number; it has processed every one up
    /// to it.
    pub max_seq_no: Option<u64>,
    /// The primary's documents and deletes above the global checkpoint, by
    /// sequence number.
    pub ops: Vec<Op>,
    /// The sequence numbers the primary just filled with no-ops: the
    /// operations it never received. Every other one up to `max_seq_no` it
    /// processed, overwritten or not.
    pub noops: Vec<u64>,
}

/// How a copy took a resync.
pub enum Resynced {
    /// It now holds what the primary holds; durable once the sync is done.
    Applied(Option<TranslogSync>),
    /// It holds an operation the primary does not (named here).
    Diverged(String),
}

impl Shard {
    /// The primary term whose resync is due, when this copy (as primary)
    /// writes under a newer term than it last resynced.
    pub fn resync_due(&self) -> Option<u64> {
        let st = self.lock();
        (st.primary_term > st.resynced_term).then_some(st.primary_term)
    }

    /// Records that the copies were resynced for `term`.
    pub fn resynced(&self, term: u64) {
        let mut st = self.lock();
        st.resynced_term = st.resynced_term.max(term);
    }

    /// The new primary's side (see the module notes): fills its gaps with
    /// no-ops and answers what the other copies must hold, or `None` when
    /// more than `limit` allows lies above the global checkpoint (those
    /// copies are better recovered from files).
    pub fn resync_batch(
        &self,
        limit: ResyncLimit,
    ) -> Result<(Option<ResyncBatch>, Option<TranslogSync>)> {
        let mut st = self.lock();
        let primary_term = st.primary_term;
        let max_seq_no = st.next_seq_no.checked_sub(1);
        let gaps = max_seq_no.map_or(Vec::new(), |m| st.processed.gaps(m));
        let filled = gaps.clone();
        let sync = if gaps.is_empty() {
            None
        } else {
            let noops: Vec<Op> = gaps
                .into_iter()
                .map(|seq_no| Op::NoOp {
                    seq_no,
                    primary_term,
                })
                .collect();
            let sync = st.log_and_apply(noops)?;
            self.durable.then_some(sync)
        };
        let global_checkpoint = st.global.known;
        let above: Vec<_> = st
            .pk
            .entries()
            .filter(|e| global_checkpoint.is_none_or(|g| e.seq_no > g))
            .copied()
            .collect();
        if above.len() > limit.ops {
            return Ok((None, sync));
        }
        let mut ops = Vec::with_capacity(above.len());
        let mut source = Vec::new();
        let mut bytes = 0usize;
        for entry in above {
            let Some(doc) = st.load(entry)? else { continue };
            source.clear();
            write_source(&mut source, &doc.source);
            bytes += source.len() + doc.id.len();
            if bytes > limit.bytes {
                return Ok((None, sync));
            }
            ops.push(Op::Index {
                id: doc.id,
                seq_no: doc.seq_no,
                version: doc.version,
                primary_term: doc.primary_term,
                source: Arc::from(&source[..]),
            });
        }
        ops.extend(
            st.tombstones
                .above(global_checkpoint)
                .map(|(seq_no, id)| Op::Delete {
                    id: id.to_string(),
                    seq_no,
                    primary_term,
                }),
        );
        ops.sort_by_key(Op::seq_no);
        let batch = ResyncBatch {
            primary_term,
            global_checkpoint,
            max_seq_no,
            ops,
            noops: filled,
        };
        Ok((Some(batch), sync))
    }

    /// A copy's side (see the module notes).
    pub fn apply_resync(&self, batch: ResyncBatch) -> Result<Resynced> {
        let mut st = self.lock();
        // A sequence number the primary never processed: above its highest,
        // or one it filled. (The primary's own operations were sequenced by
        // the same old primaries, so any other is the same operation.)
        let lacking = |seq_no: u64| {
            batch.max_seq_no.is_none_or(|m| seq_no > m)
                || batch.noops.binary_search(&seq_no).is_ok()
        };
        let above = batch.global_checkpoint;
        let extra = st
            .pk
            .entries()
            .find(|e| above.is_none_or(|g| e.seq_no > g) && lacking(e.seq_no))
            .copied();
        if let Some(entry) = extra
            && let Some(doc) = st.load(entry)?
        {
            return Ok(Resynced::Diverged(format!(
                "document {:?} at _seq_no {}",
                doc.id, doc.seq_no
            )));
        }
        if let Some((seq_no, id)) = st.tombstones.above(above).find(|(s, _)| lacking(*s)) {
            return Ok(Resynced::Diverged(format!(
                "the delete of {id:?} at _seq_no {seq_no}"
            )));
        }
        // The sequence numbers the primary filled are filled here too.
        let held: std::collections::HashSet<u64> = batch.ops.iter().map(Op::seq_no).collect();
        let gaps = batch
            .max_seq_no
            .map_or(Vec::new(), |m| st.processed.gaps(m));
        let noops: Vec<Op> = gaps
            .into_iter()
            .filter(|s| !held.contains(s))
            .map(|seq_no| Op::NoOp {
                seq_no,
                primary_term: batch.primary_term,
            })
            .collect();
        st.primary_term = st.primary_term.max(batch.primary_term);
        let mut ops = batch.ops;
        ops.extend(noops);
        ops.retain(|op| !st.processed.contains(op.seq_no()));
        let sync = if ops.is_empty() {
            None
        } else {
            let sync = st.log_and_apply(ops)?;
            self.durable.then_some(sync)
        };
        st.global.raise(above);
        Ok(Resynced::Applied(sync))
    }
}
