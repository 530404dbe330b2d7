//! Shard tests that reach inside it (a refresh's freeze and unfreeze);
//! `storage/tests.rs` tests the shard through its public API.

use std::sync::Arc;

use super::*;
use crate::disk::MemDisk;
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
