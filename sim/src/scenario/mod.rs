//! Scenario files: scripted failure scenarios on a simulated cluster, in
//! the goldenscript format (commands, `---`, the expected output).
//!
//! ```text
//! # A node dies; its replicas are promoted and re-created elsewhere.
//! cluster nodes=3
//! n1: > CREATE TABLE t (id INT PRIMARY KEY) WITH (number_of_replicas = 1)
//! wait health green
//! kill n2
//! wait health green within 120s
//! n3: > SELECT count(*) FROM t
//! ---
//! n1: CREATE OK, 1 row affected
//! n3: +----------+
//! ...
//! ```
//!
//! A [`Scenario`] runs one file for one seed: it owns a madsim runtime for
//! that seed and runs each command to completion on it, so simulated time
//! moves only while a command runs, and the same seed replays the same run.
//! Statements are `nN: > SQL` and print as the shell does (crash's tables
//! and status lines; errors as their messages, expected with `!`); the
//! harness commands are in [`step`]. Outputs leave out what differs
//! between seeds (timings, ids, which node got which copy), so one file
//! holds for every seed.

pub(crate) mod render;
mod run;
mod step;

pub use run::{Actual, Failure, check_determinism, env_number, files, run_file, run_text};
pub use step::{Condition, Step};

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::ops::Range;
use std::time::Duration;

use madsim::runtime::Runtime;

use shoal_engine::node::QueryResult;

use crate::check::check_all;
use crate::workload::{self, History, Workload};
use crate::{SimCluster, trace};

/// The longest a command may run, in simulated time (a statement that
/// waits on an unreachable primary takes 30 s; nothing takes minutes).
const COMMAND_LIMIT: Duration = Duration::from_secs(600);

/// How often `wait` looks again.
const WAIT_POLL: Duration = Duration::from_millis(100);

/// One scenario run: a seed, its runtime and the cluster in it.
pub struct Scenario {
    seed: u64,
    runtime: Runtime,
    cluster: Option<SimCluster>,
    paused: Vec<String>,
    /// Names bound with `let`.
    names: BTreeMap<String, String>,
    loss: f64,
    latency: Range<Duration>,
    /// The background clients, while they run.
    workload: Option<Workload>,
    /// What they did, once stopped.
    history: Option<History>,
    /// Whether the checkers ran after the last command (else they run at
    /// the end of the file).
    checked: bool,
}

impl Scenario {
    /// A run for `seed`; the first command (`cluster nodes=N`) starts the
    /// cluster.
    pub fn new(seed: u64) -> Scenario {
        // What the engine saw of earlier simulations on this thread.
        shoal_engine::audit::forget_primaries();
        Scenario {
            seed,
            runtime: Runtime::with_seed_and_config(seed, madsim::Config::default()),
            cluster: None,
            paused: Vec::new(),
            names: BTreeMap::new(),
            loss: 0.0,
            latency: madsim::net::Config::default().send_latency,
            workload: None,
            history: None,
            checked: false,
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The cluster, once `cluster nodes=N` formed it.
    pub fn cluster(&self) -> Option<&SimCluster> {
        self.cluster.as_ref()
    }

    /// The nodes `pause` stopped.
    pub fn paused(&self) -> &[String] {
        &self.paused
    }

    /// Runs a harness command.
    fn run_step(&mut self, step: Step) -> Result<String, Box<dyn Error>> {
        if let Step::Cluster { nodes } = step {
            if self.cluster.is_some() {
                return Err("the cluster is already running".into());
            }
            self.cluster = Some(self.runtime.block_on(SimCluster::form(nodes)));
            return Ok(String::new());
        }
        let Some(cluster) = self.cluster.as_mut() else {
            return Err("no cluster yet: start with `cluster nodes=N`".into());
        };
        for name in step_nodes(&step) {
            if !cluster.nodes.iter().any(|n| &n.name == name) {
                return Err(format!("there is no node {name}").into());
            }
        }
        let rt = &self.runtime;
        match step {
            Step::Cluster { .. } => unreachable!("handled above"),
            Step::Kill(n) => rt.block_on(async { cluster.kill(&n) }),
            Step::Crash(n) => rt.block_on(async { cluster.crash(&n) }),
            Step::Restart(n) => {
                self.paused.retain(|p| *p != n);
                rt.block_on(cluster.restart(&n));
            }
            Step::Pause(n) => {
                rt.block_on(async { cluster.pause(&n) });
                self.paused.push(n);
            }
            Step::Resume(n) => {
                rt.block_on(async { cluster.resume(&n) });
                self.paused.retain(|p| *p != n);
            }
            Step::Start => {
                let name = rt.block_on(cluster.add_node());
                return Ok(format!("{name} joined\n"));
            }
            Step::Partition(a, b) => {
                let (a, b): (Vec<&str>, Vec<&str>) = (
                    a.iter().map(String::as_str).collect(),
                    b.iter().map(String::as_str).collect(),
                );
                rt.block_on(async { cluster.partition(&a, &b) });
            }
            Step::Cut(from, to) => rt.block_on(async { cluster.cut(&from, &to) }),
            Step::Heal => rt.block_on(async { cluster.heal() }),
            Step::Loss(loss) => {
                self.loss = loss;
                let latency = self.latency.clone();
                rt.block_on(async { cluster.set_network(loss, latency) });
            }
            Step::Latency(lo, hi) => {
                self.latency = lo..hi;
                let loss = self.loss;
                rt.block_on(async { cluster.set_network(loss, lo..hi) });
            }
            Step::Sleep(d) => rt.block_on(async { madsim::time::sleep(d).await }),
            Step::Wait(condition, limit) => {
                let paused = &self.paused;
                return rt.block_on(wait(cluster, paused, &condition, limit));
            }
            Step::Health => {
                let node = serving(cluster, &self.paused)?;
                let health = rt.block_on(cluster.health(&node))?;
                return Ok(format!("health: {health}\n"));
            }
            Step::Shards { full } => {
                let node = serving(cluster, &self.paused)?;
                return Ok(render::shards(&cluster.shard_map(&node), full));
            }
            Step::Trace(n) => return Ok(trace::last(n).join("\n") + "\n"),
            Step::Check => {
                if self.workload.is_some() {
                    return Err("the workload still runs: `workload stop` first".into());
                }
                // Judged now, pass or fail: not again at the end.
                self.checked = true;
                let node = serving(cluster, &self.paused)?;
                let up = running(cluster, &self.paused);
                let history = self.history.as_ref();
                return Ok(rt.block_on(check_all(cluster, &node, &up, history))?);
            }
            Step::WorkloadStart {
                clients,
                replicas,
                shards,
                mix,
            } => {
                if self.workload.is_some() || self.history.is_some() {
                    return Err("a scenario runs one workload".into());
                }
                let node = serving(cluster, &self.paused)?;
                for sql in workload::setup(shards, replicas, mix) {
                    let run = cluster.execute(&node, &sql, Vec::new());
                    rt.block_on(run).map_err(|e| format!("{sql}: {e}"))?;
                }
                let client = cluster.client();
                let start = async { Workload::start(client, clients, mix) };
                self.workload = Some(rt.block_on(start));
            }
            Step::WorkloadStop => {
                let running = self.workload.take().ok_or("no workload runs")?;
                self.history = Some(rt.block_on(running.stop()));
            }
        }
        Ok(String::new())
    }

    /// Runs a statement on a node: its result and the simulated time it
    /// took. An error the node answered is a [`shoal_engine::error::Error`]
    /// (with CrateDB's code); other errors are the harness's.
    pub fn statement(
        &mut self,
        node: &str,
        sql: &str,
    ) -> Result<(QueryResult, Duration), Box<dyn Error>> {
        let Some(cluster) = self.cluster.as_ref() else {
            return Err("no cluster yet: start with `cluster nodes=N`".into());
        };
        if !cluster.nodes.iter().any(|n| n.name == node) {
            return Err(format!("there is no node {node}").into());
        }
        if self.paused.iter().any(|p| p == node) {
            return Err(format!("{node} is paused").into());
        }
        let run = cluster.execute(node, sql, Vec::new());
        let (result, took) = self.runtime.block_on(async {
            let start = madsim::time::Instant::now();
            let result = madsim::time::timeout(COMMAND_LIMIT, run).await;
            (result, start.elapsed())
        });
        match result {
            Err(_) => Err(format!("{node} did not answer within {COMMAND_LIMIT:?}").into()),
            Ok(Err(e)) => Err(Box::new(e)),
            Ok(Ok(r)) => Ok((r, took)),
        }
    }

    /// Runs a harness command written as in a file (`kill n2`, `partition
    /// n1 | n2 n3`, `let old=master`), with its node names resolved; answers
    /// its output.
    pub fn command(&mut self, text: &str) -> Result<String, Box<dyn Error>> {
        // `let NAME=master`: a name for the node a role has now.
        if let Some(binding) = text.strip_prefix("let ") {
            let (name, role) = binding
                .split_once('=')
                .ok_or("let needs a name and a node: let old=master")?;
            let (name, role) = (name.trim(), role.trim());
            if is_node(name) || ["master", "other", "third", "rest"].contains(&name) {
                return Err(format!("{name} is a node name already").into());
            }
            let node = self.resolve(role)?.join(" ");
            if !is_node(&node) {
                return Err(format!("{role} is not a node").into());
            }
            self.names.insert(name.to_string(), node);
            return Ok(String::new());
        }
        let step = Step::parse(&self.resolve_words(text)?)?;
        self.run_step(step)
    }
}

impl goldenscript::Runner for Scenario {
    type Command = goldenscript::Command;

    /// The checkers judge every scenario at its end, once the faults stop
    /// (the network healed, paused nodes resumed, stopped ones restarted
    /// and back in the cluster), unless its last command was `check`.
    fn end_script(&mut self) -> Result<(), Box<dyn Error>> {
        let Some(cluster) = self.cluster.as_ref() else {
            return Ok(());
        };
        if self.checked {
            return Ok(());
        }
        let names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
        let stopped: Vec<String> = names
            .iter()
            .filter(|n| cluster.engine(n).is_none())
            .cloned()
            .collect();
        if self.workload.is_some() {
            self.run_step(Step::WorkloadStop)?;
        }
        for node in std::mem::take(&mut self.paused) {
            self.run_step(Step::Resume(node))?;
        }
        self.run_step(Step::Loss(0.0))?;
        self.run_step(Step::Heal)?;
        for node in stopped {
            self.run_step(Step::Restart(node))?;
        }
        let all = Condition::Nodes(names.len());
        self.run_step(Step::Wait(all, Duration::from_secs(120)))?;
        self.run_step(Step::Check).map(|_| ())
    }

    fn run(
        &mut self,
        command: &goldenscript::Command,
        context: &goldenscript::Context,
    ) -> Result<String, Box<dyn Error>> {
        self.checked = false;
        if let Some(node) = &context.prefix {
            if !command.args.is_empty() {
                return Err("a statement is written `nN: > SQL`".into());
            }
            let node = self.resolve(node)?.join(" ");
            let sql = &command.name;
            let (result, _) = self.statement(&node, sql)?;
            return Ok(render::result(sql, &result));
        }
        // A plain command's words, or a literal's whole line.
        let mut text = command.name.clone();
        for arg in &command.args {
            let _ = write!(text, " {arg}");
        }
        self.command(&text)
    }
}

impl Scenario {
    /// A harness command's text with its roles (`master`, `other`,
    /// `third`, `rest`) and `let` names replaced by the nodes they name now.
    pub fn resolve_words(&self, text: &str) -> Result<String, String> {
        let mut words = Vec::new();
        for word in text.split_whitespace() {
            // (`wait master elected` names no node.)
            match text.starts_with("wait ") {
                true => words.push(word.to_string()),
                false => words.extend(self.resolve(word)?),
            }
        }
        // `rest`: every node the command does not name otherwise.
        if let Some(at) = words.iter().position(|w| w == "rest") {
            let named: Vec<String> = words.iter().filter(|w| is_node(w)).cloned().collect();
            let rest = self
                .cluster
                .iter()
                .flat_map(|c| &c.nodes)
                .map(|n| n.name.clone());
            let rest: Vec<String> = rest.filter(|n| !named.contains(n)).collect();
            words.splice(at..=at, rest);
        }
        Ok(words.join(" "))
    }

    /// A word of a command with its node names resolved: a name bound with
    /// `let`, `master` (the node most running nodes follow as master),
    /// `other` (the first node, by name, that is not the master) or `third`
    /// (the next one), so that a scenario can aim at roles whose node
    /// differs between seeds.
    fn resolve(&self, word: &str) -> Result<Vec<String>, String> {
        if let Some(node) = self.names.get(word) {
            return Ok(vec![node.clone()]);
        }
        if !["master", "other", "third"].contains(&word) {
            return Ok(vec![word.to_string()]);
        }
        let cluster = self.cluster.as_ref().ok_or("no cluster yet")?;
        let mut votes: BTreeMap<String, usize> = BTreeMap::new();
        for (_, m) in cluster.masters() {
            if let Some(m) = m {
                *votes.entry(m).or_default() += 1;
            }
        }
        let master = votes
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(m, _)| m)
            .ok_or("no node follows a master")?;
        if word == "master" {
            return Ok(vec![master]);
        }
        let mut others = cluster
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .filter(|n| *n != master);
        let other = match word {
            "other" => others.next(),
            _ => others.nth(1),
        };
        Ok(vec![other.ok_or(format!("no node to be {word}"))?])
    }
}

/// Whether a word is a node's name: `n` and a number.
fn is_node(word: &str) -> bool {
    word.strip_prefix('n')
        .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
}

/// The nodes a step names.
fn step_nodes(step: &Step) -> Vec<&String> {
    match step {
        Step::Kill(n) | Step::Crash(n) | Step::Restart(n) | Step::Pause(n) | Step::Resume(n) => {
            vec![n]
        }
        Step::Partition(a, b) => a.iter().chain(b).collect(),
        Step::Cut(a, b) => vec![a, b],
        _ => Vec::new(),
    }
}

/// The node that answers `health`, `shards`, `wait` and `check`: the
/// master when it is up (its view of the cluster is the one decided),
/// else the first node that is up and not paused.
fn serving(cluster: &SimCluster, paused: &[String]) -> Result<String, String> {
    let up = |n: &String| cluster.engine(n).is_some() && !paused.contains(n);
    let masters = cluster.masters();
    let followed = masters.iter().filter_map(|(_, m)| m.clone());
    if let Some(master) = followed.filter(|m| up(m)).max() {
        return Ok(master);
    }
    cluster
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .find(up)
        .ok_or_else(|| "no node is running".to_string())
}

/// The nodes that are up and not paused.
fn running(cluster: &SimCluster, paused: &[String]) -> Vec<String> {
    let names = cluster.nodes.iter().map(|n| n.name.clone());
    names
        .filter(|n| cluster.engine(n).is_some() && !paused.contains(n))
        .collect()
}

/// `wait`: polls the condition until it holds or the limit passes.
async fn wait(
    cluster: &SimCluster,
    paused: &[String],
    condition: &Condition,
    limit: Duration,
) -> Result<String, Box<dyn Error>> {
    let deadline = madsim::time::Instant::now() + limit;
    loop {
        let last = match holds(cluster, paused, condition).await {
            Ok(()) => return Ok(String::new()),
            Err(seen) => seen,
        };
        if madsim::time::Instant::now() >= deadline {
            return Err(format!("not within {limit:?}: {last}").into());
        }
        madsim::time::sleep(WAIT_POLL).await;
    }
}

/// Whether a `wait` condition holds; what was seen when it does not.
async fn holds(
    cluster: &SimCluster,
    paused: &[String],
    condition: &Condition,
) -> Result<(), String> {
    let node = serving(cluster, paused)?;
    match condition {
        Condition::Health(want) => {
            let seen = cluster.health(&node).await.map_err(|e| e.to_string())?;
            if &seen == want {
                return Ok(());
            }
            Err(format!("health is {seen}"))
        }
        Condition::Nodes(want) => match cluster.converged() {
            Some(n) if n == *want => Ok(()),
            Some(n) => Err(format!("{n} nodes in the cluster")),
            None => Err("the running nodes do not follow one master and state yet".into()),
        },
        Condition::RelocationsDone => {
            // Every copy started, and the master's allocation would move
            // nothing more (between two relocations every copy may be
            // started while the copies are not balanced yet).
            let engine = cluster.engine(&node).ok_or("the serving node is down")?;
            let state = engine.followed().state;
            let map = cluster.shard_map(&node);
            let moving = map.values().flatten().filter(|c| c.3 != "Started").count();
            let mut next = (*state).clone();
            next.allocate();
            if moving == 0 && next.routing == state.routing {
                return Ok(());
            }
            Err(format!("{moving} copies not started, or more to move"))
        }
        Condition::MasterElected => {
            let masters = cluster.masters();
            if masters.iter().any(|(_, m)| m.is_some()) {
                return Ok(());
            }
            Err("no node follows a master".into())
        }
    }
}
