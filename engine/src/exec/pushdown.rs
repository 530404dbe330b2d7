//! Filter push-down: the parts of a WHERE clause that tantivy can answer
//! from its index (equality, ranges, IN, IS [NOT] NULL and their AND/OR
//! combinations) become a tantivy query; the rest stays a residual
//! expression evaluated per row.

use std::ops::Bound;

use tantivy::query::EnableScoring;
use tantivy::query::{AllQuery, BooleanQuery, ExistsQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocSet, TERMINATED, Term};

use crate::error::Result;
use crate::expr::{EvalCtx, Expr, Func};
use crate::planner::ScanColumn;
use crate::storage::document::column_path;
use crate::storage::document::shard_schema;
use crate::types::{DataType, Value};

/// A filter split into an index query and a residual predicate.
pub struct SplitFilter {
    pub query: Option<Box<dyn Query>>,
    pub residual: Option<Expr>,
}

/// Splits `filter` over `scan` rows.
pub fn split(filter: Option<&Expr>, scan: &[ScanColumn], ctx: &EvalCtx) -> SplitFilter {
    let Some(filter) = filter else {
        return SplitFilter {
            query: None,
            residual: None,
        };
    };
    let conjuncts: Vec<&Expr> = match filter {
        Expr::And(items) => items.iter().collect(),
        other => vec![other],
    };
    // A range over a fast column is answered by scanning the column, which
    // costs as much as the segment is large. When a term (equality, IN) also
    // narrows the rows, evaluating the range on those few rows is far cheaper.
    let has_term = conjuncts
        .iter()
        .any(|c| is_term_predicate(c) && to_query(c, scan, ctx).is_some());
    let mut queries: Vec<Box<dyn Query>> = Vec::new();
    let mut residual: Vec<Expr> = Vec::new();
    for c in conjuncts {
        if has_term && is_range_predicate(c) {
            residual.push(c.clone());
            continue;
        }
        match to_query(c, scan, ctx) {
            Some(q) => queries.push(q),
            None => residual.push(c.clone()),
        }
    }
    let query: Option<Box<dyn Query>> = match queries.len() {
        0 => None,
        1 => queries.pop(),
        _ => Some(Box::new(BooleanQuery::new(
            queries.into_iter().map(|q| (Occur::Must, q)).collect(),
        ))),
    };
    let residual = match residual.len() {
        0 => None,
        1 => residual.pop(),
        _ => Some(Expr::And(residual)),
    };
    SplitFilter { query, residual }
}

fn is_term_predicate(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Call { func: Func::Eq, .. } | Expr::InList { negated: false, .. }
    )
}

fn is_range_predicate(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Call {
            func: Func::Lt | Func::LtEq | Func::Gt | Func::GtEq,
            ..
        }
    )
}

/// A constant's value (literals, parameters, casts of those).
fn constant(e: &Expr, ctx: &EvalCtx) -> Option<Value> {
    if !e.is_constant() {
        return None;
    }
    e.eval(&[], ctx).ok()
}

/// The indexed term of a scalar column for `v`, if its kind matches how the column is stored.
fn term_for(col: &ScanColumn, v: &Value) -> Option<Term> {
    let schema = shard_schema();
    match col {
        ScanColumn::User { name, ty } if ty.is_scalar() => {
            let mut term = Term::from_field_json_path(schema.doc, name, false);
            match (ty, v) {
                (t, Value::Int(i))
                    if t.is_integral() || matches!(t, DataType::Timestamp { .. }) =>
                {
                    term.append_type_and_fast_value(*i)
                }
                (DataType::Real | DataType::Double, Value::Float(f)) => {
                    term.append_type_and_fast_value(*f)
                }
                (DataType::Real | DataType::Double, Value::Int(i)) => {
                    term.append_type_and_fast_value(*i as f64)
                }
                (DataType::Boolean, Value::Bool(b)) => term.append_type_and_fast_value(*b),
                (DataType::Text, Value::Text(s)) => term.append_type_and_str(s),
                _ => return None,
            }
            Some(term)
        }
        _ => None,
    }
}

fn is_range_type(col: &ScanColumn) -> bool {
    matches!(col, ScanColumn::User { ty, .. } if ty.is_numeric() || matches!(ty, DataType::Timestamp { .. }))
}

fn column<'a>(e: &Expr, scan: &'a [ScanColumn]) -> Option<&'a ScanColumn> {
    match e {
        Expr::Column(i, _) => scan.get(*i),
        _ => None,
    }
}

fn exists(col: &ScanColumn) -> Option<Box<dyn Query>> {
    match col {
        ScanColumn::User { name, ty } if ty.is_scalar() => {
            let path = column_path(name, &[]);
            Some(Box::new(ExistsQuery::new(path, false)))
        }
        _ => None,
    }
}

fn to_query(e: &Expr, scan: &[ScanColumn], ctx: &EvalCtx) -> Option<Box<dyn Query>> {
    match e {
        Expr::Call { func, args, .. } if args.len() == 2 => {
            let (col, val, flipped) = match (column(&args[0], scan), column(&args[1], scan)) {
                (Some(c), None) => (c, constant(&args[1], ctx)?, false),
                (None, Some(c)) => (c, constant(&args[0], ctx)?, true),
                _ => return None,
            };
            if val.is_null() {
                return None;
            }
            let func = if flipped {
                match func {
                    Func::Lt => Func::Gt,
                    Func::LtEq => Func::GtEq,
                    Func::Gt => Func::Lt,
                    Func::GtEq => Func::LtEq,
                    other => *other,
                }
            } else {
                *func
            };
            match func {
                Func::Eq => Some(Box::new(TermQuery::new(
                    term_for(col, &val)?,
                    IndexRecordOption::Basic,
                ))),
                Func::NotEq => {
                    let term = term_for(col, &val)?;
                    Some(Box::new(BooleanQuery::new(vec![
                        (Occur::Must, exists(col)?),
                        (
                            Occur::MustNot,
                            Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
                        ),
                    ])))
                }
                Func::Lt | Func::LtEq | Func::Gt | Func::GtEq if is_range_type(col) => {
                    let term = term_for(col, &val)?;
                    let (lo, hi) = match func {
                        Func::Lt => (Bound::Unbounded, Bound::Excluded(term)),
                        Func::LtEq => (Bound::Unbounded, Bound::Included(term)),
                        Func::Gt => (Bound::Excluded(term), Bound::Unbounded),
                        _ => (Bound::Included(term), Bound::Unbounded),
                    };
                    Some(Box::new(RangeQuery::new(lo, hi)))
                }
                _ => None,
            }
        }
        Expr::InList {
            expr,
            list,
            negated: false,
        } => {
            let col = column(expr, scan)?;
            let mut terms = Vec::with_capacity(list.len());
            for item in list {
                let v = constant(item, ctx)?;
                if v.is_null() {
                    continue;
                }
                terms.push(term_for(col, &v)?);
            }
            if terms.is_empty() {
                return None;
            }
            Some(Box::new(BooleanQuery::new(
                terms
                    .into_iter()
                    .map(|t| {
                        (
                            Occur::Should,
                            Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn Query>,
                        )
                    })
                    .collect(),
            )))
        }
        Expr::IsNull { expr, negated } => {
            let col = column(expr, scan)?;
            let ex = exists(col)?;
            if *negated {
                Some(ex)
            } else {
                Some(Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(AllQuery)),
                    (Occur::MustNot, ex),
                ])))
            }
        }
        Expr::And(items) => {
            let qs: Option<Vec<Box<dyn Query>>> =
                items.iter().map(|i| to_query(i, scan, ctx)).collect();
            Some(Box::new(BooleanQuery::new(
                qs?.into_iter().map(|q| (Occur::Must, q)).collect(),
            )))
        }
        Expr::Or(items) => {
            let qs: Option<Vec<Box<dyn Query>>> =
                items.iter().map(|i| to_query(i, scan, ctx)).collect();
            Some(Box::new(BooleanQuery::new(
                qs?.into_iter().map(|q| (Occur::Should, q)).collect(),
            )))
        }
        _ => None,
    }
}

/// Iterates the matching live documents of a segment.
pub fn for_each_doc(
    segment: &crate::storage::segment::Segment,
    alive: &crate::storage::segment::AliveSet,
    weight: Option<&dyn tantivy::query::Weight>,
    mut f: impl FnMut(u32) -> Result<bool>,
) -> Result<()> {
    match weight {
        None => {
            for doc in alive.iter() {
                if !f(doc)? {
                    break;
                }
            }
        }
        Some(weight) => {
            let mut scorer = weight.scorer(&segment.reader, 1.0)?;
            let mut doc = scorer.doc();
            while doc != TERMINATED {
                if alive.is_alive(doc) && !f(doc)? {
                    break;
                }
                doc = scorer.advance();
            }
        }
    }
    Ok(())
}

/// The weight of a pushed-down query, built once for all segments.
pub fn weight_of(
    query: Option<&dyn tantivy::query::Query>,
) -> Result<Option<Box<dyn tantivy::query::Weight>>> {
    match query {
        Some(q) => Ok(Some(q.weight(EnableScoring::disabled_from_schema(
            &shard_schema().schema,
        ))?)),
        None => Ok(None),
    }
}
