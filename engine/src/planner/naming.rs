//! Result column names for unaliased expressions, formatted as CrateDB does:
//! identifiers case-folded, function names lower-case, subscripts as
//! `col['key']`, literals as written.

use sqlparser::ast::{self, FunctionArg, FunctionArgExpr, FunctionArguments};

use crate::sql::normalize_ident;

/// The output column name of an expression.
pub fn output_name(e: &ast::Expr) -> String {
    use ast::Expr as E;
    match e {
        E::Identifier(id) => normalize_ident(id),
        E::CompoundIdentifier(ids) => ids.last().map(normalize_ident).unwrap_or_default(),
        E::CompoundFieldAccess { root, access_chain } => {
            let mut s = output_name(root);
            let quoted_root = access_chain
                .iter()
                .any(|a| matches!(a, ast::AccessExpr::Subscript(ast::Subscript::Slice { .. })));
            if quoted_root {
                s = format!("\"{s}\"");
            }
            for a in access_chain {
                match a {
                    ast::AccessExpr::Subscript(ast::Subscript::Index { index }) => {
                        s.push('[');
                        s.push_str(&output_name(index));
                        s.push(']');
                    }
                    ast::AccessExpr::Subscript(ast::Subscript::Slice {
                        lower_bound,
                        upper_bound,
                        ..
                    }) => {
                        s.push('[');
                        if let Some(l) = lower_bound {
                            s.push_str(&output_name(l));
                        }
                        s.push(':');
                        if let Some(u) = upper_bound {
                            s.push_str(&output_name(u));
                        }
                        s.push(']');
                    }
                    ast::AccessExpr::Dot(x) => {
                        s.push('.');
                        s.push_str(&output_name(x));
                    }
                }
            }
            s
        }
        E::Function(f) => {
            let name = f.name.to_string().to_lowercase();
            // CrateDB names `count(*)` plainly "count", and `pg_typeof(x)` "pg_typeof".
            if name == "pg_typeof" {
                return name;
            }
            if name == "count"
                && f.over.is_none()
                && matches!(&f.args, FunctionArguments::List(l)
                    if matches!(l.args.as_slice(), [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]))
            {
                return name;
            }
            let args = match &f.args {
                FunctionArguments::None => return name,
                FunctionArguments::Subquery(q) => q.to_string(),
                FunctionArguments::List(list) => {
                    let mut parts: Vec<String> = list
                        .args
                        .iter()
                        .map(|a| match a {
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => output_name(x),
                            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => "*".into(),
                            other => other.to_string(),
                        })
                        .collect();
                    if matches!(
                        list.duplicate_treatment,
                        Some(ast::DuplicateTreatment::Distinct)
                    ) && let Some(first) = parts.first_mut()
                    {
                        *first = format!("DISTINCT {first}");
                    }
                    parts.join(", ")
                }
            };
            let mut s = format!("{name}({args})");
            if let Some(over) = &f.over {
                s.push_str(&format!(
                    " OVER ({})",
                    match over {
                        ast::WindowType::WindowSpec(spec) => spec.to_string(),
                        ast::WindowType::NamedWindow(n) => n.to_string(),
                    }
                ));
            }
            s
        }
        E::Nested(inner) => format!("({})", output_name(inner)),
        E::BinaryOp { left, op, right } => {
            format!("{} {} {}", output_name(left), op, output_name(right))
        }
        E::UnaryOp { op, expr } => match op {
            ast::UnaryOperator::Not => format!("NOT {}", output_name(expr)),
            other => format!("{other}{}", output_name(expr)),
        },
        E::Cast {
            expr,
            data_type,
            kind,
            ..
        } => match kind {
            ast::CastKind::DoubleColon => {
                format!("{}::{}", output_name(expr), data_type).to_lowercase()
            }
            _ => format!("CAST({} AS {})", output_name(expr), data_type),
        },
        E::Extract { field, expr, .. } => {
            format!(
                "extract({} FROM {})",
                field.to_string().to_uppercase(),
                output_name(expr)
            )
        }
        other => other.to_string(),
    }
}
