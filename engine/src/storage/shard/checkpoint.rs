//! The global checkpoint: the sequence number up to which every in-sync
//! copy of a shard has processed every operation (Elasticsearch's).
//!
//! The primary learns its replicas' local checkpoints from their answers to
//! its operations, takes the minimum with its own, and ships the result
//! with the next operations, so each copy knows a global checkpoint that
//! lags the true one a little and is never ahead of it. Below it the copies
//! agree, so history below it may be forgotten: deletes stop being
//! remembered and translog generations are dropped
//! ([`super::state::State::history_floor`]). Above it the copies may
//! differ when a primary fails mid-write; the new primary's resync compares
//! them there (`resync.rs`).

use super::state::{Shard, State};

impl State {
    /// Notes that the current translog generation is being closed.
    pub(super) fn note_roll(&mut self, closed: u64) {
        let below = self.next_seq_no;
        self.global.rolled.insert(closed, below);
    }

    /// Forgets the rolled generations a trim removed.
    pub(super) fn note_trim(&mut self, kept_from: u64) {
        self.global.rolled = self.global.rolled.split_off(&kept_from);
    }
}

impl Shard {
    /// The global checkpoint this copy knows; an unreplicated copy's is its
    /// local checkpoint.
    pub fn global_checkpoint(&self) -> Option<u64> {
        let st = self.lock();
        match st.global.tracked {
            true => st.global.known.min(st.processed.checkpoint()),
            false => st.processed.checkpoint(),
        }
    }

    /// A replica learns the global checkpoint its primary shipped.
    pub fn learn_global_checkpoint(&self, known: Option<u64>) {
        let mut st = self.lock();
        st.global.raise(known);
        st.prune_tombstones();
    }

    /// A primary's global checkpoint as it sends it to the copies.
    pub fn shipped_global_checkpoint(&self) -> Option<u64> {
        let mut st = self.lock();
        st.global.shipped = st.global.known;
        st.global.known
    }

    /// Whether a primary should ship its global checkpoint: it moved since
    /// it was last sent, it is behind the primary's own local checkpoint,
    /// or one of `in_sync` (its other in-sync copies) has not reported
    /// since it became one (a copy back in sync after a partition). A copy
    /// reports only when something is sent to it, and learns the global
    /// checkpoint from what is sent.
    ///
    /// A primary with in-sync copies takes part in replication even when
    /// it does not track a global checkpoint yet: one reopened from a
    /// commit older than its first replicated write (a crash loses the
    /// rest) tracks none until something ships, and on an idle shard only
    /// this sync ships; the copies would keep whatever global checkpoint
    /// they knew before for good.
    pub fn global_checkpoint_sync_due(&self, in_sync: &[String]) -> bool {
        let st = self.lock();
        let behind = st.global.known < st.processed.checkpoint();
        let unreported = in_sync.iter().any(|id| !st.global.peers.contains_key(id));
        let replicated = st.global.tracked || !in_sync.is_empty();
        replicated && (st.global.known != st.global.shipped || behind || unreported)
    }

    /// A primary records the local checkpoint a copy reported.
    pub fn record_peer_checkpoint(&self, allocation_id: &str, local: Option<u64>) {
        let mut st = self.lock();
        let entry = st
            .global
            .peers
            .entry(allocation_id.to_string())
            .or_default();
        *entry = (*entry).max(local);
    }

    /// A primary's copies of `in_sync` whose last reported local
    /// checkpoint is below its own: (allocation id, that checkpoint).
    pub fn lagging_copies(&self, in_sync: &[String]) -> Vec<(String, Option<u64>)> {
        let st = self.lock();
        let own = st.processed.checkpoint();
        in_sync
            .iter()
            .filter_map(|id| {
                let local = *st.global.peers.get(id)?;
                (local < own).then(|| (id.clone(), local))
            })
            .collect()
    }

    /// A primary recomputes the global checkpoint over its own local
    /// checkpoint and those of `in_sync` (its other in-sync copies); a copy
    /// that has not reported yet holds it where it is. Answers the result.
    pub fn advance_global_checkpoint(&self, in_sync: &[String]) -> Option<u64> {
        let mut st = self.lock();
        st.global.peers.retain(|id, _| in_sync.contains(id));
        let mut global = st.processed.checkpoint();
        for id in in_sync {
            match st.global.peers.get(id) {
                Some(local) => global = global.min(*local),
                None => return st.global.known,
            }
        }
        st.global.raise(global);
        st.prune_tombstones();
        st.global.known
    }
}
