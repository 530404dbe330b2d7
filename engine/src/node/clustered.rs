//! The node in a cluster: it starts its [`Coordinator`], follows the
//! committed cluster state (the catalog, the settings, and the shard copies
//! the routing table gives it), proposes its catalog and settings changes
//! instead of applying them, and serves shard requests from other nodes.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::apply::LocalCopies;
use super::{Node, QueryResult};
use crate::catalog::Catalog;
use crate::cluster::ClusterSettings;
use crate::cluster::{
    Applied, ClusterState, Command, CommandResult, Coordinator, CopyState, MemberId, ShardServer,
};
use crate::error::{Error, Result};
use crate::exec::CopyRole;
use crate::request::{ShardId, ShardRequest, ShardResponse};
use crate::transport::NodeInfo;

/// The cluster state a node follows, and the log index it includes.
#[derive(Debug, Clone, Default)]
pub struct Followed {
    pub index: u64,
    pub state: Arc<ClusterState>,
}

/// How often a proposal is decided again when another change came first.
const MAX_DECISIONS: usize = 20;

impl Node {
    /// Joins the cluster the node's configuration names (a node without one
    /// stays on its own): starts the coordinator and follows the cluster
    /// state from then on.
    pub async fn start_cluster(self: &Arc<Self>) -> Result<()> {
        let Some(config) = self.config.cluster.clone() else {
            return Ok(());
        };
        let info = NodeInfo {
            cluster_name: self.config.cluster_name.clone(),
            node_id: self.id.clone(),
            node_name: self.config.node_name.clone(),
        };
        let coordinator = Coordinator::start(
            config,
            info,
            self.config.http_address.clone(),
            self.disk.clone(),
        )
        .await?;
        let server: Arc<dyn ShardServer> = self.clone();
        coordinator.serve_shards(Arc::downgrade(&server));
        let _ = self.coordinator.set(coordinator.clone());
        let rx = coordinator.subscribe();
        crate::runtime::spawn(follow(Arc::downgrade(self), rx));
        Ok(())
    }

    /// The node's part in the cluster, when it is in one.
    pub fn coordinator(&self) -> Option<&Arc<Coordinator>> {
        self.coordinator.get()
    }

    /// The cluster state this node follows.
    pub fn followed(&self) -> Followed {
        self.followed.borrow().clone()
    }

    /// Takes a committed cluster state: its catalog and settings become
    /// current, and the local copies follow the routing table.
    fn follow_state(self: &Arc<Self>, applied: &Applied, me: MemberId) {
        let state = &applied.state;
        let result =
            self.follow_catalog(state.catalog.clone(), |t| local_copies(state, &t.uuid, me));
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot follow the cluster state");
        }
        self.follow_replication(state, me);
        self.breakers.apply(state.settings.breakers());
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = state.settings.clone();
        self.followed.send_replace(Followed {
            index: applied.index,
            state: state.clone(),
        });
        if let Some(c) = self.coordinator() {
            c.mark_followed(applied.index);
        }
    }

    /// Proposes a command decided by `decide` on the state this node
    /// follows; decides again when another change was committed first.
    async fn propose_with<R>(
        &self,
        mut decide: impl FnMut(&Self, u64) -> Result<(Option<Command>, R)>,
    ) -> Result<R> {
        let coordinator = self.coordinator().ok_or_else(crate::cluster::no_master)?;
        for _ in 0..MAX_DECISIONS {
            let base = self.followed().state.version;
            let (command, r) = decide(self, base)?;
            let Some(command) = command else {
                return Ok(r);
            };
            let (index, result) = coordinator.propose(command).await?;
            coordinator.wait_followed_everywhere(index).await?;
            match result {
                CommandResult::Applied { .. } | CommandResult::Ignored { .. } => return Ok(r),
                CommandResult::Stale { .. } => continue,
            }
        }
        Err(Error::internal(
            "the cluster state kept changing while this change was decided; try again",
        ))
    }

    /// A catalog change, in a cluster.
    pub(super) async fn propose_catalog<R>(
        &self,
        mut f: impl FnMut(&mut Catalog) -> Result<R>,
    ) -> Result<R> {
        self.propose_with(|node, base| {
            let (next, r) = node.decide_catalog(&mut f)?;
            let unchanged = next.version == node.catalog().version;
            let command = (!unchanged).then_some(Command::PutCatalog {
                base,
                catalog: next,
            });
            Ok((command, r))
        })
        .await
    }

    /// `SET GLOBAL` / `RESET GLOBAL`, in a cluster.
    pub(super) async fn propose_settings(
        &self,
        f: impl Fn(&mut ClusterSettings) -> Result<()>,
    ) -> Result<QueryResult> {
        self.propose_with(|node, base| {
            let mut settings = node.cluster_settings();
            f(&mut settings)?;
            Ok((Some(Command::PutSettings { base, settings }), ()))
        })
        .await?;
        Ok(QueryResult::affected(1))
    }

    /// `ALTER CLUSTER DECOMMISSION 'node'`: the node (by id or name) is
    /// drained of its shard copies, which move to the other nodes.
    pub(super) async fn decommission(&self, node: &str) -> Result<QueryResult> {
        if self.coordinator().is_none() {
            return Err(Error::Unsupported(
                "ALTER CLUSTER DECOMMISSION needs a cluster: this node runs on its own".into(),
            ));
        }
        self.propose_with(|n, _| {
            let state = n.followed().state;
            let member = state
                .members
                .iter()
                .find(|(_, m)| m.node_id == node || m.name == node)
                .map(|(id, _)| *id)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!("Node \"{node}\" is not part of the cluster"))
                })?;
            Ok((Some(Command::Decommission { node: member }), ()))
        })
        .await?;
        Ok(QueryResult::affected(1))
    }

    /// Resolves once this node was decommissioned and holds no shard copy
    /// any more: CrateDB's decommissioned node then stops itself, and so
    /// does `shoal server` (the cluster notices it left, with nothing to
    /// re-create).
    pub async fn decommissioned(&self) {
        while !self.drained() {
            crate::runtime::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    /// Whether this node is decommissioned and holds no copy, nor is a
    /// relocation's source.
    fn drained(&self) -> bool {
        let Some(me) = self.coordinator().map(|c| c.id) else {
            return false;
        };
        let followed = self.followed();
        let state = &followed.state;
        let mut copies = state
            .routing
            .tables
            .values()
            .flatten()
            .flat_map(|s| &s.copies);
        state.draining.contains(&me)
            && !copies.any(|c| c.node == Some(me) || c.relocating_node == Some(me))
    }

    /// `ALTER CLUSTER REROUTE RETRY FAILED`: replicas whose allocation
    /// failed too often are allocated again; answers how many. A node on
    /// its own has none.
    pub(super) async fn retry_failed(&self) -> Result<QueryResult> {
        if self.coordinator().is_none() {
            return Ok(QueryResult::affected(0));
        }
        let failed = self
            .followed()
            .state
            .routing
            .tables
            .values()
            .flatten()
            .flat_map(|s| &s.copies)
            .filter(|c| c.failures > 0 && c.node.is_none())
            .count();
        self.propose_with(|_, _| Ok((Some(Command::RetryFailed), ())))
            .await?;
        Ok(QueryResult::affected(failed as i64))
    }

    /// The nodes holding a copy of `shard` in `role`, by the routing table:
    /// for reads every started copy, this node's first; for writes the
    /// started primary.
    /// The members holding a started copy of a shard of any of the
    /// tables, `me` first when it is one.
    pub(super) fn members_holding(&self, tables: &[&str], me: MemberId) -> Vec<String> {
        let followed = self.followed();
        let state = &followed.state;
        let mut holders: Vec<MemberId> = tables
            .iter()
            .filter_map(|uuid| state.routing.tables.get(*uuid))
            .flatten()
            .flat_map(|shard| &shard.copies)
            .filter(|c| matches!(c.state, CopyState::Started | CopyState::Relocating))
            .filter_map(|c| c.node)
            .collect();
        holders.sort_by_key(|n| (*n != me, *n));
        holders.dedup();
        holders
            .iter()
            .filter_map(|n| state.members.get(n))
            .map(|m| m.node_id.clone())
            .collect()
    }

    pub(super) fn locate_in_cluster(
        &self,
        shard: &ShardId,
        role: CopyRole,
        me: MemberId,
    ) -> Result<Vec<String>> {
        let followed = self.followed();
        let state = &followed.state;
        let unavailable = || Error::ShardsUnavailable(format!("{shard} is not available"));
        let copies = state
            .shard(&shard.uuid, shard.shard)
            .ok_or_else(unavailable)?;
        let started = copies.copies.iter().filter(|c| {
            matches!(c.state, CopyState::Started | CopyState::Relocating)
                && (role == CopyRole::Any || c.primary)
        });
        let mut chosen: Vec<MemberId> = started.filter_map(|c| c.node).collect();
        chosen.sort_by_key(|n| *n != me);
        let nodes: Vec<String> = chosen
            .iter()
            .filter_map(|n| state.members.get(n))
            .map(|m| m.node_id.clone())
            .collect();
        if nodes.is_empty() {
            return Err(unavailable());
        }
        Ok(nodes)
    }
}

impl Node {
    /// `REFRESH TABLE` and `OPTIMIZE TABLE` in a cluster: `request` runs
    /// on every started copy of every shard of the named tables, wherever
    /// it is, and on the recovering copies too when `recovering`.
    pub(super) async fn on_every_copy(
        &self,
        session: &super::Session,
        names: &[sqlparser::ast::ObjectName],
        recovering: bool,
        request: impl Fn(ShardId) -> ShardRequest,
    ) -> Result<QueryResult> {
        use crate::exec::Cluster;
        let mut tables = Vec::with_capacity(names.len());
        for n in names {
            tables.push(self.resolve_user_table(session, n)?);
        }
        let followed = self.followed();
        let mut requests = Vec::new();
        for t in &tables {
            for s in 0..t.num_shards {
                let shard = ShardId {
                    table: t.ident.clone(),
                    uuid: t.uuid.clone(),
                    shard: s,
                };
                let copies = followed
                    .state
                    .shard(&t.uuid, s)
                    .ok_or_else(|| Error::ShardsUnavailable(format!("{shard} is not available")))?;
                let holders = copies.copies.iter().filter(|c| match c.state {
                    CopyState::Unassigned => false,
                    CopyState::Initializing => recovering,
                    CopyState::Started | CopyState::Relocating => true,
                });
                for member in holders.filter_map(|c| followed.state.members.get(&c.node?)) {
                    let node = member.node_id.clone();
                    let key = (shard.uuid.clone(), shard.shard);
                    let request = request(shard.clone());
                    requests.push(async move { (key, self.run(&node, request).await) });
                }
            }
        }
        // A copy that fails is no error while another copy of its shard
        // did the work (it was just moved or its node just left); a shard
        // none of whose copies did is.
        let mut refreshed = std::collections::BTreeMap::new();
        for (key, r) in futures::future::join_all(requests).await {
            let entry = refreshed.entry(key).or_insert(Err(None));
            match (r, &entry) {
                (Ok(_), _) => *entry = Ok(()),
                (Err(e), Err(None)) => *entry = Err(Some(e)),
                (Err(_), _) => {}
            }
        }
        for r in refreshed.into_values() {
            if let Err(Some(e)) = r {
                return Err(e);
            }
        }
        Ok(QueryResult::affected(tables.len() as i64))
    }
}

/// Follows every state the coordinator applies, in order.
async fn follow(node: std::sync::Weak<Node>, mut rx: tokio::sync::watch::Receiver<Applied>) {
    loop {
        let applied = rx.borrow_and_update().clone();
        let Some(n) = node.upgrade() else { return };
        let Some(me) = n.coordinator().map(|c| c.id) else {
            return;
        };
        n.follow_state(&applied, me);
        drop(n);
        if rx.changed().await.is_err() {
            return;
        }
    }
}

impl ShardServer for Node {
    fn serve_shard(&self, mut request: ShardRequest) -> BoxFuture<'_, Result<ShardResponse>> {
        // Another node's request: what it holds counts on this node's
        // breaker, and KILL of its statement stops it here too.
        if let Some(ctx) = request.ctx_mut() {
            ctx.memory = self.breakers.statement();
            if let Some(job) = &ctx.job {
                self.jobs.attach_part(job, &ctx.memory);
            }
        }
        Box::pin(self.serve_local(request))
    }

    fn local_rows(
        &self,
        table: crate::planner::SystemTable,
    ) -> BoxFuture<'_, Result<Vec<crate::types::Row>>> {
        Box::pin(async move { Ok(self.own_rows(table)) })
    }

    fn join_part(
        &self,
        mut part: crate::request::JoinPart,
    ) -> BoxFuture<'_, Result<crate::request::Partial>> {
        // As another node's shard request: accounted on this node's
        // breaker, and stopped here by KILL of its statement.
        part.ctx.memory = self.breakers.statement();
        if let Some(job) = &part.ctx.job {
            self.jobs.attach_part(job, &part.ctx.memory);
        }
        Box::pin(async move {
            let ctx = part.ctx.clone();
            crate::exec::Executor::new(self, ctx).join_part(part).await
        })
    }

    fn kill_jobs(&self, job: Option<String>) -> usize {
        self.jobs.kill(job.as_deref())
    }

    fn copy_part(
        &self,
        part: crate::request::CopyPart,
    ) -> BoxFuture<'_, Result<crate::request::CopyOutcome>> {
        #[cfg(not(madsim))]
        return Box::pin(self.run_copy_part(part, None));
        #[cfg(madsim)]
        {
            let _ = part;
            Box::pin(async {
                Err(Error::Unsupported(
                    "COPY is not available in the simulator".into(),
                ))
            })
        }
    }
}

/// The copies of a table this node holds, by the routing table: started
/// ones open from disk; initializing ones are peer recovery's, and so are
/// copies waiting for this node to come back, kept as they are: replicas
/// (to catch up by operations) and primaries (the master gives the
/// primary back to the node with its data; a node catching up on the
/// states of its absence passes through one where its primary has no node,
/// and deleting the copy there lost every acknowledged write of the shard).
fn local_copies(state: &ClusterState, uuid: &str, me: MemberId) -> LocalCopies {
    let mut local = LocalCopies::default();
    let shards = state.routing.tables.get(uuid).into_iter().flatten();
    for (i, shard) in shards.enumerate() {
        let waiting = shard
            .copies
            .iter()
            .any(|c| (c.delayed || c.primary) && c.node.is_none() && c.last_node == Some(me));
        match shard.on_node(me).map(|c| c.state) {
            Some(CopyState::Initializing) => local.recovering.insert(i as u32),
            Some(_) => local.open.insert(i as u32),
            None if waiting => local.recovering.insert(i as u32),
            None => false,
        };
    }
    local
}
