//! Running a statement's subqueries before the statement: each one's rows
//! become the value its expression reads ([`crate::expr::Expr::Subquery`]),
//! in order, so a subquery may itself use earlier (inner) ones.

use super::{Cluster, Executor};
use crate::error::{Error, Result};
use crate::expr::EvalCtx;
use crate::planner::{Subquery, SubqueryKind};
use crate::types::Value;

/// The statement's context with its subqueries' values.
pub async fn with_subqueries<C: Cluster>(
    cluster: &C,
    mut ctx: EvalCtx,
    subqueries: &[Subquery],
) -> Result<EvalCtx> {
    for s in subqueries {
        let rows = Executor::new(cluster, ctx.clone()).run(&s.plan).await?;
        let value = match s.kind {
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
        };
        ctx.subqueries.push(value);
    }
    Ok(ctx)
}
