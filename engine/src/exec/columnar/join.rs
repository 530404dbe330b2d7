//! Columnar GROUP BY of a broadcast join, on each shard of its large side.
//!
//! A star join — a large table joined on an integer key with a small one
//! sent along, grouped by the small table's columns, aggregating the large
//! table's numbers (`SELECT u.country, sum(s.steps) FROM steps s JOIN users
//! u ON s.user_id = u.id GROUP BY u.country`) — needs of each shard row only
//! its key and its values: which group a joined row falls into depends on
//! the small side's row alone. So the groups of the small side's rows are
//! worked out before the scan, each key maps to the group slots of its
//! partners, and the scan folds each row's values into those slots, reading
//! a block of each column at a time as the plain columnar GROUP BY does.
//! The row path ([`crate::exec::collect::Sink`]) joins row by row instead,
//! building every joined row.
//!
//! Taken when the join condition is one integer column of the shard's side
//! equal to the small side's key, with no other condition; the group keys
//! and any condition above the join read only the small side; the
//! aggregates are `count(*)`, or `count`, `sum`, `avg`, `min`, `max` of
//! the shard's plain numeric columns; and the shard's filter went into the
//! index entirely. An outer join's unmatched rows go to the group of a
//! small-side row of NULLs.

use hashbrown::HashMap;
use tantivy::query::Weight;

use super::accs::{AggColumn, BLOCK, ValCol, dense_span, first, is_full, scan_column, value_of};
use super::accs::{ValKind, value_columns};
use crate::breaker::{HeapSize, LocalReservation};
use crate::error::Result;
use crate::exec::pushdown::for_each_doc;
use crate::expr::{AggCall, EvalCtx, Expr};
use crate::request::{CollectMode, CollectSpec, Groups, Partial, ShardJoin};
use crate::storage::Snapshot;
use crate::storage::segment::{AliveSet, Segment};
use crate::types::{Row, Value};

/// The partners' group slots of each key of the small side.
struct Partners {
    /// Slots of all keys, each key's in one run.
    slots: Vec<usize>,
    /// Key - `min` -> its run (`NONE`: no partner), for keys in a small range.
    dense: Option<(i64, Vec<(u32, u32)>)>,
    /// Key -> its run, otherwise.
    sparse: HashMap<i64, (u32, u32)>,
}

const NONE: (u32, u32) = (u32::MAX, 0);

impl Partners {
    /// The slots a row with `key` goes to; `None` if it has no partner
    /// (which differs from partners all filtered out, `Some(&[])`: only the
    /// first is an unmatched row of an outer join).
    #[inline]
    fn of(&self, key: i64) -> Option<&[usize]> {
        let (start, len) = match &self.dense {
            Some((min, runs)) => *runs.get(usize::try_from(key.checked_sub(*min)?).ok()?)?,
            None => *self.sparse.get(&key)?,
        };
        if start == NONE.0 {
            return None;
        }
        self.slots.get(start as usize..(start + len) as usize)
    }

    fn heap_size(&self) -> usize {
        self.slots.len() * size_of::<usize>()
            + self.dense.as_ref().map_or(0, |(_, r)| r.len() * 8)
            + self.sparse.len() * 24
    }
}

/// What the scan needs: the key column, the value columns, and the groups.
struct JoinPlan<'a> {
    key: String,
    vals: Vec<Option<(String, ValKind)>>,
    aggs: &'a [AggCall],
    /// Each slot's group key.
    groups: Vec<Vec<Value>>,
    partners: Partners,
    /// Where a row without partners goes (the preserved side of an outer
    /// join, when the conditions above the join keep it).
    unmatched: Option<usize>,
}

/// Runs the columnar path of a broadcast join if the collect phase
/// qualifies (see the module notes).
pub fn try_aggregate_join(
    snapshot: &Snapshot,
    spec: &CollectSpec,
    weight: Option<&dyn Weight>,
    residual: Option<&Expr>,
    ctx: &EvalCtx,
) -> Result<Option<Partial>> {
    let (Some(join), CollectMode::Groups { keys, .. }) = (spec.join.as_deref(), &spec.mode) else {
        return Ok(None);
    };
    if residual.is_some() || spec.bucket.is_some() {
        return Ok(None);
    }
    let Some(plan) = plan(spec, join, ctx)? else {
        return Ok(None);
    };
    let mut memory = LocalReservation::new(&ctx.memory, "join");
    let groups: usize = plan.groups.iter().map(|g| g.as_slice().heap_size()).sum();
    memory.add(plan.partners.heap_size() + groups)?;
    let mut aggs: Vec<AggColumn> = plan
        .aggs
        .iter()
        .zip(&plan.vals)
        .map(|(a, v)| AggColumn::new(a, v.as_ref().map(|x| x.1)))
        .collect();
    for a in &mut aggs {
        for _ in 0..plan.groups.len() {
            a.grow();
        }
    }
    let mut used = vec![false; plan.groups.len()];
    for view in &snapshot.segments {
        scan_segment(
            &plan,
            &view.segment,
            &view.alive,
            weight,
            &mut aggs,
            &mut used,
        )?;
    }
    let mut out = Groups::new(keys.len(), plan.aggs.len());
    for (slot, key) in plan.groups.iter().enumerate() {
        // Without GROUP BY there is one group, rows or none.
        if used[slot] || keys.is_empty() {
            out.push(
                key.iter().cloned(),
                aggs.iter().zip(plan.aggs).map(|(a, c)| a.state(slot, c)),
            );
        }
    }
    Ok(Some(Partial::Groups(out)))
}

/// The plan, if the join and the aggregation qualify.
fn plan<'a>(spec: &'a CollectSpec, j: &ShardJoin, ctx: &EvalCtx) -> Result<Option<JoinPlan<'a>>> {
    let CollectMode::Groups { keys, aggs } = &spec.mode else {
        return Ok(None);
    };
    if j.residual.is_some() {
        return Ok(None);
    }
    // The shard's side of the joined row, as scan columns: only plain
    // columns, so that no expression is left unevaluated.
    let probe: Vec<usize> = if j.probe_outputs.is_empty() {
        (0..spec.scan.len()).collect()
    } else {
        let columns: Option<Vec<usize>> = j
            .probe_outputs
            .iter()
            .map(|e| match e {
                Expr::Column(i, _) => Some(*i),
                _ => None,
            })
            .collect();
        match columns {
            Some(c) => c,
            None => return Ok(None),
        }
    };
    let (probe_at, build_at) = match j.probe_left {
        true => (0, probe.len()),
        false => (j.build_width, 0),
    };
    let width = probe.len() + j.build_width;
    let reads_build_only = |e: &Expr| {
        let mut only = true;
        e.visit(&mut |x| match x {
            Expr::Column(i, _) => only &= (build_at..build_at + j.build_width).contains(i),
            Expr::Match(_) => only = false,
            Expr::Call { func, .. } => only &= func.is_deterministic(),
            _ => {}
        });
        only
    };
    // The join key: one integer column of the shard's side.
    let [Expr::Column(k, _)] = j.probe_keys.as_slice() else {
        return Ok(None);
    };
    let Some((key, ty)) = probe.get(*k).and_then(|s| scan_column(*s, &spec.scan)) else {
        return Ok(None);
    };
    if !ty.is_integral() {
        return Ok(None);
    }
    if !keys.iter().all(reads_build_only) || !j.filter.iter().all(reads_build_only) {
        return Ok(None);
    }
    // The aggregates read the shard's side.
    let shard_column = |e: &Expr| match e {
        Expr::Column(i, _) => {
            let p = i.checked_sub(probe_at).filter(|p| *p < probe.len())?;
            scan_column(probe[p], &spec.scan)
        }
        _ => None,
    };
    let Some(vals) = aggs
        .iter()
        .map(|a| value_of(a, shard_column))
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    // Only integer keys (a NULL key matches nothing): an equal integer on
    // the shard is the same value.
    let mut build: Vec<(i64, &[Row])> = Vec::with_capacity(j.build.len());
    for (k, rows) in &j.build {
        match k.as_slice() {
            [Value::Int(v)] => build.push((*v, rows)),
            [Value::Null] => {}
            _ => return Ok(None),
        }
    }
    // Each partner's group, where the conditions above the join keep it.
    let mut groups: Vec<Vec<Value>> = Vec::new();
    let mut slot_of: HashMap<Vec<Value>, usize> = HashMap::new();
    let mut slot = |partner: Option<&Row>| -> Result<Option<usize>> {
        let mut row = vec![Value::Null; width];
        if let Some(p) = partner {
            for (to, v) in row[build_at..].iter_mut().zip(p) {
                *to = v.clone();
            }
        }
        if let Some(f) = &j.filter
            && !f.matches(&row, ctx)?
        {
            return Ok(None);
        }
        let key = keys
            .iter()
            .map(|k| k.eval(&row, ctx))
            .collect::<Result<Vec<_>>>()?;
        let next = groups.len();
        let s = *slot_of.entry(key.clone()).or_insert(next);
        if s == next {
            groups.push(key);
        }
        Ok(Some(s))
    };
    let mut slots = Vec::new();
    let mut runs = Vec::with_capacity(build.len());
    for (k, rows) in &build {
        let start = slots.len();
        for r in *rows {
            if let Some(s) = slot(Some(r))? {
                slots.push(s);
            }
        }
        runs.push((*k, (start as u32, (slots.len() - start) as u32)));
    }
    let unmatched = match j.keep_unmatched {
        true => slot(None)?,
        false => None,
    };
    if keys.is_empty() && groups.is_empty() {
        groups.push(Vec::new());
    }
    let partners = if let Some((lo, span)) = dense_span(runs.iter().map(|(k, _)| (*k, *k))) {
        let mut dense = vec![NONE; span];
        for (k, run) in runs {
            dense[(k - lo) as usize] = run;
        }
        Partners {
            slots,
            dense: Some((lo, dense)),
            sparse: HashMap::new(),
        }
    } else {
        Partners {
            slots,
            dense: None,
            sparse: runs.into_iter().collect(),
        }
    };
    Ok(Some(JoinPlan {
        key,
        vals,
        aggs,
        groups,
        partners,
        unmatched,
    }))
}

/// Folds one segment's rows into their partners' slots.
fn scan_segment(
    p: &JoinPlan,
    segment: &Segment,
    alive: &AliveSet,
    weight: Option<&dyn Weight>,
    aggs: &mut [AggColumn],
    used: &mut [bool],
) -> Result<()> {
    let key = segment.reader.fast_fields().column_opt::<i64>(&p.key)?;
    let vals = value_columns(segment, &p.vals)?;
    let slots_of = |k: Option<i64>| -> &[usize] {
        match k.and_then(|k| p.partners.of(k)) {
            Some(s) => s,
            None => p.unmatched.as_slice(),
        }
    };
    let full = key.as_ref().is_some_and(is_full) && vals.iter().all(ValCol::is_full);
    if weight.is_none() && alive.all_alive() && full {
        let Some(key) = &key else { return Ok(()) };
        // Block path: a block of keys becomes (slot, row) pairs, and each
        // aggregate folds the values it gathers for them.
        let max_doc = segment.max_doc() as usize;
        let mut keys = vec![0i64; BLOCK];
        let (mut pair_slots, mut pair_rows) =
            (Vec::with_capacity(BLOCK), Vec::with_capacity(BLOCK));
        let mut ibuf = vec![0i64; BLOCK];
        let mut fbuf = vec![0f64; BLOCK];
        let (mut gathered_i, mut gathered_f) = (Vec::new(), Vec::new());
        let mut start = 0usize;
        while start < max_doc {
            let len = BLOCK.min(max_doc - start);
            key.values.get_range(start as u64, &mut keys[..len]);
            pair_slots.clear();
            pair_rows.clear();
            for (row, k) in keys[..len].iter().enumerate() {
                for s in slots_of(Some(*k)) {
                    used[*s] = true;
                    pair_slots.push(*s);
                    pair_rows.push(row);
                }
            }
            if !pair_slots.is_empty() {
                for (agg, v) in aggs.iter_mut().zip(&vals) {
                    match v {
                        ValCol::Count => agg.count_block(&pair_slots),
                        ValCol::Int(c) => {
                            c.values.get_range(start as u64, &mut ibuf[..len]);
                            gathered_i.clear();
                            gathered_i.extend(pair_rows.iter().map(|r| ibuf[*r]));
                            agg.add_block_i(&pair_slots, &gathered_i);
                        }
                        ValCol::Float(c) => {
                            c.values.get_range(start as u64, &mut fbuf[..len]);
                            gathered_f.clear();
                            gathered_f.extend(pair_rows.iter().map(|r| fbuf[*r]));
                            agg.add_block_f(&pair_slots, &gathered_f);
                        }
                        ValCol::Missing => {}
                    }
                }
            }
            start += len;
        }
        return Ok(());
    }
    for_each_doc(segment, alive, weight, |doc, _| {
        let k = key.as_ref().and_then(|c| first(c, doc));
        for s in slots_of(k) {
            used[*s] = true;
            for (agg, v) in aggs.iter_mut().zip(&vals) {
                match v {
                    ValCol::Count => agg.count(*s),
                    ValCol::Int(c) => {
                        if let Some(x) = first(c, doc) {
                            agg.add_i(*s, x);
                        }
                    }
                    ValCol::Float(c) => {
                        if let Some(x) = first(c, doc) {
                            agg.add_f(*s, x);
                        }
                    }
                    ValCol::Missing => {}
                }
            }
        }
        Ok(true)
    })?;
    Ok(())
}
