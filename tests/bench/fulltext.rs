//! The full-text benchmark: the steps workload with and without the
//! `note_ft` index (../shared/bench/README.md), through HTTP against a real
//! `shoal server`:
//!
//! ```text
//! cargo build --release -p shoal-sim --bin shoal -p shoal-tests --bin fulltext-bench
//! SHOAL_BIN=$PWD/target/release/shoal ./target/release/fulltext-bench --rows 5000000
//! ```
//!
//! It loads the same rows twice, into a table without and one with
//! `INDEX note_ft USING FULLTEXT (note) WITH (analyzer = 'english')` (each on
//! a fresh server, bulk requests of 1,000 rows + REFRESH), then times on the
//! second: Q5 (a count of rows holding both words, 1,471 at 5M), and the
//! top 10 by `_score` for one and for two words (medians of 21 runs after a
//! checked warm-up), before and after OPTIMIZE.

use std::time::Instant;

use shoal_tests::bench::{
    BenchArgs, BulkReply, RUNS, build_batches, ensure_csv, fmt_ms, median, parse_args, settle,
};
use shoal_tests::{Server, TempDir};

const Q5: &str = "SELECT count(*) FROM steps WHERE MATCH(note_ft, 'time people') \
                  USING best_fields WITH (operator = 'and')";
const TOP1: &str = "SELECT user_id, ts, _score FROM steps WHERE MATCH(note_ft, 'time') ORDER BY _score DESC LIMIT 10";
const TOP2: &str = "SELECT user_id, ts, _score FROM steps WHERE MATCH(note_ft, 'time people') \
                    ORDER BY _score DESC LIMIT 10";

fn main() {
    let BenchArgs { rows, data, shared } = parse_args(
        "fulltext-bench [--rows N] [--data DIR] [--shared ../shared/bench]",
        |_, _| false,
    );
    let csv = ensure_csv(rows, &data, &shared);
    eprintln!("building request bodies from {} ...", csv.display());
    let (batches, _) = build_batches(&csv);

    let plain = {
        let dir = TempDir::new("fulltext-bench-plain");
        let server = Server::start(&dir.0);
        ingest(&server, &batches, rows, "")
    };
    let dir = TempDir::new("fulltext-bench");
    let server = Server::start(&dir.0);
    let indexed = ingest(
        &server,
        &batches,
        rows,
        ", INDEX note_ft USING FULLTEXT (note) WITH (analyzer = 'english')",
    );
    settle(&server);
    let q5_rows = server.sql(Q5).ok().scalar().as_i64().unwrap_or(-1);
    if rows == 5_000_000 {
        assert_eq!(q5_rows, 1471, "Q5 answer at 5M");
    } else if rows == 1_000_000 {
        assert_eq!(q5_rows, 291, "Q5 answer at 1M");
    }
    let before = time_all(&server);
    server
        .sql("OPTIMIZE TABLE steps WITH (max_num_segments = 1)")
        .ok();
    let after = time_all(&server);

    println!();
    println!(
        "full-text benchmark, N = {rows}, single node, HTTP, 1 client (medians of {RUNS}); Q5 counts {q5_rows} rows"
    );
    println!();
    println!(
        "| operation | Shoal | Shoal after OPTIMIZE | PostgreSQL 15 (GIN) | DuckDB 1.4.4 (fts) | tantivy 0.27 in-process |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| ingest rows/s, no full-text index | {:.0}k | | | | |",
        plain / 1000.0
    );
    println!(
        "| ingest rows/s, with note_ft | {:.0}k ({:.0}% of the plain load) | | 94k (INSERT, PK+GIN) | | 298k (index build) |",
        indexed / 1000.0,
        100.0 * indexed / plain
    );
    let peers = [
        ("Q5 ms (count, 'time' AND 'people')", "6.5", "93", "0.74"),
        ("top 10 by _score, 'time'", "–", "–", "–"),
        ("top 10 by _score, 'time people'", "–", "–", "–"),
    ];
    for ((name, pg, duck, tv), (b, a)) in peers.iter().zip(before.iter().zip(&after)) {
        println!(
            "| {name} | {} | {} | {pg} | {duck} | {tv} |",
            fmt_ms(*b),
            fmt_ms(*a)
        );
    }
}

/// Loads the rows into a fresh `steps` table with `extra` table elements;
/// answers rows/s (bulk requests and the final REFRESH).
fn ingest(server: &Server, batches: &[Vec<u8>], rows: usize, extra: &str) -> f64 {
    server
        .sql(&format!(
            "CREATE TABLE steps (user_id INT, ts TIMESTAMP, steps INT, device TEXT, note TEXT, \
             PRIMARY KEY (user_id, ts){extra})"
        ))
        .ok();
    let started = Instant::now();
    for (i, b) in batches.iter().enumerate() {
        let (status, text) = server.post_text("", b, &[]);
        assert_eq!(status, 200, "batch {i}: {text}");
        let reply: BulkReply = serde_json::from_str(&text).expect("bulk reply");
        assert!(
            reply.results.iter().all(|r| r.rowcount == 1),
            "batch {i}: a row failed"
        );
    }
    server.sql("REFRESH TABLE steps").ok();
    let secs = started.elapsed().as_secs_f64();
    let count = server.sql("SELECT count(*) FROM steps").ok();
    assert_eq!(count.scalar().as_u64(), Some(rows as u64), "row count");
    let rate = rows as f64 / secs;
    eprintln!("  ingest{extra}: {rate:.0} rows/s ({secs:.1} s)");
    rate
}

/// Q5 and the two top-10 queries: a checked warm-up, then the median of
/// [`RUNS`] runs each, in ms.
fn time_all(server: &Server) -> Vec<f64> {
    [Q5, TOP1, TOP2]
        .iter()
        .map(|q| {
            let warm = server.sql(q).ok();
            if *q != Q5 {
                let got = warm.rows();
                assert_eq!(got.len(), 10, "{q}: 10 rows");
                let scores: Vec<f64> = got.iter().filter_map(|r| r[2].as_f64()).collect();
                assert!(
                    scores.windows(2).all(|w| w[0] >= w[1]),
                    "{q}: scores descend: {scores:?}"
                );
            }
            let mut runs = Vec::with_capacity(RUNS);
            for _ in 0..RUNS {
                let t = Instant::now();
                server.sql(q).ok();
                runs.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            median(runs)
        })
        .collect()
}
