//! The final plan's join inputs narrowed to the columns read above them.

use super::finish::join_columns;
use crate::expr::Expr;
use crate::planner::plan::{JoinPlan, QueryPlan, SelectPlan, Source};
use crate::types::DataType;

/// Drops the columns of a join's inputs that nothing above them reads: a
/// column only a relation's own filter needs is read on the shards but not
/// carried through the join (CrateDB's final plans prune them the same
/// way). Runs on the finished SELECT, whose expressions it moves onto the
/// narrower joined row.
pub(in crate::planner) fn prune_columns(plan: &mut SelectPlan) {
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
