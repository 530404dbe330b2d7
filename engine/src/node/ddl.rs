//! DDL and maintenance statements: CREATE/DROP/ALTER TABLE, REFRESH, OPTIMIZE, SHOW.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlparser::ast::ObjectName;

use super::{Node, QueryResult, Session};
use crate::analysis::{self, AnalyzerDef};
use crate::catalog::analyzer_chain;
use crate::catalog::{
    ColumnInfo, FulltextIndex, ReplicaSetting, RoutingHash, TableIdent, TableInfo, add_column_path,
};
use crate::error::{Error, Result};
use crate::expr::EvalCtx;
use crate::planner::bind::bind_over_columns;
use crate::request::ShardRequest;
use crate::sql::ast::{AlterAction, ColumnDef, CreateTable, IndexSpec, Show};
use crate::sql::{expr_text, name_parts};
use crate::storage::Shard;
use crate::types::{ColumnPolicy, DataType, Value};

/// Default number of shards for a new table (CrateDB: four on a small cluster).
pub const DEFAULT_SHARDS: u32 = 4;
/// Upper bound on shards per table, as CrateDB's routing shards limit.
const MAX_SHARDS: u32 = 1024;

pub(super) fn table_ident(session: &Session, name: &ObjectName) -> Result<TableIdent> {
    let parts = name_parts(name);
    let (schema, table) = match parts.as_slice() {
        [t] => (session.default_schema.clone(), t.clone()),
        [s, t] => (s.clone(), t.clone()),
        _ => {
            return Err(Error::InvalidRelationName(format!(
                "Invalid table name: {name}"
            )));
        }
    };
    for part in [&schema, &table] {
        if part.is_empty()
            || part.contains(['.', '/', '\\', '*', '?', '"', '<', '>', '|', ' ', ',', '#'])
            || part.starts_with('_')
        {
            return Err(Error::InvalidRelationName(format!(
                "Relation name \"{schema}.{table}\" is invalid."
            )));
        }
    }
    Ok(TableIdent::new(schema, table))
}

fn check_column_name(name: &str) -> Result<()> {
    crate::catalog::check_column_name(name, true)
}

fn setting_value(e: &sqlparser::ast::Expr) -> serde_json::Value {
    let t = expr_text(e);
    match t.parse::<i64>() {
        Ok(i) => serde_json::json!(i),
        Err(_) => match t.as_str() {
            "true" => serde_json::json!(true),
            "false" => serde_json::json!(false),
            _ => serde_json::json!(t),
        },
    }
}

fn column_info(def: &ColumnDef) -> Result<ColumnInfo> {
    check_column_name(&def.name)?;
    if def.default.is_some() && matches!(def.data_type, DataType::Object(_)) {
        return Err(Error::Parse(format!(
            "Default values are not allowed for object columns: {}",
            def.name
        )));
    }
    Ok(ColumnInfo {
        name: def.name.clone(),
        data_type: def.data_type.clone(),
        not_null: def.not_null || def.primary_key,
        default_expr: def.default.as_ref().map(|e| e.to_string()),
        generated_expr: def.generated.as_ref().map(|e| e.to_string()),
        check_expr: def.check.as_ref().map(|e| e.to_string()),
        index_off: def.index == IndexSpec::Off,
    })
}

/// Checks that every full-text index covers existing text columns (or
/// arrays of text), as CrateDB only analyzes text.
pub fn check_fulltext_columns(table: &TableInfo) -> Result<()> {
    for idx in &table.fulltext_indexes {
        for (text, (column, path)) in idx.columns.iter().zip(idx.column_paths()) {
            let Some(ty) = table.type_at(&column, &path) else {
                return Err(Error::ColumnUnknown(text.clone()));
            };
            if *ty.element() != DataType::Text {
                return Err(Error::InvalidArgument(format!(
                    "Can't use an Analyzer on column {text} because analyzers are only allowed on \
                     columns of type \"text\" of the unbound length limit."
                )));
            }
        }
    }
    Ok(())
}

/// Copies the custom analyzers `table`'s full-text indexes use (with the
/// analyzers they extend) from the cluster's into the table; fails on an
/// analyzer that does not exist.
pub fn attach_analyzers(
    table: &mut TableInfo,
    custom: &BTreeMap<String, AnalyzerDef>,
) -> Result<()> {
    for idx in &table.fulltext_indexes {
        if !table.analyzers.contains_key(&idx.analyzer) {
            table
                .analyzers
                .extend(analyzer_chain(&idx.analyzer, custom)?);
        }
    }
    // Building every index's analyzer checks the definitions fit together.
    for idx in &table.fulltext_indexes {
        analysis::build(&idx.analyzer, &table.analyzers)?;
    }
    Ok(())
}

/// `def` with what it takes from the custom analyzer it extends copied in
/// (as CrateDB settles EXTENDS when the analyzer is created): its tokenizer
/// and filter lists unless `def` gives its own, its parameters under
/// `def`'s. The result extends what the parent extended, so dropping the
/// parent later changes nothing.
fn inherit(def: &AnalyzerDef, custom: &BTreeMap<String, AnalyzerDef>) -> AnalyzerDef {
    let Some(parent) = def.extends.as_ref().and_then(|p| custom.get(p)) else {
        return def.clone();
    };
    let mut out = def.clone();
    out.extends = parent.extends.clone();
    if out.tokenizer.is_none() {
        out.tokenizer = parent.tokenizer.clone();
    }
    if out.token_filters.is_empty() {
        out.token_filters = parent.token_filters.clone();
    }
    if out.char_filters.is_empty() {
        out.char_filters = parent.char_filters.clone();
    }
    let mut parameters = parent.parameters.clone();
    for (k, v) in &def.parameters {
        parameters.retain(|(pk, _)| pk != k);
        parameters.push((k.clone(), v.clone()));
    }
    out.parameters = parameters;
    out
}

/// Builds a table from CREATE TABLE, validating it.
pub fn table_from_create(ident: TableIdent, ct: &CreateTable) -> Result<TableInfo> {
    let mut columns: Vec<ColumnInfo> = Vec::with_capacity(ct.columns.len());
    let mut fulltext = Vec::new();
    for def in &ct.columns {
        if columns.iter().any(|c| c.name == def.name) {
            return Err(Error::Parse(format!(
                "Column \"{}\" specified more than once",
                def.name
            )));
        }
        if let IndexSpec::Fulltext { analyzer } = &def.index {
            fulltext.push(FulltextIndex {
                name: def.name.clone(),
                columns: vec![def.name.clone()],
                analyzer: analyzer.clone(),
                column_level: true,
            });
        }
        columns.push(column_info(def)?);
    }
    // Generated columns without a declared type take the expression's type.
    for i in 0..columns.len() {
        if let Some(g) = columns[i].generated_expr.clone() {
            let bound = bind_over_columns(&columns, &g)?;
            if columns[i].data_type == DataType::Undefined {
                columns[i].data_type = bound.data_type();
            }
        }
        if let Some(d) = columns[i].default_expr.clone() {
            let bound = bind_over_columns(&[], &d)?;
            crate::planner::bind::coerce_to(bound, &columns[i].data_type)?;
        }
        if columns[i].data_type == DataType::Undefined {
            return Err(Error::Parse(format!(
                "Column \"{}\" has no type",
                columns[i].name
            )));
        }
    }
    let mut primary_key: Vec<String> = Vec::new();
    for pk in &ct.primary_key {
        if primary_key.contains(pk) {
            continue;
        }
        let Some(c) = columns.iter_mut().find(|c| &c.name == pk) else {
            return Err(Error::ColumnUnknown(pk.clone()));
        };
        if !c.data_type.is_scalar() {
            return Err(Error::Parse(format!(
                "Cannot use column \"{pk}\" with type \"{}\" as primary key",
                c.data_type.name()
            )));
        }
        c.not_null = true;
        primary_key.push(pk.clone());
    }
    if let Some(cb) = &ct.clustered_by {
        if cb != "_id" && !columns.iter().any(|c| &c.name == cb) {
            return Err(Error::ColumnUnknown(cb.clone()));
        }
        if !primary_key.is_empty() && !primary_key.contains(cb) {
            return Err(Error::Parse(format!(
                "Clustered by column `{cb}` must be part of primary key"
            )));
        }
    }
    for p in &ct.partitioned_by {
        if !columns.iter().any(|c| &c.name == p) {
            return Err(Error::ColumnUnknown(p.clone()));
        }
        if !primary_key.is_empty() && !primary_key.contains(p) {
            return Err(Error::Parse(format!(
                "Cannot use non primary key column '{p}' in PARTITIONED BY clause if primary key is set on table"
            )));
        }
    }
    for idx in &ct.indexes {
        if columns.iter().any(|c| c.name == idx.name)
            || fulltext.iter().any(|f: &FulltextIndex| f.name == idx.name)
        {
            return Err(Error::Parse(format!(
                "Index name '{}' already used by a column",
                idx.name
            )));
        }
        fulltext.push(FulltextIndex {
            name: idx.name.clone(),
            columns: idx.columns.clone(),
            analyzer: idx.analyzer.clone(),
            column_level: false,
        });
    }
    let shards = ct.shards.unwrap_or(DEFAULT_SHARDS);
    if shards == 0 || shards > MAX_SHARDS {
        return Err(Error::InvalidArgument(format!(
            "num_shards in CLUSTERED clause must be between 1 and {MAX_SHARDS}"
        )));
    }
    let mut table = TableInfo {
        ident,
        uuid: crate::routing::random_id(),
        columns,
        primary_key,
        clustered_by: ct.clustered_by.clone(),
        partitioned_by: ct.partitioned_by.clone(),
        num_shards: shards,
        number_of_replicas: ReplicaSetting("0-1".into()),
        refresh_interval_ms: 1000,
        column_policy: ColumnPolicy::Dynamic,
        fulltext_indexes: fulltext,
        checks: ct.checks.iter().map(|c| c.to_string()).collect(),
        settings: BTreeMap::new(),
        version: 1,
        routing_hash: RoutingHash::Murmur3,
        analyzers: BTreeMap::new(),
        bound: Default::default(),
        derived: Default::default(),
    };
    for (k, v) in &ct.with {
        apply_setting(&mut table, k, v)?;
    }
    check_fulltext_columns(&table)?;
    Ok(table)
}

fn apply_setting(table: &mut TableInfo, key: &str, v: &sqlparser::ast::Expr) -> Result<()> {
    let text = expr_text(v);
    match key {
        "number_of_replicas" => table.number_of_replicas = ReplicaSetting::parse(&text)?,
        "refresh_interval" => {
            table.refresh_interval_ms = text
                .trim_end_matches("ms")
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("Invalid refresh_interval: {text}")))?
        }
        "column_policy" => {
            table.column_policy = ColumnPolicy::parse(&text)
                .filter(|p| *p != ColumnPolicy::Ignored)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "Invalid value for argument 'column_policy': {text}"
                    ))
                })?
        }
        "number_of_routing_shards"
        | "blocks.read_only"
        | "blocks.read_only_allow_delete"
        | "blocks.read"
        | "blocks.write"
        | "blocks.metadata"
        | "codec"
        | "store.type"
        | "translog.durability"
        | "translog.flush_threshold_size"
        | "translog.sync_interval"
        | "routing.allocation.total_shards_per_node"
        | "allocation.max_retries"
        | "write.wait_for_active_shards"
        | "routing.allocation.enable"
        | "soft_deletes.retention_lease.period"
        | "max_ngram_diff"
        | "max_shingle_diff"
        | "warmer.enabled"
        | "merge.scheduler.max_thread_count" => {
            table.settings.insert(key.to_string(), setting_value(v));
        }
        crate::catalog::DELAYED_TIMEOUT => {
            crate::catalog::parse_time_value(&text).map_err(|_| {
                Error::InvalidArgument(format!(
                    "failed to parse setting [{key}] with value [{text}] as a time value: unit \
                     is missing or unrecognized"
                ))
            })?;
            table.settings.insert(key.to_string(), setting_value(v));
        }
        crate::catalog::MAPPING_DEPTH_LIMIT | crate::catalog::TOTAL_FIELDS_LIMIT => {
            let max = if key == crate::catalog::MAPPING_DEPTH_LIMIT {
                crate::limits::MAX_MAPPING_DEPTH
            } else {
                crate::catalog::MAX_TOTAL_FIELDS
            };
            let n = text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "Failed to parse value [{text}] for setting [{key}]: must be an integer \
                         between 1 and {max}"
                    ))
                })?;
            table.settings.insert(key.to_string(), serde_json::json!(n));
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "Invalid property \"{other}\" passed to [ALTER | CREATE] TABLE statement"
            )));
        }
    }
    Ok(())
}

impl Node {
    pub(super) fn resolve_user_table(
        &self,
        session: &Session,
        name: &ObjectName,
    ) -> Result<Arc<TableInfo>> {
        let ident = table_ident(session, name)?;
        let catalog = self.catalog();
        match catalog.table(&ident) {
            Some(t) => Ok(t.clone()),
            None if !catalog.schema_exists(&ident.schema) => {
                Err(Error::SchemaUnknown(ident.schema))
            }
            None if crate::catalog::SYSTEM_SCHEMAS.contains(&ident.schema.as_str()) => {
                Err(Error::Unsupported(format!(
                    "The relation \"{ident}\" doesn't support or allow this operation, as it is read-only."
                )))
            }
            None => Err(Error::RelationUnknown(name_parts(name).join("."))),
        }
    }

    pub(super) async fn create_table(
        &self,
        session: &Session,
        ct: &CreateTable,
    ) -> Result<QueryResult> {
        let ident = table_ident(session, &ct.name)?;
        if crate::catalog::SYSTEM_SCHEMAS.contains(&ident.schema.as_str()) || ident.schema == "blob"
        {
            return Err(Error::Unsupported(format!(
                "Cannot create relation in read-only schema: {}",
                ident.schema
            )));
        }
        let table = table_from_create(ident.clone(), ct)?;
        let _ddl = self.ddl.lock().await;
        // The shards open as the new catalog is applied. The check is part
        // of the decision: in a cluster, another node may create it first.
        let created = self
            .update_catalog(|c| {
                if c.table(&ident).is_some() || c.view(&ident).is_some() {
                    if ct.if_not_exists {
                        return Ok(false);
                    }
                    return Err(Error::RelationExists(ident.to_string()));
                }
                let mut table = table.clone();
                attach_analyzers(&mut table, c.analyzers())?;
                c.put_table(table);
                Ok(true)
            })
            .await?;
        Ok(QueryResult::affected(i64::from(created)))
    }

    /// `CREATE ANALYZER`: validated against the built-ins and the cluster's
    /// custom analyzers, then stored in the catalog. Replacing an analyzer
    /// changes no table: tables keep the definitions they were created with.
    pub(super) async fn create_analyzer(&self, def: &AnalyzerDef) -> Result<QueryResult> {
        let _ddl = self.ddl.lock().await;
        self.update_catalog(|c| {
            analysis::validate(def, c.analyzers())?;
            let def = inherit(def, c.analyzers());
            c.put_analyzer(def);
            Ok(())
        })
        .await?;
        Ok(QueryResult::affected(1))
    }

    /// `DROP ANALYZER`: refused while a table or another analyzer uses it.
    pub(super) async fn drop_analyzer(&self, name: &str) -> Result<QueryResult> {
        let _ddl = self.ddl.lock().await;
        self.update_catalog(|c| {
            if !c.analyzers().contains_key(name) {
                return Err(Error::InvalidArgument(format!(
                    "Analyzer '{name}' does not exist"
                )));
            }
            if let Some(t) = c
                .tables()
                .find(|t| t.fulltext_indexes.iter().any(|i| i.analyzer == name))
            {
                return Err(Error::InvalidArgument(format!(
                    "Cannot drop analyzer '{name}': table {} uses it",
                    t.ident
                )));
            }
            c.remove_analyzer(name);
            Ok(())
        })
        .await?;
        Ok(QueryResult::affected(1))
    }

    pub(super) async fn drop_table(
        &self,
        session: &Session,
        name: &ObjectName,
        if_exists: bool,
    ) -> Result<QueryResult> {
        let table = match self.resolve_user_table(session, name) {
            Ok(t) => t,
            Err(Error::RelationUnknown(_) | Error::SchemaUnknown(_)) if if_exists => {
                return Ok(QueryResult::affected(0));
            }
            Err(e) => return Err(e),
        };
        let _ddl = self.ddl.lock().await;
        // The shards are deleted as the new catalog is applied.
        self.update_catalog(|c| {
            c.remove_table(&table.ident);
            Ok(())
        })
        .await?;
        Ok(QueryResult::affected(1))
    }

    pub(super) async fn alter_table(
        &self,
        session: &Session,
        name: &ObjectName,
        action: &AlterAction,
        _ctx: &EvalCtx,
    ) -> Result<QueryResult> {
        let table = self.resolve_user_table(session, name)?;
        match action {
            AlterAction::AddColumns(defs) => {
                let mut infos = Vec::with_capacity(defs.len());
                for d in defs {
                    if d.primary_key {
                        return Err(Error::Unsupported(
                            "Cannot add a primary key column to a table".into(),
                        ));
                    }
                    infos.push(column_info(d)?);
                }
                let custom = self.catalog().analyzers().clone();
                let ident = table.ident.clone();
                self.replace_table(
                    |t| {
                        for info in infos.iter().cloned() {
                            if t.column(&info.name).is_some() {
                                return Err(Error::Parse(format!(
                                    "The table {} already has a column named {}",
                                    t.ident, info.name
                                )));
                            }
                            if let Some(g) = &info.generated_expr {
                                bind_over_columns(&t.columns, g)?;
                            }
                            t.columns.push(info);
                        }
                        for d in defs {
                            if let IndexSpec::Fulltext { analyzer } = &d.index {
                                if t.fulltext_index(&d.name).is_some() {
                                    return Err(Error::Parse(format!(
                                        "Index name '{}' already used",
                                        d.name
                                    )));
                                }
                                t.fulltext_indexes.push(FulltextIndex {
                                    name: d.name.clone(),
                                    columns: vec![d.name.clone()],
                                    analyzer: analyzer.clone(),
                                    column_level: true,
                                });
                            }
                        }
                        check_fulltext_columns(t)?;
                        attach_analyzers(t, &custom)?;
                        Ok(true)
                    },
                    &ident,
                )
                .await?;
                // CrateDB reports ALTER TABLE with a row count of -1.
                Ok(QueryResult::affected(-1))
            }
            AlterAction::Set(opts) => {
                let ident = table.ident.clone();
                self.replace_table(
                    |t| {
                        for (k, v) in opts {
                            if k == "number_of_shards" {
                                return Err(Error::Unsupported(
                                    "Changing the number of shards is not supported yet".into(),
                                ));
                            }
                            apply_setting(t, k, v)?;
                        }
                        Ok(true)
                    },
                    &ident,
                )
                .await?;
                // CrateDB reports ALTER TABLE with a row count of -1.
                Ok(QueryResult::affected(-1))
            }
            AlterAction::RenameTo(to) => {
                self.rename_table(session, &table, to).await?;
                Ok(QueryResult::affected(-1))
            }
            AlterAction::Reset(keys) => {
                let ident = table.ident.clone();
                self.replace_table(
                    |t| {
                        for k in keys {
                            match k.as_str() {
                                "number_of_replicas" => {
                                    t.number_of_replicas = ReplicaSetting("0-1".into())
                                }
                                "refresh_interval" => t.refresh_interval_ms = 1000,
                                "column_policy" => t.column_policy = ColumnPolicy::Dynamic,
                                other => {
                                    t.settings.remove(other);
                                }
                            }
                        }
                        Ok(true)
                    },
                    &ident,
                )
                .await?;
                // CrateDB reports ALTER TABLE with a row count of -1.
                Ok(QueryResult::affected(-1))
            }
        }
    }

    pub(super) async fn refresh_tables(
        &self,
        session: &Session,
        names: &[ObjectName],
    ) -> Result<QueryResult> {
        if self.coordinator().is_some() {
            // Recovering copies too: they get every new write, and may be
            // started by the time the next query reads.
            let refresh = |shard| ShardRequest::Refresh { shard };
            return self.on_every_copy(session, names, true, refresh).await;
        }
        self.on_every_shard(session, names, "refresh", |s| async move {
            s.refresh().await.map(|_| ())
        })
        .await
    }

    /// Runs `work` on every shard of the named tables at once, so each
    /// shard builds or merges segments on its own thread; one row per table.
    async fn on_every_shard<F, Fut>(
        &self,
        session: &Session,
        names: &[ObjectName],
        what: &str,
        work: F,
    ) -> Result<QueryResult>
    where
        F: Fn(Arc<Shard>) -> Fut,
        Fut: std::future::Future<Output = Result<()>> + Send + 'static,
    {
        let mut tables = Vec::with_capacity(names.len());
        for n in names {
            tables.push(self.resolve_user_table(session, n)?);
        }
        let mut handles = Vec::new();
        for t in &tables {
            for s in self.shards_of(&t.uuid) {
                handles.push(crate::runtime::spawn(work(s)));
            }
        }
        for h in handles {
            h.await
                .map_err(|e| Error::internal(format!("{what} task failed: {e}")))??;
        }
        Ok(QueryResult::affected(tables.len() as i64))
    }

    /// `ALTER TABLE t RENAME TO u`: a catalog change only, because shards
    /// are stored under the table's uuid, not its name.
    async fn rename_table(
        &self,
        session: &Session,
        table: &TableInfo,
        to: &ObjectName,
    ) -> Result<()> {
        let mut target = table_ident(session, to)?;
        if to.0.len() == 1 {
            // An unqualified new name stays in the table's schema.
            target.schema = table.ident.schema.clone();
        } else if target.schema != table.ident.schema {
            return Err(Error::Unsupported(
                "A relation cannot be renamed to a different schema".into(),
            ));
        }
        let _ddl = self.ddl.lock().await;
        let renamed = self
            .update_catalog(|c| {
                if c.table(&target).is_some() {
                    return Err(Error::RelationExists(target.to_string()));
                }
                let old = c
                    .remove_table(&table.ident)
                    .ok_or_else(|| Error::RelationUnknown(table.ident.to_string()))?;
                let mut renamed = (*old).clone();
                renamed.ident = target.clone();
                renamed.version += 1;
                c.put_table(renamed);
                c.table(&target)
                    .cloned()
                    .ok_or_else(|| Error::internal("renamed table missing"))
            })
            .await?;
        debug_assert!(
            self.shards_of(&renamed.uuid)
                .iter()
                .all(|s| s.table().ident == renamed.ident),
            "applying the catalog hands the renamed table to its shards"
        );
        Ok(())
    }

    pub(super) async fn optimize_tables(
        &self,
        session: &Session,
        names: &[ObjectName],
        with: &[(String, sqlparser::ast::Expr)],
    ) -> Result<QueryResult> {
        let options = OptimizeOptions::parse(with)?;
        if self.coordinator().is_some() {
            let optimize = |shard| ShardRequest::Optimize {
                shard,
                max_num_segments: options.max_num_segments,
                only_expunge_deletes: options.only_expunge_deletes,
                flush: options.flush,
            };
            return self.on_every_copy(session, names, false, optimize).await;
        }
        self.on_every_shard(session, names, "optimize", |s| async move {
            s.refresh().await?;
            s.force_merge(options.max_num_segments, options.only_expunge_deletes)
                .await?;
            if options.flush {
                s.flush().await?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn show(
        &self,
        session: &Session,
        show: &Show,
        ctx: EvalCtx,
    ) -> Result<QueryResult> {
        let sql = match show {
            Show::Tables { schema } => format!(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = '{}' AND table_type = 'BASE TABLE' ORDER BY 1",
                schema
                    .clone()
                    .unwrap_or_else(|| session.default_schema.clone())
                    .replace('\'', "''")
            ),
            Show::Schemas => {
                "SELECT schema_name FROM information_schema.schemata ORDER BY 1".into()
            }
            Show::Columns { table } => {
                let t = self.resolve_user_table(session, table)?;
                format!(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '{}' AND table_name = '{}' ORDER BY ordinal_position",
                    t.ident.schema.replace('\'', "''"),
                    t.ident.name.replace('\'', "''")
                )
            }
            Show::CreateView { view } => return self.show_create_view(session, view),
            Show::CreateTable { table } => {
                let t = self.resolve_user_table(session, table)?;
                return Ok(QueryResult {
                    cols: vec![format!("SHOW CREATE TABLE {}", t.ident)],
                    types: vec![DataType::Text],
                    rows: vec![vec![Value::Text(show_create(&t))]],
                    rowcount: 1,
                });
            }
            Show::Setting { name } => {
                let value = match name.as_str() {
                    "search_path" => session.default_schema.clone(),
                    "transaction_isolation" | "transaction isolation level" => {
                        "read committed".into()
                    }
                    "server_version" => "14.0".into(),
                    "timezone" | "time zone" => "UTC".into(),
                    _ => {
                        return Err(Error::Parse(format!(
                            "Unknown session setting name '{name}'."
                        )));
                    }
                };
                return Ok(QueryResult {
                    cols: vec![name.clone()],
                    types: vec![DataType::Text],
                    rows: vec![vec![Value::Text(value)]],
                    rowcount: 1,
                });
            }
        };
        let stmt = crate::sql::parse_one(&sql)?;
        Box::pin(self.execute_statement(session, &stmt, ctx)).await
    }
}

/// `SHOW CREATE TABLE`: the table as a CREATE TABLE statement.
pub fn show_create(t: &TableInfo) -> String {
    let mut out = format!(
        "CREATE TABLE IF NOT EXISTS \"{}\".\"{}\" (\n",
        t.ident.schema, t.ident.name
    );
    let mut lines: Vec<String> = Vec::new();
    for c in &t.columns {
        let mut line = format!("   \"{}\" {}", c.name, c.data_type.sql_name());
        if let Some(g) = &c.generated_expr {
            line.push_str(&format!(" GENERATED ALWAYS AS {g}"));
        }
        if c.not_null && !t.primary_key.contains(&c.name) {
            line.push_str(" NOT NULL");
        }
        if let Some(d) = &c.default_expr {
            line.push_str(&format!(" DEFAULT {d}"));
        }
        if c.index_off {
            line.push_str(" INDEX OFF");
        }
        if let Some(idx) = t
            .fulltext_indexes
            .iter()
            .find(|i| i.column_level && i.name == c.name)
        {
            line.push_str(&format!(
                " INDEX USING FULLTEXT WITH (\n      analyzer = '{}'\n   )",
                idx.analyzer
            ));
        }
        lines.push(line);
    }
    if !t.primary_key.is_empty() {
        let pk: Vec<String> = t.primary_key.iter().map(|p| format!("\"{p}\"")).collect();
        lines.push(format!("   PRIMARY KEY ({})", pk.join(", ")));
    }
    for idx in t.fulltext_indexes.iter().filter(|i| !i.column_level) {
        let cols: Vec<String> = idx
            .column_paths()
            .iter()
            .map(|(c, path)| {
                let mut s = format!("\"{c}\"");
                for p in path {
                    s.push_str(&format!("['{p}']"));
                }
                s
            })
            .collect();
        lines.push(format!(
            "   INDEX \"{}\" USING FULLTEXT ({}) WITH (\n      analyzer = '{}'\n   )",
            idx.name,
            cols.join(", "),
            idx.analyzer
        ));
    }
    out.push_str(&lines.join(",\n"));
    out.push_str("\n)\n");
    out.push_str(&format!(
        "CLUSTERED{} INTO {} SHARDS\n",
        t.clustered_by
            .as_ref()
            .map(|c| format!(" BY (\"{c}\")"))
            .unwrap_or_default(),
        t.num_shards
    ));
    out.push_str(&format!(
        "WITH (\n   column_policy = '{}',\n   number_of_replicas = '{}',\n   refresh_interval = {}\n)",
        t.column_policy.as_str(),
        t.number_of_replicas.0,
        t.refresh_interval_ms
    ));
    out
}

/// Adds dynamically discovered columns to a table.
pub(crate) fn add_dynamic_columns(
    t: &mut TableInfo,
    cols: &[(String, Vec<String>, DataType)],
) -> Result<bool> {
    let mut changed = false;
    for (col, path, ty) in cols {
        changed |= add_column_path(t, col, path, ty.clone())?;
    }
    Ok(changed)
}

/// The `WITH` options of `OPTIMIZE TABLE`, as CrateDB names them.
#[derive(Clone, Copy)]
struct OptimizeOptions {
    max_num_segments: Option<usize>,
    only_expunge_deletes: bool,
    flush: bool,
}

impl OptimizeOptions {
    fn parse(with: &[(String, sqlparser::ast::Expr)]) -> Result<OptimizeOptions> {
        let mut o = OptimizeOptions {
            max_num_segments: None,
            only_expunge_deletes: false,
            flush: true,
        };
        let flag = |key: &str, text: &str| match text.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(Error::InvalidArgument(format!(
                "Can't convert \"{text}\" to boolean for parameter {key}"
            ))),
        };
        for (key, v) in with {
            let text = expr_text(v);
            match key.as_str() {
                "max_num_segments" => {
                    let n = text
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            Error::InvalidArgument(format!(
                                "max_num_segments must be a positive integer, got {text}"
                            ))
                        })?;
                    o.max_num_segments = Some(n);
                }
                "only_expunge_deletes" => o.only_expunge_deletes = flag(key, &text)?,
                "flush" => o.flush = flag(key, &text)?,
                // Segments are always written in the current format.
                "upgrade_segments" => {
                    flag(key, &text)?;
                }
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "Setting '{other}' is not supported"
                    )));
                }
            }
        }
        if o.only_expunge_deletes && o.max_num_segments.is_some() {
            return Err(Error::InvalidArgument(
                "cannot set only_expunge_deletes and max_num_segments".into(),
            ));
        }
        Ok(o)
    }
}
