//! Columnar aggregation: GROUP BY over fast-field columns without building rows.
//!
//! When a shard's aggregation groups by at most one plain scalar column and
//! aggregates plain numeric columns (count, sum, avg, min, max), and the
//! filter was pushed into the index entirely, the shard scans the columns
//! directly: group keys become dense slots (integer ranges, text term
//! ordinals, booleans) and values are decoded in blocks. Everything else
//! takes the row path in [`super::collect`].

use std::collections::HashMap;

use tantivy::columnar::{Column, ColumnIndex};
use tantivy::query::Weight;

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
                if call.ty.is_integral() {
                    Acc::SumI(0, false)
                } else {
                    Acc::SumF(0.0, false)
                }
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
    if call.ty.is_integral() {
        Value::Int(f as i64)
    } else {
        Value::Float(f)
    }
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
            ScanColumn::User { name, ty } if ty.is_scalar() => {
                Some((column_path(name, &[]), ty.clone()))
            }
            _ => None,
        },
        _ => None,
    }
}

fn plan<'a>(spec: &'a CollectSpec) -> Option<ColumnarPlan<'a>> {
    let CollectMode::Groups { keys, aggs } = &spec.mode else {
        return None;
    };
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

/// Group slots shared by all segments of a shard: a key maps to a slot,
/// a slot owns one accumulator per aggregate.
struct Slots {
    template: Vec<Acc>,
    accs: Vec<Acc>,
    keys: Vec<Value>,
    /// Whether any document landed in the slot.
    used: Vec<bool>,
    /// Integer keys in a small range: slot = key - min (+ NULL slot at the end).
    dense_int: Option<(i64, usize)>,
    by_int: HashMap<i64, usize>,
    by_text: HashMap<String, usize>,
    null_slot: Option<usize>,
}

impl Slots {
    fn new(template: Vec<Acc>) -> Slots {
        Slots {
            template,
            accs: Vec::new(),
            keys: Vec::new(),
            used: Vec::new(),
            dense_int: None,
            by_int: HashMap::new(),
            by_text: HashMap::new(),
            null_slot: None,
        }
    }

    fn add(&mut self, key: Value) -> usize {
        self.accs.extend_from_slice(&self.template);
        self.keys.push(key);
        self.used.push(false);
        self.keys.len() - 1
    }

    fn null(&mut self) -> usize {
        match self.null_slot {
            Some(s) => s,
            None => {
                let s = self.add(Value::Null);
                self.null_slot = Some(s);
                s
            }
        }
    }

    fn int(&mut self, v: i64) -> usize {
        if let Some((min, span)) = self.dense_int {
            let off = v.wrapping_sub(min);
            if off >= 0 && (off as usize) < span {
                return off as usize;
            }
        }
        if let Some(s) = self.by_int.get(&v) {
            return *s;
        }
        let s = self.add(Value::Int(v));
        self.by_int.insert(v, s);
        s
    }

    fn text(&mut self, t: &str) -> usize {
        if let Some(s) = self.by_text.get(t) {
            return *s;
        }
        let s = self.add(Value::Text(t.to_string()));
        self.by_text.insert(t.to_string(), s);
        s
    }
}

/// How one segment's key column maps documents to slots.
enum SegKey {
    None,
    Null,
    DenseInt(Column<i64>, i64),
    Int(Column<i64>),
    /// Term ordinal -> slot.
    Text(Column<u64>, Vec<usize>),
    Bool(Column<bool>, [usize; 2]),
}

fn aggregate_segment(
    p: &ColumnarPlan,
    segment: &Segment,
    alive: &AliveSet,
    query: Option<&dyn Weight>,
    slots: &mut Slots,
) -> Result<()> {
    let ff = segment.reader.fast_fields();
    let key = match &p.key {
        None => SegKey::None,
        Some((path, KeyKind::Int)) => match ff.column_opt::<i64>(path)? {
            Some(c) => match slots.dense_int {
                Some((min, span))
                    if c.min_value() >= min && ((c.max_value() - min) as usize) < span =>
                {
                    SegKey::DenseInt(c, min)
                }
                _ => SegKey::Int(c),
            },
            None => SegKey::Null,
        },
        Some((path, KeyKind::Text)) => match ff.str(path)? {
            Some(c) => {
                let mut map = Vec::with_capacity(c.num_terms());
                let mut stream = c.dictionary().stream()?;
                while stream.advance() {
                    map.push(slots.text(&String::from_utf8_lossy(stream.key())));
                }
                SegKey::Text(c.ords().clone(), map)
            }
            None => SegKey::Null,
        },
        Some((path, KeyKind::Bool)) => match ff.column_opt::<bool>(path)? {
            Some(c) => {
                let f = slots.add_bool(false);
                let t = slots.add_bool(true);
                SegKey::Bool(c, [f, t])
            }
            None => SegKey::Null,
        },
    };
    let mut vals = Vec::with_capacity(p.vals.len());
    for v in &p.vals {
        vals.push(match v {
            None => ValCol::None,
            Some((path, ValKind::Int)) => ff
                .column_opt::<i64>(path)?
                .map(ValCol::Int)
                .unwrap_or(ValCol::Missing),
            Some((path, ValKind::Float)) => ff
                .column_opt::<f64>(path)?
                .map(ValCol::Float)
                .unwrap_or(ValCol::Missing),
            Some((_, ValKind::None)) => ValCol::None,
        });
    }
    let n = slots.template.len();
    let single = match key {
        SegKey::None => Some(if slots.keys.is_empty() {
            slots.add(Value::Null)
        } else {
            0
        }),
        SegKey::Null => Some(slots.null()),
        _ => None,
    };

    let all_full = vals.iter().all(ValCol::is_full)
        && match &key {
            SegKey::None | SegKey::Null => true,
            SegKey::DenseInt(c, _) => matches!(c.index, ColumnIndex::Full),
            SegKey::Text(c, _) => matches!(c.index, ColumnIndex::Full),
            _ => false,
        };
    if query.is_none() && alive.all_alive() && all_full {
        // Block path: decode columns a block at a time.
        let max_doc = segment.max_doc() as usize;
        let mut slot_buf = vec![0usize; BLOCK];
        let mut raw_i = vec![0i64; BLOCK];
        let mut raw_u = vec![0u64; BLOCK];
        let mut ibufs: Vec<Vec<i64>> = vals.iter().map(|_| vec![0i64; BLOCK]).collect();
        let mut fbufs: Vec<Vec<f64>> = vals.iter().map(|_| vec![0f64; BLOCK]).collect();
        let mut start = 0usize;
        while start < max_doc {
            let len = BLOCK.min(max_doc - start);
            match &key {
                SegKey::DenseInt(c, min) => {
                    c.values.get_range(start as u64, &mut raw_i[..len]);
                    for (slot, v) in slot_buf.iter_mut().zip(&raw_i[..len]) {
                        *slot = (v - min) as usize;
                    }
                }
                SegKey::Text(c, map) => {
                    c.values.get_range(start as u64, &mut raw_u[..len]);
                    for (slot, o) in slot_buf.iter_mut().zip(&raw_u[..len]) {
                        *slot = map[*o as usize];
                    }
                }
                _ => slot_buf[..len].fill(single.unwrap_or(0)),
            }
            for (j, v) in vals.iter().enumerate() {
                match v {
                    ValCol::Int(c) => c.values.get_range(start as u64, &mut ibufs[j][..len]),
                    ValCol::Float(c) => c.values.get_range(start as u64, &mut fbufs[j][..len]),
                    _ => {}
                }
            }
            for slot in &slot_buf[..len] {
                slots.used[*slot] = true;
            }
            for (j, v) in vals.iter().enumerate() {
                match v {
                    ValCol::None => {
                        for slot in &slot_buf[..len] {
                            slots.accs[slot * n + j].count();
                        }
                    }
                    ValCol::Int(_) => {
                        for (slot, x) in slot_buf[..len].iter().zip(&ibufs[j][..len]) {
                            slots.accs[slot * n + j].add_i(*x);
                        }
                    }
                    ValCol::Float(_) => {
                        for (slot, x) in slot_buf[..len].iter().zip(&fbufs[j][..len]) {
                            slots.accs[slot * n + j].add_f(*x);
                        }
                    }
                    ValCol::Missing => {}
                }
            }
            start += len;
        }
        return Ok(());
    }
    for_each_doc(segment, alive, query, |doc| {
        let slot = match (&key, single) {
            (_, Some(s)) => s,
            (SegKey::DenseInt(c, min), _) => match first(c, doc) {
                Some(v) => (v - min) as usize,
                None => slots.null(),
            },
            (SegKey::Int(c), _) => match first(c, doc) {
                Some(v) => slots.int(v),
                None => slots.null(),
            },
            (SegKey::Text(c, map), _) => match first(c, doc) {
                Some(o) => map[o as usize],
                None => slots.null(),
            },
            (SegKey::Bool(c, s), _) => match first(c, doc) {
                Some(b) => s[b as usize],
                None => slots.null(),
            },
            _ => slots.null(),
        };
        slots.used[slot] = true;
        let base = slot * n;
        for (j, v) in vals.iter().enumerate() {
            let acc = &mut slots.accs[base + j];
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
    Ok(())
}

impl Slots {
    fn add_bool(&mut self, b: bool) -> usize {
        match self.keys.iter().position(|k| *k == Value::Bool(b)) {
            Some(s) => s,
            None => self.add(Value::Bool(b)),
        }
    }

    /// Prepares dense integer slots covering every segment's key range.
    fn dense_over(&mut self, ranges: impl Iterator<Item = (i64, i64)>) {
        let mut lo = i64::MAX;
        let mut hi = i64::MIN;
        for (a, b) in ranges {
            lo = lo.min(a);
            hi = hi.max(b);
        }
        if lo > hi {
            return;
        }
        let span = (hi as i128 - lo as i128) as u64 + 1;
        if span <= DENSE_LIMIT {
            for i in 0..span as i64 {
                self.add(Value::Int(lo + i));
            }
            self.dense_int = Some((lo, span as usize));
        }
    }
}

#[inline]
fn first<T: PartialOrd + Copy + Send + Sync + std::fmt::Debug + 'static>(
    c: &Column<T>,
    doc: u32,
) -> Option<T> {
    match c.index {
        ColumnIndex::Full => Some(c.values.get_val(doc)),
        _ => c.first(doc),
    }
}

/// Runs the columnar path if the collect phase qualifies.
pub fn try_aggregate(
    snapshot: &Snapshot,
    spec: &CollectSpec,
    query: Option<&dyn Weight>,
    residual: Option<&Expr>,
) -> Result<Option<Partial>> {
    if residual.is_some() {
        return Ok(None);
    }
    let Some(p) = plan(spec) else { return Ok(None) };
    let template: Vec<Acc> = p
        .aggs
        .iter()
        .zip(&p.vals)
        .map(|(a, v)| Acc::init(a, v.as_ref().map(|(_, k)| *k).unwrap_or(ValKind::None)))
        .collect();
    let mut slots = Slots::new(template);
    if let Some((path, KeyKind::Int)) = &p.key {
        let mut ranges = Vec::new();
        for view in &snapshot.segments {
            if let Some(c) = view.segment.reader.fast_fields().column_opt::<i64>(path)? {
                ranges.push((c.min_value(), c.max_value()));
            }
        }
        slots.dense_over(ranges.into_iter());
    }
    for view in &snapshot.segments {
        aggregate_segment(&p, &view.segment, &view.alive, query, &mut slots)?;
    }
    let n = slots.template.len();
    let groups: Vec<(Vec<Value>, Vec<AggState>)> = if p.key.is_none() {
        let states = if slots.keys.is_empty() {
            p.aggs.iter().map(AggCall::init).collect()
        } else {
            slots.accs[..n]
                .iter()
                .zip(p.aggs)
                .map(|(a, c)| a.into_state(c))
                .collect()
        };
        vec![(Vec::new(), states)]
    } else {
        // Only slots that saw a document become groups.
        slots
            .keys
            .iter()
            .enumerate()
            .filter(|(i, _)| slots.used[*i])
            .map(|(i, k)| {
                let states = slots.accs[i * n..(i + 1) * n]
                    .iter()
                    .zip(p.aggs)
                    .map(|(a, c)| a.into_state(c))
                    .collect();
                (vec![k.clone()], states)
            })
            .collect()
    };
    Ok(Some(Partial::Groups(groups)))
}
