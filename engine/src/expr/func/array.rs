//! Array functions: length, concatenation, distinct elements, position and
//! containment. `array_cat` checks the size of what it builds.

use super::Func;
use super::args::{ensure_size, int_arg};
use crate::error::Result;
use crate::expr::EvalCtx;
use crate::types::Value;

impl Func {
    /// Evaluates an array function.
    pub(super) fn eval_array(self, args: &[Value], ctx: &EvalCtx) -> Result<Value> {
        use Value::*;
        let int = |i: usize| int_arg(args, i);
        let out = match self {
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
            _ => unreachable!("{self:?} is not an array function"),
        };
        Ok(out)
    }
}
