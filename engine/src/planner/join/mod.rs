//! Planning joins: the FROM clause's relations and join operators become a
//! tree of [`JoinPlan`]s, with WHERE conditions moved as far down as they
//! may go.
//!
//! Binding sees all relations of the FROM clause at once (a
//! [`Relation::Join`]); their columns bind to placeholders because a
//! table's scan grows while the query is bound. Once binding is done,
//! [`JoinedFrom::finish`] lays the relations' columns side by side, in FROM
//! order, and splits the WHERE clause: a condition on one relation filters
//! that relation's rows before the join (on the shards, for a table), a
//! condition on several relations becomes part of the lowest join that
//! sees them all — turning a comma join with `a.x = b.y` into a hash join —
//! and only what an outer join forbids moving stays above the join.

mod finish;
mod from;
mod layout;
mod prune;

pub use finish::equi_key;
pub(super) use finish::{identity, join_columns, scan_name};
pub(super) use from::{JoinedFrom, bind_constraints, plan_joined_from};
pub(super) use layout::Layout;
pub(super) use prune::prune_columns;
