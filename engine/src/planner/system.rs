//! The system tables' names and columns (their rows come from the executor).

use super::plan::SystemTable;
use crate::types::{DataType, ObjectField, ObjectType};

fn obj(fields: &[(&str, DataType)]) -> DataType {
    DataType::Object(Box::new(ObjectType {
        policy: crate::types::ColumnPolicy::Strict,
        fields: fields
            .iter()
            .map(|(n, t)| ObjectField {
                name: n.to_string(),
                data_type: t.clone(),
            })
            .collect(),
    }))
}

fn arr(t: DataType) -> DataType {
    DataType::Array(Box::new(t))
}

/// Looks up a system table: its kind and columns.
pub fn lookup(schema: &str, name: &str) -> Option<(SystemTable, Vec<(String, DataType)>)> {
    use DataType::*;
    let ts = Timestamp { tz: true };
    let (st, cols): (SystemTable, Vec<(&str, DataType)>) = match (schema, name) {
        ("information_schema", "tables") => (
            SystemTable::InfoTables,
            vec![
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
                ("table_type", Text),
                ("number_of_shards", Integer),
                ("number_of_replicas", Text),
                ("clustered_by", Text),
                ("partitioned_by", arr(Text)),
                ("blobs_path", Text),
                ("column_policy", Text),
                ("closed", Boolean),
                ("routing_hash_function", Text),
                ("version", obj(&[("created", Text), ("upgraded", Text)])),
                ("settings", DataType::object()),
                ("self_referencing_column_name", Text),
                ("reference_generation", Text),
            ],
        ),
        ("information_schema", "columns") => (
            SystemTable::InfoColumns,
            vec![
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
                ("column_name", Text),
                ("ordinal_position", Integer),
                ("data_type", Text),
                ("is_nullable", Boolean),
                ("column_default", Text),
                ("is_generated", Text),
                ("generation_expression", Text),
                ("character_maximum_length", Integer),
                ("numeric_precision", Integer),
                ("numeric_scale", Integer),
                ("datetime_precision", Integer),
                ("column_details", DataType::object()),
                ("is_identity", Boolean),
                ("udt_name", Text),
                ("check_action", Integer),
                ("check_references", Text),
            ],
        ),
        ("information_schema", "routines") => (
            SystemTable::InfoRoutines,
            vec![
                ("routine_name", Text),
                ("routine_type", Text),
                ("routine_schema", Text),
                ("specific_name", Text),
                ("routine_body", Text),
                ("routine_definition", Text),
                ("data_type", Text),
                ("is_deterministic", Boolean),
            ],
        ),
        ("information_schema", "schemata") => (
            SystemTable::InfoSchemata,
            vec![("catalog_name", Text), ("schema_name", Text)],
        ),
        ("information_schema", "table_partitions") => (
            SystemTable::InfoTablePartitions,
            vec![
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
                ("partition_ident", Text),
                ("values", DataType::object()),
                ("number_of_shards", Integer),
                ("number_of_replicas", Text),
                ("routing_hash_function", Text),
                ("closed", Boolean),
            ],
        ),
        ("information_schema", "table_constraints") => (
            SystemTable::InfoTableConstraints,
            vec![
                ("constraint_catalog", Text),
                ("constraint_schema", Text),
                ("constraint_name", Text),
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
                ("constraint_type", Text),
                ("is_deferrable", Text),
                ("initially_deferred", Text),
            ],
        ),
        ("information_schema", "key_column_usage") => (
            SystemTable::InfoKeyColumnUsage,
            vec![
                ("constraint_catalog", Text),
                ("constraint_schema", Text),
                ("constraint_name", Text),
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
                ("column_name", Text),
                ("ordinal_position", Integer),
            ],
        ),
        ("information_schema", "views") => (
            SystemTable::InfoViews,
            vec![
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
                ("view_definition", Text),
                ("check_option", Text),
                ("is_updatable", Boolean),
                ("owner", Text),
            ],
        ),
        ("sys", "cluster") => (
            SystemTable::SysCluster,
            vec![
                ("id", Text),
                ("name", Text),
                ("master_node", Text),
                ("settings", DataType::object()),
            ],
        ),
        ("sys", "nodes") => (
            SystemTable::SysNodes,
            vec![
                ("id", Text),
                ("name", Text),
                ("hostname", Text),
                ("rest_url", Text),
                (
                    "port",
                    obj(&[("http", Integer), ("transport", Integer), ("psql", Integer)]),
                ),
                (
                    "version",
                    obj(&[
                        ("number", Text),
                        ("build_hash", Text),
                        ("build_snapshot", Boolean),
                    ]),
                ),
                (
                    "heap",
                    obj(&[("used", BigInt), ("max", BigInt), ("free", BigInt)]),
                ),
                ("load", obj(&[("1", Double), ("5", Double), ("15", Double)])),
                (
                    "mem",
                    obj(&[
                        ("used", BigInt),
                        ("free", BigInt),
                        ("used_percent", SmallInt),
                        ("free_percent", SmallInt),
                    ]),
                ),
                ("os", obj(&[("timestamp", BigInt), ("uptime", BigInt)])),
                (
                    "os_info",
                    obj(&[
                        ("available_processors", Integer),
                        ("name", Text),
                        ("arch", Text),
                        ("version", Text),
                        (
                            "jvm",
                            obj(&[
                                ("version", Text),
                                ("vm_name", Text),
                                ("vm_vendor", Text),
                                ("vm_version", Text),
                            ]),
                        ),
                    ]),
                ),
                (
                    "fs",
                    obj(&[(
                        "total",
                        obj(&[("size", BigInt), ("used", BigInt), ("available", BigInt)]),
                    )]),
                ),
            ],
        ),
        ("sys", "shards") => (
            SystemTable::SysShards,
            vec![
                ("table_name", Text),
                ("schema_name", Text),
                ("partition_ident", Text),
                ("id", Integer),
                ("primary", Boolean),
                ("state", Text),
                ("routing_state", Text),
                ("relocating_node", Text),
                ("num_docs", BigInt),
                ("size", BigInt),
                ("orphan_partition", Boolean),
                ("node", obj(&[("id", Text), ("name", Text)])),
                (
                    "seq_no_stats",
                    obj(&[
                        ("max_seq_no", BigInt),
                        ("local_checkpoint", BigInt),
                        ("global_checkpoint", BigInt),
                    ]),
                ),
                ("min_lucene_version", Text),
                (
                    "translog_stats",
                    obj(&[("size", BigInt), ("uncommitted_operations", Integer)]),
                ),
                ("closed", Boolean),
                ("blob_path", Text),
                ("path", Text),
                (
                    "recovery",
                    obj(&[
                        (
                            "files",
                            obj(&[
                                ("percent", Double),
                                ("recovered", BigInt),
                                ("reused", BigInt),
                                ("used", BigInt),
                            ]),
                        ),
                        (
                            "size",
                            obj(&[
                                ("percent", Double),
                                ("recovered", BigInt),
                                ("reused", BigInt),
                                ("used", BigInt),
                            ]),
                        ),
                        ("stage", Text),
                        ("total_time", BigInt),
                        ("type", Text),
                    ]),
                ),
                // Shoal's own: background maintenance that failed.
                (
                    "maintenance",
                    obj(&[
                        ("refresh_failures", BigInt),
                        ("flush_failures", BigInt),
                        ("merge_failures", BigInt),
                        ("last_failure", Text),
                    ]),
                ),
            ],
        ),
        ("sys", "segments") => (
            SystemTable::SysSegments,
            vec![
                ("table_name", Text),
                ("schema_name", Text),
                ("partition_ident", Text),
                ("shard_id", Integer),
                ("node", obj(&[("id", Text), ("name", Text)])),
                ("segment_name", Text),
                ("num_docs", Integer),
                ("deleted_docs", Integer),
                ("size", BigInt),
                ("memory", BigInt),
                ("committed", Boolean),
                ("search", Boolean),
                ("compound", Boolean),
                ("primary", Boolean),
            ],
        ),
        ("sys", "health") => (
            SystemTable::SysHealth,
            vec![
                ("table_name", Text),
                ("table_schema", Text),
                ("partition_ident", Text),
                ("health", Text),
                ("severity", SmallInt),
                ("missing_shards", Integer),
                ("underreplicated_shards", Integer),
            ],
        ),
        ("sys", "cluster_health") => (
            SystemTable::SysClusterHealth,
            vec![
                ("health", Text),
                ("severity", SmallInt),
                ("description", Text),
                ("pending_tasks", Integer),
                ("missing_shards", Integer),
                ("underreplicated_shards", Integer),
            ],
        ),
        ("sys", "allocations") => (
            SystemTable::SysAllocations,
            vec![
                ("table_schema", Text),
                ("table_name", Text),
                ("partition_ident", Text),
                ("shard_id", Integer),
                ("node_id", Text),
                ("primary", Boolean),
                ("current_state", Text),
                ("explanation", Text),
                ("decisions", arr(DataType::object())),
            ],
        ),
        ("sys", "jobs") => (
            SystemTable::SysJobs,
            vec![
                ("id", Text),
                ("node", DataType::object()),
                ("session_id", Integer),
                ("started", ts.clone()),
                ("stmt", Text),
                ("username", Text),
            ],
        ),
        ("sys", "jobs_log") => (
            SystemTable::SysJobsLog,
            vec![
                ("id", Text),
                ("classification", DataType::object()),
                ("started", ts.clone()),
                ("ended", ts.clone()),
                ("error", Text),
                ("stmt", Text),
                ("username", Text),
                ("node", DataType::object()),
            ],
        ),
        ("sys", "checks") => (
            SystemTable::SysChecks,
            vec![
                ("id", Integer),
                ("severity", Integer),
                ("description", Text),
                ("passed", Boolean),
            ],
        ),
        ("sys", "node_checks") => (
            SystemTable::SysNodeChecks,
            vec![
                ("id", Integer),
                ("node_id", Text),
                ("severity", Integer),
                ("description", Text),
                ("passed", Boolean),
                ("acknowledged", Boolean),
            ],
        ),
        ("sys", "summits") => (
            SystemTable::SysSummits,
            vec![
                ("mountain", Text),
                ("height", Integer),
                ("prominence", Integer),
                ("country", Text),
                ("region", Text),
                ("first_ascent", Integer),
                ("range", Text),
                ("classification", Text),
            ],
        ),
        ("pg_catalog", "pg_get_keywords") => (
            SystemTable::PgKeywords,
            vec![("word", Text), ("catcode", Text), ("catdesc", Text)],
        ),
        ("pg_catalog", "pg_tables") => (
            SystemTable::PgTables,
            vec![
                ("schemaname", Text),
                ("tablename", Text),
                ("tableowner", Text),
                ("tablespace", Text),
            ],
        ),
        ("pg_catalog", "pg_stats") => (
            SystemTable::PgStats,
            vec![
                ("schemaname", Text),
                ("tablename", Text),
                ("attname", Text),
                ("inherited", Boolean),
                ("null_frac", Real),
                ("avg_width", Integer),
                ("n_distinct", Real),
                ("most_common_vals", arr(Text)),
                ("most_common_freqs", arr(Real)),
                ("histogram_bounds", arr(Text)),
                ("correlation", Real),
                ("most_common_elems", arr(Text)),
                ("most_common_elem_freqs", arr(Real)),
                ("elem_count_histogram", arr(Real)),
            ],
        ),
        ("pg_catalog", "pg_namespace") => (
            SystemTable::PgNamespace,
            vec![
                ("oid", Integer),
                ("nspname", Text),
                ("nspowner", Integer),
                ("nspacl", arr(Text)),
            ],
        ),
        ("pg_catalog", "pg_class") => (
            SystemTable::PgClass,
            vec![
                ("oid", Integer),
                ("relname", Text),
                ("relnamespace", Integer),
                ("relkind", Text),
            ],
        ),
        ("pg_catalog", "pg_type") => (
            SystemTable::PgType,
            vec![
                ("oid", Integer),
                ("typname", Text),
                ("typnamespace", Integer),
                ("typlen", SmallInt),
            ],
        ),
        ("pg_catalog", "pg_settings") => (
            SystemTable::PgSettings,
            vec![("name", Text), ("setting", Text), ("short_desc", Text)],
        ),
        _ => return None,
    };
    Some((
        st,
        cols.into_iter().map(|(n, t)| (n.to_string(), t)).collect(),
    ))
}

/// Every system table, for `information_schema.tables`.
pub fn all() -> Vec<(&'static str, &'static str)> {
    vec![
        ("information_schema", "columns"),
        ("information_schema", "key_column_usage"),
        ("information_schema", "routines"),
        ("information_schema", "schemata"),
        ("information_schema", "table_constraints"),
        ("information_schema", "table_partitions"),
        ("information_schema", "tables"),
        ("information_schema", "views"),
        ("pg_catalog", "pg_class"),
        ("pg_catalog", "pg_namespace"),
        ("pg_catalog", "pg_settings"),
        ("pg_catalog", "pg_stats"),
        ("pg_catalog", "pg_tables"),
        ("pg_catalog", "pg_type"),
        ("sys", "allocations"),
        ("sys", "checks"),
        ("sys", "cluster"),
        ("sys", "cluster_health"),
        ("sys", "health"),
        ("sys", "jobs"),
        ("sys", "jobs_log"),
        ("sys", "node_checks"),
        ("sys", "nodes"),
        ("sys", "segments"),
        ("sys", "shards"),
        ("sys", "summits"),
    ]
}
