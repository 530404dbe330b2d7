//! What the steps benchmarks share (../shared/bench/README.md): the data
//! (generated once by the shared `gen.py`), the bulk request bodies, the
//! queries and their answers, primary-key lookups from concurrent clients,
//! and formatting.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Rows per bulk request.
pub const BATCH: usize = 1000;
/// Timed runs per query (the median is reported).
pub const RUNS: usize = 21;

pub const QUERIES: [(&str, &str); 4] = [
    ("Q1", "SELECT sum(steps) FROM steps WHERE user_id = 42"),
    (
        "Q2",
        "SELECT date_trunc('day', ts) AS d, sum(steps) FROM steps WHERE user_id = 42 AND ts >= '2025-03-01' \
         AND ts < '2025-04-01' GROUP BY d ORDER BY d",
    ),
    (
        "Q3",
        "SELECT device, count(*), avg(steps) FROM steps GROUP BY device",
    ),
    (
        "Q4",
        "SELECT user_id, sum(steps) AS s FROM steps GROUP BY user_id ORDER BY s DESC LIMIT 10",
    ),
];

/// Q6: a primary-key lookup.
pub const LOOKUP: &str = "SELECT * FROM steps WHERE user_id = ? AND ts = ?";

/// The options every steps bench takes.
pub struct BenchArgs {
    /// `--rows N`: rows of the workload (default 1M).
    pub rows: usize,
    /// `--data DIR`: where the generated CSV is cached (default `target/bench-data`).
    pub data: PathBuf,
    /// `--shared DIR`: the shared bench directory with `gen.py` (default `../shared/bench`).
    pub shared: PathBuf,
}

/// Reads the command line: the common options, and a bench's own through
/// `own`, which is given each other flag and the remaining arguments (for
/// its value) and answers whether the flag was its. `-h` prints `usage`.
pub fn parse_args(
    usage: &str,
    mut own: impl FnMut(&str, &mut dyn Iterator<Item = String>) -> bool,
) -> BenchArgs {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut args = BenchArgs {
        rows: 1_000_000,
        data: workspace.join("target/bench-data"),
        shared: workspace.join("../shared/bench"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rows" => args.rows = it.next().and_then(|v| v.parse().ok()).expect("--rows N"),
            "--data" => args.data = PathBuf::from(it.next().expect("--data DIR")),
            "--shared" => args.shared = PathBuf::from(it.next().expect("--shared DIR")),
            "-h" | "--help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            other => {
                if !own(other, &mut it) {
                    panic!("unknown argument {other}");
                }
            }
        }
    }
    args
}

/// The CSV of `rows` rows in `data`, generated with `shared/gen.py` when missing.
pub fn ensure_csv(rows: usize, data: &Path, shared: &Path) -> PathBuf {
    let csv = data.join(format!("steps_{rows}.csv"));
    if csv.exists() {
        return csv;
    }
    std::fs::create_dir_all(data).expect("data dir");
    let generator = shared.join("gen.py");
    assert!(
        generator.exists(),
        "{} not found: pass --shared DIR (the shared bench directory)",
        generator.display()
    );
    eprintln!("generating {rows} rows with {} ...", generator.display());
    let status = Command::new("python3")
        .arg(&generator)
        .args(["--rows", &rows.to_string(), "--out"])
        .arg(data)
        .args(["--formats", "csv"])
        .status()
        .expect("run gen.py");
    assert!(status.success(), "gen.py failed");
    csv
}

/// The bulk request bodies of the CSV, and a sample of its primary keys
/// (every 500th row) for lookups.
pub fn build_batches(csv: &Path) -> (Vec<Vec<u8>>, Vec<(i64, String)>) {
    let text = std::fs::read_to_string(csv).expect("read csv");
    let mut batches = Vec::new();
    let mut keys = Vec::new();
    let mut rows: Vec<Value> = Vec::with_capacity(BATCH);
    for (i, line) in text.lines().skip(1).enumerate() {
        let mut f = line.splitn(5, ',');
        let (Some(u), Some(ts), Some(st), Some(dev), Some(note)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let u: i64 = u.parse().expect("user_id");
        let st: i64 = st.parse().expect("steps");
        if i % 500 == 0 {
            keys.push((u, ts.to_string()));
        }
        rows.push(json!([u, ts, st, dev, note]));
        if rows.len() == BATCH {
            batches.push(body(&rows));
            rows.clear();
        }
    }
    if !rows.is_empty() {
        batches.push(body(&rows));
    }
    (batches, keys)
}

fn body(rows: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "stmt": "INSERT INTO steps (user_id, ts, steps, device, note) VALUES (?, ?, ?, ?, ?)",
        "bulk_args": rows,
    }))
    .expect("json")
}

/// The part of a bulk reply the ingest checks.
#[derive(serde::Deserialize)]
pub struct BulkReply {
    pub duration: f64,
    pub results: Vec<BulkResult>,
}

#[derive(serde::Deserialize)]
pub struct BulkResult {
    pub rowcount: i64,
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// Checks the answers the README gives (and the shapes otherwise).
pub fn check_answer(name: &str, rows: usize, body: &Value) {
    match (name, rows) {
        ("Q1", 5_000_000) => assert_eq!(body["rows"][0][0], json!(5117132), "Q1 answer"),
        ("Q4", 5_000_000) => assert_eq!(body["rows"][0], json!([3951, 5513977]), "Q4 answer"),
        ("Q3", _) => assert_eq!(
            body["rows"].as_array().map(Vec::len),
            Some(6),
            "Q3 has 6 devices"
        ),
        ("Q4", _) => assert_eq!(
            body["rows"].as_array().map(Vec::len),
            Some(10),
            "Q4 has 10 rows"
        ),
        _ => {}
    }
}

/// Waits until background merges settle, as a database would be between a
/// load and queries: the server has used less than 5% of a core for 2 s
/// (a stable segment count is not enough: one large merge keeps the count
/// unchanged for seconds while it runs). Gives up after 3 minutes; answers
/// how long it waited.
pub fn settle(server: &crate::Server) -> Duration {
    let started = Instant::now();
    let mut quiet_since = Instant::now();
    let mut cpu_then = server.cpu_seconds().unwrap_or(0.0);
    while quiet_since.elapsed() < Duration::from_secs(2)
        && started.elapsed() < Duration::from_secs(180)
    {
        std::thread::sleep(Duration::from_millis(500));
        let cpu_now = server.cpu_seconds().unwrap_or(0.0);
        if cpu_now - cpu_then > 0.025 {
            quiet_since = Instant::now();
        }
        cpu_then = cpu_now;
    }
    started.elapsed()
}

/// Q1–Q4 through `server`: one warm-up each (its answer checked), then the
/// median of [`RUNS`] timed runs, in ms.
pub fn time_queries(server: &crate::Server, rows: usize) -> Vec<(&'static str, f64)> {
    let mut timings = Vec::new();
    for (name, q) in QUERIES {
        let warm = server.sql(q).ok();
        check_answer(name, rows, &warm.body);
        let mut runs = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            server.sql(q).ok();
            runs.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        timings.push((name, median(runs)));
    }
    timings
}

/// Q6: primary-key lookups of `keys` from `clients` concurrent clients (each
/// its own connection, client `i` talking to `urls[i % urls.len()]`) for
/// `secs` seconds; answers queries per second. Every lookup must find its
/// row.
pub fn pk_lookups(urls: &[String], keys: &[(i64, String)], clients: usize, secs: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let url = format!("{}/_sql", urls[i % urls.len()]);
            let keys: Vec<(i64, String)> = keys.iter().skip(i).step_by(clients).cloned().collect();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut done = 0u64;
                for (user, ts) in keys.iter().cycle() {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let body = json!({"stmt": LOOKUP, "args": [user, ts]});
                    let mut resp = agent
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .send(serde_json::to_vec(&body).expect("json").as_slice())
                        .expect("lookup");
                    let text = resp.body_mut().read_to_string().unwrap_or_default();
                    let reply: Value = serde_json::from_str(&text).expect("lookup reply");
                    assert_eq!(reply["rowcount"], json!(1), "lookup {user} {ts}: {text}");
                    done += 1;
                }
                done
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().expect("client")).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

/// Starts `n` nodes forming one cluster and waits until it has.
pub fn start_cluster(dir: &crate::TempDir, n: usize) -> Vec<crate::Server> {
    let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
    let transports: Vec<u16> = (0..n).map(|_| crate::free_port()).collect();
    let seeds = transports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let masters = names.join(",");
    let nodes: Vec<crate::Server> = names
        .iter()
        .zip(&transports)
        .map(|(name, port)| {
            let transport = format!("127.0.0.1:{port}");
            crate::Server::start_with(
                &dir.0.join(name),
                &[
                    "--transport",
                    &transport,
                    "--seed-hosts",
                    &seeds,
                    "--initial-master-nodes",
                    &masters,
                    "--node-name",
                    name,
                    "--cluster-name",
                    "bench",
                ],
            )
        })
        .collect();
    wait_for("the cluster to form", || {
        let r = nodes[0].sql("SELECT count(*) FROM sys.nodes");
        r.status == 200 && r.scalar().as_u64() == Some(n as u64)
    });
    eprintln!("{n} nodes formed a cluster");
    nodes
}

pub fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what} did not happen within 120 s");
}

pub fn green(node: &crate::Server) -> bool {
    let r = node.sql("SELECT health FROM sys.cluster_health");
    r.status == 200 && r.scalar().as_str() == Some("GREEN")
}

/// Waits until the servers together used less than 5% of a core for 2 s
/// (background merges done), at most 3 minutes.
pub fn settle_all(nodes: &[crate::Server]) {
    let cpu = || {
        nodes
            .iter()
            .map(|n| n.cpu_seconds().unwrap_or(0.0))
            .sum::<f64>()
    };
    let started = Instant::now();
    let mut quiet_since = Instant::now();
    let mut then = cpu();
    while quiet_since.elapsed() < Duration::from_secs(2)
        && started.elapsed() < Duration::from_secs(180)
    {
        std::thread::sleep(Duration::from_millis(500));
        let now = cpu();
        if now - then > 0.025 {
            quiet_since = Instant::now();
        }
        then = now;
    }
}
