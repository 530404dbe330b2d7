//! Decide, then apply: every catalog change is first computed as a new
//! catalog state ([`Node::decide_catalog`]: nothing changes yet, and a
//! state that breaks a limit is refused), then applied
//! ([`Node::apply_catalog`]: persisted, made current, and the local shards
//! opened, updated or removed to match it).
//!
//! In a cluster, consensus sits between the two: the master decides, the
//! state is committed, and every node applies what was committed. A node
//! opening its data directory applies the catalog it finds there.

use std::collections::HashSet;
use std::sync::Arc;

use super::{CATALOG_PATH, Node};
use crate::catalog::{Catalog, TableIdent, TableInfo};
use crate::error::{Error, Result};
use crate::storage::Shard;

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

    /// Applies a catalog state: persists it (unless it was just read from
    /// disk), makes it current, then makes the local shards follow it —
    /// shards of new tables are opened (or recovered), tables whose
    /// definition changed are handed to their shards, and the shards of
    /// tables that are gone are deleted.
    pub(crate) fn apply_catalog(&self, next: Catalog, persist: bool) -> Result<()> {
        if persist {
            self.disk
                .write_atomic(CATALOG_PATH, &next.to_checked_bytes()?)?;
        }
        let next = Arc::new(next);
        let previous = std::mem::replace(
            &mut *self.catalog.write().unwrap_or_else(|p| p.into_inner()),
            next.clone(),
        );
        let mut result = Ok(());
        for table in next.tables() {
            let open = self.shards_of(&table.uuid);
            if open.is_empty() {
                if let Err(e) = self.open_shards(table) {
                    result = result.and(Err(e));
                }
                continue;
            }
            let changed = !previous
                .table(&table.ident)
                .is_some_and(|old| Arc::ptr_eq(old, table));
            if changed {
                for s in open {
                    s.set_table(table.clone());
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

    /// Decides and applies a catalog change (under the caller's DDL lock).
    pub(crate) fn update_catalog<R>(&self, f: impl FnOnce(&mut Catalog) -> Result<R>) -> Result<R> {
        let (next, r) = self.decide_catalog(f)?;
        self.apply_catalog(next, true)?;
        Ok(r)
    }

    /// Updates a table's definition (e.g. columns added by a dynamic insert).
    pub(crate) async fn replace_table(
        &self,
        f: impl FnOnce(&mut TableInfo) -> Result<bool>,
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
    }

    /// Opens (or recovers) every shard of a table on this node.
    fn open_shards(&self, table: &Arc<TableInfo>) -> Result<()> {
        let mut list = Vec::with_capacity(table.num_shards as usize);
        for s in 0..table.num_shards {
            list.push(Arc::new(Shard::open(
                table.clone(),
                s,
                self.disk.clone(),
                self.config.durable,
            )?));
        }
        self.shards
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(table.uuid.clone(), list);
        tracing::info!(table = %table.ident, shards = table.num_shards, "opened shards");
        Ok(())
    }

    /// Closes and deletes the shards of a table that is gone.
    fn delete_shards(&self, uuid: &str) -> Result<()> {
        let removed = self
            .shards
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uuid)
            .unwrap_or_default();
        for s in removed {
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
        let nodes = 1u64;
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
