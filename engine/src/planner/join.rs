//! Planning joins: the FROM clause's relations and join operators become a
//! tree of [`JoinPlan`]s, with WHERE conditions moved as far down as they
//! may go.
//!
//! Binding sees all relations of the FROM clause at once (a
//! [`Relation::Join`]); their columns bind to placeholders because a
//! table's scan grows while the query is bound. Once binding is done,
//! [`JoinedFrom::finish`] lays the relations' columns side by side, in FROM
//! order, and splits the WHERE clause: a condition on one relation filters
//! that relation's rows before the join (on the shards, for a table), a
//! condition on several relations becomes part of the lowest join that
//! sees them all — turning a comma join with `a.x = b.y` into a hash join —
//! and only what an outer join forbids moving stays above the join.

use sqlparser::ast;

use super::bind::{Binder, JOIN_BASE, MAX_JOINED, Relation, WINDOW_BASE, resolve_among};
use super::plan::{JoinKind, JoinPlan, QueryPlan, ScanColumn, SelectPlan, Source};
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::sql::normalize_ident;
use crate::types::DataType;

/// The shape of a FROM clause with joins: leaves are indexes into the
/// relations, in FROM order, so every subtree covers a contiguous range.
#[derive(Debug, Clone)]
pub(super) enum Tree {
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
pub(super) enum Constraint {
    None,
    On(Box<ast::Expr>),
    Using(Vec<String>),
    Bound(Vec<Expr>),
}

impl Tree {
    /// The relations this subtree joins, in the order its rows hold them.
    fn leaves(&self) -> Vec<usize> {
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
    fn all_inner(&self) -> bool {
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
    fn cross_joins(&self) -> usize {
        match self {
            Tree::Leaf(_) => 0,
            Tree::Join {
                kind, left, right, ..
            } => usize::from(*kind == JoinKind::Cross) + left.cross_joins() + right.cross_joins(),
        }
    }

    /// Takes every bound condition out of the tree.
    fn take_conditions(&mut self, out: &mut Vec<Expr>) {
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
    fn range(&self) -> (usize, usize) {
        match self {
            Tree::Leaf(k) => (*k, *k + 1),
            Tree::Join { left, right, .. } => (left.range().0, right.range().1),
        }
    }
}

/// A FROM clause with joins, between planning its relations and finishing
/// the plan.
pub(super) struct JoinedFrom {
    pub sources: Vec<Source>,
    pub tree: Tree,
}

/// Plans the relations of a FROM clause that joins: each item's source and
/// relation (through `factor`), and the tree of joins over them.
pub(super) fn plan_joined_from(
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
pub(super) fn bind_constraints(tree: &mut Tree, b: &mut Binder) -> Result<()> {
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
                let (a, c) = super::bind::coerce_pair(a, c)?;
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

/// The relations' columns laid out side by side: where each starts.
pub(super) struct Layout {
    offsets: Vec<usize>,
    widths: Vec<usize>,
}

impl Layout {
    /// Fixes each relation's width (a table scans at least one column:
    /// a join still needs its rows when none of its columns is read).
    pub(super) fn new(relation: &mut Relation) -> Result<Layout> {
        let Relation::Join(parts) = relation else {
            return Err(Error::internal("join layout without a join"));
        };
        let mut offsets = Vec::with_capacity(parts.len());
        let mut widths = Vec::with_capacity(parts.len());
        let mut at = 0;
        for part in parts.iter_mut() {
            if let Relation::Table { scan, .. } = part
                && scan.is_empty()
            {
                scan.push(ScanColumn::Id);
            }
            offsets.push(at);
            widths.push(part.width());
            at += part.width();
        }
        Ok(Layout { offsets, widths })
    }

    /// The joined row's width.
    pub(super) fn width(&self) -> usize {
        self.widths.iter().sum()
    }

    /// Moves a bound expression from placeholders to the joined row.
    pub(super) fn place(&self, e: &mut Expr) {
        e.remap_columns(&|i| {
            if (JOIN_BASE..WINDOW_BASE).contains(&i) {
                let k = i / JOIN_BASE - 1;
                self.offsets.get(k).copied().unwrap_or(0) + i % JOIN_BASE
            } else {
                i
            }
        });
    }

    /// The relation a column of the joined row belongs to.
    fn relation_of(&self, column: usize) -> usize {
        self.offsets
            .partition_point(|&o| o <= column)
            .saturating_sub(1)
    }

    /// Moves an expression over the FROM-order row onto the row of a join
    /// whose relations come in `order`.
    fn onto(&self, mut e: Expr, order: &[usize]) -> Expr {
        let mut at = Vec::with_capacity(self.offsets.len());
        let mut next = 0;
        at.resize(self.offsets.len(), 0);
        for &k in order {
            at[k] = next;
            next += self.widths[k];
        }
        e.remap_columns(&|i| {
            let k = self.relation_of(i);
            at[k] + (i - self.offsets[k])
        });
        e
    }
}

/// The relations an expression reads.
fn relations_read(e: &Expr, layout: &Layout) -> Vec<usize> {
    let mut out = Vec::new();
    e.visit(&mut |x| {
        if let Expr::Column(i, _) = x {
            let k = layout.relation_of(*i);
            if !out.contains(&k) {
                out.push(k);
            }
        }
    });
    out
}

fn conjuncts(e: Expr) -> Vec<Expr> {
    match e {
        Expr::And(items) => items,
        other => vec![other],
    }
}

fn conjoin(mut items: Vec<Expr>) -> Option<Expr> {
    match items.len() {
        0 => None,
        1 => items.pop(),
        _ => Some(Expr::And(items)),
    }
}

/// Shifts an expression over the joined row onto a part of it that starts at `start`.
fn shift(mut e: Expr, start: usize) -> Expr {
    e.remap_columns(&|i| i.saturating_sub(start));
    e
}

/// One step of join planning, for EXPLAIN VERBOSE: the rule applied, the
/// join's source and the WHERE conditions left above it after it, and
/// whether joins are still logical (not yet hash or nested-loop joins).
pub(super) struct JoinStep {
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
    pub(super) fn finish(
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

pub(super) fn scan_name(c: &ScanColumn) -> String {
    match c {
        ScanColumn::User { name, .. } | ScanColumn::Stored { name, .. } => name.clone(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// A join's columns: the left input's, then the right's.
pub(super) fn join_columns(left: &QueryPlan, right: &QueryPlan) -> Vec<(String, DataType)> {
    left.names()
        .into_iter()
        .chain(right.names())
        .zip(left.types().into_iter().chain(right.types()))
        .collect()
}

/// A SELECT of every column of `source`, optionally filtered.
pub(super) fn identity(
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

/// Drops the columns of a join's inputs that nothing above them reads: a
/// column only a relation's own filter needs is read on the shards but not
/// carried through the join (CrateDB's final plans prune them the same
/// way). Runs on the finished SELECT, whose expressions it moves onto the
/// narrower joined row.
pub(super) fn prune_columns(plan: &mut SelectPlan) {
    let width = plan.source_width;
    if !matches!(plan.source, Source::Join(_)) {
        return;
    }
    let mut used = vec![false; width];
    {
        let mut mark = |e: &Expr| mark_columns(e, &mut used);
        plan.filter.iter().for_each(&mut mark);
        match &plan.aggregation {
            Some(agg) => {
                agg.keys.iter().for_each(&mut mark);
                for call in &agg.aggs {
                    call.args.iter().for_each(&mut mark);
                    call.filter.iter().for_each(&mut mark);
                }
            }
            None => {
                plan.outputs.iter().for_each(&mut mark);
                for w in &plan.windows {
                    w.clone().exprs_mut(&mut |e| mark(e));
                }
            }
        }
    }
    let Source::Join(join) = &mut plan.source else {
        return;
    };
    let map = prune_join(join, &used);
    let narrow = map.iter().flatten().count();
    if narrow == width {
        return;
    }
    // Columns past the source row are window results; they move with it.
    let to = |i: usize| {
        if i < width {
            map[i].unwrap_or(0)
        } else {
            i - width + narrow
        }
    };
    let remap = |e: &mut Expr| e.remap_columns(&to);
    plan.filter.iter_mut().for_each(remap);
    match &mut plan.aggregation {
        Some(agg) => {
            agg.keys.iter_mut().for_each(remap);
            for call in agg.aggs.iter_mut() {
                call.args.iter_mut().for_each(remap);
                call.filter.iter_mut().for_each(remap);
            }
        }
        None => {
            plan.outputs.iter_mut().for_each(remap);
            for w in plan.windows.iter_mut() {
                w.exprs_mut(&mut |e| remap(e));
            }
        }
    }
    plan.source_width = narrow;
}

fn mark_columns(e: &Expr, used: &mut [bool]) {
    e.visit(&mut |x| {
        if let Expr::Column(i, _) = x
            && let Some(slot) = used.get_mut(*i)
        {
            *slot = true;
        }
    });
}

/// Prunes both inputs of a join to what `used` (over its row) and its own
/// condition read; answers where each of its columns went.
fn prune_join(join: &mut JoinPlan, used: &[bool]) -> Vec<Option<usize>> {
    let left_width = join.left.names().len();
    let mut used = used.to_vec();
    used.resize(left_width + join.right.names().len(), false);
    if let Some(c) = &join.condition {
        mark_columns(c, &mut used);
    }
    let left = prune_input(&mut join.left, &used[..left_width]);
    let right = prune_input(&mut join.right, &used[left_width..]);
    let kept_left = left.iter().flatten().count();
    let map: Vec<Option<usize>> = left
        .into_iter()
        .chain(right.into_iter().map(|m| m.map(|j| j + kept_left)))
        .collect();
    if let Some(c) = &mut join.condition {
        c.remap_columns(&|i| map.get(i).copied().flatten().unwrap_or(0));
    }
    map
}

/// Drops a join input's outputs nothing reads (keeping one: the join
/// needs its rows); answers where each output went.
fn prune_input(plan: &mut QueryPlan, used: &[bool]) -> Vec<Option<usize>> {
    let unchanged = || (0..used.len()).map(Some).collect();
    let QueryPlan::Select(s) = plan else {
        return unchanged();
    };
    let plain = s.aggregation.is_none()
        && s.windows.is_empty()
        && !s.distinct
        && s.order_by.is_empty()
        && s.limit.is_none()
        && s.offset.is_none()
        && s.outputs.len() == s.names.len()
        && s.outputs.len() == used.len();
    if !plain {
        return unchanged();
    }
    let identity = s.is_identity() && s.filter.is_none();
    if let Source::Join(inner) = &mut s.source {
        // A nested join's identity SELECT: prune below it, then follow.
        if !identity {
            return unchanged();
        }
        let map = prune_join(inner, used);
        let columns: Vec<(String, DataType)> = join_columns(&inner.left, &inner.right);
        s.source_width = columns.len();
        s.outputs = columns
            .iter()
            .enumerate()
            .map(|(i, (_, t))| Expr::Column(i, t.clone()))
            .collect();
        s.names = columns.into_iter().map(|(n, _)| n).collect();
        return map;
    }
    let mut keep: Vec<usize> = (0..used.len()).filter(|i| used[*i]).collect();
    if keep.is_empty() {
        keep.push(0);
    }
    if keep.len() == used.len() {
        return unchanged();
    }
    let mut map = vec![None; used.len()];
    for (new, old) in keep.iter().enumerate() {
        map[*old] = Some(new);
    }
    s.outputs = keep.iter().map(|i| s.outputs[*i].clone()).collect();
    s.names = keep.iter().map(|i| s.names[*i].clone()).collect();
    map
}
