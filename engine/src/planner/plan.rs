//! Plans: what the executor runs.
//!
//! A query is a [`QueryPlan`]; each SELECT in it is a [`SelectPlan`] with a
//! fixed shape that mirrors CrateDB's execution: rows come from a [`Source`]
//! (for tables: a collect phase on every shard, with the filter, the partial
//! aggregation or the projection and top-N pushed down), then the handler
//! merges, filters groups, computes window functions, projects, sorts and
//! limits.

use std::sync::Arc;

use crate::catalog::TableInfo;
use crate::expr::{AggCall, Expr};
use crate::types::DataType;

/// A column a table scan produces.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ScanColumn {
    /// A top-level user column.
    User {
        name: String,
        ty: DataType,
    },
    /// A top-level user column kept in `_source` only (`INDEX OFF`): it has
    /// no index terms or columns, so it is read from the stored row and
    /// filtered after reading.
    Stored {
        name: String,
        ty: DataType,
    },
    Id,
    Version,
    SeqNo,
    PrimaryTerm,
    Score,
    /// The whole row as JSON text.
    Raw,
    DocId,
}

impl ScanColumn {
    /// The system column called `name`, if any.
    pub fn system(name: &str) -> Option<ScanColumn> {
        Some(match name {
            "_id" => ScanColumn::Id,
            "_version" => ScanColumn::Version,
            "_seq_no" => ScanColumn::SeqNo,
            "_primary_term" => ScanColumn::PrimaryTerm,
            "_score" => ScanColumn::Score,
            "_raw" => ScanColumn::Raw,
            "_docid" => ScanColumn::DocId,
            _ => return None,
        })
    }

    /// The column's type.
    pub fn data_type(&self) -> DataType {
        match self {
            ScanColumn::User { ty, .. } | ScanColumn::Stored { ty, .. } => ty.clone(),
            ScanColumn::Id | ScanColumn::Raw => DataType::Text,
            ScanColumn::Version | ScanColumn::SeqNo | ScanColumn::PrimaryTerm => DataType::BigInt,
            ScanColumn::Score => DataType::Real,
            ScanColumn::DocId => DataType::Integer,
        }
    }
}

/// A sort key over the output row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SortKey {
    pub index: usize,
    pub desc: bool,
    pub nulls_first: bool,
}

impl SortKey {
    /// A key with SQL's default null placement (NULLS LAST ascending, FIRST descending).
    pub fn new(index: usize, desc: bool, nulls_first: Option<bool>) -> SortKey {
        SortKey {
            index,
            desc,
            nulls_first: nulls_first.unwrap_or(desc),
        }
    }
}

/// A system table whose rows the executor computes from node state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SystemTable {
    InfoTables,
    InfoColumns,
    InfoSchemata,
    InfoRoutines,
    InfoTablePartitions,
    InfoTableConstraints,
    InfoKeyColumnUsage,
    InfoViews,
    SysCluster,
    SysNodes,
    SysShards,
    SysSegments,
    SysHealth,
    SysClusterHealth,
    SysAllocations,
    SysJobs,
    SysJobsLog,
    SysChecks,
    SysNodeChecks,
    SysSummits,
    PgKeywords,
    PgTables,
    PgStats,
    PgNamespace,
    PgClass,
    PgType,
    PgSettings,
}

/// Where a SELECT's rows come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// No FROM: one empty row.
    Empty,
    /// A user table, scanned on its shards.
    Table {
        table: Arc<TableInfo>,
        scan: Vec<ScanColumn>,
    },
    /// A subquery (derived table or CTE).
    Query(Box<QueryPlan>),
    /// `VALUES (...), (...)`.
    Values(Vec<Vec<Expr>>),
    /// `unnest(array, ...)`: one row per element.
    Unnest(Vec<Expr>),
    /// `generate_series(start, stop, step)`: one row per value.
    Series { start: i64, stop: i64, step: i64 },
    /// A system table.
    System(SystemTable),
    /// A join of two inputs.
    Join(Box<JoinPlan>),
    /// Rows with the values of correlated subqueries appended, each run
    /// for the row's values.
    Apply(Box<ApplyPlan>),
}

/// The rows of `input`, each followed by the value of every subquery for it.
#[derive(Debug, Clone)]
pub struct ApplyPlan {
    pub input: QueryPlan,
    pub subqueries: Vec<Correlated>,
}

/// A subquery that reads the outer row: `outer` are the values it reads
/// (over the outer row), [`crate::expr::Expr::Outer`] inside `plan`.
#[derive(Debug, Clone)]
pub struct Correlated {
    pub plan: QueryPlan,
    pub kind: SubqueryKind,
    pub outer: Vec<Expr>,
}

/// How a join pairs rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JoinKind {
    Cross,
    Inner,
    Left,
    Right,
    Full,
}

impl JoinKind {
    /// The name CrateDB's plans use.
    pub fn name(self) -> &'static str {
        match self {
            JoinKind::Cross => "CROSS",
            JoinKind::Inner => "INNER",
            JoinKind::Left => "LEFT",
            JoinKind::Right => "RIGHT",
            JoinKind::Full => "FULL",
        }
    }
}

/// A join: its rows are a left row followed by a right row (NULLs for the
/// side an outer join found no partner on).
#[derive(Debug, Clone)]
pub struct JoinPlan {
    pub kind: JoinKind,
    /// Each input is a query whose outputs are its columns, with the
    /// filters that could be applied below the join.
    pub left: QueryPlan,
    pub right: QueryPlan,
    /// Over the joined row; `None` pairs every row with every row.
    pub condition: Option<Expr>,
}

/// GROUP BY keys and aggregates; the output row is `keys ++ aggregates`.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    pub keys: Vec<Expr>,
    pub aggs: Vec<AggCall>,
}

/// A window function call: a function computed for every row over the
/// rows related to it, as its window definition says.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowCall {
    pub func: WindowFunc,
    /// `IGNORE NULLS` (only `lag`, `lead`, `first_value`, `last_value` and
    /// `nth_value` accept it; `RESPECT NULLS` is the default).
    pub ignore_nulls: bool,
    pub window: WindowDefinition,
    /// The result type.
    pub ty: DataType,
}

impl WindowCall {
    /// Calls `f` on every expression of the call and its window (to move
    /// them onto another row layout).
    pub fn exprs_mut(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        match &mut self.func {
            WindowFunc::Aggregate(call) => {
                call.args.iter_mut().for_each(&mut *f);
                call.filter.iter_mut().for_each(&mut *f);
            }
            WindowFunc::RowNumber
            | WindowFunc::Rank
            | WindowFunc::DenseRank
            | WindowFunc::PercentRank
            | WindowFunc::CumeDist => {}
            WindowFunc::Ntile(e) | WindowFunc::FirstValue(e) | WindowFunc::LastValue(e) => f(e),
            WindowFunc::Lag {
                arg,
                offset,
                default,
            }
            | WindowFunc::Lead {
                arg,
                offset,
                default,
            } => {
                f(arg);
                offset.iter_mut().for_each(&mut *f);
                default.iter_mut().for_each(&mut *f);
            }
            WindowFunc::NthValue(a, n) => {
                f(a);
                f(n);
            }
        }
        let w = &mut self.window;
        w.partition_by.iter_mut().for_each(&mut *f);
        w.order_by.iter_mut().for_each(|o| f(&mut o.expr));
        for bound in [&mut w.frame.start, &mut w.frame.end] {
            if let FrameBound::Preceding(FrameOffset::Value(e))
            | FrameBound::Following(FrameOffset::Value(e)) = bound
            {
                f(e);
            }
        }
    }
}

/// What a window function computes. The expressions are over the row the
/// window sees: the aggregation row in a grouped query, the source row otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum WindowFunc {
    /// An aggregate over the frame.
    Aggregate(AggCall),
    RowNumber,
    Rank,
    DenseRank,
    PercentRank,
    CumeDist,
    /// `ntile(buckets)`.
    Ntile(Expr),
    /// `lag(arg [, offset [, default]])`: `arg` at the row `offset` rows
    /// before in the partition, else `default`.
    Lag {
        arg: Expr,
        offset: Option<Expr>,
        default: Option<Expr>,
    },
    /// `lead(arg [, offset [, default]])`: as `lag`, after the current row.
    Lead {
        arg: Expr,
        offset: Option<Expr>,
        default: Option<Expr>,
    },
    FirstValue(Expr),
    LastValue(Expr),
    /// `nth_value(arg, n)`: `arg` at the `n`th row of the frame.
    NthValue(Expr, Expr),
}

/// A window definition: how rows are partitioned, ordered within their
/// partition, and which of them form each row's frame.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowDefinition {
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<WindowOrder>,
    pub frame: WindowFrame,
}

/// An `ORDER BY` item of a window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowOrder {
    pub expr: Expr,
    pub desc: bool,
    pub nulls_first: bool,
}

/// A frame: `{ROWS | RANGE} BETWEEN start AND end`.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowFrame {
    pub units: FrameUnits,
    pub start: FrameBound,
    pub end: FrameBound,
}

impl Default for WindowFrame {
    /// `RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`: with `ORDER BY`
    /// the rows up to the current row's last peer, without it the whole
    /// partition (all rows are peers).
    fn default() -> WindowFrame {
        WindowFrame {
            units: FrameUnits::Range,
            start: FrameBound::UnboundedPreceding,
            end: FrameBound::CurrentRow,
        }
    }
}

/// How a frame's offsets count: in rows, or in values of the `ORDER BY` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameUnits {
    Rows,
    Range,
}

/// Where a frame starts or ends.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameBound {
    UnboundedPreceding,
    Preceding(FrameOffset),
    CurrentRow,
    Following(FrameOffset),
    UnboundedFollowing,
}

/// A frame offset: rows (`ROWS`), a number of the `ORDER BY` key's type, or
/// for a timestamp key an interval (`RANGE`).
#[derive(Debug, Clone, PartialEq)]
pub enum FrameOffset {
    /// A constant expression (parameters allowed), evaluated once.
    Value(Expr),
    /// An interval: calendar months and milliseconds.
    Interval { months: i32, millis: i64 },
}

/// One SELECT.
#[derive(Debug, Clone)]
pub struct SelectPlan {
    pub source: Source,
    /// How many columns the source's rows have.
    pub source_width: usize,
    /// WHERE, over the source row.
    pub filter: Option<Expr>,
    pub aggregation: Option<Aggregation>,
    /// HAVING, over the aggregation row.
    pub having: Option<Expr>,
    /// Window functions, appended to the (aggregation or source) row.
    pub windows: Vec<WindowCall>,
    /// Output expressions; the first `names.len()` are visible, the rest are sort helpers.
    pub outputs: Vec<Expr>,
    pub names: Vec<String>,
    pub distinct: bool,
    pub order_by: Vec<SortKey>,
    pub limit: Option<Expr>,
    pub offset: Option<Expr>,
    /// Only the first `n` rows of each partition of its one window (in the
    /// window's order) matter to the query around it, which keeps
    /// `row_number() <= n`: the shards send no more than that.
    pub window_top: Option<usize>,
}

impl SelectPlan {
    /// Whether its outputs are its source's columns, in order.
    pub fn is_identity(&self) -> bool {
        self.outputs.len() == self.source_width
            && self
                .outputs
                .iter()
                .enumerate()
                .all(|(i, e)| matches!(e, Expr::Column(c, _) if *c == i))
    }

    /// Result column types (visible only).
    pub fn types(&self) -> Vec<DataType> {
        self.outputs
            .iter()
            .take(self.names.len())
            .map(Expr::data_type)
            .collect()
    }
}

/// Set operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Union,
    Except,
    Intersect,
}

/// A query.
#[derive(Debug, Clone)]
pub enum QueryPlan {
    Select(Box<SelectPlan>),
    SetOp {
        op: SetOp,
        all: bool,
        left: Box<QueryPlan>,
        right: Box<QueryPlan>,
        order_by: Vec<SortKey>,
        limit: Option<Expr>,
        offset: Option<Expr>,
    },
}

impl QueryPlan {
    /// Result column names.
    pub fn names(&self) -> Vec<String> {
        match self {
            QueryPlan::Select(s) => s.names.clone(),
            QueryPlan::SetOp { left, .. } => left.names(),
        }
    }

    /// Result column types.
    pub fn types(&self) -> Vec<DataType> {
        match self {
            QueryPlan::Select(s) => s.types(),
            QueryPlan::SetOp { left, right, .. } => left
                .types()
                .into_iter()
                .zip(right.types())
                .map(|(a, b)| if a == DataType::Undefined { b } else { a })
                .collect(),
        }
    }
}

/// What a subquery's rows become in the expression that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubqueryKind {
    /// Its one value (NULL without rows; more than one row is an error).
    Scalar,
    /// Its column's values, as an array (`IN`, `ANY`, `ALL`).
    List,
    /// Whether it has rows.
    Exists,
}

/// A subquery of a statement, run before the statement (see [`crate::expr::Expr::Subquery`]).
#[derive(Debug, Clone)]
pub struct Subquery {
    pub plan: QueryPlan,
    pub kind: SubqueryKind,
}
