//! Property test: the columnar aggregation path and the row path agree.
//!
//! Random rows (with NULLs) are written in several batches with refreshes in
//! between (several segments), then updated and deleted in part. Each GROUP
//! BY query runs twice: as is (columnar path) and with an always-true
//! predicate the index cannot answer (row path). Results must match.
#![cfg(not(madsim))]

use std::sync::Arc;

use proptest::prelude::*;
use shoal_engine::disk::{Disk, MemDisk};
use shoal_engine::node::{Node, NodeConfig, QueryResult, Session};
use shoal_engine::types::Value;

#[derive(Debug, Clone)]
struct RowSpec {
    ki: Option<i64>,
    kt: Option<u8>,
    kb: Option<bool>,
    vi: Option<i64>,
    vf: Option<f64>,
}

fn row() -> impl Strategy<Value = RowSpec> {
    (
        proptest::option::weighted(
            0.9,
            prop_oneof![
                -5i64..5,
                1_000_000i64..1_000_010,
                -(1i64 << 40)..(1i64 << 40)
            ],
        ),
        proptest::option::weighted(0.9, 0u8..4),
        proptest::option::weighted(0.9, any::<bool>()),
        proptest::option::weighted(0.8, -1000i64..1000),
        proptest::option::weighted(0.8, -100.0f64..100.0),
    )
        .prop_map(|(ki, kt, kb, vi, vf)| RowSpec { ki, kt, kb, vi, vf })
}

fn lit<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "NULL".into())
}

fn run(rt: &real_tokio::runtime::Runtime, node: &Node, sql: &str) -> QueryResult {
    rt.block_on(node.execute(&Session::default(), sql, vec![]))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn normalise(mut r: QueryResult) -> Vec<Vec<Value>> {
    for row in r.rows.iter_mut() {
        for v in row.iter_mut() {
            // Float sums may differ in the last bits with a different order of addition.
            if let Value::Float(f) = v {
                *v = Value::Float((*f * 1e6).round() / 1e6);
            }
        }
    }
    r.rows.sort();
    r.rows
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn columnar_and_row_paths_agree(batches in proptest::collection::vec(proptest::collection::vec(row(), 1..40), 1..4), deletes in 0usize..10) {
        let rt = real_tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
        let node = Node::open(NodeConfig::default(), disk).unwrap();
        run(&rt, &node, "CREATE TABLE t (id INT PRIMARY KEY, ki BIGINT, kt TEXT, kb BOOLEAN, vi INT, vf DOUBLE) CLUSTERED INTO 2 SHARDS WITH (refresh_interval = 0)");
        let mut id = 0;
        for batch in &batches {
            let values: Vec<String> = batch.iter().map(|r| {
                id += 1;
                format!("({id}, {}, {}, {}, {}, {})", lit(&r.ki), r.kt.map(|k| format!("'k{k}'")).unwrap_or("NULL".into()), lit(&r.kb), lit(&r.vi), lit(&r.vf))
            }).collect();
            run(&rt, &node, &format!("INSERT INTO t (id, ki, kt, kb, vi, vf) VALUES {}", values.join(", ")));
            run(&rt, &node, "REFRESH TABLE t");
        }
        // Deletes and updates leave dead documents in segments.
        run(&rt, &node, &format!("DELETE FROM t WHERE id % 7 = {}", deletes % 7));
        run(&rt, &node, "UPDATE t SET vi = vi + 1 WHERE id % 5 = 0");
        run(&rt, &node, "REFRESH TABLE t");
        for key in ["ki", "kt", "kb", "NULL"] {
            let group = if key == "NULL" { String::new() } else { format!(" GROUP BY {key}") };
            let select = if key == "NULL" { String::new() } else { format!("{key}, ") };
            let aggs = "count(*), count(vi), sum(vi), avg(vi), min(vi), max(vi), sum(vf), avg(vf), min(vf), max(vf)";
            let fast = run(&rt, &node, &format!("SELECT {select}{aggs} FROM t{group}"));
            let slow = run(&rt, &node, &format!("SELECT {select}{aggs} FROM t WHERE id = id{group}"));
            prop_assert_eq!(normalise(fast), normalise(slow), "GROUP BY {}", key);
            // With a pushed-down filter (query path of the columnar kernel).
            let fast = run(&rt, &node, &format!("SELECT {select}{aggs} FROM t WHERE vi > 0{group}"));
            let slow = run(&rt, &node, &format!("SELECT {select}{aggs} FROM t WHERE vi > 0 AND id = id{group}"));
            prop_assert_eq!(normalise(fast), normalise(slow), "filtered GROUP BY {}", key);
        }
    }
}
