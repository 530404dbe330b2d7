//! Requests as data: what execution asks of a shard, and what comes back.
//!
//! Every value here is plain and serialisable ([`codec`]), so a request that
//! the local node runs on its own shard today is the message a node sends to
//! another node in a cluster.

pub mod codec;
mod copy;
mod join;
mod read;
mod result;
mod shard;
mod write;

#[cfg(test)]
mod tests;

pub use copy::{CopyOptions, CopyOutcome, CopyPart, CopyTask, FileShare};
pub use join::{JoinPart, JoinSide};
pub use read::{Bucket, CollectMode, CollectSpec, Groups, Partial, ShardJoin};
pub use result::QueryResult;
pub use shard::{SchemaChange, ShardId, ShardRequest, ShardResponse, ShardWrite};
pub use write::{IfExists, NewColumn, UpdateSpec, WriteOp, WriteOutcome};
