//! Bound expressions and their evaluation.
//!
//! The planner turns sqlparser's syntax trees into [`Expr`]s: names are
//! resolved to positions in an input row, functions to [`Func`]s, literals are
//! cast to the types they are compared with. An `Expr` is then evaluated
//! against rows, on shards and on the handler alike.

mod aggregate;
mod func;
mod like;
pub mod search;

pub use aggregate::{AggCall, AggFunc, AggState};
pub use func::{Func, unknown as func_unknown};
pub use like::like_to_regex;
pub use search::{MatchPredicate, MatchType};

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::breaker::MemoryAccount;
use crate::error::{Error, Result};
use crate::types::cast::cast;
use crate::types::{DataType, Value};

/// Evaluation context: statement parameters, the statement's clock and its
/// memory account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EvalCtx {
    pub params: Vec<Value>,
    /// `now()` for the whole statement, in epoch milliseconds.
    pub now_ms: i64,
    pub current_schema: String,
    pub current_user: String,
    /// The values of the statement's subqueries, computed before it runs
    /// (see [`Expr::Subquery`]).
    #[serde(default)]
    pub subqueries: Vec<Value>,
    /// The outer row's values a correlated subquery reads (see
    /// [`Expr::Outer`]), set for each outer row it runs for.
    #[serde(default)]
    pub outer: Vec<Value>,
    /// The statement's job id (`sys.jobs.id`): a node running a part of it
    /// lets `KILL` of that job reach the part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// What the statement holds, on the node's query breaker. Not sent:
    /// a node serving a request accounts it on its own breaker.
    #[serde(skip)]
    pub memory: Arc<MemoryAccount>,
}

impl EvalCtx {
    /// A context with parameters, the current time and the defaults, on an
    /// account that never trips.
    pub fn new(params: Vec<Value>) -> EvalCtx {
        EvalCtx {
            params,
            now_ms: crate::runtime::now_millis(),
            current_schema: "doc".into(),
            current_user: "crate".into(),
            subqueries: Vec::new(),
            outer: Vec::new(),
            job: None,
            memory: MemoryAccount::unlimited(),
        }
    }

    /// Fails if a value of `bytes` that a function is about to build would
    /// not fit in the statement's memory (checked for values above 64 KB,
    /// so small strings cost nothing).
    #[inline]
    pub fn check_alloc(&self, bytes: usize, label: &str) -> Result<()> {
        if bytes > 64 * 1024 {
            self.memory.check(bytes as u64, label)?;
        }
        Ok(())
    }
}

/// An element access on an object or array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Access {
    /// `obj['key']`; on an array of objects, applies to each element.
    Key(String),
    /// `arr[i]`, 1-based.
    Index(Box<Expr>),
    /// `arr[a:b]`, 1-based and inclusive.
    Slice(Option<Box<Expr>>, Option<Box<Expr>>),
}

/// A bound expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    Literal(Value, DataType),
    /// A statement parameter (`?` or `$n`), 0-based, with the type it is cast to.
    Param(usize, DataType),
    /// A column of the input row.
    Column(usize, DataType),
    /// The value of the statement's `i`-th subquery: one value (a scalar
    /// subquery), all values of its column as an array (`IN`, `ANY`,
    /// `ALL`), or whether it has rows (`EXISTS`). Subqueries do not read
    /// the outer row, so they run once, before the statement.
    Subquery(usize, DataType),
    /// In a correlated subquery: the `i`-th value it reads from the outer
    /// query's row, constant while the subquery runs for that row.
    Outer(usize, DataType),
    Access {
        base: Box<Expr>,
        access: Access,
        ty: DataType,
    },
    Call {
        func: Func,
        args: Vec<Expr>,
        ty: DataType,
    },
    Cast {
        expr: Box<Expr>,
        to: DataType,
        try_cast: bool,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
        ty: DataType,
    },
    Coalesce(Vec<Expr>, DataType),
    Array(Vec<Expr>, DataType),
    Object(Vec<(String, Expr)>),
    /// `left op ANY(right)` / `left op ALL(right)`; `op` is a binary predicate function.
    Quantified {
        left: Box<Expr>,
        func: Func,
        right: Box<Expr>,
        all: bool,
    },
    /// A MATCH predicate, answered from a table's indexes.
    Match(Box<MatchPredicate>),
}

/// The value of placeholder `slot` (None when only `available` parameters
/// were given), cast to the type the planner gave it.
pub fn bind_param(
    value: Option<Value>,
    slot: usize,
    available: usize,
    ty: &DataType,
) -> Result<Value> {
    let v = value.ok_or_else(|| {
        Error::InvalidArgument(format!(
            "The query contains a parameter placeholder ${} but only {available} parameters were provided",
            slot + 1
        ))
    })?;
    if *ty == DataType::Undefined {
        Ok(v)
    } else {
        cast(v, ty)
    }
}

impl Expr {
    /// A literal of an inferred type.
    pub fn lit(v: Value) -> Expr {
        let ty = crate::types::json::infer_type(&v);
        Expr::Literal(v, ty)
    }

    /// The result type.
    pub fn data_type(&self) -> DataType {
        match self {
            Expr::Literal(_, t)
            | Expr::Column(_, t)
            | Expr::Param(_, t)
            | Expr::Subquery(_, t)
            | Expr::Outer(_, t) => t.clone(),
            Expr::Access { ty, .. } | Expr::Call { ty, .. } | Expr::Case { ty, .. } => ty.clone(),
            Expr::Cast { to, .. } => to.clone(),
            Expr::And(_)
            | Expr::Or(_)
            | Expr::Not(_)
            | Expr::IsNull { .. }
            | Expr::InList { .. }
            | Expr::Quantified { .. }
            | Expr::Match(_) => DataType::Boolean,
            Expr::Coalesce(_, t) | Expr::Array(_, t) => t.clone(),
            Expr::Object(_) => DataType::object(),
        }
    }

    /// Whether the expression reads no row column (it may still read parameters).
    pub fn is_constant(&self) -> bool {
        let mut constant = true;
        self.visit(&mut |e| {
            // A MATCH reads the row through the index.
            if matches!(e, Expr::Column(..) | Expr::Match(_)) {
                constant = false;
            }
            if let Expr::Call { func, .. } = e
                && !func.is_deterministic()
            {
                constant = false;
            }
        });
        constant
    }

    /// Whether the expression holds a MATCH predicate.
    pub fn contains_match(&self) -> bool {
        let mut found = false;
        self.visit(&mut |e| found |= matches!(e, Expr::Match(_)));
        found
    }

    /// Calls `f` on this expression and every subexpression.
    pub fn visit<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Literal(..)
            | Expr::Param(..)
            | Expr::Column(..)
            | Expr::Subquery(..)
            | Expr::Outer(..) => {}
            Expr::Access { base, access, .. } => {
                base.visit(f);
                match access {
                    Access::Key(_) => {}
                    Access::Index(i) => i.visit(f),
                    Access::Slice(a, b) => {
                        if let Some(a) = a {
                            a.visit(f);
                        }
                        if let Some(b) = b {
                            b.visit(f);
                        }
                    }
                }
            }
            Expr::Call { args, .. }
            | Expr::And(args)
            | Expr::Or(args)
            | Expr::Coalesce(args, _) => args.iter().for_each(|a| a.visit(f)),
            Expr::Array(items, _) => items.iter().for_each(|a| a.visit(f)),
            Expr::Cast { expr, .. } | Expr::Not(expr) | Expr::IsNull { expr, .. } => expr.visit(f),
            Expr::InList { expr, list, .. } => {
                expr.visit(f);
                list.iter().for_each(|a| a.visit(f));
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
                ..
            } => {
                if let Some(o) = operand {
                    o.visit(f);
                }
                for (w, t) in whens {
                    w.visit(f);
                    t.visit(f);
                }
                if let Some(o) = otherwise {
                    o.visit(f);
                }
            }
            Expr::Object(fields) => fields.iter().for_each(|(_, e)| e.visit(f)),
            Expr::Quantified { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
            Expr::Match(m) => m.query.visit(f),
        }
    }

    /// Rewrites every column index through `map` (used when moving an
    /// expression onto another row layout).
    pub fn remap_columns(&mut self, map: &dyn Fn(usize) -> usize) {
        self.visit_mut(&mut |e| {
            if let Expr::Column(i, _) = e {
                *i = map(*i);
            }
        });
    }

    /// Mutable visitor, children first.
    pub fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        match self {
            Expr::Literal(..)
            | Expr::Param(..)
            | Expr::Column(..)
            | Expr::Subquery(..)
            | Expr::Outer(..) => {}
            Expr::Access { base, access, .. } => {
                base.visit_mut(f);
                match access {
                    Access::Key(_) => {}
                    Access::Index(i) => i.visit_mut(f),
                    Access::Slice(a, b) => {
                        if let Some(a) = a {
                            a.visit_mut(f);
                        }
                        if let Some(b) = b {
                            b.visit_mut(f);
                        }
                    }
                }
            }
            Expr::Call { args, .. }
            | Expr::And(args)
            | Expr::Or(args)
            | Expr::Coalesce(args, _) => args.iter_mut().for_each(|a| a.visit_mut(f)),
            Expr::Array(items, _) => items.iter_mut().for_each(|a| a.visit_mut(f)),
            Expr::Cast { expr, .. } | Expr::Not(expr) | Expr::IsNull { expr, .. } => {
                expr.visit_mut(f)
            }
            Expr::InList { expr, list, .. } => {
                expr.visit_mut(f);
                list.iter_mut().for_each(|a| a.visit_mut(f));
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
                ..
            } => {
                if let Some(o) = operand {
                    o.visit_mut(f);
                }
                for (w, t) in whens {
                    w.visit_mut(f);
                    t.visit_mut(f);
                }
                if let Some(o) = otherwise {
                    o.visit_mut(f);
                }
            }
            Expr::Object(fields) => fields.iter_mut().for_each(|(_, e)| e.visit_mut(f)),
            Expr::Quantified { left, right, .. } => {
                left.visit_mut(f);
                right.visit_mut(f);
            }
            Expr::Match(m) => m.query.visit_mut(f),
        }
        f(self);
    }

    /// Evaluates against a row.
    pub fn eval(&self, row: &[Value], ctx: &EvalCtx) -> Result<Value> {
        match self {
            Expr::Literal(v, _) => Ok(v.clone()),
            Expr::Param(i, ty) => bind_param(ctx.params.get(*i).cloned(), *i, ctx.params.len(), ty),
            Expr::Column(i, _) => Ok(row.get(*i).cloned().unwrap_or(Value::Null)),
            Expr::Subquery(i, _) => ctx
                .subqueries
                .get(*i)
                .cloned()
                .ok_or_else(|| Error::internal("a subquery's value is missing")),
            Expr::Outer(i, _) => ctx
                .outer
                .get(*i)
                .cloned()
                .ok_or_else(|| Error::internal("an outer row's value is missing")),
            // Answered from the index when the scan runs; a MATCH left to
            // evaluate per row is one that could not be.
            Expr::Match(_) => Err(Error::Unsupported(
                "MATCH can only be answered from a table's index, in a WHERE clause".into(),
            )),
            Expr::Access { base, access, .. } => {
                let v = base.eval(row, ctx)?;
                access_value(v, access, row, ctx)
            }
            Expr::Call { func, args, ty } => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(a.eval(row, ctx)?);
                }
                func.eval(&vals, ty, ctx)
            }
            Expr::Cast { expr, to, try_cast } => {
                let v = expr.eval(row, ctx)?;
                match cast(v, to) {
                    Ok(v) => Ok(v),
                    Err(_) if *try_cast => Ok(Value::Null),
                    Err(e) => Err(e),
                }
            }
            Expr::And(items) => {
                let mut saw_null = false;
                for e in items {
                    match e.eval(row, ctx)? {
                        Value::Bool(false) => return Ok(Value::Bool(false)),
                        Value::Null => saw_null = true,
                        _ => {}
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(true)
                })
            }
            Expr::Or(items) => {
                let mut saw_null = false;
                for e in items {
                    match e.eval(row, ctx)? {
                        Value::Bool(true) => return Ok(Value::Bool(true)),
                        Value::Null => saw_null = true,
                        _ => {}
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(false)
                })
            }
            Expr::Not(e) => Ok(match e.eval(row, ctx)? {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            }),
            Expr::IsNull { expr, negated } => {
                Ok(Value::Bool(expr.eval(row, ctx)?.is_null() != *negated))
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let v = expr.eval(row, ctx)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let mut saw_null = false;
                for item in list {
                    let x = item.eval(row, ctx)?;
                    if x.is_null() {
                        saw_null = true;
                    } else if v.sql_eq(&x) {
                        return Ok(Value::Bool(!negated));
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                })
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
                ..
            } => {
                let op = match operand {
                    Some(o) => Some(o.eval(row, ctx)?),
                    None => None,
                };
                for (w, then) in whens {
                    let c = w.eval(row, ctx)?;
                    let hit = match &op {
                        Some(o) => !o.is_null() && !c.is_null() && o.sql_eq(&c),
                        None => c.as_bool() == Some(true),
                    };
                    if hit {
                        return then.eval(row, ctx);
                    }
                }
                match otherwise {
                    Some(o) => o.eval(row, ctx),
                    None => Ok(Value::Null),
                }
            }
            Expr::Coalesce(items, _) => {
                for e in items {
                    let v = e.eval(row, ctx)?;
                    if !v.is_null() {
                        return Ok(v);
                    }
                }
                Ok(Value::Null)
            }
            Expr::Array(items, _) => {
                let mut out = Vec::with_capacity(items.len());
                for e in items {
                    out.push(e.eval(row, ctx)?);
                }
                Ok(Value::Array(out))
            }
            Expr::Object(fields) => {
                let mut o = crate::types::Object::default();
                for (k, e) in fields {
                    o.insert(k.into(), e.eval(row, ctx)?);
                }
                Ok(Value::Object(Box::new(o)))
            }
            Expr::Quantified {
                left,
                func,
                right,
                all,
            } => {
                let l = left.eval(row, ctx)?;
                let r = right.eval(row, ctx)?;
                let items = match r {
                    Value::Null => return Ok(Value::Null),
                    Value::Array(items) => items,
                    other => vec![other],
                };
                // Nothing to compare with: ANY is false and ALL true, even
                // for NULL (`NULL IN (empty subquery)` is false).
                if items.is_empty() {
                    return Ok(Value::Bool(*all));
                }
                if l.is_null() {
                    return Ok(Value::Null);
                }
                let mut saw_null = false;
                for item in flatten(items) {
                    if item.is_null() {
                        saw_null = true;
                        continue;
                    }
                    let hit = func.eval(&[l.clone(), item], &DataType::Boolean, ctx)?;
                    match (hit.as_bool(), all) {
                        (Some(true), false) => return Ok(Value::Bool(true)),
                        (Some(false), true) => return Ok(Value::Bool(false)),
                        (None, _) => saw_null = true,
                        _ => {}
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(*all)
                })
            }
        }
    }

    /// Evaluates a predicate: true only for SQL TRUE (NULL and FALSE filter out).
    pub fn matches(&self, row: &[Value], ctx: &EvalCtx) -> Result<bool> {
        Ok(matches!(self.eval(row, ctx)?, Value::Bool(true)))
    }
}

/// `ANY` over nested arrays looks through every level, as CrateDB does.
fn flatten(items: Vec<Value>) -> Vec<Value> {
    if !items.iter().any(|v| matches!(v, Value::Array(_))) {
        return items;
    }
    let mut out = Vec::new();
    for v in items {
        match v {
            Value::Array(inner) => out.extend(flatten(inner)),
            other => out.push(other),
        }
    }
    out
}

fn access_value(v: Value, access: &Access, row: &[Value], ctx: &EvalCtx) -> Result<Value> {
    match access {
        Access::Key(k) => Ok(match v {
            Value::Object(mut o) => o.swap_remove(k.as_str()).unwrap_or(Value::Null),
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|item| match item {
                        Value::Object(mut o) => o.swap_remove(k.as_str()).unwrap_or(Value::Null),
                        _ => Value::Null,
                    })
                    .collect(),
            ),
            _ => Value::Null,
        }),
        Access::Index(i) => {
            let idx = i.eval(row, ctx)?;
            let Value::Array(items) = v else {
                return Ok(Value::Null);
            };
            match idx.as_int() {
                Some(n) if n >= 1 && (n as usize) <= items.len() => {
                    Ok(items[n as usize - 1].clone())
                }
                Some(_) => Ok(Value::Null),
                None if idx.is_null() => Ok(Value::Null),
                None => Err(Error::InvalidArgument(
                    "array index must be an integer".into(),
                )),
            }
        }
        Access::Slice(from, to) => {
            let Value::Array(items) = v else {
                return Ok(Value::Null);
            };
            let bound = |e: &Option<Box<Expr>>, default: i64| -> Result<i64> {
                match e {
                    Some(e) => Ok(e.eval(row, ctx)?.as_int().unwrap_or(default)),
                    None => Ok(default),
                }
            };
            let a = bound(from, 1)?.max(1) as usize;
            let b = bound(to, items.len() as i64)?.min(items.len() as i64);
            if b < a as i64 {
                return Ok(Value::Array(vec![]));
            }
            Ok(Value::Array(items[a - 1..b as usize].to_vec()))
        }
    }
}
