//! The binder's state: the relation expressions are bound against, the
//! mode (source or post-aggregation), the aggregates and windows found, and
//! the nesting depth; with the entry points that bind one expression.

use sqlparser::ast;

use super::relation::Relation;
use super::syntax::function_name;
use crate::catalog::ColumnInfo;
use crate::error::{Error, Result};
use crate::expr::{AggFunc, Expr};
use crate::planner::PlanCtx;
use crate::planner::plan::{Aggregation, Correlated, WindowCall};
use crate::types::{DataType, Value};

/// Window references are bound to placeholder columns from here on and
/// renumbered once the row layout is final.
pub const WINDOW_BASE: usize = 1 << 40;

/// Correlated subqueries' values are bound to placeholder columns from here
/// on, and renumbered once the row layout is final.
pub const CORRELATED_BASE: usize = 1 << 44;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Source,
    Post,
}

/// Binds expressions for one query level.
pub struct Binder<'a> {
    pub ctx: &'a PlanCtx<'a>,
    pub relation: Relation,
    pub(super) mode: Mode,
    /// Aggregates are allowed (not in WHERE, GROUP BY or VALUES).
    pub allow_aggregates: bool,
    /// MATCH predicates are allowed (in the WHERE clause of a table query).
    pub(super) allow_match: bool,
    pub aggregation: Aggregation,
    pub windows: Vec<WindowCall>,
    /// Correlated subqueries, in the order their placeholders count.
    pub correlated: Vec<Correlated>,
    /// Correlated subqueries are allowed (a SELECT's list, WHERE and ORDER BY).
    pub allow_correlated: bool,
    /// Why window functions are refused where binding is, if they are: they
    /// are allowed only in the SELECT list and ORDER BY of a query.
    pub(super) window_denied: Option<&'static str>,
    /// The query's `WINDOW` clause: named window definitions, in order.
    pub(super) named_windows: Vec<(String, ast::NamedWindowExpr)>,
    /// Current expression nesting, bounded so hostile input cannot exhaust the stack.
    pub(super) depth: usize,
}

/// Deepest expression nesting accepted (long AND/OR chains are flattened and
/// do not count). Every level of a bound [`Expr`] counts, subscripts
/// included, so the walks over bound expressions (evaluation, pushdown,
/// visitors) never go deeper than this.
pub(super) const MAX_DEPTH: usize = 256;

pub(super) fn too_deep() -> Error {
    Error::Parse(format!(
        "statement is nested too deeply (more than {MAX_DEPTH} levels of expressions)"
    ))
}

pub(super) fn lit(v: Value, ty: DataType) -> Expr {
    Expr::Literal(v, ty)
}

impl<'a> Binder<'a> {
    /// A binder over `relation`.
    pub fn new(ctx: &'a PlanCtx<'a>, relation: Relation) -> Binder<'a> {
        Binder {
            ctx,
            relation,
            mode: Mode::Source,
            allow_aggregates: false,
            allow_match: false,
            aggregation: Aggregation {
                keys: Vec::new(),
                aggs: Vec::new(),
            },
            windows: Vec::new(),
            correlated: Vec::new(),
            allow_correlated: false,
            window_denied: Some("Window functions are not allowed here"),
            named_windows: Vec::new(),
            depth: 0,
        }
    }

    /// Switches to post-aggregation binding.
    pub fn enter_post_aggregation(&mut self) {
        self.mode = Mode::Post;
        self.allow_aggregates = true;
    }

    /// Whether binding is in post-aggregation mode.
    pub fn is_post(&self) -> bool {
        self.mode == Mode::Post
    }

    /// Binds a WHERE clause: a boolean, where MATCH predicates may be.
    pub fn bind_where(&mut self, e: &ast::Expr) -> Result<Expr> {
        self.allow_match = true;
        let r = self.denying_windows("Window functions are not allowed in WHERE", |b| b.bind(e));
        self.allow_match = false;
        super::cast_expr(r?, &DataType::Boolean)
    }

    /// Binds a GROUP BY key (over the source row).
    pub fn bind_group_key(&mut self, e: &ast::Expr) -> Result<Expr> {
        self.denying_windows("Window functions are not allowed in GROUP BY", |b| {
            b.bind_source(e)
        })
    }

    /// Binds a HAVING clause: groups are filtered before windows are computed.
    pub fn bind_having(&mut self, e: &ast::Expr) -> Result<Expr> {
        let r = self.denying_windows("Window functions are not allowed in HAVING", |b| b.bind(e));
        super::cast_expr(r?, &DataType::Boolean)
    }

    /// Runs `f` with window functions refused for `reason`.
    pub(super) fn denying_windows<T>(
        &mut self,
        reason: &'static str,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let saved = self.window_denied.replace(reason);
        let r = f(self);
        self.window_denied = saved;
        r
    }

    /// Binds an expression in source mode regardless of the current mode.
    pub fn bind_source(&mut self, e: &ast::Expr) -> Result<Expr> {
        let saved = self.mode;
        self.mode = Mode::Source;
        let r = self.bind(e);
        self.mode = saved;
        r
    }

    /// Binds an expression.
    pub fn bind(&mut self, e: &ast::Expr) -> Result<Expr> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        crate::limits::check_stack()?;
        self.depth += 1;
        let r = if self.mode == Mode::Post {
            match self.bind_post_special(e) {
                Ok(Some(x)) => Ok(x),
                Ok(None) => self.bind_inner(e),
                Err(err) => Err(err),
            }
        } else {
            self.bind_inner(e)
        };
        self.depth -= 1;
        r
    }

    pub(super) fn bind_post_special(&mut self, e: &ast::Expr) -> Result<Option<Expr>> {
        if let ast::Expr::Function(f) = e {
            let name = function_name(&f.name);
            if f.over.is_none()
                && let Some(func) = AggFunc::from_name(&name)
            {
                let call = self.bind_agg_call(func, f)?;
                let n = self.aggregation.keys.len();
                let ty = call.ty.clone();
                let idx = match self.aggregation.aggs.iter().position(|c| *c == call) {
                    Some(i) => i,
                    None => {
                        self.aggregation.aggs.push(call);
                        self.aggregation.aggs.len() - 1
                    }
                };
                return Ok(Some(Expr::Column(n + idx, ty)));
            }
        }
        if matches!(e, ast::Expr::Value(_)) {
            return Ok(None);
        }
        if let Ok(bound) = self.bind_source(e)
            && !bound.is_constant()
            && let Some(i) = self.aggregation.keys.iter().position(|k| *k == bound)
        {
            return Ok(Some(Expr::Column(i, bound.data_type())));
        }
        Ok(None)
    }

    pub(super) fn not_grouped(&self, e: &ast::Expr) -> Error {
        Error::Parse(format!(
            "'{}' must appear in the GROUP BY clause or be used in an aggregation function",
            crate::planner::naming::output_name(e)
        ))
    }
}

/// Binds an expression (a DEFAULT, GENERATED or CHECK clause) over a
/// table's top-level columns: to validate it when a table is defined, and
/// to evaluate it on the rows written to the table.
pub fn bind_over_columns(columns: &[ColumnInfo], text: &str) -> Result<Expr> {
    let e = crate::sql::parse_expr(text)?;
    let empty = PlanCtx::empty();
    let cols = columns
        .iter()
        .map(|c| (c.name.clone(), c.data_type.clone()))
        .collect();
    let mut b = Binder::new(
        &empty,
        Relation::Rows {
            qualifier: None,
            schema: None,
            columns: cols,
        },
    );
    b.bind(&e)
}
