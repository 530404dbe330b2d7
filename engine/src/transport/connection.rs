//! Connections: the accepting side ([`Listener`]) checks the handshake and
//! answers requests with a [`Handler`], each in a task of its own, so a slow
//! request does not hold up the others; the connecting side
//! ([`Connection`]) sends requests with ids and matches the responses,
//! which may come in any order, to their callers. While requests wait, the
//! connecting side pings once a second: a request fails only after the
//! other side has been silent for its limit, so long work on a live node
//! is waited for (as Elasticsearch's transport keeps connections alive).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::frame::{read_frame, write_frame};
use super::message::{Message, Payload};
use crate::error::{Error, Result};

/// Who a node is: what the handshake exchanges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub cluster_name: String,
    pub node_id: String,
    pub node_name: String,
}

/// Answers the requests that arrive on accepted connections.
pub trait Handler<P>: Send + Sync + 'static {
    fn handle(&self, from: &NodeInfo, payload: P) -> impl Future<Output = Result<P>> + Send;
}

/// Messages waiting to be written, per connection.
const OUTBOX: usize = 1024;

/// Accepts connections from other nodes.
pub struct Listener {
    local: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Listens on `addr` for the nodes of `me.cluster_name`.
    pub async fn bind<P: Payload, H: Handler<P>>(
        addr: SocketAddr,
        me: NodeInfo,
        handler: Arc<H>,
    ) -> Result<Listener> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Io(format!("cannot listen for transport on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::Io(format!("transport listener: {e}")))?;
        let me = Arc::new(me);
        let accept = crate::runtime::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, say: wait instead of spinning.
                        tracing::warn!(error = %e, "transport accept failed");
                        crate::runtime::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // Requests and answers are small frames waiting on each
                // other: Nagle's algorithm would hold each for a delayed ACK.
                let _ = stream.set_nodelay(true);
                let (me, handler) = (me.clone(), handler.clone());
                crate::runtime::spawn(async move {
                    if let Err(e) = serve(stream, &me, handler).await {
                        tracing::info!(%peer, error = %e, "transport connection closed");
                    }
                });
            }
        });
        Ok(Listener { local, accept })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One accepted connection: the handshake, then requests until it closes.
async fn serve<P: Payload, H: Handler<P>>(
    stream: TcpStream,
    me: &NodeInfo,
    handler: Arc<H>,
) -> Result<()> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let peer = match read_frame::<_, Message<P>>(&mut reader).await? {
        Some(Message::Hello {
            cluster_name,
            node_id,
            node_name,
        }) => {
            if cluster_name != me.cluster_name {
                let reason = format!(
                    "handshake failed: remote cluster name [{cluster_name}] does not match \
                     local cluster name [{}]",
                    me.cluster_name
                );
                write_frame(
                    &mut writer,
                    &Message::<P>::Refused {
                        reason: reason.clone(),
                    },
                )
                .await?;
                tracing::warn!(node = %node_name, "{reason}");
                return Err(Error::Io(reason));
            }
            NodeInfo {
                cluster_name,
                node_id,
                node_name,
            }
        }
        Some(_) => {
            return Err(Error::Io(
                "transport: the first message was not a handshake".into(),
            ));
        }
        None => return Ok(()),
    };
    let welcome = Message::<P>::Welcome {
        node_id: me.node_id.clone(),
        node_name: me.node_name.clone(),
    };
    write_frame(&mut writer, &welcome).await?;
    let (tx, rx) = mpsc::channel::<Message<P>>(OUTBOX);
    let writing = crate::runtime::spawn(write_loop(writer, rx));
    let peer = Arc::new(peer);
    let result = loop {
        match read_frame::<_, Message<P>>(&mut reader).await {
            Ok(Some(Message::Request { id, payload })) => {
                let (tx, handler, peer) = (tx.clone(), handler.clone(), peer.clone());
                crate::runtime::spawn(async move {
                    let result = handler.handle(&peer, payload).await;
                    let _ = tx.send(Message::Response { id, result }).await;
                });
            }
            Ok(Some(Message::Ping)) => {
                if tx.send(Message::Pong).await.is_err() {
                    break Ok(());
                }
            }
            Ok(Some(_)) => break Err(Error::Io("transport: unexpected message".into())),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    drop(tx);
    writing.abort();
    result
}

/// Writes queued messages until the queue closes or the peer stops reading.
async fn write_loop<P: Payload>(
    mut writer: WriteHalf<TcpStream>,
    mut rx: mpsc::Receiver<Message<P>>,
) {
    while let Some(message) = rx.recv().await {
        if write_frame(&mut writer, &message).await.is_err() {
            return;
        }
    }
}

type Pending<P> = Arc<Mutex<Option<BTreeMap<u64, oneshot::Sender<Result<P>>>>>>;

/// How often a connection with requests waiting pings the other side.
const PING_INTERVAL: Duration = Duration::from_secs(1);

/// The longest a request waits for its answer, however alive the other
/// side shows itself.
const REQUEST_MAX: Duration = Duration::from_secs(3600);

/// When a connection last heard from the other side.
type LastHeard = Arc<Mutex<tokio::time::Instant>>;

/// A connection to another node, for sending it requests.
pub struct Connection<P> {
    peer: NodeInfo,
    outbox: mpsc::Sender<Message<P>>,
    /// Callers waiting for a response, by request id; `None` once closed.
    pending: Pending<P>,
    next_id: AtomicU64,
    last_heard: LastHeard,
    tasks: [tokio::task::JoinHandle<()>; 3],
}

impl<P: Payload> Connection<P> {
    /// Connects to `addr` and shakes hands as `me`, within `limit`.
    pub async fn connect(addr: SocketAddr, me: &NodeInfo, limit: Duration) -> Result<Self> {
        crate::runtime::timeout(limit, Self::open(addr, me))
            .await
            .unwrap_or_else(|| {
                Err(Error::Io(format!(
                    "transport: connecting to {addr} timed out"
                )))
            })
    }

    async fn open(addr: SocketAddr, me: &NodeInfo) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| Error::Io(format!("transport: cannot connect to {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = tokio::io::split(stream);
        let hello = Message::<P>::Hello {
            cluster_name: me.cluster_name.clone(),
            node_id: me.node_id.clone(),
            node_name: me.node_name.clone(),
        };
        write_frame(&mut writer, &hello).await?;
        let peer = match read_frame::<_, Message<P>>(&mut reader).await? {
            Some(Message::Welcome { node_id, node_name }) => NodeInfo {
                cluster_name: me.cluster_name.clone(),
                node_id,
                node_name,
            },
            Some(Message::Refused { reason }) => return Err(Error::Io(reason)),
            Some(_) => return Err(Error::Io("transport: unexpected handshake answer".into())),
            None => return Err(Error::Io(format!("transport: {addr} closed the handshake"))),
        };
        let pending: Pending<P> = Arc::new(Mutex::new(Some(BTreeMap::new())));
        let last_heard: LastHeard = Arc::new(Mutex::new(crate::runtime::instant()));
        let (outbox, rx) = mpsc::channel(OUTBOX);
        // A write fails when the other side is gone (a crashed process
        // resets the stream) while a read may wait on for ever: either end
        // closes the whole connection, so that `is_open` says so and the
        // next request connects afresh instead of failing on a dead one.
        let writing = crate::runtime::spawn({
            let (pending, peer) = (pending.clone(), peer.node_name.clone());
            async move {
                write_loop(writer, rx).await;
                close(&pending, &peer);
            }
        });
        let reading = crate::runtime::spawn(read_loop(
            reader,
            pending.clone(),
            last_heard.clone(),
            peer.node_name.clone(),
        ));
        let pinging = crate::runtime::spawn(ping_loop(outbox.clone(), pending.clone()));
        Ok(Connection {
            peer,
            outbox,
            pending,
            next_id: AtomicU64::new(1),
            last_heard,
            tasks: [writing, reading, pinging],
        })
    }

    /// The node at the other end.
    pub fn peer(&self) -> &NodeInfo {
        &self.peer
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        lock(&self.pending).is_some()
    }

    /// Sends a request and waits for its response as long as the other
    /// side shows it is alive (it answers pings while the request runs),
    /// failing after `limit` without a word from it. So a long query on
    /// another node is waited for, and a node that went silent is not.
    pub async fn request(&self, payload: P, limit: Duration) -> Result<P> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        match lock(&self.pending).as_mut() {
            Some(waiting) => waiting.insert(id, tx),
            None => return Err(self.closed()),
        };
        if self
            .outbox
            .send(Message::Request { id, payload })
            .await
            .is_err()
        {
            return Err(self.closed());
        }
        let mut rx = rx;
        let started = crate::runtime::instant();
        loop {
            match crate::runtime::timeout(limit, &mut rx).await {
                Some(Ok(result)) => return result,
                Some(Err(_)) => return Err(lost(&self.peer.node_name)),
                None => {}
            }
            let now = crate::runtime::instant();
            let silent = now.duration_since(*lock(&self.last_heard));
            if silent < limit && now.duration_since(started) < REQUEST_MAX {
                continue;
            }
            if let Some(waiting) = lock(&self.pending).as_mut() {
                waiting.remove(&id);
            }
            return Err(Error::Io(format!(
                "transport: request {id} to node [{}] timed out: nothing heard from it for \
                 {silent:?}",
                self.peer.node_name
            )));
        }
    }

    /// The request was not sent: the caller may send it elsewhere, and a
    /// copy on that node is out of reach rather than failed itself.
    fn closed(&self) -> Error {
        Error::NodeUnreachable(format!(
            "the connection to node [{}] is closed",
            self.peer.node_name
        ))
    }
}

/// The request was sent but its connection closed before the answer came:
/// as with a timeout, the other side may or may not have acted on it.
fn lost(peer: &str) -> Error {
    Error::Io(format!(
        "transport: the connection to node [{peer}] closed before it answered"
    ))
}

impl<P> Drop for Connection<P> {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Pings the other side while requests wait, so that they can tell a
/// busy node from a silent one.
async fn ping_loop<P: Payload>(outbox: mpsc::Sender<Message<P>>, pending: Pending<P>) {
    loop {
        crate::runtime::sleep(PING_INTERVAL).await;
        let waiting = match lock(&pending).as_ref() {
            Some(w) => !w.is_empty(),
            None => return,
        };
        if waiting && outbox.send(Message::Ping).await.is_err() {
            return;
        }
    }
}

/// Hands each response to its caller and notes when the other side was
/// last heard from; when the connection ends, every caller still waiting
/// gets an error.
async fn read_loop<P: Payload>(
    mut reader: ReadHalf<TcpStream>,
    pending: Pending<P>,
    last_heard: LastHeard,
    peer: String,
) {
    // Anything but a response or a pong ends the connection: a protocol
    // error, the end of the stream, or a broken frame.
    loop {
        let message = read_frame::<_, Message<P>>(&mut reader).await;
        *lock(&last_heard) = crate::runtime::instant();
        match message {
            Ok(Some(Message::Response { id, result })) => {
                let waiter = lock(&pending).as_mut().and_then(|w| w.remove(&id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(result);
                }
            }
            Ok(Some(Message::Pong)) => {}
            _ => break,
        }
    }
    close(&pending, &peer);
}

/// Marks the connection closed and fails every caller still waiting.
fn close<P>(pending: &Pending<P>, peer: &str) {
    let waiting = lock(pending).take().unwrap_or_default();
    for (_, waiter) in waiting {
        let _ = waiter.send(Err(lost(peer)));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
