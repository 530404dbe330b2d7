//! What names resolve against: the relation of a query level (a table,
//! fixed rows, the rows of an upsert, or the relations of a join) and how a
//! possibly qualified column name becomes a position in its row.
//!
//! A join's relations are bound before their widths are known (a table's
//! scan grows as columns are referenced), so a column of the join's `k`-th
//! relation binds to the placeholder `JOIN_BASE * (k + 1) + i`; the planner
//! renumbers them into the joined row once binding is done.

use std::sync::Arc;

use crate::catalog::TableInfo;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::planner::plan::ScanColumn;
use crate::types::DataType;

/// Columns of a join's relations bind to `JOIN_BASE * (k + 1) + i`, below
/// the window placeholders.
pub const JOIN_BASE: usize = 1 << 32;

/// The most relations a FROM clause may join (the placeholders' room).
pub const MAX_JOINED: usize = 200;

/// The relation expressions are bound against.
#[derive(Debug, Clone)]
pub enum Relation {
    /// No FROM clause.
    None,
    /// A table; `scan` grows as columns are referenced.
    Table {
        table: Arc<TableInfo>,
        alias: Option<String>,
        scan: Vec<ScanColumn>,
    },
    /// Rows with fixed columns (subquery, VALUES, unnest, system table).
    Rows {
        qualifier: Option<String>,
        schema: Option<String>,
        columns: Vec<(String, DataType)>,
    },
    /// ON CONFLICT DO UPDATE: the existing row, then the proposed row (`excluded.col`).
    Upsert {
        table: String,
        columns: Vec<(String, DataType)>,
    },
    /// The relations of a join, in FROM order (each a `Table` or `Rows`).
    Join(Vec<Relation>),
}

impl Relation {
    /// The width of the source row.
    pub fn width(&self) -> usize {
        match self {
            Relation::None => 0,
            Relation::Table { scan, .. } => scan.len(),
            Relation::Rows { columns, .. } => columns.len(),
            Relation::Upsert { columns, .. } => columns.len() * 2,
            Relation::Join(parts) => parts.iter().map(Relation::width).sum(),
        }
    }

    /// The name a qualified column reference uses for this relation.
    pub fn qualifier(&self) -> Option<String> {
        match self {
            Relation::Table { table, alias, .. } => {
                Some(alias.clone().unwrap_or_else(|| table.ident.name.clone()))
            }
            Relation::Rows { qualifier, .. } => qualifier.clone(),
            _ => None,
        }
    }

    /// The columns `SELECT *` lists, by name.
    pub fn wildcard_columns(&self) -> Vec<String> {
        match self {
            Relation::None | Relation::Join(_) => Vec::new(),
            Relation::Table { table, .. } => table.columns.iter().map(|c| c.name.clone()).collect(),
            Relation::Rows { columns, .. } | Relation::Upsert { columns, .. } => {
                columns.iter().map(|(n, _)| n.clone()).collect()
            }
        }
    }

    /// Resolves a (possibly qualified) column name to a column of the row.
    pub fn resolve(&mut self, parts: &[String]) -> Result<Expr> {
        let Some((name, qual)) = parts.split_last() else {
            return Err(Error::ColumnUnknown(String::new()));
        };
        match self {
            Relation::None => Err(Error::ColumnUnknown(name.clone())),
            Relation::Table { table, alias, scan } => {
                let qual_ok = match qual {
                    [] => true,
                    [q] => match alias {
                        Some(a) => a == q,
                        None => *q == table.ident.name,
                    },
                    [s, t] => alias.is_none() && *s == table.ident.schema && *t == table.ident.name,
                    _ => false,
                };
                if !qual_ok {
                    return Err(Error::RelationUnknown(qual.join(".")));
                }
                let col = match ScanColumn::system(name) {
                    Some(sys) => sys,
                    None => match table.column(name) {
                        Some(c) if c.index_off || c.data_type.is_source_only() => {
                            ScanColumn::Stored {
                                name: c.name.clone(),
                                ty: c.data_type.clone(),
                            }
                        }
                        Some(c) => ScanColumn::User {
                            name: c.name.clone(),
                            ty: c.data_type.clone(),
                        },
                        None => return Err(Error::ColumnUnknown(name.clone())),
                    },
                };
                let ty = col.data_type();
                let idx = match scan.iter().position(|c| *c == col) {
                    Some(i) => i,
                    None => {
                        scan.push(col);
                        scan.len() - 1
                    }
                };
                Ok(Expr::Column(idx, ty))
            }
            Relation::Rows {
                qualifier,
                schema,
                columns,
            } => {
                let qual_ok = match qual {
                    [] => true,
                    [q] => qualifier.as_deref() == Some(q.as_str()),
                    [s, q] => {
                        qualifier.as_deref() == Some(q.as_str())
                            && schema.as_deref() == Some(s.as_str())
                    }
                    _ => false,
                };
                if !qual_ok {
                    return Err(Error::RelationUnknown(qual.join(".")));
                }
                match columns.iter().position(|(n, _)| n == name) {
                    Some(i) => Ok(Expr::Column(i, columns[i].1.clone())),
                    None => Err(Error::ColumnUnknown(name.clone())),
                }
            }
            Relation::Upsert { table, columns } => {
                let offset = match qual {
                    [] => 0,
                    [q] if q == "excluded" => columns.len(),
                    [q] if q == table => 0,
                    _ => return Err(Error::RelationUnknown(qual.join("."))),
                };
                match columns.iter().position(|(n, _)| n == name) {
                    Some(i) => Ok(Expr::Column(offset + i, columns[i].1.clone())),
                    None => Err(Error::ColumnUnknown(name.clone())),
                }
            }
            Relation::Join(parts) => {
                let all = 0..parts.len();
                resolve_among(parts, all, name, qual)
            }
        }
    }
}

/// A column of one of a join's relations in `among`: the one its qualifier
/// names, or the only one that has it.
pub fn resolve_among(
    parts: &mut [Relation],
    among: std::ops::Range<usize>,
    name: &str,
    qual: &[String],
) -> Result<Expr> {
    let mut path = qual.to_vec();
    path.push(name.to_string());
    let mut found: Option<Expr> = None;
    let mut unknown: Option<Error> = None;
    for (k, part) in parts.iter_mut().enumerate() {
        if !among.contains(&k) {
            continue;
        }
        match part.resolve(&path) {
            // The statement fails on an ambiguous name, so the column the
            // first relation added to its scan does not matter.
            Ok(_) if found.is_some() => return Err(Error::AmbiguousColumn(name.to_string())),
            Ok(mut x) => {
                x.remap_columns(&|i| JOIN_BASE * (k + 1) + i);
                found = Some(x);
            }
            Err(Error::RelationUnknown(_)) => {}
            Err(e) => {
                unknown.get_or_insert(e);
            }
        }
    }
    match (found, unknown) {
        (Some(x), _) => Ok(x),
        (None, Some(e)) => Err(e),
        (None, None) if qual.is_empty() => Err(Error::ColumnUnknown(name.to_string())),
        (None, None) => Err(Error::RelationUnknown(qual.join("."))),
    }
}
