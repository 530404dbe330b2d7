//! What nodes say to each other: a handshake, then requests and responses
//! matched by id.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// One message on a connection, carrying payloads of type `P` (the cluster
/// layer's requests and responses; the transport does not look inside).
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "P: Serialize + serde::de::DeserializeOwned")]
pub enum Message<P> {
    /// The first message of a connection, from the side that connected.
    Hello {
        cluster_name: String,
        node_id: String,
        node_name: String,
    },
    /// The handshake's answer: the accepting node's identity.
    Welcome {
        node_id: String,
        node_name: String,
    },
    /// The handshake's refusal (another cluster); the connection closes.
    Refused {
        reason: String,
    },
    Request {
        id: u64,
        payload: P,
    },
    Response {
        id: u64,
        result: Result<P, Error>,
    },
    /// Asks the accepting side to show it is alive while requests wait.
    Ping,
    /// The answer to a ping.
    Pong,
}

/// What a payload type needs to travel.
pub trait Payload: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static {}

impl<P: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static> Payload for P {}
