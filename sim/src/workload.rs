//! Background clients: the concurrent load of a scenario, with every
//! operation's outcome kept in a [`History`] that the checkers judge.
//!
//! Each client alternates two operations, through its own node (the next
//! one when its node fails it): an `INSERT` of a row whose id no other
//! operation uses, and an increment of one shared counter by optimistic
//! concurrency (read `v`, `_seq_no`, `_primary_term` by primary key, then
//! `UPDATE ... WHERE _seq_no = ? AND _primary_term = ?`). An operation is
//! *acknowledged* when its statement succeeded, *unknown* when it failed or
//! timed out (it may still have been applied), so the checkers can say
//! what must be there and what may be. The clients run as simulated tasks:
//! they move only while the scenario runs a command, so a seed replays
//! them exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use shoal_engine::node::QueryResult;
use shoal_engine::types::Value;

use crate::cluster::Client;

/// The table of inserted rows.
pub const ROWS: &str = "workload_rows";
/// The table of the one counter (id 0).
pub const COUNTER: &str = "workload_counter";

/// How long a client waits for one statement before counting it unknown.
const OPERATION_LIMIT: Duration = Duration::from_secs(30);
/// A client's pause between two operations.
const PAUSE: Duration = Duration::from_millis(50);

/// What the clients did and saw.
#[derive(Debug, Default)]
pub struct History {
    /// Ids whose INSERT was acknowledged.
    pub inserted: BTreeSet<i64>,
    /// Ids whose INSERT failed or timed out: they may or may not be there.
    pub insert_unknown: BTreeSet<i64>,
    pub increments_acked: i64,
    pub increments_unknown: i64,
    /// Increments refused because another client came first.
    pub increments_conflicted: i64,
    /// Each version of the counter a client read, `(_seq_no,
    /// _primary_term)`, with the value and the node it was read through.
    pub versions: BTreeMap<(i64, i64), (i64, String)>,
    /// Invariants broken while the clients ran (one version read with two
    /// values).
    pub violations: Vec<String>,
}

/// Running background clients.
pub struct Workload {
    stop: Arc<AtomicBool>,
    history: Arc<Mutex<History>>,
    tasks: Vec<madsim::task::JoinHandle<()>>,
}

impl Workload {
    /// Starts `clients` clients, client `i` first on node `i` (mod the
    /// nodes). The tables must exist, with the counter's row 0.
    pub fn start(client: Client, clients: usize) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let history = Arc::new(Mutex::new(History::default()));
        let tasks = (0..clients)
            .map(|i| {
                let run = run_client(client.clone(), i, clients, stop.clone(), history.clone());
                madsim::task::spawn(run)
            })
            .collect();
        Workload {
            stop,
            history,
            tasks,
        }
    }

    /// Stops the clients after their current operation; answers what they
    /// did.
    pub async fn stop(self) -> History {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        let mut history = lock(&self.history);
        std::mem::take(&mut *history)
    }
}

fn lock(history: &Mutex<History>) -> MutexGuard<'_, History> {
    history.lock().unwrap_or_else(|p| p.into_inner())
}

/// The statements that set up the workload's tables.
pub fn setup(shards: usize, replicas: usize) -> Vec<String> {
    let with = format!("CLUSTERED INTO {shards} SHARDS WITH (number_of_replicas = {replicas})");
    vec![
        format!("CREATE TABLE {ROWS} (id BIGINT PRIMARY KEY, client INT) {with}"),
        format!("CREATE TABLE {COUNTER} (id INT PRIMARY KEY, v BIGINT) {with}"),
        format!("INSERT INTO {COUNTER} (id, v) VALUES (0, 0)"),
    ]
}

async fn run_client(
    client: Client,
    me: usize,
    clients: usize,
    stop: Arc<AtomicBool>,
    history: Arc<Mutex<History>>,
) {
    let nodes = client.names();
    let mut at = me % nodes.len();
    let mut next_id = me as i64;
    while !stop.load(Ordering::Relaxed) {
        let node = &nodes[at];
        let id = next_id;
        next_id += clients as i64;
        let insert = format!("INSERT INTO {ROWS} (id, client) VALUES (?, ?)");
        let params = vec![Value::Int(id), Value::Int(me as i64)];
        let ok = match run(&client, node, &insert, params).await {
            Some(_) => {
                lock(&history).inserted.insert(id);
                increment(&client, node, &history).await
            }
            None => {
                lock(&history).insert_unknown.insert(id);
                false
            }
        };
        if !ok {
            // The node failed the client: try the next one.
            at = (at + 1) % nodes.len();
        }
        madsim::time::sleep(PAUSE).await;
    }
}

/// One optimistic increment of the counter; false when a statement failed.
async fn increment(client: &Client, node: &str, history: &Mutex<History>) -> bool {
    let read = format!("SELECT v, _seq_no, _primary_term FROM {COUNTER} WHERE id = 0");
    let Some(QueryResult { rows, .. }) = run(client, node, &read, Vec::new()).await else {
        return false;
    };
    let Some([Value::Int(v), Value::Int(seq_no), Value::Int(term)]) =
        rows.first().map(Vec::as_slice)
    else {
        let mut h = lock(history);
        h.violations
            .push(format!("the counter's row read through {node} is {rows:?}"));
        return true;
    };
    let (v, version) = (*v, (*seq_no, *term));
    {
        let mut h = lock(history);
        match h.versions.get(&version) {
            Some((seen, by)) if *seen != v => {
                let broken = format!(
                    "one (_seq_no, _primary_term) maps to one value: version {version:?} of the \\
                     counter was read as {seen} through {by} and as {v} through {node}"
                );
                h.violations.push(broken);
            }
            Some(_) => {}
            None => {
                h.versions.insert(version, (v, node.to_string()));
            }
        }
    }
    let update =
        format!("UPDATE {COUNTER} SET v = ? WHERE id = 0 AND _seq_no = ? AND _primary_term = ?");
    let params = vec![
        Value::Int(v + 1),
        Value::Int(version.0),
        Value::Int(version.1),
    ];
    let outcome = run(client, node, &update, params).await.map(|r| r.rowcount);
    let mut h = lock(history);
    match outcome {
        Some(1) => h.increments_acked += 1,
        Some(_) => h.increments_conflicted += 1,
        None => h.increments_unknown += 1,
    }
    outcome.is_some()
}

/// A statement's result, or None when it failed or timed out.
async fn run(client: &Client, node: &str, sql: &str, params: Vec<Value>) -> Option<QueryResult> {
    let run = client.execute(node, sql, params);
    madsim::time::timeout(OPERATION_LIMIT, run).await.ok()?.ok()
}
