//! The write path: a [`WriteBatch`] stages a request's writes against
//! real-time reads; if the request succeeds they get sequence numbers, go
//! to the translog and are applied to the shard's state, all or nothing.
//! A replica's writes come sequenced by the primary and take the same path
//! from the translog on ([`Shard::apply_replicated`]).

use std::sync::Arc;

use super::state::{Shard, State};
use crate::error::{Error, Result};
use crate::storage::document::StoredDoc;
use crate::storage::source::write_source;
use crate::storage::translog::{Op, TranslogSync};
use crate::types::Object;

/// What a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Expect {
    /// Anything: create or overwrite.
    Any,
    /// No live document with this id (INSERT).
    Absent,
    /// The live document has exactly this `_seq_no` and `_primary_term` (optimistic concurrency).
    Version { seq_no: u64, primary_term: u64 },
}

/// What a write did: the closure's result, the translog sync to wait for
/// (in durable mode) and, when asked for, the operations in `_seq_no` order.
pub struct Written<R> {
    pub result: R,
    pub sync: Option<TranslogSync>,
    pub ops: Vec<Op>,
}

/// A staged write inside [`Shard::write`].
#[derive(Debug)]
enum Staged {
    /// `absent`: the id was known not to exist when staged (a plain
    /// insert); `version`: the document's `_version` once written.
    Put {
        id: String,
        source: Object,
        absent: bool,
        version: u64,
    },
    Delete {
        id: String,
    },
}

impl Staged {
    fn id(&self) -> &str {
        match self {
            Staged::Put { id, .. } | Staged::Delete { id } => id,
        }
    }
}

/// The view a write closure gets: real-time reads plus staged writes that
/// are applied together if the closure succeeds, and dropped if it fails.
pub struct WriteBatch<'a> {
    state: &'a State,
    staged: Vec<Staged>,
    /// Id hash -> the latest staged operation with that hash; earlier ones
    /// with the same hash are chained through `chain`.
    latest: crate::storage::pk::HashedMap<usize>,
    chain: Vec<Option<usize>>,
}

impl WriteBatch<'_> {
    /// The current version of a document, including writes staged in this batch.
    fn staged_index(&self, id: &str) -> Option<usize> {
        let mut next = self.latest.get(&crate::storage::pk::id_hash(id)).copied();
        while let Some(i) = next {
            if self.staged[i].id() == id {
                return Some(i);
            }
            next = self.chain[i];
        }
        None
    }

    fn stage(&mut self, op: Staged) {
        let h = crate::storage::pk::id_hash(op.id());
        let previous = self.latest.insert(h, self.staged.len());
        self.chain.push(previous);
        self.staged.push(op);
    }

    pub fn get(&self, id: &str) -> Result<Option<StoredDoc>> {
        if let Some(i) = self.staged_index(id) {
            return Ok(match &self.staged[i] {
                Staged::Put {
                    id,
                    source,
                    version,
                    ..
                } => Some(StoredDoc {
                    id: id.clone(),
                    seq_no: u64::MAX,
                    version: *version,
                    primary_term: self.state.primary_term,
                    source: Arc::new(source.clone()),
                }),
                Staged::Delete { .. } => None,
            });
        }
        match self.state.lookup(id) {
            Some(e) => self.state.load(e),
            None => Ok(None),
        }
    }

    fn check(&self, id: &str, expect: Expect) -> Result<bool> {
        match expect {
            Expect::Any => Ok(true),
            Expect::Absent => Ok(self.get(id)?.is_none()),
            Expect::Version {
                seq_no,
                primary_term,
            } => Ok(self
                .get(id)?
                .is_some_and(|d| d.seq_no == seq_no && d.primary_term == primary_term)),
        }
    }

    /// Makes room for `n` more operations.
    pub fn reserve(&mut self, n: usize) {
        self.staged.reserve(n);
        self.chain.reserve(n);
        self.latest.reserve(n);
    }

    /// Stages an index operation. Fails with `DuplicateKey` if `expect` is
    /// `Absent` and the id exists; returns false if a version check fails.
    pub fn put(&mut self, id: impl Into<String>, source: Object, expect: Expect) -> Result<bool> {
        let id = id.into();
        if !self.check(&id, expect)? {
            if expect == Expect::Absent {
                return Err(Error::DuplicateKey);
            }
            return Ok(false);
        }
        let staged = self.staged_index(&id);
        let absent = expect == Expect::Absent && staged.is_none();
        // One more than the version it replaces (staged in this batch, or
        // live in the shard); 1 for a new document.
        let version = match staged.map(|i| &self.staged[i]) {
            Some(Staged::Put { version, .. }) => version + 1,
            Some(Staged::Delete { .. }) => 1,
            None => match self.state.lookup_unless(absent, &id) {
                Some(e) => self.state.version_of(e) + 1,
                None => 1,
            },
        };
        self.stage(Staged::Put {
            id,
            source,
            absent,
            version,
        });
        Ok(true)
    }

    /// Stages a delete; returns whether a live document (matching `expect`) existed.
    pub fn delete(&mut self, id: &str, expect: Expect) -> Result<bool> {
        if self.get(id)?.is_none() || !self.check(id, expect)? {
            return Ok(false);
        }
        self.stage(Staged::Delete { id: id.to_string() });
        Ok(true)
    }
}

impl Shard {
    /// Runs `f` against a write batch. If `f` succeeds, its staged writes get
    /// sequence numbers, go to the translog (fsynced in durable mode) and
    /// become visible to gets; if it fails, nothing changes.
    pub fn write<R>(&self, f: impl FnOnce(&mut WriteBatch) -> Result<R>) -> Result<R> {
        let (result, sync) = self.write_deferred(f)?;
        if let Some(sync) = sync {
            sync.wait()?;
        }
        Ok(result)
    }

    /// [`Shard::write`] without waiting for the translog sync: the caller
    /// waits for the returned sync (in durable mode) before acknowledging,
    /// so that a request writing to several shards syncs them concurrently,
    /// and the shard is not locked while the disk works. Gets see the writes
    /// at once, as in CrateDB, where a real-time get can read an operation
    /// whose translog sync is still running.
    pub fn write_deferred<R>(
        &self,
        f: impl FnOnce(&mut WriteBatch) -> Result<R>,
    ) -> Result<(R, Option<TranslogSync>)> {
        let written = self.write_sequenced(false, f)?;
        Ok((written.result, written.sync))
    }

    /// [`Shard::write_deferred`] that also answers the operations it
    /// sequenced when `keep_ops` (a primary with replicas to send them to).
    pub fn write_sequenced<R>(
        &self,
        keep_ops: bool,
        f: impl FnOnce(&mut WriteBatch) -> Result<R>,
    ) -> Result<Written<R>> {
        let mut st = self.lock();
        let (result, staged) = {
            let mut batch = WriteBatch {
                state: &st,
                staged: Vec::new(),
                latest: Default::default(),
                chain: Vec::new(),
            };
            let r = f(&mut batch)?;
            (r, batch.staged)
        };
        if staged.is_empty() {
            return Ok(Written {
                result,
                sync: None,
                ops: Vec::new(),
            });
        }
        // The operations reach the translog before the shard applies them:
        // a write the translog refused changes nothing.
        let written = staged.len() as u64;
        let mut scratch = Vec::new();
        let mut ops = Vec::with_capacity(staged.len());
        for (seq_no, s) in (st.next_seq_no..).zip(staged) {
            debug_assert!(!st.processed.contains(seq_no));
            let primary_term = st.primary_term;
            let (op, parsed, absent) = match s {
                Staged::Put {
                    id,
                    source,
                    absent,
                    version,
                } => {
                    scratch.clear();
                    write_source(&mut scratch, &source);
                    (
                        Op::Index {
                            id,
                            seq_no,
                            version,
                            primary_term,
                            source: Arc::from(&scratch[..]),
                        },
                        Some(source),
                        absent,
                    )
                }
                Staged::Delete { id } => (
                    Op::Delete {
                        id,
                        seq_no,
                        primary_term,
                    },
                    None,
                    false,
                ),
            };
            st.translog.stage(&op);
            ops.push((op, parsed, absent));
        }
        let sync = st.append_staged(written)?;
        let mut kept = Vec::with_capacity(if keep_ops { ops.len() } else { 0 });
        for (op, parsed, absent) in ops {
            if keep_ops {
                kept.push(op.clone());
            }
            st.apply_parsed(op, parsed, absent)?;
        }
        Ok(Written {
            result,
            sync: self.durable.then_some(sync),
            ops: kept,
        })
    }

    /// Applies operations that a primary sequenced (a replica's write
    /// path): each goes to the translog and is applied by the `_seq_no`
    /// rules, so any order and repeats leave the same state. The caller
    /// waits for the returned sync (in durable mode) before acknowledging.
    pub fn apply_replicated(&self, ops: Vec<Op>) -> Result<Option<TranslogSync>> {
        if ops.is_empty() {
            return Ok(None);
        }
        // Operations stay in this copy's translog however they arrived, so
        // the copy's own restart replays them.
        let sync = self.lock().log_and_apply(ops)?;
        Ok(self.durable.then_some(sync))
    }
}

impl Shard {
    /// The primary term this copy writes (a primary) or accepts (a replica) under.
    pub fn primary_term(&self) -> u64 {
        self.lock().primary_term
    }

    /// Raises the copy's primary term (never lowers it): a promoted primary
    /// writes under its new term, and a replica refuses older ones. Whether
    /// it was raised.
    pub fn raise_primary_term(&self, term: u64) -> bool {
        let mut st = self.lock();
        let raised = term > st.primary_term;
        st.primary_term = st.primary_term.max(term);
        raised
    }

    /// The copy's local checkpoint: every operation up to it is processed.
    pub fn local_checkpoint(&self) -> Option<u64> {
        self.lock().processed.checkpoint()
    }

    /// The next sequence number the copy would assign.
    pub fn max_seq_no(&self) -> Option<u64> {
        self.lock().next_seq_no.checked_sub(1)
    }
}
