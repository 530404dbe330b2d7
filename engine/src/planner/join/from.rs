//! The FROM clause as a tree of joins over its relations, and the binding
//! of the joins' ON and USING conditions.

use sqlparser::ast;

use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::planner::bind::{Binder, MAX_JOINED, Relation, resolve_among};
use crate::planner::plan::{JoinKind, Source};
use crate::sql::normalize_ident;
use crate::types::DataType;

/// The shape of a FROM clause with joins: leaves are indexes into the
/// relations, in FROM order, so every subtree covers a contiguous range.
#[derive(Debug, Clone)]
pub(in crate::planner) enum Tree {
    Leaf(usize),
    Join {
        kind: JoinKind,
        left: Box<Tree>,
        right: Box<Tree>,
        constraint: Constraint,
    },
}

/// A join's condition, as written and then bound.
#[derive(Debug, Clone)]
pub(in crate::planner) enum Constraint {
    None,
    On(Box<ast::Expr>),
    Using(Vec<String>),
    Bound(Vec<Expr>),
}

impl Tree {
    /// The relations this subtree joins, in the order its rows hold them.
    pub(super) fn leaves(&self) -> Vec<usize> {
        match self {
            Tree::Leaf(k) => vec![*k],
            Tree::Join { left, right, .. } => {
                let mut out = left.leaves();
                out.extend(right.leaves());
                out
            }
        }
    }

    /// Whether every join in the tree is inner (or cross): its relations
    /// may then be joined in any order.
    pub(super) fn all_inner(&self) -> bool {
        match self {
            Tree::Leaf(_) => true,
            Tree::Join {
                kind, left, right, ..
            } => {
                matches!(kind, JoinKind::Inner | JoinKind::Cross)
                    && left.all_inner()
                    && right.all_inner()
            }
        }
    }

    /// How many of the tree's joins pair every row with every row.
    pub(super) fn cross_joins(&self) -> usize {
        match self {
            Tree::Leaf(_) => 0,
            Tree::Join {
                kind, left, right, ..
            } => usize::from(*kind == JoinKind::Cross) + left.cross_joins() + right.cross_joins(),
        }
    }

    /// Takes every bound condition out of the tree.
    pub(super) fn take_conditions(&mut self, out: &mut Vec<Expr>) {
        if let Tree::Join {
            left,
            right,
            constraint,
            ..
        } = self
        {
            left.take_conditions(out);
            right.take_conditions(out);
            if let Constraint::Bound(items) = std::mem::replace(constraint, Constraint::None) {
                out.extend(items);
            }
        }
    }

    /// The relations this subtree covers, as written: `[first, end)`
    /// (before the relations are reordered).
    pub(super) fn range(&self) -> (usize, usize) {
        match self {
            Tree::Leaf(k) => (*k, *k + 1),
            Tree::Join { left, right, .. } => (left.range().0, right.range().1),
        }
    }
}

/// A FROM clause with joins, between planning its relations and finishing
/// the plan.
pub(in crate::planner) struct JoinedFrom {
    pub sources: Vec<Source>,
    pub tree: Tree,
}

/// Plans the relations of a FROM clause that joins: each item's source and
/// relation (through `factor`), and the tree of joins over them.
pub(in crate::planner) fn plan_joined_from(
    from: &[ast::TableWithJoins],
    factor: &mut dyn FnMut(&ast::TableFactor) -> Result<(Source, Relation)>,
) -> Result<(JoinedFrom, Relation)> {
    let mut sources = Vec::new();
    let mut relations = Vec::new();
    let mut tree: Option<Tree> = None;
    for item in from {
        let t = table_with_joins(item, factor, &mut sources, &mut relations)?;
        tree = Some(match tree {
            None => t,
            // `FROM a, b` is a cross join; WHERE conditions may make it inner.
            Some(prev) => Tree::Join {
                kind: JoinKind::Cross,
                left: Box::new(prev),
                right: Box::new(t),
                constraint: Constraint::None,
            },
        });
    }
    let tree = tree.ok_or_else(|| Error::internal("empty FROM"))?;
    Ok((JoinedFrom { sources, tree }, Relation::Join(relations)))
}

fn table_with_joins(
    item: &ast::TableWithJoins,
    factor: &mut dyn FnMut(&ast::TableFactor) -> Result<(Source, Relation)>,
    sources: &mut Vec<Source>,
    relations: &mut Vec<Relation>,
) -> Result<Tree> {
    crate::limits::check_stack()?;
    let mut tree = leaf(&item.relation, factor, sources, relations)?;
    for join in &item.joins {
        let right = leaf(&join.relation, factor, sources, relations)?;
        use ast::JoinOperator as J;
        let (kind, constraint) = match &join.join_operator {
            J::Join(c) | J::Inner(c) => (JoinKind::Inner, c),
            J::Left(c) | J::LeftOuter(c) => (JoinKind::Left, c),
            J::Right(c) | J::RightOuter(c) => (JoinKind::Right, c),
            J::FullOuter(c) => (JoinKind::Full, c),
            J::CrossJoin(c) => (JoinKind::Cross, c),
            other => return Err(Error::Unsupported(format!("join type {other:?}"))),
        };
        let constraint = match constraint {
            ast::JoinConstraint::On(e) => Constraint::On(Box::new(e.clone())),
            ast::JoinConstraint::Using(names) => Constraint::Using(
                names
                    .iter()
                    .map(|n| crate::sql::name_parts(n).join("."))
                    .collect(),
            ),
            ast::JoinConstraint::None => Constraint::None,
            ast::JoinConstraint::Natural => {
                return Err(Error::Unsupported("NATURAL JOIN".into()));
            }
            ast::JoinConstraint::UsingAlias(..) => {
                return Err(Error::Unsupported("USING ... AS".into()));
            }
        };
        if matches!(constraint, Constraint::None) && kind != JoinKind::Cross {
            return Err(Error::Parse(format!(
                "{} JOIN needs an ON or USING condition",
                kind.name()
            )));
        }
        tree = Tree::Join {
            kind,
            left: Box::new(tree),
            right: Box::new(right),
            constraint,
        };
    }
    Ok(tree)
}

fn leaf(
    f: &ast::TableFactor,
    factor: &mut dyn FnMut(&ast::TableFactor) -> Result<(Source, Relation)>,
    sources: &mut Vec<Source>,
    relations: &mut Vec<Relation>,
) -> Result<Tree> {
    if let ast::TableFactor::NestedJoin {
        table_with_joins: nested,
        alias,
    } = f
    {
        if alias.is_some() {
            return Err(Error::Unsupported(
                "an alias on a parenthesized join".into(),
            ));
        }
        return table_with_joins(nested, factor, sources, relations);
    }
    if sources.len() >= MAX_JOINED {
        return Err(Error::Parse(format!(
            "a query may join at most {MAX_JOINED} relations"
        )));
    }
    let (source, relation) = factor(f)?;
    let qualifier = relation.qualifier();
    if qualifier.is_some()
        && relations
            .iter()
            .any(|r: &Relation| r.qualifier() == qualifier && same_schema(r, &relation))
    {
        return Err(Error::Parse(format!(
            "\"{}\" specified more than once",
            qualifier.unwrap_or_default()
        )));
    }
    sources.push(source);
    relations.push(relation);
    Ok(Tree::Leaf(sources.len() - 1))
}

/// Two relations with one qualifier clash unless they are tables of
/// different schemas (`doc.t` and `other.t`).
fn same_schema(a: &Relation, b: &Relation) -> bool {
    match (a, b) {
        (
            Relation::Table {
                table: ta,
                alias: None,
                ..
            },
            Relation::Table {
                table: tb,
                alias: None,
                ..
            },
        ) => ta.ident.schema == tb.ident.schema,
        _ => true,
    }
}

/// Binds the ON and USING conditions of every join in the tree.
pub(in crate::planner) fn bind_constraints(tree: &mut Tree, b: &mut Binder) -> Result<()> {
    let Tree::Join {
        left,
        right,
        constraint,
        ..
    } = tree
    else {
        return Ok(());
    };
    bind_constraints(left, b)?;
    bind_constraints(right, b)?;
    let bound = match constraint {
        Constraint::None | Constraint::Bound(_) => return Ok(()),
        Constraint::On(e) => vec![b.bind_where(e)?],
        Constraint::Using(names) => {
            let (l, r) = (left.range(), right.range());
            let mut out = Vec::with_capacity(names.len());
            for name in names.iter() {
                let a = resolve_in(b, l, name)?;
                let c = resolve_in(b, r, name)?;
                let (a, c) = crate::planner::bind::coerce_pair(a, c)?;
                out.push(Expr::Call {
                    func: crate::expr::Func::Eq,
                    args: vec![a, c],
                    ty: DataType::Boolean,
                });
            }
            out
        }
    };
    *constraint = Constraint::Bound(bound);
    Ok(())
}

/// `USING (name)`: the column of that name among the relations of one side.
fn resolve_in(b: &mut Binder, (lo, hi): (usize, usize), name: &str) -> Result<Expr> {
    let Relation::Join(parts) = &mut b.relation else {
        return Err(Error::internal("USING outside a join"));
    };
    let name = normalize_ident(&ast::Ident::new(name));
    resolve_among(parts, lo..hi, &name, &[])
}
