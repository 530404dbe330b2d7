//! From the bound FROM clause to the join's source: WHERE conditions moved
//! down (into joins, onto relations), inner joins reordered when the
//! written order makes a cross product, and the tree built into
//! [`JoinPlan`]s; each pass kept as a step for EXPLAIN VERBOSE.

use super::from::{Constraint, JoinedFrom, Tree};
use super::layout::{Layout, conjoin, conjuncts, relations_read, shift};
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::planner::bind::Relation;
use crate::planner::plan::{JoinKind, JoinPlan, QueryPlan, ScanColumn, SelectPlan, Source};
use crate::types::DataType;

/// One step of join planning, for EXPLAIN VERBOSE: the rule applied, the
/// join's source and the WHERE conditions left above it after it, and
/// whether joins are still logical (not yet hash or nested-loop joins).
pub(in crate::planner) struct JoinStep {
    pub rule: &'static str,
    pub source: Source,
    pub above: Option<Expr>,
    pub logical: bool,
}

impl JoinedFrom {
    /// The join's source, given the bound relations and the WHERE clause
    /// over the joined row; returns what of the WHERE clause stays above
    /// the join. With `trace`, also the steps that led there, each a plan
    /// the executor could run.
    pub(in crate::planner) fn finish(
        self,
        relation: Relation,
        layout: &Layout,
        filter: Option<Expr>,
        trace: bool,
    ) -> Result<(Source, Option<Expr>, Vec<JoinStep>)> {
        let Relation::Join(parts) = relation else {
            return Err(Error::internal("join without relations"));
        };
        let mut tree = self.tree;
        place_constraints(&mut tree, layout)?;
        let nullable = nullable_relations(&tree, parts.len());
        let mut steps = Vec::new();
        let mut leaf_filters: Vec<Vec<Expr>> = vec![Vec::new(); parts.len()];
        let conditions = filter.map(conjuncts).unwrap_or_default();
        let mut step = |rule, tree: &Tree, filters: &[Vec<Expr>], above: &[Expr], logical| {
            if trace {
                let plan = assemble(tree.clone(), &self.sources, &parts, filters, layout);
                if let Ok(source) = plan {
                    steps.push(JoinStep {
                        rule,
                        source,
                        above: conjoin(above.to_vec()),
                        logical,
                    });
                }
            }
        };
        step(
            "Initial logical plan",
            &tree,
            &leaf_filters,
            &conditions,
            true,
        );

        // Conditions on several relations join them at the lowest join that
        // sees them all (a cross join becomes an inner one).
        let crosses = tree.cross_joins();
        let mut rest = Vec::new();
        let mut attached = false;
        for c in conditions {
            let read = relations_read(&c, layout);
            if read.len() >= 2 && attach(&mut tree, &read, &c) {
                attached = true;
            } else {
                rest.push((c, read));
            }
        }
        if attached {
            let rule = if tree.cross_joins() < crosses {
                "optimizer_rewrite_filter_on_cross_join_to_inner_join"
            } else {
                "optimizer_move_filter_beneath_join"
            };
            let above: Vec<Expr> = rest.iter().map(|(c, _)| c.clone()).collect();
            step(rule, &tree, &leaf_filters, &above, true);
        }

        // Conditions on one relation filter its rows before the join, unless
        // an outer join may fill that relation with NULLs.
        let mut above = Vec::new();
        let mut moved = false;
        for (c, read) in rest {
            match read.as_slice() {
                [k] if !nullable[*k] => {
                    leaf_filters[*k].push(c);
                    moved = true;
                }
                _ => above.push(c),
            }
        }
        if moved {
            step(
                "optimizer_move_filter_beneath_join",
                &tree,
                &leaf_filters,
                &above,
                true,
            );
        }

        // Inner joins are reordered only to avoid a cross product the
        // written order makes (`FROM a, b, c WHERE a.x = c.y AND c.z = b.w`);
        // otherwise FROM order stands, as in CrateDB.
        if tree.all_inner() && tree.cross_joins() > 0 {
            let reordered = reorder(tree.clone(), &leaf_filters, layout);
            if reordered.cross_joins() < tree.cross_joins() {
                tree = reordered;
                step(
                    "optimizer_eliminate_cross_join",
                    &tree,
                    &leaf_filters,
                    &above,
                    true,
                );
            }
        }
        step(
            "optimizer_rewrite_join_plan",
            &tree,
            &leaf_filters,
            &above,
            false,
        );
        let source = assemble_merged(tree, self.sources, parts, leaf_filters, layout)?;
        if trace && moved {
            steps.push(JoinStep {
                rule: "optimizer_merge_filter_and_collect",
                source: source.clone(),
                above: conjoin(above.clone()),
                logical: false,
            });
        }
        Ok((source, conjoin(above), steps))
    }
}

/// A step's source: the relations filtered on the handler (`Filter` over
/// the relation's rows), joined as `tree` says.
fn assemble(
    tree: Tree,
    sources: &[Source],
    parts: &[Relation],
    filters: &[Vec<Expr>],
    layout: &Layout,
) -> Result<Source> {
    let mut leaves: Vec<Option<QueryPlan>> = Vec::with_capacity(parts.len());
    for (k, (source, part)) in sources.iter().zip(parts).enumerate() {
        let rows = leaf_plan(source.clone(), part.clone(), None)?;
        let filter = leaf_filter(&filters[k], layout.offsets[k]);
        leaves.push(Some(match filter {
            None => rows,
            Some(f) => {
                let columns = rows.names().into_iter().zip(rows.types()).collect();
                identity(Source::Query(Box::new(rows)), columns, Some(f))
            }
        }));
    }
    joined_source(tree, &mut leaves, layout)
}

/// The final source: each relation's filter merged into its rows (on the
/// shards, for a table), joined as `tree` says.
fn assemble_merged(
    tree: Tree,
    sources: Vec<Source>,
    parts: Vec<Relation>,
    mut filters: Vec<Vec<Expr>>,
    layout: &Layout,
) -> Result<Source> {
    let mut leaves: Vec<Option<QueryPlan>> = Vec::with_capacity(parts.len());
    for ((k, source), part) in sources.into_iter().enumerate().zip(parts) {
        let filter = leaf_filter(&std::mem::take(&mut filters[k]), layout.offsets[k]);
        leaves.push(Some(leaf_plan(source, part, filter)?));
    }
    joined_source(tree, &mut leaves, layout)
}

/// One relation's conditions, over its own row.
fn leaf_filter(conditions: &[Expr], start: usize) -> Option<Expr> {
    conjoin(conditions.iter().map(|c| shift(c.clone(), start)).collect())
}

/// The join of the leaves as `tree` says; a reordered join's rows are put
/// back in FROM order, which the statement reads them in.
fn joined_source(tree: Tree, leaves: &mut [Option<QueryPlan>], layout: &Layout) -> Result<Source> {
    let order = tree.leaves();
    let plan = build(tree, leaves, layout)?;
    let QueryPlan::Select(select) = plan else {
        return Err(Error::internal("join plan"));
    };
    if order.windows(2).all(|w| w[0] < w[1]) {
        return Ok(select.source);
    }
    let joined: Vec<DataType> = select.outputs.iter().map(Expr::data_type).collect();
    let outputs: Vec<Expr> = (0..layout.width())
        .map(
            |i| match layout.onto(Expr::Column(i, DataType::Undefined), &order) {
                Expr::Column(j, _) => {
                    Expr::Column(j, joined.get(j).cloned().unwrap_or(DataType::Undefined))
                }
                other => other,
            },
        )
        .collect();
    let joined_names = select.names.clone();
    let names = outputs
        .iter()
        .map(|e| match e {
            Expr::Column(j, _) => joined_names.get(*j).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .collect();
    let reordered = SelectPlan {
        source_width: select.source_width,
        source: select.source,
        filter: None,
        aggregation: None,
        having: None,
        windows: Vec::new(),
        outputs,
        names,
        distinct: false,
        order_by: Vec::new(),
        limit: None,
        offset: None,
        window_top: None,
    };
    Ok(Source::Query(Box::new(QueryPlan::Select(Box::new(
        reordered,
    )))))
}

/// Moves the bound ON conditions onto the joined row; an ON condition may
/// only read the relations its join joins.
fn place_constraints(tree: &mut Tree, layout: &Layout) -> Result<()> {
    if let Tree::Join {
        left,
        right,
        constraint,
        ..
    } = tree
    {
        place_constraints(left, layout)?;
        place_constraints(right, layout)?;
        let (lo, hi) = (left.range().0, right.range().1);
        if let Constraint::Bound(items) = constraint {
            for e in items.iter_mut() {
                layout.place(e);
                if relations_read(e, layout)
                    .iter()
                    .any(|k| !(lo..hi).contains(k))
                {
                    return Err(Error::Parse(
                        "a join condition can only refer to the relations it joins".into(),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The relations an outer join may fill with NULLs: WHERE conditions on
/// them must stay above the join.
fn nullable_relations(tree: &Tree, n: usize) -> Vec<bool> {
    fn mark(tree: &Tree, out: &mut [bool]) {
        if let Tree::Join {
            kind, left, right, ..
        } = tree
        {
            let fill = |t: &Tree, out: &mut [bool]| {
                let (lo, hi) = t.range();
                out[lo..hi].iter_mut().for_each(|x| *x = true);
            };
            match kind {
                JoinKind::Left => fill(right, out),
                JoinKind::Right => fill(left, out),
                JoinKind::Full => {
                    fill(left, out);
                    fill(right, out);
                }
                JoinKind::Inner | JoinKind::Cross => {}
            }
            mark(left, out);
            mark(right, out);
        }
    }
    let mut out = vec![false; n];
    mark(tree, &mut out);
    out
}

/// Adds a condition on several relations to the lowest join that sees
/// them all, if every join from the top down to it is inner (an outer
/// join's result must be filtered after it, not inside it).
fn attach(tree: &mut Tree, read: &[usize], c: &Expr) -> bool {
    let Tree::Join {
        kind,
        left,
        right,
        constraint,
    } = tree
    else {
        return false;
    };
    if !matches!(kind, JoinKind::Inner | JoinKind::Cross) {
        return false;
    }
    let inside = |t: &Tree| {
        let leaves = t.leaves();
        read.iter().all(|k| leaves.contains(k))
    };
    if inside(left) {
        return attach(left, read, c);
    }
    if inside(right) {
        return attach(right, read, c);
    }
    *kind = JoinKind::Inner;
    match constraint {
        Constraint::Bound(items) => items.push(c.clone()),
        other => *other = Constraint::Bound(vec![c.clone()]),
    }
    true
}

/// One relation's rows: its columns, filtered below the join.
fn leaf_plan(source: Source, relation: Relation, filter: Option<Expr>) -> Result<QueryPlan> {
    let (source, columns): (Source, Vec<(String, DataType)>) = match (source, relation) {
        (Source::Table { table, .. }, Relation::Table { scan, .. }) => {
            let cols = scan.iter().map(|c| (scan_name(c), c.data_type())).collect();
            (Source::Table { table, scan }, cols)
        }
        (source, Relation::Rows { columns, .. }) => (source, columns),
        _ => return Err(Error::internal("join input")),
    };
    Ok(identity(source, columns, filter))
}

pub(in crate::planner) fn scan_name(c: &ScanColumn) -> String {
    match c {
        ScanColumn::User { name, .. } | ScanColumn::Stored { name, .. } => name.clone(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// A join's columns: the left input's, then the right's.
pub(in crate::planner) fn join_columns(
    left: &QueryPlan,
    right: &QueryPlan,
) -> Vec<(String, DataType)> {
    left.names()
        .into_iter()
        .chain(right.names())
        .zip(left.types().into_iter().chain(right.types()))
        .collect()
}

/// A SELECT of every column of `source`, optionally filtered.
pub(in crate::planner) fn identity(
    source: Source,
    columns: Vec<(String, DataType)>,
    filter: Option<Expr>,
) -> QueryPlan {
    let outputs = columns
        .iter()
        .enumerate()
        .map(|(i, (_, t))| Expr::Column(i, t.clone()))
        .collect();
    QueryPlan::Select(Box::new(SelectPlan {
        source_width: columns.len(),
        source,
        filter,
        aggregation: None,
        having: None,
        windows: Vec::new(),
        outputs,
        names: columns.into_iter().map(|(n, _)| n).collect(),
        distinct: false,
        order_by: Vec::new(),
        limit: None,
        offset: None,
        window_top: None,
    }))
}

/// The plan of a (sub)tree. A join's rows hold its relations' columns in
/// the tree's order, so its condition is moved from the FROM-order row onto
/// that layout.
fn build(tree: Tree, leaves: &mut [Option<QueryPlan>], layout: &Layout) -> Result<QueryPlan> {
    match tree {
        Tree::Leaf(k) => leaves
            .get_mut(k)
            .and_then(Option::take)
            .ok_or_else(|| Error::internal("join leaf")),
        Tree::Join {
            kind,
            left,
            right,
            constraint,
        } => {
            let order: Vec<usize> = left.leaves().into_iter().chain(right.leaves()).collect();
            let left = build(*left, leaves, layout)?;
            let right = build(*right, leaves, layout)?;
            let condition = match constraint {
                Constraint::Bound(items) => {
                    conjoin(items.into_iter().map(|c| layout.onto(c, &order)).collect())
                }
                _ => None,
            };
            let kind = match (kind, &condition) {
                (JoinKind::Cross, Some(_)) => JoinKind::Inner,
                (k, _) => k,
            };
            let columns = join_columns(&left, &right);
            let join = JoinPlan {
                kind,
                left,
                right,
                condition,
            };
            Ok(identity(Source::Join(Box::new(join)), columns, None))
        }
    }
}

/// Joins inner-joined relations in an order that keeps the intermediate
/// results small, as a greedy planner does without statistics: first a
/// relation that a condition narrows (on the shards), then each time one
/// that a condition connects to those already joined, in FROM order; only
/// when none is connected, the next one in FROM order (a cross join).
/// Written orders like `FROM a, b, c WHERE a.x = c.y AND c.z = b.w` would
/// otherwise pair every row of `a` with every row of `b` first.
fn reorder(mut tree: Tree, leaf_filters: &[Vec<Expr>], layout: &Layout) -> Tree {
    let mut conditions = Vec::new();
    tree.take_conditions(&mut conditions);
    let reads: Vec<Vec<usize>> = conditions
        .iter()
        .map(|c| relations_read(c, layout))
        .collect();
    let mut remaining: Vec<usize> = tree.leaves();
    let first = remaining
        .iter()
        .position(|k| !leaf_filters[*k].is_empty())
        .unwrap_or(0);
    let mut joined = vec![remaining.remove(first)];
    let mut order = Tree::Leaf(joined[0]);
    while !remaining.is_empty() {
        let connected = |k: usize| {
            reads
                .iter()
                .any(|r| r.contains(&k) && r.iter().all(|x| *x == k || joined.contains(x)))
        };
        let next = remaining
            .iter()
            .position(|k| connected(*k) && !leaf_filters[*k].is_empty())
            .or_else(|| remaining.iter().position(|k| connected(*k)))
            .unwrap_or(0);
        let k = remaining.remove(next);
        joined.push(k);
        order = Tree::Join {
            kind: JoinKind::Cross,
            left: Box::new(order),
            right: Box::new(Tree::Leaf(k)),
            constraint: Constraint::None,
        };
    }
    for (c, read) in conditions.into_iter().zip(reads) {
        // Every condition read two relations or more, so some join sees them all.
        attach(&mut order, &read, &c);
    }
    order
}

/// If `e` is an equality between an expression over the left side only
/// (columns below `left_width`) and one over the right side only: the two,
/// left first. Such equalities are a hash join's keys; anything else (a
/// MATCH included, answered per pair) is checked per candidate pair.
pub fn equi_key(e: &Expr, left_width: usize) -> Option<(&Expr, &Expr)> {
    let Expr::Call {
        func: crate::expr::Func::Eq,
        args,
        ..
    } = e
    else {
        return None;
    };
    // Which sides an operand reads: (left, right, or something per pair).
    let sides = |x: &Expr| {
        let (mut l, mut r, mut pair) = (false, false, false);
        x.visit(&mut |c| match c {
            Expr::Column(i, _) if *i < left_width => l = true,
            Expr::Column(..) => r = true,
            Expr::Match(_) => pair = true,
            _ => {}
        });
        (l && !r && !pair, r && !l && !pair)
    };
    match args.as_slice() {
        [a, b] => match (sides(a), sides(b)) {
            ((true, _), (_, true)) => Some((a, b)),
            ((_, true), (true, _)) => Some((b, a)),
            _ => None,
        },
        _ => None,
    }
}
