//! The result of a statement, as the HTTP endpoint and the shell show it.

use serde::{Deserialize, Serialize};

use crate::types::{DataType, Row};

/// The result of a statement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    pub cols: Vec<String>,
    pub types: Vec<DataType>,
    pub rows: Vec<Row>,
    /// Rows returned, or rows affected; -1 when unknown.
    pub rowcount: i64,
}

impl QueryResult {
    /// A result for a statement that returns no rows.
    pub fn affected(n: i64) -> QueryResult {
        QueryResult {
            rowcount: n,
            ..Default::default()
        }
    }

    /// Whether the statement produced a result set.
    pub fn is_query(&self) -> bool {
        !self.cols.is_empty()
    }
}
