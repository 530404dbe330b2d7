//! Shoal's node engine.

pub mod catalog;
pub mod disk;
pub mod error;
pub mod runtime;
#[cfg(not(madsim))]
pub mod server;
pub mod sql;
pub mod types;
