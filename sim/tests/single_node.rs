//! One node under madsim: SQL, refresh semantics, and recovery after kill and power loss.
//! Run with `MADSIM_TEST_CHECK_DETERMINISM=1` to check that a seed reproduces the run.
#![cfg(madsim)]

use std::time::Duration;

use shoal_engine::types::Value;
use shoal_sim::SimCluster;

async fn count(c: &SimCluster, sql: &str) -> i64 {
    let r = c.execute("n1", sql, vec![]).await.expect("query");
    r.rows[0][0].as_int().expect("count")
}

#[madsim::test]
async fn single_node_sql_refresh_and_recovery() {
    let c = SimCluster::start(1).await;
    c.execute(
        "n1",
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT) CLUSTERED INTO 3 SHARDS",
        vec![],
    )
    .await
    .unwrap();
    for i in 0..50 {
        c.execute(
            "n1",
            "INSERT INTO t (id, v) VALUES (?, ?)",
            vec![Value::Int(i), Value::Text(format!("v{i}"))],
        )
        .await
        .unwrap();
    }
    // Writes are invisible to searches until a refresh, but real-time by primary key.
    assert_eq!(count(&c, "SELECT count(*) FROM t").await, 0);
    let r = c
        .execute("n1", "SELECT v FROM t WHERE id = 7", vec![])
        .await
        .unwrap();
    assert_eq!(r.rows, vec![vec![Value::Text("v7".into())]]);
    // The periodic refresh (1 s by default) makes them searchable.
    madsim::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(count(&c, "SELECT count(*) FROM t").await, 50);

    // Acknowledged writes survive a power loss: they were fsynced to the translog.
    c.execute("n1", "UPDATE t SET v = 'changed' WHERE id = 3", vec![])
        .await
        .unwrap();
    c.execute("n1", "DELETE FROM t WHERE id = 4", vec![])
        .await
        .unwrap();
    c.crash("n1");
    assert!(c.execute("n1", "SELECT 1", vec![]).await.is_err());
    c.restart("n1").await;
    assert_eq!(count(&c, "SELECT count(*) FROM t").await, 49);
    let r = c
        .execute("n1", "SELECT v FROM t WHERE id = 3", vec![])
        .await
        .unwrap();
    assert_eq!(r.rows, vec![vec![Value::Text("changed".into())]]);
    let r = c
        .execute(
            "n1",
            "SELECT count(*), max(id) FROM t WHERE v LIKE 'v%'",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.rows, vec![vec![Value::Int(48), Value::Int(49)]]);
}

#[madsim::test]
async fn idle_shards_flush_so_a_restart_replays_nothing() {
    let c = SimCluster::start(1).await;
    c.execute("n1", "CREATE TABLE f (id INT PRIMARY KEY)", vec![])
        .await
        .unwrap();
    for i in 0..20 {
        c.execute("n1", "INSERT INTO f (id) VALUES (?)", vec![Value::Int(i)])
            .await
            .unwrap();
    }
    let uncommitted = "SELECT sum(translog_stats['uncommitted_operations']) FROM sys.shards \
                       WHERE table_name = 'f'";
    assert_eq!(count(&c, uncommitted).await, 20);
    // Still uncommitted a little later: refreshes do not flush...
    madsim::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(count(&c, uncommitted).await, 20);
    // ...but 30 s without writes do.
    madsim::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(count(&c, uncommitted).await, 0);

    // After a power loss, the flushed rows come back from segments and only
    // the later write is replayed (and then uncommitted again).
    c.execute("n1", "INSERT INTO f (id) VALUES (100)", vec![])
        .await
        .unwrap();
    c.crash("n1");
    c.restart("n1").await;
    assert_eq!(count(&c, uncommitted).await, 1);
    madsim::time::sleep(Duration::from_secs(35)).await;
    assert_eq!(count(&c, uncommitted).await, 0);
    assert_eq!(count(&c, "SELECT count(*) FROM f").await, 21);
}

/// Background maintenance that fails is counted in `sys.shards` (not
/// dropped), the node keeps answering, and once the fault is gone the
/// shards flush and nothing acknowledged is lost.
#[madsim::test]
async fn failed_background_flushes_are_counted_and_recovered() {
    let c = SimCluster::start(1).await;
    c.execute(
        "n1",
        "CREATE TABLE t (id INT PRIMARY KEY) CLUSTERED INTO 2 SHARDS",
        vec![],
    )
    .await
    .unwrap();
    for i in 0..20 {
        c.execute("n1", "INSERT INTO t (id) VALUES (?)", vec![Value::Int(i)])
            .await
            .unwrap();
    }
    let failures =
        "SELECT sum(maintenance['flush_failures']) FROM sys.shards WHERE table_name = 't'";
    assert_eq!(count(&c, failures).await, 0);

    c.nodes[0].disk.set_full(true);
    // Idle shards flush after 30 s; with the disk full every attempt fails.
    madsim::time::sleep(Duration::from_secs(40)).await;
    assert!(
        count(&c, failures).await >= 2,
        "each shard counted its failed flush"
    );
    let err = c
        .execute("n1", "INSERT INTO t (id) VALUES (100)", vec![])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no space left"), "{err}");
    assert_eq!(count(&c, "SELECT count(*) FROM t").await, 20);

    c.nodes[0].disk.set_full(false);
    madsim::time::sleep(Duration::from_secs(40)).await;
    let pending = "SELECT sum(translog_stats['uncommitted_operations']) FROM sys.shards WHERE table_name = 't'";
    assert_eq!(
        count(&c, pending).await,
        0,
        "the retried flush committed everything"
    );
    c.crash("n1");
    c.restart("n1").await;
    assert_eq!(count(&c, "SELECT count(*) FROM t").await, 20);
}
