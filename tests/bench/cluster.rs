//! The steps benchmark on a cluster of real `shoal server` processes on
//! this machine: ingest with 0 and 1 replicas, Q1–Q4 and Q6 (primary-key
//! lookups from 8 concurrent clients), to set beside the single-node
//! figures of `steps-bench` (docs/performance.md).
//!
//! ```text
//! cargo build --release -p shoal-sim --bin shoal -p shoal-tests --bin cluster-bench
//! SHOAL_BIN=target/release/shoal target/release/cluster-bench --rows 1000000
//! ```
//!
//! Every process shares the machine's cores: three nodes on two cores do
//! not triple anything; what this shows is what replication and the hops
//! between nodes cost. Bulk requests go to the nodes in turn, one client;
//! queries go to the first node; lookups spread their clients over the nodes.

use std::time::Instant;

use shoal_tests::bench::{
    BulkReply, QUERIES, RUNS, build_batches, ensure_csv, fmt_ms, green, parse_args, pk_lookups,
    settle_all as settle, start_cluster, time_queries, wait_for,
};
use shoal_tests::{Server, TempDir};

const SHARDS: usize = 6;

/// What one table (one replica setting) measured.
struct Run {
    replicas: usize,
    ingest_rate: f64,
    ingest_secs: f64,
    queries: Vec<(&'static str, f64)>,
    lookups: f64,
}

fn main() {
    let mut node_count = 3;
    let args = parse_args(
        "cluster-bench [--rows N] [--nodes N] [--data DIR] [--shared DIR]",
        |flag, rest| {
            if flag != "--nodes" {
                return false;
            }
            node_count = rest.next().and_then(|v| v.parse().ok()).expect("--nodes N");
            true
        },
    );
    let csv = ensure_csv(args.rows, &args.data, &args.shared);
    eprintln!("building request bodies from {} ...", csv.display());
    let (batches, keys) = build_batches(&csv);
    let dir = TempDir::new("cluster-bench");
    let nodes = start_cluster(&dir, node_count);
    let urls: Vec<String> = nodes.iter().map(|n| n.url("")).collect();
    let mut runs = Vec::new();
    for replicas in [0, 1] {
        runs.push(measure(&nodes, &urls, &batches, &keys, args.rows, replicas));
    }
    println!();
    println!(
        "steps benchmark, N = {}, {} `shoal server` processes on this machine, {SHARDS} shards, HTTP \
         (medians of {RUNS}; ingest = bulk requests of 1000 rows to the nodes in turn, one client, + REFRESH)",
        args.rows, node_count
    );
    println!();
    println!(
        "| operation | {} |",
        runs.iter()
            .map(|r| format!("{} nodes, {} replica(s)", node_count, r.replicas))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---|".repeat(runs.len()));
    let cells = |f: &dyn Fn(&Run) -> String| runs.iter().map(f).collect::<Vec<_>>().join(" | ");
    println!(
        "| ingest rows/s | {} |",
        cells(&|r| format!("{:.0}k ({:.1} s)", r.ingest_rate / 1000.0, r.ingest_secs))
    );
    for (i, (name, _)) in QUERIES.iter().enumerate() {
        println!("| {name} ms | {} |", cells(&|r| fmt_ms(r.queries[i].1)));
    }
    println!(
        "| Q6 queries/s (8 clients, 10 s) | {} |",
        cells(&|r| format!("{:.1}k", r.lookups / 1000.0))
    );
}

fn measure(
    nodes: &[Server],
    urls: &[String],
    batches: &[Vec<u8>],
    keys: &[(i64, String)],
    rows: usize,
    replicas: usize,
) -> Run {
    let first = &nodes[0];
    first.sql("DROP TABLE IF EXISTS steps");
    first
        .sql(&format!(
            "CREATE TABLE steps (user_id INT, ts TIMESTAMP, steps INT, device TEXT, note TEXT, \
             PRIMARY KEY (user_id, ts)) CLUSTERED INTO {SHARDS} SHARDS \
             WITH (number_of_replicas = {replicas})"
        ))
        .ok();
    wait_for("health GREEN", || green(first));
    eprintln!("replicas {replicas}: ingest ...");
    let started = Instant::now();
    for (i, b) in batches.iter().enumerate() {
        let node = &nodes[i % nodes.len()];
        let (status, text) = node.post_text("", b, &[]);
        assert_eq!(status, 200, "batch {i}: {text}");
        let reply: BulkReply = serde_json::from_str(&text).expect("bulk reply");
        if let Some(bad) = reply.results.iter().find(|r| r.rowcount != 1) {
            panic!("batch {i}: a row failed: {}", bad.rowcount);
        }
    }
    first.sql("REFRESH TABLE steps").ok();
    let ingest_secs = started.elapsed().as_secs_f64();
    let count = first.sql("SELECT count(*) FROM steps").ok();
    assert_eq!(
        count.scalar().as_u64(),
        Some(rows as u64),
        "row count after ingest"
    );
    eprintln!(
        "  {:.0} rows/s; waiting for merges to settle ...",
        rows as f64 / ingest_secs
    );
    settle(nodes);
    let queries = time_queries(first, rows);
    let lookups = pk_lookups(urls, keys, 8, 10);
    Run {
        replicas,
        ingest_rate: rows as f64 / ingest_secs,
        ingest_secs,
        queries,
        lookups,
    }
}
