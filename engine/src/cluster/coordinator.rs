//! The coordinator: one node's part in the cluster. It runs the node's raft
//! member, answers other nodes over the transport, discovers the cluster
//! through the seed hosts (bootstrapping it from the initial master nodes,
//! or joining the master of a formed one), and proposes commands.
//!
//! The raft leader is the master. Besides committing proposals it detects
//! nodes that stopped answering (removing them from the membership, which
//! reallocates their shards) and keeps the number of voters at its target
//! by promoting learners.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{ChangeMembers, Config, ServerState, SnapshotPolicy};
use tokio::sync::watch;

use super::delay::DelayTimers;
use super::log_store::LogStore;
use super::network::Network;
use super::raft::{Raft, holds_lease};
use super::rpc::{Discovery, Lease, Rpc};
use super::state::{Command, CommandResult, Member, MemberId};
use super::state_machine::{Applied, StateMachine};
use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::planner::SystemTable;
use crate::request::{CopyOutcome, CopyPart, JoinPart, Partial, ShardRequest, ShardResponse};
use crate::transport::{Handler, Listener, NodeInfo, Peers};
use crate::types::Row;

/// How a node takes part in a cluster (CrateDB's discovery settings).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Where the transport listens (`--transport`).
    pub transport: SocketAddr,
    /// Other nodes to contact at start (`discovery.seed_hosts`).
    pub seed_hosts: Vec<SocketAddr>,
    /// The names of the nodes that form a new cluster
    /// (`cluster.initial_master_nodes`): each of them, once it has seen all
    /// of them, starts the cluster with them as its voters.
    pub initial_master_nodes: Vec<String>,
}

/// Serves what other nodes ask of this node's data (the node): shard
/// requests, its own rows of the system tables every node contributes to,
/// and its parts of COPY statements and of repartitioned joins.
pub trait ShardServer: Send + Sync + 'static {
    fn serve_shard(&self, request: ShardRequest) -> BoxFuture<'_, Result<ShardResponse>>;
    fn local_rows(&self, table: SystemTable) -> BoxFuture<'_, Result<Vec<Row>>>;
    fn copy_part(&self, part: CopyPart) -> BoxFuture<'_, Result<CopyOutcome>>;
    /// Runs this node's bucket of a repartitioned join.
    fn join_part(&self, part: JoinPart) -> BoxFuture<'_, Result<Partial>>;
    /// Kills this node's running statements with the id (all for `None`).
    fn kill_jobs(&self, job: Option<String>) -> usize;
}

/// How often discovery and the master's checks run.
const ROUND: Duration = Duration::from_millis(500);
/// A request between nodes that takes longer than this has failed.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// A ping unanswered for this long counts as a failed check.
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// Failed checks in a row after which the master removes a node.
const FAILED_CHECKS: u32 = 3;
/// How long a proposal waits for a master before failing.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a proposer waits for the other nodes to follow a new state.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a follower waits for its leader before it calls an election.
const ELECTION_TIMEOUT_MAX_MS: u64 = 2000;
/// Voters a cluster keeps at most.
const MAX_VOTERS: usize = 5;

/// The error of a node that has no master to commit to.
pub fn no_master() -> Error {
    Error::ClusterBlock("blocked by: [SERVICE_UNAVAILABLE/2/no master];".into())
}

/// A leader's last word to this node, while it held its lease.
#[derive(Debug, Clone, Copy)]
struct Heard {
    at: tokio::time::Instant,
    leader: MemberId,
    /// The log index of the cluster state the leader had applied: this
    /// node knows the current state once it follows the state up to it.
    applied: u64,
}

/// One node's member of the cluster.
pub struct Coordinator {
    pub id: MemberId,
    pub me: Member,
    raft: Raft,
    peers: Arc<Peers<Rpc>>,
    applied: watch::Receiver<Applied>,
    config: ClusterConfig,
    shards: OnceLock<Weak<dyn ShardServer>>,
    /// The log index up to which the node follows the cluster state.
    followed: watch::Sender<u64>,
    /// What this node last took, entries or a heartbeat, from a leader
    /// that held its lease.
    heard_from_leader: Mutex<Option<Heard>>,
    /// Shard requests this node sent to others (a statement's messages;
    /// not housekeeping, such as shipping a global checkpoint, counted
    /// apart).
    shard_requests: std::sync::atomic::AtomicU64,
    housekeeping_requests: std::sync::atomic::AtomicU64,
    _listener: Listener,
    tasks: Mutex<Vec<crate::runtime::JoinHandle<()>>>,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("id", &self.id)
            .field("me", &self.me)
            .finish()
    }
}

const RAFT_ID: &str = "_raft/id";

impl Coordinator {
    /// Opens the node's raft member on `disk`, listens on the transport and
    /// starts discovery.
    pub async fn start(
        config: ClusterConfig,
        info: NodeInfo,
        http: Option<String>,
        disk: Arc<dyn Disk>,
    ) -> Result<Arc<Coordinator>> {
        let id = match disk.read(RAFT_ID) {
            Ok(bytes) => String::from_utf8_lossy(&bytes)
                .trim()
                .parse()
                .map_err(|e| Error::Io(format!("corrupt {RAFT_ID}: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Zero is no one in openraft's eyes.
                let id = crate::runtime::random_u64().max(1);
                disk.write_atomic(RAFT_ID, id.to_string().as_bytes())?;
                id
            }
            Err(e) => return Err(e.into()),
        };
        let me = Member {
            name: info.node_name.clone(),
            node_id: info.node_id.clone(),
            transport: config.transport.to_string(),
            http,
        };
        let raft_config = Config {
            cluster_name: info.cluster_name.clone(),
            heartbeat_interval: 200,
            election_timeout_min: 1000,
            election_timeout_max: ELECTION_TIMEOUT_MAX_MS,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(500),
            max_in_snapshot_log_to_keep: 100,
            ..Config::default()
        }
        .validate()
        .map_err(|e| Error::internal(format!("raft configuration: {e}")))?;
        let log = LogStore::open(disk.clone())?;
        let machine = StateMachine::open(disk)?;
        let applied = machine.subscribe();
        let peers = Arc::new(Peers::new(info.clone()));
        let metrics = Arc::new(OnceLock::new());
        let network = Network {
            peers: peers.clone(),
            metrics: metrics.clone(),
        };
        let raft = Raft::new(id, Arc::new(raft_config), network, log, machine)
            .await
            .map_err(|e| Error::internal(format!("cannot start raft: {e}")))?;
        // Set once, here: the network was built empty-handed before raft.
        let _ = metrics.set(raft.metrics());
        // The listener answers before the coordinator exists ("starting"):
        // it is handed the coordinator once built.
        let slot: Arc<OnceLock<Weak<Coordinator>>> = Arc::new(OnceLock::new());
        let listener =
            Listener::bind(config.transport, info, Arc::new(Inbound(slot.clone()))).await?;
        let coordinator = Arc::new(Coordinator {
            id,
            me,
            raft,
            peers,
            applied,
            config,
            shards: OnceLock::new(),
            followed: watch::channel(0).0,
            heard_from_leader: Mutex::new(None),
            shard_requests: Default::default(),
            housekeeping_requests: Default::default(),
            _listener: listener,
            tasks: Mutex::new(Vec::new()),
        });
        let _ = slot.set(Arc::downgrade(&coordinator));
        let weak = Arc::downgrade(&coordinator);
        let tasks = vec![
            crate::runtime::spawn(discover(weak.clone())),
            crate::runtime::spawn(watch_members(weak)),
        ];
        *lock(&coordinator.tasks) = tasks;
        tracing::info!(id, name = %coordinator.me.name, transport = %coordinator.me.transport, "cluster member started");
        Ok(coordinator)
    }

    /// Hands shard requests from other nodes to `server`.
    pub fn serve_shards(&self, server: Weak<dyn ShardServer>) {
        let _ = self.shards.set(server);
    }

    /// The last state applied on this node.
    pub fn applied(&self) -> Applied {
        self.applied.borrow().clone()
    }

    /// Follows the states this node applies.
    pub fn subscribe(&self) -> watch::Receiver<Applied> {
        self.applied.clone()
    }

    /// The master, if this node follows one: a follower until its election
    /// timer runs out without word from the leader; the leader itself while
    /// a quorum acknowledged it lately (a leader cut off from the others is
    /// no master, so a minority never accepts writes).
    pub fn master(&self) -> Option<(MemberId, Member)> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let leader = m.current_leader?;
        if m.state == ServerState::Leader && !holds_lease(&m) {
            return None;
        }
        // A follower knows a master only while it hears from it holding
        // its lease: a node restarted with an old leader in its vote has
        // none until the leader reaches it, and a leader cut off from its
        // quorum is none. A follower may still trust a cut-off leader for
        // the lease (1 s) and the wait below (2 s) after its last quorum
        // acknowledgement: shorter than the master takes to see a node
        // gone (three failed 1 s pings) and promote its replicas.
        if m.state != ServerState::Leader && self.leader_heard(leader).is_none() {
            return None;
        }
        let member = m.membership_config.membership().get_node(&leader)?.clone();
        Some((leader, member))
    }

    /// Records a leader's lease, counted from when the leader sent it.
    fn heard(&self, leader: MemberId, lease: Lease) {
        let age = (crate::runtime::now_millis() - lease.sent_at).max(0) as u64;
        if age > ELECTION_TIMEOUT_MAX_MS {
            return;
        }
        let at = crate::runtime::instant()
            .checked_sub(Duration::from_millis(age))
            .unwrap_or_else(crate::runtime::instant);
        let mut heard = lock(&self.heard_from_leader);
        // Messages may arrive out of order: a later lease is kept.
        if heard.is_none_or(|h| h.leader != leader || h.at <= at) {
            *heard = Some(Heard {
                at,
                leader,
                applied: lease.applied,
            });
        }
    }

    /// What `leader` last told this node, if within its lease.
    fn leader_heard(&self, leader: MemberId) -> Option<Heard> {
        let heard = (*lock(&self.heard_from_leader))?;
        let lease = Duration::from_millis(ELECTION_TIMEOUT_MAX_MS);
        let recent = crate::runtime::instant().duration_since(heard.at) <= lease;
        (recent && heard.leader == leader).then_some(heard)
    }

    /// Refuses with the no-master block unless this node follows a master,
    /// and waits until it follows the cluster state as that master had
    /// applied it when last heard from (at most [`PROPOSE_TIMEOUT`]).
    ///
    /// A node back from a partition hears its master again before it has
    /// applied what changed meanwhile: its old routing would send a write
    /// to a copy that is no primary any more, whose answer (no row to
    /// update) no replica would check.
    pub async fn current_master(&self) -> Result<()> {
        let deadline = crate::runtime::instant() + PROPOSE_TIMEOUT;
        loop {
            let (leader, _) = self.master().ok_or_else(no_master)?;
            if leader == self.id {
                return Ok(());
            }
            let heard = self.leader_heard(leader).ok_or_else(no_master)?;
            if *self.followed.borrow() >= heard.applied {
                return Ok(());
            }
            let now = crate::runtime::instant();
            if now >= deadline {
                return Err(no_master());
            }
            let wait = Duration::from_millis(100).min(deadline - now);
            let _ = self.wait_followed(heard.applied, wait).await;
        }
    }

    /// Whether this node is the master.
    pub fn is_master(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.id)
    }

    /// Commits a command through the master; answers its log index and
    /// result. Fails with CrateDB's no-master block when no master answers
    /// in time.
    pub async fn propose(&self, command: Command) -> Result<(u64, CommandResult)> {
        let deadline = crate::runtime::instant() + PROPOSE_TIMEOUT;
        loop {
            let now = crate::runtime::instant();
            if now >= deadline {
                tracing::info!("proposal failed: no master");
                return Err(no_master());
            }
            // A leader cut off from the others would wait for a commit
            // that cannot come: only a master is asked, and only so long.
            if self.master().is_some() {
                let attempt = crate::runtime::timeout(deadline - now, self.commit(command.clone()));
                match attempt.await {
                    Some(Ok(committed)) => return Ok(committed),
                    Some(Err(e)) => tracing::debug!(error = %e, "proposal attempt failed"),
                    None => {}
                }
            }
            crate::runtime::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Commits a decision only the master may take (a node left or is
    /// back, a delay ended), here: never forwarded, so a master that lost
    /// its quorum cannot have a later master apply what it decided on an
    /// old view. An entry it could not commit within the limit is
    /// discarded by the next master.
    async fn decide_as_master(&self, command: Command) -> Result<()> {
        match crate::runtime::timeout(ACK_TIMEOUT, self.raft.client_write(command)).await {
            Some(Ok(_)) => Ok(()),
            Some(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                Err(no_master())
            }
            Some(Err(e)) => Err(Error::internal(format!("decision failed: {e}"))),
            None => Err(Error::internal(format!(
                "decision not committed within {ACK_TIMEOUT:?}"
            ))),
        }
    }

    /// One attempt: commit here if master, else on the master.
    async fn commit(&self, command: Command) -> Result<(u64, CommandResult)> {
        match self.raft.client_write(command.clone()).await {
            Ok(r) => Ok((r.log_id.index, r.data)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                let node = f.leader_node.ok_or_else(no_master)?;
                match self
                    .peers
                    .request(address(&node)?, Rpc::Propose(command), RPC_TIMEOUT)
                    .await?
                {
                    Rpc::Proposed { index, result } => Ok((index, result)),
                    other => Err(Error::Io(format!(
                        "the master answered a proposal with {}",
                        other.kind()
                    ))),
                }
            }
            Err(e) => Err(Error::internal(format!("proposal failed: {e}"))),
        }
    }

    /// Records that the node follows the cluster state up to `index`.
    pub fn mark_followed(&self, index: u64) {
        self.followed.send_replace(index);
    }

    /// Waits until the node follows the cluster state up to `index`.
    pub async fn wait_followed(&self, index: u64, limit: Duration) -> Result<()> {
        let rx = self.followed.subscribe();
        let followed = || (*rx.borrow() >= index).then_some(());
        match crate::runtime::poll_until(limit, Duration::from_millis(2), followed).await {
            Some(()) => Ok(()),
            None => Err(Error::internal(format!(
                "node {} did not follow the cluster state up to {index} within {limit:?}",
                self.me.name
            ))),
        }
    }

    /// Waits until every member follows the cluster state up to `index`,
    /// at most [`ACK_TIMEOUT`]; a member that does not answer in time is
    /// logged and not waited for (CrateDB acknowledges the statement then
    /// too).
    pub async fn wait_followed_everywhere(&self, index: u64) -> Result<()> {
        self.wait_followed(index, ACK_TIMEOUT).await?;
        let state = self.applied().state;
        let waits = state.members.iter().filter(|(id, _)| **id != self.id).map(|(_, m)| async move {
            let answer = match address(m) {
                Ok(addr) => {
                    self.peers
                        .request(addr, Rpc::AwaitFollowed { index }, ACK_TIMEOUT)
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = answer {
                tracing::info!(node = %m.name, error = %e, "a node did not acknowledge the cluster state in time");
            }
        });
        futures::future::join_all(waits).await;
        Ok(())
    }

    /// How many shard requests this node has sent to other nodes.
    pub fn shard_requests_sent(&self) -> u64 {
        self.shard_requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many housekeeping requests this node has sent to other nodes.
    pub fn housekeeping_requests_sent(&self) -> u64 {
        self.housekeeping_requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends a shard request to the member `node_id` (its `sys.nodes.id`).
    pub async fn send_shard(&self, node_id: &str, request: ShardRequest) -> Result<ShardResponse> {
        let counter = match request.is_housekeeping() {
            true => &self.housekeeping_requests,
            false => &self.shard_requests,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.ask(node_id, Rpc::Shard(Box::new(request))).await? {
            (_, Rpc::ShardResponse(r)) => Ok(r),
            (name, other) => Err(unexpected_answer(&name, "a shard request", &other)),
        }
    }

    /// Runs a part of a COPY statement on the member `node_id`. The
    /// transport's pings keep a long import waited for.
    pub async fn send_copy(&self, node_id: &str, part: CopyPart) -> Result<CopyOutcome> {
        match self.ask(node_id, Rpc::Copy(Box::new(part))).await? {
            (_, Rpc::Copied(outcome)) => Ok(outcome),
            (name, other) => Err(unexpected_answer(&name, "a COPY part", &other)),
        }
    }

    /// Runs a bucket of a repartitioned join on the member `node_id`.
    pub async fn send_join_part(&self, node_id: &str, part: JoinPart) -> Result<Partial> {
        match self.ask(node_id, Rpc::JoinPart(Box::new(part))).await? {
            (_, Rpc::JoinedPart(partial)) => Ok(partial),
            (name, other) => Err(unexpected_answer(&name, "a join part", &other)),
        }
    }

    /// Sends a request to the member `node_id`: its name and its answer.
    async fn ask(&self, node_id: &str, rpc: Rpc) -> Result<(String, Rpc)> {
        let member = self.member(node_id)?;
        let answer = self
            .peers
            .request(address(&member)?, rpc, RPC_TIMEOUT)
            .await?;
        Ok((member.name, answer))
    }

    /// Connects to the member `node_id` unless connected; `NodeUnreachable`
    /// when it cannot be.
    pub async fn reach(&self, node_id: &str) -> Result<()> {
        let member = self.member(node_id)?;
        self.peers.connection(address(&member)?).await.map(|_| ())
    }

    /// The member whose node id is `node_id`.
    fn member(&self, node_id: &str) -> Result<Member> {
        let state = self.applied().state;
        let member = state.members.values().find(|m| m.node_id == node_id);
        member.cloned().ok_or_else(|| {
            Error::ShardsUnavailable(format!("node {node_id} is not part of the cluster"))
        })
    }

    /// The node, once it serves requests.
    fn server(&self) -> Result<Arc<dyn ShardServer>> {
        self.shards
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| Error::ShardsUnavailable("the node is starting".into()))
    }

    /// Every other member's own rows of a system table, by member; a
    /// member that does not answer in time contributes none (logged).
    pub async fn gather_rows(&self, table: SystemTable) -> Vec<(MemberId, Vec<Row>)> {
        let state = self.applied().state;
        let asks = state
            .members
            .iter()
            .filter(|(id, _)| **id != self.id)
            .map(|(id, m)| async move {
                let answer = match address(m) {
                    Ok(addr) => self.peers.request(addr, Rpc::NodeRows(table), RPC_TIMEOUT).await,
                    Err(e) => Err(e),
                };
                let rows = match answer {
                    Ok(Rpc::Rows(rows)) => rows,
                    Ok(other) => {
                        tracing::info!(node = %m.name, answer = other.kind(), "unexpected answer to NodeRows");
                        Vec::new()
                    }
                    Err(e) => {
                        tracing::info!(node = %m.name, error = %e, "a node did not give its system rows");
                        Vec::new()
                    }
                };
                (*id, rows)
            });
        futures::future::join_all(asks).await
    }

    /// Asks every other member to kill its running statements with the id
    /// (all for `None`); returns how many they killed. A member that does
    /// not answer in time kills none.
    pub async fn kill_everywhere(&self, job: Option<String>) -> u64 {
        let state = self.applied().state;
        let asks = state
            .members
            .iter()
            .filter(|(id, _)| **id != self.id)
            .map(|(_, m)| {
                let job = job.clone();
                async move {
                    let addr = address(m).ok()?;
                    match self.peers.request(addr, Rpc::Kill(job), RPC_TIMEOUT).await {
                        Ok(Rpc::Killed(n)) => Some(n),
                        _ => None,
                    }
                }
            });
        futures::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .sum()
    }

    /// The answer to a discovery request.
    async fn discovery(&self) -> Discovery {
        Discovery {
            id: self.id,
            member: self.me.clone(),
            initialized: self.raft.is_initialized().await.unwrap_or(false),
            master: self.master(),
        }
    }

    /// A node asks to join: it becomes a learner (the member checks make it
    /// a voter when one is wanted).
    async fn join(&self, id: MemberId, member: Member) -> Result<Rpc> {
        if !self.is_master() {
            return Err(no_master());
        }
        let known = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            m.membership_config.membership().get_node(&id) == Some(&member)
        };
        if !known {
            self.raft
                .add_learner(id, member.clone(), false)
                .await
                .map_err(|e| Error::internal(format!("cannot add {}: {e}", member.name)))?;
            tracing::info!(node = %member.name, id, "node joined");
        }
        Ok(Rpc::Joined)
    }

    async fn handle(&self, rpc: Rpc) -> Result<Rpc> {
        let fail = |e: &dyn std::fmt::Display| Error::Io(format!("raft: {e}"));
        if let Rpc::AppendEntries { to, .. }
        | Rpc::Vote { to, .. }
        | Rpc::InstallSnapshot { to, .. } = &rpc
            && *to != self.id
        {
            // Answered as unreachable: the sender's member is gone from here.
            return Err(Error::ShardsUnavailable(format!(
                "a consensus message for member {to} reached member {} at its address",
                self.id
            )));
        }
        match rpc {
            Rpc::AppendEntries { req: r, lease, .. } => {
                let leader = r.vote.leader_id().voted_for();
                let response = self.raft.append_entries(r).await.map_err(|e| fail(&e))?;
                if let (Some(leader), Some(lease)) = (leader, lease)
                    && matches!(response, openraft::raft::AppendEntriesResponse::Success)
                {
                    self.heard(leader, lease);
                }
                Ok(Rpc::AppendEntriesResponse(response))
            }
            Rpc::Vote { req: r, .. } => self
                .raft
                .vote(r)
                .await
                .map(Rpc::VoteResponse)
                .map_err(|e| fail(&e)),
            Rpc::InstallSnapshot { req: r, .. } => self
                .raft
                .install_snapshot(r)
                .await
                .map(Rpc::InstallSnapshotResponse)
                .map_err(|e| fail(&e)),
            Rpc::Discover => Ok(Rpc::Discovered(self.discovery().await)),
            Rpc::Join { id, member } => self.join(id, member).await,
            Rpc::Propose(command) => match self.raft.client_write(command).await {
                Ok(r) => Ok(Rpc::Proposed {
                    index: r.log_id.index,
                    result: r.data,
                }),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Err(no_master()),
                Err(e) => Err(fail(&e)),
            },
            Rpc::AwaitFollowed { index } => {
                self.wait_followed(index, ACK_TIMEOUT).await?;
                Ok(Rpc::Followed)
            }
            Rpc::Ping => Ok(Rpc::Pong { id: self.id }),
            Rpc::Shard(request) => {
                let server = self.server()?;
                server.serve_shard(*request).await.map(Rpc::ShardResponse)
            }
            Rpc::NodeRows(table) => self.server()?.local_rows(table).await.map(Rpc::Rows),
            Rpc::Copy(part) => self.server()?.copy_part(*part).await.map(Rpc::Copied),
            Rpc::JoinPart(part) => self.server()?.join_part(*part).await.map(Rpc::JoinedPart),
            Rpc::Kill(job) => Ok(Rpc::Killed(self.server()?.kill_jobs(job) as u64)),
            other => Err(Error::Io(format!(
                "unexpected request {} from another node",
                other.kind()
            ))),
        }
    }

    /// Stops the raft member (a node shutting down).
    pub async fn shutdown(&self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
        let _ = self.raft.shutdown().await;
    }
}

/// A member answered a request with something else.
fn unexpected_answer(name: &str, request: &str, answer: &Rpc) -> Error {
    Error::Io(format!(
        "node {name} answered {request} with {}",
        answer.kind()
    ))
}

/// Requests from other nodes, handed to the coordinator once it exists.
struct Inbound(Arc<OnceLock<Weak<Coordinator>>>);

impl Handler<Rpc> for Inbound {
    async fn handle(&self, _from: &NodeInfo, rpc: Rpc) -> Result<Rpc> {
        let coordinator = self
            .0
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| Error::ShardsUnavailable("the node is starting".into()))?;
        coordinator.handle(rpc).await
    }
}

fn address(member: &Member) -> Result<SocketAddr> {
    member.transport.parse().map_err(|e| {
        Error::Io(format!(
            "node {} has a bad transport address {:?}: {e}",
            member.name, member.transport
        ))
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Discovery: until this node follows a master that counts it as a member,
/// ask the seed hosts who they are; join a master one of them knows, or,
/// when no cluster has formed and every initial master node has been seen,
/// bootstrap it.
async fn discover(weak: Weak<Coordinator>) {
    let mut announced = false;
    loop {
        let Some(c) = weak.upgrade() else { return };
        let member = c.master().is_some()
            && c.raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .get_node(&c.id)
                .is_some();
        if !member
            && let Err(e) = discover_round(&c).await
            && !announced
        {
            tracing::info!(error = %e, "discovery: not part of a cluster yet");
            announced = true;
        }
        drop(c);
        crate::runtime::sleep(ROUND).await;
    }
}

async fn discover_round(c: &Coordinator) -> Result<()> {
    let mut found: BTreeMap<String, Discovery> = BTreeMap::new();
    for seed in &c.config.seed_hosts {
        if *seed == c.config.transport {
            continue;
        }
        if let Ok(Rpc::Discovered(d)) = c.peers.request(*seed, Rpc::Discover, PING_TIMEOUT).await {
            found.insert(d.member.name.clone(), d);
        }
    }
    if let Some((master_id, master)) = found.values().find_map(|d| d.master.clone()) {
        if master_id == c.id {
            return Ok(());
        }
        let join = Rpc::Join {
            id: c.id,
            member: c.me.clone(),
        };
        c.peers
            .request(address(&master)?, join, RPC_TIMEOUT)
            .await?;
        return Ok(());
    }
    let initial = &c.config.initial_master_nodes;
    if !initial.contains(&c.me.name) || c.raft.is_initialized().await.unwrap_or(true) {
        return Err(Error::Io("no master found through the seed hosts".into()));
    }
    let mut voters: BTreeMap<MemberId, Member> = BTreeMap::new();
    for name in initial {
        if *name == c.me.name {
            voters.insert(c.id, c.me.clone());
        } else if let Some(d) = found.get(name) {
            voters.insert(d.id, d.member.clone());
        } else {
            return Err(Error::Io(format!(
                "waiting for initial master node [{name}] to be discovered"
            )));
        }
    }
    tracing::info!(voters = ?voters.values().map(|m| &m.name).collect::<Vec<_>>(), "bootstrapping the cluster");
    // Every initial master node does this with the same members: safe.
    let _ = c.raft.initialize(voters).await;
    Ok(())
}

/// The master's checks: ping every member, remove those that failed
/// [`FAILED_CHECKS`] times in a row, and promote learners while voters are
/// fewer than wanted; end the wait of delayed replicas whose time is up.
async fn watch_members(weak: Weak<Coordinator>) {
    let mut failures: BTreeMap<MemberId, u32> = BTreeMap::new();
    let mut delays = DelayTimers::default();
    let mut was_master = false;
    loop {
        crate::runtime::sleep(ROUND).await;
        let Some(c) = weak.upgrade() else { return };
        let master = c.is_master();
        if master != was_master {
            let term = c.raft.metrics().borrow().current_term;
            match master {
                true => tracing::info!(term, "this node is the master"),
                false => tracing::info!(term, "this node is no longer the master"),
            }
            was_master = master;
        }
        if !master {
            failures.clear();
            delays.clear();
            continue;
        }
        for command in delays.expired(&c.applied().state, crate::runtime::instant()) {
            if let Err(e) = c.decide_as_master(command).await {
                tracing::info!(error = %e, "cannot end a delayed allocation yet");
            }
        }
        let membership = c.raft.metrics().borrow().membership_config.clone();
        let membership = membership.membership();
        let voters: BTreeSet<MemberId> = membership.voter_ids().collect();
        let others: Vec<(MemberId, Member)> = membership
            .nodes()
            .filter(|(id, _)| **id != c.id)
            .map(|(id, m)| (*id, m.clone()))
            .collect();
        let pings = others.iter().map(|(id, m)| {
            let peers = c.peers.clone();
            let addr = address(m);
            async move {
                let ok = match addr {
                    Ok(addr) => matches!(
                        peers.request(addr, Rpc::Ping, PING_TIMEOUT).await,
                        Ok(Rpc::Pong { id: answered }) if answered == *id
                    ),
                    Err(_) => false,
                };
                (*id, ok)
            }
        });
        let answers = futures::future::join_all(pings).await;
        let mut gone = Vec::new();
        for &(id, ok) in &answers {
            let count = failures.entry(id).or_default();
            *count = if ok { 0 } else { *count + 1 };
            if *count >= FAILED_CHECKS {
                gone.push(id);
            }
        }
        let wanted = voters_wanted(&c.config);
        let departed = c.applied().state.departed.clone();
        let answered: BTreeSet<MemberId> = answers
            .iter()
            .filter(|(_, ok)| *ok)
            .map(|(id, _)| *id)
            .collect();
        // A learner that answered its ping: it may take a lost voter's place.
        let mut spare = membership.learner_ids().find(|id| answered.contains(id));
        for id in gone {
            let name = membership
                .get_node(&id)
                .map(|m| m.name.clone())
                .unwrap_or_default();
            let voter = voters.contains(&id);
            if voter && voters.len() <= wanted && spare.is_none() {
                // Removing it would leave fewer voters than the cluster
                // keeps, so that one more failure would lose the quorum:
                // it keeps its vote and only leaves the members.
                if !departed.contains_key(&id) {
                    match c.decide_as_master(Command::NodeLeft { node: id }).await {
                        Ok(_) => {
                            tracing::warn!(node = %name, id, "node left the cluster: it stopped answering (it keeps its vote)")
                        }
                        Err(e) => {
                            tracing::info!(node = %name, error = %e, "cannot mark a node as left yet")
                        }
                    }
                }
                continue;
            }
            // The learner votes before the lost voter stops voting.
            if voter
                && let Some(learner) = spare.take()
                && !promote(&c, learner).await
            {
                continue;
            }
            let change = match voter {
                true => ChangeMembers::RemoveVoters(BTreeSet::from([id])),
                false => ChangeMembers::RemoveNodes(BTreeSet::from([id])),
            };
            match c.raft.change_membership(change, false).await {
                Ok(_) => {
                    tracing::warn!(node = %name, id, "node left the cluster: it stopped answering");
                    failures.remove(&id);
                }
                Err(e) => tracing::info!(node = %name, error = %e, "cannot remove node yet"),
            }
        }
        // A voter that left and answers again is a member once more; so is
        // the master itself, elected while it was away (its vote kept),
        // which no ping of its own marks back.
        let back = |id: &&MemberId| answered.contains(id) || **id == c.id;
        for id in departed.keys().filter(back) {
            match c.decide_as_master(Command::NodeBack { node: *id }).await {
                Ok(_) => tracing::info!(id, "a node that left is back"),
                Err(e) => tracing::info!(id, error = %e, "cannot take a node back yet"),
            }
        }
        let voters: BTreeSet<MemberId> = c
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        if voters.len() < wanted {
            // A learner in the membership now (not one just removed) that
            // answered its last ping.
            let learner = c
                .raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .learner_ids()
                .find(|id| answered.contains(id));
            if let Some(id) = learner {
                promote(&c, id).await;
            }
        }
    }
}

/// Makes a learner a voter; whether it did.
async fn promote(c: &Coordinator, id: MemberId) -> bool {
    let change = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
    match c.raft.change_membership(change, true).await {
        Ok(_) => {
            tracing::info!(id, "learner promoted to voter");
            true
        }
        Err(e) => {
            tracing::info!(id, error = %e, "cannot promote a learner yet");
            false
        }
    }
}

/// How many voters the cluster keeps: as many as initial master nodes were
/// named, at most five; three for a node started without the setting.
fn voters_wanted(config: &ClusterConfig) -> usize {
    match config.initial_master_nodes.len() {
        0 => 3,
        n => n.min(MAX_VOTERS),
    }
}
