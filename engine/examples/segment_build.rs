//! Segment build cost per row, in process: the part of ingest that
//! housekeeping spends in tantivy.
//!
//!     cargo run --release -p shoal-engine --example segment_build -- [CSV] [ROWS] [SIZES]
//!
//! Reads the first ROWS (default 200,000) rows of the steps CSV (default
//! `target/bench-data/steps_1000000.csv`, written by `steps-bench`), turns
//! them into the `steps` table's rows as an INSERT would, and builds
//! segments of several sizes (SIZES, comma-separated; default
//! 10000,25000,50000,100000,200000) from them, printing the best of five builds in
//! µs per row. The host is shared and noisy: compare sizes within one run.

use std::sync::Arc;
use std::time::Instant;

use shoal_engine::catalog::{ColumnInfo, ReplicaSetting, RoutingHash, TableIdent, TableInfo};
use shoal_engine::storage::document::shard_schema;
use shoal_engine::storage::document::{BufferedDoc, RowDoc, StoredDoc};
use shoal_engine::storage::segment::Segment;
use shoal_engine::storage::source::source_bytes;
use shoal_engine::types::cast::cast;
use shoal_engine::types::{ColumnPolicy, DataType, Object, Value};

fn steps_table() -> TableInfo {
    let column = |name: &str, data_type: DataType| ColumnInfo {
        name: name.into(),
        data_type,
        not_null: false,
        default_expr: None,
        generated_expr: None,
        check_expr: None,
        index_off: false,
    };
    TableInfo {
        ident: TableIdent::new("doc", "steps"),
        uuid: "bench".into(),
        columns: vec![
            column("user_id", DataType::Integer),
            column("ts", DataType::Timestamp { tz: false }),
            column("steps", DataType::Integer),
            column("device", DataType::Text),
            column("note", DataType::Text),
        ],
        primary_key: vec!["user_id".into(), "ts".into()],
        clustered_by: None,
        partitioned_by: vec![],
        num_shards: 4,
        number_of_replicas: ReplicaSetting("0".into()),
        refresh_interval_ms: 1000,
        column_policy: ColumnPolicy::Strict,
        fulltext_indexes: vec![],
        checks: vec![],
        settings: Default::default(),
        version: 1,
        routing_hash: RoutingHash::Murmur3,
        analyzers: Default::default(),
        bound: Default::default(),
        derived: Default::default(),
    }
}

fn read_rows(csv: &str, limit: usize) -> Vec<StoredDoc> {
    let text = std::fs::read_to_string(csv).unwrap_or_else(|e| {
        eprintln!("cannot read {csv}: {e} (run steps-bench once to generate it)");
        std::process::exit(2)
    });
    let ts_type = DataType::Timestamp { tz: false };
    let mut docs = Vec::with_capacity(limit);
    for (i, line) in text.lines().skip(1).take(limit).enumerate() {
        let f: Vec<&str> = line.splitn(5, ',').collect();
        let [user, ts, steps, device, note] = f[..] else {
            continue;
        };
        let mut row = Object::default();
        row.insert("user_id".into(), Value::Int(user.parse().unwrap_or(0)));
        let ts = cast(Value::Text(ts.into()), &ts_type).unwrap_or(Value::Null);
        row.insert("ts".into(), ts);
        row.insert("steps".into(), Value::Int(steps.parse().unwrap_or(0)));
        row.insert("device".into(), Value::Text(device.into()));
        row.insert("note".into(), Value::Text(note.into()));
        docs.push(StoredDoc {
            id: format!("[{user},{i}]"),
            seq_no: i as u64,
            version: 1,
            primary_term: 1,
            source: Arc::new(row),
        });
    }
    docs
}

fn main() {
    let mut args = std::env::args().skip(1);
    let csv = args
        .next()
        .unwrap_or_else(|| "target/bench-data/steps_1000000.csv".into());
    let rows: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let sizes: Vec<usize> = args
        .next()
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 25_000, 50_000, 100_000, 200_000]);
    let table = Arc::new(steps_table());
    let docs = read_rows(&csv, rows);
    let docs: Vec<BufferedDoc> = docs
        .into_iter()
        .map(|doc| {
            let bytes = Arc::from(source_bytes(&doc.source));
            let row = Arc::unwrap_or_clone(doc.source);
            BufferedDoc::new(
                doc.id,
                doc.seq_no,
                doc.version,
                doc.primary_term,
                row,
                bytes,
            )
        })
        .collect();
    println!("{} rows of {csv}", docs.len());
    println!("| segment size | build µs/row (best of 5) |");
    println!("|---|---|");
    for size in sizes {
        if size > docs.len() {
            break;
        }
        // Frozen buffers of `size` rows, as a refresh hands them to the build.
        let chunks: Vec<Arc<Vec<BufferedDoc>>> =
            docs.chunks(size).map(|c| Arc::new(c.to_vec())).collect();
        let mut best = f64::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            for (n, chunk) in chunks.iter().enumerate() {
                let fields = shoal_engine::storage::fulltext::fields(&table).expect("fields");
                let segment = Segment::build(
                    n as u32,
                    &fields,
                    (0..chunk.len()).map(|i| {
                        RowDoc::new(shard_schema(), table.clone(), None, chunk.clone(), i)
                    }),
                )
                .expect("build");
                std::hint::black_box(segment);
            }
            best = best.min(started.elapsed().as_secs_f64() * 1e6 / docs.len() as f64);
        }
        println!("| {size} | {best:.2} |");
    }
}
