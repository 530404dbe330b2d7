//! The HTTP backend: CrateDB's `/_sql` protocol over blocking HTTP (ureq).
//!
//! Requests go to the servers in round-robin order, like crate-python does; a server
//! that does not answer (connection refused, timeout, 502/503/504) is marked dead and
//! the request moves on to the next one. Dead servers are tried last until they answer
//! again, so a cluster with one node down keeps working.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Backend, BackendError, ServerInfo, SqlResponse};
use crate::hosts::Host;

/// How the HTTP backend connects.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Connect timeout (`None`: wait forever).
    pub connect_timeout: Option<Duration>,
    /// Read timeout for a response (`None`: wait forever).
    pub read_timeout: Option<Duration>,
    /// `Default-Schema` header.
    pub schema: Option<String>,
    /// Ask for `error_trace` in error responses.
    pub error_trace: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Some(Duration::from_secs(5)),
            read_timeout: None,
            schema: None,
            error_trace: false,
        }
    }
}

#[derive(Debug)]
struct Pool {
    /// Base URLs in round-robin order; the next request starts at `next`.
    servers: Vec<String>,
    dead: Vec<bool>,
    next: usize,
}

impl Pool {
    /// The order in which to try servers for the next request: live ones from the
    /// round-robin position, then dead ones.
    fn order(&mut self) -> Vec<usize> {
        let n = self.servers.len();
        let start = self.next % n.max(1);
        self.next = (start + 1) % n.max(1);
        let rotated: Vec<usize> = (0..n).map(|i| (start + i) % n).collect();
        let (live, dead): (Vec<usize>, Vec<usize>) =
            rotated.into_iter().partition(|&i| !self.dead[i]);
        live.into_iter().chain(dead).collect()
    }
}

/// Talks to CrateDB-compatible servers over HTTP.
pub struct HttpBackend {
    agent: ureq::Agent,
    pool: Mutex<Pool>,
    schema: Option<String>,
    error_trace: AtomicBool,
}

/// Outcome of one HTTP attempt against one server.
enum Attempt {
    /// The server answered (successfully or with a SQL error).
    Answer(Result<SqlResponse, BackendError>),
    /// The server did not answer usefully; try the next one.
    Unavailable(String),
}

impl HttpBackend {
    /// A backend for `hosts`; nothing is contacted yet.
    pub fn new(hosts: &[Host], opts: &HttpOptions) -> HttpBackend {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_connect(opts.connect_timeout)
            .timeout_recv_response(opts.read_timeout)
            .timeout_recv_body(opts.read_timeout)
            .user_agent(concat!("shoal-shell/", env!("CARGO_PKG_VERSION")))
            .build();
        let servers: Vec<String> = hosts.iter().map(Host::url).collect();
        HttpBackend {
            agent: ureq::Agent::new_with_config(config),
            pool: Mutex::new(Pool {
                dead: vec![false; servers.len()],
                servers,
                next: 0,
            }),
            schema: opts.schema.clone(),
            error_trace: AtomicBool::new(opts.error_trace),
        }
    }

    /// The servers' base URLs.
    pub fn servers(&self) -> Vec<String> {
        self.pool
            .lock()
            .map(|p| p.servers.clone())
            .unwrap_or_default()
    }

    fn mark(&self, index: usize, dead: bool) {
        if let Ok(mut p) = self.pool.lock()
            && let Some(d) = p.dead.get_mut(index)
        {
            *d = dead;
        }
    }

    fn post_sql(&self, base: &str, stmt: &str) -> Attempt {
        let mut url = format!("{base}/_sql?types=true");
        if self.error_trace.load(Ordering::Relaxed) {
            url.push_str("&error_trace=true");
        }
        let mut req = self
            .agent
            .post(&url)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json");
        if let Some(schema) = &self.schema {
            req = req.header("Default-Schema", schema);
        }
        let body = json!({ "stmt": stmt }).to_string();
        let mut resp = match req.send(body.as_bytes()) {
            Ok(r) => r,
            Err(e) => return Attempt::Unavailable(describe_error(&e)),
        };
        let status = resp.status().as_u16();
        let text = match resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
        {
            Ok(t) => t,
            Err(e) => return Attempt::Unavailable(describe_error(&e)),
        };
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return Attempt::Answer(match parsed {
                Some(v) => SqlResponse::from_json(&v),
                None => Err(BackendError::Protocol(format!(
                    "{base} answered HTTP {status} with a body that is not JSON: {}",
                    snippet(&text)
                ))),
            });
        }
        let err = parsed.as_ref().and_then(BackendError::from_json);
        match (status, err) {
            (502..=504, _) => Attempt::Unavailable(format!("HTTP {status}: {}", snippet(&text))),
            (_, Some(err)) => Attempt::Answer(Err(err)),
            (_, None) => Attempt::Answer(Err(BackendError::Protocol(format!(
                "{base} answered HTTP {status}: {}",
                snippet(&text)
            )))),
        }
    }

    fn get_root(&self, base: &str) -> Result<(Option<String>, String), String> {
        let mut resp = self
            .agent
            .get(format!("{base}/"))
            .header("Accept", "application/json")
            .call()
            .map_err(|e| describe_error(&e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| describe_error(&e))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| format!("HTTP {status}, not a CrateDB server: {}", snippet(&text)))?;
        let name = v.get("name").and_then(Value::as_str).map(str::to_string);
        let version = v
            .pointer("/version/number")
            .and_then(Value::as_str)
            .unwrap_or("0.0.0")
            .to_string();
        Ok((name, version))
    }
}

fn snippet(text: &str) -> String {
    let t = text.trim();
    if t.chars().count() > 200 {
        format!("{}...", t.chars().take(200).collect::<String>())
    } else {
        t.to_string()
    }
}

/// A short reason for a failed request, e.g. `Connection refused (os error 111)`.
fn describe_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

impl Backend for HttpBackend {
    fn execute(&self, stmt: &str) -> Result<SqlResponse, BackendError> {
        let (order, servers) = match self.pool.lock() {
            Ok(mut p) => (p.order(), p.servers.clone()),
            Err(_) => {
                return Err(BackendError::Protocol(
                    "internal error: server pool poisoned".into(),
                ));
            }
        };
        let mut failures = Vec::new();
        for i in order {
            let base = &servers[i];
            match self.post_sql(base, stmt) {
                Attempt::Answer(result) => {
                    self.mark(i, false);
                    return result;
                }
                Attempt::Unavailable(why) => {
                    self.mark(i, true);
                    failures.push(format!("{base} ({why})"));
                }
            }
        }
        Err(BackendError::Connection(format!(
            "No server available: {}",
            failures.join(", ")
        )))
    }

    fn server_infos(&self) -> Vec<ServerInfo> {
        let mut infos: Vec<ServerInfo> = self
            .servers()
            .iter()
            .enumerate()
            .map(|(i, base)| match self.get_root(base) {
                Ok((node_name, version)) => {
                    self.mark(i, false);
                    ServerInfo {
                        server_url: base.clone(),
                        node_name,
                        version,
                        connected: true,
                        message: "OK".into(),
                    }
                }
                Err(why) => {
                    self.mark(i, true);
                    ServerInfo {
                        server_url: base.clone(),
                        node_name: None,
                        version: "0.0.0".into(),
                        connected: false,
                        message: format!("Server not available, exception: {why}"),
                    }
                }
            })
            .collect();
        // crash: sorted by server_url, connected ones first for equal URLs.
        infos.sort_by(|a, b| {
            a.server_url
                .cmp(&b.server_url)
                .then(b.connected.cmp(&a.connected))
        });
        infos
    }

    fn describe(&self) -> String {
        self.servers().join(", ")
    }

    fn set_error_trace(&self, on: bool) {
        self.error_trace.store(on, Ordering::Relaxed);
    }
}
