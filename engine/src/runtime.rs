//! The runtime seam: spawning, sleeping, clocks and randomness.
//!
//! Engine code never touches OS threads, the wall clock or an unseeded random
//! source directly; it goes through this module. In a normal build these are
//! tokio and the system clock. Built with `--cfg madsim`, `tokio` is
//! madsim-tokio, so tasks and time are simulated, and randomness comes from
//! madsim's seeded generator: one seed reproduces a whole run.

use std::future::Future;
use std::time::Duration;

pub use tokio::task::JoinHandle;

/// Spawns an asynchronous task on the current runtime.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future)
}

/// Runs CPU-heavy synchronous work (building a segment, merging) off the async
/// workers. In simulation there are no threads: the closure runs inline, which
/// keeps the run deterministic.
pub async fn run_blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    spawn_blocking(f).join().await
}

/// A blocking job started by [`spawn_blocking`]; [`Blocking::join`] waits for it.
pub struct Blocking<R> {
    #[cfg(madsim)]
    done: R,
    #[cfg(not(madsim))]
    handle: tokio::task::JoinHandle<R>,
}

/// Starts blocking work (an fsync) at once, off the async workers, so the
/// caller can go on with other work while it runs. In simulation it runs
/// inline, before this returns.
pub fn spawn_blocking<F, R>(f: F) -> Blocking<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    #[cfg(madsim)]
    {
        Blocking { done: f() }
    }
    #[cfg(not(madsim))]
    {
        Blocking {
            handle: tokio::task::spawn_blocking(f),
        }
    }
}

impl<R> Blocking<R> {
    /// Waits for the job's result.
    pub async fn join(self) -> R {
        #[cfg(madsim)]
        {
            self.done
        }
        #[cfg(not(madsim))]
        {
            match self.handle.await {
                Ok(r) => r,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
    }
}

/// Checks `ready` every `every` until it answers something, at most for
/// `limit`. For waits that several tasks may share: tokio's `watch`
/// channels wake their waiters in an order drawn from tokio's own random
/// numbers, seeded per process, which a simulation cannot reproduce;
/// polling on the (simulated) clock wakes them in a reproducible order.
pub async fn poll_until<T>(
    limit: Duration,
    every: Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = instant() + limit;
    loop {
        if let Some(v) = ready() {
            return Some(v);
        }
        if instant() >= deadline {
            return None;
        }
        sleep(every).await;
    }
}

/// Sleeps for `d` (simulated time under madsim).
pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await
}

/// A monotonic instant, for measuring durations.
pub fn instant() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// Milliseconds since the Unix epoch: `now()` / `current_timestamp` in SQL.
pub fn now_millis() -> i64 {
    // Under madsim the system clock is simulated (madsim intercepts clock_gettime).
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(_) => 0,
    }
}

/// A random u64: from madsim's seeded generator in simulation (one seed
/// reproduces a run), from `rand`'s thread-local generator otherwise.
pub fn random_u64() -> u64 {
    #[cfg(madsim)]
    {
        madsim::rand::random::<u64>()
    }
    #[cfg(not(madsim))]
    {
        rand::random::<u64>()
    }
}

/// Runs `future` for at most `limit`; `None` if the time ran out first.
pub async fn timeout<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    tokio::time::timeout(limit, future).await.ok()
}
