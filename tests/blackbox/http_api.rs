//! The HTTP protocol against the real server: response shapes, type ids,
//! bulk results, headers, gzip, and the statements of the foundation issue.

use serde_json::json;
use shoal_tests::{Server, TempDir};

#[test]
fn root_reports_node_and_version() {
    let dir = TempDir::new("root");
    let s = Server::start(&dir.0);
    let mut resp = ureq::get(&s.url("/")).call().expect("GET /");
    let body: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["ok"], json!(true));
    assert_eq!(body["name"], json!("crate"));
    assert_eq!(body["cluster_name"], json!("Testing-CrateDB"));
    assert!(
        body["version"]["number"]
            .as_str()
            .unwrap()
            .starts_with("5.")
    );
}

#[test]
fn select_response_shape_and_type_ids() {
    let dir = TempDir::new("shape");
    let s = Server::start(&dir.0);
    s.sql("CREATE TABLE t (i INT PRIMARY KEY, b BIGINT, r REAL, d DOUBLE, s TEXT, ts TIMESTAMP WITH TIME ZONE, \
           tn TIMESTAMP WITHOUT TIME ZONE, bo BOOLEAN, sm SMALLINT, o OBJECT(DYNAMIC) AS (x INT), a ARRAY(INT))").ok();
    s.sql_args(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        json!([1, 2, 1.1, 2.5, "x", "2013-09-12T21:43:59.000Z", "2013-09-12T21:43:59", true, 7, {"x": 1}, [1, 2]]),
    )
    .ok();
    s.sql("REFRESH TABLE t").ok();
    let r = s.sql("SELECT * FROM t").ok();
    assert_eq!(
        r.body["cols"],
        json!(["i", "b", "r", "d", "s", "ts", "tn", "bo", "sm", "o", "a"])
    );
    assert_eq!(
        r.body["col_types"],
        json!([9, 10, 7, 6, 4, 11, 15, 3, 8, 12, [100, 9]])
    );
    assert_eq!(
        r.rows()[0],
        json!([1, 2, 1.1, 2.5, "x", 1379022239000i64, 1379022239000i64, true, 7, {"x": 1}, [1, 2]])
    );
    assert_eq!(r.body["rowcount"], json!(1));
    assert!(r.body["duration"].as_f64().unwrap() >= 0.0);
    // Without ?types there are no col_types.
    let plain = s.post_raw("", br#"{"stmt": "SELECT 1"}"#.to_vec(), &[]);
    assert!(plain.body.get("col_types").is_none());
    // DDL/DML responses carry an empty row, like CrateDB.
    let ddl = s.sql("CREATE TABLE u (x INT)").ok();
    assert_eq!(ddl.body["rows"], json!([[]]));
    assert_eq!(ddl.body["rowcount"], json!(1));
}

#[test]
fn bulk_args_report_per_row_results() {
    let dir = TempDir::new("bulk");
    let s = Server::start(&dir.0);
    s.sql("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)").ok();
    let r = s
        .bulk(
            "INSERT INTO t (id, v) VALUES (?, ?)",
            json!([[1, "a"], [2, "b"], [1, "again"], ["x", "bad"], [3]]),
        )
        .ok();
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results[0], json!({"rowcount": 1}));
    assert_eq!(results[1], json!({"rowcount": 1}));
    assert_eq!(results[2]["rowcount"], json!(-2));
    assert_eq!(results[2]["error"]["code"], json!(4091));
    assert_eq!(results[3]["rowcount"], json!(-2));
    // A row with too few parameters fails alone.
    assert_eq!(results[4]["rowcount"], json!(-2));
    assert!(
        results[4]["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("placeholder $2 but only 1 parameters"),
        "{}",
        results[4]
    );
    assert_eq!(r.body["cols"], json!([]));
    // Bulk statements that return rows are rejected as a whole.
    let q = s.bulk("SELECT * FROM t WHERE id = ?", json!([[1]]));
    assert_eq!(q.status, 400);
    assert!(
        q.error_message()
            .contains("Bulk operations for statements that return result sets")
    );
    s.sql("REFRESH TABLE t").ok();
    assert_eq!(*s.sql("SELECT count(*) FROM t").ok().scalar(), json!(2));
    // Bulk UPDATE and DELETE.
    let u = s
        .bulk(
            "UPDATE t SET v = ? WHERE id = ?",
            json!([["A", 1], ["B", 2], ["C", 3]]),
        )
        .ok();
    assert_eq!(
        u.body["results"],
        json!([{"rowcount": 1}, {"rowcount": 1}, {"rowcount": 0}])
    );
    assert_eq!(
        *s.sql("SELECT v FROM t WHERE id = 2").ok().scalar(),
        json!("B")
    );
}

#[test]
fn headers_gzip_and_trailing_semicolons() {
    let dir = TempDir::new("headers");
    let s = Server::start(&dir.0);
    s.sql("CREATE TABLE s1.t (x INT);").ok();
    // Default-Schema selects the schema of unqualified names.
    let r = s.post_raw(
        "",
        br#"{"stmt": "SELECT count(*) FROM t"}"#.to_vec(),
        &[("Default-Schema", "s1")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post_raw(
        "",
        br#"{"stmt": "SELECT current_schema"}"#.to_vec(),
        &[("Default-Schema", "s1")],
    );
    assert_eq!(*r.scalar(), json!("s1"));
    // A gzipped request body.
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(br#"{"stmt": "SELECT 40 + 2"}"#).unwrap();
    let r = s.post_raw("", enc.finish().unwrap(), &[("Content-Encoding", "gzip")]);
    assert_eq!(*r.scalar(), json!(42));
    // Parameters in both styles.
    let r = s.sql_args("SELECT ? + $2, $1", json!([1, 2]));
    assert_eq!(r.rows()[0], json!([3, 1]));
    // error_trace adds a trace to errors.
    let r = s.post_raw(
        "?error_trace=true",
        br#"{"stmt": "SELECT * FROM nope"}"#.to_vec(),
        &[],
    );
    assert!(r.body["error_trace"].is_string());
}

#[test]
fn refresh_semantics_over_http() {
    let dir = TempDir::new("refresh");
    let s = Server::start(&dir.0);
    s.sql("CREATE TABLE t (id INT PRIMARY KEY, v TEXT) WITH (refresh_interval = 0)")
        .ok();
    s.sql("INSERT INTO t (id, v) VALUES (1, 'a')").ok();
    // Invisible to searches before refresh...
    assert_eq!(*s.sql("SELECT count(*) FROM t").ok().scalar(), json!(0));
    // ...but a primary-key lookup sees it at once.
    assert_eq!(
        *s.sql("SELECT v FROM t WHERE id = 1").ok().scalar(),
        json!("a")
    );
    s.sql("REFRESH TABLE t").ok();
    assert_eq!(*s.sql("SELECT count(*) FROM t").ok().scalar(), json!(1));
    // The default refresh interval (1 s) refreshes on its own.
    s.sql("CREATE TABLE auto (id INT)").ok();
    s.sql("INSERT INTO auto (id) VALUES (1), (2)").ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while *s.sql("SELECT count(*) FROM auto").ok().scalar() != json!(2) {
        assert!(
            std::time::Instant::now() < deadline,
            "periodic refresh did not happen"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn statements_of_the_foundation() {
    let dir = TempDir::new("stmts");
    let s = Server::start(&dir.0);
    let ok = |stmt: &str| s.sql(stmt).ok();
    ok(
        "CREATE TABLE IF NOT EXISTS doc.people (id INT PRIMARY KEY, name TEXT NOT NULL, age SMALLINT, \
        tags TEXT[], profile OBJECT(DYNAMIC) AS (city TEXT), joined TIMESTAMP) \
        CLUSTERED BY (id) INTO 3 SHARDS WITH (number_of_replicas = '0-1', refresh_interval = 0, column_policy = 'dynamic')",
    );
    assert_eq!(
        s.sql("CREATE TABLE IF NOT EXISTS people (x INT)").ok().body["rowcount"],
        json!(0)
    );
    ok(
        "INSERT INTO people (id, name, age, tags, profile, joined) VALUES \
        (1, 'Arthur', 42, ['a', 'b'], {city = 'London'}, '2020-01-01'), \
        (2, 'Trillian', 30, ['b'], {city = 'Paris', planet = 'Earth'}, '2021-06-15T10:00:00'), \
        (3, 'Marvin', NULL, NULL, NULL, NULL)",
    );
    ok("REFRESH TABLE people");
    // The dynamic key became a column.
    let cols = ok(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'people' ORDER BY ordinal_position",
    );
    let names: Vec<&str> = cols.rows().iter().map(|r| r[0].as_str().unwrap()).collect();
    assert!(names.contains(&"profile['planet']"), "{names:?}");
    // ON CONFLICT
    ok(
        "INSERT INTO people (id, name, age) VALUES (1, 'Arthur Dent', 43) ON CONFLICT (id) DO UPDATE SET age = excluded.age",
    );
    ok("INSERT INTO people (id, name) VALUES (2, 'ignored') ON CONFLICT DO NOTHING");
    assert_eq!(
        ok("SELECT name, age FROM people WHERE id = 1").rows()[0],
        json!(["Arthur", 43])
    );
    assert_eq!(
        *ok("SELECT name FROM people WHERE id = 2").scalar(),
        json!("Trillian")
    );
    // INSERT INTO ... SELECT, UPDATE/DELETE by query and by key.
    ok("CREATE TABLE copy (id INT PRIMARY KEY, name TEXT) WITH (refresh_interval = 0)");
    assert_eq!(
        ok("INSERT INTO copy (id, name) (SELECT id, name FROM people WHERE age IS NOT NULL)").body
            ["rowcount"],
        json!(2)
    );
    ok("REFRESH TABLE people");
    assert_eq!(
        ok("UPDATE people SET age = age + 1 WHERE age > 35").body["rowcount"],
        json!(1)
    );
    assert_eq!(
        ok("UPDATE people SET profile['city'] = 'Berlin' WHERE id = 2").body["rowcount"],
        json!(1)
    );
    assert_eq!(
        *ok("SELECT profile['city'] FROM people WHERE id = 2").scalar(),
        json!("Berlin")
    );
    assert_eq!(
        ok("DELETE FROM people WHERE id = 3").body["rowcount"],
        json!(1)
    );
    ok("REFRESH TABLE people");
    // Optimistic concurrency control with _seq_no and _primary_term.
    let v = ok("SELECT _seq_no, _primary_term FROM people WHERE id = 1");
    let (seq, term) = (v.rows()[0][0].clone(), v.rows()[0][1].clone());
    let stale = s
        .sql_args(
            "UPDATE people SET age = 0 WHERE id = 1 AND _seq_no = ? AND _primary_term = ?",
            json!([seq.as_i64().unwrap() + 100, term]),
        )
        .ok();
    assert_eq!(stale.body["rowcount"], json!(0));
    let fresh = s
        .sql_args(
            "UPDATE people SET age = 50 WHERE id = 1 AND _seq_no = ? AND _primary_term = ?",
            json!([seq, term]),
        )
        .ok();
    assert_eq!(fresh.body["rowcount"], json!(1));
    // Queries.
    ok("REFRESH TABLE people");
    assert_eq!(ok("SELECT name FROM people WHERE name LIKE 'Ar%' OR name ILIKE 'tri%' ORDER BY name NULLS FIRST").rows().len(), 2);
    assert_eq!(
        *ok("SELECT count(*) FROM people WHERE 'b' = ANY(tags)").scalar(),
        json!(2)
    );
    assert_eq!(
        *ok("SELECT count(DISTINCT age) FROM people").scalar(),
        json!(2)
    );
    assert_eq!(
        ok("SELECT date_trunc('year', joined), extract(year FROM joined) FROM people WHERE id = 2")
            .rows()[0],
        json!([1609459200000i64, 2021])
    );
    assert_eq!(*ok("SELECT 1 + 1").scalar(), json!(2));
    ok("ALTER TABLE people ADD COLUMN email TEXT");
    ok("DROP TABLE people");
    ok("DROP TABLE IF EXISTS people");
    let missing = s.sql("DROP TABLE people");
    assert_eq!(missing.error_code(), Some(4041));
}

#[test]
fn introspection_tables() {
    let dir = TempDir::new("introspect");
    let s = Server::start(&dir.0);
    s.sql(
        "CREATE TABLE t (id INT PRIMARY KEY) CLUSTERED INTO 2 SHARDS WITH (number_of_replicas = 1)",
    )
    .ok();
    let r = s.sql("SELECT table_name, number_of_shards, number_of_replicas FROM information_schema.tables WHERE table_schema = 'doc'").ok();
    assert_eq!(r.rows()[0], json!(["t", 2, "1"]));
    let r = s
        .sql("SELECT schema_name FROM information_schema.schemata ORDER BY 1")
        .ok();
    assert!(r.rows().contains(&json!(["doc"])));
    let r = s.sql("SELECT name FROM sys.cluster").ok();
    assert_eq!(*r.scalar(), json!("Testing-CrateDB"));
    let r = s.sql("SELECT name FROM sys.nodes").ok();
    assert_eq!(*r.scalar(), json!("crate"));
    // One row per shard copy; the replicas cannot be placed on a single node.
    let r = s.sql("SELECT id, \"primary\", state, routing_state, node['name'], num_docs FROM sys.shards ORDER BY id, \"primary\" DESC").ok();
    assert_eq!(r.rows().len(), 4);
    assert_eq!(
        r.rows()[0],
        json!([0, true, "STARTED", "STARTED", "crate", 0])
    );
    assert_eq!(
        r.rows()[1],
        json!([0, false, "UNASSIGNED", "UNASSIGNED", null, null])
    );
    let r = s.sql("SELECT health, severity, underreplicated_shards FROM sys.health WHERE table_name = 't'").ok();
    assert_eq!(r.rows()[0], json!(["YELLOW", 2, 2]));
    s.sql("ALTER TABLE t SET (number_of_replicas = '0-1')").ok();
    assert_eq!(
        *s.sql("SELECT health FROM sys.health").ok().scalar(),
        json!("GREEN")
    );
    let r = s.sql("SELECT current_user, current_schema").ok();
    assert_eq!(r.rows()[0], json!(["crate", "doc"]));
    let r = s
        .sql("SELECT word FROM pg_catalog.pg_get_keywords() WHERE word = 'select'")
        .ok();
    assert_eq!(r.rows().len(), 1);
}

#[test]
fn copy_from_files_and_to_a_directory() {
    let dir = TempDir::new("copy");
    let files = TempDir::new("copy-files");
    let out = TempDir::new("copy-out");
    let roots = [files.0.to_str().unwrap(), out.0.to_str().unwrap()];
    let s = Server::start_with(&dir.0, &["--copy-root", roots[0], "--copy-root", roots[1]]);
    let a = files.0.join("part1.json");
    let b = files.0.join("part2.json");
    std::fs::write(
        &a,
        "{\"id\": 1, \"name\": \"a\", \"n\": 1}\n{\"id\": 2, \"name\": \"b\", \"n\": 2}\n",
    )
    .unwrap();
    std::fs::write(&b, "{\"id\": 3, \"name\": \"c\", \"n\": \"x\"}\nnot json\n{\"id\": 4, \"name\": \"d\", \"extra\": true}\n").unwrap();
    // CSV as spreadsheets write it: a byte order mark, CRLF line ends,
    // quoted fields holding a newline, a comma and doubled quotes.
    std::fs::write(
        files.0.join("other.csv"),
        "\u{feff}id,name,n\r\n5,\"e\r\nline two\",5\r\n6,\"f, \"\"g\"\"\",6\r\n",
    )
    .unwrap();
    s.sql("CREATE TABLE t (id INT PRIMARY KEY, name TEXT, n INT) WITH (refresh_interval = 0)")
        .ok();
    // A glob, a bad cast and a bad line are skipped; the dynamic column is added.
    let uri = format!("file://{}/part*.json", files.0.display());
    let r = s.sql(&format!("COPY t FROM '{uri}'")).ok();
    assert_eq!(r.body["rowcount"], json!(3));
    let r = s
        .sql(&format!(
            "COPY t FROM '{}/other.csv' WITH (format = 'csv') RETURN SUMMARY",
            files.0.display()
        ))
        .ok();
    assert_eq!((&r.rows()[0][2], &r.rows()[0][3]), (&json!(2), &json!(0)));
    let summary = s.sql(&format!("COPY t FROM '{uri}' RETURN SUMMARY")).ok();
    // Everything there is a duplicate or an error now.
    assert_eq!(summary.rows().len(), 2);
    assert_eq!(summary.rows()[1][3], json!(3));
    s.sql("REFRESH TABLE t").ok();
    assert_eq!(s.sql("SELECT id FROM t ORDER BY id").ok().rows().len(), 5);
    assert_eq!(
        *s.sql("SELECT extra FROM t WHERE id = 4").ok().scalar(),
        json!(true)
    );
    assert_eq!(
        s.sql("SELECT name FROM t WHERE id IN (5, 6) ORDER BY id")
            .ok()
            .rows(),
        &vec![json!(["e\r\nline two"]), json!(["f, \"g\""])]
    );
    // Export: one file per shard, JSON lines of the rows.
    let r = s
        .sql(&format!("COPY t TO DIRECTORY '{}'", out.0.display()))
        .ok();
    assert_eq!(r.body["rowcount"], json!(5));
    let mut lines = 0;
    for e in std::fs::read_dir(&out.0).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["id"].is_i64());
            lines += 1;
        }
    }
    assert_eq!(lines, 5);
    assert_eq!(
        s.sql("COPY t FROM 'relative/path.json'").error_code(),
        Some(4000)
    );
}
