//! Binding window function calls.
//!
//! A call's `OVER` clause gives its window inline, names a window of the
//! query's `WINDOW` clause, or refines a named one inline; named windows may
//! build on earlier ones. The definition is first resolved on the syntax
//! tree with CrateDB's rules (which are PostgreSQL's): a reference may add an
//! `ORDER BY` or a frame to the window it names, never replace its
//! `PARTITION BY`, `ORDER BY` or frame. Then it is bound: the function and
//! its arguments, `PARTITION BY` and `ORDER BY` over the row the window sees
//! (the aggregation row in a grouped query, else the source row), and the
//! frame, whose offsets are constants. The call itself becomes a placeholder
//! column, renumbered once the row layout is final.

use sqlparser::ast;

use super::binder::{Binder, WINDOW_BASE};
use super::call::{Arg, aggregate_call, refused_null_treatment};
use super::coerce::{cast_expr, coerce_pair, coerce_to};
use super::syntax::null_treatment;
use crate::error::{Error, Result};
use crate::expr::{AggFunc, Expr, Func};
use crate::planner::naming::output_name;
use crate::planner::plan::{
    FrameBound, FrameOffset, FrameUnits, WindowCall, WindowDefinition, WindowFrame, WindowFunc,
    WindowOrder,
};
use crate::sql::normalize_ident;
use crate::types::DataType;

/// The general-purpose window functions: they exist only over a window.
const WINDOW_FUNCTIONS: &[&str] = &[
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
];

/// The window functions that accept `IGNORE NULLS` / `RESPECT NULLS`.
const TAKE_NULL_TREATMENT: &[&str] = &["lag", "lead", "first_value", "last_value", "nth_value"];

/// A window definition as written, or merged from the named windows it builds on.
#[derive(Clone, Default)]
struct Spec {
    partition_by: Vec<ast::Expr>,
    order_by: Vec<ast::OrderByExpr>,
    frame: Option<ast::WindowFrame>,
}

impl Spec {
    fn written(spec: &ast::WindowSpec) -> Spec {
        Spec {
            partition_by: spec.partition_by.clone(),
            order_by: spec.order_by.clone(),
            frame: spec.window_frame.clone(),
        }
    }

    fn is_empty(&self) -> bool {
        self.partition_by.is_empty() && self.order_by.is_empty() && self.frame.is_none()
    }

    /// This definition on top of `base`, the window called `base_name` it
    /// refers to. An empty definition is the named window as it is;
    /// otherwise it may only add an `ORDER BY` or a frame.
    fn on_top_of(self, base: Spec, base_name: &str) -> Result<Spec> {
        if self.is_empty() {
            return Ok(base);
        }
        if !self.partition_by.is_empty() {
            return Err(Error::Parse(format!(
                "Cannot override PARTITION BY clause of window {base_name}"
            )));
        }
        let order_by = match (base.order_by.is_empty(), self.order_by.is_empty()) {
            (true, _) => self.order_by,
            (false, true) => base.order_by,
            (false, false) => {
                return Err(Error::Parse(format!(
                    "Cannot override ORDER BY clause of window {base_name}"
                )));
            }
        };
        if base.frame.is_some() {
            return Err(Error::Parse(format!(
                "Cannot copy window {base_name} because it has a frame clause"
            )));
        }
        Ok(Spec {
            partition_by: base.partition_by,
            order_by,
            frame: self.frame,
        })
    }
}

impl<'a> Binder<'a> {
    /// Allows window functions (in the SELECT list and ORDER BY of a query)
    /// over the query's `WINDOW` clause.
    pub fn allow_windows(&mut self, named: &[ast::NamedWindowDefinition]) -> Result<()> {
        for ast::NamedWindowDefinition(name, expr) in named {
            let name = normalize_ident(name);
            if self.named_windows.iter().any(|(n, _)| *n == name) {
                return Err(Error::Parse(format!("Window {name} is already defined")));
            }
            self.named_windows.push((name, expr.clone()));
        }
        self.window_denied = None;
        Ok(())
    }

    /// Refuses a general-purpose window function called without `OVER`.
    pub(super) fn refuse_window_function_without_over(&self, name: &str) -> Result<()> {
        if WINDOW_FUNCTIONS.contains(&name) {
            return Err(Error::Parse(format!(
                "Window function {name}() requires an OVER clause"
            )));
        }
        Ok(())
    }

    /// Binds `name(...) OVER ...` to a placeholder column for its result.
    pub(super) fn bind_window(
        &mut self,
        name: &str,
        f: &ast::Function,
        over: &ast::WindowType,
    ) -> Result<Expr> {
        if let Some(reason) = self.window_denied {
            return Err(Error::Parse(reason.into()));
        }
        let spec = match over {
            ast::WindowType::NamedWindow(id) => {
                self.named_window(&normalize_ident(id), self.named_windows.len())?
            }
            ast::WindowType::WindowSpec(spec) => self.refined(spec, self.named_windows.len())?,
        };
        let call = self.denying_windows("Window function calls cannot be nested", |b| {
            b.window_call(name, f, &spec)
        })?;
        let ty = call.ty.clone();
        // The same call twice (in the SELECT list and ORDER BY, say) is computed once.
        let k = match self.windows.iter().position(|w| *w == call) {
            Some(k) => k,
            None => {
                self.windows.push(call);
                self.windows.len() - 1
            }
        };
        Ok(Expr::Column(WINDOW_BASE + k, ty))
    }

    /// The named window `name`, looked up among the first `before` named
    /// windows: a named window may only refer to the ones defined before it.
    fn named_window(&self, name: &str, before: usize) -> Result<Spec> {
        crate::limits::check_stack()?;
        let found = self.named_windows[..before.min(self.named_windows.len())]
            .iter()
            .position(|(n, _)| n == name);
        let Some(at) = found else {
            return Err(Error::Parse(format!("Window {name} does not exist")));
        };
        match &self.named_windows[at].1 {
            ast::NamedWindowExpr::NamedWindow(id) => self.named_window(&normalize_ident(id), at),
            ast::NamedWindowExpr::WindowSpec(spec) => self.refined(spec, at),
        }
    }

    /// A written definition, on top of the named window it starts with, if any.
    fn refined(&self, spec: &ast::WindowSpec, before: usize) -> Result<Spec> {
        let own = Spec::written(spec);
        match &spec.window_name {
            Some(base) => {
                let base_name = normalize_ident(base);
                own.on_top_of(self.named_window(&base_name, before)?, &base_name)
            }
            None => Ok(own),
        }
    }

    fn window_call(&mut self, name: &str, f: &ast::Function, spec: &Spec) -> Result<WindowCall> {
        let ignore_nulls = null_treatment(f);
        if ignore_nulls.is_some() && !TAKE_NULL_TREATMENT.contains(&name) {
            return Err(refused_null_treatment(name));
        }
        let (func, ty) = self.window_function(name, f)?;
        let window = self.window_definition(spec)?;
        Ok(WindowCall {
            func,
            ignore_nulls: ignore_nulls == Some(true),
            window,
            ty,
        })
    }

    /// The function of a window call with its arguments, and its result type.
    fn window_function(&mut self, name: &str, f: &ast::Function) -> Result<(WindowFunc, DataType)> {
        let mode = self.mode;
        let (args, distinct) = self.function_args(f, mode)?;
        if let Some(func) = AggFunc::from_name(name) {
            let filter = match &f.filter {
                Some(x) => Some(cast_expr(self.bind(x)?, &DataType::Boolean)?),
                None => None,
            };
            let call = aggregate_call(func, name, args, distinct, filter)?;
            let ty = call.ty.clone();
            return Ok((WindowFunc::Aggregate(call), ty));
        }
        let mut exprs = Vec::with_capacity(args.len());
        for a in args {
            match a {
                Arg::Expr(e) => exprs.push(e),
                Arg::Star => return Err(Error::Parse("'*' is only allowed in count(*)".into())),
            }
        }
        let types: Vec<DataType> = exprs.iter().map(Expr::data_type).collect();
        if !WINDOW_FUNCTIONS.contains(&name) {
            // An unknown function is unknown; a scalar one cannot have a window.
            Func::resolve(name, &types)?;
            return Err(Error::Parse(format!(
                "OVER clause was specified, but {name} is neither a window nor an aggregate function."
            )));
        }
        if f.filter.is_some() {
            return Err(Error::Unsupported(
                "Only aggregate functions allow a FILTER clause".into(),
            ));
        }
        if distinct {
            return Err(Error::Parse(format!(
                "DISTINCT is not supported for window function {name}"
            )));
        }
        let unknown = || crate::expr::func_unknown(name, &types);
        let mut it = exprs.into_iter();
        let (arg, second, third) = (it.next(), it.next(), it.next());
        let count = types.len();
        let func = match (name, count) {
            ("row_number", 0) => WindowFunc::RowNumber,
            ("rank", 0) => WindowFunc::Rank,
            ("dense_rank", 0) => WindowFunc::DenseRank,
            ("percent_rank", 0) => WindowFunc::PercentRank,
            ("cume_dist", 0) => WindowFunc::CumeDist,
            ("ntile", 1) => WindowFunc::Ntile(integer_arg(arg.ok_or_else(unknown)?, &unknown)?),
            ("first_value", 1) => WindowFunc::FirstValue(arg.ok_or_else(unknown)?),
            ("last_value", 1) => WindowFunc::LastValue(arg.ok_or_else(unknown)?),
            ("nth_value", 2) => WindowFunc::NthValue(
                arg.ok_or_else(unknown)?,
                integer_arg(second.ok_or_else(unknown)?, &unknown)?,
            ),
            ("lag" | "lead", 1..=3) => {
                let mut arg = arg.ok_or_else(unknown)?;
                let offset = match second {
                    Some(o) => Some(integer_arg(o, &unknown)?),
                    None => None,
                };
                // The default takes the argument's type (CrateDB's `E`).
                let default = match third {
                    Some(d) => {
                        let (a, d) = coerce_pair(arg, d)?;
                        arg = a;
                        Some(d)
                    }
                    None => None,
                };
                if name == "lag" {
                    WindowFunc::Lag {
                        arg,
                        offset,
                        default,
                    }
                } else {
                    WindowFunc::Lead {
                        arg,
                        offset,
                        default,
                    }
                }
            }
            _ => return Err(unknown()),
        };
        let ty = match &func {
            WindowFunc::RowNumber
            | WindowFunc::Rank
            | WindowFunc::DenseRank
            | WindowFunc::Ntile(_) => DataType::Integer,
            WindowFunc::PercentRank | WindowFunc::CumeDist => DataType::Double,
            WindowFunc::FirstValue(arg)
            | WindowFunc::LastValue(arg)
            | WindowFunc::NthValue(arg, _) => arg.data_type(),
            WindowFunc::Lag { arg, default, .. } | WindowFunc::Lead { arg, default, .. } => {
                match (arg.data_type(), default) {
                    (DataType::Undefined, Some(d)) => d.data_type(),
                    (t, _) => t,
                }
            }
            WindowFunc::Aggregate(call) => call.ty.clone(),
        };
        Ok((func, ty))
    }

    fn window_definition(&mut self, spec: &Spec) -> Result<WindowDefinition> {
        let mut partition_by = Vec::with_capacity(spec.partition_by.len());
        for e in &spec.partition_by {
            let x = self.bind(e)?;
            sortable(&x, e, "PARTITION BY")?;
            partition_by.push(x);
        }
        let mut order_by = Vec::with_capacity(spec.order_by.len());
        for item in &spec.order_by {
            let x = self.bind(&item.expr)?;
            sortable(&x, &item.expr, "ORDER BY")?;
            let desc = matches!(item.options.sort, Some(ast::OrderBySort::Desc));
            order_by.push(WindowOrder {
                expr: x,
                desc,
                // SQL's default: NULLS LAST ascending, NULLS FIRST descending.
                nulls_first: item.options.nulls_first.unwrap_or(desc),
            });
        }
        let frame = match &spec.frame {
            Some(frame) => self.frame(frame, &order_by)?,
            None => WindowFrame::default(),
        };
        Ok(WindowDefinition {
            partition_by,
            order_by,
            frame,
        })
    }

    /// Binds a frame, refusing what CrateDB refuses: a start that follows
    /// the current row, an end that precedes it, and `RANGE` offsets without
    /// exactly one `ORDER BY` key of a type they can be added to.
    fn frame(&mut self, frame: &ast::WindowFrame, order_by: &[WindowOrder]) -> Result<WindowFrame> {
        use ast::WindowFrameBound as B;
        let units = match frame.units {
            ast::WindowFrameUnits::Rows => FrameUnits::Rows,
            ast::WindowFrameUnits::Range => FrameUnits::Range,
            ast::WindowFrameUnits::Groups => {
                return Err(Error::Unsupported("GROUPS window frames".into()));
            }
        };
        let refuse = |msg: &str| Err(Error::Parse(msg.to_string()));
        let start = match &frame.start_bound {
            B::Following(None) => return refuse("Frame start cannot be UNBOUNDED_FOLLOWING"),
            B::Following(Some(_)) => return refuse("Frame start cannot be FOLLOWING"),
            B::Preceding(None) => FrameBound::UnboundedPreceding,
            B::CurrentRow => FrameBound::CurrentRow,
            B::Preceding(Some(x)) => FrameBound::Preceding(self.frame_offset(x, units, order_by)?),
        };
        let end = match &frame.end_bound {
            None | Some(B::CurrentRow) => FrameBound::CurrentRow,
            Some(B::Preceding(None)) => return refuse("Frame end cannot be UNBOUNDED_PRECEDING"),
            Some(B::Preceding(Some(_))) => return refuse("Frame end cannot be PRECEDING"),
            Some(B::Following(None)) => FrameBound::UnboundedFollowing,
            Some(B::Following(Some(x))) => {
                FrameBound::Following(self.frame_offset(x, units, order_by)?)
            }
        };
        Ok(WindowFrame { units, start, end })
    }

    /// A frame offset: a constant (parameters allowed), an integer in
    /// `ROWS` mode; in `RANGE` mode a number for a numeric key and an
    /// interval for a timestamp key.
    fn frame_offset(
        &mut self,
        x: &ast::Expr,
        units: FrameUnits,
        order_by: &[WindowOrder],
    ) -> Result<FrameOffset> {
        let key = match (units, order_by) {
            (FrameUnits::Rows, _) => None,
            (FrameUnits::Range, [key]) => Some(key.expr.data_type()),
            (FrameUnits::Range, _) => {
                return Err(Error::Parse(
                    "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column"
                        .into(),
                ));
            }
        };
        if let Some(t) = &key
            && !(t.is_numeric() || matches!(t, DataType::Timestamp { .. } | DataType::Undefined))
        {
            return Err(Error::Parse(format!(
                "RANGE with offset PRECEDING/FOLLOWING is not supported for an ORDER BY column of type {}",
                t.name()
            )));
        }
        if let ast::Expr::Interval(interval) = x {
            return match key {
                Some(DataType::Timestamp { .. }) => {
                    let (months, millis) = interval_offset(interval)?;
                    if months < 0 || millis < 0 {
                        return Err(Error::Parse(
                            "Window frame offset must not be negative".into(),
                        ));
                    }
                    Ok(FrameOffset::Interval { months, millis })
                }
                Some(t) => Err(Error::Parse(format!(
                    "RANGE frame offset for an ORDER BY column of type {} must be a number, not an interval",
                    t.name()
                ))),
                None => Err(Error::Parse(
                    "ROWS frame offset must be an integer, not an interval".into(),
                )),
            };
        }
        let offset = self.bind(x)?;
        let mut reads_row = false;
        offset.visit(&mut |e| reads_row |= matches!(e, Expr::Column(..) | Expr::Match(_)));
        if reads_row {
            return Err(Error::Parse(
                "Window frame offset must not refer to columns".into(),
            ));
        }
        let ty = offset.data_type();
        match key {
            None if ty.is_integral() || ty == DataType::Undefined => {
                Ok(FrameOffset::Value(coerce_to(offset, &DataType::BigInt)?))
            }
            None => Err(Error::Parse(format!(
                "ROWS frame offset must be an integer, got {}",
                ty.name()
            ))),
            Some(DataType::Timestamp { .. }) => Err(Error::Parse(
                "RANGE frame offset for a timestamp ORDER BY column must be an interval".into(),
            )),
            Some(_) if ty.is_numeric() || ty == DataType::Undefined => {
                Ok(FrameOffset::Value(offset))
            }
            Some(t) => Err(Error::Parse(format!(
                "RANGE frame offset for an ORDER BY column of type {} must be a number, got {}",
                t.name(),
                ty.name()
            ))),
        }
    }
}

/// An integer argument (`ntile`'s buckets, an offset, `nth_value`'s position).
fn integer_arg(e: Expr, unknown: &dyn Fn() -> Error) -> Result<Expr> {
    let t = e.data_type();
    if t.is_numeric() || t == DataType::Undefined {
        coerce_to(e, &DataType::Integer)
    } else {
        Err(unknown())
    }
}

/// Refuses window keys of types that have no order (as CrateDB does).
fn sortable(x: &Expr, e: &ast::Expr, clause: &str) -> Result<()> {
    let t = x.data_type();
    if matches!(
        t,
        DataType::Array(_) | DataType::Object(_) | DataType::GeoPoint
    ) {
        return Err(Error::Unsupported(format!(
            "Cannot {clause} '{}': invalid data type '{}'.",
            output_name(e),
            t.name()
        )));
    }
    Ok(())
}

/// An interval frame offset as calendar months and milliseconds:
/// `'1 day'`, `INTERVAL '2 hours 30 minutes'`, `INTERVAL '3' MONTH`.
fn interval_offset(interval: &ast::Interval) -> Result<(i32, i64)> {
    let value = match interval.value.as_ref() {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) | ast::Value::Number(s, _) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    let text = match (value, &interval.leading_field, &interval.last_field) {
        (Some(v), None, None) => v,
        (Some(v), Some(unit), None) => format!("{v} {unit}"),
        _ => return Err(Error::Parse(format!("Invalid interval {interval}"))),
    };
    parse_interval(&text)
}

/// Parses `N unit [N unit ...]` into calendar months and milliseconds.
fn parse_interval(text: &str) -> Result<(i32, i64)> {
    let invalid = || Error::Parse(format!("Invalid interval '{text}'"));
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let (mut months, mut millis) = (0f64, 0f64);
    for pair in words.chunks(2) {
        let amount: f64 = pair[0].parse().map_err(|_| invalid())?;
        let unit = pair[1].to_ascii_lowercase();
        let unit = match unit.as_str() {
            "ms" | "msec" | "msecs" => "millisecond",
            u => u.strip_suffix('s').filter(|u| !u.is_empty()).unwrap_or(u),
        };
        let ms = match unit {
            "year" | "y" => {
                months += amount * 12.0;
                continue;
            }
            "month" | "mon" => {
                months += amount;
                continue;
            }
            "week" | "w" => 7.0 * 86_400_000.0,
            "day" | "d" => 86_400_000.0,
            "hour" | "h" => 3_600_000.0,
            "minute" | "min" | "m" => 60_000.0,
            "second" | "sec" | "s" => 1_000.0,
            "millisecond" => 1.0,
            _ => return Err(invalid()),
        };
        millis += amount * ms;
    }
    let in_range = |x: f64, max: f64| x.is_finite() && x.fract() == 0.0 && x.abs() <= max;
    if !in_range(months, i32::MAX as f64) || !millis.is_finite() || millis.abs() > 9.2e18 {
        return Err(invalid());
    }
    Ok((months as i32, millis.round() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_months_and_milliseconds() {
        assert_eq!(parse_interval("1 day").ok(), Some((0, 86_400_000)));
        assert_eq!(
            parse_interval("2 hours 30 minutes").ok(),
            Some((0, 9_000_000))
        );
        assert_eq!(parse_interval("1 year 2 months").ok(), Some((14, 0)));
        assert_eq!(parse_interval("1.5 seconds").ok(), Some((0, 1_500)));
        assert_eq!(parse_interval("250 ms").ok(), Some((0, 250)));
        assert_eq!(parse_interval("3 mins").ok(), Some((0, 180_000)));
        assert!(parse_interval("1.5 months").is_err());
        assert!(parse_interval("day").is_err());
        assert!(parse_interval("1 fortnight").is_err());
    }
}
