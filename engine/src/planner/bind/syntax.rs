//! Reading sqlparser's syntax: function names, number literals, type
//! names, comparison operators and null treatment clauses.

use sqlparser::ast::{self, BinaryOperator};

use crate::error::{Error, Result};
use crate::expr::Func;
use crate::types::{DataType, Value};

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

pub(super) fn cmp_func(op: &BinaryOperator) -> Option<Func> {
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

/// A call's `IGNORE NULLS` (`Some(true)`) or `RESPECT NULLS` (`Some(false)`),
/// written after the call or inside its argument list.
pub(super) fn null_treatment(f: &ast::Function) -> Option<bool> {
    let inside = match &f.args {
        ast::FunctionArguments::List(list) => list.clauses.iter().find_map(|c| match c {
            ast::FunctionArgumentClause::IgnoreOrRespectNulls(t) => Some(*t),
            _ => None,
        }),
        _ => None,
    };
    f.null_treatment
        .or(inside)
        .map(|t| matches!(t, ast::NullTreatment::IgnoreNulls))
}
