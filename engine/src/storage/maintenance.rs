//! Background maintenance that failed: counted per shard (`sys.shards`'
//! `maintenance` column) and logged, so that a refresh, flush or merge that
//! keeps failing in the background is seen instead of dropped. The data
//! stays buffered and the work is retried on the next tick.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;

/// A kind of background maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maintenance {
    Refresh,
    Flush,
    Merge,
}

impl Maintenance {
    pub fn as_str(self) -> &'static str {
        match self {
            Maintenance::Refresh => "refresh",
            Maintenance::Flush => "flush",
            Maintenance::Merge => "merge",
        }
    }
}

/// Failure counts of one shard, and the last failure's message.
#[derive(Debug, Default)]
pub struct MaintenanceFailures {
    refresh: AtomicU64,
    flush: AtomicU64,
    merge: AtomicU64,
    last: Mutex<Option<String>>,
}

/// A snapshot of [`MaintenanceFailures`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailureCounts {
    pub refresh: u64,
    pub flush: u64,
    pub merge: u64,
    pub last: Option<String>,
}

impl MaintenanceFailures {
    /// Counts and logs a failure (with the caller's span: node, table, shard).
    pub fn record(&self, kind: Maintenance, error: &Error) {
        let counter = match kind {
            Maintenance::Refresh => &self.refresh,
            Maintenance::Flush => &self.flush,
            Maintenance::Merge => &self.merge,
        };
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(format!("{}: {error}", kind.as_str()));
        tracing::warn!(maintenance = kind.as_str(), failures = n, %error, "background maintenance failed");
    }

    /// The counts so far.
    pub fn counts(&self) -> FailureCounts {
        FailureCounts {
            refresh: self.refresh.load(Ordering::Relaxed),
            flush: self.flush.load(Ordering::Relaxed),
            merge: self.merge.load(Ordering::Relaxed),
            last: self.last.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}
