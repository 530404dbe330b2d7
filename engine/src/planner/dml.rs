//! Planning INSERT, UPDATE and DELETE.

use std::sync::Arc;

use super::PlanCtx;
use super::bind::{Binder, Relation, coerce_to};
use super::plan::{QueryPlan, ScanColumn};
use super::select::{TableRef, plan_query, resolve_table};
use crate::catalog::TableInfo;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::sql::ast;
use crate::types::{ColumnPolicy, DataType};

/// Where inserted rows come from.
#[derive(Debug, Clone)]
pub enum InsertRows {
    /// One list of expressions (over parameters only) per row.
    Values(Vec<Vec<Expr>>),
    Query(Box<QueryPlan>),
}

/// An assignment `column[path] = value`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AssignmentPlan {
    pub column: String,
    pub path: Vec<String>,
    pub value: Expr,
}

/// What to do with a duplicate primary key.
#[derive(Debug, Clone)]
pub enum ConflictPlan {
    DoNothing,
    /// Values are bound over `existing row ++ excluded row`, each laid out as
    /// the table's top-level columns.
    DoUpdate(Vec<AssignmentPlan>),
    /// Replace the existing row (`COPY ... WITH (overwrite_duplicates = true)`).
    Overwrite,
}

/// `INSERT`.
#[derive(Debug, Clone)]
pub struct InsertPlan {
    pub table: Arc<TableInfo>,
    pub columns: Vec<String>,
    pub rows: InsertRows,
    pub on_conflict: Option<ConflictPlan>,
}

/// `UPDATE`: assignments are bound over the scan row.
#[derive(Debug, Clone)]
pub struct UpdatePlan {
    pub table: Arc<TableInfo>,
    pub scan: Vec<ScanColumn>,
    pub filter: Option<Expr>,
    pub assignments: Vec<AssignmentPlan>,
}

/// `DELETE`.
#[derive(Debug, Clone)]
pub struct DeletePlan {
    pub table: Arc<TableInfo>,
    pub scan: Vec<ScanColumn>,
    pub filter: Option<Expr>,
}

fn user_table(
    ctx: &PlanCtx,
    name: &sqlparser::ast::ObjectName,
    verb: &str,
) -> Result<Arc<TableInfo>> {
    match resolve_table(ctx, name)? {
        TableRef::User(t) => Ok(t),
        TableRef::System(_, _, schema, table) => Err(Error::Unsupported(format!(
            "The relation \"{schema}.{table}\" doesn't support or allow {verb} operations, as it is read-only."
        ))),
        TableRef::View(_, ident) => Err(Error::Unsupported(format!(
            "{ident} is a VIEW, which does not support {verb} operations"
        ))),
    }
}

fn check_assignable(table: &TableInfo, column: &str, path: &[String]) -> Result<()> {
    if column.starts_with('_') {
        return Err(Error::InvalidColumnName(format!(
            "\"{column}\" conflicts with system column pattern"
        )));
    }
    if path.is_empty() && table.primary_key.iter().any(|p| p == column) {
        return Err(Error::ColumnValidation {
            column: column.into(),
            reason: "Updating a primary key is not supported".into(),
        });
    }
    if path.is_empty() && table.clustered_by.as_deref() == Some(column) {
        return Err(Error::ColumnValidation {
            column: column.into(),
            reason: "Updating a clustered-by column is not supported".into(),
        });
    }
    if table.partitioned_by.iter().any(|p| p == column) {
        return Err(Error::ColumnValidation {
            column: column.into(),
            reason: "Updating a partitioned-by column is not supported".into(),
        });
    }
    if let Some(c) = table.column(column)
        && c.generated_expr.is_some()
    {
        return Err(Error::ColumnValidation {
            column: column.into(),
            reason: "Updating a generated column is not supported".into(),
        });
    }
    Ok(())
}

fn target_type(table: &TableInfo, column: &str, path: &[String]) -> Result<Option<DataType>> {
    match table.type_at(column, path) {
        Some(t) => Ok(Some(t)),
        None if table.column(column).is_none() && table.column_policy == ColumnPolicy::Strict => {
            Err(Error::ColumnUnknown(column.to_string()))
        }
        None => Ok(None),
    }
}

fn bind_assignments(
    b: &mut Binder,
    table: &TableInfo,
    items: &[ast::Assignment],
) -> Result<Vec<AssignmentPlan>> {
    let mut out = Vec::with_capacity(items.len());
    for a in items {
        check_assignable(table, &a.column, &a.path)?;
        let value = b.bind(&a.value)?;
        let value = match target_type(table, &a.column, &a.path)? {
            Some(t) => coerce_to(value, &t)?,
            None => value,
        };
        out.push(AssignmentPlan {
            column: a.column.clone(),
            path: a.path.clone(),
            value,
        });
    }
    Ok(out)
}

/// Plans an INSERT.
pub fn plan_insert(ctx: &PlanCtx, ins: &ast::Insert) -> Result<InsertPlan> {
    let table = user_table(ctx, &ins.table, "INSERT")?;
    if ins.returning.is_some() {
        return Err(Error::Unsupported("INSERT ... RETURNING".into()));
    }
    let mut columns = ins.columns.clone();
    if columns.is_empty() {
        columns = table
            .columns
            .iter()
            .filter(|c| c.generated_expr.is_none())
            .map(|c| c.name.clone())
            .collect();
    }
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].contains(c) {
            return Err(Error::Parse(format!(
                "column \"{c}\" specified more than once"
            )));
        }
        if c.starts_with('_') {
            return Err(Error::InvalidColumnName(format!(
                "\"{c}\" conflicts with system column pattern"
            )));
        }
        if table.column(c).is_none() && table.column_policy == ColumnPolicy::Strict {
            return Err(Error::ColumnUnknown(c.clone()));
        }
    }
    let types: Vec<Option<DataType>> = columns
        .iter()
        .map(|c| table.column(c).map(|x| x.data_type.clone()))
        .collect();
    let rows = match &ins.source {
        ast::InsertSource::Values(rows) => {
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                if r.len() > columns.len() {
                    return Err(Error::Parse(format!(
                        "INSERT statement contains a VALUES clause with too many elements ({}), expected ({})",
                        r.len(),
                        columns.len()
                    )));
                }
                if r.len() < columns.len() && !ins.columns.is_empty() {
                    return Err(Error::Parse(format!(
                        "INSERT statement contains a VALUES clause with too few elements ({}), expected ({})",
                        r.len(),
                        columns.len()
                    )));
                }
                let mut b = Binder::new(ctx, Relation::None);
                let mut row = Vec::with_capacity(r.len());
                for (i, e) in r.iter().enumerate() {
                    let x = b.bind(e)?;
                    row.push(match &types[i] {
                        Some(t) => coerce_to(x, t).map_err(|err| column_error(&columns[i], err))?,
                        None => x,
                    });
                }
                out.push(row);
            }
            InsertRows::Values(out)
        }
        ast::InsertSource::Query(q) => {
            let plan = plan_query(ctx, q)?;
            if plan.names().len() != columns.len() {
                return Err(Error::Parse(format!(
                    "Number of target columns ({}) of insert statement doesn't match number of source columns ({})",
                    columns.len(),
                    plan.names().len()
                )));
            }
            InsertRows::Query(Box::new(plan))
        }
    };
    let on_conflict = match &ins.on_conflict {
        None => None,
        Some(ast::OnConflict::DoNothing) => Some(ConflictPlan::DoNothing),
        Some(ast::OnConflict::DoUpdate(items)) => {
            let cols: Vec<(String, DataType)> = table
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.data_type.clone()))
                .collect();
            let mut b = Binder::new(
                ctx,
                Relation::Upsert {
                    table: table.ident.name.clone(),
                    columns: cols,
                },
            );
            let mut out = Vec::with_capacity(items.len());
            for a in items {
                check_assignable(&table, &a.column, &a.path)?;
                let value = b.bind(&a.value)?;
                let value = match target_type(&table, &a.column, &a.path)? {
                    Some(t) => coerce_to(value, &t)?,
                    None => value,
                };
                out.push(AssignmentPlan {
                    column: a.column.clone(),
                    path: a.path.clone(),
                    value,
                });
            }
            Some(ConflictPlan::DoUpdate(out))
        }
    };
    Ok(InsertPlan {
        table,
        columns,
        rows,
        on_conflict,
    })
}

fn column_error(column: &str, err: Error) -> Error {
    match err {
        Error::Cast(msg) => Error::ColumnValidation {
            column: column.into(),
            reason: msg,
        },
        other => other,
    }
}

/// Plans an UPDATE.
pub fn plan_update(ctx: &PlanCtx, up: &ast::Update) -> Result<UpdatePlan> {
    let table = user_table(ctx, &up.table, "UPDATE")?;
    if up.returning.is_some() {
        return Err(Error::Unsupported("UPDATE ... RETURNING".into()));
    }
    let mut b = Binder::new(
        ctx,
        Relation::Table {
            table: table.clone(),
            alias: up.alias.clone(),
            scan: Vec::new(),
        },
    );
    let filter = match &up.selection {
        Some(w) => Some(b.bind_where(w)?),
        None => None,
    };
    let assignments = bind_assignments(&mut b, &table, &up.assignments)?;
    let Relation::Table { scan, .. } = b.relation else {
        return Err(Error::internal("update relation"));
    };
    Ok(UpdatePlan {
        table,
        scan,
        filter,
        assignments,
    })
}

/// Plans a DELETE.
pub fn plan_delete(ctx: &PlanCtx, del: &ast::Delete) -> Result<DeletePlan> {
    let table = user_table(ctx, &del.table, "DELETE")?;
    let mut b = Binder::new(
        ctx,
        Relation::Table {
            table: table.clone(),
            alias: del.alias.clone(),
            scan: Vec::new(),
        },
    );
    let filter = match &del.selection {
        Some(w) => Some(b.bind_where(w)?),
        None => None,
    };
    let Relation::Table { scan, .. } = b.relation else {
        return Err(Error::internal("delete relation"));
    };
    Ok(DeletePlan {
        table,
        scan,
        filter,
    })
}
