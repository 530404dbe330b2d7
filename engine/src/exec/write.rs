//! INSERT, UPDATE and DELETE.
//!
//! Rows are normalised (typed, validated, completed) before anything is
//! written; columns they add go to the catalog first. Writes are grouped by
//! shard; each shard's translog sync starts as soon as the statement has
//! written to it, and the statement waits for all of them before it reports
//! anything. UPDATE and
//! ON CONFLICT DO UPDATE are read-modify-write with a `_seq_no` check, retried
//! when a concurrent write got there first.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::collect::{matching_docs, stored_row};
use super::normalize::{NewColumn, Normalizer};
use super::query::key_lookups;
use super::{Executor, OFFLOAD_ROWS};
use crate::catalog::TableInfo;
use crate::error::{Error, Result};
use crate::expr::{EvalCtx, Expr, bind_param};
use crate::node::routing::{doc_id, routing_value, shard_for};
use crate::planner::ScanColumn;
use crate::planner::dml::{
    AssignmentPlan, ConflictPlan, DeletePlan, InsertPlan, InsertRows, UpdatePlan,
};
use crate::storage::{Expect, StoredDoc, SyncInFlight, TranslogSync};
use crate::storage::{Shard, WriteBatch};
use crate::types::{DataType, Key, Object, Value};

/// How many times a read-modify-write is retried on a version conflict.
const MAX_RETRIES: usize = 20;

/// A normalised row on its way to a shard.
struct Pending {
    /// Index of the parameter row it came from.
    origin: usize,
    id: String,
    source: Object,
}

/// Sets `value` at `column[path...]` in a row.
fn set_path(row: &mut Object, column: &str, path: &[String], value: Value) {
    if path.is_empty() {
        row.insert(column.into(), value);
        return;
    }
    let entry = row
        .entry(column.into())
        .or_insert_with(|| Value::Object(Box::default()));
    if !matches!(entry, Value::Object(_)) {
        *entry = Value::Object(Box::default());
    }
    let mut cur = entry;
    for (i, key) in path.iter().enumerate() {
        let Value::Object(obj) = cur else { return };
        if i == path.len() - 1 {
            obj.insert(key.into(), value);
            return;
        }
        let next = obj
            .entry(key.into())
            .or_insert_with(|| Value::Object(Box::default()));
        if !matches!(next, Value::Object(_)) {
            *next = Value::Object(Box::default());
        }
        cur = next;
    }
}

/// Removes generated columns from a row being updated: normalising it computes them again.
fn drop_generated(table: &TableInfo, row: &mut Object) {
    for c in &table.columns {
        if c.generated_expr.is_some() {
            row.shift_remove(c.name.as_str());
        }
    }
}

/// A row's values in the table's top-level column order.
fn as_table_row(table: &TableInfo, row: &Object) -> Vec<Value> {
    table
        .columns
        .iter()
        .map(|c| row.get(c.name.as_str()).cloned().unwrap_or(Value::Null))
        .collect()
}

/// The placeholders of a single `VALUES` row made only of distinct
/// placeholders (slot and type), in column order; None for any other row.
fn movable_params(rows: &[Vec<Expr>]) -> Option<Vec<(usize, &DataType)>> {
    let [row] = rows else { return None };
    let mut slots: Vec<(usize, &DataType)> = Vec::with_capacity(row.len());
    for e in row {
        match e {
            Expr::Param(i, ty) if !slots.iter().any(|(s, _)| s == i) => slots.push((*i, ty)),
            _ => return None,
        }
    }
    Some(slots)
}

/// A row of `columns` made of the parameters at `slots`, moved out of
/// `params` and bound as [`Expr::eval`] binds them.
fn take_params(
    params: &mut [Value],
    slots: &[(usize, &DataType)],
    columns: &[Key],
) -> Result<Object> {
    let mut obj = Object::with_capacity_and_hasher(slots.len(), Default::default());
    let available = params.len();
    for (&(slot, ty), column) in slots.iter().zip(columns) {
        let value = params.get_mut(slot).map(std::mem::take);
        obj.insert(column.clone(), bind_param(value, slot, available, ty)?);
    }
    Ok(obj)
}

impl Executor<'_> {
    /// The table as the catalog has it now (columns may have been added).
    fn current_table(&self, table: &TableInfo) -> Result<Arc<TableInfo>> {
        self.node
            .catalog()
            .table(&table.ident)
            .filter(|t| t.uuid == table.uuid)
            .cloned()
            .ok_or_else(|| Error::RelationUnknown(table.ident.to_string()))
    }

    /// Adds discovered columns to the table, returning the updated table.
    async fn add_columns(&self, table: &TableInfo, cols: Vec<NewColumn>) -> Result<Arc<TableInfo>> {
        if cols.is_empty() {
            return self.current_table(table);
        }
        self.node
            .replace_table(|t| crate::node::add_dynamic_columns(t, &cols), &table.ident)
            .await
    }

    /// Normalises rows; if they add columns, adds them and re-checks the rows
    /// against the updated table (so two rows cannot add one column with two types).
    async fn normalize_all(
        &self,
        table: Arc<TableInfo>,
        rows: Vec<(usize, Object)>,
        ctx: &EvalCtx,
    ) -> Result<(Arc<TableInfo>, Vec<(usize, Result<Object>)>)> {
        let (out, new_cols) = normalize_rows(table.clone(), rows, ctx).await?;
        if new_cols.is_empty() {
            return Ok((table, out));
        }
        let table = self.add_columns(&table, new_cols).await?;
        let (out, _) = normalize_results(table.clone(), out, ctx).await?;
        Ok((table, out))
    }

    /// Runs an INSERT once per parameter row; returns per-row counts or errors.
    pub async fn insert_bulk(
        &self,
        plan: &InsertPlan,
        params: Vec<Vec<Value>>,
    ) -> Result<Vec<Result<i64>>> {
        let bulk = params.len() > 1;
        let mut results: Vec<Result<i64>> = (0..params.len()).map(|_| Ok(0)).collect();
        // 1. Raw rows, tagged with their parameter row.
        let mut raw: Vec<(usize, Object)> = Vec::new();
        // Short column names are inline keys: copying them into each row allocates nothing.
        let columns: Vec<Key> = plan.columns.iter().map(Key::from).collect();
        match &plan.rows {
            InsertRows::Values(rows) => {
                raw.reserve(rows.len() * params.len());
                // One context for all parameter rows; each row's parameters
                // are moved in, not copied.
                let mut ctx = self.ctx.clone();
                let moved = movable_params(rows);
                for (pi, mut p) in params.into_iter().enumerate() {
                    // `VALUES (?, ?, ...)`: each value moves out of its
                    // parameter row, without an evaluation or a copy.
                    if let Some(slots) = &moved {
                        match take_params(&mut p, slots, &columns) {
                            Ok(obj) => raw.push((pi, obj)),
                            Err(err) => results[pi] = Err(err),
                        }
                        continue;
                    }
                    ctx.params = p;
                    for r in rows {
                        let mut obj = Object::with_capacity_and_hasher(r.len(), Default::default());
                        let mut failed = None;
                        for (i, e) in r.iter().enumerate() {
                            match e.eval(&[], &ctx) {
                                Ok(v) => {
                                    obj.insert(columns[i].clone(), v);
                                }
                                Err(err) => {
                                    failed = Some(err);
                                    break;
                                }
                            }
                        }
                        match failed {
                            Some(err) => results[pi] = Err(err),
                            None => raw.push((pi, obj)),
                        }
                    }
                }
            }
            InsertRows::Query(q) => {
                let rows = self.run(q).await?;
                for r in rows {
                    let obj: Object = columns.iter().cloned().zip(r).collect();
                    raw.push((0, obj));
                }
            }
        }
        let report = bulk || raw.len() == 1;
        self.write_rows(
            plan.table.clone(),
            raw,
            plan.on_conflict.as_ref(),
            &mut results,
            report,
        )
        .await?;
        Ok(results)
    }

    /// Normalises, routes and writes rows. Each row carries its origin (the
    /// parameter row, or the line of a COPY file); `results[origin]` gets the
    /// count of rows written or the first error. Without `report`, rows whose
    /// key exists are skipped silently (multi-row `INSERT ... VALUES`).
    pub(crate) async fn write_rows(
        &self,
        table: Arc<TableInfo>,
        raw: Vec<(usize, Object)>,
        on_conflict: Option<&ConflictPlan>,
        results: &mut [Result<i64>],
        report: bool,
    ) -> Result<()> {
        // 2. Normalise.
        let (table, normalized) = self.normalize_all(table, raw, &self.ctx).await?;
        // 3. Route.
        let mut by_shard: BTreeMap<u32, Vec<Pending>> = BTreeMap::new();
        for (origin, r) in normalized {
            let routed = r.and_then(|source| {
                let id = doc_id(&table, &source)?;
                let shard = shard_for(&table, &routing_value(&table, &source, &id)?);
                Ok((shard, id, source))
            });
            match routed {
                Ok((shard, id, source)) => {
                    by_shard
                        .entry(shard)
                        .or_default()
                        .push(Pending { origin, id, source })
                }
                Err(e) => results[origin] = Err(e),
            }
        }
        // A parameter row that failed validation writes nothing.
        for rows in by_shard.values_mut() {
            rows.retain(|p| results[p.origin].is_ok());
        }
        // 4. Write, shard by shard.
        let shards = self.node.shards_of(&table.uuid);
        let mut conflicts: Vec<Pending> = Vec::new();
        let mut syncs = Vec::new();
        for (shard_id, rows) in by_shard {
            let shard = shards.get(shard_id as usize).ok_or_else(|| {
                Error::ShardsUnavailable(format!(
                    "shard {shard_id} of {} is not available",
                    table.ident
                ))
            })?;
            let upsert = matches!(on_conflict, Some(ConflictPlan::DoUpdate(_)));
            let do_nothing = matches!(on_conflict, Some(ConflictPlan::DoNothing));
            let expect = if matches!(on_conflict, Some(ConflictPlan::Overwrite)) {
                Expect::Any
            } else {
                Expect::Absent
            };
            // Ids and sources move into the batch; an upsert keeps copies
            // for its conflict path.
            let mut origins = Vec::with_capacity(rows.len());
            let mut kept = Vec::new();
            let mut writes = Vec::with_capacity(rows.len());
            for p in rows {
                if upsert {
                    kept.push((p.id.clone(), p.source.clone()));
                }
                origins.push(p.origin);
                writes.push((p.id, p.source));
            }
            let (outcomes, sync) = write_batch(shard, writes, move |b, writes| {
                b.reserve(writes.len());
                let mut outcomes = Vec::with_capacity(writes.len());
                for (id, source) in writes {
                    outcomes.push(b.put(id, source, expect));
                }
                Ok(outcomes)
            })
            .await?;
            syncs.extend(sync.map(TranslogSync::start));
            let mut kept = kept.into_iter();
            for (origin, outcome) in origins.into_iter().zip(outcomes) {
                let (id, source) = if upsert {
                    kept.next().unwrap_or_default()
                } else {
                    Default::default()
                };
                match outcome {
                    Ok(_) => {
                        if let Ok(n) = &mut results[origin] {
                            *n += 1;
                        }
                    }
                    Err(Error::DuplicateKey) if upsert => {
                        conflicts.push(Pending { origin, id, source })
                    }
                    Err(Error::DuplicateKey) if do_nothing => {}
                    Err(e) => {
                        if report {
                            results[origin] = Err(e);
                        }
                    }
                }
            }
        }
        SyncInFlight::wait_all(syncs).await?;
        // 5. ON CONFLICT DO UPDATE: read-modify-write the existing rows.
        if let Some(ConflictPlan::DoUpdate(assignments)) = on_conflict
            && !conflicts.is_empty()
        {
            let updated = self.upsert_existing(&table, assignments, conflicts).await?;
            for (origin, r) in updated {
                match r {
                    Ok(n) => {
                        if let Ok(c) = &mut results[origin] {
                            *c += n;
                        }
                    }
                    Err(e) => results[origin] = Err(e),
                }
            }
        }
        Ok(())
    }

    async fn upsert_existing(
        &self,
        table: &Arc<TableInfo>,
        assignments: &[AssignmentPlan],
        mut pending: Vec<Pending>,
    ) -> Result<Vec<(usize, Result<i64>)>> {
        let mut out = Vec::new();
        let mut table = table.clone();
        for _ in 0..MAX_RETRIES {
            if pending.is_empty() {
                break;
            }
            let shards = self.node.shards_of(&table.uuid);
            let mut planned: Vec<(u32, Pending, Expect, usize)> = Vec::new();
            let mut rows = Vec::new();
            for p in pending.drain(..) {
                let shard = shard_for(&table, &routing_value(&table, &p.source, &p.id)?);
                let Some(s) = shards.get(shard as usize) else {
                    continue;
                };
                let Some(existing) = s.get(&p.id)? else {
                    // Deleted meanwhile: insert instead.
                    rows.push((out.len(), p.source.clone()));
                    planned.push((shard, p, Expect::Absent, rows.len() - 1));
                    continue;
                };
                let mut eval_row = as_table_row(&table, &existing.source);
                eval_row.extend(as_table_row(&table, &p.source));
                let mut updated = (*existing.source).clone();
                drop_generated(&table, &mut updated);
                let mut failed = None;
                for a in assignments {
                    match a.value.eval(&eval_row, &self.ctx) {
                        Ok(v) => set_path(&mut updated, &a.column, &a.path, v),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                if let Some(e) = failed {
                    out.push((p.origin, Err(e)));
                    continue;
                }
                rows.push((out.len(), updated));
                let expect = Expect::Version {
                    seq_no: existing.seq_no,
                    primary_term: existing.primary_term,
                };
                planned.push((shard, p, expect, rows.len() - 1));
            }
            let (t, normalized) = self.normalize_all(table.clone(), rows, &self.ctx).await?;
            table = t;
            let mut normalized: Vec<Option<Result<Object>>> =
                normalized.into_iter().map(|(_, r)| Some(r)).collect();
            let mut by_shard: BTreeMap<u32, Vec<(Pending, Expect, Object)>> = BTreeMap::new();
            for (shard, p, expect, idx) in planned {
                match normalized[idx].take() {
                    Some(Ok(src)) => by_shard.entry(shard).or_default().push((p, expect, src)),
                    Some(Err(e)) => out.push((p.origin, Err(e))),
                    None => {}
                }
            }
            let shards = self.node.shards_of(&table.uuid);
            let mut syncs = Vec::new();
            for (shard, items) in by_shard {
                let Some(s) = shards.get(shard as usize) else {
                    continue;
                };
                let (results, sync) = s.write_deferred(|b| {
                    let mut res = Vec::with_capacity(items.len());
                    for (p, expect, src) in &items {
                        res.push(match b.put(p.id.as_str(), src.clone(), *expect) {
                            Ok(true) => Ok(true),
                            Ok(false) | Err(Error::DuplicateKey) => Ok(false),
                            Err(e) => Err(e),
                        });
                    }
                    Ok(res)
                })?;
                syncs.extend(sync.map(TranslogSync::start));
                for ((p, _, _), r) in items.into_iter().zip(results) {
                    match r {
                        Ok(true) => out.push((p.origin, Ok(1))),
                        Ok(false) => pending.push(p),
                        Err(e) => out.push((p.origin, Err(e))),
                    }
                }
            }
            SyncInFlight::wait_all(syncs).await?;
        }
        for p in pending {
            out.push((
                p.origin,
                Err(Error::VersionConflict(format!(
                    "[{}]: version conflict, too many retries",
                    p.id
                ))),
            ));
        }
        Ok(out)
    }

    /// The live documents an UPDATE or DELETE targets, by shard.
    async fn targets(
        &self,
        table: &TableInfo,
        scan: &[ScanColumn],
        filter: Option<&crate::expr::Expr>,
    ) -> Result<BTreeMap<u32, Vec<StoredDoc>>> {
        let shards = self.node.shards_of(&table.uuid);
        let mut out: BTreeMap<u32, Vec<StoredDoc>> = BTreeMap::new();
        if let Some(keys) = key_lookups(table, scan, filter, &self.ctx)? {
            for (id, shard) in keys {
                let candidates: Vec<u32> = match shard {
                    Some(s) => vec![s],
                    None => (0..shards.len() as u32).collect(),
                };
                for s in candidates {
                    let Some(shard) = shards.get(s as usize) else {
                        continue;
                    };
                    if let Some(doc) = shard.get(&id)? {
                        let row = stored_row(&doc, scan);
                        let keep = match filter {
                            Some(f) => f.matches(&row, &self.ctx)?,
                            None => true,
                        };
                        if keep {
                            out.entry(s).or_default().push(doc);
                        }
                        break;
                    }
                }
            }
            return Ok(out);
        }
        for (i, shard) in shards.iter().enumerate() {
            let snapshot = shard.snapshot();
            let ids = matching_docs(&snapshot, scan, filter, &self.ctx)?;
            for id in ids {
                if let Some(doc) = shard.get(&id)? {
                    out.entry(i as u32).or_default().push(doc);
                }
            }
        }
        Ok(out)
    }

    /// Runs an UPDATE; returns the number of rows updated.
    pub async fn update(&self, plan: &UpdatePlan) -> Result<i64> {
        let mut table = self.current_table(&plan.table)?;
        let mut targets = self
            .targets(&table, &plan.scan, plan.filter.as_ref())
            .await?;
        let mut count = 0i64;
        for _ in 0..MAX_RETRIES {
            if targets.values().all(Vec::is_empty) {
                break;
            }
            let (rows, meta) = if targets.values().map(Vec::len).sum::<usize>() <= OFFLOAD_ROWS {
                updated_rows(&targets, plan, &table, &self.ctx)?
            } else {
                let (targets, plan) = (targets.clone(), plan.clone());
                let (table, ctx) = (table.clone(), self.ctx.clone());
                crate::runtime::run_blocking(move || updated_rows(&targets, &plan, &table, &ctx))
                    .await?
            };
            let (t, normalized) = self.normalize_all(table.clone(), rows, &self.ctx).await?;
            table = t;
            let mut by_shard: BTreeMap<u32, Vec<(String, Object, Expect)>> = BTreeMap::new();
            for ((shard, id, seq_no, primary_term), (_, r)) in meta.into_iter().zip(normalized) {
                by_shard.entry(shard).or_default().push((
                    id,
                    r?,
                    Expect::Version {
                        seq_no,
                        primary_term,
                    },
                ));
            }
            let shards = self.node.shards_of(&table.uuid);
            let mut retry: BTreeMap<u32, Vec<StoredDoc>> = BTreeMap::new();
            let mut syncs = Vec::new();
            for (shard, items) in by_shard {
                let Some(s) = shards.get(shard as usize) else {
                    continue;
                };
                let ((applied, ids), sync) = write_batch(s, items, |b, items| {
                    let mut res = Vec::with_capacity(items.len());
                    let mut ids = Vec::with_capacity(items.len());
                    for (id, src, expect) in items {
                        res.push(b.put(id.as_str(), src, expect)?);
                        ids.push(id);
                    }
                    Ok((res, ids))
                })
                .await?;
                syncs.extend(sync.map(TranslogSync::start));
                for (id, ok) in ids.into_iter().zip(applied) {
                    if ok {
                        count += 1;
                    } else if let Some(doc) = s.get(&id)? {
                        // Changed meanwhile: re-apply to the new version if it still matches.
                        let row = stored_row(&doc, &plan.scan);
                        let keep = match &plan.filter {
                            Some(f) => f.matches(&row, &self.ctx)?,
                            None => true,
                        };
                        if keep {
                            retry.entry(shard).or_default().push(doc);
                        }
                    }
                }
            }
            SyncInFlight::wait_all(syncs).await?;
            targets = retry;
        }
        Ok(count)
    }

    /// Runs a DELETE; returns the number of rows deleted.
    pub async fn delete(&self, plan: &DeletePlan) -> Result<i64> {
        let table = self.current_table(&plan.table)?;
        let targets = self
            .targets(&table, &plan.scan, plan.filter.as_ref())
            .await?;
        let shards = self.node.shards_of(&table.uuid);
        let mut count = 0i64;
        let mut syncs = Vec::new();
        for (shard, docs) in targets {
            let Some(s) = shards.get(shard as usize) else {
                continue;
            };
            let (n, sync) = write_batch(s, docs, |b, docs| {
                let mut n = 0;
                for d in &docs {
                    let expect = Expect::Version {
                        seq_no: d.seq_no,
                        primary_term: d.primary_term,
                    };
                    if b.delete(&d.id, expect)? {
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await?;
            count += n;
            syncs.extend(sync.map(TranslogSync::start));
        }
        SyncInFlight::wait_all(syncs).await?;
        Ok(count)
    }
}

/// Rows normalised, each with its origin, and the columns they would add.
type Normalized = (Vec<(usize, Result<Object>)>, Vec<NewColumn>);

/// Normalises rows against `table`; many rows are normalised off the async
/// workers.
async fn normalize_rows(
    table: Arc<TableInfo>,
    rows: Vec<(usize, Object)>,
    ctx: &EvalCtx,
) -> Result<Normalized> {
    let rows = rows.into_iter().map(|(i, r)| (i, Ok(r))).collect();
    normalize_results(table, rows, ctx).await
}

/// Normalises the rows that are still `Ok`, keeping the errors.
async fn normalize_results(
    table: Arc<TableInfo>,
    rows: Vec<(usize, Result<Object>)>,
    ctx: &EvalCtx,
) -> Result<Normalized> {
    let run = move |table: &TableInfo, rows: Vec<(usize, Result<Object>)>, ctx: &EvalCtx| {
        let norm = Normalizer::new(table)?;
        let mut new_cols = Vec::new();
        let out = rows
            .into_iter()
            .map(|(i, r)| (i, r.and_then(|r| norm.row(r, ctx, &mut new_cols))))
            .collect();
        Ok((out, new_cols))
    };
    if rows.len() <= OFFLOAD_ROWS {
        return run(&table, rows, ctx);
    }
    let ctx = ctx.clone();
    crate::runtime::run_blocking(move || run(&table, rows, &ctx)).await
}

/// Writes `items` into a shard with `f`, and returns what `f` gave with the
/// translog sync to wait for. A batch of many rows is written off the async
/// workers.
async fn write_batch<T, R>(
    shard: &Arc<Shard>,
    items: Vec<T>,
    f: impl FnOnce(&mut WriteBatch, Vec<T>) -> Result<R> + Send + 'static,
) -> Result<(R, Option<TranslogSync>)>
where
    T: Send + 'static,
    R: Send + 'static,
{
    if items.len() <= OFFLOAD_ROWS {
        return shard.write_deferred(|b| f(b, items));
    }
    let shard = shard.clone();
    crate::runtime::run_blocking(move || shard.write_deferred(|b| f(b, items))).await
}

/// The rows an UPDATE writes, and for each its shard, id and the version it
/// replaces.
#[allow(clippy::type_complexity)]
fn updated_rows(
    targets: &BTreeMap<u32, Vec<StoredDoc>>,
    plan: &UpdatePlan,
    table: &TableInfo,
    ctx: &EvalCtx,
) -> Result<(Vec<(usize, Object)>, Vec<(u32, String, u64, u64)>)> {
    let mut rows = Vec::new();
    let mut meta = Vec::new();
    for (shard, docs) in targets {
        for doc in docs {
            let scan_row = stored_row(doc, &plan.scan);
            let mut updated = (*doc.source).clone();
            drop_generated(table, &mut updated);
            for a in &plan.assignments {
                let v = a.value.eval(&scan_row, ctx)?;
                set_path(&mut updated, &a.column, &a.path, v);
            }
            rows.push((rows.len(), updated));
            meta.push((*shard, doc.id.clone(), doc.seq_no, doc.primary_term));
        }
    }
    Ok((rows, meta))
}
