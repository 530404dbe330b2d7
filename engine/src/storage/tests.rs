//! Storage tests: write, get, refresh, merge, flush and recovery on a MemDisk.

use std::sync::Arc;

use super::shard::{Expect, Shard};
use crate::catalog::TableInfo;
use crate::disk::{Disk, MemDisk};
use crate::types::{Object, Value};

pub(super) fn table() -> Arc<TableInfo> {
    Arc::new(TableInfo::for_tests(&["id"], 1))
}

pub(super) fn row(id: i64, n: i64) -> Object {
    let mut o = Object::default();
    o.insert("id".into(), Value::Int(id));
    o.insert("n".into(), Value::Int(n));
    o
}

pub(super) fn put(shard: &Shard, id: i64, n: i64) {
    shard
        .write(|b| b.put(id.to_string(), row(id, n), Expect::Any))
        .unwrap();
}

#[tokio::test]
async fn writes_are_gettable_at_once_and_searchable_after_refresh() {
    let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
    let shard = Shard::open(table(), 0, disk, false).unwrap();
    put(&shard, 1, 10);
    put(&shard, 2, 20);
    assert_eq!(shard.get("1").unwrap().unwrap().source["n"], Value::Int(10));
    assert_eq!(shard.snapshot().num_docs(), 0);
    assert!(shard.refresh().await.unwrap());
    assert_eq!(shard.snapshot().num_docs(), 2);
    // Update: the old version stays visible to searches until the next refresh.
    put(&shard, 1, 11);
    let got = shard.get("1").unwrap().unwrap();
    assert_eq!(got.source["n"], Value::Int(11));
    assert_eq!(got.version, 2);
    assert_eq!(shard.snapshot().num_docs(), 2);
    shard.write(|b| b.delete("2", Expect::Any)).unwrap();
    assert!(shard.get("2").unwrap().is_none());
    assert_eq!(shard.snapshot().num_docs(), 2);
    shard.refresh().await.unwrap();
    assert_eq!(shard.snapshot().num_docs(), 1);
}

#[tokio::test]
async fn failed_batches_change_nothing_and_duplicates_are_rejected() {
    let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
    let shard = Shard::open(table(), 0, disk, false).unwrap();
    put(&shard, 1, 10);
    let r = shard.write(|b| {
        b.put("5", row(5, 5), Expect::Absent)?;
        b.put("1", row(1, 99), Expect::Absent)
    });
    assert_eq!(r.unwrap_err(), crate::error::Error::DuplicateKey);
    assert!(shard.get("5").unwrap().is_none());
    assert_eq!(shard.get("1").unwrap().unwrap().source["n"], Value::Int(10));
    // Optimistic concurrency: a stale seq_no does not apply.
    let d = shard.get("1").unwrap().unwrap();
    let stale = Expect::Version {
        seq_no: d.seq_no + 7,
        primary_term: d.primary_term,
    };
    assert!(!shard.write(|b| b.put("1", row(1, 1), stale)).unwrap());
    let fresh = Expect::Version {
        seq_no: d.seq_no,
        primary_term: d.primary_term,
    };
    assert!(shard.write(|b| b.put("1", row(1, 2), fresh)).unwrap());
}

#[tokio::test]
async fn merges_keep_only_live_documents() {
    let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
    let shard = Shard::open(table(), 0, disk, false).unwrap();
    for round in 0..10 {
        for id in 0..20 {
            put(&shard, id, round);
        }
        shard.refresh().await.unwrap();
    }
    assert!(shard.maybe_merge().await.unwrap());
    assert_eq!(shard.snapshot().num_docs(), 20);
    for id in 0..20 {
        assert_eq!(
            shard.get(&id.to_string()).unwrap().unwrap().source["n"],
            Value::Int(9)
        );
    }
}

#[tokio::test]
async fn force_merge_reaches_the_segment_count_and_expunges_deletes() {
    let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
    let shard = Shard::open(table(), 0, disk, false).unwrap();
    for round in 0..5 {
        for id in 0..10 {
            put(&shard, round * 10 + id, round);
        }
        shard.refresh().await.unwrap();
    }
    assert_eq!(shard.snapshot().segments.len(), 5);
    assert_eq!(shard.force_merge(Some(2), false).await.unwrap(), 1);
    assert_eq!(shard.snapshot().segments.len(), 2);
    assert_eq!(shard.snapshot().num_docs(), 50);
    // Already at the target: nothing to do.
    assert_eq!(shard.force_merge(Some(2), false).await.unwrap(), 0);

    shard.write(|b| b.delete("3", Expect::Any)).unwrap();
    shard.refresh().await.unwrap();
    let with_deleted = |shard: &Shard| {
        shard
            .snapshot()
            .segments
            .iter()
            .filter(|s| s.alive.num_alive() < s.alive.len())
            .count()
    };
    assert_eq!(with_deleted(&shard), 1);
    assert_eq!(shard.force_merge(None, true).await.unwrap(), 1);
    assert_eq!(with_deleted(&shard), 0);
    assert_eq!(shard.snapshot().segments.len(), 2);

    assert_eq!(shard.force_merge(Some(1), false).await.unwrap(), 1);
    assert_eq!(shard.snapshot().segments.len(), 1);
    assert_eq!(shard.snapshot().num_docs(), 49);
    assert!(shard.get("3").unwrap().is_none());
    assert_eq!(shard.get("42").unwrap().unwrap().source["n"], Value::Int(4));
}

#[tokio::test]
async fn a_merge_never_hides_rows_whose_update_is_not_refreshed() {
    let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
    let shard = Shard::open(table(), 0, disk, false).unwrap();
    for id in 0..10 {
        put(&shard, id, 0);
        shard.refresh().await.unwrap();
    }
    assert_eq!(shard.snapshot().num_docs(), 10);
    // Updated and deleted, but not refreshed: searches still see the old rows.
    put(&shard, 3, 1);
    shard.write(|b| b.delete("4", Expect::Any)).unwrap();
    assert_eq!(shard.snapshot().num_docs(), 10);
    assert!(shard.maybe_merge().await.unwrap());
    assert_eq!(shard.snapshot().num_docs(), 10);
    // The refresh swaps row 3 for its new version and drops row 4.
    shard.refresh().await.unwrap();
    assert_eq!(shard.snapshot().num_docs(), 9);
    assert_eq!(shard.get("3").unwrap().unwrap().source["n"], Value::Int(1));
}

#[tokio::test]
async fn recovers_from_commit_point_and_translog() {
    let mem = MemDisk::new();
    let disk: Arc<dyn Disk> = Arc::new(mem.clone());
    {
        let shard = Shard::open(table(), 0, disk.clone(), true).unwrap();
        for id in 0..50 {
            put(&shard, id, id);
        }
        shard.write(|b| b.delete("3", Expect::Any)).unwrap();
        shard.flush().await.unwrap();
        for id in 50..60 {
            put(&shard, id, id);
        }
        put(&shard, 4, 400);
        shard.write(|b| b.delete("5", Expect::Any)).unwrap();
    }
    // Power cut: synced translog entries survive.
    mem.crash();
    let shard = Shard::open(table(), 0, disk.clone(), true).unwrap();
    assert_eq!(shard.snapshot().num_docs(), 58);
    assert!(shard.get("3").unwrap().is_none());
    assert!(shard.get("5").unwrap().is_none());
    assert_eq!(
        shard.get("4").unwrap().unwrap().source["n"],
        Value::Int(400)
    );
    assert_eq!(
        shard.get("59").unwrap().unwrap().source["n"],
        Value::Int(59)
    );
    // New writes after recovery get fresh sequence numbers.
    let before = shard.get("59").unwrap().unwrap().seq_no;
    put(&shard, 60, 60);
    assert!(shard.get("60").unwrap().unwrap().seq_no > before);
    shard.flush().await.unwrap();
    let again = Shard::open(table(), 0, disk, true).unwrap();
    assert_eq!(again.snapshot().num_docs(), 59);
}

/// A row updated while a refresh builds its segment stays searchable (in its
/// old version) until the next refresh. Needs real threads: the segment is
/// built on the blocking pool while the update runs.
#[cfg(not(madsim))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_never_hides_rows_updated_while_it_builds() {
    // The update must land between the freeze and the install; on a busy
    // machine it may miss that window, so a few attempts are allowed.
    for _attempt in 0..5 {
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
        let shard = Arc::new(Shard::open(table(), 0, disk, false).unwrap());
        put(&shard, 0, 0);
        shard.refresh().await.unwrap();
        for id in 1..=20_000 {
            put(&shard, id, 0);
        }
        let refreshing = {
            let shard = shard.clone();
            tokio::spawn(async move { shard.refresh().await })
        };
        // The refresh clears the flag when it freezes the buffer.
        while shard.needs_refresh() {
            tokio::task::yield_now().await;
        }
        put(&shard, 0, 1);
        if refreshing.is_finished() {
            continue;
        }
        refreshing.await.unwrap().unwrap();
        assert!(shard.needs_refresh(), "the update is in the next segment");
        assert_eq!(shard.snapshot().num_docs(), 20_001);
        shard.refresh().await.unwrap();
        assert_eq!(shard.snapshot().num_docs(), 20_001);
        assert_eq!(shard.get("0").unwrap().unwrap().source["n"], Value::Int(1));
        return;
    }
    panic!("the update never landed while a segment was being built");
}

#[tokio::test]
async fn a_deferred_write_is_durable_once_its_sync_is_waited_for() {
    let mem = MemDisk::new();
    let disk: Arc<dyn Disk> = Arc::new(mem.clone());
    {
        let shard = Shard::open(table(), 0, disk.clone(), true).unwrap();
        let (_, first) = shard
            .write_deferred(|b| b.put("1", row(1, 10), Expect::Absent))
            .unwrap();
        let (_, second) = shard
            .write_deferred(|b| b.put("2", row(2, 20), Expect::Absent))
            .unwrap();
        // Real-time gets see both before any sync.
        assert!(shard.get("2").unwrap().is_some());
        // Waiting for the first sync covers only what was appended before it
        // (here both); the second then has nothing left to do.
        let (first, second) = (first.unwrap(), second.unwrap());
        super::SyncInFlight::wait_all(vec![first.start()])
            .await
            .unwrap();
        second.wait().unwrap();
        let (_, third) = shard
            .write_deferred(|b| b.put("3", row(3, 30), Expect::Absent))
            .unwrap();
        // Never waited for: a power cut may lose it, and it was never acknowledged.
        drop(third);
    }
    mem.crash();
    let shard = Shard::open(table(), 0, disk, true).unwrap();
    assert!(shard.get("1").unwrap().is_some());
    assert!(shard.get("2").unwrap().is_some());
    assert!(shard.get("3").unwrap().is_none());
}

mod ordered_apply {
    //! Copies that receive the same operations in any order, some of them
    //! more than once, end in the same state: the state of applying them in
    //! `_seq_no` order.

    use proptest::prelude::*;

    use super::*;
    use crate::storage::CatchUp;
    use crate::storage::source::write_source;
    use crate::storage::translog::Op;

    const IDS: i64 = 4;

    /// Operation `seq_no`: index `id` (with `n = seq_no`), or delete it.
    fn op(seq_no: u64, id: i64, delete: bool) -> Op {
        if delete {
            return Op::Delete {
                id: id.to_string(),
                seq_no,
                primary_term: 1,
            };
        }
        let mut source = Vec::new();
        write_source(&mut source, &row(id, seq_no as i64));
        Op::Index {
            id: id.to_string(),
            seq_no,
            version: 1,
            primary_term: 1,
            source: source.into(),
        }
    }

    /// What a copy holds: each id's document (seq_no and row), or nothing.
    fn contents(shard: &Shard) -> Vec<Option<(u64, Object)>> {
        (0..IDS)
            .map(|id| {
                shard
                    .get(&id.to_string())
                    .unwrap()
                    .map(|d| (d.seq_no, (*d.source).clone()))
            })
            .collect()
    }

    fn copy() -> Shard {
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
        Shard::open(table(), 0, disk, false).unwrap()
    }

    fn apply_in_batches(shard: &Shard, ops: Vec<Op>, batch: usize) {
        let mut ops = ops.into_iter().peekable();
        while ops.peek().is_some() {
            let chunk: Vec<Op> = ops.by_ref().take(batch).collect();
            shard.apply_replicated(chunk).unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_order_with_repeats_leaves_the_same_state(
            (kinds, order) in prop::collection::vec((0..IDS, prop::bool::weighted(0.3)), 1..40)
                .prop_flat_map(|kinds| {
                    let n = kinds.len();
                    (Just(kinds), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
                }),
            repeats in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
            batch in 1usize..8,
        ) {
            let ops = |seqs: &[usize]| -> Vec<Op> {
                seqs.iter().map(|&s| op(s as u64, kinds[s].0, kinds[s].1)).collect()
            };
            let in_order: Vec<usize> = (0..kinds.len()).collect();
            let mut shuffled = order.clone();
            for r in &repeats {
                shuffled.push(order[r.index(order.len())]);
            }
            let reference = copy();
            apply_in_batches(&reference, ops(&in_order), 1);
            let other = copy();
            apply_in_batches(&other, ops(&shuffled), batch);
            // The model: the last operation on each id decides.
            let mut model: Vec<Option<(u64, Object)>> = vec![None; IDS as usize];
            for (s, (id, delete)) in kinds.iter().enumerate() {
                model[*id as usize] = (!delete).then(|| (s as u64, row(*id, s as i64)));
            }
            prop_assert_eq!(contents(&reference), model.clone());
            prop_assert_eq!(contents(&other), model);
        }
    }

    #[tokio::test]
    async fn a_recovered_copy_skips_what_it_has_and_keeps_deletes() {
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
        let shard = Shard::open(table(), 0, disk.clone(), false).unwrap();
        // Delete 0 arrives before the index operation it overtook.
        shard
            .apply_replicated(vec![op(1, 0, true), op(0, 0, false), op(2, 1, false)])
            .unwrap();
        assert_eq!(contents(&shard)[..2], [None, Some((2, row(1, 2)))]);
        shard.flush().await.unwrap();
        drop(shard);
        let shard = Shard::open(table(), 0, disk, false).unwrap();
        // Everything up to seq_no 2 is processed: repeats change nothing.
        shard
            .apply_replicated(vec![op(0, 0, false), op(2, 1, false), op(1, 0, true)])
            .unwrap();
        assert_eq!(contents(&shard)[..2], [None, Some((2, row(1, 2)))]);
        shard.refresh().await.unwrap();
        assert_eq!(shard.snapshot().num_docs(), 1);
    }

    #[tokio::test]
    async fn a_replica_reopened_keeps_its_gaps_and_fills_them_later() {
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
        let shard = Shard::open(table(), 0, disk.clone(), false).unwrap();
        // Operation 2 (id 2) never arrived; 3 and 4 did, one before a
        // flush, one after.
        shard
            .apply_replicated(vec![op(0, 0, false), op(1, 1, false), op(3, 3, false)])
            .unwrap();
        shard.flush().await.unwrap();
        shard.apply_replicated(vec![op(4, 0, false)]).unwrap();
        assert_eq!(shard.local_checkpoint(), Some(1));
        drop(shard);
        let shard = Shard::open(table(), 0, disk, false).unwrap();
        // The gap is still a gap: a recovery knows to send operation 2...
        assert_eq!(shard.local_checkpoint(), Some(1));
        let held = [
            Some((4, row(0, 4))),
            Some((1, row(1, 1))),
            None,
            Some((3, row(3, 3))),
        ];
        assert_eq!(contents(&shard), held);
        // ...and once it arrives the checkpoint moves past everything held.
        shard
            .apply_replicated(vec![op(2, 2, false), op(3, 3, false)])
            .unwrap();
        assert_eq!(shard.local_checkpoint(), Some(4));
        assert_eq!(contents(&shard)[2], Some((2, row(2, 2))));
    }

    #[tokio::test]
    async fn a_copy_catches_up_by_operations_only_while_the_translog_has_them() {
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
        let primary = Shard::open(table(), 0, disk, false).unwrap();
        apply_in_batches(
            &primary,
            (0..10).map(|s| op(s, s as i64 % IDS, false)).collect(),
            3,
        );
        // A copy that holds everything below 4 may catch up by operations.
        let plan = primary
            .recovery_files("r1", Some(CatchUp::Below(4)))
            .await
            .unwrap();
        assert!(plan.ops_based && plan.segments.is_empty());
        let mut ops = Vec::new();
        let mut cursor = None;
        loop {
            let page = primary
                .recovery_ops_page("r1", cursor, &crate::breaker::Breaker::unlimited())
                .unwrap();
            ops.extend(page.ops);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert!((4..10).all(|s| ops.iter().any(|o| o.seq_no() == s)));
        // Once a flush dropped the log, it gets the segments instead.
        primary.flush().await.unwrap();
        apply_in_batches(
            &primary,
            (10..12).map(|s| op(s, s as i64 % IDS, false)).collect(),
            3,
        );
        let plan = primary
            .recovery_files("r2", Some(CatchUp::Below(4)))
            .await
            .unwrap();
        assert!(!plan.ops_based && !plan.segments.is_empty());
        primary.release_retention("r2");
    }
}
