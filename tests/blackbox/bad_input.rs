//! Bad input gets CrateDB's error code and HTTP status, changes nothing, and
//! leaves the server answering.

use serde_json::json;
use shoal_tests::{Reply, Server, TempDir};

fn assert_error(r: &Reply, status: u16, code: i64, contains: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.error_code(), Some(code), "{}", r.body);
    assert!(
        r.error_message().contains(contains),
        "{:?} does not contain {contains:?}",
        r.error_message()
    );
}

#[test]
fn bad_requests_are_rejected_and_change_nothing() {
    let dir = TempDir::new("bad");
    let s = Server::start_with(&dir.0, &["--max-content-length", "65536"]);
    s.sql("CREATE TABLE t (id INT PRIMARY KEY, n INT, o OBJECT(STRICT) AS (a TEXT)) WITH (refresh_interval = 0)").ok();
    s.sql("CREATE TABLE strict_t (id INT) WITH (column_policy = 'strict')")
        .ok();
    s.sql("INSERT INTO t (id, n) VALUES (1, 10)").ok();

    // Malformed JSON, missing stmt, args and bulk_args together.
    assert_error(
        &s.post_raw("", b"{not json".to_vec(), &[]),
        400,
        4000,
        "Failed to parse source",
    );
    assert_error(
        &s.post_raw("", br#"{"args": []}"#.to_vec(), &[]),
        400,
        4000,
        "stmt",
    );
    assert_error(
        &s.post_raw(
            "",
            br#"{"stmt": "select 1", "args": [1], "bulk_args": [[1]]}"#.to_vec(),
            &[],
        ),
        400,
        4000,
        "forbidden to provide both",
    );
    // Syntax errors.
    assert_error(&s.sql("SELEC 1"), 400, 4000, "");
    assert_error(&s.sql("SELECT FROM WHERE"), 400, 4000, "");
    // Unknown relation, schema, column.
    assert_error(
        &s.sql("SELECT * FROM missing"),
        404,
        4041,
        "Relation 'missing' unknown",
    );
    assert_error(
        &s.sql("SELECT * FROM nope.t"),
        404,
        4045,
        "Schema 'nope' unknown",
    );
    assert_error(
        &s.sql("SELECT nope FROM t"),
        404,
        4043,
        "Column nope unknown",
    );
    assert_error(
        &s.sql("INSERT INTO strict_t (id, extra) VALUES (1, 2)"),
        404,
        4043,
        "extra",
    );
    // Type mismatch.
    assert_error(
        &s.sql("INSERT INTO t (id, n) VALUES (2, 'abc')"),
        400,
        4003,
        "Cannot cast",
    );
    assert_error(
        &s.sql_args("INSERT INTO t (id, n) VALUES (?, ?)", json!([3, "abc"])),
        400,
        4000,
        "Cannot cast",
    );
    // Duplicate primary key.
    assert_error(
        &s.sql("INSERT INTO t (id, n) VALUES (1, 99)"),
        409,
        4091,
        "DuplicateKeyException",
    );
    // Strict object violation.
    assert_error(
        &s.sql("INSERT INTO t (id, o) VALUES (4, {a = 'x', b = 'y'})"),
        400,
        4000,
        "Cannot add column `b` to strict object `o`",
    );
    // Existing table.
    assert_error(
        &s.sql("CREATE TABLE t (x INT)"),
        409,
        4093,
        "already exists",
    );
    // Oversized request.
    let big = format!(r#"{{"stmt": "SELECT '{}'"}}"#, "x".repeat(100_000));
    let r = s.post_raw("", big.into_bytes(), &[]);
    assert_eq!(r.status, 413, "{}", r.body);
    // Division by zero, bad function, bad LIMIT.
    assert_error(&s.sql("SELECT 1 / 0"), 400, 4000, "/ by zero");
    assert_error(
        &s.sql("SELECT no_such_fn(1)"),
        400,
        4004,
        "Unknown function",
    );
    assert_error(&s.sql("SELECT * FROM t LIMIT -1"), 400, 4000, "");

    // Nothing changed.
    s.sql("REFRESH TABLE t").ok();
    let r = s.sql("SELECT id, n, o FROM t ORDER BY id").ok();
    assert_eq!(r.rows(), &vec![json!([1, 10, null])]);
    assert_eq!(
        *s.sql("SELECT count(*) FROM strict_t").ok().scalar(),
        json!(0)
    );
}

#[test]
fn garbage_never_takes_the_server_down() {
    let dir = TempDir::new("garbage");
    let s = Server::start(&dir.0);
    s.sql("CREATE TABLE t (id INT PRIMARY KEY, o OBJECT)").ok();
    let inputs = [
        "",
        ";",
        ";;;",
        "SELECT",
        "SELECT (((((((((1",
        "SELECT '",
        "SELECT \"",
        "INSERT INTO t VALUES",
        "SELECT * FROM t WHERE id = ",
        "SELECT 1 +",
        "CREATE TABLE",
        "DROP",
        "UPDATE t SET",
        "SELECT o['a']['b'][1] FROM t",
        "SELECT [1, 'a']",
        "SELECT {a = }",
        "SELECT 9223372036854775807 + 1",
        "SELECT -9223372036854775808 - 1",
        "SELECT abs(-9223372036854775808)",
        "SELECT repeat('x', 1000000000)",
        "SELECT substr('abc', -5, -1)",
        "SELECT date_trunc('nope', now())",
        "SELECT 'x'::int",
        "SELECT [1][0]",
        "SELECT * FROM t ORDER BY 99",
        "SELECT count(*) FROM t GROUP BY 5",
        "SELECT * FROM unnest(1)",
        "SELECT $0",
        "SELECT ?",
    ];
    for stmt in inputs {
        let r = s.sql(stmt);
        assert!(
            r.status == 200 || (400..500).contains(&r.status),
            "{stmt}: {} {}",
            r.status,
            r.body
        );
    }
    let deep = format!("SELECT {}1{}", "(".repeat(2000), ")".repeat(2000));
    let r = s.sql(&deep);
    assert!((400..500).contains(&r.status), "{}", r.body);
    assert_eq!(*s.sql("SELECT 1").ok().scalar(), json!(1));
}
