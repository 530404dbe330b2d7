//! One node's part of a `COPY` statement, and what it reports back.
//!
//! As in CrateDB, COPY runs where the data is: for `COPY FROM` every chosen
//! node reads the files *its own* file system has under the URI (or, with
//! `shared = true`, its share of files every node sees), and writes the
//! rows through the normal write path; for `COPY TO` each node exports the
//! shards it holds into its own directory. The handling node sends each
//! node its part and merges the outcomes.

use serde::{Deserialize, Serialize};

use crate::catalog::TableIdent;
use crate::expr::EvalCtx;
use crate::types::Row;

/// What one node does for a COPY statement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyPart {
    pub table: TableIdent,
    /// The table the statement was planned on: a table dropped and
    /// created again since is not the one to copy.
    pub uuid: String,
    /// The statement's column list (may be empty: every column).
    pub columns: Vec<String>,
    pub options: CopyOptions,
    pub task: CopyTask,
    /// Parameters, clock and schema of the statement.
    pub ctx: EvalCtx,
}

/// The direction-specific half of a [`CopyPart`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CopyTask {
    /// Import the files matching `uri` on this node; with a `share`, only
    /// this node's share of them.
    From {
        uri: String,
        share: Option<FileShare>,
        summary: bool,
    },
    /// Export these shards of the table (from the copies this node holds)
    /// into `directory`, with the rows `selection` (SQL text) admits.
    To {
        directory: String,
        selection: Option<String>,
        shards: Vec<u32>,
    },
}

/// A node's share of files every node sees (`shared = true`): of the
/// matching files in name order, those whose position modulo `of` is
/// `index`, so each file is read by exactly one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileShare {
    pub index: usize,
    pub of: usize,
}

impl FileShare {
    /// Whether the file at `position` (in name order) is this node's.
    pub fn takes(&self, position: usize) -> bool {
        position % self.of.max(1) == self.index
    }
}

/// The `WITH` options a node needs to run its part.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CopyOptions {
    /// `format`: `json` (default) or `csv`.
    pub format: Option<String>,
    /// `compression`: `gzip` or none.
    pub compression: Option<String>,
    /// COPY FROM: `overwrite_duplicates` (replace rows whose key exists).
    pub overwrite_duplicates: bool,
    /// COPY TO: `overwrite` (replace files that exist; a Shoal option).
    pub overwrite_files: bool,
}

/// What a node's part did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CopyOutcome {
    /// Rows imported, and with `RETURN SUMMARY` one row per file read
    /// (`node`, `uri`, `success_count`, `error_count`, `errors`).
    Imported { rows: i64, summary: Vec<Row> },
    /// Rows exported.
    Exported { rows: i64 },
}
