//! Node-to-node messages: length-prefixed, versioned frames over TCP
//! (`tokio::net`, simulated under `--cfg madsim`: one code path), a
//! handshake that refuses another cluster, and requests matched to their
//! responses by id, with timeouts.
//!
//! This is the first part of the cluster issue: the cluster layer will send
//! its `ShardRequest`s and consensus messages through it. Reconnecting with
//! backoff and the server's `--transport`/`--seed-hosts` flags come with it.

mod connection;
mod frame;
mod message;

#[cfg(test)]
mod tests;

pub use connection::{Connection, Handler, Listener, NodeInfo};
pub use frame::{FRAME_VERSION, MAX_FRAME_BYTES, read_frame, write_frame};
pub use message::{Message, Payload};
