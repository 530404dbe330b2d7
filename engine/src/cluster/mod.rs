//! The cluster: consensus over the cluster state (openraft), discovery and
//! membership, and the messages nodes exchange.

mod allocation;
mod coordinator;
mod delay;
mod log_store;
mod network;
mod raft;
mod rebalance;
mod rpc;
mod runtime;
pub mod settings;
mod state;
mod state_machine;

pub use coordinator::{ClusterConfig, Coordinator, ShardServer, no_master};
pub use rpc::{Discovery, Rpc};
pub use settings::ClusterSettings;
pub use state::{
    ClusterState, Command, CommandResult, CopyState, Member, MemberId, Routing, ShardCopies,
    ShardCopy,
};
pub use state_machine::Applied;
