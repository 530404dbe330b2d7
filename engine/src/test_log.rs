//! Tests of what the node logs: a subscriber that writes every event (info
//! and up) into a buffer, for a closure or for a runtime's threads.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Log lines caught in a buffer.
pub struct Capture {
    buffer: Buffer,
    pub dispatch: tracing::Dispatch,
}

impl Capture {
    pub fn new() -> Capture {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        Capture {
            buffer,
            dispatch: tracing::Dispatch::new(subscriber),
        }
    }

    /// The lines so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.0.lock().unwrap_or_else(|p| p.into_inner()))
            .into_owned()
    }

    /// A runtime whose worker threads log here.
    pub fn runtime(&self) -> tokio::runtime::Runtime {
        let dispatch = self.dispatch.clone();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                // For the thread's whole life.
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            })
            .build()
            .expect("runtime")
    }
}

/// `f`'s result and the log lines it wrote.
pub fn logged<R>(f: impl FnOnce() -> R) -> (R, String) {
    let capture = Capture::new();
    let out = tracing::dispatcher::with_default(&capture.dispatch, f);
    (out, capture.text())
}
