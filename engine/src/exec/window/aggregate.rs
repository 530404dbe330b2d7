//! Aggregates over frames. Frames start and end no earlier than the
//! previous row's, so no frame is aggregated from scratch when it need not
//! be: frames sharing their start grow one running state, `count` and
//! integer `sum` take away the rows that leave the frame, `min` and `max`
//! keep a monotonic queue of candidates, frames sharing their end (for
//! aggregates that ignore the rows' order) grow a state backwards, and
//! whatever is left is recomputed once per distinct frame.

use std::collections::VecDeque;

use crate::breaker::{HeapSize, LocalReservation};
use crate::error::{Error, Result};
use crate::expr::{AggCall, AggFunc, EvalCtx};
use crate::types::{Row, Value};

/// The rows `[s, e)`, empty if that is no range of `rows`.
fn span(rows: &[Row], s: usize, e: usize) -> &[Row] {
    rows.get(s..e).unwrap_or_default()
}

/// An aggregate over each row's frame.
pub(super) fn aggregate(
    call: &AggCall,
    rows: &[Row],
    frames: &[(usize, usize)],
    ctx: &EvalCtx,
    memory: &mut LocalReservation,
) -> Result<Vec<Value>> {
    let (Some(&first), Some(&last)) = (frames.first(), frames.last()) else {
        return Ok(Vec::new());
    };
    // Frames start and end no earlier than the previous row's.
    if first.0 == last.0 {
        return running(call, rows, frames, ctx, memory);
    }
    match call.func {
        AggFunc::Min | AggFunc::Max => return extremes(call, rows, frames, ctx, memory),
        AggFunc::CountStar | AggFunc::Count if !call.distinct => {
            return sliding(call, rows, frames, ctx, false);
        }
        AggFunc::Sum if !call.distinct && call.ty.is_integral() => {
            return sliding(call, rows, frames, ctx, true);
        }
        _ => {}
    }
    // What these keep depends on the order rows come in.
    let ordered = matches!(
        call.func,
        AggFunc::ArrayAgg | AggFunc::StringAgg | AggFunc::Arbitrary
    );
    if first.1 == last.1 && !ordered {
        return shrinking(call, rows, frames, ctx, memory);
    }
    let mut out = Vec::with_capacity(frames.len());
    let mut previous: Option<((usize, usize), Value)> = None;
    for &f in frames {
        if let Some((pf, v)) = &previous
            && *pf == f
        {
            out.push(v.clone());
            continue;
        }
        let v = frame_aggregate(call, span(rows, f.0, f.1), ctx, memory)?;
        previous = Some((f, v.clone()));
        out.push(v);
    }
    Ok(out)
}

/// The aggregate over `rows`, from scratch.
fn frame_aggregate(
    call: &AggCall,
    rows: &[Row],
    ctx: &EvalCtx,
    memory: &mut LocalReservation,
) -> Result<Value> {
    let mut state = call.init();
    let mut grown = 0;
    for r in rows {
        let g = call.update(&mut state, r, ctx)?;
        memory.add(g)?;
        grown += g;
    }
    memory.sub(grown);
    call.finish(state)
}

/// Frames that all start at the same row: one state grows as they end later.
fn running(
    call: &AggCall,
    rows: &[Row],
    frames: &[(usize, usize)],
    ctx: &EvalCtx,
    memory: &mut LocalReservation,
) -> Result<Vec<Value>> {
    let mut state = call.init();
    let mut added = frames.first().map_or(0, |f| f.0);
    let mut grown = 0;
    let mut out = Vec::with_capacity(frames.len());
    let mut previous: Option<(usize, Value)> = None;
    for &(s, e) in frames {
        if let Some((pe, v)) = &previous
            && *pe == e
        {
            out.push(v.clone());
            continue;
        }
        if e < added {
            out.push(frame_aggregate(call, span(rows, s, e), ctx, memory)?);
            continue;
        }
        for r in span(rows, added, e) {
            let g = call.update(&mut state, r, ctx)?;
            memory.add(g)?;
            grown += g;
        }
        added = e;
        let v = call.finish(state.clone())?;
        previous = Some((e, v.clone()));
        out.push(v);
    }
    memory.sub(grown);
    Ok(out)
}

/// Frames that all end at the same row: one state grows backwards as they
/// start earlier (for aggregates that do not depend on the rows' order).
fn shrinking(
    call: &AggCall,
    rows: &[Row],
    frames: &[(usize, usize)],
    ctx: &EvalCtx,
    memory: &mut LocalReservation,
) -> Result<Vec<Value>> {
    let end = frames.last().map_or(0, |f| f.1);
    let mut state = call.init();
    let mut from = end;
    let mut grown = 0;
    let mut out = vec![Value::Null; frames.len()];
    let mut previous: Option<(usize, Value)> = None;
    for (slot, &(s, e)) in out.iter_mut().zip(frames).rev() {
        if let Some((ps, v)) = &previous
            && *ps == s
        {
            *slot = v.clone();
            continue;
        }
        if s > from || e != end {
            *slot = frame_aggregate(call, span(rows, s, e), ctx, memory)?;
            continue;
        }
        for r in span(rows, s, from).iter().rev() {
            let g = call.update(&mut state, r, ctx)?;
            memory.add(g)?;
            grown += g;
        }
        from = s;
        let v = call.finish(state.clone())?;
        previous = Some((s, v.clone()));
        *slot = v;
    }
    memory.sub(grown);
    Ok(out)
}

/// What a row adds to an aggregate: nothing when its FILTER drops it or
/// its argument is NULL; `count(*)` counts every row.
fn contribution(call: &AggCall, row: &Row, ctx: &EvalCtx) -> Result<Option<Value>> {
    if let Some(f) = &call.filter
        && !f.matches(row, ctx)?
    {
        return Ok(None);
    }
    if call.func == AggFunc::CountStar {
        return Ok(Some(Value::Int(1)));
    }
    let v = match call.args.first() {
        Some(a) => a.eval(row, ctx)?,
        None => Value::Null,
    };
    Ok((!v.is_null()).then_some(v))
}

/// `count` and integer `sum` over moving frames: rows entering the frame
/// are added, rows leaving it taken away (exactly: the sum is an i128).
fn sliding(
    call: &AggCall,
    rows: &[Row],
    frames: &[(usize, usize)],
    ctx: &EvalCtx,
    sum: bool,
) -> Result<Vec<Value>> {
    let (mut from, mut to) = frames.first().map_or((0, 0), |f| (f.0, f.0));
    let (mut count, mut total) = (0i64, 0i128);
    let mut out = Vec::with_capacity(frames.len());
    for &(s, e) in frames {
        if s > to || s < from || e < to {
            // Not a frame after the previous one: start afresh.
            (from, to, count, total) = (s, s, 0, 0);
        }
        for r in span(rows, to, e) {
            if let Some(v) = contribution(call, r, ctx)? {
                count += 1;
                total += i128::from(v.as_int().unwrap_or(0));
            }
        }
        to = to.max(e);
        for r in span(rows, from, s) {
            if let Some(v) = contribution(call, r, ctx)? {
                count -= 1;
                total -= i128::from(v.as_int().unwrap_or(0));
            }
        }
        from = s;
        out.push(match (sum, count) {
            (false, _) => Value::Int(count),
            (true, 0) => Value::Null,
            (true, _) => Value::Int(
                i64::try_from(total).map_err(|_| Error::Arithmetic("long overflow".into()))?,
            ),
        });
    }
    Ok(out)
}

/// `min` and `max` over moving frames: a queue of the frame's candidates,
/// each better than every later one, so the best is at its front.
fn extremes(
    call: &AggCall,
    rows: &[Row],
    frames: &[(usize, usize)],
    ctx: &EvalCtx,
    memory: &mut LocalReservation,
) -> Result<Vec<Value>> {
    let max = call.func == AggFunc::Max;
    let mut queue: VecDeque<(usize, Value)> = VecDeque::new();
    let mut held = 0usize;
    let mut to = frames.first().map_or(0, |f| f.0);
    let mut out = Vec::with_capacity(frames.len());
    for &(s, e) in frames {
        if s > to || e < to {
            queue.clear();
            memory.sub(held);
            held = 0;
            to = s;
        }
        for (j, r) in span(rows, to, e).iter().enumerate() {
            let Some(v) = contribution(call, r, ctx)? else {
                continue;
            };
            // A candidate the new value beats can never be the best again.
            while let Some((_, b)) = queue.back() {
                let beaten = if max { *b <= v } else { *b >= v };
                if !beaten {
                    break;
                }
                let bytes = queue.pop_back().map_or(0, |(_, b)| b.heap_size());
                memory.sub(bytes);
                held -= bytes;
            }
            let bytes = v.heap_size();
            memory.add(bytes)?;
            held += bytes;
            queue.push_back((to + j, v));
        }
        to = to.max(e);
        while queue.front().is_some_and(|(j, _)| *j < s) {
            let bytes = queue.pop_front().map_or(0, |(_, v)| v.heap_size());
            memory.sub(bytes);
            held -= bytes;
        }
        out.push(queue.front().map_or(Value::Null, |(_, v)| v.clone()));
    }
    memory.sub(held);
    Ok(out)
}
