//! Running subqueries. A statement's uncorrelated subqueries run before
//! it: each one's rows become the value its expression reads
//! ([`crate::expr::Expr::Subquery`]), in order, so a subquery may use
//! earlier (inner) ones. A correlated subquery runs for each row of the
//! query around it, with that row's values ([`crate::expr::Expr::Outer`]),
//! and its value is appended to the row.

use super::{Cluster, Executor};
use crate::error::{Error, Result};
use crate::expr::EvalCtx;
use std::collections::HashMap;

use crate::breaker::HeapSize;
use crate::planner::{ApplyPlan, Subquery, SubqueryKind};
use crate::types::{Row, Value};

/// A subquery's rows as the value its expression reads.
fn value_of(kind: SubqueryKind, rows: Vec<Row>) -> Result<Value> {
    Ok(match kind {
        SubqueryKind::Exists => Value::Bool(!rows.is_empty()),
        SubqueryKind::Scalar => {
            if rows.len() > 1 {
                return Err(Error::Unsupported(
                    "Subquery returned more than 1 row when it shouldn't.".into(),
                ));
            }
            rows.into_iter()
                .next()
                .and_then(|r| r.into_iter().next())
                .unwrap_or(Value::Null)
        }
        SubqueryKind::List => Value::Array(
            rows.into_iter()
                .map(|r| r.into_iter().next().unwrap_or(Value::Null))
                .collect(),
        ),
    })
}

impl<C: Cluster> Executor<'_, C> {
    /// The input's rows, each with every correlated subquery's value for
    /// it appended. A subquery runs once per distinct set of outer values
    /// it reads.
    pub(super) async fn run_apply(&self, apply: &ApplyPlan) -> Result<Vec<Row>> {
        let mut rows = self.run(&apply.input).await?;
        let mut known: HashMap<(usize, Vec<Value>), Value> = HashMap::new();
        for row in rows.iter_mut() {
            self.ctx.memory.check_killed()?;
            for (k, c) in apply.subqueries.iter().enumerate() {
                let outer = c
                    .outer
                    .iter()
                    .map(|e| e.eval(row, &self.ctx))
                    .collect::<Result<Vec<Value>>>()?;
                let key = (k, outer);
                let value = match known.get(&key) {
                    Some(v) => v.clone(),
                    None => {
                        let mut ctx = self.ctx.clone();
                        ctx.outer.clone_from(&key.1);
                        let mut inner = Executor::new(self.cluster, ctx);
                        inner.profile.clone_from(&self.profile);
                        let found = inner.run(&c.plan).await?;
                        let v = value_of(c.kind, found)?;
                        // Remembered with its outer values, one entry per
                        // distinct set of them.
                        let held = v.heap_size() + key.1.heap_size();
                        self.ctx.memory.reserve(held as u64, "subquery")?;
                        known.insert(key, v.clone());
                        v
                    }
                };
                row.push(value);
            }
        }
        Ok(rows)
    }
}

/// The statement's context with its subqueries' values.
pub async fn with_subqueries<C: Cluster>(
    cluster: &C,
    mut ctx: EvalCtx,
    subqueries: &[Subquery],
) -> Result<EvalCtx> {
    for s in subqueries {
        let rows = Executor::new(cluster, ctx.clone()).run(&s.plan).await?;
        let value = value_of(s.kind, rows)?;
        ctx.subqueries.push(value);
    }
    Ok(ctx)
}
