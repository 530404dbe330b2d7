//! Shoal's node engine.

pub mod catalog;
pub mod disk;
pub mod error;
pub mod exec;
pub mod expr;
pub mod node;
pub mod planner;
pub mod runtime;
#[cfg(not(madsim))]
pub mod server;
pub mod sql;
pub mod storage;
pub mod types;

/// The CrateDB version Shoal is compatible with, reported to clients
/// (`GET /` and `sys.nodes`), which use it for feature detection.
pub const VERSION: &str = "5.10.0";
