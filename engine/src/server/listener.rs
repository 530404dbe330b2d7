//! Accepting connections: a cap on how many are open, and timeouts so that
//! idle, trickling or stalled clients cannot hold them forever.
//!
//! * **A connection cap.** Past `max_connections`, a new connection gets
//!   CrateDB's 429 answer (`4290`) and is closed, so the node keeps file
//!   descriptors for the clients it serves.
//! * **Header timeout.** hyper closes a connection that takes longer than
//!   `header_timeout` to send a request's headers. The clock starts as soon
//!   as the connection is waiting for a request, so it is also the
//!   keep-alive idle limit.
//! * **Body timeout.** The handler reads a request's body within
//!   `body_timeout` (see `http.rs`).
//! * **Write stall timeout.** A client that stops reading its response for
//!   `body_timeout` is disconnected ([`StallGuard`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use real_tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use real_tokio::net::{TcpListener, TcpStream};
use real_tokio::sync::{Semaphore, watch};

/// Connection limits and timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` fires, then lets open
/// connections finish their requests (for up to `body_timeout`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closed_tx, mut closed_rx) = watch::channel(());
    loop {
        let (stream, _) = real_tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors or a connection reset before it was
                // accepted: keep serving the connections that are open.
                Err(_) => {
                    real_tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            real_tokio::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        let app = app.clone();
        let mut shutdown = shutdown.clone();
        let closed = closed_tx.clone();
        real_tokio::spawn(async move {
            let io = TokioIo::new(StallGuard::new(stream, limits.body_timeout));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true)
                .serve_connection(io, TowerToHyperService::new(app));
            let mut conn = std::pin::pin!(conn);
            real_tokio::select! {
                _ = conn.as_mut() => {}
                _ = shutdown.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(slot);
            drop(closed);
        });
    }
    drop(closed_tx);
    // Every connection task holds a sender: the channel closes with the last.
    let _ = real_tokio::time::timeout(limits.body_timeout, closed_rx.changed()).await;
    Ok(())
}

/// Answers a connection past the cap with 429 and closes it.
async fn refuse(mut stream: TcpStream, max: usize) {
    let body = format!(
        "{{\"error\":{{\"message\":\"TooManyRequestsException[the node has {max} connections \
         open, its limit (--max-connections); retry later]\",\"code\":4290}}}}"
    );
    let response = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json; charset=UTF-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = real_tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// An I/O wrapper that fails a write that has made no progress for
/// `timeout`: a client that stops reading its response would otherwise
/// hold the connection, and the response's memory, forever.
pub struct StallGuard<T> {
    inner: T,
    timeout: Duration,
    stalled: Option<Pin<Box<real_tokio::time::Sleep>>>,
}

impl<T> StallGuard<T> {
    pub fn new(inner: T, timeout: Duration) -> StallGuard<T> {
        StallGuard {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// On a pending write: starts the stall clock, or fails if it ran out.
    fn on_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let timeout = self.timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(real_tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading its response",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.on_pending(cx),
            done => {
                self.stalled = None;
                done
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.on_pending(cx),
            done => {
                self.stalled = None;
                done
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.on_pending(cx).map(|r| r.map(|_| ())),
            done => {
                self.stalled = None;
                done
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
