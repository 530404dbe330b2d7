//! `SimCluster`: Shoal nodes running inside madsim.
//!
//! Each simulated node runs the real engine ([`shoal_engine::node::Node`])
//! in a madsim node, on a [`MemDisk`] owned by the harness. Killing a node
//! stops its tasks and drops its engine; restarting re-runs the node's init,
//! which reopens the engine on the same disk (recovery from commit points
//! and translogs). `crash` additionally drops every byte not yet fsynced.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId;
use shoal_engine::cluster::ClusterConfig;
use shoal_engine::disk::{Disk, MemDisk};
use shoal_engine::error::{Error, Result};
use shoal_engine::node::{Node, NodeConfig, QueryResult, Session};
use shoal_engine::types::Value;

use crate::trace;

/// Where a simulated node's engine lives while the node is up.
type EngineSlot = Arc<Mutex<Option<Arc<Node>>>>;

/// One simulated node.
pub struct SimNode {
    pub name: String,
    pub disk: MemDisk,
    handle: NodeHandle,
    engine: EngineSlot,
}

/// Sends statements to a simulated cluster's nodes; cheap to clone.
#[derive(Clone)]
pub struct Client {
    nodes: Vec<(String, NodeId, EngineSlot)>,
}

impl Client {
    /// The nodes' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|(n, ..)| n.clone()).collect()
    }

    /// Executes SQL on a node, inside that node's simulated context.
    pub async fn execute(&self, name: &str, sql: &str, params: Vec<Value>) -> Result<QueryResult> {
        let (_, id, slot) = self
            .nodes
            .iter()
            .find(|(n, ..)| n == name)
            .ok_or_else(|| Error::ShardsUnavailable(format!("node {name} is unknown")))?;
        let engine = lock(slot)
            .clone()
            .ok_or_else(|| Error::ShardsUnavailable(format!("node {name} is down")))?;
        let sql = sql.to_string();
        // A NodeHandle is tied to one incarnation of the node: fetch the current one.
        let handle = Handle::current()
            .get_node(*id)
            .ok_or_else(|| Error::ShardsUnavailable(format!("node {name} is unknown")))?;
        handle
            .spawn(async move { engine.execute(&Session::default(), &sql, params).await })
            .await
            .map_err(|e| Error::Internal(format!("task on {name} failed: {e}")))?
    }
}

/// A simulated cluster.
pub struct SimCluster {
    pub cluster_name: String,
    pub nodes: Vec<SimNode>,
}

fn lock(slot: &EngineSlot) -> std::sync::MutexGuard<'_, Option<Arc<Node>>> {
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

impl SimCluster {
    /// Starts `n` nodes named `n1`, `n2`, ..., each on its own (no
    /// cluster), and waits until their engines are open.
    pub async fn start(n: usize) -> SimCluster {
        Self::boot(n, false).await
    }

    /// Starts `n` nodes that form one cluster: each listens on
    /// `10.0.0.i:4300`, every node is a seed host, and the first three (or
    /// all, when fewer) are the initial master nodes. Waits until every
    /// node follows a master.
    pub async fn form(n: usize) -> SimCluster {
        let cluster = Self::boot(n, true).await;
        for node in &cluster.nodes {
            cluster.wait_member(&node.name).await;
        }
        cluster
    }

    /// The transport address of node `i` (1-based).
    pub fn transport_of(i: usize) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8)), 4300)
    }

    async fn boot(n: usize, clustered: bool) -> SimCluster {
        trace::begin();
        trace::record(
            "START",
            &format!("{n} nodes{}", if clustered { ", one cluster" } else { "" }),
        );
        let nodes = (1..=n).map(|i| Self::spawn_node(i, n, clustered)).collect();
        let cluster = SimCluster {
            cluster_name: "sim".into(),
            nodes,
        };
        for node in &cluster.nodes {
            cluster.wait_up(&node.name).await;
        }
        cluster
    }

    /// Starts a new node that joins the formed cluster through its seed
    /// hosts (every node so far and itself); answers its name once it is a
    /// member.
    pub async fn add_node(&mut self) -> String {
        let i = self.nodes.len() + 1;
        trace::record("START", &format!("n{i} joins"));
        let node = Self::spawn_node(i, i, true);
        let name = node.name.clone();
        self.nodes.push(node);
        self.wait_up(&name).await;
        self.wait_member(&name).await;
        name
    }

    /// Creates simulated node `i` (named `n{i}`, at `10.0.0.{i}`) with
    /// seeds `1..=seeds`; the first three nodes are the initial masters.
    fn spawn_node(i: usize, seeds: usize, clustered: bool) -> SimNode {
        let name = format!("n{i}");
        let disk = MemDisk::new();
        let engine: EngineSlot = Arc::new(Mutex::new(None));
        let handle = {
            let disk = disk.clone();
            let engine = engine.clone();
            let name = name.clone();
            Handle::current()
                .create_node()
                .name(&name)
                .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8)))
                .init(move || {
                    let disk = disk.clone();
                    let engine = engine.clone();
                    let name = name.clone();
                    async move {
                        let config = NodeConfig {
                            node_name: name.clone(),
                            cluster_name: "sim".into(),
                            durable: true,
                            http_address: None,
                            // Requests cross the codec, as between nodes.
                            wire_check: true,
                            cluster: clustered.then(|| ClusterConfig {
                                transport: SimCluster::transport_of(i),
                                seed_hosts: (1..=seeds).map(SimCluster::transport_of).collect(),
                                initial_master_nodes: (1..=seeds.min(3))
                                    .map(|i| format!("n{i}"))
                                    .collect(),
                            }),
                            ..NodeConfig::default()
                        };
                        let d: Arc<dyn Disk> = Arc::new(disk);
                        let node = match Node::open(config, d) {
                            Ok(node) => node,
                            Err(e) => panic!("node {name} failed to open: {e}"),
                        };
                        if let Err(e) = node.start_cluster().await {
                            panic!("node {name} failed to start its cluster member: {e}");
                        }
                        node.start();
                        *lock(&engine) = Some(node);
                        // The node lives as long as this task: park it.
                        std::future::pending::<()>().await;
                    }
                })
                .build()
        };
        SimNode {
            name,
            disk,
            handle,
            engine,
        }
    }

    fn node(&self, name: &str) -> &SimNode {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// The engine of a running node.
    pub fn engine(&self, name: &str) -> Option<Arc<Node>> {
        lock(&self.node(name).engine).clone()
    }

    /// Waits (in simulated time) until `name` follows a master that counts
    /// it as a member, and has caught up with the master's cluster state.
    pub async fn wait_member(&self, name: &str) {
        for _ in 0..600 {
            let master_index = self
                .nodes
                .iter()
                .filter_map(|n| self.engine(&n.name))
                .find(|e| e.coordinator().is_some_and(|c| c.is_master()))
                .map(|e| e.followed().index);
            let joined = self.engine(name).is_some_and(|e| {
                let Some(c) = e.coordinator() else {
                    return false;
                };
                let followed = e.followed();
                c.master().is_some()
                    && followed.state.members.contains_key(&c.id)
                    && master_index.is_some_and(|m| followed.index >= m)
            });
            if joined {
                return;
            }
            madsim::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("node {name} did not join a cluster within 60 s");
    }

    /// Waits (in simulated time, at most 60 s) until every running node
    /// follows the same master and the cluster state up to the same log
    /// index, with every node a member.
    pub async fn wait_converged(&self) {
        for _ in 0..600 {
            if self.converged().is_some() {
                return;
            }
            madsim::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "the cluster did not converge within 60 s: {:?}",
            self.masters()
        );
    }

    /// How many nodes are running, if every one of them follows the same
    /// master, up to the same cluster state, which counts them all.
    pub fn converged(&self) -> Option<usize> {
        let views: Vec<_> = self
            .nodes
            .iter()
            .filter_map(|n| self.engine(&n.name))
            .map(|e| {
                let master = e.coordinator().and_then(|c| c.master()).map(|(id, _)| id);
                let f = e.followed();
                (master, f.index, f.state.members.len())
            })
            .collect();
        let first = views.first()?;
        let same = views.iter().all(|v| v == first);
        (same && first.0.is_some() && first.2 == views.len()).then_some(views.len())
    }

    /// The cluster's health (`sys.cluster_health`) as `name` sees it.
    pub async fn health(&self, name: &str) -> Result<String> {
        let r = self
            .execute(name, "SELECT health FROM sys.cluster_health", vec![])
            .await?;
        match r.rows.first().and_then(|r| r.first()) {
            Some(Value::Text(h)) => Ok(h.clone()),
            other => Err(Error::Internal(format!("health is {other:?}"))),
        }
    }

    /// Waits (in simulated time, at most `limit`) until `name` sees the
    /// cluster's health at `health`.
    pub async fn wait_health(&self, name: &str, health: &str, limit: std::time::Duration) {
        let deadline = madsim::time::Instant::now() + limit;
        let mut last = None;
        while madsim::time::Instant::now() < deadline {
            let seen = self.health(name).await;
            if seen.as_deref().is_ok_and(|h| h == health) {
                return;
            }
            last = Some(seen);
            madsim::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "{name} did not see health {health} within {limit:?} (last: {last:?}); shards: {:?}",
            self.shard_map(name)
        );
    }

    /// The shard copies each node holds, as `name` follows the routing
    /// table: node name → (table, shard, primary, state).
    pub fn shard_map(
        &self,
        name: &str,
    ) -> std::collections::BTreeMap<String, Vec<(String, u32, bool, String)>> {
        let mut map = std::collections::BTreeMap::<String, Vec<_>>::new();
        let Some(engine) = self.engine(name) else {
            return map;
        };
        let state = engine.followed().state;
        for table in state.catalog.tables() {
            let Some(shards) = state.routing.tables.get(&table.uuid) else {
                continue;
            };
            for (i, shard) in shards.iter().enumerate() {
                for c in &shard.copies {
                    let node = c
                        .node
                        .and_then(|n| state.members.get(&n))
                        .map_or_else(|| "unassigned".to_string(), |m| m.name.clone());
                    map.entry(node).or_default().push((
                        table.ident.name.clone(),
                        i as u32,
                        c.primary,
                        format!("{:?}", c.state),
                    ));
                }
            }
        }
        map
    }

    /// Checks that every started copy of every shard of `table` holds the
    /// same documents with the same `_seq_no`, `_primary_term`, `_version`
    /// and source, reading each copy directly (SQL reads one copy). The
    /// routing table is `name`'s. Answers the documents per shard.
    pub fn check_copies_agree(
        &self,
        name: &str,
        table: &str,
    ) -> std::result::Result<usize, String> {
        let (state, uuid) = self.table_state(name, table)?;
        let shards = &state.routing.tables[&uuid];
        let mut total = 0;
        for (i, shard) in shards.iter().enumerate() {
            let mut seen: Option<(String, Vec<_>)> = None;
            for copy in &shard.copies {
                if copy.state != shoal_engine::cluster::CopyState::Started {
                    continue;
                }
                let member = copy
                    .node
                    .and_then(|n| state.members.get(&n))
                    .ok_or(format!("shard {i}: a started copy without a node"))?;
                let holder = self
                    .engine(&member.name)
                    .ok_or(format!("shard {i}: {} is down", member.name))?;
                let local = holder
                    .shard(&uuid, i as u32)
                    .ok_or(format!("shard {i}: {} has no copy open", member.name))?;
                let docs: Vec<_> = local
                    .live_docs()
                    .map_err(|e| format!("shard {i} on {}: {e}", member.name))?
                    .into_iter()
                    .map(|d| {
                        (
                            d.id,
                            d.seq_no,
                            d.primary_term,
                            d.version,
                            format!("{:?}", d.source),
                        )
                    })
                    .collect();
                match &seen {
                    None => seen = Some((member.name.clone(), docs)),
                    Some((first, expected)) if *expected != docs => {
                        let missing: Vec<_> = expected
                            .iter()
                            .filter(|d| !docs.contains(d))
                            .take(5)
                            .collect();
                        let extra: Vec<_> = docs
                            .iter()
                            .filter(|d| !expected.contains(d))
                            .take(5)
                            .collect();
                        return Err(format!(
                            "shard {i} of {table}: the copies on {first} ({} docs) and {} ({} docs) \
                             differ; only on {first}: {missing:?}; only on {}: {extra:?}",
                            expected.len(),
                            member.name,
                            docs.len(),
                            member.name
                        ));
                    }
                    Some(_) => {}
                }
            }
            total += seen.map_or(0, |(_, d)| d.len());
        }
        Ok(total)
    }

    /// Waits up to `limit` until, for each shard of `table`, every started
    /// copy has processed every operation up to the shard's highest
    /// sequence number (no gaps: a promoted primary filled those its
    /// predecessor left) and knows it as the global checkpoint.
    pub async fn wait_checkpoints(
        &self,
        name: &str,
        table: &str,
        limit: std::time::Duration,
    ) -> std::result::Result<(), String> {
        let deadline = madsim::time::Instant::now() + limit;
        loop {
            let problem = self.checkpoint_problem(name, table)?;
            match problem {
                None => return Ok(()),
                Some(p) if madsim::time::Instant::now() >= deadline => return Err(p),
                Some(_) => madsim::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    }

    /// What [`SimCluster::wait_checkpoints`] waits for, if it is not so yet.
    fn checkpoint_problem(
        &self,
        name: &str,
        table: &str,
    ) -> std::result::Result<Option<String>, String> {
        let (state, uuid) = self.table_state(name, table)?;
        let shards = &state.routing.tables[&uuid];
        for (i, shard) in shards.iter().enumerate() {
            let mut seen = Vec::new();
            for copy in &shard.copies {
                if copy.state != shoal_engine::cluster::CopyState::Started {
                    continue;
                }
                let member = copy.node.and_then(|n| state.members.get(&n));
                let local = member
                    .and_then(|m| self.engine(&m.name))
                    .and_then(|e| e.shard(&uuid, i as u32));
                let Some(local) = local else {
                    return Ok(Some(format!("shard {i}: a started copy is not open")));
                };
                let name = member.map(|m| m.name.clone()).unwrap_or_default();
                let stats = (
                    local.max_seq_no(),
                    local.local_checkpoint(),
                    local.global_checkpoint(),
                );
                seen.push((name, stats));
            }
            let first = seen.first().map(|(_, s)| *s);
            let agreed = seen.iter().all(|(_, s)| Some(*s) == first);
            if !agreed || first.is_some_and(|(max, local, global)| max != local || local != global)
            {
                return Ok(Some(format!(
                    "shard {i} of {table}: (max_seq_no, local, global checkpoint) per copy: {seen:?}"
                )));
            }
        }
        Ok(None)
    }

    /// The cluster state `name` follows, and the uuid of `table` in it
    /// (which has a routing table).
    fn table_state(
        &self,
        name: &str,
        table: &str,
    ) -> std::result::Result<(Arc<shoal_engine::cluster::ClusterState>, String), String> {
        let engine = self.engine(name).ok_or(format!("{name} is down"))?;
        let state = engine.followed().state;
        let uuid = state
            .catalog
            .tables()
            .find(|t| t.ident.name == table)
            .map(|t| t.uuid.clone())
            .ok_or(format!("no table {table}"))?;
        if !state.routing.tables.contains_key(&uuid) {
            return Err(format!("{table} has no routing"));
        }
        Ok((state, uuid))
    }

    /// The masters the running nodes follow, by node name.
    pub fn masters(&self) -> Vec<(String, Option<String>)> {
        self.nodes
            .iter()
            .map(|n| {
                let master = self
                    .engine(&n.name)
                    .and_then(|e| e.coordinator().and_then(|c| c.master()))
                    .map(|(_, m)| m.name);
                (n.name.clone(), master)
            })
            .collect()
    }

    async fn wait_up(&self, name: &str) {
        let node = self.node(name);
        for _ in 0..1000 {
            if lock(&node.engine).is_some() {
                return;
            }
            madsim::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("node {name} did not come up");
    }

    /// Executes SQL on a node, inside that node's simulated context.
    pub async fn execute(&self, name: &str, sql: &str, params: Vec<Value>) -> Result<QueryResult> {
        self.client().execute(name, sql, params).await
    }

    /// A client of the cluster's nodes (those it has now) that tasks can
    /// own: background writers outlive any borrow of the cluster.
    pub fn client(&self) -> Client {
        Client {
            nodes: self
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.handle.id(), n.engine.clone()))
                .collect(),
        }
    }

    /// Cuts every link between the nodes of `a` and those of `b`, both ways.
    pub fn partition(&self, a: &[&str], b: &[&str]) {
        trace::record(
            "FAULT",
            &format!("partition {} | {}", a.join(" "), b.join(" ")),
        );
        let net = NetSim::current();
        for x in a {
            for y in b {
                let (x, y) = (self.node(x).handle.id(), self.node(y).handle.id());
                net.clog_link(x, y);
                net.clog_link(y, x);
            }
        }
    }

    /// Cuts the link from `from` to `to` one way: what `from` sends never
    /// arrives; the other way still works.
    pub fn cut(&self, from: &str, to: &str) {
        trace::record("FAULT", &format!("cut {from} -> {to}"));
        let (x, y) = (self.node(from).handle.id(), self.node(to).handle.id());
        NetSim::current().clog_link(x, y);
    }

    /// Freezes a node (a long GC pause, a stopped VM): its tasks do not
    /// run, its connections stay open, nothing it holds is lost.
    pub fn pause(&self, name: &str) {
        trace::record("FAULT", &format!("pause {name}"));
        Handle::current().pause(self.node(name).handle.id());
    }

    /// Lets a paused node run again.
    pub fn resume(&self, name: &str) {
        trace::record("HEAL", &format!("resume {name}"));
        Handle::current().resume(self.node(name).handle.id());
    }

    /// Makes the network lose `loss` of its packets (a share, 0 to 1) and
    /// delay each by a time in `latency`. Over TCP a lost packet is sent
    /// again, so loss shows as delays and stalls, as on a real network.
    pub fn set_network(&self, loss: f64, latency: std::ops::Range<std::time::Duration>) {
        trace::record(
            "FAULT",
            &format!("network loss {:.1}% latency {latency:?}", loss * 100.0),
        );
        NetSim::current().update_config(|c| {
            c.packet_loss_rate = loss;
            c.send_latency = latency;
        });
    }

    /// Restores every link between the nodes.
    pub fn heal(&self) {
        trace::record("HEAL", "heal every link");
        let net = NetSim::current();
        for x in &self.nodes {
            for y in &self.nodes {
                if x.name != y.name {
                    net.unclog_link(x.handle.id(), y.handle.id());
                }
            }
        }
    }

    /// Kills a node: its tasks stop and its engine is dropped. The disk stays.
    pub fn kill(&self, name: &str) {
        trace::record("FAULT", &format!("kill {name}"));
        let node = self.node(name);
        Handle::current().kill(node.handle.id());
        *lock(&node.engine) = None;
    }

    /// Kills a node and drops every byte it had not fsynced (power loss).
    pub fn crash(&self, name: &str) {
        trace::record("FAULT", &format!("crash {name} (unsynced bytes lost)"));
        self.kill(name);
        self.node(name).disk.crash();
    }

    /// Damages a file on a node's disk (a killed node's, say, before it
    /// restarts): its contents become garbage.
    pub fn damage(&self, name: &str, path: &str) {
        trace::record("FAULT", &format!("damage {path} on {name}"));
        let disk = &self.node(name).disk;
        if let Err(e) = disk.write_atomic(path, b"\0damaged\0") {
            panic!("cannot damage {path} on {name}: {e}");
        }
    }

    /// Kills a node and wipes its disk: restarted, it is a new node at the
    /// old address, with the old name.
    pub fn wipe(&self, name: &str) {
        trace::record("FAULT", &format!("wipe the disk of {name}"));
        self.kill(name);
        self.node(name).disk.wipe();
    }

    /// Restarts a killed node; it recovers from its disk.
    pub async fn restart(&self, name: &str) {
        trace::record("HEAL", &format!("restart {name}"));
        let node = self.node(name);
        *lock(&node.engine) = None;
        Handle::current().restart(node.handle.id());
        self.wait_up(name).await;
    }
}

impl SimCluster {
    /// The last `n` events of the simulation, oldest first ([`trace`]).
    pub fn trace(&self, n: usize) -> Vec<String> {
        trace::last(n)
    }
}

impl Drop for SimCluster {
    /// A failing test shows what led to its failure.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let events = trace::last(TRACE_ON_FAILURE);
            eprintln!("--- the last {} events of the simulation:", events.len());
            for e in events {
                eprintln!("{e}");
            }
        }
    }
}

/// Events printed when a test fails.
const TRACE_ON_FAILURE: usize = 200;
