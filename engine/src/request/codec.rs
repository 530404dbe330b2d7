//! The one encoding of requests and results between nodes: MessagePack
//! (rmp-serde) with named fields, so that a field added later is skipped by
//! an older reader instead of shifting every field after it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Encodes a value.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(value).map_err(|e| Error::internal(format!("encode: {e}")))
}

/// Decodes a value; malformed bytes are an error, never a panic.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    rmp_serde::from_slice(bytes).map_err(|e| Error::internal(format!("decode: {e}")))
}
