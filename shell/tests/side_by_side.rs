//! Side by side with the real crash (PyPI `crash` 0.32.0): the same piped session run
//! through crash and through `shoal shell` against the same server prints the same
//! stdout (rows) and stderr (status lines, errors) in tabular, json and csv formats, with
//! timings normalised, and exits with the same code.
//!
//! crash is found through `SHOAL_CRASH` (path to the executable), else
//! `.venv/bin/crash` at the workspace root
//! (`python3 -m venv .venv && .venv/bin/pip install crash==0.32.0`).

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{Server, shoal_bin, workspace_root};

const SESSION: &str = "\
DROP TABLE IF EXISTS sbs_items;
CREATE TABLE sbs_items (
  id INTEGER PRIMARY KEY,
  name TEXT,
  score DOUBLE PRECISION,
  active BOOLEAN,
  tags ARRAY(TEXT),
  meta OBJECT(DYNAMIC)
) WITH (number_of_replicas = 0);
INSERT INTO sbs_items (id, name, score, active, tags, meta) VALUES
  (1, 'Arthur', 4.5, true, ['a', 'b'], {k = 1}),
  (2, 'Ford, \"Prefect\"', NULL, false, [], {}),
  (3, 'it''s', -0.25, NULL, NULL, NULL);
REFRESH TABLE sbs_items;
SELECT id, name, score, active, tags, meta FROM sbs_items ORDER BY id;
SELECT count(*) AS n, max(score) AS top FROM sbs_items;
SELECT name FROM sbs_items WHERE id = 99;
UPDATE sbs_items SET score = 1.0 WHERE id = 2;
SELECT * FROM no_such_table;
DELETE FROM sbs_items WHERE id = 3;
select 1; select 'two' AS two;
\\dt
DROP TABLE sbs_items;
";

fn crash_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SHOAL_CRASH") {
        let p = PathBuf::from(p);
        return p.exists().then_some(p);
    }
    let p = workspace_root().join(".venv").join("bin").join("crash");
    p.exists().then_some(p)
}

struct Run {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

fn run(program: &PathBuf, args: &[&str], home: &std::path::Path) -> Run {
    let mut child = Command::new(program)
        .args(args)
        .env("HOME", home)
        .env_remove("CRATEPW")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(SESSION.as_bytes()).expect("write session");
    }
    let out = child.wait_with_output().expect("wait");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

/// `(0.012 sec)` → `(N sec)`.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(" sec)") {
        let head = &rest[..i];
        let open = head.rfind('(');
        match open {
            Some(o)
                if head[o + 1..]
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.')
                    && o + 1 < head.len() =>
            {
                out.push_str(&head[..o]);
                out.push_str("(N sec)");
            }
            _ => {
                out.push_str(head);
                out.push_str(" sec)");
            }
        }
        rest = &rest[i + " sec)".len()..];
    }
    out.push_str(rest);
    out
}

#[test]
fn same_output_as_crash() {
    let Some(crash) = crash_path() else {
        eprintln!(
            "SKIP same_output_as_crash: crash not found (set SHOAL_CRASH or create .venv with crash==0.32.0)"
        );
        return;
    };
    let server = match Server::start("sbs-node") {
        Ok(s) => s,
        Err(why) => {
            eprintln!("SKIP same_output_as_crash: {why}");
            return;
        }
    };
    let home = tempfile::tempdir().expect("tempdir");
    let shoal = shoal_bin();
    let mut mismatches = Vec::new();
    for format in ["tabular", "json", "csv"] {
        let theirs = run(
            &crash,
            &["--hosts", &server.addr, "--format", format],
            home.path(),
        );
        let ours = run(
            &shoal,
            &["shell", "--hosts", &server.addr, "--format", format],
            home.path(),
        );
        assert!(
            theirs.stderr.contains("CONNECT OK"),
            "crash did not connect:\n{}",
            theirs.stderr
        );
        if theirs.stdout != ours.stdout {
            mismatches.push(format!(
                "[{format}] stdout\n--- crash\n{}\n--- shoal\n{}",
                theirs.stdout, ours.stdout
            ));
        }
        let (a, b) = (normalise(&theirs.stderr), normalise(&ours.stderr));
        if a != b {
            mismatches.push(format!("[{format}] stderr\n--- crash\n{a}\n--- shoal\n{b}"));
        }
        if theirs.code != ours.code {
            mismatches.push(format!(
                "[{format}] exit code: crash {:?}, shoal {:?}",
                theirs.code, ours.code
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn normalises_timings() {
    assert_eq!(
        normalise(
            "SELECT 1 row in set (0.001 sec)\nCREATE OK, 1 row affected (12.345 sec)\n(x sec)"
        ),
        "SELECT 1 row in set (N sec)\nCREATE OK, 1 row affected (N sec)\n(x sec)"
    );
}
