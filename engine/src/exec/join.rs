//! Joins on the handler: both inputs are collected (each with its filters
//! applied on the shards), then paired.
//!
//! Equality conditions between the two sides (`a.x = b.y AND ...`) make a
//! hash join: one side's rows are hashed by their key values, the other's
//! probe them, and the rest of the condition is checked per candidate pair.
//! Anything else is a nested loop over both sides. Rows with a NULL key
//! never match, as `=` says. Outer joins add the rows of their preserved
//! side(s) that found no partner, with NULLs for the other side.
//!
//! The pairs go straight into the query's collect phase, which accounts on
//! the statement's memory what it keeps of them as it keeps it: a join that
//! would outgrow the query breaker (the rows of a cross join of two large
//! tables) fails with `CircuitBreakingException` before it can exhaust the
//! node, while one under an aggregation holds only its inputs and groups.

use hashbrown::HashMap;

use super::collect::Sink;
use super::key_index::{KeyIndex, key_of, key_or_nulls};
use super::{Cluster, Executor, OFFLOAD_ROWS, query};
use crate::breaker::LocalReservation;
use crate::catalog::TableInfo;
use crate::error::Result;
use crate::expr::{EvalCtx, Expr};
use crate::planner::join::equi_key;
use crate::planner::{JoinKind, JoinPlan, QueryPlan, ScanColumn, Source};
use crate::request::{CollectSpec, Partial, ShardJoin};
use crate::types::{Row, Value};

impl<C: Cluster> Executor<'_, C> {
    /// A join on the handler: both inputs at once, then paired straight
    /// into the query's collect phase.
    pub(super) async fn collect_join(
        &self,
        join: &JoinPlan,
        spec: &CollectSpec,
    ) -> Result<Partial> {
        let (left, right) =
            futures::future::join(self.run(&join.left), self.run(&join.right)).await;
        let (left, right) = (left?, right?);
        let inputs = Inputs {
            kind: join.kind,
            left_width: join.left.names().len(),
            right_width: join.right.names().len(),
            condition: join.condition.clone(),
        };
        // The inputs stay held while the join runs: accounted on the
        // statement where they were collected or received.
        let started = crate::runtime::instant();
        let partial = if left.len().saturating_mul(right.len().max(1)) <= OFFLOAD_ROWS {
            inputs.collect(&left, &right, spec, &self.ctx)?
        } else {
            let (spec, ctx) = (spec.clone(), self.ctx.clone());
            crate::runtime::run_blocking(move || inputs.collect(&left, &right, &spec, &ctx)).await?
        };
        self.record(
            || format!("{} join", join.kind.name()),
            None,
            started,
            partial.len(),
        );
        Ok(partial)
    }
}

/// Probe rows looked up together (see [`KeyIndex::heads`]).
const PROBE_BATCH: usize = 256;

/// What pairing needs besides the rows.
pub(super) struct Inputs {
    pub(super) kind: JoinKind,
    pub(super) left_width: usize,
    pub(super) right_width: usize,
    pub(super) condition: Option<Expr>,
}

/// The condition taken apart: equalities between the sides (each side's
/// key over its own row) and what else must hold for a pair.
pub(super) struct Keys {
    pub(super) left: Vec<Expr>,
    pub(super) right: Vec<Expr>,
    pub(super) residual: Option<Expr>,
}

pub(super) fn split(condition: Option<&Expr>, left_width: usize) -> Keys {
    let mut keys = Keys {
        left: Vec::new(),
        right: Vec::new(),
        residual: None,
    };
    let Some(condition) = condition else {
        return keys;
    };
    let items: Vec<&Expr> = match condition {
        Expr::And(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut rest = Vec::new();
    for item in items {
        match equi_key(item, left_width) {
            Some((l, r)) => {
                let mut r = r.clone();
                r.remap_columns(&|i| i - left_width);
                keys.left.push(l.clone());
                keys.right.push(r);
            }
            None => rest.push(item.clone()),
        }
    }
    keys.residual = match rest.len() {
        0 => None,
        1 => rest.pop(),
        _ => Some(Expr::And(rest)),
    };
    keys
}

fn joined(l: &[Value], r: &[Value]) -> Row {
    let mut row = Vec::with_capacity(l.len() + r.len());
    row.extend_from_slice(l);
    row.extend_from_slice(r);
    row
}

impl Inputs {
    /// Pairs the rows straight into a collect phase (`spec`'s filter and
    /// mode): the joined rows are not held, only what the phase keeps of
    /// them, accounted as it keeps them.
    pub(super) fn collect(
        &self,
        left: &[Row],
        right: &[Row],
        spec: &CollectSpec,
        ctx: &EvalCtx,
    ) -> Result<Partial> {
        let mut sink = Sink::new(spec, ctx, spec.filter.as_ref());
        self.join_into(left, right, ctx, &mut |row| sink.push(row))?;
        Ok(sink.finish())
    }

    /// Pairs the rows, handing each pair to `out` as it is made, until
    /// `out` answers that it needs no more (past a LIMIT).
    pub(super) fn join_into(
        &self,
        left: &[Row],
        right: &[Row],
        ctx: &EvalCtx,
        out: &mut dyn FnMut(Row) -> Result<bool>,
    ) -> Result<()> {
        let keys = split(self.condition.as_ref(), self.left_width);
        let mut left_matched = vec![false; left.len()];
        let mut right_matched = vec![false; right.len()];
        // Whether to go on: `out`'s answer for a pair that holds.
        let mut pair = |li: usize, ri: usize, out: &mut dyn FnMut(Row) -> Result<bool>| {
            let row = joined(&left[li], &right[ri]);
            if let Some(r) = &keys.residual
                && !r.matches(&row, ctx)?
            {
                return Ok(true);
            }
            left_matched[li] = true;
            right_matched[ri] = true;
            out(row)
        };
        if keys.left.is_empty() {
            for li in 0..left.len() {
                // A nested loop may run long without holding more: KILL
                // is checked per row of the left side.
                ctx.memory.check_killed()?;
                for ri in 0..right.len() {
                    if !pair(li, ri, &mut *out)? {
                        return Ok(());
                    }
                }
            }
        } else {
            // Hash the smaller side of an inner join; an outer join hashes
            // its right side and probes in left order.
            let build_left = self.kind == JoinKind::Inner && left.len() < right.len();
            let (build_rows, build_keys) = if build_left {
                (left, &keys.left)
            } else {
                (right, &keys.right)
            };
            let mut memory = LocalReservation::new(&ctx.memory, "hash join");
            let index = KeyIndex::build(build_rows, build_keys, ctx, &mut memory)?;
            let (probe_rows, probe_keys) = if build_left {
                (right, &keys.right)
            } else {
                (left, &keys.left)
            };
            let (mut batch_keys, mut heads) = (Vec::new(), Vec::new());
            for (first, batch) in probe_rows.chunks(PROBE_BATCH).enumerate() {
                ctx.memory.check_killed()?;
                batch_keys.clear();
                for row in batch {
                    key_or_nulls(probe_keys, row, ctx, &mut batch_keys)?;
                }
                index.heads(&batch_keys, &mut heads);
                for (i, &head) in heads.iter().enumerate() {
                    let pi = first * PROBE_BATCH + i;
                    for bi in index.chain(head) {
                        let (li, ri) = if build_left { (bi, pi) } else { (pi, bi) };
                        if !pair(li, ri, &mut *out)? {
                            return Ok(());
                        }
                    }
                }
            }
        }
        if matches!(self.kind, JoinKind::Left | JoinKind::Full) {
            let nulls = vec![Value::Null; self.right_width];
            for (row, matched) in left.iter().zip(&left_matched) {
                if !matched && !out(joined(row, &nulls))? {
                    return Ok(());
                }
            }
        }
        if matches!(self.kind, JoinKind::Right | JoinKind::Full) {
            let nulls = vec![Value::Null; self.left_width];
            for (row, matched) in right.iter().zip(&right_matched) {
                if !matched && !out(joined(&nulls, row))? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// A join input that is a table's rows as they are stored (some of its
/// columns, filtered).
pub(super) struct TableInput<'a> {
    pub(super) table: &'a TableInfo,
    pub(super) scan: &'a [ScanColumn],
    pub(super) filter: Option<&'a Expr>,
    /// The input's columns from the scan row, when not all of it in order.
    pub(super) outputs: Option<&'a [Expr]>,
}

pub(super) fn table_input(plan: &QueryPlan) -> Option<TableInput<'_>> {
    let QueryPlan::Select(s) = plan else {
        return None;
    };
    let Source::Table { table, scan } = &s.source else {
        return None;
    };
    let identity = s.source_width == scan.len() && s.is_identity();
    let columns =
        s.outputs.len() == s.names.len() && s.outputs.iter().all(|e| matches!(e, Expr::Column(..)));
    let plain = s.aggregation.is_none()
        && s.windows.is_empty()
        && s.order_by.is_empty()
        && s.limit.is_none()
        && s.offset.is_none()
        && !s.distinct;
    (columns && plain).then_some(TableInput {
        table: table.as_ref(),
        scan: scan.as_slice(),
        filter: s.filter.as_ref(),
        outputs: (!identity).then_some(s.outputs.as_slice()),
    })
}

impl<C: Cluster> Executor<'_, C> {
    /// A join whose one side is a table and whose other side is small runs
    /// on the table's shards: the small side's rows go with the collect
    /// request, each shard joins its rows with them and applies the query's
    /// filter, aggregation or top-N to the joined rows. Answers `None` when
    /// the join does not qualify (no equality between the sides, a full
    /// join, or no side small enough): it is then repartitioned among the
    /// nodes (`repartition.rs`) or runs on the handler.
    pub(super) async fn broadcast_join(
        &self,
        join: &JoinPlan,
        spec: &CollectSpec,
    ) -> Result<Option<Vec<Partial>>> {
        let left_width = join.left.names().len();
        let keys = split(join.condition.as_ref(), left_width);
        if keys.left.is_empty() {
            return Ok(None);
        }
        // The statistics ANALYZE collected, where there are some, say which
        // side is small: it is the one sent, and a side they put above the
        // limit is not read to find out. Without them, the right side is
        // tried first; either way, the read confirms it is small.
        let catalog = self.cluster.catalog();
        let estimate = |side: &QueryPlan| crate::planner::estimate::query(side, &catalog).rows;
        let (left_rows, right_rows) = (estimate(&join.left), estimate(&join.right));
        // The probe side is a table whose rows are not needed whole; an
        // outer join keeps the probe side's unmatched rows.
        let candidates: &[(bool, bool)] = match join.kind {
            JoinKind::Inner if left_rows.zip(right_rows).is_some_and(|(l, r)| l < r) => {
                &[(false, false), (true, false)]
            }
            JoinKind::Inner => &[(true, false), (false, false)],
            JoinKind::Left => &[(true, true)],
            JoinKind::Right => &[(false, true)],
            JoinKind::Full | JoinKind::Cross => &[],
        };
        let most = self.cluster.join_broadcast_rows() as u64;
        for &(probe_left, keep_unmatched) in candidates {
            let build_rows = if probe_left { right_rows } else { left_rows };
            if build_rows.is_some_and(|n| n > most) {
                continue;
            }
            let (probe, build) = if probe_left {
                (&join.left, &join.right)
            } else {
                (&join.right, &join.left)
            };
            let Some(TableInput {
                table,
                scan,
                filter,
                outputs,
            }) = table_input(probe)
            else {
                continue;
            };
            // A filter that names rows by key is a real-time lookup: it
            // stays on the handler's path.
            if query::key_lookups(table, scan, filter, &self.ctx)?.is_some() {
                continue;
            }
            // Only a small side is sent: read one row more than allowed.
            let Some(rows) = self.small_rows(build).await? else {
                continue;
            };
            // Each side's keys are over its own row.
            let (probe_keys, build_keys) = if probe_left {
                (keys.left.clone(), &keys.right)
            } else {
                (keys.right.clone(), &keys.left)
            };
            let mut groups: HashMap<Vec<Value>, Vec<Row>> = HashMap::new();
            for row in rows {
                if let Some(k) = key_of(build_keys, &row, &self.ctx)? {
                    groups.entry(k).or_default().push(row);
                }
            }
            let shard_join = ShardJoin {
                probe_left,
                keep_unmatched,
                probe_outputs: outputs.map(<[Expr]>::to_vec).unwrap_or_default(),
                probe_keys,
                build: groups.into_iter().collect(),
                build_width: if probe_left {
                    join.right.names().len()
                } else {
                    left_width
                },
                residual: keys.residual.clone(),
                filter: spec.filter.clone(),
            };
            let spec = CollectSpec {
                scan: scan.to_vec(),
                filter: filter.cloned(),
                mode: spec.mode.clone(),
                join: Some(Box::new(shard_join)),
                bucket: None,
            };
            let started = crate::runtime::instant();
            let partials = self.collect_table(table, &spec).await?;
            self.record(
                || {
                    format!(
                        "{} join broadcast to the shards of {}",
                        join.kind.name(),
                        table.ident
                    )
                },
                None,
                started,
                partials.iter().map(Partial::len).sum(),
            );
            return Ok(Some(partials));
        }
        Ok(None)
    }

    /// The rows of a join side if it has at most `shoal.join.broadcast_rows`:
    /// a table side is read with a limit, so a large one costs little to
    /// rule out.
    async fn small_rows(&self, side: &QueryPlan) -> Result<Option<Vec<Row>>> {
        let most = self.cluster.join_broadcast_rows();
        if most == 0 || table_input(side).is_none() {
            return Ok(None);
        }
        let QueryPlan::Select(s) = side else {
            return Ok(None);
        };
        let mut limited = s.clone();
        limited.limit = Some(Expr::Literal(
            Value::Int(most as i64 + 1),
            crate::types::DataType::BigInt,
        ));
        let rows = self.run(&QueryPlan::Select(limited)).await?;
        Ok((rows.len() <= most).then_some(rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Func;
    use crate::types::DataType;

    fn col(i: usize) -> Expr {
        Expr::Column(i, DataType::Integer)
    }

    fn eq(a: Expr, b: Expr) -> Expr {
        Expr::Call {
            func: Func::Eq,
            args: vec![a, b],
            ty: DataType::Boolean,
        }
    }

    fn rows(items: &[&[Option<i64>]]) -> Vec<Row> {
        items
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| v.map_or(Value::Null, Value::Int))
                    .collect()
            })
            .collect()
    }

    fn run(kind: JoinKind, condition: Option<Expr>) -> Vec<Row> {
        let left = rows(&[&[Some(1)], &[Some(2)], &[None], &[Some(2)]]);
        let right = rows(&[&[Some(2), Some(20)], &[Some(3), Some(30)], &[None, Some(0)]]);
        let inputs = Inputs {
            kind,
            left_width: 1,
            right_width: 2,
            condition,
        };
        let mut out = Vec::new();
        inputs
            .join_into(&left, &right, &EvalCtx::new(vec![]), &mut |row| {
                out.push(row);
                Ok(true)
            })
            .expect("join");
        out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        out
    }

    #[test]
    fn hash_joins_pair_equal_keys_and_never_nulls() {
        let on = Some(eq(col(0), col(1)));
        assert_eq!(run(JoinKind::Inner, on.clone()).len(), 2);
        // Left: both 2s match, 1 and NULL are kept with NULLs.
        assert_eq!(run(JoinKind::Left, on.clone()).len(), 4);
        // Right: 2 matches twice, 3 and the NULL key are kept.
        assert_eq!(run(JoinKind::Right, on.clone()).len(), 4);
        assert_eq!(run(JoinKind::Full, on).len(), 6);
    }

    #[test]
    fn other_conditions_run_as_nested_loops() {
        let lt = Expr::Call {
            func: Func::Lt,
            args: vec![col(0), col(1)],
            ty: DataType::Boolean,
        };
        // 1 < 2, 1 < 3, 2 < 3 twice.
        assert_eq!(run(JoinKind::Inner, Some(lt)).len(), 4);
        assert_eq!(run(JoinKind::Cross, None).len(), 12);
    }

    #[test]
    fn a_residual_condition_filters_hash_matches() {
        let on = Expr::And(vec![
            eq(col(0), col(1)),
            Expr::Call {
                func: Func::Gt,
                args: vec![col(2), Expr::Literal(Value::Int(100), DataType::Integer)],
                ty: DataType::Boolean,
            },
        ]);
        assert_eq!(run(JoinKind::Inner, Some(on.clone())).len(), 0);
        assert_eq!(run(JoinKind::Left, Some(on)).len(), 4);
    }
}
