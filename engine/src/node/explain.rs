//! `EXPLAIN ANALYZE`: a query run with its phases timed (each shard's
//! collect, joins, correlated subqueries, the merges on the handler), and
//! answered as one object beside its plan.

use super::Node;
use crate::error::Result;
use crate::request::QueryResult;
use crate::types::{DataType, Value};

impl Node {
    /// `EXPLAIN ANALYZE`: runs the query and answers, as one object, its
    /// plan and the time of planning, of the subqueries and of each phase
    /// (each shard's collect, joins, the merges on the handler).
    pub(super) async fn explain_analyze(
        &self,
        plan: crate::planner::QueryPlan,
        subqueries: Vec<crate::planner::Subquery>,
        ctx: crate::expr::EvalCtx,
        planning: std::time::Duration,
    ) -> Result<QueryResult> {
        use crate::types::Object;
        let explained = crate::exec::Explained::Query(plan);
        let text = crate::exec::explain(&explained, &subqueries, &ctx)?;
        let crate::exec::Explained::Query(plan) = explained else {
            return Err(crate::error::Error::internal("EXPLAIN ANALYZE of a query"));
        };
        let profile = std::sync::Arc::new(crate::exec::Profile::default());
        let started = crate::runtime::instant();
        let ctx = crate::exec::with_subqueries(self, ctx, &subqueries).await?;
        let subquery_time = started.elapsed();
        let rows = crate::exec::Executor::new(self, ctx)
            .profiled(profile.clone())
            .run(&plan)
            .await?;
        let total = started.elapsed();
        let ms = |d: std::time::Duration| Value::Float(d.as_secs_f64() * 1000.0);
        let phases = profile
            .phases()
            .into_iter()
            .map(|p| {
                let mut o = Object::default();
                o.insert("phase".into(), Value::Text(p.name));
                if let Some(s) = p.shard {
                    o.insert("shard".into(), Value::Int(s as i64));
                }
                o.insert("ms".into(), Value::Float(p.ms));
                o.insert("rows".into(), Value::Int(p.rows as i64));
                Value::Object(Box::new(o))
            })
            .collect();
        let mut execution = Object::default();
        execution.insert("total_ms".into(), ms(total));
        execution.insert("subqueries_ms".into(), ms(subquery_time));
        execution.insert("rows".into(), Value::Int(rows.len() as i64));
        execution.insert("phases".into(), Value::Array(phases));
        let mut out = Object::default();
        out.insert("plan".into(), Value::Text(text));
        out.insert("planning_ms".into(), ms(planning));
        out.insert("execution".into(), Value::Object(Box::new(execution)));
        Ok(QueryResult {
            cols: vec!["EXPLAIN ANALYZE".into()],
            types: vec![DataType::object()],
            rows: vec![vec![Value::Object(Box::new(out))]],
            rowcount: 1,
        })
    }
}
