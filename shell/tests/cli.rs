//! The `shoal shell` binary in its non-interactive modes (`-c`, piped stdin, `--sysinfo`,
//! `--version`) against fake CrateDB servers: output, exit codes, connection errors.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::fake_http::{FakeHttp, Request, closed_port};
use common::shoal_bin;

fn answer(req: &Request) -> (u16, String) {
    let stmt = req.stmt().to_lowercase();
    if stmt.contains("sys.cluster") {
        (200, r#"{"cols":["current_user","current_schema","name"],"rows":[["crate","doc","c"]],"rowcount":1,"duration":0.1}"#.into())
    } else if stmt.contains("sys.checks") || stmt.contains("sys.node_checks") {
        (
            200,
            r#"{"cols":["Failed Check"],"rows":[],"rowcount":0,"duration":0.1}"#.into(),
        )
    } else if stmt.starts_with("create") {
        (
            200,
            r#"{"cols":[],"rows":[[]],"rowcount":1,"duration":12.5}"#.into(),
        )
    } else if stmt.starts_with("select 'a'") {
        (
            200,
            r#"{"cols":["'a'","b"],"rows":[["a",null],["x,y",true]],"rowcount":2,"duration":1.5}"#
                .into(),
        )
    } else if stmt.starts_with("select 1") {
        (
            200,
            r#"{"cols":["1"],"rows":[[1]],"rowcount":1,"duration":0.4}"#.into(),
        )
    } else {
        (
            400,
            r#"{"error":{"message":"SQLParseException[line 1:1: mismatched input]","code":4000}}"#
                .into(),
        )
    }
}

struct Out {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

fn shell(args: &[&str], stdin: &str) -> Out {
    let home = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(shoal_bin())
        .arg("shell")
        .args(args)
        .env("HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shoal");
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("wait");
    Out {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

#[test]
fn command_option_runs_statements_and_exits() {
    let fake = FakeHttp::crate_like("n1", answer);
    let out = shell(
        &[
            "--hosts",
            &fake.addr,
            "-c",
            "select 1; create table t (a int);",
        ],
        "",
    );
    assert_eq!(out.stdout, "+---+\n| 1 |\n+---+\n| 1 |\n+---+\n");
    assert_eq!(
        out.stderr,
        "CONNECT OK\nSELECT 1 row in set (0.000 sec)\nCREATE OK, 1 row affected (0.013 sec)\n"
    );
    assert_eq!(out.code, Some(0));
    // crash sends statements with their `;`.
    assert!(
        fake.statements()
            .contains(&"create table t (a int);".to_string())
    );
}

#[test]
fn piped_statements_run_in_order_and_failures_set_exit_code() {
    let fake = FakeHttp::crate_like("n1", answer);
    let script = "select 'a',\n  b from t;\nbroken statement;\n\\format csv\nselect 'a', b from t";
    let out = shell(
        &[
            "--hosts",
            &format!("http://{}", fake.addr),
            "--schema",
            "s1",
        ],
        script,
    );
    assert_eq!(
        out.stdout,
        "+-----+------+\n| 'a' | b    |\n+-----+------+\n| a   | NULL |\n| x,y | TRUE |\n+-----+------+\n\
         \\'a\\',b\r\na,\r\n'x,y',True\r\n\n"
    );
    assert_eq!(
        out.stderr,
        "CONNECT OK\nSELECT 2 rows in set (0.002 sec)\nSQLParseException[line 1:1: mismatched input]\n\
         changed output format to csv\nSELECT 2 rows in set (0.002 sec)\n"
    );
    assert_eq!(out.code, Some(1));
    let sql: Vec<Request> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert!(
        sql.iter()
            .all(|r| r.headers.get("default-schema").map(String::as_str) == Some("s1"))
    );
}

#[test]
fn unreachable_server_exits_1_naming_the_host() {
    let port = closed_port();
    let out = shell(
        &["--hosts", &format!("127.0.0.1:{port}"), "-c", "select 1"],
        "",
    );
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains(&format!(
            "http://127.0.0.1:{port}: Server not available, exception: "
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.ends_with("CONNECT ERROR\n"), "{}", out.stderr);
    assert_eq!(out.stdout, "");
}

#[test]
fn one_dead_host_of_two_is_skipped() {
    let fake = FakeHttp::crate_like("n1", answer);
    let dead = format!("127.0.0.1:{}", closed_port());
    let out = shell(
        &[
            "--hosts",
            &dead,
            &fake.addr,
            "-c",
            "select 1; select 1; select 1;",
        ],
        "",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("SELECT 1 row in set").count(),
        3,
        "{}",
        out.stderr
    );
}

#[test]
fn verbose_prints_the_connect_table_and_checks() {
    let fake = FakeHttp::crate_like("n1", answer);
    let out = shell(&["--hosts", &fake.addr, "-v", "-c", "select 1"], "");
    let url = format!("http://{}", fake.addr);
    let w = url.len().max("server_url".len());
    assert!(out.stdout.starts_with(&format!(
        "+{d}+-----------+---------+-----------+---------+\n| {h:<w$} | node_name | version | connected | message |\n",
        d = "-".repeat(w + 2),
        h = "server_url"
    )));
    assert!(
        out.stdout.contains(&format!(
            "| {url:<w$} | n1        | 5.10.0  | TRUE      | OK      |"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .starts_with("CONNECT OK\nCLUSTER CHECK OK\nTYPES OF NODE CHECK OK\n"),
        "{}",
        out.stderr
    );
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.path.contains("error_trace=true"))
    );
}

#[test]
fn version_flag() {
    let out = shell(&["--version"], "");
    assert_eq!(out.stdout.trim(), env!("CARGO_PKG_VERSION"));
    assert_eq!(out.code, Some(0));
}

/// `shoal` without arguments starts a local server on the user's data
/// directory. A second such shell while the first runs is refused before
/// it touches the directory, and names the first one's server.
#[test]
fn a_second_local_shell_names_the_first_ones_server() {
    let home = std::env::temp_dir().join(format!("shoal-local-twice-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let local = home.join("shoal/local");
    let mut first = Command::new(shoal_bin())
        .env("XDG_DATA_HOME", &home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the first shell");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !local.join("server.url").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first shell's server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let url = std::fs::read_to_string(local.join("server.url")).expect("server.url");
    let second = Command::new(shoal_bin())
        .env("XDG_DATA_HOME", &home)
        .args(["-c", "SELECT 1"])
        .output()
        .expect("run the second shell");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("in use by another shell's server at {url}"))
            && stderr.contains(&format!("shoal shell --hosts {url}")),
        "{stderr}"
    );
    // The first shell and its server go on.
    let mut stdin = first.stdin.take().expect("stdin");
    stdin.write_all(b"SELECT 41 + 1;\n").expect("write");
    drop(stdin);
    let out = first.wait_with_output().expect("first shell");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("42"));
    assert!(
        !local.join("server.url").exists(),
        "the address outlived its server"
    );
    let _ = std::fs::remove_dir_all(&home);
}
