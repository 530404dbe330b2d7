//! Limits that keep hostile input from exhausting the stack.
//!
//! Statements, values and types are trees, and most of the engine walks them
//! recursively: sqlparser's own code (parsing, `Display`, `Drop`), the binder,
//! the evaluator, the serialisers. Two defences cover every walk:
//!
//! * **Bounded input.** [`nesting_bound`] measures, on the token stream and
//!   before any tree exists, an upper bound of how deep a statement's syntax
//!   tree can be, and the parser refuses statements above
//!   [`MAX_STATEMENT_NESTING`]. Types and stored values are bounded by a
//!   table's `mapping.depth.limit`, which is capped at
//!   [`MAX_MAPPING_DEPTH`] so that every accepted schema reads back.
//! * **A stack check** ([`check_stack`]) at the top of the engine's own
//!   recursive functions, as PostgreSQL's `check_stack_depth` does: when
//!   less than [`STACK_RED_ZONE`] of the thread's stack is left, the walk
//!   stops with an error instead of overflowing. This covers threads with
//!   small stacks (tests, the blocking pool) whatever the depth limits are.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{Error, Result};

/// The deepest syntax tree a statement may have, as measured by
/// [`nesting_bound`]. Long chains of a binary operator (`1 + 1 + ...`,
/// `a OR b OR ...`) and of subscripts count one level per operator, since
/// sqlparser builds them as left-deep trees.
pub const MAX_STATEMENT_NESTING: usize = 8000;

/// The default of the table setting `mapping.depth.limit`: how many levels
/// of objects and arrays a column's type and a stored value may nest,
/// counting a top-level column as 1, as Elasticsearch does.
///
/// It is also the highest a table may set ([`MAX_MAPPING_DEPTH`]): tantivy
/// records JSON fast fields only down to a depth of 19 (deeper values are
/// dropped from the columns aggregations and scalar reads use), so a deeper
/// column would read back as NULL. Elasticsearch and CrateDB default to 20.
pub const DEFAULT_MAPPING_DEPTH: usize = 19;

/// The highest `mapping.depth.limit` a table may set (see
/// [`DEFAULT_MAPPING_DEPTH`]). The catalog, JSON read with serde_json's
/// recursion limit of 128 and four JSON levels to each object level of a
/// column type, would take about 30.
pub const MAX_MAPPING_DEPTH: usize = 19;

/// Stack a recursive walk leaves untouched: when less than this is left,
/// [`check_stack`] fails. Large enough for the deepest non-recursive call
/// chain the engine makes below a checked function (formatting, tantivy).
pub const STACK_RED_ZONE: usize = 256 * 1024;

/// Stack that one level of a syntax tree may take in the recursive code that
/// walks it without a check: sqlparser's derived `Clone`, `Drop`, `Debug`
/// and its `Display`. Measured: a derived clone of sqlparser's `Expr` takes
/// about 5 KB a level in a debug build and a few hundred bytes in a
/// release build.
const STACK_PER_LEVEL: usize = if cfg!(debug_assertions) {
    12 * 1024
} else {
    1024
};

/// The deepest syntax tree the current thread can walk: at most
/// [`MAX_STATEMENT_NESTING`], less on a thread with a small stack (a test's,
/// a debug build's). A server's workers have 16 MB stacks, where this is
/// [`MAX_STATEMENT_NESTING`].
pub fn statement_nesting_limit() -> usize {
    let left = remaining_stack()
        .unwrap_or(usize::MAX)
        .saturating_sub(STACK_RED_ZONE);
    (left / STACK_PER_LEVEL).min(MAX_STATEMENT_NESTING)
}

/// Fails when the current thread's stack is nearly exhausted. Called at the
/// top of recursive functions over input-shaped trees.
#[inline]
pub fn check_stack() -> Result<()> {
    match remaining_stack() {
        Some(left) if left < STACK_RED_ZONE => Err(Error::Parse(
            "statement is too complex: evaluating it would exhaust the stack".into(),
        )),
        _ => Ok(()),
    }
}

/// The error for a statement whose syntax tree could nest `depth` levels,
/// past `limit`.
pub fn too_deep(depth: usize, limit: usize) -> Error {
    Error::Parse(format!(
        "statement is too complex: its expressions, subqueries or set operations nest \
         {depth} levels deep, more than the limit of {limit}"
    ))
}

/// An upper bound of the depth of the syntax tree sqlparser builds from
/// `tokens`, computed without building it.
///
/// Depth comes from two sources. Brackets (`(`, `[`) nest: each adds a
/// level. Operators chain: sqlparser parses `a + b + c` and `a OR b OR c`
/// in a loop, and each operator puts the tree built so far one level
/// deeper. So the bound of a bracketed group is the number of operator
/// tokens in the longest comma-separated segment of that group, plus the
/// deepest group nested inside that segment, plus one; keywords that act
/// as operators (`AND`, `OR`, `IS`, `UNION`, ...) count as operators. The
/// bound over-counts (precedence is ignored), which only matters for
/// statements near the limit.
pub fn nesting_bound(tokens: &[TokenWithSpan]) -> usize {
    /// One open group: operators in the current segment, the deepest group
    /// inside it, and the deepest segment seen so far.
    #[derive(Default)]
    struct Group {
        ops: usize,
        inner: usize,
        deepest: usize,
        /// Set operations (`UNION`, ...) chain whole queries, whose select
        /// lists have commas: they count across segments.
        set_ops: usize,
    }
    impl Group {
        fn close_segment(&mut self) {
            self.deepest = self.deepest.max(self.ops + self.inner);
            self.ops = 0;
            self.inner = 0;
        }
        /// The group's bound once it is closed.
        fn depth(&self) -> usize {
            self.deepest + self.set_ops
        }
    }
    let mut stack = vec![Group::default()];
    for t in tokens {
        match &t.token {
            Token::LParen | Token::LBracket | Token::LBrace => {
                if let Some(g) = stack.last_mut() {
                    // A subscript or call after an expression chains on it.
                    g.ops += 1;
                }
                stack.push(Group::default());
            }
            Token::RParen | Token::RBracket | Token::RBrace => {
                if stack.len() > 1
                    && let Some(mut g) = stack.pop()
                {
                    g.close_segment();
                    if let Some(parent) = stack.last_mut() {
                        parent.inner = parent.inner.max(g.depth() + 1);
                    }
                }
            }
            Token::Word(w) if is_set_operation(w.keyword) => {
                if let Some(g) = stack.last_mut() {
                    g.set_ops += 1;
                }
            }
            Token::Comma | Token::SemiColon => {
                if let Some(g) = stack.last_mut() {
                    g.close_segment();
                }
            }
            token if is_operator(token) => {
                if let Some(g) = stack.last_mut() {
                    g.ops += 1;
                }
            }
            _ => {}
        }
    }
    // Unclosed groups (a syntax error the parser reports, after building
    // what came before) count as if closed at the end.
    while stack.len() > 1 {
        if let Some(mut g) = stack.pop() {
            g.close_segment();
            if let Some(parent) = stack.last_mut() {
                parent.inner = parent.inner.max(g.depth() + 1);
            }
        }
    }
    stack.pop().map_or(0, |mut root| {
        root.close_segment();
        root.depth()
    })
}

/// Whether a keyword joins two queries into a deeper one.
fn is_set_operation(keyword: Keyword) -> bool {
    matches!(
        keyword,
        Keyword::UNION | Keyword::EXCEPT | Keyword::INTERSECT | Keyword::MINUS
    )
}

/// Whether a token can join two expressions into a deeper one.
fn is_operator(token: &Token) -> bool {
    match token {
        Token::Word(w) => matches!(
            w.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::XOR
                | Keyword::NOT
                | Keyword::IS
                | Keyword::IN
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::SIMILAR
                | Keyword::BETWEEN
                | Keyword::ESCAPE
                | Keyword::AT
                | Keyword::COLLATE
                | Keyword::OPERATOR
                | Keyword::REGEXP
                | Keyword::RLIKE
                | Keyword::DIV
                | Keyword::MEMBER
                | Keyword::OVERLAPS
        ),
        Token::Whitespace(_)
        | Token::EOF
        | Token::Number(..)
        | Token::Char(_)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::TripleSingleQuotedString(_)
        | Token::TripleDoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::DoubleQuotedByteStringLiteral(_)
        | Token::TripleSingleQuotedByteStringLiteral(_)
        | Token::TripleDoubleQuotedByteStringLiteral(_)
        | Token::SingleQuotedRawStringLiteral(_)
        | Token::DoubleQuotedRawStringLiteral(_)
        | Token::TripleSingleQuotedRawStringLiteral(_)
        | Token::TripleDoubleQuotedRawStringLiteral(_)
        | Token::NationalStringLiteral(_)
        | Token::QuoteDelimitedStringLiteral(_)
        | Token::NationalQuoteDelimitedStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::HexStringLiteral(_)
        | Token::Placeholder(_)
        | Token::Comma
        | Token::SemiColon
        | Token::LParen
        | Token::RParen
        | Token::LBracket
        | Token::RBracket
        | Token::LBrace
        | Token::RBrace => false,
        // Every other token is punctuation: an operator, a cast (`::`), a
        // field access (`.`), an arrow.
        _ => true,
    }
}

/// The stack left on the current thread, if known. Not under the
/// simulator: finding a thread's stack asks pthreads, which madsim forbids
/// (and its tasks all run on the test's thread anyway).
fn remaining_stack() -> Option<usize> {
    #[cfg(not(madsim))]
    return stacker::remaining_stack();
    #[cfg(madsim)]
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::CrateDialect;
    use sqlparser::tokenizer::Tokenizer;

    fn bound(sql: &str) -> usize {
        let tokens = Tokenizer::new(&CrateDialect, sql)
            .tokenize_with_location()
            .unwrap();
        nesting_bound(&tokens)
    }

    #[test]
    fn chains_and_brackets_count() {
        assert!(bound("SELECT 1") <= 2);
        let chain = format!("SELECT 1{}", " + 1".repeat(500));
        assert!(bound(&chain) >= 500);
        let or_chain = format!("SELECT 1 WHERE a = 1{}", " OR a = 1".repeat(300));
        assert!(bound(&or_chain) >= 300);
        let parens = format!("SELECT {}1{}", "(".repeat(40), ")".repeat(40));
        assert!(bound(&parens) >= 40);
        let subscripts = format!("SELECT a{}", "[1]".repeat(700));
        assert!(bound(&subscripts) >= 700);
        let unions = format!("SELECT 1, 2{}", " UNION ALL SELECT 1, 2".repeat(400));
        assert!(bound(&unions) >= 400);
        let unclosed = format!("SELECT (1{}", " + 1".repeat(600));
        assert!(bound(&unclosed) >= 600);
    }

    #[test]
    fn long_lists_are_flat() {
        let list = format!("SELECT 1{}", ", 1 + 1".repeat(10_000));
        assert!(bound(&list) <= 3);
        let values = format!(
            "INSERT INTO t VALUES (1, 'a'){}",
            ", (2, 'b')".repeat(10_000)
        );
        assert!(bound(&values) <= 3);
    }

    #[test]
    fn the_stack_check_passes_on_a_fresh_stack() {
        assert!(check_stack().is_ok());
    }
}
