//! CrateDB's HTTP protocol: `POST /_sql` and `GET /`.
//!
//! Request and response shapes, type ids and error bodies follow CrateDB
//! exactly (see docs/http.md), so that `crash`, the `crate` Python client and
//! other CrateDB clients work unmodified.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

use crate::error::Error;
use crate::node::{Node, QueryResult, Session};
use crate::types::json::to_json_typed;
use crate::types::{DataType, Value};

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    pub node: Arc<Node>,
    pub max_content_length: usize,
    /// How long a client has to send a request's body.
    pub body_timeout: std::time::Duration,
}

fn json_response(status: StatusCode, body: &Json) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

fn error_body(e: &Error, trace: bool) -> Json {
    let mut body = json!({"error": {"message": e.to_string(), "code": e.code()}});
    if trace {
        body["error_trace"] = json!(format!("{e:?}"));
    }
    body
}

fn error_response(e: &Error, trace: bool) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &error_body(e, trace))
}

fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v.is_empty() || v.eq_ignore_ascii_case("true"))
}

/// Reads the request body, decompressing gzip, within the size limit; a
/// decompressed body is accounted on `memory` too.
fn read_body<'b>(
    headers: &HeaderMap,
    bytes: &'b [u8],
    limit: usize,
    memory: &crate::breaker::MemoryAccount,
) -> Result<std::borrow::Cow<'b, [u8]>, Error> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gzip {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    let mut dec = flate2::read::GzDecoder::new(bytes).take(limit as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| Error::InvalidArgument(format!("invalid gzip request body: {e}")))?;
    if out.len() > limit {
        return Err(Error::TooLarge(format!(
            "request body exceeds the limit of {limit} bytes"
        )));
    }
    memory.reserve(out.len() as u64, "http request")?;
    Ok(std::borrow::Cow::Owned(out))
}

#[derive(Debug)]
struct SqlRequest {
    stmt: String,
    args: Vec<Value>,
    bulk_args: Option<Vec<Vec<Value>>>,
}

/// The request body as sent; values are parsed straight into [`Value`]s.
#[derive(serde::Deserialize)]
struct RawRequest {
    stmt: Option<Json>,
    #[serde(default)]
    args: Option<Value>,
    #[serde(default)]
    bulk_args: Option<BulkArgs>,
}

/// `bulk_args` as sent. Rows are parsed one by one into vectors allocated
/// at the previous row's length: a bulk request's rows nearly always have
/// one length, and growing each row's vector from empty allocated it twice.
enum BulkArgs {
    Rows(Vec<Vec<Value>>),
    /// An array with an element that is not an array.
    NotArrayOfArrays,
    NotArray,
}

impl<'de> serde::Deserialize<'de> for BulkArgs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<BulkArgs, D::Error> {
        d.deserialize_any(BulkVisitor)
    }
}

/// Visits `bulk_args`: anything but an array (or null) is [`BulkArgs::NotArray`].
struct BulkVisitor;

/// Visits one row of `bulk_args`, expecting `width` values; `None` if it is
/// not an array.
struct RowVisitor {
    width: usize,
}

/// Implements every non-array visit of a visitor as `$value`, consuming
/// whatever was there.
macro_rules! not_an_array {
    ($value:expr) => {
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            while map
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok($value)
        }
    };
}

impl<'de> serde::de::Visitor<'de> for BulkVisitor {
    type Value = BulkArgs;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of arrays")
    }

    not_an_array!(BulkArgs::NotArray);

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<BulkArgs, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        let mut width = 0;
        let mut all_arrays = true;
        while let Some(row) = seq.next_element_seed(RowVisitor { width })? {
            match row {
                Some(row) => {
                    width = row.len();
                    rows.push(row);
                }
                None => all_arrays = false,
            }
        }
        Ok(if all_arrays {
            BulkArgs::Rows(rows)
        } else {
            BulkArgs::NotArrayOfArrays
        })
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for RowVisitor {
    type Value = Option<Vec<Value>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for RowVisitor {
    type Value = Option<Vec<Value>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array")
    }

    not_an_array!(None);

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut row = Vec::with_capacity(self.width.min(4096));
        while let Some(v) = seq.next_element::<Value>()? {
            row.push(v);
        }
        Ok(Some(row))
    }
}

fn parse_request(body: &[u8]) -> Result<SqlRequest, Error> {
    // The message names where parsing failed, not what the body held: an
    // error must not echo a client's (possibly huge, possibly secret) body.
    let raw: RawRequest = serde_json::from_slice(body).map_err(|e| {
        Error::InvalidArgument(format!(
            "Failed to parse source ({} bytes of JSON, not repeated here): {e}",
            body.len()
        ))
    })?;
    let stmt = match raw.stmt {
        Some(Json::String(s)) => s,
        Some(_) => {
            return Err(Error::InvalidArgument(
                "Field [stmt] must be a string".into(),
            ));
        }
        None => return Err(Error::InvalidArgument("Field [stmt] was not found".into())),
    };
    let args = match raw.args {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(Error::InvalidArgument(
                "Field [args] must be an array".into(),
            ));
        }
    };
    let bulk_args = match raw.bulk_args {
        None => None,
        Some(BulkArgs::Rows(rows)) => Some(rows),
        Some(BulkArgs::NotArrayOfArrays) => {
            return Err(Error::InvalidArgument(
                "Field [bulk_args] must be an array of arrays".into(),
            ));
        }
        Some(BulkArgs::NotArray) => {
            return Err(Error::InvalidArgument(
                "Field [bulk_args] must be an array".into(),
            ));
        }
    };
    if !args.is_empty() && bulk_args.as_ref().is_some_and(|b| !b.is_empty()) {
        return Err(Error::InvalidArgument(
            "request body contains args and bulk_args. It's forbidden to provide both".into(),
        ));
    }
    Ok(SqlRequest {
        stmt,
        args,
        bulk_args,
    })
}

/// The bulk response, written directly (it can have many thousands of entries).
fn bulk_json(results: &[Result<i64, Error>], duration_ms: f64) -> String {
    let mut out = String::with_capacity(32 + results.len() * 16);
    out.push_str("{\"cols\":[],\"duration\":");
    out.push_str(&json!(duration_ms).to_string());
    out.push_str(",\"results\":[");
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match r {
            Ok(n) => {
                out.push_str("{\"rowcount\":");
                out.push_str(itoa::Buffer::new().format(*n));
                out.push('}');
            }
            Err(e) => out.push_str(
                &json!({"rowcount": -2, "error": {"code": e.code(), "message": e.to_string()}})
                    .to_string(),
            ),
        }
    }
    out.push_str("]}");
    out
}

/// The response to a statement, written directly: a result set can have
/// millions of values, and a JSON tree of them would take several times
/// their memory. What the text takes is accounted on `memory` as it grows.
fn result_body(
    r: &QueryResult,
    types: bool,
    duration_ms: f64,
    memory: &crate::breaker::MemoryAccount,
) -> Result<String, Error> {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(64 + r.rows.len() * 16);
    out.push_str("{\"cols\":");
    out.push_str(&json!(r.cols).to_string());
    if types {
        out.push_str(",\"col_types\":");
        out.push_str(&Json::Array(r.types.iter().map(DataType::type_id).collect()).to_string());
    }
    out.push_str(",\"rows\":[");
    let mut accounted = 0usize;
    if r.is_query() {
        for (i, row) in r.rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            for (j, (v, t)) in row.iter().zip(&r.types).enumerate() {
                if j > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}", to_json_typed(v, t));
            }
            out.push(']');
            if out.len() - accounted > 1 << 20 {
                memory.reserve((out.len() - accounted) as u64, "http response")?;
                accounted = out.len();
            }
        }
    } else {
        out.push_str("[]");
    }
    let _ = write!(
        out,
        "],\"rowcount\":{},\"duration\":{}}}",
        r.rowcount,
        json!(duration_ms)
    );
    Ok(out)
}

/// `POST /_sql`.
///
/// The body is read within the size limit and the body timeout, and
/// accounted on the request breaker. Large bodies are parsed, and large
/// results written, off the async workers, as the engine runs its heavy
/// work (see `exec`): a short statement is answered on the worker, without
/// a thread hop, and a long one does not hold a worker.
pub async fn sql(
    State(state): State<HttpState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = std::time::Instant::now();
    let trace = flag(&params, "error_trace");
    let types = flag(&params, "types");
    let read = real_tokio::time::timeout(
        state.body_timeout,
        axum::body::to_bytes(body, state.max_content_length),
    )
    .await;
    let bytes: Bytes = match read {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            let e = Error::TooLarge(format!(
                "request body exceeds the limit of {} bytes (http.max_content_length)",
                state.max_content_length
            ));
            return error_response(&e, trace);
        }
        Err(_) => {
            let e = Error::InvalidArgument(format!(
                "the request body did not arrive within {} s",
                state.body_timeout.as_secs_f64()
            ));
            return error_response(&e, trace);
        }
    };
    let node = state.node.clone();
    // The body, and later the response, are held on the request breaker.
    let request = Arc::new(crate::breaker::MemoryAccount::new(
        node.breakers.request.clone(),
    ));
    if let Err(e) = request.reserve(bytes.len() as u64, "http request") {
        return error_response(&e, trace);
    }
    let mut session = Session::default();
    if let Some(schema) = headers.get("default-schema").and_then(|v| v.to_str().ok())
        && !schema.is_empty()
    {
        session.default_schema = schema.to_string();
    }
    if let Some(user) = headers.get("x-user").and_then(|v| v.to_str().ok()) {
        session.user = user.to_string();
    }
    let limit = state.max_content_length;
    // Large bodies are decompressed and parsed off the async workers.
    let parsed = if bytes.len() <= OFFLOAD_BODY_BYTES {
        read_body(&headers, &bytes, limit, &request).and_then(|b| parse_request(&b))
    } else {
        let request = request.clone();
        offload(move || {
            read_body(&headers, &bytes, limit, &request).and_then(|b| parse_request(&b))
        })
        .await
    };
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return error_response(&e, trace),
    };
    let ok = |body: String| {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
            body,
        )
            .into_response()
    };
    match req.bulk_args {
        Some(bulk) => match node.execute_bulk(&session, &req.stmt, bulk).await {
            Ok(results) => ok(bulk_json(
                &results,
                started.elapsed().as_secs_f64() * 1000.0,
            )),
            Err(e) => error_response(&e, trace),
        },
        None => match node.execute(&session, &req.stmt, req.args).await {
            Ok(r) => {
                let duration = started.elapsed().as_secs_f64() * 1000.0;
                // A large result is written off the async workers.
                let body = if r.rows.len() <= crate::exec::OFFLOAD_ROWS {
                    result_body(&r, types, duration, &request)
                } else {
                    offload(move || result_body(&r, types, duration, &request)).await
                };
                match body {
                    Ok(body) => ok(body),
                    Err(e) => error_response(&e, trace),
                }
            }
            Err(e) => error_response(&e, trace),
        },
    }
}

/// Bodies longer than this are parsed off the async workers. A megabyte of
/// JSON parses in a few milliseconds; below that the hop to a blocking
/// thread is not worth it: a bulk insert's rows would be allocated there
/// and freed on a worker, and the common 1,000-row bulk body (~100 KB)
/// would pay a thread switch per request.
const OFFLOAD_BODY_BYTES: usize = 1 << 20;

/// Runs `f` on a blocking thread.
async fn offload<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, Error> + Send + 'static,
) -> Result<R, Error> {
    real_tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("a blocking task failed: {e}")))?
}

/// `GET /` and `HEAD /`: node information, pretty-printed as CrateDB does.
pub async fn root(State(state): State<HttpState>) -> Response {
    let node = &state.node;
    let body = format!(
        "{{\n  \"ok\" : true,\n  \"status\" : 200,\n  \"name\" : {},\n  \"cluster_name\" : {},\n  \"version\" : {{\n    \"number\" : \"{}\",\n    \"build_hash\" : \"shoal-{}\",\n    \"build_timestamp\" : \"\",\n    \"build_snapshot\" : false,\n    \"lucene_version\" : \"tantivy-0.27\"\n  }}\n}}\n",
        Json::String(node.config.node_name.clone()),
        Json::String(node.config.cluster_name.clone()),
        crate::VERSION,
        env!("CARGO_PKG_VERSION"),
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        body,
    )
        .into_response()
}

/// Anything else.
pub async fn not_found() -> Response {
    let e = Error::InvalidArgument("no handler found for this request".into());
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": {"message": e.to_string(), "code": 4040}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_parsing_rejects_bad_bodies() {
        assert_eq!(parse_request(b"{").unwrap_err().code(), 4000);
        assert!(parse_request(b"[]").is_err());
        assert!(parse_request(b"{\"args\": []}").is_err());
        let both = br#"{"stmt": "x", "args": [1], "bulk_args": [[1]]}"#;
        assert!(
            parse_request(both)
                .unwrap_err()
                .to_string()
                .contains("forbidden to provide both")
        );
        let ok = parse_request(br#"{"stmt": "select ?", "args": [1]}"#).unwrap();
        assert_eq!(ok.args, vec![Value::Int(1)]);
    }

    #[test]
    fn bulk_args_are_arrays_of_arrays() {
        let error = |body: &[u8]| parse_request(body).unwrap_err().to_string();
        for body in [
            &br#"{"stmt": "x", "bulk_args": 1}"#[..],
            br#"{"stmt": "x", "bulk_args": "a"}"#,
            br#"{"stmt": "x", "bulk_args": {"a": [1]}}"#,
        ] {
            assert!(error(body).contains("must be an array"), "{}", error(body));
        }
        for body in [
            &br#"{"stmt": "x", "bulk_args": [[1], 2]}"#[..],
            br#"{"stmt": "x", "bulk_args": [null]}"#,
            br#"{"stmt": "x", "bulk_args": [[1], {"a": [1, 2]}, [3]]}"#,
        ] {
            assert!(
                error(body).contains("must be an array of arrays"),
                "{}",
                error(body)
            );
        }
        assert!(error(br#"{"stmt": "x", "bulk_args": [[1], [2"#).contains("Failed to parse"));
        let secret = br#"{"stmt": "select 'hunter2'", oops}"#;
        let e = error(secret);
        assert!(
            e.contains("Failed to parse") && !e.contains("hunter2"),
            "{e}"
        );
        let rows =
            parse_request(br#"{"stmt": "x", "bulk_args": [[1, "a"], [], [null, [2], {"b": 3}]]}"#)
                .unwrap()
                .bulk_args
                .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], vec![Value::Int(1), Value::Text("a".into())]);
        assert!(rows[1].is_empty());
        assert_eq!(rows[2][1], Value::Array(vec![Value::Int(2)]));
        let none = parse_request(br#"{"stmt": "x", "bulk_args": null}"#).unwrap();
        assert!(none.bulk_args.is_none());
    }
}
