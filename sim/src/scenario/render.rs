//! What a scenario prints: statement results as the shell prints them, and
//! the shard map.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use shoal_engine::node::QueryResult;
use shoal_engine::types::json::to_json_typed;
use shoal_shell::format::{OutputFormat, ResultSet, Target, render};

/// A statement's result as crash prints it: the table of a result set,
/// then the status line (`SELECT 2 rows in set`, `INSERT OK, 3 rows
/// affected`), without the duration.
pub fn result(sql: &str, r: &QueryResult) -> String {
    let command = sql
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_uppercase();
    let count = r.rowcount;
    let s = if count == 1 { "" } else { "s" };
    if !r.is_query() {
        return format!("{command} OK, {count} row{s} affected\n");
    }
    let rows = json_rows(r);
    let set = ResultSet {
        cols: &r.cols,
        rows: &rows,
        rowcount: count,
        duration: None,
    };
    let table = render(OutputFormat::Tabular, &set, Target::default());
    format!("{table}{command} {count} row{s} in set\n")
}

/// A result's rows as CrateDB's JSON sends them.
pub fn json_rows(r: &QueryResult) -> Vec<Vec<serde_json::Value>> {
    let row = |row: &Vec<_>| {
        row.iter()
            .zip(&r.types)
            .map(|(v, t)| to_json_typed(v, t))
            .collect()
    };
    r.rows.iter().map(row).collect()
}

/// `shards`: per node, how many copies in which state (the same for every
/// seed of a balanced cluster); `shards full`: every copy, which differs
/// between seeds (which node gets which copy follows the nodes' random ids).
pub fn shards(map: &BTreeMap<String, Vec<(String, u32, bool, String)>>, full: bool) -> String {
    let mut out = String::new();
    if full {
        let mut copies: Vec<(&str, u32, bool, &str, &str)> = map
            .iter()
            .flat_map(|(node, cs)| {
                cs.iter()
                    .map(move |(t, s, p, st)| (t.as_str(), *s, *p, node.as_str(), st.as_str()))
            })
            .collect();
        copies.sort_by(|a, b| (a.0, a.1, !a.2, a.3).cmp(&(b.0, b.1, !b.2, b.3)));
        for (table, shard, primary, node, state) in copies {
            let role = if primary { "primary" } else { "replica" };
            let _ = writeln!(
                out,
                "{table} {shard} {role} {node} {}",
                state.to_uppercase()
            );
        }
        return out;
    }
    for (node, copies) in map {
        let mut states: BTreeMap<String, usize> = BTreeMap::new();
        for (_, _, _, state) in copies {
            *states.entry(state.to_uppercase()).or_default() += 1;
        }
        let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let _ = writeln!(out, "{node}: {}", states.join(", "));
    }
    out
}
