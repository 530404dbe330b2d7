//! The shard side of requests: what a node runs on a shard it holds.
//!
//! Reads run on the shard's searchable snapshot (collects) or real-time
//! (gets). A write runs as one batch under the shard's write lock: rows to
//! index arrive normalised; updates are evaluated here, against the current
//! version of each document, and normalised here, so no other writer can
//! slip in between the read and the write.

use super::collect::{collect_shard, matching_docs, stored_row};
use super::normalize::Normalizer;
use crate::catalog::TableInfo;
use crate::error::{Error, Result};
use crate::expr::EvalCtx;
use crate::planner::dml::AssignmentPlan;
use crate::request::{
    IfExists, ShardRequest, ShardResponse, ShardWrite, UpdateSpec, WriteOp, WriteOutcome,
};
use crate::storage::{Expect, Op, Shard, StoredDoc, TranslogSync, WriteBatch, Written};
use crate::types::{Object, Row, Value};

/// What serving a request gave: the response, and for a write the
/// translog sync to wait for before answering and (when asked for) the
/// operations it sequenced, for the replicas.
pub struct Served {
    pub response: ShardResponse,
    pub sync: Option<TranslogSync>,
    pub ops: Vec<Op>,
}

impl From<ShardResponse> for Served {
    fn from(response: ShardResponse) -> Served {
        Served {
            response,
            sync: None,
            ops: Vec::new(),
        }
    }
}

/// Runs a request on `shard` (of `table` as this node's catalog has it);
/// `keep_ops`: a write also answers the operations it sequenced.
pub fn serve(
    shard: &Shard,
    table: &TableInfo,
    request: ShardRequest,
    keep_ops: bool,
) -> Result<Served> {
    match request {
        ShardRequest::Collect { spec, ctx, .. } => {
            Ok(
                ShardResponse::Partial(collect_shard(&shard.snapshot(), table, &spec, &ctx)?)
                    .into(),
            )
        }
        ShardRequest::Get { ids, .. } => {
            let mut docs = Vec::with_capacity(ids.len());
            for id in &ids {
                docs.extend(shard.get(id)?);
            }
            Ok(ShardResponse::Docs(docs).into())
        }
        ShardRequest::Targets {
            scan, filter, ctx, ..
        } => {
            let ids = matching_docs(&shard.snapshot(), table, &scan, filter.as_ref(), &ctx)?;
            let mut docs = Vec::with_capacity(ids.len());
            for id in &ids {
                docs.extend(shard.get(id)?);
            }
            Ok(ShardResponse::Docs(docs).into())
        }
        ShardRequest::Write(write) => {
            let written = apply_write(shard, table, write, keep_ops)?;
            Ok(Served {
                response: ShardResponse::Written(written.result),
                sync: written.sync,
                ops: written.ops,
            })
        }
        // Refreshes wait for segment builds, replication and recovery for
        // other nodes: the node runs them (async).
        ShardRequest::Refresh { shard }
        | ShardRequest::Optimize { shard, .. }
        | ShardRequest::Replicate { shard, .. }
        | ShardRequest::Resync { shard, .. }
        | ShardRequest::RecoverFiles { shard, .. }
        | ShardRequest::RecoverChunk { shard, .. }
        | ShardRequest::RecoverOps { shard, .. }
        | ShardRequest::HandOff { shard, .. } => Err(Error::internal(format!(
            "a node-level request for {shard} reached the synchronous shard path"
        ))),
    }
}

/// Applies a write's operations as one batch; see the module notes. An
/// UPDATE whose assignment or validation fails for any row writes nothing
/// to this shard and fails; other operations fail one by one.
fn apply_write(
    shard: &Shard,
    table: &TableInfo,
    write: ShardWrite,
    keep_ops: bool,
) -> Result<Written<Vec<WriteOutcome>>> {
    let ShardWrite {
        ctx, update, ops, ..
    } = write;
    let normalizer = match &update {
        Some(_) => Some(Normalizer::new(table)?),
        None => None,
    };
    let updater = Updater {
        table,
        ctx: &ctx,
        spec: update.as_ref(),
        normalizer: normalizer.as_ref(),
    };
    shard.write_sequenced(keep_ops, |b| {
        b.reserve(ops.len());
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            outcomes.push(match op {
                WriteOp::Index {
                    id,
                    source,
                    if_exists,
                } => updater.index(b, id, source, if_exists)?,
                WriteOp::Update {
                    id,
                    seq_no,
                    primary_term,
                } => updater.update(b, &id, seq_no, primary_term)?,
                WriteOp::Delete {
                    id,
                    seq_no,
                    primary_term,
                } => match b.delete(
                    &id,
                    Expect::Version {
                        seq_no,
                        primary_term,
                    },
                )? {
                    true => WriteOutcome::Written,
                    false => WriteOutcome::Unchanged,
                },
            });
        }
        Ok(outcomes)
    })
}

/// Computes and stages new versions of documents.
struct Updater<'a> {
    table: &'a TableInfo,
    ctx: &'a EvalCtx,
    spec: Option<&'a UpdateSpec>,
    normalizer: Option<&'a Normalizer<'a>>,
}

impl Updater<'_> {
    fn index(
        &self,
        b: &mut WriteBatch,
        id: String,
        source: Object,
        if_exists: IfExists,
    ) -> Result<WriteOutcome> {
        let expect = match if_exists {
            IfExists::Overwrite => Expect::Any,
            IfExists::Update => match b.get(&id)? {
                Some(existing) => return Ok(self.upsert(b, id, &existing, &source)),
                None => Expect::Absent,
            },
            IfExists::Fail | IfExists::Skip => Expect::Absent,
        };
        Ok(match b.put(id, source, expect) {
            Ok(_) => WriteOutcome::Written,
            Err(Error::DuplicateKey) if if_exists == IfExists::Skip => WriteOutcome::Unchanged,
            Err(e) => WriteOutcome::Failed(e),
        })
    }

    /// `ON CONFLICT DO UPDATE` of an existing document with the row that
    /// was to be inserted (`excluded`).
    fn upsert(
        &self,
        b: &mut WriteBatch,
        id: String,
        existing: &StoredDoc,
        excluded: &Object,
    ) -> WriteOutcome {
        let Some(UpdateSpec::Upsert {
            columns,
            assignments,
        }) = self.spec
        else {
            return WriteOutcome::Failed(Error::internal("an upsert without its assignments"));
        };
        let mut row = laid_out(columns, &existing.source);
        row.extend(laid_out(columns, excluded));
        match self.new_version(existing, &row, assignments) {
            Ok(Ok(source)) => match b.put(id, source, version_of(existing)) {
                Ok(_) => WriteOutcome::Written,
                Err(e) => WriteOutcome::Failed(e),
            },
            Ok(Err(needs)) => needs,
            Err(e) => WriteOutcome::Failed(e),
        }
    }

    /// UPDATE of one targeted document: applied to its current version if
    /// that is the one targeted or still matches the filter.
    fn update(
        &self,
        b: &mut WriteBatch,
        id: &str,
        seq_no: u64,
        primary_term: u64,
    ) -> Result<WriteOutcome> {
        let Some(UpdateSpec::Scan {
            scan,
            filter,
            assignments,
        }) = self.spec
        else {
            return Err(Error::internal("an update without its assignments"));
        };
        let Some(doc) = b.get(id)? else {
            return Ok(WriteOutcome::Unchanged);
        };
        let row = stored_row(&doc, scan);
        let changed = doc.seq_no != seq_no || doc.primary_term != primary_term;
        if changed
            && let Some(f) = filter
            && !f.matches(&row, self.ctx)?
        {
            return Ok(WriteOutcome::Unchanged);
        }
        Ok(match self.new_version(&doc, &row, assignments)? {
            Ok(source) => {
                b.put(id, source, version_of(&doc))?;
                WriteOutcome::Written
            }
            Err(needs) => needs,
        })
    }

    /// The document with the assignments applied and normalised; or, when
    /// it would add columns, the outcome asking for them.
    fn new_version(
        &self,
        doc: &StoredDoc,
        row: &Row,
        assignments: &[AssignmentPlan],
    ) -> Result<Result<Object, WriteOutcome>> {
        let normalizer = self
            .normalizer
            .ok_or_else(|| Error::internal("an update without a normalizer"))?;
        let mut updated = (*doc.source).clone();
        drop_generated(self.table, &mut updated);
        for a in assignments {
            let v = a.value.eval(row, self.ctx)?;
            set_path(&mut updated, &a.column, &a.path, v);
        }
        let mut new_columns = Vec::new();
        let source = normalizer.row(updated, self.ctx, &mut new_columns)?;
        if !new_columns.is_empty() {
            return Ok(Err(WriteOutcome::NeedsColumns(new_columns)));
        }
        Ok(Ok(source))
    }
}

/// The version check that replaces exactly `doc`.
fn version_of(doc: &StoredDoc) -> Expect {
    Expect::Version {
        seq_no: doc.seq_no,
        primary_term: doc.primary_term,
    }
}

/// A row's values in the order of `columns`.
fn laid_out(columns: &[String], row: &Object) -> Row {
    columns
        .iter()
        .map(|c| row.get(c.as_str()).cloned().unwrap_or(Value::Null))
        .collect()
}

/// Removes generated columns from a row being updated: normalising it computes them again.
fn drop_generated(table: &TableInfo, row: &mut Object) {
    for c in &table.columns {
        if c.generated_expr.is_some() {
            row.shift_remove(c.name.as_str());
        }
    }
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
