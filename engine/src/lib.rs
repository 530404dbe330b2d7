//! Shoal's node engine: one node of a shared-nothing SQL database modelled
//! on CrateDB. Tables are split into shards; each shard keeps its rows in
//! tantivy segments (every column indexed and columnar) behind a translog,
//! and SQL arrives through [`node::Node::execute`] (or the HTTP `/_sql`
//! endpoint in [`server`], outside the simulator).
//!
//! A node on an in-memory disk, as the tests and the simulator use it:
//!
//! ```
//! use std::sync::Arc;
//! use shoal_engine::disk::{Disk, MemDisk};
//! use shoal_engine::node::{Node, NodeConfig, Session};
//! use shoal_engine::types::Value;
//!
//! # fn main() -> Result<(), shoal_engine::error::Error> {
//! let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
//! let config = NodeConfig {
//!     node_name: "n1".into(),
//!     cluster_name: "shoal".into(),
//!     durable: true,
//!     http_address: None,
//!     ..NodeConfig::default()
//! };
//! let node = Node::open(config, disk)?;
//! let session = Session::default();
//! let rt = real_tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! rt.block_on(async {
//!     node.execute(&session, "CREATE TABLE t (id INT PRIMARY KEY, name TEXT)", vec![]).await?;
//!     node.execute(&session, "INSERT INTO t (id, name) VALUES (?, ?)",
//!                  vec![Value::Int(1), Value::Text("one".into())]).await?;
//!     // A read by full primary key is real-time: no REFRESH needed.
//!     let got = node.execute(&session, "SELECT name FROM t WHERE id = 1", vec![]).await?;
//!     assert_eq!(got.rows[0][0], Value::Text("one".into()));
//!     // Searches see a row once a refresh made it visible.
//!     node.execute(&session, "REFRESH TABLE t", vec![]).await?;
//!     let n = node.execute(&session, "SELECT count(*) FROM t", vec![]).await?;
//!     assert_eq!(n.rows[0][0], Value::Int(1));
//!     Ok(())
//! })
//! # }
//! ```

pub mod analysis;
pub mod audit;
pub mod breaker;
pub mod catalog;
pub mod cluster;
pub mod disk;
pub mod error;
pub mod exec;
pub mod expr;
pub mod limits;
pub mod node;
pub mod planner;
pub mod planted;
pub mod request;
pub mod routing;
pub mod runtime;
#[cfg(not(madsim))]
pub mod server;
pub mod sql;
pub mod stats;
pub mod storage;
#[cfg(all(test, not(madsim)))]
mod test_log;
pub mod transport;
pub mod types;

/// The CrateDB version Shoal is compatible with, reported to clients
/// (`GET /` and `sys.nodes`), which use it for feature detection.
pub const VERSION: &str = "5.10.0";
