//! Columnar GROUP BY of one table's shard.
//!
//! When a shard's aggregation groups by at most one plain scalar column and
//! aggregates plain numeric columns (count, sum, avg, min, max), and the
//! filter was pushed into the index entirely, the shard scans the columns
//! directly. Group keys become slots shared by all the shard's segments
//! (dense for integer ranges, term ordinals mapped per segment for text,
//! two for booleans). Each aggregate keeps its accumulators as plain arrays
//! indexed by slot, and full columns are decoded a block at a time, so the
//! inner loops are one array update per value.

use hashbrown::HashMap;

use tantivy::columnar::Column;
use tantivy::query::Weight;

use super::accs::{
    AggColumn, BLOCK, ValCol, ValKind, dense_span, first, is_full, scalar_column, value_columns,
    value_of,
};
use crate::error::Result;
use crate::exec::pushdown::for_each_doc;
use crate::expr::{AggCall, Expr};
use crate::request::{CollectMode, CollectSpec, Groups, Partial};
use crate::storage::Snapshot;
use crate::storage::segment::{AliveSet, Segment};
use crate::types::{DataType, Value};

#[derive(Clone, Copy)]
enum KeyKind {
    Int,
    Text,
    Bool,
}

/// The plan of a columnar aggregation: the key column and, per aggregate,
/// the value column (none for `count(*)`).
struct ColumnarPlan<'a> {
    key: Option<(String, KeyKind)>,
    vals: Vec<Option<(String, ValKind)>>,
    aggs: &'a [AggCall],
}

fn plan(spec: &CollectSpec) -> Option<ColumnarPlan<'_>> {
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
    let vals = aggs
        .iter()
        .map(|a| value_of(a, |e| scalar_column(e, &spec.scan)))
        .collect::<Option<_>>()?;
    Some(ColumnarPlan { key, vals, aggs })
}

/// Group slots shared by all segments of a shard.
struct Slots {
    aggs: Vec<AggColumn>,
    keys: Vec<Value>,
    /// Whether any document landed in the slot.
    used: Vec<bool>,
    /// Integer keys in a small range: slot = key - min.
    dense_int: Option<(i64, usize)>,
    by_int: HashMap<i64, usize>,
    by_text: HashMap<String, usize>,
    null_slot: Option<usize>,
}

impl Slots {
    fn add(&mut self, key: Value) -> usize {
        for a in self.aggs.iter_mut() {
            a.grow();
        }
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

    fn boolean(&mut self, b: bool) -> usize {
        match self.keys.iter().position(|k| *k == Value::Bool(b)) {
            Some(s) => s,
            None => self.add(Value::Bool(b)),
        }
    }

    /// Prepares dense integer slots covering every segment's key range.
    fn dense_over(&mut self, ranges: &[(i64, i64)]) {
        if let Some((lo, span)) = dense_span(ranges.iter().copied()) {
            for i in 0..span as i64 {
                self.add(Value::Int(lo + i));
            }
            self.dense_int = Some((lo, span));
        }
    }
}

/// How one segment's key column maps documents to slots.
enum SegKey {
    None(usize),
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
    weight: Option<&dyn Weight>,
    slots: &mut Slots,
) -> Result<()> {
    let ff = segment.reader.fast_fields();
    let key = match &p.key {
        None => SegKey::None(if slots.keys.is_empty() {
            slots.add(Value::Null)
        } else {
            0
        }),
        Some((path, KeyKind::Int)) => match ff.column_opt::<i64>(path)? {
            Some(c) => match slots.dense_int {
                Some((min, span))
                    if c.min_value() >= min && ((c.max_value() - min) as usize) < span =>
                {
                    SegKey::DenseInt(c, min)
                }
                _ => SegKey::Int(c),
            },
            None => SegKey::None(slots.null()),
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
            None => SegKey::None(slots.null()),
        },
        Some((path, KeyKind::Bool)) => match ff.column_opt::<bool>(path)? {
            Some(c) => {
                let f = slots.boolean(false);
                let t = slots.boolean(true);
                SegKey::Bool(c, [f, t])
            }
            None => SegKey::None(slots.null()),
        },
    };
    let vals = value_columns(segment, &p.vals)?;
    let vals_full = vals.iter().all(ValCol::is_full);
    let key_full = match &key {
        SegKey::None(_) => true,
        SegKey::DenseInt(c, _) => is_full(c),
        SegKey::Text(c, _) => is_full(c),
        _ => false,
    };
    if weight.is_none() && alive.all_alive() && vals_full && key_full {
        // Block path: decode a block of each column, then one tight loop per aggregate.
        let max_doc = segment.max_doc() as usize;
        let mut slot_buf = vec![0usize; BLOCK];
        let mut raw_i = vec![0i64; BLOCK];
        let mut raw_u = vec![0u64; BLOCK];
        let mut ibuf = vec![0i64; BLOCK];
        let mut fbuf = vec![0f64; BLOCK];
        let mut start = 0usize;
        while start < max_doc {
            let len = BLOCK.min(max_doc - start);
            let block = &mut slot_buf[..len];
            match &key {
                SegKey::DenseInt(c, min) => {
                    c.values.get_range(start as u64, &mut raw_i[..len]);
                    for (slot, v) in block.iter_mut().zip(&raw_i[..len]) {
                        *slot = (v - min) as usize;
                    }
                }
                SegKey::Text(c, map) => {
                    c.values.get_range(start as u64, &mut raw_u[..len]);
                    for (slot, o) in block.iter_mut().zip(&raw_u[..len]) {
                        *slot = map[*o as usize];
                    }
                }
                SegKey::None(s) => block.fill(*s),
                // key_full only admits the shapes above.
                SegKey::Int(_) | SegKey::Bool(..) => return Ok(()),
            }
            for s in block.iter() {
                slots.used[*s] = true;
            }
            for (agg, v) in slots.aggs.iter_mut().zip(&vals) {
                match v {
                    ValCol::Count => agg.count_block(block),
                    ValCol::Int(c) => {
                        c.values.get_range(start as u64, &mut ibuf[..len]);
                        agg.add_block_i(block, &ibuf[..len]);
                    }
                    ValCol::Float(c) => {
                        c.values.get_range(start as u64, &mut fbuf[..len]);
                        agg.add_block_f(block, &fbuf[..len]);
                    }
                    ValCol::Missing => {}
                }
            }
            start += len;
        }
        return Ok(());
    }
    for_each_doc(segment, alive, weight, |doc, _| {
        let slot = match &key {
            SegKey::None(s) => *s,
            SegKey::DenseInt(c, min) => match first(c, doc) {
                Some(v) => (v - min) as usize,
                None => slots.null(),
            },
            SegKey::Int(c) => match first(c, doc) {
                Some(v) => slots.int(v),
                None => slots.null(),
            },
            SegKey::Text(c, map) => match first(c, doc) {
                Some(o) => map[o as usize],
                None => slots.null(),
            },
            SegKey::Bool(c, s) => match first(c, doc) {
                Some(b) => s[b as usize],
                None => slots.null(),
            },
        };
        slots.used[slot] = true;
        for (agg, v) in slots.aggs.iter_mut().zip(&vals) {
            match v {
                ValCol::Count => agg.count(slot),
                ValCol::Int(c) => {
                    if let Some(x) = first(c, doc) {
                        agg.add_i(slot, x);
                    }
                }
                ValCol::Float(c) => {
                    if let Some(x) = first(c, doc) {
                        agg.add_f(slot, x);
                    }
                }
                ValCol::Missing => {}
            }
        }
        Ok(true)
    })?;
    Ok(())
}

/// Runs the columnar path if the collect phase qualifies.
pub fn try_aggregate(
    snapshot: &Snapshot,
    spec: &CollectSpec,
    weight: Option<&dyn Weight>,
    residual: Option<&Expr>,
) -> Result<Option<Partial>> {
    if residual.is_some() {
        return Ok(None);
    }
    let Some(p) = plan(spec) else { return Ok(None) };
    let mut slots = Slots {
        aggs: p
            .aggs
            .iter()
            .zip(&p.vals)
            .map(|(a, v)| AggColumn::new(a, v.as_ref().map(|x| x.1)))
            .collect(),
        keys: Vec::new(),
        used: Vec::new(),
        dense_int: None,
        by_int: HashMap::new(),
        by_text: HashMap::new(),
        null_slot: None,
    };
    if let Some((path, KeyKind::Int)) = &p.key {
        let mut ranges = Vec::new();
        for view in &snapshot.segments {
            if let Some(c) = view.segment.reader.fast_fields().column_opt::<i64>(path)? {
                ranges.push((c.min_value(), c.max_value()));
            }
        }
        slots.dense_over(&ranges);
    }
    for view in &snapshot.segments {
        aggregate_segment(&p, &view.segment, &view.alive, weight, &mut slots)?;
    }
    let mut groups = Groups::new(usize::from(p.key.is_some()), p.aggs.len());
    if p.key.is_none() {
        if slots.keys.is_empty() {
            groups.push([], p.aggs.iter().map(AggCall::init));
        } else {
            groups.push(
                [],
                slots.aggs.iter().zip(p.aggs).map(|(a, c)| a.state(0, c)),
            );
        }
    } else {
        for (i, key) in slots.keys.iter().enumerate() {
            if slots.used[i] {
                groups.push(
                    [key.clone()],
                    slots.aggs.iter().zip(p.aggs).map(|(a, c)| a.state(i, c)),
                );
            }
        }
    }
    Ok(Some(Partial::Groups(groups)))
}
