//! Arithmetic operators (`+ - * / %`, unary minus) and numeric functions
//! (abs, round, floor, ceil, trunc, sqrt, power, exp, ln, log, sign,
//! random, pi, sin, cos, tan). Integer arithmetic is checked: it fails on
//! overflow of the result type.

use super::Func;
use super::args::{float_arg, int_arg};
use crate::error::{Error, Result};
use crate::types::cast::cast;
use crate::types::{DataType, Value};

impl Func {
    /// Evaluates an arithmetic operator or a numeric function.
    pub(super) fn eval_math(self, args: &[Value], ty: &DataType) -> Result<Value> {
        use Value::*;
        let int = |i: usize| int_arg(args, i);
        let float = |i: usize| float_arg(args, i);
        let out = match self {
            Func::Add | Func::Sub | Func::Mul | Func::Div | Func::Mod => {
                return arithmetic(self, &args[0], &args[1], ty);
            }
            Func::Neg => match &args[0] {
                Int(i) => Int(i.checked_neg().ok_or_else(|| overflow(ty))?),
                Float(f) => Float(-f),
                other => Float(-cast_f64(other)?),
            },
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
            _ => unreachable!("{self:?} is not a math function"),
        };
        Ok(out)
    }
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
