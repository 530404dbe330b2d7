//! Shoal's deterministic simulation harness.
//!
//! Built with `RUSTFLAGS="--cfg madsim"`, the engine runs on madsim's
//! simulated runtime: time, tasks and randomness are driven by one seed, so a
//! failing run reproduces exactly with `MADSIM_TEST_SEED`. [`SimCluster`]
//! starts engine nodes on harness-owned in-memory disks and injects faults
//! (kill, crash, restart, partitions, pauses, loss and latency); the
//! [`trace`] of engine events and injected faults is printed when a test
//! fails. Without the cfg this crate is empty.

#[cfg(madsim)]
pub mod check;
#[cfg(madsim)]
mod cluster;
#[cfg(madsim)]
pub mod property;
#[cfg(madsim)]
pub mod scenario;
#[cfg(madsim)]
pub mod shell;
#[cfg(madsim)]
pub mod trace;

#[cfg(madsim)]
pub mod workload;

#[cfg(madsim)]
pub use cluster::{Client, SimCluster, SimNode};
