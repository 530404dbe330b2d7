//! Which operations a shard copy has processed, and the deletes it must
//! remember, so that applying operations is idempotent and ordered; and
//! what it knows of the global checkpoint ([`GlobalCheckpoint`]).
//!
//! A replica receives a primary's operations out of order and, after a
//! retry or a recovery, more than once. Two rules make every copy end in the
//! same state whatever the order (Elasticsearch's, by `_seq_no`):
//!
//! * an operation already processed is skipped ([`LocalCheckpoint`]: every
//!   sequence number up to the checkpoint, and the ones seen above it);
//! * an operation older than what the copy holds for its id does not
//!   replace it: neither a newer document nor a newer delete, which is why a
//!   delete leaves a [`Tombstones`] entry. A tombstone is needed while an
//!   older operation for its id could still arrive, that is while its
//!   sequence number is above the local checkpoint, and, in a replicated
//!   shard, while it is above the global checkpoint: a primary-replica
//!   resync compares the copies' deletes above it
//!   ([`crate::storage::shard`]'s `resync.rs`).

use std::collections::{BTreeMap, BTreeSet};

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

    /// The sequence numbers up to `last` that were not processed: the gaps
    /// a promoted primary fills with no-ops.
    pub fn gaps(&self, last: u64) -> Vec<u64> {
        (self.next..=last)
            .filter(|s| !self.above.contains(s))
            .collect()
    }

    /// The sequence numbers processed past the checkpoint's gap, from
    /// `from` on.
    pub fn above(&self, from: u64) -> impl Iterator<Item = u64> + '_ {
        self.above.range(from..).copied()
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
    by_id: BTreeMap<String, u64>,
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

    /// The deletes above `seq_no` (all of them when `None`): (seq_no, id).
    pub fn above(&self, seq_no: Option<u64>) -> impl Iterator<Item = (u64, &str)> {
        let from = seq_no.map_or(0, |s| s + 1);
        self.by_seq_no
            .range(from..)
            .map(|(s, id)| (*s, id.as_str()))
    }
}

/// What one copy knows of its shard's global checkpoint.
#[derive(Debug, Default)]
pub(crate) struct GlobalCheckpoint {
    /// Every operation up to it is on every in-sync copy (as far as this
    /// copy knows; `None`: nothing known).
    pub(crate) known: Option<u64>,
    /// Whether the copy takes part in replication: an unreplicated copy
    /// forgets history at its local checkpoint.
    pub(crate) tracked: bool,
    /// On a primary: the local checkpoints its other in-sync copies last
    /// reported, by allocation id.
    pub(crate) peers: BTreeMap<String, Option<u64>>,
    /// On a primary: the global checkpoint last sent to the copies.
    pub(crate) shipped: Option<u64>,
    /// Translog generations rolled since the copy opened: generation → the
    /// sequence number its operations are all below.
    pub(crate) rolled: BTreeMap<u64, u64>,
}

impl GlobalCheckpoint {
    /// Raises the known global checkpoint (never lowers it).
    pub(crate) fn raise(&mut self, to: Option<u64>) {
        self.tracked = true;
        self.known = self.known.max(to);
    }

    /// The first translog generation that may hold an operation above the
    /// global checkpoint, when the copy is replicated.
    pub(crate) fn first_needed_generation(&self) -> Option<u64> {
        if !self.tracked {
            return None;
        }
        let above = self.known.map_or(0, |g| g + 1);
        self.rolled
            .iter()
            .find(|(_, below)| **below > above)
            .map(|(generation, _)| *generation)
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

    #[test]
    fn only_generations_above_the_global_checkpoint_are_needed() {
        let mut g = GlobalCheckpoint::default();
        g.rolled.insert(3, 10);
        g.rolled.insert(4, 20);
        assert_eq!(g.first_needed_generation(), None, "untracked");
        g.raise(None);
        assert_eq!(g.first_needed_generation(), Some(3));
        g.raise(Some(9));
        assert_eq!(g.first_needed_generation(), Some(4), "10 holds only 0..=9");
        g.raise(Some(19));
        assert_eq!(g.first_needed_generation(), None);
        g.raise(Some(5));
        assert_eq!(g.known, Some(19), "never lowered");
    }
}
