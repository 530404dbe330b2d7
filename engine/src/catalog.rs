//! The catalog: schemas, tables and their columns.
//!
//! This is the metadata half of the cluster state. A [`TableInfo`] records
//! everything CREATE TABLE said (columns, primary key, routing column, shard
//! count, settings) plus the columns that dynamic inserts added later. The
//! catalog is versioned and serialisable, so that it can be persisted and, in
//! a cluster, replicated.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::analysis::AnalyzerDef;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::stats::TableStats;
use crate::types::{ColumnPolicy, DataType, ObjectField};

/// Schemas that always exist and hold system tables.
pub const SYSTEM_SCHEMAS: &[&str] = &["information_schema", "pg_catalog", "sys"];
/// The default schema.
pub const DEFAULT_SCHEMA: &str = "doc";

/// A table's fully qualified name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TableIdent {
    pub schema: String,
    pub name: String,
}

impl TableIdent {
    /// A new identifier.
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> TableIdent {
        TableIdent {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for TableIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// A top-level column of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: DataType,
    #[serde(default)]
    pub not_null: bool,
    /// The DEFAULT expression, as SQL text.
    #[serde(default)]
    pub default_expr: Option<String>,
    /// The GENERATED ALWAYS AS expression, as SQL text.
    #[serde(default)]
    pub generated_expr: Option<String>,
    /// A CHECK constraint expression, as SQL text.
    #[serde(default)]
    pub check_expr: Option<String>,
    /// `INDEX OFF`: stored, not searchable.
    #[serde(default)]
    pub index_off: bool,
}

/// A full-text index over one or more text columns: a named index
/// (`INDEX name USING FULLTEXT (a, obj['b'])`) or a column's own
/// (`a TEXT INDEX USING FULLTEXT`, named after the column). Each is a tantivy
/// field of its own, analyzed by `analyzer`, in the order the table lists
/// them (see [`crate::storage::fulltext`]): indexes are only ever appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FulltextIndex {
    pub name: String,
    /// The indexed column paths, as SQL writes them (`a`, `obj['b']`).
    pub columns: Vec<String>,
    pub analyzer: String,
    /// Declared on the column itself rather than as a named index.
    #[serde(default)]
    pub column_level: bool,
}

impl FulltextIndex {
    /// The indexed columns as (top-level column, path below it).
    pub fn column_paths(&self) -> Vec<(String, Vec<String>)> {
        self.columns.iter().map(|c| split_column_path(c)).collect()
    }
}

/// The custom analyzer `name` and those it extends, from `custom`; empty
/// for a built-in analyzer; an error for one that does not exist.
pub fn analyzer_chain(
    name: &str,
    custom: &BTreeMap<String, AnalyzerDef>,
) -> Result<BTreeMap<String, AnalyzerDef>> {
    let mut chain = BTreeMap::new();
    let mut next = Some(name.to_string());
    while let Some(n) = next.take() {
        if chain.contains_key(&n) {
            break;
        }
        match custom.get(&n) {
            Some(def) => {
                next = def.extends.clone();
                chain.insert(n, def.clone());
            }
            None if crate::analysis::builtin_analyzers().contains(&n.as_str()) => {}
            None => {
                return Err(Error::InvalidArgument(format!(
                    "Failed to get analyzer '{n}': analyzer not found"
                )));
            }
        }
    }
    Ok(chain)
}

/// Splits `obj['a']['b']` into `("obj", ["a", "b"])`; a plain name has no path.
pub fn split_column_path(text: &str) -> (String, Vec<String>) {
    let Some(open) = text.find("['") else {
        return (text.to_string(), Vec::new());
    };
    let mut path = Vec::new();
    let mut rest = &text[open..];
    while let Some(r) = rest.strip_prefix("['") {
        match r.find("']") {
            Some(end) => {
                path.push(r[..end].to_string());
                rest = &r[end + 2..];
            }
            None => break,
        }
    }
    (text[..open].to_string(), path)
}

/// How many replicas each shard should have: a fixed count or an auto-expand range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaSetting(pub String);

impl ReplicaSetting {
    /// Parses `'1'`, `'0-1'`, `'0-all'`.
    pub fn parse(s: &str) -> Result<ReplicaSetting> {
        let t = s.trim();
        let ok = match t.split_once('-') {
            Some((a, b)) => a.parse::<u32>().is_ok() && (b == "all" || b.parse::<u32>().is_ok()),
            None => t.parse::<u32>().is_ok(),
        };
        if ok {
            Ok(ReplicaSetting(t.to_string()))
        } else {
            Err(Error::InvalidArgument(format!(
                "Failed to parse value [{t}] for setting [number_of_replicas]"
            )))
        }
    }

    /// The number of replicas wanted on a cluster of `nodes` data nodes.
    pub fn wanted(&self, nodes: usize) -> u32 {
        let max_possible = nodes.saturating_sub(1) as u32;
        match self.0.split_once('-') {
            Some((a, b)) => {
                let min: u32 = a.parse().unwrap_or(0);
                let max = if b == "all" {
                    max_possible
                } else {
                    b.parse().unwrap_or(0)
                };
                max_possible.clamp(min, max.max(min))
            }
            None => self.0.parse().unwrap_or(0),
        }
    }

    /// The lower bound (what `information_schema.tables.number_of_replicas` shows for ranges).
    pub fn display(&self) -> String {
        self.0.clone()
    }
}

/// How a table's routing values pick shards. Recorded per table, so that a
/// data directory written with one function keeps finding its rows when the
/// default changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingHash {
    /// Shoal's first function, the primary-key index's FNV-1a hash modulo
    /// the shard count: tables created before December 2026 (whose catalog
    /// entries have no `routing_hash`).
    #[default]
    Fnv,
    /// CrateDB's (and Elasticsearch 7's): Murmur3 (x86, 32 bits, seed 0) of
    /// the routing value's UTF-16 code units, floor-modulo the default
    /// `number_of_routing_shards`, each shard taking a run of those slots.
    Murmur3,
}

/// Everything the cluster knows about a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableInfo {
    pub ident: TableIdent,
    /// A unique id: names the table's shard directories, survives renames.
    pub uuid: String,
    pub columns: Vec<ColumnInfo>,
    pub primary_key: Vec<String>,
    pub clustered_by: Option<String>,
    pub partitioned_by: Vec<String>,
    pub num_shards: u32,
    pub number_of_replicas: ReplicaSetting,
    pub refresh_interval_ms: u64,
    pub column_policy: ColumnPolicy,
    #[serde(default)]
    pub fulltext_indexes: Vec<FulltextIndex>,
    #[serde(default)]
    pub checks: Vec<String>,
    /// Other WITH settings, kept verbatim for introspection.
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Bumped on every change of the table's metadata.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub routing_hash: RoutingHash,
    /// The custom analyzers the table's full-text indexes use, copied from
    /// the cluster's at CREATE TABLE / ADD COLUMN (as CrateDB keeps them in
    /// the index settings): a table keeps analyzing as it was created, and a
    /// shard needs nothing but its table to build segments.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub analyzers: BTreeMap<String, AnalyzerDef>,
    /// The DEFAULT, GENERATED and CHECK expressions bound, once per table
    /// version (see [`TableInfo::bound_exprs`]).
    #[serde(skip)]
    pub bound: BoundOnce,
    /// What the storage layer derives from the table (its segment schema
    /// and analyzers), once per table version.
    #[serde(skip)]
    pub derived: DerivedOnce,
}

/// A table's column expressions, bound (parsed, resolved and typed).
#[derive(Debug, Default)]
pub struct ColumnExprs {
    /// Column name and its DEFAULT, coerced to the column's type.
    pub defaults: Vec<(String, Expr)>,
    /// Column index, name, GENERATED expression (coerced) and its SQL text.
    pub generated: Vec<(usize, String, Expr, String)>,
    /// CHECK constraints (column and table level) and their SQL text.
    pub checks: Vec<(Expr, String)>,
}

/// A value computed from a table on first use. A table is shared as an
/// `Arc` while it does not change, and a changed table is a new value:
/// cloning starts empty, so no clone keeps a value of another version.
pub struct PerVersion<T>(OnceLock<T>);

impl<T> PerVersion<T> {
    /// The value, computed by `f` the first time.
    pub fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(f)
    }
}

impl<T> Default for PerVersion<T> {
    fn default() -> Self {
        PerVersion(OnceLock::new())
    }
}

impl<T> Clone for PerVersion<T> {
    fn clone(&self) -> Self {
        PerVersion::default()
    }
}

impl<T> PartialEq for PerVersion<T> {
    /// A cache: never part of a table's identity.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> fmt::Debug for PerVersion<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "PerVersion(computed)"
        } else {
            "PerVersion(empty)"
        })
    }
}

/// Bound column expressions ([`TableInfo::bound_exprs`]).
pub type BoundOnce = PerVersion<Result<Arc<ColumnExprs>>>;

/// A value derived from a table by a layer above the catalog (which
/// cannot name its type): the storage layer's segment schema and analyzers.
pub type DerivedOnce = PerVersion<Arc<dyn std::any::Any + Send + Sync>>;

impl TableInfo {
    /// The table's column expressions bound by `bind` the first time they
    /// are asked for, then reused by every statement on this version.
    pub fn bound_exprs(
        &self,
        bind: impl FnOnce(&TableInfo) -> Result<ColumnExprs>,
    ) -> Result<Arc<ColumnExprs>> {
        self.bound.get_or_init(|| bind(self).map(Arc::new)).clone()
    }

    /// A table `doc.t` without columns, for tests.
    #[cfg(test)]
    pub fn for_tests(primary_key: &[&str], num_shards: u32) -> TableInfo {
        TableInfo {
            ident: TableIdent::new("doc", "t"),
            uuid: "u1".into(),
            columns: vec![],
            primary_key: primary_key.iter().map(|c| c.to_string()).collect(),
            clustered_by: None,
            partitioned_by: vec![],
            num_shards,
            number_of_replicas: ReplicaSetting("0".into()),
            refresh_interval_ms: 1000,
            column_policy: ColumnPolicy::Dynamic,
            fulltext_indexes: vec![],
            checks: vec![],
            settings: Default::default(),
            version: 1,
            routing_hash: RoutingHash::Murmur3,
            analyzers: BTreeMap::new(),
            bound: Default::default(),
            derived: Default::default(),
        }
    }

    /// The full-text index `name` (a named index or a column's own).
    pub fn fulltext_index(&self, name: &str) -> Option<&FulltextIndex> {
        self.fulltext_indexes.iter().find(|i| i.name == name)
    }

    /// The top-level column `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The top-level column `name`, looked for at position `hint` first
    /// (rows walked in order usually hold the table's columns in order).
    pub fn column_near(&self, hint: usize, name: &str) -> Option<&ColumnInfo> {
        match self.columns.get(hint) {
            Some(c) if c.name == name => Some(c),
            _ => self.column(name),
        }
    }

    /// The type at a column path (`obj`, `obj['a']['b']`), if known.
    pub fn type_at(&self, column: &str, path: &[String]) -> Option<DataType> {
        let mut ty = self.column(column)?.data_type.clone();
        for key in path {
            ty = match ty.element() {
                DataType::Object(o) => {
                    let t = o.field(key)?.clone();
                    if matches!(ty, DataType::Array(_)) {
                        DataType::Array(Box::new(t))
                    } else {
                        t
                    }
                }
                _ => return None,
            };
        }
        Some(ty)
    }

    /// The routing column: CLUSTERED BY, else the single primary-key column,
    /// else none (routing by `_id`).
    pub fn routing_column(&self) -> Option<&str> {
        self.clustered_by.as_deref()
    }

    /// Whether a table has a primary key (else `_id` is generated).
    pub fn has_primary_key(&self) -> bool {
        !self.primary_key.is_empty()
    }

    /// `unassigned.node_left.delayed_timeout`: how long the replicas of a
    /// node that left wait for it before they are re-created elsewhere.
    pub fn delayed_timeout(&self) -> std::time::Duration {
        self.settings
            .get(DELAYED_TIMEOUT)
            .and_then(|v| match v {
                serde_json::Value::String(s) => parse_time_value(s).ok(),
                serde_json::Value::Number(n) => n.as_u64().map(std::time::Duration::from_millis),
                _ => None,
            })
            .unwrap_or(DEFAULT_DELAYED_TIMEOUT)
    }

    /// `allocation.max_retries`: failed allocations of a copy in a row
    /// after which it waits for `ALTER CLUSTER REROUTE RETRY FAILED`.
    pub fn max_retries(&self) -> u32 {
        self.usize_setting("allocation.max_retries")
            .map_or(DEFAULT_MAX_RETRIES, |n| n.min(u32::MAX as usize) as u32)
    }

    /// The replica count wanted on `nodes` nodes.
    pub fn replicas_wanted(&self, nodes: usize) -> u32 {
        self.number_of_replicas.wanted(nodes)
    }

    /// `mapping.depth.limit`: how deep a column may nest objects and arrays,
    /// counting a top-level column as 1 (Elasticsearch's definition).
    pub fn mapping_depth_limit(&self) -> usize {
        self.usize_setting(MAPPING_DEPTH_LIMIT)
            .unwrap_or(crate::limits::DEFAULT_MAPPING_DEPTH)
    }

    /// `mapping.total_fields.limit`: how many columns, nested ones included,
    /// a table may have.
    pub fn total_fields_limit(&self) -> usize {
        self.usize_setting(TOTAL_FIELDS_LIMIT)
            .unwrap_or(DEFAULT_TOTAL_FIELDS)
    }

    fn usize_setting(&self, key: &str) -> Option<usize> {
        match self.settings.get(key)? {
            serde_json::Value::Number(n) => n.as_u64().map(|n| n as usize),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// Checks the columns against the table's mapping limits; every table
    /// is checked before it is stored, so that an accepted schema always
    /// reads back and never grows without bound.
    pub fn check_mapping(&self) -> Result<()> {
        let depth_limit = self.mapping_depth_limit();
        let mut fields = 0usize;
        // (type, its column path, its depth): an explicit stack, because a
        // type arriving here may be as deep as the statement that made it.
        let mut pending: Vec<(&DataType, String, usize)> = self
            .columns
            .iter()
            .map(|c| (&c.data_type, c.name.clone(), 1))
            .collect();
        while let Some((ty, path, depth)) = pending.pop() {
            fields += 1;
            if depth > depth_limit {
                return Err(Error::InvalidArgument(format!(
                    "Limit of mapping depth [{depth_limit}] has been exceeded due to object \
                     field [{path}]"
                )));
            }
            match ty {
                DataType::Array(inner) => pending.push((inner, path, depth + 1)),
                DataType::Object(o) => {
                    for f in &o.fields {
                        pending.push((&f.data_type, format!("{path}['{}']", f.name), depth + 1));
                    }
                }
                _ => {}
            }
        }
        let limit = self.total_fields_limit();
        if fields > limit {
            return Err(Error::InvalidArgument(format!(
                "Limit of total fields [{limit}] has been exceeded"
            )));
        }
        Ok(())
    }
}

/// The table setting that bounds how deep columns nest.
/// The default of `allocation.max_retries` (Elasticsearch's).
pub const DEFAULT_MAX_RETRIES: u32 = 5;

/// The table setting for delayed allocation after a node left.
pub const DELAYED_TIMEOUT: &str = "unassigned.node_left.delayed_timeout";
/// Its default, as CrateDB's.
pub const DEFAULT_DELAYED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Parses an Elasticsearch time value: a number and a unit (`ms`, `s`,
/// `m`, `h`, `d`), or `0`.
pub fn parse_time_value(text: &str) -> Result<std::time::Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let fail = || {
        Error::InvalidArgument(format!(
            "failed to parse [{text}], must be a time value such as 30s, 500ms or 1m"
        ))
    };
    let n: u64 = n.parse().map_err(|_| fail())?;
    let ms = match unit {
        "" if n == 0 => 0,
        "ms" => n,
        "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        "d" => n.saturating_mul(86_400_000),
        _ => return Err(fail()),
    };
    Ok(std::time::Duration::from_millis(ms))
}

pub const MAPPING_DEPTH_LIMIT: &str = "mapping.depth.limit";
/// The table setting that bounds how many columns a table has.
pub const TOTAL_FIELDS_LIMIT: &str = "mapping.total_fields.limit";
/// The default of `mapping.total_fields.limit` (Elasticsearch's and CrateDB's).
pub const DEFAULT_TOTAL_FIELDS: usize = 1000;
/// The highest `mapping.total_fields.limit` a table may set: the catalog is
/// rewritten whole on every schema change, so it must stay small.
pub const MAX_TOTAL_FIELDS: usize = 10_000;

/// Checks a column name, or (not `top_level`) the key of an object column,
/// as CrateDB does. Names are paths in the index (`doc.o.k`), so a dot,
/// a bracket or a quote would make two columns one; a leading `_` is kept
/// for system columns.
pub fn check_column_name(name: &str, top_level: bool) -> Result<()> {
    if top_level && name.starts_with('_') {
        return Err(Error::InvalidColumnName(format!(
            "\"{name}\" conflicts with system column pattern"
        )));
    }
    if name.contains('.') {
        return Err(Error::InvalidColumnName(format!(
            "\"{name}\" contains a dot"
        )));
    }
    if name.is_empty()
        || name.contains(['[', ']', '\'', '"', '\\'])
        || name.chars().any(char::is_control)
    {
        return Err(Error::InvalidColumnName(format!(
            "\"{name}\" contains illegal characters"
        )));
    }
    Ok(())
}

/// How deep a value nests objects and arrays: 0 for a scalar, 1 for an
/// array of scalars, and so on. Iterative, for values of any depth.
pub fn value_nesting(v: &crate::types::Value) -> usize {
    use crate::types::Value;
    let mut deepest = 0;
    let mut pending = vec![(v, 0usize)];
    while let Some((v, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        match v {
            Value::Array(items) => pending.extend(items.iter().map(|x| (x, depth + 1))),
            Value::Object(o) => pending.extend(o.values().map(|x| (x, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// Adds `path` (below top-level `column`) with type `ty` to a table, creating
/// intermediate objects. Returns whether anything changed.
pub fn add_column_path(
    table: &mut TableInfo,
    column: &str,
    path: &[String],
    ty: DataType,
) -> Result<bool> {
    if path.is_empty() {
        if table.column(column).is_some() {
            return Ok(false);
        }
        table.columns.push(ColumnInfo {
            name: column.to_string(),
            data_type: ty,
            not_null: false,
            default_expr: None,
            generated_expr: None,
            check_expr: None,
            index_off: false,
        });
        return Ok(true);
    }
    let Some(col) = table.columns.iter_mut().find(|c| c.name == column) else {
        return Err(Error::ColumnUnknown(column.to_string()));
    };
    fn descend(ty: &mut DataType, path: &[String], leaf: DataType) -> bool {
        let target = match ty {
            DataType::Array(inner) => inner.as_mut(),
            other => other,
        };
        let DataType::Object(obj) = target else {
            return false;
        };
        let (key, rest) = (&path[0], &path[1..]);
        match obj.fields.iter_mut().find(|f| &f.name == key) {
            Some(_) if rest.is_empty() => false,
            Some(f) => descend(&mut f.data_type, rest, leaf),
            None if rest.is_empty() => {
                obj.fields.push(ObjectField {
                    name: key.clone(),
                    data_type: leaf,
                });
                true
            }
            None => {
                let mut child = DataType::Object(Box::default());
                descend(&mut child, rest, leaf);
                obj.fields.push(ObjectField {
                    name: key.clone(),
                    data_type: child,
                });
                true
            }
        }
    }
    Ok(descend(&mut col.data_type, path, ty))
}

/// A view (`CREATE VIEW`): a named query, kept as its SQL text and
/// planned wherever it is used, so it follows the tables it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewInfo {
    pub ident: TableIdent,
    /// The query, as `SHOW CREATE VIEW` and `information_schema.views` print it.
    pub query: String,
    pub owner: String,
}

/// The set of tables and views, by schema and name. It travels (in the
/// cluster state) in the form it is persisted in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "CatalogFile", into = "CatalogFile")]
pub struct Catalog {
    tables: BTreeMap<TableIdent, Arc<TableInfo>>,
    /// The custom analyzers (CREATE ANALYZER), by name.
    analyzers: BTreeMap<String, AnalyzerDef>,
    views: BTreeMap<TableIdent, ViewInfo>,
    /// What the last `ANALYZE` learnt about each table.
    stats: BTreeMap<TableIdent, Arc<TableStats>>,
    /// Bumped on every change.
    pub version: u64,
}

impl Catalog {
    /// The table `ident`.
    pub fn table(&self, ident: &TableIdent) -> Option<&Arc<TableInfo>> {
        self.tables.get(ident)
    }

    /// All tables, ordered by schema and name.
    pub fn tables(&self) -> impl Iterator<Item = &Arc<TableInfo>> {
        self.tables.values()
    }

    /// Whether a schema exists: a system schema, `doc`, or one holding a table.
    pub fn schema_exists(&self, schema: &str) -> bool {
        schema == DEFAULT_SCHEMA
            || SYSTEM_SCHEMAS.contains(&schema)
            || schema == "blob"
            || self.tables.keys().any(|t| t.schema == schema)
            || self.views.keys().any(|v| v.schema == schema)
    }

    /// The view `ident`.
    pub fn view(&self, ident: &TableIdent) -> Option<&ViewInfo> {
        self.views.get(ident)
    }

    /// All views, ordered by schema and name.
    pub fn views(&self) -> impl Iterator<Item = &ViewInfo> {
        self.views.values()
    }

    /// Adds or replaces a view.
    pub fn put_view(&mut self, view: ViewInfo) {
        self.version += 1;
        self.views.insert(view.ident.clone(), view);
    }

    /// Removes a view, returning it.
    pub fn remove_view(&mut self, ident: &TableIdent) -> Option<ViewInfo> {
        let v = self.views.remove(ident);
        if v.is_some() {
            self.version += 1;
        }
        v
    }

    /// All schema names, sorted.
    pub fn schemas(&self) -> Vec<String> {
        let mut s: Vec<String> = ["blob", "doc", "information_schema", "pg_catalog", "sys"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for schema in self
            .tables
            .keys()
            .chain(self.views.keys())
            .map(|t| &t.schema)
        {
            if !s.contains(schema) {
                s.push(schema.clone());
            }
        }
        s.sort();
        s
    }

    /// Adds or replaces a table.
    pub fn put_table(&mut self, table: TableInfo) {
        self.version += 1;
        self.tables.insert(table.ident.clone(), Arc::new(table));
    }

    /// The custom analyzers, by name.
    pub fn analyzers(&self) -> &BTreeMap<String, AnalyzerDef> {
        &self.analyzers
    }

    /// Adds or replaces a custom analyzer.
    pub fn put_analyzer(&mut self, def: AnalyzerDef) {
        self.version += 1;
        self.analyzers.insert(def.name.clone(), def);
    }

    /// Removes a custom analyzer, returning it.
    pub fn remove_analyzer(&mut self, name: &str) -> Option<AnalyzerDef> {
        let a = self.analyzers.remove(name);
        if a.is_some() {
            self.version += 1;
        }
        a
    }

    /// The statistics of table `ident`, if it was analyzed.
    pub fn stats(&self, ident: &TableIdent) -> Option<&Arc<TableStats>> {
        self.stats.get(ident)
    }

    /// Every analyzed table's statistics, ordered by schema and name.
    pub fn all_stats(&self) -> impl Iterator<Item = (&TableIdent, &Arc<TableStats>)> {
        self.stats.iter()
    }

    /// Replaces the statistics of the tables in `stats` (those of tables
    /// that no longer exist are left out).
    pub fn put_stats(&mut self, stats: BTreeMap<TableIdent, TableStats>) {
        self.version += 1;
        for (ident, s) in stats {
            if self.tables.contains_key(&ident) {
                self.stats.insert(ident, Arc::new(s));
            }
        }
    }

    /// Removes a table, returning it.
    pub fn remove_table(&mut self, ident: &TableIdent) -> Option<Arc<TableInfo>> {
        self.stats.remove(ident);
        let t = self.tables.remove(ident);
        if t.is_some() {
            self.version += 1;
        }
        t
    }

    /// Serialises the catalog for persistence.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self)
            .map_err(|e| Error::internal(format!("cannot serialise catalog: {e}")))
    }

    /// Serialises the catalog and checks that the bytes read back, so that a
    /// catalog that could not be opened again is never written.
    pub fn to_checked_bytes(&self) -> Result<Vec<u8>> {
        let bytes = self.to_bytes()?;
        Catalog::from_bytes(&bytes).map_err(|e| {
            Error::internal(format!(
                "the new catalog would not read back ({e}); nothing was changed"
            ))
        })?;
        Ok(bytes)
    }

    /// Reads a persisted catalog.
    pub fn from_bytes(bytes: &[u8]) -> Result<Catalog> {
        serde_json::from_slice(bytes).map_err(|e| Error::Io(format!("corrupt catalog: {e}")))
    }
}

/// The persisted form of the catalog.
#[derive(Serialize, Deserialize)]
struct CatalogFile {
    version: u64,
    tables: Vec<Arc<TableInfo>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    analyzers: Vec<AnalyzerDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    views: Vec<ViewInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    stats: Vec<(TableIdent, Arc<TableStats>)>,
}

impl From<CatalogFile> for Catalog {
    fn from(file: CatalogFile) -> Catalog {
        Catalog {
            version: file.version,
            tables: file
                .tables
                .into_iter()
                .map(|t| (t.ident.clone(), t))
                .collect(),
            analyzers: file
                .analyzers
                .into_iter()
                .map(|a| (a.name.clone(), a))
                .collect(),
            views: file
                .views
                .into_iter()
                .map(|v| (v.ident.clone(), v))
                .collect(),
            stats: file.stats.into_iter().collect(),
        }
    }
}

impl From<Catalog> for CatalogFile {
    fn from(catalog: Catalog) -> CatalogFile {
        CatalogFile {
            version: catalog.version,
            tables: catalog.tables.into_values().collect(),
            analyzers: catalog.analyzers.into_values().collect(),
            views: catalog.views.into_values().collect(),
            stats: catalog.stats.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn column_expressions_are_bound_once_per_table_version() {
        let table = TableInfo::for_tests(&["id"], 1);
        let calls = std::cell::Cell::new(0);
        let bind = |_: &TableInfo| {
            calls.set(calls.get() + 1);
            Ok(ColumnExprs::default())
        };
        let first = table.bound_exprs(bind).unwrap();
        let again = table.bound_exprs(bind).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(calls.get(), 1);
        // A changed table is a clone: it binds its own expressions.
        let changed = table.clone();
        changed.bound_exprs(bind).unwrap();
        assert_eq!(calls.get(), 2);
        assert_eq!(
            changed, table,
            "the cache is not part of a table's identity"
        );
    }

    use super::*;

    #[test]
    fn catalog_round_trips_through_bytes() {
        let mut c = Catalog::default();
        c.put_table(TableInfo {
            number_of_replicas: ReplicaSetting("0-1".into()),
            ..TableInfo::for_tests(&[], 2)
        });
        assert_eq!(Catalog::from_bytes(&c.to_bytes().unwrap()).unwrap(), c);
    }

    #[test]
    fn a_table_from_an_older_catalog_keeps_its_routing_hash() {
        let mut c = Catalog::default();
        c.put_table(TableInfo::for_tests(&["id"], 4));
        let mut json: serde_json::Value = serde_json::from_slice(&c.to_bytes().unwrap()).unwrap();
        let table = &mut json["tables"][0];
        assert_eq!(table["routing_hash"], "murmur3");
        table.as_object_mut().unwrap().remove("routing_hash");
        let old = Catalog::from_bytes(&serde_json::to_vec(&json).unwrap()).unwrap();
        assert_eq!(old.tables().next().unwrap().routing_hash, RoutingHash::Fnv);
    }

    #[test]
    fn replica_ranges_expand_with_the_cluster() {
        let r = ReplicaSetting::parse("0-1").unwrap();
        assert_eq!(r.wanted(1), 0);
        assert_eq!(r.wanted(3), 1);
        assert_eq!(ReplicaSetting::parse("0-all").unwrap().wanted(4), 3);
        assert_eq!(ReplicaSetting::parse("2").unwrap().wanted(1), 2);
        assert!(ReplicaSetting::parse("x").is_err());
    }
}
