//! SQL keywords for completion, highlighting and auto-capitalization: the server's
//! `pg_catalog.pg_get_keywords()` when it has it, else crash's built-in list.

/// crash's fallback keyword list (used when the server does not answer the query).
pub const FALLBACK: &[&str] = &[
    "add", "alias", "all", "allocate", "alter", "always", "analyze", "analyzer", "and", "any",
    "array", "artifacts", "as", "asc", "at", "begin", "bernoulli", "between", "blob", "boolean",
    "both", "by", "byte", "called", "cancel", "case", "cast", "catalogs", "char_filters",
    "characteristics", "close", "cluster", "clustered", "column", "columns", "commit",
    "committed", "conflict", "constraint", "copy", "create", "cross", "current", "current_date",
    "current_schema", "current_time", "current_timestamp", "current_user", "dangling", "day",
    "deallocate", "decommission", "default", "deferrable", "delete", "deny", "desc", "describe",
    "directory", "distinct", "distributed", "do", "double", "drop", "duplicate", "dynamic",
    "else", "end", "escape", "except", "exists", "explain", "extends", "extract", "failed",
    "false", "filter", "first", "float", "following", "for", "format", "from", "full",
    "fulltext", "function", "functions", "gc", "generated", "geo_point", "geo_shape", "global",
    "grant", "graphviz", "group", "having", "hour", "if", "ignored", "ilike", "in", "index",
    "inner", "input", "insert", "int", "integer", "intersect", "interval", "into", "ip", "is",
    "isolation", "join", "key", "kill", "language", "last", "leading", "left", "level",
    "license", "like", "limit", "local", "logical", "long", "match", "materialized", "minute",
    "month", "move", "natural", "not", "nothing", "null", "nulls", "object", "off", "offset",
    "on", "only", "open", "optimize", "or", "order", "outer", "over", "partition",
    "partitioned", "partitions", "persistent", "plain", "preceding", "precision", "prepare",
    "privileges", "promote", "range", "read", "recursive", "refresh", "rename", "repeatable",
    "replace", "replica", "repository", "reroute", "reset", "restore", "retry", "return",
    "returns", "revoke", "right", "role", "row", "rows", "schema", "schemas", "second",
    "select", "serializable", "session", "session_user", "set", "shard", "shards", "short",
    "show", "snapshot", "some", "storage", "stratify", "strict", "string", "substring",
    "summary", "swap", "system", "table", "tables", "tablesample", "text", "then", "time",
    "timestamp", "to", "token_filters", "tokenizer", "trailing", "transaction",
    "transaction_isolation", "transient", "trim", "true", "try_cast", "type", "unbounded",
    "uncommitted", "union", "update", "user", "using", "values", "view", "when", "where",
    "window", "with", "without", "work", "write", "year", "zone",
];

/// The statement crash uses to fetch the server's keywords.
pub const QUERY: &str = "SELECT word FROM pg_catalog.pg_get_keywords()";

/// The fallback list as owned strings.
pub fn fallback() -> Vec<String> {
    FALLBACK.iter().map(|k| k.to_string()).collect()
}
