//! Background clients: the concurrent load of a scenario, with every
//! operation's outcome kept in a [`History`] that the checkers judge.
//!
//! Each client works through its own node (the next one when its node
//! fails it), round after round: it inserts a row whose id no other client
//! uses; with [`Mix::All`], every other round it also updates one of its
//! rows by primary key (`SET v = <the round>`) or, one time in four,
//! deletes one; and it increments one shared counter by optimistic
//! concurrency (read `v`, `_seq_no`, `_primary_term` by primary key, then
//! `UPDATE ... WHERE _seq_no = ? AND _primary_term = ?`). Each row has one writer, so its
//! writes are ordered, and the checkers know every state the row may end
//! in. An operation is *acknowledged* when its statement succeeded,
//! *unknown* when it failed or timed out (it may still take effect, even
//! later), so the checkers can say what must be there and what may be.
//! The clients run as simulated tasks: they move only while the scenario
//! runs a command, so a seed replays them exactly.

use std::collections::BTreeMap;
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

/// Which writes the clients make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mix {
    /// Inserts and the counter's increments (`mix=inserts`, the default).
    #[default]
    Inserts,
    /// Also updates and deletes of the rows inserted (`mix=all`).
    All,
}

/// A client's write to one of its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// The row's first write, with `v = 0`.
    Insert,
    /// `SET v = ?` by primary key.
    Update(i64),
    Delete,
}

impl Write {
    /// The row after this write: its `v`, or none when deleted.
    pub fn leaves(self) -> Option<i64> {
        match self {
            Write::Insert => Some(0),
            Write::Update(v) => Some(v),
            Write::Delete => None,
        }
    }
}

/// What the clients did and saw.
#[derive(Debug, Default)]
pub struct History {
    /// Which writes they made.
    pub mix: Mix,
    /// Each row's writes in the order its client made them, and whether
    /// each was acknowledged (else its outcome is unknown).
    pub rows: BTreeMap<i64, Vec<(Write, bool)>>,
    pub increments_acked: i64,
    pub increments_unknown: i64,
    /// Increments refused because another client came first.
    pub increments_conflicted: i64,
    /// Each version of the counter a client read, `(_seq_no,
    /// _primary_term)`, with the value and the node it was read through.
    pub versions: BTreeMap<(i64, i64), (i64, String)>,
    /// Invariants broken while the clients ran (one version read with two
    /// values, an acknowledged row missing for an update).
    pub violations: Vec<String>,
}

impl History {
    fn wrote(&mut self, id: i64, write: Write, acked: bool) {
        self.rows.entry(id).or_default().push((write, acked));
    }
}

/// Running background clients.
pub struct Workload {
    stop: Arc<AtomicBool>,
    history: Arc<Mutex<History>>,
    tasks: Vec<madsim::task::JoinHandle<()>>,
}

impl Workload {
    /// Starts `clients` clients making the writes of `mix`, client `i`
    /// first on node `i` (mod the nodes). The tables must exist, with the
    /// counter's row 0.
    pub fn start(client: Client, clients: usize, mix: Mix) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let history = Arc::new(Mutex::new(History {
            mix,
            ..History::default()
        }));
        let tasks = (0..clients)
            .map(|i| {
                let me = Me {
                    id: i,
                    of: clients,
                    mix,
                };
                let run = run_client(client.clone(), me, stop.clone(), history.clone());
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
pub fn setup(shards: usize, replicas: usize, mix: Mix) -> Vec<String> {
    let with = format!("CLUSTERED INTO {shards} SHARDS WITH (number_of_replicas = {replicas})");
    // (Only the writes of `mix=all` need `v`: the table of `mix=inserts`
    // stays as it was, so that older scenarios replay as they did.)
    let v = if mix == Mix::All { ", v BIGINT" } else { "" };
    vec![
        format!("CREATE TABLE {ROWS} (id BIGINT PRIMARY KEY, client INT{v}) {with}"),
        format!("CREATE TABLE {COUNTER} (id INT PRIMARY KEY, v BIGINT) {with}"),
        format!("INSERT INTO {COUNTER} (id, v) VALUES (0, 0)"),
    ]
}

/// Who a client is: its number, of how many, and its writes.
struct Me {
    id: usize,
    of: usize,
    mix: Mix,
}

async fn run_client(client: Client, me: Me, stop: Arc<AtomicBool>, history: Arc<Mutex<History>>) {
    let nodes = client.names();
    let mut at = me.id % nodes.len();
    let mut next_id = me.id as i64;
    // This client's rows that it may still update or delete.
    let mut live: Vec<i64> = Vec::new();
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let node = &nodes[at];
        let id = next_id;
        next_id += me.of as i64;
        let insert = match me.mix {
            Mix::Inserts => format!("INSERT INTO {ROWS} (id, client) VALUES (?, ?)"),
            Mix::All => format!("INSERT INTO {ROWS} (id, client, v) VALUES (?, ?, 0)"),
        };
        let params = vec![Value::Int(id), Value::Int(me.id as i64)];
        let mut ok = run(&client, node, &insert, params).await.is_some();
        lock(&history).wrote(id, Write::Insert, ok);
        if ok {
            live.push(id);
            if me.mix == Mix::All && round % 2 == 0 {
                ok = change_a_row(&client, node, &mut live, round, &history).await;
            }
        }
        if ok {
            ok = increment(&client, node, &history).await;
        }
        if !ok {
            // The node failed the client: try the next one.
            at = (at + 1) % nodes.len();
        }
        madsim::time::sleep(PAUSE).await;
    }
}

/// Updates one of the client's rows (`SET v = round`) or, one time in
/// four, deletes it; false when the statement failed. A row deleted, or
/// whose delete's outcome is unknown, is not written again.
async fn change_a_row(
    client: &Client,
    node: &str,
    live: &mut Vec<i64>,
    round: i64,
    history: &Mutex<History>,
) -> bool {
    let pick = shoal_engine::runtime::random_u64();
    let Some(&id) = live.get(pick as usize % live.len().max(1)) else {
        return true;
    };
    let (write, sql, params) = match (pick >> 32) % 4 {
        0 => {
            live.retain(|r| *r != id);
            let sql = format!("DELETE FROM {ROWS} WHERE id = ?");
            (Write::Delete, sql, vec![Value::Int(id)])
        }
        _ => {
            let sql = format!("UPDATE {ROWS} SET v = ? WHERE id = ?");
            (
                Write::Update(round),
                sql,
                vec![Value::Int(round), Value::Int(id)],
            )
        }
    };
    let outcome = run(client, node, &sql, params).await.map(|r| r.rowcount);
    let mut h = lock(history);
    h.wrote(id, write, outcome.is_some());
    if outcome == Some(0) {
        h.violations.push(format!(
            "a write by primary key finds an acknowledged row: {write:?} of row {id} through \
             {node} affected no row"
        ));
    }
    outcome.is_some()
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
