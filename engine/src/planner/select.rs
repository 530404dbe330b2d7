//! Planning queries: SELECT, set operations, VALUES, CTEs and derived tables.

use std::sync::Arc;

use sqlparser::ast::{self, SelectItem, SetExpr, TableFactor};

use super::bind::{
    Binder, CORRELATED_BASE, Relation, WINDOW_BASE, contains_aggregate, function_name,
};
use super::join::{self, JoinedFrom, Layout};
use super::naming::output_name;
use super::plan::{ApplyPlan, QueryPlan, ScanColumn, SelectPlan, SetOp, SortKey, Source};
use super::{PlanCtx, system};
use crate::catalog::TableInfo;
use crate::error::{Error, Result};
use crate::expr::{Expr, Func};
use crate::sql::{name_parts, normalize_ident};
use crate::types::{DataType, Value};

/// What a FROM item resolves to.
pub enum TableRef {
    User(Arc<TableInfo>),
    /// A view: its planned query.
    View(Box<QueryPlan>, crate::catalog::TableIdent),
    System(
        super::plan::SystemTable,
        Vec<(String, DataType)>,
        String,
        String,
    ),
}

/// Resolves a table name (user or system table).
pub fn resolve_table(ctx: &PlanCtx, name: &ast::ObjectName) -> Result<TableRef> {
    let parts = name_parts(name);
    let (schema, table) = match parts.as_slice() {
        [t] => (ctx.default_schema.to_string(), t.clone()),
        [s, t] => (s.clone(), t.clone()),
        [_, s, t] => (s.clone(), t.clone()),
        _ => return Err(Error::InvalidRelationName(name.to_string())),
    };
    if let Some((st, cols)) = system::lookup(&schema, &table) {
        return Ok(TableRef::System(st, cols, schema, table));
    }
    if ["sys", "information_schema", "pg_catalog"].contains(&schema.as_str()) {
        return Err(Error::RelationUnknown(parts.join(".")));
    }
    let ident = crate::catalog::TableIdent::new(schema.clone(), table);
    if let Some(view) = ctx.catalog.view(&ident) {
        return plan_view(ctx, view);
    }
    match ctx.catalog.table(&ident) {
        Some(t) => Ok(TableRef::User(t.clone())),
        None if !ctx.catalog.schema_exists(&schema) => Err(Error::SchemaUnknown(schema)),
        None => Err(Error::RelationUnknown(parts.join("."))),
    }
}

/// Plans a view's query, in its own schema, where it is used.
fn plan_view(ctx: &PlanCtx, view: &crate::catalog::ViewInfo) -> Result<TableRef> {
    if ctx.expanding.borrow().contains(&view.ident) {
        return Err(Error::InvalidArgument(format!(
            "View {} references itself",
            view.ident
        )));
    }
    let crate::sql::ast::Statement::Query(q) = crate::sql::parse_one(&view.query)? else {
        return Err(Error::internal(format!(
            "view {} is not a query",
            view.ident
        )));
    };
    let inner = PlanCtx::with_catalog(ctx.catalog, &view.ident.schema);
    *inner.expanding.borrow_mut() = ctx.expanding.borrow().clone();
    inner.expanding.borrow_mut().push(view.ident.clone());
    let plan = plan_query(&inner, &q);
    // The view's subqueries run with the statement's.
    ctx.subqueries.borrow_mut().extend(inner.take_subqueries());
    Ok(TableRef::View(Box::new(plan?), view.ident.clone()))
}

/// Plans a query.
pub fn plan_query(ctx: &PlanCtx, q: &ast::Query) -> Result<QueryPlan> {
    crate::limits::check_stack()?;
    let cte_mark = ctx.ctes.borrow().len();
    if let Some(with) = &q.with {
        if with.recursive {
            return Err(Error::Unsupported("WITH RECURSIVE".into()));
        }
        for cte in &with.cte_tables {
            let mut plan = plan_query(ctx, &cte.query)?;
            rename_columns(
                &mut plan,
                &cte.alias
                    .columns
                    .iter()
                    .map(|c| normalize_ident(&c.name))
                    .collect::<Vec<_>>(),
            )?;
            ctx.ctes
                .borrow_mut()
                .push((normalize_ident(&cte.alias.name), plan));
        }
    }
    let result = plan_body(ctx, &q.body, q.order_by.as_ref(), q.limit_clause.as_ref());
    ctx.ctes.borrow_mut().truncate(cte_mark);
    result
}

fn limit_exprs(limit: Option<&ast::LimitClause>) -> Result<(Option<Expr>, Option<Expr>)> {
    let ctx_free = |e: &ast::Expr| -> Result<Expr> {
        let empty = PlanCtx::empty();
        let mut b = Binder::new(&empty, Relation::None);
        let x = b.bind(e)?;
        super::bind::coerce_to(x, &DataType::BigInt)
    };
    match limit {
        None => Ok((None, None)),
        Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => {
            let l = match limit {
                Some(l) => Some(ctx_free(l)?),
                None => None,
            };
            let o = match offset {
                Some(o) => Some(ctx_free(&o.value)?),
                None => None,
            };
            Ok((l, o))
        }
        Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
            Ok((Some(ctx_free(limit)?), Some(ctx_free(offset)?)))
        }
    }
}

fn order_items(order_by: Option<&ast::OrderBy>) -> Result<Vec<ast::OrderByExpr>> {
    match order_by {
        None => Ok(Vec::new()),
        Some(ob) => match &ob.kind {
            ast::OrderByKind::Expressions(items) => Ok(items.clone()),
            ast::OrderByKind::All(_) => Err(Error::Unsupported("ORDER BY ALL".into())),
        },
    }
}

fn plan_body(
    ctx: &PlanCtx,
    body: &SetExpr,
    order_by: Option<&ast::OrderBy>,
    limit: Option<&ast::LimitClause>,
) -> Result<QueryPlan> {
    // Set operations recurse along their left-deep chain.
    crate::limits::check_stack()?;
    match body {
        SetExpr::Select(select) => Ok(QueryPlan::Select(Box::new(plan_select(
            ctx,
            select,
            &order_items(order_by)?,
            limit,
        )?))),
        SetExpr::Query(inner) => {
            let plan = plan_query(ctx, inner)?;
            if order_by.is_none() && limit.is_none() {
                return Ok(plan);
            }
            wrap_with_order(plan, &order_items(order_by)?, limit)
        }
        SetExpr::Values(values) => {
            let mut rows = Vec::with_capacity(values.rows.len());
            for r in &values.rows {
                let mut b = Binder::new(ctx, Relation::None);
                let mut row = Vec::with_capacity(r.content.len());
                for e in &r.content {
                    row.push(b.bind(e)?);
                }
                rows.push(row);
            }
            let width = rows.first().map(|r| r.len()).unwrap_or(0);
            if rows.iter().any(|r| r.len() != width) {
                return Err(Error::Parse(
                    "VALUES lists must all be the same length".into(),
                ));
            }
            let types: Vec<DataType> = (0..width)
                .map(|i| super::bind::common_type(rows.iter().map(|r| &r[i])))
                .collect();
            let rows = rows
                .into_iter()
                .map(|r| {
                    r.into_iter()
                        .zip(&types)
                        .map(|(x, t)| super::bind::coerce_to(x, t))
                        .collect()
                })
                .collect::<Result<Vec<Vec<Expr>>>>()?;
            let names: Vec<String> = (1..=width).map(|i| format!("col{i}")).collect();
            let outputs = types
                .iter()
                .enumerate()
                .map(|(i, t)| Expr::Column(i, t.clone()))
                .collect();
            let plan = SelectPlan {
                source_width: width,
                source: Source::Values(rows),
                filter: None,
                aggregation: None,
                having: None,
                windows: vec![],
                outputs,
                names,
                distinct: false,
                order_by: vec![],
                limit: None,
                offset: None,
                window_top: None,
            };
            let plan = QueryPlan::Select(Box::new(plan));
            if order_by.is_none() && limit.is_none() {
                Ok(plan)
            } else {
                wrap_with_order(plan, &order_items(order_by)?, limit)
            }
        }
        SetExpr::SetOperation {
            op,
            set_quantifier,
            left,
            right,
        } => {
            let l = plan_body(ctx, left, None, None)?;
            let r = plan_body(ctx, right, None, None)?;
            if l.names().len() != r.names().len() {
                return Err(Error::Parse(
                    "Number of output columns must be the same for all parts of a UNION".into(),
                ));
            }
            // Both sides produce the first side's types (CrateDB casts the
            // later parts to the first's), so equal values compare equal.
            let types: Vec<DataType> = l
                .types()
                .into_iter()
                .zip(r.types())
                .map(|(a, b)| if a == DataType::Undefined { b } else { a })
                .collect();
            let l = cast_outputs(l, &types)?;
            let r = cast_outputs(r, &types)?;
            let op = match op {
                ast::SetOperator::Union => SetOp::Union,
                ast::SetOperator::Except | ast::SetOperator::Minus => SetOp::Except,
                ast::SetOperator::Intersect => SetOp::Intersect,
            };
            let all = matches!(set_quantifier, ast::SetQuantifier::All);
            let names = l.names();
            let mut keys = Vec::new();
            for item in order_items(order_by)? {
                let idx = match &item.expr {
                    ast::Expr::Value(v) => match &v.value {
                        ast::Value::Number(n, _) => {
                            n.parse::<usize>().ok().and_then(|i| i.checked_sub(1))
                        }
                        _ => None,
                    },
                    other => names.iter().position(|n| *n == output_name(other)),
                };
                let idx = idx.filter(|i| *i < names.len()).ok_or_else(|| {
                    Error::Parse(format!(
                        "ORDER BY expression {} must be an output column",
                        item.expr
                    ))
                })?;
                keys.push(sort_key(idx, &item));
            }
            let (limit, offset) = limit_exprs(limit)?;
            Ok(QueryPlan::SetOp {
                op,
                all,
                left: Box::new(l),
                right: Box::new(r),
                order_by: keys,
                limit,
                offset,
            })
        }
        other => Err(Error::Unsupported(format!("query {other}"))),
    }
}

/// A query whose visible columns have the given types (cast where they differ).
fn cast_outputs(plan: QueryPlan, types: &[DataType]) -> Result<QueryPlan> {
    let differs = plan
        .types()
        .iter()
        .zip(types)
        .any(|(have, want)| have != want && *want != DataType::Undefined);
    if !differs {
        return Ok(plan);
    }
    let mut plan = match plan {
        QueryPlan::Select(s) if !s.distinct => QueryPlan::Select(s),
        other => wrap_with_order(other, &[], None)?,
    };
    if let QueryPlan::Select(s) = &mut plan {
        for (out, want) in s.outputs.iter_mut().zip(types) {
            if out.data_type() != *want && *want != DataType::Undefined {
                let x = std::mem::replace(out, Expr::Literal(Value::Null, DataType::Undefined));
                *out = super::bind::cast_expr(x, want)?;
            }
        }
    }
    Ok(plan)
}

fn sort_key(index: usize, item: &ast::OrderByExpr) -> SortKey {
    let desc = matches!(item.options.sort, Some(ast::OrderBySort::Desc));
    SortKey::new(index, desc, item.options.nulls_first)
}

/// `(query) ORDER BY ... LIMIT ...`: a SELECT * over the inner query.
fn wrap_with_order(
    plan: QueryPlan,
    order: &[ast::OrderByExpr],
    limit: Option<&ast::LimitClause>,
) -> Result<QueryPlan> {
    let names = plan.names();
    let types = plan.types();
    let outputs: Vec<Expr> = types
        .iter()
        .enumerate()
        .map(|(i, t)| Expr::Column(i, t.clone()))
        .collect();
    let mut keys = Vec::new();
    for item in order {
        let idx = match &item.expr {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::Number(n, _) => n.parse::<usize>().ok().and_then(|i| i.checked_sub(1)),
                _ => None,
            },
            other => names.iter().position(|n| *n == output_name(other)),
        };
        let idx = idx.filter(|i| *i < names.len()).ok_or_else(|| {
            Error::Parse(format!(
                "ORDER BY expression {} must be an output column",
                item.expr
            ))
        })?;
        keys.push(sort_key(idx, item));
    }
    let (limit, offset) = limit_exprs(limit)?;
    Ok(QueryPlan::Select(Box::new(SelectPlan {
        source_width: names.len(),
        source: Source::Query(Box::new(plan)),
        filter: None,
        aggregation: None,
        having: None,
        windows: vec![],
        outputs,
        names,
        distinct: false,
        order_by: keys,
        limit,
        offset,
        window_top: None,
    })))
}

fn rename_columns(plan: &mut QueryPlan, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    match plan {
        QueryPlan::Select(s) => {
            if names.len() > s.names.len() {
                return Err(Error::Parse(format!(
                    "Table alias has {} columns, but the relation has {}",
                    names.len(),
                    s.names.len()
                )));
            }
            for (i, n) in names.iter().enumerate() {
                s.names[i] = n.clone();
            }
            Ok(())
        }
        QueryPlan::SetOp { left, .. } => rename_columns(left, names),
    }
}

/// A FROM clause: one source, or relations joined.
enum From {
    Single(Source),
    Joined(Box<JoinedFrom>),
}

/// Builds the source and the relation its expressions bind against.
fn plan_from(ctx: &PlanCtx, from: &[ast::TableWithJoins]) -> Result<(From, Relation)> {
    match from {
        [] => Ok((From::Single(Source::Empty), Relation::None)),
        [twj]
            if twj.joins.is_empty() && !matches!(twj.relation, TableFactor::NestedJoin { .. }) =>
        {
            let (source, relation) = plan_factor(ctx, &twj.relation)?;
            Ok((From::Single(source), relation))
        }
        _ => {
            let (joined, relation) = join::plan_joined_from(from, &mut |f| plan_factor(ctx, f))?;
            Ok((From::Joined(Box::new(joined)), relation))
        }
    }
}

fn alias_parts(alias: &Option<ast::TableAlias>) -> (Option<String>, Vec<String>) {
    match alias {
        Some(a) => (
            Some(normalize_ident(&a.name)),
            a.columns.iter().map(|c| normalize_ident(&c.name)).collect(),
        ),
        None => (None, Vec::new()),
    }
}

fn rows_relation(
    qualifier: Option<String>,
    names: Vec<String>,
    types: Vec<DataType>,
    renames: &[String],
) -> Result<Relation> {
    let mut columns: Vec<(String, DataType)> = names.into_iter().zip(types).collect();
    if renames.len() > columns.len() {
        return Err(Error::Parse(format!(
            "Table alias has {} columns, but the relation has {}",
            renames.len(),
            columns.len()
        )));
    }
    for (i, n) in renames.iter().enumerate() {
        columns[i].0 = n.clone();
    }
    Ok(Relation::Rows {
        qualifier,
        schema: None,
        columns,
    })
}

fn plan_factor(ctx: &PlanCtx, factor: &TableFactor) -> Result<(Source, Relation)> {
    match factor {
        TableFactor::Table {
            name, alias, args, ..
        } => {
            let (alias_name, renames) = alias_parts(alias);
            if let Some(args) = args {
                return plan_table_function(
                    ctx,
                    &function_name(name),
                    &args.args,
                    alias_name,
                    &renames,
                );
            }
            let parts = name_parts(name);
            if parts.len() == 1 {
                let cte = ctx
                    .ctes
                    .borrow()
                    .iter()
                    .rev()
                    .find(|(n, _)| *n == parts[0])
                    .map(|(_, p)| p.clone());
                if let Some(plan) = cte {
                    let rel = rows_relation(
                        Some(alias_name.unwrap_or(parts[0].clone())),
                        plan.names(),
                        plan.types(),
                        &renames,
                    )?;
                    return Ok((Source::Query(Box::new(plan)), rel));
                }
            }
            match resolve_table(ctx, name)? {
                TableRef::User(table) => {
                    let rel = Relation::Table {
                        table: table.clone(),
                        alias: alias_name,
                        scan: Vec::new(),
                    };
                    Ok((
                        Source::Table {
                            table,
                            scan: Vec::new(),
                        },
                        rel,
                    ))
                }
                TableRef::View(plan, ident) => {
                    let rel = rows_relation(
                        Some(alias_name.unwrap_or(ident.name)),
                        plan.names(),
                        plan.types(),
                        &renames,
                    )?;
                    Ok((Source::Query(plan), rel))
                }
                TableRef::System(st, cols, schema, tname) => {
                    let (names, types): (Vec<String>, Vec<DataType>) = cols.into_iter().unzip();
                    let mut rel = rows_relation(
                        Some(alias_name.clone().unwrap_or(tname)),
                        names,
                        types,
                        &renames,
                    )?;
                    if alias_name.is_none()
                        && let Relation::Rows { schema: s, .. } = &mut rel
                    {
                        *s = Some(schema);
                    }
                    Ok((Source::System(st), rel))
                }
            }
        }
        TableFactor::Derived {
            subquery, alias, ..
        } => {
            let plan = plan_query(ctx, subquery)?;
            let (alias_name, renames) = alias_parts(alias);
            let rel = rows_relation(alias_name, plan.names(), plan.types(), &renames)?;
            Ok((Source::Query(Box::new(plan)), rel))
        }
        TableFactor::Function {
            name, args, alias, ..
        } => {
            let (alias_name, renames) = alias_parts(alias);
            plan_table_function(ctx, &function_name(name), args, alias_name, &renames)
        }
        TableFactor::UNNEST {
            alias, array_exprs, ..
        } => {
            let (alias_name, renames) = alias_parts(alias);
            let args: Vec<ast::FunctionArg> = array_exprs
                .iter()
                .map(|e| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e.clone())))
                .collect();
            plan_table_function(ctx, "unnest", &args, alias_name, &renames)
        }
        other => Err(Error::Unsupported(format!("FROM {other}"))),
    }
}

fn plan_table_function(
    ctx: &PlanCtx,
    name: &str,
    args: &[ast::FunctionArg],
    alias: Option<String>,
    renames: &[String],
) -> Result<(Source, Relation)> {
    let mut b = Binder::new(ctx, Relation::None);
    let mut bound = Vec::new();
    for a in args {
        match a {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => bound.push(b.bind(e)?),
            other => {
                return Err(Error::Unsupported(format!(
                    "table function argument {other}"
                )));
            }
        }
    }
    match name {
        "unnest" => {
            let mut names = Vec::new();
            let mut types = Vec::new();
            for (i, x) in bound.iter().enumerate() {
                names.push(if bound.len() == 1 {
                    "unnest".to_string()
                } else {
                    format!("col{}", i + 1)
                });
                types.push(match x.data_type() {
                    DataType::Array(inner) => *inner,
                    DataType::Undefined => DataType::Undefined,
                    other => {
                        return Err(Error::Parse(format!(
                            "unnest expects arrays, got {}",
                            other.name()
                        )));
                    }
                });
            }
            let qualifier = alias.or(Some("unnest".into()));
            Ok((
                Source::Unnest(bound),
                rows_relation(qualifier, names, types, renames)?,
            ))
        }
        "pg_get_keywords" => {
            let (st, cols) = system::lookup("pg_catalog", "pg_get_keywords")
                .ok_or_else(|| Error::internal("pg_get_keywords"))?;
            let (names, types): (Vec<String>, Vec<DataType>) = cols.into_iter().unzip();
            Ok((
                Source::System(st),
                rows_relation(
                    alias.or(Some("pg_get_keywords".into())),
                    names,
                    types,
                    renames,
                )?,
            ))
        }
        "generate_series" => {
            let vals: Vec<i64> = bound
                .iter()
                .map(|x| match x {
                    Expr::Literal(Value::Int(i), _) => Ok(*i),
                    _ => Err(Error::Unsupported(
                        "generate_series with non-constant arguments".into(),
                    )),
                })
                .collect::<Result<_>>()?;
            let (start, stop, step) = match vals.as_slice() {
                [a, b] => (*a, *b, 1),
                [a, b, s] if *s != 0 => (*a, *b, *s),
                _ => return Err(Error::Parse("generate_series(start, stop[, step])".into())),
            };
            let qualifier = alias.or(Some("generate_series".into()));
            Ok((
                Source::Series { start, stop, step },
                rows_relation(
                    qualifier,
                    vec!["generate_series".into()],
                    vec![DataType::BigInt],
                    renames,
                )?,
            ))
        }
        other => Err(Error::UnknownFunction(format!("Unknown function: {other}"))),
    }
}

/// Plans one SELECT with its ORDER BY and LIMIT.
pub fn plan_select(
    ctx: &PlanCtx,
    select: &ast::Select,
    order_by: &[ast::OrderByExpr],
    limit: Option<&ast::LimitClause>,
) -> Result<SelectPlan> {
    let (mut from, relation) = plan_from(ctx, &select.from)?;
    let mut b = Binder::new(ctx, relation);
    if let From::Joined(j) = &mut from {
        join::bind_constraints(&mut j.tree, &mut b)?;
    }
    b.allow_correlated = true;

    // WHERE
    let filter = match &select.selection {
        Some(w) => Some(b.bind_where(w)?),
        None => None,
    };

    // Expand the SELECT list.
    let mut items: Vec<(ast::Expr, String)> = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::UnnamedExpr(e) => items.push((e.clone(), output_name(e))),
            SelectItem::ExprWithAlias { expr, alias } => {
                items.push((expr.clone(), normalize_ident(alias)))
            }
            SelectItem::Wildcard(_) => items.extend(wildcard_items(&b.relation, None)?),
            SelectItem::QualifiedWildcard(kind, _) => {
                let qualifier = match kind {
                    ast::SelectItemQualifiedWildcardKind::ObjectName(name) => name_parts(name),
                    ast::SelectItemQualifiedWildcardKind::Expr(e) => vec![output_name(e)],
                };
                items.extend(wildcard_items(&b.relation, Some(&qualifier))?)
            }
            other => return Err(Error::Unsupported(format!("select item {other}"))),
        }
    }

    // GROUP BY
    let group_exprs: Vec<ast::Expr> = match &select.group_by {
        ast::GroupByExpr::Expressions(exprs, modifiers) => {
            if !modifiers.is_empty() {
                return Err(Error::Unsupported("GROUP BY modifiers".into()));
            }
            exprs.clone()
        }
        ast::GroupByExpr::All(_) => return Err(Error::Unsupported("GROUP BY ALL".into())),
    };
    let has_aggregates = items.iter().any(|(e, _)| contains_aggregate(e))
        || select.having.as_ref().is_some_and(contains_aggregate)
        || order_by.iter().any(|o| contains_aggregate(&o.expr));
    let grouped = !group_exprs.is_empty() || has_aggregates || select.having.is_some();
    if grouped {
        for g in &group_exprs {
            let target = resolve_alias_or_ordinal(g, &items, &mut b)?;
            let key = b.bind_group_key(&target)?;
            if contains_aggregate(&target) {
                return Err(Error::Parse(
                    "Aggregate functions are not allowed in GROUP BY".into(),
                ));
            }
            b.aggregation.keys.push(key);
        }
        b.enter_post_aggregation();
    } else {
        b.allow_aggregates = false;
    }

    b.allow_windows(&select.named_window)?;
    let mut outputs = Vec::with_capacity(items.len());
    let mut names = Vec::with_capacity(items.len());
    for (e, name) in &items {
        outputs.push(b.bind(e)?);
        names.push(name.clone());
    }

    let having = match &select.having {
        Some(h) => Some(b.bind_having(h)?),
        None => None,
    };

    let mut distinct = matches!(select.distinct, Some(ast::Distinct::Distinct));
    if matches!(select.distinct, Some(ast::Distinct::On(_))) {
        return Err(Error::Unsupported("DISTINCT ON".into()));
    }

    // ORDER BY: ordinals, output aliases, or expressions (hidden outputs).
    let mut keys = Vec::with_capacity(order_by.len());
    for item in order_by {
        let idx = match &item.expr {
            ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                let ast::Value::Number(n, _) = &v.value else {
                    unreachable!()
                };
                let i: usize = n
                    .parse()
                    .map_err(|_| Error::Parse(format!("invalid ORDER BY position {n}")))?;
                if i == 0 || i > names.len() {
                    return Err(Error::Parse(format!(
                        "ORDER BY position {i} is not in select list"
                    )));
                }
                i - 1
            }
            ast::Expr::Identifier(id)
                if names.iter().filter(|n| **n == normalize_ident(id)).count() == 1
                    && items.iter().any(|(_, n)| *n == normalize_ident(id)) =>
            {
                names
                    .iter()
                    .position(|n| *n == normalize_ident(id))
                    .unwrap_or(0)
            }
            e => {
                let x = b.bind(e)?;
                match outputs.iter().position(|o| *o == x) {
                    Some(i) => i,
                    None => {
                        outputs.push(x);
                        outputs.len() - 1
                    }
                }
            }
        };
        keys.push(sort_key(idx, item));
    }

    // A search without ORDER BY lists the best matches first, as CrateDB's do.
    if keys.is_empty()
        && !grouped
        && filter.as_ref().is_some_and(Expr::contains_match)
        && matches!(b.relation, Relation::Table { .. })
    {
        let score = b.bind(&ast::Expr::Identifier(ast::Ident::new("_score")))?;
        let idx = match outputs.iter().position(|o| *o == score) {
            Some(i) => i,
            None => {
                outputs.push(score);
                outputs.len() - 1
            }
        };
        keys.push(SortKey::new(idx, true, None));
    }

    let (limit, offset) = limit_exprs(limit)?;

    let Binder {
        mut relation,
        mut aggregation,
        mut windows,
        mut correlated,
        ..
    } = b;
    // Conditions on correlated subqueries' values are checked once those
    // are computed, on the handler; the rest go down to the source.
    let (correlated_filter, mut filter) = split_correlated(filter);
    let mut join_steps = Vec::new();
    let (source, source_width, columns) = match from {
        From::Single(mut source) => {
            if let (
                Source::Table { scan, .. },
                Relation::Table {
                    scan: bound_scan, ..
                },
            ) = (&mut source, &relation)
            {
                *scan = bound_scan.clone();
                if scan.is_empty() {
                    // count(*) and friends still need rows: scan the cheapest column.
                    scan.push(ScanColumn::Id);
                }
            }
            let columns = match (&source, &relation) {
                (Source::Table { scan, .. }, _) => scan
                    .iter()
                    .map(|c| (join::scan_name(c), c.data_type()))
                    .collect(),
                (_, Relation::Rows { columns, .. }) => columns.clone(),
                _ => Vec::new(),
            };
            let width = match &source {
                Source::Table { scan, .. } => scan.len(),
                _ => relation.width(),
            };
            (source, width, columns)
        }
        From::Joined(joined) => {
            let layout = Layout::new(&mut relation, &outputs)?;
            let place = |e: &mut Expr| layout.place(e);
            filter.iter_mut().for_each(place);
            for c in correlated.iter_mut() {
                c.outer.iter_mut().for_each(place);
            }
            remap_row_exprs(&mut outputs, &mut aggregation, &mut windows, &place);
            let tracing = ctx.trace.borrow().is_some();
            let (source, above, steps) =
                joined.finish(relation, &layout, filter.take(), tracing)?;
            join_steps = steps;
            filter = above;
            let columns = match &source {
                Source::Join(j) => join::join_columns(&j.left, &j.right),
                Source::Query(q) => q.names().into_iter().zip(q.types()).collect(),
                _ => Vec::new(),
            };
            (source, layout.width(), columns)
        }
    };
    if !correlated.is_empty() {
        // The steps' sources would need the correlated subqueries around them.
        join_steps.clear();
    }
    let (source, source_width) = if correlated.is_empty() {
        (source, source_width)
    } else {
        // Each row of the source (filtered as far as it can be) gets the
        // correlated subqueries' values appended, then the rest runs as usual.
        let input = join::identity(source, columns, filter.take());
        let n = correlated.len();
        let to_row = |e: &mut Expr| {
            e.remap_columns(&|i| {
                if i >= CORRELATED_BASE {
                    source_width + (i - CORRELATED_BASE)
                } else {
                    i
                }
            })
        };
        filter = correlated_filter.map(|mut f| {
            to_row(&mut f);
            f
        });
        remap_row_exprs(&mut outputs, &mut aggregation, &mut windows, &to_row);
        let apply = ApplyPlan {
            input,
            subqueries: std::mem::take(&mut correlated),
        };
        (Source::Apply(Box::new(apply)), source_width + n)
    };
    let width = if grouped {
        aggregation.keys.len() + aggregation.aggs.len()
    } else {
        source_width
    };
    let remap = |e: &mut Expr| {
        e.remap_columns(&|i| {
            if (WINDOW_BASE..CORRELATED_BASE).contains(&i) {
                width + (i - WINDOW_BASE)
            } else {
                i
            }
        });
    };
    let mut outputs = outputs;
    outputs.iter_mut().for_each(remap);
    let mut having = having;
    if let Some(h) = having.as_mut() {
        remap(h);
    }

    let mut plan = SelectPlan {
        source,
        source_width,
        filter,
        aggregation: if grouped { Some(aggregation) } else { None },
        having,
        windows,
        outputs,
        names,
        distinct: false,
        order_by: keys,
        limit,
        offset,
        window_top: None,
    };
    if distinct && plan.aggregation.is_none() && plan.windows.is_empty() {
        // SELECT DISTINCT a, b == GROUP BY a, b.
        let visible = plan.names.len();
        let keys: Vec<Expr> = plan.outputs.drain(..visible).collect();
        let extra: Vec<Expr> = plan.outputs.drain(..).collect();
        if !extra.is_empty() {
            // ORDER BY must then refer to selected columns.
            if let Some(pos) = extra.iter().position(|e| !keys.contains(e)) {
                let _ = pos;
                return Err(Error::Parse(
                    "ORDER BY expressions must appear in select list for SELECT DISTINCT".into(),
                ));
            }
        }
        plan.outputs = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Expr::Column(i, k.data_type()))
            .collect();
        for key in plan.order_by.iter_mut() {
            if key.index >= visible {
                let e = &extra[key.index - visible];
                key.index = keys.iter().position(|k| k == e).unwrap_or(0);
            }
        }
        plan.aggregation = Some(super::plan::Aggregation { keys, aggs: vec![] });
        distinct = false;
    }
    plan.distinct = distinct;
    if let Some(trace) = ctx.trace.borrow_mut().as_mut() {
        *trace = join_steps
            .into_iter()
            .map(|step| super::TraceStep {
                rule: step.rule,
                plan: SelectPlan {
                    source: step.source,
                    filter: step.above,
                    ..plan.clone()
                },
                logical_joins: step.logical,
            })
            .collect();
    }
    // After the trace: its steps show the columns before pruning, as CrateDB's.
    join::prune_columns(&mut plan);
    limit_window_partitions(&mut plan);
    Ok(plan)
}

/// `SELECT ... FROM (SELECT ..., row_number() OVER (PARTITION BY a ORDER
/// BY b) AS rn FROM t) x WHERE rn <= n` (or `rn = n`, `rn < n`): only the
/// first `n` rows of each partition can pass, so the subquery's shards send
/// no more than those (a row a shard drops has `n` rows before it in its
/// partition on that shard alone).
fn limit_window_partitions(plan: &mut SelectPlan) {
    let Some(filter) = &plan.filter else {
        return;
    };
    let Source::Query(q) = &mut plan.source else {
        return;
    };
    let QueryPlan::Select(inner) = q.as_mut() else {
        return;
    };
    let [call] = inner.windows.as_slice() else {
        return;
    };
    let plain = inner.aggregation.is_none()
        && !inner.distinct
        && inner.limit.is_none()
        && inner.offset.is_none()
        && matches!(inner.source, Source::Table { .. });
    if !plain || !matches!(call.func, super::plan::WindowFunc::RowNumber) {
        return;
    }
    // The window's value follows the source row.
    let window_column = inner.source_width;
    let conditions: Vec<&Expr> = match filter {
        Expr::And(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut top: Option<i64> = None;
    for c in conditions {
        let Expr::Call { func, args, .. } = c else {
            continue;
        };
        let [Expr::Column(j, _), Expr::Literal(Value::Int(n), _)] = args.as_slice() else {
            continue;
        };
        if !matches!(inner.outputs.get(*j), Some(Expr::Column(w, _)) if *w == window_column) {
            continue;
        }
        let n = match func {
            Func::Eq | Func::LtEq => *n,
            Func::Lt => *n - 1,
            _ => continue,
        };
        top = Some(top.map_or(n, |t| t.min(n)).max(0));
    }
    inner.window_top = top.and_then(|n| usize::try_from(n).ok());
}

/// Moves the expressions over the source row (outputs, grouping keys,
/// aggregates' arguments, windows) onto another layout of it.
fn remap_row_exprs(
    outputs: &mut [Expr],
    aggregation: &mut super::plan::Aggregation,
    windows: &mut [super::plan::WindowCall],
    f: &dyn Fn(&mut Expr),
) {
    outputs.iter_mut().for_each(f);
    aggregation.keys.iter_mut().for_each(f);
    for call in aggregation.aggs.iter_mut() {
        call.args.iter_mut().for_each(f);
        call.filter.iter_mut().for_each(f);
    }
    for w in windows.iter_mut() {
        w.exprs_mut(&mut |e| f(e));
    }
}

/// Splits a WHERE clause into the conditions on correlated subqueries'
/// values and the rest.
fn split_correlated(filter: Option<Expr>) -> (Option<Expr>, Option<Expr>) {
    let Some(filter) = filter else {
        return (None, None);
    };
    let items = match filter {
        Expr::And(items) => items,
        other => vec![other],
    };
    let reads_correlated = |e: &Expr| {
        let mut found = false;
        e.visit(&mut |x| found |= matches!(x, Expr::Column(i, _) if *i >= CORRELATED_BASE));
        found
    };
    let (with, without): (Vec<Expr>, Vec<Expr>) = items.into_iter().partition(reads_correlated);
    let conjoin = |mut v: Vec<Expr>| match v.len() {
        0 => None,
        1 => v.pop(),
        _ => Some(Expr::And(v)),
    };
    (conjoin(with), conjoin(without))
}

/// The SELECT list items `*` (or `qualifier.*`) stand for: each column by
/// name, qualified by its relation's name in a join.
fn wildcard_items(
    rel: &Relation,
    qualifier: Option<&[String]>,
) -> Result<Vec<(ast::Expr, String)>> {
    let quoted = |n: &str| ast::Ident::with_quote('"', n);
    let parts: Vec<&Relation> = match rel {
        Relation::Join(parts) => parts.iter().collect(),
        other => vec![other],
    };
    let mut items = Vec::new();
    let mut matched = false;
    for part in parts {
        let name = part.qualifier();
        if let Some(q) = qualifier
            && q.last() != name.as_ref()
            && !matches!(
                part,
                Relation::Rows {
                    qualifier: None,
                    ..
                } | Relation::None
            )
        {
            continue;
        }
        matched = true;
        for column in part.wildcard_columns() {
            let e = match (&name, rel) {
                (Some(n), Relation::Join(_)) => {
                    ast::Expr::CompoundIdentifier(vec![quoted(n), quoted(&column)])
                }
                _ => ast::Expr::Identifier(quoted(&column)),
            };
            items.push((e, column));
        }
    }
    match qualifier {
        Some(q) if !matched => Err(Error::RelationUnknown(q.join("."))),
        _ => Ok(items),
    }
}

/// GROUP BY may name an output alias or position.
fn resolve_alias_or_ordinal(
    g: &ast::Expr,
    items: &[(ast::Expr, String)],
    b: &mut Binder,
) -> Result<ast::Expr> {
    match g {
        ast::Expr::Value(v) => {
            if let ast::Value::Number(n, _) = &v.value {
                let i: usize = n
                    .parse()
                    .map_err(|_| Error::Parse(format!("invalid GROUP BY position {n}")))?;
                return items
                    .get(i.wrapping_sub(1))
                    .map(|(e, _)| e.clone())
                    .ok_or_else(|| {
                        Error::Parse(format!("GROUP BY position {i} is not in select list"))
                    });
            }
            Ok(g.clone())
        }
        ast::Expr::Identifier(id) => {
            let name = normalize_ident(id);
            if b.resolve_column(std::slice::from_ref(&name)).is_ok() {
                return Ok(g.clone());
            }
            match items.iter().find(|(_, n)| *n == name) {
                Some((e, _)) => Ok(e.clone()),
                None => Ok(g.clone()),
            }
        }
        _ => Ok(g.clone()),
    }
}
