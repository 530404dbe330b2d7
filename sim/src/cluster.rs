//! `SimCluster`: Shoal nodes running inside madsim.
//!
//! Each simulated node runs the real engine ([`shoal_engine::node::Node`])
//! in a madsim node, on a [`MemDisk`] owned by the harness. Killing a node
//! stops its tasks and drops its engine; restarting re-runs the node's init,
//! which reopens the engine on the same disk (recovery from commit points
//! and translogs). `crash` additionally drops every byte not yet fsynced.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use madsim::runtime::{Handle, NodeHandle};
use shoal_engine::disk::{Disk, MemDisk};
use shoal_engine::error::{Error, Result};
use shoal_engine::node::{Node, NodeConfig, QueryResult, Session};
use shoal_engine::types::Value;

/// Where a simulated node's engine lives while the node is up.
type EngineSlot = Arc<Mutex<Option<Arc<Node>>>>;

/// One simulated node.
pub struct SimNode {
    pub name: String,
    pub disk: MemDisk,
    handle: NodeHandle,
    engine: EngineSlot,
}

/// A simulated cluster (one node for now: the cluster layer comes later).
pub struct SimCluster {
    pub cluster_name: String,
    pub nodes: Vec<SimNode>,
}

fn lock(slot: &EngineSlot) -> std::sync::MutexGuard<'_, Option<Arc<Node>>> {
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

impl SimCluster {
    /// Starts `n` nodes named `n1`, `n2`, ... and waits until their engines are open.
    pub async fn start(n: usize) -> SimCluster {
        let handle = Handle::current();
        let mut nodes = Vec::with_capacity(n);
        for i in 1..=n {
            let name = format!("n{i}");
            let disk = MemDisk::new();
            let engine: EngineSlot = Arc::new(Mutex::new(None));
            let node_handle = {
                let disk = disk.clone();
                let engine = engine.clone();
                let name = name.clone();
                handle
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
                                ..NodeConfig::default()
                            };
                            let d: Arc<dyn Disk> = Arc::new(disk);
                            match Node::open(config, d) {
                                Ok(node) => {
                                    node.start();
                                    *lock(&engine) = Some(node);
                                }
                                Err(e) => panic!("node {name} failed to open: {e}"),
                            }
                            // The node lives as long as this task: park it.
                            std::future::pending::<()>().await;
                        }
                    })
                    .build()
            };
            nodes.push(SimNode {
                name,
                disk,
                handle: node_handle,
                engine,
            });
        }
        let cluster = SimCluster {
            cluster_name: "sim".into(),
            nodes,
        };
        for node in &cluster.nodes {
            cluster.wait_up(&node.name).await;
        }
        cluster
    }

    fn node(&self, name: &str) -> &SimNode {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
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
        let node = self.node(name);
        let engine = lock(&node.engine)
            .clone()
            .ok_or_else(|| Error::ShardsUnavailable(format!("node {name} is down")))?;
        let sql = sql.to_string();
        // A NodeHandle is tied to one incarnation of the node: fetch the current one.
        let handle = Handle::current()
            .get_node(node.handle.id())
            .ok_or_else(|| Error::ShardsUnavailable(format!("node {name} is unknown")))?;
        handle
            .spawn(async move { engine.execute(&Session::default(), &sql, params).await })
            .await
            .map_err(|e| Error::Internal(format!("task on {name} failed: {e}")))?
    }

    /// Kills a node: its tasks stop and its engine is dropped. The disk stays.
    pub fn kill(&self, name: &str) {
        let node = self.node(name);
        Handle::current().kill(node.handle.id());
        *lock(&node.engine) = None;
    }

    /// Kills a node and drops every byte it had not fsynced (power loss).
    pub fn crash(&self, name: &str) {
        self.kill(name);
        self.node(name).disk.crash();
    }

    /// Restarts a killed node; it recovers from its disk.
    pub async fn restart(&self, name: &str) {
        let node = self.node(name);
        *lock(&node.engine) = None;
        Handle::current().restart(node.handle.id());
        self.wait_up(name).await;
    }
}
