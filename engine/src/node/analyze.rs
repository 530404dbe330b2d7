//! `ANALYZE`: every table's statistics, collected and made cluster state.
//!
//! For each table the node counts the rows and reads a sample of at most
//! [`SAMPLE_ROWS`] of them through the ordinary query path (so the sample
//! comes from every shard and is accounted on the breaker): a table that
//! large is read systematically, every k-th document of each segment
//! (`_docid % k = 0`), which spreads the sample over the whole table and
//! needs no random numbers. The statistics ([`crate::stats`]) replace the
//! previous ones in the catalog, through the master like any DDL. The
//! master collects them again every `stats.service.interval` (24 hours
//! unless set), as CrateDB's table statistics service does.

use std::collections::BTreeMap;

use super::{Node, Session};
use crate::catalog::TableInfo;
use crate::error::Result;
use crate::expr::EvalCtx;
use crate::request::QueryResult;
use crate::stats::{SAMPLE_ROWS, TableStats};
use crate::types::Value;

impl Node {
    /// `ANALYZE`.
    pub(super) async fn analyze(&self, session: &Session, ctx: &EvalCtx) -> Result<QueryResult> {
        self.check_master().await?;
        let catalog = self.catalog();
        let mut stats = BTreeMap::new();
        for table in catalog.tables() {
            let s = self.analyze_table(session, table, ctx).await?;
            stats.insert(table.ident.clone(), s);
        }
        let _ddl = self.ddl.lock().await;
        self.update_catalog(|c| {
            c.put_stats(stats.clone());
            Ok(())
        })
        .await?;
        Ok(QueryResult::affected(1))
    }

    /// CrateDB's table statistics service, run every
    /// `stats.service.interval` by the housekeeping loop: the master (or a
    /// node on its own) collects every table's statistics again, as
    /// `ANALYZE` does. A failure (no master, a table dropped meanwhile) is
    /// logged and tried again at the next interval.
    pub(super) async fn collect_stats(&self) {
        if self.coordinator().is_some_and(|c| !c.is_master()) {
            return;
        }
        let session = Session::default();
        let ctx = self.eval_ctx(&session, Vec::new());
        match self.analyze(&session, &ctx).await {
            Ok(_) => tracing::debug!("collected every table's statistics"),
            Err(e) => tracing::warn!(error = %e, "collecting the tables' statistics failed"),
        }
    }

    async fn analyze_table(
        &self,
        session: &Session,
        table: &TableInfo,
        ctx: &EvalCtx,
    ) -> Result<TableStats> {
        let name = format!(
            "{}.{}",
            quote_ident(&table.ident.schema),
            quote_ident(&table.ident.name)
        );
        let count = self
            .internal_query(session, &format!("SELECT count(*) FROM {name}"), ctx)
            .await?;
        let num_docs = count
            .rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_int)
            .unwrap_or(0)
            .max(0) as u64;
        let names: Vec<String> = table
            .columns
            .iter()
            .map(|c| c.name.clone())
            .filter(|n| !n.contains('[') && !n.contains('.'))
            .collect();
        if names.is_empty() || num_docs == 0 {
            return Ok(TableStats::from_sample(
                num_docs,
                &names,
                &vec![Vec::new(); names.len()],
            ));
        }
        let columns: Vec<String> = names.iter().map(|n| quote_ident(n)).collect();
        let mut sql = format!("SELECT {} FROM {name}", columns.join(", "));
        if num_docs > SAMPLE_ROWS as u64 {
            let step = num_docs.div_ceil(SAMPLE_ROWS as u64);
            sql.push_str(&format!(" WHERE _docid % {step} = 0 LIMIT {SAMPLE_ROWS}"));
        }
        let rows = self.internal_query(session, &sql, ctx).await?.rows;
        let mut sample = vec![Vec::with_capacity(rows.len()); names.len()];
        for row in rows {
            for (column, v) in sample.iter_mut().zip(row) {
                column.push(v);
            }
        }
        Ok(TableStats::from_sample(num_docs, &names, &sample))
    }

    /// Runs a query of the node's own on behalf of a statement: its memory
    /// counts on the statement's account, so KILL and the breaker reach it.
    async fn internal_query(
        &self,
        session: &Session,
        sql: &str,
        ctx: &EvalCtx,
    ) -> Result<QueryResult> {
        let stmt = super::parse_single(sql, &ctx.memory)?;
        Box::pin(self.execute_statement(session, &stmt, ctx.clone())).await
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
