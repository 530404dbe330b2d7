//! The translog: a shard's write-ahead log.
//!
//! Every index and delete operation is appended here (and, in durable mode,
//! fsynced) before it is acknowledged. On restart the operations since the
//! last flush are replayed on top of the persisted segments. The log is split
//! into generations: a flush persists the segments and starts a new
//! generation, and older generations are deleted.
//!
//! Record layout: `len: u32 | crc32: u32 | body`, where body is
//! `kind: u8 | seq_no: u64 | version: u64 | primary_term: u64 | id_len: u32 | id | source`.
//! A torn or corrupt tail (after a crash mid-append) or a zero length (space
//! the disk allocated ahead) ends the replay.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::disk::{AppendFile, Disk};
use crate::error::{Error, Result};

/// One logged operation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    Index {
        id: String,
        seq_no: u64,
        version: u64,
        primary_term: u64,
        /// The row, encoded as [`super::source`] does; shared with the
        /// indexing buffer. Travels as one byte string.
        #[serde(with = "arc_bytes")]
        source: Arc<[u8]>,
    },
    Delete {
        id: String,
        seq_no: u64,
        primary_term: u64,
    },
    /// A sequence number the shard will never see an operation for: a
    /// promoted primary fills the gaps the old one left with these, so
    /// every copy's local checkpoint can pass them (Elasticsearch's no-op).
    NoOp { seq_no: u64, primary_term: u64 },
}

/// `Arc<[u8]>` as a serde byte string (not a sequence of numbers).
mod arc_bytes {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Arc<[u8]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        let buf = serde_bytes::ByteBuf::deserialize(d)?;
        Ok(Arc::from(buf.into_vec()))
    }
}

impl Op {
    /// The operation's sequence number.
    pub fn seq_no(&self) -> u64 {
        match self {
            Op::Index { seq_no, .. } | Op::Delete { seq_no, .. } | Op::NoOp { seq_no, .. } => {
                *seq_no
            }
        }
    }

    /// The term of the primary that sequenced it (or, for a resync's
    /// delete or no-op, that resent it).
    pub fn primary_term(&self) -> u64 {
        match self {
            Op::Index { primary_term, .. }
            | Op::Delete { primary_term, .. }
            | Op::NoOp { primary_term, .. } => *primary_term,
        }
    }

    /// The `_id` of the document the operation writes or deletes.
    pub fn id(&self) -> &str {
        match self {
            Op::Index { id, .. } | Op::Delete { id, .. } => id,
            Op::NoOp { .. } => "",
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0u8; 8]);
        let (kind, id, seq_no, version, term, source): (u8, &str, u64, u64, u64, &[u8]) = match self
        {
            Op::Index {
                id,
                seq_no,
                version,
                primary_term,
                source,
            } => (1, id, *seq_no, *version, *primary_term, source),
            Op::Delete {
                id,
                seq_no,
                primary_term,
            } => (2, id, *seq_no, 0, *primary_term, &[]),
            Op::NoOp {
                seq_no,
                primary_term,
            } => (3, "", *seq_no, 0, *primary_term, &[]),
        };
        out.push(kind);
        out.extend_from_slice(&seq_no.to_le_bytes());
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&term.to_le_bytes());
        out.extend_from_slice(&(id.len() as u32).to_le_bytes());
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(source);
        let body_len = (out.len() - start - 8) as u32;
        let crc = crc32fast::hash(&out[start + 8..]);
        out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    fn decode(body: &[u8]) -> Option<Op> {
        let kind = *body.first()?;
        let u64_at = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(body.get(i..i + 8)?.try_into().ok()?))
        };
        let seq_no = u64_at(1)?;
        let version = u64_at(9)?;
        let primary_term = u64_at(17)?;
        let id_len = u32::from_le_bytes(body.get(25..29)?.try_into().ok()?) as usize;
        let id = std::str::from_utf8(body.get(29..29 + id_len)?)
            .ok()?
            .to_string();
        let rest = body.get(29 + id_len..)?;
        match kind {
            1 => Some(Op::Index {
                id,
                seq_no,
                version,
                primary_term,
                source: Arc::from(rest),
            }),
            2 => Some(Op::Delete {
                id,
                seq_no,
                primary_term,
            }),
            3 => Some(Op::NoOp {
                seq_no,
                primary_term,
            }),
            _ => None,
        }
    }
}

/// An open translog generation being appended to.
pub struct Translog {
    disk: Arc<dyn Disk>,
    dir: String,
    generation: u64,
    file: Arc<LogFile>,
    buf: Vec<u8>,
}

/// A generation's file with how much of it is known to be durable, so that
/// a sync another writer already did is not repeated.
struct LogFile {
    file: Box<dyn AppendFile>,
    appended: AtomicU64,
    synced: AtomicU64,
    /// An append failed: the file may end in a torn record, so nothing more
    /// is appended to it (replay stops at a torn record, and would miss
    /// whatever came after it in the same file).
    broken: AtomicBool,
}

impl LogFile {
    fn new(file: Box<dyn AppendFile>) -> LogFile {
        LogFile {
            file,
            appended: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            broken: AtomicBool::new(false),
        }
    }

    fn append(&self, data: &[u8]) -> Result<u64> {
        if let Err(e) = self.file.append(data) {
            self.broken.store(true, Ordering::Release);
            return Err(e.into());
        }
        let end = self.appended.load(Ordering::Acquire) + data.len() as u64;
        self.appended.store(end, Ordering::Release);
        Ok(end)
    }

    /// Makes the first `upto` bytes durable (and whatever else was appended).
    fn sync_to(&self, upto: u64) -> Result<()> {
        if self.synced.load(Ordering::Acquire) >= upto {
            return Ok(());
        }
        // Bytes appended before this load are covered by the sync below.
        let target = self.appended.load(Ordering::Acquire);
        self.file.sync()?;
        self.synced.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }
}

/// Operations appended but not yet durable. Writers append under the shard's
/// lock and sync afterwards: a statement starts the sync of each shard as
/// soon as it has written to it, goes on with the next shard while the disk
/// works, and waits for all of them before it answers. Concurrent writers
/// share syncs.
#[must_use = "a write is not durable until its translog sync completes"]
pub struct TranslogSync {
    file: Arc<LogFile>,
    upto: u64,
}

impl TranslogSync {
    /// Blocks until the operations are durable.
    pub fn wait(self) -> Result<()> {
        self.file.sync_to(self.upto)
    }

    /// Starts the sync off the async workers; see [`SyncInFlight::wait_all`].
    pub fn start(self) -> SyncInFlight {
        SyncInFlight(crate::runtime::spawn_blocking(move || self.wait()))
    }
}

/// A translog sync that is running.
#[must_use = "a write is not durable until its translog sync completes"]
pub struct SyncInFlight(crate::runtime::Blocking<Result<()>>);

impl SyncInFlight {
    /// Waits until all the given syncs are done; fails if any failed.
    /// Waits for a write's sync, if it has one (off the async workers).
    pub async fn wait_for(sync: Option<TranslogSync>) -> Result<()> {
        match sync {
            Some(sync) => SyncInFlight::wait_all(vec![sync.start()]).await,
            None => Ok(()),
        }
    }

    pub async fn wait_all(syncs: Vec<SyncInFlight>) -> Result<()> {
        let mut result = Ok(());
        for s in syncs {
            if let Err(e) = s.0.join().await {
                result = Err(e);
            }
        }
        result
    }
}

impl std::fmt::Debug for Translog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translog")
            .field("dir", &self.dir)
            .field("generation", &self.generation)
            .finish()
    }
}

fn file_name(generation: u64) -> String {
    format!("translog-{generation:010}.tlog")
}

impl Translog {
    /// Opens generation `generation` of the translog in `dir` for appending.
    pub fn open(disk: Arc<dyn Disk>, dir: &str, generation: u64) -> Result<Translog> {
        let file = disk.open_append(&format!("{dir}/{}", file_name(generation)))?;
        Ok(Translog {
            disk,
            dir: dir.to_string(),
            generation,
            file: Arc::new(LogFile::new(file)),
            buf: Vec::new(),
        })
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Bytes appended to the current generation by this process.
    pub fn size(&self) -> u64 {
        self.file.appended.load(Ordering::Acquire)
    }

    /// Appends operations; they are durable once the returned sync is done.
    pub fn append(&mut self, ops: &[Op]) -> Result<TranslogSync> {
        for op in ops {
            self.stage(op);
        }
        self.append_staged()
    }

    /// Encodes an operation for the next [`Translog::append_staged`], so a
    /// writer can hand the operation's parts on instead of keeping it.
    pub fn stage(&mut self, op: &Op) {
        op.encode(&mut self.buf);
    }

    /// Appends the staged operations in one write; they are durable once
    /// the returned sync is done.
    /// On failure nothing was appended, and the next append goes to a new
    /// generation.
    pub fn append_staged(&mut self) -> Result<TranslogSync> {
        if self.file.broken.load(Ordering::Acquire)
            && let Err(e) = self.roll()
        {
            self.buf.clear();
            return Err(e);
        }
        let appended = self.file.append(&self.buf);
        self.buf.clear();
        Ok(TranslogSync {
            file: self.file.clone(),
            upto: appended?,
        })
    }

    /// Makes everything appended durable.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_to(u64::MAX)
    }

    /// Starts a new generation (older ones stay until [`Translog::trim`]).
    pub fn roll(&mut self) -> Result<()> {
        self.sync()?;
        let next = self.generation + 1;
        self.file = Arc::new(LogFile::new(self.disk.open_append(&format!(
            "{}/{}",
            self.dir,
            file_name(next)
        ))?));
        self.generation = next;
        Ok(())
    }

    /// Deletes every generation older than `generation` (after a commit point
    /// made them unnecessary).
    pub fn trim(&mut self, generation: u64) -> Result<()> {
        for name in self.disk.list(&self.dir)? {
            if let Some(g) = parse_generation(&name)
                && g < generation
            {
                self.disk.remove(&format!("{}/{name}", self.dir))?;
            }
        }
        Ok(())
    }
}

fn parse_generation(name: &str) -> Option<u64> {
    name.strip_prefix("translog-")?
        .strip_suffix(".tlog")?
        .parse()
        .ok()
}

/// The oldest translog generation in `dir`, if any.
pub fn oldest_generation(disk: &dyn Disk, dir: &str) -> Result<Option<u64>> {
    Ok(disk
        .list(dir)?
        .iter()
        .filter_map(|n| parse_generation(n))
        .min())
}

/// The newest translog generation in `dir`, if any.
pub fn newest_generation(disk: &dyn Disk, dir: &str) -> Result<Option<u64>> {
    Ok(disk
        .list(dir)?
        .iter()
        .filter_map(|n| parse_generation(n))
        .max())
}

/// Every operation of the generations from `from` on, oldest first, and
/// the last generation read (for tests: the engine streams them with
/// [`for_each_op`], as the log may hold more than memory).
#[cfg(test)]
pub fn read_ops(disk: &dyn Disk, dir: &str, from: u64) -> Result<(Vec<Op>, u64)> {
    let mut ops = Vec::new();
    let last = for_each_op(disk, dir, from, |op| {
        ops.push(op);
        Ok(())
    })?;
    Ok((ops, last))
}

/// Hands every operation of the generations from `from` on to `f`, oldest
/// first, with one generation's bytes in memory at a time (for a reader
/// that keeps little of each operation); answers the last generation read.
/// The first error `f` returns stops the reading and is returned.
pub fn for_each_op(
    disk: &dyn Disk,
    dir: &str,
    from: u64,
    mut f: impl FnMut(Op) -> Result<()>,
) -> Result<u64> {
    let mut gens: Vec<u64> = disk
        .list(dir)?
        .iter()
        .filter_map(|n| parse_generation(n))
        .collect();
    gens.sort_unstable();
    let mut read = 0usize;
    let mut last = from;
    for g in gens.into_iter().filter(|g| *g >= from) {
        last = g;
        let mut each = |op| {
            read += 1;
            f(op)
        };
        if let Some(dropped) = read_generation_into(disk, dir, g, &mut each)? {
            // What a crash cut short was never acknowledged; say so.
            tracing::warn!(
                dir,
                generation = g,
                dropped_bytes = dropped,
                replayed = read,
                "the translog ends in a torn or corrupt record: replaying the operations before it"
            );
        }
    }
    Ok(last)
}

/// The operations of one translog generation (none if it is gone).
pub fn read_generation(disk: &dyn Disk, dir: &str, generation: u64) -> Result<Vec<Op>> {
    let mut ops = Vec::new();
    if disk.exists(&format!("{dir}/{}", file_name(generation))) {
        read_generation_into(disk, dir, generation, &mut |op| {
            ops.push(op);
            Ok(())
        })?;
    }
    Ok(ops)
}

/// Hands one generation's operations to `f`; answers how many bytes a
/// torn or corrupt record ended it before (none when it ends cleanly, or
/// in the zeros a disk allocated ahead).
fn read_generation_into(
    disk: &dyn Disk,
    dir: &str,
    g: u64,
    f: &mut dyn FnMut(Op) -> Result<()>,
) -> Result<Option<usize>> {
    let bytes = disk.read(&format!("{dir}/{}", file_name(g)))?;
    let mut pos = 0usize;
    let torn = |pos: usize| Some(bytes.len() - pos);
    while pos + 8 <= bytes.len() {
        let len =
            u32::from_le_bytes(bytes[pos..pos + 4].try_into().map_err(Error::internal)?) as usize;
        let crc = u32::from_le_bytes(
            bytes[pos + 4..pos + 8]
                .try_into()
                .map_err(Error::internal)?,
        );
        // A zero length is where the written part ends and the zeros
        // the disk allocated ahead begin.
        if len == 0 {
            return Ok(None);
        }
        let Some(body) = bytes.get(pos + 8..pos + 8 + len) else {
            return Ok(torn(pos));
        };
        if crc32fast::hash(body) != crc {
            return Ok(torn(pos));
        }
        match Op::decode(body) {
            Some(op) => f(op)?,
            None => return Ok(torn(pos)),
        }
        pos += 8 + len;
    }
    Ok(if pos < bytes.len() { torn(pos) } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MemDisk;
    #[cfg(not(madsim))]
    use crate::test_log::logged;

    /// The simulator's build has no subscriber to read the log with.
    #[cfg(madsim)]
    fn logged<R>(f: impl FnOnce() -> R) -> (R, String) {
        (f(), String::new())
    }

    #[test]
    fn replays_synced_ops_and_drops_a_torn_tail() {
        let disk = MemDisk::new();
        let arc: Arc<dyn Disk> = Arc::new(disk.clone());
        let mut log = Translog::open(arc.clone(), "t/0", 1).unwrap();
        let a = Op::Index {
            id: "1".into(),
            seq_no: 0,
            version: 1,
            primary_term: 1,
            source: Arc::from(&b"{\"a\":1}"[..]),
        };
        let b = Op::Delete {
            id: "1".into(),
            seq_no: 1,
            primary_term: 1,
        };
        log.append(&[a.clone(), b.clone()]).unwrap().wait().unwrap();
        let _never_waited = log.append(std::slice::from_ref(&a)).unwrap();
        disk.crash();
        let (ops, _) = read_ops(&disk, "t/0", 0).unwrap();
        assert_eq!(ops, vec![a.clone(), b]);

        // A half-written record is ignored, and the log says so.
        let (_, lines) = logged(|| read_ops(&disk, "t/0", 0).unwrap());
        assert!(!lines.contains("torn"), "a clean end is not torn: {lines}");
        let mut raw = disk.read("t/0/translog-0000000001.tlog").unwrap();
        raw.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
        disk.write_atomic("t/0/translog-0000000001.tlog", &raw)
            .unwrap();
        let (replayed, lines) = logged(|| read_ops(&disk, "t/0", 0).unwrap());
        assert_eq!(replayed.0.len(), 2);
        assert!(
            cfg!(madsim)
                || (lines.contains("WARN")
                    && lines.contains("torn or corrupt")
                    && lines.contains("dropped_bytes=6")),
            "{lines}"
        );

        log.roll().unwrap();
        log.trim(2).unwrap();
        assert!(!disk.exists("t/0/translog-0000000001.tlog"));
        assert_eq!(read_ops(&disk, "t/0", 2).unwrap().0.len(), 0);
    }
}
