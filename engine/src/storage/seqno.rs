//! Which operations a shard copy has processed, and the deletes it must
//! remember, so that applying operations is idempotent and ordered.
//!
//! A replica receives a primary's operations out of order and, after a
//! retry or a recovery, more than once. Two rules make every copy end in the
//! same state whatever the order (Elasticsearch's, by `_seq_no`):
//!
//! * an operation already processed is skipped ([`LocalCheckpoint`]: every
//!   sequence number up to the checkpoint, and the ones seen above it);
//! * an operation older than what the copy holds for its id does not
//!   replace it: neither a newer document nor a newer delete, which is why a
//!   delete leaves a [`Tombstones`] entry. A tombstone is needed only while
//!   an older operation for its id could still arrive, that is while its
//!   sequence number is above the local checkpoint.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The sequence numbers a shard copy has processed: all below `next`, and
/// those in `above`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LocalCheckpoint {
    next: u64,
    above: BTreeSet<u64>,
}

impl LocalCheckpoint {
    /// A copy that has processed every operation below `next`.
    pub fn starting_at(next: u64) -> LocalCheckpoint {
        LocalCheckpoint {
            next,
            above: BTreeSet::new(),
        }
    }

    /// Whether `seq_no` was processed.
    pub fn contains(&self, seq_no: u64) -> bool {
        seq_no < self.next || self.above.contains(&seq_no)
    }

    /// Records `seq_no` as processed.
    pub fn mark(&mut self, seq_no: u64) {
        if seq_no == self.next {
            self.next += 1;
            while self.above.remove(&self.next) {
                self.next += 1;
            }
        } else if seq_no > self.next {
            self.above.insert(seq_no);
        }
        debug_assert!(self.above.first().is_none_or(|s| *s > self.next));
    }

    /// The highest sequence number below which every operation was
    /// processed, if any (Elasticsearch's local checkpoint).
    pub fn checkpoint(&self) -> Option<u64> {
        self.next.checked_sub(1)
    }
}

/// Deletes above the local checkpoint: id → the delete's sequence number.
#[derive(Debug, Default)]
pub struct Tombstones {
    by_id: HashMap<String, u64>,
    by_seq_no: BTreeMap<u64, String>,
}

impl Tombstones {
    /// The sequence number of the delete remembered for `id`.
    pub fn get(&self, id: &str) -> Option<u64> {
        self.by_id.get(id).copied()
    }

    /// Remembers a delete of `id` (replacing an older one).
    pub fn insert(&mut self, id: &str, seq_no: u64) {
        if let Some(old) = self.by_id.insert(id.to_string(), seq_no) {
            self.by_seq_no.remove(&old);
        }
        self.by_seq_no.insert(seq_no, id.to_string());
    }

    /// Forgets the delete of `id` (a newer index operation replaced it).
    pub fn remove(&mut self, id: &str) {
        if let Some(seq_no) = self.by_id.remove(id) {
            self.by_seq_no.remove(&seq_no);
        }
    }

    /// Forgets the deletes at or below `checkpoint`: every older operation
    /// is processed, so none can arrive that they would have to stop.
    pub fn prune(&mut self, checkpoint: Option<u64>) {
        let Some(checkpoint) = checkpoint else {
            return;
        };
        while let Some(entry) = self.by_seq_no.first_entry() {
            if *entry.key() > checkpoint {
                break;
            }
            let id = entry.remove();
            self.by_id.remove(&id);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_advances_over_filled_gaps() {
        let mut c = LocalCheckpoint::starting_at(0);
        assert_eq!(c.checkpoint(), None);
        c.mark(1);
        c.mark(3);
        assert_eq!(c.checkpoint(), None);
        assert!(c.contains(3) && !c.contains(2));
        c.mark(0);
        assert_eq!(c.checkpoint(), Some(1));
        c.mark(2);
        assert_eq!(c.checkpoint(), Some(3));
        c.mark(2);
        assert_eq!(c.checkpoint(), Some(3));
    }

    #[test]
    fn tombstones_at_or_below_the_checkpoint_are_forgotten() {
        let mut t = Tombstones::default();
        t.insert("a", 5);
        t.insert("b", 7);
        t.insert("a", 9);
        assert_eq!(t.get("a"), Some(9));
        t.prune(Some(7));
        assert_eq!((t.get("a"), t.get("b")), (Some(9), None));
        t.remove("a");
        assert!(t.is_empty());
    }
}
