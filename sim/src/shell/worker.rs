//! The simulation's side of the shell: runs statements and cluster commands
//! on the scenario, answers them in the shell's terms, and logs each as a
//! line of a scenario file with the output the runner would print.

use std::time::Duration;

use serde_json::Number;
use shoal_engine::error::Error as EngineError;
use shoal_engine::node::QueryResult;
use shoal_shell::backend::{BackendError, ServerInfo, SqlResponse};

use super::record;
use crate::scenario::{Scenario, render};

/// One logged command: its line in a scenario file and what it printed
/// there (an error is expected with `!`).
pub struct Entry {
    pub line: String,
    pub output: Result<String, String>,
}

/// Completion words: `(schema, table)` pairs and `(schema, table, column)`.
type Schema = (Vec<(String, String)>, Vec<(String, String, String)>);

pub struct Worker {
    scenario: Scenario,
    /// The node statements go to (`\use`).
    target: String,
    log: Vec<Entry>,
}

impl Worker {
    /// Forms the cluster (the log's first command).
    pub fn form(scenario: Scenario, nodes: usize) -> Result<Worker, String> {
        let mut worker = Worker {
            scenario,
            target: "n1".into(),
            log: Vec::new(),
        };
        worker.harness(&format!("cluster nodes={nodes}")).1?;
        Ok(worker)
    }

    /// Runs a statement on the target node. A statement typed over several
    /// lines runs as one line, as the scenario file holds it.
    pub fn statement(&mut self, sql: &str) -> Result<SqlResponse, BackendError> {
        let sql = sql.replace(['\r', '\n'], " ");
        let sql = sql.trim();
        let node = self.target.clone();
        match self.scenario.statement(&node, sql) {
            Ok((result, took)) => {
                self.log.push(Entry {
                    line: format!("{node}: > {sql}"),
                    output: Ok(render::result(sql, &result)),
                });
                Ok(response(&result, took))
            }
            Err(e) => {
                self.log.push(Entry {
                    line: format!("{node}: !> {sql}"),
                    output: Err(e.to_string()),
                });
                Err(match e.downcast_ref::<EngineError>() {
                    Some(e) => BackendError::Sql {
                        message: e.to_string(),
                        code: i64::from(e.code()),
                        error_trace: None,
                    },
                    None => BackendError::Protocol(e.to_string()),
                })
            }
        }
    }

    /// A backslash command of [`super::COMMANDS`]: what the shell prints.
    pub fn command(&mut self, name: &str, arg: Option<&str>) -> Result<String, String> {
        match (name, arg) {
            ("nodes", None) => Ok(self.nodes()),
            ("use", Some(node)) => self.use_node(node),
            ("seed", None) => Ok(format!("seed {}", self.scenario.seed())),
            ("record", Some(path)) => {
                let path = shoal_shell::commands::expand_home(path);
                record::write(&path, self.scenario.seed(), &self.log)?;
                Ok(format!(
                    "recorded {} commands in {}; replay: cargo scenario {} --seed {}",
                    self.log.len(),
                    path.display(),
                    path.display(),
                    self.scenario.seed()
                ))
            }
            ("nodes" | "seed", Some(_)) => Err("Command does not take any arguments.".into()),
            ("use" | "record", None) => Err(format!("\\{name} needs an argument: see \\?")),
            _ => {
                // The scenario language's name for the checkers is `check`
                // (crash's `\check` is the cluster checks).
                let word = if name == "invariants" { "check" } else { name };
                let text = match arg {
                    Some(arg) => format!("{word} {arg}"),
                    None => word.to_string(),
                };
                let (ran, out) = self.harness(&text);
                Ok(match out?.trim_end() {
                    "" => done(&ran),
                    out => out.to_string(),
                })
            }
        }
    }

    /// Runs a harness command and logs it with its roles (`\kill master`)
    /// resolved to the nodes they named: answers the command that ran and
    /// its output.
    fn harness(&mut self, text: &str) -> (String, Result<String, String>) {
        // (A role that names no node now fails the command, as logged.)
        let resolved = self.scenario.resolve_words(text).ok();
        let text = resolved.unwrap_or_else(|| text.to_string());
        let result = self.scenario.command(&text).map_err(|e| e.to_string());
        let plain = text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-./@=".contains(c));
        let mark = if result.is_err() { "!" } else { "" };
        let line = match plain {
            true => format!("{mark}{text}"),
            false => format!("{mark}> {text}"),
        };
        self.log.push(Entry {
            line,
            output: result.clone(),
        });
        (text, result)
    }

    fn use_node(&mut self, node: &str) -> Result<String, String> {
        let cluster = self.scenario.cluster().ok_or("no cluster")?;
        if !cluster.nodes.iter().any(|n| n.name == node) {
            return Err(format!("there is no node {node} (see \\nodes)"));
        }
        self.target = node.to_string();
        Ok(format!("statements go to {node}"))
    }

    /// `\nodes`: one line per node.
    fn nodes(&self) -> String {
        let Some(cluster) = self.scenario.cluster() else {
            return String::new();
        };
        let masters = cluster.masters();
        let mut out = String::new();
        for node in &cluster.nodes {
            let name = &node.name;
            let state = if cluster.engine(name).is_none() {
                "down"
            } else if self.scenario.paused().contains(name) {
                "paused"
            } else {
                "up"
            };
            // (A follower's view of the master holds only while it hears
            // from it, which is judged by the clock of the running
            // simulation; between commands only the master's own claim is
            // sound.)
            let claims = masters
                .iter()
                .any(|(n, m)| n == name && m.as_ref() == Some(name));
            let role = if claims { "master" } else { "" };
            let target = if *name == self.target {
                "<- statements go here"
            } else {
                ""
            };
            let line = format!("{name}  {state:<6}  {role:<6}  {target}");
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The cluster's name, as `sys.cluster` has it.
    pub fn cluster_name(&mut self) -> Option<String> {
        self.scenario.cluster().map(|c| c.cluster_name.clone())
    }

    /// The nodes as the connect table shows servers.
    pub fn server_infos(&mut self) -> Vec<ServerInfo> {
        let Some(cluster) = self.scenario.cluster() else {
            return Vec::new();
        };
        let paused = self.scenario.paused();
        cluster
            .nodes
            .iter()
            .map(|n| {
                let up = cluster.engine(&n.name).is_some() && !paused.contains(&n.name);
                ServerInfo {
                    server_url: format!("sim:{}", n.name),
                    node_name: Some(n.name.clone()),
                    version: shoal_engine::VERSION.into(),
                    connected: up,
                    message: if up { "OK" } else { "down or paused" }.into(),
                }
            })
            .collect()
    }

    /// Tables and columns of the target node's catalog (else any running
    /// node's), read without running anything in the simulation.
    pub fn schema(&mut self) -> Schema {
        let Some(cluster) = self.scenario.cluster() else {
            return Default::default();
        };
        let first_up = cluster.nodes.iter().find_map(|n| cluster.engine(&n.name));
        let Some(engine) = cluster.engine(&self.target).or(first_up) else {
            return Default::default();
        };
        let state = engine.followed().state;
        let (mut tables, mut columns) = (Vec::new(), Vec::new());
        for table in state.catalog.tables() {
            let (schema, name) = (&table.ident.schema, &table.ident.name);
            tables.push((schema.clone(), name.clone()));
            for column in &table.columns {
                columns.push((schema.clone(), name.clone(), column.name.clone()));
            }
        }
        (tables, columns)
    }
}

/// A statement's result in CrateDB's HTTP shape, its duration the
/// simulated time it took.
fn response(r: &QueryResult, took: Duration) -> SqlResponse {
    let ms = took.as_secs_f64() * 1000.0;
    if !r.is_query() {
        return SqlResponse::affected(r.rowcount, ms);
    }
    SqlResponse {
        cols: r.cols.clone(),
        col_types: Vec::new(),
        rows: Some(render::json_rows(r)),
        rowcount: Some(r.rowcount),
        duration: Number::from_f64(ms),
    }
}

/// What the shell says after a command that prints nothing in a scenario.
fn done(text: &str) -> String {
    let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
    match word {
        "kill" => format!("{rest} killed"),
        "crash" => format!("{rest} crashed: what it had not synced is lost"),
        "restart" => format!("{rest} restarted"),
        "pause" => format!("{rest} paused"),
        "resume" => format!("{rest} resumed"),
        "partition" => format!("network partitioned: {rest}"),
        "cut" => format!("cut {rest}: its messages are lost"),
        "heal" => "network healed".into(),
        "loss" => format!("packet loss {rest}"),
        "latency" => format!("latency {rest}"),
        "sleep" => format!("{rest} of simulated time passed"),
        "wait" => format!("{rest}: reached"),
        "workload" if rest.starts_with("start") => "the workload runs".into(),
        "workload" => "the workload stopped: \\invariants judges what it did".into(),
        _ => "OK".into(),
    }
}
