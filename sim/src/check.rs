//! Checkers: the invariants a cluster must keep through any faults, judged
//! on the cluster's copies and on a workload's [`History`].
//!
//! Safety: no acknowledged write is lost; every copy of a shard holds the
//! same documents (read from each copy, not through SQL, which reads one);
//! one `(_seq_no, _primary_term)` never maps to two values; optimistic
//! read-modify-write loses no update; at most one primary per shard and
//! primary term acknowledged writes (as the engine's
//! [`shoal_engine::audit`] saw them); every node returns the same rows.
//! Liveness, once the faults stop: health returns to GREEN and every copy
//! catches up to the global checkpoint. A [`Violation`] names the invariant
//! and the rows or operations involved; the runner adds the seed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use shoal_engine::types::Value;

use crate::SimCluster;
use crate::workload::{COUNTER, History, Mix, ROWS, Write};

/// How long the liveness checks wait after the faults stop.
const SETTLE: Duration = Duration::from_secs(120);

/// A broken invariant.
#[derive(Debug)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant violated: {}\n{}", self.invariant, self.detail)
    }
}

impl std::error::Error for Violation {}

fn violation(invariant: &'static str, detail: impl Into<String>) -> Violation {
    Violation {
        invariant,
        detail: detail.into(),
    }
}

/// Runs every checker through `node` (the master), reading every node of
/// `up`; `history` is what a stopped workload did. Answers one line per
/// table (and one for the workload), the same for every seed.
pub async fn check_all(
    cluster: &SimCluster,
    node: &str,
    up: &[String],
    history: Option<&History>,
) -> Result<String, Violation> {
    const GREEN: &str = "health returns GREEN after the faults stop";
    let deadline = madsim::time::Instant::now() + SETTLE;
    loop {
        match cluster.health(node).await {
            Ok(h) if h == "GREEN" => break,
            seen if madsim::time::Instant::now() >= deadline => {
                let seen = seen.map_err(|e| e.to_string());
                return Err(violation(GREEN, format!("after {SETTLE:?}: {seen:?}")));
            }
            _ => madsim::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let mut out = String::new();
    for table in user_tables(cluster, node).await? {
        let name = table.rsplit('.').next().unwrap_or(&table);
        cluster
            .wait_checkpoints(node, name, Duration::from_secs(30))
            .await
            .map_err(|e| {
                violation(
                    "every copy reaches the global checkpoint",
                    format!("{table}: {e}"),
                )
            })?;
        let docs = cluster
            .check_copies_agree(node, name)
            .map_err(|e| violation("all copies of each shard converge", format!("{table}: {e}")))?;
        one_primary_per_term(&table)?;
        same_rows_everywhere(cluster, node, up, &table).await?;
        // How many rows the workload wrote differs between seeds.
        out.push_str(&table_passed(&table, (name != ROWS).then_some(docs)));
    }
    if let Some(history) = history {
        check_history(cluster, node, history).await?;
        out.push_str(WORKLOAD_PASSED);
    }
    Ok(out)
}

/// What `check` prints for a table that passed, with its number of
/// documents when that is the same for every seed.
pub fn table_passed(table: &str, docs: Option<usize>) -> String {
    let docs = docs.map_or(String::new(), |n| format!(", {n} documents"));
    format!(
        "check {table}: every copy agrees{docs}, one primary per term, the same rows through \
         every node\n"
    )
}

/// What `check` prints when a workload's history passed.
pub const WORKLOAD_PASSED: &str = "check workload: every row as its acknowledged writes left it, no \
                                   increment lost, one value per version\n";

/// No two copies of a shard acknowledged writes as its primary under the
/// same primary term (a relocated primary hands off under the next term).
fn one_primary_per_term(table: &str) -> Result<(), Violation> {
    let primaries = shoal_engine::audit::primaries();
    let shared = primaries
        .iter()
        .find(|((t, _, _, _), nodes)| t == table && nodes.len() > 1);
    match shared {
        None => Ok(()),
        Some(((_, _, shard, term), nodes)) => Err(violation(
            "at most one primary per shard per term acknowledged writes",
            format!(
                "{table} shard {shard}, term {term}: {} each acknowledged writes as its primary",
                nodes.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// The user tables, as `schema.name`.
async fn user_tables(cluster: &SimCluster, node: &str) -> Result<Vec<String>, Violation> {
    let sql = "SELECT table_schema || '.' || table_name FROM information_schema.tables \
               WHERE table_schema NOT IN ('sys', 'information_schema', 'pg_catalog') \
               AND table_type = 'BASE TABLE' ORDER BY 1";
    let tables = query(cluster, node, sql).await?;
    Ok(tables
        .into_iter()
        .filter_map(|row| match row.into_iter().next() {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        })
        .collect())
}

async fn query(cluster: &SimCluster, node: &str, sql: &str) -> Result<Vec<Vec<Value>>, Violation> {
    cluster
        .execute(node, sql, Vec::new())
        .await
        .map(|r| r.rows)
        .map_err(|e| {
            violation(
                "the cluster answers once the faults stop",
                format!("{sql} through {node}: {e}"),
            )
        })
}

/// Every running node returns the same rows for `SELECT *` (after a refresh).
async fn same_rows_everywhere(
    cluster: &SimCluster,
    node: &str,
    up: &[String],
    table: &str,
) -> Result<(), Violation> {
    const SAME: &str = "every node returns the same rows for the same query";
    query(cluster, node, &format!("REFRESH TABLE {table}")).await?;
    let rows_through = |n: String| async move {
        let mut rows: Vec<String> = query(cluster, &n, &format!("SELECT * FROM {table}"))
            .await?
            .iter()
            .map(|r| format!("{r:?}"))
            .collect();
        rows.sort();
        Ok::<_, Violation>((n, rows))
    };
    let (first, expected) = rows_through(node.to_string()).await?;
    for other in up.iter().filter(|n| *n != node) {
        let (other, rows) = rows_through(other.clone()).await?;
        if rows != expected {
            let only = |a: &[String], b: &[String]| -> Vec<String> {
                a.iter()
                    .filter(|r| !b.contains(r))
                    .take(5)
                    .cloned()
                    .collect()
            };
            return Err(violation(
                SAME,
                format!(
                    "SELECT * FROM {table}: {} rows through {first}, {} through {other}; \
                     only through {first}: {:?}; only through {other}: {:?}",
                    expected.len(),
                    rows.len(),
                    only(&expected, &rows),
                    only(&rows, &expected)
                ),
            ));
        }
    }
    Ok(())
}

/// The workload's invariants: acknowledged inserts are present, the
/// counter counts every acknowledged increment (and no more than those
/// whose outcome is unknown besides), and what the clients saw was sound.
async fn check_history(
    cluster: &SimCluster,
    node: &str,
    history: &History,
) -> Result<(), Violation> {
    if let Some(broken) = history.violations.first() {
        return Err(violation(
            "what the clients read is consistent",
            broken.clone(),
        ));
    }
    query(cluster, node, &format!("REFRESH TABLE {ROWS}")).await?;
    // (The table of `mix=inserts` has no `v`: its rows are as inserted.)
    let sql = match history.mix {
        Mix::All => format!("SELECT id, v FROM {ROWS}"),
        Mix::Inserts => format!("SELECT id, 0 FROM {ROWS}"),
    };
    let mut present = BTreeMap::new();
    for row in query(cluster, node, &sql).await? {
        match row.as_slice() {
            [Value::Int(id), Value::Int(v)] => present.insert(*id, *v),
            other => {
                let detail = format!("{ROWS} holds the row {other:?}");
                return Err(violation("no row appears that no client wrote", detail));
            }
        };
    }
    check_rows(history, &present)?;
    let counter = query(
        cluster,
        node,
        &format!("SELECT v FROM {COUNTER} WHERE id = 0"),
    )
    .await?;
    let Some(Value::Int(v)) = counter.first().and_then(|r| r.first()) else {
        return Err(violation(
            "no acknowledged write is lost",
            format!("the counter's row is {counter:?}"),
        ));
    };
    let (acked, unknown) = (history.increments_acked, history.increments_unknown);
    if *v < acked || *v > acked + unknown {
        return Err(violation(
            "optimistic read-modify-write loses no update",
            format!(
                "the counter is {v} after {acked} acknowledged increments, {unknown} of unknown \
                 outcome and {} refused",
                history.increments_conflicted
            ),
        ));
    }
    Ok(())
}

/// Every row of the workload ends in a state its writes allow: a row
/// with an acknowledged delete is gone; else it is as its last
/// acknowledged write left it, or as any write of unknown outcome did
/// (which may take effect at any time, even after later ones); and no row
/// appears that no client wrote. `present` maps each id found to its `v`.
fn check_rows(history: &History, present: &BTreeMap<i64, i64>) -> Result<(), Violation> {
    let mut broken: Vec<(&'static str, String)> = Vec::new();
    for (id, writes) in &history.rows {
        // `None`: the row is absent.
        let found = present.get(id).copied();
        let allowed: BTreeSet<Option<i64>> = if writes
            .iter()
            .any(|(w, acked)| *acked && *w == Write::Delete)
        {
            BTreeSet::from([None])
        } else {
            let last_acked = writes.iter().rev().find(|(_, acked)| *acked);
            let unknown = writes.iter().filter(|(_, acked)| !acked);
            let before = last_acked.and_then(|(w, _)| w.leaves());
            std::iter::once(before)
                .chain(unknown.map(|(w, _)| w.leaves()))
                .collect()
        };
        if allowed.contains(&found) {
            continue;
        }
        let invariant = match found {
            None => "no acknowledged write is lost",
            Some(_) if allowed == BTreeSet::from([None]) => "no acknowledged delete is undone",
            Some(_) => "no acknowledged update is lost",
        };
        let shown = |s: Option<i64>| s.map_or("absent".to_string(), |v| format!("v = {v}"));
        let allowed: Vec<String> = allowed.iter().map(|s| shown(*s)).collect();
        broken.push((
            invariant,
            format!(
                "row {id} of {ROWS} is {}, may be {}; its writes (acknowledged?): {writes:?}",
                shown(found),
                allowed.join(" or ")
            ),
        ));
    }
    if let Some((invariant, _)) = broken.first() {
        let rows: Vec<&str> = broken.iter().take(5).map(|(_, r)| r.as_str()).collect();
        let detail = format!(
            "{} rows broken, the first: {}",
            broken.len(),
            rows.join("; ")
        );
        return Err(violation(invariant, detail));
    }
    let invented: Vec<&i64> = present
        .keys()
        .filter(|id| !history.rows.contains_key(id))
        .collect();
    if !invented.is_empty() {
        return Err(violation(
            "no row appears that no client wrote",
            format!("ids {:?} in {ROWS}", &invented[..invented.len().min(20)]),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use shoal_engine::audit::{forget_primaries, primary_acknowledged};
    use shoal_engine::catalog::TableIdent;
    use shoal_engine::request::ShardId;

    use super::{check_rows, one_primary_per_term};
    use crate::workload::{History, Mix, Write};

    fn shard(uuid: &str, shard: u32) -> ShardId {
        ShardId {
            table: TableIdent::new("doc", "t"),
            uuid: uuid.into(),
            shard,
        }
    }

    /// Two nodes writing as one shard's primary under one term is a
    /// violation; one per term, or a table created again, is not.
    #[test]
    fn two_primaries_in_one_term_are_caught() {
        forget_primaries();
        primary_acknowledged(&shard("u1", 0), 1, "n1");
        primary_acknowledged(&shard("u1", 0), 2, "n2");
        primary_acknowledged(&shard("u1", 1), 1, "n2");
        primary_acknowledged(&shard("u2", 0), 1, "n3");
        assert!(one_primary_per_term("doc.t").is_ok());
        primary_acknowledged(&shard("u1", 1), 1, "n3");
        let violation = one_primary_per_term("doc.t").expect_err("two primaries in term 1");
        assert_eq!(
            violation.to_string(),
            "invariant violated: at most one primary per shard per term acknowledged writes\n\
             doc.t shard 1, term 1: n2, n3 each acknowledged writes as its primary"
        );
        assert!(one_primary_per_term("doc.other").is_ok());
        forget_primaries();
    }

    /// A row ends as its last acknowledged write left it, or as a write of
    /// unknown outcome did; an acknowledged delete leaves it gone.
    #[test]
    fn rows_end_as_their_writes_allow() {
        use Write::*;
        let history = |writes: Vec<(Write, bool)>| History {
            mix: Mix::All,
            rows: BTreeMap::from([(7, writes)]),
            ..History::default()
        };
        let judge = |writes: Vec<(Write, bool)>, found: Option<i64>| {
            let present: BTreeMap<i64, i64> = found.map(|v| (7, v)).into_iter().collect();
            check_rows(&history(writes), &present).map_err(|v| v.invariant)
        };
        let acked = vec![(Insert, true), (Update(4), true)];
        assert_eq!(judge(acked.clone(), Some(4)), Ok(()));
        assert_eq!(
            judge(acked.clone(), Some(0)),
            Err("no acknowledged update is lost")
        );
        assert_eq!(judge(acked, None), Err("no acknowledged write is lost"));
        // An update of unknown outcome may have taken effect, even after
        // a later one.
        let unknown = vec![(Insert, true), (Update(2), false), (Update(4), true)];
        assert_eq!(judge(unknown.clone(), Some(2)), Ok(()));
        assert_eq!(judge(unknown, Some(4)), Ok(()));
        let deleted = vec![(Insert, true), (Update(2), false), (Delete, true)];
        assert_eq!(judge(deleted.clone(), None), Ok(()));
        assert_eq!(
            judge(deleted, Some(2)),
            Err("no acknowledged delete is undone")
        );
        assert_eq!(judge(vec![(Insert, false)], None), Ok(()));
        assert_eq!(judge(vec![(Insert, false)], Some(0)), Ok(()));
        // A row no client wrote.
        let invented = check_rows(&history(vec![]), &BTreeMap::from([(8, 0)]));
        assert_eq!(
            invented.map_err(|v| v.invariant),
            Err("no row appears that no client wrote")
        );
    }
}
