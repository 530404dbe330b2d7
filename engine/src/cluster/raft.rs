//! openraft's type configuration for Shoal: commands are [`Command`]s,
//! node ids are `u64`s, a node's address book entry is a [`Member`], and a
//! snapshot is the encoded [`ClusterState`](super::ClusterState).

use std::io::Cursor;

use super::runtime::Rt;
use super::state::{Command, CommandResult, Member};

openraft::declare_raft_types!(
    /// The cluster's consensus types.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = Member,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = Rt,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<u64>;
pub type Vote = openraft::Vote<u64>;
pub type StorageError = openraft::StorageError<u64>;
pub type StoredMembership = openraft::StoredMembership<u64, Member>;
pub type SnapshotMeta = openraft::SnapshotMeta<u64, Member>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type Metrics = openraft::RaftMetrics<u64, Member>;

/// How long a leader stays master without a quorum's acknowledgement: the
/// shortest election timeout, after which the others may elect another.
const LEADER_LEASE_MS: u64 = 1000;

/// Whether a raft node is a leader that a quorum acknowledged within its
/// lease: a master.
pub(super) fn holds_lease(m: &Metrics) -> bool {
    m.state == openraft::ServerState::Leader
        && m.millis_since_quorum_ack
            .is_some_and(|ms| ms <= LEADER_LEASE_MS)
}

/// An I/O failure as openraft's storage error.
pub(crate) fn io_error(
    make: fn(openraft::AnyError) -> openraft::StorageIOError<u64>,
    e: impl std::error::Error + 'static,
) -> StorageError {
    make(openraft::AnyError::new(&e)).into()
}
