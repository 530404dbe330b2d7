//! From statement trees to plans: name resolution, typing, and the shape of execution.

pub mod bind;
pub mod dml;
pub mod explain;
pub mod join;
pub mod naming;
pub mod plan;
pub mod select;
pub mod system;

use std::cell::RefCell;

use crate::catalog::Catalog;
pub use plan::*;

/// What planning needs to know: the catalog, the session's schema, and the
/// CTEs in scope.
pub struct PlanCtx<'a> {
    pub catalog: &'a Catalog,
    pub default_schema: &'a str,
    pub ctes: RefCell<Vec<(String, QueryPlan)>>,
}

impl<'a> PlanCtx<'a> {
    /// A planning context over a catalog.
    pub fn with_catalog(catalog: &'a Catalog, default_schema: &'a str) -> PlanCtx<'a> {
        PlanCtx {
            catalog,
            default_schema,
            ctes: RefCell::new(Vec::new()),
        }
    }

    /// A context without tables (constant expressions).
    pub fn empty() -> PlanCtx<'static> {
        static EMPTY: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        PlanCtx::with_catalog(EMPTY.get_or_init(Catalog::default), "doc")
    }
}
