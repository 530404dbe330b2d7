//! Row-set operations the handler applies after collecting: sorting,
//! de-duplication, limits.

use std::cmp::Ordering;
use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::expr::{EvalCtx, Expr};
use crate::planner::SortKey;
use crate::types::{Row, Value};

/// Compares two rows by sort keys (NULLS FIRST/LAST respected).
pub fn compare_rows(a: &[Value], b: &[Value], keys: &[SortKey]) -> Ordering {
    for k in keys {
        let (x, y) = (&a[k.index], &b[k.index]);
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if k.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if k.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, false) => {
                let o = x.total_cmp(y);
                if k.desc { o.reverse() } else { o }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Sorts rows in place (stable).
pub fn sort_rows(rows: &mut [Row], keys: &[SortKey]) {
    if !keys.is_empty() {
        rows.sort_by(|a, b| compare_rows(a, b, keys));
    }
}

/// Sorts rows, but when only the first `n` are wanted, selects them first and
/// sorts only those (a top-N).
pub fn top_n(rows: &mut Vec<Row>, keys: &[SortKey], n: Option<usize>) {
    if keys.is_empty() {
        return;
    }
    match n {
        Some(n) if n < rows.len() / 2 => {
            if n == 0 {
                rows.clear();
                return;
            }
            rows.select_nth_unstable_by(n - 1, |a, b| compare_rows(a, b, keys));
            rows.truncate(n);
            sort_rows(rows, keys);
        }
        _ => sort_rows(rows, keys),
    }
}

/// Removes duplicate rows, keeping the first of each.
pub fn distinct(rows: Vec<Row>) -> Vec<Row> {
    let mut seen = HashSet::with_capacity(rows.len());
    rows.into_iter()
        .filter(|r| seen.insert(r.clone()))
        .collect()
}

/// Evaluates a LIMIT or OFFSET expression.
pub fn eval_count(e: Option<&Expr>, ctx: &EvalCtx) -> Result<Option<usize>> {
    let Some(e) = e else { return Ok(None) };
    match e.eval(&[], ctx)? {
        Value::Null => Ok(None),
        Value::Int(n) if n >= 0 => Ok(Some(n as usize)),
        other => Err(Error::InvalidArgument(format!(
            "LIMIT and OFFSET must be non-negative integers, got {}",
            crate::types::cast::literal(&other)
        ))),
    }
}

/// Applies OFFSET and LIMIT.
pub fn apply_limit(rows: Vec<Row>, offset: usize, limit: Option<usize>) -> Vec<Row> {
    let it = rows.into_iter().skip(offset);
    match limit {
        Some(l) => it.take(l).collect(),
        None => it.collect(),
    }
}
