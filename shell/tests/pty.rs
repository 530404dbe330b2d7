//! End to end through a real pseudo-terminal: `shoal shell` in tmux against a real
//! `shoal server`. Types a multi-line CREATE TABLE, INSERT, REFRESH, SELECT, `\dt`,
//! `\format json`, completion, Ctrl-C, the pager and `\q`, and checks what the screen shows.

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
        shoal_bin().display(),
        server.addr,
        history.display()
    );
    let t = Tmux::start(&command);
    t.wait_for("CONNECT OK");
    let prompts = std::cell::Cell::new(1);
    t.wait_for("cr> ");
    // Types the lines of one input and waits for the next prompt.
    let enter = |lines: &[&str]| -> String {
        for l in lines {
            t.line(l);
        }
        prompts.set(prompts.get() + 1);
        t.wait_for_n("cr> ", prompts.get(), Duration::from_secs(30))
    };

    // Leftovers from an earlier run against the same server.
    enter(&["DROP TABLE IF EXISTS pty_items;"]);
    enter(&["DROP TABLE IF EXISTS pty_pages;"]);

    // A statement over several lines: continuation prompt `... `.
    let screen = enter(&[
        "CREATE TABLE pty_items (",
        "  id INTEGER PRIMARY KEY,",
        "  name TEXT",
        ") WITH (number_of_replicas = 0);",
    ]);
    assert!(screen.contains("CREATE OK, 1 row affected ("), "{screen}");
    assert!(screen.contains("cr> CREATE TABLE pty_items (\n...   id INTEGER PRIMARY KEY,\n...   name TEXT\n... ) WITH"), "{screen}");

    let screen = enter(&["INSERT INTO pty_items (id, name) VALUES (1, 'one'), (2, 'two');"]);
    assert!(screen.contains("INSERT OK, 2 rows affected ("), "{screen}");
    let screen = enter(&["REFRESH TABLE pty_items;"]);
    assert!(screen.contains("REFRESH OK, "), "{screen}");
    let screen = enter(&["SELECT id, name FROM pty_items ORDER BY id;"]);
    let table = "+----+------+\n| id | name |\n+----+------+\n|  1 | one  |\n|  2 | two  |\n+----+------+\nSELECT 2 rows in set (";
    assert!(screen.contains(table), "{screen}");

    let screen = enter(&["\\dt"]);
    assert!(screen.contains("| schema | name      |"), "{screen}");
    assert!(screen.contains("| doc    | pty_items |"), "{screen}");

    let screen = enter(&["\\format json"]);
    assert!(screen.contains("changed output format to json"), "{screen}");
    let screen = enter(&["SELECT id, name FROM pty_items ORDER BY id;"]);
    let json = "[\n  {\n    \"id\": 1,\n    \"name\": \"one\"\n  },\n  {\n    \"id\": 2,\n    \"name\": \"two\"\n  }\n]\nSELECT 2 rows in set (";
    assert!(screen.contains(json), "{screen}");

    // Ctrl-C drops a half-typed statement; Tab completes keywords.
    t.type_text("SELECT nonsense FROM");
    t.keys(&["C-c"]);
    prompts.set(prompts.get() + 1);
    t.wait_for_n("cr> ", prompts.get(), Duration::from_secs(10));
    t.type_text("SEL");
    t.keys(&["Tab"]);
    let screen = enter(&[" count(*) AS n FROM pty_items;"]);
    assert!(screen.contains("SELECT 1 row in set ("), "{screen}");
    assert!(
        screen.contains("cr> SELECT count(*) AS n FROM pty_items;"),
        "{screen}"
    );
    assert!(screen.contains("\"n\": 2"), "{screen}");

    // A result taller than the terminal goes through the pager.
    enter(&["\\format tabular"]);
    enter(&["\\pager sed 's/^/PAGED /'"]);
    enter(&["CREATE TABLE pty_pages (n INTEGER) WITH (number_of_replicas = 0);"]);
    let values: Vec<String> = (1..=80).map(|i| format!("({i})")).collect();
    let screen = enter(&[&format!(
        "INSERT INTO pty_pages (n) VALUES {};",
        values.join(", ")
    )]);
    assert!(screen.contains("INSERT OK, 80 rows affected ("), "{screen}");
    enter(&["REFRESH TABLE pty_pages;"]);
    let screen = enter(&["SELECT n FROM pty_pages ORDER BY n;"]);
    assert!(screen.contains("PAGED |  1 |\nPAGED |  2 |"), "{screen}");
    assert!(
        screen.contains("PAGED | 80 |\nPAGED +----+\nSELECT 80 rows in set ("),
        "{screen}"
    );

    t.line("\\q");
    let screen = t.wait_for("SHELL-EXITED:");
    assert!(screen.contains("Bye!\nSHELL-EXITED:0"), "{screen}");

    // The history keeps multi-line statements as one entry.
    let saved = std::fs::read_to_string(&history).expect("history file");
    assert!(
        saved.contains("CREATE TABLE pty_items (\\n  id INTEGER PRIMARY KEY,"),
        "{saved}"
    );
}
