//! Walking sqlparser's syntax trees: whether an expression holds an aggregate.

use sqlparser::ast::{self, FunctionArg, FunctionArgExpr, FunctionArguments};

use super::syntax::function_name;
use crate::expr::AggFunc;

/// Whether an AST expression contains an aggregate call (outside subqueries;
/// window calls are not aggregates, but their arguments and keys may hold some).
pub fn contains_aggregate(e: &ast::Expr) -> bool {
    let mut found = false;
    walk(e, &mut |x| {
        if let ast::Expr::Function(f) = x
            && f.over.is_none()
            && AggFunc::from_name(&function_name(&f.name)).is_some()
        {
            found = true;
        }
    });
    found
}

/// Calls `f` on `e` and its subexpressions (outside subqueries). Iterative: a chain of thousands of operators is
/// a tree that deep.
pub(super) fn walk(e: &ast::Expr, f: &mut dyn FnMut(&ast::Expr)) {
    let mut pending = vec![e];
    while let Some(e) = pending.pop() {
        f(e);
        walk_children(e, &mut |x| pending.push(x));
    }
}

pub(super) fn walk_children<'e>(e: &'e ast::Expr, go: &mut dyn FnMut(&'e ast::Expr)) {
    use ast::Expr as E;
    match e {
        E::BinaryOp { left, right, .. } => {
            go(left);
            go(right);
        }
        E::UnaryOp { expr, .. }
        | E::Nested(expr)
        | E::IsNull(expr)
        | E::IsNotNull(expr)
        | E::IsTrue(expr)
        | E::IsFalse(expr)
        | E::IsNotTrue(expr)
        | E::IsNotFalse(expr)
        | E::Cast { expr, .. }
        | E::Extract { expr, .. }
        | E::Ceil { expr, .. }
        | E::Floor { expr, .. } => go(expr),
        E::IsDistinctFrom(a, b) | E::IsNotDistinctFrom(a, b) => {
            go(a);
            go(b);
        }
        E::Between {
            expr, low, high, ..
        } => {
            go(expr);
            go(low);
            go(high);
        }
        E::Like { expr, pattern, .. } | E::ILike { expr, pattern, .. } => {
            go(expr);
            go(pattern);
        }
        E::AnyOp { left, right, .. } | E::AllOp { left, right, .. } => {
            go(left);
            go(right);
        }
        E::In {
            expr,
            target: ast::InTarget::List(list),
            ..
        } => {
            go(expr);
            list.iter().for_each(&mut *go);
        }
        E::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            if let Some(o) = operand {
                go(o);
            }
            for c in conditions {
                go(&c.condition);
                go(&c.result);
            }
            if let Some(e) = else_result {
                go(e);
            }
        }
        E::Function(func) => {
            // A window call's arguments and keys count too: `sum(count(*))
            // OVER ()` aggregates the rows.
            if let FunctionArguments::List(l) = &func.args {
                for a in &l.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) = a {
                        go(x);
                    }
                }
            }
            if let Some(ast::WindowType::WindowSpec(spec)) = &func.over {
                spec.partition_by.iter().for_each(&mut *go);
                spec.order_by.iter().for_each(|o| go(&o.expr));
            }
        }
        E::Array(a) => a.elem.iter().for_each(&mut *go),
        E::CompoundFieldAccess { root, .. } => go(root),
        E::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            go(expr);
            if let Some(x) = substring_from {
                go(x);
            }
            if let Some(x) = substring_for {
                go(x);
            }
        }
        _ => {}
    }
}
