//! Cluster settings: `SET GLOBAL [PERSISTENT | TRANSIENT]` and `RESET GLOBAL`.
//!
//! Settings that Shoal acts on are validated and applied at once: the circuit
//! breakers' limits, `cluster.max_shards_per_node`,
//! `cluster.routing.allocation.enable`, `stats.service.interval` and
//! Shoal's own `shoal.join.broadcast_rows`. Other settings CrateDB
//! knows (`stats.*`, `cluster.routing.*`, ...) are recorded and shown in
//! `sys.cluster.settings` without effect, as table settings are; anything
//! else is refused. Persistent settings survive a restart
//! (`_state/settings.json`); transient ones last until the node stops. On a
//! single node these are the node's own; the cluster layer replicates both
//! kinds with the cluster state (which is kept in the raft log, so there a
//! transient setting outlives a restart of the whole cluster, where
//! CrateDB's would not).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::breaker::{BreakerSettings, Limit};
use crate::error::{Error, Result};

/// Where persistent settings are kept.
pub const SETTINGS_PATH: &str = "_state/settings.json";

pub const QUERY_BREAKER_LIMIT: &str = "indices.breaker.query.limit";
pub const REQUEST_BREAKER_LIMIT: &str = "indices.breaker.request.limit";
pub const TOTAL_BREAKER_LIMIT: &str = "indices.breaker.total.limit";
pub const MAX_SHARDS_PER_NODE: &str = "cluster.max_shards_per_node";
pub const ALLOCATION_ENABLE: &str = "cluster.routing.allocation.enable";
/// Shoal's own: the most rows a join side may have to be sent to the
/// shards of the other side (a broadcast join); larger joins of two tables
/// are split among the nodes by key. `0` never broadcasts.
pub const JOIN_BROADCAST_ROWS: &str = "shoal.join.broadcast_rows";

/// CrateDB's: how often every table's statistics are collected again, as
/// `ANALYZE` collects them (a time value; `0` never).
pub const STATS_SERVICE_INTERVAL: &str = "stats.service.interval";
/// Its default, as CrateDB's.
pub const DEFAULT_STATS_SERVICE_INTERVAL: &str = "24h";

/// The default of [`JOIN_BROADCAST_ROWS`].
pub const DEFAULT_JOIN_BROADCAST_ROWS: u64 = 50_000;

/// Which shard copies allocation may place (`cluster.routing.allocation.enable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocationEnable {
    /// Every copy (the default).
    All,
    /// Primaries only, no replicas.
    Primaries,
    /// Only the primaries of new shards (never allocated before).
    NewPrimaries,
    /// Nothing.
    None,
}

impl AllocationEnable {
    /// Whether a copy may be placed: a primary or a replica, `new` when it
    /// was never allocated before.
    pub fn allows(&self, primary: bool, new: bool) -> bool {
        match self {
            AllocationEnable::All => true,
            AllocationEnable::Primaries => primary,
            AllocationEnable::NewPrimaries => primary && new,
            AllocationEnable::None => false,
        }
    }

    /// The setting's value.
    pub fn as_str(&self) -> &'static str {
        match self {
            AllocationEnable::All => "all",
            AllocationEnable::Primaries => "primaries",
            AllocationEnable::NewPrimaries => "new_primaries",
            AllocationEnable::None => "none",
        }
    }
}

/// The default of `cluster.max_shards_per_node` (CrateDB's and Elasticsearch's).
pub const DEFAULT_MAX_SHARDS_PER_NODE: u64 = 1000;

/// Prefixes of settings CrateDB has and Shoal records without acting on them.
const RECORDED_PREFIXES: &[&str] = &[
    "stats.",
    "cluster.routing.",
    "cluster.graceful_stop.",
    "cluster.info.",
    "discovery.",
    "gateway.",
    "bulk.",
    "udc.",
    "logger.",
    "indices.recovery.",
    "indices.replication.",
    "overload_protection.",
    "memory.",
    "statement_timeout",
];

/// The settings as set, by scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterSettings {
    #[serde(default)]
    pub persistent: BTreeMap<String, Json>,
    /// Travel with the cluster state to every node (they are cluster-wide,
    /// as CrateDB's), but are never written to a node's settings file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub transient: BTreeMap<String, Json>,
}

impl ClusterSettings {
    /// Reads persisted settings (the transient ones are gone after a restart).
    pub fn from_bytes(bytes: &[u8]) -> Result<ClusterSettings> {
        serde_json::from_slice(bytes).map_err(|e| Error::Io(format!("corrupt settings: {e}")))
    }

    /// The persistent settings, serialised (for the settings file).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let persistent = ClusterSettings {
            persistent: self.persistent.clone(),
            transient: BTreeMap::new(),
        };
        serde_json::to_vec_pretty(&persistent).map_err(Error::internal)
    }

    /// The effective value of `name`: transient over persistent.
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.transient
            .get(name)
            .or_else(|| self.persistent.get(name))
    }

    /// Sets `name` after validating the value.
    pub fn set(&mut self, name: &str, value: Json, persistent: bool) -> Result<()> {
        let value = validate(name, value)?;
        if persistent {
            self.persistent.insert(name.to_string(), value);
        } else {
            self.transient.insert(name.to_string(), value);
        }
        Ok(())
    }

    /// Resets `name` (and, for a prefix such as `stats`, everything below
    /// it) in both scopes; CrateDB's `RESET GLOBAL`.
    pub fn reset(&mut self, name: &str) -> Result<()> {
        if !is_known(name) && !self.has_prefix(name) {
            return Err(unsupported(name));
        }
        let below = format!("{name}.");
        for scope in [&mut self.persistent, &mut self.transient] {
            scope.retain(|k, _| k != name && !k.starts_with(&below));
        }
        Ok(())
    }

    fn has_prefix(&self, name: &str) -> bool {
        let below = format!("{name}.");
        RECORDED_PREFIXES
            .iter()
            .chain(
                [
                    QUERY_BREAKER_LIMIT,
                    REQUEST_BREAKER_LIMIT,
                    TOTAL_BREAKER_LIMIT,
                    MAX_SHARDS_PER_NODE,
                    JOIN_BROADCAST_ROWS,
                ]
                .iter(),
            )
            .any(|p| p.starts_with(&below))
    }

    /// The breaker limits these settings give.
    pub fn breakers(&self) -> BreakerSettings {
        let mut b = BreakerSettings::default();
        let limit = |name: &str, default: Limit| {
            self.get(name)
                .and_then(Json::as_str)
                .and_then(|t| Limit::parse(name, t).ok())
                .unwrap_or(default)
        };
        b.query = limit(QUERY_BREAKER_LIMIT, b.query);
        b.request = limit(REQUEST_BREAKER_LIMIT, b.request);
        b.total = limit(TOTAL_BREAKER_LIMIT, b.total);
        b
    }

    /// `cluster.routing.allocation.enable`.
    pub fn allocation_enable(&self) -> AllocationEnable {
        match self.get(ALLOCATION_ENABLE).and_then(Json::as_str) {
            Some("primaries") => AllocationEnable::Primaries,
            Some("new_primaries") => AllocationEnable::NewPrimaries,
            Some("none") => AllocationEnable::None,
            _ => AllocationEnable::All,
        }
    }

    /// `cluster.max_shards_per_node`.
    pub fn max_shards_per_node(&self) -> u64 {
        self.get(MAX_SHARDS_PER_NODE)
            .and_then(Json::as_u64)
            .unwrap_or(DEFAULT_MAX_SHARDS_PER_NODE)
    }

    /// `shoal.join.broadcast_rows`.
    pub fn join_broadcast_rows(&self) -> u64 {
        self.get(JOIN_BROADCAST_ROWS)
            .and_then(Json::as_u64)
            .unwrap_or(DEFAULT_JOIN_BROADCAST_ROWS)
    }

    /// `stats.service.interval`: `None` when statistics are not collected
    /// periodically.
    pub fn stats_interval(&self) -> Option<std::time::Duration> {
        let text = match self.get(STATS_SERVICE_INTERVAL) {
            Some(Json::String(t)) => t.clone(),
            Some(other) => other.to_string(),
            None => DEFAULT_STATS_SERVICE_INTERVAL.to_string(),
        };
        parse_interval(&text).ok().filter(|d| !d.is_zero())
    }

    /// The settings as `sys.cluster.settings` shows them: nested objects by
    /// the dotted names, with the effective values of what Shoal acts on.
    pub fn to_object(&self, breakers: &BreakerSettings) -> Json {
        let mut flat: BTreeMap<String, Json> = BTreeMap::new();
        flat.insert("stats.enabled".into(), Json::Bool(true));
        for (k, v) in self.persistent.iter().chain(self.transient.iter()) {
            flat.insert(k.clone(), v.clone());
        }
        flat.insert(
            QUERY_BREAKER_LIMIT.into(),
            Json::String(breakers.query.to_string()),
        );
        flat.insert(
            REQUEST_BREAKER_LIMIT.into(),
            Json::String(breakers.request.to_string()),
        );
        flat.insert(
            TOTAL_BREAKER_LIMIT.into(),
            Json::String(breakers.total.to_string()),
        );
        flat.insert(
            MAX_SHARDS_PER_NODE.into(),
            Json::from(self.max_shards_per_node()),
        );
        flat.insert(
            JOIN_BROADCAST_ROWS.into(),
            Json::from(self.join_broadcast_rows()),
        );
        flat.entry(STATS_SERVICE_INTERVAL.into())
            .or_insert_with(|| Json::from(DEFAULT_STATS_SERVICE_INTERVAL));
        let mut root = serde_json::Map::new();
        for top in ["bulk", "cluster", "gateway", "shoal"] {
            root.insert(top.into(), Json::Object(Default::default()));
        }
        for (name, value) in flat {
            let parts: Vec<&str> = name.split('.').collect();
            insert_path(&mut root, &parts, value);
        }
        Json::Object(root)
    }
}

/// Inserts `value` at a dotted path, creating the objects on the way.
fn insert_path(map: &mut serde_json::Map<String, Json>, parts: &[&str], value: Json) {
    match parts {
        [] => {}
        [last] => {
            map.insert(last.to_string(), value);
        }
        [first, rest @ ..] => {
            let entry = map
                .entry(first.to_string())
                .or_insert_with(|| Json::Object(Default::default()));
            if !entry.is_object() {
                *entry = Json::Object(Default::default());
            }
            if let Json::Object(next) = entry {
                insert_path(next, rest, value);
            }
        }
    }
}

fn is_known(name: &str) -> bool {
    matches!(
        name,
        QUERY_BREAKER_LIMIT
            | REQUEST_BREAKER_LIMIT
            | TOTAL_BREAKER_LIMIT
            | MAX_SHARDS_PER_NODE
            | JOIN_BROADCAST_ROWS
    ) || RECORDED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A time value as CrateDB takes one: a number of milliseconds, or a number
/// and a unit (`500ms`, `30s`, `1m`, `24h`, `1d`).
fn parse_interval(text: &str) -> Result<std::time::Duration> {
    match text.trim().parse::<u64>() {
        Ok(ms) => Ok(std::time::Duration::from_millis(ms)),
        Err(_) => crate::catalog::parse_time_value(text),
    }
}

fn unsupported(name: &str) -> Error {
    Error::InvalidArgument(format!("Setting '{name}' is not supported"))
}

/// Checks a value for a setting and brings it to its stored form.
fn validate(name: &str, value: Json) -> Result<Json> {
    let text = match &value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    match name {
        QUERY_BREAKER_LIMIT | REQUEST_BREAKER_LIMIT | TOTAL_BREAKER_LIMIT => {
            Limit::parse(name, &text)?;
            Ok(Json::String(text))
        }
        ALLOCATION_ENABLE => match text.trim().to_ascii_lowercase().as_str() {
            t @ ("all" | "primaries" | "new_primaries" | "none") => Ok(Json::from(t)),
            _ => Err(Error::InvalidArgument(format!(
                "Illegal value [{text}] for setting [{name}]: must be one of all, primaries, \
                 new_primaries, none"
            ))),
        },
        MAX_SHARDS_PER_NODE => match text.trim().parse::<u64>() {
            Ok(n) if (1..=1_000_000).contains(&n) => Ok(Json::from(n)),
            _ => Err(Error::InvalidArgument(format!(
                "Failed to parse value [{text}] for setting [{name}]: must be an integer \
                 between 1 and 1000000"
            ))),
        },
        JOIN_BROADCAST_ROWS => match text.trim().parse::<u64>() {
            Ok(n) if n <= 10_000_000 => Ok(Json::from(n)),
            _ => Err(Error::InvalidArgument(format!(
                "Failed to parse value [{text}] for setting [{name}]: must be an integer \
                 between 0 and 10000000"
            ))),
        },
        STATS_SERVICE_INTERVAL => match parse_interval(&text) {
            Ok(_) => Ok(Json::String(text.trim().to_string())),
            Err(_) => Err(Error::InvalidArgument(format!(
                "failed to parse setting [{name}] with value [{text}] as a time value: unit is \
                 missing or unrecognized"
            ))),
        },
        _ if is_known(name) => Ok(value),
        _ => Err(unsupported(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_settings_are_validated_and_applied() {
        let mut s = ClusterSettings::default();
        s.set(QUERY_BREAKER_LIMIT, Json::from("40%"), false)
            .unwrap();
        assert_eq!(s.breakers().query, Limit::Percent(40.0));
        assert!(
            s.set(QUERY_BREAKER_LIMIT, Json::from("lots"), true)
                .is_err()
        );
        assert!(s.set(MAX_SHARDS_PER_NODE, Json::from(0), true).is_err());
        assert!(s.set("no.such.setting", Json::from(1), true).is_err());
        s.set("stats.enabled", Json::Bool(false), true).unwrap();
        s.reset("stats").unwrap();
        assert!(s.get("stats.enabled").is_none());
        s.reset(QUERY_BREAKER_LIMIT).unwrap();
        assert_eq!(s.breakers().query, Limit::Percent(60.0));
    }

    #[test]
    fn the_join_broadcast_limit_is_validated_and_applied() {
        let mut s = ClusterSettings::default();
        assert_eq!(s.join_broadcast_rows(), DEFAULT_JOIN_BROADCAST_ROWS);
        s.set(JOIN_BROADCAST_ROWS, Json::from(0), false).unwrap();
        assert_eq!(s.join_broadcast_rows(), 0);
        s.set(JOIN_BROADCAST_ROWS, Json::from("1000"), true)
            .unwrap();
        assert_eq!(s.join_broadcast_rows(), 0, "transient over persistent");
        for bad in [Json::from(-1), Json::from("lots"), Json::from(20_000_000)] {
            assert!(s.set(JOIN_BROADCAST_ROWS, bad, true).is_err());
        }
        s.reset("shoal.join").unwrap();
        assert_eq!(s.join_broadcast_rows(), DEFAULT_JOIN_BROADCAST_ROWS);
    }

    #[test]
    fn the_stats_interval_is_validated_and_applied() {
        use std::time::Duration;
        let mut s = ClusterSettings::default();
        assert_eq!(s.stats_interval(), Some(Duration::from_secs(86_400)));
        s.set(STATS_SERVICE_INTERVAL, Json::from("30s"), false)
            .unwrap();
        assert_eq!(s.stats_interval(), Some(Duration::from_secs(30)));
        s.set(STATS_SERVICE_INTERVAL, Json::from(1500), false)
            .unwrap();
        assert_eq!(s.stats_interval(), Some(Duration::from_millis(1500)));
        s.set(STATS_SERVICE_INTERVAL, Json::from(0), false).unwrap();
        assert_eq!(s.stats_interval(), None, "0 never collects");
        for bad in [Json::from("lots"), Json::from("5 parsecs"), Json::from(-1)] {
            let err = s.set(STATS_SERVICE_INTERVAL, bad, true).unwrap_err();
            assert!(err.to_string().contains("as a time value"), "{err}");
        }
        assert_eq!(s.stats_interval(), None, "a refused value changes nothing");
        s.reset("stats").unwrap();
        assert_eq!(s.stats_interval(), Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn only_persistent_settings_are_saved() {
        let mut s = ClusterSettings::default();
        s.set(MAX_SHARDS_PER_NODE, Json::from(10), true).unwrap();
        s.set(QUERY_BREAKER_LIMIT, Json::from("1gb"), false)
            .unwrap();
        let back = ClusterSettings::from_bytes(&s.to_bytes().unwrap()).unwrap();
        assert_eq!(back.max_shards_per_node(), 10);
        assert!(back.get(QUERY_BREAKER_LIMIT).is_none());
    }

    #[test]
    fn transient_settings_travel_with_the_cluster_state() {
        let mut s = ClusterSettings::default();
        s.set(QUERY_BREAKER_LIMIT, Json::from("64kb"), false)
            .unwrap();
        let travelled: ClusterSettings =
            serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(travelled, s);
        assert_eq!(travelled.breakers().query, s.breakers().query);
    }

    #[test]
    fn the_object_nests_by_name() {
        let s = ClusterSettings::default();
        let o = s.to_object(&BreakerSettings::default());
        assert_eq!(o["indices"]["breaker"]["query"]["limit"], "60%");
        assert_eq!(o["cluster"]["max_shards_per_node"], 1000);
        assert_eq!(o["stats"]["enabled"], true);
    }
}
