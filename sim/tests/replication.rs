//! Replicated shards under madsim: replicas allocated beside the primaries,
//! writes reaching every copy, and a cluster that loses a node promoting
//! replicas and re-creating the missing copies until it is GREEN again.
#![cfg(madsim)]

use std::time::Duration;

use shoal_engine::types::Value;
use shoal_sim::SimCluster;

fn count(r: &shoal_engine::node::QueryResult) -> i64 {
    match &r.rows[0][0] {
        Value::Int(n) => *n,
        other => panic!("not a count: {other:?}"),
    }
}

async fn insert_rows(c: &SimCluster, nodes: &[&str], from: i64, to: i64) {
    for (k, start) in (from..to).step_by(10).enumerate() {
        let node = nodes[k % nodes.len()];
        let values: Vec<String> = (start..(start + 10).min(to))
            .map(|i| format!("({i}, {i})"))
            .collect();
        let sql = format!("INSERT INTO t (id, v) VALUES {}", values.join(", "));
        let r = c.execute(node, &sql, vec![]).await.unwrap();
        assert_eq!(r.rowcount, values.len() as i64, "insert through {node}");
    }
}

async fn assert_counts(c: &SimCluster, nodes: &[&str], expected: i64) {
    c.execute(nodes[0], "REFRESH TABLE t", vec![])
        .await
        .unwrap();
    for n in nodes {
        let r = c
            .execute(n, "SELECT count(*), sum(v) FROM t", vec![])
            .await
            .unwrap();
        assert_eq!(count(&r), expected, "count on {n}");
        assert_eq!(r.rows[0][1], Value::Int((0..expected).sum()), "sum on {n}");
    }
    // Every copy of every shard holds the same documents.
    let docs = c.check_copies_agree(nodes[0], "t").unwrap();
    assert_eq!(docs as i64, expected);
}

/// Creates table `t`: 6 shards with 1 replica each; waits for GREEN.
async fn create_replicated_table(c: &SimCluster) {
    c.execute(
        "n1",
        "CREATE TABLE t (id INT PRIMARY KEY, v INT) CLUSTERED INTO 6 SHARDS \
         WITH (number_of_replicas = 1)",
        vec![],
    )
    .await
    .unwrap();
    c.wait_health("n1", "GREEN", Duration::from_secs(30)).await;
}

/// A node of n1..n3 that is not the master, and the two others. (The
/// master's own loss is the partition tests' and the writes test's.)
fn not_the_master(c: &SimCluster) -> (&'static str, Vec<&'static str>) {
    let master = c.masters()[0].1.clone().unwrap();
    let all = ["n1", "n2", "n3"];
    let victim = all.into_iter().find(|n| *n != master).unwrap();
    (victim, all.into_iter().filter(|n| *n != victim).collect())
}

#[madsim::test]
async fn replicas_spread_and_a_lost_node_is_replaced_without_an_operator() {
    let c = SimCluster::form(3).await;
    create_replicated_table(&c).await;
    // Six primaries and six replicas: four copies on every node, never a
    // primary and its replica on one node.
    let map = c.shard_map("n2");
    for n in ["n1", "n2", "n3"] {
        let copies = &map[n];
        assert_eq!(copies.len(), 4, "copies on {n}: {map:?}");
        let shards: std::collections::BTreeSet<u32> = copies.iter().map(|c| c.1).collect();
        assert_eq!(shards.len(), 4, "two copies of one shard on {n}: {map:?}");
    }

    insert_rows(&c, &["n1", "n2", "n3"], 0, 300).await;
    assert_counts(&c, &["n1", "n2", "n3"], 300).await;
    // The system tables every node contributes to answer alike everywhere:
    // three nodes, twelve copies with their document counts.
    let shards_sql = "SELECT id, \"primary\", state, node['name'], num_docs FROM sys.shards \
                      WHERE table_name = 't' ORDER BY id, \"primary\", node['name']";
    let nodes_sql = "SELECT name FROM sys.nodes ORDER BY name";
    let first = c.execute("n1", shards_sql, vec![]).await.unwrap();
    assert_eq!(first.rows.len(), 12, "{:?}", first.rows);
    let docs: i64 = first
        .rows
        .iter()
        .filter(|r| r[1] == Value::Bool(true))
        .map(|r| match r[4] {
            Value::Int(n) => n,
            ref other => panic!("num_docs {other:?} in {r:?}"),
        })
        .sum();
    assert_eq!(docs, 300);
    for n in ["n2", "n3"] {
        let r = c.execute(n, shards_sql, vec![]).await.unwrap();
        assert_eq!(r.rows, first.rows, "sys.shards through {n}");
        let r = c.execute(n, nodes_sql, vec![]).await.unwrap();
        let names: Vec<Value> = ["n1", "n2", "n3"].map(|s| Value::Text(s.into())).to_vec();
        assert_eq!(
            r.rows
                .into_iter()
                .map(|mut r| r.remove(0))
                .collect::<Vec<_>>(),
            names
        );
    }

    // Each node logs the statements it handled; the log is gathered from
    // every node, and a query of sys.jobs sees itself where it runs.
    let handled = "SELECT DISTINCT node['name'] FROM sys.jobs_log \
                   WHERE stmt LIKE 'INSERT%' ORDER BY 1";
    let r = c.execute("n1", handled, vec![]).await.unwrap();
    let names: Vec<Value> = ["n1", "n2", "n3"].map(|s| Value::Text(s.into())).to_vec();
    assert_eq!(
        r.rows,
        names.iter().map(|n| vec![n.clone()]).collect::<Vec<_>>()
    );
    let running = "SELECT node['name'], stmt FROM sys.jobs WHERE stmt LIKE '%sys.jobs%'";
    let r = c.execute("n3", running, vec![]).await.unwrap();
    assert_eq!(
        r.rows,
        vec![vec![Value::Text("n3".into()), Value::Text(running.into())]]
    );

    // Replicas report their local checkpoints to their primaries, which
    // ship the global checkpoint back: once writes stop, every copy knows
    // that all of them hold every operation.
    madsim::time::sleep(Duration::from_secs(2)).await;
    let settled = "SELECT count(*) FROM sys.shards WHERE table_name = 't' \
                   AND seq_no_stats['global_checkpoint'] = seq_no_stats['max_seq_no'] \
                   AND seq_no_stats['local_checkpoint'] = seq_no_stats['max_seq_no']";
    let r = c.execute("n3", settled, vec![]).await.unwrap();
    assert_eq!(count(&r), 12, "copies whose checkpoints caught up");
    // Primaries were created on their nodes' disks; replicas recovered
    // from them, and are done.
    let recoveries = "SELECT \"primary\", recovery['type'], recovery['stage'], \
                      recovery['size']['percent'], count(*) FROM sys.shards \
                      WHERE table_name = 't' GROUP BY 1, 2, 3, 4 ORDER BY 1";
    let r = c.execute("n2", recoveries, vec![]).await.unwrap();
    let text = |s: &str| Value::Text(s.into());
    assert_eq!(
        r.rows,
        vec![
            vec![
                Value::Bool(false),
                text("REPLICA"),
                text("DONE"),
                Value::Float(100.0),
                Value::Int(6)
            ],
            vec![
                Value::Bool(true),
                text("STORE"),
                text("DONE"),
                Value::Float(100.0),
                Value::Int(6)
            ],
        ]
    );

    // The node with primaries dies (not the master, whose loss the
    // partition tests cover).
    let (victim, survivors) = not_the_master(&c);
    c.kill(victim);
    c.wait_health(survivors[0], "YELLOW", Duration::from_secs(30))
        .await;
    // Its primaries' replicas were promoted: every row still answers.
    assert_counts(&c, &survivors, 300).await;
    // Writes go on. The missing replicas wait a minute for the node
    // (`unassigned.node_left.delayed_timeout`), then are re-created.
    insert_rows(&c, &survivors, 300, 400).await;
    madsim::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(c.health(survivors[0]).await.unwrap(), "YELLOW");
    c.wait_health(survivors[0], "GREEN", Duration::from_secs(120))
        .await;
    let map = c.shard_map(survivors[0]);
    for n in &survivors {
        assert_eq!(map[*n].len(), 6, "copies on {n}: {map:?}");
    }
    assert_counts(&c, &survivors, 400).await;
    // The trace tells the story in order: the kill, the master seeing the
    // node leave, replicas promoted, new copies recovering.
    let events = c.trace(shoal_sim::trace::KEPT).join("\n");
    let kill = format!("FAULT kill {victim}");
    let mut from = 0;
    for step in [
        kill.as_str(),
        "node left the cluster",
        "this copy is the primary under a new term",
        "recovering a copy from its primary",
        "recovered from the primary",
    ] {
        match events[from..].find(step) {
            Some(at) => from += at,
            None => panic!("{step:?} missing after position {from} of the trace:\n{events}"),
        }
    }

    // The node comes back and rejoins.
    c.restart(victim).await;
    c.wait_member(victim).await;
    c.wait_health(victim, "GREEN", Duration::from_secs(60))
        .await;
    assert_counts(&c, &["n1", "n2", "n3"], 400).await;
    c.check_copies_agree("n1", "t").unwrap();
    c.wait_checkpoints("n1", "t", Duration::from_secs(10))
        .await
        .unwrap();
}

#[madsim::test]
async fn a_node_back_within_the_delay_gets_its_copies_again() {
    let c = SimCluster::form(3).await;
    create_replicated_table(&c).await;
    insert_rows(&c, &["n1", "n2", "n3"], 0, 200).await;
    let (victim, survivors) = not_the_master(&c);
    let held = c.shard_map(survivors[0])[victim].clone();
    let primaries = held.iter().filter(|copy| copy.2).count();
    assert!(primaries > 0, "{held:?}");
    c.kill(victim);
    c.wait_health(survivors[0], "YELLOW", Duration::from_secs(30))
        .await;
    // Written while the node is away: it must catch up on them.
    insert_rows(&c, &survivors, 200, 300).await;
    c.restart(victim).await;
    c.wait_member(victim).await;
    c.wait_health(survivors[0], "GREEN", Duration::from_secs(30))
        .await;
    // Well within the minute: its copies came back to it, nowhere else.
    let map = c.shard_map(survivors[0]);
    for n in ["n1", "n2", "n3"] {
        assert_eq!(map[n].len(), 4, "copies on {n}: {map:?}");
    }
    // Every copy caught up by operations alone: its replicas, and its
    // primaries too (promoted away meanwhile, they hold nothing above the
    // global checkpoint that the new primaries lack: no write was in
    // flight when it died). (A recovery is logged once the master
    // committed its start, which the others may see first.)
    let mut recoveries = Vec::new();
    for _ in 0..100 {
        recoveries = c.engine(victim).unwrap().recoveries();
        if recoveries.len() >= 4 {
            break;
        }
        madsim::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(recoveries.len(), 4, "{recoveries:?}");
    assert!(
        recoveries
            .iter()
            .all(|r| !r.files && r.bytes == 0 && r.operations > 0),
        "{recoveries:?}"
    );
    // The trace shows it too: no segment copied to it since its restart.
    let events = c.trace(shoal_sim::trace::KEPT);
    let restarted = format!("HEAL  restart {victim}");
    let since = events.iter().rposition(|e| e.contains(&restarted));
    let since = since.expect("the restart in the trace");
    let recovered: Vec<_> = events[since..]
        .iter()
        .filter(|e| e.contains(&format!(" {victim} ")) && e.contains("recovered from the primary"))
        .collect();
    assert_eq!(recovered.len(), 4, "{recovered:#?}");
    assert!(
        recovered.iter().all(|e| e.contains("segments=0 bytes=0")),
        "{recovered:#?}"
    );
    assert_counts(&c, &["n1", "n2", "n3"], 300).await;
}

/// Inserts one row per statement through `node`, ids `from, from + step,
/// ...` below `to`, for as long as `until` allows; answers the ids the
/// cluster acknowledged.
async fn write_until(
    c: &SimCluster,
    node: &str,
    ids: impl Iterator<Item = i64>,
    until: madsim::time::Instant,
) -> Vec<i64> {
    let mut acknowledged = Vec::new();
    for id in ids {
        if madsim::time::Instant::now() >= until {
            break;
        }
        let sql = format!("INSERT INTO t (id, v) VALUES ({id}, {id})");
        if c.execute(node, &sql, vec![]).await.is_ok() {
            acknowledged.push(id);
        } else {
            madsim::time::sleep(Duration::from_millis(50)).await;
        }
    }
    acknowledged
}

/// Creates table `t` for the fault tests: 4 shards, 1 replica, replicas
/// of a node that left re-created after 5 s; waits for GREEN.
async fn create_table_for_faults(c: &SimCluster) {
    c.execute(
        "n1",
        "CREATE TABLE t (id INT PRIMARY KEY, v INT) CLUSTERED INTO 4 SHARDS \
         WITH (number_of_replicas = 1, \"unassigned.node_left.delayed_timeout\" = '5s')",
        vec![],
    )
    .await
    .unwrap();
    c.wait_health("n1", "GREEN", Duration::from_secs(30)).await;
}

/// One writer per node n1..n3 (ids apart by node) until `until`; answers
/// every id acknowledged.
async fn write_through_every_node(c: &SimCluster, until: madsim::time::Instant) -> Vec<i64> {
    let writers = ["n1", "n2", "n3"]
        .into_iter()
        .enumerate()
        .map(|(k, n)| write_until(c, n, (k as i64..).step_by(3), until));
    futures::future::join_all(writers)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[madsim::test]
async fn no_acknowledged_write_is_lost_when_the_master_dies_under_writes() {
    let c = SimCluster::form(3).await;
    create_table_for_faults(&c).await;
    let master = c.masters()[0].1.clone().unwrap();
    let until = madsim::time::Instant::now() + Duration::from_secs(8);
    let writers = write_through_every_node(&c, until);
    let killer = async {
        madsim::time::sleep(Duration::from_secs(2)).await;
        c.kill(&master);
    };
    let (acknowledged, ()) = futures::future::join(writers, killer).await;
    let survivors: Vec<&str> = ["n1", "n2", "n3"]
        .into_iter()
        .filter(|n| *n != master)
        .collect();
    assert!(
        acknowledged.len() > 50,
        "too few writes got through: {}",
        acknowledged.len()
    );
    c.wait_health(survivors[0], "GREEN", Duration::from_secs(60))
        .await;
    c.execute(survivors[0], "REFRESH TABLE t", vec![])
        .await
        .unwrap();
    let r = c
        .execute(
            survivors[1],
            "SELECT id FROM t ORDER BY id LIMIT 100000",
            vec![],
        )
        .await
        .unwrap();
    let present: std::collections::BTreeSet<i64> = r
        .rows
        .iter()
        .map(|row| match row[0] {
            Value::Int(i) => i,
            ref other => panic!("not an id: {other:?}"),
        })
        .collect();
    let lost: Vec<i64> = acknowledged
        .iter()
        .copied()
        .filter(|id| !present.contains(id))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    c.check_copies_agree(survivors[0], "t").unwrap();
    c.wait_checkpoints(survivors[0], "t", Duration::from_secs(10))
        .await
        .unwrap();
}

#[madsim::test]
async fn nodes_that_join_receive_copies_while_writes_go_on_and_a_decommissioned_one_is_drained() {
    let mut c = SimCluster::form(3).await;
    create_replicated_table(&c).await;
    insert_rows(&c, &["n1", "n2", "n3"], 0, 300).await;
    let n4 = c.add_node().await;
    let n5 = c.add_node().await;
    // Writers keep going while copies move to the new nodes.
    let until = madsim::time::Instant::now() + Duration::from_secs(10);
    let writers = futures::future::join_all(
        ["n1", "n2", "n3"]
            .into_iter()
            .enumerate()
            .map(|(k, n)| write_until(&c, n, (1000 + k as i64..).step_by(3), until)),
    );
    let settle = async {
        for _ in 0..600 {
            if balanced(&c, &["n1", "n2", "n3", "n4", "n5"], 2..=3) {
                return true;
            }
            madsim::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    let (acknowledged, balanced_in_time) = futures::future::join(writers, settle).await;
    let acknowledged: Vec<i64> = acknowledged.into_iter().flatten().collect();
    assert!(balanced_in_time, "not balanced: {:?}", c.shard_map("n1"));
    assert_eq!(c.health("n1").await.unwrap(), "GREEN");
    assert!(
        acknowledged.len() > 20,
        "too few writes: {}",
        acknowledged.len()
    );
    assert_present(&c, "n2", &acknowledged).await;
    assert_counts_at_least(&c, &["n1", "n2", "n3", &n4, &n5], 300 + acknowledged.len()).await;

    // Decommissioning n1 moves every copy it holds to the others: its
    // primaries hand off to their new copies, while writes go on.
    let primaries_on_n1 = c.shard_map("n2")["n1"].iter().filter(|copy| copy.2).count();
    assert!(primaries_on_n1 > 0, "{:?}", c.shard_map("n2"));
    let r = c
        .execute("n2", "ALTER CLUSTER DECOMMISSION 'n1'", vec![])
        .await
        .unwrap();
    assert_eq!(r.rowcount, 1);
    let until = madsim::time::Instant::now() + Duration::from_secs(10);
    let writers = futures::future::join_all(
        ["n2", "n3", "n1"]
            .into_iter()
            .enumerate()
            .map(|(k, n)| write_until(&c, n, (100_000 + k as i64..).step_by(3), until)),
    );
    let drain = async {
        for _ in 0..600 {
            let gone = !c.shard_map("n2").contains_key("n1");
            if gone && balanced(&c, &["n2", "n3", "n4", "n5"], 3..=3) {
                return true;
            }
            madsim::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    let (more, drained) = futures::future::join(writers, drain).await;
    assert!(drained, "n1 not drained: {:?}", c.shard_map("n2"));
    // Drained, it would stop itself (`shoal server` does): it says so.
    let engine = c.engine("n1").unwrap();
    madsim::time::timeout(Duration::from_secs(5), engine.decommissioned())
        .await
        .expect("n1 knows it is decommissioned and drained");
    let more: Vec<i64> = more.into_iter().flatten().collect();
    assert_present(&c, "n3", &more).await;
    let acknowledged: Vec<i64> = acknowledged.into_iter().chain(more).collect();
    assert_eq!(c.health("n2").await.unwrap(), "GREEN");
    assert_counts_at_least(&c, &["n2", "n3", &n4, &n5], 300 + acknowledged.len()).await;
    let unknown = c
        .execute("n2", "ALTER CLUSTER DECOMMISSION 'n9'", vec![])
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().contains("not part of the cluster"),
        "{unknown}"
    );
}

/// Whether every copy is started and each of `nodes` holds a number of
/// copies in `range`, as n1 (or the first node) sees the routing table.
fn balanced(c: &SimCluster, nodes: &[&str], range: std::ops::RangeInclusive<usize>) -> bool {
    let map = c.shard_map(nodes[0]);
    let moving = map.values().flatten().any(|copy| copy.3 != "Started");
    !moving
        && nodes
            .iter()
            .all(|n| range.contains(&map.get(*n).map_or(0, Vec::len)))
}

/// Every id in `ids` is found through `node` (after a refresh).
async fn assert_present(c: &SimCluster, node: &str, ids: &[i64]) {
    c.execute(node, "REFRESH TABLE t", vec![]).await.unwrap();
    let r = c
        .execute(node, "SELECT id FROM t LIMIT 100000", vec![])
        .await
        .unwrap();
    let present: std::collections::BTreeSet<Value> =
        r.rows.into_iter().map(|mut r| r.remove(0)).collect();
    let lost: Vec<&i64> = ids
        .iter()
        .filter(|id| !present.contains(&Value::Int(**id)))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
}

/// Every node counts the same rows, at least `at_least` (writes whose
/// outcome was unknown may be there too), and every copy agrees.
async fn assert_counts_at_least(c: &SimCluster, nodes: &[&str], at_least: usize) {
    c.execute(nodes[0], "REFRESH TABLE t", vec![])
        .await
        .unwrap();
    let mut counts = Vec::new();
    for n in nodes {
        let r = c
            .execute(n, "SELECT count(*) FROM t", vec![])
            .await
            .unwrap();
        counts.push(count(&r));
    }
    assert!(
        counts.iter().all(|n| *n == counts[0]),
        "counts differ: {counts:?}"
    );
    assert!(
        counts[0] as usize >= at_least,
        "{} rows, expected at least {at_least}",
        counts[0]
    );
    let docs = c.check_copies_agree(nodes[0], "t").unwrap();
    assert_eq!(docs as i64, counts[0]);
}

/// Increments counter `id` `times` times through `node` by optimistic
/// concurrency (read `_seq_no` and `_primary_term`, write only if they are
/// unchanged), retrying conflicts. Answers (acknowledged increments,
/// increments whose outcome is unknown because the statement failed).
async fn increment(c: &SimCluster, node: &str, id: i64, times: usize) -> (i64, i64) {
    let (mut done, mut unknown) = (0, 0);
    let mut attempts = 0;
    while done < times as i64 && attempts < times * 20 {
        attempts += 1;
        let read = c
            .execute(
                node,
                &format!("SELECT v, _seq_no, _primary_term FROM t WHERE id = {id}"),
                vec![],
            )
            .await;
        let Ok(read) = read else {
            madsim::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let row = &read.rows[0];
        let (Value::Int(v), Value::Int(seq_no), Value::Int(term)) = (&row[0], &row[1], &row[2])
        else {
            panic!("unexpected row {row:?}");
        };
        let sql = format!(
            "UPDATE t SET v = {} WHERE id = {id} AND _seq_no = {seq_no} AND _primary_term = {term}",
            v + 1
        );
        match c.execute(node, &sql, vec![]).await {
            Ok(r) if r.rowcount == 1 => done += 1,
            Ok(_) => {} // another client came first: read again
            Err(_) => {
                unknown += 1;
                madsim::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    (done, unknown)
}

#[madsim::test]
async fn under_loss_and_latency_no_write_and_no_update_is_lost() {
    let c = SimCluster::form(3).await;
    create_replicated_table(&c).await;
    c.execute("n1", "INSERT INTO t (id, v) VALUES (-1, 0)", vec![])
        .await
        .unwrap();
    c.set_network(0.05, Duration::from_millis(1)..Duration::from_millis(20));
    let until = madsim::time::Instant::now() + Duration::from_secs(10);
    let counters = futures::future::join_all(
        ["n1", "n2", "n3"]
            .into_iter()
            .map(|n| increment(&c, n, -1, 15)),
    );
    let writers = write_through_every_node(&c, until);
    let (counters, acknowledged) = futures::future::join(counters, writers).await;
    c.set_network(0.0, Duration::from_millis(1)..Duration::from_millis(2));
    c.wait_health("n1", "GREEN", Duration::from_secs(60)).await;
    c.execute("n2", "REFRESH TABLE t", vec![]).await.unwrap();

    // Every acknowledged increment is in the counter; at most the unknown
    // ones besides.
    let done: i64 = counters.iter().map(|c| c.0).sum();
    let unknown: i64 = counters.iter().map(|c| c.1).sum();
    assert!(done > 0, "no increment got through");
    for n in ["n1", "n2", "n3"] {
        let r = c
            .execute(n, "SELECT v FROM t WHERE id = -1", vec![])
            .await
            .unwrap();
        let Value::Int(v) = r.rows[0][0] else {
            panic!("{:?}", r.rows)
        };
        assert!(
            (done..=done + unknown).contains(&v),
            "counter {v} on {n}: {done} increments acknowledged, {unknown} unknown"
        );
    }
    assert!(!acknowledged.is_empty(), "no insert got through");
    let r = c
        .execute("n3", "SELECT id FROM t WHERE id >= 0 LIMIT 100000", vec![])
        .await
        .unwrap();
    let present: std::collections::BTreeSet<Value> =
        r.rows.into_iter().map(|mut r| r.remove(0)).collect();
    let lost: Vec<&i64> = acknowledged
        .iter()
        .filter(|id| !present.contains(&Value::Int(**id)))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    c.check_copies_agree("n1", "t").unwrap();
}

#[madsim::test]
async fn number_of_replicas_changes_live() {
    let c = SimCluster::form(3).await;
    create_replicated_table(&c).await;
    insert_rows(&c, &["n1", "n2", "n3"], 0, 100).await;
    // With allocation limited to primaries, the new replicas wait (YELLOW).
    c.execute(
        "n1",
        "SET GLOBAL PERSISTENT \"cluster.routing.allocation.enable\" = 'primaries'",
        vec![],
    )
    .await
    .unwrap();
    c.execute("n2", "ALTER TABLE t SET (number_of_replicas = 2)", vec![])
        .await
        .unwrap();
    madsim::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(c.health("n3").await.unwrap(), "YELLOW");
    c.execute(
        "n3",
        "SET GLOBAL PERSISTENT \"cluster.routing.allocation.enable\" = 'all'",
        vec![],
    )
    .await
    .unwrap();
    c.wait_health("n1", "GREEN", Duration::from_secs(60)).await;
    let map = c.shard_map("n1");
    for n in ["n1", "n2", "n3"] {
        assert_eq!(map[n].len(), 6, "every node holds every shard: {map:?}");
    }
    assert_counts(&c, &["n1", "n2", "n3"], 100).await;
    // A range is evaluated against the nodes: '0-1' on three nodes is one.
    c.execute(
        "n3",
        "ALTER TABLE t SET (number_of_replicas = '0-1')",
        vec![],
    )
    .await
    .unwrap();
    c.wait_health("n1", "GREEN", Duration::from_secs(60)).await;
    let map = c.shard_map("n1");
    assert_eq!(map.values().map(Vec::len).sum::<usize>(), 12, "{map:?}");
    assert_counts(&c, &["n1", "n2", "n3"], 100).await;
}

#[madsim::test]
async fn a_node_restarted_on_a_wiped_data_directory_joins_as_a_new_node() {
    let c = SimCluster::form(3).await;
    c.execute(
        "n1",
        "CREATE TABLE t (id INT PRIMARY KEY, v INT) CLUSTERED INTO 6 SHARDS \
         WITH (number_of_replicas = 1, \"unassigned.node_left.delayed_timeout\" = '5s')",
        vec![],
    )
    .await
    .unwrap();
    c.wait_health("n1", "GREEN", Duration::from_secs(30)).await;
    insert_rows(&c, &["n1", "n2", "n3"], 0, 200).await;
    let (victim, survivors) = not_the_master(&c);
    let old_id = c.engine(victim).unwrap().coordinator().unwrap().id;
    c.wipe(victim);
    c.restart(victim).await;
    c.wait_member(victim).await;
    let new_id = c.engine(victim).unwrap().coordinator().unwrap().id;
    assert_ne!(old_id, new_id, "a wiped node has a new identity");
    // The old member is removed (the address answers under another id),
    // its copies are re-created, and the new node receives its share.
    let mut settled = false;
    for _ in 0..1200 {
        let state = c.engine(survivors[0]).unwrap().followed().state;
        let members_ok = state.members.len() == 3 && !state.members.contains_key(&old_id);
        if members_ok && balanced(&c, &[survivors[0], survivors[1], victim], 4..=4) {
            settled = true;
            break;
        }
        madsim::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(settled, "not settled: {:?}", c.shard_map(survivors[0]));
    assert_counts(&c, &["n1", "n2", "n3"], 200).await;
}

#[madsim::test]
async fn a_node_that_loses_its_unsynced_bytes_loses_nothing_acknowledged() {
    let c = SimCluster::form(3).await;
    create_replicated_table(&c).await;
    let (victim, survivors) = not_the_master(&c);
    let until = madsim::time::Instant::now() + Duration::from_secs(6);
    let writers = write_through_every_node(&c, until);
    let crash = async {
        madsim::time::sleep(Duration::from_secs(2)).await;
        c.crash(victim);
        madsim::time::sleep(Duration::from_secs(2)).await;
        c.restart(victim).await;
    };
    let (acknowledged, ()) = futures::future::join(writers, crash).await;
    assert!(
        acknowledged.len() > 20,
        "too few writes: {}",
        acknowledged.len()
    );
    c.wait_member(victim).await;
    c.wait_health(survivors[0], "GREEN", Duration::from_secs(120))
        .await;
    assert_present(&c, survivors[1], &acknowledged).await;
    assert_counts_at_least(&c, &["n1", "n2", "n3"], acknowledged.len()).await;
}

/// A primary whose files are damaged cannot be opened on its node: the
/// node fails it, the master tries it there again under a new term, and
/// after `allocation.max_retries` failures leaves it unassigned (RED, with
/// the reason in `sys.allocations`) until `ALTER CLUSTER REROUTE RETRY
/// FAILED`. A shard with a replica is not harmed: the replica is promoted.
#[madsim::test]
async fn a_primary_that_cannot_be_opened_is_failed_and_retried_a_bounded_number_of_times() {
    let c = SimCluster::form(3).await;
    for (name, replicas) in [("lone", 0), ("kept", 1)] {
        c.execute(
            "n1",
            &format!(
                "CREATE TABLE {name} (id INT PRIMARY KEY) CLUSTERED INTO 1 SHARDS \
                 WITH (number_of_replicas = {replicas}, \"allocation.max_retries\" = 2)"
            ),
            vec![],
        )
        .await
        .unwrap();
    }
    c.wait_health("n1", "GREEN", Duration::from_secs(30)).await;
    for name in ["lone", "kept"] {
        c.execute(
            "n1",
            &format!("INSERT INTO {name} (id) VALUES (1), (2)"),
            vec![],
        )
        .await
        .unwrap();
    }
    // The node holding the lone table's primary has what it holds of both
    // tables damaged while it is down.
    let state = c.engine("n1").unwrap().followed().state;
    let holder = |name: &str| -> (String, Option<String>) {
        let table = state
            .catalog
            .tables()
            .find(|t| t.ident.name == name)
            .unwrap();
        let copies = &state.routing.tables[&table.uuid][0];
        let node = copies.primary().and_then(|p| p.node).unwrap();
        (table.uuid.clone(), Some(state.members[&node].name.clone()))
    };
    let (lone, victim) = holder("lone");
    let victim = victim.unwrap();
    let survivors: Vec<&str> = ["n1", "n2", "n3"]
        .into_iter()
        .filter(|n| *n != victim)
        .collect();
    let (kept, _) = holder("kept");
    c.kill(&victim);
    for uuid in [&lone, &kept] {
        c.damage(&victim, &format!("indices/{uuid}/0/commit.json"));
    }
    c.restart(&victim).await;
    c.wait_member(&victim).await;
    c.wait_health(survivors[0], "RED", Duration::from_secs(60))
        .await;
    // Tried twice, then left unassigned with the reason.
    madsim::time::sleep(Duration::from_secs(5)).await;
    let r = c
        .execute(
            survivors[0],
            "SELECT \"primary\", current_state, explanation FROM sys.allocations \
             WHERE table_name = 'lone'",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 1, "{:?}", r.rows);
    assert_eq!(r.rows[0][0], Value::Bool(true));
    assert_eq!(r.rows[0][1], Value::Text("UNASSIGNED".into()));
    let explanation = format!("{:?}", r.rows[0][2]);
    assert!(explanation.contains("failed 2 times"), "{explanation}");
    // The replicated table lost nothing: its replica took over.
    let r = c
        .execute(survivors[1], "SELECT count(*) FROM kept", vec![])
        .await
        .unwrap();
    assert_eq!(count(&r), 2);
    let r = c
        .execute(survivors[0], "ALTER CLUSTER REROUTE RETRY FAILED", vec![])
        .await
        .unwrap();
    assert!(r.rowcount >= 1, "the lone primary is allocated again");
}

/// Faults that leave a node half there: a one-way cut (what the master
/// sends one follower is lost; the follower's own messages still arrive),
/// then a pause (a node freezes, as in a long GC pause or a stopped VM, and
/// runs on). Writes go on through every node; once the faults stop the
/// cluster returns to GREEN, every acknowledged write is there, the copies
/// agree and their checkpoints meet.
#[madsim::test]
async fn a_one_way_cut_and_a_paused_node_lose_nothing_acknowledged() {
    let c = SimCluster::form(3).await;
    create_table_for_faults(&c).await;
    let master = c.masters()[0].1.clone().unwrap();
    let others: Vec<&str> = ["n1", "n2", "n3"]
        .into_iter()
        .filter(|n| *n != master)
        .collect();
    let until = madsim::time::Instant::now() + Duration::from_secs(14);
    let writers = write_through_every_node(&c, until);
    let faults = async {
        madsim::time::sleep(Duration::from_secs(2)).await;
        c.cut(&master, others[0]);
        madsim::time::sleep(Duration::from_secs(4)).await;
        c.heal();
        madsim::time::sleep(Duration::from_secs(1)).await;
        c.pause(others[1]);
        madsim::time::sleep(Duration::from_secs(3)).await;
        c.resume(others[1]);
    };
    let (acknowledged, ()) = futures::future::join(writers, faults).await;
    assert!(
        acknowledged.len() > 50,
        "too few writes got through: {}",
        acknowledged.len()
    );
    c.wait_converged().await;
    c.wait_health("n1", "GREEN", Duration::from_secs(120)).await;
    for n in ["n1", "n2", "n3"] {
        assert_present(&c, n, &acknowledged).await;
    }
    c.check_copies_agree("n1", "t").unwrap();
    c.wait_checkpoints("n1", "t", Duration::from_secs(10))
        .await
        .unwrap();
}
