//! INSERT, UPDATE and DELETE on the handler.
//!
//! Inserted rows are normalised (typed, validated, completed) before
//! anything is written; columns they add go to the catalog first. Then every
//! write becomes operations ([`WriteOp`]) grouped by shard, and
//! `write_shards` sends each shard its batch, all at once, and waits until
//! all are durable before the statement reports anything. UPDATE and
//! `ON CONFLICT DO UPDATE` send assignments, which the shard evaluates on the
//! current version of each document (`exec/shard.rs`); a new version that
//! adds columns comes back as [`WriteOutcome::NeedsColumns`] and is sent
//! again once the columns are in the catalog.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::collect::stored_row;
use super::normalize::{NewColumn, Normalizer};
use super::query::key_lookups;
use super::{Cluster, CopyRole, Executor, OFFLOAD_ROWS, docs, shard_id, unexpected};
use crate::catalog::TableInfo;
use crate::error::{Error, Result};
use crate::expr::{EvalCtx, Expr, bind_param};
use crate::planner::ScanColumn;
use crate::planner::dml::{ConflictPlan, DeletePlan, InsertPlan, InsertRows, UpdatePlan};
use crate::request::{
    IfExists, SchemaChange, ShardRequest, ShardResponse, ShardWrite, UpdateSpec, WriteOp,
    WriteOutcome,
};
use crate::routing::{doc_id, routing_value, shard_for};
use crate::storage::StoredDoc;
use crate::types::{DataType, Key, Object, Value};

/// How many times operations that asked for new columns are sent again.
const MAX_RETRIES: usize = 20;

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

/// Operations for one shard, each with the origin its outcome counts for.
type Batches = BTreeMap<u32, Vec<(usize, WriteOp)>>;

impl<C: Cluster> Executor<'_, C> {
    /// The table as the catalog has it now (columns may have been added).
    fn current_table(&self, table: &TableInfo) -> Result<Arc<TableInfo>> {
        self.cluster
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
        self.cluster
            .change_schema(SchemaChange::AddColumns {
                table: table.ident.clone(),
                uuid: table.uuid.clone(),
                columns: cols,
            })
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
        // Upsert assignments were bound over the columns the plan saw.
        let update = match on_conflict {
            Some(ConflictPlan::DoUpdate(assignments)) => Some(UpdateSpec::Upsert {
                columns: table.columns.iter().map(|c| c.name.clone()).collect(),
                assignments: assignments.clone(),
            }),
            _ => None,
        };
        let if_exists = match on_conflict {
            None => IfExists::Fail,
            Some(ConflictPlan::DoNothing) => IfExists::Skip,
            Some(ConflictPlan::Overwrite) => IfExists::Overwrite,
            Some(ConflictPlan::DoUpdate(_)) => IfExists::Update,
        };
        // Normalise.
        let (table, normalized) = self.normalize_all(table, raw, &self.ctx).await?;
        // Route.
        let mut batches = Batches::new();
        for (origin, r) in normalized {
            let routed = r.and_then(|source| {
                let id = doc_id(&table, &source)?;
                let shard = shard_for(&table, &routing_value(&table, &source, &id)?);
                Ok((shard, id, source))
            });
            match routed {
                Ok((shard, id, source)) => batches.entry(shard).or_default().push((
                    origin,
                    WriteOp::Index {
                        id,
                        source,
                        if_exists,
                    },
                )),
                Err(e) => results[origin] = Err(e),
            }
        }
        // A parameter row that failed validation writes nothing.
        for ops in batches.values_mut() {
            ops.retain(|(origin, _)| results[*origin].is_ok());
        }
        // Write. An upsert's update fails row by row, whatever `report` says.
        let report = report || if_exists == IfExists::Update;
        self.write_all(table, update.as_ref(), batches, |origin, outcome| {
            match outcome {
                Ok(()) => {
                    if let Ok(n) = &mut results[origin] {
                        *n += 1;
                    }
                }
                Err(e) if report => results[origin] = Err(e),
                Err(_) => {}
            }
            Ok(())
        })
        .await
    }

    /// The live documents an UPDATE or DELETE targets, by shard.
    async fn targets(
        &self,
        table: &TableInfo,
        scan: &[ScanColumn],
        filter: Option<&Expr>,
    ) -> Result<BTreeMap<u32, Vec<StoredDoc>>> {
        let mut out: BTreeMap<u32, Vec<StoredDoc>> = BTreeMap::new();
        if let Some(keys) = key_lookups(table, scan, filter, &self.ctx)? {
            let mut found = self.get_keys(table, &keys).await?;
            for (id, _) in &keys {
                let Some((shard, doc)) = found.remove(id) else {
                    continue;
                };
                let keep = match filter {
                    Some(f) => f.matches(&stored_row(&doc, scan), &self.ctx)?,
                    None => true,
                };
                if keep {
                    out.entry(shard).or_default().push(doc);
                }
            }
            return Ok(out);
        }
        let requests = (0..table.num_shards).map(|s| async move {
            let request = ShardRequest::Targets {
                shard: shard_id(table, s),
                scan: scan.to_vec(),
                filter: filter.cloned(),
                ctx: self.ctx.clone(),
            };
            Ok::<_, Error>((s, docs(self.request(request, CopyRole::Primary).await?)?))
        });
        for response in futures::future::join_all(requests).await {
            let (s, docs) = response?;
            if !docs.is_empty() {
                out.insert(s, docs);
            }
        }
        Ok(out)
    }

    /// Runs an UPDATE; returns the number of rows updated.
    pub async fn update(&self, plan: &UpdatePlan) -> Result<i64> {
        let table = self.current_table(&plan.table)?;
        let targets = self
            .targets(&table, &plan.scan, plan.filter.as_ref())
            .await?;
        let update = UpdateSpec::Scan {
            scan: plan.scan.clone(),
            filter: plan.filter.clone(),
            assignments: plan.assignments.clone(),
        };
        let batches = versioned_ops(targets, |id, seq_no, primary_term| WriteOp::Update {
            id,
            seq_no,
            primary_term,
        });
        let mut count = 0;
        self.write_all(table, Some(&update), batches, |_, outcome| {
            outcome?;
            count += 1;
            Ok(())
        })
        .await?;
        Ok(count)
    }

    /// Runs a DELETE; returns the number of rows deleted.
    pub async fn delete(&self, plan: &DeletePlan) -> Result<i64> {
        let table = self.current_table(&plan.table)?;
        let targets = self
            .targets(&table, &plan.scan, plan.filter.as_ref())
            .await?;
        let batches = versioned_ops(targets, |id, seq_no, primary_term| WriteOp::Delete {
            id,
            seq_no,
            primary_term,
        });
        let mut count = 0;
        self.write_all(table, None, batches, |_, outcome| {
            outcome?;
            count += 1;
            Ok(())
        })
        .await?;
        Ok(count)
    }

    /// Writes batches until every operation has an outcome: operations
    /// that need new columns are sent again once the columns are added.
    /// `done(origin, outcome)` hears each operation that wrote (`Ok`) or
    /// failed; an error it returns fails the statement.
    async fn write_all(
        &self,
        mut table: Arc<TableInfo>,
        update: Option<&UpdateSpec>,
        mut batches: Batches,
        mut done: impl FnMut(usize, Result<()>) -> Result<()>,
    ) -> Result<()> {
        for _ in 0..MAX_RETRIES {
            if batches.is_empty() {
                return Ok(());
            }
            // Only operations that compute a new version can come back;
            // keep a copy of those (cheap for UPDATE, a row for upserts),
            // in order, to find each again by its origin.
            let mut kept: BTreeMap<u32, std::vec::IntoIter<(usize, WriteOp)>> = batches
                .iter()
                .filter(|_| update.is_some())
                .map(|(s, ops)| {
                    let growing: Vec<_> =
                        ops.iter().filter(|(_, op)| may_grow(op)).cloned().collect();
                    (*s, growing.into_iter())
                })
                .collect();
            let (origins, ops): (BTreeMap<u32, Vec<usize>>, BTreeMap<u32, Vec<WriteOp>>) = batches
                .into_iter()
                .map(|(s, ops)| {
                    let (origins, ops) = ops.into_iter().unzip();
                    ((s, origins), (s, ops))
                })
                .unzip();
            let written = self.write_shards(&table, update, ops).await?;
            let mut again = Batches::new();
            let mut new_columns = Vec::new();
            for (shard, outcomes) in written {
                let origins = origins.get(&shard).map(Vec::as_slice).unwrap_or_default();
                for (&origin, outcome) in origins.iter().zip(outcomes) {
                    match outcome {
                        WriteOutcome::Written => done(origin, Ok(()))?,
                        WriteOutcome::Unchanged => {}
                        WriteOutcome::Failed(e) => done(origin, Err(e))?,
                        WriteOutcome::NeedsColumns(cols) => {
                            new_columns.extend(cols);
                            let op = kept
                                .get_mut(&shard)
                                .and_then(|ops| ops.find(|(o, _)| *o == origin))
                                .ok_or_else(|| {
                                    Error::internal("a write that cannot grow asked for columns")
                                })?;
                            again.entry(shard).or_default().push(op);
                        }
                    }
                }
            }
            if !new_columns.is_empty() {
                table = self.add_columns(&table, new_columns).await?;
            }
            batches = again;
        }
        for (origin, _) in batches.into_values().flatten() {
            done(
                origin,
                Err(Error::VersionConflict(
                    "version conflict, too many retries".into(),
                )),
            )?;
        }
        Ok(())
    }

    /// Sends each shard its operations, all shards at once, and answers
    /// each shard's outcomes (in the order of its operations) once every
    /// shard has made its operations durable. A shard that fails fails the
    /// statement, after the others have answered.
    async fn write_shards(
        &self,
        table: &TableInfo,
        update: Option<&UpdateSpec>,
        batches: BTreeMap<u32, Vec<WriteOp>>,
    ) -> Result<Vec<(u32, Vec<WriteOutcome>)>> {
        let requests = batches.into_iter().map(|(s, ops)| {
            let write = ShardWrite {
                shard: shard_id(table, s),
                ctx: self.ctx.clone(),
                update: update.cloned(),
                ops,
                forwarded: false,
            };
            async move {
                let response = self.request(ShardRequest::Write(write), CopyRole::Primary);
                (s, response.await)
            }
        });
        let mut out = Vec::new();
        let mut failure = None;
        for (s, response) in futures::future::join_all(requests).await {
            match response {
                Ok(ShardResponse::Written(outcomes)) => out.push((s, outcomes)),
                Ok(other) => {
                    failure.get_or_insert(unexpected(&other));
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// Whether an operation computes its new version on the shard, and so may
/// come back asking for columns.
fn may_grow(op: &WriteOp) -> bool {
    matches!(
        op,
        WriteOp::Update { .. }
            | WriteOp::Index {
                if_exists: IfExists::Update,
                ..
            }
    )
}

/// One operation per targeted document, made by `op` from its id and the
/// version the statement read.
fn versioned_ops(
    targets: BTreeMap<u32, Vec<StoredDoc>>,
    op: impl Fn(String, u64, u64) -> WriteOp,
) -> Batches {
    targets
        .into_iter()
        .map(|(shard, docs)| {
            let ops = docs
                .into_iter()
                .enumerate()
                .map(|(i, d)| (i, op(d.id, d.seq_no, d.primary_term)))
                .collect();
            (shard, ops)
        })
        .collect()
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
