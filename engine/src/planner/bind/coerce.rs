//! Type coercion: the common type of several expressions, implicit casts
//! of operands and literals, and explicit casts.

use crate::error::Result;
use crate::expr::Expr;
use crate::types::cast::cast;
use crate::types::{DataType, Value};

pub(super) fn innermost(t: DataType) -> DataType {
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
pub(super) fn coerce_literal_to_column(
    lit_expr: Expr,
    ty: &DataType,
    _column: &Expr,
) -> Result<Expr> {
    if let Expr::Literal(Value::Float(f), _) = &lit_expr
        && ty.is_integral()
        && f.fract() != 0.0
    {
        return Ok(lit_expr);
    }
    coerce_to(lit_expr, ty)
}

pub(super) fn arith_operands(l: Expr, r: Expr) -> Result<(Expr, Expr)> {
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
