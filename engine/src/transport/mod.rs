//! Node-to-node messages: length-prefixed, versioned frames over TCP
//! (`tokio::net`, simulated under `--cfg madsim`: one code path), a
//! handshake that refuses another cluster, and requests matched to their
//! responses by id, with timeouts.
//!
//! The transport carries any serde payload and does not look inside: the
//! cluster layer defines what nodes say (`cluster::Rpc`). [`Peers`] keeps
//! one connection per address and reconnects with backoff.

mod connection;
mod frame;
mod message;
mod peers;

#[cfg(test)]
mod tests;

pub use connection::{Connection, Handler, Listener, NodeInfo};
pub use frame::{FRAME_VERSION, MAX_FRAME_BYTES, read_frame, write_frame};
pub use message::{Message, Payload};
pub use peers::Peers;
