//! The statements a node is running (`sys.jobs`) and has run
//! (`sys.jobs_log`), as CrateDB keeps them: each node the statements it
//! handled, gathered from every node when a query reads the tables (so
//! `SELECT * FROM sys.jobs` shows itself, on the node that runs it).
//!
//! The log keeps the last [`LOG_SIZE`] statements (CrateDB's default
//! `stats.jobs_log_size`), each statement's text cut at [`STMT_KEPT`]
//! bytes so that a log of bulk inserts cannot hold the node's memory.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::system::object;
use crate::sql::ast::Statement;
use crate::types::{Row, Value};

/// Statements kept in `sys.jobs_log`.
const LOG_SIZE: usize = 10_000;

/// Bytes of a statement's text kept in `sys.jobs` and `sys.jobs_log`.
const STMT_KEPT: usize = 2048;

/// The node's running and finished statements.
#[derive(Default)]
pub(super) struct Jobs {
    next: AtomicU64,
    running: Mutex<BTreeMap<u64, Job>>,
    log: Mutex<VecDeque<Finished>>,
    /// Parts of other nodes' statements this node runs (their shard
    /// requests), by job id: `KILL` reaches them here.
    parts: Mutex<BTreeMap<String, Vec<Weak<crate::breaker::MemoryAccount>>>>,
}

/// A statement being run.
#[derive(Clone)]
struct Job {
    id: String,
    started: i64,
    stmt: String,
    user: String,
    /// What the statement holds: `KILL` marks it killed.
    memory: Option<Weak<crate::breaker::MemoryAccount>>,
}

/// A statement that ended.
struct Finished {
    job: Job,
    kind: &'static str,
    ended: i64,
    error: Option<String>,
}

/// A running statement's place in [`Jobs`]; finishing it (or dropping it,
/// when the statement's future is dropped) moves it to the log.
pub(super) struct Running<'a> {
    jobs: &'a Jobs,
    key: u64,
    kind: &'static str,
    error: Option<String>,
}

impl Jobs {
    /// Registers a statement that starts now.
    pub(super) fn start<'a>(&'a self, sql: &str, user: &str) -> Running<'a> {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            id: uuid(),
            started: crate::runtime::now_millis(),
            stmt: kept(sql),
            user: user.to_string(),
            memory: None,
        };
        lock(&self.running).insert(key, job);
        Running {
            jobs: self,
            key,
            kind: "UNDEFINED",
            error: None,
        }
    }

    /// `KILL 'id'` / `KILL ALL`: marks the running statements killed (all
    /// but `KILL` statements themselves); returns how many.
    pub(super) fn kill(&self, id: Option<&str>) -> usize {
        let mut killed = 0;
        for (job, accounts) in lock(&self.parts).iter() {
            if id.is_some_and(|id| id != job) {
                continue;
            }
            for memory in accounts.iter().filter_map(Weak::upgrade) {
                memory.kill();
                killed += 1;
            }
        }
        let running = lock(&self.running);
        for job in running.values() {
            if id.is_some_and(|id| id != job.id)
                || job.stmt.trim_start().to_uppercase().starts_with("KILL")
            {
                continue;
            }
            if let Some(memory) = job.memory.as_ref().and_then(Weak::upgrade) {
                memory.kill();
                killed += 1;
            }
        }
        killed
    }

    /// Registers what a part of another node's statement (job `id`) holds
    /// here, so that `KILL` stops it too; forgets parts that ended.
    pub(super) fn attach_part(&self, id: &str, memory: &Arc<crate::breaker::MemoryAccount>) {
        let mut parts = lock(&self.parts);
        parts.retain(|_, accounts| {
            accounts.retain(|a| a.strong_count() > 0);
            !accounts.is_empty()
        });
        parts
            .entry(id.to_string())
            .or_default()
            .push(Arc::downgrade(memory));
    }

    /// `sys.jobs` rows: id, node, session_id, started, stmt, username.
    pub(super) fn running_rows(&self, node: &Value) -> Vec<Row> {
        lock(&self.running)
            .values()
            .map(|j| {
                vec![
                    Value::Text(j.id.clone()),
                    node.clone(),
                    Value::Null,
                    Value::Int(j.started),
                    Value::Text(j.stmt.clone()),
                    Value::Text(j.user.clone()),
                ]
            })
            .collect()
    }

    /// `sys.jobs_log` rows: id, classification, started, ended, error,
    /// stmt, username, node.
    pub(super) fn log_rows(&self, node: &Value) -> Vec<Row> {
        lock(&self.log)
            .iter()
            .map(|f| {
                let classification = object(vec![
                    ("type", Value::Text(f.kind.into())),
                    ("labels", Value::Array(Vec::new())),
                ]);
                vec![
                    Value::Text(f.job.id.clone()),
                    classification,
                    Value::Int(f.job.started),
                    Value::Int(f.ended),
                    f.error.clone().map_or(Value::Null, Value::Text),
                    Value::Text(f.job.stmt.clone()),
                    Value::Text(f.job.user.clone()),
                    node.clone(),
                ]
            })
            .collect()
    }
}

impl Running<'_> {
    /// Notes what kind of statement it is, once parsed (CrateDB's
    /// `classification['type']`).
    pub(super) fn classify(&mut self, stmt: &Statement) {
        self.kind = kind(stmt);
    }

    /// The statement's job id (`sys.jobs.id`).
    pub(super) fn id(&self) -> Option<String> {
        lock(&self.jobs.running)
            .get(&self.key)
            .map(|j| j.id.clone())
    }

    /// Lets `KILL` reach what the statement holds.
    pub(super) fn attach(&self, memory: &Arc<crate::breaker::MemoryAccount>) {
        if let Some(job) = lock(&self.jobs.running).get_mut(&self.key) {
            job.memory = Some(Arc::downgrade(memory));
        }
    }

    /// Ends the statement with its outcome.
    pub(super) fn finish<T>(mut self, result: &crate::error::Result<T>) {
        self.error = result.as_ref().err().map(|e| e.message());
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let Some(job) = lock(&self.jobs.running).remove(&self.key) else {
            return;
        };
        // A statement dropped before it ended (its client went away) may
        // still have work on blocking threads: they stop at the next rows
        // they would hold. After a normal end nothing holds the account.
        if let Some(memory) = job.memory.as_ref().and_then(Weak::upgrade) {
            memory.kill();
        }
        let finished = Finished {
            job,
            kind: self.kind,
            ended: crate::runtime::now_millis(),
            error: self.error.take(),
        };
        let mut log = lock(&self.jobs.log);
        if log.len() >= LOG_SIZE {
            log.pop_front();
        }
        log.push_back(finished);
    }
}

/// CrateDB's classification of a statement.
fn kind(stmt: &Statement) -> &'static str {
    match stmt {
        Statement::Query(_)
        | Statement::Show(_)
        | Statement::Explain { .. }
        | Statement::ExplainAnalyze(_) => "SELECT",
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Copy(_) => "COPY",
        Statement::CreateTable(_)
        | Statement::DropTable { .. }
        | Statement::AlterTable { .. }
        | Statement::CreateAnalyzer(_)
        | Statement::DropAnalyzer { .. }
        | Statement::CreateView { .. }
        | Statement::DropView { .. } => "DDL",
        _ => "MANAGEMENT",
    }
}

/// The statement's text, cut at a character boundary within [`STMT_KEPT`].
fn kept(sql: &str) -> String {
    if sql.len() <= STMT_KEPT {
        return sql.to_string();
    }
    let mut end = STMT_KEPT;
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &sql[..end])
}

/// A random UUID (version 4), as CrateDB's job ids.
fn uuid() -> String {
    let (a, b) = (crate::runtime::random_u64(), crate::runtime::random_u64());
    let a = (a & !0xf000) | 0x4000; // version 4
    let b = (b & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Async tests: ids and times come from the runtime (the simulator's
    // under madsim).
    #[tokio::test]
    async fn a_statement_runs_then_is_logged() {
        let jobs = Jobs::default();
        let node = Value::Null;
        let mut running = jobs.start("SELECT 1", "crate");
        running.classify(&Statement::NoOp { tag: "SET".into() });
        assert_eq!(jobs.running_rows(&node).len(), 1);
        assert!(jobs.log_rows(&node).is_empty());
        running.finish::<()>(&Err(crate::error::Error::InvalidArgument("bad".into())));
        assert!(jobs.running_rows(&node).is_empty());
        let log = jobs.log_rows(&node);
        assert_eq!(log.len(), 1);
        assert_eq!(log[0][5], Value::Text("SELECT 1".into()));
        assert!(matches!(&log[0][4], Value::Text(e) if e.contains("bad")));
        let Value::Text(id) = &log[0][0] else {
            panic!("no id")
        };
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }

    #[tokio::test]
    async fn long_statements_are_cut_and_the_log_is_bounded() {
        let jobs = Jobs::default();
        let long = "é".repeat(STMT_KEPT);
        drop(jobs.start(&long, "crate"));
        for _ in 0..LOG_SIZE {
            drop(jobs.start("SELECT 1", "crate"));
        }
        let log = jobs.log_rows(&Value::Null);
        assert_eq!(log.len(), LOG_SIZE);
        assert!(log.iter().all(|r| r[5] == Value::Text("SELECT 1".into())));
        assert!(kept(&long).len() <= STMT_KEPT + 3);
    }
}
