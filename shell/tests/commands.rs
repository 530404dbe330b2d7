//! Every backslash command, and statement execution, against a scripted fake backend:
//! the exact messages crash prints (stderr) and the tables (stdout).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use shoal_shell::backend::fake::FakeBackend;
use shoal_shell::backend::{Backend, BackendError, SqlResponse};
use shoal_shell::commands::{SHOW_TABLES, help};
use shoal_shell::format::OutputFormat;
use shoal_shell::printer::{Buffer, Pager, Printer};
use shoal_shell::progress::Watch;
use shoal_shell::session::{Connector, Flow, Session};
use shoal_shell::split::Item;

struct Harness {
    session: Session,
    backend: Arc<FakeBackend>,
    out: Buffer,
    err: Buffer,
}

fn checks_ok(f: FakeBackend) -> FakeBackend {
    f.on(
        "SELECT current_user, current_schema, name FROM sys.cluster",
        Ok(SqlResponse::rows(
            &["current_user", "current_schema", "name"],
            vec![vec![json!("crate"), json!("doc"), json!("shoal")]],
            1.0,
        )),
    )
    .on(
        "FROM sys.checks",
        Ok(SqlResponse::rows(&["Failed Check"], vec![], 1.0)),
    )
    .on(
        "SELECT node_id, description",
        Ok(SqlResponse::rows(&["node_id", "description"], vec![], 1.0)),
    )
    .on(
        "FROM sys.node_checks",
        Ok(SqlResponse::rows(
            &["Failed Check", "Number of Nodes"],
            vec![],
            1.0,
        )),
    )
}

fn harness(fake: FakeBackend) -> Harness {
    let backend = Arc::new(fake);
    let out = Buffer::default();
    let err = Buffer::default();
    let connector: Connector =
        Box::new(|_hosts, _trace| Arc::new(checks_ok(FakeBackend::new())) as Arc<dyn Backend>);
    let mut session = Session::new(
        Arc::clone(&backend) as Arc<dyn Backend>,
        Some(connector),
        Printer::buffers(out.clone(), err.clone()),
    );
    session.connected = true;
    Harness {
        session,
        backend,
        out,
        err,
    }
}

impl Harness {
    fn cmd(&mut self, line: &str) -> Flow {
        self.session.run_item(Item::Command(line.to_string()))
    }
    fn sql(&mut self, stmt: &str) -> Flow {
        self.session.run_item(Item::Statement(stmt.to_string()))
    }
}

#[test]
fn help_lists_commands_like_crash() {
    let mut h = harness(FakeBackend::new());
    assert_eq!(h.cmd("?"), Flow::Continue);
    assert_eq!(h.err.take(), help(&[]) + "\n");
    assert!(help(&[]).starts_with("\\?                              print this help\n"));
    assert!(help(&[]).contains("\\connect                        connect to the given server, e.g.: \\connect localhost:4200\n"));
    assert!(help(&[]).ends_with("\\verbose                        toggle verbose mode"));
    assert_eq!(help(&[]).lines().count(), 13);
    h.cmd("? x");
    assert_eq!(h.err.take(), "Command does not take any arguments.\n");
}

#[test]
fn quit_says_bye() {
    let mut h = harness(FakeBackend::new());
    assert_eq!(h.cmd("q x"), Flow::Continue);
    assert_eq!(h.err.take(), "Command does not take any arguments.\n");
    assert_eq!(h.cmd("q"), Flow::Quit);
    assert_eq!(h.err.take(), "Bye!\n");
    assert_eq!(h.cmd("Q;"), Flow::Quit);
}

#[test]
fn unknown_and_empty_commands() {
    let mut h = harness(FakeBackend::new());
    h.cmd("nope");
    assert_eq!(
        h.err.take(),
        "Unknown command. Type \\? for a full list of available commands.\n"
    );
    h.cmd("");
    assert_eq!(h.err.take(), "");
}

#[test]
fn format_switches_output() {
    let mut h = harness(FakeBackend::new().on(
        "select",
        Ok(SqlResponse::rows(&["a"], vec![vec![json!(1)]], 1.0)),
    ));
    h.cmd("format json");
    assert_eq!(h.err.take(), "changed output format to json\n");
    assert_eq!(h.session.format, OutputFormat::Json);
    h.sql("select 1;");
    assert_eq!(h.out.take(), "[\n  {\n    \"a\": 1\n  }\n]\n");
    assert_eq!(h.err.take(), "SELECT 1 row in set (0.001 sec)\n");
    h.cmd("format xml");
    assert_eq!(
        h.err.take(),
        "xml is not a valid output format.\nUse one of: tabular, json, csv, raw, mixed, dynamic, json_row\n"
    );
    h.cmd("format");
    assert_eq!(
        h.err.take(),
        "None is not a valid output format.\nUse one of: tabular, json, csv, raw, mixed, dynamic, json_row\n"
    );
    h.cmd("format csv;");
    assert_eq!(h.err.take(), "changed output format to csv\n");
}

#[test]
fn toggles() {
    let mut h = harness(FakeBackend::new());
    h.cmd("autocomplete");
    assert_eq!(h.err.take(), "Autocomplete OFF\n");
    h.cmd("autocomplete");
    assert_eq!(h.err.take(), "Autocomplete ON\n");
    h.cmd("autocapitalize");
    assert_eq!(h.err.take(), "Auto-capitalization ON\n");
    h.cmd("autocapitalize x");
    assert_eq!(h.err.take(), "Command does not take any arguments.\n");
    h.cmd("verbose");
    assert_eq!(h.err.take(), "Verbose ON\n");
    assert!(h.backend.error_trace());
    h.sql("select broken;");
    assert_eq!(
        h.err.take(),
        "SQLParseException[fake has no answer for: select broken;]\n\nat fake.Backend.execute(Fake.java:1)\n"
    );
    h.cmd("verbose");
    assert_eq!(h.err.take(), "Verbose OFF\n");
    assert!(!h.backend.error_trace());
}

#[test]
fn show_tables() {
    let tables = SqlResponse::rows(
        &["schema", "name", "type", "primary_shards", "replicas"],
        vec![vec![
            json!("doc"),
            json!("t"),
            json!("BASE TABLE"),
            json!(4),
            json!("0-1"),
        ]],
        3.0,
    );
    let mut h = harness(FakeBackend::new().on("information_schema.tables", Ok(tables)));
    h.cmd("dt");
    assert_eq!(h.backend.executed(), vec![SHOW_TABLES.to_string()]);
    assert_eq!(
        h.out.take(),
        "+--------+------+------------+----------------+----------+\n\
         | schema | name | type       | primary_shards | replicas |\n\
         +--------+------+------------+----------------+----------+\n\
         | doc    | t    | BASE TABLE |              4 | 0-1      |\n\
         +--------+------+------------+----------------+----------+\n"
    );
    assert_eq!(h.err.take(), "SELECT 1 row in set (0.003 sec)\n");
    h.cmd("dt x");
    assert_eq!(h.err.take(), "Command does not take any arguments.\n");
}

#[test]
fn checks() {
    let mut h = harness(checks_ok(FakeBackend::new()));
    h.cmd("check");
    assert_eq!(h.err.take(), "CLUSTER CHECK OK\nNODE CHECK OK\n");
    h.cmd("check nodes");
    assert_eq!(h.err.take(), "NODE CHECK OK\n");
    h.cmd("check foo");
    assert_eq!(h.err.take(), "No check for foo\n");

    let failing = SqlResponse::rows(
        &["Failed Check"],
        vec![vec![json!("disk watermark")], vec![json!("license")]],
        1.0,
    );
    let mut h = harness(FakeBackend::new().on("FROM sys.checks", Ok(failing)));
    h.cmd("check cluster");
    assert_eq!(
        h.out.take(),
        "+----------------+\n| Failed Check   |\n+----------------+\n| disk watermark |\n| license        |\n+----------------+\n"
    );
    assert_eq!(h.err.take(), "2 CLUSTER CHECKS FAILED\n");

    // Failed node checks are joined with their nodes by the shell.
    let failed = SqlResponse::rows(
        &["node_id", "description"],
        vec![
            vec![json!("n1"), json!("heap too small")],
            vec![json!("gone"), json!("of a node that left")],
        ],
        1.0,
    );
    let nodes = SqlResponse::rows(
        &["id", "name", "hostname"],
        vec![vec![json!("n1"), json!("alpha"), json!("host1")]],
        1.0,
    );
    let mut h = harness(
        FakeBackend::new()
            .on("SELECT node_id, description", Ok(failed))
            .on("FROM sys.nodes", Ok(nodes)),
    );
    h.cmd("check nodes");
    assert_eq!(
        h.out.take(),
        "+-----------+-----------+----------------+\n\
         | Node Name | Host Name | Failed Check   |\n\
         +-----------+-----------+----------------+\n\
         | alpha     | host1     | heap too small |\n\
         +-----------+-----------+----------------+\n"
    );
    assert_eq!(h.err.take(), "1 NODE CHECK FAILED\n");
}

#[test]
fn connect_prints_servers_and_checks() {
    let mut h = harness(FakeBackend::new());
    h.cmd("connect localhost:4201");
    assert_eq!(
        h.out.take(),
        "+------------------+-----------+---------+-----------+---------+\n\
         | server_url       | node_name | version | connected | message |\n\
         +------------------+-----------+---------+-----------+---------+\n\
         | http://fake:4200 | fake      | 5.10.0  | TRUE      | OK      |\n\
         +------------------+-----------+---------+-----------+---------+\n"
    );
    assert_eq!(
        h.err.take(),
        "CONNECT OK\nCLUSTER CHECK OK\nTYPES OF NODE CHECK OK\n"
    );
    h.cmd("c");
    assert_eq!(
        h.err.take(),
        "Missing argument: servers\nhelp: c\n connect to the given server, e.g.: \\connect localhost:4200 \n"
    );
    h.cmd("c bad:host:x");
    assert!(h.err.take().contains("invalid port"));
}

#[test]
fn connect_loads_session_info_with_crash_fallbacks() {
    let mut h = harness(checks_ok(FakeBackend::new()));
    assert!(h.session.print_connect_result(false));
    assert_eq!(h.err.take(), "CONNECT OK\n");
    let info = h.session.session_info.clone().expect("session info");
    assert_eq!(info.cluster.as_deref(), Some("shoal"));

    let unsupported = BackendError::Sql {
        message: "UnsupportedFeatureException[current_user]".into(),
        code: 4004,
        error_trace: None,
    };
    let fallback = SqlResponse::rows(
        &["n", "s", "c"],
        vec![vec![json!(null), json!("doc"), json!("c1")]],
        1.0,
    );
    let mut h = harness(
        FakeBackend::new()
            .on(
                "SELECT current_user, current_schema, name",
                Err(unsupported),
            )
            .on(
                "SELECT NULL, current_schema, name FROM sys.cluster",
                Ok(fallback),
            ),
    );
    assert!(h.session.print_connect_result(false));
    assert_eq!(h.err.take(), "CONNECT OK\n");
    assert_eq!(
        h.session
            .session_info
            .clone()
            .and_then(|i| i.cluster)
            .as_deref(),
        Some("c1")
    );

    let mut h = harness(FakeBackend::new());
    assert!(h.session.print_connect_result(false));
    assert_eq!(
        h.err.take(),
        "Could not load cluster information: SQLParseException[fake has no answer for: \
         SELECT current_user, current_schema, name FROM sys.cluster]\nCONNECT OK\n"
    );
}

#[test]
fn connect_error() {
    let mut h = harness(FakeBackend::unreachable());
    assert!(!h.session.print_connect_result(false));
    assert_eq!(
        h.err.take(),
        "http://fake:4200: Server not available, exception: Connection refused\nCONNECT ERROR\n"
    );
}

#[test]
fn sysinfo_prints_cluster_and_nodes() {
    let fake = FakeBackend::new()
        .on(
            "from sys.shards",
            Ok(SqlResponse::rows(
                &["number_of_shards", "number_of_records"],
                vec![vec![json!(4), json!(10)]],
                1.0,
            )),
        )
        .on(
            "count(*) as number_of_nodes",
            Ok(SqlResponse::rows(
                &["number_of_nodes"],
                vec![vec![json!(1)]],
                1.0,
            )),
        )
        .on(
            "select name,",
            Ok(SqlResponse::rows(
                &["name", "hostname"],
                vec![vec![json!("n1"), json!("h1")]],
                1.0,
            )),
        );
    let mut h = harness(fake);
    h.session.format = OutputFormat::Mixed;
    h.cmd("sysinfo");
    let dashes = "-".repeat(80);
    assert_eq!(
        h.out.take(),
        format!(
            "number_of_shards  | 4\nnumber_of_records | 10\nnumber_of_nodes   | 1\n{dashes}\n\nname     | n1\nhostname | h1\n{dashes}\n\n"
        )
    );
    assert_eq!(
        h.err.take(),
        "For debugging purposes you can send above listed information to support@crate.io\n"
    );
}

#[test]
fn read_file_runs_statements_and_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("script.sql");
    std::fs::write(&path, "select 1;\n\\format csv\nselect\n  2;\n").expect("write");
    let fake = FakeBackend::new()
        .on(
            "select 1",
            Ok(SqlResponse::rows(&["x"], vec![vec![json!(1)]], 1.0)),
        )
        .on(
            "select\n  2",
            Ok(SqlResponse::rows(&["x"], vec![vec![json!(2)]], 2.0)),
        );
    let mut h = harness(fake);
    h.cmd(&format!("r {}", path.display()));
    assert_eq!(h.backend.executed(), vec!["select 1;", "select\n  2;"]);
    assert_eq!(
        h.out.take(),
        "+---+\n| x |\n+---+\n| 1 |\n+---+\nx\r\n2\r\n\n"
    );
    assert_eq!(
        h.err.take(),
        "SELECT 1 row in set (0.001 sec)\nchanged output format to csv\nSELECT 1 row in set (0.002 sec)\n"
    );
    h.cmd("r /no/such/file.sql");
    assert_eq!(
        h.err.take(),
        "FileNotFoundError(2, 'No such file or directory')\n"
    );
    h.cmd("r");
    assert!(
        h.err
            .take()
            .starts_with("Missing argument: filename\nhelp: r\n")
    );
}

#[test]
fn pager_setting() {
    let mut h = harness(FakeBackend::new());
    h.cmd("pager less -S");
    assert_eq!(h.session.printer.pager, Pager::Command("less -S".into()));
    h.cmd("pager off");
    assert_eq!(h.session.printer.pager, Pager::Off);
    h.cmd("pager");
    assert_eq!(h.session.printer.pager, Pager::Auto);
    assert_eq!(h.err.take(), "");
}

#[test]
fn statements_status_lines_and_errors() {
    let fake = FakeBackend::new()
        .on("create table", Ok(SqlResponse::affected(1, 123.0)))
        .on("insert", Ok(SqlResponse::affected(2, 4.0)))
        .on(
            "select * from missing",
            Err(BackendError::Sql {
                message: "RelationUnknown[Relation 'missing' unknown]".into(),
                code: 4041,
                error_trace: None,
            }),
        )
        .on(
            "select down",
            Err(BackendError::Connection(
                "No server available: http://x:4200 (refused)".into(),
            )),
        );
    let mut h = harness(fake);
    h.sql("create table t (a int);");
    assert_eq!(h.err.take(), "CREATE OK, 1 row affected (0.123 sec)\n");
    assert!(h.session.schema_changed);
    h.sql("  -- note\n insert into t values (1), (2);");
    assert_eq!(h.err.take(), "INSERT OK, 2 rows affected (0.004 sec)\n");
    assert_eq!(h.out.take(), "");
    assert!(!h.session.failed);
    h.sql("select * from missing;");
    assert_eq!(
        h.err.take(),
        "RelationUnknown[Relation 'missing' unknown]\n"
    );
    assert!(h.session.failed);
    h.sql("select down;");
    assert_eq!(
        h.err.take(),
        "No server available: http://x:4200 (refused)\nUse \\connect <server> to connect to one or more servers first.\n"
    );
}

#[test]
fn ctrl_c_during_a_long_statement_gives_the_prompt_back() {
    let fake = FakeBackend::new()
        .on(
            "select",
            Ok(SqlResponse::rows(&["a"], vec![vec![json!(1)]], 1.0)),
        )
        .slow(Duration::from_secs(5));
    let mut h = harness(fake);
    let flag = Arc::new(AtomicBool::new(false));
    h.session.watch = Watch {
        spinner: false,
        interrupt: Some(Arc::clone(&flag)),
    };
    let presser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        flag.store(true, Ordering::SeqCst);
    });
    let started = Instant::now();
    // The interrupt also drops the statements after it.
    assert_eq!(
        h.session.process_text("select 1; select 2;"),
        Flow::Interrupted
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited for the statement"
    );
    presser.join().expect("presser");
    assert_eq!(
        h.err.take(),
        "Query not cancelled. Run KILL <jobId> to cancel it\n"
    );
    assert_eq!(h.out.take(), "");
    assert_eq!(h.backend.executed(), vec!["select 1;"]);
    assert!(!h.session.failed);
}

#[test]
fn slow_statements_still_print_their_result() {
    let fake = FakeBackend::new()
        .on(
            "select",
            Ok(SqlResponse::rows(&["a"], vec![vec![json!(1)]], 1.0)),
        )
        .slow(Duration::from_millis(300));
    let mut h = harness(fake);
    h.session.watch = Watch {
        spinner: false,
        interrupt: Some(Arc::new(AtomicBool::new(false))),
    };
    assert_eq!(h.sql("select 1;"), Flow::Continue);
    assert_eq!(h.err.take(), "SELECT 1 row in set (0.001 sec)\n");
}

#[test]
fn process_text_runs_everything_and_stops_at_quit() {
    let fake = FakeBackend::new().on(
        "select",
        Ok(SqlResponse::rows(&["a"], vec![vec![json!(1)]], 1.0)),
    );
    let mut h = harness(fake);
    assert_eq!(
        h.session
            .process_text("select 1; select 2;\n\\q\nselect 3;"),
        Flow::Quit
    );
    assert_eq!(h.backend.executed(), vec!["select 1;", "select 2;"]);
}
