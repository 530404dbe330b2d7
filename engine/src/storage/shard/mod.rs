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
//!
//! One file per phase, so a change to one touches one place:
//!
//! - `state.rs`: the state behind the shard's lock (pk index, indexing
//!   buffers, segments, translog), applying operations to it, and the
//!   [`Shard`] that holds it;
//! - `write.rs`: write batches, a primary's and a replica's write paths;
//! - `snapshot.rs`: what searches see;
//! - `refresh.rs`: freeze the buffer, build a segment, publish a snapshot;
//!   background housekeeping;
//! - `merge_policy.rs`: which segments to merge, as pure functions;
//! - `merge.rs`: running a merge beside writes and refreshes;
//! - `flush.rs`: commit points, and when and how to write them;
//! - `open.rs`: opening a shard and recovering it from disk; deleting it;
//! - `recovery.rs`: peer recovery, the source's and the target's steps;
//! - `history.rs`: what a returning copy holds, checked against its primary's;
//! - `checkpoint.rs`: the global checkpoint, and the history kept above it;
//! - `resync.rs`: a promoted primary's resync of the other copies;
//! - `stats.rs`: what `sys.shards` and `sys.segments` show.

mod checkpoint;
mod flush;
mod history;
mod merge;
mod merge_policy;
mod open;
mod recovery;
mod refresh;
mod resync;
mod snapshot;
mod state;
mod stats;
mod write;

pub use flush::{FLUSH_IDLE, FLUSH_THRESHOLD_BYTES};
pub use history::{CatchUp, HELD_HISTORY_LIMIT, HeldAbove, HeldHistory};
pub use open::shard_dir;
pub use recovery::{
    OpsCursor, OpsPage, RECOVERY_CHUNK_BYTES, RECOVERY_OPS_PAGE_BYTES, RecoveryFiles, SegmentToCopy,
};
pub use resync::{ResyncBatch, ResyncLimit, Resynced};
pub use snapshot::{SegmentView, Snapshot};
pub use state::Shard;
pub use stats::{SegmentInfo, ShardStats};
pub use write::{Expect, WriteBatch, Written};

#[cfg(test)]
mod tests;
