//! What both columnar paths share: reading a scan column's fast field, the
//! value columns of a segment, and each aggregate's accumulators as plain
//! arrays indexed by group slot.

use tantivy::columnar::{Column, ColumnIndex};

use crate::error::Result;
use crate::expr::{AggCall, AggFunc, AggState, Expr};
use crate::planner::ScanColumn;
use crate::storage::document::column_path;
use crate::storage::segment::Segment;
use crate::types::{DataType, Value};

pub(super) const BLOCK: usize = 1024;
/// Integer keys spanning at most this many values use a dense table.
pub(super) const DENSE_LIMIT: u64 = 1 << 20;

/// The lowest key and the span of the integer keys within these (min,
/// max) ranges, when the span is small enough for a table indexed by
/// `key - lowest`.
pub(super) fn dense_span(ranges: impl IntoIterator<Item = (i64, i64)>) -> Option<(i64, usize)> {
    let (lo, hi) = ranges
        .into_iter()
        .reduce(|(lo, hi), (l, h)| (lo.min(l), hi.max(h)))?;
    let span = (i128::from(hi) - i128::from(lo) + 1) as u64;
    (span <= DENSE_LIMIT).then_some((lo, span as usize))
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum ValKind {
    Int,
    Float,
}

impl ValKind {
    /// How a column of this type is read: floating point, or integer
    /// (integer types and timestamps); `None` for anything else.
    pub(super) fn of(ty: &DataType) -> Option<ValKind> {
        match ty {
            DataType::Real | DataType::Double => Some(ValKind::Float),
            t if t.is_integral() || matches!(t, DataType::Timestamp { .. }) => Some(ValKind::Int),
            _ => None,
        }
    }
}

/// The fast field and type of a plain scalar column of the scan.
pub(super) fn scalar_column(e: &Expr, scan: &[ScanColumn]) -> Option<(String, DataType)> {
    match e {
        Expr::Column(i, _) => scan_column(*i, scan),
        _ => None,
    }
}

/// The fast field and type of scan column `i`, if a plain scalar one.
pub(super) fn scan_column(i: usize, scan: &[ScanColumn]) -> Option<(String, DataType)> {
    match scan.get(i)? {
        ScanColumn::User { name, ty } if ty.is_scalar() => {
            Some((column_path(name, &[]), ty.clone()))
        }
        _ => None,
    }
}

/// The value column an aggregate reads (`Some(None)` for `count(*)`), if
/// the columnar paths can compute it: `count`, `sum`, `avg`, `min` or
/// `max` of a plain numeric column (`column` finds it), without DISTINCT
/// or FILTER.
pub(super) fn value_of(
    a: &AggCall,
    column: impl Fn(&Expr) -> Option<(String, DataType)>,
) -> Option<Option<(String, ValKind)>> {
    if a.distinct || a.filter.is_some() {
        return None;
    }
    match a.func {
        AggFunc::CountStar => Some(None),
        AggFunc::Count | AggFunc::Sum | AggFunc::Avg | AggFunc::Min | AggFunc::Max => {
            let (path, ty) = column(a.args.first()?)?;
            Some(Some((path, ValKind::of(&ty)?)))
        }
        _ => None,
    }
}

/// One aggregate's accumulators, one entry per slot.
pub(super) enum Accs {
    Count(Vec<i64>),
    SumI(Vec<i128>),
    SumF(Vec<f64>),
    Avg(Vec<f64>),
    MinI(Vec<i64>),
    MaxI(Vec<i64>),
    MinF(Vec<f64>),
    MaxF(Vec<f64>),
}

/// An aggregate's accumulators plus how many non-null values each slot saw.
pub(super) struct AggColumn {
    accs: Accs,
    seen: Vec<i64>,
}

impl AggColumn {
    pub(super) fn new(call: &AggCall, val: Option<ValKind>) -> AggColumn {
        let float = val == Some(ValKind::Float);
        let accs = match call.func {
            AggFunc::CountStar | AggFunc::Count => Accs::Count(Vec::new()),
            AggFunc::Sum if float || !call.ty.is_integral() => Accs::SumF(Vec::new()),
            AggFunc::Sum => Accs::SumI(Vec::new()),
            AggFunc::Avg => Accs::Avg(Vec::new()),
            AggFunc::Min if float => Accs::MinF(Vec::new()),
            AggFunc::Max if float => Accs::MaxF(Vec::new()),
            AggFunc::Min => Accs::MinI(Vec::new()),
            _ => Accs::MaxI(Vec::new()),
        };
        AggColumn {
            accs,
            seen: Vec::new(),
        }
    }

    pub(super) fn grow(&mut self) {
        self.seen.push(0);
        match &mut self.accs {
            Accs::Count(v) => v.push(0),
            Accs::MinI(v) => v.push(i64::MAX),
            Accs::MaxI(v) => v.push(i64::MIN),
            Accs::SumI(v) => v.push(0),
            Accs::SumF(v) | Accs::Avg(v) => v.push(0.0),
            Accs::MinF(v) => v.push(f64::INFINITY),
            Accs::MaxF(v) => v.push(f64::NEG_INFINITY),
        }
    }

    /// Counts a row without a value (`count(*)`).
    #[inline]
    pub(super) fn count(&mut self, slot: usize) {
        if let Accs::Count(v) = &mut self.accs {
            v[slot] += 1;
        }
    }

    #[inline]
    pub(super) fn add_i(&mut self, slot: usize, x: i64) {
        self.seen[slot] += 1;
        match &mut self.accs {
            Accs::Count(v) => v[slot] += 1,
            Accs::SumI(v) => v[slot] += x as i128,
            Accs::SumF(v) | Accs::Avg(v) => v[slot] += x as f64,
            Accs::MinI(v) => v[slot] = v[slot].min(x),
            Accs::MaxI(v) => v[slot] = v[slot].max(x),
            Accs::MinF(v) => v[slot] = v[slot].min(x as f64),
            Accs::MaxF(v) => v[slot] = v[slot].max(x as f64),
        }
    }

    #[inline]
    pub(super) fn add_f(&mut self, slot: usize, x: f64) {
        self.seen[slot] += 1;
        match &mut self.accs {
            Accs::Count(v) => v[slot] += 1,
            Accs::SumI(v) => v[slot] += x as i128,
            Accs::SumF(v) | Accs::Avg(v) => v[slot] += x,
            Accs::MinI(v) => v[slot] = v[slot].min(x as i64),
            Accs::MaxI(v) => v[slot] = v[slot].max(x as i64),
            Accs::MinF(v) => v[slot] = v[slot].min(x),
            Accs::MaxF(v) => v[slot] = v[slot].max(x),
        }
    }

    /// The block loops: one pass over a block's slots per accumulator,
    /// counting each slot as seen and folding its value in.
    pub(super) fn add_block_i(&mut self, slots: &[usize], xs: &[i64]) {
        let seen = &mut self.seen;
        match &mut self.accs {
            Accs::Count(v) => fold_block(seen, v, slots, xs, |a, _| *a += 1),
            Accs::SumI(v) => fold_block(seen, v, slots, xs, |a, x| *a += x as i128),
            Accs::SumF(v) | Accs::Avg(v) => fold_block(seen, v, slots, xs, |a, x| *a += x as f64),
            Accs::MinI(v) => fold_block(seen, v, slots, xs, |a, x| *a = (*a).min(x)),
            Accs::MaxI(v) => fold_block(seen, v, slots, xs, |a, x| *a = (*a).max(x)),
            Accs::MinF(v) => fold_block(seen, v, slots, xs, |a, x| *a = a.min(x as f64)),
            Accs::MaxF(v) => fold_block(seen, v, slots, xs, |a, x| *a = a.max(x as f64)),
        }
    }

    pub(super) fn add_block_f(&mut self, slots: &[usize], xs: &[f64]) {
        let seen = &mut self.seen;
        match &mut self.accs {
            Accs::Count(v) => fold_block(seen, v, slots, xs, |a, _| *a += 1),
            Accs::SumI(v) => fold_block(seen, v, slots, xs, |a, x| *a += x as i128),
            Accs::SumF(v) | Accs::Avg(v) => fold_block(seen, v, slots, xs, |a, x| *a += x),
            Accs::MinI(v) => fold_block(seen, v, slots, xs, |a, x| *a = (*a).min(x as i64)),
            Accs::MaxI(v) => fold_block(seen, v, slots, xs, |a, x| *a = (*a).max(x as i64)),
            Accs::MinF(v) => fold_block(seen, v, slots, xs, |a, x| *a = a.min(x)),
            Accs::MaxF(v) => fold_block(seen, v, slots, xs, |a, x| *a = a.max(x)),
        }
    }

    pub(super) fn count_block(&mut self, slots: &[usize]) {
        if let Accs::Count(v) = &mut self.accs {
            slots.iter().for_each(|s| v[*s] += 1);
        }
    }

    /// The mergeable state of one slot.
    pub(super) fn state(&self, slot: usize, call: &AggCall) -> AggState {
        let seen = self.seen[slot] > 0;
        let float = |f: f64| {
            if call.ty.is_integral() {
                Value::Int(f as i64)
            } else {
                Value::Float(f)
            }
        };
        match &self.accs {
            Accs::Count(v) => AggState::Count(v[slot]),
            Accs::SumI(v) => AggState::SumInt(v[slot], seen),
            Accs::SumF(v) => AggState::SumFloat(v[slot], seen),
            Accs::Avg(v) => AggState::Avg {
                sum: v[slot],
                count: self.seen[slot],
            },
            Accs::MinI(v) => AggState::Min(if seen {
                Value::Int(v[slot])
            } else {
                Value::Null
            }),
            Accs::MaxI(v) => AggState::Max(if seen {
                Value::Int(v[slot])
            } else {
                Value::Null
            }),
            Accs::MinF(v) => AggState::Min(if seen { float(v[slot]) } else { Value::Null }),
            Accs::MaxF(v) => AggState::Max(if seen { float(v[slot]) } else { Value::Null }),
        }
    }
}

/// A value column of one segment, as an aggregate reads it.
pub(super) enum ValCol {
    Count,
    Missing,
    Int(Column<i64>),
    Float(Column<f64>),
}

impl ValCol {
    /// The document's value, as the row path reads it (NULL when it has
    /// none).
    #[inline]
    pub(super) fn value(&self, doc: u32) -> Value {
        let v = match self {
            ValCol::Int(c) => first(c, doc).map(Value::Int),
            ValCol::Float(c) => first(c, doc).map(Value::Float),
            ValCol::Count | ValCol::Missing => None,
        };
        v.unwrap_or(Value::Null)
    }

    /// Whether every document has exactly one value (so a block of them
    /// can be decoded at once).
    pub(super) fn is_full(&self) -> bool {
        match self {
            ValCol::Count => true,
            ValCol::Missing => false,
            ValCol::Int(c) => is_full(c),
            ValCol::Float(c) => is_full(c),
        }
    }
}

/// A segment's value column for each aggregate (`None`: `count(*)`).
pub(super) fn value_columns(
    segment: &Segment,
    vals: &[Option<(String, ValKind)>],
) -> Result<Vec<ValCol>> {
    let ff = segment.reader.fast_fields();
    let mut out = Vec::with_capacity(vals.len());
    for v in vals {
        out.push(match v {
            None => ValCol::Count,
            Some((path, ValKind::Int)) => ff
                .column_opt::<i64>(path)?
                .map(ValCol::Int)
                .unwrap_or(ValCol::Missing),
            Some((path, ValKind::Float)) => ff
                .column_opt::<f64>(path)?
                .map(ValCol::Float)
                .unwrap_or(ValCol::Missing),
        });
    }
    Ok(out)
}

#[inline]
pub(super) fn first<T: PartialOrd + Copy + Send + Sync + std::fmt::Debug + 'static>(
    c: &Column<T>,
    doc: u32,
) -> Option<T> {
    match c.index {
        ColumnIndex::Full => Some(c.values.get_val(doc)),
        _ => c.first(doc),
    }
}

pub(super) fn is_full<T>(c: &Column<T>) -> bool {
    matches!(c.index, ColumnIndex::Full)
}

/// One pass over a block: each row's slot is counted as seen and its value
/// folded into the slot's accumulator (a single pass, where two would read
/// the slots twice).
#[inline(always)]
pub(super) fn fold_block<A, X: Copy>(
    seen: &mut [i64],
    acc: &mut [A],
    slots: &[usize],
    xs: &[X],
    fold: impl Fn(&mut A, X),
) {
    for (s, x) in slots.iter().zip(xs) {
        seen[*s] += 1;
        fold(&mut acc[*s], *x);
    }
}
