//! Shoal's deterministic simulation harness.
//!
//! Built with `RUSTFLAGS="--cfg madsim"`, the engine runs on madsim's
//! simulated runtime: time, tasks and randomness are driven by one seed, so a
//! failing run reproduces exactly with `MADSIM_TEST_SEED`. [`SimCluster`]
//! starts engine nodes on harness-owned in-memory disks and injects faults
//! (kill, crash, restart). Without the cfg this crate is empty.

#[cfg(madsim)]
mod cluster;

#[cfg(madsim)]
pub use cluster::{SimCluster, SimNode};
