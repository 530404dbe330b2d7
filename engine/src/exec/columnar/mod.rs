//! Aggregation over fast-field columns without building rows: a plain
//! GROUP BY ([`group`]) and a broadcast join's ([`join`]); everything else
//! takes the row path in [`super::collect`].

mod accs;
mod group;
mod join;

pub use group::try_aggregate;
pub use join::try_aggregate_join;
