//! Goldenscript SQL tests: each file under `tests/sql/` is a session against
//! a fresh in-memory node. `> STATEMENT` runs SQL; the output is the result
//! table (or the error with its CrateDB code). `refresh_interval` is disabled
//! by the tables in these scripts where timing matters, so results are
//! deterministic. Regenerate with `UPDATE_GOLDENFILES=1 cargo test --test sql_scripts`.
#![cfg(not(madsim))]

use std::error::Error;
use std::fmt::Write as _;
use std::sync::Arc;

use shoal_engine::disk::{Disk, MemDisk};
use shoal_engine::node::{Node, NodeConfig, Session};
use shoal_engine::types::json::to_json_typed;
use shoal_engine::types::{DataType, Value};

struct Runner {
    rt: tokio::runtime::Runtime,
    node: Arc<Node>,
    disk: MemDisk,
    session: Session,
}

impl Runner {
    fn new() -> Runner {
        let rt = real_tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let disk = MemDisk::new();
        let node = open(&disk);
        Runner {
            rt,
            node,
            disk,
            session: Session::default(),
        }
    }
}

fn open(disk: &MemDisk) -> Arc<Node> {
    let config = NodeConfig {
        node_name: "n1".into(),
        cluster_name: "test".into(),
        durable: true,
        http_address: None,
        // Every shard request and response of every script crosses the
        // codec, as it will between nodes.
        wire_check: true,
        ..NodeConfig::default()
    };
    let d: Arc<dyn Disk> = Arc::new(disk.clone());
    Node::open(config, d).expect("open node")
}

fn render(v: &Value, ty: &DataType) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => {
            if *b {
                "TRUE".into()
            } else {
                "FALSE".into()
            }
        }
        Value::Text(s) => s.clone(),
        other => to_json_typed(other, ty).to_string(),
    }
}

impl goldenscript::Runner for Runner {
    type Command = goldenscript::Command;

    fn run(
        &mut self,
        command: &goldenscript::Command,
        ctx: &goldenscript::Context,
    ) -> Result<String, Box<dyn Error>> {
        let mut out = String::new();
        let sql = command.name.trim();
        // `restart` simulates a process restart on the same disk; `crash` loses unsynced bytes first.
        if sql == "restart" || sql == "crash" {
            if sql == "crash" {
                self.disk.crash();
            }
            self.node = open(&self.disk);
            writeln!(out, "ok")?;
            return Ok(out);
        }
        let (sql, params) = match sql.split_once(" -- args ") {
            Some((s, a)) => {
                let j: serde_json::Value = serde_json::from_str(a)?;
                let params = j
                    .as_array()
                    .ok_or("args must be a JSON array")?
                    .iter()
                    .map(shoal_engine::types::json::from_json)
                    .collect();
                (s, params)
            }
            None => (sql, Vec::new()),
        };
        // `[plan]> SELECT ...` prints the plan (as EXPLAIN does) before the result.
        if ctx.tags.contains("plan") {
            let explain = format!("EXPLAIN {sql}");
            match self
                .rt
                .block_on(self.node.execute(&self.session, &explain, params.clone()))
            {
                Ok(r) => {
                    for row in &r.rows {
                        if let Some(Value::Text(plan)) = row.first() {
                            writeln!(out, "{plan}")?;
                        }
                    }
                }
                Err(e) => writeln!(out, "EXPLAIN ERROR {}: {}", e.code(), e)?,
            }
        }
        match self
            .rt
            .block_on(self.node.execute(&self.session, sql, params))
        {
            Ok(r) if r.is_query() => {
                writeln!(out, "{}", r.cols.join(" | "))?;
                for row in &r.rows {
                    let cells: Vec<String> = row
                        .iter()
                        .zip(&r.types)
                        .map(|(v, t)| render(v, t))
                        .collect();
                    writeln!(out, "{}", cells.join(" | "))?;
                }
                writeln!(
                    out,
                    "({} row{})",
                    r.rowcount,
                    if r.rowcount == 1 { "" } else { "s" }
                )?;
            }
            Ok(r) => writeln!(
                out,
                "OK, {} row{} affected",
                r.rowcount,
                if r.rowcount == 1 { "" } else { "s" }
            )?,
            Err(e) => writeln!(out, "ERROR {}: {}", e.code(), e)?,
        }
        Ok(out)
    }
}

macro_rules! script {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() -> std::io::Result<()> {
            goldenscript::run(&mut Runner::new(), concat!("tests/sql/", stringify!($name)))
        }
    )*};
}

script!(
    basics,
    ddl,
    ddl_errors,
    dml,
    objects,
    queries,
    functions,
    refresh,
    optimize,
    rename,
    hardening,
    explain,
    cluster_statements,
    routing,
    search,
    search_errors,
    search_analyzers,
    joins,
    join_memory,
    subqueries,
    views,
    windows
);
