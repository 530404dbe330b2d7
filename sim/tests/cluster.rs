//! Several nodes forming one cluster under madsim: consensus over the
//! cluster state, tables whose shards are spread over the nodes, and
//! statements answered the same through any node.
#![cfg(madsim)]

use std::collections::BTreeSet;

use shoal_engine::types::Value;
use shoal_sim::SimCluster;

fn count(r: &shoal_engine::node::QueryResult) -> i64 {
    match &r.rows[0][0] {
        Value::Int(n) => *n,
        other => panic!("not a count: {other:?}"),
    }
}

#[madsim::test]
async fn three_nodes_form_one_cluster_and_answer_alike() {
    let c = SimCluster::form(3).await;
    let masters: BTreeSet<Option<String>> = c.masters().into_iter().map(|(_, m)| m).collect();
    assert_eq!(masters.len(), 1, "one master for all: {masters:?}");
    assert!(masters.iter().all(Option::is_some));

    c.execute(
        "n1",
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT) CLUSTERED INTO 6 SHARDS \
         WITH (number_of_replicas = 0)",
        vec![],
    )
    .await
    .unwrap();
    // The table is cluster state: every node knows it, and holds two of
    // its six shards.
    for n in ["n1", "n2", "n3"] {
        let engine = c.engine(n).unwrap();
        let table = engine
            .catalog()
            .tables()
            .find(|t| t.ident.name == "t")
            .cloned()
            .unwrap_or_else(|| panic!("{n} does not know table t"));
        assert_eq!(engine.shards_of(&table.uuid).len(), 2, "shards on {n}");
    }
    let again = c
        .execute("n2", "CREATE TABLE t (id INT PRIMARY KEY)", vec![])
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");

    // 1,000 rows, ten per statement, through the three nodes in turn.
    for batch in 0..100i64 {
        let node = format!("n{}", batch % 3 + 1);
        let values: Vec<String> = (0..10)
            .map(|i| format!("({}, 'v{}')", batch * 10 + i, batch * 10 + i))
            .collect();
        let sql = format!("INSERT INTO t (id, v) VALUES {}", values.join(", "));
        let r = c.execute(&node, &sql, vec![]).await.unwrap();
        assert_eq!(r.rowcount, 10);
    }
    // A primary-key read sees a write at once, through any node.
    c.execute("n3", "INSERT INTO t (id, v) VALUES (5000, 'new')", vec![])
        .await
        .unwrap();
    for n in ["n1", "n2", "n3"] {
        let r = c
            .execute(n, "SELECT v FROM t WHERE id = 5000", vec![])
            .await
            .unwrap();
        assert_eq!(r.rows, vec![vec![Value::Text("new".into())]], "on {n}");
    }
    c.execute("n2", "REFRESH TABLE t", vec![]).await.unwrap();
    for n in ["n1", "n2", "n3"] {
        let r = c
            .execute(n, "SELECT count(*) FROM t", vec![])
            .await
            .unwrap();
        assert_eq!(count(&r), 1001, "count on {n}");
        let r = c
            .execute(n, "SELECT sum(id) FROM t WHERE id < 1000", vec![])
            .await
            .unwrap();
        assert_eq!(r.rows[0][0], Value::Int(499_500), "sum on {n}");
    }

    // Dynamic columns and DDL from any node reach every node.
    c.execute(
        "n3",
        "INSERT INTO t (id, v, extra) VALUES (6000, 'x', 7)",
        vec![],
    )
    .await
    .unwrap();
    c.execute("n1", "ALTER TABLE t ADD COLUMN more TEXT", vec![])
        .await
        .unwrap();
    for n in ["n1", "n2", "n3"] {
        let r = c
            .execute(
                n,
                "SELECT column_name FROM information_schema.columns \
                 WHERE table_name = 't' ORDER BY column_name",
                vec![],
            )
            .await
            .unwrap();
        let names: Vec<_> = r.rows.iter().map(|r| r[0].clone()).collect();
        assert_eq!(
            names,
            ["extra", "id", "more", "v"].map(|s| Value::Text(s.into())),
            "columns on {n}"
        );
    }
    c.execute("n2", "DROP TABLE t", vec![]).await.unwrap();
    for n in ["n1", "n2", "n3"] {
        let err = c
            .execute(n, "SELECT count(*) FROM t", vec![])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("unknown"), "{n}: {err}");
    }
}

/// Cuts the master of n1..n3 off from the two others, both ways, and gives
/// the majority 5 s to elect another; answers the old master and the others.
async fn isolate_the_master(c: &SimCluster) -> (String, Vec<&'static str>) {
    let master = c.masters()[0].1.clone().expect("a master");
    let others: Vec<&str> = ["n1", "n2", "n3"]
        .into_iter()
        .filter(|n| *n != master)
        .collect();
    c.partition(&[&master], &others);
    madsim::time::sleep(std::time::Duration::from_secs(5)).await;
    (master, others)
}

#[madsim::test]
async fn a_minority_holding_the_master_refuses_writes_and_the_majority_goes_on() {
    let c = SimCluster::form(3).await;
    c.execute(
        "n1",
        "CREATE TABLE t (id INT PRIMARY KEY) CLUSTERED INTO 3 SHARDS \
         WITH (number_of_replicas = 0)",
        vec![],
    )
    .await
    .unwrap();
    let (master, others) = isolate_the_master(&c).await;

    // The majority elects another master and accepts schema changes.
    let new_master = c
        .engine(others[0])
        .and_then(|e| e.coordinator().and_then(|c| c.master()))
        .map(|(_, m)| m.name)
        .expect("the majority has a master");
    assert_ne!(new_master, master);
    c.execute(others[0], "CREATE TABLE u (id INT)", vec![])
        .await
        .unwrap();
    // The old master, alone, refuses writes and schema changes.
    for sql in ["INSERT INTO t (id) VALUES (1)", "CREATE TABLE w (id INT)"] {
        let err = c.execute(&master, sql, vec![]).await.unwrap_err();
        assert!(err.to_string().contains("no master"), "{sql}: {err}");
    }
    // It cannot tell what is missing, and says so (CrateDB's -1 counts).
    let r = c
        .execute(
            &master,
            "SELECT health, missing_shards, underreplicated_shards FROM sys.cluster_health",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        r.rows,
        vec![vec![
            Value::Text("RED".into()),
            Value::Int(-1),
            Value::Int(-1)
        ]]
    );
    assert_eq!(
        c.health(others[0]).await.unwrap(),
        "RED",
        "the isolated node held primaries without replicas"
    );

    c.heal();
    c.wait_converged().await;
    for n in ["n1", "n2", "n3"] {
        let r = c
            .execute(
                n,
                "SELECT table_name FROM information_schema.tables \
                 WHERE table_schema = 'doc' ORDER BY table_name",
                vec![],
            )
            .await
            .unwrap();
        let names: Vec<_> = r.rows.iter().map(|r| r[0].clone()).collect();
        assert_eq!(names, ["t", "u"].map(|s| Value::Text(s.into())), "on {n}");
    }
    // The old master's shards are back with it: writes reach every shard.
    for i in 0..30 {
        c.execute(&master, &format!("INSERT INTO t (id) VALUES ({i})"), vec![])
            .await
            .unwrap();
    }
    c.execute(&master, "REFRESH TABLE t", vec![]).await.unwrap();
    for n in ["n1", "n2", "n3"] {
        let r = c
            .execute(n, "SELECT count(*) FROM t", vec![])
            .await
            .unwrap();
        assert_eq!(count(&r), 30, "count on {n}");
    }
}

/// The old master keeps sending heartbeats to the nodes on its side of a
/// partition (a learner here), though no quorum acknowledges it: they must
/// not take it for a master. Every write through that learner is refused,
/// one that would change nothing too (the property soak found an UPDATE of
/// a missing row answered "0 rows" on such a node), and nothing it was
/// sent is in the table after heal.
#[madsim::test]
async fn a_node_cut_off_with_the_old_master_refuses_writes_too() {
    let c = SimCluster::form(5).await;
    c.execute(
        "n1",
        "CREATE TABLE t (id INT PRIMARY KEY, v INT) CLUSTERED INTO 10 SHARDS \
         WITH (number_of_replicas = 0)",
        vec![],
    )
    .await
    .unwrap();
    c.wait_health("n1", "GREEN", std::time::Duration::from_secs(30))
        .await;
    let master = c.masters()[0].1.clone().expect("a master");
    let learner = "n4";
    let others: Vec<&str> = ["n1", "n2", "n3", "n5"]
        .into_iter()
        .filter(|n| *n != master)
        .collect();
    c.partition(&[&master, learner], &others);
    madsim::time::sleep(std::time::Duration::from_secs(5)).await;
    let mut sql = vec!["UPDATE t SET v = 1 WHERE id = -1".to_string()];
    sql.extend((0..20).map(|i| format!("INSERT INTO t (id, v) VALUES ({i}, {i})")));
    for sql in &sql {
        let err = c.execute(learner, sql, vec![]).await.unwrap_err();
        assert!(err.to_string().contains("no master"), "{sql}: {err}");
    }
    c.heal();
    c.wait_converged().await;
    c.execute("n1", "REFRESH TABLE t", vec![]).await.unwrap();
    let r = c
        .execute("n1", "SELECT count(*) FROM t", vec![])
        .await
        .unwrap();
    assert_eq!(count(&r), 0);
}

/// Schema changes during a partition that isolates the master: the
/// majority's (a new table, a column added by ALTER TABLE, a column added
/// dynamically by an INSERT) are committed once and reach every node after
/// heal; the minority's (a dynamic column, a table) are refused and leave
/// no trace. Every acknowledged row is there, the same through every node,
/// and the copies of each shard agree.
#[madsim::test]
async fn schema_changes_during_a_partition_are_consistent_after_heal() {
    use std::time::Duration;
    let c = SimCluster::form(3).await;
    c.execute(
        "n1",
        "CREATE TABLE d (id INT PRIMARY KEY, o OBJECT(DYNAMIC)) CLUSTERED INTO 3 SHARDS \
         WITH (number_of_replicas = 1, column_policy = 'dynamic')",
        vec![],
    )
    .await
    .unwrap();
    c.wait_health("n1", "GREEN", Duration::from_secs(30)).await;
    for i in 0..10 {
        c.execute("n2", &format!("INSERT INTO d (id) VALUES ({i})"), vec![])
            .await
            .unwrap();
    }
    let (master, others) = isolate_the_master(&c).await;

    // The minority refuses schema changes, dynamic ones included.
    for sql in [
        "INSERT INTO d (id, minority) VALUES (100, 1)",
        "INSERT INTO d (id, o) VALUES (101, {minority_key = 1})",
        "CREATE TABLE minority (id INT)",
    ] {
        let err = c.execute(&master, sql, vec![]).await.unwrap_err();
        assert!(err.to_string().contains("no master"), "{sql}: {err}");
    }
    // The majority makes them, through both of its nodes.
    let mut acknowledged = 10;
    for (k, sql) in [
        "INSERT INTO d (id, extra) VALUES (20, 'x')",
        "ALTER TABLE d ADD COLUMN added TEXT",
        "INSERT INTO d (id, o) VALUES (21, {k = 'v'})",
        "INSERT INTO d (id, added, extra) VALUES (22, 'a', 'y')",
        "CREATE TABLE majority (id INT)",
    ]
    .into_iter()
    .enumerate()
    {
        c.execute(others[k % 2], sql, vec![]).await.unwrap();
        acknowledged += sql.starts_with("INSERT") as i64;
    }

    c.heal();
    c.wait_converged().await;
    c.wait_health(&master, "GREEN", Duration::from_secs(60))
        .await;
    c.execute(&master, "REFRESH TABLE d", vec![]).await.unwrap();
    let columns = "SELECT column_name FROM information_schema.columns \
                   WHERE table_name = 'd' ORDER BY column_name";
    let tables = "SELECT table_name FROM information_schema.tables \
                  WHERE table_schema = 'doc' ORDER BY table_name";
    let rows = "SELECT id, extra, added, o FROM d ORDER BY id";
    let expected_columns: Vec<Value> = ["added", "extra", "id", "o", "o['k']"]
        .map(|s| Value::Text(s.into()))
        .to_vec();
    let first = c.execute("n1", rows, vec![]).await.unwrap();
    assert_eq!(first.rows.len() as i64, acknowledged);
    for n in ["n1", "n2", "n3"] {
        let r = c.execute(n, columns, vec![]).await.unwrap();
        let names: Vec<Value> = r.rows.into_iter().map(|mut r| r.remove(0)).collect();
        assert_eq!(names, expected_columns, "columns of d on {n}");
        let r = c.execute(n, tables, vec![]).await.unwrap();
        let names: Vec<Value> = r.rows.into_iter().map(|mut r| r.remove(0)).collect();
        assert_eq!(
            names,
            ["d", "majority"].map(|s| Value::Text(s.into())),
            "on {n}"
        );
        let r = c.execute(n, rows, vec![]).await.unwrap();
        assert_eq!(r.rows, first.rows, "the rows of d through {n}");
    }
    c.check_copies_agree("n1", "d").unwrap();
    c.wait_checkpoints("n1", "d", Duration::from_secs(10))
        .await
        .unwrap();
}

/// `OPTIMIZE TABLE` through one node merges every copy of every shard,
/// wherever it is, as `REFRESH` refreshes them all.
#[madsim::test]
async fn optimize_reaches_every_copy() {
    use std::time::Duration;
    let c = SimCluster::form(3).await;
    c.execute(
        "n1",
        "CREATE TABLE o (id INT PRIMARY KEY) CLUSTERED INTO 3 SHARDS \
         WITH (number_of_replicas = 1, refresh_interval = 0)",
        vec![],
    )
    .await
    .unwrap();
    c.wait_health("n1", "GREEN", Duration::from_secs(30)).await;
    // Several refreshes: several segments per copy.
    for round in 0..4 {
        let values: Vec<String> = (0..30).map(|i| format!("({})", round * 100 + i)).collect();
        let sql = format!("INSERT INTO o (id) VALUES {}", values.join(", "));
        c.execute("n2", &sql, vec![]).await.unwrap();
        c.execute("n3", "REFRESH TABLE o", vec![]).await.unwrap();
    }
    let segments = "SELECT shard_id, node['name'], count(*) FROM sys.segments \
                    WHERE table_name = 'o' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1";
    let r = c.execute("n1", segments, vec![]).await.unwrap();
    assert!(
        matches!(r.rows[0][2], Value::Int(n) if n > 1),
        "several segments per copy before: {:?}",
        r.rows
    );
    let r = c
        .execute("n2", "OPTIMIZE TABLE o WITH (max_num_segments = 1)", vec![])
        .await
        .unwrap();
    assert_eq!(r.rowcount, 1);
    let per_copy = "SELECT shard_id, node['name'], count(*) FROM sys.segments \
                    WHERE table_name = 'o' GROUP BY 1, 2 ORDER BY 1, 2";
    let r = c.execute("n3", per_copy, vec![]).await.unwrap();
    assert_eq!(r.rows.len(), 6, "every copy: {:?}", r.rows);
    assert!(
        r.rows.iter().all(|row| row[2] == Value::Int(1)),
        "one segment per copy after: {:?}",
        r.rows
    );
    let r = c
        .execute("n1", "SELECT count(*) FROM o", vec![])
        .await
        .unwrap();
    assert_eq!(count(&r), 120);
}

/// A node running a part of another node's statement (its shard's collect)
/// holds that part's rows on its own query breaker, as the handling node
/// holds the rest: a GROUP BY too large for the breaker fails where the
/// groups are built, on the node that has the shard.
#[madsim::test]
async fn a_part_of_a_statement_on_another_node_counts_on_that_nodes_breaker() {
    let c = SimCluster::form(2).await;
    c.execute(
        "n1",
        "CREATE TABLE g (id INT, k TEXT) CLUSTERED INTO 1 SHARDS WITH (number_of_replicas = 0)",
        vec![],
    )
    .await
    .unwrap();
    for batch in 0..20i64 {
        let values: Vec<String> = (0..100)
            .map(|i| {
                let id = batch * 100 + i;
                format!("({id}, 'a group key long enough to weigh something: {id}')")
            })
            .collect();
        let sql = format!("INSERT INTO g (id, k) VALUES {}", values.join(", "));
        c.execute("n1", &sql, vec![]).await.unwrap();
    }
    c.execute("n1", "REFRESH TABLE g", vec![]).await.unwrap();
    let holder = c
        .execute(
            "n1",
            "SELECT node['name'] FROM sys.shards WHERE table_name = 'g'",
            vec![],
        )
        .await
        .unwrap();
    let Value::Text(holder) = &holder.rows[0][0] else {
        panic!("no shard node: {:?}", holder.rows);
    };
    let other = if holder == "n1" { "n2" } else { "n1" };
    c.execute(
        other,
        "SET GLOBAL TRANSIENT \"indices.breaker.query.limit\" = '64kb'",
        vec![],
    )
    .await
    .unwrap();
    // Every node applies the setting from the cluster state.
    madsim::time::sleep(std::time::Duration::from_secs(2)).await;
    // A transient setting is cluster-wide: the shard's node has it too.
    let limit = c
        .execute(
            holder,
            "SELECT settings['indices']['breaker']['query']['limit'] FROM sys.cluster",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(limit.rows, vec![vec![Value::Text("64kb".into())]]);
    let err = match c
        .execute(other, "SELECT k, count(*) FROM g GROUP BY k", vec![])
        .await
    {
        Ok(r) => panic!("{} groups within the limit", r.rows.len()),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("CircuitBreakingException") && err.contains("'group by'"),
        "the shard's node trips while grouping: {err}"
    );
    // The nodes stay healthy: a small query answers through both.
    c.execute(
        other,
        "RESET GLOBAL \"indices.breaker.query.limit\"",
        vec![],
    )
    .await
    .unwrap();
    madsim::time::sleep(std::time::Duration::from_secs(2)).await;
    for n in ["n1", "n2"] {
        let r = c
            .execute(n, "SELECT count(*) FROM g", vec![])
            .await
            .unwrap();
        assert_eq!(count(&r), 2000, "through {n}");
    }
}

/// A join of two tables neither of which may be broadcast is split among
/// the nodes by key: each node joins one bucket of both sides. Inner,
/// outer and full joins (NULL keys, duplicate keys) count what a nested
/// loop over the inserted rows counts, through every node, and still do
/// right after a node dies (its bucket is joined by the handler, its
/// shards read from their replicas).
#[madsim::test]
async fn a_join_of_two_large_tables_is_split_among_the_nodes() {
    let c = SimCluster::form(3).await;
    let key = |id: i64, modulo: i64, nulls: i64| (id % nulls != 0).then_some(id % modulo);
    let a: Vec<Option<i64>> = (1..=300).map(|id| key(id, 13, 17)).collect();
    let b: Vec<Option<i64>> = (1..=200).map(|id| key(id, 11, 19)).collect();
    for (table, keys, shards) in [("a", &a, 4), ("b", &b, 3)] {
        c.execute(
            "n1",
            &format!(
                "CREATE TABLE {table} (id INT PRIMARY KEY, k INT) CLUSTERED INTO {shards} SHARDS \
                 WITH (number_of_replicas = 1)"
            ),
            vec![],
        )
        .await
        .unwrap();
        let values: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| match k {
                Some(k) => format!("({}, {k})", i + 1),
                None => format!("({}, NULL)", i + 1),
            })
            .collect();
        let sql = format!("INSERT INTO {table} (id, k) VALUES {}", values.join(", "));
        c.execute("n2", &sql, vec![]).await.unwrap();
    }
    c.execute("n3", "REFRESH TABLE a, b", vec![]).await.unwrap();
    c.wait_health("n1", "GREEN", std::time::Duration::from_secs(60))
        .await;
    // The reference: pairs with equal, non-NULL keys, and the rows of each
    // side that have none.
    let partners = |k: &Option<i64>, other: &[Option<i64>]| {
        k.map_or(0, |k| other.iter().filter(|o| **o == Some(k)).count()) as i64
    };
    let inner: i64 = a.iter().map(|k| partners(k, &b)).sum();
    let a_alone = a.iter().filter(|k| partners(k, &b) == 0).count() as i64;
    let b_alone = b.iter().filter(|k| partners(k, &a) == 0).count() as i64;
    let expected = [
        ("JOIN", inner),
        ("LEFT JOIN", inner + a_alone),
        ("RIGHT JOIN", inner + b_alone),
        ("FULL JOIN", inner + a_alone + b_alone),
    ];
    c.execute(
        "n1",
        "SET GLOBAL TRANSIENT \"shoal.join.broadcast_rows\" = 0",
        vec![],
    )
    .await
    .unwrap();
    madsim::time::sleep(std::time::Duration::from_secs(2)).await;
    for n in ["n1", "n2", "n3"] {
        for (join, want) in expected {
            let sql = format!("SELECT count(*) FROM a {join} b ON a.k = b.k");
            let r = c.execute(n, &sql, vec![]).await.unwrap();
            assert_eq!(count(&r), want, "{sql} through {n}");
        }
    }
    let r = c
        .execute(
            "n2",
            "EXPLAIN ANALYZE SELECT count(*) FROM a JOIN b ON a.k = b.k",
            vec![],
        )
        .await
        .unwrap();
    let shown = format!("{:?}", r.rows);
    assert!(
        shown.contains("INNER join repartitioned to 3 nodes"),
        "{shown}"
    );
    // Every part reads the same copy of each shard, which splits its rows
    // once for all three: one read per shard of a (4) and b (3).
    let splits = || {
        ["n1", "n2", "n3"]
            .iter()
            .map(|n| c.engine(n).map_or(0, |e| e.bucket_splits()))
            .sum::<u64>()
    };
    let before = splits();
    c.execute("n1", "SELECT count(*) FROM a JOIN b ON a.k = b.k", vec![])
        .await
        .unwrap();
    assert_eq!(splits() - before, 7, "one read of each shard");
    // A top-N over the joined rows: each part keeps its best, the handler
    // the best of those.
    let r = c
        .execute(
            "n3",
            "SELECT a.id, b.id FROM a JOIN b ON a.k = b.k ORDER BY a.id DESC, b.id DESC LIMIT 3",
            vec![],
        )
        .await
        .unwrap();
    let mut pairs: Vec<(i64, i64)> = Vec::new();
    for (i, ka) in a.iter().enumerate() {
        for (j, kb) in b.iter().enumerate() {
            if ka.is_some() && ka == kb {
                pairs.push((i as i64 + 1, j as i64 + 1));
            }
        }
    }
    pairs.sort_by(|x, y| y.cmp(x));
    let top: Vec<Vec<Value>> = pairs[..3]
        .iter()
        .map(|(x, y)| vec![Value::Int(*x), Value::Int(*y)])
        .collect();
    assert_eq!(r.rows, top);
    // A node dies: before the master removes it, its bucket is joined on
    // the handler, and its shards are read from their other copies.
    c.kill("n3");
    for (join, want) in expected {
        let sql = format!("SELECT count(*) FROM a {join} b ON a.k = b.k");
        let r = c.execute("n1", &sql, vec![]).await.unwrap();
        assert_eq!(count(&r), want, "{sql} with n3 dead");
    }
}

/// The master collects every table's statistics again each
/// `stats.service.interval` (CrateDB's table statistics service); every
/// node's estimates follow, and `0` stops it.
#[madsim::test]
async fn the_master_collects_statistics_every_interval() {
    let c = SimCluster::form(3).await;
    c.execute(
        "n1",
        "CREATE TABLE s (id INT PRIMARY KEY) CLUSTERED INTO 2 SHARDS WITH (number_of_replicas = 1)",
        vec![],
    )
    .await
    .unwrap();
    let insert = |from: i64, to: i64| {
        let values: Vec<String> = (from..to).map(|i| format!("({i})")).collect();
        format!("INSERT INTO s (id) VALUES {}", values.join(", "))
    };
    c.execute("n1", &insert(0, 100), vec![]).await.unwrap();
    c.execute("n1", "REFRESH TABLE s", vec![]).await.unwrap();
    let estimates = || async {
        let mut seen = BTreeSet::new();
        for n in ["n1", "n2", "n3"] {
            let r = c
                .execute(n, "EXPLAIN SELECT id FROM s", vec![])
                .await
                .unwrap();
            let Value::Text(plan) = &r.rows[0][0] else {
                panic!("no plan: {:?}", r.rows);
            };
            let rows = plan
                .rsplit("(rows=")
                .next()
                .unwrap_or("")
                .trim_end_matches(')');
            seen.insert(rows.to_string());
        }
        seen.into_iter().collect::<Vec<_>>()
    };
    // 24 hours by default: nothing collected yet.
    madsim::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(estimates().await, vec!["unknown"]);
    c.execute(
        "n2",
        "SET GLOBAL TRANSIENT \"stats.service.interval\" = '1s'",
        vec![],
    )
    .await
    .unwrap();
    madsim::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(estimates().await, vec!["100"]);
    c.execute("n3", &insert(100, 150), vec![]).await.unwrap();
    c.execute("n3", "REFRESH TABLE s", vec![]).await.unwrap();
    madsim::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(estimates().await, vec!["150"]);
    c.execute(
        "n1",
        "SET GLOBAL TRANSIENT \"stats.service.interval\" = 0",
        vec![],
    )
    .await
    .unwrap();
    madsim::time::sleep(std::time::Duration::from_secs(2)).await;
    c.execute("n1", &insert(150, 160), vec![]).await.unwrap();
    c.execute("n1", "REFRESH TABLE s", vec![]).await.unwrap();
    madsim::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(estimates().await, vec!["150"], "0 stops the collection");
}
