//! Requests to one shard copy, their responses, and the schema change a
//! write can ask for.

use serde::{Deserialize, Serialize};

use super::read::{CollectSpec, Partial};
use super::write::{NewColumn, UpdateSpec, WriteOp, WriteOutcome};
use crate::catalog::TableIdent;
use crate::expr::{EvalCtx, Expr};
use crate::planner::ScanColumn;
use crate::storage::{HeldHistory, Op, OpsCursor, OpsPage, RecoveryFiles, ResyncBatch, StoredDoc};

/// One shard of one table: what a request addresses. The uuid tells a
/// dropped and re-created table from the one the request was planned on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShardId {
    pub table: TableIdent,
    pub uuid: String,
    pub shard: u32,
}

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shard {} of {}", self.shard, self.table)
    }
}

/// A request to a shard copy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ShardRequest {
    /// Runs a collect phase on the shard's searchable snapshot.
    Collect {
        shard: ShardId,
        spec: CollectSpec,
        ctx: EvalCtx,
    },
    /// Real-time reads by `_id` (primary-key lookups): the documents found.
    Get { shard: ShardId, ids: Vec<String> },
    /// The live documents an UPDATE or DELETE targets: those the snapshot
    /// finds with `filter`, read again real-time.
    Targets {
        shard: ShardId,
        scan: Vec<ScanColumn>,
        filter: Option<Expr>,
        ctx: EvalCtx,
    },
    /// Operations to apply on the shard's primary.
    Write(ShardWrite),
    /// Makes everything written so far searchable (`REFRESH TABLE`).
    Refresh { shard: ShardId },
    /// Merges the copy's segments (`OPTIMIZE TABLE`): down to
    /// `max_num_segments`, or only those with deletes; flushes after.
    Optimize {
        shard: ShardId,
        max_num_segments: Option<usize>,
        only_expunge_deletes: bool,
        flush: bool,
    },
    /// Operations a primary sequenced, for a replica to apply. A replica
    /// refuses them from a primary of an older term than it knows.
    /// They carry the global checkpoint the primary knows; with no
    /// operations, they only ship that.
    Replicate {
        shard: ShardId,
        primary_term: u64,
        global_checkpoint: Option<u64>,
        ops: Vec<Op>,
    },
    /// A promoted primary brings another copy to its own history
    /// ([`crate::storage::ResyncBatch`]).
    Resync { shard: ShardId, batch: ResyncBatch },
    /// A recovering copy asks its primary for the segments; one that
    /// still holds data of the shard says what (`held`) and asks to catch
    /// up by operations alone, which the primary grants when it can.
    RecoverFiles {
        shard: ShardId,
        allocation_id: String,
        held: Option<HeldHistory>,
    },
    /// A recovering copy fetches a chunk of a segment file its primary
    /// listed, from `offset`.
    RecoverChunk {
        shard: ShardId,
        allocation_id: String,
        segment: u32,
        file: String,
        offset: u64,
    },
    /// A recovering copy asks its primary for the operations since the
    /// segments, a page at a time (`cursor`: none for the first, then the
    /// previous page's `next`); new writes reach it from the first on.
    RecoverOps {
        shard: ShardId,
        allocation_id: String,
        cursor: Option<OpsCursor>,
    },
    /// The new copy of a relocating primary, recovered, asks the primary to
    /// hand off: with its writes held, the primary has the copy started
    /// (and made primary) through the master.
    HandOff {
        shard: ShardId,
        allocation_id: String,
    },
}

impl ShardRequest {
    /// The shard the request addresses.
    pub fn shard(&self) -> &ShardId {
        match self {
            ShardRequest::Collect { shard, .. }
            | ShardRequest::Get { shard, .. }
            | ShardRequest::Targets { shard, .. }
            | ShardRequest::Refresh { shard }
            | ShardRequest::Optimize { shard, .. }
            | ShardRequest::Replicate { shard, .. }
            | ShardRequest::Resync { shard, .. }
            | ShardRequest::RecoverFiles { shard, .. }
            | ShardRequest::RecoverChunk { shard, .. }
            | ShardRequest::RecoverOps { shard, .. }
            | ShardRequest::HandOff { shard, .. } => shard,
            ShardRequest::Write(w) => &w.shard,
        }
    }

    /// Whether the request is the node's own housekeeping, not part of a
    /// statement: a primary shipping its global checkpoint alone.
    pub fn is_housekeeping(&self) -> bool {
        matches!(self, ShardRequest::Replicate { ops, .. } if ops.is_empty())
    }

    /// The statement context the request carries, if any.
    pub fn ctx_mut(&mut self) -> Option<&mut EvalCtx> {
        match self {
            ShardRequest::Collect { ctx, .. } | ShardRequest::Targets { ctx, .. } => Some(ctx),
            ShardRequest::Write(w) => Some(&mut w.ctx),
            ShardRequest::Get { .. }
            | ShardRequest::Refresh { .. }
            | ShardRequest::Optimize { .. }
            | ShardRequest::Replicate { .. }
            | ShardRequest::Resync { .. }
            | ShardRequest::RecoverFiles { .. }
            | ShardRequest::RecoverChunk { .. }
            | ShardRequest::RecoverOps { .. }
            | ShardRequest::HandOff { .. } => None,
        }
    }
}

/// Operations for one shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardWrite {
    pub shard: ShardId,
    /// Parameters and `now()` for assignments and defaults.
    pub ctx: EvalCtx,
    /// How `Update` operations and `IfExists::Update` compute a new version.
    pub update: Option<UpdateSpec>,
    pub ops: Vec<WriteOp>,
    /// Sent on by a node that was the primary (it handed off to another):
    /// not sent on again.
    #[serde(default)]
    pub forwarded: bool,
}

/// What a shard answers.
#[derive(Debug, Serialize, Deserialize)]
pub enum ShardResponse {
    Partial(Partial),
    Docs(Vec<StoredDoc>),
    /// One outcome per operation, in order; sent once the operations are
    /// durable.
    Written(Vec<WriteOutcome>),
    /// The shard refreshed.
    Refreshed,
    /// The copy merged its segments.
    Optimized,
    /// The replica applied the operations, durably; its local checkpoint.
    Replicated {
        local_checkpoint: Option<u64>,
    },
    /// The copy took a resync: its local checkpoint, or what it holds that
    /// the primary does not.
    Resynced {
        local_checkpoint: Option<u64>,
        diverged: Option<String>,
    },
    /// A recovery's list of segments.
    RecoveryFiles(RecoveryFiles),
    /// A chunk of a recovery's segment file.
    RecoveryChunk(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A page of a recovery's operations since the segments.
    RecoveryOps(OpsPage),
    /// The primary handed off to the new copy.
    HandedOff,
}

impl ShardResponse {
    /// What kind of response this is, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            ShardResponse::Partial(_) => "a partial result",
            ShardResponse::Docs(_) => "documents",
            ShardResponse::Written(_) => "write outcomes",
            ShardResponse::Refreshed => "a refresh",
            ShardResponse::Optimized => "an optimize",
            ShardResponse::Replicated { .. } => "a replication acknowledgement",
            ShardResponse::Resynced { .. } => "a resync acknowledgement",
            ShardResponse::RecoveryFiles(_) => "recovery files",
            ShardResponse::RecoveryChunk(_) => "a recovery chunk",
            ShardResponse::RecoveryOps(_) => "recovery operations",
            ShardResponse::HandedOff => "a hand-off",
        }
    }
}

/// A change to a table's schema that a statement asks for, decided by
/// whoever owns the catalog (the node today, the master in a cluster).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SchemaChange {
    /// Columns that written rows introduced (dynamic columns).
    AddColumns {
        table: TableIdent,
        uuid: String,
        columns: Vec<NewColumn>,
    },
}
