//! Plans as text: the operator tree `EXPLAIN` prints, in CrateDB's words
//! where CrateDB has them (`Collect`, `Get`, `HashAggregate`,
//! `GroupHashAggregate`, `Filter`, `Eval`, `WindowAgg`, `OrderBy`, `Limit`,
//! `Union`).
//!
//! Each operator is one line, its input indented below it with `└`. A table
//! source prints as the executor will run it: `Get` when the filter pins
//! down primary keys (a real-time lookup, decided with the statement's
//! parameters), else `Collect` on every shard — with the filter, and for a
//! query without aggregation the projection, pushed down to the shards.

use std::fmt::{self, Display, Write};

use super::estimate::{self, Estimate};
use super::plan::{
    FrameBound, FrameOffset, FrameUnits, QueryPlan, ScanColumn, SelectPlan, SetOp, SortKey, Source,
    SystemTable, WindowCall, WindowDefinition, WindowFrame, WindowFunc,
};
use crate::catalog::{Catalog, TableInfo};
use crate::error::Result;
use crate::expr::{Access, AggCall, AggFunc, Expr, Func};
use crate::types::Value;

/// Tells whether a table scan runs as primary-key lookups, and on which
/// `_id`s: the executor's decision, given the statement's parameters.
pub type KeyLookups<'a> =
    dyn Fn(&TableInfo, &[ScanColumn], Option<&Expr>) -> Option<Vec<String>> + 'a;

/// How a plan is printed.
pub struct Cx<'a> {
    /// Which table scans run as primary-key lookups.
    pub lookups: &'a KeyLookups<'a>,
    /// Row estimates from these statistics after each operator (EXPLAIN's
    /// COSTS, on by default); none without.
    pub costs: Option<&'a Catalog>,
    /// Joins as the logical `Join[...]`, before the planner chose how to
    /// run them (EXPLAIN VERBOSE's early steps).
    pub logical_joins: bool,
}

impl Display for QueryPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cx = Cx {
            lookups: &|_, _, _| None,
            costs: None,
            logical_joins: false,
        };
        match explain(self, &cx) {
            Ok(tree) => f.write_str(&tree),
            Err(e) => write!(f, "{e}"),
        }
    }
}

/// The plan as an operator tree, one operator per line. Fails, as running
/// it would, when the plan nests deeper than the stack allows.
pub fn explain(plan: &QueryPlan, cx: &Cx) -> Result<String> {
    explain_with(plan, &[], cx)
}

/// A plan with its subqueries: a `MultiPhase` over the query and then each
/// subquery, in order (`(subquery n)` in an expression is the n-th).
pub fn explain_with(
    plan: &QueryPlan,
    subqueries: &[super::plan::Subquery],
    cx: &Cx,
) -> Result<String> {
    let mut lines = Vec::new();
    if subqueries.is_empty() {
        query(plan, cx, 0, &mut lines)?;
    } else {
        let rows = cx
            .costs
            .map(|c| label(Some(&estimate::query(plan, c))))
            .unwrap_or_default();
        lines.push((0, format!("MultiPhase{rows}")));
        query(plan, cx, 1, &mut lines)?;
        for s in subqueries {
            query(&s.plan, cx, 1, &mut lines)?;
        }
    }
    Ok(draw(&lines))
}

/// Draws operators as a tree: an input that has a later sibling hangs from
/// `├`, the last from `└`, and `│` continues a branch past its subtree.
fn draw(lines: &Lines) -> String {
    // Whether each operator has a later sibling (the same depth, before its
    // parent's subtree ends), found in one pass from the end: `seen[d]` says
    // an operator at depth `d` follows within the current subtree.
    let mut continues = vec![false; lines.len()];
    let mut seen: Vec<bool> = Vec::new();
    for (i, (depth, _)) in lines.iter().enumerate().rev() {
        seen.resize(depth + 1, false);
        continues[i] = seen[*depth];
        seen[*depth] = true;
    }
    let mut out = String::new();
    // The index of the current ancestor at each depth.
    let mut ancestors: Vec<usize> = Vec::new();
    for (i, (depth, line)) in lines.iter().enumerate() {
        ancestors.truncate(*depth);
        if *depth > 0 {
            out.push_str("  ");
            for &a in ancestors.iter().skip(1) {
                out.push_str(if continues[a] { "│ " } else { "  " });
            }
            out.push_str(if continues[i] { "├ " } else { "└ " });
        }
        ancestors.push(i);
        out.push_str(line);
        out.push('\n');
    }
    out.pop();
    out
}

/// Operators, top down, with their depth.
type Lines = Vec<(usize, String)>;

/// Appends `plan`'s operators, the first at `depth`.
fn query(plan: &QueryPlan, cx: &Cx, depth: usize, lines: &mut Lines) -> Result<()> {
    // Set operations and subqueries recurse along the plan.
    crate::limits::check_stack()?;
    match plan {
        QueryPlan::Select(s) => select(s, cx, depth, lines),
        QueryPlan::SetOp {
            op,
            all,
            left,
            right,
            order_by,
            limit,
            offset,
        } => {
            let names = plan.names();
            let rows = cx
                .costs
                .map(|c| label(Some(&estimate::query(plan, c))))
                .unwrap_or_default();
            let mut depth = depth;
            if limit.is_some() || offset.is_some() {
                let line = limit_line(limit.as_ref(), offset.as_ref());
                lines.push((depth, format!("{line}{rows}")));
                depth += 1;
            }
            if !order_by.is_empty() {
                lines.push((depth, format!("{}{rows}", order_line(order_by, &names))));
                depth += 1;
            }
            let line = match (op, all) {
                (SetOp::Union, true) => format!("Union[{}]", names.join(", ")),
                (SetOp::Union, false) => {
                    // UNION DISTINCT: the union of both, then one row per distinct row.
                    lines.push((
                        depth,
                        format!("GroupHashAggregate[{}]{rows}", names.join(", ")),
                    ));
                    depth += 1;
                    format!("Union[{}]", names.join(", "))
                }
                (SetOp::Except, all) => format!("Except{}[{}]", all_suffix(*all), names.join(", ")),
                (SetOp::Intersect, all) => {
                    format!("Intersect{}[{}]", all_suffix(*all), names.join(", "))
                }
            };
            lines.push((depth, format!("{line}{rows}")));
            query(left, cx, depth + 1, lines)?;
            query(right, cx, depth + 1, lines)
        }
    }
}

fn all_suffix(all: bool) -> &'static str {
    if all { "All" } else { "" }
}

fn select(s: &SelectPlan, cx: &Cx, depth: usize, lines: &mut Lines) -> Result<()> {
    let source_names = source_names(&s.source, s.source_width);
    // The row the outputs read: source ++ windows, or keys ++ aggregates ++ windows.
    let mut row_names: Vec<String> = match &s.aggregation {
        Some(agg) => agg
            .keys
            .iter()
            .map(|k| expr(k, &source_names))
            .chain(agg.aggs.iter().map(|a| agg_call(a, &source_names)))
            .collect(),
        None => source_names.clone(),
    };
    let window_input = row_names.clone();
    for w in &s.windows {
        row_names.push(window_call(w, &window_input));
    }
    let outputs: Vec<String> = s.outputs.iter().map(|e| expr(e, &row_names)).collect();
    let est = cx.costs.map(|c| estimate::select(s, c));
    let rows = |pick: fn(&estimate::SelectEstimates) -> &Estimate| label(est.as_ref().map(pick));
    let mut depth = depth;
    let mut push = |line: String, rows: String, lines: &mut Lines| {
        lines.push((depth, format!("{line}{rows}")));
        depth += 1;
    };
    if s.limit.is_some() || s.offset.is_some() {
        push(
            limit_line(s.limit.as_ref(), s.offset.as_ref()),
            rows(|e| &e.output),
            lines,
        );
    }
    if !s.order_by.is_empty() {
        // Visible outputs by their names (aliases), sort helpers as expressions.
        let mut named = outputs.clone();
        for (slot, name) in named.iter_mut().zip(&s.names) {
            slot.clone_from(name);
        }
        push(order_line(&s.order_by, &named), rows(|e| &e.having), lines);
    }
    let visible = &outputs[..s.names.len().min(outputs.len())];
    if s.distinct {
        push(
            format!("GroupHashAggregate[{}]", visible.join(", ")),
            rows(|e| &e.having),
            lines,
        );
    }
    let on_shards = s.aggregation.is_none() && s.windows.is_empty();
    if !on_shards {
        push(
            format!("Eval[{}]", outputs.join(", ")),
            rows(|e| &e.having),
            lines,
        );
    }
    if let Some(h) = &s.having {
        push(
            format!("Filter[{}]", expr(h, &window_input)),
            rows(|e| &e.having),
            lines,
        );
    }
    // One WindowAgg per window definition, the first computed innermost.
    let mut definitions: Vec<(&WindowDefinition, Vec<String>)> = Vec::new();
    for w in &s.windows {
        let call = window_call(w, &window_input);
        match definitions.iter_mut().find(|(d, _)| **d == w.window) {
            Some((_, calls)) => calls.push(call),
            None => definitions.push((&w.window, vec![call])),
        }
    }
    for (_, calls) in definitions.iter().rev() {
        push(
            format!("WindowAgg[{}]", calls.join(", ")),
            rows(|e| &e.aggregated),
            lines,
        );
    }
    if let Some(agg) = &s.aggregation {
        let aggs: Vec<String> = agg
            .aggs
            .iter()
            .map(|a| agg_call(a, &source_names))
            .collect();
        let keys: Vec<String> = agg.keys.iter().map(|k| expr(k, &source_names)).collect();
        let line = match (keys.is_empty(), aggs.is_empty()) {
            (true, _) => format!("HashAggregate[{}]", aggs.join(", ")),
            (false, true) => format!("GroupHashAggregate[{}]", keys.join(", ")),
            (false, false) => {
                format!(
                    "GroupHashAggregate[{} | {}]",
                    keys.join(", "),
                    aggs.join(", ")
                )
            }
        };
        push(line, rows(|e| &e.aggregated), lines);
    }
    // What the source produces: on shards, the outputs when nothing above
    // needs the whole row; else the scanned columns.
    let produced = if on_shards {
        outputs.clone()
    } else {
        source_names.clone()
    };
    let filter = s
        .filter
        .as_ref()
        .map_or("true".to_string(), |f| expr(f, &source_names));
    let mut source_rows = rows(|e| &e.filtered);
    // The handler's own steps over rows it computed (a join's, a subquery's).
    let handler = |project: bool, lines: &mut Lines| {
        handler_steps(
            project,
            &produced,
            s.filter.is_some(),
            &filter,
            &rows(|e| &e.filtered),
            depth,
            lines,
        )
    };
    let line = match &s.source {
        Source::Table { table, scan } => match (cx.lookups)(table, scan, s.filter.as_ref()) {
            Some(ids) => {
                let keys: Vec<String> = ids.iter().map(|id| quote(id)).collect();
                if cx.costs.is_some() {
                    // As many rows as keys, at most.
                    source_rows = format!(" (rows={})", ids.len());
                }
                format!(
                    "Get[{} | {} | DocKeys{{{}}} | {filter}]",
                    table.ident,
                    produced.join(", "),
                    keys.join("; ")
                )
            }
            None => format!(
                "Collect[{} | [{}] | {filter}]",
                table.ident,
                produced.join(", ")
            ),
        },
        Source::System(st) => format!(
            "Collect[{} | [{}] | {filter}]",
            system_name(*st).map_or("sys.?".to_string(), |(s, n)| format!("{s}.{n}")),
            produced.join(", ")
        ),
        Source::Empty => format!(
            "TableFunction[empty_row | [{}] | {filter}]",
            produced.join(", ")
        ),
        Source::Values(rows) => format!(
            "TableFunction[_values | [{}] | {filter}] ({} rows)",
            produced.join(", "),
            rows.len()
        ),
        Source::Unnest(arrays) => {
            let args: Vec<String> = arrays.iter().map(|e| expr(e, &[])).collect();
            format!(
                "TableFunction[unnest({}) | [{}] | {filter}]",
                args.join(", "),
                produced.join(", ")
            )
        }
        Source::Series { start, stop, step } => format!(
            "TableFunction[generate_series({start}, {stop}, {step}) | [{}] | {filter}]",
            produced.join(", ")
        ),
        Source::Join(j) => {
            let depth = handler(on_shards && !s.is_identity(), lines);
            let hashed = j.condition.as_ref().is_some_and(|c| {
                let width = j.left.names().len();
                let items: Vec<&Expr> = match c {
                    Expr::And(items) => items.iter().collect(),
                    other => vec![other],
                };
                items
                    .iter()
                    .any(|e| super::join::equi_key(e, width).is_some())
            });
            let op = match (cx.logical_joins, hashed) {
                (true, _) => "Join",
                (false, true) => "HashJoin",
                (false, false) => "NestedLoopJoin",
            };
            let line = match &j.condition {
                Some(c) => format!("{op}[{} | {}]", j.kind.name(), expr(c, &source_names)),
                None => format!("{op}[{}]", j.kind.name()),
            };
            lines.push((depth, format!("{line}{}", rows(|e| &e.source))));
            query(&j.left, cx, depth + 1, lines)?;
            return query(&j.right, cx, depth + 1, lines);
        }
        Source::Apply(a) => {
            let depth = handler(on_shards, lines);
            let input_names = a.input.names();
            let outer: Vec<String> = a
                .subqueries
                .iter()
                .flat_map(|c| c.outer.iter().map(|e| expr(e, &input_names)))
                .collect();
            lines.push((
                depth,
                format!(
                    "CorrelatedJoin[{}]{}",
                    outer.join(", "),
                    rows(|e| &e.source)
                ),
            ));
            query(&a.input, cx, depth + 1, lines)?;
            for c in &a.subqueries {
                query(&c.plan, cx, depth + 1, lines)?;
            }
            return Ok(());
        }
        Source::Query(q) => {
            // A subquery's rows, filtered and projected on the handler.
            let depth = handler(on_shards && !s.is_identity(), lines);
            return query(q, cx, depth, lines);
        }
    };
    lines.push((depth, format!("{line}{source_rows}")));
    Ok(())
}

/// ` (rows=N)` after an operator, when costs are printed.
fn label(e: Option<&Estimate>) -> String {
    e.map(|e| format!(" {}", e.label())).unwrap_or_default()
}

/// What the handler does with rows it computed itself (a subquery's, a
/// join's): projects them, when nothing above does, and filters them.
/// Answers the depth below those steps.
fn handler_steps(
    project: bool,
    produced: &[String],
    filtered: bool,
    filter: &str,
    rows: &str,
    mut depth: usize,
    lines: &mut Lines,
) -> usize {
    if project {
        lines.push((depth, format!("Eval[{}]{rows}", produced.join(", "))));
        depth += 1;
    }
    if filtered {
        lines.push((depth, format!("Filter[{filter}]{rows}")));
        depth += 1;
    }
    depth
}

/// The column names a source's rows have.
fn source_names(source: &Source, width: usize) -> Vec<String> {
    match source {
        Source::Table { scan, .. } => scan.iter().map(scan_name).collect(),
        Source::Query(q) => q.names(),
        Source::Join(j) => j.left.names().into_iter().chain(j.right.names()).collect(),
        Source::Apply(a) => a
            .input
            .names()
            .into_iter()
            .chain((1..=a.subqueries.len()).map(|i| format!("(correlated {i})")))
            .collect(),
        Source::System(st) => system_name(*st)
            .and_then(|(s, n)| super::system::lookup(s, n))
            .map(|(_, cols)| cols.into_iter().map(|(name, _)| name).collect())
            .unwrap_or_else(|| positional(width)),
        Source::Unnest(_) if width == 1 => vec!["unnest".into()],
        Source::Series { .. } => vec!["generate_series".into()],
        _ => positional(width),
    }
}

fn positional(width: usize) -> Vec<String> {
    (1..=width).map(|i| format!("col{i}")).collect()
}

fn scan_name(c: &ScanColumn) -> String {
    match c {
        ScanColumn::User { name, .. } | ScanColumn::Stored { name, .. } => name.clone(),
        ScanColumn::Id => "_id".into(),
        ScanColumn::Version => "_version".into(),
        ScanColumn::SeqNo => "_seq_no".into(),
        ScanColumn::PrimaryTerm => "_primary_term".into(),
        ScanColumn::Score => "_score".into(),
        ScanColumn::Raw => "_raw".into(),
        ScanColumn::DocId => "_docid".into(),
    }
}

/// The schema and name of a system table.
fn system_name(st: SystemTable) -> Option<(&'static str, &'static str)> {
    super::system::all()
        .into_iter()
        .find(|(s, n)| super::system::lookup(s, n).is_some_and(|(t, _)| t == st))
}

fn limit_line(limit: Option<&Expr>, offset: Option<&Expr>) -> String {
    let limit = limit.map_or("-1".to_string(), |e| expr(e, &[]));
    let offset = offset.map_or("0".to_string(), |e| expr(e, &[]));
    format!("Limit[{limit};{offset}]")
}

fn order_line(keys: &[SortKey], names: &[String]) -> String {
    let keys: Vec<String> = keys
        .iter()
        .map(|k| {
            let name = names
                .get(k.index)
                .cloned()
                .unwrap_or_else(|| format!("col{}", k.index + 1));
            let dir = if k.desc { "DESC" } else { "ASC" };
            let nulls = match (k.desc, k.nulls_first) {
                (false, true) => " NULLS FIRST",
                (true, false) => " NULLS LAST",
                _ => "",
            };
            format!("{name} {dir}{nulls}")
        })
        .collect();
    format!("OrderBy[{}]", keys.join(", "))
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => crate::types::format_f64(*f),
        Value::Text(t) => quote(t),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(literal).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(o) => {
            let entries: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{k}={}", literal(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

/// An aggregate call in SQL.
fn agg_call(a: &AggCall, names: &[String]) -> String {
    let name = match a.func {
        AggFunc::CountStar => return "count(*)".into(),
        AggFunc::ApproxDistinct => "hyperloglog_distinct".to_string(),
        other => snake(&format!("{other:?}")),
    };
    let args: Vec<String> = a.args.iter().map(|e| expr(e, names)).collect();
    let distinct = if a.distinct { "DISTINCT " } else { "" };
    let mut out = format!("{name}({distinct}{})", args.join(", "));
    if let Some(f) = &a.filter {
        let _ = write!(out, " FILTER (WHERE {})", expr(f, names));
    }
    out
}

/// A window function call in SQL, with its window definition.
fn window_call(w: &WindowCall, names: &[String]) -> String {
    let args = |items: &[Option<&Expr>]| -> String {
        items
            .iter()
            .flatten()
            .map(|e| expr(e, names))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let func = match &w.func {
        WindowFunc::Aggregate(a) => agg_call(a, names),
        WindowFunc::RowNumber => "row_number()".into(),
        WindowFunc::Rank => "rank()".into(),
        WindowFunc::DenseRank => "dense_rank()".into(),
        WindowFunc::PercentRank => "percent_rank()".into(),
        WindowFunc::CumeDist => "cume_dist()".into(),
        WindowFunc::Ntile(n) => format!("ntile({})", expr(n, names)),
        WindowFunc::Lag {
            arg,
            offset,
            default,
        } => format!(
            "lag({})",
            args(&[Some(arg), offset.as_ref(), default.as_ref()])
        ),
        WindowFunc::Lead {
            arg,
            offset,
            default,
        } => format!(
            "lead({})",
            args(&[Some(arg), offset.as_ref(), default.as_ref()])
        ),
        WindowFunc::FirstValue(a) => format!("first_value({})", expr(a, names)),
        WindowFunc::LastValue(a) => format!("last_value({})", expr(a, names)),
        WindowFunc::NthValue(a, n) => format!("nth_value({})", args(&[Some(a), Some(n)])),
    };
    let nulls = if w.ignore_nulls { " IGNORE NULLS" } else { "" };
    let mut parts = Vec::new();
    if !w.window.partition_by.is_empty() {
        let keys: Vec<String> = w
            .window
            .partition_by
            .iter()
            .map(|e| expr(e, names))
            .collect();
        parts.push(format!("PARTITION BY {}", keys.join(", ")));
    }
    if !w.window.order_by.is_empty() {
        let keys: Vec<String> = w
            .window
            .order_by
            .iter()
            .map(|o| {
                let dir = if o.desc { "DESC" } else { "ASC" };
                let nulls = match (o.desc, o.nulls_first) {
                    (false, true) => " NULLS FIRST",
                    (true, false) => " NULLS LAST",
                    _ => "",
                };
                format!("{} {dir}{nulls}", expr(&o.expr, names))
            })
            .collect();
        parts.push(format!("ORDER BY {}", keys.join(", ")));
    }
    if w.window.frame != WindowFrame::default() {
        let frame = &w.window.frame;
        let units = match frame.units {
            FrameUnits::Rows => "ROWS",
            FrameUnits::Range => "RANGE",
        };
        parts.push(format!(
            "{units} BETWEEN {} AND {}",
            frame_bound(&frame.start),
            frame_bound(&frame.end)
        ));
    }
    format!("{func}{nulls} OVER ({})", parts.join(" "))
}

fn frame_bound(b: &FrameBound) -> String {
    let offset = |o: &FrameOffset| match o {
        FrameOffset::Value(e) => expr(e, &[]),
        FrameOffset::Interval { months, millis } => {
            let mut parts = Vec::new();
            if *months != 0 {
                parts.push(format!("{months} months"));
            }
            if *millis != 0 || *months == 0 {
                parts.push(format!("{millis} milliseconds"));
            }
            format!("INTERVAL '{}'", parts.join(" "))
        }
    };
    match b {
        FrameBound::UnboundedPreceding => "UNBOUNDED PRECEDING".into(),
        FrameBound::Preceding(o) => format!("{} PRECEDING", offset(o)),
        FrameBound::CurrentRow => "CURRENT ROW".into(),
        FrameBound::Following(o) => format!("{} FOLLOWING", offset(o)),
        FrameBound::UnboundedFollowing => "UNBOUNDED FOLLOWING".into(),
    }
}

/// `CamelCase` as `snake_case`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, ch) in name.chars().enumerate() {
        if ch.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// A binary operator's SQL spelling, if the function is one.
fn operator(f: Func) -> Option<&'static str> {
    Some(match f {
        Func::Add => "+",
        Func::Sub => "-",
        Func::Mul => "*",
        Func::Div => "/",
        Func::Mod => "%",
        Func::Eq => "=",
        Func::NotEq => "<>",
        Func::Lt => "<",
        Func::LtEq => "<=",
        Func::Gt => ">",
        Func::GtEq => ">=",
        Func::IsDistinctFrom => "IS DISTINCT FROM",
        Func::IsNotDistinctFrom => "IS NOT DISTINCT FROM",
        Func::Like => "LIKE",
        Func::ILike => "ILIKE",
        Func::NotLike => "NOT LIKE",
        Func::NotILike => "NOT ILIKE",
        Func::RegexMatch => "~",
        Func::RegexMatchCi => "~*",
        Func::NotRegexMatch => "!~",
        Func::NotRegexMatchCi => "!~*",
        Func::Concat | Func::ConcatOp => "||",
        _ => return None,
    })
}

/// A scalar function's SQL name.
fn function_name(f: Func) -> String {
    match f {
        Func::StrPos => "strpos".into(),
        Func::InitCap => "initcap".into(),
        Func::LTrim => "ltrim".into(),
        Func::RTrim => "rtrim".into(),
        Func::NullIf => "nullif".into(),
        Func::Neg => "-".into(),
        other => snake(&format!("{other:?}")),
    }
}

/// An expression in SQL, with columns named by `names`.
pub fn expr(e: &Expr, names: &[String]) -> String {
    let list = |items: &[Expr]| -> String {
        items
            .iter()
            .map(|i| expr(i, names))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match e {
        Expr::Literal(v, _) => literal(v),
        Expr::Param(i, _) => format!("${}", i + 1),
        Expr::Subquery(i, _) => format!("(subquery {})", i + 1),
        Expr::Outer(i, _) => format!("$outer{}", i + 1),
        Expr::Column(i, _) => names
            .get(*i)
            .cloned()
            .unwrap_or_else(|| format!("col{}", i + 1)),
        Expr::Access { base, access, .. } => match access {
            Access::Key(k) => format!("{}[{}]", expr(base, names), quote(k)),
            Access::Index(i) => format!("{}[{}]", expr(base, names), expr(i, names)),
            Access::Slice(a, b) => format!(
                "{}[{}:{}]",
                expr(base, names),
                a.as_ref().map_or(String::new(), |a| expr(a, names)),
                b.as_ref().map_or(String::new(), |b| expr(b, names))
            ),
        },
        Expr::Call { func, args, .. } => match (operator(*func), args.as_slice()) {
            (Some(op), [a, b]) => format!("({} {op} {})", expr(a, names), expr(b, names)),
            _ if *func == Func::Neg && args.len() == 1 => format!("(- {})", expr(&args[0], names)),
            _ => format!("{}({})", function_name(*func), list(args)),
        },
        Expr::Cast {
            expr: inner,
            to,
            try_cast,
        } => {
            let name = if *try_cast { "try_cast" } else { "cast" };
            format!("{name}({} AS {})", expr(inner, names), to.name())
        }
        Expr::And(items) => join_op(items, " AND ", names),
        Expr::Or(items) => join_op(items, " OR ", names),
        Expr::Not(inner) => format!("(NOT {})", expr(inner, names)),
        Expr::IsNull {
            expr: inner,
            negated,
        } => {
            let not = if *negated { " NOT" } else { "" };
            format!("({} IS{not} NULL)", expr(inner, names))
        }
        Expr::InList {
            expr: inner,
            list: items,
            negated,
        } => {
            let not = if *negated { " NOT" } else { "" };
            format!("({}{not} IN ({}))", expr(inner, names), list(items))
        }
        Expr::Case {
            operand,
            whens,
            otherwise,
            ..
        } => {
            let mut out = "CASE".to_string();
            if let Some(o) = operand {
                let _ = write!(out, " {}", expr(o, names));
            }
            for (w, t) in whens {
                let _ = write!(out, " WHEN {} THEN {}", expr(w, names), expr(t, names));
            }
            if let Some(o) = otherwise {
                let _ = write!(out, " ELSE {}", expr(o, names));
            }
            out + " END"
        }
        Expr::Coalesce(items, _) => format!("coalesce({})", list(items)),
        Expr::Array(items, _) => format!("[{}]", list(items)),
        Expr::Object(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{k}={}", expr(v, names)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        Expr::Quantified {
            left,
            func,
            right,
            all,
        } => {
            let op = operator(*func).unwrap_or("?");
            let q = if *all { "ALL" } else { "ANY" };
            format!("({} {op} {q}({}))", expr(left, names), expr(right, names))
        }
        Expr::Match(m) => {
            let targets: Vec<String> = m
                .targets
                .iter()
                .map(|t| {
                    format!(
                        "{} {}",
                        t.kind.display(),
                        crate::types::format_f32(f64::from(t.boost))
                    )
                })
                .collect();
            format!(
                "MATCH(({}), {}) USING {}",
                targets.join(", "),
                expr(&m.query, names),
                m.match_type.name()
            )
        }
    }
}

fn join_op(items: &[Expr], op: &str, names: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|i| expr(i, names)).collect();
    format!("({})", parts.join(op))
}

/// `Insert[table | columns]` over where its rows come from.
pub fn explain_insert(plan: &super::dml::InsertPlan, cx: &Cx) -> Result<String> {
    let head = format!("Insert[{} | {}]", plan.table.ident, plan.columns.join(", "));
    match &plan.rows {
        super::dml::InsertRows::Values(rows) => Ok(format!(
            "{head}\n  └ TableFunction[_values | [{}]] ({} rows)",
            plan.columns.join(", "),
            rows.len()
        )),
        super::dml::InsertRows::Query(q) => Ok(nest(head, explain(q, cx)?)),
    }
}

/// `Update[table | assignments]` over the collect that finds the rows.
pub fn explain_update(plan: &super::dml::UpdatePlan, cx: &Cx) -> String {
    let names: Vec<String> = plan.scan.iter().map(scan_name).collect();
    let sets: Vec<String> = plan
        .assignments
        .iter()
        .map(|a| {
            let mut column = a.column.clone();
            for p in &a.path {
                let _ = write!(column, "[{}]", quote(p));
            }
            format!("{column} = {}", expr(&a.value, &names))
        })
        .collect();
    let head = format!("Update[{} | {}]", plan.table.ident, sets.join(", "));
    nest(
        head,
        target_line(&plan.table, &plan.scan, plan.filter.as_ref(), cx),
    )
}

/// `Delete[table]` over the collect that finds the rows.
pub fn explain_delete(plan: &super::dml::DeletePlan, cx: &Cx) -> String {
    let head = format!("Delete[{}]", plan.table.ident);
    nest(
        head,
        target_line(&plan.table, &plan.scan, plan.filter.as_ref(), cx),
    )
}

/// The source of an UPDATE or DELETE: the `_id`s of the matching rows.
fn target_line(table: &TableInfo, scan: &[ScanColumn], filter: Option<&Expr>, cx: &Cx) -> String {
    let names: Vec<String> = scan.iter().map(scan_name).collect();
    let filter_text = filter.map_or("true".to_string(), |f| expr(f, &names));
    match (cx.lookups)(table, scan, filter) {
        Some(ids) => {
            let keys: Vec<String> = ids.iter().map(|id| quote(id)).collect();
            format!(
                "Get[{} | _id | DocKeys{{{}}} | {filter_text}]",
                table.ident,
                keys.join("; ")
            )
        }
        None => format!("Collect[{} | [_id] | {filter_text}]", table.ident),
    }
}

/// `child` (a tree) indented below `head`.
fn nest(head: String, child: String) -> String {
    let mut out = head;
    for (i, line) in child.lines().enumerate() {
        out.push('\n');
        if i == 0 {
            out.push_str("  └ ");
        } else {
            out.push_str("  ");
        }
        out.push_str(line);
    }
    out
}
