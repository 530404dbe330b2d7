//! Binding expressions: columns and subscripts, literals, operators,
//! casts, CASE, IN, ANY/ALL and the rest of the expression grammar.

use sqlparser::ast::{self, BinaryOperator, UnaryOperator};

use super::binder::{Binder, MAX_DEPTH, Mode, lit, too_deep};
use super::coerce::{arith_operands, cast_expr, coerce_pair, coerce_to, common_type, innermost};
use super::syntax::{cmp_func, convert_type, number_literal};
use crate::error::{Error, Result};
use crate::expr::{Access, Expr, Func};
use crate::planner::plan::SubqueryKind;
use crate::sql::normalize_ident;
use crate::types::cast::cast;
use crate::types::{ColumnPolicy, DataType, Value};

impl<'a> Binder<'a> {
    pub(super) fn bind_inner(&mut self, e: &ast::Expr) -> Result<Expr> {
        use ast::Expr as E;
        match e {
            E::Identifier(id) => self.column_or_keyword(&[normalize_ident(id)], e),
            E::CompoundIdentifier(ids) => {
                let parts: Vec<String> = ids.iter().map(normalize_ident).collect();
                self.column_or_keyword(&parts, e)
            }
            E::CompoundFieldAccess { root, access_chain } => {
                let mut base = self.bind(root)?;
                let mut path_name = crate::planner::naming::output_name(root);
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
            E::Subquery(q) => self.bind_subquery(q, SubqueryKind::Scalar),
            E::Exists { subquery, negated } => {
                let exists = self.bind_subquery(subquery, SubqueryKind::Exists)?;
                Ok(if *negated {
                    Expr::Not(Box::new(exists))
                } else {
                    exists
                })
            }
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
                let list = match target {
                    ast::InTarget::List(list) => list,
                    ast::InTarget::Subquery(q) => return self.bind_in_subquery(expr, q, *negated),
                    _ => return Err(Error::Unsupported(format!("IN {target}"))),
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
                let r = match right.as_ref() {
                    E::Subquery(q) => self.bind_subquery(q, SubqueryKind::List)?,
                    other => self.bind(other)?,
                };
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
            E::Interval(_) => Err(Error::Unsupported("INTERVAL".into())),
            other => Err(Error::Unsupported(format!("expression {other}"))),
        }
    }

    pub(super) fn bind_source_or_const(&mut self, e: &ast::Expr) -> Result<Expr> {
        self.bind_source(e)
    }

    pub(super) fn bind_value(&self, v: &ast::Value) -> Result<Expr> {
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
            // `X'414243'`: bytes, which Shoal keeps as the text they spell.
            V::HexStringLiteral(h) => {
                let bytes = (0..h.len())
                    .step_by(2)
                    .map(|i| h.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
                    .collect::<Option<Vec<u8>>>()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| Error::Parse(format!("X'{h}' is not hexadecimal UTF-8 text")))?;
                lit(Value::Text(bytes), DataType::Text)
            }
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

    pub(super) fn column_or_keyword(&mut self, parts: &[String], e: &ast::Expr) -> Result<Expr> {
        match self.resolve_column(parts) {
            // An outer value is constant while the subquery runs.
            Ok(x @ Expr::Outer(..)) => Ok(x),
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

    /// Resolves a (possibly qualified) column name against the relation,
    /// or, in a subquery, against the query around it.
    pub fn resolve_column(&mut self, parts: &[String]) -> Result<Expr> {
        match self.relation.resolve(parts) {
            Err(e @ (Error::ColumnUnknown(_) | Error::RelationUnknown(_))) => {
                self.resolve_outer(parts).ok_or(e)
            }
            other => other,
        }
    }

    /// A column of the query around this subquery: an outer value.
    fn resolve_outer(&self, parts: &[String]) -> Option<Expr> {
        let mut scopes = self.ctx.outer.borrow_mut();
        let scope = scopes.last_mut()?;
        let x = scope.relation.resolve(parts).ok()?;
        let ty = x.data_type();
        let i = match scope.refs.iter().position(|r| *r == x) {
            Some(i) => i,
            None => {
                scope.refs.push(x);
                scope.refs.len() - 1
            }
        };
        Some(Expr::Outer(i, ty))
    }

    pub(super) fn access_key(&self, base: Expr, key: String, path_name: &str) -> Result<Expr> {
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

    pub(super) fn bind_binary(
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
                let arrays = [&l, &r]
                    .iter()
                    .any(|x| matches!(x.data_type(), DataType::Array(_)));
                let func = if arrays { Func::Concat } else { Func::ConcatOp };
                let ty = func.operator_type(&l.data_type(), &r.data_type());
                Ok(Expr::Call {
                    func,
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
}
