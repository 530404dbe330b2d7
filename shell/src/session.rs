//! The session: what crash's `CrateShell` is. It holds the backend and the settings the
//! backslash commands change, runs statements and commands one [`Item`] at a time, and
//! prints results, status lines and errors exactly as crash does. The REPL, `-c`,
//! piped stdin and `\r FILE` all feed it.

use std::process::ExitCode;
use std::sync::Arc;

use serde_json::Value;

use crate::backend::{Backend, BackendError, SqlResponse};
use crate::format::{self, OutputFormat, ResultSet, Target};
use crate::hosts::Host;
use crate::printer::Printer;
use crate::progress::{self, Outcome, Watch};
use crate::split::{Item, Splitter, command_word};

/// Builds a backend for `\connect` from the servers named.
pub type Connector = Box<dyn Fn(&[Host], bool) -> Arc<dyn Backend>>;

/// What to do after an item ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next item.
    Continue,
    /// `\q`: leave the shell.
    Quit,
    /// Ctrl-C: drop the rest of the current input.
    Interrupted,
}

/// crash's message when a statement is interrupted.
pub const NOT_CANCELLED: &str = "Query not cancelled. Run KILL <jobId> to cancel it";
/// crash's hint after a connection error.
pub const CONNECT_HINT: &str = "Use \\connect <server> to connect to one or more servers first.";

/// The statement crash runs on connect to learn who and where it is.
pub const SESSION_INFO: &str = "SELECT current_user, current_schema, name FROM sys.cluster";

/// What [`SESSION_INFO`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// `current_user`.
    pub user: Option<String>,
    /// `current_schema`.
    pub schema: Option<String>,
    /// The cluster's name.
    pub cluster: Option<String>,
}

/// `5.10.1` → (5, 10, 1); missing or odd parts count as 0.
pub fn version_tuple(v: &str) -> (u64, u64, u64) {
    let mut parts = v.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    });
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// The shell's state.
pub struct Session {
    /// Where statements go.
    pub backend: Arc<dyn Backend>,
    connector: Option<Connector>,
    /// `--format` / `\format`.
    pub format: OutputFormat,
    /// `-v` / `\verbose`: ask for and print error traces.
    pub verbose: bool,
    /// `\autocomplete`.
    pub autocomplete: bool,
    /// `-a` / `\autocapitalize`.
    pub autocapitalize: bool,
    /// A statement or the connection failed: exit code 1.
    pub failed: bool,
    /// Output.
    pub printer: Printer,
    /// Spinner and Ctrl-C while statements run.
    pub watch: Watch,
    /// In the REPL the mixed/dynamic width follows the terminal (else 80, like crash).
    pub interactive: bool,
    /// Set after DDL so the REPL refreshes table and column completions.
    pub schema_changed: bool,
    /// Whether a server answered at the last connect.
    pub connected: bool,
    /// User, schema and cluster name from the last connect (crash's toolbar data).
    pub session_info: Option<SessionInfo>,
    read_depth: usize,
}

impl Session {
    /// A session on `backend`; `connector` serves `\connect` (None: not supported).
    pub fn new(
        backend: Arc<dyn Backend>,
        connector: Option<Connector>,
        printer: Printer,
    ) -> Session {
        Session {
            backend,
            connector,
            format: OutputFormat::Tabular,
            verbose: false,
            autocomplete: true,
            autocapitalize: false,
            failed: false,
            printer,
            watch: Watch::default(),
            interactive: false,
            schema_changed: false,
            connected: false,
            session_info: None,
            read_depth: 0,
        }
    }

    /// 0, or 1 if anything failed.
    pub fn exit_code(&self) -> ExitCode {
        if self.failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }

    /// Runs every statement and command in `text` (`-c`, `\r FILE`).
    pub fn process_text(&mut self, text: &str) -> Flow {
        for item in Splitter::split_all(text) {
            let flow = self.run_item(item);
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    }

    /// Runs one statement or command.
    pub fn run_item(&mut self, item: Item) -> Flow {
        match item {
            Item::Statement(stmt) => self.exec_and_print(&stmt),
            Item::Command(line) => crate::commands::run(self, &line),
        }
    }

    /// crash's `_exec`: runs a statement and prints errors, but not results.
    pub fn exec(&mut self, stmt: &str) -> Result<SqlResponse, Flow> {
        self.watch.reset();
        match progress::run(&self.backend, stmt, &self.watch) {
            Outcome::Interrupted => {
                if !self.backend.cancel() {
                    self.printer.warn(NOT_CANCELLED);
                }
                Err(Flow::Interrupted)
            }
            Outcome::Done(Ok(resp)) => Ok(resp),
            Outcome::Done(Err(err)) => {
                self.print_error(&err);
                Err(Flow::Continue)
            }
        }
    }

    fn print_error(&mut self, err: &BackendError) {
        match err {
            BackendError::Connection(msg) => {
                self.printer.warn(msg);
                self.printer.warn(CONNECT_HINT);
            }
            BackendError::Sql {
                message,
                error_trace,
                ..
            } => {
                self.printer.critical(message);
                if self.verbose
                    && let Some(trace) = error_trace.as_deref().filter(|t| !t.is_empty())
                {
                    self.printer.critical(&format!("\n{trace}"));
                }
            }
            BackendError::Protocol(msg) => self.printer.critical(msg),
        }
    }

    /// crash's `_exec_and_print`: runs a statement, prints its rows and status line.
    pub fn exec_and_print(&mut self, stmt: &str) -> Flow {
        let resp = match self.exec(stmt) {
            Ok(r) => r,
            Err(Flow::Interrupted) => return Flow::Interrupted,
            Err(flow) => {
                self.failed = true;
                return flow;
            }
        };
        let command = command_word(stmt);
        if matches!(command.as_str(), "CREATE" | "DROP" | "ALTER") {
            self.schema_changed = true;
        }
        self.print_result(&command, &resp);
        Flow::Continue
    }

    /// Prints a response's rows (if any) and its status line.
    pub fn print_result(&mut self, command: &str, resp: &SqlResponse) {
        if resp.has_result_set() {
            self.pprint_response(resp);
        }
        self.printer.info(&status_line(command, resp));
    }

    /// Prints the rows of a response in the current format.
    pub fn pprint_response(&mut self, resp: &SqlResponse) {
        let rs = ResultSet {
            cols: &resp.cols,
            rows: resp.row_slice(),
            rowcount: resp.cursor_rowcount(),
            duration: resp.duration.as_ref(),
        };
        self.render(&rs);
    }

    /// Prints a table that did not come from a statement (connect table, sysinfo).
    pub fn pprint(&mut self, cols: &[&str], rows: Vec<Vec<Value>>) {
        let cols: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
        let rs = ResultSet {
            cols: &cols,
            rows: &rows,
            rowcount: rows.len() as i64,
            duration: None,
        };
        self.render(&rs);
    }

    fn render(&mut self, rs: &ResultSet) {
        let width = if self.interactive {
            self.printer.size().0
        } else {
            80
        };
        let target = Target {
            width,
            color: self.printer.color && self.printer.terminal,
        };
        let text = format::render(self.format, rs, target);
        self.printer.result(&text);
    }

    /// Replaces the backend (`\connect`).
    pub fn connect(&mut self, hosts: &[Host]) -> bool {
        match &self.connector {
            Some(connector) => {
                self.backend = connector(hosts, self.verbose);
                self.schema_changed = true;
                true
            }
            None => false,
        }
    }

    /// crash's `_print_connect_result`: the server table (verbose), `CONNECT OK` or
    /// `CONNECT ERROR`, and the startup checks (verbose). Returns whether any server
    /// answered.
    pub fn print_connect_result(&mut self, verbose: bool) -> bool {
        let infos = self.backend.server_infos();
        let lowest = infos
            .iter()
            .filter(|i| i.connected)
            .map(|i| version_tuple(&i.version))
            .min();
        if lowest.is_some_and(|v| v >= (2, 0, 0)) {
            self.fetch_session_info();
        }
        if verbose {
            let rows = infos
                .iter()
                .map(|i| {
                    vec![
                        Value::String(i.server_url.clone()),
                        i.node_name.clone().map_or(Value::Null, Value::String),
                        Value::String(i.version.clone()),
                        Value::Bool(i.connected),
                        Value::String(i.message.clone()),
                    ]
                })
                .collect();
            self.pprint(
                &["server_url", "node_name", "version", "connected", "message"],
                rows,
            );
        }
        self.connected = infos.iter().any(|i| i.connected);
        if self.connected {
            self.printer.info("CONNECT OK");
            if verbose {
                crate::commands::check(self, None, true);
            }
        } else {
            if !verbose {
                for i in &infos {
                    self.printer
                        .warn(&format!("{}: {}", i.server_url, i.message));
                }
            }
            self.printer.critical("CONNECT ERROR");
        }
        self.connected
    }

    /// Learns user, schema and cluster name for the toolbar.
    fn fetch_session_info(&mut self) {
        match self.backend.session_info() {
            Ok(info) => self.session_info = Some(info),
            Err(e) => {
                self.printer.warn(&format!(
                    "Could not load cluster information: {}",
                    e.message()
                ));
                self.session_info = None;
            }
        }
    }

    /// `\r`: depth of nested file reads, to stop a file that reads itself.
    pub(crate) fn enter_read(&mut self) -> bool {
        if self.read_depth >= 16 {
            return false;
        }
        self.read_depth += 1;
        true
    }

    pub(crate) fn leave_read(&mut self) {
        self.read_depth = self.read_depth.saturating_sub(1);
    }
}

/// crash's status line: `SELECT 3 rows in set (0.002 sec)` for result sets, else
/// `CREATE OK, 1 row affected (0.123 sec)`; the duration part is left out when the
/// server sent none.
pub fn status_line(command: &str, resp: &SqlResponse) -> String {
    let rowcount = resp.cursor_rowcount();
    let s = if rowcount == 1 { "" } else { "s" };
    let ms = resp.duration_ms();
    let duration = if ms > -1.0 {
        format!(" ({:.3} sec)", ms / 1000.0)
    } else {
        String::new()
    };
    if resp.has_result_set() {
        format!("{command} {rowcount} row{s} in set{duration}")
    } else {
        format!("{command} OK, {rowcount} row{s} affected{duration}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_lines_like_crash() {
        let three = SqlResponse::rows(
            &["a"],
            vec![vec![json!(1)], vec![json!(2)], vec![json!(3)]],
            2.0,
        );
        assert_eq!(
            status_line("SELECT", &three),
            "SELECT 3 rows in set (0.002 sec)"
        );
        let one = SqlResponse::rows(&["a"], vec![vec![json!(1)]], 0.4);
        assert_eq!(
            status_line("SELECT", &one),
            "SELECT 1 row in set (0.000 sec)"
        );
        let none = SqlResponse::rows(&["a"], vec![], 12.3456);
        assert_eq!(status_line("SHOW", &none), "SHOW 0 rows in set (0.012 sec)");
        assert_eq!(
            status_line("CREATE", &SqlResponse::affected(1, 123.0)),
            "CREATE OK, 1 row affected (0.123 sec)"
        );
        assert_eq!(
            status_line("REFRESH", &SqlResponse::affected(2, 1.0)),
            "REFRESH OK, 2 rows affected (0.001 sec)"
        );
        let mut no_duration = SqlResponse::affected(-1, 1.0);
        no_duration.duration = None;
        assert_eq!(
            status_line("KILL", &no_duration),
            "KILL OK, -1 rows affected"
        );
    }
}
