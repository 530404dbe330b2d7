//! Helpers for the end-to-end tests: a real `shoal server` on a free loopback port with a
//! temporary data directory (or an already running server named by
//! `SHOAL_TEST_SERVER_URL`, e.g. a real CrateDB), and small HTTP helpers.

#![allow(dead_code)]

pub mod fake_http;
pub mod tmux;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The `shoal` binary (`shoal-sim`'s, which `cargo test --workspace` builds).
pub fn shoal_bin() -> PathBuf {
    shoal_tests::shoal_bin()
}

/// The workspace root (where `.venv/` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A running server, stopped on drop if this test started it.
pub struct Server {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(4299)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// POSTs a statement to `/_sql` and returns the JSON answer.
pub fn sql(addr: &str, stmt: &str) -> Result<Value, String> {
    let mut resp = agent()
        .post(format!("http://{addr}/_sql"))
        .header("Content-Type", "application/json")
        .send(json!({ "stmt": stmt }).to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

impl Server {
    /// Starts `shoal server`, or uses `SHOAL_TEST_SERVER_URL`. `Err` says why there is no
    /// usable server (the caller prints it and skips).
    pub fn start(name: &str) -> Result<Server, String> {
        if let Ok(url) = std::env::var("SHOAL_TEST_SERVER_URL") {
            let addr = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string();
            return Ok(Server {
                addr,
                child: None,
                _dir: None,
            });
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err_file = log_file.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(shoal_bin())
            .args(["server", "--data"])
            .arg(dir.path().join("data"))
            .args([
                "--http",
                &addr,
                "--node-name",
                name,
                "--cluster-name",
                "shoal-shell-tests",
            ])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err_file)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", shoal_bin().display()))?;
        let mut server = Server {
            addr,
            child: Some(child),
            _dir: Some(dir),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = &mut server.child
                && let Ok(Some(status)) = child.try_wait()
            {
                let out = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("`shoal server` exited ({status}): {}", out.trim()));
            }
            if let Ok(v) = sql(&server.addr, "select 1") {
                if v.get("rows").is_some() {
                    return Ok(server);
                }
                return Err(format!(
                    "`shoal server` does not answer `select 1` yet: {v}"
                ));
            }
            if Instant::now() > deadline {
                let out = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!(
                    "`shoal server` did not answer within 60 s: {}",
                    out.trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
