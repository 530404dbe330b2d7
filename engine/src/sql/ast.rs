//! Shoal's statement tree.
//!
//! Queries and expressions are sqlparser's own `Query` and `Expr`; the
//! statements around them (DDL, DML, REFRESH, ...) are ours, because CrateDB's
//! forms (`CLUSTERED INTO n SHARDS`, `OBJECT(DYNAMIC) AS (...)`, subscript
//! assignment targets) do not fit sqlparser's statement types.

use sqlparser::ast::{Expr, ObjectName, Query, SelectItem};

use crate::types::DataType;

/// A parsed statement.
#[derive(Debug, Clone)]
pub enum Statement {
    Query(Box<Query>),
    Insert(Box<Insert>),
    Update(Box<Update>),
    Delete(Box<Delete>),
    CreateTable(Box<CreateTable>),
    DropTable {
        name: ObjectName,
        if_exists: bool,
    },
    AlterTable {
        name: ObjectName,
        action: AlterAction,
    },
    Refresh {
        tables: Vec<ObjectName>,
    },
    /// `OPTIMIZE TABLE t [, ...] [WITH (max_num_segments = n, ...)]`.
    Optimize {
        tables: Vec<ObjectName>,
        with: Vec<(String, Expr)>,
    },
    /// `EXPLAIN [VERBOSE | (COSTS b, VERBOSE b)] statement`: its plan, with
    /// row estimates unless `costs` is off, as the optimizer's steps when
    /// `verbose`.
    Explain {
        statement: Box<Statement>,
        costs: bool,
        verbose: bool,
    },
    /// `ANALYZE`: collects every table's statistics (see [`crate::stats`]).
    Analyze,
    /// `EXPLAIN ANALYZE query`: runs it, and answers its plan with the
    /// time each phase took.
    ExplainAnalyze(Box<Statement>),
    /// `SHOW TABLES`, `SHOW SCHEMAS`, `SHOW COLUMNS FROM t`, `SHOW CREATE TABLE t`, `SHOW x`.
    Show(Show),
    /// Statements accepted for client compatibility that change nothing here:
    /// SET, RESET, BEGIN, COMMIT, ROLLBACK, DISCARD, ... (`tag` names it).
    NoOp {
        tag: String,
    },
    /// `COPY t FROM 'uri'` / `COPY t TO DIRECTORY 'path'`.
    Copy(Box<Copy>),
    /// `KILL ALL` / `KILL 'job-id'`.
    Kill {
        job: Option<String>,
    },
    /// `ALTER CLUSTER DECOMMISSION 'node'` (a node id or name).
    Decommission {
        node: String,
    },
    /// `ALTER CLUSTER REROUTE RETRY FAILED`.
    RerouteRetryFailed,
    /// `SET GLOBAL [PERSISTENT | TRANSIENT] name = value [, ...]`
    /// (transient unless PERSISTENT is given, as in CrateDB).
    SetGlobal {
        persistent: bool,
        assignments: Vec<(String, Expr)>,
    },
    /// `RESET GLOBAL name [, ...]`.
    ResetGlobal {
        names: Vec<String>,
    },
    /// `CREATE ANALYZER name [EXTENDS parent] [WITH (...)] [(TOKENIZER ..., ...)]`.
    CreateAnalyzer(Box<crate::analysis::AnalyzerDef>),
    /// `DROP ANALYZER name`.
    DropAnalyzer {
        name: String,
    },
    /// `CREATE [UNIQUE] INDEX name ON t (columns)`: every column is
    /// indexed, so this only checks that the columns exist.
    CreateIndex {
        table: ObjectName,
        columns: Vec<String>,
    },
    /// `CREATE [OR REPLACE] VIEW name AS query`.
    CreateView {
        name: ObjectName,
        query: Box<Query>,
        or_replace: bool,
    },
    /// `DROP VIEW [IF EXISTS] name [, ...]`.
    DropView {
        names: Vec<ObjectName>,
        if_exists: bool,
    },
}

/// `COPY`.
#[derive(Debug, Clone)]
pub struct Copy {
    pub table: ObjectName,
    pub columns: Vec<String>,
    pub direction: CopyDirection,
    pub with: Vec<(String, Expr)>,
}

/// Which way a COPY goes.
#[derive(Debug, Clone)]
pub enum CopyDirection {
    /// From files matching a URI (`file:///path/*.json` or a path).
    From {
        uri: Box<Expr>,
        return_summary: bool,
    },
    /// To one file per shard in a directory.
    To {
        directory: Box<Expr>,
        selection: Option<Box<Expr>>,
    },
}

/// `INSERT INTO`.
#[derive(Debug, Clone)]
pub struct Insert {
    pub table: ObjectName,
    pub columns: Vec<String>,
    pub source: InsertSource,
    pub on_conflict: Option<OnConflict>,
    pub returning: Option<Vec<SelectItem>>,
}

/// Where the inserted rows come from.
#[derive(Debug, Clone)]
pub enum InsertSource {
    Values(Vec<Vec<Expr>>),
    Query(Box<Query>),
}

/// `ON CONFLICT ...`.
#[derive(Debug, Clone)]
pub enum OnConflict {
    DoNothing,
    DoUpdate(Vec<Assignment>),
}

/// `target = value` in UPDATE or ON CONFLICT DO UPDATE; the target may be a
/// path into an object column: `obj['a']['b']`.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub column: String,
    pub path: Vec<String>,
    pub value: Expr,
}

/// `UPDATE`.
#[derive(Debug, Clone)]
pub struct Update {
    pub table: ObjectName,
    pub alias: Option<String>,
    pub assignments: Vec<Assignment>,
    pub selection: Option<Expr>,
    pub returning: Option<Vec<SelectItem>>,
}

/// `DELETE FROM`.
#[derive(Debug, Clone)]
pub struct Delete {
    pub table: ObjectName,
    pub alias: Option<String>,
    pub selection: Option<Expr>,
}

/// How a column is indexed.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexSpec {
    Plain,
    Off,
    Fulltext { analyzer: String },
}

/// A column definition in CREATE TABLE / ALTER TABLE ADD COLUMN.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    pub name: String,
    pub data_type: DataType,
    pub primary_key: bool,
    pub not_null: bool,
    pub default: Option<Expr>,
    pub generated: Option<Expr>,
    pub index: IndexSpec,
    pub check: Option<Expr>,
}

/// `INDEX name USING FULLTEXT (cols) WITH (analyzer = ...)`.
#[derive(Debug, Clone)]
pub struct IndexDef {
    pub name: String,
    pub columns: Vec<String>,
    pub analyzer: String,
}

/// `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct CreateTable {
    pub name: ObjectName,
    pub if_not_exists: bool,
    pub columns: Vec<ColumnDef>,
    pub primary_key: Vec<String>,
    pub indexes: Vec<IndexDef>,
    pub checks: Vec<Expr>,
    pub clustered_by: Option<String>,
    pub shards: Option<u32>,
    pub partitioned_by: Vec<String>,
    pub with: Vec<(String, Expr)>,
}

/// What an ALTER TABLE does.
#[derive(Debug, Clone)]
pub enum AlterAction {
    AddColumns(Vec<ColumnDef>),
    Set(Vec<(String, Expr)>),
    Reset(Vec<String>),
    /// `RENAME TO name`.
    RenameTo(ObjectName),
}

/// The SHOW statements.
#[derive(Debug, Clone)]
pub enum Show {
    Tables { schema: Option<String> },
    Schemas,
    Columns { table: ObjectName },
    CreateTable { table: ObjectName },
    CreateView { view: ObjectName },
    Setting { name: String },
}
