//! Backslash commands (`\?`, `\q`, `\connect`, `\dt`, `\format`, ...), with crash's
//! names, help texts and messages. Messages go to stderr like crash's logger; tables go
//! through the current output format.

use serde_json::Value;

use crate::backend::SqlResponse;
use crate::format::OutputFormat;
use crate::hosts::parse_hosts;
use crate::printer::Pager;
use crate::session::{Flow, Session};

/// Every command with crash's one-line help, in `\?` order.
pub const COMMANDS: &[(&str, &str)] = &[
    ("?", "print this help"),
    (
        "autocapitalize",
        "toggle automatic capitalization of SQL keywords",
    ),
    ("autocomplete", "toggle autocomplete"),
    (
        "c",
        "connect to the given server, e.g.: \\connect localhost:4200",
    ),
    (
        "check",
        "print failed cluster and/or node checks, e.g. \\check nodes",
    ),
    (
        "connect",
        "connect to the given server, e.g.: \\connect localhost:4200",
    ),
    ("dt", "print the existing tables within the 'doc' schema"),
    ("format", "switch output format"),
    (
        "pager",
        "set an external pager. Use without argument to reset to internal paging",
    ),
    ("q", "quit crash"),
    ("r", "read and execute statements from a file"),
    ("sysinfo", "print system and cluster info"),
    ("verbose", "toggle verbose mode"),
];

/// Checks `\check` knows, in crash's order.
pub const CHECKS: &[&str] = &["cluster", "nodes"];

const UNKNOWN: &str = "Unknown command. Type \\? for a full list of available commands.";
const NO_ARGS: &str = "Command does not take any arguments.";

/// The `\dt` query (crash's, for CrateDB >= 2.0).
pub const SHOW_TABLES: &str = "SELECT
    table_schema as schema,
    table_name as name,
    table_type as type,
    number_of_shards as primary_shards,
    number_of_replicas as replicas
FROM
    information_schema.tables
WHERE
    table_schema NOT IN ('sys', 'information_schema', 'pg_catalog')
    AND table_type != 'VIEW'
ORDER BY
    1
";

const CLUSTER_CHECKS: &str = "
        SELECT description AS \"Failed Check\"
        FROM sys.checks
        WHERE passed = false
        ORDER BY id ASC";

/// crash asks for failed node checks with a join of `sys.node_checks` and
/// `sys.nodes`; the shell asks for both and joins them itself, so `\check
/// nodes` also works against servers without joins.
const NODE_CHECKS_FAILED: &str = "
        SELECT node_id, description
        FROM sys.node_checks
        WHERE passed = false
          AND acknowledged = false
        ORDER BY id, severity asc";

const NODE_NAMES: &str = "SELECT id, name, hostname FROM sys.nodes";

const NODE_CHECKS_STARTUP: &str = "
        SELECT description as \"Failed Check\", count(*) as \"Number of Nodes\"
        FROM sys.node_checks
        WHERE passed = false
          AND acknowledged = false
        GROUP BY description
        ORDER BY description asc";

const SYSINFO_SHARDS: &str = "
select count(*) as number_of_shards, cast(sum(num_docs) as long) as number_of_records
from sys.shards
where \"primary\" = true
        ";

const SYSINFO_NODES_COUNT: &str = "
select count(*) as number_of_nodes
from sys.nodes
        ";

const SYSINFO_NODES: &str = "select name,
                  hostname,
                  version['number'] as crate_version,
                  round(heap['max'] / 1024.0 / 1024.0)
                        as total_heap_mb,
                  round((mem['free'] + mem['used']) / 1024.0 / 1024.0)
                        as total_memory_mb,
                  os_info['available_processors'] as cpus,
                  os['uptime'] /1000 as uptime_s,
                  format('%s - %s (%s)',
                        os_info['name'],
                        os_info['version'],
                        os_info['arch']) as os_info,
                  format('java version \"%s\" %s %s (build %s)',
                        os_info['jvm']['version'],
                        os_info['jvm']['vm_vendor'],
                        os_info['jvm']['vm_name'],
                        os_info['jvm']['vm_version']) as jvm_info
           from sys.nodes
           order by os['uptime'] desc";

/// The `\?` text: crash's commands, then the backend's own.
pub fn help(own: &[(&str, &str)]) -> String {
    COMMANDS
        .iter()
        .chain(own)
        .map(|(name, doc)| format!("\\{name:<30} {doc}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs a command line (without its `\`), e.g. `format json`.
pub fn run(s: &mut Session, line: &str) -> Flow {
    let (word, arg) = match line.split_once(' ') {
        Some((w, a)) => (w, Some(a.trim().trim_end_matches(';').trim())),
        None => (line, None),
    };
    if word.is_empty() {
        return Flow::Continue;
    }
    let name = word.to_lowercase();
    let name = name.trim_end_matches(';');
    let arg = arg.filter(|a| !a.is_empty());
    let no_args = |s: &mut Session| -> bool {
        if arg.is_some() {
            s.printer.critical(NO_ARGS);
            false
        } else {
            true
        }
    };
    match name {
        "?" => {
            if no_args(s) {
                let text = help(s.backend.commands());
                s.printer.info(&text);
            }
        }
        "q" => {
            if no_args(s) {
                s.printer.warn("Bye!");
                return Flow::Quit;
            }
        }
        "c" | "connect" => match arg {
            Some(hosts) => return connect(s, name, hosts),
            None => missing_argument(s, name, "servers"),
        },
        "dt" => {
            if no_args(s) {
                return s.exec_and_print(SHOW_TABLES);
            }
        }
        "format" => {
            let msg = match arg.map(str::parse::<OutputFormat>) {
                Some(Ok(f)) => {
                    s.format = f;
                    format!("changed output format to {f}")
                }
                Some(Err(e)) => e,
                None => format!(
                    "None is not a valid output format.\nUse one of: {}",
                    OutputFormat::names()
                ),
            };
            s.printer.info(&msg);
        }
        "autocomplete" => {
            if no_args(s) {
                s.autocomplete = !s.autocomplete;
                let msg = format!("Autocomplete {}", on_off(s.autocomplete));
                s.printer.info(&msg);
            }
        }
        "autocapitalize" => {
            if no_args(s) {
                s.autocapitalize = !s.autocapitalize;
                let msg = format!("Auto-capitalization {}", on_off(s.autocapitalize));
                s.printer.info(&msg);
            }
        }
        "verbose" => {
            if no_args(s) {
                s.verbose = !s.verbose;
                s.backend.set_error_trace(s.verbose);
                let msg = format!("Verbose {}", on_off(s.verbose));
                s.printer.info(&msg);
            }
        }
        "check" => match arg {
            None => check(s, None, false),
            Some(c) if CHECKS.contains(&c) => check(s, Some(c), false),
            Some(c) => s.printer.warn(&format!("No check for {c}")),
        },
        "sysinfo" => {
            if no_args(s) {
                sysinfo(s);
            }
        }
        "r" => match arg {
            Some(path) => return read_file(s, path),
            None => missing_argument(s, name, "filename"),
        },
        "pager" => {
            s.printer.pager = match arg {
                None => Pager::Auto,
                Some("off") => Pager::Off,
                Some(cmd) => Pager::Command(cmd.to_string()),
            };
        }
        _ if s.backend.commands().iter().any(|(n, _)| *n == name) => {
            match s.backend.run_command(name, arg) {
                Ok(text) => s.printer.info(text.trim_end()),
                Err(e) => {
                    s.printer.critical(&e);
                    s.failed = true;
                }
            }
        }
        _ => s.printer.critical(UNKNOWN),
    }
    Flow::Continue
}

fn on_off(b: bool) -> &'static str {
    if b { "ON" } else { "OFF" }
}

/// crash prints the Python `TypeError` and the command's help when an argument is missing.
fn missing_argument(s: &mut Session, name: &str, what: &str) {
    s.printer.critical(&format!("Missing argument: {what}"));
    if let Some((_, doc)) = COMMANDS.iter().find(|(n, _)| *n == name) {
        s.printer.info(&format!("help: {name}"));
        s.printer.info(&format!(" {doc} "));
    }
}

fn connect(s: &mut Session, name: &str, arg: &str) -> Flow {
    let hosts = match parse_hosts(&[arg]) {
        Ok(h) => h,
        Err(e) => {
            s.printer.critical(&e);
            return Flow::Continue;
        }
    };
    if !s.connect(&hosts) {
        s.printer
            .critical(&format!("\\{name} is not available in this shell"));
        return Flow::Continue;
    }
    if !s.print_connect_result(true) {
        s.failed = true;
    }
    Flow::Continue
}

/// `\check [cluster|nodes]`; at startup the node check counts failures per check type.
pub fn check(s: &mut Session, which: Option<&str>, startup: bool) {
    if which.is_none() || which == Some("cluster") {
        run_check(s, CLUSTER_CHECKS, "CLUSTER CHECK");
    }
    if which.is_none() || which == Some("nodes") {
        if startup {
            run_check(s, NODE_CHECKS_STARTUP, "TYPES OF NODE CHECK");
        } else {
            run_node_checks(s);
        }
    }
}

fn run_check(s: &mut Session, stmt: &str, name: &str) {
    let resp = match s.exec(stmt) {
        Ok(r) => r,
        Err(_) => {
            s.failed = true;
            return;
        }
    };
    report_check(s, &resp, name);
}

/// The failed node checks with their node's name and host name.
fn run_node_checks(s: &mut Session) {
    let Ok(failed) = s.exec(NODE_CHECKS_FAILED) else {
        s.failed = true;
        return;
    };
    let mut rows = Vec::with_capacity(failed.row_slice().len());
    if !failed.row_slice().is_empty() {
        let Ok(nodes) = s.exec(NODE_NAMES) else {
            s.failed = true;
            return;
        };
        for check in failed.row_slice() {
            let node_id = check.first().unwrap_or(&Value::Null);
            // An inner join, as crash's query: checks of unknown nodes drop out.
            if let Some(node) = nodes
                .row_slice()
                .iter()
                .find(|n| n.first() == Some(node_id))
            {
                rows.push(vec![
                    node.get(1).cloned().unwrap_or(Value::Null),
                    node.get(2).cloned().unwrap_or(Value::Null),
                    check.get(1).cloned().unwrap_or(Value::Null),
                ]);
            }
        }
    }
    let duration = failed
        .duration
        .as_ref()
        .and_then(|d| d.as_f64())
        .unwrap_or(0.0);
    let resp = SqlResponse::rows(&["Node Name", "Host Name", "Failed Check"], rows, duration);
    report_check(s, &resp, "NODE CHECK");
}

fn report_check(s: &mut Session, resp: &SqlResponse, name: &str) {
    let rows = resp.row_slice();
    if rows.is_empty() {
        s.printer.info(&format!("{name} OK"));
    } else {
        s.pprint_response(resp);
        let n = resp.cursor_rowcount();
        let plural = if n == 1 { "" } else { "S" };
        s.printer.critical(&format!("{n} {name}{plural} FAILED"));
    }
}

/// `\sysinfo`: cluster totals and one row per node, then crash's closing line.
pub fn sysinfo(s: &mut Session) {
    if !s.connected {
        return;
    }
    let mut cols: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    for stmt in [SYSINFO_SHARDS, SYSINFO_NODES_COUNT] {
        match s.exec(stmt) {
            Ok(resp) => {
                cols.extend(resp.cols.iter().cloned());
                values.extend(resp.row_slice().first().cloned().unwrap_or_default());
            }
            Err(_) => {
                s.failed = true;
                return;
            }
        }
    }
    let nodes = match s.exec(SYSINFO_NODES) {
        Ok(resp) => resp,
        Err(_) => {
            s.failed = true;
            return;
        }
    };
    let col_refs: Vec<&str> = cols.iter().map(String::as_str).collect();
    s.pprint(&col_refs, vec![values]);
    let node_cols: Vec<&str> = nodes.cols.iter().map(String::as_str).collect();
    s.pprint(&node_cols, nodes.row_slice().to_vec());
    s.printer
        .info("For debugging purposes you can send above listed information to support@crate.io");
}

/// `\r FILE`: runs the statements and commands in a file.
fn read_file(s: &mut Session, path: &str) -> Flow {
    let expanded = expand_home(path);
    let text = match std::fs::read(&expanded) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            s.printer.critical(&python_os_error(&e));
            return Flow::Continue;
        }
    };
    if !s.enter_read() {
        s.printer.critical("\\r: files nested too deeply");
        return Flow::Continue;
    }
    let flow = s.process_text(&text);
    s.leave_read();
    flow
}

/// `~/x` → `$HOME/x`, like Python's `os.path.expanduser`.
pub fn expand_home(path: &str) -> std::path::PathBuf {
    if let Some(rest) = path.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return std::path::Path::new(&home).join(rest);
    }
    std::path::PathBuf::from(path)
}

/// The `repr()` of the Python exception crash prints when a file cannot be read.
fn python_os_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "FileNotFoundError(2, 'No such file or directory')".into(),
        std::io::ErrorKind::PermissionDenied => "PermissionError(13, 'Permission denied')".into(),
        _ => match e.raw_os_error() {
            Some(21) => "IsADirectoryError(21, 'Is a directory')".into(),
            _ => format!("OSError({e})"),
        },
    }
}
