//! The shell on an embedded simulated cluster: a [`Backend`] whose
//! statements and cluster commands (`\kill n2`, `\partition n1 | n2 n3`,
//! `\wait health green`, ...) run on a [`Scenario`] of the simulator.
//!
//! One thread owns the scenario (its madsim runtime and cluster) and runs
//! each request to completion, so simulated time moves only while the
//! session runs something, and what the user did is exactly a scenario:
//! every statement and command is logged in the scenario language, and
//! `\record FILE` writes the log with its outputs as a file that
//! `cargo scenario FILE --seed N` replays identically ([`record`]). What
//! the shell asks on its own behalf (completion words, session info) is
//! read from the harness without running anything in the simulation, so it
//! cannot make a replay differ.

mod record;
mod worker;

use std::sync::Mutex;
use std::sync::mpsc::{self, Sender};

use shoal_shell::backend::{Backend, BackendError, ServerInfo, SqlResponse};
use shoal_shell::complete::Vocabulary;
use shoal_shell::session::SessionInfo;

use crate::scenario::Scenario;
use worker::Worker;

/// The cluster commands, with their `\?` help.
const COMMANDS: &[(&str, &str)] = &[
    (
        "nodes",
        "list the simulated nodes: state, master, where statements go",
    ),
    (
        "use",
        "send the following statements to a node, e.g. \\use n2",
    ),
    ("kill", "stop a node, e.g. \\kill n2"),
    (
        "crash",
        "stop a node, losing what it had not synced, e.g. \\crash n2",
    ),
    ("restart", "start a stopped node again, e.g. \\restart n2"),
    (
        "pause",
        "freeze a node (no tasks run, no messages), e.g. \\pause n2",
    ),
    ("resume", "let a paused node run again"),
    ("start", "a new node joins the cluster"),
    (
        "partition",
        "cut the network in two, e.g. \\partition n1 | n2 n3",
    ),
    (
        "cut",
        "lose what one node sends another, e.g. \\cut n1 -> n2",
    ),
    ("heal", "restore every link"),
    ("loss", "lose a share of packets, e.g. \\loss 5%"),
    (
        "latency",
        "set the network's latency, e.g. \\latency 1ms..50ms",
    ),
    ("sleep", "let simulated time pass, e.g. \\sleep 5s"),
    (
        "wait",
        "wait for health green|yellow, nodes N, relocations done or master elected, \
         e.g. \\wait health green within 60s",
    ),
    ("health", "the cluster's health"),
    (
        "shards",
        "copies per node and state; \\shards full: every copy",
    ),
    (
        "trace",
        "the last events of the simulation, e.g. \\trace 20",
    ),
    (
        "workload",
        "background clients: \\workload start clients=3, \\workload stop",
    ),
    ("invariants", "run every checker of the scenario runner now"),
    ("seed", "the seed that reproduces this session"),
    (
        "record",
        "save the session as a scenario file, e.g. \\record demo.scn",
    ),
];

/// A simulated cluster of `nodes` nodes for the seed, as a shell backend.
pub struct SimBackend {
    seed: u64,
    jobs: Mutex<Sender<Job>>,
}

/// A request to the thread that owns the simulation.
type Job = Box<dyn FnOnce(&mut Worker) + Send>;

impl SimBackend {
    /// Forms a cluster of `nodes` nodes for `seed` on a thread of its own.
    pub fn start(nodes: usize, seed: u64) -> Result<SimBackend, String> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (formed, answer) = mpsc::channel();
        std::thread::Builder::new()
            .name("simulation".into())
            .spawn(move || {
                let mut worker = match Worker::form(Scenario::new(seed), nodes) {
                    Ok(w) => {
                        let _ = formed.send(Ok(()));
                        w
                    }
                    Err(e) => {
                        let _ = formed.send(Err(e));
                        return;
                    }
                };
                while let Ok(job) = queue.recv() {
                    job(&mut worker);
                }
            })
            .map_err(|e| format!("cannot start the simulation: {e}"))?;
        match answer.recv() {
            Ok(Ok(())) => Ok(SimBackend {
                seed,
                jobs: Mutex::new(jobs),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the simulation stopped while forming the cluster".into()),
        }
    }

    /// Runs `job` on the simulation's thread and answers what it returns.
    fn ask<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<T, String> {
        let (reply, answer) = mpsc::channel();
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs
                .send(Box::new(move |w| {
                    let _ = reply.send(job(w));
                }))
                .is_ok(),
            Err(_) => false,
        };
        let stopped = || "the simulation stopped (see the panic above); restart the shell".into();
        if !sent {
            return Err(stopped());
        }
        answer.recv().map_err(|_| stopped())
    }
}

impl Backend for SimBackend {
    fn execute(&self, stmt: &str) -> Result<SqlResponse, BackendError> {
        let stmt = stmt.to_string();
        self.ask(move |w| w.statement(&stmt))
            .map_err(BackendError::Protocol)?
    }

    fn server_infos(&self) -> Vec<ServerInfo> {
        self.ask(Worker::server_infos).unwrap_or_default()
    }

    fn describe(&self) -> String {
        format!("a simulated cluster (seed {})", self.seed)
    }

    /// The simulated nodes keep no error traces.
    fn set_error_trace(&self, _on: bool) {}

    fn keywords(&self) -> Vec<String> {
        let words = shoal_engine::node::KEYWORDS.iter();
        words.map(|w| w.to_string()).collect()
    }

    fn load_schema(&self, v: &mut Vocabulary) {
        if let Ok((tables, columns)) = self.ask(Worker::schema) {
            v.tables = tables;
            v.columns = columns;
        }
    }

    fn session_info(&self) -> Result<SessionInfo, BackendError> {
        Ok(SessionInfo {
            user: Some("crate".into()),
            schema: Some("doc".into()),
            cluster: self.ask(Worker::cluster_name).ok().flatten(),
        })
    }

    fn commands(&self) -> &[(&'static str, &'static str)] {
        COMMANDS
    }

    fn run_command(&self, name: &str, arg: Option<&str>) -> Result<String, String> {
        let (name, arg) = (name.to_string(), arg.map(str::to_string));
        self.ask(move |w| w.command(&name, arg.as_deref()))?
    }
}
