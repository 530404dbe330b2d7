//! The raft log on the node's [`Disk`]: the vote, the committed log id and
//! the entries. Entries are appended to one file per generation as
//! checksummed records and fsynced before openraft is told they are
//! durable; truncating or purging writes the remaining entries to a new
//! generation, so a file is only ever appended to. A torn record at the end
//! (a crash mid-append, never acknowledged) is dropped on open.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogId, RaftLogReader, StorageIOError};
use serde::{Deserialize, Serialize};

use super::raft::{Entry, LogId, StorageError, TypeConfig, Vote, io_error};
use crate::disk::{AppendFile, Disk};
use crate::error::{Error, Result};
use crate::request::codec;

const VOTE: &str = "_raft/vote";
const COMMITTED: &str = "_raft/committed";
const GENERATION: &str = "_raft/log.gen";

fn log_file(generation: u64) -> String {
    format!("_raft/log-{generation}")
}

/// Which log file is current, and what was purged before it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Generation {
    number: u64,
    last_purged: Option<LogId>,
}

struct Log {
    disk: Arc<dyn Disk>,
    generation: Generation,
    file: Box<dyn AppendFile>,
    entries: BTreeMap<u64, Entry>,
    vote: Option<Vote>,
    committed: Option<LogId>,
}

/// The raft log; clones share it (openraft reads through a clone).
#[derive(Clone)]
pub struct LogStore {
    log: Arc<Mutex<Log>>,
}

impl LogStore {
    /// Opens the log on `disk`, or starts an empty one.
    pub fn open(disk: Arc<dyn Disk>) -> Result<LogStore> {
        let generation: Generation = read_optional(&*disk, GENERATION)?.unwrap_or_default();
        let vote = read_optional(&*disk, VOTE)?;
        let committed = read_optional(&*disk, COMMITTED)?.flatten();
        let path = log_file(generation.number);
        let bytes = match disk.read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let (entries, clean) = decode_records(&bytes);
        if !clean {
            tracing::warn!("raft log: dropped a torn record at the end of {path}");
        }
        // A log file is appended to only by the process that created it
        // (creating one replaces it): continue in a new generation.
        let (generation, file) = start_generation(&*disk, &generation, &entries)?;
        let log = Log {
            disk,
            generation,
            file,
            entries,
            vote,
            committed,
        };
        Ok(LogStore {
            log: Arc::new(Mutex::new(log)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Log {
    /// Writes the entries kept to a new generation and switches to it.
    fn rewrite(&mut self) -> Result<()> {
        let (generation, file) = start_generation(&*self.disk, &self.generation, &self.entries)?;
        self.generation = generation;
        self.file = file;
        Ok(())
    }
}

/// Writes `entries` to the generation after `previous`, makes it current
/// and removes the previous file; answers the new generation and its file,
/// open for appending.
fn start_generation(
    disk: &dyn Disk,
    previous: &Generation,
    entries: &BTreeMap<u64, Entry>,
) -> Result<(Generation, Box<dyn AppendFile>)> {
    let generation = Generation {
        number: previous.number + 1,
        last_purged: previous.last_purged,
    };
    let file = disk.open_append(&log_file(generation.number))?;
    let mut buf = Vec::new();
    for entry in entries.values() {
        encode_record(entry, &mut buf)?;
    }
    file.append(&buf)?;
    file.sync()?;
    disk.write_atomic(GENERATION, &codec::encode(&generation)?)?;
    let _ = disk.remove(&log_file(previous.number));
    Ok((generation, file))
}

fn read_optional<T: serde::de::DeserializeOwned>(disk: &dyn Disk, path: &str) -> Result<Option<T>> {
    match disk.read(path) {
        Ok(bytes) => codec::decode(&bytes)
            .map(Some)
            .map_err(|e| Error::Io(format!("corrupt {path}: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A record: length, CRC32 of the body, body.
fn encode_record(entry: &Entry, buf: &mut Vec<u8>) -> Result<()> {
    let body = codec::encode(entry)?;
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    buf.extend_from_slice(&body);
    Ok(())
}

/// The entries of a log file, and whether it ended cleanly (a file may end
/// in zeros: space the disk allocated ahead).
fn decode_records(mut bytes: &[u8]) -> (BTreeMap<u64, Entry>, bool) {
    let mut entries = BTreeMap::new();
    while !bytes.is_empty() {
        if bytes.iter().all(|b| *b == 0) {
            break;
        }
        if bytes.len() < 8 {
            return (entries, false);
        }
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let crc = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let Some(body) = bytes.get(8..8 + len) else {
            return (entries, false);
        };
        if crc32fast::hash(body) != crc {
            return (entries, false);
        }
        match codec::decode::<Entry>(body) {
            Ok(entry) => {
                entries.insert(entry.log_id.index, entry);
            }
            Err(_) => return (entries, false),
        }
        bytes = &bytes[8 + len..];
    }
    (entries, true)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<Entry>, StorageError> {
        Ok(self
            .lock()
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> std::result::Result<LogState<TypeConfig>, StorageError> {
        let log = self.lock();
        let last_purged_log_id = log.generation.last_purged;
        let last_log_id = log
            .entries
            .values()
            .next_back()
            .map(|e| *e.get_log_id())
            .or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> std::result::Result<(), StorageError> {
        let mut log = self.lock();
        let bytes = codec::encode(vote).map_err(|e| io_error(StorageIOError::write_vote, e))?;
        log.disk
            .write_atomic(VOTE, &bytes)
            .map_err(|e| io_error(StorageIOError::write_vote, e))?;
        log.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> std::result::Result<Option<Vote>, StorageError> {
        Ok(self.lock().vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId>,
    ) -> std::result::Result<(), StorageError> {
        let mut log = self.lock();
        let bytes = codec::encode(&committed).map_err(|e| io_error(StorageIOError::write, e))?;
        log.disk
            .write_atomic(COMMITTED, &bytes)
            .map_err(|e| io_error(StorageIOError::write, e))?;
        log.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> std::result::Result<Option<LogId>, StorageError> {
        Ok(self.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> std::result::Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut log = self.lock();
        let mut buf = Vec::new();
        let entries: Vec<Entry> = entries.into_iter().collect();
        for e in &entries {
            encode_record(e, &mut buf).map_err(|e| io_error(StorageIOError::write_logs, e))?;
        }
        let written = log.file.append(&buf).and_then(|_| log.file.sync());
        if let Err(e) = written {
            // The file may now end in a partial record: start a new
            // generation from what is known to be durable.
            let _ = log.rewrite();
            callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
            return Err(io_error(StorageIOError::write_logs, e));
        }
        for e in entries {
            log.entries.insert(e.log_id.index, e);
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        let mut log = self.lock();
        log.entries.split_off(&log_id.index);
        log.rewrite()
            .map_err(|e| io_error(StorageIOError::write_logs, e))
    }

    async fn purge(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        let mut log = self.lock();
        log.entries = log.entries.split_off(&(log_id.index + 1));
        log.generation.last_purged = Some(log_id);
        log.rewrite()
            .map_err(|e| io_error(StorageIOError::write_logs, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MemDisk;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    fn append_raw(disk: &MemDisk, entries: &[Entry]) {
        let store = LogStore::open(Arc::new(disk.clone())).unwrap();
        let mut log = store.lock();
        let mut buf = Vec::new();
        for e in entries {
            encode_record(e, &mut buf).unwrap();
            log.entries.insert(e.log_id.index, e.clone());
        }
        log.file.append(&buf).unwrap();
        log.file.sync().unwrap();
    }

    fn indexes(disk: &MemDisk) -> Vec<u64> {
        let store = LogStore::open(Arc::new(disk.clone())).unwrap();
        store.lock().entries.keys().copied().collect()
    }

    #[test]
    fn entries_survive_reopening_and_a_torn_tail_is_dropped() {
        let disk = MemDisk::new();
        append_raw(&disk, &[entry(1), entry(2), entry(3)]);
        assert_eq!(indexes(&disk), vec![1, 2, 3]);
        // Half a record at the end, as a crash mid-append leaves it.
        let generation: Generation = read_optional(&disk, GENERATION).unwrap().unwrap();
        let path = log_file(generation.number);
        let mut bytes = disk.read(&path).unwrap();
        let mut extra = Vec::new();
        encode_record(&entry(4), &mut extra).unwrap();
        bytes.extend_from_slice(&extra[..extra.len() / 2]);
        disk.write_atomic(&path, &bytes).unwrap();
        assert_eq!(indexes(&disk), vec![1, 2, 3]);
        // Appends after the repair are read back.
        append_raw(&disk, &[entry(4)]);
        assert_eq!(indexes(&disk), vec![1, 2, 3, 4]);
    }

    #[cfg(not(madsim))]
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[cfg(not(madsim))]
    #[test]
    fn truncate_and_purge_keep_only_what_remains() {
        runtime().block_on(async {
            let disk = MemDisk::new();
            append_raw(&disk, &[entry(1), entry(2), entry(3), entry(4)]);
            let mut store = LogStore::open(Arc::new(disk.clone())).unwrap();
            store.truncate(entry(4).log_id).await.unwrap();
            store.purge(entry(1).log_id).await.unwrap();
            assert_eq!(indexes(&disk), vec![2, 3]);
            let mut reopened = LogStore::open(Arc::new(disk.clone())).unwrap();
            let state = reopened.get_log_state().await.unwrap();
            assert_eq!(state.last_purged_log_id, Some(entry(1).log_id));
            assert_eq!(state.last_log_id, Some(entry(3).log_id));
        });
    }
}
