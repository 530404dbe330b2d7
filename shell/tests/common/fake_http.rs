//! A tiny HTTP server on a loopback port that answers with a closure: enough of CrateDB's
//! `GET /` and `POST /_sql` to test the HTTP backend and the binary without a real server.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path with query, e.g. `/_sql?types=true`.
    pub path: String,
    /// Lower-case header names.
    pub headers: HashMap<String, String>,
    /// The body as text.
    pub body: String,
}

impl Request {
    /// The `stmt` of a `/_sql` body.
    pub fn stmt(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("stmt").and_then(|s| s.as_str()).map(str::to_string))
            .unwrap_or_default()
    }
}

type Handler = dyn Fn(&Request) -> (u16, String) + Send + Sync;

/// A running fake server (it lives until the test process ends).
pub struct FakeHttp {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeHttp {
    /// Starts a server answering every request with `handler`.
    pub fn start(handler: impl Fn(&Request) -> (u16, String) + Send + Sync + 'static) -> FakeHttp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(req) = read_request(&mut stream) else {
                    continue;
                };
                seen.lock().expect("lock").push(req.clone());
                let (status, body) = handler(&req);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        FakeHttp { addr, requests }
    }

    /// A CrateDB-like server: `GET /` names the node, `/_sql` answers with `sql`.
    pub fn crate_like(
        node: &'static str,
        sql: impl Fn(&Request) -> (u16, String) + Send + Sync + 'static,
    ) -> FakeHttp {
        FakeHttp::start(move |req| {
            if req.method == "GET" {
                (
                    200,
                    format!(
                        r#"{{"ok":true,"status":200,"name":"{node}","cluster_name":"c","version":{{"number":"5.10.0"}}}}"#
                    ),
                )
            } else {
                sql(req)
            }
        })
    }

    /// All requests so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The statements received so far.
    pub fn statements(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.method == "POST")
            .map(Request::stmt)
            .collect()
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let mut parts = first.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A free loopback port nobody listens on.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1)
}
