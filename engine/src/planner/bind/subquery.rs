//! Binding subqueries in expressions: `(SELECT ...)`, `x IN (SELECT ...)`,
//! `EXISTS (SELECT ...)` and `x op ANY | ALL (SELECT ...)`.
//!
//! A subquery is planned on its own and added to the statement's list
//! ([`crate::planner::PlanCtx::subqueries`]); the expression refers to its
//! value, which the executor computes before the statement runs (as
//! CrateDB runs uncorrelated subqueries first). `IN` and `ANY` read the
//! values as an array, so on a table they become one term-set query.
//! A subquery that reads columns of the outer query (a correlated one) is
//! refused with a clear error.

use sqlparser::ast;

use super::binder::Binder;
use super::coerce::coerce_to;
use crate::error::{Error, Result};
use crate::expr::{Expr, Func};
use crate::planner::plan::{Subquery, SubqueryKind};
use crate::sql::normalize_ident;
use crate::types::DataType;

impl Binder<'_> {
    /// Plans `q` as a subquery of `kind` and binds a reference to its value.
    pub(super) fn bind_subquery(&mut self, q: &ast::Query, kind: SubqueryKind) -> Result<Expr> {
        if !self.ctx.allow_subqueries {
            return Err(Error::Unsupported(
                "Subqueries are not allowed in this context".into(),
            ));
        }
        let plan = match crate::planner::select::plan_query(self.ctx, q) {
            Ok(plan) => plan,
            Err(Error::ColumnUnknown(name)) if self.reads_outer(q, &name) => {
                return Err(Error::Unsupported(format!(
                    "Correlated subqueries are not supported (the subquery reads {name} of the outer query)"
                )));
            }
            Err(e) => return Err(e),
        };
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
        let mut subqueries = self.ctx.subqueries.borrow_mut();
        subqueries.push(Subquery { plan, kind });
        Ok(Expr::Subquery(subqueries.len() - 1, ty))
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
        let x = match values.data_type() {
            DataType::Array(inner) if *inner != DataType::Undefined => coerce_to(x, &inner)?,
            _ => x,
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

    /// Whether the name a subquery could not resolve is a column of this
    /// (the outer) query's relation.
    fn reads_outer(&self, _q: &ast::Query, name: &str) -> bool {
        let name = normalize_ident(&ast::Ident::new(name));
        let mut probe = self.relation.clone();
        probe.resolve(std::slice::from_ref(&name)).is_ok()
    }
}
