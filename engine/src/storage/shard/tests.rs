//! Shard tests that reach inside it (a refresh's freeze and unfreeze);
//! `storage/tests.rs` tests the shard through its public API.

use std::sync::Arc;

use super::*;
use crate::disk::{Disk, MemDisk};
use crate::storage::tests::{put, table};
use crate::types::Value;

/// A refresh whose build fails puts its frozen documents back: nothing
/// is lost, documents replaced meanwhile stay replaced, and the next
/// refresh makes exactly the current versions searchable.
#[tokio::test]
async fn a_failed_build_loses_nothing() {
    let shard = Shard::open(table(), 0, Arc::new(MemDisk::new()), false).unwrap();
    for id in 0..10 {
        put(&shard, id, 0);
    }
    put(&shard, 1, 1); // replaced within the buffer
    let frozen = shard.lock().freeze().unwrap();
    assert_eq!(frozen.dead, vec![1]);
    // Writes while the segment "builds": a replacement, a delete, a new row.
    put(&shard, 2, 2);
    shard.write(|b| b.delete("3", Expect::Any)).unwrap();
    put(&shard, 10, 0);
    shard.lock().unfreeze();
    for (id, n) in [(0, 0), (1, 1), (2, 2), (9, 0), (10, 0)] {
        let doc = shard.get(&id.to_string()).unwrap().unwrap();
        assert_eq!(doc.source["n"], Value::Int(n), "row {id}");
    }
    assert!(shard.get("3").unwrap().is_none());
    assert!(shard.refresh().await.unwrap());
    assert_eq!(shard.snapshot().num_docs(), 10);
    assert_eq!(shard.segments().len(), 1);
    // The rebuilt buffer holds only current versions: no dead documents.
    assert_eq!(shard.segments()[0].deleted_docs, 0);
    assert_eq!(shard.get("2").unwrap().unwrap().source["n"], Value::Int(2));
}

/// A primary reopened from a commit older than its first replicated
/// write tracks no global checkpoint; once a copy is in sync again the
/// idle shard's sync ships one anyway (first to hear the copy's local
/// checkpoint, then the global checkpoint that moved with it), and an
/// unreplicated copy's sync stays quiet.
#[test]
fn a_reopened_primary_ships_the_global_checkpoint_to_a_copy_back_in_sync() {
    let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
    let primary = Shard::open(table(), 0, disk.clone(), false).unwrap();
    for id in 0..3 {
        put(&primary, id, 0);
    }
    primary.advance_global_checkpoint(&[]);
    assert_eq!(primary.global_checkpoint(), Some(2));
    drop(primary);
    let primary = Shard::open(table(), 0, disk, false).unwrap();
    assert_eq!(primary.local_checkpoint(), Some(2));
    assert!(!primary.global_checkpoint_sync_due(&[]), "unreplicated");
    let in_sync = ["r".to_string()];
    assert!(primary.global_checkpoint_sync_due(&in_sync));
    assert_eq!(primary.shipped_global_checkpoint(), None);
    primary.record_peer_checkpoint("r", Some(2));
    assert_eq!(primary.advance_global_checkpoint(&in_sync), Some(2));
    assert!(primary.global_checkpoint_sync_due(&in_sync), "it moved");
    assert_eq!(primary.shipped_global_checkpoint(), Some(2));
    assert!(!primary.global_checkpoint_sync_due(&in_sync));
}

/// A primary fails after its last operations reached some copies and not
/// others; one copy is promoted and resyncs another. Whatever each held,
/// the resynced copy ends holding exactly what the new primary holds, or
/// reports that it diverged because it holds an operation the primary
/// lacks, and it never reports that when it received nothing the primary
/// did not.
mod resync {
    use proptest::prelude::*;

    use super::*;
    use crate::storage::source::write_source;
    use crate::storage::tests::row;
    use crate::storage::translog::Op;

    pub(super) const IDS: u64 = 4;

    /// The old primary's operation `seq_no`: index or delete one of few ids.
    pub(super) fn op(seq_no: u64, id: u64, delete: bool) -> Op {
        let id = id.to_string();
        if delete {
            return Op::Delete {
                id,
                seq_no,
                primary_term: 1,
            };
        }
        let mut source = Vec::new();
        write_source(&mut source, &row(0, seq_no as i64));
        Op::Index {
            id,
            seq_no,
            version: 1,
            primary_term: 1,
            source: source.into(),
        }
    }

    /// The old primary's history: operation `s` indexes or deletes an id.
    pub(super) fn sequenced(history: &[(u64, bool)]) -> Vec<Op> {
        let ops = history.iter().enumerate();
        ops.map(|(s, (id, delete))| op(s as u64, *id, *delete))
            .collect()
    }

    /// Whether a copy that `received` these operations holds none above
    /// `global` that the primary did not receive.
    pub(super) fn nothing_extra(
        len: usize,
        global: u64,
        received: &[bool],
        primary: &[bool],
    ) -> bool {
        (0..len).all(|s| s as u64 <= global || !received[s] || primary[s])
    }

    pub(super) fn copy(history: &[Op], received: &[bool], global: u64) -> Shard {
        let shard = Shard::open(table(), 0, Arc::new(MemDisk::new()), false).unwrap();
        let ops = history
            .iter()
            .zip(received)
            .filter(|(o, r)| o.seq_no() <= global || **r)
            .map(|(o, _)| o.clone())
            .collect();
        // Replicas know the global checkpoint before the operations arrive.
        shard.learn_global_checkpoint(Some(global));
        shard.apply_replicated(ops).unwrap();
        shard
    }

    pub(super) fn contents(shard: &Shard) -> Vec<Option<(u64, u64)>> {
        (0..IDS)
            .map(|id| {
                let doc = shard.get(&id.to_string()).unwrap();
                doc.map(|d| (d.seq_no, d.primary_term))
            })
            .collect()
    }

    /// Past its limit, in documents or in bytes, a resync gives way to
    /// recovery from files.
    #[test]
    fn a_resync_past_its_limit_is_refused() {
        let history: Vec<Op> = (0..IDS).map(|s| op(s, s, false)).collect();
        let primary = copy(&history, &[true; IDS as usize], 0);
        primary.raise_primary_term(2);
        let limit = |ops, bytes| super::resync::ResyncLimit { ops, bytes };
        let batch = |l| primary.resync_batch(l).unwrap().0;
        // Three documents lie above the global checkpoint 0.
        assert_eq!(batch(limit(3, usize::MAX)).unwrap().ops.len(), 3);
        assert!(batch(limit(2, usize::MAX)).is_none());
        assert!(batch(limit(usize::MAX, 10)).is_none());
    }

    proptest! {
        #[test]
        fn copies_agree_or_diverge(
            history in prop::collection::vec((0..IDS, prop::bool::weighted(0.3)), 1..24),
            global in 0usize..24,
            promoted in prop::collection::vec(any::<bool>(), 24),
            other in prop::collection::vec(any::<bool>(), 24),
        ) {
            let history = sequenced(&history);
            let global = (global % history.len()) as u64;
            let primary = copy(&history, &promoted, global);
            let replica = copy(&history, &other, global);
            primary.raise_primary_term(2);
            prop_assert_eq!(primary.resync_due(), Some(2));
            let (batch, _) = primary.resync_batch(super::resync::ResyncLimit::NONE).unwrap();
            let batch = batch.unwrap();
            let max = batch.max_seq_no;
            prop_assert_eq!(primary.local_checkpoint(), max, "the primary filled its gaps");
            let subset = nothing_extra(history.len(), global, &other, &promoted);
            match replica.apply_resync(batch).unwrap() {
                Resynced::Applied(_) => {
                    prop_assert_eq!(contents(&replica), contents(&primary));
                    prop_assert_eq!(replica.local_checkpoint(), max);
                    // New writes of the new term land the same on both.
                    let (written, ops) = {
                        let w = primary
                            .write_sequenced(true, |b| b.put("1", row(1, -1), Expect::Any))
                            .unwrap();
                        (w.result, w.ops)
                    };
                    prop_assert!(written);
                    replica.apply_replicated(ops).unwrap();
                    prop_assert_eq!(contents(&replica), contents(&primary));
                }
                Resynced::Diverged(what) => {
                    prop_assert!(!subset, "diverged on {} though it received nothing extra", what);
                }
            }
        }
    }
}

/// A copy comes back to a shard whose primary was promoted while it was
/// away and wrote under the new term since: it may catch up by operations
/// exactly when what it holds above its global checkpoint is the
/// primary's, and then ends holding what the primary holds.
mod catch_up {
    use proptest::prelude::*;

    use super::resync::{IDS, contents, copy, nothing_extra, op, sequenced};
    use super::*;
    use crate::breaker::Breaker;
    use crate::storage::tests::row;
    use crate::storage::translog::Op;

    /// Replays the primary's operations for recovery `id` on `copy`.
    fn replay(primary: &Shard, id: &str, copy: &Shard) {
        let mut cursor = None;
        loop {
            let page = primary
                .recovery_ops_page(id, cursor, &Breaker::unlimited())
                .unwrap();
            copy.apply_replicated(page.ops).unwrap();
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }

    /// Runs a recovery step from a (synchronous) property test.
    #[cfg(not(madsim))]
    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread().build();
        runtime.unwrap().block_on(f)
    }

    #[cfg(madsim)]
    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        madsim::runtime::Runtime::new().block_on(f)
    }

    /// The promoted primary's resync and `writes` new writes of term 2.
    fn promote(primary: &Shard, writes: &[u64]) {
        primary.raise_primary_term(2);
        primary.resync_batch(ResyncLimit::NONE).unwrap();
        primary.resynced(2);
        for id in writes {
            let id = (id % IDS).to_string();
            let put = |b: &mut WriteBatch| b.put(&id, row(2, 2), Expect::Any);
            primary.write_sequenced(true, put).unwrap();
        }
    }

    /// The old primary wrote seq_no 4 and failed before it reached the
    /// replica that was promoted; the new primary wrote its own seq_no 4.
    /// The old primary's copy, back, is refused a catch-up by operations;
    /// trusted from its local checkpoint (the planted bug), it would keep
    /// its own document beside the primary's.
    #[test]
    fn a_demoted_primary_holding_a_lost_write_gets_files() {
        let history: Vec<Op> = (0..5).map(|s| op(s, s % IDS, false)).collect();
        let demoted = copy(&history, &[true; 5], 2);
        let primary = copy(&history, &[true, true, true, true, false], 2);
        promote(&primary, &[1]);
        let held = demoted.held_history(HELD_HISTORY_LIMIT).unwrap();
        assert_eq!(held.processed_below, 5);
        let above = held.above.expect("listed from its translog");
        assert_eq!((above.from, above.ops), (3, vec![(3, 1), (4, 1)]));
        let above = demoted
            .held_history(HELD_HISTORY_LIMIT)
            .unwrap()
            .above
            .unwrap();
        let plan = block_on(primary.recovery_files("d", Some(CatchUp::Held(&above)))).unwrap();
        assert!(!plan.ops_based, "caught up by operations past a lost write");
        primary.release_retention("d");
        // What trusting its checkpoint would do.
        let plan = block_on(primary.recovery_files("d", Some(CatchUp::Below(5)))).unwrap();
        assert!(plan.ops_based);
        replay(&primary, "d", &demoted);
        assert_ne!(contents(&demoted), contents(&primary));
    }

    /// A replica takes a delete above a gap in what it received, and a
    /// flush writes it to an alive set while the commit says only what
    /// was processed below the gap. Reopened, the copy still knows it
    /// holds that delete (its older translog generation is replayed too):
    /// it lists it when it comes back, and a promoted primary that never
    /// had it finds the copy diverged instead of resyncing it into
    /// missing a row.
    #[tokio::test]
    async fn a_delete_above_a_gap_is_known_after_a_flush_and_a_reopen() {
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
        let replica = Shard::open(table(), 0, disk.clone(), false).unwrap();
        replica.learn_global_checkpoint(Some(4));
        let mut ops: Vec<Op> = (0..9).map(|s| op(s, s % IDS, false)).collect();
        ops.push(op(10, 1, true));
        replica.apply_replicated(ops).unwrap();
        replica.flush().await.unwrap();
        drop(replica);
        let replica = Shard::open(table(), 0, disk, false).unwrap();
        assert_eq!(replica.local_checkpoint(), Some(8));
        assert!(replica.get("1").unwrap().is_none());
        let held = replica.held_history(HELD_HISTORY_LIMIT).unwrap();
        let above = held.above.expect("listed");
        assert!(above.ops.contains(&(10, 1)), "{above:?}");
        // The replica promoted meanwhile received neither 9 nor 10.
        let history: Vec<Op> = (0..9).map(|s| op(s, s % IDS, false)).collect();
        let primary = copy(&history, &[true; 9], 4);
        primary.raise_primary_term(2);
        let (batch, _) = primary.resync_batch(ResyncLimit::NONE).unwrap();
        assert!(matches!(
            replica.apply_resync(batch.unwrap()).unwrap(),
            Resynced::Diverged(_)
        ));
        let plan = primary
            .recovery_files("r", Some(CatchUp::Held(&above)))
            .await
            .unwrap();
        assert!(!plan.ops_based);
    }

    /// A copy that cannot list what it holds from its translog (a flush
    /// trimmed it, and it never knew a global checkpoint) says so.
    #[tokio::test]
    async fn a_copy_without_the_log_of_what_it_holds_lists_nothing() {
        let shard = Shard::open(table(), 0, Arc::new(MemDisk::new()), false).unwrap();
        for id in 0..3 {
            put(&shard, id, 0);
        }
        assert!(
            shard
                .held_history(HELD_HISTORY_LIMIT)
                .unwrap()
                .above
                .is_some()
        );
        shard.flush().await.unwrap();
        let held = shard.held_history(HELD_HISTORY_LIMIT).unwrap();
        assert_eq!((held.processed_below, held.above), (3, None));
        // And one holding more than the limit above its checkpoint.
        assert!(shard.held_history(2).unwrap().above.is_none());
    }

    proptest! {
        #[test]
        fn a_returning_copy_catches_up_exactly_when_its_history_is_the_primarys(
            history in prop::collection::vec((0..IDS, prop::bool::weighted(0.3)), 1..24),
            global in 0usize..24,
            promoted in prop::collection::vec(any::<bool>(), 24),
            returning in prop::collection::vec(any::<bool>(), 24),
            writes in prop::collection::vec(0..IDS, 0..4),
        ) {
            let history = sequenced(&history);
            let global = (global % history.len()) as u64;
            let primary = copy(&history, &promoted, global);
            let back = copy(&history, &returning, global);
            promote(&primary, &writes);
            let held = back.held_history(HELD_HISTORY_LIMIT).unwrap();
            let above = held.above.expect("every operation is in its translog");
            let plan = block_on(primary.recovery_files("b", Some(CatchUp::Held(&above)))).unwrap();
            let subset = nothing_extra(history.len(), global, &returning, &promoted);
            // Lacking nothing the primary never had, it catches up by
            // operations; it never does holding something the primary lacks.
            prop_assert_eq!(plan.ops_based, subset);
            if plan.ops_based {
                replay(&primary, "b", &back);
                prop_assert_eq!(contents(&back), contents(&primary));
                prop_assert_eq!(back.local_checkpoint(), primary.local_checkpoint());
            }
        }
    }
}
