//! Shard work over fast-field columns without building rows: a plain GROUP
//! BY ([`group`]), a broadcast join's ([`join`]), and the choice of each
//! window partition's first rows ([`first_rows`]); everything else takes
//! the row path in [`super::collect`].

mod accs;
mod first_rows;
mod group;
mod join;

pub use first_rows::{Winner, first_rows};
pub use group::try_aggregate;
pub use join::try_aggregate_join;
