//! The relations' columns side by side in the joined row, and the helpers
//! that move conditions between the joined row and each relation's own.

use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::planner::bind::{JOIN_BASE, Relation, WINDOW_BASE};
use crate::planner::plan::ScanColumn;

/// The relations' columns laid out side by side: where each starts.
pub(in crate::planner) struct Layout {
    pub(super) offsets: Vec<usize>,
    widths: Vec<usize>,
    /// Per relation, where each column bound as `i` now sits in its row.
    positions: Vec<Vec<usize>>,
}

impl Layout {
    /// Fixes each relation's width (a table scans at least one column:
    /// a join still needs its rows when none of its columns is read) and
    /// the order of a table's columns: those the SELECT list reads first,
    /// in its order, then the others as they were bound (CrateDB lists a
    /// join's collected columns so).
    pub(in crate::planner) fn new(relation: &mut Relation, select: &[Expr]) -> Result<Layout> {
        let Relation::Join(parts) = relation else {
            return Err(Error::internal("join layout without a join"));
        };
        let mut offsets = Vec::with_capacity(parts.len());
        let mut widths = Vec::with_capacity(parts.len());
        let mut positions = Vec::with_capacity(parts.len());
        let mut at = 0;
        for (k, part) in parts.iter_mut().enumerate() {
            let mut moved = None;
            if let Relation::Table { scan, .. } = part {
                if scan.is_empty() {
                    scan.push(ScanColumn::Id);
                }
                let order = selected_first(k, scan.len(), select);
                let mut position = vec![0; scan.len()];
                for (new, old) in order.iter().enumerate() {
                    position[*old] = new;
                }
                *scan = order.iter().map(|i| scan[*i].clone()).collect();
                moved = Some(position);
            }
            offsets.push(at);
            widths.push(part.width());
            positions.push(moved.unwrap_or_else(|| (0..part.width()).collect()));
            at += part.width();
        }
        Ok(Layout {
            offsets,
            widths,
            positions,
        })
    }

    /// The joined row's width.
    pub(in crate::planner) fn width(&self) -> usize {
        self.widths.iter().sum()
    }

    /// Moves a bound expression from placeholders to the joined row.
    pub(in crate::planner) fn place(&self, e: &mut Expr) {
        e.remap_columns(&|i| {
            if (JOIN_BASE..WINDOW_BASE).contains(&i) {
                let (k, bound) = (i / JOIN_BASE - 1, i % JOIN_BASE);
                let at = self
                    .positions
                    .get(k)
                    .and_then(|p| p.get(bound))
                    .copied()
                    .unwrap_or(bound);
                self.offsets.get(k).copied().unwrap_or(0) + at
            } else {
                i
            }
        });
    }

    /// The relation a column of the joined row belongs to.
    pub(super) fn relation_of(&self, column: usize) -> usize {
        self.offsets
            .partition_point(|&o| o <= column)
            .saturating_sub(1)
    }

    /// Moves an expression over the FROM-order row onto the row of a join
    /// whose relations come in `order`.
    pub(super) fn onto(&self, mut e: Expr, order: &[usize]) -> Expr {
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
pub(super) fn relations_read(e: &Expr, layout: &Layout) -> Vec<usize> {
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

pub(super) fn conjuncts(e: Expr) -> Vec<Expr> {
    match e {
        Expr::And(items) => items,
        other => vec![other],
    }
}

pub(super) fn conjoin(mut items: Vec<Expr>) -> Option<Expr> {
    match items.len() {
        0 => None,
        1 => items.pop(),
        _ => Some(Expr::And(items)),
    }
}

/// Shifts an expression over the joined row onto a part of it that starts at `start`.
pub(super) fn shift(mut e: Expr, start: usize) -> Expr {
    e.remap_columns(&|i| i.saturating_sub(start));
    e
}

/// Relation `k`'s bound columns (`0..width`), those the SELECT list reads
/// first in the order it reads them, then the rest in bound order.
fn selected_first(k: usize, width: usize, select: &[Expr]) -> Vec<usize> {
    let mut order = Vec::with_capacity(width);
    for e in select {
        e.visit(&mut |x| {
            if let Expr::Column(i, _) = x
                && (JOIN_BASE..WINDOW_BASE).contains(i)
                && i / JOIN_BASE - 1 == k
                && i % JOIN_BASE < width
                && !order.contains(&(i % JOIN_BASE))
            {
                order.push(i % JOIN_BASE);
            }
        });
    }
    let rest: Vec<usize> = (0..width).filter(|i| !order.contains(i)).collect();
    order.extend(rest);
    order
}
