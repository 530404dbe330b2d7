//! Partitions and frames: a sorted partition's peer groups (rows its
//! window's `ORDER BY` sorts as equal), and each row's frame as a range of
//! the partition. `ROWS` offsets count rows; `RANGE` offsets are added to or
//! taken from the single `ORDER BY` key (a number, or an interval for a
//! timestamp) and the bound found by binary search; a NULL key has its peer
//! group as frame. Frames never move backwards from one row to the next,
//! which is what lets aggregates over them run incrementally.

use std::cmp::Ordering;

use crate::breaker::LocalReservation;
use crate::error::{Error, Result};
use crate::exec::rows::compare_rows;
use crate::expr::EvalCtx;
use crate::planner::{FrameBound, FrameOffset, FrameUnits, SortKey, WindowFrame};
use crate::types::{Row, Value};

/// One partition, sorted, with its peer groups.
pub(super) struct Partition<'a> {
    pub(super) rows: &'a [Row],
    /// Each row's sort key: partition values, then `ORDER BY` values from `first_order`.
    keys: &'a [Row],
    first_order: usize,
    /// The first `ORDER BY` key's direction (`RANGE` offsets count along it).
    desc: bool,
    /// The first row of each row's peer group, and one past its last.
    pub(super) peer_start: Vec<usize>,
    pub(super) peer_end: Vec<usize>,
    /// The rows whose first `ORDER BY` value is not null (nulls sort to one end).
    non_null: (usize, usize),
}

impl<'a> Partition<'a> {
    pub(super) fn new(rows: &'a [Row], keys: &'a [Row], order_keys: &[SortKey]) -> Partition<'a> {
        let n = rows.len();
        let first_order = order_keys.first().map_or(0, |k| k.index);
        let desc = order_keys.first().is_some_and(|k| k.desc);
        let mut peer_start = vec![0; n];
        for i in 1..n {
            peer_start[i] = if compare_rows(&keys[i - 1], &keys[i], order_keys) == Ordering::Equal {
                peer_start[i - 1]
            } else {
                i
            };
        }
        let mut peer_end = vec![n; n];
        for i in (0..n.saturating_sub(1)).rev() {
            peer_end[i] = if peer_start[i + 1] == peer_start[i] {
                peer_end[i + 1]
            } else {
                i + 1
            };
        }
        let mut partition = Partition {
            rows,
            keys,
            first_order,
            desc,
            peer_start,
            peer_end,
            non_null: (0, n),
        };
        if !order_keys.is_empty() {
            let lo = (0..n)
                .find(|&i| !partition.range_key(i).is_null())
                .unwrap_or(n);
            let hi = (lo..n)
                .rev()
                .find(|&i| !partition.range_key(i).is_null())
                .map_or(lo, |i| i + 1);
            partition.non_null = (lo, hi);
        }
        partition
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Bytes the peer groups take.
    pub(super) fn heap_size(&self) -> usize {
        2 * self.rows.len() * size_of::<usize>()
    }

    /// Row `i`'s first `ORDER BY` value, which `RANGE` offsets apply to.
    fn range_key(&self, i: usize) -> &Value {
        static NULL: Value = Value::Null;
        self.keys
            .get(i)
            .and_then(|k| k.get(self.first_order))
            .unwrap_or(&NULL)
    }

    /// Row `i`'s frame: `[start, end)` within the partition.
    pub(super) fn frame(&self, frame: &Frame, i: usize) -> (usize, usize) {
        let n = self.len();
        let start = match &frame.start {
            Bound::UnboundedPreceding => 0,
            Bound::UnboundedFollowing => n,
            Bound::CurrentRow => match frame.units {
                FrameUnits::Rows => i,
                FrameUnits::Range => self.peer_start[i],
            },
            Bound::Preceding(offset) => self.offset_bound(offset, i, false, false),
            Bound::Following(offset) => self.offset_bound(offset, i, true, false),
        };
        let end = match &frame.end {
            Bound::UnboundedPreceding => 0,
            Bound::UnboundedFollowing => n,
            Bound::CurrentRow => match frame.units {
                FrameUnits::Rows => i + 1,
                FrameUnits::Range => self.peer_end[i],
            },
            Bound::Preceding(offset) => self.offset_bound(offset, i, false, true),
            Bound::Following(offset) => self.offset_bound(offset, i, true, true),
        };
        (start, end.max(start))
    }

    /// Where a bound `offset` rows or values before (or after: `ahead`)
    /// row `i` lies: the first row in the frame for a start, one past the
    /// last for an end.
    fn offset_bound(&self, offset: &Offset, i: usize, ahead: bool, end: bool) -> usize {
        let n = self.len();
        let Offset::Rows(rows) = offset else {
            return self.range_bound(offset, i, ahead, end);
        };
        let rows = usize::try_from(*rows).unwrap_or(usize::MAX);
        let at = if ahead {
            i.saturating_add(rows)
        } else {
            match i.checked_sub(rows) {
                Some(at) => at,
                // Before the partition: an end there leaves the frame empty.
                None if end => return 0,
                None => 0,
            }
        };
        if end {
            at.saturating_add(1).min(n)
        } else {
            at.min(n)
        }
    }

    /// A `RANGE` bound: the rows whose key lies within `offset` of row
    /// `i`'s (before it or `ahead`). Nulls are peers of each other only: a
    /// row with a null key has its peer group as frame bounds, and the
    /// nulls are in no other row's offset frame.
    fn range_bound(&self, offset: &Offset, i: usize, ahead: bool, end: bool) -> usize {
        let key = self.range_key(i);
        if key.is_null() {
            return if end {
                self.peer_end[i]
            } else {
                self.peer_start[i]
            };
        }
        let (lo, hi) = self.non_null;
        // Along the sort: ahead in a descending order means smaller values.
        let Some(target) = shift(key, offset, ahead != self.desc) else {
            // Past every value there is.
            return if ahead { hi } else { lo };
        };
        // The rows sorting before the bound form a prefix of [lo, hi).
        let before = |j: usize| {
            let o = self.range_key(j).cmp(&target);
            let o = if self.desc { o.reverse() } else { o };
            if end {
                o != Ordering::Greater
            } else {
                o == Ordering::Less
            }
        };
        let (mut a, mut b) = (lo, hi);
        while a < b {
            let mid = a + (b - a) / 2;
            if before(mid) {
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        a
    }
}

/// `key` plus (`add`) or minus `offset`; `None` when that leaves the
/// key's range (every value lies on the near side of it).
fn shift(key: &Value, offset: &Offset, add: bool) -> Option<Value> {
    match (key, offset) {
        (Value::Int(k), Offset::Value(Value::Int(o))) => {
            let v = if add {
                k.checked_add(*o)
            } else {
                k.checked_sub(*o)
            };
            v.map(Value::Int)
        }
        (Value::Int(_) | Value::Float(_), Offset::Value(o)) => {
            let (k, o) = (key.as_f64()?, o.as_f64()?);
            Some(Value::Float(if add { k + o } else { k - o }))
        }
        (Value::Int(ms), Offset::Interval { months, millis }) => {
            shift_timestamp(*ms, *months, *millis, add).map(Value::Int)
        }
        _ => None,
    }
}

/// A timestamp (epoch milliseconds) plus or minus an interval: calendar
/// months first, then milliseconds, as PostgreSQL adds intervals.
fn shift_timestamp(ms: i64, months: i32, millis: i64, add: bool) -> Option<i64> {
    let shifted = if months == 0 {
        ms
    } else {
        let at = chrono::DateTime::from_timestamp_millis(ms)?.naive_utc();
        let months = chrono::Months::new(months.unsigned_abs());
        let at = if add {
            at.checked_add_months(months)?
        } else {
            at.checked_sub_months(months)?
        };
        at.and_utc().timestamp_millis()
    };
    if add {
        shifted.checked_add(millis)
    } else {
        shifted.checked_sub(millis)
    }
}

/// A frame with its offsets evaluated.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Frame {
    units: FrameUnits,
    start: Bound,
    end: Bound,
}

#[derive(Debug, Clone, PartialEq)]
enum Bound {
    UnboundedPreceding,
    Preceding(Offset),
    CurrentRow,
    Following(Offset),
    UnboundedFollowing,
}

#[derive(Debug, Clone, PartialEq)]
enum Offset {
    /// `ROWS`: a count of rows.
    Rows(u64),
    /// `RANGE`: a number added to or taken from the key.
    Value(Value),
    /// `RANGE` over timestamps.
    Interval { months: i32, millis: i64 },
}

impl Frame {
    pub(super) fn resolve(frame: &WindowFrame, ctx: &EvalCtx) -> Result<Frame> {
        let bound = |b: &FrameBound| -> Result<Bound> {
            Ok(match b {
                FrameBound::UnboundedPreceding => Bound::UnboundedPreceding,
                FrameBound::Preceding(o) => Bound::Preceding(offset(frame.units, o, ctx)?),
                FrameBound::CurrentRow => Bound::CurrentRow,
                FrameBound::Following(o) => Bound::Following(offset(frame.units, o, ctx)?),
                FrameBound::UnboundedFollowing => Bound::UnboundedFollowing,
            })
        };
        Ok(Frame {
            units: frame.units,
            start: bound(&frame.start)?,
            end: bound(&frame.end)?,
        })
    }
}

fn offset(units: FrameUnits, offset: &FrameOffset, ctx: &EvalCtx) -> Result<Offset> {
    let e = match offset {
        FrameOffset::Interval { months, millis } => {
            return Ok(Offset::Interval {
                months: *months,
                millis: *millis,
            });
        }
        FrameOffset::Value(e) => e,
    };
    let v = e.eval(&[], ctx)?;
    let negative = match &v {
        Value::Null => {
            return Err(Error::InvalidArgument(
                "Window frame offset must not be null".into(),
            ));
        }
        Value::Int(i) => *i < 0,
        Value::Float(f) if f.is_nan() => {
            return Err(Error::InvalidArgument(
                "Window frame offset must not be NaN".into(),
            ));
        }
        Value::Float(f) => *f < 0.0,
        other => {
            return Err(Error::InvalidArgument(format!(
                "Window frame offset must be a number, got {}",
                crate::types::cast::literal(other)
            )));
        }
    };
    if negative {
        return Err(Error::InvalidArgument(
            "Window frame offset must not be negative".into(),
        ));
    }
    match (units, v) {
        (FrameUnits::Rows, Value::Int(i)) => Ok(Offset::Rows(i.unsigned_abs())),
        (FrameUnits::Rows, other) => Err(Error::InvalidArgument(format!(
            "ROWS frame offset must be an integer, got {}",
            crate::types::cast::literal(&other)
        ))),
        (FrameUnits::Range, v) => Ok(Offset::Value(v)),
    }
}

/// Every row's frame, accounted (the caller gives the bytes back).
pub(super) fn frames(
    p: &Partition,
    frame: &Frame,
    memory: &mut LocalReservation,
) -> Result<Vec<(usize, usize)>> {
    memory.add(p.len() * size_of::<(usize, usize)>())?;
    Ok((0..p.len()).map(|i| p.frame(frame, i)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(values: &[Option<i64>]) -> Vec<Row> {
        values
            .iter()
            .map(|v| vec![v.map_or(Value::Null, Value::Int)])
            .collect()
    }

    fn order(desc: bool, nulls_first: bool) -> Vec<SortKey> {
        vec![SortKey {
            index: 0,
            desc,
            nulls_first,
        }]
    }

    fn frame(units: FrameUnits, start: Bound, end: Bound) -> Frame {
        Frame { units, start, end }
    }

    fn all(p: &Partition, f: &Frame) -> Vec<(usize, usize)> {
        (0..p.len()).map(|i| p.frame(f, i)).collect()
    }

    #[test]
    fn peer_groups_are_runs_of_equal_keys() {
        let k = keys(&[Some(1), Some(1), Some(2), None, None]);
        let p = Partition::new(&k, &k, &order(false, false));
        assert_eq!(p.peer_start, vec![0, 0, 2, 3, 3]);
        assert_eq!(p.peer_end, vec![2, 2, 3, 5, 5]);
        assert_eq!(p.non_null, (0, 3));
        // Without ORDER BY every row is a peer of every other.
        let p = Partition::new(&k, &k, &[]);
        assert_eq!(p.peer_start, vec![0; 5]);
        assert_eq!(p.peer_end, vec![5; 5]);
    }

    #[test]
    fn rows_frames_count_rows_and_stop_at_the_partition() {
        let k = keys(&[Some(1), Some(1), Some(2), Some(4)]);
        let p = Partition::new(&k, &k, &order(false, false));
        let f = frame(
            FrameUnits::Rows,
            Bound::Preceding(Offset::Rows(1)),
            Bound::Following(Offset::Rows(1)),
        );
        assert_eq!(all(&p, &f), vec![(0, 2), (0, 3), (1, 4), (2, 4)]);
        let f = frame(
            FrameUnits::Rows,
            Bound::CurrentRow,
            Bound::UnboundedFollowing,
        );
        assert_eq!(all(&p, &f), vec![(0, 4), (1, 4), (2, 4), (3, 4)]);
        // Offsets past the partition (and past usize) are clamped.
        let f = frame(
            FrameUnits::Rows,
            Bound::Preceding(Offset::Rows(u64::MAX)),
            Bound::Following(Offset::Rows(u64::MAX)),
        );
        assert_eq!(all(&p, &f), vec![(0, 4); 4]);
        // An end before the current row (refused by the binder) gives an empty frame.
        let f = frame(
            FrameUnits::Rows,
            Bound::Preceding(Offset::Rows(3)),
            Bound::Preceding(Offset::Rows(2)),
        );
        assert_eq!(all(&p, &f), vec![(0, 0), (0, 0), (0, 1), (0, 2)]);
    }

    #[test]
    fn range_current_row_takes_the_peers() {
        let k = keys(&[Some(1), Some(1), Some(2), Some(4)]);
        let p = Partition::new(&k, &k, &order(false, false));
        let f = frame(
            FrameUnits::Range,
            Bound::UnboundedPreceding,
            Bound::CurrentRow,
        );
        assert_eq!(all(&p, &f), vec![(0, 2), (0, 2), (0, 3), (0, 4)]);
        let f = frame(
            FrameUnits::Range,
            Bound::CurrentRow,
            Bound::UnboundedFollowing,
        );
        assert_eq!(all(&p, &f), vec![(0, 4), (0, 4), (2, 4), (3, 4)]);
    }

    #[test]
    fn range_offsets_are_added_to_the_key() {
        let k = keys(&[Some(1), Some(1), Some(2), Some(4), None]);
        let p = Partition::new(&k, &k, &order(false, false));
        let f = frame(
            FrameUnits::Range,
            Bound::Preceding(Offset::Value(Value::Int(1))),
            Bound::CurrentRow,
        );
        // The NULL's frame is its peer group.
        assert_eq!(all(&p, &f), vec![(0, 2), (0, 2), (0, 3), (3, 4), (4, 5)]);
        let f = frame(
            FrameUnits::Range,
            Bound::CurrentRow,
            Bound::Following(Offset::Value(Value::Int(2))),
        );
        assert_eq!(all(&p, &f), vec![(0, 3), (0, 3), (2, 4), (3, 4), (4, 5)]);
        // Fractional offsets over integer keys.
        let f = frame(
            FrameUnits::Range,
            Bound::Preceding(Offset::Value(Value::Float(0.5))),
            Bound::Following(Offset::Value(Value::Float(1.5))),
        );
        assert_eq!(all(&p, &f), vec![(0, 3), (0, 3), (2, 3), (3, 4), (4, 5)]);
    }

    #[test]
    fn range_offsets_follow_a_descending_order() {
        let k = keys(&[Some(4), Some(2), Some(1), Some(1)]);
        let p = Partition::new(&k, &k, &order(true, false));
        let f = frame(
            FrameUnits::Range,
            Bound::Preceding(Offset::Value(Value::Int(1))),
            Bound::Following(Offset::Value(Value::Int(1))),
        );
        // For the 2, 1 PRECEDING means keys up to 3, 1 FOLLOWING keys down to 1.
        assert_eq!(all(&p, &f), vec![(0, 1), (1, 4), (1, 4), (1, 4)]);
    }

    #[test]
    fn nulls_first_are_outside_offset_frames_of_other_rows() {
        let k = keys(&[None, None, Some(1), Some(3)]);
        let p = Partition::new(&k, &k, &order(false, true));
        assert_eq!(p.non_null, (2, 4));
        let f = frame(
            FrameUnits::Range,
            Bound::Preceding(Offset::Value(Value::Int(5))),
            Bound::Following(Offset::Value(Value::Int(5))),
        );
        assert_eq!(all(&p, &f), vec![(0, 2), (0, 2), (2, 4), (2, 4)]);
        // UNBOUNDED takes them in.
        let f = frame(
            FrameUnits::Range,
            Bound::UnboundedPreceding,
            Bound::CurrentRow,
        );
        assert_eq!(all(&p, &f), vec![(0, 2), (0, 2), (0, 3), (0, 4)]);
    }

    #[test]
    fn range_offsets_saturate_at_the_ends_of_the_key_range() {
        let k = keys(&[Some(i64::MIN), Some(0), Some(i64::MAX)]);
        let p = Partition::new(&k, &k, &order(false, false));
        let f = frame(
            FrameUnits::Range,
            Bound::Preceding(Offset::Value(Value::Int(1))),
            Bound::Following(Offset::Value(Value::Int(1))),
        );
        assert_eq!(all(&p, &f), vec![(0, 1), (1, 2), (2, 3)]);
        let f = frame(
            FrameUnits::Range,
            Bound::Preceding(Offset::Value(Value::Int(i64::MAX))),
            Bound::CurrentRow,
        );
        // 0 - i64::MAX is i64::MIN + 1: i64::MIN lies just outside.
        assert_eq!(all(&p, &f), vec![(0, 1), (1, 2), (1, 3)]);
    }

    #[test]
    fn timestamps_shift_by_calendar_months_then_milliseconds() {
        let ms = |s: &str| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .map(|t| t.and_utc().timestamp_millis())
                .unwrap_or(0)
        };
        assert_eq!(
            shift_timestamp(ms("2024-03-31 12:00:00"), 1, 0, false),
            Some(ms("2024-02-29 12:00:00"))
        );
        assert_eq!(
            shift_timestamp(ms("2024-01-31 00:00:00"), 1, 3_600_000, true),
            Some(ms("2024-02-29 01:00:00"))
        );
        assert_eq!(shift_timestamp(i64::MAX, 0, 1, true), None);
        let k = keys(&[
            Some(ms("2024-01-01 00:00:00")),
            Some(ms("2024-01-15 00:00:00")),
            Some(ms("2024-02-10 00:00:00")),
        ]);
        let p = Partition::new(&k, &k, &order(false, false));
        let f = frame(
            FrameUnits::Range,
            Bound::Preceding(Offset::Interval {
                months: 1,
                millis: 0,
            }),
            Bound::CurrentRow,
        );
        assert_eq!(all(&p, &f), vec![(0, 1), (0, 2), (1, 3)]);
    }

    #[test]
    fn offsets_must_be_numbers_not_below_zero() {
        let ctx = EvalCtx::new(Vec::new());
        let lit = |v: Value| {
            FrameOffset::Value(crate::expr::Expr::Literal(
                v,
                crate::types::DataType::BigInt,
            ))
        };
        assert_eq!(
            offset(FrameUnits::Rows, &lit(Value::Int(2)), &ctx).ok(),
            Some(Offset::Rows(2))
        );
        assert!(offset(FrameUnits::Rows, &lit(Value::Int(-1)), &ctx).is_err());
        assert!(offset(FrameUnits::Rows, &lit(Value::Null), &ctx).is_err());
        assert!(offset(FrameUnits::Rows, &lit(Value::Float(1.5)), &ctx).is_err());
        assert!(offset(FrameUnits::Range, &lit(Value::Float(-0.5)), &ctx).is_err());
        assert!(offset(FrameUnits::Range, &lit(Value::Float(f64::NAN)), &ctx).is_err());
        assert_eq!(
            offset(FrameUnits::Range, &lit(Value::Float(0.5)), &ctx).ok(),
            Some(Offset::Value(Value::Float(0.5)))
        );
    }
}
