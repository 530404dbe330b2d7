//! Acknowledged writes survive `kill -9`: they are in the fsynced translog,
//! and a restart replays it on top of the last flushed segments.

use serde_json::json;
use shoal_tests::{Server, TempDir};

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = TempDir::new("kill9");
    let mut s = Server::start(&dir.0);
    s.sql("CREATE TABLE t (id INT PRIMARY KEY, v TEXT, o OBJECT(DYNAMIC)) CLUSTERED INTO 3 SHARDS WITH (refresh_interval = 0)")
        .ok();
    // Bulk rows, single inserts, an update and a delete, none of them refreshed.
    let rows: Vec<serde_json::Value> = (0..500)
        .map(|i| json!([i, format!("v{i}"), {"n": i}]))
        .collect();
    let r = s
        .bulk("INSERT INTO t (id, v, o) VALUES (?, ?, ?)", json!(rows))
        .ok();
    assert!(
        r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["rowcount"] == json!(1))
    );
    s.sql("INSERT INTO t (id, v) VALUES (1000, 'single')").ok();
    s.sql("UPDATE t SET v = 'updated' WHERE id = 7").ok();
    s.sql("DELETE FROM t WHERE id = 8").ok();
    s.kill9();
    assert!(!s.is_running());

    s.restart();
    s.sql("REFRESH TABLE t").ok();
    assert_eq!(*s.sql("SELECT count(*) FROM t").ok().scalar(), json!(500));
    assert_eq!(
        *s.sql("SELECT v FROM t WHERE id = 7").ok().scalar(),
        json!("updated")
    );
    assert_eq!(s.sql("SELECT v FROM t WHERE id = 8").ok().rows().len(), 0);
    assert_eq!(
        *s.sql("SELECT v FROM t WHERE id = 1000").ok().scalar(),
        json!("single")
    );
    assert_eq!(
        *s.sql("SELECT sum(o['n']) FROM t").ok().scalar(),
        json!((0..500).sum::<i64>() - 8)
    );
    // The dynamic column added by the first insert survived in the catalog.
    let cols = s
        .sql("SELECT column_name FROM information_schema.columns WHERE table_name = 't'")
        .ok();
    assert!(cols.rows().contains(&json!(["o['n']"])));
}

#[test]
fn graceful_restart_keeps_everything_and_new_writes_continue() {
    let dir = TempDir::new("graceful");
    let mut s = Server::start(&dir.0);
    s.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT)").ok();
    for round in 0..3 {
        let rows: Vec<serde_json::Value> = (0..100).map(|i| json!([round * 100 + i, i])).collect();
        s.bulk("INSERT INTO t (id, v) VALUES (?, ?)", json!(rows))
            .ok();
        s.sql("REFRESH TABLE t").ok();
        s.stop();
        s.restart();
    }
    assert_eq!(*s.sql("SELECT count(*) FROM t").ok().scalar(), json!(300));
    // Updates after restart bump the version of documents loaded from segments.
    s.sql("UPDATE t SET v = -1 WHERE id = 150").ok();
    let r = s.sql("SELECT v, _version FROM t WHERE id = 150").ok();
    assert_eq!(r.rows()[0], json!([-1, 2]));
}

/// A second node started on a data directory in use is refused before it
/// touches a file: it exits with the reason, and the first node, its data
/// and its restarts are unaffected. (Two nodes on one directory each
/// rewrote the raft log the other appended to; neither opened it again.)
#[test]
fn a_second_node_on_the_same_data_directory_is_refused() {
    let dir = TempDir::new("locked");
    let mut s = Server::start(&dir.0);
    s.sql("CREATE TABLE t (id INT PRIMARY KEY)").ok();
    s.sql("INSERT INTO t (id) VALUES (1), (2)").ok();
    let log = dir.0.with_extension("second.log");
    let mut second = std::process::Command::new(shoal_tests::shoal_bin())
        .args(["server", "--data"])
        .arg(&dir.0)
        .args(["--http", &format!("127.0.0.1:{}", shoal_tests::free_port())])
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start a second shoal server");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("the second node kept running: {stderr}"));
    assert!(
        !status.success(),
        "the second node exited cleanly: {stderr}"
    );
    assert!(
        stderr.contains("failed to obtain node lock") && stderr.contains("node.lock"),
        "{stderr}"
    );
    s.sql("INSERT INTO t (id) VALUES (3)").ok();
    s.stop();
    s.restart();
    s.sql("REFRESH TABLE t").ok();
    assert_eq!(*s.sql("SELECT count(*) FROM t").ok().scalar(), json!(3));
}
