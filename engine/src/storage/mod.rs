//! Shard storage on tantivy: translog, indexing buffer, segments, pk index.

pub mod document;
pub mod fulltext;
pub mod maintenance;
pub mod pk;
pub mod segment;
pub mod seqno;
pub mod shard;
pub mod source;
pub mod translog;

pub use document::{ShardSchema, StoredDoc};
pub use maintenance::{FailureCounts, Maintenance, MaintenanceFailures};
pub use shard::{
    CatchUp, Expect, HELD_HISTORY_LIMIT, HeldAbove, HeldHistory, OpsCursor, OpsPage, RecoveryFiles,
    ResyncBatch, ResyncLimit, Resynced, Shard, ShardStats, Snapshot, WriteBatch, Written,
};
pub use translog::{Op, SyncInFlight, TranslogSync};

#[cfg(test)]
mod tests;
