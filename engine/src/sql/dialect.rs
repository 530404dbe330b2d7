//! CrateDB's SQL dialect for sqlparser.
//!
//! Mostly PostgreSQL: double-quoted identifiers, `::` casts, `$n` and `?`
//! parameters, `~` regex matches, `[...]` array literals and subscripts. On top
//! of that, CrateDB's object literals `{a = 1, b = 'x'}`, which this dialect
//! parses into sqlparser's `Expr::Dictionary`.

use sqlparser::ast::{DictionaryField, Expr};
use sqlparser::dialect::Dialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// The CrateDB dialect.
#[derive(Debug, Default, Clone, Copy)]
pub struct CrateDialect;

impl Dialect for CrateDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '$'
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '"'
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    fn supports_group_by_expr(&self) -> bool {
        true
    }

    fn supports_window_function_null_treatment_arg(&self) -> bool {
        true
    }

    fn allow_extract_single_quotes(&self) -> bool {
        true
    }

    fn allow_extract_custom(&self) -> bool {
        true
    }

    fn supports_dollar_placeholder(&self) -> bool {
        true
    }

    fn supports_in_empty_list(&self) -> bool {
        true
    }

    fn supports_nested_comments(&self) -> bool {
        true
    }

    fn supports_string_escape_constant(&self) -> bool {
        true
    }

    fn supports_named_fn_args_with_eq_operator(&self) -> bool {
        false
    }

    fn supports_tilde_like_match_operator(&self) -> bool {
        false
    }

    /// `int[]` as a type: `CAST(x AS int[])`, `x::int[]`, column types.
    fn supports_array_typedef_with_brackets(&self) -> bool {
        true
    }

    /// `ARRAY(int)` as a type, CrateDB's spelling, in casts too.
    fn supports_array_typedef_with_parentheses(&self) -> bool {
        true
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        if parser.peek_token_ref().token == Token::LBrace {
            return Some(parse_object_literal(parser));
        }
        None
    }
}

/// Parses `{key = value, ...}` (the opening brace is next).
fn parse_object_literal(parser: &mut Parser) -> Result<Expr, ParserError> {
    parser.expect_token(&Token::LBrace)?;
    let mut fields = Vec::new();
    if !parser.consume_token(&Token::RBrace) {
        loop {
            let key = parser.parse_identifier()?;
            parser.expect_token(&Token::Eq)?;
            let value = parser.parse_expr()?;
            fields.push(DictionaryField {
                key,
                value: Box::new(value),
            });
            if parser.consume_token(&Token::Comma) {
                continue;
            }
            parser.expect_token(&Token::RBrace)?;
            break;
        }
    }
    Ok(Expr::Dictionary(fields))
}
