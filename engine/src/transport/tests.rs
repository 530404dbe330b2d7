//! The transport over real loopback TCP (the simulator runs the same code
//! over simulated TCP).
#![cfg(not(madsim))]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use serde::{Deserialize, Serialize};

use super::*;
use crate::error::{Error, Result};

/// What the test nodes say to each other.
#[derive(Debug, Serialize, Deserialize)]
enum Payload {
    Ping,
    Pong,
    Shard(Box<crate::request::ShardRequest>),
    ShardResponse(crate::request::ShardResponse),
}

fn node(cluster: &str, name: &str) -> NodeInfo {
    NodeInfo {
        cluster_name: cluster.into(),
        node_id: format!("id-{name}"),
        node_name: name.into(),
    }
}

/// Answers `Ping` with `Pong`; a `Shard` request sleeps as long as its
/// table's shard number says (in milliseconds) and answers it back.
struct Echo;

impl Handler<Payload> for Echo {
    async fn handle(&self, _from: &NodeInfo, payload: Payload) -> Result<Payload> {
        match payload {
            Payload::Ping => Ok(Payload::Pong),
            Payload::Shard(request) => {
                let crate::request::ShardRequest::Get { shard, ids } = *request else {
                    return Err(Error::Unsupported("not in this test".into()));
                };
                tokio::time::sleep(Duration::from_millis(shard.shard as u64)).await;
                let docs = ids
                    .into_iter()
                    .map(|id| crate::storage::StoredDoc {
                        id,
                        seq_no: shard.shard as u64,
                        version: 1,
                        primary_term: 1,
                        source: Default::default(),
                    })
                    .collect();
                Ok(Payload::ShardResponse(crate::request::ShardResponse::Docs(
                    docs,
                )))
            }
            _ => Err(Error::Unsupported("not in this test".into())),
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn listen() -> Listener {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Listener::bind(addr, node("shoal", "n1"), Arc::new(Echo))
        .await
        .unwrap()
}

const LIMIT: Duration = Duration::from_secs(5);

/// A connection to `listener` as node n2.
async fn connect(listener: &Listener) -> Connection<Payload> {
    Connection::<Payload>::connect(listener.local_addr(), &node("shoal", "n2"), LIMIT)
        .await
        .unwrap()
}

/// A `Get` of `ids` that [`Echo`] answers after `millis` milliseconds.
fn get_taking(millis: u32, ids: Vec<String>) -> Payload {
    let shard = crate::request::ShardId {
        table: crate::catalog::TableIdent::new("doc", "t"),
        uuid: "u".into(),
        shard: millis,
    };
    Payload::Shard(Box::new(crate::request::ShardRequest::Get { shard, ids }))
}

#[test]
fn requests_are_answered_and_matched_by_id_in_any_order() {
    runtime().block_on(async {
        let listener = listen().await;
        let conn = connect(&listener).await;
        assert_eq!(conn.peer().node_name, "n1");
        assert!(matches!(
            conn.request(Payload::Ping, LIMIT).await,
            Ok(Payload::Pong)
        ));
        // The slower requests go first; each caller gets its own answer.
        let conn = Arc::new(conn);
        let mut calls = Vec::new();
        for delay in [40u32, 30, 20, 10, 0] {
            let conn = conn.clone();
            calls.push(tokio::spawn(async move {
                let get = get_taking(delay, vec![format!("id{delay}")]);
                (delay, conn.request(get, LIMIT).await)
            }));
        }
        for call in calls {
            let (delay, answer) = call.await.unwrap();
            match answer {
                Ok(Payload::ShardResponse(crate::request::ShardResponse::Docs(docs))) => {
                    assert_eq!(docs[0].id, format!("id{delay}"));
                    assert_eq!(docs[0].seq_no, delay as u64);
                }
                other => panic!("unexpected answer {other:?}"),
            }
        }
    });
}

#[test]
fn another_clusters_node_is_refused() {
    let log = crate::test_log::Capture::new();
    log.runtime().block_on(async {
        let listener = listen().await;
        let err = Connection::<Payload>::connect(listener.local_addr(), &node("other", "x"), LIMIT)
            .await
            .err()
            .expect("refused");
        assert!(
            err.to_string()
                .contains("remote cluster name [other] does not match local cluster name [shoal]"),
            "{err}"
        );
    });
    // The refusing node says why, naming the stranger.
    let lines = log.text();
    assert!(
        lines.contains("WARN")
            && lines.contains("node=x")
            && lines.contains("[other] does not match"),
        "{lines}"
    );
}

#[test]
fn a_request_that_takes_too_long_times_out_and_the_connection_goes_on() {
    runtime().block_on(async {
        let listener = listen().await;
        let conn = connect(&listener).await;
        let err = conn
            .request(get_taking(500, vec![]), Duration::from_millis(50))
            .await
            .expect_err("timeout");
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(matches!(
            conn.request(Payload::Ping, LIMIT).await,
            Ok(Payload::Pong)
        ));
    });
}

/// A request that runs longer than the limit is waited for while the other
/// side answers the connection's pings: the limit bounds silence, not work.
#[test]
fn a_long_request_on_a_live_node_is_waited_for() {
    runtime().block_on(async {
        let listener = listen().await;
        let conn = connect(&listener).await;
        let answer = conn
            .request(
                get_taking(2500, vec!["x".into()]),
                Duration::from_millis(1500),
            )
            .await;
        assert!(
            matches!(answer, Ok(Payload::ShardResponse(_))),
            "{answer:?}"
        );
    });
}

#[test]
fn garbage_closes_only_its_own_connection() {
    let log = crate::test_log::Capture::new();
    log.runtime().block_on(async {
        let listener = listen().await;
        let addr = listener.local_addr();
        // A huge claimed length, an unknown version, a truncated frame.
        for bytes in [
            vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3],
            vec![0, 0, 0, 2, 99, 0],
            vec![0, 0, 0, 50, super::FRAME_VERSION, 1, 2],
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        ] {
            let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
            raw.write_all(&bytes).await.unwrap();
            drop(raw);
        }
        let conn = Connection::<Payload>::connect(addr, &node("shoal", "n2"), LIMIT)
            .await
            .unwrap();
        assert!(matches!(
            conn.request(Payload::Ping, LIMIT).await,
            Ok(Payload::Pong)
        ));
        // The bad connections are served on their own tasks: give them time.
        for _ in 0..200 {
            if log.text().matches("transport connection closed").count() >= 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    // Each bad connection is closed with a line saying what was wrong.
    let lines = log.text();
    for reason in ["invalid length", "version", "truncated"] {
        assert!(
            lines.contains("transport connection closed") && lines.contains(reason),
            "{reason}: {lines}"
        );
    }
}

#[test]
fn frames_reject_bad_lengths_versions_and_truncation() {
    runtime().block_on(async {
        async fn read(bytes: &[u8]) -> Result<Option<Message<Payload>>> {
            let mut r = bytes;
            read_frame::<_, Message<Payload>>(&mut r).await
        }
        assert!(
            read(&[]).await.unwrap().is_none(),
            "a clean end between frames"
        );
        let too_long = read(&[0xff, 0xff, 0xff, 0xff]).await.unwrap_err();
        assert!(
            too_long.to_string().contains("invalid length"),
            "{too_long}"
        );
        let version = read(&[0, 0, 0, 2, 9, 0]).await.unwrap_err();
        assert!(
            version.to_string().contains("version 9 is not supported"),
            "{version}"
        );
        let short = read(&[0, 0, 0, 9, super::FRAME_VERSION, 1])
            .await
            .unwrap_err();
        assert!(short.to_string().contains("truncated"), "{short}");
        // A large claimed length with little behind it is truncated, not a
        // buffer of the claimed size.
        let claimed = read(&[0x0c, 0, 0, 0, super::FRAME_VERSION, 1, 2])
            .await
            .unwrap_err();
        assert!(claimed.to_string().contains("truncated: 2 of"), "{claimed}");
        // A frame written is read back.
        let mut buf = Vec::new();
        write_frame(
            &mut buf,
            &Message::Request {
                id: 7,
                payload: Payload::Ping,
            },
        )
        .await
        .unwrap();
        match read(&buf).await.unwrap() {
            Some(Message::Request {
                id: 7,
                payload: Payload::Ping,
            }) => {}
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn dropping_the_listener_keeps_open_connections_and_refuses_new_ones() {
    runtime().block_on(async {
        let listener = listen().await;
        let conn = connect(&listener).await;
        drop(listener);
        // The accepted connection lives on in its own task: the listener
        // going away stops new connections only.
        assert!(matches!(
            conn.request(Payload::Ping, LIMIT).await,
            Ok(Payload::Pong)
        ));
        let refused = Connection::<Payload>::connect(
            conn_addr_of_nothing(),
            &node("shoal", "n3"),
            Duration::from_millis(500),
        )
        .await;
        assert!(refused.is_err());
    });
}

/// An address nothing listens on.
fn conn_addr_of_nothing() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}
