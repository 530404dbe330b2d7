//! Scalar functions and operators: resolution by name and argument types,
//! and evaluation over already-evaluated arguments.
//!
//! This file holds the [`Func`] enum, resolution (names, arity and result
//! types) and the dispatch of evaluation to one file per family, where each
//! function's evaluation lives: `math.rs` (arithmetic operators and numeric
//! functions), `compare.rs` (comparison and pattern-matching operators),
//! `string.rs` (text functions, `format`), `time.rs` (date and time),
//! `cond.rs` (`nullif`, `greatest`, `least`), `array.rs` and `session.rs`;
//! `args.rs` has what they share. A new function is a variant, a `resolve`
//! arm and a place in `eval`'s dispatch here, and its evaluation in its
//! family's file.

mod args;
mod array;
mod compare;
mod cond;
mod math;
mod session;
mod string;
mod time;

use super::EvalCtx;
use crate::error::{Error, Result};
use crate::types::{DataType, Value};

/// A scalar function or operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Func {
    // arithmetic
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Neg,
    // comparison
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    IsDistinctFrom,
    IsNotDistinctFrom,
    // patterns
    Like,
    ILike,
    NotLike,
    NotILike,
    RegexMatch,
    RegexMatchCi,
    NotRegexMatch,
    NotRegexMatchCi,
    // text
    Concat,
    /// `a || b` on text: NULL if either is NULL (`concat` skips NULLs).
    ConcatOp,
    /// `within(point, shape)`: the point lies in the shape's area.
    Within,
    Format,
    Lower,
    Upper,
    Substr,
    Length,
    OctetLength,
    BitLength,
    Trim,
    LTrim,
    RTrim,
    Replace,
    Left,
    Right,
    Reverse,
    Repeat,
    InitCap,
    StrPos,
    SplitPart,
    RegexpReplace,
    Lpad,
    Rpad,
    // math
    Abs,
    Round,
    Floor,
    Ceil,
    Trunc,
    Sqrt,
    Power,
    Exp,
    Ln,
    Log,
    Sign,
    Random,
    Pi,
    Sin,
    Cos,
    Tan,
    // time
    DateTrunc,
    Extract,
    DateFormat,
    Now,
    /// `timezone(zone, ts)` and `ts AT TIME ZONE zone`.
    Timezone,
    // conditional
    NullIf,
    Greatest,
    Least,
    // arrays and objects
    ArrayLength,
    ArrayCat,
    ArrayUnique,
    ArrayPosition,
    ArrayContains,
    // session
    CurrentUser,
    CurrentSchema,
    Version,
}

fn numeric_result(a: &DataType, b: &DataType) -> DataType {
    let a = if *a == DataType::Undefined { b } else { a };
    let b = if *b == DataType::Undefined { a } else { b };
    match (a, b) {
        (DataType::Double, _) | (_, DataType::Double) => DataType::Double,
        (DataType::Real, _) | (_, DataType::Real) => DataType::Real,
        (DataType::BigInt, _) | (_, DataType::BigInt) => DataType::BigInt,
        (DataType::Timestamp { .. }, _) | (_, DataType::Timestamp { .. }) => DataType::BigInt,
        (DataType::Integer, _) | (_, DataType::Integer) => DataType::Integer,
        (DataType::SmallInt, _) | (_, DataType::SmallInt) => DataType::Integer,
        (DataType::Text, _) | (_, DataType::Text) => DataType::Double,
        _ => DataType::BigInt,
    }
}

fn arity(name: &str, args: &[DataType], min: usize, max: usize) -> Result<()> {
    if args.len() < min || args.len() > max {
        return Err(unknown(name, args));
    }
    Ok(())
}

/// CrateDB's "unknown function" error.
pub fn unknown(name: &str, args: &[DataType]) -> Error {
    let sig: Vec<String> = args.iter().map(|t| t.name()).collect();
    Error::UnknownFunction(format!("Unknown function: {}({})", name, sig.join(", ")))
}

impl Func {
    /// Resolves a function call by name and argument types, returning the
    /// function and its result type.
    pub fn resolve(name: &str, args: &[DataType]) -> Result<(Func, DataType)> {
        use DataType as T;
        let lname = name.to_ascii_lowercase();
        let first = args.first().cloned().unwrap_or(T::Undefined);
        let r = |f: Func, n: usize, ty: DataType| -> Result<(Func, DataType)> {
            arity(name, args, n, n)?;
            Ok((f, ty))
        };
        match lname.as_str() {
            "lower" => r(Func::Lower, 1, T::Text),
            "within" => r(Func::Within, 2, T::Boolean),
            "upper" => r(Func::Upper, 1, T::Text),
            "substr" | "substring" => {
                arity(name, args, 2, 3)?;
                Ok((Func::Substr, T::Text))
            }
            "length" | "char_length" | "character_length" => r(Func::Length, 1, T::Integer),
            "octet_length" => r(Func::OctetLength, 1, T::Integer),
            "bit_length" => r(Func::BitLength, 1, T::Integer),
            "concat" => Ok((Func::Concat, T::Text)),
            "format" => {
                arity(name, args, 1, usize::MAX)?;
                Ok((Func::Format, T::Text))
            }
            "trim" | "btrim" => {
                arity(name, args, 1, 2)?;
                Ok((Func::Trim, T::Text))
            }
            "ltrim" => {
                arity(name, args, 1, 2)?;
                Ok((Func::LTrim, T::Text))
            }
            "rtrim" => {
                arity(name, args, 1, 2)?;
                Ok((Func::RTrim, T::Text))
            }
            "replace" => r(Func::Replace, 3, T::Text),
            "left" => r(Func::Left, 2, T::Text),
            "right" => r(Func::Right, 2, T::Text),
            "reverse" => r(Func::Reverse, 1, T::Text),
            "repeat" => r(Func::Repeat, 2, T::Text),
            "initcap" => r(Func::InitCap, 1, T::Text),
            "strpos" | "position" => r(Func::StrPos, 2, T::Integer),
            "split_part" => r(Func::SplitPart, 3, T::Text),
            "regexp_replace" => {
                arity(name, args, 3, 4)?;
                Ok((Func::RegexpReplace, T::Text))
            }
            "lpad" => {
                arity(name, args, 2, 3)?;
                Ok((Func::Lpad, T::Text))
            }
            "rpad" => {
                arity(name, args, 2, 3)?;
                Ok((Func::Rpad, T::Text))
            }
            "abs" => r(
                Func::Abs,
                1,
                if first == T::Undefined {
                    T::Integer
                } else {
                    first
                },
            ),
            "round" => {
                arity(name, args, 1, 2)?;
                let ty = if args.len() == 2 {
                    T::Double
                } else {
                    match first {
                        T::Real => T::Integer,
                        T::Double | T::Text => T::BigInt,
                        T::Undefined => T::BigInt,
                        other => other,
                    }
                };
                Ok((Func::Round, ty))
            }
            "floor" | "ceil" | "ceiling" => {
                let f = if lname == "floor" {
                    Func::Floor
                } else {
                    Func::Ceil
                };
                let ty = match first {
                    T::Real => T::Integer,
                    T::Double | T::Undefined | T::Text => T::BigInt,
                    other => other,
                };
                r(f, 1, ty)
            }
            "trunc" => {
                arity(name, args, 1, 2)?;
                Ok((
                    Func::Trunc,
                    if args.len() == 2 || !first.is_integral() {
                        T::Double
                    } else {
                        first
                    },
                ))
            }
            "sqrt" => r(Func::Sqrt, 1, T::Double),
            "power" | "pow" => r(Func::Power, 2, T::Double),
            "exp" => r(Func::Exp, 1, T::Double),
            "ln" => r(Func::Ln, 1, T::Double),
            "log" => {
                arity(name, args, 1, 2)?;
                Ok((Func::Log, T::Double))
            }
            "sign" => r(
                Func::Sign,
                1,
                if first.is_integral() {
                    first
                } else {
                    T::Double
                },
            ),
            "random" => r(Func::Random, 0, T::Double),
            "pi" => r(Func::Pi, 0, T::Double),
            "sin" => r(Func::Sin, 1, T::Double),
            "cos" => r(Func::Cos, 1, T::Double),
            "tan" => r(Func::Tan, 1, T::Double),
            "mod" => r(
                Func::Mod,
                2,
                numeric_result(&first, args.get(1).unwrap_or(&T::Undefined)),
            ),
            "date_trunc" => {
                arity(name, args, 2, 3)?;
                let ty = match args.last() {
                    Some(T::Timestamp { tz }) => T::Timestamp { tz: *tz },
                    _ => T::Timestamp { tz: true },
                };
                Ok((Func::DateTrunc, ty))
            }
            "extract" => r(Func::Extract, 2, T::Integer),
            "timezone" => {
                arity(name, args, 2, 2)?;
                let to = match args.get(1) {
                    Some(T::Timestamp { tz: false }) => T::Timestamp { tz: true },
                    _ => T::Timestamp { tz: false },
                };
                Ok((Func::Timezone, to))
            }
            "date_format" => {
                arity(name, args, 1, 3)?;
                Ok((Func::DateFormat, T::Text))
            }
            "now" | "current_timestamp" | "localtimestamp" | "transaction_timestamp" => {
                arity(name, args, 0, 1)?;
                Ok((
                    Func::Now,
                    T::Timestamp {
                        tz: lname != "localtimestamp",
                    },
                ))
            }
            "nullif" => r(Func::NullIf, 2, first),
            "greatest" | "least" => {
                if args.is_empty() {
                    return Err(unknown(name, args));
                }
                let ty = args.iter().fold(T::Undefined, |acc, t| {
                    if t.precedence() > acc.precedence() {
                        t.clone()
                    } else {
                        acc
                    }
                });
                Ok((
                    if lname == "greatest" {
                        Func::Greatest
                    } else {
                        Func::Least
                    },
                    ty,
                ))
            }
            "array_length" | "array_upper" => {
                arity(name, args, 1, 2)?;
                Ok((Func::ArrayLength, T::Integer))
            }
            "cardinality" => r(Func::ArrayLength, 1, T::Integer),
            "array_cat" => r(Func::ArrayCat, 2, first),
            "array_unique" => {
                arity(name, args, 1, 2)?;
                Ok((Func::ArrayUnique, first))
            }
            "array_position" => {
                arity(name, args, 2, 3)?;
                Ok((Func::ArrayPosition, T::Integer))
            }
            "array_contains" => r(Func::ArrayContains, 2, T::Boolean),
            "current_user" | "user" | "session_user" => r(Func::CurrentUser, 0, T::Text),
            "current_schema" => r(Func::CurrentSchema, 0, T::Text),
            "version" => r(Func::Version, 0, T::Text),
            _ => Err(unknown(name, args)),
        }
    }

    /// The result type of a binary operator applied to `a` and `b`.
    pub fn operator_type(self, a: &DataType, b: &DataType) -> DataType {
        match self {
            Func::Add | Func::Sub | Func::Mul | Func::Div | Func::Mod => {
                // timestamp +/- interval-like numbers keeps the timestamp type
                match (self, a, b) {
                    (Func::Add | Func::Sub, DataType::Timestamp { .. }, t) if t.is_integral() => {
                        a.clone()
                    }
                    _ => numeric_result(a, b),
                }
            }
            Func::Neg => a.clone(),
            Func::Concat | Func::ConcatOp => {
                if matches!(a, DataType::Array(_)) {
                    a.clone()
                } else {
                    DataType::Text
                }
            }
            _ => DataType::Boolean,
        }
    }

    /// Whether the function returns the same output for the same input.
    pub fn is_deterministic(self) -> bool {
        !matches!(self, Func::Random)
    }

    /// Whether a NULL argument makes the result NULL (true for most functions).
    fn strict(self) -> bool {
        !matches!(
            self,
            Func::Concat
                | Func::Format
                | Func::IsDistinctFrom
                | Func::IsNotDistinctFrom
                | Func::Greatest
                | Func::Least
                | Func::NullIf
                | Func::ArrayCat
                | Func::Now
                | Func::CurrentUser
                | Func::CurrentSchema
                | Func::Version
                | Func::Random
                | Func::Pi
                | Func::ArrayPosition
                | Func::DateFormat
        )
    }

    /// Evaluates the function; `ty` is the resolved result type.
    pub fn eval(self, args: &[Value], ty: &DataType, ctx: &EvalCtx) -> Result<Value> {
        if self.strict() && args.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        match self {
            Func::Add | Func::Sub | Func::Mul | Func::Div | Func::Mod | Func::Neg => {
                self.eval_math(args, ty)
            }
            Func::Eq
            | Func::NotEq
            | Func::Lt
            | Func::LtEq
            | Func::Gt
            | Func::GtEq
            | Func::IsDistinctFrom
            | Func::IsNotDistinctFrom
            | Func::Like
            | Func::ILike
            | Func::NotLike
            | Func::NotILike
            | Func::RegexMatch
            | Func::RegexMatchCi
            | Func::NotRegexMatch
            | Func::NotRegexMatchCi => self.eval_compare(args),
            Func::Concat
            | Func::ConcatOp
            | Func::Format
            | Func::Lower
            | Func::Upper
            | Func::Substr
            | Func::Length
            | Func::OctetLength
            | Func::BitLength
            | Func::Trim
            | Func::LTrim
            | Func::RTrim
            | Func::Replace
            | Func::Left
            | Func::Right
            | Func::Reverse
            | Func::Repeat
            | Func::InitCap
            | Func::StrPos
            | Func::SplitPart
            | Func::RegexpReplace
            | Func::Lpad
            | Func::Rpad => self.eval_string(args, ctx),
            Func::Abs
            | Func::Round
            | Func::Floor
            | Func::Ceil
            | Func::Trunc
            | Func::Sqrt
            | Func::Power
            | Func::Exp
            | Func::Ln
            | Func::Log
            | Func::Sign
            | Func::Random
            | Func::Pi
            | Func::Sin
            | Func::Cos
            | Func::Tan => self.eval_math(args, ty),
            Func::DateTrunc | Func::Extract | Func::DateFormat | Func::Now | Func::Timezone => {
                self.eval_time(args, ty, ctx)
            }
            Func::NullIf | Func::Greatest | Func::Least => self.eval_cond(args, ty),
            Func::ArrayLength
            | Func::ArrayCat
            | Func::ArrayUnique
            | Func::ArrayPosition
            | Func::ArrayContains => self.eval_array(args, ctx),
            Func::CurrentUser | Func::CurrentSchema | Func::Version => self.eval_session(ctx),
            Func::Within => {
                let shape = crate::types::geo::to_shape(args[1].clone())?;
                crate::types::geo::within(&args[0], &shape)
                    .map(Value::Bool)
                    .ok_or_else(|| {
                        Error::InvalidArgument(
                            "within(point, shape) needs a geo_point and a geo_shape".into(),
                        )
                    })
            }
        }
    }
}
