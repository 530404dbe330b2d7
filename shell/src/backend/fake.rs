//! A scripted in-memory backend for tests: answers statements from a table of canned
//! responses and records what it was asked. It also shows how little a second backend
//! (such as the embedded simulated cluster) has to implement.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Backend, BackendError, ServerInfo, SqlResponse};

/// A canned answer for statements containing a text.
type Rule = (String, Result<SqlResponse, BackendError>);

/// Answers statements from rules; the first rule whose text the statement contains wins.
#[derive(Default)]
pub struct FakeBackend {
    rules: Mutex<Vec<Rule>>,
    executed: Mutex<Vec<String>>,
    error_trace: AtomicBool,
    infos: Vec<ServerInfo>,
    delay: std::time::Duration,
}

impl FakeBackend {
    /// A fake with one reachable server `http://fake:4200` named `fake`.
    pub fn new() -> FakeBackend {
        FakeBackend {
            infos: vec![ServerInfo {
                server_url: "http://fake:4200".into(),
                node_name: Some("fake".into()),
                version: "5.10.0".into(),
                connected: true,
                message: "OK".into(),
            }],
            ..FakeBackend::default()
        }
    }

    /// A fake whose servers do not answer.
    pub fn unreachable() -> FakeBackend {
        FakeBackend {
            infos: vec![ServerInfo {
                server_url: "http://fake:4200".into(),
                node_name: None,
                version: "0.0.0".into(),
                connected: false,
                message: "Server not available, exception: Connection refused".into(),
            }],
            ..FakeBackend::default()
        }
    }

    /// Answers statements containing `needle` with `answer`.
    pub fn on(self, needle: &str, answer: Result<SqlResponse, BackendError>) -> FakeBackend {
        if let Ok(mut r) = self.rules.lock() {
            r.push((needle.to_string(), answer));
        }
        self
    }

    /// Takes `delay` to answer each statement (for progress and Ctrl-C tests).
    pub fn slow(mut self, delay: std::time::Duration) -> FakeBackend {
        self.delay = delay;
        self
    }

    /// The statements executed so far.
    pub fn executed(&self) -> Vec<String> {
        self.executed.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Whether error traces are requested.
    pub fn error_trace(&self) -> bool {
        self.error_trace.load(Ordering::Relaxed)
    }
}

impl Backend for FakeBackend {
    fn execute(&self, stmt: &str) -> Result<SqlResponse, BackendError> {
        if let Ok(mut e) = self.executed.lock() {
            e.push(stmt.to_string());
        }
        std::thread::sleep(self.delay);
        let rules = self
            .rules
            .lock()
            .map_err(|_| BackendError::Protocol("poisoned".into()))?;
        rules
            .iter()
            .find(|(needle, _)| stmt.contains(needle.as_str()))
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| {
                Err(BackendError::Sql {
                    message: format!("SQLParseException[fake has no answer for: {stmt}]"),
                    code: 4000,
                    error_trace: Some("at fake.Backend.execute(Fake.java:1)".into()),
                })
            })
    }

    fn server_infos(&self) -> Vec<ServerInfo> {
        self.infos.clone()
    }

    fn describe(&self) -> String {
        self.infos
            .iter()
            .map(|i| i.server_url.clone())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn set_error_trace(&self, on: bool) {
        self.error_trace.store(on, Ordering::Relaxed);
    }
}
