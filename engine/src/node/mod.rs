//! A Shoal node: the catalog, the shard copies it holds, and statement execution.
//!
//! `Node::execute` is the one entry point for SQL: HTTP, the shell's embedded
//! mode and the simulator all come through it. A statement is parsed,
//! planned against the current catalog and executed; DDL changes the catalog
//! (persisted on the node's disk) and creates or drops shards.

mod analyze;
mod apply;
mod background;
mod buckets;
mod clustered;
#[cfg(not(madsim))]
mod copy;
mod ddl;
mod explain;
mod gather;
mod host;
mod jobs;
mod lagging;
mod local;
mod recovery;
mod recovery_state;
mod replication;
mod resync;
mod routing_table;
mod system;
mod views;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

use crate::breaker::Breakers;
use crate::catalog::Catalog;
use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::exec::Executor;
use crate::expr::EvalCtx;
use crate::sql::{self, ast::Statement};
use crate::storage::Shard;
use crate::types::{DataType, Value};

pub use crate::cluster::ClusterSettings;
use crate::cluster::settings;
pub use crate::request::QueryResult;
pub(crate) use ddl::add_dynamic_columns;
pub use recovery::Recovery;
pub use routing_table::{RoutingTable, ShardRouting, ShardState};
pub use system::KEYWORDS;

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
    /// The memory budget the circuit breakers' limits are shares of
    /// (CrateDB's heap size), in bytes.
    pub memory_limit: u64,
    /// Directories `COPY` may read and write with `file://` URIs; none means
    /// COPY cannot touch the file system (see [`copy_roots`]).
    pub copy_roots: Vec<std::path::PathBuf>,
    /// Encode every shard request and response as it would travel to
    /// another node, and decode it back before use (tests: proves that
    /// everything execution sends is data that survives the wire).
    pub wire_check: bool,
    /// Take part in a cluster (transport, seed hosts, initial master
    /// nodes); `None` is a single node on its own, as CrateDB's
    /// `discovery.type = single-node`.
    pub cluster: Option<crate::cluster::ClusterConfig>,
}

/// The memory budget of a node that was given none: 1 GB, CrateDB's default
/// heap. A server defaults to a quarter of the machine's memory instead.
pub const DEFAULT_MEMORY_LIMIT: u64 = 1 << 30;

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            node_name: "shoal".into(),
            cluster_name: "shoal".into(),
            durable: true,
            http_address: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            copy_roots: Vec::new(),
            wire_check: false,
            cluster: None,
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

/// One node.
pub struct Node {
    pub config: NodeConfig,
    pub id: String,
    pub(crate) disk: Arc<dyn Disk>,
    catalog: RwLock<Arc<Catalog>>,
    /// The shard copies this node holds: by table uuid, by shard number.
    shards: RwLock<BTreeMap<String, BTreeMap<u32, Arc<Shard>>>>,
    /// Serialises catalog changes.
    ddl: tokio::sync::Mutex<()>,
    /// Cluster settings (`SET GLOBAL`).
    settings: RwLock<ClusterSettings>,
    /// Memory accounting for statements and requests.
    pub breakers: Arc<Breakers>,
    /// The directories COPY may use.
    #[cfg(not(madsim))]
    copy_roots: copy::CopyRoots,
    /// When this node opened (`sys.nodes.os['uptime']`).
    started: tokio::time::Instant,
    /// The node's part in the cluster, once started (see `clustered.rs`).
    coordinator: OnceLock<Arc<crate::cluster::Coordinator>>,
    /// The cluster state this node follows, and the log index it includes.
    followed: tokio::sync::watch::Sender<clustered::Followed>,
    /// Recovery bookkeeping (see `recovery.rs`).
    recoveries: recovery::Recoveries,
    /// The gates of the shards' writes on their primaries (see `replication.rs`).
    write_gates: replication::WriteGates,
    /// In-sync copies that lagged at the last global checkpoint sync (see `lagging.rs`).
    lagging: lagging::Lagging,
    /// The statements it runs and has run (`sys.jobs`, `sys.jobs_log`).
    jobs: jobs::Jobs,
    /// Shards' rows split into a repartitioned join's buckets, waiting
    /// for their parts.
    buckets: buckets::BucketStore,
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
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = crate::routing::random_id();
                disk.write_atomic(NODE_PATH, id.as_bytes())?;
                // A node whose data directory was wiped comes back as this:
                // its old copies are gone, and the cluster treats it as new.
                tracing::info!(node_id = %id, name = %config.node_name,
                    "no node state in the data directory: starting as a new node");
                id
            }
            Err(e) => return Err(e.into()),
        };
        let catalog = match disk.read(CATALOG_PATH) {
            Ok(bytes) => Catalog::from_bytes(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Catalog::default(),
            Err(e) => return Err(e.into()),
        };
        let settings = match disk.read(settings::SETTINGS_PATH) {
            Ok(bytes) => ClusterSettings::from_bytes(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ClusterSettings::default(),
            Err(e) => return Err(e.into()),
        };
        let breakers = Arc::new(Breakers::new(config.memory_limit, settings.breakers()));
        #[cfg(not(madsim))]
        let copy_roots = copy::CopyRoots::open(&config.copy_roots, disk.local_path())?;
        let node = Arc::new(Node {
            config,
            id,
            disk,
            catalog: RwLock::new(Arc::new(Catalog::default())),
            shards: RwLock::new(BTreeMap::new()),
            ddl: tokio::sync::Mutex::new(()),
            settings: RwLock::new(settings),
            breakers,
            #[cfg(not(madsim))]
            copy_roots,
            started: crate::runtime::instant(),
            coordinator: OnceLock::new(),
            followed: tokio::sync::watch::channel(clustered::Followed::default()).0,
            recoveries: Default::default(),
            jobs: Default::default(),
            buckets: Default::default(),
            write_gates: Default::default(),
            lagging: Default::default(),
        });
        // Recovering is applying the catalog on disk to a node with no shards.
        node.apply_catalog(catalog, false)?;
        Ok(node)
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The shard copies of a table on this node, in shard order.
    pub fn shards_of(&self, table_uuid: &str) -> Vec<Arc<Shard>> {
        self.shards
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(table_uuid)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// This node's copy of shard `shard` of a table.
    pub fn shard(&self, table_uuid: &str, shard: u32) -> Option<Arc<Shard>> {
        self.shards
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(table_uuid)?
            .get(&shard)
            .cloned()
    }

    /// Every shard copy on this node, by table uuid and shard number.
    pub fn all_shards(&self) -> BTreeMap<String, BTreeMap<u32, Arc<Shard>>> {
        self.shards
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The routing table: which node holds which shard copy.
    pub fn routing_table(&self) -> RoutingTable {
        match self.coordinator() {
            Some(c) => {
                RoutingTable::of_cluster(&self.followed.borrow().state, c.id, &self.all_shards())
            }
            None => RoutingTable::single_node(
                &self.catalog(),
                &self.id,
                &self.config.node_name,
                &self.all_shards(),
            ),
        }
    }

    /// Refuses work that needs a master when this node, in a cluster,
    /// follows none, and waits until it follows the master's state.
    async fn check_master(&self) -> Result<()> {
        match self.coordinator() {
            Some(c) => c.current_master().await,
            None => Ok(()),
        }
    }

    /// The cluster settings.
    pub fn cluster_settings(&self) -> ClusterSettings {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `SET GLOBAL` / `RESET GLOBAL`: changes settings, applies them, and
    /// persists the persistent ones.
    async fn change_settings(
        &self,
        f: impl Fn(&mut ClusterSettings) -> Result<()>,
    ) -> Result<QueryResult> {
        let _ddl = self.ddl.lock().await;
        if self.coordinator().is_some() {
            return self.propose_settings(f).await;
        }
        let mut next = self.cluster_settings();
        f(&mut next)?;
        self.disk
            .write_atomic(settings::SETTINGS_PATH, &next.to_bytes()?)?;
        self.breakers.apply(next.breakers());
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(QueryResult::affected(1))
    }

    /// Executes one SQL statement with parameters.
    pub async fn execute(
        &self,
        session: &Session,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<QueryResult> {
        let mut job = self.jobs.start(sql, &session.user);
        // Boxed: the statement's future is deep, and callers' futures
        // (the simulator's tasks) nest it further.
        let result = Box::pin(async {
            // One account for everything the statement holds, from its
            // tokens to its result rows; dropping it gives it all back.
            let memory = self.breakers.statement();
            job.attach(&memory);
            let stmt = parse_statement(sql, &memory).await?;
            job.classify(&stmt);
            let mut ctx = self.eval_ctx(session, params);
            ctx.memory = memory;
            ctx.job = job.id();
            self.execute_statement(session, &stmt, ctx).await
        })
        .await;
        job.finish(&result);
        result
    }

    /// Executes a statement once per parameter row (HTTP `bulk_args`).
    /// Returns a row count or an error per parameter row.
    pub async fn execute_bulk(
        &self,
        session: &Session,
        sql: &str,
        bulk: Vec<Vec<Value>>,
    ) -> Result<Vec<Result<i64>>> {
        let mut job = self.jobs.start(sql, &session.user);
        let result = self.run_bulk(session, sql, bulk, &mut job).await;
        job.finish(&result);
        result
    }

    async fn run_bulk(
        &self,
        session: &Session,
        sql: &str,
        bulk: Vec<Vec<Value>>,
        job: &mut jobs::Running<'_>,
    ) -> Result<Vec<Result<i64>>> {
        // The parsed statement stays accounted while its rows run; each
        // row's execution has an account of its own.
        let parsed = self.breakers.statement();
        let stmt = parse_statement(sql, &parsed).await?;
        job.classify(&stmt);
        match &stmt {
            Statement::Query(_)
            | Statement::Show(_)
            | Statement::Explain { .. }
            | Statement::ExplainAnalyze(_) => {
                return Err(Error::Unsupported(
                    "Bulk operations for statements that return result sets is not supported"
                        .into(),
                ));
            }
            Statement::Insert(ins) => {
                let catalog = self.catalog();
                let (plan, subqueries) = {
                    let pctx =
                        crate::planner::PlanCtx::with_catalog(&catalog, &session.default_schema);
                    let plan = crate::planner::dml::plan_insert(&pctx, ins)?;
                    (plan, pctx.take_subqueries())
                };
                let ctx = self.eval_ctx(session, Vec::new());
                let ctx = crate::exec::with_subqueries(self, ctx, &subqueries).await?;
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
        ctx.memory = self.breakers.statement();
        ctx
    }

    async fn execute_statement(
        &self,
        session: &Session,
        stmt: &Statement,
        ctx: EvalCtx,
    ) -> Result<QueryResult> {
        if is_write(stmt) {
            self.check_master().await?;
        }
        let catalog = self.catalog();
        let pctx = crate::planner::PlanCtx::with_catalog(&catalog, &session.default_schema);
        match stmt {
            Statement::Query(q) => {
                let plan = crate::planner::select::plan_query(&pctx, q)?;
                let subqueries = pctx.take_subqueries();
                drop(pctx);
                let ctx = crate::exec::with_subqueries(self, ctx, &subqueries).await?;
                Executor::new(self, ctx).query(&plan).await
            }
            Statement::Insert(ins) => {
                let plan = crate::planner::dml::plan_insert(&pctx, ins)?;
                let subqueries = pctx.take_subqueries();
                drop(pctx);
                let ctx = crate::exec::with_subqueries(self, ctx, &subqueries).await?;
                let params = ctx.params.clone();
                let mut results = Executor::new(self, ctx)
                    .insert_bulk(&plan, vec![params])
                    .await?;
                let r = results.pop().unwrap_or(Ok(0))?;
                Ok(QueryResult::affected(r))
            }
            Statement::Update(up) => {
                let plan = crate::planner::dml::plan_update(&pctx, up)?;
                let subqueries = pctx.take_subqueries();
                drop(pctx);
                let ctx = crate::exec::with_subqueries(self, ctx, &subqueries).await?;
                Executor::new(self, ctx)
                    .update(&plan)
                    .await
                    .map(QueryResult::affected)
            }
            Statement::Delete(del) => {
                let plan = crate::planner::dml::plan_delete(&pctx, del)?;
                let subqueries = pctx.take_subqueries();
                drop(pctx);
                let ctx = crate::exec::with_subqueries(self, ctx, &subqueries).await?;
                Executor::new(self, ctx)
                    .delete(&plan)
                    .await
                    .map(QueryResult::affected)
            }
            Statement::CreateTable(ct) => self.create_table(session, ct).await,
            Statement::CreateAnalyzer(def) => self.create_analyzer(def).await,
            Statement::DropAnalyzer { name } => self.drop_analyzer(name).await,
            Statement::CreateView {
                name,
                query,
                or_replace,
            } => self.create_view(session, name, query, *or_replace).await,
            Statement::CreateIndex { table, columns } => {
                let t = self.resolve_user_table(session, table)?;
                if let Some(c) = columns.iter().find(|c| t.column(c).is_none()) {
                    return Err(Error::ColumnUnknown(c.clone()));
                }
                Ok(QueryResult::affected(0))
            }
            Statement::DropView { names, if_exists } => {
                self.drop_views(session, names, *if_exists).await
            }
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
            Statement::Explain {
                statement: inner,
                costs,
                verbose,
            } => {
                use crate::exec::Explained;
                if *verbose {
                    return self.explain_verbose(inner, &pctx, &ctx, *costs);
                }
                let planned = match inner.as_ref() {
                    Statement::Query(q) => {
                        Explained::Query(crate::planner::select::plan_query(&pctx, q)?)
                    }
                    Statement::Insert(i) => {
                        Explained::Insert(crate::planner::dml::plan_insert(&pctx, i)?)
                    }
                    Statement::Update(u) => {
                        Explained::Update(crate::planner::dml::plan_update(&pctx, u)?)
                    }
                    Statement::Delete(d) => {
                        Explained::Delete(crate::planner::dml::plan_delete(&pctx, d)?)
                    }
                    _ => {
                        return Err(Error::Unsupported(
                            "EXPLAIN is supported for SELECT, INSERT, UPDATE and DELETE".into(),
                        ));
                    }
                };
                Ok(QueryResult {
                    cols: vec!["QUERY PLAN".into()],
                    types: vec![DataType::Text],
                    rows: vec![vec![Value::Text(crate::exec::explain(
                        &planned,
                        &pctx.take_subqueries(),
                        &ctx,
                        costs.then_some(&*catalog),
                    )?)]],
                    rowcount: 1,
                })
            }
            Statement::ExplainAnalyze(inner) => {
                let Statement::Query(q) = inner.as_ref() else {
                    return Err(Error::Unsupported(
                        "EXPLAIN ANALYZE is supported for SELECT".into(),
                    ));
                };
                let started = crate::runtime::instant();
                let plan = crate::planner::select::plan_query(&pctx, q)?;
                let subqueries = pctx.take_subqueries();
                drop(pctx);
                let planning = started.elapsed();
                self.explain_analyze(plan, subqueries, ctx, planning).await
            }
            Statement::Analyze => self.analyze(session, &ctx).await,
            Statement::NoOp { .. } => {
                // Session settings answer as CrateDB's: nothing affected.
                Ok(QueryResult::affected(0))
            }
            #[cfg(not(madsim))]
            Statement::Copy(c) => self.copy(session, c, ctx).await,
            #[cfg(madsim)]
            Statement::Copy(_) => Err(Error::Unsupported(
                "COPY is not available in the simulator".into(),
            )),
            Statement::Kill { job } => {
                let mut killed = self.jobs.kill(job.as_deref()) as i64;
                if let Some(coordinator) = self.coordinator() {
                    killed += coordinator.kill_everywhere(job.clone()).await as i64;
                }
                Ok(QueryResult::affected(killed))
            }
            Statement::Decommission { node } => self.decommission(node).await,
            Statement::RerouteRetryFailed => self.retry_failed().await,
            Statement::SetGlobal {
                persistent,
                assignments,
            } => {
                let mut values = Vec::with_capacity(assignments.len());
                for (name, e) in assignments {
                    values.push((name.clone(), setting_json(e, &ctx)?));
                }
                self.change_settings(|s| {
                    for (name, v) in &values {
                        s.set(name, v.clone(), *persistent)?;
                    }
                    Ok(())
                })
                .await
            }
            Statement::ResetGlobal { names } => {
                self.change_settings(|s| names.iter().try_for_each(|n| s.reset(n)))
                    .await
            }
        }
    }

    /// Starts the background work: periodic refresh, merges and flushes.
    pub fn start(self: &Arc<Self>) {
        background::start(Arc::downgrade(self));
    }

    /// Flushes every shard (graceful shutdown).
    pub async fn flush_all(&self) -> Result<()> {
        for (_, list) in self.all_shards() {
            for s in list.into_values() {
                s.flush().await?;
            }
        }
        Ok(())
    }
}

/// Whether a statement writes rows (refused without a master, as
/// CrateDB's `cluster.no_master_block: write`).
fn is_write(stmt: &Statement) -> bool {
    match stmt {
        Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => true,
        // COPY TO reads; COPY FROM writes.
        Statement::Copy(c) => matches!(c.direction, sql::ast::CopyDirection::From { .. }),
        _ => false,
    }
}

/// A setting's value: a constant expression, as JSON.
fn setting_json(e: &sqlparser::ast::Expr, ctx: &EvalCtx) -> Result<serde_json::Value> {
    let v = match e {
        // A bare word (`SET GLOBAL stats.enabled = false` is fine, but so is
        // `... = off`-style text) is taken as text.
        sqlparser::ast::Expr::Identifier(id) => Value::Text(id.value.clone()),
        other => constant(other, ctx)?,
    };
    Ok(crate::types::json::to_json(&v))
}

/// The value of a constant expression of a statement (parameters allowed):
/// a setting's, a COPY option's.
fn constant(e: &sqlparser::ast::Expr, ctx: &EvalCtx) -> Result<Value> {
    let empty = crate::planner::PlanCtx::empty();
    let mut b = crate::planner::bind::Binder::new(&empty, crate::planner::bind::Relation::None);
    b.bind(e)?.eval(&[], ctx)
}

/// Statements longer than this are parsed off the async workers.
const OFFLOAD_STATEMENT_BYTES: usize = 64 << 10;

/// Parses one statement; a long one on a blocking thread, since tokenizing
/// megabytes of SQL takes a while.
async fn parse_statement(
    sql: &str,
    memory: &Arc<crate::breaker::MemoryAccount>,
) -> Result<Statement> {
    if sql.len() <= OFFLOAD_STATEMENT_BYTES {
        return parse_single(sql, memory);
    }
    let (sql, memory) = (sql.to_string(), memory.clone());
    crate::runtime::run_blocking(move || parse_single(&sql, &memory)).await
}

fn parse_single(sql: &str, memory: &crate::breaker::MemoryAccount) -> Result<Statement> {
    let mut stmts = sql::parse_accounted(sql, memory)?;
    if stmts.len() > 1 {
        return Err(Error::Parse(
            "line 1: mismatched input: only one statement per request is allowed".into(),
        ));
    }
    Ok(stmts.remove(0))
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;
    use crate::disk::MemDisk;

    #[test]
    fn a_data_directory_without_node_state_starts_a_new_node_and_says_so() {
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
        let (node, lines) = crate::test_log::logged(|| {
            Node::open(NodeConfig::default(), disk.clone()).expect("node")
        });
        assert!(
            lines.contains("starting as a new node") && lines.contains(&node.id),
            "{lines}"
        );
        drop(node);
        let (_, again) =
            crate::test_log::logged(|| Node::open(NodeConfig::default(), disk).expect("node"));
        assert!(!again.contains("new node"), "{again}");
    }
}
