//! `EXPLAIN ANALYZE` answers one object: the plan as `EXPLAIN` prints it,
//! the planning time, and the execution's phases (each shard's collect, the
//! join, the merges on the handler) with their times and row counts. Times
//! vary, so this checks the shape and the counts, not the numbers; and the
//! phases show how a join ran (broadcast to the shards, or on the handler).
#![cfg(not(madsim))]

use std::sync::Arc;

use shoal_engine::disk::{Disk, MemDisk};
use shoal_engine::node::{Node, NodeConfig, QueryResult, Session};
use shoal_engine::types::Value;

/// A node on its own, in memory, with a runtime to run statements on.
struct Fixture {
    rt: real_tokio::runtime::Runtime,
    node: Arc<Node>,
}

impl Fixture {
    fn new() -> Fixture {
        let rt = real_tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
        let node = Node::open(NodeConfig::default(), disk).expect("node");
        Fixture { rt, node }
    }

    fn try_run(&self, sql: &str) -> Result<QueryResult, shoal_engine::error::Error> {
        self.rt
            .block_on(self.node.execute(&Session::default(), sql, vec![]))
    }

    fn run(&self, sql: &str) -> QueryResult {
        self.try_run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

#[test]
fn explain_analyze_times_every_phase_of_a_join() {
    let node = Fixture::new();
    let run = |sql: &str| node.run(sql);
    run("CREATE TABLE a (id INT PRIMARY KEY, k INT) CLUSTERED INTO 3 SHARDS");
    run("CREATE TABLE b (id INT PRIMARY KEY, k INT) CLUSTERED INTO 2 SHARDS");
    run(
        "INSERT INTO a (id, k) SELECT generate_series, generate_series % 5 FROM generate_series(1, 50)",
    );
    run("INSERT INTO b (id, k) VALUES (1, 1), (2, 2)");
    run("REFRESH TABLE a, b");
    let r = run("EXPLAIN ANALYZE SELECT count(*) FROM a JOIN b ON a.k = b.k");
    assert_eq!(r.cols, vec!["EXPLAIN ANALYZE".to_string()]);
    let Value::Object(out) = &r.rows[0][0] else {
        panic!("not an object: {:?}", r.rows);
    };
    let plan = out.get("plan").and_then(Value::as_str).expect("plan");
    assert!(plan.contains("HashJoin[INNER"), "{plan}");
    assert!(out.get("planning_ms").and_then(Value::as_f64).is_some());
    let Some(Value::Object(exec)) = out.get("execution") else {
        panic!("no execution: {out:?}");
    };
    assert_eq!(exec.get("rows").and_then(Value::as_int), Some(1));
    let Some(Value::Array(phases)) = exec.get("phases") else {
        panic!("no phases: {exec:?}");
    };
    let named = |name: &str| {
        phases
            .iter()
            .filter(|p| matches!(p, Value::Object(o) if o.get("phase").and_then(Value::as_str) == Some(name)))
            .count()
    };
    // The small side (b, 2 rows) is read once, then sent to each of a's 3
    // shards, which join and count there: one partial count per shard.
    assert_eq!(named("collect doc.a"), 3, "{phases:?}");
    assert_eq!(named("collect doc.b"), 2, "{phases:?}");
    let broadcast = phases
        .iter()
        .find_map(|p| match p {
            Value::Object(o)
                if o.get("phase").and_then(Value::as_str)
                    == Some("INNER join broadcast to the shards of doc.a") =>
            {
                o.get("rows").and_then(Value::as_int)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no broadcast join: {phases:?}"));
    assert_eq!(broadcast, 3);
    let r = run("SELECT count(*) FROM a JOIN b ON a.k = b.k");
    assert_eq!(r.rows[0][0], Value::Int(20));
    // A full join runs on the handler: both sides come to it.
    let r = run("EXPLAIN ANALYZE SELECT count(*) FROM a FULL JOIN b ON a.k = b.k");
    let text = format!("{:?}", r.rows[0][0]);
    assert!(text.contains("FULL join"), "{text}");
    // Only SELECT can be analyzed.
    let err = node
        .try_run("EXPLAIN ANALYZE DELETE FROM a")
        .expect_err("DELETE");
    assert!(err.to_string().contains("EXPLAIN ANALYZE"), "{err}");
}

/// Which side of an inner join is sent to the other's shards: with
/// statistics (`ANALYZE`), the smaller one, wherever it is written; without
/// them, the right side when it is small enough.
#[test]
fn statistics_choose_the_side_a_join_broadcasts() {
    let node = Fixture::new();
    let run = |sql: &str| node.run(sql);
    run("CREATE TABLE big (id INT PRIMARY KEY, k INT) CLUSTERED INTO 3 SHARDS");
    run("CREATE TABLE small (id INT PRIMARY KEY, k INT) CLUSTERED INTO 2 SHARDS");
    run(
        "INSERT INTO big (id, k) SELECT generate_series, generate_series % 5 FROM generate_series(1, 200)",
    );
    run("INSERT INTO small (id, k) VALUES (1, 1), (2, 2), (3, 7)");
    run("REFRESH TABLE big, small");
    let phases = |sql: &str| {
        let r = run(&format!("EXPLAIN ANALYZE {sql}"));
        let Value::Object(out) = &r.rows[0][0] else {
            panic!("not an object: {:?}", r.rows);
        };
        let Some(Value::Object(exec)) = out.get("execution") else {
            panic!("no execution: {out:?}");
        };
        let Some(Value::Array(phases)) = exec.get("phases") else {
            panic!("no phases: {exec:?}");
        };
        phases
            .iter()
            .filter_map(|p| match p {
                Value::Object(o) => o.get("phase").and_then(Value::as_str).map(str::to_string),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let phase = |sql: &str| {
        let all = phases(sql);
        all.iter()
            .find(|name| name.contains(" join"))
            .cloned()
            .unwrap_or_else(|| panic!("no join phase: {all:?}"))
    };
    let written_small_first = "SELECT count(*) FROM small s JOIN big b ON s.k = b.k";
    // Without statistics the right side, big, is read and found small
    // enough (200 rows): it goes to small's shards.
    assert_eq!(
        phase(written_small_first),
        "INNER join broadcast to the shards of doc.small"
    );
    run("ANALYZE");
    assert_eq!(
        phase(written_small_first),
        "INNER join broadcast to the shards of doc.big"
    );
    // Sides the statistics put above the limit are not read to find out:
    // the join on the handler reads each shard once.
    run("SET GLOBAL TRANSIENT \"shoal.join.broadcast_rows\" = 2");
    let all = phases(written_small_first);
    assert!(all.iter().any(|p| p == "INNER join"), "{all:?}");
    assert_eq!(
        all.iter().filter(|p| *p == "collect doc.big").count(),
        3,
        "{all:?}"
    );
    assert_eq!(
        all.iter().filter(|p| *p == "collect doc.small").count(),
        2,
        "{all:?}"
    );
    for sql in [
        written_small_first,
        "SELECT count(*) FROM big b JOIN small s ON s.k = b.k",
    ] {
        assert_eq!(run(sql).rows[0][0], Value::Int(80), "{sql}");
    }
}
