//! `EXPLAIN ANALYZE`: a query run with its phases timed (each shard's
//! collect, joins, correlated subqueries, the merges on the handler), and
//! answered as one object beside its plan; `EXPLAIN VERBOSE`: the
//! planner's steps, each rule that changed the plan with the plan after it.

use super::Node;
use crate::error::Result;
use crate::request::QueryResult;
use crate::types::{DataType, Value};

impl Node {
    /// `EXPLAIN VERBOSE query`: a row per planning step (the initial plan,
    /// each rule that changed it, the final plan), as CrateDB answers it.
    pub(super) fn explain_verbose(
        &self,
        statement: &crate::sql::ast::Statement,
        pctx: &crate::planner::PlanCtx,
        ctx: &crate::expr::EvalCtx,
        costs: bool,
    ) -> Result<QueryResult> {
        let crate::sql::ast::Statement::Query(q) = statement else {
            return Err(crate::error::Error::Unsupported(
                "EXPLAIN VERBOSE is supported for SELECT".into(),
            ));
        };
        *pctx.trace.borrow_mut() = Some(Vec::new());
        let plan = crate::planner::select::plan_query(pctx, q)?;
        let mut steps = pctx.trace.borrow_mut().take().unwrap_or_default();
        if !matches!(plan, crate::planner::QueryPlan::Select(_)) {
            // A set operation's last part planned last: its steps are not
            // the statement's.
            steps.clear();
        }
        let subqueries = pctx.take_subqueries();
        let costs = costs.then_some(pctx.catalog);
        let mut rows = Vec::with_capacity(steps.len() + 2);
        if steps.is_empty() {
            let text = crate::exec::explain_step(&plan, &subqueries, ctx, costs, true)?;
            rows.push(vec![
                Value::Text("Initial logical plan".into()),
                Value::Text(text),
            ]);
        }
        for step in steps {
            let plan = crate::planner::QueryPlan::Select(Box::new(step.plan));
            let text =
                crate::exec::explain_step(&plan, &subqueries, ctx, costs, step.logical_joins)?;
            rows.push(vec![Value::Text(step.rule.into()), Value::Text(text)]);
        }
        let text = crate::exec::explain_step(&plan, &subqueries, ctx, costs, false)?;
        rows.push(vec![
            Value::Text("Final logical plan".into()),
            Value::Text(text),
        ]);
        let rowcount = rows.len() as i64;
        Ok(QueryResult {
            cols: vec!["STEP".into(), "QUERY PLAN".into()],
            types: vec![DataType::Text, DataType::Text],
            rows,
            rowcount,
        })
    }

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
        let text = crate::exec::explain(&explained, &subqueries, &ctx, None)?;
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
