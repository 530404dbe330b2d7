//! The relational benchmark: the steps workload joined with a 10,000-row
//! `users (id, country, birth_year)` table, through HTTP against real
//! `shoal server` processes (one node, or a cluster of `--nodes N`):
//!
//! ```text
//! cargo build --release -p shoal-sim --bin shoal -p shoal-tests --bin join-bench
//! SHOAL_BIN=$PWD/target/release/shoal ./target/release/join-bench --rows 5000000 [--nodes 3]
//! ```
//!
//! J1 sums steps per country through a join, J2 takes the top 10 of each
//! user's best day by `row_number()` over a window, J3 filters by an `IN
//! (subquery)`. Each query is run once to check its answer is stable, then
//! timed (median of [`JOIN_RUNS`]). `tests/bench/join_peers.py` runs the same
//! queries on DuckDB and PostgreSQL (docs/performance.md).

use std::time::Instant;

use shoal_tests::bench::{
    BenchArgs, BulkReply, build_batches, ensure_csv, fmt_ms, median, parse_args, settle,
    settle_all, start_cluster, wait_for,
};
use shoal_tests::{Server, TempDir};

/// Timed runs per query (the queries take up to seconds).
const JOIN_RUNS: usize = 7;

const COUNTRIES: [&str; 20] = [
    "AT", "AU", "BR", "CA", "CH", "CN", "DE", "DK", "ES", "FI", "FR", "GB", "IN", "IT", "JP", "NL",
    "NO", "PL", "SE", "US",
];

/// The queries, by name. J4 is J1 with broadcasting turned off (see
/// [`NO_BROADCAST`]); J5 joins two large sides.
pub const JOINS: [(&str, &str); 5] = [
    (
        "J1 join + group by country",
        "SELECT u.country, sum(s.steps) FROM steps s JOIN users u ON s.user_id = u.id \
         GROUP BY u.country ORDER BY 1",
    ),
    (
        "J2 top 10 by row_number()",
        "SELECT user_id, ts, steps FROM (SELECT user_id, ts, steps, row_number() OVER \
         (PARTITION BY user_id ORDER BY steps DESC, ts) AS rn FROM steps) t \
         WHERE rn = 1 ORDER BY steps DESC, user_id LIMIT 10",
    ),
    (
        "J3 IN (subquery)",
        "SELECT count(*), sum(steps) FROM steps WHERE user_id IN \
         (SELECT id FROM users WHERE country = 'DE' AND birth_year < 1970)",
    ),
    (
        "J4 = J1, users not broadcast",
        "SELECT u.country, sum(s.steps) FROM steps s JOIN users u ON s.user_id = u.id \
         GROUP BY u.country ORDER BY 1",
    ),
    (
        "J5 steps joined with itself by key",
        "SELECT count(*), sum(b.steps) FROM steps a JOIN steps b \
         ON a.user_id = b.user_id AND a.ts = b.ts WHERE a.steps > 15000",
    ),
];

/// The queries run with `shoal.join.broadcast_rows = 0`: on one node the
/// handler joins; on several, the join is repartitioned among them.
const NO_BROADCAST: [&str; 2] = [
    "J4 = J1, users not broadcast",
    "J5 steps joined with itself by key",
];

/// The users rows: `(id, country, birth_year)`, the same for every engine.
pub fn user(id: i64) -> (i64, &'static str, i64) {
    (id, COUNTRIES[(id * 7 % 20) as usize], 1940 + (id * 31 % 66))
}

fn main() {
    let mut node_count = 1;
    let BenchArgs { rows, data, shared } = parse_args(
        "join-bench [--rows N] [--nodes N] [--data DIR] [--shared ../shared/bench]",
        |flag, rest| {
            if flag != "--nodes" {
                return false;
            }
            node_count = rest.next().and_then(|v| v.parse().ok()).expect("--nodes N");
            true
        },
    );
    let csv = ensure_csv(rows, &data, &shared);
    eprintln!("building request bodies from {} ...", csv.display());
    let (batches, _) = build_batches(&csv);
    let dir = TempDir::new("join-bench");
    let nodes = if node_count == 1 {
        vec![Server::start(&dir.0)]
    } else {
        start_cluster(&dir, node_count)
    };
    let first = &nodes[0];
    first
        .sql(
            "CREATE TABLE steps (user_id INT, ts TIMESTAMP, steps INT, device TEXT, note TEXT, \
             PRIMARY KEY (user_id, ts)) CLUSTERED INTO 6 SHARDS WITH (number_of_replicas = 0)",
        )
        .ok();
    first
        .sql(
            "CREATE TABLE users (id INT PRIMARY KEY, country TEXT, birth_year INT) \
             CLUSTERED INTO 2 SHARDS WITH (number_of_replicas = 0)",
        )
        .ok();
    if node_count > 1 {
        wait_for("health GREEN", || shoal_tests::bench::green(first));
    }
    eprintln!("ingest ...");
    let started = Instant::now();
    for (i, b) in batches.iter().enumerate() {
        let (status, text) = nodes[i % nodes.len()].post_text("", b, &[]);
        assert_eq!(status, 200, "batch {i}: {text}");
        let reply: BulkReply = serde_json::from_str(&text).expect("bulk reply");
        assert!(reply.results.iter().all(|r| r.rowcount == 1), "batch {i}");
    }
    let users: Vec<_> = (0..10_000)
        .map(user)
        .map(|(id, c, y)| serde_json::json!([id, c, y]))
        .collect();
    first
        .bulk(
            "INSERT INTO users (id, country, birth_year) VALUES (?, ?, ?)",
            serde_json::json!(users),
        )
        .ok();
    first.sql("REFRESH TABLE steps, users").ok();
    eprintln!("  loaded in {:.1} s", started.elapsed().as_secs_f64());
    if node_count == 1 {
        settle(first);
    } else {
        settle_all(&nodes);
    }
    println!();
    println!(
        "joins benchmark, N = {rows}, {node_count} `shoal server` process(es), steps in 6 shards, \
         users in 2, HTTP (medians of {JOIN_RUNS} after a checked warm-up)"
    );
    println!();
    println!("| query | ms | rows |");
    println!("|---|---|---|");
    for (name, q) in JOINS {
        let broadcast = match NO_BROADCAST.contains(&name) {
            true => "SET GLOBAL TRANSIENT \"shoal.join.broadcast_rows\" = 0",
            false => "RESET GLOBAL \"shoal.join.broadcast_rows\"",
        };
        first.sql(broadcast).ok();
        let warm = first.sql(q).ok();
        let again = first.sql(q).ok();
        assert_eq!(
            warm.body["rows"], again.body["rows"],
            "{name}: unstable answer"
        );
        let mut runs = Vec::with_capacity(JOIN_RUNS);
        for _ in 0..JOIN_RUNS {
            let t = Instant::now();
            first.sql(q).ok();
            runs.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let shown = warm
            .rows()
            .first()
            .map(|r| r.to_string())
            .unwrap_or_default();
        eprintln!("{name}: first row {shown}");
        println!(
            "| {name} | {} | {} |",
            fmt_ms(median(runs)),
            warm.rows().len()
        );
    }
}
