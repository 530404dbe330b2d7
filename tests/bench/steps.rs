//! The steps benchmark: bulk ingest and Q1–Q4 through HTTP against a real
//! `shoal server`, printed beside the peers measured on this kind of machine
//! (../shared/bench/README.md).
//!
//! ```text
//! cargo build --release -p shoal-sim --bin shoal
//! cargo run --release -p shoal-tests --bin steps-bench -- --rows 1000000
//! cargo run --release -p shoal-tests --bin steps-bench -- --rows 5000000
//! ```
//!
//! Data comes from the shared generator (`gen.py`, fixed seed), written once
//! to `target/bench-data/`. Request bodies are built before timing starts,
//! as the peers read their CSV into memory first; every figure is measured
//! by the client, over loopback HTTP, with one client. Q1–Q4 are timed twice:
//! once background merges have settled, and again after
//! `OPTIMIZE TABLE steps WITH (max_num_segments = 1)`.

use std::time::{Duration, Instant};

use shoal_tests::bench::{
    BATCH, BulkReply, RUNS, build_batches, ensure_csv, fmt_ms, median, parse_args, pk_lookups,
    settle, time_queries,
};
use shoal_tests::{Server, TempDir};

/// Peers at N = 5M and N = 1M, from ../shared/bench/README.md (medians, ms; ingest rows/s).
/// Columns: PostgreSQL 15 (PK + GIN), DuckDB 1.4.4, SQLite 3.40, tantivy 0.27 in-process.
const PEERS_5M: [(&str, [&str; 4]); 5] = [
    (
        "ingest rows/s",
        [
            "161k (INSERT 1000-row batches, PK)",
            "2.34M (CSV, no index)",
            "1.29M (no index)",
            "298k (index build)",
        ],
    ),
    ("Q1 ms", ["0.27", "3.9", "0.70", "0.005"]),
    ("Q2 ms", ["0.15", "1.0", "0.53", "2.5"]),
    ("Q3 ms", ["332", "9.9", "1,390", "17.4"]),
    ("Q4 ms", ["335", "17.4", "7,820", "80"]),
];
const PEERS_1M: [(&str, [&str; 4]); 5] = [
    (
        "ingest rows/s",
        ["161k (1M-row INSERT test)", "1.61M (CSV)", "1.32M", "444k"],
    ),
    ("Q1 ms", ["0.13", "0.88", "0.026", "0.004"]),
    ("Q2 ms", ["0.12", "0.67", "0.029", "0.52"]),
    ("Q3 ms", ["65", "2.3", "247", "3.3"]),
    ("Q4 ms", ["70", "4.3", "1,179", "25.8"]),
];

fn main() {
    let mut keep = false;
    let args = parse_args(
        "steps-bench [--rows N] [--data DIR] [--shared ../shared/bench] [--keep]",
        |flag, _| {
            if flag != "--keep" {
                return false;
            }
            keep = true;
            true
        },
    );
    let csv = ensure_csv(args.rows, &args.data, &args.shared);
    eprintln!("building request bodies from {} ...", csv.display());
    let (batches, keys) = build_batches(&csv);
    let rows: usize = args.rows;
    let dir = TempDir::new("steps-bench");
    let server = Server::start(&dir.0);
    eprintln!(
        "server on port {} (binary {})",
        server.port,
        shoal_tests::shoal_bin().display()
    );
    // STEPS_WITH="refresh_interval = 0" (say) adds table settings, for experiments.
    let with = std::env::var("STEPS_WITH")
        .map(|w| format!(" WITH ({w})"))
        .unwrap_or_default();
    server
        .sql(&format!(
            "CREATE TABLE steps (user_id INT, ts TIMESTAMP, steps INT, device TEXT, note TEXT, \
             PRIMARY KEY (user_id, ts)){with}"
        ))
        .ok();

    // Ingest.
    let cpu_before = server.cpu_seconds().unwrap_or(0.0);
    let started = Instant::now();
    let mut last_report = Instant::now();
    // The server's own time per request (its `duration`), to tell server
    // time from client and transport time.
    let mut server_ms = 0.0;
    let mut outside_ms: Vec<f64> = Vec::with_capacity(batches.len());
    for (i, b) in batches.iter().enumerate() {
        let sent = Instant::now();
        let (status, text) = server.post_text("", b, &[]);
        let took_ms = sent.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(status, 200, "batch {i}: {text}");
        let reply: BulkReply = serde_json::from_str(&text).expect("bulk reply");
        if let Some(bad) = reply.results.iter().find(|r| r.rowcount != 1) {
            panic!("batch {i}: a row failed: {}", bad.rowcount);
        }
        server_ms += reply.duration;
        outside_ms.push(took_ms - reply.duration);
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  {} rows ({:.0} rows/s)",
                (i + 1) * BATCH,
                ((i + 1) * BATCH) as f64 / started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    let sent_secs = started.elapsed().as_secs_f64();
    server.sql("REFRESH TABLE steps").ok();
    let ingest_secs = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds().unwrap_or(0.0) - cpu_before;
    eprintln!(
        "  requests took {sent_secs:.1} s ({:.1} s inside the server; client and transport {:.2} ms per request, median), the final REFRESH {:.1} s; server CPU {cpu:.1} s ({:.1} µs/row)",
        server_ms / 1000.0,
        median(outside_ms),
        ingest_secs - sent_secs,
        cpu * 1e6 / rows as f64
    );
    let ingest_rate = rows as f64 / ingest_secs;
    let count = server.sql("SELECT count(*) FROM steps").ok();
    assert_eq!(
        count.scalar().as_u64(),
        Some(rows as u64),
        "row count after ingest"
    );
    // STEPS_INGEST_ONLY=1 stops here: A/B runs of the load need nothing else.
    if std::env::var_os("STEPS_INGEST_ONLY").is_some() {
        println!("ingest: {ingest_rate:.0} rows/s ({ingest_secs:.1} s)");
        return;
    }

    let settled = settle(&server);
    let segments = server
        .sql("SELECT count(*) FROM sys.segments WHERE table_name = 'steps'")
        .ok()
        .scalar()
        .as_i64()
        .unwrap_or(0);
    eprintln!(
        "  merges settled after {:.1} s: {segments} segments in 4 shards",
        settled.as_secs_f64()
    );

    let timings = time_queries(&server, rows);

    // Then the same queries after merging each shard into one segment, as
    // a CrateDB user would run OPTIMIZE after a bulk load.
    let t = Instant::now();
    server
        .sql("OPTIMIZE TABLE steps WITH (max_num_segments = 1)")
        .ok();
    let optimize_secs = t.elapsed().as_secs_f64();
    eprintln!("  OPTIMIZE TABLE steps WITH (max_num_segments = 1) took {optimize_secs:.1} s");
    let optimized = time_queries(&server, rows);
    let q6 = pk_lookups(&[server.url("")], &keys, 8, 10);
    let stats = server
        .sql("SELECT sum(size), count(*) FROM sys.shards WHERE table_name = 'steps'")
        .ok();

    let peers = if rows >= 5_000_000 {
        &PEERS_5M
    } else {
        &PEERS_1M
    };
    println!();
    println!(
        "steps benchmark, N = {rows}, single node, HTTP, 1 client (medians of {RUNS}; ingest = {} bulk requests of {BATCH} rows + REFRESH)",
        batches.len()
    );
    println!();
    println!(
        "| operation | Shoal | Shoal after OPTIMIZE | PostgreSQL 15 (PK+GIN) | DuckDB 1.4.4 | SQLite 3.40 | tantivy 0.27 in-process |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {:.0}k ({:.1} s) | OPTIMIZE {:.1} s | {} | {} | {} | {} |",
        peers[0].0,
        ingest_rate / 1000.0,
        ingest_secs,
        optimize_secs,
        peers[0].1[0],
        peers[0].1[1],
        peers[0].1[2],
        peers[0].1[3]
    );
    for (i, ((name, ms), (_, opt_ms))) in timings.iter().zip(&optimized).enumerate() {
        let p = &peers[i + 1];
        println!(
            "| {name} ms | {} | {} | {} | {} | {} | {} |",
            fmt_ms(*ms),
            fmt_ms(*opt_ms),
            p.1[0],
            p.1[1],
            p.1[2],
            p.1[3]
        );
    }
    println!(
        "| Q6 queries/s (8 clients, 10 s) | {:.1}k | | 70.5k (pgbench, 8 connections) | – | – | – |",
        q6 / 1000.0
    );
    println!();
    println!(
        "on-disk size of shard copies: {:.0} MB in {} shards",
        stats.rows()[0][0].as_f64().unwrap_or(0.0) / 1e6,
        stats.rows()[0][1]
    );
    if keep {
        println!("keeping server data in {}", dir.0.display());
        std::mem::forget(dir);
    }
}
