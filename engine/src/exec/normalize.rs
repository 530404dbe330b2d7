//! Turning proposed rows into valid stored rows.
//!
//! Every value is cast to its column's type; objects are checked against
//! their column policy (strict rejects unknown keys, dynamic records them as
//! new columns, ignored keeps them untyped); defaults fill missing columns;
//! generated columns are computed (or checked, when given); NOT NULL and
//! CHECK constraints are enforced. New columns found here are added to the
//! table before any row is written.

use crate::breaker::HeapSize;
use std::sync::Arc;

use crate::catalog::{ColumnExprs, TableInfo};
use crate::error::{Error, Result};
use crate::expr::EvalCtx;
use crate::planner::bind::{bind_over_columns, coerce_to};
use crate::types::cast::{cast, display_typed};
use crate::types::json::infer_type;
use crate::types::{ColumnPolicy, DataType, Object, ObjectType, Value};

/// The largest row a table stores, as its values take in memory. Its
/// encoding (smaller) goes into a translog record, whose length field is
/// 32 bits: every row written must fit one, or replay would stop at it.
pub const MAX_ROW_BYTES: usize = 256 << 20;

/// The longest text the index takes as one term, Lucene's limit (CrateDB
/// refuses longer values in indexed columns with the same message). tantivy
/// keys its terms and column dictionaries by at most 64 KB, the JSON path
/// included: a longer value would be cut, and could not be found, grouped
/// or read back as written.
pub const MAX_TERM_BYTES: usize = 32_766;

/// How long a term's path and value together may be: tantivy's key limit,
/// less room for its field id and type markers.
const MAX_KEY_BYTES: usize = u16::MAX as usize - 16;

/// The path of the first indexed leaf of `v` that the index could not keep
/// whole: text longer than [`MAX_TERM_BYTES`], or a path and value longer
/// than [`MAX_KEY_BYTES`]. Keys an ignored object does not declare are not
/// indexed and not checked.
fn immense_text(column: &str, v: &Value, ty: Option<&DataType>) -> Option<String> {
    // Scalars, nearly every value written, are checked without allocating.
    match v {
        Value::Text(s) => {
            let too_long = s.len() > MAX_TERM_BYTES || column.len() + s.len() > MAX_KEY_BYTES;
            return too_long.then(|| column.to_string());
        }
        Value::Array(_) | Value::Object(_) => {}
        _ => return (column.len() + 8 > MAX_KEY_BYTES).then(|| column.to_string()),
    }
    // (value, type, path as shown, path bytes as indexed)
    let mut pending = vec![(v, ty, column.to_string(), column.len())];
    while let Some((v, ty, path, path_bytes)) = pending.pop() {
        match v {
            Value::Text(s) if s.len() > MAX_TERM_BYTES || path_bytes + s.len() > MAX_KEY_BYTES => {
                return Some(path);
            }
            Value::Array(items) => {
                let inner = ty.map(DataType::element);
                pending.extend(items.iter().map(|x| (x, inner, path.clone(), path_bytes)));
            }
            Value::Object(o) => {
                let object = match ty.map(DataType::element) {
                    Some(DataType::Object(ot)) => Some(ot.as_ref()),
                    _ => None,
                };
                for (k, x) in o.iter() {
                    let field = object.and_then(|ot| ot.field(k));
                    if field.is_none()
                        && object.is_some_and(|ot| ot.policy == ColumnPolicy::Ignored)
                    {
                        continue;
                    }
                    pending.push((x, field, format!("{path}['{k}']"), path_bytes + 1 + k.len()));
                }
            }
            _ if path_bytes + 8 > MAX_KEY_BYTES => return Some(path),
            _ => {}
        }
    }
    None
}

/// A column discovered in a row: top-level column, path below it, type.
pub use crate::request::NewColumn;

/// Validates and completes rows for one table.
pub struct Normalizer<'t> {
    table: &'t TableInfo,
    /// The table's `mapping.depth.limit`: no stored value may nest deeper.
    depth_limit: usize,
    exprs: Arc<ColumnExprs>,
}

/// Binds a table's DEFAULT, GENERATED and CHECK expressions.
fn bind_column_exprs(table: &TableInfo) -> Result<ColumnExprs> {
    let bind = |text: &str| bind_over_columns(&table.columns, text);
    let mut exprs = ColumnExprs::default();
    for (i, c) in table.columns.iter().enumerate() {
        if let Some(d) = &c.default_expr {
            let e = coerce_to(bind(d)?, &c.data_type)?;
            exprs.defaults.push((c.name.clone(), e));
        }
        if let Some(g) = &c.generated_expr {
            let e = coerce_to(bind(g)?, &c.data_type)?;
            exprs.generated.push((i, c.name.clone(), e, g.clone()));
        }
        if let Some(ch) = &c.check_expr {
            exprs.checks.push((bind(ch)?, ch.clone()));
        }
    }
    for ch in &table.checks {
        exprs.checks.push((bind(ch)?, ch.clone()));
    }
    Ok(exprs)
}

impl<'t> Normalizer<'t> {
    /// A normaliser for `table`, with its column expressions bound once per
    /// table version.
    pub fn new(table: &'t TableInfo) -> Result<Normalizer<'t>> {
        Ok(Normalizer {
            table,
            depth_limit: table.mapping_depth_limit(),
            exprs: table.bound_exprs(bind_column_exprs)?,
        })
    }

    /// Normalises one row; new columns are appended to `new_columns`.
    pub fn row(
        &self,
        mut row: Object,
        ctx: &EvalCtx,
        new_columns: &mut Vec<NewColumn>,
    ) -> Result<Object> {
        let table = self.table;
        // Values are conformed in place: the row keeps its keys and order.
        for (i, (name, v)) in row.iter_mut().enumerate() {
            // A top-level column is at depth 1 (Elasticsearch's definition).
            if matches!(v, Value::Array(_) | Value::Object(_))
                && crate::catalog::value_nesting(v) >= self.depth_limit
            {
                return Err(Error::InvalidArgument(format!(
                    "Limit of mapping depth [{}] has been exceeded due to object field [{name}]",
                    self.depth_limit
                )));
            }
            match table.column_near(i, name) {
                Some(col) => {
                    *v = conform(std::mem::take(v), &col.data_type, name, &[], new_columns)?
                }
                None => match table.column_policy {
                    ColumnPolicy::Strict => return Err(Error::ColumnUnknown(name.to_string())),
                    _ => {
                        crate::catalog::check_column_name(name, true)?;
                        if !v.is_null() {
                            let ty = infer_type(v);
                            if ty != DataType::Undefined
                                && ty != DataType::Array(Box::new(DataType::Undefined))
                            {
                                new_columns.push((name.to_string(), Vec::new(), ty.clone()));
                                *v = conform(std::mem::take(v), &ty, name, &[], new_columns)?;
                            }
                        }
                    }
                },
            }
        }
        let mut out = row;
        for (i, (name, v)) in out.iter().enumerate() {
            let column = table.column_near(i, name);
            // INDEX OFF columns and an ignored table's unknown columns are
            // kept in `_source` only: any length is fine there.
            if column.is_some_and(|c| c.index_off || c.data_type.is_source_only())
                || (column.is_none() && table.column_policy == ColumnPolicy::Ignored)
            {
                continue;
            }
            if let Some(path) = immense_text(name, v, column.map(|c| &c.data_type)) {
                return Err(Error::InvalidArgument(format!(
                    "Document contains at least one immense term in field=\"{path}\" (whose \
                     UTF8 encoding is longer than the max length {MAX_TERM_BYTES}); store \
                     longer text in a column with INDEX OFF"
                )));
            }
        }
        let size = out.values().map(HeapSize::heap_size).sum::<usize>();
        if size > MAX_ROW_BYTES {
            return Err(Error::InvalidArgument(format!(
                "the row takes {}, more than the largest row a table stores ({})",
                crate::breaker::format_bytes(size as u64),
                crate::breaker::format_bytes(MAX_ROW_BYTES as u64)
            )));
        }
        for (name, e) in &self.exprs.defaults {
            if !out.contains_key(name.as_str()) {
                out.insert(name.into(), e.eval(&[], ctx)?);
            }
        }
        if !self.exprs.generated.is_empty() || !self.exprs.checks.is_empty() {
            let values: Vec<Value> = table
                .columns
                .iter()
                .map(|c| out.get(c.name.as_str()).cloned().unwrap_or(Value::Null))
                .collect();
            let mut values = values;
            for (idx, name, e, text) in &self.exprs.generated {
                let computed = e.eval(&values, ctx)?;
                match out.get(name.as_str()) {
                    Some(given) if !given.is_null() => {
                        if !given.sql_eq(&computed) {
                            let ty = &table.columns[*idx].data_type;
                            // CrateDB prints the expression parenthesised.
                            let text = if text.starts_with('(')
                                && text.ends_with(')')
                                && !text.contains(") ")
                            {
                                text.clone()
                            } else {
                                format!("({text})")
                            };
                            return Err(Error::Parse(format!(
                                "Given value {} for generated column {name} does not match calculation {text} = {}",
                                display_typed(given, ty),
                                display_typed(&computed, ty)
                            )));
                        }
                    }
                    _ => {
                        values[*idx] = computed.clone();
                        out.insert(name.into(), computed);
                    }
                }
            }
            for (e, text) in &self.exprs.checks {
                if matches!(e.eval(&values, ctx)?, Value::Bool(false)) {
                    return Err(Error::InvalidArgument(format!(
                        "Failed CHECK constraint(s): CHECK ({text}) and values {}",
                        crate::types::json::to_json(&Value::Object(Box::new(out.clone())))
                    )));
                }
            }
        }
        for c in &table.columns {
            if c.not_null && out.get(c.name.as_str()).is_none_or(Value::is_null) {
                if table.primary_key.contains(&c.name) {
                    return Err(Error::Parse(if out.contains_key(c.name.as_str()) {
                        "Primary key value must not be NULL".to_string()
                    } else {
                        format!(
                            "Column `{}` is required but is missing from the insert statement",
                            c.name
                        )
                    }));
                }
                return Err(Error::Parse(format!("\"{}\" must not be null", c.name)));
            }
        }
        // Nulls are not stored: an absent key reads as NULL.
        out.retain(|_, v| !v.is_null());
        Ok(out)
    }
}

fn path_name(column: &str, path: &[String]) -> String {
    let mut s = column.to_string();
    for p in path {
        s.push_str(&format!("['{p}']"));
    }
    s
}

/// Casts `v` to `ty`, descending into objects and arrays.
pub fn conform(
    v: Value,
    ty: &DataType,
    column: &str,
    path: &[String],
    new_columns: &mut Vec<NewColumn>,
) -> Result<Value> {
    if v.is_null() {
        return Ok(v);
    }
    match ty {
        DataType::Object(ot) => {
            let Value::Object(obj) = v else {
                return cast_value(v, ty);
            };
            Ok(Value::Object(Box::new(conform_object(
                *obj,
                ot,
                column,
                path,
                new_columns,
            )?)))
        }
        DataType::Array(inner) => match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(conform(item, inner, column, path, new_columns)?);
                }
                Ok(Value::Array(out))
            }
            other => cast_value(other, ty),
        },
        DataType::Undefined => Ok(v),
        _ => cast_value(v, ty),
    }
}

/// Casts a value for a column, failing with CrateDB's message for stored values.
fn cast_value(v: Value, ty: &DataType) -> Result<Value> {
    // Most values (bound parameters, values cast for the statement already)
    // have their column's type: skip the cast and the text its error shows.
    if crate::types::cast::is_unchanged_by_cast(&v, ty) {
        return Ok(v);
    }
    let shown = crate::types::cast::text_of(&v);
    cast(v, ty).map_err(|e| match e {
        Error::Cast(_) => Error::Cast(format!(
            "Cannot cast value `{shown}` to type `{}`",
            ty.name()
        )),
        other => other,
    })
}

fn conform_object(
    obj: Object,
    ot: &ObjectType,
    column: &str,
    path: &[String],
    new_columns: &mut Vec<NewColumn>,
) -> Result<Object> {
    let mut out = Object::with_capacity_and_hasher(obj.len(), Default::default());
    for (k, v) in obj {
        let mut sub = path.to_vec();
        sub.push(k.to_string());
        match ot.field(&k) {
            Some(t) => {
                let v = conform(v, t, column, &sub, new_columns)?;
                out.insert(k, v);
            }
            None => match ot.policy {
                ColumnPolicy::Strict => {
                    return Err(Error::Parse(format!(
                        "Cannot add column `{k}` to strict object `{}`",
                        path_name(column, path)
                    )));
                }
                ColumnPolicy::Ignored => {
                    out.insert(k, v);
                }
                ColumnPolicy::Dynamic => {
                    crate::catalog::check_column_name(&k, false)?;
                    if !v.is_null() {
                        let t = infer_type(&v);
                        if t != DataType::Undefined {
                            new_columns.push((column.to_string(), sub.clone(), t.clone()));
                            let v = conform(v, &t, column, &sub, new_columns)?;
                            out.insert(k, v);
                            continue;
                        }
                    }
                    out.insert(k, v);
                }
            },
        }
    }
    Ok(out)
}
