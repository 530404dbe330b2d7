//! How each copy on this node came to be, as `sys.shards` shows it in its
//! `recovery` column (CrateDB's, after Elasticsearch's recovery state): the
//! type (`STORE`: opened from this node's disk; `REPLICA` and `RELOCATING`:
//! recovered from the primary), the stage it is in (`INIT`, `INDEX` while
//! segments arrive, `TRANSLOG` while operations replay, `FINALIZE`,
//! `DONE`), the time it took, and how many files and bytes it needed,
//! found already on this node (`reused`) or received.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::system::object;
use crate::types::Value;

/// How a copy is recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryType {
    Store,
    Replica,
    Relocating,
}

/// Where a recovery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryStage {
    Init,
    Index,
    Translog,
    Finalize,
    Done,
}

/// Files or bytes a recovery needs: all of them (`used`), those the node
/// had already, and those received so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    pub used: u64,
    pub reused: u64,
    pub recovered: u64,
}

impl Amount {
    /// The share received of what had to be received, as Elasticsearch
    /// computes it (100 when nothing had to be).
    fn percent(&self) -> f64 {
        let needed = self.used.saturating_sub(self.reused);
        if needed == 0 {
            return 100.0;
        }
        (self.recovered as f64 * 100.0 / needed as f64).min(100.0)
    }

    fn to_value(self) -> Value {
        object(vec![
            ("percent", Value::Float(self.percent())),
            ("recovered", Value::Int(self.recovered as i64)),
            ("reused", Value::Int(self.reused as i64)),
            ("used", Value::Int(self.used as i64)),
        ])
    }
}

/// One copy's recovery.
#[derive(Debug, Clone)]
pub struct RecoveryState {
    pub kind: RecoveryType,
    pub stage: RecoveryStage,
    pub started: Instant,
    /// Set once done.
    pub took: Option<Duration>,
    pub files: Amount,
    pub size: Amount,
}

impl RecoveryState {
    pub fn new(kind: RecoveryType) -> RecoveryState {
        RecoveryState {
            kind,
            stage: RecoveryStage::Init,
            started: crate::runtime::instant(),
            took: None,
            files: Amount::default(),
            size: Amount::default(),
        }
    }

    /// A copy opened from this node's own disk: everything reused.
    pub fn from_store(files: u64, bytes: u64) -> RecoveryState {
        let mut state = RecoveryState::new(RecoveryType::Store);
        state.files = Amount {
            used: files,
            reused: files,
            recovered: 0,
        };
        state.size = Amount {
            used: bytes,
            reused: bytes,
            recovered: 0,
        };
        state.finish();
        state.took = Some(Duration::ZERO);
        state
    }

    pub fn finish(&mut self) {
        self.stage = RecoveryStage::Done;
        self.took = Some(crate::runtime::instant().duration_since(self.started));
    }

    /// The `recovery` column's value.
    pub fn to_value(&self) -> Value {
        let took = self
            .took
            .unwrap_or_else(|| crate::runtime::instant().duration_since(self.started));
        object(vec![
            ("files", self.files.to_value()),
            ("size", self.size.to_value()),
            ("stage", Value::Text(self.stage.as_str().into())),
            ("total_time", Value::Int(took.as_millis() as i64)),
            ("type", Value::Text(self.kind.as_str().into())),
        ])
    }
}

impl RecoveryStage {
    pub fn as_str(&self) -> &'static str {
        match self {
            RecoveryStage::Init => "INIT",
            RecoveryStage::Index => "INDEX",
            RecoveryStage::Translog => "TRANSLOG",
            RecoveryStage::Finalize => "FINALIZE",
            RecoveryStage::Done => "DONE",
        }
    }
}

impl RecoveryType {
    pub fn as_str(&self) -> &'static str {
        match self {
            RecoveryType::Store => "STORE",
            RecoveryType::Replica => "REPLICA",
            RecoveryType::Relocating => "RELOCATING",
        }
    }
}

/// The recoveries of the copies on this node, by shard (table uuid, number).
#[derive(Debug, Default)]
pub(super) struct RecoveryStates(std::sync::Mutex<BTreeMap<(String, u32), RecoveryState>>);

impl RecoveryStates {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, u32), RecoveryState>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts (or restarts) the record of a shard's recovery.
    pub(super) fn begin(&self, uuid: &str, shard: u32, kind: RecoveryType) {
        self.lock()
            .insert((uuid.to_string(), shard), RecoveryState::new(kind));
    }

    /// Changes a shard's recovery record.
    pub(super) fn update(&self, uuid: &str, shard: u32, f: impl FnOnce(&mut RecoveryState)) {
        if let Some(state) = self.lock().get_mut(&(uuid.to_string(), shard)) {
            f(state);
        }
    }

    /// A shard's recovery record.
    pub(super) fn get(&self, uuid: &str, shard: u32) -> Option<RecoveryState> {
        self.lock().get(&(uuid.to_string(), shard)).cloned()
    }

    /// Forgets the records of shards `keep` does not name.
    pub(super) fn retain(&self, keep: impl Fn(&str, u32) -> bool) {
        self.lock().retain(|(uuid, shard), _| keep(uuid, *shard));
    }
}
