//! Row estimates: how many rows each operator of a plan is expected to
//! produce, from the statistics `ANALYZE` collected ([`crate::stats`]).
//! EXPLAIN prints them (`(rows=N)`, or `unknown` for a table never
//! analyzed), as CrateDB does.
//!
//! The rules are CrateDB's, which follow PostgreSQL's `clausesel.c`: a
//! table yields its row count; a filter keeps the share its condition
//! selects — `col = value` the value's frequency among the most common
//! values or an equal share of the rest, `a = b` one over the larger
//! number of distinct values, `IS NULL` the share of NULLs, comparisons
//! what the common values and the histogram say, `AND` the product, `OR`
//! the union; anything else a third. A cross join yields the product of
//! its inputs, another join the larger input times the condition's share;
//! a global aggregate one row, a grouped one at most the distinct
//! combinations of its keys; a limit at most its count.

use std::cmp::Ordering;

use super::plan::{QueryPlan, SelectPlan, SetOp, Source};
use crate::catalog::Catalog;
use crate::expr::{Expr, Func};
use crate::stats::ColumnStats;
use crate::types::Value;

/// The share an equality is assumed to select without statistics.
const DEFAULT_EQ: f64 = 0.005;
/// The share any other condition is assumed to select without statistics.
const DEFAULT: f64 = 0.333;

/// An operator's expected output: its row count, when known, and the
/// statistics of each of its columns that come straight from a table.
#[derive(Debug, Clone, Default)]
pub struct Estimate {
    pub rows: Option<u64>,
    columns: Vec<Option<ColumnStats>>,
}

impl Estimate {
    fn unknown(width: usize) -> Estimate {
        Estimate {
            rows: None,
            columns: vec![None; width],
        }
    }

    fn with_rows(&self, rows: Option<u64>) -> Estimate {
        Estimate {
            rows,
            columns: self.columns.clone(),
        }
    }

    /// The rows a condition keeps of these (unknown stays unknown).
    pub fn filtered(&self, condition: Option<&Expr>) -> Estimate {
        match condition {
            Some(c) => self.with_rows(
                self.rows
                    .map(|n| (n as f64 * selectivity(c, &self.columns)) as u64),
            ),
            None => self.clone(),
        }
    }

    /// `(rows=N)` as EXPLAIN prints it.
    pub fn label(&self) -> String {
        match self.rows {
            Some(n) => format!("(rows={n})"),
            None => "(rows=unknown)".into(),
        }
    }
}

/// The expected output of each step of a SELECT, bottom up.
pub struct SelectEstimates {
    /// The source's rows, before the SELECT's filter.
    pub source: Estimate,
    /// After the filter.
    pub filtered: Estimate,
    /// After aggregation (the filtered rows without one).
    pub aggregated: Estimate,
    /// After HAVING.
    pub having: Estimate,
    /// After LIMIT: the SELECT's output.
    pub output: Estimate,
}

/// The expected output of a query (unknown past the stack's budget: the
/// estimate recurses along the plan).
pub fn query(plan: &QueryPlan, catalog: &Catalog) -> Estimate {
    if crate::limits::check_stack().is_err() {
        return Estimate::unknown(plan.names().len());
    }
    match plan {
        QueryPlan::Select(s) => select(s, catalog).output,
        QueryPlan::SetOp {
            op,
            left,
            right,
            limit,
            ..
        } => {
            let (l, r) = (query(left, catalog), query(right, catalog));
            let rows = match op {
                SetOp::Union => l.rows.zip(r.rows).map(|(a, b)| a + b),
                SetOp::Except | SetOp::Intersect => l.rows,
            };
            let out = Estimate::unknown(l.columns.len()).with_rows(rows);
            limited(out, limit.as_ref())
        }
    }
}

/// The expected output of each step of a SELECT.
pub fn select(s: &SelectPlan, catalog: &Catalog) -> SelectEstimates {
    let source = source(&s.source, s.source_width, catalog);
    let filtered = source.filtered(s.filter.as_ref());
    let aggregated = match &s.aggregation {
        None => filtered.clone(),
        Some(agg) if agg.keys.is_empty() => Estimate::unknown(agg.aggs.len()).with_rows(Some(1)),
        Some(agg) => {
            // At most the distinct combinations of the keys (when every key
            // is a column with statistics), and at most the rows.
            let distinct = agg.keys.iter().try_fold(1.0f64, |acc, k| match k {
                Expr::Column(i, _) => filtered
                    .columns
                    .get(*i)
                    .and_then(Option::as_ref)
                    .map(|c| acc * c.distinct.max(1.0)),
                _ => None,
            });
            let rows = match (filtered.rows, distinct) {
                (Some(n), Some(d)) => Some((n as f64).min(d) as u64),
                (n, _) => n,
            };
            let mut out = Estimate::unknown(agg.keys.len() + agg.aggs.len());
            for (slot, k) in out.columns.iter_mut().zip(&agg.keys) {
                if let Expr::Column(i, _) = k {
                    *slot = filtered.columns.get(*i).cloned().flatten();
                }
            }
            out.with_rows(rows)
        }
    };
    let having = aggregated.filtered(s.having.as_ref());
    // Windows, projection, DISTINCT and ORDER BY keep the row count; the
    // output's columns are the projected ones.
    let mut output = Estimate::unknown(s.outputs.len()).with_rows(having.rows);
    for (slot, e) in output.columns.iter_mut().zip(&s.outputs) {
        if let Expr::Column(i, _) = e {
            *slot = having.columns.get(*i).cloned().flatten();
        }
    }
    let output = limited(output, s.limit.as_ref());
    SelectEstimates {
        source,
        filtered,
        aggregated,
        having,
        output,
    }
}

fn limited(e: Estimate, limit: Option<&Expr>) -> Estimate {
    match (e.rows, limit) {
        (Some(n), Some(Expr::Literal(Value::Int(l), _))) if (*l as u64) < n => {
            e.with_rows(Some((*l).max(0) as u64))
        }
        _ => e,
    }
}

/// The expected rows of a source, before the SELECT's filter.
pub fn source(source: &Source, width: usize, catalog: &Catalog) -> Estimate {
    match source {
        Source::Table { table, scan } => match catalog.stats(&table.ident) {
            Some(stats) => Estimate {
                rows: Some(stats.num_docs),
                columns: scan
                    .iter()
                    .map(|c| stats.columns.get(&super::join::scan_name(c)).cloned())
                    .collect(),
            },
            None => Estimate::unknown(scan.len()),
        },
        Source::Empty => Estimate::unknown(width).with_rows(Some(1)),
        Source::Values(rows) => Estimate::unknown(width).with_rows(Some(rows.len() as u64)),
        Source::System(_) | Source::Unnest(_) | Source::Series { .. } => Estimate::unknown(width),
        Source::Query(q) => query(q, catalog),
        Source::Join(j) => {
            let (l, r) = (query(&j.left, catalog), query(&j.right, catalog));
            let rows = l.rows.zip(r.rows).map(|(a, b)| match j.condition {
                None => a * b,
                Some(_) => a.max(b),
            });
            let mut columns = l.columns;
            columns.extend(r.columns);
            Estimate { rows, columns }.filtered(j.condition.as_ref())
        }
        Source::Apply(a) => {
            let input = query(&a.input, catalog);
            let mut columns = input.columns;
            columns.resize(width, None);
            Estimate {
                rows: input.rows,
                columns,
            }
        }
    }
}

/// The share of rows `condition` keeps, given the rows' column statistics.
pub fn selectivity(condition: &Expr, columns: &[Option<ColumnStats>]) -> f64 {
    let column = |e: &Expr| match e {
        Expr::Column(i, _) => columns.get(*i).and_then(Option::as_ref),
        Expr::Cast { expr, .. } => match expr.as_ref() {
            Expr::Column(i, _) => columns.get(*i).and_then(Option::as_ref),
            _ => None,
        },
        _ => None,
    };
    let constant = |e: &Expr| match e {
        Expr::Literal(v, _) => Some(v.clone()),
        _ => None,
    };
    match condition {
        Expr::Literal(Value::Bool(b), _) => f64::from(u8::from(*b)),
        Expr::Literal(Value::Null, _) => 0.0,
        Expr::And(items) => items.iter().map(|c| selectivity(c, columns)).product(),
        Expr::Or(items) => items.iter().fold(0.0, |acc, c| {
            let s = selectivity(c, columns);
            acc + s - acc * s
        }),
        Expr::Not(inner) => 1.0 - selectivity(inner, columns),
        Expr::IsNull { expr, negated } => match column(expr) {
            Some(c) if *negated => 1.0 - c.null_fraction,
            Some(c) => c.null_fraction,
            None => DEFAULT,
        },
        Expr::Call {
            func: Func::Eq,
            args,
            ..
        } if args.len() == 2 => {
            let (a, b) = (&args[0], &args[1]);
            match (column(a), column(b)) {
                (Some(x), Some(y)) => {
                    let distinct = x.distinct.max(y.distinct).max(1.0);
                    (1.0 - x.null_fraction) * (1.0 - y.null_fraction) / distinct
                }
                (Some(c), None) | (None, Some(c)) => {
                    let other = if column(a).is_some() { b } else { a };
                    match constant(other) {
                        Some(v) => c.eq_selectivity(&v),
                        None => 1.0 / c.distinct.max(1.0),
                    }
                }
                (None, None) => DEFAULT_EQ,
            }
        }
        Expr::Call {
            func: func @ (Func::Lt | Func::LtEq | Func::Gt | Func::GtEq),
            args,
            ..
        } if args.len() == 2 => match (column(&args[0]), constant(&args[1])) {
            (Some(c), Some(v)) => range_selectivity(c, *func, &v),
            _ => match (constant(&args[0]), column(&args[1])) {
                (Some(v), Some(c)) => range_selectivity(c, flip(*func), &v),
                _ => DEFAULT,
            },
        },
        _ => DEFAULT,
    }
}

/// `v op col` as `col op' v`.
fn flip(f: Func) -> Func {
    match f {
        Func::Lt => Func::Gt,
        Func::LtEq => Func::GtEq,
        Func::Gt => Func::Lt,
        Func::GtEq => Func::LtEq,
        other => other,
    }
}

/// The share of rows where `column op value`: the common values that
/// satisfy it, plus the histogram's share of the rest.
fn range_selectivity(c: &ColumnStats, op: Func, value: &Value) -> f64 {
    if value.is_null() {
        return 0.0;
    }
    let holds = |v: &Value| {
        let ord = v.total_cmp(value);
        match op {
            Func::Lt => ord == Ordering::Less,
            Func::LtEq => ord != Ordering::Greater,
            Func::Gt => ord == Ordering::Greater,
            _ => ord != Ordering::Less,
        }
    };
    let common: f64 = c
        .most_common
        .iter()
        .zip(&c.most_common_freqs)
        .filter(|(v, _)| holds(v))
        .map(|(_, f)| f)
        .sum();
    let rest = (1.0 - c.null_fraction - c.most_common_freqs.iter().sum::<f64>()).max(0.0);
    let share = if c.histogram.len() >= 2 {
        let groups = (c.histogram.len() - 1) as f64;
        // The groups whose both bounds satisfy the condition.
        let below = c.histogram.iter().filter(|b| holds(b)).count() as f64;
        (below - 0.5).clamp(0.0, groups) / groups
    } else if c.most_common.is_empty() {
        DEFAULT
    } else {
        0.0
    };
    (common + rest * share).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::DataType;

    fn col(i: usize) -> Expr {
        Expr::Column(i, DataType::Integer)
    }

    fn int(v: i64) -> Expr {
        Expr::Literal(Value::Int(v), DataType::Integer)
    }

    fn call(func: Func, a: Expr, b: Expr) -> Expr {
        Expr::Call {
            func,
            args: vec![a, b],
            ty: DataType::Boolean,
        }
    }

    /// A column of 1..=n, each value once.
    fn unique(n: i64) -> ColumnStats {
        let values: Vec<Value> = (1..=n).map(Value::Int).collect();
        ColumnStats::from_sample(&values, n as u64)
    }

    #[test]
    fn equalities_use_common_values_and_distinct_counts() {
        // 1 in half the rows, 2..=6 once each.
        let mut values = vec![Value::Int(1); 5];
        values.extend((2..=6).map(Value::Int));
        let skewed = ColumnStats::from_sample(&values, 10);
        let columns = vec![Some(skewed), Some(unique(6))];
        assert_eq!(selectivity(&call(Func::Eq, col(0), int(1)), &columns), 0.5);
        // The rest share what 1 leaves: 0.5 over the 5 other values.
        assert_eq!(selectivity(&call(Func::Eq, col(0), int(3)), &columns), 0.1);
        // The value first: the same.
        assert_eq!(selectivity(&call(Func::Eq, int(1), col(0)), &columns), 0.5);
        // Two columns: one over the larger distinct count.
        assert_eq!(
            selectivity(&call(Func::Eq, col(0), col(1)), &columns),
            1.0 / 6.0
        );
        // Without statistics: the defaults.
        assert_eq!(
            selectivity(&call(Func::Eq, col(5), int(1)), &columns),
            DEFAULT_EQ
        );
        assert_eq!(
            selectivity(&call(Func::Lt, col(5), int(1)), &columns),
            DEFAULT
        );
    }

    #[test]
    fn ranges_read_the_histogram_and_logic_combines() {
        let columns = vec![Some(unique(100))];
        let below = selectivity(&call(Func::Lt, col(0), int(51)), &columns);
        assert!((0.45..=0.55).contains(&below), "{below}");
        let above = selectivity(&call(Func::Gt, int(51), col(0)), &columns);
        assert_eq!(above, below, "`51 > x` is `x < 51`");
        let none = selectivity(&call(Func::Gt, col(0), int(1000)), &columns);
        assert_eq!(none, 0.0);
        let half = call(Func::Lt, col(0), int(51));
        let and = selectivity(&Expr::And(vec![half.clone(), half.clone()]), &columns);
        assert!((and - below * below).abs() < 1e-9);
        let or = selectivity(&Expr::Or(vec![half.clone(), half.clone()]), &columns);
        assert!((or - (2.0 * below - below * below)).abs() < 1e-9);
        let not = selectivity(&Expr::Not(Box::new(half)), &columns);
        assert!((not - (1.0 - below)).abs() < 1e-9);
        let nulls = Expr::IsNull {
            expr: Box::new(col(0)),
            negated: false,
        };
        assert_eq!(selectivity(&nulls, &columns), 0.0);
    }

    #[test]
    fn filters_scale_rows_and_unknown_stays_unknown() {
        let known = Estimate {
            rows: Some(108),
            columns: vec![Some(unique(6)), Some(unique(6))],
        };
        let eq = call(Func::Eq, col(0), int(2));
        assert_eq!(known.filtered(Some(&eq)).rows, Some(18));
        assert_eq!(known.filtered(None).rows, Some(108));
        assert_eq!(known.filtered(Some(&eq)).label(), "(rows=18)");
        let unknown = Estimate::unknown(2);
        assert_eq!(unknown.filtered(Some(&eq)).rows, None);
        assert_eq!(unknown.label(), "(rows=unknown)");
        let limit = Expr::Literal(Value::Int(5), DataType::BigInt);
        assert_eq!(limited(known.clone(), Some(&limit)).rows, Some(5));
        assert_eq!(limited(unknown, Some(&limit)).rows, None);
    }
}
