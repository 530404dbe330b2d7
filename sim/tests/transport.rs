//! The transport over madsim's simulated TCP: the same code the real server
//! runs, between simulated nodes, with the network cut and healed.
#![cfg(madsim)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::Handle;
use serde::{Deserialize, Serialize};
use shoal_engine::error::{Error, Result};
use shoal_engine::transport::{Connection, Handler, Listener, NodeInfo, Peers};

#[derive(Debug, Serialize, Deserialize)]
enum Payload {
    Ping,
    Pong,
}

struct Pong;

impl Handler<Payload> for Pong {
    async fn handle(&self, _from: &NodeInfo, payload: Payload) -> Result<Payload> {
        match payload {
            Payload::Ping => Ok(Payload::Pong),
            other => Ok(other),
        }
    }
}

fn info(cluster: &str, name: &str) -> NodeInfo {
    NodeInfo {
        cluster_name: cluster.into(),
        node_id: format!("id-{name}"),
        node_name: name.into(),
    }
}

const LIMIT: Duration = Duration::from_secs(1);

#[madsim::test]
async fn nodes_talk_refuse_strangers_and_survive_a_cut_link() {
    let handle = Handle::current();
    let ip1 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let ip2 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let addr = SocketAddr::new(ip1, 4300);
    let n1 = handle.create_node().name("n1").ip(ip1).build();
    let n2 = handle.create_node().name("n2").ip(ip2).build();
    n1.spawn(async move {
        let listener = Listener::bind(addr, info("sim", "n1"), Arc::new(Pong))
            .await
            .unwrap();
        std::future::pending::<()>().await;
        drop(listener);
    });
    madsim::time::sleep(Duration::from_millis(10)).await;
    let (id1, id2) = (n1.id(), n2.id());
    n2.spawn(async move {
        let conn = Connection::<Payload>::connect(addr, &info("sim", "n2"), LIMIT)
            .await
            .unwrap();
        assert_eq!(conn.peer().node_name, "n1");
        assert!(matches!(
            conn.request(Payload::Ping, LIMIT).await,
            Ok(Payload::Pong)
        ));

        let stranger = Connection::<Payload>::connect(addr, &info("other", "x"), LIMIT).await;
        let err = stranger.err().expect("another cluster is refused");
        assert!(
            err.to_string()
                .contains("does not match local cluster name [sim]"),
            "{err}"
        );

        // A cut link: requests time out instead of hanging.
        NetSim::current().clog_link(id2, id1);
        NetSim::current().clog_link(id1, id2);
        let cut = conn
            .request(Payload::Ping, Duration::from_millis(200))
            .await;
        assert!(cut.unwrap_err().to_string().contains("timed out"));
        // Healed: a new connection answers again.
        NetSim::current().unclog_link(id2, id1);
        NetSim::current().unclog_link(id1, id2);
        let again = Connection::<Payload>::connect(addr, &info("sim", "n2"), LIMIT)
            .await
            .unwrap();
        assert!(matches!(
            again.request(Payload::Ping, LIMIT).await,
            Ok(Payload::Pong)
        ));
    })
    .await
    .unwrap();
}

/// A node's process dies and comes back at the same address, as in the
/// property soak's case set 17 (seed 988504): answers the dead process sent
/// while a partition held them are still on their way (the network retries
/// them with a backoff of up to 10 s), so the connection's reads wait on
/// while its writes fail at once. Requests must reach the new process, not
/// fail on that half-open connection ("the connection to node [n1] is
/// closed") until its reads end; and the failure is the node's being out of
/// reach, which does not use up a copy's allocation retries.
#[madsim::test]
async fn peers_reach_a_restarted_node_past_a_half_open_connection() {
    let handle = Handle::current();
    let ip1 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let ip2 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let addr = SocketAddr::new(ip1, 4300);
    let n1 = handle
        .create_node()
        .name("n1")
        .ip(ip1)
        .init(move || async move {
            let listener = Listener::bind(addr, info("sim", "n1"), Arc::new(Pong))
                .await
                .unwrap();
            std::future::pending::<()>().await;
            drop(listener);
        })
        .build();
    let n2 = handle.create_node().name("n2").ip(ip2).build();
    let (id1, id2) = (n1.id(), n2.id());
    madsim::time::sleep(Duration::from_millis(10)).await;
    let peers = Arc::new(Peers::<Payload>::new(info("sim", "n2")));
    let ping = move |peers: Arc<Peers<Payload>>| async move {
        peers.request(addr, Payload::Ping, LIMIT).await
    };
    assert!(matches!(
        n2.spawn(ping(peers.clone())).await.unwrap(),
        Ok(Payload::Pong)
    ));

    // n1's answer is held by the cut link long enough for the network's
    // retries to back off to their longest wait.
    NetSim::current().clog_link(id1, id2);
    let held = n2.spawn(ping(peers.clone())).await.unwrap();
    assert!(held.unwrap_err().to_string().contains("timed out"));
    madsim::time::sleep(Duration::from_secs(17)).await;
    NetSim::current().unclog_link(id1, id2);
    handle.kill(id1);
    madsim::time::sleep(Duration::from_millis(500)).await;
    handle.restart(id1);
    madsim::time::sleep(Duration::from_millis(100)).await;

    let answers = n2
        .spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..10 {
                let answer = ping(peers.clone()).await;
                let done = answer.is_ok();
                answers.push(answer);
                if done {
                    break;
                }
                madsim::time::sleep(Duration::from_millis(100)).await;
            }
            answers
        })
        .await
        .unwrap();
    assert!(
        matches!(answers.last(), Some(Ok(Payload::Pong))),
        "the restarted node was not reached again: {answers:?}"
    );
    for failure in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert!(
            matches!(failure, Error::NodeUnreachable(_) | Error::Io(_)),
            "{failure:?}"
        );
    }
}
