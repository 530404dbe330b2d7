//! Decide, then apply: every catalog change is first computed as a new
//! catalog state ([`Node::decide_catalog`]: nothing changes yet, and a
//! state that breaks a limit is refused), then applied
//! ([`Node::apply_catalog`]: persisted, made current, and the local shards
//! opened, updated or removed to match it).
//!
//! In a cluster, consensus sits between the two: the master decides, the
//! state is committed, and every node applies what was committed. A node
//! opening its data directory applies the catalog it finds there.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use super::{CATALOG_PATH, Node};
use crate::catalog::{Catalog, TableIdent, TableInfo};
use crate::error::{Error, Result};
use crate::storage::Shard;

/// The shard copies of a table a node holds: those to open from its disk,
/// and those peer recovery opens (left as they are).
#[derive(Debug, Default)]
pub(crate) struct LocalCopies {
    pub open: BTreeSet<u32>,
    pub recovering: BTreeSet<u32>,
}

impl Node {
    /// Computes the next catalog with `f` applied to a copy of the current
    /// one, and checks it: tables that changed against their mapping
    /// limits, the whole against `cluster.max_shards_per_node`, and that it
    /// reads back. Nothing is applied.
    pub(crate) fn decide_catalog<R>(
        &self,
        f: impl FnOnce(&mut Catalog) -> Result<R>,
    ) -> Result<(Catalog, R)> {
        let current = self.catalog();
        let mut next = (*current).clone();
        let r = f(&mut next)?;
        for t in next.tables() {
            let unchanged = current
                .table(&t.ident)
                .is_some_and(|old| Arc::ptr_eq(old, t));
            if !unchanged {
                t.check_mapping()?;
            }
        }
        self.check_shard_limit(&current, &next)?;
        next.to_checked_bytes()?;
        Ok((next, r))
    }

    /// Applies a catalog state on a node on its own: persists it (unless it
    /// was just read from disk), then follows it with every shard local.
    pub(crate) fn apply_catalog(&self, next: Catalog, persist: bool) -> Result<()> {
        if persist {
            self.disk
                .write_atomic(CATALOG_PATH, &next.to_checked_bytes()?)?;
        }
        self.follow_catalog(next, |t| LocalCopies {
            open: (0..t.num_shards).collect(),
            recovering: BTreeSet::new(),
        })
    }

    /// Makes a catalog current and the local shard copies follow it: the
    /// copies `local` names for each table are opened (or recovered from
    /// disk), those it no longer names are closed, tables whose definition
    /// changed are handed to their copies, and the copies of tables that
    /// are gone are deleted.
    pub(crate) fn follow_catalog(
        &self,
        next: Catalog,
        local: impl Fn(&TableInfo) -> LocalCopies,
    ) -> Result<()> {
        let next = Arc::new(next);
        let previous = std::mem::replace(
            &mut *self.catalog.write().unwrap_or_else(|p| p.into_inner()),
            next.clone(),
        );
        let mut result = Ok(());
        for table in next.tables() {
            let LocalCopies {
                open: wanted,
                recovering,
            } = local(table);
            let open = self
                .shards
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&table.uuid)
                .cloned()
                .unwrap_or_default();
            let changed = !previous
                .table(&table.ident)
                .is_some_and(|old| Arc::ptr_eq(old, table));
            for (id, s) in &open {
                if !wanted.contains(id) && !recovering.contains(id) {
                    self.close_shard(&table.uuid, *id);
                } else if changed {
                    s.set_table(table.clone());
                }
            }
            for id in wanted.iter().filter(|id| !open.contains_key(id)) {
                if let Err(e) = self.open_shard(table, *id) {
                    result = result.and(Err(e));
                }
            }
        }
        let kept: HashSet<&str> = next.tables().map(|t| t.uuid.as_str()).collect();
        let gone: Vec<String> = self
            .all_shards()
            .into_keys()
            .filter(|uuid| !kept.contains(uuid.as_str()))
            .collect();
        for uuid in gone {
            if let Err(e) = self.delete_shards(&uuid) {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// Decides and applies a catalog change (under the caller's DDL lock):
    /// on its own, the node applies it; in a cluster, it is proposed and
    /// takes effect once committed (deciding again if another change came
    /// first).
    pub(crate) async fn update_catalog<R>(
        &self,
        mut f: impl FnMut(&mut Catalog) -> Result<R>,
    ) -> Result<R> {
        if self.coordinator().is_some() {
            return self.propose_catalog(f).await;
        }
        let (next, r) = self.decide_catalog(&mut f)?;
        self.apply_catalog(next, true)?;
        Ok(r)
    }

    /// Updates a table's definition (e.g. columns added by a dynamic insert).
    pub(crate) async fn replace_table(
        &self,
        mut f: impl FnMut(&mut TableInfo) -> Result<bool>,
        ident: &TableIdent,
    ) -> Result<Arc<TableInfo>> {
        let _ddl = self.ddl.lock().await;
        self.update_catalog(|c| {
            let mut t = (**c
                .table(ident)
                .ok_or_else(|| Error::RelationUnknown(ident.to_string()))?)
            .clone();
            if f(&mut t)? {
                t.version += 1;
                c.put_table(t);
            }
            c.table(ident)
                .cloned()
                .ok_or_else(|| Error::RelationUnknown(ident.to_string()))
        })
        .await
    }

    /// Opens (or recovers) one shard copy of a table on this node.
    fn open_shard(&self, table: &Arc<TableInfo>, id: u32) -> Result<()> {
        let shard = Arc::new(Shard::open(
            table.clone(),
            id,
            self.disk.clone(),
            self.config.durable,
        )?);
        self.shards
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(table.uuid.clone())
            .or_default()
            .insert(id, shard);
        tracing::info!(table = %table.ident, shard = id, "opened shard");
        Ok(())
    }

    /// Adds a shard copy that peer recovery opened.
    pub(super) fn install_shard(&self, uuid: &str, id: u32, shard: Arc<Shard>) {
        self.shards
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(uuid.to_string())
            .or_default()
            .insert(id, shard);
    }

    /// Closes a shard copy this node no longer holds, and deletes its
    /// files: the routing table gave the copy to another node (a copy that
    /// comes back here is recovered afresh).
    pub(super) fn close_shard(&self, uuid: &str, id: u32) {
        let removed = {
            let mut shards = self.shards.write().unwrap_or_else(|p| p.into_inner());
            shards.get_mut(uuid).and_then(|table| table.remove(&id))
        };
        if let Some(shard) = removed
            && let Err(e) = shard.destroy()
        {
            tracing::warn!(table_uuid = uuid, shard = id, error = %e, "cannot delete a closed shard's files");
        }
        tracing::info!(table_uuid = uuid, shard = id, "closed shard");
    }

    /// Closes and deletes the shards of a table that is gone.
    fn delete_shards(&self, uuid: &str) -> Result<()> {
        let removed = self
            .shards
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uuid)
            .unwrap_or_default();
        for s in removed.into_values() {
            s.destroy()?;
        }
        self.disk.remove_dir(&format!("indices/{uuid}"))?;
        tracing::info!(table_uuid = uuid, "deleted shards");
        Ok(())
    }

    /// Refuses a catalog that would open more shard copies than
    /// `cluster.max_shards_per_node` allows, counting replicas as
    /// Elasticsearch does (a table wanting a million replicas is refused,
    /// instead of listing millions of unassigned copies).
    fn check_shard_limit(&self, current: &Catalog, next: &Catalog) -> Result<()> {
        let nodes = match self.coordinator() {
            Some(_) => self.followed().state.members.len().max(1) as u64,
            None => 1,
        };
        let count = |c: &Catalog| -> u64 {
            c.tables()
                .map(|t| t.num_shards as u64 * (1 + t.replicas_wanted(nodes as usize) as u64))
                .sum()
        };
        let (before, after) = (count(current), count(next));
        let max = self.cluster_settings().max_shards_per_node() * nodes;
        if after > before && after > max {
            return Err(Error::InvalidArgument(format!(
                "Validation Failed: 1: this action would add [{}] total shards, but this cluster \
                 currently has [{before}]/[{max}] maximum shards open; raise \
                 cluster.max_shards_per_node to allow more;",
                after - before
            )));
        }
        Ok(())
    }
}
