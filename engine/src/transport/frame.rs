//! Frames: a 4-byte big-endian length, a version byte, and a body encoded
//! with the request codec. A frame that is too long, truncated, of an
//! unknown version or undecodable is an error for its connection, never a
//! panic or an allocation of what a hostile length claims.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::request::codec;

/// The frame format this build writes and reads.
pub const FRAME_VERSION: u8 = 1;

/// The largest frame accepted (a collect's partial result can be large).
pub const MAX_FRAME_BYTES: usize = 256 << 20;

/// Writes one frame holding `value`.
pub async fn write_frame<W, T>(w: &mut W, value: &T) -> Result<()>
where
    W: AsyncWrite + Unpin,
    T: Serialize + ?Sized,
{
    let body = codec::encode(value)?;
    if body.len() + 1 > MAX_FRAME_BYTES {
        return Err(Error::TooLarge(format!(
            "transport frame of {} bytes exceeds {MAX_FRAME_BYTES}",
            body.len() + 1
        )));
    }
    let mut buf = Vec::with_capacity(5 + body.len());
    buf.extend_from_slice(&((body.len() + 1) as u32).to_be_bytes());
    buf.push(FRAME_VERSION);
    buf.extend_from_slice(&body);
    w.write_all(&buf).await.map_err(io_error)?;
    w.flush().await.map_err(io_error)
}

/// Reads one frame; `None` at a clean end of stream (between frames).
pub async fn read_frame<R, T>(r: &mut R) -> Result<Option<T>>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(io_error(e)),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME_BYTES {
        return Err(Error::Io(format!(
            "transport frame of invalid length {len}"
        )));
    }
    let mut version = [0u8; 1];
    r.read_exact(&mut version).await.map_err(truncated)?;
    if version[0] != FRAME_VERSION {
        return Err(Error::Io(format!(
            "transport frame version {} is not supported (this node speaks {FRAME_VERSION})",
            version[0]
        )));
    }
    // The buffer grows with the bytes that arrive, not with what the
    // length claims: a peer that announces 256 MB and sends nothing costs
    // nothing.
    let want = len - 1;
    let mut body = Vec::with_capacity(want.min(64 * 1024));
    (&mut *r)
        .take(want as u64)
        .read_to_end(&mut body)
        .await
        .map_err(truncated)?;
    if body.len() < want {
        return Err(Error::Io(format!(
            "transport frame truncated: {} of {want} bytes",
            body.len()
        )));
    }
    codec::decode(&body).map(Some)
}

fn io_error(e: std::io::Error) -> Error {
    Error::Io(format!("transport: {e}"))
}

fn truncated(e: std::io::Error) -> Error {
    Error::Io(format!("transport frame truncated: {e}"))
}
