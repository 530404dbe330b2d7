//! Columnar aggregation: GROUP BY over fast-field columns without building rows.
//!
//! When a shard's aggregation groups by at most one plain scalar column and
//! aggregates plain numeric columns (count, sum, avg, min, max), and the
//! filter was pushed into the index entirely, the shard scans the columns
//! directly: group keys become dense slots (integer ranges, text term
//! ordinals, booleans) and values are decoded in blocks. Everything else
//! takes the row path in [`super::collect`].

use std::collections::HashMap;

use tantivy::columnar::{Column, ColumnIndex, StrColumn};
use tantivy::query::Query;

use super::collect::{CollectMode, CollectSpec, Partial, for_each_doc};
use crate::error::Result;
use crate::expr::{AggCall, AggFunc, AggState, Expr};
use crate::planner::ScanColumn;
use crate::storage::Snapshot;
use crate::storage::document::column_path;
use crate::storage::segment::{AliveSet, Segment};
use crate::types::{DataType, Value};

const BLOCK: usize = 1024;
/// Integer keys spanning at most this many values use a dense table.
const DENSE_LIMIT: u64 = 1 << 20;

#[derive(Clone, Copy)]
enum KeyKind {
    Int,
    Text,
    Bool,
}

#[derive(Clone, Copy)]
enum ValKind {
    None,
    Int,
    Float,
}

/// A primitive accumulator.
#[derive(Clone, Copy, Debug)]
enum Acc {
    Count(i64),
    SumI(i128, bool),
    SumF(f64, bool),
    Avg(f64, i64),
    MinI(i64, bool),
    MaxI(i64, bool),
    MinF(f64, bool),
    MaxF(f64, bool),
}

impl Acc {
    fn init(call: &AggCall, val: ValKind) -> Acc {
        match (call.func, val) {
            (AggFunc::CountStar | AggFunc::Count, _) => Acc::Count(0),
            (AggFunc::Sum, ValKind::Float) => Acc::SumF(0.0, false),
            (AggFunc::Sum, _) => {
                if call.ty.is_integral() { Acc::SumI(0, false) } else { Acc::SumF(0.0, false) }
            }
            (AggFunc::Avg, _) => Acc::Avg(0.0, 0),
            (AggFunc::Min, ValKind::Float) => Acc::MinF(0.0, false),
            (AggFunc::Max, ValKind::Float) => Acc::MaxF(0.0, false),
            (AggFunc::Min, _) => Acc::MinI(0, false),
            _ => Acc::MaxI(0, false),
        }
    }

    #[inline]
    fn add_i(&mut self, v: i64) {
        match self {
            Acc::Count(c) => *c += 1,
            Acc::SumI(s, seen) => {
                *s += v as i128;
                *seen = true;
            }
            Acc::SumF(s, seen) => {
                *s += v as f64;
                *seen = true;
            }
            Acc::Avg(s, n) => {
                *s += v as f64;
                *n += 1;
            }
            Acc::MinI(m, seen) => {
                if !*seen || v < *m {
                    *m = v;
                    *seen = true;
                }
            }
            Acc::MaxI(m, seen) => {
                if !*seen || v > *m {
                    *m = v;
                    *seen = true;
                }
            }
            Acc::MinF(..) | Acc::MaxF(..) => self.add_f(v as f64),
        }
    }

    #[inline]
    fn add_f(&mut self, v: f64) {
        match self {
            Acc::Count(c) => *c += 1,
            Acc::SumF(s, seen) => {
                *s += v;
                *seen = true;
            }
            Acc::Avg(s, n) => {
                *s += v;
                *n += 1;
            }
            Acc::MinF(m, seen) => {
                if !*seen || v < *m {
                    *m = v;
                    *seen = true;
                }
            }
            Acc::MaxF(m, seen) => {
                if !*seen || v > *m {
                    *m = v;
                    *seen = true;
                }
            }
            Acc::SumI(..) | Acc::MinI(..) | Acc::MaxI(..) => self.add_i(v as i64),
        }
    }

    #[inline]
    fn count(&mut self) {
        if let Acc::Count(c) = self {
            *c += 1;
        }
    }

    fn into_state(self, call: &AggCall) -> AggState {
        match self {
            Acc::Count(c) => AggState::Count(c),
            Acc::SumI(s, seen) => AggState::SumInt(s, seen),
            Acc::SumF(s, seen) => AggState::SumFloat(s, seen),
            Acc::Avg(sum, count) => AggState::Avg { sum, count },
            Acc::MinI(m, seen) => AggState::Min(if seen { Value::Int(m) } else { Value::Null }),
            Acc::MaxI(m, seen) => AggState::Max(if seen { Value::Int(m) } else { Value::Null }),
            Acc::MinF(m, seen) => AggState::Min(if seen { float(m, call) } else { Value::Null }),
            Acc::MaxF(m, seen) => AggState::Max(if seen { float(m, call) } else { Value::Null }),
        }
    }
}

fn float(f: f64, call: &AggCall) -> Value {
    if call.ty.is_integral() { Value::Int(f as i64) } else { Value::Float(f) }
}

/// The plan of a columnar aggregation: key column and value column per aggregate.
struct ColumnarPlan<'a> {
    key: Option<(String, KeyKind)>,
    vals: Vec<Option<(String, ValKind)>>,
    aggs: &'a [AggCall],
}

fn scalar_column(e: &Expr, scan: &[ScanColumn]) -> Option<(String, DataType)> {
    match e {
        Expr::Column(i, _) => match scan.get(*i)? {
            ScanColumn::User { name, ty } if ty.is_scalar() => Some((column_path(name, &[]), ty.clone())),
            _ => None,
        },
        _ => None,
    }
}

fn plan<'a>(spec: &'a CollectSpec) -> Option<ColumnarPlan<'a>> {
    let CollectMode::Groups { keys, aggs } = &spec.mode else { return None };
    let key = match keys.as_slice() {
        [] => None,
        [k] => {
            let (path, ty) = scalar_column(k, &spec.scan)?;
            let kind = match ty {
                DataType::Text => KeyKind::Text,
                DataType::Boolean => KeyKind::Bool,
                t if t.is_integral() || matches!(t, DataType::Timestamp { .. }) => KeyKind::Int,
                _ => return None,
            };
            Some((path, kind))
        }
        _ => return None,
    };
    let mut vals = Vec::with_capacity(aggs.len());
    for a in aggs {
        if a.distinct || a.filter.is_some() {
            return None;
        }
        match a.func {
            AggFunc::CountStar => vals.push(None),
            AggFunc::Count | AggFunc::Sum | AggFunc::Avg | AggFunc::Min | AggFunc::Max => {
                let (path, ty) = scalar_column(a.args.first()?, &spec.scan)?;
                let kind = match ty {
                    DataType::Real | DataType::Double => ValKind::Float,
                    t if t.is_integral() || matches!(t, DataType::Timestamp { .. }) => ValKind::Int,
                    _ => return None,
                };
                vals.push(Some((path, kind)));
            }
            _ => return None,
        }
    }
    Some(ColumnarPlan { key, vals, aggs })
}

enum ValCol {
    None,
    Missing,
    Int(Column<i64>),
    Float(Column<f64>),
}

impl ValCol {
    fn is_full(&self) -> bool {
        match self {
            ValCol::None => true,
            ValCol::Missing => false,
            ValCol::Int(c) => matches!(c.index, ColumnIndex::Full),
            ValCol::Float(c) => matches!(c.index, ColumnIndex::Full),
        }
    }
}

enum KeyCol {
    None,
    Missing,
    Int(Column<i64>, i64, u64),
    IntSparse(Column<i64>),
    Text(StrColumn),
    Bool(Column<bool>),
}

/// Groups found in one segment, as (key, accumulators).
type Groups = Vec<(Value, Vec<Acc>)>;

fn aggregate_segment(
    p: &ColumnarPlan,
    segment: &Segment,
    alive: &AliveSet,
    query: Option<&dyn Query>,
) -> Result<Groups> {
    let ff = segment.reader.fast_fields();
    let key = match &p.key {
        None => KeyCol::None,
        Some((path, KeyKind::Int)) => match ff.column_opt::<i64>(path)? {
            Some(c) => {
                let (min, max) = (c.min_value(), c.max_value());
                let span = (max as i128 - min as i128) as u64;
                if span < DENSE_LIMIT { KeyCol::Int(c, min, span + 1) } else { KeyCol::IntSparse(c) }
            }
            None => KeyCol::Missing,
        },
        Some((path, KeyKind::Text)) => ff.str(path)?.map(KeyCol::Text).unwrap_or(KeyCol::Missing),
        Some((path, KeyKind::Bool)) => ff.column_opt::<bool>(path)?.map(KeyCol::Bool).unwrap_or(KeyCol::Missing),
    };
    let mut vals = Vec::with_capacity(p.vals.len());
    for v in &p.vals {
        vals.push(match v {
            None => ValCol::None,
            Some((path, ValKind::Int)) => ff.column_opt::<i64>(path)?.map(ValCol::Int).unwrap_or(ValCol::Missing),
            Some((path, ValKind::Float)) => ff.column_opt::<f64>(path)?.map(ValCol::Float).unwrap_or(ValCol::Missing),
            Some((_, ValKind::None)) => ValCol::None,
        });
    }
    let kinds: Vec<ValKind> = p.vals.iter().map(|v| v.as_ref().map(|(_, k)| *k).unwrap_or(ValKind::None)).collect();
    let template: Vec<Acc> = p.aggs.iter().zip(&kinds).map(|(a, k)| Acc::init(a, *k)).collect();
    let n = template.len();

    // Slot layout: dense slots for the key's domain, plus one slot for NULL keys.
    let (dense_slots, null_slot) = match &key {
        KeyCol::None | KeyCol::Missing => (0usize, 0usize),
        KeyCol::Int(_, _, span) => (*span as usize, *span as usize),
        KeyCol::Text(c) => (c.num_terms(), c.num_terms()),
        KeyCol::Bool(_) => (2, 2),
        KeyCol::IntSparse(_) => (0, 0),
    };
    let slots = match &key {
        KeyCol::IntSparse(_) => 1,
        _ => dense_slots + 1,
    };
    let mut accs: Vec<Acc> = Vec::with_capacity(slots * n);
    for _ in 0..slots {
        accs.extend_from_slice(&template);
    }
    let mut seen = vec![false; slots];
    let mut sparse: HashMap<i64, usize> = HashMap::new();
    let mut sparse_keys: Vec<i64> = Vec::new();

    let slot_of = |doc: u32, sparse: &mut HashMap<i64, usize>, sparse_keys: &mut Vec<i64>, accs: &mut Vec<Acc>, seen: &mut Vec<bool>| -> usize {
        match &key {
            KeyCol::None => 0,
            KeyCol::Missing => null_slot,
            KeyCol::Int(c, min, _) => match first(c, doc) {
                Some(v) => (v - min) as usize,
                None => null_slot,
            },
            KeyCol::Text(c) => match first(c.ords(), doc) {
                Some(o) => o as usize,
                None => null_slot,
            },
            KeyCol::Bool(c) => match first(c, doc) {
                Some(b) => b as usize,
                None => null_slot,
            },
            KeyCol::IntSparse(c) => {
                // Slot 0 is the NULL key; others are allocated on first sight.
                match first(c, doc) {
                    None => 0,
                    Some(v) => *sparse.entry(v).or_insert_with(|| {
                        sparse_keys.push(v);
                        accs.extend_from_slice(&template);
                        seen.push(false);
                        sparse_keys.len()
                    }),
                }
            }
        }
    };

    let all_full = vals.iter().all(ValCol::is_full)
        && match &key {
            KeyCol::None => true,
            KeyCol::Int(c, _, _) => matches!(c.index, ColumnIndex::Full),
            KeyCol::Text(c) => matches!(c.ords().index, ColumnIndex::Full),
            _ => false,
        };
    if query.is_none() && alive.all_alive() && all_full {
        // Block path: decode columns a block at a time.
        let max_doc = segment.max_doc() as usize;
        let mut keybuf = vec![0u64; BLOCK];
        let mut ibufs: Vec<Vec<i64>> = vals.iter().map(|_| vec![0i64; BLOCK]).collect();
        let mut fbufs: Vec<Vec<f64>> = vals.iter().map(|_| vec![0f64; BLOCK]).collect();
        let mut start = 0usize;
        while start < max_doc {
            let len = BLOCK.min(max_doc - start);
            match &key {
                KeyCol::Int(c, min, _) => {
                    let mut tmp = vec![0i64; len];
                    c.values.get_range(start as u64, &mut tmp);
                    for (k, v) in keybuf.iter_mut().zip(tmp) {
                        *k = (v - min) as u64;
                    }
                }
                KeyCol::Text(c) => c.ords().values.get_range(start as u64, &mut keybuf[..len]),
                _ => keybuf[..len].fill(0),
            }
            for (j, v) in vals.iter().enumerate() {
                match v {
                    ValCol::Int(c) => c.values.get_range(start as u64, &mut ibufs[j][..len]),
                    ValCol::Float(c) => c.values.get_range(start as u64, &mut fbufs[j][..len]),
                    _ => {}
                }
            }
            for i in 0..len {
                let slot = keybuf[i] as usize;
                seen[slot] = true;
                let base = slot * n;
                for (j, v) in vals.iter().enumerate() {
                    let acc = &mut accs[base + j];
                    match v {
                        ValCol::None => acc.count(),
                        ValCol::Int(_) => acc.add_i(ibufs[j][i]),
                        ValCol::Float(_) => acc.add_f(fbufs[j][i]),
                        ValCol::Missing => {}
                    }
                }
            }
            start += len;
        }
    } else {
        for_each_doc(segment, alive, query, |doc| {
            let slot = slot_of(doc, &mut sparse, &mut sparse_keys, &mut accs, &mut seen);
            seen[slot] = true;
            let base = slot * n;
            for (j, v) in vals.iter().enumerate() {
                let acc = &mut accs[base + j];
                match v {
                    ValCol::None => acc.count(),
                    ValCol::Int(c) => {
                        if let Some(x) = first(c, doc) {
                            acc.add_i(x);
                        }
                    }
                    ValCol::Float(c) => {
                        if let Some(x) = first(c, doc) {
                            acc.add_f(x);
                        }
                    }
                    ValCol::Missing => {}
                }
            }
            Ok(true)
        })?;
    }

    let mut out = Vec::new();
    let mut text = String::new();
    for (slot, used) in seen.iter().enumerate() {
        if !*used && !matches!(key, KeyCol::None) {
            continue;
        }
        let k = match &key {
            KeyCol::None => Value::Null,
            KeyCol::Missing => Value::Null,
            KeyCol::Int(_, min, _) => if slot == null_slot { Value::Null } else { Value::Int(min + slot as i64) },
            KeyCol::Text(c) => {
                if slot == null_slot {
                    Value::Null
                } else {
                    text.clear();
                    c.ord_to_str(slot as u64, &mut text)?;
                    Value::Text(text.clone())
                }
            }
            KeyCol::Bool(_) => if slot == null_slot { Value::Null } else { Value::Bool(slot == 1) },
            KeyCol::IntSparse(_) => if slot == 0 { Value::Null } else { Value::Int(sparse_keys[slot - 1]) },
        };
        out.push((k, accs[slot * n..(slot + 1) * n].to_vec()));
    }
    Ok(out)
}

#[inline]
fn first<T: PartialOrd + Copy + Send + Sync + std::fmt::Debug + 'static>(c: &Column<T>, doc: u32) -> Option<T> {
    match c.index {
        ColumnIndex::Full => Some(c.values.get_val(doc)),
        _ => c.first(doc),
    }
}

/// Runs the columnar path if the collect phase qualifies.
pub fn try_aggregate(
    snapshot: &Snapshot,
    spec: &CollectSpec,
    query: Option<&dyn Query>,
    residual: Option<&Expr>,
) -> Result<Option<Partial>> {
    if residual.is_some() {
        return Ok(None);
    }
    let Some(p) = plan(spec) else { return Ok(None) };
    let mut merged: HashMap<Value, Vec<AggState>> = HashMap::new();
    for view in &snapshot.segments {
        for (k, accs) in aggregate_segment(&p, &view.segment, &view.alive, query)? {
            let states: Vec<AggState> = accs.into_iter().zip(p.aggs).map(|(a, c)| a.into_state(c)).collect();
            match merged.get_mut(&k) {
                Some(existing) => {
                    for ((call, into), s) in p.aggs.iter().zip(existing.iter_mut()).zip(states) {
                        call.merge(into, s);
                    }
                }
                None => {
                    merged.insert(k, states);
                }
            }
        }
    }
    let groups: Vec<(Vec<Value>, Vec<AggState>)> = if p.key.is_none() {
        let states = merged.remove(&Value::Null).unwrap_or_else(|| p.aggs.iter().map(AggCall::init).collect());
        vec![(Vec::new(), states)]
    } else {
        merged.into_iter().map(|(k, s)| (vec![k], s)).collect()
    };
    Ok(Some(Partial::Groups(groups)))
}
