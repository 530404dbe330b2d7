//! Running one statement while the terminal stays alive: after about a second a
//! spinner with the elapsed time appears on stderr (only on a terminal) and Ctrl-C
//! gives the prompt back. The statement itself runs on a worker thread; an interrupted
//! statement keeps running on the server (crash says "Query not cancelled. Run KILL
//! <jobId> to cancel it"), and its late answer is dropped.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::backend::{Backend, BackendError, SqlResponse};

/// How long a statement runs before the spinner shows.
pub const SPINNER_DELAY: Duration = Duration::from_millis(1000);
const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// The result of running a statement.
#[derive(Debug)]
pub enum Outcome {
    /// The backend answered.
    Done(Result<SqlResponse, BackendError>),
    /// The user pressed Ctrl-C before the answer came.
    Interrupted,
}

/// How to wait for a statement.
#[derive(Clone, Default)]
pub struct Watch {
    /// Draw a spinner on stderr after [`SPINNER_DELAY`].
    pub spinner: bool,
    /// Set by the SIGINT handler; checked while waiting.
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Watch {
    /// Whether Ctrl-C was pressed since the last [`Watch::reset`].
    pub fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// Forgets earlier Ctrl-C presses.
    pub fn reset(&self) {
        if let Some(f) = &self.interrupt {
            f.store(false, Ordering::SeqCst);
        }
    }
}

/// Runs `stmt` on `backend`, watching for Ctrl-C and drawing a spinner if asked to.
pub fn run(backend: &Arc<dyn Backend>, stmt: &str, watch: &Watch) -> Outcome {
    if !watch.spinner && watch.interrupt.is_none() {
        return Outcome::Done(backend.execute(stmt));
    }
    let (tx, rx) = mpsc::channel();
    let worker_backend = Arc::clone(backend);
    let owned = stmt.to_string();
    let spawned = std::thread::Builder::new()
        .name("statement".into())
        .spawn(move || {
            // The receiver is gone if the statement was interrupted; drop the answer then.
            let _ = tx.send(worker_backend.execute(&owned));
        });
    if spawned.is_err() {
        return Outcome::Done(backend.execute(stmt));
    }
    let start = Instant::now();
    let mut drawn = false;
    let mut frame = 0;
    let outcome = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(result) => break Outcome::Done(result),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Outcome::Done(Err(BackendError::Protocol("statement worker died".into())));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if watch.interrupted() {
            break Outcome::Interrupted;
        }
        let elapsed = start.elapsed();
        if watch.spinner && elapsed >= SPINNER_DELAY {
            let mut err = std::io::stderr();
            let _ = write!(
                err,
                "\r{} {:.1} s",
                FRAMES[frame % FRAMES.len()],
                elapsed.as_secs_f64()
            );
            let _ = err.flush();
            frame += 1;
            drawn = true;
        }
    };
    if drawn {
        let mut err = std::io::stderr();
        let _ = write!(err, "\r\x1b[K");
        let _ = err.flush();
    }
    outcome
}
