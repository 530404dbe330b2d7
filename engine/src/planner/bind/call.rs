//! Binding calls: scalar functions and aggregates (with DISTINCT and
//! FILTER); window function calls are bound in [`super::window`].

use sqlparser::ast::{self, FunctionArg, FunctionArgExpr, FunctionArguments};

use super::binder::{Binder, Mode};
use super::coerce::{arith_operands, cast_expr, coerce_to, common_type};
use super::syntax::{function_name, null_treatment};
use crate::error::{Error, Result};
use crate::expr::{AggCall, AggFunc, Expr, Func};
use crate::types::{DataType, Value};

impl<'a> Binder<'a> {
    pub(super) fn bind_agg_call(&mut self, func: AggFunc, f: &ast::Function) -> Result<AggCall> {
        if !self.allow_aggregates {
            return Err(Error::Parse(format!(
                "Aggregate functions are not allowed in this context: {}",
                function_name(&f.name)
            )));
        }
        let name = function_name(&f.name);
        if null_treatment(f).is_some() {
            return Err(refused_null_treatment(&name));
        }
        let (args, distinct, filter) = self.denying_windows(
            "Aggregate function calls cannot contain window function calls",
            |b| {
                let (args, distinct) = b.function_args(f, Mode::Source)?;
                let filter = match &f.filter {
                    Some(x) => Some(b.bind_source(x)?),
                    None => None,
                };
                Ok((args, distinct, filter))
            },
        )?;
        aggregate_call(func, &name, args, distinct, filter)
    }

    pub(super) fn function_args(
        &mut self,
        f: &ast::Function,
        mode: Mode,
    ) -> Result<(Vec<Arg>, bool)> {
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

    pub(super) fn bind_function(&mut self, f: &ast::Function, whole: &ast::Expr) -> Result<Expr> {
        let name = function_name(&f.name);
        if name == crate::sql::MATCH_FUNCTION {
            return self.bind_match(f);
        }
        if let Some(over) = &f.over {
            return self.bind_window(&name, f, over);
        }
        self.refuse_window_function_without_over(&name)?;
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
                    crate::planner::naming::output_name(whole)
                ))
            });
        }
        if null_treatment(f).is_some() {
            return Err(refused_null_treatment(&name));
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
            // The type is known when the statement is planned.
            "pg_typeof" if bound.len() == 1 => {
                return Ok(Expr::Literal(
                    Value::Text(bound[0].data_type().name()),
                    DataType::Text,
                ));
            }
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
}

pub(super) enum Arg {
    Expr(Expr),
    Star,
}

/// An aggregate call from its bound arguments: `count()` and `count(*)`
/// become `count(*)`, and the argument types are checked.
pub(super) fn aggregate_call(
    func: AggFunc,
    name: &str,
    args: Vec<Arg>,
    distinct: bool,
    filter: Option<Expr>,
) -> Result<AggCall> {
    let (func, args) = match (func, args.as_slice()) {
        (AggFunc::Count, []) | (AggFunc::Count, [Arg::Star]) => (AggFunc::CountStar, Vec::new()),
        _ => {
            let mut out = Vec::with_capacity(args.len());
            for x in args {
                match x {
                    Arg::Expr(e) => out.push(e),
                    Arg::Star => {
                        return Err(Error::Parse("'*' is only allowed in count(*)".into()));
                    }
                }
            }
            (func, out)
        }
    };
    if func != AggFunc::CountStar && args.is_empty() {
        return Err(crate::expr::func_unknown(name, &[]));
    }
    let arg_types: Vec<DataType> = args.iter().map(Expr::data_type).collect();
    let first = arg_types.first().cloned().unwrap_or(DataType::Undefined);
    if matches!(func, AggFunc::Sum | AggFunc::Avg)
        && !(first.is_numeric() || first == DataType::Undefined)
    {
        return Err(crate::expr::func_unknown(name, &arg_types));
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

/// CrateDB's error for `RESPECT`/`IGNORE NULLS` on a function that has no use for it.
pub(super) fn refused_null_treatment(name: &str) -> Error {
    Error::Parse(format!(
        "{name} cannot accept RESPECT or IGNORE NULLS flag."
    ))
}
