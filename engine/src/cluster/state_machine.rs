//! The state machine: applies committed entries to the [`ClusterState`] and
//! publishes each new state to the node, which follows it (opens and
//! closes shards, installs the catalog and settings). Snapshots are the
//! encoded state, kept on the node's disk, so a restarted node starts from
//! its last snapshot and applies the committed entries after it.

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::raft::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig, io_error,
};
use super::state::{ClusterState, CommandResult};
use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::request::codec;

const SNAPSHOT: &str = "_raft/snapshot";

/// A state as the node sees it: the state and the log index it includes.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub index: u64,
    pub state: Arc<ClusterState>,
}

/// What a snapshot holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Stored {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    state: ClusterState,
    snapshot_id: String,
}

struct Machine {
    disk: Arc<dyn Disk>,
    stored: Stored,
    snapshots: u64,
}

/// The state machine; clones share it (the snapshot builder is a clone).
#[derive(Clone)]
pub struct StateMachine {
    machine: Arc<Mutex<Machine>>,
    published: Arc<watch::Sender<Applied>>,
}

impl StateMachine {
    /// Opens the state machine from the snapshot on `disk`, if any.
    pub fn open(disk: Arc<dyn Disk>) -> Result<StateMachine> {
        let stored: Stored = match disk.read(SNAPSHOT) {
            Ok(bytes) => codec::decode(&bytes)
                .map_err(|e| Error::Io(format!("corrupt cluster state snapshot: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Stored::default(),
            Err(e) => return Err(e.into()),
        };
        let (published, _) = watch::channel(Applied {
            index: stored.last_applied.map_or(0, |l| l.index),
            state: Arc::new(stored.state.clone()),
        });
        Ok(StateMachine {
            machine: Arc::new(Mutex::new(Machine {
                disk,
                stored,
                snapshots: 0,
            })),
            published: Arc::new(published),
        })
    }

    /// Follows every state applied from now on.
    pub fn subscribe(&self) -> watch::Receiver<Applied> {
        self.published.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, stored: &Stored) {
        self.published.send_replace(Applied {
            index: stored.last_applied.map_or(0, |l| l.index),
            state: Arc::new(stored.state.clone()),
        });
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> std::result::Result<Snapshot, StorageError> {
        let mut machine = self.lock();
        machine.snapshots += 1;
        let last = machine.stored.last_applied;
        machine.stored.snapshot_id = format!(
            "{}-{}-{}",
            last.map_or(0, |l| l.leader_id.term),
            last.map_or(0, |l| l.index),
            machine.snapshots
        );
        let bytes = codec::encode(&machine.stored)
            .map_err(|e| io_error(|e| StorageIOError::write_snapshot(None, e), e))?;
        machine
            .disk
            .write_atomic(SNAPSHOT, &bytes)
            .map_err(|e| io_error(|e| StorageIOError::write_snapshot(None, e), e))?;
        Ok(Snapshot {
            meta: meta(&machine.stored),
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

fn meta(stored: &Stored) -> SnapshotMeta {
    SnapshotMeta {
        last_log_id: stored.last_applied,
        last_membership: stored.membership.clone(),
        snapshot_id: stored.snapshot_id.clone(),
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> std::result::Result<(Option<LogId>, StoredMembership), StorageError> {
        let machine = self.lock();
        Ok((
            machine.stored.last_applied,
            machine.stored.membership.clone(),
        ))
    }

    async fn apply<I>(
        &mut self,
        entries: I,
    ) -> std::result::Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut results = Vec::new();
        let stored = {
            let mut machine = self.lock();
            let stored = &mut machine.stored;
            for entry in entries {
                stored.last_applied = Some(entry.log_id);
                let result = match entry.payload {
                    EntryPayload::Blank => CommandResult::Applied {
                        version: stored.state.version,
                    },
                    EntryPayload::Normal(command) => stored.state.apply(command),
                    EntryPayload::Membership(membership) => {
                        let members = membership.nodes().map(|(id, m)| (*id, m.clone())).collect();
                        let voters = membership.voter_ids().collect();
                        stored.state.set_members(members, voters);
                        stored.membership = StoredMembership::new(Some(entry.log_id), membership);
                        CommandResult::Applied {
                            version: stored.state.version,
                        }
                    }
                };
                results.push(result);
            }
            stored.clone()
        };
        self.publish(&stored);
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> std::result::Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> std::result::Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let mut stored: Stored = codec::decode(&bytes)
            .map_err(|e| io_error(|e| StorageIOError::read_snapshot(None, e), e))?;
        stored.last_applied = meta.last_log_id;
        stored.membership = meta.last_membership.clone();
        stored.snapshot_id = meta.snapshot_id.clone();
        {
            let mut machine = self.lock();
            let bytes = codec::encode(&stored)
                .map_err(|e| io_error(|e| StorageIOError::write_snapshot(None, e), e))?;
            machine
                .disk
                .write_atomic(SNAPSHOT, &bytes)
                .map_err(|e| io_error(|e| StorageIOError::write_snapshot(None, e), e))?;
            machine.stored = stored.clone();
        }
        self.publish(&stored);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> std::result::Result<Option<Snapshot>, StorageError> {
        let machine = self.lock();
        match machine.disk.read(SNAPSHOT) {
            Ok(bytes) => {
                let stored: Stored = codec::decode(&bytes)
                    .map_err(|e| io_error(|e| StorageIOError::read_snapshot(None, e), e))?;
                Ok(Some(Snapshot {
                    meta: meta(&stored),
                    snapshot: Box::new(Cursor::new(bytes)),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(|e| StorageIOError::read_snapshot(None, e), e)),
        }
    }
}
