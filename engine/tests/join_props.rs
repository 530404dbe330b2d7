//! Property tests of joins and subqueries against a reference model.
//!
//! Three small tables `a (id, k, v)`, `b (id, k, w)` and `c (id, k)` are
//! filled with random rows whose join keys come from a tiny domain (0..4 or
//! NULL), so duplicate keys, keys without partners and NULL keys are all
//! common, and spread over 2 or 3 shards each. Every query (inner, outer,
//! cross, non-equi and mixed joins, comma joins, self and three-way joins,
//! aggregates and top-N over joins, uncorrelated and correlated subqueries,
//! derived tables and CTEs) is answered a second time by a plain-Rust model
//! that spells out SQL's three-valued logic: `NULL = x` is unknown and never
//! joins, outer joins pad with NULLs, `x NOT IN (.., NULL, ..)` is never true,
//! `IN`/`= ANY` over an empty set is false and `< ALL` over it is true, a
//! scalar subquery without rows is NULL. Results are compared as multisets,
//! or as lists where ORDER BY fixes the order (a unique key, or only the sort
//! column projected), with LIMIT and OFFSET. These are the places
//! where a hash join, a pushed-down filter or a subquery rewrite most easily
//! goes wrong while the hand-written SQL scripts still pass.
#![cfg(not(madsim))]

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use shoal_engine::disk::{Disk, MemDisk};
use shoal_engine::node::{Node, NodeConfig, Session};
use shoal_engine::types::{Row, Value};

// ---------------------------------------------------------------------------
// Data

#[derive(Debug, Clone)]
struct A {
    id: i64,
    k: Option<i64>,
    v: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct B {
    id: i64,
    k: Option<i64>,
    w: Option<i64>,
}

#[derive(Debug, Clone)]
struct C {
    id: i64,
    k: Option<i64>,
}

#[derive(Debug, Clone)]
struct Data {
    a: Vec<A>,
    b: Vec<B>,
    c: Vec<C>,
    shards: [u8; 3],
}

/// A join key: 0..4, or NULL one time in five.
fn key() -> impl Strategy<Value = Option<i64>> {
    proptest::option::weighted(0.8, 0i64..4)
}

/// Rows with ids that grow by 1 or 2: distinct, but not dense, so that `a.id`
/// and `b.id` overlap only in part. Shrinking drops rows and keeps ids distinct.
fn rows<T: std::fmt::Debug, R: std::fmt::Debug>(
    fields: impl Strategy<Value = T>,
    make: fn(i64, T) -> R,
) -> impl Strategy<Value = Vec<R>> {
    proptest::collection::vec((1i64..3, fields), 0..25).prop_map(move |rows| {
        let mut id = 0;
        rows.into_iter()
            .map(|(gap, f)| {
                id += gap;
                make(id, f)
            })
            .collect()
    })
}

fn data() -> impl Strategy<Value = Data> {
    let v = proptest::option::weighted(0.8, proptest::sample::select(&["x", "y", "z"][..]));
    let a = rows((key(), v), |id, (k, v)| A { id, k, v });
    let b = rows(
        (key(), proptest::option::weighted(0.8, 0i64..8)),
        |id, (k, w)| B { id, k, w },
    );
    let c = rows(key(), |id, k| C { id, k });
    (a, b, c, [2u8..4, 2u8..4, 2u8..4]).prop_map(|(a, b, c, shards)| Data { a, b, c, shards })
}

// ---------------------------------------------------------------------------
// The engine

struct Db {
    rt: real_tokio::runtime::Runtime,
    node: Arc<Node>,
}

impl Db {
    fn new(d: &Data) -> Db {
        let rt = real_tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
        let node = Node::open(NodeConfig::default(), disk).unwrap();
        let db = Db { rt, node };
        let [sa, sb, sc] = d.shards;
        let opts = "WITH (refresh_interval = 0)";
        db.run(&format!("CREATE TABLE a (id INT PRIMARY KEY, k INT, v TEXT) CLUSTERED INTO {sa} SHARDS {opts}"), vec![]);
        db.run(&format!("CREATE TABLE b (id INT PRIMARY KEY, k INT, w INT) CLUSTERED INTO {sb} SHARDS {opts}"), vec![]);
        db.run(
            &format!(
                "CREATE TABLE c (id INT PRIMARY KEY, k INT) CLUSTERED INTO {sc} SHARDS {opts}"
            ),
            vec![],
        );
        for r in &d.a {
            db.run(
                "INSERT INTO a (id, k, v) VALUES (?, ?, ?)",
                vec![Value::Int(r.id), int(r.k), text(r.v)],
            );
        }
        for r in &d.b {
            db.run(
                "INSERT INTO b (id, k, w) VALUES (?, ?, ?)",
                vec![Value::Int(r.id), int(r.k), int(r.w)],
            );
        }
        for r in &d.c {
            db.run(
                "INSERT INTO c (id, k) VALUES (?, ?)",
                vec![Value::Int(r.id), int(r.k)],
            );
        }
        db.run("REFRESH TABLE a, b, c", vec![]);
        db
    }

    fn run(&self, sql: &str, args: Vec<Value>) -> Vec<Row> {
        self.rt
            .block_on(self.node.execute(&Session::default(), sql, args))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows
    }

    /// The query's rows must be the expected ones, in any order.
    fn bag(
        &self,
        sql: &str,
        args: Vec<Value>,
        mut expected: Vec<Row>,
    ) -> Result<(), TestCaseError> {
        let mut got = self.run(sql, args.clone());
        got.sort();
        expected.sort();
        prop_assert_eq!(got, expected, "{} with {:?}", sql, args);
        Ok(())
    }

    /// The query's rows must be the expected ones, in this order.
    fn list(&self, sql: &str, args: Vec<Value>, expected: Vec<Row>) -> Result<(), TestCaseError> {
        let got = self.run(sql, args.clone());
        prop_assert_eq!(got, expected, "{} with {:?}", sql, args);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The model: SQL semantics over the generated rows

fn int(v: Option<i64>) -> Value {
    v.map(Value::Int).unwrap_or(Value::Null)
}

fn text(v: Option<&str>) -> Value {
    v.map(Value::from).unwrap_or(Value::Null)
}

fn boolean(v: Option<bool>) -> Value {
    v.map(Value::Bool).unwrap_or(Value::Null)
}

/// A comparison in three-valued logic: unknown (None) when either side is NULL.
fn cmp3(x: Option<i64>, y: Option<i64>, op: fn(&i64, &i64) -> bool) -> Option<bool> {
    Some(op(&x?, &y?))
}

fn eq3(x: Option<i64>, y: Option<i64>) -> Option<bool> {
    cmp3(x, y, i64::eq)
}

fn and3(x: Option<bool>, y: Option<bool>) -> Option<bool> {
    match (x, y) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or3(x: Option<bool>, y: Option<bool>) -> Option<bool> {
    match (x, y) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

fn not3(x: Option<bool>) -> Option<bool> {
    x.map(|b| !b)
}

/// `x op ANY (set)`: true if some comparison is true, else unknown if some is
/// unknown (a NULL on either side), else false, as over the empty set.
fn any3(x: Option<i64>, set: &[Option<i64>], op: fn(&i64, &i64) -> bool) -> Option<bool> {
    let results: Vec<Option<bool>> = set.iter().map(|y| cmp3(x, *y, op)).collect();
    if results.contains(&Some(true)) {
        Some(true)
    } else if results.contains(&None) {
        None
    } else {
        Some(false)
    }
}

/// `x op ALL (set)`: false if some comparison is false, else unknown if some
/// is unknown, else true, as over the empty set (even for a NULL `x`).
fn all3(x: Option<i64>, set: &[Option<i64>], op: fn(&i64, &i64) -> bool) -> Option<bool> {
    let results: Vec<Option<bool>> = set.iter().map(|y| cmp3(x, *y, op)).collect();
    if results.contains(&Some(false)) {
        Some(false)
    } else if results.contains(&None) {
        None
    } else {
        Some(true)
    }
}

/// `x IN (set)` is `x = ANY (set)`.
fn in3(x: Option<i64>, set: &[Option<i64>]) -> Option<bool> {
    any3(x, set, i64::eq)
}

/// WHERE keeps a row only when its condition is true, not when unknown.
fn holds(x: Option<bool>) -> bool {
    x == Some(true)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Inner,
    Left,
    Right,
    Full,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Inner, Kind::Left, Kind::Right, Kind::Full];

    fn sql(self) -> &'static str {
        match self {
            Kind::Inner => "JOIN",
            Kind::Left => "LEFT JOIN",
            Kind::Right => "RIGHT JOIN",
            Kind::Full => "FULL JOIN",
        }
    }
}

/// A nested-loop join by the book: pairs whose condition is true, then the
/// unmatched rows of the preserved side(s) padded with NULL (None).
fn join<'l, 'r, L, R>(
    left: &'l [L],
    right: &'r [R],
    kind: Kind,
    on: impl Fn(&L, &R) -> Option<bool>,
) -> Vec<(Option<&'l L>, Option<&'r R>)> {
    let mut out = Vec::new();
    let mut right_matched = vec![false; right.len()];
    for l in left {
        let mut matched = false;
        for (i, r) in right.iter().enumerate() {
            if holds(on(l, r)) {
                matched = true;
                right_matched[i] = true;
                out.push((Some(l), Some(r)));
            }
        }
        if !matched && matches!(kind, Kind::Left | Kind::Full) {
            out.push((Some(l), None));
        }
    }
    if matches!(kind, Kind::Right | Kind::Full) {
        for (r, matched) in right.iter().zip(right_matched) {
            if !matched {
                out.push((None, Some(r)));
            }
        }
    }
    out
}

fn a_id(a: Option<&A>) -> Value {
    int(a.map(|a| a.id))
}

fn b_id(b: Option<&B>) -> Value {
    int(b.map(|b| b.id))
}

fn b_w(b: Option<&B>) -> Option<i64> {
    b.and_then(|b| b.w)
}

fn id_pairs(pairs: &[(Option<&A>, Option<&B>)]) -> Vec<Row> {
    pairs
        .iter()
        .map(|(a, b)| vec![a_id(*a), b_id(*b)])
        .collect()
}

fn max_of(xs: impl Iterator<Item = Option<i64>>) -> Option<i64> {
    xs.flatten().max()
}

fn min_of(xs: impl Iterator<Item = Option<i64>>) -> Option<i64> {
    xs.flatten().min()
}

/// SQL `sum`: NULL when there is no non-NULL input.
fn sum_of(xs: impl Iterator<Item = Option<i64>>) -> Option<i64> {
    xs.flatten().fold(None, |acc, x| Some(acc.unwrap_or(0) + x))
}

fn params() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// The properties

proptest! {
    #![proptest_config(params())]

    /// Equi-joins of every kind (hash join), and the cross join.
    #[test]
    fn equi_and_cross_joins(d in data()) {
        let db = Db::new(&d);
        for kind in Kind::ALL {
            let sql = format!("SELECT a.id, a.k, a.v, b.id, b.k, b.w FROM a {} b ON a.k = b.k", kind.sql());
            let expected = join(&d.a, &d.b, kind, |a, b| eq3(a.k, b.k))
                .into_iter()
                .map(|(a, b)| vec![
                    a_id(a), int(a.and_then(|a| a.k)), text(a.and_then(|a| a.v)),
                    b_id(b), int(b.and_then(|b| b.k)), int(b_w(b)),
                ])
                .collect();
            db.bag(&sql, vec![], expected)?;
        }
        // The condition written the other way round, and with the tables swapped.
        let expected = id_pairs(&join(&d.a, &d.b, Kind::Left, |a, b| eq3(a.k, b.k)));
        db.bag("SELECT a.id, b.id FROM a LEFT JOIN b ON b.k = a.k", vec![], expected.clone())?;
        db.bag("SELECT a.id, b.id FROM b RIGHT JOIN a ON a.k = b.k", vec![], expected)?;

        // Columns only a side's own filter reads are not carried through
        // the join (the probe side of a broadcast join projects its rows).
        let filtered: Vec<Row> = join(&d.a, &d.b, Kind::Inner, |a, b| eq3(a.k, b.k))
            .into_iter()
            .filter(|(a, b)| a.is_some_and(|a| a.v == Some("x")) && b.is_some_and(|b| b.w.is_some_and(|w| w > 2)))
            .map(|(a, b)| vec![b_id(b), a_id(a)])
            .collect();
        db.bag("SELECT b.id, a.id FROM a JOIN b ON a.k = b.k WHERE a.v = 'x' AND b.w > 2", vec![], filtered.clone())?;
        db.bag("SELECT b.id, a.id FROM b JOIN a ON a.k = b.k WHERE a.v = 'x' AND b.w > 2", vec![], filtered.clone())?;
        db.bag("SELECT count(*) FROM a, b WHERE a.k = b.k AND a.v = 'x' AND b.w > 2", vec![],
            vec![vec![Value::Int(filtered.len() as i64)]])?;

        let cross = join(&d.a, &d.b, Kind::Inner, |_, _| Some(true));
        db.bag("SELECT a.id, b.id FROM a CROSS JOIN b", vec![], id_pairs(&cross))?;
        db.bag("SELECT count(*) FROM a CROSS JOIN b", vec![], vec![vec![Value::Int(cross.len() as i64)]])?;
        db.bag("SELECT count(*) FROM a JOIN b ON a.k = b.k", vec![],
            vec![vec![Value::Int(join(&d.a, &d.b, Kind::Inner, |a, b| eq3(a.k, b.k)).len() as i64)]])?;
    }

    /// Non-equi joins (nested loop), equi-joins with an extra condition, comma joins.
    #[test]
    fn non_equi_mixed_and_comma_joins(d in data(), t in 0i64..9) {
        let db = Db::new(&d);
        for kind in Kind::ALL {
            let sql = format!("SELECT a.id, b.id FROM a {} b ON a.k < b.k", kind.sql());
            db.bag(&sql, vec![], id_pairs(&join(&d.a, &d.b, kind, |a, b| cmp3(a.k, b.k, i64::lt))))?;

            let sql = format!("SELECT a.id, b.id FROM a {} b ON a.k = b.k AND b.w > ?", kind.sql());
            let on = |a: &A, b: &B| and3(eq3(a.k, b.k), cmp3(b.w, Some(t), i64::gt));
            db.bag(&sql, vec![Value::Int(t)], id_pairs(&join(&d.a, &d.b, kind, on)))?;
        }
        // Composite and computed keys, and keys of different columns.
        for kind in [Kind::Inner, Kind::Left, Kind::Full] {
            let on = |a: &A, b: &B| and3(eq3(a.k, b.k), eq3(Some(a.id % 8), b.w));
            db.bag(&format!("SELECT a.id, b.id FROM a {} b ON a.k = b.k AND a.id % 8 = b.w", kind.sql()), vec![],
                id_pairs(&join(&d.a, &d.b, kind, on)))?;
            let on = |a: &A, b: &B| eq3(a.k.map(|k| k + 1), b.k);
            db.bag(&format!("SELECT a.id, b.id FROM a {} b ON a.k + 1 = b.k", kind.sql()), vec![],
                id_pairs(&join(&d.a, &d.b, kind, on)))?;
            let on = |a: &A, b: &B| eq3(a.k, b.w);
            db.bag(&format!("SELECT a.id, b.id FROM a {} b ON a.k = b.w", kind.sql()), vec![],
                id_pairs(&join(&d.a, &d.b, kind, on)))?;
            let on = |a: &A, b: &B| and3(eq3(a.k, b.k), Some(a.id > b.id));
            db.bag(&format!("SELECT a.id, b.id FROM a {} b ON a.k = b.k AND a.id > b.id", kind.sql()), vec![],
                id_pairs(&join(&d.a, &d.b, kind, on)))?;
        }
        db.bag("SELECT a.id, b.id FROM a LEFT JOIN b ON a.k = b.k AND 1 = 2", vec![],
            id_pairs(&join(&d.a, &d.b, Kind::Left, |_, _| Some(false))))?;

        let expected = id_pairs(&join(&d.a, &d.b, Kind::Inner, |a, b| eq3(a.k, b.k))
            .into_iter()
            .filter(|(a, _)| holds(a.unwrap().v.map(|v| v != "x")))
            .collect::<Vec<_>>());
        db.bag("SELECT a.id, b.id FROM a, b WHERE a.k = b.k AND a.v <> 'x'", vec![], expected)?;

        let or = |a: &A, b: &B| or3(eq3(a.k, b.k), cmp3(b.w, Some(t), i64::lt));
        db.bag("SELECT a.id, b.id FROM a, b WHERE a.k = b.k OR b.w < ?", vec![Value::Int(t)],
            id_pairs(&join(&d.a, &d.b, Kind::Inner, or)))?;
    }

    /// A condition on the NULL-padded side of an outer join filters after the
    /// join in WHERE, and only decides the partners in ON.
    #[test]
    fn outer_join_where_versus_on(d in data(), t in 0i64..9) {
        let db = Db::new(&d);
        let left = join(&d.a, &d.b, Kind::Left, |a, b| eq3(a.k, b.k));
        let expected = id_pairs(&left.iter().copied().filter(|(_, b)| b_w(*b).is_none()).collect::<Vec<_>>());
        db.bag("SELECT a.id, b.id FROM a LEFT JOIN b ON a.k = b.k WHERE b.w IS NULL", vec![], expected)?;

        let expected = id_pairs(&left.iter().copied().filter(|(_, b)| b.is_none()).collect::<Vec<_>>());
        db.bag("SELECT a.id, b.id FROM a LEFT JOIN b ON a.k = b.k WHERE b.id IS NULL", vec![], expected)?;

        let expected = id_pairs(&left.iter().copied()
            .filter(|(_, b)| holds(cmp3(b_w(*b), Some(t), i64::gt)))
            .collect::<Vec<_>>());
        db.bag("SELECT a.id, b.id FROM a LEFT JOIN b ON a.k = b.k WHERE b.w > ?", vec![Value::Int(t)], expected)?;

        let on = |a: &A, b: &B| and3(eq3(a.k, b.k), Some(b.w.is_none()));
        db.bag("SELECT a.id, b.id FROM a LEFT JOIN b ON a.k = b.k AND b.w IS NULL", vec![],
            id_pairs(&join(&d.a, &d.b, Kind::Left, on)))?;

        let expected = id_pairs(&left.iter().copied()
            .filter(|(_, b)| b_w(*b).unwrap_or(-1) < t)
            .collect::<Vec<_>>());
        db.bag("SELECT a.id, b.id FROM a LEFT JOIN b ON a.k = b.k WHERE coalesce(b.w, -1) < ?", vec![Value::Int(t)], expected)?;

        // Conditions on one side only, in ON: they decide partners, never drop preserved rows.
        for kind in Kind::ALL {
            let on = |a: &A, b: &B| and3(eq3(a.k, b.k), a.v.map(|v| v == "y"));
            db.bag(&format!("SELECT a.id, b.id FROM a {} b ON a.k = b.k AND a.v = 'y'", kind.sql()), vec![],
                id_pairs(&join(&d.a, &d.b, kind, on)))?;
            let on = |a: &A, b: &B| and3(and3(eq3(a.k, b.k), a.v.map(|v| v != "z")), cmp3(b.w, Some(t), i64::le));
            db.bag(&format!("SELECT a.id, b.id FROM a {} b ON a.k = b.k AND a.v <> 'z' AND b.w <= ?", kind.sql()),
                vec![Value::Int(t)], id_pairs(&join(&d.a, &d.b, kind, on)))?;
            let on = |a: &A, b: &B| or3(eq3(a.k, b.k), cmp3(b.w, Some(0), i64::eq));
            db.bag(&format!("SELECT a.id, b.id FROM a {} b ON a.k = b.k OR b.w = 0", kind.sql()), vec![],
                id_pairs(&join(&d.a, &d.b, kind, on)))?;
        }

        // Conditions in WHERE over right and full joins: they filter after the join,
        // so they cannot be pushed below the join to the side that gets NULL-padded.
        let right = join(&d.a, &d.b, Kind::Right, |a, b| eq3(a.k, b.k));
        let full = join(&d.a, &d.b, Kind::Full, |a, b| eq3(a.k, b.k));
        let filtered = |pairs: &[(Option<&A>, Option<&B>)], f: &dyn Fn(Option<&A>, Option<&B>) -> bool| {
            id_pairs(&pairs.iter().copied().filter(|(a, b)| f(*a, *b)).collect::<Vec<_>>())
        };
        db.bag("SELECT a.id, b.id FROM a RIGHT JOIN b ON a.k = b.k WHERE a.id IS NULL", vec![],
            filtered(&right, &|a, _| a.is_none()))?;
        db.bag("SELECT a.id, b.id FROM a RIGHT JOIN b ON a.k = b.k WHERE a.v IS NULL", vec![],
            filtered(&right, &|a, _| a.and_then(|a| a.v).is_none()))?;
        db.bag("SELECT a.id, b.id FROM a FULL JOIN b ON a.k = b.k WHERE a.v = 'x'", vec![],
            filtered(&full, &|a, _| a.and_then(|a| a.v) == Some("x")))?;
        db.bag("SELECT a.id, b.id FROM a FULL JOIN b ON a.k = b.k WHERE b.w > ?", vec![Value::Int(t)],
            filtered(&full, &|_, b| holds(cmp3(b_w(b), Some(t), i64::gt))))?;
        db.bag("SELECT a.id, b.id FROM a FULL JOIN b ON a.k = b.k WHERE a.id IS NULL OR b.id IS NULL", vec![],
            filtered(&full, &|a, b| a.is_none() || b.is_none()))?;
        db.bag("SELECT a.id, b.id FROM a FULL JOIN b ON a.k = b.k WHERE a.k IS NOT NULL AND b.w IS NULL", vec![],
            filtered(&full, &|a, b| a.and_then(|a| a.k).is_some() && b_w(b).is_none()))?;
    }

    /// Self-joins and three-way joins.
    #[test]
    fn self_and_three_way_joins(d in data()) {
        let db = Db::new(&d);
        let expected: Vec<Row> = join(&d.a, &d.a, Kind::Inner, |x, y| and3(eq3(x.k, y.k), Some(x.id < y.id)))
            .into_iter()
            .map(|(x, y)| vec![a_id(x), a_id(y)])
            .collect();
        db.bag("SELECT x.id, y.id FROM a x JOIN a y ON x.k = y.k AND x.id < y.id", vec![], expected)?;

        // a JOIN b ON a.k = b.k JOIN c ON c.k = b.w
        let mut expected = Vec::new();
        for (a, b) in join(&d.a, &d.b, Kind::Inner, |a, b| eq3(a.k, b.k)) {
            for c in &d.c {
                if holds(eq3(c.k, b_w(b))) {
                    expected.push(vec![a_id(a), b_id(b), Value::Int(c.id)]);
                }
            }
        }
        db.bag("SELECT a.id, b.id, c.id FROM a JOIN b ON a.k = b.k JOIN c ON c.k = b.w", vec![], expected)?;

        // a LEFT JOIN b ON a.k = b.k LEFT JOIN c ON c.k = a.k AND c.id > b.id
        let mut expected = Vec::new();
        for (a, b) in join(&d.a, &d.b, Kind::Left, |a, b| eq3(a.k, b.k)) {
            let partners: Vec<&C> = d.c.iter()
                .filter(|c| holds(and3(eq3(c.k, a.unwrap().k), cmp3(Some(c.id), b.map(|b| b.id), i64::gt))))
                .collect();
            if partners.is_empty() {
                expected.push(vec![a_id(a), b_id(b), Value::Null]);
            }
            for c in partners {
                expected.push(vec![a_id(a), b_id(b), Value::Int(c.id)]);
            }
        }
        db.bag("SELECT a.id, b.id, c.id FROM a LEFT JOIN b ON a.k = b.k LEFT JOIN c ON c.k = a.k AND c.id > b.id",
            vec![], expected)?;

        // Outer joins in a chain: the second join sees the NULL-padded rows of the first.
        let ab_full = join(&d.a, &d.b, Kind::Full, |a, b| eq3(a.k, b.k));
        let expected: Vec<Row> = join(&ab_full, &d.c, Kind::Full, |(_, b), c| eq3(c.k, b.and_then(|b| b.k)))
            .into_iter()
            .map(|(ab, c)| vec![a_id(ab.and_then(|ab| ab.0)), b_id(ab.and_then(|ab| ab.1)), int(c.map(|c| c.id))])
            .collect();
        db.bag("SELECT a.id, b.id, c.id FROM a FULL JOIN b ON a.k = b.k FULL JOIN c ON c.k = b.k", vec![], expected)?;

        let ab_left = join(&d.a, &d.b, Kind::Left, |a, b| eq3(a.k, b.k));
        let expected: Vec<Row> = join(&ab_left, &d.c, Kind::Inner, |(_, b), c| eq3(c.k, b.and_then(|b| b.k)))
            .into_iter()
            .map(|(ab, c)| vec![a_id(ab.unwrap().0), b_id(ab.unwrap().1), int(c.map(|c| c.id))])
            .collect();
        db.bag("SELECT a.id, b.id, c.id FROM a LEFT JOIN b ON a.k = b.k JOIN c ON c.k = b.k", vec![], expected)?;

        let ca_right = join(&d.c, &d.a, Kind::Right, |c, a| eq3(c.k, a.k));
        let expected: Vec<Row> = join(&ca_right, &d.b, Kind::Left, |(_, a), b| eq3(b.k, a.and_then(|a| a.k)))
            .into_iter()
            .map(|(ca, b)| vec![a_id(ca.unwrap().1), b_id(b), int(ca.unwrap().0.map(|c| c.id))])
            .collect();
        db.bag("SELECT a.id, b.id, c.id FROM c RIGHT JOIN a ON c.k = a.k LEFT JOIN b ON b.k = a.k", vec![], expected)?;

        // Comma join of three tables.
        let mut expected = Vec::new();
        for a in &d.a {
            for b in &d.b {
                for c in &d.c {
                    if holds(and3(eq3(a.k, b.k), eq3(b.k, c.k))) && a.id != c.id {
                        expected.push(vec![Value::Int(a.id), Value::Int(b.id), Value::Int(c.id)]);
                    }
                }
            }
        }
        db.bag("SELECT a.id, b.id, c.id FROM a, b, c WHERE a.k = b.k AND b.k = c.k AND a.id <> c.id",
            vec![], expected)?;
    }

    /// Star joins: `b` is small and sent to `a`'s shards, grouped by its
    /// columns, aggregating `a`'s; the shards fold `a`'s columns into the
    /// groups of each key's partners without building joined rows.
    #[test]
    fn star_joins_aggregate_on_the_shards(d in data()) {
        let db = Db::new(&d);
        // One group per partner's `w`, each joined `a` row's values in it.
        let star = |pairs: &[(Option<&A>, Option<&B>)], keep: &dyn Fn(Option<&B>) -> bool| {
            let mut groups: BTreeMap<Option<i64>, Vec<i64>> = BTreeMap::new();
            for (a, b) in pairs.iter().filter(|(_, b)| keep(*b)) {
                groups.entry(b_w(*b)).or_default().push(a.unwrap().id);
            }
            groups
                .into_iter()
                .map(|(w, ids)| {
                    let n = ids.len() as i64;
                    let sum: i64 = ids.iter().sum();
                    vec![
                        int(w),
                        Value::Int(n),
                        Value::Int(sum),
                        int(ids.iter().min().copied()),
                        int(ids.iter().max().copied()),
                        Value::Float(sum as f64 / n as f64),
                    ]
                })
                .collect::<Vec<Row>>()
        };
        let all = |_: Option<&B>| true;
        let inner = join(&d.a, &d.b, Kind::Inner, |a, b| eq3(a.k, b.k));
        db.bag("SELECT b.w, count(*), sum(a.id), min(a.id), max(a.id), avg(a.id) \
                FROM a JOIN b ON a.k = b.k GROUP BY b.w", vec![], star(&inner, &all))?;
        // Unmatched rows of `a` (NULL keys among them) go to the group of
        // a NULL `w`.
        let left = join(&d.a, &d.b, Kind::Left, |a, b| eq3(a.k, b.k));
        db.bag("SELECT b.w, count(*), sum(a.id), min(a.id), max(a.id), avg(a.id) \
                FROM a LEFT JOIN b ON a.k = b.k GROUP BY b.w", vec![], star(&left, &all))?;
        // A condition above an outer join on the small side's columns
        // (it cannot go below the join): unmatched rows pass it.
        let kept = |b: Option<&B>| b.is_none_or(|b| b.w.is_none_or(|w| w > 1));
        db.bag("SELECT b.w, count(*), sum(a.id), min(a.id), max(a.id), avg(a.id) \
                FROM a LEFT JOIN b ON a.k = b.k WHERE b.w IS NULL OR b.w > 1 GROUP BY b.w",
            vec![], star(&left, &kept))?;
        // A key without NULLs: whole blocks of the columns at a time.
        let by_id = join(&d.a, &d.b, Kind::Inner, |a, b| eq3(Some(a.id), Some(b.id)));
        db.bag("SELECT b.w, count(*), sum(a.id), min(a.id), max(a.id), avg(a.id) \
                FROM a JOIN b ON a.id = b.id GROUP BY b.w", vec![], star(&by_id, &all))?;
        // Without GROUP BY: one group, also when nothing joins.
        let ids: Vec<i64> = inner.iter().map(|(a, _)| a.unwrap().id).collect();
        db.bag("SELECT count(*), sum(a.id), count(a.k) FROM a JOIN b ON a.k = b.k", vec![],
            vec![vec![
                Value::Int(ids.len() as i64),
                int((!ids.is_empty()).then(|| ids.iter().sum())),
                Value::Int(ids.len() as i64),
            ]])?;
        // A group key computed from the small side's columns.
        let mut groups: BTreeMap<i64, i64> = BTreeMap::new();
        for (_, b) in &inner {
            *groups.entry(b_w(*b).unwrap_or(-1) % 2).or_default() += 1;
        }
        db.bag("SELECT coalesce(b.w, -1) % 2, count(*) FROM a JOIN b ON a.k = b.k \
                GROUP BY coalesce(b.w, -1) % 2", vec![],
            groups.iter().map(|(g, n)| vec![Value::Int(*g), Value::Int(*n)]).collect())?;
    }

    /// Aggregates over joins, and ORDER BY ... LIMIT over joins.
    #[test]
    fn aggregates_and_top_n_over_joins(d in data(), n in 0usize..12, off in 0usize..4) {
        let db = Db::new(&d);
        let left = join(&d.a, &d.b, Kind::Left, |a, b| eq3(a.k, b.k));
        let mut groups: BTreeMap<Option<i64>, Vec<Option<&B>>> = BTreeMap::new();
        for (a, b) in &left {
            groups.entry(a.unwrap().k).or_default().push(*b);
        }
        let expected = groups.iter().map(|(k, bs)| vec![
            int(*k),
            Value::Int(bs.len() as i64),
            Value::Int(bs.iter().filter(|b| b_w(**b).is_some()).count() as i64),
            int(sum_of(bs.iter().map(|b| b_w(*b)))),
            int(max_of(bs.iter().map(|b| b.map(|b| b.id)))),
        ]).collect();
        db.bag("SELECT a.k, count(*), count(b.w), sum(b.w), max(b.id) FROM a LEFT JOIN b ON a.k = b.k GROUP BY a.k",
            vec![], expected)?;

        let inner = join(&d.a, &d.b, Kind::Inner, |a, b| eq3(a.k, b.k));
        let expected = vec![vec![
            Value::Int(inner.len() as i64),
            int(sum_of(inner.iter().map(|(_, b)| b_w(*b)))),
            int(min_of(inner.iter().map(|(a, _)| a.map(|a| a.id)))),
        ]];
        db.bag("SELECT count(*), sum(b.w), min(a.id) FROM a JOIN b ON a.k = b.k", vec![], expected)?;

        let right = join(&d.a, &d.b, Kind::Right, |a, b| eq3(a.k, b.k));
        let mut groups: BTreeMap<Option<i64>, (i64, i64)> = BTreeMap::new();
        for (a, b) in &right {
            let g = groups.entry(b_w(*b)).or_default();
            g.0 += 1;
            g.1 += i64::from(a.is_some());
        }
        db.bag("SELECT b.w, count(*), count(a.id) FROM a RIGHT JOIN b ON a.k = b.k GROUP BY b.w", vec![],
            groups.iter().map(|(w, (n, m))| vec![int(*w), Value::Int(*n), Value::Int(*m)]).collect())?;

        let mut groups: BTreeMap<Option<i64>, i64> = BTreeMap::new();
        for (a, _) in &inner {
            *groups.entry(a.unwrap().k).or_default() += 1;
        }
        db.bag("SELECT a.k, count(*) FROM a JOIN b ON a.k = b.k GROUP BY a.k HAVING count(*) > 2", vec![],
            groups.iter().filter(|(_, n)| **n > 2).map(|(k, n)| vec![int(*k), Value::Int(*n)]).collect())?;

        let distinct: std::collections::BTreeSet<Row> = inner.iter()
            .map(|(a, b)| vec![int(a.unwrap().k), int(b_w(*b))])
            .collect();
        db.bag("SELECT DISTINCT a.k, b.w FROM a JOIN b ON a.k = b.k", vec![], distinct.iter().cloned().collect())?;
        let distinct_w: std::collections::BTreeSet<i64> = inner.iter().filter_map(|(_, b)| b_w(*b)).collect();
        let distinct_v: std::collections::BTreeSet<&str> = inner.iter().filter_map(|(a, _)| a.unwrap().v).collect();
        db.bag("SELECT count(DISTINCT b.w), count(DISTINCT a.v) FROM a JOIN b ON a.k = b.k", vec![],
            vec![vec![Value::Int(distinct_w.len() as i64), Value::Int(distinct_v.len() as i64)]])?;

        // LIMIT without ORDER BY: any n rows of the join.
        let got = db.run(&format!("SELECT a.id, b.id FROM a JOIN b ON a.k = b.k LIMIT {n}"), vec![]);
        prop_assert_eq!(got.len(), n.min(inner.len()), "LIMIT {} over {} rows", n, inner.len());
        let all = id_pairs(&inner);
        for row in &got {
            prop_assert!(all.contains(row), "{:?} is a row of the join", row);
        }

        // Top-N on a unique key: (a.id, b.id) identifies a row of the join.
        let mut sorted = inner.clone();
        sorted.sort_by_key(|(a, b)| (a.unwrap().id, b.unwrap().id));
        let expected: Vec<Row> = id_pairs(&sorted).into_iter().take(n).collect();
        db.list(&format!("SELECT a.id, b.id FROM a JOIN b ON a.k = b.k ORDER BY a.id, b.id LIMIT {n}"), vec![], expected)?;

        let mut sorted = inner.clone();
        sorted.sort_by_key(|(a, b)| (b_w(*b).is_none(), Reverse(b_w(*b)), a.unwrap().id, Reverse(b.unwrap().id)));
        let expected: Vec<Row> = sorted.iter().skip(off).take(n)
            .map(|(a, b)| vec![a_id(*a), b_id(*b), int(b_w(*b))])
            .collect();
        db.list(&format!("SELECT a.id, b.id, b.w FROM a JOIN b ON a.k = b.k \
                          ORDER BY b.w DESC NULLS LAST, a.id, b.id DESC LIMIT {n} OFFSET {off}"), vec![], expected)?;

        // ORDER BY a column that is not unique over the join, projecting only it:
        // the list is determined even so. (A limit may go below a left join on its
        // preserved side, never below an inner join.)
        for kind in Kind::ALL {
            let pairs = join(&d.a, &d.b, kind, |a, b| eq3(a.k, b.k));
            let mut col: Vec<Option<i64>> = pairs.iter().map(|(a, _)| a.map(|a| a.id)).collect();
            col.sort_by_key(|x| (x.is_none(), *x));
            let expected: Vec<Row> = col.iter().skip(off).take(n).map(|x| vec![int(*x)]).collect();
            db.list(&format!("SELECT a.id FROM a {} b ON a.k = b.k ORDER BY a.id LIMIT {n} OFFSET {off}", kind.sql()),
                vec![], expected)?;
            let mut col: Vec<Option<i64>> = pairs.iter().map(|(_, b)| b.map(|b| b.id)).collect();
            col.sort_by_key(|x| (x.is_some(), Reverse(*x)));
            let expected: Vec<Row> = col.iter().take(n).map(|x| vec![int(*x)]).collect();
            db.list(&format!("SELECT b.id FROM a {} b ON a.k = b.k ORDER BY b.id DESC NULLS FIRST LIMIT {n}", kind.sql()),
                vec![], expected)?;
        }

        // On an outer join: NULL b.id only where a has no partner, so still unique.
        let mut sorted = left.clone();
        sorted.sort_by(|(a1, b1), (a2, b2)| {
            let (a1, a2) = (a1.unwrap().id, a2.unwrap().id);
            a2.cmp(&a1).then_with(|| match (b1, b2) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => x.id.cmp(&y.id),
            })
        });
        let expected: Vec<Row> = id_pairs(&sorted).into_iter().take(n).collect();
        db.list(&format!("SELECT a.id, b.id FROM a LEFT JOIN b ON a.k = b.k ORDER BY a.id DESC, b.id NULLS FIRST LIMIT {n}"),
            vec![], expected)?;
    }

    /// Uncorrelated subqueries: IN, NOT IN, EXISTS, scalar, ANY, ALL.
    #[test]
    fn uncorrelated_subqueries(d in data(), t in 0i64..9) {
        let db = Db::new(&d);
        let tp = || vec![Value::Int(t)];
        let all_k: Vec<Option<i64>> = d.b.iter().map(|b| b.k).collect();
        let some_k: Vec<Option<i64>> = d.b.iter().filter(|b| holds(cmp3(b.w, Some(t), i64::gt))).map(|b| b.k).collect();
        let ids_where = |f: &dyn Fn(&A) -> Option<bool>| -> Vec<Row> {
            d.a.iter().filter(|a| holds(f(a))).map(|a| vec![Value::Int(a.id)]).collect()
        };

        db.bag("SELECT id FROM a WHERE k IN (SELECT k FROM b)", vec![], ids_where(&|a| in3(a.k, &all_k)))?;
        db.bag("SELECT id FROM a WHERE k NOT IN (SELECT k FROM b)", vec![], ids_where(&|a| not3(in3(a.k, &all_k))))?;
        db.bag("SELECT id FROM a WHERE k IN (SELECT k FROM b WHERE w > ?)", tp(), ids_where(&|a| in3(a.k, &some_k)))?;
        db.bag("SELECT id FROM a WHERE k NOT IN (SELECT k FROM b WHERE w > ?)", tp(),
            ids_where(&|a| not3(in3(a.k, &some_k))))?;
        db.bag("SELECT id FROM a WHERE NOT (k IN (SELECT k FROM b WHERE w > ?))", tp(),
            ids_where(&|a| not3(in3(a.k, &some_k))))?;
        let non_null: Vec<Option<i64>> = all_k.iter().copied().filter(Option::is_some).collect();
        db.bag("SELECT id FROM a WHERE k NOT IN (SELECT k FROM b WHERE k IS NOT NULL)", vec![],
            ids_where(&|a| not3(in3(a.k, &non_null))))?;
        // The three-valued results themselves.
        let expected = d.a.iter().map(|a| vec![
            Value::Int(a.id), boolean(in3(a.k, &some_k)), boolean(not3(in3(a.k, &some_k))),
        ]).collect();
        db.bag("SELECT id, k IN (SELECT k FROM b WHERE w > ?), k NOT IN (SELECT k FROM b WHERE w > ?) FROM a",
            vec![Value::Int(t), Value::Int(t)], expected)?;

        // Under OR and in a count: a semi-join must neither lose nor repeat rows.
        db.bag("SELECT id FROM a WHERE k IN (SELECT k FROM b WHERE w > ?) OR v = 'x'", tp(),
            ids_where(&|a| or3(in3(a.k, &some_k), a.v.map(|v| v == "x"))))?;
        db.bag("SELECT id FROM a WHERE k NOT IN (SELECT k FROM b) OR v IS NULL", vec![],
            ids_where(&|a| or3(not3(in3(a.k, &all_k)), Some(a.v.is_none()))))?;
        db.bag("SELECT count(*) FROM a WHERE k IN (SELECT k FROM b)", vec![],
            vec![vec![Value::Int(ids_where(&|a| in3(a.k, &all_k)).len() as i64)]])?;
        let all_w: Vec<Option<i64>> = d.b.iter().map(|b| b.w).collect();
        db.bag("SELECT id FROM a WHERE k IN (SELECT w FROM b)", vec![], ids_where(&|a| in3(a.k, &all_w)))?;
        let mut by_id: Vec<&B> = d.b.iter().collect();
        by_id.sort_by_key(|b| b.id);
        let first3: Vec<Option<i64>> = by_id.iter().take(3).map(|b| b.k).collect();
        db.bag("SELECT id FROM a WHERE k NOT IN (SELECT k FROM b ORDER BY id LIMIT 3)", vec![],
            ids_where(&|a| not3(in3(a.k, &first3))))?;
        let joined: Vec<Option<i64>> = join(&d.a, &d.b, Kind::Inner, |a, b| eq3(a.k, b.k))
            .iter().map(|(a, _)| a.map(|a| a.id)).collect();
        db.bag("SELECT id FROM a WHERE id IN (SELECT a2.id FROM a a2 JOIN b ON a2.k = b.k)", vec![],
            ids_where(&|a| in3(Some(a.id), &joined)))?;

        let exists = !some_k.is_empty();
        db.bag("SELECT id FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.w > ?)", tp(), ids_where(&|_| Some(exists)))?;
        db.bag("SELECT id FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.w > ?)", tp(), ids_where(&|_| Some(!exists)))?;

        let max_w = max_of(d.b.iter().map(|b| b.w));
        db.bag("SELECT id, (SELECT max(w) FROM b) FROM a", vec![],
            d.a.iter().map(|a| vec![Value::Int(a.id), int(max_w)]).collect())?;
        let max_w_over = max_of(d.b.iter().map(|b| b.w).filter(|w| holds(cmp3(*w, Some(t), i64::gt))));
        db.bag("SELECT id, (SELECT max(w) FROM b WHERE w > ?) FROM a", tp(),
            d.a.iter().map(|a| vec![Value::Int(a.id), int(max_w_over)]).collect())?;
        let min_k = min_of(all_k.iter().copied());
        db.bag("SELECT id FROM a WHERE k > (SELECT min(k) FROM b)", vec![], ids_where(&|a| cmp3(a.k, min_k, i64::gt)))?;
        db.bag("SELECT id FROM a WHERE k <= (SELECT max(k) FROM b WHERE w > ?)", tp(),
            ids_where(&|a| cmp3(a.k, max_of(some_k.iter().copied()), i64::le)))?;

        db.bag("SELECT id FROM a WHERE k = (SELECT max(k) FROM b WHERE w > ?)", tp(),
            ids_where(&|a| eq3(a.k, max_of(some_k.iter().copied()))))?;
        db.bag("SELECT id FROM a WHERE k = ANY (SELECT k FROM b WHERE w > ?)", tp(), ids_where(&|a| any3(a.k, &some_k, i64::eq)))?;
        db.bag("SELECT id FROM a WHERE k < ALL (SELECT k FROM b WHERE w > ?)", tp(), ids_where(&|a| all3(a.k, &some_k, i64::lt)))?;
        db.bag("SELECT id FROM a WHERE k < ALL (SELECT k FROM b)", vec![], ids_where(&|a| all3(a.k, &all_k, i64::lt)))?;
        db.bag("SELECT id FROM a WHERE k <> ALL (SELECT k FROM b WHERE w > ?)", tp(), ids_where(&|a| all3(a.k, &some_k, i64::ne)))?;
        db.bag("SELECT id FROM a WHERE k > ANY (SELECT k FROM b)", vec![], ids_where(&|a| any3(a.k, &all_k, i64::gt)))?;
        let expected = d.a.iter().map(|a| vec![
            Value::Int(a.id), boolean(any3(a.k, &some_k, i64::gt)), boolean(all3(a.k, &some_k, i64::lt)),
        ]).collect();
        db.bag("SELECT id, k > ANY (SELECT k FROM b WHERE w > ?), k < ALL (SELECT k FROM b WHERE w > ?) FROM a",
            vec![Value::Int(t), Value::Int(t)], expected)?;
    }

    /// Correlated subqueries in the SELECT list, WHERE and ORDER BY.
    #[test]
    fn correlated_subqueries(d in data(), t in 0i64..9) {
        let db = Db::new(&d);
        let partners = |a: &A| -> Vec<&B> { d.b.iter().filter(|b| holds(eq3(b.k, a.k))).collect() };
        let ids_where = |f: &dyn Fn(&A) -> Option<bool>| -> Vec<Row> {
            d.a.iter().filter(|a| holds(f(a))).map(|a| vec![Value::Int(a.id)]).collect()
        };

        db.bag("SELECT a.id, (SELECT count(*) FROM b WHERE b.k = a.k) FROM a", vec![],
            d.a.iter().map(|a| vec![Value::Int(a.id), Value::Int(partners(a).len() as i64)]).collect())?;
        db.bag("SELECT a.id, (SELECT max(b.w) FROM b WHERE b.k = a.k) FROM a", vec![],
            d.a.iter().map(|a| vec![Value::Int(a.id), int(max_of(partners(a).iter().map(|b| b.w)))]).collect())?;
        db.bag("SELECT a.id FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.k = a.k)", vec![],
            ids_where(&|a| Some(!partners(a).is_empty())))?;
        db.bag("SELECT a.id FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.k = a.k)", vec![],
            ids_where(&|a| Some(partners(a).is_empty())))?;
        db.bag("SELECT a.id FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.k = a.k AND b.w > ?)", vec![Value::Int(t)],
            ids_where(&|a| Some(partners(a).iter().any(|b| holds(cmp3(b.w, Some(t), i64::gt))))))?;

        db.bag("SELECT a.id FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.k = a.k) OR a.v = 'x'", vec![],
            ids_where(&|a| or3(Some(!partners(a).is_empty()), a.v.map(|v| v == "x"))))?;
        db.bag("SELECT a.id, (SELECT max(b.w + a.id) FROM b WHERE b.k = a.k) FROM a", vec![],
            d.a.iter().map(|a| vec![
                Value::Int(a.id), int(max_of(partners(a).iter().map(|b| b.w.map(|w| w + a.id)))),
            ]).collect())?;
        // Correlated over the rows of a join.
        let expected = join(&d.a, &d.b, Kind::Inner, |a, b| eq3(a.k, b.k)).into_iter().map(|(a, b)| vec![
            a_id(a), b_id(b), Value::Int(d.c.iter().filter(|c| holds(eq3(c.k, b_w(b)))).count() as i64),
        ]).collect();
        db.bag("SELECT a.id, b.id, (SELECT count(*) FROM c WHERE c.k = b.w) FROM a JOIN b ON a.k = b.k", vec![], expected)?;
        let expected = join(&d.a, &d.b, Kind::Left, |a, b| eq3(a.k, b.k)).into_iter()
            .filter(|(a, b)| !d.c.iter().any(|c| holds(eq3(c.k, b_w(*b))) && c.id != a.unwrap().id))
            .map(|(a, b)| vec![a_id(a), b_id(b)])
            .collect();
        db.bag("SELECT a.id, b.id FROM a LEFT JOIN b ON a.k = b.k WHERE NOT EXISTS (SELECT 1 FROM c WHERE c.k = b.w AND c.id <> a.id)",
            vec![], expected)?;

        let others = |a: &A| -> Vec<Option<i64>> { d.b.iter().filter(|b| b.id != a.id).map(|b| b.k).collect() };
        db.bag("SELECT a.id FROM a WHERE a.k NOT IN (SELECT b.k FROM b WHERE b.id <> a.id)", vec![],
            ids_where(&|a| not3(in3(a.k, &others(a)))))?;

        let richer = |a: &A| -> Vec<Option<i64>> {
            d.b.iter().filter(|b| holds(cmp3(b.w, Some(a.id), i64::gt))).map(|b| b.k).collect()
        };
        db.bag("SELECT a.id FROM a WHERE a.k IN (SELECT k FROM b WHERE b.w > a.id)", vec![],
            ids_where(&|a| in3(a.k, &richer(a))))?;
        db.bag("SELECT a.id FROM a WHERE a.k NOT IN (SELECT k FROM b WHERE b.w > a.id)", vec![],
            ids_where(&|a| not3(in3(a.k, &richer(a)))))?;
        db.bag("SELECT a.id, a.k IN (SELECT k FROM b WHERE b.w > a.id) FROM a", vec![],
            d.a.iter().map(|a| vec![Value::Int(a.id), boolean(in3(a.k, &richer(a)))]).collect())?;
        db.bag("SELECT a.id FROM a WHERE a.k < ALL (SELECT k FROM b WHERE b.w > a.id)", vec![],
            ids_where(&|a| all3(a.k, &richer(a), i64::lt)))?;
        db.bag("SELECT a.id FROM a WHERE a.k > (SELECT min(b.k) FROM b WHERE b.id > a.id)", vec![],
            ids_where(&|a| cmp3(a.k, min_of(d.b.iter().filter(|b| b.id > a.id).map(|b| b.k)), i64::gt)))?;

        let mut sorted: Vec<&A> = d.a.iter().collect();
        sorted.sort_by_key(|a| (Reverse(partners(a).len()), a.id));
        db.list("SELECT a.id FROM a ORDER BY (SELECT count(*) FROM b WHERE b.k = a.k) DESC, a.id", vec![],
            sorted.iter().map(|a| vec![Value::Int(a.id)]).collect())?;
    }

    /// Derived tables and CTEs joined with a table.
    #[test]
    fn derived_tables_and_ctes(d in data(), t in 0i64..9) {
        let db = Db::new(&d);
        let mut counts: BTreeMap<Option<i64>, i64> = BTreeMap::new();
        for b in &d.b {
            *counts.entry(b.k).or_default() += 1;
        }
        let grouped: Vec<(Option<i64>, i64)> = counts.into_iter().collect();
        for kind in [Kind::Inner, Kind::Left] {
            let expected = join(&d.a, &grouped, kind, |a, (k, _)| eq3(a.k, *k))
                .into_iter()
                .map(|(a, x)| vec![a_id(a), int(x.map(|(_, n)| *n))])
                .collect();
            let sql = format!("SELECT a.id, x.n FROM a {} (SELECT k, count(*) AS n FROM b GROUP BY k) x ON a.k = x.k",
                kind.sql());
            db.bag(&sql, vec![], expected)?;
        }

        // Grouped on both sides: the NULL groups never meet.
        let mut a_counts: BTreeMap<Option<i64>, i64> = BTreeMap::new();
        for a in &d.a {
            *a_counts.entry(a.k).or_default() += 1;
        }
        let a_grouped: Vec<(Option<i64>, i64)> = a_counts.into_iter().collect();
        let expected = join(&a_grouped, &grouped, Kind::Full, |(x, _), (y, _)| eq3(*x, *y))
            .into_iter()
            .map(|(x, y)| vec![int(x.and_then(|x| x.0)), int(x.map(|x| x.1)), int(y.and_then(|y| y.0)), int(y.map(|y| y.1))])
            .collect();
        db.bag("SELECT x.k, x.n, y.k, y.n FROM (SELECT k, count(*) AS n FROM a GROUP BY k) x \
                FULL JOIN (SELECT k, count(*) AS n FROM b GROUP BY k) y ON x.k = y.k", vec![], expected)?;

        let bb: Vec<B> = d.b.iter().filter(|b| holds(cmp3(b.w, Some(t), i64::gt))).cloned().collect();
        db.bag("WITH bb AS (SELECT id, k FROM b WHERE w > ?) SELECT a.id, bb.id FROM a JOIN bb ON a.k = bb.k",
            vec![Value::Int(t)], id_pairs(&join(&d.a, &bb, Kind::Inner, |a, b| eq3(a.k, b.k))))?;
        db.bag("WITH bb AS (SELECT id, k FROM b WHERE w > ?) SELECT a.id, bb.id FROM bb RIGHT JOIN a ON a.k = bb.k",
            vec![Value::Int(t)], id_pairs(&join(&d.a, &bb, Kind::Left, |a, b| eq3(a.k, b.k))))?;

        let expected = join(&bb, &bb, Kind::Inner, |x, y| and3(eq3(x.k, y.k), Some(x.id < y.id)))
            .into_iter()
            .map(|(x, y)| vec![b_id(x), b_id(y)])
            .collect();
        db.bag("WITH bb AS (SELECT id, k FROM b WHERE w > ?) SELECT x.id, y.id FROM bb x JOIN bb y ON x.k = y.k AND x.id < y.id",
            vec![Value::Int(t)], expected)?;

        // A derived table with its own join, joined again.
        let ab = join(&d.a, &d.b, Kind::Inner, |a, b| eq3(a.k, b.k));
        let mut expected = Vec::new();
        for (a, b) in &ab {
            for c in &d.c {
                if holds(eq3(c.k, b_w(*b))) {
                    expected.push(vec![a_id(*a), Value::Int(c.id)]);
                }
            }
        }
        db.bag("SELECT x.aid, c.id FROM (SELECT a.id AS aid, b.w AS w FROM a JOIN b ON a.k = b.k) x JOIN c ON c.k = x.w",
            vec![], expected)?;
    }

    /// The first rows of each window partition (`rn <= n`, `rn = 1`,
    /// `rn < n`): the shards send only their own first rows of each
    /// partition, and the result is still each partition's first rows.
    #[test]
    fn first_rows_of_window_partitions(d in data(), n in 0i64..4) {
        let db = Db::new(&d);
        // Partitions by k (NULL is one), each ordered by w DESC (NULLs
        // first, as DESC puts them), then id.
        let mut partitions: BTreeMap<Option<i64>, Vec<&B>> = BTreeMap::new();
        for b in &d.b {
            partitions.entry(b.k).or_default().push(b);
        }
        let first = |n: i64| -> Vec<Row> {
            let mut out = Vec::new();
            for rows in partitions.values() {
                let mut rows = rows.clone();
                rows.sort_by_key(|b| (b.w.is_some(), Reverse(b.w), b.id));
                for (i, b) in rows.iter().enumerate() {
                    if (i as i64) < n {
                        out.push(vec![Value::Int(b.id), Value::Int(i as i64 + 1)]);
                    }
                }
            }
            out
        };
        let inner = "SELECT id, row_number() OVER (PARTITION BY k ORDER BY w DESC, id) AS rn FROM b";
        db.bag(&format!("SELECT id, rn FROM ({inner}) x WHERE rn <= {n}"), vec![], first(n))?;
        db.bag(&format!("SELECT id, rn FROM ({inner}) x WHERE rn < {n}"), vec![], first(n - 1))?;
        db.bag(&format!("SELECT id, rn FROM ({inner}) x WHERE rn = 1"), vec![], first(1))?;
        // A filter the shards cannot use, for the same rows.
        db.bag(&format!("SELECT id, rn FROM ({inner}) x WHERE rn + 0 <= {n}"), vec![], first(n))?;
        // Ties (w alone orders): the shards choose by the partition and
        // sort columns alone the rows they choose by whole rows (a filter
        // that holds for every row, but only row by row, makes them).
        let tied = |filter: &str| format!("SELECT id, rn FROM (SELECT id, row_number() OVER \
            (PARTITION BY k ORDER BY w DESC) AS rn FROM b WHERE {filter}) x WHERE rn <= {n}");
        let mut by_columns = db.run(&tied("id >= 0"), vec![]);
        let mut by_rows = db.run(&tied("id + 0 >= 0"), vec![]);
        by_columns.sort();
        by_rows.sort();
        prop_assert_eq!(by_columns, by_rows);
    }
}
