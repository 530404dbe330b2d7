//! Shoal's node engine.

pub mod catalog;
pub mod disk;
pub mod error;
pub mod expr;
pub mod runtime;
#[cfg(not(madsim))]
pub mod server;
pub mod sql;
pub mod storage;
pub mod types;
