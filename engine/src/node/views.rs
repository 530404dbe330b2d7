//! Views: `CREATE [OR REPLACE] VIEW`, `DROP VIEW`, `SHOW CREATE VIEW`.
//!
//! A view is cluster state like a table: its definition goes through the
//! catalog (replicated, persisted), and every node plans its query where it
//! is used. The query is checked when the view is created (it must plan),
//! and again whenever it is used, so a view over a dropped table fails as
//! the table would.

use sqlparser::ast::{ObjectName, Query};

use super::Node;
use super::ddl::table_ident;
use crate::catalog::ViewInfo;
use crate::error::{Error, Result};
use crate::request::QueryResult;
use crate::types::{DataType, Value};

use super::Session;

impl Node {
    /// `CREATE [OR REPLACE] VIEW name AS query`.
    pub(super) async fn create_view(
        &self,
        session: &Session,
        name: &ObjectName,
        query: &Query,
        or_replace: bool,
    ) -> Result<QueryResult> {
        let ident = table_ident(session, name)?;
        if crate::catalog::SYSTEM_SCHEMAS.contains(&ident.schema.as_str()) {
            return Err(Error::Unsupported(format!(
                "Cannot create view in the read-only schema {}",
                ident.schema
            )));
        }
        let text = query.to_string();
        {
            let catalog = self.catalog();
            let pctx = crate::planner::PlanCtx::with_catalog(&catalog, &ident.schema);
            // Planning it as the view itself finds a view that would read itself.
            pctx.expanding.borrow_mut().push(ident.clone());
            crate::planner::select::plan_query(&pctx, query)?;
        }
        let _ddl = self.ddl.lock().await;
        let view = ViewInfo {
            ident: ident.clone(),
            query: text,
            owner: session.user.clone(),
        };
        self.update_catalog(|c| {
            if c.table(&ident).is_some() || (c.view(&ident).is_some() && !or_replace) {
                return Err(Error::RelationExists(ident.to_string()));
            }
            c.put_view(view.clone());
            Ok(())
        })
        .await?;
        Ok(QueryResult::affected(1))
    }

    /// `DROP VIEW [IF EXISTS] name [, ...]`.
    pub(super) async fn drop_views(
        &self,
        session: &Session,
        names: &[ObjectName],
        if_exists: bool,
    ) -> Result<QueryResult> {
        let idents = names
            .iter()
            .map(|n| table_ident(session, n))
            .collect::<Result<Vec<_>>>()?;
        let _ddl = self.ddl.lock().await;
        let dropped = self
            .update_catalog(|c| {
                if !if_exists && let Some(missing) = idents.iter().find(|i| c.view(i).is_none()) {
                    return Err(Error::RelationUnknown(missing.to_string()));
                }
                let mut dropped = 0;
                for ident in &idents {
                    if c.remove_view(ident).is_some() {
                        dropped += 1;
                    }
                }
                Ok(dropped)
            })
            .await?;
        Ok(QueryResult::affected(dropped))
    }

    /// `SHOW CREATE VIEW name`.
    pub(super) fn show_create_view(
        &self,
        session: &Session,
        name: &ObjectName,
    ) -> Result<QueryResult> {
        let ident = table_ident(session, name)?;
        let catalog = self.catalog();
        let view = catalog
            .view(&ident)
            .ok_or_else(|| Error::RelationUnknown(ident.to_string()))?;
        Ok(QueryResult {
            cols: vec![format!("SHOW CREATE VIEW {ident}")],
            types: vec![DataType::Text],
            rows: vec![vec![Value::Text(format!(
                "CREATE OR REPLACE VIEW \"{}\".\"{}\" AS {}",
                ident.schema, ident.name, view.query
            ))]],
            rowcount: 1,
        })
    }
}
