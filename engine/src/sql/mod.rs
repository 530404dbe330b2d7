//! SQL text to statement trees: CrateDB's dialect on top of sqlparser.

pub mod ast;
mod dialect;
mod parser;

pub use dialect::{CrateDialect, MATCH_FUNCTION};
pub use parser::{
    expr_text, name_parts, normalize_ident, parse, parse_accounted, parse_expr, parse_one,
};
