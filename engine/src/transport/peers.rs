//! Connections to other nodes by address, opened on first use and opened
//! again after they close. A node that cannot be reached is retried with
//! exponential backoff: until the next attempt is due, requests to it fail
//! at once instead of each waiting for a connect timeout, so a dead or
//! partitioned node costs its callers nothing but an error.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::connection::{Connection, NodeInfo};
use super::message::Payload;
use crate::error::{Error, Result};

/// The first wait after a failed connect; it doubles with every failure.
const BACKOFF_START: Duration = Duration::from_millis(50);
/// The longest wait between two connect attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long a connect (and its handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One address: its open connection, or when to try again.
struct Slot<P> {
    open: Option<Arc<Connection<P>>>,
    failures: u32,
    retry_at: Option<tokio::time::Instant>,
    last_error: String,
}

/// The connections a node keeps to the others.
pub struct Peers<P> {
    me: NodeInfo,
    slots: Mutex<BTreeMap<SocketAddr, Arc<tokio::sync::Mutex<Slot<P>>>>>,
}

impl<P: Payload> Peers<P> {
    pub fn new(me: NodeInfo) -> Peers<P> {
        Peers {
            me,
            slots: Mutex::new(BTreeMap::new()),
        }
    }

    /// Who this node is, as it introduces itself.
    pub fn me(&self) -> &NodeInfo {
        &self.me
    }

    /// Sends a request to the node at `addr` and waits at most `limit`.
    pub async fn request(&self, addr: SocketAddr, payload: P, limit: Duration) -> Result<P> {
        let conn = self.connection(addr).await?;
        conn.request(payload, limit).await
    }

    /// The open connection to `addr`, opening one when none is and no
    /// backoff is running.
    pub async fn connection(&self, addr: SocketAddr) -> Result<Arc<Connection<P>>> {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(addr)
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Slot {
                    open: None,
                    failures: 0,
                    retry_at: None,
                    last_error: String::new(),
                }))
            })
            .clone();
        // One connect at a time per address; the others wait for its result.
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.open.as_ref().filter(|c| c.is_open()) {
            return Ok(conn.clone());
        }
        let now = crate::runtime::instant();
        if let Some(at) = slot.retry_at.filter(|at| *at > now) {
            return Err(Error::NodeUnreachable(format!(
                "node at {addr} is not reachable ({}); next attempt in {} ms",
                slot.last_error,
                (at - now).as_millis()
            )));
        }
        match Connection::connect(addr, &self.me, CONNECT_TIMEOUT).await {
            Ok(conn) => {
                if slot.failures > 0 {
                    tracing::info!(%addr, node = %conn.peer().node_name, "transport reconnected");
                }
                let conn = Arc::new(conn);
                *slot = Slot {
                    open: Some(conn.clone()),
                    failures: 0,
                    retry_at: None,
                    last_error: String::new(),
                };
                Ok(conn)
            }
            Err(e) => {
                slot.open = None;
                slot.failures = slot.failures.saturating_add(1);
                slot.retry_at = Some(crate::runtime::instant() + backoff(slot.failures));
                slot.last_error = e.to_string();
                if slot.failures == 1 {
                    tracing::info!(%addr, error = %e, "transport cannot connect; retrying with backoff");
                }
                Err(Error::NodeUnreachable(format!(
                    "node at {addr} is not reachable ({e})"
                )))
            }
        }
    }

    /// Forgets the connection to `addr` (a node that left): the next
    /// request connects afresh, without waiting for a backoff.
    pub fn forget(&self, addr: SocketAddr) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&addr);
    }
}

/// The wait after `failures` failed connects in a row.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_START
        .saturating_mul(1 << doublings)
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        assert_eq!(backoff(1), Duration::from_millis(50));
        assert_eq!(backoff(2), Duration::from_millis(100));
        assert_eq!(backoff(4), Duration::from_millis(400));
        assert_eq!(backoff(10), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }
}
