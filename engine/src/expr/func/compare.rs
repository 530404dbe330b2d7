//! Comparison operators (`=`, `<`, `IS DISTINCT FROM`, ...) and pattern
//! matching (`LIKE`, `ILIKE` and the regular-expression operators `~`,
//! `~*`, `!~`, `!~*`): the operators that answer true or false.

use super::Func;
use super::args::text_arg;
use crate::error::Result;
use crate::expr::like::{like_matches, regex_cached};
use crate::types::Value;

impl Func {
    /// Evaluates a comparison or pattern-matching operator.
    pub(super) fn eval_compare(self, args: &[Value]) -> Result<Value> {
        use Value::*;
        let text = |i: usize| text_arg(args, i);
        let out = match self {
            Func::Eq => Bool(args[0].sql_eq(&args[1])),
            Func::NotEq => Bool(!args[0].sql_eq(&args[1])),
            Func::Lt => Bool(args[0] < args[1]),
            Func::LtEq => Bool(args[0] <= args[1]),
            Func::Gt => Bool(args[0] > args[1]),
            Func::GtEq => Bool(args[0] >= args[1]),
            Func::IsDistinctFrom => Bool(args[0] != args[1]),
            Func::IsNotDistinctFrom => Bool(args[0] == args[1]),
            Func::Like | Func::ILike | Func::NotLike | Func::NotILike => {
                let ci = matches!(self, Func::ILike | Func::NotILike);
                let escape = args.get(2).map(|_| text(2));
                let hit = like_matches(&text(0), &text(1), ci, escape.as_deref())?;
                Bool(hit != matches!(self, Func::NotLike | Func::NotILike))
            }
            Func::RegexMatch | Func::RegexMatchCi | Func::NotRegexMatch | Func::NotRegexMatchCi => {
                let ci = matches!(self, Func::RegexMatchCi | Func::NotRegexMatchCi);
                // CrateDB's `~` (Lucene regular expressions) matches the whole string.
                let re = regex_cached(&format!("^(?:{})$", text(1)), ci, false)?;
                Bool(
                    re.is_match(&text(0))
                        != matches!(self, Func::NotRegexMatch | Func::NotRegexMatchCi),
                )
            }
            _ => unreachable!("{self:?} is not a comparison"),
        };
        Ok(out)
    }
}
