//! Binding calls: scalar functions, aggregates (with DISTINCT and FILTER)
//! and window functions.

use sqlparser::ast::{self, FunctionArg, FunctionArgExpr, FunctionArguments};

use super::binder::{Binder, Mode, WINDOW_BASE};
use super::coerce::{arith_operands, cast_expr, coerce_to, common_type};
use super::syntax::function_name;
use crate::error::{Error, Result};
use crate::expr::{AggCall, AggFunc, Expr, Func};
use crate::planner::plan::WindowCall;
use crate::types::{DataType, Value};

impl<'a> Binder<'a> {
    pub(super) fn bind_agg_call(&mut self, func: AggFunc, f: &ast::Function) -> Result<AggCall> {
        if !self.allow_aggregates {
            return Err(Error::Parse(format!(
                "Aggregate functions are not allowed in this context: {}",
                function_name(&f.name)
            )));
        }
        let (args, distinct) = self.function_args(f, Mode::Source)?;
        let filter = match &f.filter {
            Some(x) => Some(self.bind_source(x)?),
            None => None,
        };
        let (func, args) = match (func, args.as_slice()) {
            (AggFunc::Count, []) => (AggFunc::CountStar, Vec::new()),
            (AggFunc::Count, [Arg::Star]) => (AggFunc::CountStar, Vec::new()),
            (_, a) => {
                let mut out = Vec::new();
                for x in a {
                    match x {
                        Arg::Expr(e) => out.push(e.clone()),
                        Arg::Star => {
                            return Err(Error::Parse("'*' is only allowed in count(*)".into()));
                        }
                    }
                }
                (func, out)
            }
        };
        if func != AggFunc::CountStar && args.is_empty() {
            return Err(crate::expr::func_unknown(&function_name(&f.name), &[]));
        }
        let arg_types: Vec<DataType> = args.iter().map(Expr::data_type).collect();
        let first = arg_types.first().cloned().unwrap_or(DataType::Undefined);
        if matches!(func, AggFunc::Sum | AggFunc::Avg)
            && !(first.is_numeric() || first == DataType::Undefined)
        {
            return Err(crate::expr::func_unknown(
                &function_name(&f.name),
                &arg_types,
            ));
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

    pub(super) fn bind_window(
        &mut self,
        name: &str,
        f: &ast::Function,
        over: &ast::WindowType,
    ) -> Result<Expr> {
        let ast::WindowType::WindowSpec(spec) = over else {
            return Err(Error::Unsupported("named windows".into()));
        };
        if !spec.order_by.is_empty() || spec.window_frame.is_some() {
            return Err(Error::Unsupported(
                "window functions with ORDER BY or frames".into(),
            ));
        }
        let Some(func) = AggFunc::from_name(name) else {
            return Err(Error::Unsupported(format!("window function {name}")));
        };
        // Window arguments are bound against the row the window sees:
        // the aggregation row in a grouped query, the source row otherwise.
        let saved_allow = self.allow_aggregates;
        let agg = if self.mode == Mode::Post {
            let (args, distinct) = self.function_args(f, Mode::Post)?;
            let args: Vec<Expr> = args
                .into_iter()
                .filter_map(|a| match a {
                    Arg::Expr(e) => Some(e),
                    Arg::Star => None,
                })
                .collect();
            let func = if func == AggFunc::Count && args.is_empty() {
                AggFunc::CountStar
            } else {
                func
            };
            let types: Vec<DataType> = args.iter().map(Expr::data_type).collect();
            let first = types.first().cloned().unwrap_or(DataType::Undefined);
            AggCall {
                func,
                ty: func.result_type(&first, &types),
                args,
                distinct,
                filter: None,
            }
        } else {
            self.allow_aggregates = true;
            let r = self.bind_agg_call(func, f);
            self.allow_aggregates = saved_allow;
            r?
        };
        let mut partition_by = Vec::with_capacity(spec.partition_by.len());
        for p in &spec.partition_by {
            partition_by.push(self.bind(p)?);
        }
        let ty = agg.ty.clone();
        self.windows.push(WindowCall { agg, partition_by });
        Ok(Expr::Column(WINDOW_BASE + self.windows.len() - 1, ty))
    }
}

pub(super) enum Arg {
    Expr(Expr),
    Star,
}
