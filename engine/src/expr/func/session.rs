//! Session functions: `current_user`, `current_schema` and `version()`,
//! answered from the statement's context rather than from arguments.

use super::Func;
use crate::error::Result;
use crate::expr::EvalCtx;
use crate::types::Value;

impl Func {
    /// Evaluates a session function.
    pub(super) fn eval_session(self, ctx: &EvalCtx) -> Result<Value> {
        use Value::*;
        let out = match self {
            Func::CurrentUser => Text(ctx.current_user.clone()),
            Func::CurrentSchema => Text(ctx.current_schema.clone()),
            Func::Version => Text(format!("Shoal {}", env!("CARGO_PKG_VERSION"))),
            _ => unreachable!("{self:?} is not a session function"),
        };
        Ok(out)
    }
}
