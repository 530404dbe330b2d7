//! What nodes say to each other over the transport: consensus messages,
//! discovery and joining, proposals forwarded to the master, shard
//! requests, and the parts of statements that run on every node.

use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::raft::TypeConfig;
use super::state::{Command, CommandResult, Member, MemberId};
use crate::planner::SystemTable;
use crate::request::{CopyOutcome, CopyPart, JoinPart, Partial, ShardRequest, ShardResponse};
use crate::types::Row;

/// A leader's word, on its consensus messages, that a quorum acknowledged
/// it within its lease. A leader cut off from its quorum keeps sending
/// heartbeats to whom it still reaches (a learner on its side of a
/// partition, say): they must not take it for a master.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Lease {
    /// The log index of the cluster state the leader had applied: a node
    /// acts on its own state only once it follows the state that far (the
    /// request's `leader_commit` is only as far as the receiver's log).
    pub applied: u64,
    /// When the leader sent the message, in milliseconds since the epoch by
    /// its clock: a message the network held back (a partition's messages
    /// arrive when it heals) carries no lease past the lease's length.
    pub sent_at: i64,
}

/// One request or response between nodes.
#[derive(Debug, Serialize, Deserialize)]
pub enum Rpc {
    /// Consensus messages name the member they are for (`to`): a node
    /// restarted on a wiped data directory answers at the old address
    /// under a new id, and must not take the old member's messages.
    /// `lease`: present when the sender, the leader, held its lease as it
    /// sent this (see [`Lease`]).
    AppendEntries {
        to: MemberId,
        req: AppendEntriesRequest<TypeConfig>,
        lease: Option<Lease>,
    },
    AppendEntriesResponse(AppendEntriesResponse<u64>),
    Vote {
        to: MemberId,
        req: VoteRequest<u64>,
    },
    VoteResponse(VoteResponse<u64>),
    InstallSnapshot {
        to: MemberId,
        req: InstallSnapshotRequest<TypeConfig>,
    },
    InstallSnapshotResponse(InstallSnapshotResponse<u64>),
    /// Who are you, and which master do you follow?
    Discover,
    Discovered(Discovery),
    /// A node asks the master to let it in.
    Join {
        id: MemberId,
        member: Member,
    },
    Joined,
    /// A command for the master to commit; answered once committed.
    Propose(Command),
    Proposed {
        index: u64,
        result: CommandResult,
    },
    /// Answered once this node follows the cluster state up to `index`
    /// (the proposer waits for every node, as CrateDB's master waits for
    /// every node to acknowledge a new cluster state).
    AwaitFollowed {
        index: u64,
    },
    Followed,
    /// Liveness (the master's fault detection).
    Ping,
    /// Who answered: a node restarted on a wiped data directory answers at
    /// the old address under a new id, and is not the member pinged.
    Pong {
        id: MemberId,
    },
    Shard(Box<ShardRequest>),
    ShardResponse(ShardResponse),
    /// A node's own rows of a system table that every node contributes to
    /// (`sys.nodes`, `sys.shards`, `sys.segments`).
    NodeRows(SystemTable),
    Rows(Vec<Row>),
    /// This node's part of a COPY statement (it reads or writes its own
    /// file system).
    Copy(Box<CopyPart>),
    Copied(CopyOutcome),
    /// This node's bucket of a repartitioned join.
    JoinPart(Box<JoinPart>),
    JoinedPart(Partial),
    /// `KILL`: this node's running statements with the id (all for `None`).
    Kill(Option<String>),
    Killed(u64),
}

/// A node's answer to [`Rpc::Discover`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Discovery {
    pub id: MemberId,
    pub member: Member,
    /// Whether it belongs to a formed cluster.
    pub initialized: bool,
    /// The master it follows, if it knows one.
    pub master: Option<(MemberId, Member)>,
}

impl Rpc {
    /// The variant's name, for errors about unexpected answers.
    pub fn kind(&self) -> &'static str {
        match self {
            Rpc::AppendEntries { .. } => "AppendEntries",
            Rpc::AppendEntriesResponse(_) => "AppendEntriesResponse",
            Rpc::Vote { .. } => "Vote",
            Rpc::VoteResponse(_) => "VoteResponse",
            Rpc::InstallSnapshot { .. } => "InstallSnapshot",
            Rpc::InstallSnapshotResponse(_) => "InstallSnapshotResponse",
            Rpc::Discover => "Discover",
            Rpc::Discovered(_) => "Discovered",
            Rpc::Join { .. } => "Join",
            Rpc::Joined => "Joined",
            Rpc::Propose(_) => "Propose",
            Rpc::Proposed { .. } => "Proposed",
            Rpc::AwaitFollowed { .. } => "AwaitFollowed",
            Rpc::Followed => "Followed",
            Rpc::Ping => "Ping",
            Rpc::Pong { .. } => "Pong",
            Rpc::Shard(_) => "Shard",
            Rpc::ShardResponse(_) => "ShardResponse",
            Rpc::NodeRows(_) => "NodeRows",
            Rpc::Rows(_) => "Rows",
            Rpc::Copy(_) => "Copy",
            Rpc::Copied(_) => "Copied",
            Rpc::JoinPart(_) => "JoinPart",
            Rpc::JoinedPart(_) => "JoinedPart",
            Rpc::Kill(_) => "Kill",
            Rpc::Killed(_) => "Killed",
        }
    }
}
