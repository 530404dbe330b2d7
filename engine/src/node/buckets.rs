//! A shard's rows split into a repartitioned join's buckets once, for all
//! the join's parts.
//!
//! Every node running a part of a repartitioned join asks each shard for
//! its own bucket ([`crate::exec`]'s `repartition.rs`). Answered one by one,
//! each request would read the whole shard to keep a bucket of it: with N
//! nodes, N reads of every shard. Instead the first request of a
//! statement for a shard (same job, same collect) reads the shard once and
//! splits its rows into every bucket; the bucket asked for is answered and
//! the others wait here for their parts, which all read this copy (the
//! handler pins one copy of each shard for every part). A bucket taken
//! twice (a part run again on another node) is collected again alone.
//!
//! What waits is held on this node's query breaker, and never for long: an
//! entry goes when its last bucket is taken, or after [`KEPT`] (a part that
//! never came: its node died, or the statement failed first).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use super::Node;
use crate::breaker::{HeapSize, MemoryAccount};
use crate::error::{Error, Result};
use crate::expr::EvalCtx;
use crate::request::{CollectSpec, Partial, ShardId, ShardRequest, ShardResponse, codec};
use crate::types::Row;

/// How long buckets wait for their parts.
pub(super) const KEPT: Duration = Duration::from_secs(60);

/// A statement's collect of one shard, whatever the bucket: the job, the
/// shard, and the collect phase (encoded) with the bucket's side, count
/// and key.
type Key = (String, ShardId, Vec<u8>);

/// The buckets of one shard's rows waiting for their parts.
#[derive(Default)]
pub(super) struct BucketStore {
    entries: Mutex<HashMap<Key, Arc<Entry>>>,
    /// How many times a shard's rows were read and split.
    splits: std::sync::atomic::AtomicU64,
}

struct Entry {
    created: tokio::time::Instant,
    /// What the buckets hold, until the entry goes.
    memory: Arc<MemoryAccount>,
    /// Each bucket, `None` once taken; split by the first request.
    buckets: tokio::sync::OnceCell<Mutex<Vec<Option<Held>>>>,
}

/// A bucket's rows and the bytes they hold, summed as they were split:
/// each row is at hand then, read for its key; summed when the bucket is
/// taken, every row would be read again, long out of the cache.
#[derive(Default)]
struct Held {
    rows: Vec<Row>,
    bytes: u64,
}

impl BucketStore {
    fn entry(&self, key: &Key, memory: impl FnOnce() -> Arc<MemoryAccount>) -> Arc<Entry> {
        let mut entries = lock(&self.entries);
        entries
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Entry {
                    created: crate::runtime::instant(),
                    memory: memory(),
                    buckets: tokio::sync::OnceCell::new(),
                })
            })
            .clone()
    }

    fn remove(&self, key: &Key) {
        lock(&self.entries).remove(key);
    }

    /// Drops the entries older than [`KEPT`] (the node's housekeeping).
    pub(super) fn expire(&self) {
        let now = crate::runtime::instant();
        lock(&self.entries).retain(|_, e| now.duration_since(e.created) < KEPT);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Node {
    /// How many times this node read a shard for a repartitioned join and
    /// split its rows into buckets (once per shard and statement).
    pub fn bucket_splits(&self) -> u64 {
        self.buckets
            .splits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Answers a collect of one bucket of a shard for a statement (see the
    /// module notes); `None` when the request is not one (no bucket, or
    /// no statement to share the split with).
    pub(super) async fn serve_bucket(
        &self,
        shard: &ShardId,
        spec: &CollectSpec,
        ctx: &EvalCtx,
    ) -> Option<Result<ShardResponse>> {
        let (Some(bucket), Some(job)) = (&spec.bucket, &ctx.job) else {
            return None;
        };
        let whole = CollectSpec {
            bucket: None,
            ..spec.clone()
        };
        let key = match codec::encode(&(&whole, bucket.side, bucket.count, &bucket.keys)) {
            Ok(fingerprint) => (job.clone(), shard.clone(), fingerprint),
            Err(e) => return Some(Err(e)),
        };
        let entry = self.buckets.entry(&key, || {
            let memory = self.breakers.statement();
            // KILL of the statement stops the split too.
            self.jobs.attach_part(job, &memory);
            memory
        });
        let split = entry
            .buckets
            .get_or_try_init(|| async {
                let ctx = EvalCtx {
                    memory: entry.memory.clone(),
                    ..ctx.clone()
                };
                let rows = self.collect_rows(shard, whole.clone(), ctx.clone()).await?;
                self.buckets
                    .splits
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut buckets: Vec<Option<Held>> =
                    (0..bucket.count).map(|_| Some(Held::default())).collect();
                for row in rows {
                    let b = bucket.of(&row, &ctx)? as usize;
                    if let Some(Some(held)) = buckets.get_mut(b) {
                        held.bytes += row.heap_size() as u64;
                        held.rows.push(row);
                    }
                }
                Ok::<_, Error>(Mutex::new(buckets))
            })
            .await;
        let split = match split {
            Ok(split) => split,
            Err(e) => {
                self.buckets.remove(&key);
                return Some(Err(e));
            }
        };
        let (taken, all_taken) = {
            let mut buckets = lock(split);
            let taken = buckets
                .get_mut(bucket.index as usize)
                .and_then(Option::take);
            (taken, buckets.iter().all(Option::is_none))
        };
        if all_taken {
            self.buckets.remove(&key);
        }
        let rows = match taken {
            Some(Held { rows, bytes }) => {
                // The rows move from the entry's account to the request's.
                if let Err(e) = ctx.memory.reserve(bytes, "collect") {
                    return Some(Err(e));
                }
                entry.memory.release(bytes);
                rows
            }
            // Taken before: this bucket is read again, alone, by a plain
            // collect (no job: not split again) that keeps only its rows.
            None => {
                let ctx = EvalCtx {
                    job: None,
                    ..ctx.clone()
                };
                match self.collect_rows(shard, spec.clone(), ctx).await {
                    Ok(rows) => rows,
                    Err(e) => return Some(Err(e)),
                }
            }
        };
        Some(Ok(ShardResponse::Partial(Partial::Rows(rows))))
    }

    /// A shard's collected rows. Boxed as a trait object: serving this
    /// request is the path that called it.
    fn collect_rows<'a>(
        &'a self,
        shard: &'a ShardId,
        spec: CollectSpec,
        ctx: EvalCtx,
    ) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let request = ShardRequest::Collect {
                shard: shard.clone(),
                spec,
                ctx,
            };
            match self.serve_request(request).await? {
                ShardResponse::Partial(Partial::Rows(rows)) => Ok(rows),
                other => Err(Error::internal(format!(
                    "a bucket's collect answered {}",
                    other.kind()
                ))),
            }
        })
    }
}
