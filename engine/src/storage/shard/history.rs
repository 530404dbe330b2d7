//! What a copy coming back to its shard holds, and whether that is the
//! primary's history: the test that lets any returning copy — a demoted
//! primary too — catch up by operations instead of files.
//!
//! Below the global checkpoint a copy knew, every copy holds the same
//! operations (that is what the checkpoint means). Above it, a copy may
//! hold operations the current primary never received: a demoted
//! primary's last writes, or what it sent one replica and not another.
//! Replaying the primary's operations cannot take those back (an operation
//! already processed is skipped, [`crate::storage::seqno`]), so the copy
//! lists every operation it holds above that checkpoint as (`_seq_no`,
//! primary term) — [`Shard::held_history`] — and the primary grants a
//! recovery by operations only if each one is in its own translog under
//! the same term ([`verify_held`]). Only one primary ever writes under a
//! term, and the numbers a promoted primary's resync marks with its own
//! term (the deletes it resends, the no-ops that fill gaps) are ones it
//! never uses for another operation, so the same pair is the same
//! operation (a copy that holds the original under the old term asks for
//! files: a mismatch costs files, never a wrong document). Anything the copy cannot list from its own translog
//! (operations its segments brought from a recovery by files, a trimmed
//! generation) or that appears under two terms makes it ask for files.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::state::Shard;
use crate::disk::Disk;
use crate::error::Result;
use crate::storage::translog::{for_each_op, oldest_generation};

/// The most operations above the global checkpoint a copy lists: past
/// it, it recovers by files (the list travels in one message, well under
/// the transport's frame limit, like a resync's).
pub const HELD_HISTORY_LIMIT: usize = 50_000;

/// How a returning copy asks its primary to catch up by operations.
#[derive(Debug, Clone, Copy)]
pub enum CatchUp<'a> {
    /// It holds the primary's history below this sequence number (it is
    /// known to: it left under the primary's term, `left_term`).
    Below(u64),
    /// It holds these operations above its global checkpoint, for the
    /// primary to check.
    Held(&'a HeldAbove),
}

/// What a copy that comes back still holds of its shard, for its primary
/// to judge whether it may catch up by operations alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldHistory {
    /// Every operation below it is processed (its local checkpoint + 1).
    pub processed_below: u64,
    /// Every operation it holds from `above.from` on, when it can list them.
    pub above: Option<HeldAbove>,
}

/// The operations a copy holds from `from` on (the global checkpoint it
/// knew + 1, or its local checkpoint + 1 if lower).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldAbove {
    pub from: u64,
    /// (`_seq_no`, primary term), by sequence number.
    pub ops: Vec<(u64, u64)>,
}

impl Shard {
    /// What this copy holds (see the module notes); `above` is `None`
    /// when it cannot list the operations from its own translog, or there
    /// are more than `limit`.
    pub fn held_history(&self, limit: usize) -> Result<HeldHistory> {
        let mut st = self.lock();
        st.translog.sync()?;
        let processed_below = st.processed.checkpoint().map_or(0, |c| c + 1);
        let from = match (st.global.tracked, st.global.known) {
            (true, Some(g)) => (g + 1).min(processed_below),
            _ => 0,
        };
        let unlisted = HeldHistory {
            processed_below,
            above: None,
        };
        if processed_below - from > limit as u64 {
            return Ok(unlisted);
        }
        // Every number it processed from `from` on, and the ones its
        // documents and deletes carry (all processed, as far as it knows;
        // listed anyway, since what it holds is what must be checked).
        let mut held: BTreeSet<u64> = (from..processed_below).collect();
        held.extend(st.processed.above(from));
        held.extend(st.tombstones.above(from.checked_sub(1)).map(|(s, _)| s));
        let documents: Vec<_> = st
            .pk
            .entries()
            .filter(|e| e.seq_no >= from)
            .copied()
            .collect();
        held.extend(documents.iter().map(|e| e.seq_no));
        if held.len() > limit {
            return Ok(unlisted);
        }
        // Under the lock: the copy takes no writes while it waits to
        // recover, and no flush may trim a generation being read. The map
        // read holds only numbers from `from` on, which the copy processed
        // (it applies what it logs, at replay too) and just counted: about
        // `limit` entries at most, whatever the log's size.
        let terms = match oldest_generation(self.disk.as_ref(), &self.dir)? {
            Some(oldest) => logged_terms(self.disk.as_ref(), &self.dir, oldest, from)?,
            None => BTreeMap::new(),
        };
        // And whatever it logged from `from` on: an operation it logged is
        // one it may hold, whatever its processed set says.
        held.extend(terms.keys().copied());
        if held.len() > limit {
            return Ok(unlisted);
        }
        // A document it holds must be the one logged at its number (not one
        // a recovery by files brought, with another logged there since).
        for entry in documents {
            let stored = st.load(entry)?.map(|d| d.primary_term);
            if stored.is_none() || terms.get(&entry.seq_no) != Some(&stored) {
                return Ok(unlisted);
            }
        }
        drop(st);
        let ops: Option<Vec<(u64, u64)>> = held
            .into_iter()
            .map(|s| terms.get(&s).copied().flatten().map(|t| (s, t)))
            .collect();
        Ok(HeldHistory {
            processed_below,
            above: ops.map(|ops| HeldAbove { from, ops }),
        })
    }
}

/// The primary term of each operation logged in `dir` (from translog
/// generation `generation` on) whose sequence number is from `from` on;
/// `None` for a sequence number logged under two terms (which one the copy
/// applied is not known). The log is read one generation at a time and
/// only the numbers kept: it may hold far more documents than memory.
pub(super) fn logged_terms(
    disk: &dyn Disk,
    dir: &str,
    generation: u64,
    from: u64,
) -> Result<BTreeMap<u64, Option<u64>>> {
    let mut terms: BTreeMap<u64, Option<u64>> = BTreeMap::new();
    for_each_op(disk, dir, generation, |op| {
        if op.seq_no() < from {
            return Ok(());
        }
        let term = op.primary_term();
        terms
            .entry(op.seq_no())
            .and_modify(|t| {
                if *t != Some(term) {
                    *t = None;
                }
            })
            .or_insert(Some(term));
        Ok(())
    })?;
    Ok(terms)
}

/// Whether every operation a copy holds (`held`) is logged by the primary
/// under the same term (`logged`: its translog's [`logged_terms`]).
pub(super) fn verify_held(logged: &BTreeMap<u64, Option<u64>>, held: &[(u64, u64)]) -> bool {
    held.iter().all(|(s, t)| logged.get(s) == Some(&Some(*t)))
}
