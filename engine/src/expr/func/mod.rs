//! Scalar functions and operators: resolution by name and argument types,
//! and evaluation over already-evaluated arguments.

use super::EvalCtx;
use super::like::{like_matches, regex_cached};
use crate::error::{Error, Result};
use crate::types::cast::{cast, text_of};
use crate::types::time::{TruncError, Zone, date_format, date_trunc, extract, extract_is_integral};
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
            Func::Concat => {
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
        use Value::*;
        let text = |i: usize| -> String {
            match args.get(i) {
                Some(Text(s)) => s.clone(),
                Some(v) => text_of(v),
                None => String::new(),
            }
        };
        let int = |i: usize| -> Result<i64> {
            match args.get(i) {
                Some(Int(n)) => Ok(*n),
                Some(Float(f)) => Ok(f.round() as i64),
                Some(v) => match cast(v.clone(), &DataType::BigInt)? {
                    Int(n) => Ok(n),
                    _ => Ok(0),
                },
                None => Ok(0),
            }
        };
        let float = |i: usize| -> Result<f64> {
            match args.get(i) {
                Some(v) => match v.as_f64() {
                    Some(f) => Ok(f),
                    None => match cast(v.clone(), &DataType::Double)? {
                        Float(f) => Ok(f),
                        _ => Ok(f64::NAN),
                    },
                },
                None => Ok(f64::NAN),
            }
        };
        let out = match self {
            Func::Add | Func::Sub | Func::Mul | Func::Div | Func::Mod => {
                return arithmetic(self, &args[0], &args[1], ty);
            }
            Func::Neg => match &args[0] {
                Int(i) => Int(i.checked_neg().ok_or_else(|| overflow(ty))?),
                Float(f) => Float(-f),
                other => Float(-cast_f64(other)?),
            },
            Func::Eq => Bool(args[0].sql_eq(&args[1])),
            Func::NotEq => Bool(!args[0].sql_eq(&args[1])),
            Func::Lt => Bool(args[0] < args[1]),
            Func::LtEq => Bool(args[0] <= args[1]),
            Func::Gt => Bool(args[0] > args[1]),
            Func::GtEq => Bool(args[0] >= args[1]),
            Func::IsDistinctFrom => Bool(args[0] != args[1]),
            Func::IsNotDistinctFrom => Bool(args[0] == args[1]),
            Func::Like | Func::ILike | Func::NotLike | Func::NotILike => {
                let ci = matches!(self, Func::ILike | Func::NotILike);
                let escape = args.get(2).map(|_| text(2));
                let hit = like_matches(&text(0), &text(1), ci, escape.as_deref())?;
                Bool(hit != matches!(self, Func::NotLike | Func::NotILike))
            }
            Func::RegexMatch | Func::RegexMatchCi | Func::NotRegexMatch | Func::NotRegexMatchCi => {
                let ci = matches!(self, Func::RegexMatchCi | Func::NotRegexMatchCi);
                // CrateDB's `~` (Lucene regular expressions) matches the whole string.
                let re = regex_cached(&format!("^(?:{})$", text(1)), ci, false)?;
                Bool(
                    re.is_match(&text(0))
                        != matches!(self, Func::NotRegexMatch | Func::NotRegexMatchCi),
                )
            }
            Func::Concat => {
                if let Some(Array(_)) = args.first() {
                    let mut out = Vec::new();
                    for a in args {
                        match a {
                            Array(items) => out.extend(items.iter().cloned()),
                            Null => {}
                            other => out.push(other.clone()),
                        }
                    }
                    Array(out)
                } else {
                    let mut s = String::new();
                    for a in args {
                        if !a.is_null() {
                            let part = text_of(a);
                            ensure_size(ctx, s.len().saturating_add(part.len()), "concat")?;
                            s.push_str(&part);
                        }
                    }
                    Text(s)
                }
            }
            Func::Format => match &args[0] {
                Null => Null,
                _ => Text(format_printf(&text(0), &args[1..], ctx)?),
            },
            Func::Lower => Text(text(0).to_lowercase()),
            Func::Upper => Text(text(0).to_uppercase()),
            Func::Substr => {
                let s = text(0);
                let start = int(1)?;
                let len = if args.len() > 2 { Some(int(2)?) } else { None };
                if let Some(l) = len
                    && l < 0
                {
                    return Err(Error::InvalidArgument(
                        "negative substring length not allowed".into(),
                    ));
                }
                // 1-based character positions: [from, end).
                let from = start.max(1);
                let end = match len {
                    Some(l) => start.saturating_add(l),
                    None => i64::MAX,
                };
                if end <= from {
                    Text(String::new())
                } else {
                    let take = usize::try_from(end - from).unwrap_or(usize::MAX);
                    let skip = usize::try_from(from - 1).unwrap_or(usize::MAX);
                    Text(s.chars().skip(skip).take(take).collect())
                }
            }
            Func::Length => Int(text(0).chars().count() as i64),
            Func::OctetLength => Int(text(0).len() as i64),
            Func::BitLength => Int(text(0).len() as i64 * 8),
            Func::Trim | Func::LTrim | Func::RTrim => {
                let s = text(0);
                let chars: Vec<char> = if args.len() > 1 {
                    text(1).chars().collect()
                } else {
                    vec![' ']
                };
                let t = match self {
                    Func::Trim => s.trim_matches(chars.as_slice()),
                    Func::LTrim => s.trim_start_matches(chars.as_slice()),
                    _ => s.trim_end_matches(chars.as_slice()),
                };
                Text(t.to_string())
            }
            Func::Replace => {
                let (s, from, to) = (text(0), text(1), text(2));
                if !from.is_empty() && to.len() > from.len() {
                    let grows = s.matches(from.as_str()).count() * (to.len() - from.len());
                    ensure_size(ctx, s.len().saturating_add(grows), "replace")?;
                }
                Text(s.replace(&from, &to))
            }
            Func::Left | Func::Right => {
                let s = text(0);
                let n = int(1)?;
                let len = s.chars().count() as i64;
                let take = if n >= 0 { n.min(len) } else { (len + n).max(0) } as usize;
                let out: String = if self == Func::Left {
                    s.chars().take(take).collect()
                } else {
                    s.chars().skip(len as usize - take).collect()
                };
                Text(out)
            }
            Func::Reverse => Text(text(0).chars().rev().collect()),
            Func::Repeat => {
                let n = usize::try_from(int(1)?.max(0)).unwrap_or(usize::MAX);
                let s = text(0);
                ensure_size(ctx, s.len().saturating_mul(n), "repeat")?;
                Text(s.repeat(n))
            }
            Func::InitCap => {
                let mut out = String::new();
                let mut start = true;
                for c in text(0).chars() {
                    if c.is_alphanumeric() {
                        if start {
                            out.extend(c.to_uppercase());
                        } else {
                            out.extend(c.to_lowercase());
                        }
                        start = false;
                    } else {
                        out.push(c);
                        start = true;
                    }
                }
                Text(out)
            }
            Func::StrPos => {
                let s = text(0);
                let needle = text(1);
                Int(match s.find(&needle) {
                    Some(byte) => s[..byte].chars().count() as i64 + 1,
                    None => 0,
                })
            }
            Func::SplitPart => {
                let n = int(2)?;
                if n <= 0 {
                    return Err(Error::InvalidArgument(
                        "field position must be greater than zero".into(),
                    ));
                }
                let s = text(0);
                let d = text(1);
                let part = if d.is_empty() {
                    if n == 1 { Some(s.as_str()) } else { None }
                } else {
                    s.split(d.as_str()).nth(n as usize - 1)
                };
                Text(part.unwrap_or("").to_string())
            }
            Func::RegexpReplace => {
                let flags = if args.len() > 3 {
                    text(3)
                } else {
                    String::new()
                };
                let re = regex_cached(&text(1), flags.contains('i'), false)?;
                let replacement = text(2).replace("\\", "$");
                let input = text(0);
                // Expanded by hand, so that a replacement that repeats its
                // captures cannot build an unbounded string unchecked.
                let mut out = String::with_capacity(input.len());
                let mut last = 0;
                for caps in re.captures_iter(&input) {
                    let Some(m) = caps.get(0) else { continue };
                    out.push_str(&input[last..m.start()]);
                    caps.expand(&replacement, &mut out);
                    last = m.end();
                    ensure_size(ctx, out.len() + (input.len() - last), "regexp_replace")?;
                    if !flags.contains('g') {
                        break;
                    }
                }
                out.push_str(&input[last..]);
                Text(out)
            }
            Func::Lpad | Func::Rpad => {
                let s = text(0);
                let chars = s.chars().count();
                let len = usize::try_from(int(1)?.max(0)).unwrap_or(usize::MAX);
                let fill: Vec<char> = if args.len() > 2 {
                    text(2).chars().collect()
                } else {
                    vec![' ']
                };
                if chars >= len || fill.is_empty() {
                    Text(s.chars().take(len).collect())
                } else {
                    let widest = fill.iter().map(|c| c.len_utf8()).max().unwrap_or(1);
                    let pad_chars = len - chars;
                    ensure_size(
                        ctx,
                        s.len().saturating_add(pad_chars.saturating_mul(widest)),
                        if self == Func::Lpad { "lpad" } else { "rpad" },
                    )?;
                    let pad: String = fill.iter().cycle().take(pad_chars).collect();
                    Text(if self == Func::Lpad {
                        pad + &s
                    } else {
                        s + &pad
                    })
                }
            }
            Func::Abs => match &args[0] {
                Int(i) => Int(i.checked_abs().ok_or_else(|| overflow(ty))?),
                other => Float(cast_f64(other)?.abs()),
            },
            Func::Round => {
                if args.len() == 2 {
                    let f = float(0)?;
                    let d = int(1)?.clamp(-300, 300) as i32;
                    let m = 10f64.powi(d);
                    Float((f * m).round() / m)
                } else {
                    match &args[0] {
                        Int(i) => Int(*i),
                        other => {
                            let f = cast_f64(other)?;
                            // Java's Math.round: half rounds towards positive infinity.
                            Int((f + 0.5).floor() as i64)
                        }
                    }
                }
            }
            Func::Floor => match &args[0] {
                Int(i) => Int(*i),
                other => Int(cast_f64(other)?.floor() as i64),
            },
            Func::Ceil => match &args[0] {
                Int(i) => Int(*i),
                other => Int(cast_f64(other)?.ceil() as i64),
            },
            Func::Trunc => {
                let f = float(0)?;
                if args.len() == 2 {
                    let m = 10f64.powi(int(1)?.clamp(-300, 300) as i32);
                    Float((f * m).trunc() / m)
                } else if let Int(i) = &args[0] {
                    Int(*i)
                } else {
                    Float(f.trunc())
                }
            }
            Func::Sqrt => {
                let f = float(0)?;
                if f < 0.0 {
                    return Err(Error::InvalidArgument(format!(
                        "cannot take square root of a negative number: {f}"
                    )));
                }
                Float(f.sqrt())
            }
            Func::Power => Float(float(0)?.powf(float(1)?)),
            Func::Exp => Float(float(0)?.exp()),
            Func::Ln => Float(float(0)?.ln()),
            Func::Log => {
                if args.len() == 2 {
                    Float(float(0)?.ln() / float(1)?.ln())
                } else {
                    Float(float(0)?.log10())
                }
            }
            Func::Sign => match &args[0] {
                Int(i) => Int(i.signum()),
                other => Float(cast_f64(other)?.signum()),
            },
            Func::Random => {
                Float((crate::runtime::random_u64() >> 11) as f64 / (1u64 << 53) as f64)
            }
            Func::Pi => Float(std::f64::consts::PI),
            Func::Sin => Float(float(0)?.sin()),
            Func::Cos => Float(float(0)?.cos()),
            Func::Tan => Float(float(0)?.tan()),
            Func::DateTrunc => {
                let unit = text(0);
                let ms = int(args.len() - 1)?;
                let zone = if args.len() == 3 {
                    Some(zone(&text(1))?)
                } else {
                    None
                };
                match date_trunc(&unit, ms, zone.as_ref()) {
                    Ok(v) => Int(v),
                    Err(TruncError::Unit) => {
                        return Err(Error::InvalidArgument(format!(
                            "Invalid interval '{unit}' for scalar 'date_trunc'"
                        )));
                    }
                    Err(TruncError::Range) => {
                        return Err(Error::InvalidArgument(format!(
                            "date_trunc('{unit}', {ms}): the result is out of the range of timestamps"
                        )));
                    }
                }
            }
            Func::Timezone => {
                let z = zone(&text(0))?;
                let ms = int(1)?;
                // To wall-clock time for a timestamp with time zone; from it
                // for one without (the result type says which way).
                let moved = match ty {
                    DataType::Timestamp { tz: false } => ms.checked_add(z.offset_ms(ms)),
                    _ => z.utc_from_local(ms),
                };
                Int(moved.ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "timezone: {ms} is out of the range of timestamps"
                    ))
                })?)
            }
            Func::Extract => {
                let field = text(0);
                let ms = int(1)?;
                match extract(&field, ms) {
                    Some(v) if extract_is_integral(&field) => Int(v as i64),
                    Some(v) => Float(v),
                    None if extract(&field, 0).is_some() => {
                        return Err(Error::InvalidArgument(format!(
                            "extract({field}): timestamp {ms} is outside the calendar's range"
                        )));
                    }
                    None => {
                        return Err(Error::InvalidArgument(format!(
                            "unsupported extract field {field}"
                        )));
                    }
                }
            }
            Func::DateFormat => {
                let ts = args.last().cloned().unwrap_or(Null);
                if ts.is_null() {
                    return Ok(Null);
                }
                let ms = match cast(ts, &DataType::Timestamp { tz: true })? {
                    Int(ms) => ms,
                    _ => return Ok(Null),
                };
                let fmt = if args.len() >= 2 {
                    text(0)
                } else {
                    "%Y-%m-%dT%H:%i:%s.%fZ".into()
                };
                let ms = if args.len() == 3 {
                    let z = zone(&text(1))?;
                    ms.saturating_add(z.offset_ms(ms))
                } else {
                    ms
                };
                Text(date_format(&fmt, ms))
            }
            Func::Now => Int(ctx.now_ms),
            Func::NullIf => {
                if !args[0].is_null() && !args[1].is_null() && args[0].sql_eq(&args[1]) {
                    Null
                } else {
                    args[0].clone()
                }
            }
            Func::Greatest | Func::Least => {
                let mut best: Option<&Value> = None;
                for a in args.iter().filter(|a| !a.is_null()) {
                    best = match best {
                        None => Some(a),
                        Some(b) if (self == Func::Greatest) == (a > b) && a != b => Some(a),
                        Some(b) => Some(b),
                    };
                }
                match best {
                    Some(v) => cast(v.clone(), ty)?,
                    None => Null,
                }
            }
            Func::ArrayLength => match &args[0] {
                Array(items) if items.is_empty() => Null,
                Array(items) => Int(items.len() as i64),
                _ => Null,
            },
            Func::ArrayCat => {
                let total: usize = args
                    .iter()
                    .map(|a| match a {
                        Array(items) => items.len(),
                        _ => 0,
                    })
                    .sum();
                ensure_size(ctx, total.saturating_mul(size_of::<Value>()), "array_cat")?;
                let mut out = Vec::with_capacity(total);
                for a in args {
                    if let Array(items) = a {
                        out.extend(items.iter().cloned());
                    }
                }
                Array(out)
            }
            Func::ArrayUnique => {
                let mut seen = std::collections::HashSet::new();
                let mut out: Vec<Value> = Vec::new();
                for a in args {
                    if let Array(items) = a {
                        for v in items {
                            if seen.insert(v) {
                                out.push(v.clone());
                            }
                        }
                    }
                }
                Array(out)
            }
            Func::ArrayPosition => match &args[0] {
                Array(items) => {
                    let start = if args.len() > 2 {
                        int(2)?.max(1) as usize
                    } else {
                        1
                    };
                    items
                        .iter()
                        .enumerate()
                        .skip(start - 1)
                        .find(|(_, v)| !v.is_null() && v.sql_eq(&args[1]))
                        .map(|(i, _)| Int(i as i64 + 1))
                        .unwrap_or(Null)
                }
                _ => Null,
            },
            Func::ArrayContains => match &args[0] {
                Array(items) => Bool(items.iter().any(|v| v.sql_eq(&args[1]))),
                _ => Null,
            },
            Func::CurrentUser => Text(ctx.current_user.clone()),
            Func::CurrentSchema => Text(ctx.current_schema.clone()),
            Func::Version => Text(format!("Shoal {}", env!("CARGO_PKG_VERSION"))),
        };
        Ok(out)
    }
}

/// A time zone argument.
fn zone(name: &str) -> Result<Zone> {
    Zone::parse(name).map_err(Error::InvalidArgument)
}

/// The largest value a function may build, whatever the memory limits.
const MAX_VALUE_BYTES: usize = 1 << 30;

/// Fails if a function result of `bytes` is too large for one value or for
/// the statement's memory.
fn ensure_size(ctx: &EvalCtx, bytes: usize, function: &str) -> Result<()> {
    if bytes > MAX_VALUE_BYTES {
        return Err(Error::InvalidArgument(format!(
            "{function}: the result would take {}, more than the largest value allowed (1gb)",
            crate::breaker::format_bytes(bytes as u64)
        )));
    }
    ctx.check_alloc(bytes, function)
}

fn cast_f64(v: &Value) -> Result<f64> {
    match cast(v.clone(), &DataType::Double)? {
        Value::Float(f) => Ok(f),
        _ => Ok(f64::NAN),
    }
}

fn overflow(ty: &DataType) -> Error {
    match ty {
        DataType::Integer | DataType::SmallInt => Error::Arithmetic("integer overflow".into()),
        _ => Error::Arithmetic("long overflow".into()),
    }
}

fn arithmetic(f: Func, a: &Value, b: &Value, ty: &DataType) -> Result<Value> {
    use Value::*;
    if a.is_null() || b.is_null() {
        return Ok(Null);
    }
    let float_result = matches!(ty, DataType::Double | DataType::Real);
    match (a, b) {
        (Int(x), Int(y)) if !float_result => {
            let (x, y) = (*x, *y);
            let r = match f {
                Func::Add => x.checked_add(y),
                Func::Sub => x.checked_sub(y),
                Func::Mul => x.checked_mul(y),
                Func::Div => {
                    if y == 0 {
                        return Err(Error::Arithmetic("/ by zero".into()));
                    }
                    x.checked_div(y)
                }
                _ => {
                    if y == 0 {
                        return Err(Error::Arithmetic("/ by zero".into()));
                    }
                    Some(x.checked_rem(y).unwrap_or(0))
                }
            };
            let r = r.ok_or_else(|| overflow(ty))?;
            let fits = match ty {
                DataType::Integer => i32::try_from(r).is_ok(),
                DataType::SmallInt => i16::try_from(r).is_ok(),
                _ => true,
            };
            if fits { Ok(Int(r)) } else { Err(overflow(ty)) }
        }
        _ => {
            let x = cast_f64(a)?;
            let y = cast_f64(b)?;
            let r = match f {
                Func::Add => x + y,
                Func::Sub => x - y,
                Func::Mul => x * y,
                Func::Div => x / y,
                _ => x % y,
            };
            if float_result {
                Ok(Float(if *ty == DataType::Real {
                    r as f32 as f64
                } else {
                    r
                }))
            } else {
                // An integral result type fed with a float (e.g. a text operand): keep the float.
                Ok(Float(r))
            }
        }
    }
}

/// `format(fmt, args...)`: the subset of Java's `String.format` that SQL
/// uses: `%s`, `%d`, `%f` (with `.N` precision), `%n`, `%%`, and explicit
/// argument indexes (`%2$s`). NULL arguments print as `null`, as in Java.
fn format_printf(fmt: &str, args: &[Value], ctx: &EvalCtx) -> Result<String> {
    let java = |v: &Value| -> String {
        match v {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            other => text_of(other),
        }
    };
    let bad = |spec: &str| Error::InvalidArgument(format!("Unsupported format specifier: %{spec}"));
    let mut out = String::with_capacity(fmt.len());
    let mut next = 0usize;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '$' || d == '.' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let conv = chars.next().ok_or_else(|| bad(&spec))?;
        let (index, precision) = match spec.split_once('$') {
            Some((i, rest)) => (
                Some(i.parse::<usize>().map_err(|_| bad(&spec))?),
                rest.to_string(),
            ),
            None => (None, spec.clone()),
        };
        let precision = match precision.strip_prefix('.') {
            Some(p) => Some(p.parse::<usize>().map_err(|_| bad(&spec))?),
            None if precision.is_empty() => None,
            None => return Err(bad(&spec)),
        };
        let mut arg = || -> Result<&Value> {
            let i = match index {
                Some(i) if i >= 1 => i - 1,
                Some(_) => return Err(bad(&spec)),
                None => {
                    next += 1;
                    next - 1
                }
            };
            args.get(i).ok_or_else(|| {
                Error::InvalidArgument(format!("Missing format argument for %{spec}{conv}"))
            })
        };
        match conv {
            '%' => out.push('%'),
            'n' => out.push('\n'),
            's' | 'S' => {
                let v = java(arg()?);
                let v = match precision {
                    Some(p) => v.chars().take(p).collect(),
                    None => v,
                };
                out.push_str(&if conv == 'S' { v.to_uppercase() } else { v });
            }
            'd' => match arg()? {
                Value::Null => out.push_str("null"),
                Value::Int(i) => out.push_str(&i.to_string()),
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "%d needs an integer, got {}",
                        java(other)
                    )));
                }
            },
            'f' => match arg()? {
                Value::Null => out.push_str("null"),
                v => {
                    let f = v.as_f64().ok_or_else(|| {
                        Error::InvalidArgument(format!("%f needs a number, got {}", java(v)))
                    })?;
                    let precision = precision.unwrap_or(6);
                    ensure_size(ctx, out.len().saturating_add(precision), "format")?;
                    // An f64's exact decimal expansion ends within 1,100
                    // fractional digits; beyond that every digit is a zero
                    // (and Rust's formatter refuses precisions past 65,535).
                    let exact = precision.min(1100);
                    out.push_str(&format!("{f:.exact$}"));
                    if f.is_finite() {
                        out.extend(std::iter::repeat_n('0', precision - exact));
                    }
                }
            },
            _ => return Err(bad(&format!("{spec}{conv}"))),
        }
    }
    Ok(out)
}
