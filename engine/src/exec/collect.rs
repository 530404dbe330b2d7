//! The collect phase: what runs on each shard (and on in-memory sources).
//!
//! A [`CollectSpec`] says which columns to read, which rows to keep and what
//! to produce: projected rows (with a local top-N when the query has ORDER
//! BY and LIMIT) or partial aggregation states per group. On a shard, the
//! filter is first split into a tantivy query and a residual predicate;
//! documents come from the query (or all live documents), columns from fast
//! fields, and objects or arrays from the stored `_source`.

use std::collections::HashMap;

use tantivy::TantivyDocument;
use tantivy::columnar::{Column, StrColumn};
use tantivy::store::StoreReader;

use super::pushdown::{self, for_each_doc, weight_of};
use super::rows::sort_rows;
use super::search::SearchCtx;
use crate::breaker::{HeapSize, LocalReservation};
use crate::catalog::TableInfo;
use crate::error::Result;
use crate::expr::{AggCall, AggState, EvalCtx, Expr};
use crate::planner::ScanColumn;
use crate::request::{CollectMode, CollectSpec, Groups, Partial, ShardJoin};
use crate::storage::document::shard_schema;
use crate::storage::document::{MetaColumn, column_path};
use crate::storage::segment::Segment;
use crate::storage::source::{parse_source, source_json};
use crate::storage::{Snapshot, StoredDoc};
use crate::types::{DataType, Object, Row, Value};

/// Accumulates rows into a partial result, accounting what it holds on the
/// statement's memory.
pub struct Sink<'a> {
    spec: &'a CollectSpec,
    ctx: &'a EvalCtx,
    /// A broadcast join: the small side's rows by key.
    join: Option<(&'a ShardJoin, Partners<'a>)>,
    rows: Vec<Row>,
    groups: HashMap<Vec<Value>, Vec<AggState>>,
    /// Rows by partition, when the first rows of each are wanted.
    partitions: HashMap<Vec<Value>, Vec<Row>>,
    residual: Option<&'a Expr>,
    /// Whether the rows mode's outputs are its input row's columns in
    /// order (a join side's collect, say): such a row is kept as it is.
    outputs_are_input: bool,
    memory: LocalReservation<'a>,
}

/// A broadcast join's small side: its rows by key.
type Partners<'a> = HashMap<&'a [Value], &'a [Row]>;

/// What a group takes besides its key's values: the hash table's entry and
/// the states' vector.
const GROUP_OVERHEAD: usize = 64;

impl<'a> Sink<'a> {
    /// A sink applying `residual` before `spec`'s mode.
    pub fn new(spec: &'a CollectSpec, ctx: &'a EvalCtx, residual: Option<&'a Expr>) -> Sink<'a> {
        let label = match spec.mode {
            CollectMode::Rows { .. } => "collect",
            CollectMode::Groups { .. } => "group by",
        };
        let join = spec.join.as_deref().map(|j| {
            let table = j
                .build
                .iter()
                .map(|(k, rows)| (k.as_slice(), rows.as_slice()))
                .collect();
            (j, table)
        });
        let outputs_are_input = match &spec.mode {
            CollectMode::Rows { outputs, .. } => outputs
                .iter()
                .enumerate()
                .all(|(i, o)| matches!(o, Expr::Column(c, _) if *c == i)),
            CollectMode::Groups { .. } => false,
        };
        Sink {
            spec,
            ctx,
            join,
            rows: Vec::new(),
            groups: HashMap::new(),
            partitions: HashMap::new(),
            residual,
            outputs_are_input,
            memory: LocalReservation::new(&ctx.memory, label),
        }
    }

    /// Adds a row; returns false once no more rows are needed.
    pub fn push(&mut self, row: Row) -> Result<bool> {
        if let Some(r) = self.residual
            && !r.matches(&row, self.ctx)?
        {
            return Ok(true);
        }
        match &self.join {
            Some((j, _)) => {
                let j: &'a ShardJoin = j;
                self.push_joined(j, row)
            }
            None => self.accept(row),
        }
    }

    /// A broadcast join's step: the row joined with each of its partners
    /// (or, kept unmatched, with NULLs), each joined row accepted if the
    /// query's conditions hold for it.
    fn push_joined(&mut self, j: &'a ShardJoin, row: Row) -> Result<bool> {
        let row = if j.probe_outputs.is_empty() {
            row
        } else {
            j.probe_outputs
                .iter()
                .map(|e| e.eval(&row, self.ctx))
                .collect::<Result<Row>>()?
        };
        let partners: &'a [Row] = match super::key_index::key_of(&j.probe_keys, &row, self.ctx)? {
            Some(key) => self
                .join
                .as_ref()
                .and_then(|(_, t)| t.get(key.as_slice()).copied())
                .unwrap_or(&[]),
            // A NULL key part matches nothing.
            None => &[],
        };
        let joined = |other: &[Value]| -> Row {
            let (l, r): (&[Value], &[Value]) = if j.probe_left {
                (&row, other)
            } else {
                (other, &row)
            };
            let mut out = Vec::with_capacity(l.len() + r.len());
            out.extend_from_slice(l);
            out.extend_from_slice(r);
            out
        };
        let mut matched = false;
        let mut more = true;
        for partner in partners {
            let pair = joined(partner);
            if let Some(r) = &j.residual
                && !r.matches(&pair, self.ctx)?
            {
                continue;
            }
            matched = true;
            if j.filter
                .as_ref()
                .map_or(Ok(true), |f| f.matches(&pair, self.ctx))?
            {
                more &= self.accept(pair)?;
            }
        }
        if !matched && j.keep_unmatched {
            let pair = joined(&vec![Value::Null; j.build_width]);
            if j.filter
                .as_ref()
                .map_or(Ok(true), |f| f.matches(&pair, self.ctx))?
            {
                more &= self.accept(pair)?;
            }
        }
        Ok(more)
    }

    /// Adds a row that passed every condition to the partial result.
    fn accept(&mut self, row: Row) -> Result<bool> {
        match &self.spec.mode {
            CollectMode::Rows {
                outputs,
                order_by,
                limit,
                partition_by,
            } => {
                let out = if self.outputs_are_input && row.len() == outputs.len() {
                    row
                } else {
                    let mut out = Vec::with_capacity(outputs.len());
                    for o in outputs {
                        out.push(o.eval(&row, self.ctx)?);
                    }
                    out
                };
                if let Some(b) = &self.spec.bucket
                    && !b.holds(&out, self.ctx)?
                {
                    return Ok(true);
                }
                self.memory.add(out.heap_size())?;
                if !partition_by.is_empty() {
                    self.push_partitioned(out, partition_by, order_by, *limit)?;
                    return Ok(true);
                }
                self.rows.push(out);
                if let Some(l) = limit {
                    if order_by.is_empty() {
                        return Ok(self.rows.len() < *l);
                    }
                    if self.rows.len() >= (*l).max(64) * 4 {
                        sort_rows(&mut self.rows, order_by);
                        let cut: usize = self.rows[*l..].iter().map(|r| r.heap_size()).sum();
                        self.rows.truncate(*l);
                        self.memory.sub(cut);
                    }
                }
                Ok(true)
            }
            CollectMode::Groups { keys, aggs } => {
                let mut key = Vec::with_capacity(keys.len());
                for k in keys {
                    key.push(k.eval(&row, self.ctx)?);
                }
                let states = match self.groups.get_mut(&key) {
                    Some(s) => s,
                    None => {
                        self.memory.add(
                            key.heap_size() + aggs.len() * size_of::<AggState>() + GROUP_OVERHEAD,
                        )?;
                        self.groups
                            .entry(key)
                            .or_insert_with(|| aggs.iter().map(AggCall::init).collect())
                    }
                };
                let mut grew = 0;
                for (call, state) in aggs.iter().zip(states.iter_mut()) {
                    grew += call.update(state, &row, self.ctx)?;
                }
                self.memory.add(grew)?;
                Ok(true)
            }
        }
    }

    /// Adds a row to its partition, which keeps its first `limit` rows in
    /// `order_by`'s order (cut now and then, as the unpartitioned top-N).
    fn push_partitioned(
        &mut self,
        row: Row,
        partition_by: &[usize],
        order_by: &[crate::planner::SortKey],
        limit: Option<usize>,
    ) -> Result<()> {
        let key: Vec<Value> = partition_by
            .iter()
            .map(|i| row.get(*i).cloned().unwrap_or(Value::Null))
            .collect();
        let rows = match self.partitions.get_mut(&key) {
            Some(rows) => rows,
            None => {
                self.memory.add(key.heap_size() + GROUP_OVERHEAD)?;
                self.partitions.entry(key).or_default()
            }
        };
        rows.push(row);
        if let Some(l) = limit
            && rows.len() >= (l * 2).max(16)
        {
            sort_rows(rows, order_by);
            let cut: usize = rows[l..].iter().map(|r| r.heap_size()).sum();
            rows.truncate(l);
            self.memory.sub(cut);
        }
        Ok(())
    }

    /// The partial result. What it holds stays accounted on the statement
    /// until the statement ends.
    pub fn finish(mut self) -> Partial {
        std::mem::replace(
            &mut self.memory,
            LocalReservation::new(&self.ctx.memory, "collect"),
        )
        .keep();
        match &self.spec.mode {
            CollectMode::Rows {
                order_by,
                limit,
                partition_by,
                ..
            } if !partition_by.is_empty() => {
                let mut out = Vec::new();
                for (_, mut rows) in self.partitions.drain() {
                    sort_rows(&mut rows, order_by);
                    if let Some(l) = limit {
                        rows.truncate(*l);
                    }
                    out.extend(rows);
                }
                Partial::Rows(out)
            }
            CollectMode::Rows {
                order_by, limit, ..
            } => {
                if !order_by.is_empty() {
                    sort_rows(&mut self.rows, order_by);
                }
                if let Some(l) = limit {
                    self.rows.truncate(*l);
                }
                Partial::Rows(self.rows)
            }
            CollectMode::Groups { keys, aggs } => {
                let mut out = Groups::new(keys.len(), aggs.len());
                if keys.is_empty() && self.groups.is_empty() {
                    out.push([], aggs.iter().map(AggCall::init));
                    return Partial::Groups(out);
                }
                for (k, states) in self.groups {
                    out.push(k, states);
                }
                Partial::Groups(out)
            }
        }
    }
}

/// Collects from in-memory rows (subqueries, VALUES, system tables, PK lookups).
pub fn collect_rows(rows: Vec<Row>, spec: &CollectSpec, ctx: &EvalCtx) -> Result<Partial> {
    let mut sink = Sink::new(spec, ctx, spec.filter.as_ref());
    for r in rows {
        if !sink.push(r)? {
            break;
        }
    }
    Ok(sink.finish())
}

/// How one scan column is read from a segment.
enum Reader {
    I64(Column<i64>),
    U64AsInt(Column<u64>),
    F64(Column<f64>),
    Bool(Column<bool>),
    Str(StrColumn),
    /// The stored `_id`.
    Id,
    Meta(MetaColumn),
    /// From the stored `_source`.
    Source(String),
    Raw,
    DocId,
    Score,
    Null,
}

/// Reads scan rows from one segment.
pub struct Fetcher<'s> {
    readers: Vec<Reader>,
    store: Option<StoreReader>,
    segment: &'s Segment,
    scratch: String,
}

impl<'s> Fetcher<'s> {
    /// Prepares readers for `scan` on `segment`.
    pub fn new(segment: &'s Segment, scan: &[ScanColumn]) -> Result<Fetcher<'s>> {
        let ff = segment.reader.fast_fields();
        let mut readers = Vec::with_capacity(scan.len());
        let mut needs_store = false;
        for col in scan {
            let r = match col {
                ScanColumn::User { name, ty } if ty.is_scalar() => {
                    let path = column_path(name, &[]);
                    match ty {
                        DataType::Text => ff.str(&path)?.map(Reader::Str).unwrap_or(Reader::Null),
                        DataType::Boolean => ff
                            .column_opt::<bool>(&path)?
                            .map(Reader::Bool)
                            .unwrap_or(Reader::Null),
                        DataType::Real | DataType::Double => ff
                            .column_opt::<f64>(&path)?
                            .map(Reader::F64)
                            .unwrap_or(Reader::Null),
                        _ => match ff.column_opt::<i64>(&path)? {
                            Some(c) => Reader::I64(c),
                            None => match ff.column_opt::<u64>(&path)? {
                                Some(c) => Reader::U64AsInt(c),
                                None => Reader::Null,
                            },
                        },
                    }
                }
                ScanColumn::User { name, .. } | ScanColumn::Stored { name, .. } => {
                    needs_store = true;
                    Reader::Source(name.clone())
                }
                ScanColumn::Id => {
                    needs_store = true;
                    Reader::Id
                }
                ScanColumn::SeqNo => Reader::Meta(MetaColumn::seq_no(&segment.reader)?),
                ScanColumn::Version => Reader::Meta(MetaColumn::version(&segment.reader)?),
                ScanColumn::PrimaryTerm => Reader::Meta(MetaColumn::primary_term(&segment.reader)?),
                ScanColumn::Raw => {
                    needs_store = true;
                    Reader::Raw
                }
                ScanColumn::DocId => Reader::DocId,
                ScanColumn::Score => Reader::Score,
            };
            readers.push(r);
        }
        let store = if needs_store {
            Some(segment.reader.get_store_reader(16)?)
        } else {
            None
        };
        Ok(Fetcher {
            readers,
            store,
            segment,
            scratch: String::new(),
        })
    }

    /// The scan row of `doc`, whose `_score` is `score`.
    pub fn row(&mut self, doc: u32, score: f32) -> Result<Row> {
        let mut source: Option<Object> = None;
        let mut id: Option<String> = None;
        if let Some(store) = &self.store {
            let stored: TantivyDocument = store.get(doc)?;
            let schema = shard_schema();
            source = Some(parse_source(schema.stored_source(&stored)));
            id = schema.stored_id(&stored);
        }
        let mut row = Vec::with_capacity(self.readers.len());
        for r in &self.readers {
            let v = match r {
                Reader::I64(c) => c.first(doc).map(Value::Int).unwrap_or(Value::Null),
                Reader::U64AsInt(c) => c
                    .first(doc)
                    .map(|v| Value::Int(v as i64))
                    .unwrap_or(Value::Null),
                Reader::F64(c) => c.first(doc).map(Value::Float).unwrap_or(Value::Null),
                Reader::Bool(c) => c.first(doc).map(Value::Bool).unwrap_or(Value::Null),
                Reader::Id => id.clone().map(Value::Text).unwrap_or(Value::Null),
                Reader::Str(c) => match c.ords().first(doc) {
                    Some(ord) => {
                        self.scratch.clear();
                        c.ord_to_str(ord, &mut self.scratch)?;
                        Value::Text(self.scratch.clone())
                    }
                    None => Value::Null,
                },
                Reader::Meta(c) => c
                    .get(doc)
                    .map(|v| Value::Int(v as i64))
                    .unwrap_or(Value::Null),
                Reader::Source(name) => source
                    .as_ref()
                    .and_then(|o| o.get(name.as_str()).cloned())
                    .unwrap_or(Value::Null),
                Reader::Raw => source
                    .as_ref()
                    .map(|o| Value::Text(source_json(o)))
                    .unwrap_or(Value::Null),
                Reader::DocId => Value::Int(doc as i64),
                Reader::Score => Value::Float(f64::from(score)),
                Reader::Null => Value::Null,
            };
            row.push(v);
        }
        let _ = self.segment;
        Ok(row)
    }
}

/// The rows of each window partition's first documents (chosen by
/// [`super::columnar::first_rows`]), each partition's in order, as the
/// row path's [`Sink::finish`] gives them.
fn fetch_winners(
    snapshot: &Snapshot,
    spec: &CollectSpec,
    ctx: &EvalCtx,
    partitions: Vec<Vec<super::columnar::Winner>>,
    scored: bool,
) -> Result<Partial> {
    let CollectMode::Rows { outputs, .. } = &spec.mode else {
        return Err(crate::error::Error::Internal(
            "first rows of partitions without rows".into(),
        ));
    };
    let mut memory = LocalReservation::new(&ctx.memory, "collect");
    let mut fetchers: Vec<Option<Fetcher>> = snapshot.segments.iter().map(|_| None).collect();
    let mut out = Vec::new();
    for w in partitions.into_iter().flatten() {
        let fetcher = match &mut fetchers[w.segment] {
            Some(f) => f,
            empty @ None => empty.insert(Fetcher::new(
                &snapshot.segments[w.segment].segment,
                &spec.scan,
            )?),
        };
        let row = fetcher.row(w.doc, final_score(w.score, scored))?;
        let projected = outputs
            .iter()
            .map(|o| o.eval(&row, ctx))
            .collect::<Result<Row>>()?;
        memory.add(projected.heap_size())?;
        out.push(projected);
    }
    memory.keep();
    Ok(Partial::Rows(out))
}

/// Whether a scan reads `_score`.
fn reads_score(scan: &[ScanColumn]) -> bool {
    scan.contains(&ScanColumn::Score)
}

/// What the MATCH predicates of `filter` are answered with on `snapshot`;
/// None without any (most queries: nothing to prepare).
fn search_ctx(
    snapshot: &Snapshot,
    table: &TableInfo,
    filter: Option<&Expr>,
) -> Result<Option<SearchCtx>> {
    if !filter.is_some_and(Expr::contains_match) {
        return Ok(None);
    }
    let segments = snapshot
        .segments
        .iter()
        .map(|v| v.segment.clone())
        .collect();
    SearchCtx::new(table, segments).map(Some)
}

/// The `_score` of a document: its query's score, or 1.0 when nothing scores.
fn final_score(score: f32, scored: bool) -> f32 {
    if scored { score } else { 1.0 }
}

/// `ORDER BY _score DESC LIMIT n`: the `n` a shard must send.
fn best_scores_wanted(spec: &CollectSpec) -> Option<usize> {
    let CollectMode::Rows {
        outputs,
        order_by,
        limit: Some(n),
        partition_by,
    } = &spec.mode
    else {
        return None;
    };
    if !partition_by.is_empty() {
        return None;
    }
    let [key] = order_by.as_slice() else {
        return None;
    };
    match outputs.get(key.index) {
        Some(Expr::Column(i, _)) if key.desc && spec.scan.get(*i) == Some(&ScanColumn::Score) => {
            Some(*n)
        }
        _ => None,
    }
}

/// The `n` best-scoring live documents of a snapshot: (score, segment, doc),
/// best first. Tantivy's pruning skips documents (or blocks of them) that
/// cannot beat the n-th best.
fn best_scored(
    snapshot: &Snapshot,
    weight: &dyn tantivy::query::Weight,
    n: usize,
) -> Result<Vec<(f32, usize, u32)>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    /// A hit, ordered by score (then earlier segment and document first).
    #[derive(PartialEq)]
    struct Hit(f32, Reverse<usize>, Reverse<u32>);
    impl Eq for Hit {}
    impl PartialOrd for Hit {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Hit {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0
                .total_cmp(&other.0)
                .then(self.1.cmp(&other.1))
                .then(self.2.cmp(&other.2))
        }
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    // A min-heap of the best so far. It grows with the hits, not with the
    // LIMIT: `LIMIT 1000000000` must not reserve memory up front.
    let mut heap: BinaryHeap<Reverse<Hit>> = BinaryHeap::with_capacity(n.min(1024) + 1);
    let floor = |heap: &BinaryHeap<Reverse<Hit>>| match heap.peek() {
        Some(Reverse(Hit(s, ..))) if heap.len() >= n => *s,
        _ => f32::MIN,
    };
    for (seg, view) in snapshot.segments.iter().enumerate() {
        let threshold = floor(&heap);
        weight.for_each_pruning(threshold, &view.segment.reader, &mut |doc, score| {
            if view.alive.is_alive(doc) {
                heap.push(Reverse(Hit(score, Reverse(seg), Reverse(doc))));
                if heap.len() > n {
                    heap.pop();
                }
            }
            floor(&heap)
        })?;
    }
    let mut hits: Vec<(f32, usize, u32)> = heap
        .into_iter()
        .map(|Reverse(Hit(s, Reverse(seg), Reverse(doc)))| (s, seg, doc))
        .collect();
    hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    Ok(hits)
}

/// Runs a collect phase on a shard snapshot of `table`.
pub fn collect_shard(
    snapshot: &Snapshot,
    table: &TableInfo,
    spec: &CollectSpec,
    ctx: &EvalCtx,
) -> Result<Partial> {
    let search = search_ctx(snapshot, table, spec.filter.as_ref())?;
    let split = pushdown::split(
        spec.filter.as_ref(),
        &spec.scan,
        ctx,
        search.as_ref(),
        reads_score(&spec.scan),
    )?;
    let weight = weight_of(&split, search.as_ref())?;
    let match_weights = pushdown::match_weights(&split, search.as_ref())?;
    let scored = split.scored;
    // A bucket's rows are picked one by one.
    let columnar = match (&spec.join, &spec.bucket) {
        (None, None) => super::columnar::try_aggregate(
            snapshot,
            spec,
            weight.as_deref(),
            split.residual.as_ref(),
        )?,
        (Some(_), None) => super::columnar::try_aggregate_join(
            snapshot,
            spec,
            weight.as_deref(),
            split.residual.as_ref(),
            ctx,
        )?,
        (_, Some(_)) => None,
    };
    if let Some(p) = columnar {
        if let Partial::Groups(g) = &p {
            // Accounted once built: the columnar path's slots are bounded by
            // the shard's distinct keys, and its states have fixed sizes.
            let bytes = g.keys.as_slice().heap_size()
                + g.states.len() * size_of::<AggState>()
                + g.len() * GROUP_OVERHEAD;
            ctx.memory.reserve(bytes as u64, "group by")?;
        }
        return Ok(p);
    }
    if !spec.filter.as_ref().is_some_and(Expr::contains_match)
        && let Some(partitions) = super::columnar::first_rows(
            snapshot,
            spec,
            weight.as_deref(),
            split.residual.as_ref(),
            ctx,
        )?
    {
        return fetch_winners(snapshot, spec, ctx, partitions, scored);
    }
    let mut sink = Sink::new(spec, ctx, split.residual.as_ref());
    if let (Some(weight), Some(n), true, None, None, None) = (
        weight.as_deref(),
        best_scores_wanted(spec),
        scored,
        &split.residual,
        &spec.join,
        &spec.bucket,
    ) {
        // The best `n` by score: rows are read for the winners only, and
        // the query may skip what cannot beat the n-th best so far.
        for (score, seg, doc) in best_scored(snapshot, weight, n)? {
            let view = &snapshot.segments[seg];
            let mut fetcher = Fetcher::new(&view.segment, &spec.scan)?;
            sink.push(fetcher.row(doc, score)?)?;
        }
        return Ok(sink.finish());
    }
    'segments: for view in &snapshot.segments {
        let mut fetcher = Fetcher::new(&view.segment, &spec.scan)?;
        let mut more = true;
        let mut matches = pushdown::match_columns(&match_weights, &view.segment)?;
        for_each_doc(
            &view.segment,
            &view.alive,
            weight.as_deref(),
            |doc, score| {
                let mut row = fetcher.row(doc, final_score(score, scored))?;
                matches.extend(&mut row, doc);
                more = sink.push(row)?;
                Ok(more)
            },
        )?;
        if !more {
            break 'segments;
        }
    }
    Ok(sink.finish())
}

/// Finds the live documents (id, scan row) matching a filter on a snapshot:
/// the "search" half of UPDATE and DELETE by query.
pub fn matching_docs(
    snapshot: &Snapshot,
    table: &TableInfo,
    scan: &[ScanColumn],
    filter: Option<&Expr>,
    ctx: &EvalCtx,
) -> Result<Vec<String>> {
    // Read the id with the row: one document-store reader per segment.
    let mut with_id = scan.to_vec();
    with_id.push(ScanColumn::Id);
    let id_col = scan.len();
    let search = search_ctx(snapshot, table, filter)?;
    let split = pushdown::split(filter, &with_id, ctx, search.as_ref(), false)?;
    let mut ids = Vec::new();
    let weight = weight_of(&split, search.as_ref())?;
    let match_weights = pushdown::match_weights(&split, search.as_ref())?;
    for view in &snapshot.segments {
        let mut fetcher = Fetcher::new(&view.segment, &with_id)?;
        let mut matches = pushdown::match_columns(&match_weights, &view.segment)?;
        for_each_doc(&view.segment, &view.alive, weight.as_deref(), |doc, _| {
            let mut row = fetcher.row(doc, 1.0)?;
            matches.extend(&mut row, doc);
            let keep = match &split.residual {
                Some(r) => r.matches(&row, ctx)?,
                None => true,
            };
            if keep && let Value::Text(id) = std::mem::take(&mut row[id_col]) {
                ids.push(id);
            }
            Ok(true)
        })?;
    }
    Ok(ids)
}

/// Builds the scan row of a stored document (real-time reads).
pub fn stored_row(doc: &StoredDoc, scan: &[ScanColumn]) -> Row {
    scan.iter()
        .map(|c| match c {
            ScanColumn::User { name, .. } | ScanColumn::Stored { name, .. } => doc
                .source
                .get(name.as_str())
                .cloned()
                .unwrap_or(Value::Null),
            ScanColumn::Id => Value::Text(doc.id.clone()),
            ScanColumn::SeqNo => Value::Int(doc.seq_no as i64),
            ScanColumn::Version => Value::Int(doc.version as i64),
            ScanColumn::PrimaryTerm => Value::Int(doc.primary_term as i64),
            ScanColumn::Score => Value::Float(1.0),
            ScanColumn::Raw => Value::Text(source_json(&doc.source)),
            ScanColumn::DocId => Value::Null,
        })
        .collect()
}
