//! From statement trees to plans: name resolution, typing, and the shape of execution.

pub mod bind;
pub mod dml;
pub mod estimate;
pub mod explain;
pub mod join;
pub mod naming;
pub mod plan;
pub mod select;
pub mod system;

use std::cell::RefCell;

use crate::catalog::Catalog;
pub use plan::*;

/// What planning needs to know: the catalog, the session's schema, and the
/// CTEs in scope; and what it collects on the way: the statement's
/// subqueries, in the order they must run (inner ones first).
pub struct PlanCtx<'a> {
    pub catalog: &'a Catalog,
    pub default_schema: &'a str,
    pub ctes: RefCell<Vec<(String, QueryPlan)>>,
    pub subqueries: RefCell<Vec<Subquery>>,
    /// Whether the statement runs subqueries (not in settings, defaults,
    /// LIMIT and other constants).
    pub allow_subqueries: bool,
    /// The views being planned, innermost last: a view that reads itself
    /// (through others) is found here instead of recursing forever.
    pub expanding: RefCell<Vec<crate::catalog::TableIdent>>,
    /// While a subquery is planned, the relation of the query around it:
    /// names the subquery does not know resolve there (a correlated subquery).
    pub outer: RefCell<Vec<OuterScope>>,
    /// For EXPLAIN VERBOSE: `Some` asks for the planner's steps; each
    /// SELECT planned replaces them with its own, so the statement's own
    /// (planned last) remain.
    pub trace: RefCell<Option<Vec<TraceStep>>>,
}

/// A step of planning a SELECT: the rule applied and the plan after it.
pub struct TraceStep {
    pub rule: &'static str,
    pub plan: SelectPlan,
    /// Whether joins are still logical (`Join[...]`), not yet hash or
    /// nested-loop joins.
    pub logical_joins: bool,
}

/// The query around a subquery being planned, and what the subquery read of it.
pub struct OuterScope {
    pub relation: bind::Relation,
    /// The outer row's values the subquery reads, over the outer row.
    pub refs: Vec<crate::expr::Expr>,
}

impl<'a> PlanCtx<'a> {
    /// A planning context over a catalog.
    pub fn with_catalog(catalog: &'a Catalog, default_schema: &'a str) -> PlanCtx<'a> {
        PlanCtx {
            catalog,
            default_schema,
            ctes: RefCell::new(Vec::new()),
            subqueries: RefCell::new(Vec::new()),
            allow_subqueries: true,
            expanding: RefCell::new(Vec::new()),
            outer: RefCell::new(Vec::new()),
            trace: RefCell::new(None),
        }
    }

    /// The subqueries planned so far, taken out to run.
    pub fn take_subqueries(&self) -> Vec<Subquery> {
        std::mem::take(&mut self.subqueries.borrow_mut())
    }

    /// A context without tables (constant expressions).
    pub fn empty() -> PlanCtx<'static> {
        static EMPTY: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        let mut ctx = PlanCtx::with_catalog(EMPTY.get_or_init(Catalog::default), "doc");
        ctx.allow_subqueries = false;
        ctx
    }
}
