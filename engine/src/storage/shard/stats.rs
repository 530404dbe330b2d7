//! What a shard reports about itself: its segments for `sys.segments` and
//! its statistics for `sys.shards`. Read-only views over the state and the
//! snapshot, apart from the phases that change them.

use super::state::Shard;

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

impl Shard {
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
}
