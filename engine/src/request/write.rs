//! Shard writes as data: operations with their conditions, applied as one
//! batch ([`super::ShardWrite`]) where the shard's primary lives.
//!
//! Inserted rows arrive normalised; updates arrive as assignments, which the
//! shard evaluates against the current version of each document under its
//! write lock, so a read-modify-write never races another writer.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::expr::Expr;
use crate::planner::ScanColumn;
use crate::planner::dml::AssignmentPlan;
use crate::types::{DataType, Object};

/// A column discovered in a row: top-level column, path below it, type.
pub type NewColumn = (String, Vec<String>, DataType);

/// The assignments of an UPDATE or of `ON CONFLICT DO UPDATE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum UpdateSpec {
    /// UPDATE: assignments bound over the scan row; a document changed since
    /// it was targeted is updated only if it still matches `filter`.
    Scan {
        scan: Vec<ScanColumn>,
        filter: Option<Expr>,
        assignments: Vec<AssignmentPlan>,
    },
    /// `ON CONFLICT DO UPDATE`: assignments bound over `existing ++
    /// excluded`, each row laid out as `columns` (the table's top-level
    /// columns when the statement was planned).
    Upsert {
        columns: Vec<String>,
        assignments: Vec<AssignmentPlan>,
    },
}

/// What to do when an indexed document's `_id` exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IfExists {
    /// Create only: the outcome is `Failed(DuplicateKey)`.
    Fail,
    /// `ON CONFLICT DO NOTHING`: the outcome is `Unchanged`.
    Skip,
    /// Replace it (`overwrite_duplicates`).
    Overwrite,
    /// `ON CONFLICT DO UPDATE`, by the batch's [`UpdateSpec::Upsert`].
    Update,
}

/// One operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WriteOp {
    /// Indexes a normalised row.
    Index {
        id: String,
        source: Object,
        if_exists: IfExists,
    },
    /// Updates a document by the batch's [`UpdateSpec::Scan`]; `seq_no` and
    /// `primary_term` are the version the statement targeted.
    Update {
        id: String,
        seq_no: u64,
        primary_term: u64,
    },
    /// Deletes a document if it still has the version the statement read.
    Delete {
        id: String,
        seq_no: u64,
        primary_term: u64,
    },
}

/// What became of one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WriteOutcome {
    /// A document was written or deleted.
    Written,
    /// Nothing to do: skipped on conflict, gone, or no longer matching.
    Unchanged,
    /// The operation failed; the others in the batch are unaffected.
    Failed(Error),
    /// The new version adds columns: the caller adds them to the table and
    /// sends the operation again.
    NeedsColumns(Vec<NewColumn>),
}
