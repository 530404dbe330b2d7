//! Window functions, computed on the handler after the merge and HAVING,
//! before the projection.
//!
//! Calls with the same window definition are computed together, one
//! definition after the other, as CrateDB's `WindowAgg` operators run: the
//! rows are sorted, stably, by the partition keys and then the window's
//! `ORDER BY` (a window with neither keeps the rows' order); each partition
//! is cut into peer groups (rows its `ORDER BY` sorts as equal); and each
//! function is computed per row, over the partition or over the row's frame.
//! The rows leave in the order of the last definition's sort, as CrateDB's do.
//!
//! A frame only moves forward as the current row does, so an aggregate over
//! frames does not go over every frame anew: frames that start at the
//! partition's start grow one running state; `count` and integer `sum` add
//! the rows that enter and take away those that leave; `min` and `max` keep
//! a monotonic queue; frames that end at the partition's end grow a state
//! backwards; anything else is recomputed once per distinct frame. What the
//! computation holds (sort keys, arguments, states, results) is accounted
//! on the statement's memory, so a partition too large trips the breaker.
//!
//! The parts: [`frame`] (partitions, peer groups and frame bounds),
//! [`aggregate`] (aggregates over frames) and [`values`] (`lag`, `lead`,
//! `first_value`, `last_value`, `nth_value`); the ranking functions are here.

mod aggregate;
mod frame;
#[cfg(test)]
mod tests;
mod values;

use std::cmp::Ordering;

use aggregate::aggregate;
use frame::{Frame, Partition, frames};
use values::{frame_values, offset_values};

use super::rows::compare_rows;
use crate::breaker::{HeapSize, LocalReservation};
use crate::error::{Error, Result};
use crate::expr::{EvalCtx, Expr};
use crate::planner::{SortKey, WindowCall, WindowDefinition, WindowFunc};
use crate::types::{Row, Value};

/// Appends one value per window call to every row (`windows[k]` at the
/// row's width + `k`), leaving the rows in the order the windows' sorts give.
pub(super) fn apply_windows(
    rows: &mut Vec<Row>,
    windows: &[WindowCall],
    ctx: &EvalCtx,
) -> Result<()> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(());
    };
    if windows.is_empty() {
        return Ok(());
    }
    if rows.iter().any(|r| r.len() != width) {
        return Err(Error::internal("window input rows differ in width"));
    }
    let mut memory = LocalReservation::new(&ctx.memory, "window");
    memory.add(
        rows.len()
            .saturating_mul(windows.len() * size_of::<Value>()),
    )?;
    for r in rows.iter_mut() {
        r.resize(width + windows.len(), Value::Null);
    }
    // One pass per distinct definition, in the order of their first call.
    let mut definitions: Vec<(&WindowDefinition, Vec<(usize, &WindowCall)>)> = Vec::new();
    for (k, w) in windows.iter().enumerate() {
        let call = (width + k, w);
        match definitions.iter_mut().find(|(d, _)| **d == w.window) {
            Some((_, calls)) => calls.push(call),
            None => definitions.push((&w.window, vec![call])),
        }
    }
    for (definition, calls) in definitions {
        compute_definition(rows, definition, &calls, ctx, &mut memory)?;
    }
    Ok(())
}

/// Sorts the rows for one window definition and computes its calls, each
/// into its column.
fn compute_definition(
    rows: &mut Vec<Row>,
    definition: &WindowDefinition,
    calls: &[(usize, &WindowCall)],
    ctx: &EvalCtx,
    memory: &mut LocalReservation,
) -> Result<()> {
    let n = rows.len();
    let nparts = definition.partition_by.len();
    // Partitions sort ascending with nulls last, as CrateDB sorts them.
    let mut sort: Vec<SortKey> = (0..nparts).map(|i| SortKey::new(i, false, None)).collect();
    sort.extend(
        definition
            .order_by
            .iter()
            .enumerate()
            .map(|(j, o)| SortKey {
                index: nparts + j,
                desc: o.desc,
                nulls_first: o.nulls_first,
            }),
    );
    let key_exprs: Vec<&Expr> = definition
        .partition_by
        .iter()
        .chain(definition.order_by.iter().map(|o| &o.expr))
        .collect();
    let mut keys: Vec<Row> = Vec::with_capacity(n);
    let mut held = 0usize;
    for r in rows.iter() {
        let mut key = Vec::with_capacity(key_exprs.len());
        for e in &key_exprs {
            key.push(e.eval(r, ctx)?);
        }
        let bytes = key.heap_size();
        memory.add(bytes)?;
        held += bytes;
        keys.push(key);
    }
    if !sort.is_empty() {
        let mut order: Vec<usize> = (0..n).collect();
        memory.add(n * size_of::<usize>())?;
        held += n * size_of::<usize>();
        // Stable: peers keep the order they came in.
        order.sort_by(|&a, &b| compare_rows(&keys[a], &keys[b], &sort));
        permute(rows, &order);
        permute(&mut keys, &order);
    }
    let frame = Frame::resolve(&definition.frame, ctx)?;
    let (partition_keys, order_keys) = sort.split_at(nparts);
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && compare_rows(&keys[start], &keys[end], partition_keys) == Ordering::Equal {
            end += 1;
        }
        let mut results = Vec::with_capacity(calls.len());
        {
            let partition = Partition::new(&rows[start..end], &keys[start..end], order_keys);
            let bytes = partition.heap_size();
            memory.add(bytes)?;
            for (_, call) in calls {
                let values = compute(call, &partition, &frame, ctx, memory)?;
                // The slots are accounted already: what the values hold beyond them.
                let held: usize = values
                    .iter()
                    .map(|v| v.heap_size().saturating_sub(size_of::<Value>()))
                    .sum();
                memory.add(held)?;
                results.push(values);
            }
            memory.sub(bytes);
        }
        for ((column, _), values) in calls.iter().zip(results) {
            for (row, v) in rows[start..end].iter_mut().zip(values) {
                if let Some(slot) = row.get_mut(*column) {
                    *slot = v;
                }
            }
        }
        start = end;
    }
    memory.sub(held);
    Ok(())
}

/// Reorders `items` so that the `i`th is the former `order[i]`th.
fn permute<T: Default>(items: &mut Vec<T>, order: &[usize]) {
    let mut old = std::mem::take(items);
    *items = order
        .iter()
        .map(|&i| old.get_mut(i).map(std::mem::take).unwrap_or_default())
        .collect();
}

/// One call's values for the rows of a partition, in order.
fn compute(
    call: &WindowCall,
    p: &Partition,
    frame: &Frame,
    ctx: &EvalCtx,
    memory: &mut LocalReservation,
) -> Result<Vec<Value>> {
    let n = p.len();
    Ok(match &call.func {
        WindowFunc::RowNumber => (1..=n as i64).map(Value::Int).collect(),
        WindowFunc::Rank => p
            .peer_start
            .iter()
            .map(|&s| Value::Int(s as i64 + 1))
            .collect(),
        WindowFunc::DenseRank => {
            let mut rank = 0;
            (0..n)
                .map(|i| {
                    if p.peer_start[i] == i {
                        rank += 1;
                    }
                    Value::Int(rank)
                })
                .collect()
        }
        WindowFunc::PercentRank => p
            .peer_start
            .iter()
            .map(|&s| {
                Value::Float(if n > 1 {
                    s as f64 / (n - 1) as f64
                } else {
                    0.0
                })
            })
            .collect(),
        WindowFunc::CumeDist => p
            .peer_end
            .iter()
            .map(|&e| Value::Float(e as f64 / n as f64))
            .collect(),
        WindowFunc::Ntile(buckets) => ntile(buckets, p, ctx)?,
        WindowFunc::Lag {
            arg,
            offset,
            default,
        }
        | WindowFunc::Lead {
            arg,
            offset,
            default,
        } => offset_values(
            arg,
            offset.as_ref(),
            default.as_ref(),
            matches!(call.func, WindowFunc::Lead { .. }),
            call,
            p,
            ctx,
            memory,
        )?,
        WindowFunc::FirstValue(_) | WindowFunc::LastValue(_) | WindowFunc::NthValue(..) => {
            let frames = frames(p, frame, memory)?;
            let values = frame_values(call, p, &frames, ctx, memory);
            memory.sub(frames.len() * size_of::<(usize, usize)>());
            values?
        }
        WindowFunc::Aggregate(agg) => {
            let frames = frames(p, frame, memory)?;
            let values = aggregate(agg, p.rows, &frames, ctx, memory);
            memory.sub(frames.len() * size_of::<(usize, usize)>());
            values?
        }
    })
}

/// `ntile(buckets)`: the partition cut into `buckets` groups as equal as
/// they can be, the larger first. The bucket count is read on the
/// partition's first row, as PostgreSQL reads it.
fn ntile(buckets: &Expr, p: &Partition, ctx: &EvalCtx) -> Result<Vec<Value>> {
    let n = p.len();
    let Some(first) = p.rows.first() else {
        return Ok(Vec::new());
    };
    let buckets = match buckets.eval(first, ctx)? {
        Value::Null => return Ok(vec![Value::Null; n]),
        Value::Int(b) if b > 0 => usize::try_from(b).unwrap_or(usize::MAX),
        _ => {
            return Err(Error::InvalidArgument(
                "argument of ntile must be greater than zero".into(),
            ));
        }
    };
    let per = n / buckets;
    let larger = n % buckets;
    let in_larger = larger * (per + 1);
    Ok((0..n)
        .map(|i| {
            let bucket = if i < in_larger {
                i / (per + 1)
            } else {
                // per > 0 here: with fewer rows than buckets every row is in a larger one.
                larger + (i - in_larger) / per.max(1)
            };
            Value::Int(bucket as i64 + 1)
        })
        .collect())
}
