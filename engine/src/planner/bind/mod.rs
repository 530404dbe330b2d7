//! Expression binding: sqlparser expressions to [`Expr`]s over a relation's row.
//!
//! The [`Binder`] resolves column names against its [`Relation`] (for a
//! table, each referenced column is appended to the scan), resolves
//! functions, and coerces operands: a literal compared with a column is cast
//! to the column's type at plan time, a parameter takes the type of what it
//! is compared with. In *post-aggregation* mode, used for the SELECT list,
//! HAVING and ORDER BY of a grouped query, an expression equal to a GROUP BY
//! key becomes a reference to that key and an aggregate call becomes a
//! reference to its result.
//!
//! One file per part: [`binder`] (state and entry points), [`expr`] (the
//! expression grammar), [`call`] (functions and aggregates), [`window`]
//! (window function calls and their definitions), [`coerce`] (types),
//! [`syntax`] (reading sqlparser's names, literals and types) and [`walk`]
//! (aggregate detection).

mod binder;
mod call;
mod coerce;
mod expr;
mod relation;
mod search;
mod subquery;
mod syntax;
mod walk;
mod window;

pub use binder::{Binder, CORRELATED_BASE, WINDOW_BASE, bind_over_columns};
pub use coerce::{cast_expr, coerce_pair, coerce_to, common_type};
pub use relation::{JOIN_BASE, MAX_JOINED, Relation, resolve_among};
pub use syntax::{convert_type, function_name, number_literal};
pub use walk::contains_aggregate;
