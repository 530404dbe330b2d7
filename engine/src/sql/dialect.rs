//! CrateDB's SQL dialect for sqlparser.
//!
//! Mostly PostgreSQL: double-quoted identifiers, `::` casts, `$n` and `?`
//! parameters, `~` regex matches, `[...]` array literals and subscripts. On top
//! of that, CrateDB's object literals `{a = 1, b = 'x'}`, which this dialect
//! parses into sqlparser's `Expr::Dictionary`, and the MATCH predicate
//! `MATCH((a 1.5, b), 'query') USING type WITH (...)`, which it parses into
//! a call of the function [`MATCH_FUNCTION`] (see [`parse_match`]).

use sqlparser::ast::{
    DictionaryField, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, Value,
};
use sqlparser::dialect::Dialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// The name the MATCH predicate is parsed into: one no one calls by
/// accident, and one the syntax tree prints and parses back (COPY TO
/// re-plans its WHERE clause from text).
pub const MATCH_FUNCTION: &str = "match predicate";

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
        if let Token::Word(w) = &parser.peek_token_ref().token
            && w.keyword == Keyword::MATCH
            && w.quote_style.is_none()
            && parser.peek_nth_token_ref(1).token == Token::LParen
        {
            return Some(parse_match(parser));
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

/// Parses `MATCH (target | (target [boost], ...), query) [USING type [WITH (options)]]`
/// into `"match predicate"(ARRAY[(target, boost), ...], query, type,
/// ARRAY[('option', value), ...])`, with NULL for a missing boost or type.
fn parse_match(parser: &mut Parser) -> Result<Expr, ParserError> {
    parser.next_token();
    parser.expect_token(&Token::LParen)?;
    let null = || Expr::Value(Value::Null.into());
    let mut targets = Vec::new();
    let mut target = |parser: &mut Parser| -> Result<(), ParserError> {
        let column = parser.parse_expr()?;
        let boost = match parser.peek_token_ref().token {
            Token::Number(..) => parser.parse_expr()?,
            _ => null(),
        };
        targets.push(Expr::Tuple(vec![column, boost]));
        Ok(())
    };
    if parser.consume_token(&Token::LParen) {
        loop {
            target(parser)?;
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
    } else {
        target(parser)?;
    }
    parser.expect_token(&Token::Comma)?;
    let query = parser.parse_expr()?;
    parser.expect_token(&Token::RParen)?;
    let mut match_type = null();
    let mut options = Vec::new();
    if parser.parse_keyword(Keyword::USING) {
        let ty = parser.parse_identifier()?;
        match_type = Expr::Value(Value::SingleQuotedString(ty.value.to_lowercase()).into());
        if parser.parse_keyword(Keyword::WITH) {
            parser.expect_token(&Token::LParen)?;
            loop {
                let key = parser.parse_identifier()?;
                parser.expect_token(&Token::Eq)?;
                let value = parser.parse_expr()?;
                let key = Value::SingleQuotedString(key.value.to_lowercase());
                options.push(Expr::Tuple(vec![Expr::Value(key.into()), value]));
                if !parser.consume_token(&Token::Comma) {
                    break;
                }
            }
            parser.expect_token(&Token::RParen)?;
        }
    }
    let arg = |e: Expr| FunctionArg::Unnamed(FunctionArgExpr::Expr(e));
    let array = |elem| Expr::Array(sqlparser::ast::Array { elem, named: true });
    Ok(Expr::Function(Function {
        name: ObjectName::from(vec![Ident::with_quote('"', MATCH_FUNCTION)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![
                arg(array(targets)),
                arg(query),
                arg(match_type),
                arg(array(options)),
            ],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }))
}
