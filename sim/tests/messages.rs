//! Messages per query as the cluster grows: a primary-key lookup touches
//! one shard (one request to another node at most), whatever the number of
//! nodes and shards; a full scan asks each shard once, the handler's own
//! copies without a message. Prints the table docs/performance.md quotes.
#![cfg(madsim)]

use std::time::Duration;

use shoal_engine::cluster::Coordinator;
use shoal_sim::SimCluster;

/// A count every node's coordinator keeps, summed over the nodes.
fn summed(c: &SimCluster, count: impl Fn(&Coordinator) -> u64) -> u64 {
    c.nodes
        .iter()
        .filter_map(|n| c.engine(&n.name))
        .filter_map(|e| e.coordinator().map(|co| count(co)))
        .sum()
}

/// Shard requests every node has sent so far.
fn sent(c: &SimCluster) -> u64 {
    summed(c, Coordinator::shard_requests_sent)
}

/// Housekeeping requests every node has sent so far.
fn housekeeping(c: &SimCluster) -> u64 {
    summed(c, Coordinator::housekeeping_requests_sent)
}

/// Shard requests the statement made, run through `node`.
async fn messages(c: &SimCluster, node: &str, sql: &str) -> u64 {
    let before = sent(c);
    c.execute(node, sql, vec![]).await.unwrap();
    sent(c) - before
}

/// Forms `nodes` nodes with a table of `2 * nodes` shards and 1 replica,
/// checks the message counts, and prints a row of the table.
async fn measure(nodes: usize) {
    let c = SimCluster::form(nodes).await;
    let shards = nodes * 2;
    c.execute(
        "n1",
        &format!(
            "CREATE TABLE t (id INT PRIMARY KEY, v INT) CLUSTERED INTO {shards} SHARDS \
             WITH (number_of_replicas = 1)"
        ),
        vec![],
    )
    .await
    .unwrap();
    c.wait_health("n1", "GREEN", Duration::from_secs(60)).await;
    let values: Vec<String> = (0..200).map(|i| format!("({i}, {i})")).collect();
    c.execute(
        "n1",
        &format!("INSERT INTO t (id, v) VALUES {}", values.join(", ")),
        vec![],
    )
    .await
    .unwrap();
    c.execute("n1", "REFRESH TABLE t", vec![]).await.unwrap();
    // Once the global checkpoints are shipped, nothing else moves: reads
    // send no housekeeping either.
    madsim::time::sleep(Duration::from_secs(3)).await;
    let quiet = housekeeping(&c);
    let mut lookup = 0;
    for id in 0..20 {
        let m = messages(&c, "n1", &format!("SELECT v FROM t WHERE id = {id}")).await;
        assert!(m <= 1, "a lookup sent {m} shard requests on {nodes} nodes");
        lookup = lookup.max(m);
    }
    assert_eq!(housekeeping(&c), quiet, "reads sent housekeeping requests");
    let scan = messages(&c, "n1", "SELECT count(*) FROM t").await;
    // Each shard once; those with a copy on n1 are read there.
    let local = c.shard_map("n1").get("n1").map_or(0, |copies| {
        copies
            .iter()
            .map(|copy| copy.1)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    });
    assert_eq!(scan as usize, shards - local, "a scan on {nodes} nodes");
    // A filter on the routing column asks the one shard it routes to.
    c.execute(
        "n1",
        &format!("CREATE TABLE r (id INT, v INT) CLUSTERED BY (v) INTO {shards} SHARDS"),
        vec![],
    )
    .await
    .unwrap();
    c.wait_health("n1", "GREEN", Duration::from_secs(60)).await;
    let values: Vec<String> = (0..200).map(|i| format!("({i}, {})", i % 10)).collect();
    let sql = format!("INSERT INTO r (id, v) VALUES {}", values.join(", "));
    c.execute("n1", &sql, vec![]).await.unwrap();
    c.execute("n1", "REFRESH TABLE r", vec![]).await.unwrap();
    for v in 0..10 {
        let sql = format!("SELECT count(*) FROM r WHERE v = {v}");
        let before = sent(&c);
        let r = c.execute("n1", &sql, vec![]).await.unwrap();
        let m = sent(&c) - before;
        assert!(
            m <= 1,
            "a routed count sent {m} shard requests on {nodes} nodes"
        );
        assert_eq!(r.rows, vec![vec![shoal_engine::types::Value::Int(20)]]);
    }
    let insert = messages(&c, "n1", "INSERT INTO t (id, v) VALUES (1000, 1)").await;
    assert!(insert <= 2, "a one-row insert sent {insert} shard requests");
    eprintln!("| {nodes} | {shards} (1 replica) | {lookup} | {scan} | {insert} |");
}

#[madsim::test]
async fn on_three_nodes_a_lookup_touches_one_shard() {
    measure(3).await;
}

#[madsim::test]
async fn on_five_nodes_a_lookup_touches_one_shard() {
    measure(5).await;
}
