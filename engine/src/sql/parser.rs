//! Statement parsing: sqlparser's tokenizer and expression parser, with
//! CrateDB's statements parsed here on top of them.

use sqlparser::ast::{Expr, Ident, ObjectName, ObjectNamePart};
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Word};

use super::ast::*;
use super::dialect::CrateDialect;
use crate::breaker::MemoryAccount;
use crate::error::{Error, Result};
use crate::limits;
use crate::types::{ColumnPolicy, DataType, ObjectField, ObjectType};

type PResult<T> = std::result::Result<T, ParserError>;

/// Bytes the tokenizer's vector may take per byte of SQL while it grows: a
/// statement of whitespace makes a token of every byte, and the vector
/// doubles as it grows.
const TOKENIZER_BYTES_PER_BYTE: u64 = 2 * std::mem::size_of::<TokenWithSpan>() as u64;

/// What a statement's syntax tree, plan and bound expressions take per
/// token, as an estimate held for the statement's life (measured: a
/// `SELECT 1, 1, ...` list takes about 400 bytes a token once planned).
const STATEMENT_BYTES_PER_TOKEN: u64 = 512;

/// Statements this short are parsed without accounting.
const UNACCOUNTED_STATEMENT_BYTES: usize = 16 << 10;

/// Tokenizes `sql`, numbering `?` placeholders `$1`, `$2`, ... in textual
/// order so that the planner only deals with numbered parameters.
///
/// Whitespace and comments are dropped: the parser skips them anyway, and a
/// statement padded with megabytes of spaces would otherwise hold a token
/// per space. The memory the tokens and the statement will take is
/// accounted on `memory` first, and statements whose syntax tree could nest
/// deeper than [`limits::MAX_STATEMENT_NESTING`] are refused before any tree
/// is built.
fn tokenize(
    dialect: &CrateDialect,
    sql: &str,
    memory: &MemoryAccount,
) -> Result<Vec<TokenWithSpan>> {
    // Statements up to a few pages are not accounted: what they take is
    // small, and `RESET GLOBAL` must parse under any breaker limit.
    let accounted = sql.len() > UNACCOUNTED_STATEMENT_BYTES;
    let transient = (sql.len() as u64).saturating_mul(TOKENIZER_BYTES_PER_BYTE);
    if accounted {
        memory.reserve(transient, "parse")?;
    }
    let tokens = Tokenizer::new(dialect, sql).tokenize_with_location();
    if accounted {
        memory.release(transient);
    }
    let mut tokens = tokens.map_err(|e| Error::Parse(e.to_string()))?;
    tokens.retain(|t| !matches!(t.token, Token::Whitespace(_)));
    tokens.shrink_to_fit();
    if accounted {
        memory.reserve(
            (tokens.len() as u64).saturating_mul(STATEMENT_BYTES_PER_TOKEN),
            "parse",
        )?;
    }
    let (depth, limit) = (
        limits::nesting_bound(&tokens),
        limits::statement_nesting_limit(),
    );
    if depth > limit {
        return Err(limits::too_deep(depth, limit));
    }
    let mut n = 0;
    for t in tokens.iter_mut() {
        if let Token::Placeholder(p) = &mut t.token
            && p == "?"
        {
            n += 1;
            *p = format!("${n}");
        }
    }
    Ok(tokens)
}

/// Parses one or more `;`-separated statements.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    parse_accounted(sql, &MemoryAccount::default())
}

/// Parses one or more `;`-separated statements, accounting what they take
/// on `memory` (the statement's account, held until it ends).
pub fn parse_accounted(sql: &str, memory: &MemoryAccount) -> Result<Vec<Statement>> {
    let dialect = CrateDialect;
    let mut parser =
        Parser::new(&dialect).with_tokens_with_locations(tokenize(&dialect, sql, memory)?);
    let mut out = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        if parser.peek_token_ref().token == Token::EOF {
            break;
        }
        let stmt = parse_statement(&mut parser).map_err(parse_error)?;
        out.push(stmt);
        match parser.peek_token_ref().token {
            Token::SemiColon | Token::EOF => {}
            _ => {
                let tok = parser.peek_token();
                return Err(parse_error(ParserError::ParserError(format!(
                    "mismatched input '{}' expecting <EOF>",
                    tok.token
                ))));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Parse(
            "line 1:1: mismatched input '<EOF>' expecting a statement".into(),
        ));
    }
    Ok(out)
}

/// Parses exactly one statement.
pub fn parse_one(sql: &str) -> Result<Statement> {
    let mut stmts = parse(sql)?;
    if stmts.len() != 1 {
        return Err(Error::Parse(format!(
            "expected a single statement, got {}",
            stmts.len()
        )));
    }
    Ok(stmts.remove(0))
}

/// Parses a standalone expression (stored default and generated expressions).
pub fn parse_expr(sql: &str) -> Result<Expr> {
    let dialect = CrateDialect;
    let tokens = tokenize(&dialect, sql, &MemoryAccount::default())?;
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let e = parser.parse_expr().map_err(parse_error)?;
    if parser.peek_token_ref().token != Token::EOF {
        return Err(Error::Parse(format!(
            "unexpected input after expression: {sql}"
        )));
    }
    Ok(e)
}

fn parse_error(e: ParserError) -> Error {
    let msg = match e {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m,
        ParserError::RecursionLimitExceeded => "statement is nested too deeply".into(),
    };
    Error::Parse(msg)
}

fn err<T>(msg: impl Into<String>) -> PResult<T> {
    Err(ParserError::ParserError(msg.into()))
}

/// Consumes the next token if it is the word `w` (case-insensitive, unquoted).
fn word(p: &mut Parser, w: &str) -> bool {
    if peek_word(p, 0, w) {
        p.next_token();
        true
    } else {
        false
    }
}

fn peek_word(p: &Parser, n: usize, w: &str) -> bool {
    matches!(&p.peek_nth_token_ref(n).token, Token::Word(Word { value, quote_style: None, .. }) if value.eq_ignore_ascii_case(w))
}

fn words(p: &mut Parser, ws: &[&str]) -> bool {
    if ws.iter().enumerate().all(|(i, w)| peek_word(p, i, w)) {
        for _ in ws {
            p.next_token();
        }
        true
    } else {
        false
    }
}

fn expect_word(p: &mut Parser, w: &str) -> PResult<()> {
    if word(p, w) {
        Ok(())
    } else {
        let found = p.peek_token();
        p.expected(w, found)
    }
}

/// An identifier: unquoted identifiers fold to lower case, as in CrateDB.
fn ident(p: &mut Parser) -> PResult<String> {
    let id = p.parse_identifier()?;
    Ok(normalize_ident(&id))
}

/// The name an identifier denotes: unquoted ones are case-folded.
pub fn normalize_ident(id: &Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_lowercase()
    }
}

/// The parts of an object name, normalised.
pub fn name_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(id) => normalize_ident(id),
            other => other.to_string(),
        })
        .collect()
}

fn parse_statement(p: &mut Parser) -> PResult<Statement> {
    let tok = p.peek_token();
    let Token::Word(w) = &tok.token else {
        if tok.token == Token::LParen {
            return Ok(Statement::Query(p.parse_query()?));
        }
        return p.expected("a statement", tok);
    };
    let kw = w.value.to_ascii_uppercase();
    match kw.as_str() {
        "SELECT" | "WITH" | "VALUES" => Ok(Statement::Query(p.parse_query()?)),
        "INSERT" => parse_insert(p),
        "UPDATE" => parse_update(p),
        "DELETE" => parse_delete(p),
        "CREATE" => {
            p.next_token();
            if word(p, "TABLE") {
                parse_create_table(p)
            } else if word(p, "VIEW") {
                parse_create_view_rest(p, false)
            } else if words(p, &["OR", "REPLACE", "VIEW"]) {
                parse_create_view_rest(p, true)
            } else if word(p, "INDEX") || words(p, &["UNIQUE", "INDEX"]) {
                // Every column is indexed already: `CREATE INDEX` names one
                // that exists, and changes nothing.
                words(p, &["IF", "NOT", "EXISTS"]);
                ident(p)?;
                expect_word(p, "ON")?;
                let table = p.parse_object_name(false)?;
                p.expect_token(&Token::LParen)?;
                let mut columns = Vec::new();
                loop {
                    columns.push(ident(p)?);
                    let _ = word(p, "ASC") || word(p, "DESC");
                    if !p.consume_token(&Token::Comma) {
                        break;
                    }
                }
                p.expect_token(&Token::RParen)?;
                Ok(Statement::CreateIndex { table, columns })
            } else if word(p, "ANALYZER") {
                parse_create_analyzer(p)
            } else {
                unsupported(format!("CREATE {} is not supported", p.peek_token().token))
            }
        }
        "DROP" => {
            p.next_token();
            if word(p, "ANALYZER") {
                return Ok(Statement::DropAnalyzer { name: ident(p)? });
            }
            if word(p, "VIEW") {
                let if_exists = words(p, &["IF", "EXISTS"]);
                let mut names = vec![p.parse_object_name(false)?];
                while p.consume_token(&Token::Comma) {
                    names.push(p.parse_object_name(false)?);
                }
                return Ok(Statement::DropView { names, if_exists });
            }
            if !word(p, "TABLE") {
                return unsupported(format!("DROP {}", p.peek_token().token));
            }
            let if_exists = words(p, &["IF", "EXISTS"]);
            let name = p.parse_object_name(false)?;
            Ok(Statement::DropTable { name, if_exists })
        }
        "ALTER" => {
            p.next_token();
            if word(p, "CLUSTER") {
                if word(p, "DECOMMISSION") {
                    return Ok(Statement::Decommission {
                        node: p.parse_literal_string()?,
                    });
                }
                if words(p, &["REROUTE", "RETRY", "FAILED"]) {
                    return Ok(Statement::RerouteRetryFailed);
                }
                return unsupported(format!(
                    "ALTER CLUSTER {} is not supported",
                    p.peek_token().token
                ));
            }
            if !word(p, "TABLE") {
                return unsupported(format!("ALTER {}", p.peek_token().token));
            }
            parse_alter_table(p)
        }
        "REFRESH" | "OPTIMIZE" => {
            p.next_token();
            expect_word(p, "TABLE")?;
            let mut tables = Vec::new();
            loop {
                tables.push(p.parse_object_name(false)?);
                if word(p, "PARTITION") {
                    skip_parenthesized(p)?;
                }
                if !p.consume_token(&Token::Comma) {
                    break;
                }
            }
            if kw == "REFRESH" {
                if word(p, "WITH") {
                    skip_parenthesized(p)?;
                }
                return Ok(Statement::Refresh { tables });
            }
            let with = if word(p, "WITH") {
                parse_with_options(p)?
            } else {
                Vec::new()
            };
            Ok(Statement::Optimize { tables, with })
        }
        "EXPLAIN" => {
            p.next_token();
            let (mut analyze, mut costs, mut verbose) = (false, true, false);
            let options = p.peek_token_ref().token == Token::LParen
                && ["ANALYZE", "COSTS", "VERBOSE"]
                    .iter()
                    .any(|w| peek_word(p, 1, w));
            if options {
                p.next_token();
                // `EXPLAIN (ANALYZE [b], COSTS [b], VERBOSE [b]) statement`
                loop {
                    let option = p.parse_identifier()?.value.to_uppercase();
                    let value = if word(p, "TRUE") {
                        true
                    } else {
                        !word(p, "FALSE")
                    };
                    match option.as_str() {
                        "ANALYZE" => analyze = value,
                        "COSTS" => costs = value,
                        "VERBOSE" => verbose = value,
                        other => {
                            return unsupported(format!("unknown EXPLAIN option {other}"));
                        }
                    }
                    if !p.consume_token(&Token::Comma) {
                        break;
                    }
                }
                p.expect_token(&Token::RParen)?;
            } else {
                analyze = word(p, "ANALYZE");
                verbose = word(p, "VERBOSE");
            }
            let statement = Box::new(parse_statement(p)?);
            if analyze && verbose {
                return unsupported(
                    "EXPLAIN VERBOSE and EXPLAIN ANALYZE cannot be combined".to_string(),
                );
            }
            Ok(if analyze {
                Statement::ExplainAnalyze(statement)
            } else {
                Statement::Explain {
                    statement,
                    costs,
                    verbose,
                }
            })
        }
        "SHOW" => {
            p.next_token();
            parse_show(p)
        }
        "COPY" => {
            p.next_token();
            parse_copy(p)
        }
        "KILL" => {
            p.next_token();
            if word(p, "ALL") {
                Ok(Statement::Kill { job: None })
            } else {
                Ok(Statement::Kill {
                    job: Some(p.parse_literal_string()?),
                })
            }
        }
        "SET" if peek_word(p, 1, "GLOBAL") => parse_set_global(p),
        "RESET" if peek_word(p, 1, "GLOBAL") => {
            p.next_token();
            p.next_token();
            let mut names = vec![setting_name(p)?];
            while p.consume_token(&Token::Comma) {
                names.push(setting_name(p)?);
            }
            Ok(Statement::ResetGlobal { names })
        }
        "ANALYZE" => {
            p.next_token();
            Ok(Statement::Analyze)
        }
        "SET" | "RESET" | "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "DISCARD"
        | "DEALLOCATE" | "CLOSE" | "DECLARE" => {
            // Consume the rest of the statement: these are accepted no-ops.
            p.next_token();
            loop {
                match p.peek_token_ref().token {
                    Token::SemiColon | Token::EOF => break,
                    _ => {
                        p.next_token();
                    }
                }
            }
            Ok(Statement::NoOp { tag: kw })
        }
        _ => unsupported(format!("line 1:1: mismatched input '{}'", w.value)),
    }
}

/// `SET GLOBAL [PERSISTENT | TRANSIENT] name = value [, ...]`.
fn parse_set_global(p: &mut Parser) -> PResult<Statement> {
    p.next_token();
    p.next_token();
    let persistent = if word(p, "PERSISTENT") {
        true
    } else {
        word(p, "TRANSIENT");
        false
    };
    let mut assignments = Vec::new();
    loop {
        let name = setting_name(p)?;
        if !p.consume_token(&Token::Eq) && !word(p, "TO") {
            let found = p.peek_token();
            return p.expected("=", found);
        }
        assignments.push((name, p.parse_expr()?));
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    Ok(Statement::SetGlobal {
        persistent,
        assignments,
    })
}

/// A setting name: `stats.enabled` or `"stats.enabled"`.
fn setting_name(p: &mut Parser) -> PResult<String> {
    Ok(name_parts(&p.parse_object_name(false)?).join("."))
}

fn unsupported<T>(msg: String) -> PResult<T> {
    Err(ParserError::ParserError(msg))
}

fn skip_parenthesized(p: &mut Parser) -> PResult<()> {
    p.expect_token(&Token::LParen)?;
    let mut depth = 1;
    while depth > 0 {
        match p.next_token().token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::EOF => return err("unbalanced parentheses"),
            _ => {}
        }
    }
    Ok(())
}

fn parse_copy(p: &mut Parser) -> PResult<Statement> {
    let table = p.parse_object_name(false)?;
    let mut columns = Vec::new();
    if p.peek_token_ref().token == Token::LParen {
        columns = parse_key_list(p)?;
    }
    if word(p, "PARTITION") {
        skip_parenthesized(p)?;
    }
    let direction = if word(p, "FROM") {
        let uri = Box::new(p.parse_expr()?);
        CopyDirection::From {
            uri,
            return_summary: false,
        }
    } else {
        let selection = if word(p, "WHERE") {
            Some(Box::new(p.parse_expr()?))
        } else {
            None
        };
        expect_word(p, "TO")?;
        expect_word(p, "DIRECTORY")?;
        CopyDirection::To {
            directory: Box::new(p.parse_expr()?),
            selection,
        }
    };
    let with = if word(p, "WITH") {
        parse_with_options(p)?
    } else {
        Vec::new()
    };
    let direction = match direction {
        CopyDirection::From { uri, .. } => {
            let return_summary = words(p, &["RETURN", "SUMMARY"]);
            CopyDirection::From {
                uri,
                return_summary,
            }
        }
        other => other,
    };
    Ok(Statement::Copy(Box::new(Copy {
        table,
        columns,
        direction,
        with,
    })))
}

fn parse_show(p: &mut Parser) -> PResult<Statement> {
    if word(p, "TABLES") {
        let schema = if word(p, "FROM") || word(p, "IN") {
            Some(ident(p)?)
        } else {
            None
        };
        return Ok(Statement::Show(Show::Tables { schema }));
    }
    if word(p, "SCHEMAS") {
        return Ok(Statement::Show(Show::Schemas));
    }
    if word(p, "COLUMNS") {
        if !(word(p, "FROM") || word(p, "IN")) {
            let found = p.peek_token();
            return p.expected("FROM", found);
        }
        let table = p.parse_object_name(false)?;
        return Ok(Statement::Show(Show::Columns { table }));
    }
    if words(p, &["CREATE", "TABLE"]) {
        let table = p.parse_object_name(false)?;
        return Ok(Statement::Show(Show::CreateTable { table }));
    }
    if words(p, &["CREATE", "VIEW"]) {
        let view = p.parse_object_name(false)?;
        return Ok(Statement::Show(Show::CreateView { view }));
    }
    let mut name = Vec::new();
    loop {
        match p.peek_token_ref().token {
            Token::SemiColon | Token::EOF => break,
            _ => name.push(p.next_token().token.to_string()),
        }
    }
    Ok(Statement::Show(Show::Setting {
        name: name.join(" ").to_lowercase(),
    }))
}

fn parse_insert(p: &mut Parser) -> PResult<Statement> {
    expect_word(p, "INSERT")?;
    expect_word(p, "INTO")?;
    let table = p.parse_object_name(false)?;
    let mut columns = Vec::new();
    // `(` may open a column list or a parenthesised query.
    if p.peek_token_ref().token == Token::LParen
        && !(peek_word(p, 1, "SELECT") || peek_word(p, 1, "WITH") || peek_word(p, 1, "VALUES"))
        && p.peek_nth_token_ref(1).token != Token::LParen
    {
        p.expect_token(&Token::LParen)?;
        loop {
            columns.push(ident(p)?);
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        p.expect_token(&Token::RParen)?;
    }
    let source = if word(p, "VALUES") {
        let mut rows = Vec::new();
        loop {
            p.expect_token(&Token::LParen)?;
            let mut row = Vec::new();
            if !p.consume_token(&Token::RParen) {
                loop {
                    row.push(p.parse_expr()?);
                    if !p.consume_token(&Token::Comma) {
                        break;
                    }
                }
                p.expect_token(&Token::RParen)?;
            }
            rows.push(row);
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        InsertSource::Values(rows)
    } else {
        InsertSource::Query(p.parse_query()?)
    };
    let on_conflict = if words(p, &["ON", "CONFLICT"]) {
        if p.peek_token_ref().token == Token::LParen {
            skip_parenthesized(p)?;
        }
        expect_word(p, "DO")?;
        if word(p, "NOTHING") {
            Some(OnConflict::DoNothing)
        } else {
            expect_word(p, "UPDATE")?;
            expect_word(p, "SET")?;
            Some(OnConflict::DoUpdate(parse_assignments(p)?))
        }
    } else {
        None
    };
    let returning = parse_returning(p)?;
    Ok(Statement::Insert(Box::new(Insert {
        table,
        columns,
        source,
        on_conflict,
        returning,
    })))
}

fn parse_returning(p: &mut Parser) -> PResult<Option<Vec<sqlparser::ast::SelectItem>>> {
    if word(p, "RETURNING") {
        Ok(Some(p.parse_comma_separated(|p| p.parse_select_item())?))
    } else {
        Ok(None)
    }
}

fn parse_assignments(p: &mut Parser) -> PResult<Vec<Assignment>> {
    let mut out = Vec::new();
    loop {
        let mut column = ident(p)?;
        // `t.col = ...` with a table qualifier: keep the column only.
        while p.consume_token(&Token::Period) {
            column = ident(p)?;
        }
        let mut path = Vec::new();
        while p.consume_token(&Token::LBracket) {
            path.push(p.parse_literal_string()?);
            p.expect_token(&Token::RBracket)?;
        }
        p.expect_token(&Token::Eq)?;
        let value = p.parse_expr()?;
        out.push(Assignment {
            column,
            path,
            value,
        });
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    Ok(out)
}

fn parse_table_alias(p: &mut Parser) -> PResult<Option<String>> {
    if word(p, "AS") {
        return Ok(Some(ident(p)?));
    }
    match &p.peek_token_ref().token {
        Token::Word(w)
            if !["SET", "WHERE", "RETURNING"]
                .iter()
                .any(|k| w.value.eq_ignore_ascii_case(k))
                || w.quote_style.is_some() =>
        {
            Ok(Some(ident(p)?))
        }
        _ => Ok(None),
    }
}

fn parse_update(p: &mut Parser) -> PResult<Statement> {
    expect_word(p, "UPDATE")?;
    let table = p.parse_object_name(false)?;
    let alias = parse_table_alias(p)?;
    expect_word(p, "SET")?;
    let assignments = parse_assignments(p)?;
    let selection = if word(p, "WHERE") {
        Some(p.parse_expr()?)
    } else {
        None
    };
    let returning = parse_returning(p)?;
    Ok(Statement::Update(Box::new(Update {
        table,
        alias,
        assignments,
        selection,
        returning,
    })))
}

fn parse_delete(p: &mut Parser) -> PResult<Statement> {
    expect_word(p, "DELETE")?;
    expect_word(p, "FROM")?;
    let table = p.parse_object_name(false)?;
    let alias = parse_table_alias(p)?;
    let selection = if word(p, "WHERE") {
        Some(p.parse_expr()?)
    } else {
        None
    };
    Ok(Statement::Delete(Box::new(Delete {
        table,
        alias,
        selection,
    })))
}

fn parse_create_table(p: &mut Parser) -> PResult<Statement> {
    let if_not_exists = words(p, &["IF", "NOT", "EXISTS"]);
    let name = p.parse_object_name(false)?;
    let mut ct = CreateTable {
        name,
        if_not_exists,
        columns: Vec::new(),
        primary_key: Vec::new(),
        indexes: Vec::new(),
        checks: Vec::new(),
        clustered_by: None,
        shards: None,
        partitioned_by: Vec::new(),
        with: Vec::new(),
    };
    p.expect_token(&Token::LParen)?;
    if !p.consume_token(&Token::RParen) {
        loop {
            parse_table_element(p, &mut ct)?;
            if p.consume_token(&Token::Comma) {
                continue;
            }
            p.expect_token(&Token::RParen)?;
            break;
        }
    }
    loop {
        if word(p, "CLUSTERED") {
            if word(p, "BY") {
                p.expect_token(&Token::LParen)?;
                ct.clustered_by = Some(ident(p)?);
                p.expect_token(&Token::RParen)?;
            }
            if word(p, "INTO") {
                let n = p.parse_literal_uint()?;
                expect_word(p, "SHARDS")?;
                ct.shards = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
        } else if words(p, &["PARTITIONED", "BY"]) {
            p.expect_token(&Token::LParen)?;
            loop {
                ct.partitioned_by.push(ident(p)?);
                if !p.consume_token(&Token::Comma) {
                    break;
                }
            }
            p.expect_token(&Token::RParen)?;
        } else if word(p, "WITH") {
            ct.with = parse_with_options(p)?;
        } else {
            break;
        }
    }
    Ok(Statement::CreateTable(Box::new(ct)))
}

/// `( key = value, ... )`; keys may be dotted or quoted.
fn parse_with_options(p: &mut Parser) -> PResult<Vec<(String, Expr)>> {
    p.expect_token(&Token::LParen)?;
    let mut out = Vec::new();
    if p.consume_token(&Token::RParen) {
        return Ok(out);
    }
    loop {
        let mut key = p.parse_identifier()?.value;
        while p.consume_token(&Token::Period) {
            key.push('.');
            key.push_str(&p.parse_identifier()?.value);
        }
        let value = if p.consume_token(&Token::Eq) {
            p.parse_expr()?
        } else {
            Expr::Value(sqlparser::ast::Value::Boolean(true).into())
        };
        out.push((key.to_lowercase(), value));
        if p.consume_token(&Token::Comma) {
            continue;
        }
        p.expect_token(&Token::RParen)?;
        return Ok(out);
    }
}

/// `CREATE ANALYZER name [EXTENDS parent] [WITH (...)] [( element, ... )]`,
/// the elements being `TOKENIZER c`, `TOKEN_FILTERS (c, ...)` and
/// `CHAR_FILTERS (c, ...)`, each component `name [WITH (...)]`.
/// `CREATE [OR REPLACE] VIEW name AS query` (after `CREATE`, `OR REPLACE`
/// and `VIEW` were read; `or_replace` says whether OR REPLACE was there).
fn parse_create_view_rest(p: &mut Parser, or_replace: bool) -> PResult<Statement> {
    let name = p.parse_object_name(false)?;
    expect_word(p, "AS")?;
    let query = p.parse_query()?;
    Ok(Statement::CreateView {
        name,
        query,
        or_replace,
    })
}

fn parse_create_analyzer(p: &mut Parser) -> PResult<Statement> {
    let name = ident(p)?;
    let extends = if word(p, "EXTENDS") {
        Some(ident(p)?)
    } else {
        None
    };
    let mut def = crate::analysis::AnalyzerDef {
        name,
        extends,
        tokenizer: None,
        token_filters: Vec::new(),
        char_filters: Vec::new(),
        parameters: Vec::new(),
    };
    if word(p, "WITH") {
        def.parameters = option_values(parse_with_options(p)?)?;
    }
    if p.consume_token(&Token::LParen) {
        loop {
            if word(p, "TOKENIZER") {
                def.tokenizer = Some(parse_component(p)?);
            } else if word(p, "TOKEN_FILTERS") {
                def.token_filters = parse_components(p)?;
            } else if word(p, "CHAR_FILTERS") {
                def.char_filters = parse_components(p)?;
            } else {
                let key = ident(p)?;
                p.expect_token(&Token::Eq)?;
                let value = p.parse_expr()?;
                def.parameters.extend(option_values(vec![(key, value)])?);
            }
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        p.expect_token(&Token::RParen)?;
    }
    Ok(Statement::CreateAnalyzer(Box::new(def)))
}

fn parse_components(p: &mut Parser) -> PResult<Vec<crate::analysis::Component>> {
    p.expect_token(&Token::LParen)?;
    let mut out = Vec::new();
    if p.consume_token(&Token::RParen) {
        return Ok(out);
    }
    loop {
        out.push(parse_component(p)?);
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    Ok(out)
}

fn parse_component(p: &mut Parser) -> PResult<crate::analysis::Component> {
    let name = ident(p)?;
    let parameters = if word(p, "WITH") {
        option_values(parse_with_options(p)?)?
    } else {
        Vec::new()
    };
    Ok(crate::analysis::Component { name, parameters })
}

/// Option values as JSON: literals and arrays of literals.
fn option_values(options: Vec<(String, Expr)>) -> PResult<Vec<(String, serde_json::Value)>> {
    options
        .into_iter()
        .map(|(k, v)| Ok((k, option_json(&v)?)))
        .collect()
}

fn option_json(e: &Expr) -> PResult<serde_json::Value> {
    use serde_json::Value as J;
    use sqlparser::ast::Value as V;
    match e {
        Expr::Value(v) => Ok(match &v.value {
            V::SingleQuotedString(s) | V::DoubleQuotedString(s) => J::String(s.clone()),
            V::Number(n, _) => serde_json::from_str(n).unwrap_or(J::String(n.clone())),
            V::Boolean(b) => J::Bool(*b),
            V::Null => J::Null,
            other => J::String(other.to_string()),
        }),
        Expr::Identifier(id) => Ok(J::String(id.value.clone())),
        Expr::Array(a) => Ok(J::Array(
            a.elem.iter().map(option_json).collect::<PResult<_>>()?,
        )),
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Minus,
            expr,
        } => match option_json(expr)? {
            J::Number(n) => Ok(n
                .as_i64()
                .map(|i| J::from(-i))
                .or_else(|| n.as_f64().map(|f| J::from(-f)))
                .unwrap_or(J::Null)),
            _ => err(format!("invalid option value {e}")),
        },
        other => err(format!("invalid option value {other}")),
    }
}

/// `(a, obj['k'], ...)`: the columns of an index, subscripts written as SQL does.
fn parse_index_columns(p: &mut Parser) -> PResult<Vec<String>> {
    p.expect_token(&Token::LParen)?;
    let mut cols = Vec::new();
    loop {
        let mut col = ident(p)?;
        while p.consume_token(&Token::LBracket) {
            let key = p.parse_literal_string()?;
            p.expect_token(&Token::RBracket)?;
            col.push_str(&format!("['{key}']"));
        }
        cols.push(col);
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    Ok(cols)
}

fn parse_key_list(p: &mut Parser) -> PResult<Vec<String>> {
    p.expect_token(&Token::LParen)?;
    let mut cols = Vec::new();
    loop {
        cols.push(ident(p)?);
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    Ok(cols)
}

fn parse_table_element(p: &mut Parser, ct: &mut CreateTable) -> PResult<()> {
    if words(p, &["PRIMARY", "KEY"]) {
        ct.primary_key.extend(parse_key_list(p)?);
        return Ok(());
    }
    // `UNIQUE (a, b)`: accepted and not enforced, as the column constraint.
    if peek_word(p, 0, "UNIQUE") && p.peek_nth_token_ref(1).token == Token::LParen {
        p.next_token();
        parse_key_list(p)?;
        return Ok(());
    }
    if word(p, "CONSTRAINT") {
        let _name = ident(p)?;
        if words(p, &["PRIMARY", "KEY"]) {
            ct.primary_key.extend(parse_key_list(p)?);
        } else {
            expect_word(p, "CHECK")?;
            p.expect_token(&Token::LParen)?;
            ct.checks.push(p.parse_expr()?);
            p.expect_token(&Token::RParen)?;
        }
        return Ok(());
    }
    if peek_word(p, 0, "CHECK") && p.peek_nth_token_ref(1).token == Token::LParen {
        p.next_token();
        p.expect_token(&Token::LParen)?;
        ct.checks.push(p.parse_expr()?);
        p.expect_token(&Token::RParen)?;
        return Ok(());
    }
    if peek_word(p, 0, "INDEX") && peek_word(p, 2, "USING") {
        p.next_token();
        let name = ident(p)?;
        expect_word(p, "USING")?;
        let method = ident(p)?;
        let columns = parse_index_columns(p)?;
        let mut analyzer = "standard".to_string();
        if word(p, "WITH") {
            for (k, v) in parse_with_options(p)? {
                if k == "analyzer" {
                    analyzer = expr_text(&v);
                }
            }
        }
        if method != "fulltext" && method != "plain" {
            return err(format!("unknown index method {method}"));
        }
        ct.indexes.push(IndexDef {
            name,
            columns,
            analyzer,
        });
        return Ok(());
    }
    let col = parse_column_def(p)?;
    if col.primary_key {
        ct.primary_key.push(col.name.clone());
    }
    ct.columns.push(col);
    Ok(())
}

/// The text of a literal-ish expression used as an option value.
pub fn expr_text(e: &Expr) -> String {
    use sqlparser::ast::Value as V;
    match e {
        Expr::Value(v) => match &v.value {
            V::SingleQuotedString(s) | V::DoubleQuotedString(s) => s.clone(),
            V::Number(n, _) => n.clone(),
            V::Boolean(b) => b.to_string(),
            other => other.to_string(),
        },
        Expr::Identifier(id) => id.value.clone(),
        other => other.to_string(),
    }
}

/// Parses `name type [constraints...]`.
pub fn parse_column_def(p: &mut Parser) -> PResult<ColumnDef> {
    let name = ident(p)?;
    // A generated column may omit its type: `name AS (expr)`.
    let data_type = if peek_word(p, 0, "AS") || peek_word(p, 0, "GENERATED") {
        DataType::Undefined
    } else {
        parse_type(p)?
    };
    let mut col = ColumnDef {
        name,
        data_type,
        primary_key: false,
        not_null: false,
        default: None,
        generated: None,
        index: IndexSpec::Plain,
        check: None,
    };
    loop {
        if words(p, &["PRIMARY", "KEY"]) {
            col.primary_key = true;
        } else if word(p, "UNIQUE") {
            // Accepted for SQL scripts written for other databases, and not
            // enforced: as in CrateDB, only primary keys are unique
            // (docs/sql.md says so).
        } else if words(p, &["NOT", "NULL"]) {
            col.not_null = true;
        } else if word(p, "NULL") {
        } else if word(p, "DEFAULT") {
            col.default = Some(p.parse_expr()?);
        } else if words(p, &["GENERATED", "ALWAYS", "AS"]) || word(p, "AS") {
            p.expect_token(&Token::LParen)?;
            col.generated = Some(p.parse_expr()?);
            p.expect_token(&Token::RParen)?;
        } else if words(p, &["INDEX", "OFF"]) {
            col.index = IndexSpec::Off;
        } else if words(p, &["INDEX", "USING"]) {
            let method = ident(p)?;
            let mut analyzer = "standard".to_string();
            if word(p, "WITH") {
                for (k, v) in parse_with_options(p)? {
                    if k == "analyzer" {
                        analyzer = expr_text(&v);
                    }
                }
            }
            col.index = match method.as_str() {
                "plain" => IndexSpec::Plain,
                "fulltext" => IndexSpec::Fulltext { analyzer },
                // geo_shape index trees: shapes are kept unindexed (see types::geo).
                "geohash" | "quadtree" | "bkdtree" => IndexSpec::Plain,
                other => return err(format!("unknown index method {other}")),
            };
        } else if words(p, &["STORAGE", "WITH"]) {
            parse_with_options(p)?;
        } else if word(p, "CONSTRAINT") {
            ident(p)?;
        } else if word(p, "CHECK") {
            p.expect_token(&Token::LParen)?;
            col.check = Some(p.parse_expr()?);
            p.expect_token(&Token::RParen)?;
        } else {
            break;
        }
    }
    Ok(col)
}

/// Parses a CrateDB type, including `OBJECT(...) AS (...)`, `ARRAY(t)` and `t[]`.
pub fn parse_type(p: &mut Parser) -> PResult<DataType> {
    let tok = p.next_token();
    let name = match &tok.token {
        Token::Word(w) => w.value.to_lowercase(),
        Token::DoubleQuotedString(s) => s.to_lowercase(),
        _ => return p.expected("a data type", tok),
    };
    let mut ty = match name.as_str() {
        "object" => {
            let mut ot = ObjectType::default();
            if p.consume_token(&Token::LParen) {
                let policy = ident(p)?;
                ot.policy = ColumnPolicy::parse(&policy).ok_or_else(|| {
                    ParserError::ParserError(format!("invalid column policy {policy}"))
                })?;
                p.expect_token(&Token::RParen)?;
            }
            if word(p, "AS") {
                p.expect_token(&Token::LParen)?;
                if !p.consume_token(&Token::RParen) {
                    loop {
                        let inner = parse_column_def(p)?;
                        ot.fields.push(ObjectField {
                            name: inner.name,
                            data_type: inner.data_type,
                        });
                        if !p.consume_token(&Token::Comma) {
                            break;
                        }
                    }
                    p.expect_token(&Token::RParen)?;
                }
            }
            DataType::Object(Box::new(ot))
        }
        "array" => {
            p.expect_token(&Token::LParen)?;
            let inner = parse_type(p)?;
            p.expect_token(&Token::RParen)?;
            DataType::Array(Box::new(inner))
        }
        "double" => {
            word(p, "PRECISION");
            DataType::Double
        }
        "timestamp" => {
            if words(p, &["WITH", "TIME", "ZONE"]) {
                DataType::Timestamp { tz: true }
            } else {
                // `WITHOUT TIME ZONE`, or bare TIMESTAMP (its alias).
                words(p, &["WITHOUT", "TIME", "ZONE"]);
                DataType::Timestamp { tz: false }
            }
        }
        "character" => {
            word(p, "VARYING");
            skip_type_modifier(p)?;
            DataType::Text
        }
        "varchar" | "char" | "text" | "string" => {
            skip_type_modifier(p)?;
            DataType::Text
        }
        "numeric" | "decimal" => {
            skip_type_modifier(p)?;
            DataType::Double
        }
        other => match DataType::from_name(other) {
            Some(t) => t,
            None => {
                return Err(ParserError::ParserError(format!(
                    "Cannot find data type: {other}"
                )));
            }
        },
    };
    while p.peek_token_ref().token == Token::LBracket
        && p.peek_nth_token_ref(1).token == Token::RBracket
    {
        p.next_token();
        p.next_token();
        ty = DataType::Array(Box::new(ty));
    }
    Ok(ty)
}

fn skip_type_modifier(p: &mut Parser) -> PResult<()> {
    if p.peek_token_ref().token == Token::LParen {
        skip_parenthesized(p)?;
    }
    Ok(())
}

fn parse_alter_table(p: &mut Parser) -> PResult<Statement> {
    let name = p.parse_object_name(false)?;
    if word(p, "ADD") {
        word(p, "COLUMN");
        let mut cols = vec![parse_column_def(p)?];
        while p.consume_token(&Token::Comma) {
            word(p, "ADD");
            word(p, "COLUMN");
            cols.push(parse_column_def(p)?);
        }
        return Ok(Statement::AlterTable {
            name,
            action: AlterAction::AddColumns(cols),
        });
    }
    if word(p, "RENAME") {
        if !word(p, "TO") {
            return unsupported(format!("ALTER TABLE RENAME {}", p.peek_token().token));
        }
        let to = p.parse_object_name(false)?;
        return Ok(Statement::AlterTable {
            name,
            action: AlterAction::RenameTo(to),
        });
    }
    if word(p, "SET") {
        let opts = parse_with_options(p)?;
        return Ok(Statement::AlterTable {
            name,
            action: AlterAction::Set(opts),
        });
    }
    if word(p, "RESET") {
        p.expect_token(&Token::LParen)?;
        let mut keys = Vec::new();
        loop {
            let mut key = p.parse_identifier()?.value;
            while p.consume_token(&Token::Period) {
                key.push('.');
                key.push_str(&p.parse_identifier()?.value);
            }
            keys.push(key.to_lowercase());
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        p.expect_token(&Token::RParen)?;
        return Ok(Statement::AlterTable {
            name,
            action: AlterAction::Reset(keys),
        });
    }
    let found = p.peek_token();
    p.expected("ADD COLUMN, SET or RESET", found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(sql: &str) -> CreateTable {
        match parse_one(sql).unwrap() {
            Statement::CreateTable(ct) => *ct,
            other => panic!("not a create table: {other:?}"),
        }
    }

    #[test]
    fn parses_cratedb_create_table() {
        let ct = create(
            "CREATE TABLE IF NOT EXISTS s.t (id INT PRIMARY KEY, name TEXT NOT NULL, \
             o OBJECT(STRICT) AS (a TEXT, b ARRAY(INTEGER)), tags TEXT[], \
             ts TIMESTAMP WITH TIME ZONE, d DOUBLE PRECISION DEFAULT 1.5, \
             INDEX ft USING FULLTEXT (name) WITH (analyzer = 'english')) \
             CLUSTERED BY (id) INTO 3 SHARDS WITH (number_of_replicas = '0-1', refresh_interval = 500);",
        );
        assert!(ct.if_not_exists);
        assert_eq!(ct.primary_key, vec!["id"]);
        assert_eq!(ct.shards, Some(3));
        assert_eq!(ct.clustered_by.as_deref(), Some("id"));
        assert_eq!(ct.columns.len(), 6);
        assert!(ct.columns[1].not_null);
        assert_eq!(
            ct.columns[3].data_type,
            DataType::Array(Box::new(DataType::Text))
        );
        assert_eq!(ct.columns[4].data_type, DataType::Timestamp { tz: true });
        match &ct.columns[2].data_type {
            DataType::Object(o) => {
                assert_eq!(o.policy, ColumnPolicy::Strict);
                assert_eq!(o.fields.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(ct.indexes[0].analyzer, "english");
        assert_eq!(ct.with.len(), 2);
    }

    #[test]
    fn parses_dml_with_crate_extensions() {
        let stmts = parse(
            "insert into t (id, o) values (1, {a = 'x', b = [1, 2]}) on conflict (id) do update set n = excluded.n; \
             update t set o['a'] = 'y' where id = 1; delete from t where id = ?; refresh table t, u;",
        )
        .unwrap();
        assert_eq!(stmts.len(), 4);
        match &stmts[1] {
            Statement::Update(u) => assert_eq!(u.assignments[0].path, vec!["a".to_string()]),
            other => panic!("{other:?}"),
        }
        match &stmts[3] {
            Statement::Refresh { tables } => assert_eq!(tables.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_garbage_with_a_parse_error() {
        let e = parse("SELEKT 1").unwrap_err();
        assert_eq!(e.code(), 4000);
        assert!(parse("select from where").is_err());
        assert!(parse("").is_err());
    }
}
