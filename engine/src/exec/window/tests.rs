//! Window functions against a naive reference: for random partitions,
//! `ORDER BY` keys with duplicates and NULLs, and random `ROWS` and `RANGE`
//! frames, every function is computed again row by row, the frame found by
//! testing every row of the partition against the frame's definition.

use std::cmp::Ordering;

use proptest::prelude::*;

use super::apply_windows;
use crate::expr::{AggCall, AggFunc, EvalCtx, Expr, Func};
use crate::planner::{
    FrameBound, FrameOffset, FrameUnits, WindowCall, WindowDefinition, WindowFrame, WindowFunc,
    WindowOrder,
};
use crate::types::{DataType, Row, Value};

/// A row: partition, key, value (columns 1 to 3; column 0 is its id).
type Input = (Option<i64>, Option<i64>, Option<i64>);

#[derive(Debug, Clone, Copy)]
enum Start {
    UnboundedPreceding,
    Preceding(i64),
    CurrentRow,
}

#[derive(Debug, Clone, Copy)]
enum End {
    CurrentRow,
    Following(i64),
    UnboundedFollowing,
}

#[derive(Debug, Clone)]
struct Case {
    rows: Vec<Input>,
    partitioned: bool,
    /// `ORDER BY key [DESC] [NULLS FIRST]`.
    order: Option<(bool, bool)>,
    units: FrameUnits,
    start: Start,
    end: End,
}

fn case() -> impl Strategy<Value = Case> {
    let value = |lo: i64, hi: i64| proptest::option::weighted(0.8, lo..hi);
    let start = prop_oneof![
        Just(Start::UnboundedPreceding),
        (0i64..4).prop_map(Start::Preceding),
        Just(Start::CurrentRow),
    ];
    let end = prop_oneof![
        Just(End::CurrentRow),
        (0i64..4).prop_map(End::Following),
        Just(End::UnboundedFollowing),
    ];
    (
        proptest::collection::vec((value(0, 3), value(0, 6), value(-20, 20)), 0..30),
        any::<bool>(),
        proptest::option::weighted(0.8, (any::<bool>(), any::<bool>())),
        any::<bool>(),
        start,
        end,
    )
        .prop_map(|(rows, partitioned, mut order, range, start, end)| {
            let offsets = matches!(start, Start::Preceding(_)) || matches!(end, End::Following(_));
            if range && offsets && order.is_none() {
                // RANGE offsets need an ORDER BY key.
                order = Some((false, false));
            }
            Case {
                rows,
                partitioned,
                order,
                units: if range {
                    FrameUnits::Range
                } else {
                    FrameUnits::Rows
                },
                start,
                end,
            }
        })
}

fn col(i: usize) -> Expr {
    Expr::Column(i, DataType::BigInt)
}

fn lit(i: i64) -> Expr {
    Expr::Literal(Value::Int(i), DataType::BigInt)
}

fn agg(func: AggFunc, args: Vec<Expr>, filter: Option<Expr>, ty: DataType) -> WindowFunc {
    WindowFunc::Aggregate(AggCall {
        func,
        args,
        distinct: false,
        filter,
        ty,
    })
}

/// The functions checked, with whether they ignore nulls.
fn functions() -> Vec<(WindowFunc, bool)> {
    let positive = Expr::Call {
        func: Func::Gt,
        args: vec![col(3), lit(0)],
        ty: DataType::Boolean,
    };
    let lag = |offset: Option<Expr>, default: Option<Expr>| WindowFunc::Lag {
        arg: col(3),
        offset,
        default,
    };
    let lead = |offset: Option<Expr>, default: Option<Expr>| WindowFunc::Lead {
        arg: col(3),
        offset,
        default,
    };
    vec![
        (
            agg(AggFunc::Sum, vec![col(3)], None, DataType::BigInt),
            false,
        ),
        (
            agg(AggFunc::Count, vec![col(3)], None, DataType::BigInt),
            false,
        ),
        (
            agg(AggFunc::CountStar, vec![], None, DataType::BigInt),
            false,
        ),
        (
            agg(
                AggFunc::Count,
                vec![col(3)],
                Some(positive.clone()),
                DataType::BigInt,
            ),
            false,
        ),
        (
            agg(AggFunc::Min, vec![col(3)], None, DataType::BigInt),
            false,
        ),
        (
            agg(AggFunc::Max, vec![col(3)], None, DataType::BigInt),
            false,
        ),
        (
            agg(AggFunc::Max, vec![col(3)], Some(positive), DataType::BigInt),
            false,
        ),
        (
            agg(AggFunc::Avg, vec![col(3)], None, DataType::Double),
            false,
        ),
        (
            agg(
                AggFunc::ArrayAgg,
                vec![col(3)],
                None,
                DataType::Array(Box::new(DataType::BigInt)),
            ),
            false,
        ),
        (WindowFunc::RowNumber, false),
        (WindowFunc::Rank, false),
        (WindowFunc::DenseRank, false),
        (WindowFunc::PercentRank, false),
        (WindowFunc::CumeDist, false),
        (WindowFunc::Ntile(lit(3)), false),
        (lag(None, None), false),
        (lag(Some(lit(2)), Some(lit(99))), false),
        (lag(Some(lit(-1)), None), false),
        (lag(None, None), true),
        (lead(None, None), false),
        (lead(Some(lit(2)), Some(lit(99))), false),
        (lead(Some(lit(2)), None), true),
        (WindowFunc::FirstValue(col(3)), false),
        (WindowFunc::FirstValue(col(3)), true),
        (WindowFunc::LastValue(col(3)), false),
        (WindowFunc::LastValue(col(3)), true),
        (WindowFunc::NthValue(col(3), lit(2)), false),
        (WindowFunc::NthValue(col(3), lit(2)), true),
    ]
}

fn calls(c: &Case) -> Vec<WindowCall> {
    let offset = |k: i64| FrameOffset::Value(lit(k));
    let window = WindowDefinition {
        partition_by: if c.partitioned { vec![col(1)] } else { vec![] },
        order_by: c
            .order
            .map(|(desc, nulls_first)| WindowOrder {
                expr: col(2),
                desc,
                nulls_first,
            })
            .into_iter()
            .collect(),
        frame: WindowFrame {
            units: c.units,
            start: match c.start {
                Start::UnboundedPreceding => FrameBound::UnboundedPreceding,
                Start::Preceding(k) => FrameBound::Preceding(offset(k)),
                Start::CurrentRow => FrameBound::CurrentRow,
            },
            end: match c.end {
                End::CurrentRow => FrameBound::CurrentRow,
                End::Following(k) => FrameBound::Following(offset(k)),
                End::UnboundedFollowing => FrameBound::UnboundedFollowing,
            },
        },
    };
    functions()
        .into_iter()
        .map(|(func, ignore_nulls)| WindowCall {
            func,
            ignore_nulls,
            window: window.clone(),
            ty: DataType::BigInt,
        })
        .collect()
}

/// Compares keys as a sort does: `desc`, and NULLs first or last.
fn compare(a: Option<i64>, b: Option<i64>, desc: bool, nulls_first: bool) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) if nulls_first => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) if nulls_first => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) if desc => y.cmp(&x),
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

fn int(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::Int)
}

/// The expected output: the rows in the window's sort order, each with
/// every function's value, computed the slow way.
fn reference(c: &Case) -> Vec<Row> {
    let rows = &c.rows;
    let partition = |a: usize, b: usize| {
        if c.partitioned {
            compare(rows[a].0, rows[b].0, false, false)
        } else {
            Ordering::Equal
        }
    };
    let order = |a: usize, b: usize| match c.order {
        Some((desc, nulls_first)) => compare(rows[a].1, rows[b].1, desc, nulls_first),
        None => Ordering::Equal,
    };
    let mut sorted: Vec<usize> = (0..rows.len()).collect();
    sorted.sort_by(|&a, &b| partition(a, b).then(order(a, b)));
    let (desc, nulls_first) = c.order.unwrap_or((false, false));
    let mut out = Vec::new();
    for &id in &sorted {
        let p: Vec<usize> = sorted
            .iter()
            .copied()
            .filter(|&j| partition(j, id) == Ordering::Equal)
            .collect();
        let n = p.len();
        let i = p.iter().position(|&j| j == id).unwrap_or(0);
        let key = |j: usize| rows[p[j]].1.map(i128::from);
        let val = |j: usize| rows[p[j]].2;
        let in_frame = |j: usize| {
            let rel = order(p[j], p[i]);
            let rows_mode = c.units == FrameUnits::Rows;
            let starts = match c.start {
                Start::UnboundedPreceding => true,
                Start::CurrentRow if rows_mode => j >= i,
                Start::CurrentRow => rel != Ordering::Less,
                Start::Preceding(k) if rows_mode => j as i64 + k >= i as i64,
                Start::Preceding(k) => match (key(i), key(j)) {
                    (None, _) => rel != Ordering::Less,
                    (Some(_), None) => !nulls_first,
                    (Some(ki), Some(kj)) if desc => kj <= ki + i128::from(k),
                    (Some(ki), Some(kj)) => kj >= ki - i128::from(k),
                },
            };
            let ends = match c.end {
                End::UnboundedFollowing => true,
                End::CurrentRow if rows_mode => j <= i,
                End::CurrentRow => rel != Ordering::Greater,
                End::Following(k) if rows_mode => j as i64 <= i as i64 + k,
                End::Following(k) => match (key(i), key(j)) {
                    (None, _) => rel != Ordering::Greater,
                    (Some(_), None) => nulls_first,
                    (Some(ki), Some(kj)) if desc => kj >= ki - i128::from(k),
                    (Some(ki), Some(kj)) => kj <= ki + i128::from(k),
                },
            };
            starts && ends
        };
        let frame: Vec<usize> = (0..n).filter(|&j| in_frame(j)).collect();
        let values: Vec<Option<i64>> = frame.iter().map(|&j| val(j)).collect();
        let present: Vec<i64> = values.iter().flatten().copied().collect();
        let rank = 1
            + (0..n)
                .filter(|&j| order(p[j], p[i]) == Ordering::Less)
                .count();
        let dense = (0..=i)
            .filter(|&j| j == 0 || order(p[j - 1], p[j]) != Ordering::Equal)
            .count();
        let peers_up_to = (0..n)
            .filter(|&j| order(p[j], p[i]) != Ordering::Greater)
            .count();
        let ntile = {
            let (per, larger) = (n / 3, n % 3);
            let mut bucket = 0;
            let mut seen = 0;
            for b in 0..3 {
                let size = per + usize::from(b < larger);
                if i < seen + size {
                    bucket = b + 1;
                    break;
                }
                seen += size;
            }
            bucket as i64
        };
        let back = |steps: usize| i.checked_sub(steps).map(val);
        let ahead = |steps: usize| (i + steps < n).then(|| val(i + steps));
        let back_present = (0..i).rev().map(val).find(Option::is_some).flatten();
        let ahead_present = (i + 1..n).filter_map(val).nth(1);
        let mut row = vec![
            Value::Int(id as i64),
            int(rows[id].0),
            int(rows[id].1),
            int(rows[id].2),
        ];
        row.extend([
            if present.is_empty() {
                Value::Null
            } else {
                Value::Int(present.iter().sum())
            },
            Value::Int(present.len() as i64),
            Value::Int(frame.len() as i64),
            Value::Int(present.iter().filter(|&&v| v > 0).count() as i64),
            int(present.iter().min().copied()),
            int(present.iter().max().copied()),
            int(present.iter().filter(|&&v| v > 0).max().copied()),
            if present.is_empty() {
                Value::Null
            } else {
                Value::Float(present.iter().sum::<i64>() as f64 / present.len() as f64)
            },
            if values.is_empty() {
                Value::Null
            } else {
                Value::Array(values.iter().map(|v| int(*v)).collect())
            },
            Value::Int(i as i64 + 1),
            Value::Int(rank as i64),
            Value::Int(dense as i64),
            Value::Float(if n > 1 {
                (rank - 1) as f64 / (n - 1) as f64
            } else {
                0.0
            }),
            Value::Float(peers_up_to as f64 / n as f64),
            Value::Int(ntile),
            int(back(1).flatten()),
            back(2).map_or(Value::Int(99), int),
            int(ahead(1).flatten()),
            int(back_present),
            int(ahead(1).flatten()),
            ahead(2).map_or(Value::Int(99), int),
            int(ahead_present),
            int(values.first().copied().flatten()),
            int(present.first().copied()),
            int(values.last().copied().flatten()),
            int(present.last().copied()),
            int(values.get(1).copied().flatten()),
            int(present.get(1).copied()),
        ]);
        out.push(row);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn window_functions_agree_with_a_naive_reference(c in case()) {
        let mut rows: Vec<Row> = c
            .rows
            .iter()
            .enumerate()
            .map(|(id, r)| vec![Value::Int(id as i64), int(r.0), int(r.1), int(r.2)])
            .collect();
        let calls = calls(&c);
        let outcome = apply_windows(&mut rows, &calls, &EvalCtx::new(Vec::new()));
        prop_assert!(outcome.is_ok(), "{:?}", outcome);
        prop_assert_eq!(rows, reference(&c));
    }
}
