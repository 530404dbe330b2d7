//! What the simulator's checkers observe inside the engine: which copy
//! acknowledged writes as a shard's primary under which term. The checker
//! "at most one primary per shard per term" reads it (two copies writing
//! under one term is how acknowledged writes get lost: one of them is not
//! the primary the others follow). Simulation build only, kept per thread
//! as [`crate::planted`] is; elsewhere recording is a no-op.

use crate::request::ShardId;

/// The copies that acknowledged writes as primary, by (table, table uuid,
/// shard, primary term): node names. (The uuid tells apart a table
/// dropped and created again under its name, whose terms start afresh.)
#[cfg(madsim)]
pub type Primaries =
    std::collections::BTreeMap<(String, String, u32, u64), std::collections::BTreeSet<String>>;

#[cfg(madsim)]
thread_local! {
    static PRIMARIES: std::cell::RefCell<Primaries> = Default::default();
}

/// Records that `node`, as `shard`'s primary under `term`, acknowledged
/// writes.
#[cfg(madsim)]
pub fn primary_acknowledged(shard: &ShardId, term: u64, node: &str) {
    PRIMARIES.with(|p| {
        let key = (
            shard.table.to_string(),
            shard.uuid.clone(),
            shard.shard,
            term,
        );
        p.borrow_mut()
            .entry(key)
            .or_default()
            .insert(node.to_string());
    });
}

/// Records nothing outside the simulation build.
#[cfg(not(madsim))]
pub fn primary_acknowledged(_shard: &ShardId, _term: u64, _node: &str) {}

/// What this thread's simulation recorded since [`forget_primaries`].
#[cfg(madsim)]
pub fn primaries() -> Primaries {
    PRIMARIES.with(|p| p.borrow().clone())
}

/// Starts afresh, for a new simulation on this thread.
#[cfg(madsim)]
pub fn forget_primaries() {
    PRIMARIES.with(|p| p.borrow_mut().clear());
}
