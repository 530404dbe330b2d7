//! What searches see: a [`Snapshot`] of the shard's segments, each with the
//! alive set it had at the refresh (or merge) that published it. Searches
//! hold a snapshot while writes, refreshes and merges go on. Its own file:
//! the shard holds one (`state.rs`), refreshes and merges publish them.

use std::sync::Arc;

use crate::storage::segment::{AliveSet, Segment};

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
