//! Support for black-box tests: start the real `shoal` binary on a free
//! loopback port with a temporary data directory, talk to it over HTTP, kill
//! it (SIGKILL) and restart it on the same data.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod bench;

/// The `shoal` binary: `$SHOAL_BIN`, else next to the test executable's target dir.
pub fn shoal_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SHOAL_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> -> target/<profile>/shoal
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(format!("shoal{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: build it first with `cargo build -p shoal-sim --bin shoal` (or set SHOAL_BIN)",
        bin.display()
    );
    bin
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A fresh temporary directory (removed on drop).
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/shoal-test-<name>-<pid>-<n>`.
    pub fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "shoal-test-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `shoal server`.
pub struct Server {
    pub port: u16,
    pub data: PathBuf,
    child: Option<Child>,
    agent: ureq::Agent,
    extra_args: Vec<String>,
}

/// An HTTP response: status and JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The error code, if this is an error reply.
    pub fn error_code(&self) -> Option<i64> {
        self.body["error"]["code"].as_i64()
    }

    /// The error message, if any.
    pub fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    /// The rows of a successful reply.
    pub fn rows(&self) -> &Vec<Value> {
        self.body["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("no rows in {}", self.body))
    }

    /// The single value of a one-row, one-column reply.
    pub fn scalar(&self) -> &Value {
        &self.rows()[0][0]
    }

    /// Asserts success and returns self.
    pub fn ok(self) -> Reply {
        assert_eq!(self.status, 200, "expected success, got {}", self.body);
        self
    }
}

impl Server {
    /// Starts a server on a new data directory.
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    /// Starts a server with extra command-line arguments.
    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        // Per-phase timeouts, not a global one: with a global timeout ureq
        // resolves the host of every request on a new thread (even
        // 127.0.0.1), which cost the ingest bench about 1 ms per request.
        let limit = Some(Duration::from_secs(60));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(limit)
            .timeout_send_request(limit)
            .timeout_send_body(limit)
            .timeout_recv_response(limit)
            .timeout_recv_body(limit)
            .build()
            .into();
        let mut s = Server {
            port: free_port(),
            data: data.to_path_buf(),
            child: None,
            agent,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.data.with_extension("log")).expect("log file");
        let child = Command::new(shoal_bin())
            .args(["server", "--data"])
            .arg(&self.data)
            .args(["--http", &format!("127.0.0.1:{}", self.port)])
            .args(self.default_args())
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start shoal server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.agent.get(&self.url("/")).call().is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let log =
                    std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default();
                panic!("shoal server exited with {status}: {log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("shoal server did not start listening on port {}", self.port);
    }

    /// The node and cluster names CrateDB's own tests use, unless the
    /// extra arguments name others.
    fn default_args(&self) -> Vec<&'static str> {
        let mut args = Vec::new();
        if !self.extra_args.iter().any(|a| a == "--node-name") {
            args.extend(["--node-name", "crate"]);
        }
        if !self.extra_args.iter().any(|a| a == "--cluster-name") {
            args.extend(["--cluster-name", "Testing-CrateDB"]);
        }
        args
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// POSTs raw bytes to `/_sql` with extra headers.
    pub fn post_raw(&self, query: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
        let (status, text) = self.post_text(query, &body, headers);
        let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text}));
        Reply { status, body }
    }

    /// POSTs raw bytes to `/_sql`; returns the status and the body as text.
    pub fn post_text(&self, query: &str, body: &[u8], headers: &[(&str, &str)]) -> (u16, String) {
        let mut req = self
            .agent
            .post(&self.url(&format!("/_sql{query}")))
            .header("Content-Type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.send(body).expect("request");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, text)
    }

    /// Runs a statement with arguments (`?types` on).
    pub fn sql_args(&self, stmt: &str, args: Value) -> Reply {
        let body = json!({"stmt": stmt, "args": args});
        self.post_raw("?types", serde_json::to_vec(&body).expect("json"), &[])
    }

    /// Runs a statement.
    pub fn sql(&self, stmt: &str) -> Reply {
        self.sql_args(stmt, json!([]))
    }

    /// Runs a statement with `bulk_args`.
    pub fn bulk(&self, stmt: &str, rows: Value) -> Reply {
        let body = json!({"stmt": stmt, "bulk_args": rows});
        self.post_raw("", serde_json::to_vec(&body).expect("json"), &[])
    }

    /// Sends SIGKILL and waits for the process to die.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM (graceful shutdown) and waits.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts the server on the same data directory and port.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// CPU seconds (user + system) the server process has used so far (Linux).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()?)).ok()?;
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}
