//! End to end through a real pseudo-terminal: `shoal shell` in tmux against a real
//! `shoal server`. Types a multi-line CREATE TABLE, INSERT, REFRESH, SELECT, `\dt`,
//! `\format json`, completion, Ctrl-C and `\q`, and checks what the screen shows.

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::{Server, shoal_bin};

#[test]
fn interactive_session_in_a_terminal() {
    if !Tmux::available() {
        eprintln!("SKIP interactive_session_in_a_terminal: tmux is not installed");
        return;
    }
    let server = match Server::start("pty-node") {
        Ok(s) => s,
        Err(why) => {
            eprintln!("SKIP interactive_session_in_a_terminal: {why}");
            return;
        }
    };
    let home = tempfile::tempdir().expect("tempdir");
    let history = home.path().join("history");
    let command = format!(
        "HOME='{}' TERM=xterm-256color '{}' shell --hosts '{}' --history '{}'",
        home.path().display(),
        shoal_bin(),
        server.addr,
        history.display()
    );
    let t = Tmux::start(&command);
    t.wait_for("CONNECT OK");
    t.wait_for("cr> ");

    // Leftovers from an earlier run against the same server.
    t.line("DROP TABLE IF EXISTS pty_items;");
    t.wait_for_n("cr> ", 2, Duration::from_secs(20));

    // A statement over several lines: continuation prompt `... `.
    t.line("CREATE TABLE pty_items (");
    t.line("  id INTEGER PRIMARY KEY,");
    t.line("  name TEXT");
    t.line(") WITH (number_of_replicas = 0);");
    let screen = t.wait_for("CREATE OK, 1 row affected (");
    assert!(screen.contains("cr> CREATE TABLE pty_items (\n...   id INTEGER PRIMARY KEY,\n...   name TEXT\n... ) WITH"), "{screen}");

    t.line("INSERT INTO pty_items (id, name) VALUES (1, 'one'), (2, 'two');");
    t.wait_for("INSERT OK, 2 rows affected (");
    t.line("REFRESH TABLE pty_items;");
    t.wait_for("REFRESH OK, ");
    t.line("SELECT id, name FROM pty_items ORDER BY id;");
    let screen = t.wait_for("SELECT 2 rows in set (");
    let table = "+----+------+\n| id | name |\n+----+------+\n|  1 | one  |\n|  2 | two  |\n+----+------+\nSELECT 2 rows in set (";
    assert!(screen.contains(table), "{screen}");

    t.line("\\dt");
    let screen = t.wait_for("| pty_items |");
    assert!(screen.contains("| schema | name      |"), "{screen}");
    assert!(screen.contains("| doc    | pty_items |"), "{screen}");

    t.line("\\format json");
    t.wait_for("changed output format to json");
    t.line("SELECT id, name FROM pty_items ORDER BY id;");
    let screen = t.wait_for_n("SELECT 2 rows in set (", 2, Duration::from_secs(20));
    let json = "[\n  {\n    \"id\": 1,\n    \"name\": \"one\"\n  },\n  {\n    \"id\": 2,\n    \"name\": \"two\"\n  }\n]";
    assert!(screen.contains(json), "{screen}");

    // Ctrl-C drops a half-typed statement; Tab completes keywords.
    t.type_text("SELECT nonsense FROM");
    t.keys(&["C-c"]);
    t.type_text("SEL");
    t.keys(&["Tab"]);
    t.line(" count(*) AS n FROM pty_items;");
    let screen = t.wait_for("SELECT 1 row in set (");
    assert!(screen.contains("cr> SELECT count(*) AS n FROM pty_items;"), "{screen}");
    assert!(screen.contains("\"n\": 2"), "{screen}");

    t.line("\\q");
    let screen = t.wait_for("SHELL-EXITED:");
    assert!(screen.contains("Bye!\nSHELL-EXITED:0"), "{screen}");

    // The history keeps multi-line statements as one entry.
    let saved = std::fs::read_to_string(&history).expect("history file");
    assert!(saved.contains("CREATE TABLE pty_items (\\n  id INTEGER PRIMARY KEY,"), "{saved}");
}
