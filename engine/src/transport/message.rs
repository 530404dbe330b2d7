//! What nodes say to each other: a handshake, then requests and responses
//! matched by id.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::request::{ShardRequest, ShardResponse};

/// One message on a connection.
#[derive(Debug, Serialize, Deserialize)]
pub enum Message {
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
        payload: Payload,
    },
    Response {
        id: u64,
        result: Result<Payload, Error>,
    },
}

/// What a request or response carries.
#[derive(Debug, Serialize, Deserialize)]
pub enum Payload {
    /// Liveness: answered with `Pong`.
    Ping,
    Pong,
    Shard(Box<ShardRequest>),
    ShardResponse(ShardResponse),
}
