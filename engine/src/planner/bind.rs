//! Expression binding: sqlparser expressions to [`Expr`]s over a relation's row.
//!
//! The [`Binder`] resolves column names against its [`Relation`] (for a
//! table, each referenced column is appended to the scan), resolves
//! functions, and coerces operands: a literal compared with a column is cast
//! to the column's type at plan time, a parameter takes the type of what it
//! is compared with. In *post-aggregation* mode, used for the SELECT list,
//! HAVING and ORDER BY of a grouped query, an expression equal to a GROUP BY
//! key becomes a reference to that key and an aggregate call becomes a
//! reference to its result.

use std::sync::Arc;

use sqlparser::ast::{
    self, BinaryOperator, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator,
};

use super::PlanCtx;
use super::plan::{Aggregation, ScanColumn, WindowCall};
use crate::catalog::{ColumnInfo, TableInfo};
use crate::error::{Error, Result};
use crate::expr::{Access, AggCall, AggFunc, Expr, Func};
use crate::sql::normalize_ident;
use crate::types::cast::cast;
use crate::types::{ColumnPolicy, DataType, Value};

/// Window references are bound to placeholder columns from here on and
/// renumbered once the row layout is final.
pub const WINDOW_BASE: usize = 1 << 40;

/// The relation expressions are bound against.
#[derive(Debug, Clone)]
pub enum Relation {
    /// No FROM clause.
    None,
    /// A table; `scan` grows as columns are referenced.
    Table {
        table: Arc<TableInfo>,
        alias: Option<String>,
        scan: Vec<ScanColumn>,
    },
    /// Rows with fixed columns (subquery, VALUES, unnest, system table).
    Rows {
        qualifier: Option<String>,
        schema: Option<String>,
        columns: Vec<(String, DataType)>,
    },
    /// ON CONFLICT DO UPDATE: the existing row, then the proposed row (`excluded.col`).
    Upsert {
        table: String,
        columns: Vec<(String, DataType)>,
    },
}

impl Relation {
    /// The width of the source row.
    pub fn width(&self) -> usize {
        match self {
            Relation::None => 0,
            Relation::Table { scan, .. } => scan.len(),
            Relation::Rows { columns, .. } => columns.len(),
            Relation::Upsert { columns, .. } => columns.len() * 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Source,
    Post,
}

/// Binds expressions for one query level.
pub struct Binder<'a> {
    pub ctx: &'a PlanCtx<'a>,
    pub relation: Relation,
    mode: Mode,
    /// Aggregates are allowed (not in WHERE, GROUP BY or VALUES).
    pub allow_aggregates: bool,
    pub aggregation: Aggregation,
    pub windows: Vec<WindowCall>,
    /// Current expression nesting, bounded so hostile input cannot exhaust the stack.
    depth: usize,
}

/// Deepest expression nesting accepted (long AND/OR chains are flattened and
/// do not count). Every level of a bound [`Expr`] counts, subscripts
/// included, so the walks over bound expressions (evaluation, pushdown,
/// visitors) never go deeper than this.
const MAX_DEPTH: usize = 256;

fn too_deep() -> Error {
    Error::Parse(format!(
        "statement is nested too deeply (more than {MAX_DEPTH} levels of expressions)"
    ))
}

fn lit(v: Value, ty: DataType) -> Expr {
    Expr::Literal(v, ty)
}

/// Whether an AST expression contains an aggregate call (outside subqueries and windows).
pub fn contains_aggregate(e: &ast::Expr) -> bool {
    let mut found = false;
    walk(e, &mut |x| {
        if let ast::Expr::Function(f) = x
            && f.over.is_none()
            && AggFunc::from_name(&function_name(&f.name)).is_some()
        {
            found = true;
        }
    });
    found
}

/// Calls `f` on `e` and its subexpressions (outside subqueries and window
/// calls). Iterative: a chain of thousands of operators is a tree that deep.
fn walk(e: &ast::Expr, f: &mut dyn FnMut(&ast::Expr)) {
    let mut pending = vec![e];
    while let Some(e) = pending.pop() {
        f(e);
        walk_children(e, &mut |x| pending.push(x));
    }
}

fn walk_children<'e>(e: &'e ast::Expr, go: &mut dyn FnMut(&'e ast::Expr)) {
    use ast::Expr as E;
    match e {
        E::BinaryOp { left, right, .. } => {
            go(left);
            go(right);
        }
        E::UnaryOp { expr, .. }
        | E::Nested(expr)
        | E::IsNull(expr)
        | E::IsNotNull(expr)
        | E::IsTrue(expr)
        | E::IsFalse(expr)
        | E::IsNotTrue(expr)
        | E::IsNotFalse(expr)
        | E::Cast { expr, .. }
        | E::Extract { expr, .. }
        | E::Ceil { expr, .. }
        | E::Floor { expr, .. } => go(expr),
        E::IsDistinctFrom(a, b) | E::IsNotDistinctFrom(a, b) => {
            go(a);
            go(b);
        }
        E::Between {
            expr, low, high, ..
        } => {
            go(expr);
            go(low);
            go(high);
        }
        E::Like { expr, pattern, .. } | E::ILike { expr, pattern, .. } => {
            go(expr);
            go(pattern);
        }
        E::AnyOp { left, right, .. } | E::AllOp { left, right, .. } => {
            go(left);
            go(right);
        }
        E::In {
            expr,
            target: ast::InTarget::List(list),
            ..
        } => {
            go(expr);
            list.iter().for_each(&mut *go);
        }
        E::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            if let Some(o) = operand {
                go(o);
            }
            for c in conditions {
                go(&c.condition);
                go(&c.result);
            }
            if let Some(e) = else_result {
                go(e);
            }
        }
        E::Function(func) => {
            if func.over.is_none()
                && let FunctionArguments::List(l) = &func.args
            {
                for a in &l.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) = a {
                        go(x);
                    }
                }
            }
        }
        E::Array(a) => a.elem.iter().for_each(&mut *go),
        E::CompoundFieldAccess { root, .. } => go(root),
        E::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            go(expr);
            if let Some(x) = substring_from {
                go(x);
            }
            if let Some(x) = substring_for {
                go(x);
            }
        }
        _ => {}
    }
}

/// A function's name, lower-cased (last part of a qualified name).
pub fn function_name(name: &ast::ObjectName) -> String {
    name.0
        .last()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(id) => id.value.to_lowercase(),
            other => other.to_string().to_lowercase(),
        })
        .unwrap_or_default()
}

/// The numeric literal's value and type.
pub fn number_literal(s: &str) -> Result<(Value, DataType)> {
    if let Ok(i) = s.parse::<i64>() {
        let ty = if i32::try_from(i).is_ok() {
            DataType::Integer
        } else {
            DataType::BigInt
        };
        return Ok((Value::Int(i), ty));
    }
    match s.parse::<f64>() {
        Ok(f) => Ok((Value::Float(f), DataType::Double)),
        Err(_) => Err(Error::Parse(format!("invalid number {s}"))),
    }
}

/// Converts a sqlparser type to ours.
pub fn convert_type(t: &ast::DataType) -> Result<DataType> {
    let s = t.to_string();
    DataType::from_name(&s).ok_or_else(|| Error::Parse(format!("Cannot find data type: {s}")))
}

fn cmp_func(op: &BinaryOperator) -> Option<Func> {
    Some(match op {
        BinaryOperator::Eq => Func::Eq,
        BinaryOperator::NotEq => Func::NotEq,
        BinaryOperator::Lt => Func::Lt,
        BinaryOperator::LtEq => Func::LtEq,
        BinaryOperator::Gt => Func::Gt,
        BinaryOperator::GtEq => Func::GtEq,
        _ => return None,
    })
}

impl<'a> Binder<'a> {
    /// A binder over `relation`.
    pub fn new(ctx: &'a PlanCtx<'a>, relation: Relation) -> Binder<'a> {
        Binder {
            ctx,
            relation,
            mode: Mode::Source,
            allow_aggregates: false,
            aggregation: Aggregation {
                keys: Vec::new(),
                aggs: Vec::new(),
            },
            windows: Vec::new(),
            depth: 0,
        }
    }

    /// Switches to post-aggregation binding.
    pub fn enter_post_aggregation(&mut self) {
        self.mode = Mode::Post;
        self.allow_aggregates = true;
    }

    /// Whether binding is in post-aggregation mode.
    pub fn is_post(&self) -> bool {
        self.mode == Mode::Post
    }

    /// Binds an expression in source mode regardless of the current mode.
    pub fn bind_source(&mut self, e: &ast::Expr) -> Result<Expr> {
        let saved = self.mode;
        self.mode = Mode::Source;
        let r = self.bind(e);
        self.mode = saved;
        r
    }

    /// Binds an expression.
    pub fn bind(&mut self, e: &ast::Expr) -> Result<Expr> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        crate::limits::check_stack()?;
        self.depth += 1;
        let r = if self.mode == Mode::Post {
            match self.bind_post_special(e) {
                Ok(Some(x)) => Ok(x),
                Ok(None) => self.bind_inner(e),
                Err(err) => Err(err),
            }
        } else {
            self.bind_inner(e)
        };
        self.depth -= 1;
        r
    }

    fn bind_post_special(&mut self, e: &ast::Expr) -> Result<Option<Expr>> {
        if let ast::Expr::Function(f) = e {
            let name = function_name(&f.name);
            if f.over.is_none()
                && let Some(func) = AggFunc::from_name(&name)
            {
                let call = self.bind_agg_call(func, f)?;
                let n = self.aggregation.keys.len();
                let ty = call.ty.clone();
                let idx = match self.aggregation.aggs.iter().position(|c| *c == call) {
                    Some(i) => i,
                    None => {
                        self.aggregation.aggs.push(call);
                        self.aggregation.aggs.len() - 1
                    }
                };
                return Ok(Some(Expr::Column(n + idx, ty)));
            }
        }
        if matches!(e, ast::Expr::Value(_)) {
            return Ok(None);
        }
        if let Ok(bound) = self.bind_source(e)
            && !bound.is_constant()
            && let Some(i) = self.aggregation.keys.iter().position(|k| *k == bound)
        {
            return Ok(Some(Expr::Column(i, bound.data_type())));
        }
        Ok(None)
    }

    fn not_grouped(&self, e: &ast::Expr) -> Error {
        Error::Parse(format!(
            "'{}' must appear in the GROUP BY clause or be used in an aggregation function",
            super::naming::output_name(e)
        ))
    }

    fn bind_agg_call(&mut self, func: AggFunc, f: &ast::Function) -> Result<AggCall> {
        if !self.allow_aggregates {
            return Err(Error::Parse(format!(
                "Aggregate functions are not allowed in this context: {}",
                function_name(&f.name)
            )));
        }
        let (args, distinct) = self.function_args(f, Mode::Source)?;
        let filter = match &f.filter {
            Some(x) => Some(self.bind_source(x)?),
            None => None,
        };
        let (func, args) = match (func, args.as_slice()) {
            (AggFunc::Count, []) => (AggFunc::CountStar, Vec::new()),
            (AggFunc::Count, [Arg::Star]) => (AggFunc::CountStar, Vec::new()),
            (_, a) => {
                let mut out = Vec::new();
                for x in a {
                    match x {
                        Arg::Expr(e) => out.push(e.clone()),
                        Arg::Star => {
                            return Err(Error::Parse("'*' is only allowed in count(*)".into()));
                        }
                    }
                }
                (func, out)
            }
        };
        if func != AggFunc::CountStar && args.is_empty() {
            return Err(crate::expr::func_unknown(&function_name(&f.name), &[]));
        }
        let arg_types: Vec<DataType> = args.iter().map(Expr::data_type).collect();
        let first = arg_types.first().cloned().unwrap_or(DataType::Undefined);
        if matches!(func, AggFunc::Sum | AggFunc::Avg)
            && !(first.is_numeric() || first == DataType::Undefined)
        {
            return Err(crate::expr::func_unknown(
                &function_name(&f.name),
                &arg_types,
            ));
        }
        let ty = func.result_type(&first, &arg_types);
        Ok(AggCall {
            func,
            args,
            distinct,
            filter,
            ty,
        })
    }

    fn function_args(&mut self, f: &ast::Function, mode: Mode) -> Result<(Vec<Arg>, bool)> {
        let saved = self.mode;
        self.mode = mode;
        let r = (|| {
            let mut out = Vec::new();
            let mut distinct = false;
            match &f.args {
                FunctionArguments::None => {}
                FunctionArguments::Subquery(_) => {
                    return Err(Error::Unsupported("subquery as function argument".into()));
                }
                FunctionArguments::List(list) => {
                    distinct = matches!(
                        list.duplicate_treatment,
                        Some(ast::DuplicateTreatment::Distinct)
                    );
                    for a in &list.args {
                        match a {
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
                                out.push(Arg::Expr(self.bind(e)?))
                            }
                            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => out.push(Arg::Star),
                            other => {
                                return Err(Error::Unsupported(format!(
                                    "function argument {other}"
                                )));
                            }
                        }
                    }
                }
            }
            Ok((out, distinct))
        })();
        self.mode = saved;
        r
    }

    fn bind_inner(&mut self, e: &ast::Expr) -> Result<Expr> {
        use ast::Expr as E;
        match e {
            E::Identifier(id) => self.column_or_keyword(&[normalize_ident(id)], e),
            E::CompoundIdentifier(ids) => {
                let parts: Vec<String> = ids.iter().map(normalize_ident).collect();
                self.column_or_keyword(&parts, e)
            }
            E::CompoundFieldAccess { root, access_chain } => {
                let mut base = self.bind(root)?;
                let mut path_name = super::naming::output_name(root);
                let is_key = |a: &ast::AccessExpr| {
                    matches!(a, ast::AccessExpr::Subscript(ast::Subscript::Index { index: ast::Expr::Value(v) })
                        if matches!(v.value, ast::Value::SingleQuotedString(_)))
                };
                // CrateDB reads `obj[1]['k']` on an object as `obj['k'][1]`.
                let mut chain: Vec<&ast::AccessExpr> = access_chain.iter().collect();
                if matches!(base.data_type(), DataType::Object(_))
                    && chain.len() > 1
                    && !is_key(chain[0])
                    && matches!(
                        chain[0],
                        ast::AccessExpr::Subscript(ast::Subscript::Index { .. })
                    )
                {
                    let keys = chain[1..].iter().take_while(|a| is_key(a)).count();
                    chain[..=keys].rotate_left(1);
                }
                // Each subscript is a level of the bound expression.
                if self.depth + chain.len() >= MAX_DEPTH {
                    return Err(too_deep());
                }
                for a in chain {
                    base = match a {
                        ast::AccessExpr::Subscript(ast::Subscript::Index { index }) => {
                            let idx = self.bind_source_or_const(index)?;
                            match idx {
                                Expr::Literal(Value::Text(key), _) => {
                                    path_name = format!("{path_name}['{key}']");
                                    self.access_key(base, key, &path_name)?
                                }
                                other => {
                                    let ty = match base.data_type() {
                                        DataType::Array(inner) => *inner,
                                        _ => DataType::Undefined,
                                    };
                                    let index = cast_expr(other, &DataType::Integer)?;
                                    Expr::Access {
                                        base: Box::new(base),
                                        access: Access::Index(Box::new(index)),
                                        ty,
                                    }
                                }
                            }
                        }
                        ast::AccessExpr::Subscript(ast::Subscript::Slice {
                            lower_bound,
                            upper_bound,
                            ..
                        }) => {
                            let lo = match lower_bound {
                                Some(x) => Some(Box::new(self.bind(x)?)),
                                None => None,
                            };
                            let hi = match upper_bound {
                                Some(x) => Some(Box::new(self.bind(x)?)),
                                None => None,
                            };
                            let ty = base.data_type();
                            Expr::Access {
                                base: Box::new(base),
                                access: Access::Slice(lo, hi),
                                ty,
                            }
                        }
                        ast::AccessExpr::Dot(_) => {
                            return Err(Error::Unsupported(
                                "dot access; use subscripts: obj['key']".into(),
                            ));
                        }
                    };
                }
                Ok(base)
            }
            E::Value(v) => self.bind_value(&v.value),
            E::TypedString(ts) => {
                let to = convert_type(&ts.data_type)?;
                let s = match &ts.value.value {
                    ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => {
                        s.clone()
                    }
                    other => other.to_string(),
                };
                Ok(lit(cast(Value::Text(s), &to)?, to))
            }
            E::Nested(inner) => self.bind(inner),
            E::UnaryOp { op, expr } => {
                let x = self.bind(expr)?;
                match op {
                    UnaryOperator::Not => {
                        Ok(Expr::Not(Box::new(cast_expr(x, &DataType::Boolean)?)))
                    }
                    UnaryOperator::Plus => Ok(x),
                    UnaryOperator::Minus => match x {
                        Expr::Literal(Value::Int(i), ty) => Ok(lit(Value::Int(-i), ty)),
                        Expr::Literal(Value::Float(f), ty) => Ok(lit(Value::Float(-f), ty)),
                        other => {
                            let ty = match other.data_type() {
                                DataType::Undefined => DataType::Integer,
                                t => t,
                            };
                            Ok(Expr::Call {
                                func: Func::Neg,
                                args: vec![other],
                                ty,
                            })
                        }
                    },
                    other => Err(Error::Unsupported(format!("operator {other}"))),
                }
            }
            E::BinaryOp { left, op, right } => self.bind_binary(left, op, right),
            E::IsNull(x) => Ok(Expr::IsNull {
                expr: Box::new(self.bind(x)?),
                negated: false,
            }),
            E::IsNotNull(x) => Ok(Expr::IsNull {
                expr: Box::new(self.bind(x)?),
                negated: true,
            }),
            E::IsTrue(x) | E::IsFalse(x) | E::IsNotTrue(x) | E::IsNotFalse(x) => {
                let b = cast_expr(self.bind(x)?, &DataType::Boolean)?;
                let want = matches!(e, E::IsTrue(_) | E::IsNotTrue(_));
                let func = if matches!(e, E::IsTrue(_) | E::IsFalse(_)) {
                    Func::IsNotDistinctFrom
                } else {
                    Func::IsDistinctFrom
                };
                Ok(Expr::Call {
                    func,
                    args: vec![b, lit(Value::Bool(want), DataType::Boolean)],
                    ty: DataType::Boolean,
                })
            }
            E::IsDistinctFrom(a, b) | E::IsNotDistinctFrom(a, b) => {
                let (a, b) = coerce_pair(self.bind(a)?, self.bind(b)?)?;
                let func = if matches!(e, E::IsDistinctFrom(..)) {
                    Func::IsDistinctFrom
                } else {
                    Func::IsNotDistinctFrom
                };
                Ok(Expr::Call {
                    func,
                    args: vec![a, b],
                    ty: DataType::Boolean,
                })
            }
            E::In {
                expr,
                target,
                negated,
                ..
            } => {
                let ast::InTarget::List(list) = target else {
                    return Err(Error::Unsupported("IN (subquery)".into()));
                };
                let x = self.bind(expr)?;
                let ty = x.data_type();
                let mut items = Vec::with_capacity(list.len());
                for item in list {
                    let b = self.bind(item)?;
                    items.push(if ty == DataType::Undefined {
                        b
                    } else {
                        coerce_to(b, &ty)?
                    });
                }
                Ok(Expr::InList {
                    expr: Box::new(x),
                    list: items,
                    negated: *negated,
                })
            }
            E::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let x = self.bind(expr)?;
                let (a, lo) = coerce_pair(x.clone(), self.bind(low)?)?;
                let (b, hi) = coerce_pair(x, self.bind(high)?)?;
                let both = Expr::And(vec![
                    Expr::Call {
                        func: Func::GtEq,
                        args: vec![a, lo],
                        ty: DataType::Boolean,
                    },
                    Expr::Call {
                        func: Func::LtEq,
                        args: vec![b, hi],
                        ty: DataType::Boolean,
                    },
                ]);
                Ok(if *negated {
                    Expr::Not(Box::new(both))
                } else {
                    both
                })
            }
            E::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            }
            | E::ILike {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => {
                let ci = matches!(e, E::ILike { .. });
                let func = match (ci, negated) {
                    (false, false) => Func::Like,
                    (true, false) => Func::ILike,
                    (false, true) => Func::NotLike,
                    (true, true) => Func::NotILike,
                };
                let x = cast_expr(self.bind(expr)?, &DataType::Text)?;
                let p = self.bind(pattern)?;
                if *any {
                    return Ok(Expr::Quantified {
                        left: Box::new(x),
                        func,
                        right: Box::new(p),
                        all: false,
                    });
                }
                let mut args = vec![x, cast_expr(p, &DataType::Text)?];
                if let Some(esc) = escape_char {
                    args.push(cast_expr(self.bind(esc)?, &DataType::Text)?);
                }
                Ok(Expr::Call {
                    func,
                    args,
                    ty: DataType::Boolean,
                })
            }
            E::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | E::AllOp {
                left,
                compare_op,
                right,
            } => {
                let all = matches!(e, E::AllOp { .. });
                let func = match compare_op {
                    BinaryOperator::PGLikeMatch => Func::Like,
                    BinaryOperator::PGILikeMatch => Func::ILike,
                    op => cmp_func(op).ok_or_else(|| Error::Unsupported(format!("{op} ANY")))?,
                };
                let r = self.bind(right)?;
                let elem = match r.data_type() {
                    DataType::Array(inner) => innermost(*inner),
                    t => t,
                };
                let l = self.bind(left)?;
                let l = if elem != DataType::Undefined {
                    coerce_to(l, &elem)?
                } else {
                    l
                };
                Ok(Expr::Quantified {
                    left: Box::new(l),
                    func,
                    right: Box::new(r),
                    all,
                })
            }
            E::Cast {
                kind,
                expr,
                data_type,
                ..
            } => {
                let to = convert_type(data_type)?;
                let x = self.bind(expr)?;
                let try_cast = matches!(kind, ast::CastKind::TryCast | ast::CastKind::SafeCast);
                if let Expr::Literal(v, _) = &x {
                    match cast(v.clone(), &to) {
                        Ok(c) => return Ok(lit(c, to)),
                        Err(_) if try_cast => return Ok(lit(Value::Null, to)),
                        Err(err) => return Err(err),
                    }
                }
                Ok(Expr::Cast {
                    expr: Box::new(x),
                    to,
                    try_cast,
                })
            }
            E::AtTimeZone {
                timestamp,
                time_zone,
            } => {
                let ts = self.bind(timestamp)?;
                let ts = match ts.data_type() {
                    DataType::Timestamp { .. } => ts,
                    _ => cast_expr(ts, &DataType::Timestamp { tz: true })?,
                };
                let zone = cast_expr(self.bind(time_zone)?, &DataType::Text)?;
                let (func, ty) = Func::resolve("timezone", &[DataType::Text, ts.data_type()])?;
                Ok(Expr::Call {
                    func,
                    args: vec![zone, ts],
                    ty,
                })
            }
            E::Extract { field, expr, .. } => {
                let name = field.to_string().trim_matches('\'').to_lowercase();
                let x = cast_expr(self.bind(expr)?, &DataType::Timestamp { tz: true })?;
                let ty = if crate::types::time::extract_is_integral(&name) {
                    DataType::Integer
                } else {
                    DataType::Double
                };
                if crate::types::time::extract(&name, 0).is_none() {
                    return Err(Error::Parse(format!("unsupported extract field {name}")));
                }
                Ok(Expr::Call {
                    func: Func::Extract,
                    args: vec![lit(Value::Text(name), DataType::Text), x],
                    ty,
                })
            }
            E::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![cast_expr(self.bind(expr)?, &DataType::Text)?];
                args.push(match substring_from {
                    Some(f) => cast_expr(self.bind(f)?, &DataType::Integer)?,
                    None => lit(Value::Int(1), DataType::Integer),
                });
                if let Some(n) = substring_for {
                    args.push(cast_expr(self.bind(n)?, &DataType::Integer)?);
                }
                Ok(Expr::Call {
                    func: Func::Substr,
                    args,
                    ty: DataType::Text,
                })
            }
            E::Trim {
                expr,
                trim_where,
                trim_what,
                ..
            } => {
                let func = match trim_where {
                    Some(ast::TrimWhereField::Leading) => Func::LTrim,
                    Some(ast::TrimWhereField::Trailing) => Func::RTrim,
                    _ => Func::Trim,
                };
                let mut args = vec![cast_expr(self.bind(expr)?, &DataType::Text)?];
                if let Some(w) = trim_what {
                    args.push(cast_expr(self.bind(w)?, &DataType::Text)?);
                }
                Ok(Expr::Call {
                    func,
                    args,
                    ty: DataType::Text,
                })
            }
            E::Position { expr, r#in } => {
                let hay = cast_expr(self.bind(r#in)?, &DataType::Text)?;
                let needle = cast_expr(self.bind(expr)?, &DataType::Text)?;
                Ok(Expr::Call {
                    func: Func::StrPos,
                    args: vec![hay, needle],
                    ty: DataType::Integer,
                })
            }
            E::Ceil { expr, .. } | E::Floor { expr, .. } => {
                let x = self.bind(expr)?;
                let name = if matches!(e, E::Ceil { .. }) {
                    "ceil"
                } else {
                    "floor"
                };
                let (func, ty) = Func::resolve(name, &[x.data_type()])?;
                Ok(Expr::Call {
                    func,
                    args: vec![x],
                    ty,
                })
            }
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let op = match operand {
                    Some(o) => Some(Box::new(self.bind(o)?)),
                    None => None,
                };
                let mut whens = Vec::with_capacity(conditions.len());
                for c in conditions {
                    let w = self.bind(&c.condition)?;
                    let w = match &op {
                        Some(o) if o.data_type() != DataType::Undefined => {
                            coerce_to(w, &o.data_type())?
                        }
                        _ => w,
                    };
                    whens.push((w, self.bind(&c.result)?));
                }
                let otherwise = match else_result {
                    Some(x) => Some(self.bind(x)?),
                    None => None,
                };
                let ty = common_type(whens.iter().map(|(_, t)| t).chain(otherwise.iter()));
                let whens = whens
                    .into_iter()
                    .map(|(w, t)| Ok((w, coerce_to(t, &ty)?)))
                    .collect::<Result<Vec<_>>>()?;
                let otherwise = match otherwise {
                    Some(o) => Some(Box::new(coerce_to(o, &ty)?)),
                    None => None,
                };
                Ok(Expr::Case {
                    operand: op,
                    whens,
                    otherwise,
                    ty,
                })
            }
            E::Function(f) => self.bind_function(f, e),
            E::Array(arr) => {
                let mut items = Vec::with_capacity(arr.elem.len());
                for x in &arr.elem {
                    items.push(self.bind(x)?);
                }
                let ty = common_type(items.iter());
                let items = items
                    .into_iter()
                    .map(|x| coerce_to(x, &ty))
                    .collect::<Result<Vec<_>>>()?;
                let arr_ty = DataType::Array(Box::new(ty));
                if items.iter().all(|x| matches!(x, Expr::Literal(..))) {
                    let vals = items
                        .into_iter()
                        .map(|x| match x {
                            Expr::Literal(v, _) => v,
                            _ => Value::Null,
                        })
                        .collect();
                    return Ok(lit(Value::Array(vals), arr_ty));
                }
                Ok(Expr::Array(items, arr_ty))
            }
            E::Dictionary(fields) => {
                let mut out = Vec::with_capacity(fields.len());
                for f in fields {
                    out.push((normalize_ident(&f.key), self.bind(&f.value)?));
                }
                Ok(Expr::Object(out))
            }
            E::Subquery(_) | E::Exists { .. } => Err(Error::Unsupported("subqueries".into())),
            E::Interval(_) => Err(Error::Unsupported("INTERVAL".into())),
            other => Err(Error::Unsupported(format!("expression {other}"))),
        }
    }

    fn bind_source_or_const(&mut self, e: &ast::Expr) -> Result<Expr> {
        self.bind_source(e)
    }

    fn bind_value(&self, v: &ast::Value) -> Result<Expr> {
        use ast::Value as V;
        Ok(match v {
            V::Number(n, _) => {
                let (v, ty) = number_literal(n)?;
                lit(v, ty)
            }
            V::SingleQuotedString(s)
            | V::EscapedStringLiteral(s)
            | V::NationalStringLiteral(s)
            | V::TripleSingleQuotedString(s) => lit(Value::Text(s.clone()), DataType::Text),
            V::DollarQuotedString(d) => lit(Value::Text(d.value.clone()), DataType::Text),
            V::Boolean(b) => lit(Value::Bool(*b), DataType::Boolean),
            V::Null => lit(Value::Null, DataType::Undefined),
            V::Placeholder(p) => {
                let n: usize = p
                    .trim_start_matches('$')
                    .parse()
                    .map_err(|_| Error::Parse(format!("invalid parameter placeholder {p}")))?;
                if n == 0 {
                    return Err(Error::Parse("parameter placeholders start at $1".into()));
                }
                Expr::Param(n - 1, DataType::Undefined)
            }
            other => return Err(Error::Unsupported(format!("literal {other}"))),
        })
    }

    fn column_or_keyword(&mut self, parts: &[String], e: &ast::Expr) -> Result<Expr> {
        match self.resolve_column(parts) {
            Ok(x) => {
                if self.mode == Mode::Post {
                    return Err(self.not_grouped(e));
                }
                Ok(x)
            }
            Err(err) => {
                if parts.len() == 1 {
                    let name = parts[0].as_str();
                    let f = match name {
                        "current_user" | "user" | "session_user" => Some("current_user"),
                        "current_schema" => Some("current_schema"),
                        "current_timestamp" | "localtimestamp" => Some(name),
                        _ => None,
                    };
                    if let Some(f) = f {
                        let (func, ty) = Func::resolve(f, &[])?;
                        return Ok(Expr::Call {
                            func,
                            args: vec![],
                            ty,
                        });
                    }
                }
                Err(err)
            }
        }
    }

    /// Resolves a (possibly qualified) column name against the relation.
    pub fn resolve_column(&mut self, parts: &[String]) -> Result<Expr> {
        let Some((name, qual)) = parts.split_last() else {
            return Err(Error::ColumnUnknown(String::new()));
        };
        match &mut self.relation {
            Relation::None => Err(Error::ColumnUnknown(name.clone())),
            Relation::Table { table, alias, scan } => {
                let qual_ok = match qual {
                    [] => true,
                    [q] => match alias {
                        Some(a) => a == q,
                        None => *q == table.ident.name,
                    },
                    [s, t] => alias.is_none() && *s == table.ident.schema && *t == table.ident.name,
                    _ => false,
                };
                if !qual_ok {
                    return Err(Error::RelationUnknown(qual.join(".")));
                }
                let col = match ScanColumn::system(name) {
                    Some(sys) => sys,
                    None => match table.column(name) {
                        Some(c) if c.index_off => ScanColumn::Stored {
                            name: c.name.clone(),
                            ty: c.data_type.clone(),
                        },
                        Some(c) => ScanColumn::User {
                            name: c.name.clone(),
                            ty: c.data_type.clone(),
                        },
                        None => return Err(Error::ColumnUnknown(name.clone())),
                    },
                };
                let ty = col.data_type();
                let idx = match scan.iter().position(|c| *c == col) {
                    Some(i) => i,
                    None => {
                        scan.push(col);
                        scan.len() - 1
                    }
                };
                Ok(Expr::Column(idx, ty))
            }
            Relation::Rows {
                qualifier,
                schema,
                columns,
            } => {
                let qual_ok = match qual {
                    [] => true,
                    [q] => qualifier.as_deref() == Some(q.as_str()),
                    [s, q] => {
                        qualifier.as_deref() == Some(q.as_str())
                            && schema.as_deref() == Some(s.as_str())
                    }
                    _ => false,
                };
                if !qual_ok {
                    return Err(Error::RelationUnknown(qual.join(".")));
                }
                match columns.iter().position(|(n, _)| n == name) {
                    Some(i) => Ok(Expr::Column(i, columns[i].1.clone())),
                    None => Err(Error::ColumnUnknown(name.clone())),
                }
            }
            Relation::Upsert { table, columns } => {
                let offset = match qual {
                    [] => 0,
                    [q] if q == "excluded" => columns.len(),
                    [q] if q == table => 0,
                    _ => return Err(Error::RelationUnknown(qual.join("."))),
                };
                match columns.iter().position(|(n, _)| n == name) {
                    Some(i) => Ok(Expr::Column(offset + i, columns[i].1.clone())),
                    None => Err(Error::ColumnUnknown(name.clone())),
                }
            }
        }
    }

    fn access_key(&self, base: Expr, key: String, path_name: &str) -> Result<Expr> {
        let base_ty = base.data_type();
        let (obj, is_array) = match &base_ty {
            DataType::Object(o) => (Some(o), false),
            DataType::Array(inner) => match inner.as_ref() {
                DataType::Object(o) => (Some(o), true),
                _ => (None, true),
            },
            _ => (None, false),
        };
        let ty = match obj {
            Some(o) => match o.field(&key) {
                Some(t) => t.clone(),
                None if o.policy == ColumnPolicy::Ignored || o.fields.is_empty() => {
                    DataType::Undefined
                }
                None => return Err(Error::ColumnUnknown(path_name.to_string())),
            },
            None if base_ty == DataType::Undefined => DataType::Undefined,
            None => {
                return Err(Error::Parse(format!(
                    "Cannot get subscript '{key}' of a value of type {}",
                    base_ty.name()
                )));
            }
        };
        let ty = if is_array {
            DataType::Array(Box::new(ty))
        } else {
            ty
        };
        Ok(Expr::Access {
            base: Box::new(base),
            access: Access::Key(key),
            ty,
        })
    }

    fn bind_binary(
        &mut self,
        left: &ast::Expr,
        op: &BinaryOperator,
        right: &ast::Expr,
    ) -> Result<Expr> {
        use BinaryOperator as B;
        match op {
            B::And | B::Or => {
                // Collect the whole chain iteratively: `a OR b OR c ...` parses
                // left-deep, and recursing along it would be as deep as it is long.
                let mut operands: Vec<&ast::Expr> = vec![right];
                let mut cur: &ast::Expr = left;
                loop {
                    match cur {
                        ast::Expr::BinaryOp {
                            left: l,
                            op: o,
                            right: r,
                        } if o == op => {
                            operands.push(r);
                            cur = l;
                        }
                        ast::Expr::Nested(inner) if matches!(inner.as_ref(), ast::Expr::BinaryOp { op: o, .. } if o == op) =>
                        {
                            cur = inner;
                        }
                        other => {
                            operands.push(other);
                            break;
                        }
                    }
                }
                let mut items = Vec::with_capacity(operands.len());
                for x in operands.into_iter().rev() {
                    match (op, cast_expr(self.bind(x)?, &DataType::Boolean)?) {
                        (B::And, Expr::And(inner)) => items.extend(inner),
                        (B::Or, Expr::Or(inner)) => items.extend(inner),
                        (_, other) => items.push(other),
                    }
                }
                Ok(if *op == B::And {
                    Expr::And(items)
                } else {
                    Expr::Or(items)
                })
            }
            B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq => {
                let (l, r) = coerce_pair(self.bind(left)?, self.bind(right)?)?;
                let func = cmp_func(op).ok_or_else(|| Error::internal("comparison"))?;
                Ok(Expr::Call {
                    func,
                    args: vec![l, r],
                    ty: DataType::Boolean,
                })
            }
            B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo => {
                let func = match op {
                    B::Plus => Func::Add,
                    B::Minus => Func::Sub,
                    B::Multiply => Func::Mul,
                    B::Divide => Func::Div,
                    _ => Func::Mod,
                };
                let l = self.bind(left)?;
                let r = self.bind(right)?;
                let (l, r) = arith_operands(l, r)?;
                let ty = func.operator_type(&l.data_type(), &r.data_type());
                Ok(Expr::Call {
                    func,
                    args: vec![l, r],
                    ty,
                })
            }
            B::StringConcat => {
                let l = self.bind(left)?;
                let r = self.bind(right)?;
                let ty = Func::Concat.operator_type(&l.data_type(), &r.data_type());
                Ok(Expr::Call {
                    func: Func::Concat,
                    args: vec![l, r],
                    ty,
                })
            }
            B::PGRegexMatch | B::PGRegexIMatch | B::PGRegexNotMatch | B::PGRegexNotIMatch => {
                let func = match op {
                    B::PGRegexMatch => Func::RegexMatch,
                    B::PGRegexIMatch => Func::RegexMatchCi,
                    B::PGRegexNotMatch => Func::NotRegexMatch,
                    _ => Func::NotRegexMatchCi,
                };
                let l = cast_expr(self.bind(left)?, &DataType::Text)?;
                let r = cast_expr(self.bind(right)?, &DataType::Text)?;
                Ok(Expr::Call {
                    func,
                    args: vec![l, r],
                    ty: DataType::Boolean,
                })
            }
            B::PGLikeMatch | B::PGILikeMatch | B::PGNotLikeMatch | B::PGNotILikeMatch => {
                let func = match op {
                    B::PGLikeMatch => Func::Like,
                    B::PGILikeMatch => Func::ILike,
                    B::PGNotLikeMatch => Func::NotLike,
                    _ => Func::NotILike,
                };
                let l = cast_expr(self.bind(left)?, &DataType::Text)?;
                let r = cast_expr(self.bind(right)?, &DataType::Text)?;
                Ok(Expr::Call {
                    func,
                    args: vec![l, r],
                    ty: DataType::Boolean,
                })
            }
            other => Err(Error::Unsupported(format!("operator {other}"))),
        }
    }

    fn bind_function(&mut self, f: &ast::Function, whole: &ast::Expr) -> Result<Expr> {
        let name = function_name(&f.name);
        if let Some(over) = &f.over {
            return self.bind_window(&name, f, over);
        }
        if AggFunc::from_name(&name).is_some() {
            if self.mode == Mode::Post {
                // Handled by bind_post_special; reaching here means nested misuse.
                return Err(Error::Parse(format!(
                    "Aggregate function {name} cannot be nested"
                )));
            }
            return Err(if self.allow_aggregates {
                Error::Parse(format!("Aggregate function {name} is not allowed here"))
            } else {
                Error::Parse(format!(
                    "Aggregate functions are not allowed in this context: {}",
                    super::naming::output_name(whole)
                ))
            });
        }
        let mode = self.mode;
        let (args, _) = self.function_args(f, mode)?;
        let mut bound = Vec::with_capacity(args.len());
        for a in args {
            match a {
                Arg::Expr(e) => bound.push(e),
                Arg::Star => {
                    return Err(Error::Parse(format!(
                        "'*' is not a valid argument of {name}"
                    )));
                }
            }
        }
        match name.as_str() {
            "coalesce" | "ifnull" => {
                let ty = common_type(bound.iter());
                let items = bound
                    .into_iter()
                    .map(|x| coerce_to(x, &ty))
                    .collect::<Result<Vec<_>>>()?;
                return Ok(Expr::Coalesce(items, ty));
            }
            "if" => {
                if bound.len() < 2 || bound.len() > 3 {
                    return Err(crate::expr::func_unknown(
                        &name,
                        &bound.iter().map(Expr::data_type).collect::<Vec<_>>(),
                    ));
                }
                let mut it = bound.into_iter();
                let cond = cast_expr(
                    it.next().unwrap_or(Expr::lit(Value::Null)),
                    &DataType::Boolean,
                )?;
                let then = it.next().unwrap_or(Expr::lit(Value::Null));
                let otherwise = it.next();
                let ty = common_type(std::iter::once(&then).chain(otherwise.iter()));
                return Ok(Expr::Case {
                    operand: None,
                    whens: vec![(cond, coerce_to(then, &ty)?)],
                    otherwise: match otherwise {
                        Some(o) => Some(Box::new(coerce_to(o, &ty)?)),
                        None => None,
                    },
                    ty,
                });
            }
            "date_trunc" | "date_format" | "extract" | "timezone" => {
                // The timestamp argument may be a text literal or parameter: cast it.
                if let Some(last) = bound.pop() {
                    let last = match last.data_type() {
                        DataType::Timestamp { .. } => last,
                        _ => cast_expr(last, &DataType::Timestamp { tz: true })?,
                    };
                    bound.push(last);
                }
            }
            "unnest" => return Err(Error::Unsupported("unnest() outside of FROM".into())),
            _ => {}
        }
        let types: Vec<DataType> = bound.iter().map(Expr::data_type).collect();
        let (func, ty) = Func::resolve(&name, &types)?;
        if matches!(
            func,
            Func::Add | Func::Sub | Func::Mul | Func::Div | Func::Mod
        ) {
            let r = bound.pop().unwrap_or(Expr::lit(Value::Null));
            let l = bound.pop().unwrap_or(Expr::lit(Value::Null));
            let (l, r) = arith_operands(l, r)?;
            let ty = func.operator_type(&l.data_type(), &r.data_type());
            return Ok(Expr::Call {
                func,
                args: vec![l, r],
                ty,
            });
        }
        Ok(Expr::Call {
            func,
            args: bound,
            ty,
        })
    }

    fn bind_window(
        &mut self,
        name: &str,
        f: &ast::Function,
        over: &ast::WindowType,
    ) -> Result<Expr> {
        let ast::WindowType::WindowSpec(spec) = over else {
            return Err(Error::Unsupported("named windows".into()));
        };
        if !spec.order_by.is_empty() || spec.window_frame.is_some() {
            return Err(Error::Unsupported(
                "window functions with ORDER BY or frames".into(),
            ));
        }
        let Some(func) = AggFunc::from_name(name) else {
            return Err(Error::Unsupported(format!("window function {name}")));
        };
        // Window arguments are bound against the row the window sees:
        // the aggregation row in a grouped query, the source row otherwise.
        let saved_allow = self.allow_aggregates;
        let agg = if self.mode == Mode::Post {
            let (args, distinct) = self.function_args(f, Mode::Post)?;
            let args: Vec<Expr> = args
                .into_iter()
                .filter_map(|a| match a {
                    Arg::Expr(e) => Some(e),
                    Arg::Star => None,
                })
                .collect();
            let func = if func == AggFunc::Count && args.is_empty() {
                AggFunc::CountStar
            } else {
                func
            };
            let types: Vec<DataType> = args.iter().map(Expr::data_type).collect();
            let first = types.first().cloned().unwrap_or(DataType::Undefined);
            AggCall {
                func,
                ty: func.result_type(&first, &types),
                args,
                distinct,
                filter: None,
            }
        } else {
            self.allow_aggregates = true;
            let r = self.bind_agg_call(func, f);
            self.allow_aggregates = saved_allow;
            r?
        };
        let mut partition_by = Vec::with_capacity(spec.partition_by.len());
        for p in &spec.partition_by {
            partition_by.push(self.bind(p)?);
        }
        let ty = agg.ty.clone();
        self.windows.push(WindowCall { agg, partition_by });
        Ok(Expr::Column(WINDOW_BASE + self.windows.len() - 1, ty))
    }
}

enum Arg {
    Expr(Expr),
    Star,
}

fn innermost(t: DataType) -> DataType {
    match t {
        DataType::Array(inner) => innermost(*inner),
        other => other,
    }
}

/// The type a set of expressions is coerced to (highest precedence wins).
pub fn common_type<'e>(items: impl Iterator<Item = &'e Expr>) -> DataType {
    let mut best = DataType::Undefined;
    for x in items {
        let t = x.data_type();
        let better = match (&best, &t) {
            (DataType::Undefined, _) => true,
            (_, DataType::Undefined) => false,
            // A text literal next to a number does not turn the numbers into text.
            (b, DataType::Text) if b.is_numeric() && matches!(x, Expr::Literal(..)) => false,
            (DataType::Text, n) if n.is_numeric() => true,
            (b, t) => t.precedence() > b.precedence(),
        };
        if better {
            best = t;
        }
    }
    best
}

/// Casts an expression to `ty`: literals at plan time, parameters take the type,
/// other expressions get a runtime cast.
pub fn coerce_to(x: Expr, ty: &DataType) -> Result<Expr> {
    if *ty == DataType::Undefined || x.data_type() == *ty {
        return Ok(x);
    }
    match x {
        Expr::Literal(v, _) => Ok(Expr::Literal(cast(v, ty)?, ty.clone())),
        Expr::Param(i, DataType::Undefined) => Ok(Expr::Param(i, ty.clone())),
        other => {
            // Integral widening needs no runtime work: values are i64 already.
            let from = other.data_type();
            if from.is_integral() && ty.is_integral() {
                return Ok(other);
            }
            Ok(Expr::Cast {
                expr: Box::new(other),
                to: ty.clone(),
                try_cast: false,
            })
        }
    }
}

/// Casts to `ty` unless the expression already has it (used for boolean/text operands).
pub fn cast_expr(x: Expr, ty: &DataType) -> Result<Expr> {
    let t = x.data_type();
    if t == *ty || t == DataType::Undefined && !matches!(x, Expr::Param(..)) {
        return Ok(x);
    }
    coerce_to(x, ty)
}

/// Brings two operands to a common type: the non-literal side's type wins
/// over a literal, otherwise the higher precedence type.
pub fn coerce_pair(l: Expr, r: Expr) -> Result<(Expr, Expr)> {
    let (lt, rt) = (l.data_type(), r.data_type());
    if lt == rt {
        return Ok((l, r));
    }
    let l_fixed = matches!(l, Expr::Literal(..) | Expr::Param(..));
    let r_fixed = matches!(r, Expr::Literal(..) | Expr::Param(..));
    if lt == DataType::Undefined {
        return Ok((coerce_to(l, &rt)?, r));
    }
    if rt == DataType::Undefined {
        return Ok((l, coerce_to(r, &lt)?));
    }
    if r_fixed && !l_fixed {
        return Ok((l.clone(), coerce_literal_to_column(r, &lt, &l)?));
    }
    if l_fixed && !r_fixed {
        return Ok((coerce_literal_to_column(l, &rt, &r)?, r));
    }
    if lt.is_numeric() && rt.is_numeric() {
        let target = if lt.precedence() >= rt.precedence() {
            lt
        } else {
            rt
        };
        return Ok((coerce_to(l, &target)?, coerce_to(r, &target)?));
    }
    if lt.precedence() >= rt.precedence() {
        Ok((l, coerce_to(r, &lt)?))
    } else {
        Ok((coerce_to(l, &rt)?, r))
    }
}

/// Casts a literal to the type of the column it is compared with. A
/// fractional number compared with an integer column keeps its value by
/// casting the column side instead (done by the caller via precedence).
fn coerce_literal_to_column(lit_expr: Expr, ty: &DataType, _column: &Expr) -> Result<Expr> {
    if let Expr::Literal(Value::Float(f), _) = &lit_expr
        && ty.is_integral()
        && f.fract() != 0.0
    {
        return Ok(lit_expr);
    }
    coerce_to(lit_expr, ty)
}

fn arith_operands(l: Expr, r: Expr) -> Result<(Expr, Expr)> {
    let (lt, rt) = (l.data_type(), r.data_type());
    let fix = |x: Expr, other: &DataType| -> Result<Expr> {
        match (&x, other) {
            (Expr::Param(i, DataType::Undefined), t) if *t != DataType::Undefined => {
                Ok(Expr::Param(*i, t.clone()))
            }
            (Expr::Literal(Value::Text(_), _), t) if t.is_numeric() => coerce_to(x, t),
            _ => Ok(x),
        }
    };
    Ok((fix(l, &rt)?, fix(r, &lt)?))
}

/// Binds an expression (a DEFAULT, GENERATED or CHECK clause) over a
/// table's top-level columns: to validate it when a table is defined, and
/// to evaluate it on the rows written to the table.
pub fn bind_over_columns(columns: &[ColumnInfo], text: &str) -> Result<Expr> {
    let e = crate::sql::parse_expr(text)?;
    let empty = PlanCtx::empty();
    let cols = columns
        .iter()
        .map(|c| (c.name.clone(), c.data_type.clone()))
        .collect();
    let mut b = Binder::new(
        &empty,
        Relation::Rows {
            qualifier: None,
            schema: None,
            columns: cols,
        },
    );
    b.bind(&e)
}
