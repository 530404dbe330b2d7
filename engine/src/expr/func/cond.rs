//! Conditional functions: `nullif`, `greatest` and `least`, which pick one
//! of their arguments (not strict: `greatest` and `least` skip NULLs).

use super::Func;
use crate::error::Result;
use crate::types::cast::cast;
use crate::types::{DataType, Value};

impl Func {
    /// Evaluates a conditional function.
    pub(super) fn eval_cond(self, args: &[Value], ty: &DataType) -> Result<Value> {
        use Value::*;
        let out = match self {
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
            _ => unreachable!("{self:?} is not a conditional function"),
        };
        Ok(out)
    }
}
