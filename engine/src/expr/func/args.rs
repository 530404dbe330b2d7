//! What the function families share: an argument read as text, an integer
//! or a float (the `text(i)`, `int(i)` and `float(i)` of each family's
//! evaluation), and the bound on the size of a value a function builds.

use crate::error::{Error, Result};
use crate::expr::EvalCtx;
use crate::types::cast::{cast, text_of};
use crate::types::{DataType, Value};

/// Argument `i` as text; empty if missing.
pub(super) fn text_arg(args: &[Value], i: usize) -> String {
    use Value::*;
    match args.get(i) {
        Some(Text(s)) => s.clone(),
        Some(v) => text_of(v),
        None => String::new(),
    }
}

/// Argument `i` as an integer (a float rounds, other values are cast); 0 if missing.
pub(super) fn int_arg(args: &[Value], i: usize) -> Result<i64> {
    use Value::*;
    match args.get(i) {
        Some(Int(n)) => Ok(*n),
        Some(Float(f)) => Ok(f.round() as i64),
        Some(v) => match cast(v.clone(), &DataType::BigInt)? {
            Int(n) => Ok(n),
            _ => Ok(0),
        },
        None => Ok(0),
    }
}

/// Argument `i` as a float (other values are cast); NaN if missing.
pub(super) fn float_arg(args: &[Value], i: usize) -> Result<f64> {
    use Value::*;
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
}

/// The largest value a function may build, whatever the memory limits.
const MAX_VALUE_BYTES: usize = 1 << 30;

/// Fails if a function result of `bytes` is too large for one value or for
/// the statement's memory.
pub(super) fn ensure_size(ctx: &EvalCtx, bytes: usize, function: &str) -> Result<()> {
    if bytes > MAX_VALUE_BYTES {
        return Err(Error::InvalidArgument(format!(
            "{function}: the result would take {}, more than the largest value allowed (1gb)",
            crate::breaker::format_bytes(bytes as u64)
        )));
    }
    ctx.check_alloc(bytes, function)
}
