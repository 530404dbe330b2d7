//! The shell on an embedded simulated cluster, end to end: `shoal` (the
//! simulation build's binary) in a real terminal (tmux), then the session's
//! recording replayed by the scenario runner; and the same backend driven
//! directly, for what a recording holds when commands fail.
#![cfg(madsim)]

#[path = "../../shell/tests/common/tmux.rs"]
mod tmux;

use std::time::Duration;

use shoal_shell::backend::{Backend, BackendError};
use shoal_sim::scenario::run_file;
use shoal_sim::shell::SimBackend;
use tmux::Tmux;

const SEED: u64 = 42;

#[test]
fn interactive_session_on_a_simulated_cluster() {
    if !Tmux::available() {
        eprintln!("SKIP interactive_session_on_a_simulated_cluster: tmux is not installed");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let recording = home.path().join("session.scn");
    let command = format!(
        "HOME='{}' TERM=xterm-256color '{}' --seed {SEED} --history '{}'",
        home.path().display(),
        env!("CARGO_BIN_EXE_shoal"),
        home.path().join("history").display()
    );
    let t = Tmux::start(&command);
    let screen = t.wait_for("CONNECT OK");
    assert!(
        screen.contains("A simulated cluster of 3 nodes, seed 42"),
        "{screen}"
    );
    let prompts = std::cell::Cell::new(1);
    t.wait_for("cr> ");
    let enter = |lines: &[&str]| -> String {
        for l in lines {
            t.line(l);
        }
        prompts.set(prompts.get() + 1);
        t.wait_for_n("cr> ", prompts.get(), Duration::from_secs(60))
    };

    let screen = enter(&[
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT) CLUSTERED INTO 3 SHARDS",
        "  WITH (number_of_replicas = 1, refresh_interval = 0);",
    ]);
    assert!(screen.contains("CREATE OK, 1 row affected ("), "{screen}");
    let screen = enter(&["\\wait health green"]);
    assert!(screen.contains("health green: reached"), "{screen}");
    let screen = enter(&["INSERT INTO t (id, v) VALUES (1, 'one'), (2, 'two');"]);
    assert!(screen.contains("INSERT OK, 2 rows affected ("), "{screen}");

    // Invisible to search before a refresh, visible after.
    let screen = enter(&["SELECT count(*) FROM t;"]);
    assert!(screen.contains("|     0 |"), "{screen}");
    enter(&["REFRESH TABLE t;"]);
    let screen = enter(&["SELECT count(*) FROM t;"]);
    assert!(screen.contains("|     2 |"), "{screen}");

    // A node dies: YELLOW until its copies are made again elsewhere.
    // (Tab completes the cluster commands.)
    t.type_text("\\ki");
    t.keys(&["Tab"]);
    let screen = enter(&[" n2"]);
    assert!(screen.contains("cr> \\kill n2\nn2 killed"), "{screen}");
    let screen = enter(&["\\nodes"]);
    assert!(screen.contains("n2  down"), "{screen}");
    enter(&["\\wait health yellow within 30s"]);
    let screen = enter(&["\\health"]);
    assert!(screen.contains("health: YELLOW"), "{screen}");
    let screen = enter(&["\\wait health green within 120s"]);
    assert!(
        screen.contains("health green within 120s: reached"),
        "{screen}"
    );
    let screen = enter(&["\\use n3"]);
    assert!(screen.contains("statements go to n3"), "{screen}");
    let screen = enter(&["SELECT id, v FROM t ORDER BY id;"]);
    let rows = "+----+-----+\n| id | v   |\n+----+-----+\n|  1 | one |\n|  2 | two |\n+----+-----+";
    assert!(screen.contains(rows), "{screen}");

    let screen = enter(&[&format!("\\record {}", recording.display())]);
    assert!(screen.contains("recorded 12 commands in"), "{screen}");
    t.line("\\q");
    let screen = t.wait_for("SHELL-EXITED:");
    assert!(screen.contains("Bye!\nSHELL-EXITED:0"), "{screen}");

    // The recording is a scenario that the runner replays identically.
    let text = std::fs::read_to_string(&recording).expect("the recording");
    for line in [
        "cluster nodes=3\n",
        "n1: > CREATE TABLE t (id INT PRIMARY KEY, v TEXT) CLUSTERED INTO 3 SHARDS   WITH",
        "n1: |     0 |\n",
        "kill n2\n",
        "health\n---\nhealth: YELLOW\n",
        "n3: |  2 | two |\n",
    ] {
        assert!(
            text.contains(line),
            "{line:?} not in the recording:\n{text}"
        );
    }
    if let Err(failure) = run_file(&recording, SEED, false) {
        panic!("the recorded session does not replay:\n{failure}\n\n{text}");
    }
}

/// Failed statements and commands are recorded as expected failures; what
/// only looks (`\nodes`, `\seed`, a refused `\use`) is not recorded.
#[test]
fn recording_keeps_failures_and_replays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("failures.scn");
    let backend = SimBackend::start(3, 7).expect("a simulated cluster");
    let sql = |s: &str| backend.execute(s);
    let cmd = |name: &str, arg: Option<&str>| backend.run_command(name, arg);

    assert!(sql("CREATE TABLE t (id INT PRIMARY KEY)").is_ok());
    match sql("SELECT * FROM missing") {
        Err(BackendError::Sql { message, code, .. }) => {
            assert_eq!(code, 4041);
            assert!(message.starts_with("RelationUnknown["), "{message}");
        }
        other => panic!("expected a RelationUnknown error, got {other:?}"),
    }
    assert_eq!(cmd("seed", None), Ok("seed 7".into()));
    assert!(cmd("use", Some("n9")).is_err());
    assert_eq!(cmd("kill", Some("n9")), Err("there is no node n9".into()));
    assert_eq!(
        cmd("partition", Some("n1 | n2 n3")),
        Ok("network partitioned: n1 | n2 n3".into())
    );
    assert_eq!(cmd("use", Some("n1")), Ok("statements go to n1".into()));
    assert!(cmd("heal", None).is_ok());
    assert!(cmd("wait", Some("health green")).is_ok());
    assert!(cmd("nodes", None).is_ok_and(|n| n.contains("n1  up")));
    assert!(cmd("record", Some(&path.display().to_string())).is_ok());

    let text = std::fs::read_to_string(&path).expect("the recording");
    let expected = "cluster nodes=3\n\
                    n1: > CREATE TABLE t (id INT PRIMARY KEY)\n\
                    ---\n\
                    n1: CREATE OK, 1 row affected\n\n\
                    n1: !> SELECT * FROM missing\n\
                    ---\n\
                    n1: Error: RelationUnknown[Relation 'missing' unknown]\n\n\
                    !kill n9\n\
                    ---\n\
                    Error: there is no node n9\n\n\
                    > partition n1 | n2 n3\n\
                    heal\n\
                    wait health green\n\
                    ---\n";
    assert!(text.contains(expected), "{text}");
    let first_words = text.lines().filter_map(|l| l.split_whitespace().next());
    for word in first_words {
        assert!(
            !["use", "nodes", "seed", "record"].contains(&word),
            "{text}"
        );
    }
    if let Err(failure) = run_file(&path, 7, false) {
        panic!("the recording does not replay:\n{failure}\n\n{text}");
    }
}
