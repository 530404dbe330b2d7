//! Backends: where statements go. The shell talks to a [`Backend`] and nothing else.
//!
//! [`http::HttpBackend`] speaks CrateDB's HTTP `/_sql` protocol to one or more servers
//! (round-robin with fail-over); the simulation crate's `SimBackend` runs statements on
//! an embedded simulated cluster. The REPL, formatting and backslash commands only see
//! this trait and the CrateDB-shaped [`SqlResponse`] / [`BackendError`] it returns.
//!
//! What the shell asks on its own behalf (keywords and tables for completion, who the
//! session is) goes through typed methods rather than `execute`, so that a backend may
//! answer without running statements: the simulated cluster does, so that its run holds
//! exactly the user's statements and a recorded session replays the same.

pub mod fake;
pub mod http;

use serde_json::{Number, Value};

use crate::complete::Vocabulary;
use crate::keywords;
use crate::session::{SESSION_INFO, SessionInfo};

/// A successful `/_sql` response, mirroring CrateDB's JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SqlResponse {
    /// Column names; empty for statements without a result set.
    pub cols: Vec<String>,
    /// Column type ids (with `?types`), nested for arrays.
    pub col_types: Vec<Value>,
    /// Rows; `None` when the response had no `rows` key.
    pub rows: Option<Vec<Vec<Value>>>,
    /// `rowcount` as sent (`None`: absent).
    pub rowcount: Option<i64>,
    /// Server-side duration in milliseconds as sent (`None`: absent).
    pub duration: Option<Number>,
}

impl SqlResponse {
    /// Parses a CrateDB success body.
    pub fn from_json(v: &Value) -> Result<SqlResponse, BackendError> {
        let obj = v
            .as_object()
            .ok_or_else(|| BackendError::Protocol(format!("expected a JSON object, got: {v}")))?;
        let cols = match obj.get("cols") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let col_types = match obj.get("col_types") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        let rows = match obj.get("rows") {
            Some(Value::Array(rows)) => Some(
                rows.iter()
                    .map(|r| match r {
                        Value::Array(cells) => cells.clone(),
                        other => vec![other.clone()],
                    })
                    .collect(),
            ),
            _ => None,
        };
        let rowcount = obj.get("rowcount").and_then(Value::as_i64);
        let duration = match obj.get("duration") {
            Some(Value::Number(n)) => Some(n.clone()),
            _ => None,
        };
        Ok(SqlResponse {
            cols,
            col_types,
            rows,
            rowcount,
            duration,
        })
    }

    /// A result-set response (for fakes and tests).
    pub fn rows(cols: &[&str], rows: Vec<Vec<Value>>, duration_ms: f64) -> SqlResponse {
        SqlResponse {
            cols: cols.iter().map(|c| c.to_string()).collect(),
            col_types: Vec::new(),
            rowcount: Some(rows.len() as i64),
            rows: Some(rows),
            duration: Number::from_f64(duration_ms),
        }
    }

    /// A row-count response as DDL/DML get (for fakes and tests).
    pub fn affected(rowcount: i64, duration_ms: f64) -> SqlResponse {
        SqlResponse {
            cols: Vec::new(),
            col_types: Vec::new(),
            rows: Some(vec![Vec::new()]),
            rowcount: Some(rowcount),
            duration: Number::from_f64(duration_ms),
        }
    }

    /// crate-python's `cursor.rowcount`: -1 without `rows`, else `rowcount` (default -1).
    pub fn cursor_rowcount(&self) -> i64 {
        if self.rows.is_none() {
            -1
        } else {
            self.rowcount.unwrap_or(-1)
        }
    }

    /// Server duration in milliseconds, -1 when absent (crate-python's `cursor.duration`).
    pub fn duration_ms(&self) -> f64 {
        self.duration
            .as_ref()
            .and_then(Number::as_f64)
            .unwrap_or(-1.0)
    }

    /// Whether the statement returned a result set (crash checks `cursor.description`).
    pub fn has_result_set(&self) -> bool {
        !self.cols.is_empty()
    }

    /// The rows, or none.
    pub fn row_slice(&self) -> &[Vec<Value>] {
        self.rows.as_deref().unwrap_or(&[])
    }
}

/// Why a statement did not produce a response.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendError {
    /// The server answered with a CrateDB error object.
    Sql {
        /// `error.message`, e.g. `SchemaUnknownException[Schema 'foo' unknown]`.
        message: String,
        /// `error.code`, e.g. 4045.
        code: i64,
        /// `error_trace`, sent when asked for with `?error_trace=true`.
        error_trace: Option<String>,
    },
    /// No server could be reached; the message names the hosts tried.
    Connection(String),
    /// The server answered something that is not CrateDB's protocol.
    Protocol(String),
}

impl BackendError {
    /// Parses a CrateDB error body: `{"error": {"message", "code"}, "error_trace"?}`.
    pub fn from_json(v: &Value) -> Option<BackendError> {
        let err = v.get("error")?;
        let message = match err.get("message") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => err.as_str().map_or_else(|| err.to_string(), str::to_string),
        };
        let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
        let error_trace = v
            .get("error_trace")
            .or_else(|| err.get("error_trace"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Some(BackendError::Sql {
            message,
            code,
            error_trace,
        })
    }

    /// The text crash prints for the error.
    pub fn message(&self) -> &str {
        match self {
            BackendError::Sql { message, .. } => message,
            BackendError::Connection(m) | BackendError::Protocol(m) => m,
        }
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for BackendError {}

/// What `GET /` told about one server (one row of crash's connect table).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    /// e.g. `http://localhost:4200`.
    pub server_url: String,
    /// The node's name, if it answered.
    pub node_name: Option<String>,
    /// `version.number`, `0.0.0` when unreachable.
    pub version: String,
    /// Whether the server answered.
    pub connected: bool,
    /// `OK` or why it did not answer.
    pub message: String,
}

/// A place to send SQL: remote servers over HTTP, or (later) an embedded cluster.
///
/// Methods take `&self` so a long statement can run on a worker thread while the
/// terminal shows progress and stays responsive to Ctrl-C.
pub trait Backend: Send + Sync {
    /// Runs one statement (sent as-is, trailing `;` included, like crash does).
    fn execute(&self, stmt: &str) -> Result<SqlResponse, BackendError>;

    /// Asks every server who it is (`GET /`), in a stable order.
    fn server_infos(&self) -> Vec<ServerInfo>;

    /// A short description of where statements go, e.g. `http://localhost:4200`.
    fn describe(&self) -> String;

    /// Turns CrateDB's `error_trace` on or off for the following statements.
    fn set_error_trace(&self, on: bool);

    /// Cancels running statements of this session if the backend can (`KILL <jobId>`);
    /// returns false when it cannot, and the shell says so.
    fn cancel(&self) -> bool {
        false
    }

    /// The SQL keywords, for completion: the server's, else crash's fallback list.
    fn keywords(&self) -> Vec<String> {
        match self.execute(keywords::QUERY) {
            Ok(resp) if !resp.row_slice().is_empty() => resp
                .row_slice()
                .iter()
                .filter_map(|r| r.first().and_then(Value::as_str).map(str::to_lowercase))
                .collect(),
            _ => keywords::fallback(),
        }
    }

    /// Fills the tables and columns of `v` from `information_schema`, for completion;
    /// leaves them as they are on error.
    fn load_schema(&self, v: &mut Vocabulary) {
        let text = |row: &[Value], i: usize| row.get(i).and_then(Value::as_str).map(str::to_string);
        let tables = "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2";
        if let Ok(resp) = self.execute(tables) {
            let rows = resp.row_slice().iter();
            v.tables = rows
                .filter_map(|r| Some((text(r, 0)?, text(r, 1)?)))
                .collect();
        }
        let columns = "SELECT table_schema, table_name, column_name \
                       FROM information_schema.columns ORDER BY 1, 2, 3";
        if let Ok(resp) = self.execute(columns) {
            let rows = resp.row_slice().iter();
            v.columns = rows
                .filter_map(|r| Some((text(r, 0)?, text(r, 1)?, text(r, 2)?)))
                .collect();
        }
    }

    /// crash's `_fetch_session_info`: user, schema and cluster name, with crash's
    /// fallbacks for servers that lack `current_user` or `sys.cluster`.
    fn session_info(&self) -> Result<SessionInfo, BackendError> {
        let resp = match self.execute(SESSION_INFO) {
            Err(BackendError::Sql { message, .. })
                if message.contains("UnsupportedFeatureException") =>
            {
                self.execute("SELECT NULL, current_schema, name FROM sys.cluster")
            }
            Err(BackendError::Sql { message, .. })
                if message.contains("SchemaUnknownException") =>
            {
                self.execute("SELECT current_user, current_schema, NULL")
            }
            other => other,
        }?;
        let row = resp.row_slice().first().cloned().unwrap_or_default();
        let text = |i: usize| row.get(i).and_then(Value::as_str).map(str::to_string);
        Ok(SessionInfo {
            user: text(0),
            schema: text(1),
            cluster: text(2),
        })
    }

    /// The backend's own backslash commands with their one-line help, listed by `\?`
    /// after crash's (the simulated cluster's `\kill`, `\partition`, ...).
    fn commands(&self) -> &[(&'static str, &'static str)] {
        &[]
    }

    /// Runs one of [`Backend::commands`] (`name` without its backslash): the text to print,
    /// or why it failed.
    fn run_command(&self, name: &str, arg: Option<&str>) -> Result<String, String> {
        let _ = arg;
        Err(format!("\\{name} is not a command of this backend"))
    }
}
