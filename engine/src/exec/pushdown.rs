//! Filter push-down: the parts of a WHERE clause that tantivy can answer
//! from its index (equality, ranges, IN, IS [NOT] NULL, MATCH and NOT
//! MATCH, and their AND/OR combinations) become a tantivy query; the rest
//! stays a residual expression evaluated per row.
//!
//! When the query is scored (it has a MATCH that is not negated, and the
//! statement reads `_score`), only MATCH predicates score: every other
//! part is a filter scoring 0. A row's `_score` is then the sum of its
//! MATCH scores, or 1.0 when nothing scores.

use std::collections::HashMap;
use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, EnableScoring, ExistsQuery, Occur, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocSet, TERMINATED, Term};

use super::search::SearchCtx;
use crate::error::{Error, Result};
use crate::expr::{EvalCtx, Expr, Func, MatchPredicate};
use crate::planner::ScanColumn;
use crate::storage::document::column_path;
use crate::storage::document::shard_schema;
use crate::types::{DataType, Value};

/// A filter split into an index query and a residual predicate.
pub struct SplitFilter {
    pub query: Option<Box<dyn Query>>,
    pub residual: Option<Expr>,
    /// The query scores: it has a MATCH not under NOT, and `_score` is read.
    pub scored: bool,
    /// MATCH predicates the residual still holds (e.g. ORed with a LIKE):
    /// the residual reads whether a document matches the `i`-th from the
    /// column after the scan's (`scan.len() + i`), which [`match_columns`]
    /// fills in per document.
    pub residual_matches: Vec<Box<dyn Query>>,
}

/// The MATCH predicates of a filter as queries, by their place in it.
struct Matches {
    queries: HashMap<*const MatchPredicate, Box<dyn Query>>,
    /// The query scores: leaves other than MATCH are wrapped to score 0.
    scoring: bool,
}

impl Matches {
    fn filter(&self, q: Box<dyn Query>) -> Box<dyn Query> {
        if self.scoring {
            Box::new(ConstScoreQuery::new(q, 0.0))
        } else {
            q
        }
    }
}

/// Builds the queries of `filter`'s MATCH predicates.
fn build_matches(
    filter: &Expr,
    ctx: &EvalCtx,
    search: Option<&SearchCtx>,
    scoring: bool,
) -> Result<Matches> {
    let mut preds: Vec<&MatchPredicate> = Vec::new();
    let mut negated = 0;
    collect_matches(filter, false, &mut preds, &mut negated);
    let mut queries = HashMap::new();
    if preds.is_empty() {
        return Ok(Matches {
            queries,
            scoring: false,
        });
    }
    let search = search.ok_or_else(|| {
        Error::Unsupported("MATCH can only be used on the columns of a user table".into())
    })?;
    let scoring = scoring && preds.len() > negated;
    for p in preds {
        queries.insert(p as *const MatchPredicate, search.match_query(p, ctx)?);
    }
    Ok(Matches { queries, scoring })
}

/// The MATCH predicates of `e`; `negated` counts those under NOT.
fn collect_matches<'e>(
    e: &'e Expr,
    under_not: bool,
    out: &mut Vec<&'e MatchPredicate>,
    negated: &mut usize,
) {
    match e {
        Expr::Match(m) => {
            out.push(m);
            if under_not {
                *negated += 1;
            }
        }
        Expr::Not(inner) => collect_matches(inner, !under_not, out, negated),
        Expr::And(items) | Expr::Or(items) => {
            for i in items {
                collect_matches(i, under_not, out, negated);
            }
        }
        // Inside any other expression (`MATCH(...) = true`, CASE, ...) a
        // MATCH is evaluated per row, and does not score.
        other => other.visit(&mut |e| {
            if let Expr::Match(m) = e {
                out.push(m);
                *negated += 1;
            }
        }),
    }
}

/// Splits `filter` over `scan` rows; `search` answers MATCH predicates,
/// `scoring` asks for scores (the statement reads `_score`).
pub fn split(
    filter: Option<&Expr>,
    scan: &[ScanColumn],
    ctx: &EvalCtx,
    search: Option<&SearchCtx>,
    scoring: bool,
) -> Result<SplitFilter> {
    let Some(filter) = filter else {
        return Ok(SplitFilter {
            query: None,
            residual: None,
            scored: false,
            residual_matches: Vec::new(),
        });
    };
    let matches = build_matches(filter, ctx, search, scoring)?;
    let m = &matches;
    let conjuncts: Vec<&Expr> = match filter {
        Expr::And(items) => items.iter().collect(),
        other => vec![other],
    };
    // A range over a fast column is answered by scanning the column, which
    // costs as much as the segment is large. When a term (equality, IN) also
    // narrows the rows, evaluating the range on those few rows is far cheaper.
    let has_term = conjuncts
        .iter()
        .any(|c| is_term_predicate(c) && to_query(c, scan, ctx, m).is_some());
    let mut queries: Vec<Box<dyn Query>> = Vec::new();
    let mut residual: Vec<Expr> = Vec::new();
    let mut residual_matches = Vec::new();
    // A residual's MATCH predicates become columns of the row (see
    // `SplitFilter::residual_matches`); the clone's come in the original's order.
    let mut keep = |c: &Expr| {
        let mut found = Vec::new();
        c.visit(&mut |e| {
            if let Expr::Match(p) = e
                && let Some(q) = m.queries.get(&(p.as_ref() as *const MatchPredicate))
            {
                found.push(q.box_clone());
            }
        });
        let mut c = c.clone();
        let mut found = found.into_iter();
        c.visit_mut(&mut |e| {
            if matches!(e, Expr::Match(_))
                && let Some(q) = found.next()
            {
                residual_matches.push(q);
                *e = Expr::Column(scan.len() + residual_matches.len() - 1, DataType::Boolean);
            }
        });
        residual.push(c);
    };
    for c in conjuncts {
        if has_term && is_range_predicate(c) {
            keep(c);
            continue;
        }
        match to_query(c, scan, ctx, m) {
            Some(q) => queries.push(q),
            None => keep(c),
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
    Ok(SplitFilter {
        query,
        residual,
        scored: m.scoring,
        residual_matches,
    })
}

fn is_term_predicate(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Call { func: Func::Eq, .. }
            | Expr::InList { negated: false, .. }
            | Expr::Quantified {
                func: Func::Eq,
                all: false,
                ..
            }
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

fn to_query(e: &Expr, scan: &[ScanColumn], ctx: &EvalCtx, m: &Matches) -> Option<Box<dyn Query>> {
    match e {
        Expr::Match(p) => m
            .queries
            .get(&(p.as_ref() as *const MatchPredicate))
            .map(|q| q.box_clone()),
        // NOT only over a MATCH: MATCH is never NULL, so its complement is
        // exact, which NOT over a comparison with NULLs would not be.
        Expr::Not(inner) if matches!(inner.as_ref(), Expr::Match(_)) => {
            let q = to_query(inner, scan, ctx, m)?;
            Some(Box::new(BooleanQuery::new(vec![
                (Occur::Must, m.filter(Box::new(AllQuery))),
                (Occur::MustNot, q),
            ])))
        }
        Expr::And(items) => {
            let qs: Option<Vec<Box<dyn Query>>> =
                items.iter().map(|i| to_query(i, scan, ctx, m)).collect();
            Some(Box::new(BooleanQuery::new(
                qs?.into_iter().map(|q| (Occur::Must, q)).collect(),
            )))
        }
        Expr::Or(items) => {
            let qs: Option<Vec<Box<dyn Query>>> =
                items.iter().map(|i| to_query(i, scan, ctx, m)).collect();
            Some(Box::new(BooleanQuery::new(
                qs?.into_iter().map(|q| (Occur::Should, q)).collect(),
            )))
        }
        other => filter_query(other, scan, ctx).map(|q| m.filter(q)),
    }
}

/// The query of a predicate other than MATCH, AND and OR.
fn filter_query(e: &Expr, scan: &[ScanColumn], ctx: &EvalCtx) -> Option<Box<dyn Query>> {
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
            let values: Option<Vec<Value>> = list.iter().map(|i| constant(i, ctx)).collect();
            term_set(col, values?)
        }
        // `x = ANY(array)`, and `x IN (subquery)`, whose values arrive as an array.
        Expr::Quantified {
            left,
            func: Func::Eq,
            right,
            all: false,
        } => {
            let col = column(left, scan)?;
            match constant(right, ctx)? {
                Value::Array(items) => term_set(col, items),
                _ => None,
            }
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
        _ => None,
    }
}

/// Documents whose column holds one of `values` (NULLs match nothing).
fn term_set(col: &ScanColumn, values: Vec<Value>) -> Option<Box<dyn Query>> {
    let mut terms = Vec::with_capacity(values.len());
    for v in values.iter().filter(|v| !v.is_null()) {
        terms.push(term_for(col, v)?);
    }
    match terms.len() {
        0 => None,
        1 => Some(Box::new(TermQuery::new(
            terms.pop()?,
            IndexRecordOption::Basic,
        ))),
        // One sorted pass over the term dictionary, however many values.
        _ => Some(Box::new(tantivy::query::TermSetQuery::new(terms))),
    }
}

/// Per segment, whether each document matches the residual's MATCH
/// predicates: their scorers, asked in document order.
pub struct MatchColumns {
    scorers: Vec<Box<dyn tantivy::query::Scorer>>,
}

impl MatchColumns {
    /// Appends to `row` whether `doc` matches each predicate.
    pub fn extend(&mut self, row: &mut Vec<Value>, doc: u32) {
        for s in &mut self.scorers {
            if s.doc() < doc {
                s.seek(doc);
            }
            row.push(Value::Bool(s.doc() == doc));
        }
    }
}

/// The weights of the residual's MATCH predicates, typed like the main query.
pub fn match_weights(
    split: &SplitFilter,
    search: Option<&SearchCtx>,
) -> Result<Vec<Box<dyn tantivy::query::Weight>>> {
    let Some(segment) = search.and_then(SearchCtx::widest) else {
        return Ok(Vec::new());
    };
    let schema = segment.index.schema();
    split
        .residual_matches
        .iter()
        .map(|q| Ok(q.weight(EnableScoring::disabled_from_schema(&schema))?))
        .collect()
}

/// The match columns of a segment, from [`match_weights`].
pub fn match_columns(
    weights: &[Box<dyn tantivy::query::Weight>],
    segment: &crate::storage::segment::Segment,
) -> Result<MatchColumns> {
    Ok(MatchColumns {
        scorers: weights
            .iter()
            .map(|w| w.scorer(&segment.reader, 1.0))
            .collect::<tantivy::Result<_>>()?,
    })
}

/// Iterates the matching live documents of a segment, with their scores
/// (1.0 when the weight does not score).
pub fn for_each_doc(
    segment: &crate::storage::segment::Segment,
    alive: &crate::storage::segment::AliveSet,
    weight: Option<&dyn tantivy::query::Weight>,
    mut f: impl FnMut(u32, f32) -> Result<bool>,
) -> Result<()> {
    match weight {
        None => {
            for doc in alive.iter() {
                if !f(doc, 1.0)? {
                    break;
                }
            }
        }
        Some(weight) => {
            let mut scorer = weight.scorer(&segment.reader, 1.0)?;
            let mut doc = scorer.doc();
            while doc != TERMINATED {
                if alive.is_alive(doc) && !f(doc, scorer.score())? {
                    break;
                }
                doc = scorer.advance();
            }
        }
    }
    Ok(())
}

/// The weight of a pushed-down query, built once for all segments: typed
/// against the widest segment schema, scored when `split` asks for scores.
pub fn weight_of(
    split: &SplitFilter,
    search: Option<&SearchCtx>,
) -> Result<Option<Box<dyn tantivy::query::Weight>>> {
    let Some(query) = split.query.as_deref() else {
        return Ok(None);
    };
    let weight = match search {
        // Typed against the segments' widest schema: a full-text field is
        // not in the shard fields' schema. Without segments nothing matches.
        Some(search) => match (split.scored, search.widest()) {
            (true, Some(segment)) => {
                query.weight(EnableScoring::enabled_from_searcher(segment.searcher()?))?
            }
            (false, Some(segment)) => {
                query.weight(EnableScoring::disabled_from_schema(&segment.index.schema()))?
            }
            (_, None) => return Ok(None),
        },
        // Without a MATCH the query reads the shard fields only.
        None => query.weight(EnableScoring::disabled_from_schema(&shard_schema().schema))?,
    };
    Ok(Some(weight))
}
