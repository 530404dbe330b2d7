//! What execution needs from the node it runs on, and nothing more: a
//! catalog view, where a shard's copies are and a way to run a request on
//! one, schema changes, and the system tables.
//!
//! The node implements it for its own shards (`node/local.rs`); the cluster
//! implements it next, sending the same requests over the transport. Every
//! request and response is data ([`crate::request`]), so nothing in
//! execution depends on where a shard lives.

use std::future::Future;
use std::sync::Arc;

use crate::catalog::{Catalog, TableInfo};
use crate::error::Result;
use crate::planner::SystemTable;
use crate::request::{JoinPart, Partial, SchemaChange, ShardId, ShardRequest, ShardResponse};
use crate::types::Row;

/// Which copy of a shard a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyRole {
    /// Any started copy (reads).
    Any,
    /// The primary (writes, and real-time reads that must see them).
    Primary,
}

/// The execution's view of the cluster.
pub trait Cluster: Send + Sync {
    /// The catalog as this node knows it.
    fn catalog(&self) -> Arc<Catalog>;

    /// The nodes holding a copy of `shard` in `role`, the one to ask first
    /// first (never empty); `ShardsUnavailable` when there is none.
    fn locate(&self, shard: &ShardId, role: CopyRole) -> Result<Vec<String>>;

    /// Runs a request on the copy of its shard that `node` holds. A write
    /// is answered once its operations are durable.
    fn run(
        &self,
        node: &str,
        request: ShardRequest,
    ) -> impl Future<Output = Result<ShardResponse>> + Send;

    /// Makes sure a request can be sent to `node` (connected, or this
    /// node); `NodeUnreachable` when it cannot.
    fn reach(&self, node: &str) -> impl Future<Output = Result<()>> + Send;

    /// The nodes holding a started copy of a shard of any of the tables
    /// (by uuid): those a join of them can be split among, this node
    /// first when it is one (this node alone outside a cluster).
    fn nodes_holding(&self, tables: &[&str]) -> Vec<String>;

    /// Runs a part of a repartitioned join on `node`.
    fn run_join_part(
        &self,
        node: &str,
        part: JoinPart,
    ) -> impl Future<Output = Result<Partial>> + Send;

    /// The most rows a join side may have to be broadcast
    /// (`shoal.join.broadcast_rows`).
    fn join_broadcast_rows(&self) -> usize;

    /// Asks for a schema change; answers the table once the change is
    /// decided and applied on this node.
    fn change_schema(
        &self,
        change: SchemaChange,
    ) -> impl Future<Output = Result<Arc<TableInfo>>> + Send;

    /// The rows of a system table, for a session whose schema is `schema`
    /// (in a cluster, gathered from every node where each holds its own).
    fn system_rows(
        &self,
        table: SystemTable,
        schema: &str,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send;
}
