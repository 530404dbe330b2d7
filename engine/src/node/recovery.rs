//! Peer recovery, the node's part. A copy the routing table assigns to
//! this node as INITIALIZING is recovered here from its primary: the
//! segments first, then the operations since (`storage/shard/recovery.rs`);
//! then the node reports it started through the master. A copy that
//! comes back to this node keeps its own data and asks to catch up by
//! operations alone, saying what it holds; its primary keeps the translog
//! for it meanwhile, and grants it if that is its own history
//! (`storage/shard/history.rs`). The primary's side answers those
//! requests once it follows the state that lists the recovering copy.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::Node;
use super::recovery_state::{RecoveryStage, RecoveryState, RecoveryStates, RecoveryType};
use crate::catalog::TableInfo;
use crate::cluster::{ClusterState, Command, CopyState, MemberId, ShardCopy};
use crate::error::{Error, Result};
use crate::exec::{Cluster, CopyRole};
use crate::planted::{Bug, planted};
use crate::request::{ShardId, ShardRequest, ShardResponse};
use crate::storage::{CatchUp, HELD_HISTORY_LIMIT, HeldHistory, Shard, SyncInFlight};

/// How long a failed recovery waits before giving its copy back to the
/// master (which allocates it again), so a failing source is not hammered.
const RECOVERY_RETRY_DELAY: Duration = Duration::from_secs(1);

/// How long a recovery source waits to follow the cluster state that lists
/// the recovering copy, and to have its own copy open.
const RECOVERY_STATE_WAIT: Duration = Duration::from_secs(10);

/// How often a recovery source looks again while it waits.
const SOURCE_POLL: Duration = Duration::from_millis(2);

/// The translog retention a primary holds while a replica waits for its node.
const NODE_LEFT: &str = "node-left";

/// How many completed recoveries a node remembers.
const RECOVERY_LOG: usize = 1000;

/// A completed recovery of a copy on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub shard: ShardId,
    pub allocation_id: String,
    /// Whether segments were copied; false when the copy caught up by
    /// operations alone.
    pub files: bool,
    pub bytes: u64,
    pub operations: usize,
}

/// A node's recovery bookkeeping, as target and as source.
#[derive(Debug, Default)]
pub(super) struct Recoveries {
    /// For each shard this node is primary of: the recovering copies
    /// (allocation ids) that receive new writes.
    tracking: std::sync::Mutex<BTreeMap<(String, u32), BTreeSet<String>>>,
    /// The copies (allocation ids) this node recovers, or recovered and
    /// reported started.
    recovering: std::sync::Mutex<BTreeSet<String>>,
    /// The recoveries this node completed, oldest first (the last
    /// [`RECOVERY_LOG`]).
    done: std::sync::Mutex<VecDeque<Recovery>>,
    /// The recovery of each copy on this node, as `sys.shards` shows it.
    states: RecoveryStates,
    /// Copies this node could not open and reported failed: (allocation
    /// id, primary term).
    unopened: std::sync::Mutex<BTreeSet<(String, u64)>>,
}

/// Why a recovery failed, and whether on its source's side: the primary
/// could not be reached or could not serve it. That is not the copy's own
/// failure, and does not count against `allocation.max_retries` (a copy
/// whose node cannot reach its primary for a while would otherwise fail
/// five recoveries in a row and stay unassigned for good, the cluster
/// YELLOW once the network healed).
struct Failure {
    error: Error,
    source_failed: bool,
}

impl Failure {
    /// A failure of the recovery's source.
    fn source(error: Error) -> Failure {
        Failure {
            error,
            source_failed: true,
        }
    }
}

/// A failure on this node: the copy's own.
impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure {
            error,
            source_failed: false,
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Node {
    /// The recovering copies (allocation ids) of a shard this node is
    /// primary of that receive new writes.
    pub(super) fn tracked_copies(&self, shard: &ShardId) -> BTreeSet<String> {
        lock(&self.recoveries.tracking)
            .get(&(shard.uuid.clone(), shard.shard))
            .cloned()
            .unwrap_or_default()
    }

    /// How this node's copy of a shard recovered, or where its recovery
    /// is; a copy opened from this node's disk (its `stats` given, as
    /// `sys.shards` has them) is a `STORE` recovery.
    pub(super) fn recovery_state(
        &self,
        uuid: &str,
        shard: u32,
        stats: Option<&crate::storage::ShardStats>,
    ) -> Option<RecoveryState> {
        let store = || stats.map(|s| RecoveryState::from_store(s.segments as u64, s.size_bytes));
        self.recoveries.states.get(uuid, shard).or_else(store)
    }

    /// The recoveries this node completed, oldest first.
    pub fn recoveries(&self) -> Vec<Recovery> {
        lock(&self.recoveries.done).iter().cloned().collect()
    }

    /// The primary's first recovery step: the segments, or none when the
    /// copy may catch up by operations — it still holds data of the shard
    /// (`held`), the translog still has what it lacks, and its history is
    /// this primary's: known when it comes back under the term it left
    /// with, checked operation by operation above its global checkpoint
    /// otherwise (a demoted primary's, say).
    pub(super) async fn serve_recovery_files(
        &self,
        shard: &ShardId,
        allocation_id: &str,
        held: Option<HeldHistory>,
    ) -> Result<ShardResponse> {
        let (recovering, term) = self.recovering_copy(shard, allocation_id).await?;
        let catch_up = held.as_ref().and_then(|held| {
            if recovering.left_term == Some(term) || planted(Bug::UncheckedCatchUp) {
                Some(CatchUp::Below(held.processed_below))
            } else {
                held.above.as_ref().map(CatchUp::Held)
            }
        });
        // A primary the same cluster state created may still be opening.
        let opened = || self.copy_of(shard).ok();
        let copy = crate::runtime::poll_until(RECOVERY_STATE_WAIT, SOURCE_POLL, opened).await;
        let copy = copy.map_or_else(|| self.copy_of(shard), Ok)?;
        let files = copy.recovery_files(allocation_id, catch_up).await?;
        Ok(ShardResponse::RecoveryFiles(files))
    }

    /// A chunk of a segment file a recovery listed, for the copy to fetch.
    pub(super) async fn serve_recovery_chunk(
        &self,
        shard: &ShardId,
        allocation_id: &str,
        segment: u32,
        file: String,
        offset: u64,
    ) -> Result<ShardResponse> {
        self.recovering_copy(shard, allocation_id).await?;
        let copy = self.copy_of(shard)?;
        let id = allocation_id.to_string();
        let chunk =
            crate::runtime::run_blocking(move || copy.recovery_chunk(&id, segment, &file, offset));
        Ok(ShardResponse::RecoveryChunk(chunk.await?))
    }

    /// The primary's second recovery step: new writes go to the copy from
    /// the first page on, and the operations since the segments are
    /// answered a page at a time.
    pub(super) async fn serve_recovery_ops(
        &self,
        shard: &ShardId,
        allocation_id: &str,
        cursor: Option<crate::storage::OpsCursor>,
    ) -> Result<ShardResponse> {
        self.recovering_copy(shard, allocation_id).await?;
        let copy = self.copy_of(shard)?;
        lock(&self.recoveries.tracking)
            .entry((shard.uuid.clone(), shard.shard))
            .or_default()
            .insert(allocation_id.to_string());
        let id = allocation_id.to_string();
        // The generation it sends from is held on the request breaker.
        let breaker = self.breakers.request.clone();
        let ops =
            crate::runtime::run_blocking(move || copy.recovery_ops_page(&id, cursor, &breaker))
                .await;
        if ops.is_err()
            && let Some(t) =
                lock(&self.recoveries.tracking).get_mut(&(shard.uuid.clone(), shard.shard))
        {
            t.remove(allocation_id);
        }
        Ok(ShardResponse::RecoveryOps(ops?))
    }

    /// The recovering copy a request names, and the shard's primary term.
    /// The target may follow the cluster state ahead of this node, so a
    /// copy not listed yet is waited for (a while); one the routing table
    /// does not list as recovering is refused.
    async fn recovering_copy(
        &self,
        shard: &ShardId,
        allocation_id: &str,
    ) -> Result<(ShardCopy, u64)> {
        let find = |f: &super::clustered::Followed| {
            let copies = f.state.shard(&shard.uuid, shard.shard)?;
            let copy = copies.copy(allocation_id)?;
            Some((copy.clone(), copies.primary_term))
        };
        let rx = self.followed.subscribe();
        let listed = || find(&rx.borrow());
        let found = crate::runtime::poll_until(RECOVERY_STATE_WAIT, SOURCE_POLL, listed).await;
        match found {
            Some((c, term)) if c.state == CopyState::Initializing => Ok((c, term)),
            _ => Err(Error::ShardsUnavailable(format!(
                "{shard}: no copy {allocation_id} is recovering"
            ))),
        }
    }

    /// Follows the routing table's replication side: recoveries start for
    /// copies newly assigned here, copies learn their primary term, a
    /// primary under a new term resyncs the other copies, and
    /// bookkeeping for copies that are gone is dropped.
    pub(super) fn follow_replication(self: &Arc<Self>, state: &ClusterState, me: MemberId) {
        let mut initializing_here = BTreeSet::new();
        let mut initializing_anywhere = BTreeSet::new();
        let mut resyncs = Vec::new();
        for table in state.catalog.tables() {
            let Some(shards) = state.routing.tables.get(&table.uuid) else {
                continue;
            };
            for (n, copies) in shards.iter().enumerate() {
                let n = n as u32;
                let recovering: BTreeSet<&str> = copies
                    .copies
                    .iter()
                    .filter(|c| c.state == CopyState::Initializing)
                    .filter_map(|c| c.allocation_id.as_deref())
                    .collect();
                initializing_anywhere.extend(recovering.iter().map(|s| s.to_string()));
                let local = self.shard(&table.uuid, n);
                let is_primary = copies.primary_on(me);
                if let Some(local) = &local {
                    if local.raise_primary_term(copies.primary_term) && is_primary {
                        tracing::info!(table = %table.ident, shard = n, term = copies.primary_term, "this copy is the primary under a new term");
                    }
                    // A primary keeps its translog while a replica waits
                    // for its node, so that it can catch up by operations.
                    // (A copy placed back on its node may not know yet
                    // whether its history passes: kept for any recovering
                    // copy that is not a relocation's.)
                    let waiting = copies.copies.iter().any(|c| {
                        (c.delayed && c.node.is_none())
                            || (c.state == CopyState::Initializing && !c.is_relocation_target())
                    });
                    if waiting
                        && is_primary
                        && let Err(e) = local.retain_history(NODE_LEFT)
                    {
                        tracing::warn!(table = %table.ident, shard = n, error = %e, "cannot keep the translog");
                    }
                    local.retain_only(|id| {
                        recovering.contains(id) || (id == NODE_LEFT && waiting && is_primary)
                    });
                    if is_primary && local.resync_due().is_some() {
                        resyncs.push(ShardId {
                            table: table.ident.clone(),
                            uuid: table.uuid.clone(),
                            shard: n,
                        });
                    }
                }
                let Some(mine) = copies.on_node(me) else {
                    continue;
                };
                // A copy this node should hold open but could not open
                // (its files are damaged, say) is failed, so the master
                // promotes a replica or tries again.
                if local.is_none()
                    && matches!(mine.state, CopyState::Started | CopyState::Relocating)
                    && let Some(id) = &mine.allocation_id
                {
                    self.report_unopened(table, n, id, copies.primary_term);
                }
                let Some(id) = mine
                    .allocation_id
                    .clone()
                    .filter(|_| mine.state == CopyState::Initializing)
                else {
                    continue;
                };
                initializing_here.insert(id.clone());
                if lock(&self.recoveries.recovering).insert(id.clone()) {
                    tracing::info!(table = %table.ident, shard = n, allocation_id = %id, "recovering a copy from its primary");
                    // What this node still holds of the shard may let it
                    // catch up by operations.
                    let node = self.clone();
                    let table = table.clone();
                    crate::runtime::spawn(async move { node.recover(table, n, id, local).await });
                }
            }
        }
        self.start_due_resyncs(resyncs);
        self.recoveries.states.retain(|uuid, n| {
            state
                .shard(uuid, n)
                .is_some_and(|copies| copies.on_node(me).is_some())
        });
        lock(&self.recoveries.recovering).retain(|id| initializing_here.contains(id));
        self.write_gates
            .retain(|uuid, shard| state.shard(uuid, shard).is_some());
        for tracked in lock(&self.recoveries.tracking).values_mut() {
            tracked.retain(|id| initializing_anywhere.contains(id));
        }
    }

    /// Reports a copy this node could not open as failed, once per copy
    /// and primary term.
    fn report_unopened(self: &Arc<Self>, table: &TableInfo, shard: u32, id: &str, term: u64) {
        if !lock(&self.recoveries.unopened).insert((id.to_string(), term)) {
            return;
        }
        let Some(coordinator) = self.coordinator().cloned() else {
            return;
        };
        tracing::warn!(table = %table.ident, shard, allocation_id = id, "cannot open a shard copy; failing it");
        let failed = Command::ShardFailed {
            uuid: table.uuid.clone(),
            shard,
            allocation_id: id.to_string(),
            reason: "the copy could not be opened on its node".into(),
            primary_term: None,
            diverged: true,
            out_of_reach: false,
        };
        let node = self.clone();
        let key = (id.to_string(), term);
        crate::runtime::spawn(async move {
            if let Err(e) = coordinator.propose(failed).await {
                // Reported again when the node next follows a state.
                tracing::warn!(error = %e, "cannot report a shard copy that did not open");
                lock(&node.recoveries.unopened).remove(&key);
            }
        });
    }

    /// Recovers a copy assigned here from its primary and reports it
    /// started; on failure gives it back to the master.
    async fn recover(
        self: Arc<Self>,
        table: Arc<TableInfo>,
        shard: u32,
        allocation_id: String,
        existing: Option<Arc<Shard>>,
    ) {
        let id = ShardId {
            table: table.ident.clone(),
            uuid: table.uuid.clone(),
            shard,
        };
        let result = self
            .recover_from_primary(&table, &id, &allocation_id, existing)
            .await;
        let Failure {
            error: e,
            source_failed,
        } = match result {
            Ok(done) => {
                let mut log = lock(&self.recoveries.done);
                if log.len() >= RECOVERY_LOG {
                    log.pop_front();
                }
                log.push_back(done);
                return;
            }
            Err(failure) => failure,
        };
        tracing::warn!(shard = %id, allocation_id, error = %e, source_failed, "recovery failed");
        crate::runtime::sleep(RECOVERY_RETRY_DELAY).await;
        lock(&self.recoveries.recovering).remove(&allocation_id);
        let Some(coordinator) = self.coordinator() else {
            return;
        };
        let failed = Command::ShardFailed {
            uuid: id.uuid.clone(),
            shard,
            allocation_id,
            reason: format!("recovery failed: {e}"),
            primary_term: None,
            diverged: true,
            out_of_reach: source_failed,
        };
        if let Err(e) = coordinator.propose(failed).await {
            tracing::warn!(shard = %id, error = %e, "cannot report a failed recovery");
        }
    }

    async fn recover_from_primary(
        &self,
        table: &Arc<TableInfo>,
        id: &ShardId,
        allocation_id: &str,
        existing: Option<Arc<Shard>>,
    ) -> std::result::Result<Recovery, Failure> {
        let coordinator = self.coordinator().ok_or_else(crate::cluster::no_master)?;
        let kind = match self.relocating_primary(id, allocation_id) {
            Some(_) => RecoveryType::Relocating,
            None => RecoveryType::Replica,
        };
        let states = &self.recoveries.states;
        states.begin(&id.uuid, id.shard, kind);
        // Recoveries start while the node takes a new cluster state: the
        // primary is looked up in that state, not the one before.
        let (_, term) = self.recovering_copy(id, allocation_id).await?;
        let primary = self
            .locate(id, CopyRole::Primary)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::ShardsUnavailable(format!("{id} has no primary")))
            .map_err(Failure::source)?;
        let held = match &existing {
            Some(existing) => {
                let existing = existing.clone();
                let listed = move || existing.held_history(HELD_HISTORY_LIMIT);
                // A copy that cannot say what it holds gets files.
                match crate::runtime::run_blocking(listed).await {
                    Ok(held) => Some(held),
                    Err(e) => {
                        tracing::warn!(shard = %id, allocation_id, error = %e, "cannot list what this copy holds; recovering it from files");
                        None
                    }
                }
            }
            None => None,
        };
        let files = match coordinator
            .send_shard(
                &primary,
                ShardRequest::RecoverFiles {
                    shard: id.clone(),
                    allocation_id: allocation_id.to_string(),
                    held,
                },
            )
            .await
            .map_err(Failure::source)?
        {
            ShardResponse::RecoveryFiles(f) => f,
            other => return Err(crate::exec::unexpected(&other).into()),
        };
        let (segments, bytes, ops_based) = (files.segments.len(), files.size(), files.ops_based);
        states.update(&id.uuid, id.shard, |s| {
            s.stage = RecoveryStage::Index;
            s.files.used = files.file_count();
            s.size.used = bytes;
            if ops_based && let Some(existing) = &existing {
                s.files.used = existing.segments().len() as u64;
                s.size.used = existing.stats().size_bytes;
                s.files.reused = s.files.used;
                s.size.reused = s.size.used;
            }
        });
        let copy = match (files.ops_based, existing) {
            (true, Some(existing)) => existing,
            (true, None) => {
                return Err(Error::internal(format!(
                    "{id}: the primary offered a recovery by operations to a node without a copy"
                ))
                .into());
            }
            (false, existing) => {
                // Whatever this node held of the shard is replaced.
                if existing.is_some() {
                    self.close_shard(&id.uuid, id.shard);
                }
                self.fetch_segments(&primary, id, allocation_id, &files)
                    .await?;
                let disk = self.disk.clone();
                let durable = self.config.durable;
                let (t, n) = (table.clone(), id.shard);
                Arc::new(
                    crate::runtime::run_blocking(move || {
                        Shard::open_recovered(t, n, disk, durable, files)
                    })
                    .await?,
                )
            }
        };
        if let Some(current) = self
            .catalog()
            .table(&id.table)
            .filter(|t| t.uuid == id.uuid)
        {
            copy.set_table(current.clone());
        }
        self.install_shard(&id.uuid, id.shard, copy.clone());
        states.update(&id.uuid, id.shard, |s| s.stage = RecoveryStage::Translog);
        let mut cursor = None;
        let mut replayed = 0;
        loop {
            let request = ShardRequest::RecoverOps {
                shard: id.clone(),
                allocation_id: allocation_id.to_string(),
                cursor,
            };
            let page = match coordinator
                .send_shard(&primary, request)
                .await
                .map_err(Failure::source)?
            {
                ShardResponse::RecoveryOps(page) => page,
                other => return Err(crate::exec::unexpected(&other).into()),
            };
            replayed += page.ops.len();
            let applied = copy.clone();
            let ops = page.ops;
            let sync = crate::runtime::run_blocking(move || applied.apply_replicated(ops)).await?;
            SyncInFlight::wait_for(sync).await?;
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        // A copy starts searchable as of the end of its recovery (as an
        // Elasticsearch recovery finalizes with a refresh): a REFRESH that
        // ran while it recovered did not reach it.
        copy.refresh().await?;
        states.update(&id.uuid, id.shard, |s| s.stage = RecoveryStage::Finalize);
        match self.relocating_primary(id, allocation_id) {
            // The new copy of a relocating primary: the primary hands off.
            Some(source) => {
                let request = ShardRequest::HandOff {
                    shard: id.clone(),
                    allocation_id: allocation_id.to_string(),
                };
                match coordinator
                    .send_shard(&source, request)
                    .await
                    .map_err(Failure::source)?
                {
                    ShardResponse::HandedOff => {}
                    other => return Err(crate::exec::unexpected(&other).into()),
                }
            }
            None => {
                let (_, result) = coordinator
                    .propose(Command::ShardStarted {
                        uuid: id.uuid.clone(),
                        shard: id.shard,
                        allocation_id: allocation_id.to_string(),
                        primary_term: Some(term),
                    })
                    .await
                    .map_err(Failure::source)?;
                // No master to start it now, or a primary replaced
                // meanwhile, is not the copy's own failure.
                if !matches!(result, crate::cluster::CommandResult::Applied { .. }) {
                    return Err(Failure::source(Error::ShardsUnavailable(format!(
                        "{id}: the primary changed while copy {allocation_id} recovered from it"
                    ))));
                }
            }
        }
        states.update(&id.uuid, id.shard, RecoveryState::finish);
        tracing::info!(
            shard = %id, allocation_id, segments, bytes, operations = replayed,
            "recovered from the primary"
        );
        Ok(Recovery {
            shard: id.clone(),
            allocation_id: allocation_id.to_string(),
            files: !ops_based,
            bytes,
            operations: replayed,
        })
    }

    /// Fetches the segments a recovery listed from the primary, in chunks,
    /// writing each file to this node's disk once complete (the recovery's
    /// progress counts files and bytes as they arrive).
    async fn fetch_segments(
        &self,
        primary: &str,
        id: &ShardId,
        allocation_id: &str,
        files: &crate::storage::RecoveryFiles,
    ) -> std::result::Result<(), Failure> {
        let coordinator = self.coordinator().ok_or_else(crate::cluster::no_master)?;
        let (uuid, n) = (id.uuid.clone(), id.shard);
        let disk = self.disk.clone();
        crate::runtime::run_blocking(move || Shard::clear_for_recovery(disk.as_ref(), &uuid, n))
            .await?;
        // A file is held whole until written: accounted on the request
        // breaker, so a recovery cannot take the node's memory.
        let account = crate::breaker::MemoryAccount::new(self.breakers.request.clone());
        let progress = |files: u64, bytes: u64| {
            self.recoveries.states.update(&id.uuid, id.shard, |s| {
                s.files.recovered += files;
                s.size.recovered += bytes;
            })
        };
        for listed in &files.segments {
            for (name, len) in &listed.files {
                account.reserve(*len, "recovery")?;
                let mut contents = Vec::with_capacity((*len as usize).min(64 << 20));
                while (contents.len() as u64) < *len {
                    let request = ShardRequest::RecoverChunk {
                        shard: id.clone(),
                        allocation_id: allocation_id.to_string(),
                        segment: listed.id,
                        file: name.clone(),
                        offset: contents.len() as u64,
                    };
                    let chunk = match coordinator
                        .send_shard(primary, request)
                        .await
                        .map_err(Failure::source)?
                    {
                        ShardResponse::RecoveryChunk(c) if !c.is_empty() => c,
                        ShardResponse::RecoveryChunk(_) => {
                            return Err(Error::Io(format!(
                                "{id}: the primary's segment file {name} ended early"
                            ))
                            .into());
                        }
                        other => return Err(crate::exec::unexpected(&other).into()),
                    };
                    progress(0, chunk.len() as u64);
                    contents.extend_from_slice(&chunk);
                }
                let (disk, uuid, segment, name) =
                    (self.disk.clone(), id.uuid.clone(), listed.id, name.clone());
                crate::runtime::run_blocking(move || {
                    Shard::write_recovered_file(disk.as_ref(), &uuid, n, segment, &name, &contents)
                })
                .await?;
                account.release(*len);
                progress(1, 0);
            }
            if let Some(alive) = &listed.alive {
                Shard::write_recovered_alive(self.disk.as_ref(), &id.uuid, n, listed.id, alive)?;
                progress(1, alive.len() as u64);
            }
        }
        Ok(())
    }

    /// The node id of the primary that the copy `allocation_id` relocates
    /// from, if it is the new copy of a relocating primary.
    fn relocating_primary(&self, id: &ShardId, allocation_id: &str) -> Option<String> {
        let followed = self.followed();
        let state = &followed.state;
        let copies = state.shard(&id.uuid, id.shard)?;
        let source = copies.copy(allocation_id)?.relocating_node?;
        let primary = copies.primary()?;
        (primary.node == Some(source) && primary.state == CopyState::Relocating)
            .then(|| state.members.get(&source).map(|m| m.node_id.clone()))
            .flatten()
    }

    /// The primary's side of a hand-off: with the shard's writes held (none
    /// in flight, so the new copy has every one), the new copy is started
    /// through the master, which makes it primary under the next term; the
    /// writes held are let go once every node follows that, and are sent
    /// on to the new primary.
    pub(super) async fn serve_hand_off(
        &self,
        shard: &ShardId,
        allocation_id: &str,
    ) -> Result<ShardResponse> {
        let (copy, term) = self.recovering_copy(shard, allocation_id).await?;
        let coordinator = self.coordinator().ok_or_else(crate::cluster::no_master)?;
        if copy.relocating_node != Some(coordinator.id) {
            return Err(Error::ShardsUnavailable(format!(
                "{shard}: copy {allocation_id} does not relocate from this node"
            )));
        }
        let gate = self.write_gates.of(shard);
        let _held = gate.write().await;
        let (index, result) = coordinator
            .propose(Command::ShardStarted {
                uuid: shard.uuid.clone(),
                shard: shard.shard,
                allocation_id: allocation_id.to_string(),
                primary_term: Some(term),
            })
            .await?;
        if !matches!(result, crate::cluster::CommandResult::Applied { .. }) {
            return Err(Error::ShardsUnavailable(format!(
                "{shard}: copy {allocation_id} is no longer relocating"
            )));
        }
        coordinator.wait_followed_everywhere(index).await?;
        tracing::info!(%shard, allocation_id, "primary handed off");
        Ok(ShardResponse::HandedOff)
    }
}
