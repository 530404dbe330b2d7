//! openraft's network over the transport: each consensus message is an
//! [`Rpc`] request to the member's transport address. A member that cannot
//! be reached is reported as unreachable, so openraft backs off; the
//! transport's [`Peers`] reconnects with backoff on its own.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::raft::{TypeConfig, holds_lease};
use super::rpc::{Lease, Rpc};
use super::state::Member;
use crate::error::Error;
use crate::transport::Peers;

/// Makes a client per member.
#[derive(Clone)]
pub struct Network {
    pub peers: Arc<Peers<Rpc>>,
    /// This node's raft metrics, once raft runs: whether it holds its
    /// leader lease travels with its heartbeats.
    pub metrics: Arc<OnceLock<MetricsWatch>>,
}

/// A raft node's metrics, as openraft publishes them.
pub type MetricsWatch = tokio::sync::watch::Receiver<super::raft::Metrics>;

/// Sends consensus messages to one member.
pub struct MemberClient {
    peers: Arc<Peers<Rpc>>,
    metrics: Arc<OnceLock<MetricsWatch>>,
    target: u64,
    addr: Result<SocketAddr, String>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = MemberClient;

    async fn new_client(&mut self, target: u64, node: &Member) -> MemberClient {
        MemberClient {
            peers: self.peers.clone(),
            metrics: self.metrics.clone(),
            target,
            addr: node
                .transport
                .parse()
                .map_err(|e| format!("bad transport address {:?}: {e}", node.transport)),
        }
    }
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, Member, RaftError<u64, E>>>;

impl MemberClient {
    async fn call<E: std::error::Error>(&self, rpc: Rpc, limit: Duration) -> RpcResult<Rpc, E> {
        let addr = self
            .addr
            .clone()
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&Error::Io(e))))?;
        match self.peers.request(addr, rpc, limit).await {
            Ok(answer) => Ok(answer),
            // Not connected (or backing off): openraft should back off too.
            Err(e @ (Error::ShardsUnavailable(_) | Error::NodeUnreachable(_))) => {
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }

    fn unexpected<E: std::error::Error>(
        &self,
        answer: Rpc,
    ) -> RPCError<u64, Member, RaftError<u64, E>> {
        RPCError::Network(NetworkError::new(&Error::Io(format!(
            "node {} answered a consensus message with {}",
            self.target,
            answer.kind()
        ))))
    }
}

impl RaftNetwork<TypeConfig> for MemberClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        match self
            .call(
                Rpc::AppendEntries {
                    to: self.target,
                    req: rpc,
                    lease: self.metrics.get().and_then(|m| {
                        let m = m.borrow();
                        holds_lease(&m).then(|| Lease {
                            applied: m.last_applied.map_or(0, |l| l.index),
                            sent_at: crate::runtime::now_millis(),
                        })
                    }),
                },
                option.hard_ttl(),
            )
            .await?
        {
            Rpc::AppendEntriesResponse(r) => Ok(r),
            other => Err(self.unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        match self
            .call(
                Rpc::InstallSnapshot {
                    to: self.target,
                    req: rpc,
                },
                option.hard_ttl(),
            )
            .await?
        {
            Rpc::InstallSnapshotResponse(r) => Ok(r),
            other => Err(self.unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        let vote = Rpc::Vote {
            to: self.target,
            req: rpc,
        };
        match self.call(vote, option.hard_ttl()).await? {
            Rpc::VoteResponse(r) => Ok(r),
            other => Err(self.unexpected(other)),
        }
    }
}
