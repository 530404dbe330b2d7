//! Binding the MATCH predicate: its targets resolve to the table's
//! full-text indexes or to plain text columns, its query text must be a
//! constant, and its options are read once here.

use sqlparser::ast::{self, FunctionArg, FunctionArgExpr, FunctionArguments};

use super::binder::Binder;
use super::relation::Relation;
use super::syntax::number_literal;
use crate::catalog::analyzer_chain;
use crate::error::{Error, Result};
use crate::expr::search::{MatchOptions, MatchTarget, TargetKind};
use crate::expr::{Expr, MatchPredicate, MatchType};
use crate::sql::normalize_ident;
use crate::types::{DataType, Value};

impl<'a> Binder<'a> {
    /// Binds `"match predicate"(targets, query, type, options)` as the
    /// dialect parses MATCH (see [`crate::sql::MATCH_FUNCTION`]).
    pub(super) fn bind_match(&mut self, f: &ast::Function) -> Result<Expr> {
        if !self.allow_match {
            return Err(Error::Unsupported(
                "The MATCH predicate can only be used in the WHERE clause".into(),
            ));
        }
        let args: Vec<&ast::Expr> = match &f.args {
            FunctionArguments::List(list) => list
                .args
                .iter()
                .filter_map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let [
            ast::Expr::Array(targets),
            query,
            match_type,
            ast::Expr::Array(options),
        ] = args.as_slice()
        else {
            return Err(Error::Parse("invalid MATCH predicate".into()));
        };
        let table = match &self.relation {
            Relation::Table { table, .. } => table.clone(),
            Relation::Join(_) => {
                return Err(Error::Unsupported(
                    "MATCH in a query with joins (search in a subquery, then join it)".into(),
                ));
            }
            _ => {
                return Err(Error::Unsupported(
                    "Can only use MATCH on columns of user tables".into(),
                ));
            }
        };
        let mut bound_targets = Vec::with_capacity(targets.elem.len());
        for t in &targets.elem {
            let ast::Expr::Tuple(parts) = t else {
                return Err(Error::Parse("invalid MATCH target".into()));
            };
            let (column, boost) = match parts.as_slice() {
                [c, b] => (c, b),
                _ => return Err(Error::Parse("invalid MATCH target".into())),
            };
            let kind = self.match_target(&table, column)?;
            let boost = match boost {
                ast::Expr::Value(v) => match &v.value {
                    ast::Value::Null => 1.0,
                    ast::Value::Number(n, _) => match number_literal(n)?.0 {
                        Value::Int(i) => i as f32,
                        Value::Float(x) => x as f32,
                        _ => 1.0,
                    },
                    other => return Err(Error::Parse(format!("invalid boost {other}"))),
                },
                other => return Err(Error::Parse(format!("invalid boost {other}"))),
            };
            bound_targets.push(MatchTarget { kind, boost });
        }
        let query = self.bind(query)?;
        if !query.is_constant() {
            return Err(Error::Parse(
                "The query term of a MATCH predicate must be a literal or a parameter".into(),
            ));
        }
        let query = super::cast_expr(query, &DataType::Text)?;
        let match_type = match self.bind(match_type)? {
            Expr::Literal(Value::Text(t), _) => MatchType::parse(&t)?,
            _ => MatchType::BestFields,
        };
        let mut opts = MatchOptions::default();
        for o in &options.elem {
            let ast::Expr::Tuple(kv) = o else {
                return Err(Error::Parse("invalid MATCH option".into()));
            };
            let [key, value] = kv.as_slice() else {
                return Err(Error::Parse("invalid MATCH option".into()));
            };
            let key = match self.bind(key)? {
                Expr::Literal(Value::Text(k), _) => k,
                _ => return Err(Error::Parse("invalid MATCH option".into())),
            };
            let value = match self.bind(value)? {
                Expr::Literal(v, _) => v,
                _ => {
                    return Err(Error::Parse(format!(
                        "The value of MATCH option '{key}' must be a literal"
                    )));
                }
            };
            opts.set(&key, &value)?;
        }
        // A custom query analyzer travels with the predicate: the shards
        // know only the analyzers their table uses.
        let analyzers = match &opts.analyzer {
            Some(a) if !table.analyzers.contains_key(a) => {
                analyzer_chain(a, self.ctx.catalog.analyzers())?
            }
            _ => Default::default(),
        };
        Ok(Expr::Match(Box::new(MatchPredicate {
            targets: bound_targets,
            query: Box::new(query),
            match_type,
            options: opts,
            analyzers,
        })))
    }

    /// What a MATCH target names: a full-text index, or a text column.
    fn match_target(
        &mut self,
        table: &crate::catalog::TableInfo,
        e: &ast::Expr,
    ) -> Result<TargetKind> {
        let (name, path) = target_path(e)?;
        if path.is_empty()
            && let Some(idx) = table.fulltext_index(&name)
        {
            return Ok(TargetKind::Index(idx.name.clone()));
        }
        let bound = self.bind(e)?;
        let ty = bound.data_type();
        let column = table.column(&name);
        if *ty.element() != DataType::Text {
            return Err(Error::InvalidArgument(format!(
                "Can only use MATCH on columns of type text or geo_shape, not on '{}'",
                ty.name()
            )));
        }
        if column.is_some_and(|c| c.index_off) {
            return Err(Error::InvalidArgument(format!(
                "Cannot search on field [{name}] since it is not indexed."
            )));
        }
        Ok(TargetKind::Column { column: name, path })
    }
}

/// The column and subscript path a MATCH target names (a table qualifier
/// is dropped: the MATCH applies to the one table of the query).
fn target_path(e: &ast::Expr) -> Result<(String, Vec<String>)> {
    let bad = || Error::InvalidArgument(format!("can only MATCH on columns, not on {e}"));
    match e {
        ast::Expr::Identifier(id) => Ok((normalize_ident(id), Vec::new())),
        ast::Expr::CompoundIdentifier(ids) => ids
            .last()
            .map(|id| (normalize_ident(id), Vec::new()))
            .ok_or_else(bad),
        ast::Expr::CompoundFieldAccess { root, access_chain } => {
            let (name, mut path) = target_path(root)?;
            for a in access_chain {
                match a {
                    ast::AccessExpr::Subscript(ast::Subscript::Index {
                        index: ast::Expr::Value(v),
                    }) => match &v.value {
                        ast::Value::SingleQuotedString(k) => path.push(k.clone()),
                        _ => return Err(bad()),
                    },
                    _ => return Err(bad()),
                }
            }
            Ok((name, path))
        }
        ast::Expr::Nested(inner) => target_path(inner),
        _ => Err(bad()),
    }
}
