//! Binding subqueries in expressions: `(SELECT ...)`, `x IN (SELECT ...)`,
//! `EXISTS (SELECT ...)` and `x op ANY | ALL (SELECT ...)`.
//!
//! A subquery is planned on its own and added to the statement's list
//! ([`crate::planner::PlanCtx::subqueries`]); the expression refers to its
//! value, which the executor computes before the statement runs (as
//! CrateDB runs uncorrelated subqueries first). `IN` and `ANY` read the
//! values as an array, so on a table they become one term-set query.
//! A subquery that reads columns of the query around it (a correlated
//! one) cannot run first: its value becomes a column appended to each row
//! of the outer query ([`crate::planner::ApplyPlan`]), computed by running
//! it with that row's values.

use sqlparser::ast;

use super::binder::{Binder, CORRELATED_BASE};
use super::coerce::coerce_to;
use super::relation::Relation;
use crate::error::{Error, Result};
use crate::expr::{Expr, Func};
use crate::planner::OuterScope;
use crate::planner::plan::{Correlated, Subquery, SubqueryKind};
use crate::types::DataType;

impl Binder<'_> {
    /// Plans `q` as a subquery of `kind` and binds a reference to its value.
    pub(super) fn bind_subquery(&mut self, q: &ast::Query, kind: SubqueryKind) -> Result<Expr> {
        if !self.ctx.allow_subqueries {
            return Err(Error::Unsupported(
                "Subqueries are not allowed in this context".into(),
            ));
        }
        // While the subquery is planned, names it does not know resolve in
        // this query's relation (lent to it, and taken back after).
        let relation = std::mem::replace(&mut self.relation, Relation::None);
        self.ctx.outer.borrow_mut().push(OuterScope {
            relation,
            refs: Vec::new(),
        });
        let planned = crate::planner::select::plan_query(self.ctx, q);
        let scope = self.ctx.outer.borrow_mut().pop();
        let Some(OuterScope { relation, refs }) = scope else {
            return Err(Error::internal("subquery scope"));
        };
        self.relation = relation;
        let plan = planned?;
        let types = plan.types();
        let ty = match kind {
            SubqueryKind::Exists => DataType::Boolean,
            _ if types.len() != 1 => {
                return Err(Error::Unsupported(
                    "Subqueries with more than 1 column are not supported".into(),
                ));
            }
            SubqueryKind::Scalar => types[0].clone(),
            SubqueryKind::List => DataType::Array(Box::new(types[0].clone())),
        };
        if refs.is_empty() {
            let mut subqueries = self.ctx.subqueries.borrow_mut();
            subqueries.push(Subquery { plan, kind });
            return Ok(Expr::Subquery(subqueries.len() - 1, ty));
        }
        // A correlated subquery runs for each row: its value becomes a
        // column appended to the row, before grouping.
        if self.is_post() || !self.allow_correlated {
            return Err(Error::Unsupported(
                "Correlated subqueries are only supported in the SELECT list, WHERE and ORDER BY of queries without GROUP BY or aggregates".into(),
            ));
        }
        self.correlated.push(Correlated {
            plan,
            kind,
            outer: refs,
        });
        Ok(Expr::Column(
            CORRELATED_BASE + self.correlated.len() - 1,
            ty,
        ))
    }

    /// `x IN (subquery)`: `x = ANY(values)`.
    pub(super) fn bind_in_subquery(
        &mut self,
        x: &ast::Expr,
        q: &ast::Query,
        negated: bool,
    ) -> Result<Expr> {
        let values = self.bind_subquery(q, SubqueryKind::List)?;
        let x = self.bind(x)?;
        // The values take the type of what is looked up (a column's, so the
        // lookup is a term query on it); a NULL takes theirs.
        let (x, values) = match (x.data_type(), values.data_type()) {
            (DataType::Undefined, DataType::Array(inner)) => (coerce_to(x, &inner)?, values),
            (have, DataType::Array(inner)) if have != *inner && *inner != DataType::Undefined => {
                let to = DataType::Array(Box::new(have));
                (x, super::coerce::cast_expr(values, &to)?)
            }
            _ => (x, values),
        };
        let any = Expr::Quantified {
            left: Box::new(x),
            func: Func::Eq,
            right: Box::new(values),
            all: false,
        };
        Ok(if negated {
            Expr::Not(Box::new(any))
        } else {
            any
        })
    }
}
