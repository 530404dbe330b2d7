//! The value functions: `lag` and `lead`, which read the argument at
//! another row of the partition, and `first_value`, `last_value` and
//! `nth_value`, which read it at a row of the frame. With `IGNORE NULLS`
//! rows where the argument is NULL are skipped, found by binary search
//! among the positions of the others.

use super::frame::Partition;
use crate::breaker::{HeapSize, LocalReservation};
use crate::error::{Error, Result};
use crate::expr::{EvalCtx, Expr};
use crate::planner::{WindowCall, WindowFunc};
use crate::types::{Row, Value};

/// The argument's value on every row, accounted (the caller gives it back).
fn argument_values(
    arg: &Expr,
    rows: &[Row],
    ctx: &EvalCtx,
    memory: &mut LocalReservation,
) -> Result<(Vec<Value>, usize)> {
    let mut values = Vec::with_capacity(rows.len());
    let mut bytes = 0;
    for r in rows {
        let v = arg.eval(r, ctx)?;
        bytes += v.heap_size();
        values.push(v);
    }
    memory.add(bytes)?;
    Ok((values, bytes))
}

/// The positions of the non-null values (for `IGNORE NULLS`).
fn non_null(values: &[Value]) -> Vec<usize> {
    (0..values.len())
        .filter(|&i| !values[i].is_null())
        .collect()
}

/// `lag` and `lead` (`ahead`): the argument at the row `offset` rows away
/// in the partition (counting only rows where it is not null, with `IGNORE
/// NULLS`), else the default. A negative offset looks the other way.
#[allow(clippy::too_many_arguments)]
pub(super) fn offset_values(
    arg: &Expr,
    offset: Option<&Expr>,
    default: Option<&Expr>,
    ahead: bool,
    call: &WindowCall,
    p: &Partition,
    ctx: &EvalCtx,
    memory: &mut LocalReservation,
) -> Result<Vec<Value>> {
    let (values, bytes) = argument_values(arg, p.rows, ctx, memory)?;
    let present = if call.ignore_nulls {
        non_null(&values)
    } else {
        Vec::new()
    };
    let mut out = Vec::with_capacity(values.len());
    for (i, row) in p.rows.iter().enumerate() {
        let steps = match offset {
            None => 1,
            Some(e) => match e.eval(row, ctx)? {
                Value::Null => {
                    out.push(Value::Null);
                    continue;
                }
                Value::Int(o) => o,
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "offset must be an integer, got {}",
                        crate::types::cast::literal(&other)
                    )));
                }
            },
        };
        let forward = ahead == (steps >= 0);
        let distance = usize::try_from(steps.unsigned_abs()).unwrap_or(usize::MAX);
        let at = if !call.ignore_nulls {
            if forward {
                i.checked_add(distance)
            } else {
                i.checked_sub(distance)
            }
        } else if distance == 0 {
            return Err(Error::InvalidArgument(
                "offset 0 is not a valid argument if ignore nulls flag is set".into(),
            ));
        } else if forward {
            let after = present.partition_point(|&j| j <= i);
            after
                .checked_add(distance - 1)
                .and_then(|q| present.get(q).copied())
        } else {
            let before = present.partition_point(|&j| j < i);
            before
                .checked_sub(distance)
                .and_then(|q| present.get(q).copied())
        };
        out.push(match at.and_then(|j| values.get(j)) {
            Some(v) => v.clone(),
            None => match default {
                Some(d) => d.eval(row, ctx)?,
                None => Value::Null,
            },
        });
    }
    memory.sub(bytes);
    Ok(out)
}

/// `first_value`, `last_value` and `nth_value` over each row's frame.
pub(super) fn frame_values(
    call: &WindowCall,
    p: &Partition,
    frames: &[(usize, usize)],
    ctx: &EvalCtx,
    memory: &mut LocalReservation,
) -> Result<Vec<Value>> {
    let (arg, nth) = match &call.func {
        WindowFunc::FirstValue(a) | WindowFunc::LastValue(a) => (a, None),
        WindowFunc::NthValue(a, n) => (a, Some(n)),
        _ => return Err(Error::internal("not a frame value function")),
    };
    let last = matches!(call.func, WindowFunc::LastValue(_));
    let (values, bytes) = argument_values(arg, p.rows, ctx, memory)?;
    let present = if call.ignore_nulls {
        non_null(&values)
    } else {
        Vec::new()
    };
    let mut out = Vec::with_capacity(frames.len());
    for (i, &(s, e)) in frames.iter().enumerate() {
        // The position within the frame, from 0; the last row for last_value.
        let nth_index = match nth {
            None => Some(0),
            Some(n) => match p.rows.get(i).map(|r| n.eval(r, ctx)).transpose()? {
                // CrateDB answers NULL for a position outside the frame, 0 included.
                Some(Value::Int(k)) if k >= 1 => usize::try_from(k - 1).ok(),
                _ => None,
            },
        };
        let at = match (nth_index, last, call.ignore_nulls) {
            (None, _, _) => None,
            (Some(_), true, false) => e.checked_sub(1).filter(|&j| j >= s),
            (Some(_), true, true) => present
                .partition_point(|&j| j < e)
                .checked_sub(1)
                .and_then(|q| present.get(q).copied())
                .filter(|&j| j >= s),
            (Some(k), false, false) => s.checked_add(k).filter(|&j| j < e),
            (Some(k), false, true) => present
                .partition_point(|&j| j < s)
                .checked_add(k)
                .and_then(|q| present.get(q).copied())
                .filter(|&j| j < e),
        };
        out.push(
            at.and_then(|j| values.get(j))
                .cloned()
                .unwrap_or(Value::Null),
        );
    }
    memory.sub(bytes);
    Ok(out)
}
