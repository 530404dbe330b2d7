//! Planted bugs: deliberate faults in the replication protocol that the
//! simulator's checkers must catch, switched on per simulation by its
//! tests. They exist only in the simulation build (`--cfg madsim`); in any
//! other build [`planted`] is a constant `false` and the code it guards is
//! dead. The switch is per thread: madsim runs a whole simulation on the
//! thread that started it, so one test's plant cannot reach another's.

/// A bug that can be planted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// A primary acknowledges a write before its replicas answer (and
    /// never fails a replica that did not take it).
    AckBeforeReplicas,
    /// The master promotes a replica that is not in the in-sync set (one
    /// still recovering, say) when a primary is lost.
    PromoteOutOfSync,
    /// A primary lets any copy that comes back catch up by operations from
    /// its local checkpoint, without checking that what it holds above its
    /// global checkpoint is the primary's history.
    UncheckedCatchUp,
}

#[cfg(madsim)]
thread_local! {
    static PLANTED: std::cell::Cell<Option<Bug>> = const { std::cell::Cell::new(None) };
}

/// Plants `bug` (or none) for the simulations this thread runs next.
#[cfg(madsim)]
pub fn plant(bug: Option<Bug>) {
    PLANTED.with(|p| p.set(bug));
}

/// Whether `bug` is planted.
#[cfg(madsim)]
pub fn planted(bug: Bug) -> bool {
    PLANTED.with(|p| p.get()) == Some(bug)
}

/// Whether `bug` is planted: never, outside the simulation build.
#[cfg(not(madsim))]
pub fn planted(_bug: Bug) -> bool {
    false
}
