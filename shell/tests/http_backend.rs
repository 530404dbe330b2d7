//! The HTTP backend against fake CrateDB servers: request shape (`?types`,
//! `error_trace`, `Default-Schema`, body), response and error parsing, round-robin over
//! hosts and fail-over when a host does not answer.

mod common;

use std::time::Duration;

use common::fake_http::{FakeHttp, closed_port};
use shoal_shell::backend::http::{HttpBackend, HttpOptions};
use shoal_shell::backend::{Backend, BackendError};
use shoal_shell::hosts::parse_hosts;

fn ok_one() -> (u16, String) {
    (
        200,
        r#"{"cols":["x"],"col_types":[9],"rows":[[1]],"rowcount":1,"duration":0.25}"#.to_string(),
    )
}

fn backend(addrs: &[String], opts: HttpOptions) -> HttpBackend {
    HttpBackend::new(&parse_hosts(addrs).expect("hosts"), &opts)
}

#[test]
fn sends_crates_request_and_parses_results() {
    let fake = FakeHttp::crate_like("n1", |_| ok_one());
    let opts = HttpOptions {
        schema: Some("myschema".into()),
        ..HttpOptions::default()
    };
    let b = backend(std::slice::from_ref(&fake.addr), opts);
    let resp = b.execute("select 1;").expect("response");
    assert_eq!(resp.cols, vec!["x"]);
    assert_eq!(resp.row_slice(), &[vec![serde_json::json!(1)]]);
    assert_eq!(resp.cursor_rowcount(), 1);
    assert_eq!(resp.duration_ms(), 0.25);
    let req = fake.requests().pop().expect("request");
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/_sql?types=true");
    assert_eq!(req.stmt(), "select 1;");
    assert_eq!(
        req.headers.get("default-schema").map(String::as_str),
        Some("myschema")
    );
    assert_eq!(
        req.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );

    b.set_error_trace(true);
    b.execute("select 2").expect("response");
    assert_eq!(
        fake.requests().pop().expect("request").path,
        "/_sql?types=true&error_trace=true"
    );
}

#[test]
fn parses_errors_verbatim() {
    let fake = FakeHttp::crate_like("n1", |_| {
        (404, r#"{"error":{"message":"SchemaUnknownException[Schema 'foo' unknown]","code":4045},"error_trace":"trace"}"#.into())
    });
    let b = backend(std::slice::from_ref(&fake.addr), HttpOptions::default());
    assert_eq!(
        b.execute("select * from foo.t"),
        Err(BackendError::Sql {
            message: "SchemaUnknownException[Schema 'foo' unknown]".into(),
            code: 4045,
            error_trace: Some("trace".into())
        })
    );
    let junk = FakeHttp::crate_like("n1", |_| (500, "<html>oops</html>".into()));
    let b = backend(std::slice::from_ref(&junk.addr), HttpOptions::default());
    match b.execute("select 1") {
        Err(BackendError::Protocol(m)) => {
            assert!(m.contains("HTTP 500") && m.contains("oops"), "{m}")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn round_robin_and_fail_over() {
    let a = FakeHttp::crate_like("a", |_| ok_one());
    let b = FakeHttp::crate_like("b", |_| ok_one());
    let dead = format!("127.0.0.1:{}", closed_port());
    let opts = HttpOptions {
        connect_timeout: Some(Duration::from_secs(2)),
        ..HttpOptions::default()
    };
    let backend = backend(&[a.addr.clone(), dead.clone(), b.addr.clone()], opts);
    for i in 0..6 {
        backend
            .execute(&format!("select {i}"))
            .expect("a live server answers");
    }
    let (na, nb) = (a.statements().len(), b.statements().len());
    assert_eq!(na + nb, 6);
    assert!(
        na >= 2 && nb >= 2,
        "requests spread over both live servers: a={na} b={nb}"
    );

    let infos = backend.server_infos();
    assert_eq!(infos.len(), 3);
    assert_eq!(infos.iter().filter(|i| i.connected).count(), 2);
    let down = infos.iter().find(|i| !i.connected).expect("dead server");
    assert_eq!(down.server_url, format!("http://{dead}"));
    assert_eq!(down.version, "0.0.0");
    assert!(
        down.message
            .starts_with("Server not available, exception: "),
        "{}",
        down.message
    );
}

#[test]
fn unavailable_servers_are_skipped_and_named() {
    let busy = FakeHttp::crate_like("busy", |_| {
        (
            503,
            r#"{"error":{"message":"no master","code":5031}}"#.into(),
        )
    });
    let ok = FakeHttp::crate_like("ok", |_| ok_one());
    let b = backend(
        &[busy.addr.clone(), ok.addr.clone()],
        HttpOptions::default(),
    );
    b.execute("select 1")
        .expect("fails over to the healthy server");
    b.execute("select 1")
        .expect("fails over to the healthy server");

    let dead1 = format!("127.0.0.1:{}", closed_port());
    let dead2 = format!("127.0.0.1:{}", closed_port());
    let b = backend(&[dead1.clone(), dead2.clone()], HttpOptions::default());
    match b.execute("select 1") {
        Err(BackendError::Connection(m)) => {
            assert!(m.starts_with("No server available: "), "{m}");
            assert!(
                m.contains(&format!("http://{dead1}")) && m.contains(&format!("http://{dead2}")),
                "{m}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}
