//! Rows of the system tables (`information_schema`, `sys`, `pg_catalog`),
//! computed from the node's catalog, routing table and shards. Column order
//! matches [`crate::planner::system::lookup`].

use super::Node;
use crate::planner::SystemTable;
use crate::types::{Object, Row, Value};

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

pub(super) fn object(fields: Vec<(&str, Value)>) -> Value {
    let mut o = Object::default();
    for (k, v) in fields {
        o.insert(k.into(), v);
    }
    Value::Object(Box::new(o))
}

fn json_value(j: &serde_json::Value) -> Value {
    crate::types::json::from_json(j)
}

/// SQL keywords for `pg_catalog.pg_get_keywords()` (crash completes with them).
pub const KEYWORDS: &[&str] = &[
    "add",
    "all",
    "alter",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "between",
    "by",
    "case",
    "cast",
    "clustered",
    "column",
    "constraint",
    "copy",
    "create",
    "cross",
    "current_date",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "delete",
    "desc",
    "describe",
    "directory",
    "distinct",
    "drop",
    "else",
    "end",
    "escape",
    "except",
    "exists",
    "explain",
    "extract",
    "false",
    "first",
    "for",
    "from",
    "full",
    "fulltext",
    "function",
    "group",
    "having",
    "if",
    "ilike",
    "in",
    "index",
    "inner",
    "insert",
    "intersect",
    "into",
    "is",
    "join",
    "kill",
    "last",
    "left",
    "like",
    "limit",
    "match",
    "natural",
    "not",
    "null",
    "nulls",
    "object",
    "offset",
    "on",
    "optimize",
    "or",
    "order",
    "outer",
    "partition",
    "partitioned",
    "primary",
    "key",
    "refresh",
    "reset",
    "returning",
    "right",
    "select",
    "set",
    "shards",
    "show",
    "table",
    "then",
    "to",
    "true",
    "union",
    "unnest",
    "update",
    "using",
    "values",
    "when",
    "where",
    "with",
];

impl Node {
    /// The rows of a system table, as this node alone knows them.
    pub(crate) fn system_rows(&self, st: SystemTable, default_schema: &str) -> Vec<Row> {
        self.system_rows_with(st, default_schema, &self.routing_table())
    }

    /// The rows of a system table, the shard copies listed being those of
    /// `routing`.
    pub(super) fn system_rows_with(
        &self,
        st: SystemTable,
        default_schema: &str,
        routing: &super::RoutingTable,
    ) -> Vec<Row> {
        let catalog = self.catalog();
        match st {
            SystemTable::InfoTables => {
                let mut rows = Vec::new();
                for t in catalog.tables() {
                    let mut settings = Object::default();
                    settings.insert(
                        "refresh_interval".into(),
                        Value::Int(t.refresh_interval_ms as i64),
                    );
                    for (k, v) in &t.settings {
                        settings.insert(k.into(), json_value(v));
                    }
                    rows.push(vec![
                        text("crate"),
                        text(&t.ident.schema),
                        text(&t.ident.name),
                        text("BASE TABLE"),
                        Value::Int(t.num_shards as i64),
                        text(t.number_of_replicas.display()),
                        text(t.clustered_by.clone().unwrap_or_else(|| "_id".into())),
                        if t.partitioned_by.is_empty() {
                            Value::Null
                        } else {
                            Value::Array(t.partitioned_by.iter().map(text).collect())
                        },
                        Value::Null,
                        text(t.column_policy.as_str()),
                        Value::Bool(false),
                        text("org.elasticsearch.cluster.routing.Murmur3HashFunction"),
                        object(vec![
                            ("created", text(env!("CARGO_PKG_VERSION"))),
                            ("upgraded", Value::Null),
                        ]),
                        Value::Object(Box::new(settings)),
                        text("_id"),
                        text("SYSTEM GENERATED"),
                    ]);
                }
                for v in catalog.views() {
                    let mut row = vec![
                        text("crate"),
                        text(&v.ident.schema),
                        text(&v.ident.name),
                        text("VIEW"),
                    ];
                    row.resize(16, Value::Null);
                    rows.push(row);
                }
                for (schema, name) in crate::planner::system::all() {
                    rows.push(vec![
                        text("crate"),
                        text(schema),
                        text(name),
                        text("BASE TABLE"),
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        text("strict"),
                        Value::Bool(false),
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        Value::Null,
                    ]);
                }
                rows
            }
            SystemTable::InfoColumns => {
                let mut rows = Vec::new();
                for t in catalog.tables() {
                    let mut pos = 0;
                    for c in &t.columns {
                        let mut stack =
                            vec![(c.name.clone(), c.data_type.clone(), c.not_null, c, true)];
                        while let Some((name, ty, not_null, info, top)) = stack.pop() {
                            pos += 1;
                            rows.push(vec![
                                text("crate"),
                                text(&t.ident.schema),
                                text(&t.ident.name),
                                text(&name),
                                Value::Int(pos),
                                text(ty.name()),
                                Value::Bool(!not_null),
                                if top {
                                    info.default_expr.clone().map(text).unwrap_or(Value::Null)
                                } else {
                                    Value::Null
                                },
                                text(if top && info.generated_expr.is_some() {
                                    "ALWAYS"
                                } else {
                                    "NEVER"
                                }),
                                if top {
                                    info.generated_expr.clone().map(text).unwrap_or(Value::Null)
                                } else {
                                    Value::Null
                                },
                                Value::Null,
                                match ty {
                                    crate::types::DataType::SmallInt => Value::Int(16),
                                    crate::types::DataType::Integer => Value::Int(32),
                                    crate::types::DataType::BigInt => Value::Int(64),
                                    crate::types::DataType::Real => Value::Int(24),
                                    crate::types::DataType::Double => Value::Int(53),
                                    _ => Value::Null,
                                },
                                Value::Null,
                                match ty {
                                    crate::types::DataType::Timestamp { .. } => Value::Int(3),
                                    _ => Value::Null,
                                },
                                object(vec![("name", text(&name))]),
                                Value::Bool(false),
                                text(ty.name()),
                                Value::Null,
                                Value::Null,
                            ]);
                            if let crate::types::DataType::Object(o) = ty.element() {
                                for f in o.fields.iter().rev() {
                                    stack.push((
                                        format!("{name}['{}']", f.name),
                                        f.data_type.clone(),
                                        false,
                                        info,
                                        false,
                                    ));
                                }
                            }
                        }
                    }
                }
                rows
            }
            SystemTable::InfoRoutines => {
                // Built-ins first (CrateDB lists them with no schema and no
                // definition), then the custom analyzers with theirs.
                let builtin = |names: &[&str], ty: &str| -> Vec<Row> {
                    names
                        .iter()
                        .map(|n| {
                            vec![
                                text(*n),
                                text(ty),
                                Value::Null,
                                Value::Null,
                                Value::Null,
                                Value::Null,
                                Value::Null,
                                Value::Null,
                            ]
                        })
                        .collect()
                };
                let mut rows = builtin(crate::analysis::builtin_analyzers(), "ANALYZER");
                for def in catalog.analyzers().values() {
                    let definition = serde_json::to_string(def).unwrap_or_default();
                    rows.push(vec![
                        text(&def.name),
                        text("ANALYZER"),
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        text(definition),
                        Value::Null,
                        Value::Null,
                    ]);
                }
                rows
            }
            SystemTable::InfoSchemata => catalog
                .schemas()
                .into_iter()
                .map(|s| vec![text("crate"), text(s)])
                .collect(),
            SystemTable::InfoTablePartitions => Vec::new(),
            SystemTable::InfoViews => catalog
                .views()
                .map(|v| {
                    vec![
                        text("crate"),
                        text(&v.ident.schema),
                        text(&v.ident.name),
                        text(&v.query),
                        text("NONE"),
                        Value::Bool(false),
                        text(&v.owner),
                    ]
                })
                .collect(),
            SystemTable::InfoTableConstraints => {
                let mut rows = Vec::new();
                for t in catalog.tables() {
                    if !t.primary_key.is_empty() {
                        rows.push(vec![
                            text("crate"),
                            text(&t.ident.schema),
                            text(format!("{}_pk", t.ident.name)),
                            text("crate"),
                            text(&t.ident.schema),
                            text(&t.ident.name),
                            text("PRIMARY KEY"),
                            text("NO"),
                            text("NO"),
                        ]);
                    }
                }
                rows
            }
            SystemTable::InfoKeyColumnUsage => {
                let mut rows = Vec::new();
                for t in catalog.tables() {
                    for (i, pk) in t.primary_key.iter().enumerate() {
                        rows.push(vec![
                            text("crate"),
                            text(&t.ident.schema),
                            text(format!("{}_pk", t.ident.name)),
                            text("crate"),
                            text(&t.ident.schema),
                            text(&t.ident.name),
                            text(pk),
                            Value::Int(i as i64 + 1),
                        ]);
                    }
                }
                rows
            }
            SystemTable::SysCluster => vec![vec![
                text(self.id.clone()),
                text(&self.config.cluster_name),
                text(self.id.clone()),
                json_value(&self.cluster_settings().to_object(&self.breakers.settings())),
            ]],
            SystemTable::SysNodes => {
                let http = self.config.http_address.clone().unwrap_or_default();
                let port_of = |address: &str| {
                    let port = address
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse::<i64>().ok());
                    port.map_or(Value::Null, Value::Int)
                };
                let transport = self
                    .config
                    .cluster
                    .as_ref()
                    .map(|c| c.transport.port() as i64);
                let host = super::host::host_stats(self.disk.local_path());
                let int = |n: Option<u64>| n.map_or(Value::Null, |n| Value::Int(n as i64));
                let float = |n: Option<f64>| n.map_or(Value::Null, Value::Float);
                // The node has no JVM: its heap is its memory budget, and
                // what the breakers account of it is in use.
                let budget = self.breakers.budget();
                let used = self.breakers.parent.used().min(budget);
                let memory_used = host
                    .memory
                    .map(|(total, available)| total - available.min(total));
                let percent = |part: Option<u64>| match (part, host.memory) {
                    (Some(part), Some((total, _))) if total > 0 => {
                        Value::Int((part * 100 / total) as i64)
                    }
                    _ => Value::Null,
                };
                vec![vec![
                    text(self.id.clone()),
                    text(&self.config.node_name),
                    text("localhost"),
                    text(&http),
                    object(vec![
                        ("http", port_of(&http)),
                        ("transport", transport.map_or(Value::Null, Value::Int)),
                        ("psql", Value::Null),
                    ]),
                    object(vec![
                        ("number", text(crate::VERSION)),
                        ("build_hash", text("shoal")),
                        ("build_snapshot", Value::Bool(false)),
                    ]),
                    object(vec![
                        ("used", Value::Int(used as i64)),
                        ("max", Value::Int(budget as i64)),
                        ("free", Value::Int((budget - used) as i64)),
                    ]),
                    object(vec![
                        ("1", float(host.load.map(|l| l[0]))),
                        ("5", float(host.load.map(|l| l[1]))),
                        ("15", float(host.load.map(|l| l[2]))),
                    ]),
                    object(vec![
                        ("used", int(memory_used)),
                        ("free", int(host.memory.map(|(_, available)| available))),
                        ("used_percent", percent(memory_used)),
                        ("free_percent", percent(host.memory.map(|(_, a)| a))),
                    ]),
                    object(vec![
                        ("timestamp", Value::Int(crate::runtime::now_millis())),
                        (
                            "uptime",
                            Value::Int(
                                crate::runtime::instant()
                                    .duration_since(self.started)
                                    .as_millis() as i64,
                            ),
                        ),
                    ]),
                    object(vec![
                        (
                            "available_processors",
                            Value::Int(
                                std::thread::available_parallelism()
                                    .map(|n| n.get() as i64)
                                    .unwrap_or(1),
                            ),
                        ),
                        ("name", text(std::env::consts::OS)),
                        ("arch", text(std::env::consts::ARCH)),
                        ("version", Value::Null),
                        (
                            "jvm",
                            object(vec![
                                ("version", Value::Null),
                                ("vm_name", Value::Null),
                                ("vm_vendor", Value::Null),
                                ("vm_version", Value::Null),
                            ]),
                        ),
                    ]),
                    object(vec![(
                        "total",
                        object(vec![
                            ("size", int(host.disk.map(|(size, _)| size))),
                            ("used", Value::Int(self.disk.size_of("") as i64)),
                            ("available", int(host.disk.map(|(_, available)| available))),
                        ]),
                    )]),
                ]]
            }
            SystemTable::SysShards => routing
                .copies
                .iter()
                .map(|c| {
                    let stats = c.local.as_ref().map(|s| s.stats());
                    vec![
                        text(&c.table.ident.name),
                        text(&c.table.ident.schema),
                        text(""),
                        Value::Int(c.shard_id as i64),
                        Value::Bool(c.primary),
                        text(c.state.as_str()),
                        text(c.state.as_str()),
                        c.relocating_node.clone().map(text).unwrap_or(Value::Null),
                        stats
                            .as_ref()
                            .map(|s| Value::Int(s.num_docs as i64))
                            .unwrap_or(Value::Null),
                        stats
                            .as_ref()
                            .map(|s| Value::Int(s.size_bytes as i64))
                            .unwrap_or(Value::Null),
                        Value::Bool(false),
                        match (&c.node, &c.node_name) {
                            (Some(id), Some(name)) => {
                                object(vec![("id", text(id)), ("name", text(name))])
                            }
                            _ => Value::Null,
                        },
                        match (&stats, &c.local) {
                            (Some(s), Some(local)) => object(vec![
                                ("max_seq_no", Value::Int(s.max_seq_no)),
                                (
                                    "local_checkpoint",
                                    Value::Int(local.local_checkpoint().map_or(-1, |c| c as i64)),
                                ),
                                (
                                    "global_checkpoint",
                                    Value::Int(local.global_checkpoint().map_or(-1, |c| c as i64)),
                                ),
                            ]),
                            _ => Value::Null,
                        },
                        text("10.3.1"),
                        match &stats {
                            Some(s) => object(vec![
                                ("size", Value::Int(s.translog_bytes as i64)),
                                (
                                    "uncommitted_operations",
                                    Value::Int(s.uncommitted_ops as i64),
                                ),
                            ]),
                            None => Value::Null,
                        },
                        Value::Bool(false),
                        Value::Null,
                        match &c.local {
                            Some(_) => {
                                text(crate::storage::shard::shard_dir(&c.table.uuid, c.shard_id))
                            }
                            None => Value::Null,
                        },
                        match c.node.as_deref() == Some(self.id.as_str()) {
                            true => self
                                .recovery_state(&c.table.uuid, c.shard_id, stats.as_ref())
                                .map_or(Value::Null, |r| r.to_value()),
                            false => Value::Null,
                        },
                        match &c.local {
                            Some(shard) => {
                                let f = shard.failures.counts();
                                object(vec![
                                    ("refresh_failures", Value::Int(f.refresh as i64)),
                                    ("flush_failures", Value::Int(f.flush as i64)),
                                    ("merge_failures", Value::Int(f.merge as i64)),
                                    ("last_failure", f.last.map(Value::Text).unwrap_or_default()),
                                ])
                            }
                            None => Value::Null,
                        },
                    ]
                })
                .collect(),
            SystemTable::SysSegments => {
                let mut rows = Vec::new();
                for c in routing.copies.iter() {
                    let Some(shard) = &c.local else { continue };
                    for seg in shard.segments() {
                        rows.push(vec![
                            text(&c.table.ident.name),
                            text(&c.table.ident.schema),
                            text(""),
                            Value::Int(c.shard_id as i64),
                            self.node_object(),
                            text(format!("_{}", seg.id)),
                            Value::Int(seg.num_docs as i64),
                            Value::Int(seg.deleted_docs as i64),
                            Value::Int(seg.size_bytes as i64),
                            Value::Int(seg.size_bytes as i64),
                            Value::Bool(seg.committed),
                            Value::Bool(seg.search),
                            Value::Bool(false),
                            Value::Bool(c.primary),
                        ]);
                    }
                }
                rows
            }
            SystemTable::SysHealth => routing
                .health()
                .into_iter()
                .map(|(t, health, severity, missing, under)| {
                    vec![
                        text(&t.ident.name),
                        text(&t.ident.schema),
                        Value::Null,
                        text(health),
                        Value::Int(severity as i64),
                        Value::Int(missing as i64),
                        Value::Int(under as i64),
                    ]
                })
                .collect(),
            SystemTable::SysClusterHealth => {
                // Without a master the node cannot tell what is missing.
                if self.coordinator().is_some_and(|c| c.master().is_none()) {
                    return vec![vec![
                        text("RED"),
                        Value::Int(3),
                        text("No master node elected."),
                        Value::Int(0),
                        Value::Int(-1),
                        Value::Int(-1),
                    ]];
                }
                let health = routing.health();
                let worst = health.iter().map(|h| h.2).max().unwrap_or(1);
                let missing: i32 = health.iter().map(|h| h.3).sum();
                let under: i32 = health.iter().map(|h| h.4).sum();
                let (name, desc) = match worst {
                    3 => ("RED", "One or more tables are missing shards."),
                    2 => ("YELLOW", "One or more tables have underreplicated shards."),
                    _ => ("GREEN", "The cluster is healthy."),
                };
                vec![vec![
                    text(name),
                    Value::Int(worst as i64),
                    text(desc),
                    Value::Int(0),
                    Value::Int(missing as i64),
                    Value::Int(under as i64),
                ]]
            }
            SystemTable::SysAllocations => routing
                .copies
                .iter()
                .map(|c| {
                    let explanation = c.unassigned_reason.clone().map_or(Value::Null, Value::Text);
                    vec![
                        text(&c.table.ident.schema),
                        text(&c.table.ident.name),
                        Value::Null,
                        Value::Int(c.shard_id as i64),
                        c.node.clone().map(text).unwrap_or(Value::Null),
                        Value::Bool(c.primary),
                        text(c.state.as_str()),
                        explanation,
                        Value::Null,
                    ]
                })
                .collect(),
            SystemTable::SysJobs => self.jobs.running_rows(&self.node_object()),
            SystemTable::SysJobsLog => self.jobs.log_rows(&self.node_object()),
            SystemTable::SysNodeChecks => Vec::new(),
            SystemTable::SysChecks => {
                let any_unreplicable = routing.health().iter().any(|h| h.4 > 0);
                vec![
                    vec![
                        Value::Int(1),
                        Value::Int(3),
                        text("The setting 'gateway.expected_data_nodes' is not set."),
                        Value::Bool(true),
                    ],
                    vec![
                        Value::Int(2),
                        Value::Int(2),
                        text(
                            "Some tables have more replicas configured than the cluster has nodes to hold them.",
                        ),
                        Value::Bool(!any_unreplicable),
                    ],
                ]
            }
            SystemTable::SysSummits => Vec::new(),
            SystemTable::PgKeywords => KEYWORDS
                .iter()
                .map(|w| vec![text(*w), text("R"), text("reserved")])
                .collect(),
            SystemTable::PgStats => pg_stats(&catalog),
            SystemTable::PgTables => catalog
                .tables()
                .map(|t| {
                    vec![
                        text(&t.ident.schema),
                        text(&t.ident.name),
                        text("crate"),
                        Value::Null,
                    ]
                })
                .collect(),
            SystemTable::PgNamespace => catalog
                .schemas()
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    vec![
                        Value::Int(i as i64 + 1),
                        text(s),
                        Value::Int(0),
                        Value::Null,
                    ]
                })
                .collect(),
            SystemTable::PgClass => catalog
                .tables()
                .enumerate()
                .map(|(i, t)| {
                    vec![
                        Value::Int(i as i64 + 1000),
                        text(&t.ident.name),
                        Value::Int(0),
                        text("r"),
                    ]
                })
                .collect(),
            SystemTable::PgType => vec![
                vec![Value::Int(16), text("bool"), Value::Int(11), Value::Int(1)],
                vec![Value::Int(20), text("int8"), Value::Int(11), Value::Int(8)],
                vec![Value::Int(21), text("int2"), Value::Int(11), Value::Int(2)],
                vec![Value::Int(23), text("int4"), Value::Int(11), Value::Int(4)],
                vec![Value::Int(25), text("text"), Value::Int(11), Value::Int(-1)],
                vec![
                    Value::Int(700),
                    text("float4"),
                    Value::Int(11),
                    Value::Int(4),
                ],
                vec![
                    Value::Int(701),
                    text("float8"),
                    Value::Int(11),
                    Value::Int(8),
                ],
                vec![
                    Value::Int(1184),
                    text("timestamptz"),
                    Value::Int(11),
                    Value::Int(8),
                ],
            ],
            SystemTable::PgSettings => vec![vec![
                text("search_path"),
                text(default_schema),
                text("schema search path"),
            ]],
        }
    }

    /// The node as system tables (and COPY's summary) show it: `{id, name}`.
    pub(super) fn node_object(&self) -> Value {
        object(vec![
            ("id", text(self.id.clone())),
            ("name", text(&self.config.node_name)),
        ])
    }
}

/// `pg_catalog.pg_stats`: a row per analyzed column, values as text (as
/// PostgreSQL's `anyarray` columns read in CrateDB).
fn pg_stats(catalog: &crate::catalog::Catalog) -> Vec<Vec<Value>> {
    let as_text = |values: &[Value]| {
        Value::Array(
            values
                .iter()
                .map(|v| match v {
                    Value::Text(s) => text(s.as_str()),
                    other => text(crate::types::json::to_json(other).to_string()),
                })
                .collect(),
        )
    };
    let mut rows = Vec::new();
    for (ident, stats) in catalog.all_stats() {
        for (column, c) in &stats.columns {
            rows.push(vec![
                text(&ident.schema),
                text(&ident.name),
                text(column),
                Value::Bool(false),
                Value::Float(c.null_fraction),
                Value::Int(c.avg_width.round() as i64),
                Value::Float(c.n_distinct(stats.num_docs)),
                as_text(&c.most_common),
                Value::Array(
                    c.most_common_freqs
                        .iter()
                        .map(|f| Value::Float(*f))
                        .collect(),
                ),
                as_text(&c.histogram),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ]);
        }
    }
    rows
}
