//! A Shoal node: the catalog, the shard copies it holds, and statement execution.
//!
//! `Node::execute` is the one entry point for SQL: HTTP, the shell's embedded
//! mode and the simulator all come through it. A statement is parsed,
//! planned against the current catalog and executed; DDL changes the catalog
//! (persisted on the node's disk) and creates or drops shards.

mod background;
#[cfg(not(madsim))]
mod copy;
mod ddl;
pub mod routing;
mod system;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use crate::catalog::{Catalog, TableInfo};
use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::exec::Executor;
use crate::expr::EvalCtx;
use crate::sql::{self, ast::Statement};
use crate::storage::Shard;
use crate::types::{DataType, Row, Value};

pub(crate) use ddl::add_dynamic_columns;
pub use routing::{RoutingTable, ShardRouting, ShardState};

const CATALOG_PATH: &str = "_state/catalog.json";
const NODE_PATH: &str = "_state/node.json";

/// Node settings.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub node_name: String,
    pub cluster_name: String,
    /// Fsync the translog before acknowledging a write.
    pub durable: bool,
    /// The HTTP address, shown in `sys.nodes`.
    pub http_address: Option<String>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            node_name: "shoal".into(),
            cluster_name: "shoal".into(),
            durable: true,
            http_address: None,
        }
    }
}

/// A client session: the default schema and user of a connection.
#[derive(Debug, Clone)]
pub struct Session {
    pub default_schema: String,
    pub user: String,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            default_schema: crate::catalog::DEFAULT_SCHEMA.into(),
            user: "crate".into(),
        }
    }
}

/// The result of a statement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    pub cols: Vec<String>,
    pub types: Vec<DataType>,
    pub rows: Vec<Row>,
    /// Rows returned, or rows affected; -1 when unknown.
    pub rowcount: i64,
}

impl QueryResult {
    /// A result for a statement that returns no rows.
    pub fn affected(n: i64) -> QueryResult {
        QueryResult {
            rowcount: n,
            ..Default::default()
        }
    }

    /// Whether the statement produced a result set.
    pub fn is_query(&self) -> bool {
        !self.cols.is_empty()
    }
}

/// One node.
pub struct Node {
    pub config: NodeConfig,
    pub id: String,
    pub(crate) disk: Arc<dyn Disk>,
    catalog: RwLock<Arc<Catalog>>,
    shards: RwLock<HashMap<String, Vec<Arc<Shard>>>>,
    /// Serialises catalog changes.
    ddl: tokio::sync::Mutex<()>,
    /// When this node opened (`sys.nodes.os['uptime']`).
    started: tokio::time::Instant,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.config.node_name)
            .finish()
    }
}

impl Node {
    /// Opens a node on `disk`: loads the catalog and recovers every shard.
    pub fn open(config: NodeConfig, disk: Arc<dyn Disk>) -> Result<Arc<Node>> {
        let id = match disk.read(NODE_PATH) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
            Err(_) => {
                let id = routing::random_id();
                disk.write_atomic(NODE_PATH, id.as_bytes())?;
                id
            }
        };
        let catalog = match disk.read(CATALOG_PATH) {
            Ok(bytes) => Catalog::from_bytes(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Catalog::default(),
            Err(e) => return Err(e.into()),
        };
        let mut shards = HashMap::new();
        for table in catalog.tables() {
            let mut list = Vec::with_capacity(table.num_shards as usize);
            for s in 0..table.num_shards {
                list.push(Arc::new(Shard::open(
                    table.clone(),
                    s,
                    disk.clone(),
                    config.durable,
                )?));
            }
            shards.insert(table.uuid.clone(), list);
        }
        Ok(Arc::new(Node {
            config,
            id,
            disk,
            catalog: RwLock::new(Arc::new(catalog)),
            shards: RwLock::new(shards),
            ddl: tokio::sync::Mutex::new(()),
            started: crate::runtime::instant(),
        }))
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The shards of a table on this node, by shard id.
    pub fn shards_of(&self, table_uuid: &str) -> Vec<Arc<Shard>> {
        self.shards
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(table_uuid)
            .cloned()
            .unwrap_or_default()
    }

    /// Every shard on this node, by table uuid.
    pub fn all_shards(&self) -> BTreeMap<String, Vec<Arc<Shard>>> {
        self.shards
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The routing table: which node holds which shard copy.
    pub fn routing_table(&self) -> RoutingTable {
        RoutingTable::single_node(&self.catalog(), &self.id, &self.all_shards())
    }

    /// Replaces the catalog (persisting it) with `f` applied to a copy.
    pub(crate) fn update_catalog<R>(&self, f: impl FnOnce(&mut Catalog) -> Result<R>) -> Result<R> {
        let mut next = (*self.catalog()).clone();
        let r = f(&mut next)?;
        self.disk.write_atomic(CATALOG_PATH, &next.to_bytes()?)?;
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        Ok(r)
    }

    pub(crate) fn put_shards(&self, uuid: &str, list: Vec<Arc<Shard>>) {
        self.shards
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uuid.to_string(), list);
    }

    pub(crate) fn remove_shards(&self, uuid: &str) -> Vec<Arc<Shard>> {
        self.shards
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uuid)
            .unwrap_or_default()
    }

    /// Updates a table's metadata (e.g. columns added by a dynamic insert) and
    /// hands it to the table's shards.
    pub(crate) async fn replace_table(
        &self,
        f: impl FnOnce(&mut TableInfo) -> Result<bool>,
        ident: &crate::catalog::TableIdent,
    ) -> Result<Arc<TableInfo>> {
        let _ddl = self.ddl.lock().await;
        let updated = self.update_catalog(|c| {
            let mut t = (**c
                .table(ident)
                .ok_or_else(|| Error::RelationUnknown(ident.to_string()))?)
            .clone();
            if f(&mut t)? {
                t.version += 1;
                c.put_table(t);
            }
            c.table(ident)
                .cloned()
                .ok_or_else(|| Error::RelationUnknown(ident.to_string()))
        })?;
        for s in self.shards_of(&updated.uuid) {
            s.set_table(updated.clone());
        }
        Ok(updated)
    }

    /// Executes one SQL statement with parameters.
    pub async fn execute(
        &self,
        session: &Session,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<QueryResult> {
        let stmt = parse_single(sql)?;
        let ctx = self.eval_ctx(session, params);
        self.execute_statement(session, &stmt, ctx).await
    }

    /// Executes a statement once per parameter row (HTTP `bulk_args`).
    /// Returns a row count or an error per parameter row.
    pub async fn execute_bulk(
        &self,
        session: &Session,
        sql: &str,
        bulk: Vec<Vec<Value>>,
    ) -> Result<Vec<Result<i64>>> {
        let stmt = parse_single(sql)?;
        match &stmt {
            Statement::Query(_) | Statement::Show(_) | Statement::Explain(_) => {
                return Err(Error::Unsupported(
                    "Bulk operations for statements that return result sets is not supported"
                        .into(),
                ));
            }
            Statement::Insert(ins) => {
                let catalog = self.catalog();
                let plan = {
                    let pctx =
                        crate::planner::PlanCtx::with_catalog(&catalog, &session.default_schema);
                    crate::planner::dml::plan_insert(&pctx, ins)?
                };
                let ctx = self.eval_ctx(session, Vec::new());
                return Executor::new(self, ctx).insert_bulk(&plan, bulk).await;
            }
            _ => {}
        }
        let mut out = Vec::with_capacity(bulk.len());
        for params in bulk {
            let ctx = self.eval_ctx(session, params);
            out.push(
                self.execute_statement(session, &stmt, ctx)
                    .await
                    .map(|r| r.rowcount),
            );
        }
        Ok(out)
    }

    fn eval_ctx(&self, session: &Session, params: Vec<Value>) -> EvalCtx {
        let mut ctx = EvalCtx::new(params);
        ctx.current_schema = session.default_schema.clone();
        ctx.current_user = session.user.clone();
        ctx
    }

    async fn execute_statement(
        &self,
        session: &Session,
        stmt: &Statement,
        ctx: EvalCtx,
    ) -> Result<QueryResult> {
        let catalog = self.catalog();
        let pctx = crate::planner::PlanCtx::with_catalog(&catalog, &session.default_schema);
        match stmt {
            Statement::Query(q) => {
                let plan = crate::planner::select::plan_query(&pctx, q)?;
                drop(pctx);
                Executor::new(self, ctx).query(&plan).await
            }
            Statement::Insert(ins) => {
                let plan = crate::planner::dml::plan_insert(&pctx, ins)?;
                drop(pctx);
                let params = ctx.params.clone();
                let mut results = Executor::new(self, ctx)
                    .insert_bulk(&plan, vec![params])
                    .await?;
                let r = results.pop().unwrap_or(Ok(0))?;
                Ok(QueryResult::affected(r))
            }
            Statement::Update(up) => {
                let plan = crate::planner::dml::plan_update(&pctx, up)?;
                drop(pctx);
                Executor::new(self, ctx)
                    .update(&plan)
                    .await
                    .map(QueryResult::affected)
            }
            Statement::Delete(del) => {
                let plan = crate::planner::dml::plan_delete(&pctx, del)?;
                drop(pctx);
                Executor::new(self, ctx)
                    .delete(&plan)
                    .await
                    .map(QueryResult::affected)
            }
            Statement::CreateTable(ct) => self.create_table(session, ct).await,
            Statement::DropTable { name, if_exists } => {
                self.drop_table(session, name, *if_exists).await
            }
            Statement::AlterTable { name, action } => {
                self.alter_table(session, name, action, &ctx).await
            }
            Statement::Refresh { tables } => self.refresh_tables(session, tables).await,
            Statement::Optimize { tables, with } => {
                self.optimize_tables(session, tables, with).await
            }
            Statement::Show(show) => self.show(session, show, ctx).await,
            Statement::Explain(inner) => Ok(QueryResult {
                cols: vec!["QUERY PLAN".into()],
                types: vec![DataType::Text],
                rows: vec![vec![Value::Text(
                    format!("{inner:?}").chars().take(4000).collect(),
                )]],
                rowcount: 1,
            }),
            Statement::NoOp { tag } => {
                Ok(QueryResult::affected(if tag == "SET" || tag == "RESET" {
                    1
                } else {
                    0
                }))
            }
            #[cfg(not(madsim))]
            Statement::Copy(c) => self.copy(session, c, ctx).await,
            #[cfg(madsim)]
            Statement::Copy(_) => Err(Error::Unsupported(
                "COPY is not available in the simulator".into(),
            )),
            Statement::Kill { .. } => Ok(QueryResult::affected(0)),
        }
    }

    /// Starts the background work: periodic refresh, merges and flushes.
    pub fn start(self: &Arc<Self>) {
        background::start(Arc::downgrade(self));
    }

    /// Flushes every shard (graceful shutdown).
    pub async fn flush_all(&self) -> Result<()> {
        for (_, list) in self.all_shards() {
            for s in list {
                s.flush().await?;
            }
        }
        Ok(())
    }
}

fn parse_single(sql: &str) -> Result<Statement> {
    let mut stmts = sql::parse(sql)?;
    if stmts.len() > 1 {
        return Err(Error::Parse(
            "line 1: mismatched input: only one statement per request is allowed".into(),
        ));
    }
    Ok(stmts.remove(0))
}
