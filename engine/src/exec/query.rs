//! Query execution on the handler: run the collect phases, merge their
//! partial results, then HAVING, window functions, projection, DISTINCT,
//! ORDER BY and LIMIT.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use super::collect::{collect_rows, stored_row};
use super::rows::{apply_limit, distinct, eval_count, sort_rows, top_n};
use super::{Cluster, CopyRole, Executor, OFFLOAD_ROWS, docs, shard_id, unexpected};
use crate::breaker::{HeapSize, LocalReservation};
use crate::catalog::TableInfo;
use crate::error::{Error, Result};
use crate::expr::{AggCall, AggState, Expr, Func};
use crate::planner::{QueryPlan, ScanColumn, SelectPlan, SetOp, Source};
use crate::request::{CollectMode, CollectSpec, Partial, ShardRequest, ShardResponse};
use crate::routing::{doc_id, routing_value, shard_for};
use crate::storage::StoredDoc;
use crate::types::{Object, Row, Value};

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl<C: Cluster> Executor<'_, C> {
    /// Runs a query plan to its rows.
    pub fn run<'a>(&'a self, plan: &'a QueryPlan) -> BoxFut<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            // Set operations recurse along their left-deep chain.
            crate::limits::check_stack()?;
            match plan {
                QueryPlan::Select(s) => self.run_select(s).await,
                QueryPlan::SetOp {
                    op,
                    all,
                    left,
                    right,
                    order_by,
                    limit,
                    offset,
                } => {
                    let l = self.run(left).await?;
                    let r = self.run(right).await?;
                    // The operation hashes copies of the rows.
                    account(&self.ctx, &l, "set operation")?;
                    account(&self.ctx, &r, "set operation")?;
                    let (op, all) = (*op, *all);
                    let rows = if l.len() + r.len() <= OFFLOAD_ROWS {
                        let mut rows = set_op(op, all, l, r);
                        sort_rows(&mut rows, order_by);
                        rows
                    } else {
                        let order_by = order_by.clone();
                        crate::runtime::run_blocking(move || {
                            let mut rows = set_op(op, all, l, r);
                            sort_rows(&mut rows, &order_by);
                            rows
                        })
                        .await
                    };
                    let offset = eval_count(offset.as_ref(), &self.ctx)?.unwrap_or(0);
                    Ok(apply_limit(
                        rows,
                        offset,
                        eval_count(limit.as_ref(), &self.ctx)?,
                    ))
                }
            }
        })
    }

    async fn run_select(&self, plan: &SelectPlan) -> Result<Vec<Row>> {
        let offset = eval_count(plan.offset.as_ref(), &self.ctx)?.unwrap_or(0);
        let limit = eval_count(plan.limit.as_ref(), &self.ctx)?;
        let spec = collect_spec(plan, offset, limit);
        let distributed = match &plan.source {
            Source::Join(j) => match self.broadcast_join(j, &spec).await? {
                Some(partials) => Some(partials),
                None => self.repartition_join(j, &spec).await?,
            },
            _ => None,
        };
        let partials = match distributed {
            Some(partials) => partials,
            None => self.collect(&plan.source, &spec).await?,
        };
        let started = crate::runtime::instant();
        let rows = if partials.iter().map(Partial::len).sum::<usize>() <= OFFLOAD_ROWS {
            finish_select(plan, partials, &self.ctx, offset, limit)?
        } else {
            let (plan, ctx) = (plan.clone(), self.ctx.clone());
            crate::runtime::run_blocking(move || {
                finish_select(&plan, partials, &ctx, offset, limit)
            })
            .await?
        };
        self.record(|| "merge on the handler".into(), None, started, rows.len());
        Ok(rows)
    }

    /// The projected rows of a table SELECT from one shard only (COPY TO).
    #[cfg(not(madsim))]
    pub(crate) async fn shard_rows(
        &self,
        plan: &QueryPlan,
        table: &TableInfo,
        shard: u32,
    ) -> Result<Vec<Row>> {
        let QueryPlan::Select(select) = plan else {
            return Err(Error::internal("shard_rows needs a SELECT"));
        };
        let request = ShardRequest::Collect {
            shard: shard_id(table, shard),
            spec: collect_spec(select, 0, None),
            ctx: self.ctx.clone(),
        };
        match self.request(request, CopyRole::Any).await? {
            ShardResponse::Partial(Partial::Rows(rows)) => Ok(rows),
            other => Err(unexpected(&other)),
        }
    }

    /// Runs the collect phase over a source.
    async fn collect(&self, source: &Source, spec: &CollectSpec) -> Result<Vec<Partial>> {
        let rows = match source {
            Source::Table { table, scan } => {
                if let Some(rows) = self
                    .lookup_by_key(table, scan, spec.filter.as_ref())
                    .await?
                {
                    rows
                } else {
                    return self.collect_table(table, spec).await;
                }
            }
            Source::Empty => vec![Vec::new()],
            Source::Query(q) => self.run(q).await?,
            Source::Join(j) => return Ok(vec![self.collect_join(j, spec).await?]),
            Source::Apply(a) => self.run_apply(a).await?,
            Source::Values(rows) => {
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push(
                        r.iter()
                            .map(|e| e.eval(&[], &self.ctx))
                            .collect::<Result<Row>>()?,
                    );
                }
                out
            }
            Source::Series { start, stop, step } => {
                // Made and collected off the workers: a series can have
                // millions of rows.
                let (start, stop, step) = (*start, *stop, *step);
                let (spec, ctx) = (spec.clone(), self.ctx.clone());
                let partial = crate::runtime::run_blocking(move || {
                    collect_rows(series_rows(start, stop, step, &ctx)?, &spec, &ctx)
                })
                .await?;
                return Ok(vec![partial]);
            }
            Source::Unnest(exprs) => {
                let mut arrays = Vec::with_capacity(exprs.len());
                for e in exprs {
                    arrays.push(match e.eval(&[], &self.ctx)? {
                        Value::Array(items) => items,
                        Value::Null => Vec::new(),
                        other => vec![other],
                    });
                }
                let n = arrays.iter().map(Vec::len).max().unwrap_or(0);
                reserve_rows(&self.ctx, n, arrays.len())?;
                (0..n)
                    .map(|i| {
                        arrays
                            .iter()
                            .map(|a| a.get(i).cloned().unwrap_or(Value::Null))
                            .collect()
                    })
                    .collect()
            }
            Source::System(st) => {
                self.cluster
                    .system_rows(*st, &self.ctx.current_schema)
                    .await?
            }
        };
        if rows.len() <= OFFLOAD_ROWS {
            return Ok(vec![collect_rows(rows, spec, &self.ctx)?]);
        }
        let (spec, ctx) = (spec.clone(), self.ctx.clone());
        let partial = crate::runtime::run_blocking(move || collect_rows(rows, &spec, &ctx)).await?;
        Ok(vec![partial])
    }

    /// Runs a collect phase on every shard of a table, all at once.
    pub(super) async fn collect_table(
        &self,
        table: &TableInfo,
        spec: &CollectSpec,
    ) -> Result<Vec<Partial>> {
        let routed = routed_shards(table, &spec.scan, spec.filter.as_ref(), &self.ctx)?;
        let shards: Vec<u32> = match routed {
            Some(s) if !s.is_empty() => s.into_iter().collect(),
            // No value can match: one shard answers (nothing), so the
            // result keeps its shape (a count of 0, say).
            Some(_) => vec![0],
            None => (0..table.num_shards).collect(),
        };
        let requests = shards.into_iter().map(|s| async move {
            let started = crate::runtime::instant();
            let response = self
                .request(
                    ShardRequest::Collect {
                        shard: shard_id(table, s),
                        spec: spec.clone(),
                        ctx: self.ctx.clone(),
                    },
                    CopyRole::Any,
                )
                .await;
            if let Ok(ShardResponse::Partial(p)) = &response {
                self.record(
                    || format!("collect {}", table.ident),
                    Some(s),
                    started,
                    p.len(),
                );
            }
            response
        });
        let mut out = Vec::with_capacity(table.num_shards as usize);
        for response in futures::future::join_all(requests).await {
            match response? {
                ShardResponse::Partial(p) => out.push(p),
                other => return Err(unexpected(&other)),
            }
        }
        Ok(out)
    }

    /// Real-time lookups for filters on the full primary key (or `_id`):
    /// returns the scan rows of the live documents, in key order, or `None`
    /// if the filter does not pin down keys.
    pub(crate) async fn lookup_by_key(
        &self,
        table: &TableInfo,
        scan: &[ScanColumn],
        filter: Option<&Expr>,
    ) -> Result<Option<Vec<Row>>> {
        let Some(keys) = key_lookups(table, scan, filter, &self.ctx)? else {
            return Ok(None);
        };
        let found = self.get_keys(table, &keys).await?;
        let mut rows = Vec::with_capacity(found.len());
        for (id, _) in &keys {
            if let Some((_, doc)) = found.get(id) {
                rows.push(stored_row(doc, scan));
            }
        }
        Ok(Some(rows))
    }

    /// The live documents with the given keys, by id, each with its shard:
    /// one real-time get per shard, on its primary.
    pub(crate) async fn get_keys(
        &self,
        table: &TableInfo,
        keys: &[KeyLookup],
    ) -> Result<HashMap<String, (u32, StoredDoc)>> {
        let mut by_shard: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
        for (id, shard) in keys {
            match shard {
                Some(s) => by_shard.entry(*s).or_default().push(id.clone()),
                // Routed by a column the filter does not pin: ask every shard.
                None => {
                    for s in 0..table.num_shards {
                        by_shard.entry(s).or_default().push(id.clone());
                    }
                }
            }
        }
        let requests = by_shard.into_iter().map(|(s, ids)| async move {
            let request = ShardRequest::Get {
                shard: shard_id(table, s),
                ids,
            };
            Ok::<_, Error>((s, docs(self.request(request, CopyRole::Primary).await?)?))
        });
        let mut found = HashMap::new();
        for response in futures::future::join_all(requests).await {
            let (s, docs) = response?;
            for doc in docs {
                found.entry(doc.id.clone()).or_insert((s, doc));
            }
        }
        Ok(found)
    }
}

/// The handler's part of a SELECT: merges the partial results, then
/// HAVING, window functions, projection, DISTINCT, ORDER BY and LIMIT.
fn finish_select(
    plan: &SelectPlan,
    partials: Vec<Partial>,
    ctx: &crate::expr::EvalCtx,
    offset: usize,
    limit: Option<usize>,
) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = match &plan.aggregation {
        Some(agg) => {
            let merged = merge_groups(agg, partials)?;
            let (width, naggs) = (agg.keys.len(), agg.aggs.len());
            let mut out = Vec::with_capacity(merged.count);
            let mut keys = merged.keys.into_iter();
            let mut states = merged.states.into_iter();
            for _ in 0..merged.count {
                let mut row: Row = Vec::with_capacity(width + naggs);
                row.extend(keys.by_ref().take(width));
                for call in &agg.aggs {
                    let s = states
                        .next()
                        .ok_or_else(|| Error::internal("group states"))?;
                    row.push(call.finish(s)?);
                }
                out.push(row);
            }
            account(ctx, &out, "merge")?;
            out
        }
        None => {
            let mut out = Vec::new();
            for p in partials {
                let Partial::Rows(r) = p else {
                    return Err(Error::internal("expected rows"));
                };
                out.extend(r);
            }
            out
        }
    };

    if let Some(h) = &plan.having {
        let mut kept = Vec::with_capacity(rows.len());
        for r in rows {
            if h.matches(&r, ctx)? {
                kept.push(r);
            }
        }
        rows = kept;
    }
    let projected_on_shards = plan.aggregation.is_none() && plan.windows.is_empty();
    if !projected_on_shards {
        super::window::apply_windows(&mut rows, &plan.windows, ctx)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut o = Vec::with_capacity(plan.outputs.len());
            for e in &plan.outputs {
                o.push(e.eval(r, ctx)?);
            }
            out.push(o);
        }
        account(ctx, &out, "project")?;
        rows = out;
    }
    if plan.distinct {
        account(ctx, &rows, "distinct")?;
        rows = distinct(rows);
    }
    top_n(
        &mut rows,
        &plan.order_by,
        limit.map(|l| l.saturating_add(offset)),
    );
    let mut rows = apply_limit(rows, offset, limit);
    let visible = plan.names.len();
    for r in rows.iter_mut() {
        r.truncate(visible);
    }
    Ok(rows)
}

/// Accounts `n` rows of `width` values about to be built.
fn reserve_rows(ctx: &crate::expr::EvalCtx, n: usize, width: usize) -> Result<()> {
    let bytes = n.saturating_mul(size_of::<Row>() + width * size_of::<Value>());
    ctx.memory.reserve(bytes as u64, "unnest")
}

/// Accounts rows the handler holds (until the statement ends).
fn account(ctx: &crate::expr::EvalCtx, rows: &[Row], label: &str) -> Result<()> {
    let bytes: usize = rows.iter().map(|r| r.heap_size()).sum();
    ctx.memory.reserve(bytes as u64, label)
}

/// The rows of `generate_series(start, stop, step)`, accounted as they are
/// made. The arithmetic is in i128: the values span the whole i64 range.
fn series_rows(start: i64, stop: i64, step: i64, ctx: &crate::expr::EvalCtx) -> Result<Vec<Row>> {
    let (start, stop, step) = (start as i128, stop as i128, step as i128);
    let count = ((stop - start) / step + 1).max(0);
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let per_row = std::mem::size_of::<Row>() + std::mem::size_of::<Value>();
    let mut memory = LocalReservation::new(&ctx.memory, "generate_series");
    memory.add(count.saturating_mul(per_row))?;
    memory.keep();
    let mut rows = Vec::with_capacity(count.min(1 << 16));
    for i in 0..count {
        // Within range by construction: start + i * step lies between start and stop.
        let v = start + i as i128 * step;
        rows.push(vec![Value::Int(v as i64)]);
    }
    Ok(rows)
}

/// Merged groups, flat as in [`super::collect::Groups`], with their count
/// (groups without keys or aggregates still count).
struct Merged {
    keys: Vec<Value>,
    states: Vec<AggState>,
    count: usize,
}

/// Merges the shards' partial groups: states of equal keys are combined, in
/// first-seen order.
fn merge_groups(agg: &crate::planner::Aggregation, partials: Vec<Partial>) -> Result<Merged> {
    let (width, naggs) = (agg.keys.len(), agg.aggs.len());
    let mut keys: Vec<Value> = Vec::new();
    let mut states: Vec<AggState> = Vec::new();
    let mut count = 0usize;
    let mut single: hashbrown::HashMap<Value, usize> = hashbrown::HashMap::new();
    let mut multi: hashbrown::HashMap<Vec<Value>, usize> = hashbrown::HashMap::new();
    for p in partials {
        let Partial::Groups(g) = p else {
            return Err(Error::internal("expected groups"));
        };
        let n = g.len();
        let mut gk = g.keys.into_iter();
        let mut gs = g.states.into_iter();
        for _ in 0..n {
            let key: Vec<Value> = gk.by_ref().take(width).collect();
            let group_states: Vec<AggState> = gs.by_ref().take(naggs).collect();
            let found = match width {
                0 => (count > 0).then_some(0),
                1 => single.get(&key[0]).copied(),
                _ => multi.get(&key).copied(),
            };
            match found {
                Some(i) => {
                    for (j, (call, s)) in agg.aggs.iter().zip(group_states).enumerate() {
                        call.merge(&mut states[i * naggs + j], s);
                    }
                }
                None => {
                    match width {
                        0 => {}
                        1 => {
                            single.insert(key[0].clone(), count);
                        }
                        _ => {
                            multi.insert(key.clone(), count);
                        }
                    }
                    keys.extend(key);
                    states.extend(group_states);
                    count += 1;
                }
            }
        }
    }
    if width == 0 && count == 0 {
        states.extend(agg.aggs.iter().map(AggCall::init));
        count = 1;
    }
    Ok(Merged {
        keys,
        states,
        count,
    })
}

/// For a SELECT that needs only the first rows of each window partition
/// ([`SelectPlan::window_top`]): the partition's columns, the window's order
/// and how many rows — when the window reads plain columns.
fn window_top(
    plan: &SelectPlan,
) -> Option<(Vec<usize>, Vec<crate::planner::SortKey>, Option<usize>)> {
    let n = plan.window_top?;
    let [call] = plan.windows.as_slice() else {
        return None;
    };
    let column = |e: &Expr| match e {
        Expr::Column(i, _) if *i < plan.source_width => Some(*i),
        _ => None,
    };
    let partition_by = call
        .window
        .partition_by
        .iter()
        .map(column)
        .collect::<Option<Vec<usize>>>()?;
    let order_by = call
        .window
        .order_by
        .iter()
        .map(|o| {
            column(&o.expr).map(|index| crate::planner::SortKey {
                index,
                desc: o.desc,
                nulls_first: o.nulls_first,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    // Without an order, any n rows of a partition are its first.
    Some((partition_by, order_by, Some(n)))
}

/// The collect phase for a SELECT.
pub(super) fn collect_spec(plan: &SelectPlan, offset: usize, limit: Option<usize>) -> CollectSpec {
    let scan = match &plan.source {
        Source::Table { scan, .. } => scan.clone(),
        _ => Vec::new(),
    };
    let mode = match &plan.aggregation {
        Some(agg) => CollectMode::Groups {
            keys: agg.keys.clone(),
            aggs: agg.aggs.clone(),
        },
        None if plan.windows.is_empty() => CollectMode::Rows {
            outputs: plan.outputs.clone(),
            order_by: plan.order_by.clone(),
            limit: if plan.distinct {
                None
            } else {
                limit.map(|l| l.saturating_add(offset))
            },
            partition_by: Vec::new(),
        },
        // Window functions see whole source rows: pass them through (only
        // each partition's first rows when no more are wanted).
        None => {
            let (partition_by, order_by, limit) = window_top(plan).unwrap_or_default();
            CollectMode::Rows {
                outputs: (0..plan.source_width)
                    .map(|i| Expr::Column(i, crate::types::DataType::Undefined))
                    .collect(),
                order_by,
                limit,
                partition_by,
            }
        }
    };
    CollectSpec {
        scan,
        filter: plan.filter.clone(),
        mode,
        join: None,
        bucket: None,
    }
}

fn set_op(op: SetOp, all: bool, l: Vec<Row>, r: Vec<Row>) -> Vec<Row> {
    match op {
        SetOp::Union => {
            let mut rows = l;
            rows.extend(r);
            if all { rows } else { distinct(rows) }
        }
        SetOp::Except => {
            let right: std::collections::HashSet<Row> = r.into_iter().collect();
            let rows: Vec<Row> = l.into_iter().filter(|x| !right.contains(x)).collect();
            if all { rows } else { distinct(rows) }
        }
        SetOp::Intersect => {
            let right: std::collections::HashSet<Row> = r.into_iter().collect();
            let rows: Vec<Row> = l.into_iter().filter(|x| right.contains(x)).collect();
            if all { rows } else { distinct(rows) }
        }
    }
}

/// The value of `e` if it is a constant.
fn constant(e: &Expr, ctx: &crate::expr::EvalCtx) -> Option<Value> {
    if e.is_constant() {
        e.eval(&[], ctx).ok()
    } else {
        None
    }
}

/// Equality constraints `column = constant` in a conjunction, by scan index.
fn equalities(filter: &Expr, ctx: &crate::expr::EvalCtx) -> HashMap<usize, Vec<Value>> {
    let conjuncts: Vec<&Expr> = match filter {
        Expr::And(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut out: HashMap<usize, Vec<Value>> = HashMap::new();
    for c in conjuncts {
        match c {
            Expr::Call {
                func: Func::Eq,
                args,
                ..
            } if args.len() == 2 => {
                let (col, val) = match (&args[0], &args[1]) {
                    (Expr::Column(i, _), other) | (other, Expr::Column(i, _)) => {
                        (*i, constant(other, ctx))
                    }
                    _ => continue,
                };
                if let Some(v) = val {
                    out.entry(col).or_default().push(v);
                }
            }
            Expr::InList {
                expr,
                list,
                negated: false,
            } => {
                if let Expr::Column(i, _) = expr.as_ref() {
                    let vals: Option<Vec<Value>> = list.iter().map(|x| constant(x, ctx)).collect();
                    if let Some(v) = vals {
                        out.entry(*i).or_default().extend(v);
                    }
                }
            }
            Expr::Or(items) => {
                // pk = a OR pk = b
                let mut col = None;
                let mut vals = Vec::new();
                let mut ok = true;
                for item in items {
                    match item {
                        Expr::Call {
                            func: Func::Eq,
                            args,
                            ..
                        } if args.len() == 2 => match (&args[0], &args[1]) {
                            (Expr::Column(i, _), other) | (other, Expr::Column(i, _)) => {
                                match constant(other, ctx) {
                                    Some(v) if col.is_none() || col == Some(*i) => {
                                        col = Some(*i);
                                        vals.push(v);
                                    }
                                    _ => ok = false,
                                }
                            }
                            _ => ok = false,
                        },
                        _ => ok = false,
                    }
                }
                if ok && let Some(c) = col {
                    out.entry(c).or_default().extend(vals);
                }
            }
            _ => {}
        }
    }
    out
}

/// A document to fetch by id, on one shard if the routing is known.
pub(crate) type KeyLookup = (String, Option<u32>);

/// The (id, shard) pairs a filter pins down, if it fully constrains the key.
pub(crate) fn key_lookups(
    table: &TableInfo,
    scan: &[ScanColumn],
    filter: Option<&Expr>,
    ctx: &crate::expr::EvalCtx,
) -> Result<Option<Vec<KeyLookup>>> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    let eqs = equalities(filter, ctx);
    if eqs.is_empty() {
        return Ok(None);
    }
    // `_id = ...`
    if let Some((i, _)) = scan
        .iter()
        .enumerate()
        .find(|(i, c)| **c == ScanColumn::Id && eqs.contains_key(i))
    {
        let ids: Vec<(String, Option<u32>)> = eqs[&i]
            .iter()
            .filter_map(|v| v.as_str().map(|s| s.to_string()))
            .map(|id| {
                let shard = if table.clustered_by.is_none() || table.primary_key.len() == 1 {
                    Some(shard_for(table, &id))
                } else {
                    None
                };
                (id, shard)
            })
            .collect();
        return Ok(Some(distinct_keys(ids)));
    }
    if table.primary_key.is_empty() {
        return Ok(None);
    }
    let mut per_pk: Vec<(&String, &Vec<Value>)> = Vec::with_capacity(table.primary_key.len());
    for pk in &table.primary_key {
        let idx = scan
            .iter()
            .position(|c| matches!(c, ScanColumn::User { name, .. } if name == pk));
        match idx.and_then(|i| eqs.get(&i)) {
            Some(vals) => per_pk.push((pk, vals)),
            None => return Ok(None),
        }
    }
    // Composite keys: only single values per column (no cartesian products).
    let combos = if per_pk.len() == 1 {
        per_pk[0].1.len()
    } else if per_pk.iter().all(|(_, v)| v.len() == 1) {
        1
    } else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(combos);
    for n in 0..combos {
        let mut row = Object::default();
        for (pk, vals) in &per_pk {
            let v = if per_pk.len() == 1 {
                vals[n].clone()
            } else {
                vals[0].clone()
            };
            if v.is_null() {
                return Ok(Some(Vec::new()));
            }
            row.insert(pk.as_str().into(), v);
        }
        let id = doc_id(table, &row)?;
        let shard = match &table.clustered_by {
            Some(cb) if !row.contains_key(cb.as_str()) => None,
            _ => Some(shard_for(table, &routing_value(table, &row, &id)?)),
        };
        out.push((id, shard));
    }
    Ok(Some(distinct_keys(out)))
}

/// The shards a filter can match when it pins the table's routing column
/// (its `CLUSTERED BY` column) to values, as CrateDB routes such queries;
/// `None` when it does not.
pub(crate) fn routed_shards(
    table: &TableInfo,
    scan: &[ScanColumn],
    filter: Option<&Expr>,
    ctx: &crate::expr::EvalCtx,
) -> Result<Option<std::collections::BTreeSet<u32>>> {
    let (Some(filter), Some(column)) = (filter, &table.clustered_by) else {
        return Ok(None);
    };
    let at = scan
        .iter()
        .position(|c| matches!(c, ScanColumn::User { name, .. } if name == column));
    let Some(values) = at.and_then(|i| equalities(filter, ctx).remove(&i)) else {
        return Ok(None);
    };
    let mut shards = std::collections::BTreeSet::new();
    for v in values.into_iter().filter(|v| !v.is_null()) {
        let mut row = Object::default();
        row.insert(column.as_str().into(), v);
        // The routing value is the column's, or the id when the column is
        // the whole primary key.
        let id = match table.primary_key.as_slice() {
            [pk] if pk == column => doc_id(table, &row)?,
            _ => String::new(),
        };
        shards.insert(shard_for(table, &routing_value(table, &row, &id)?));
    }
    Ok(Some(shards))
}

/// Keys without repeats, in first-seen order: `pk IN (1, 1)` and
/// `pk = 1 OR pk = 1` name one row, which must be read (or updated) once.
fn distinct_keys(keys: Vec<KeyLookup>) -> Vec<KeyLookup> {
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    keys.into_iter()
        .filter(|(id, _)| seen.insert(id.clone()))
        .collect()
}
